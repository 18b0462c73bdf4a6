// A simulated network of 1,000 nodes under one trust anchor, and what it costs when the network
// operator adds organisation 1,001.
//
//   bench_network_sim [--nodes N] [--threads T] [--refresh-interval S]
//
// What is simulated: HTTP is replaced by in-memory GETs (tests/support/statement_fixture.h's
// MemoryFetcher routes URLs to virtual entities and counts every GET), and each node's SQLite
// peer tables by an in-memory NetworkPeerTarget. Everything else is the real code every node
// runs: each simulated node has its own federation::NetworkPeering and TrustChainResolver, which
// fetch and parse the anchor's configuration and member list, resolve and verify a trust chain
// (leaf configuration, subordinate statement, anchor configuration; three Ed25519 signatures
// and the fingerprint) per new member, and admit it. Every entity has its own Ed25519 key; the
// anchor signs real subordinate statements.
//
// Phases:
//   1. steady state: every node runs one refresh pass (cold: it resolves all N-1 others);
//      afterwards every node has N-1 active peers (checked).
//   2. reference: one more pass of one node over the unchanged network (warm), and the withdrawn
//      pass of one node; and a cold pass of one node that restarts (empty memory).
//   3. the operator enrols organisation N+1; the clock moves on by one refresh interval (so the
//      resolvers' 60 s configuration cache has expired, as it would between timer ticks); every
//      node runs its refresh pass once, the newcomer too. Checked: every existing node has
//      admitted the newcomer and the newcomer has admitted all N.
// Reported: time per pass (CPU of the one thread running it), GETs in total and per node.
// Nodes run on --threads threads (default 2); each node's pass runs on one thread, as in a node.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "federation/network_peering.h"
#include "federation/trust_chain.h"
#include "storage/clock.h"
#include "tests/support/statement_fixture.h"

namespace fed = kith::federation;
using kith::ErrorCode;
using kith::MakeError;
using kith::Result;
using kith::Status;

namespace {

// A node's peer tables, in memory. Used by one refresh at a time (NetworkPeering's lock).
class MemoryTarget final : public fed::NetworkPeerTarget {
 public:
  MemoryTarget(fed::TrustAnchor anchor, const kith::Clock& clock)
      : anchors_{std::move(anchor)}, clock_(clock) {}

  Result<std::vector<fed::TrustAnchor>> TrustedAnchors() override { return anchors_; }
  Result<std::vector<std::string>> AuthorityHints() override { return hints_; }
  Status SetAuthorityHints(const std::vector<std::string>& ids) override {
    hints_ = ids;
    return kith::OkStatus();
  }
  Result<std::map<std::string, fed::NetworkPeerStatus>> Peers() override { return peers_; }

  Result<bool> Admit(const fed::TrustChain& chain, std::string_view) override {
    auto it = peers_.find(chain.subject);
    if (it != peers_.end() && it->second.state == fed::PeerState::kActive) {
      SetChain(it->second, chain);
      return false;
    }
    if (it != peers_.end() && (it->second.state == fed::PeerState::kRevoked ||
                               it->second.state == fed::PeerState::kSuspended)) {
      if (!it->second.network_admitted) {
        return MakeError(ErrorCode::kConflict, "suspended by an operator");
      }
    }
    // What the SQL target stores: the node document the chain vouches for (its keys).
    auto document = fed::NodeDocumentFromChain(chain, clock_.UnixSeconds());
    if (!document.ok()) return std::move(document).error();
    keys_[chain.subject] = document->keys.size();
    fed::NetworkPeerStatus& status = peers_[chain.subject];
    status.state = fed::PeerState::kActive;
    status.network_admitted = true;
    SetChain(status, chain);
    return true;
  }

  Result<bool> Withdraw(const std::string& node_id, std::string_view, std::string_view) override {
    auto it = peers_.find(node_id);
    if (it == peers_.end()) return false;
    it->second.chain_expires_at.reset();
    it->second.networks.clear();
    if (it->second.network_admitted && it->second.state == fed::PeerState::kActive) {
      it->second.state = fed::PeerState::kSuspended;
      return true;
    }
    return false;
  }

  int ActivePeers() const {
    return static_cast<int>(std::count_if(peers_.begin(), peers_.end(), [](const auto& p) {
      return p.second.state == fed::PeerState::kActive;
    }));
  }
  bool HasActive(const std::string& id) const {
    auto it = peers_.find(id);
    return it != peers_.end() && it->second.state == fed::PeerState::kActive;
  }

 private:
  static void SetChain(fed::NetworkPeerStatus& status, const fed::TrustChain& chain) {
    status.chain_expires_at = chain.expires_at;
    status.networks = chain.superiors;
    status.anchor = chain.anchor;
  }

  std::vector<fed::TrustAnchor> anchors_;
  const kith::Clock& clock_;
  std::vector<std::string> hints_;
  std::map<std::string, fed::NetworkPeerStatus> peers_;
  std::map<std::string, size_t> keys_;
};

struct SimNode {
  std::string id;
  std::unique_ptr<MemoryTarget> target;
  std::unique_ptr<fed::NetworkPeering> peering;
  // Per pass: CPU time (thread clock) and GETs.
  double last_ms = 0;
  uint64_t last_gets = 0;
  int last_admitted = 0;
  size_t last_errors = 0;
};

std::unique_ptr<SimNode> MakeNode(std::string id, const fed::TrustAnchor& anchor,
                                  fed::EntityFetcher& fetcher, const kith::Clock& clock) {
  auto node = std::make_unique<SimNode>();
  node->id = std::move(id);
  node->target = std::make_unique<MemoryTarget>(anchor, clock);
  fed::NetworkPeering::Options options;
  options.self = node->id;
  node->peering =
      std::make_unique<fed::NetworkPeering>(*node->target, fetcher, clock, std::move(options));
  return node;
}

double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// One refresh pass (member lists, or withdrawn lists) of `node`, measured.
void RunPass(SimNode& node, bool withdrawn) {
  const uint64_t gets_before = node.peering->fetches();
  const double start = ThreadCpuMs();
  auto report = withdrawn ? node.peering->RefreshWithdrawnNow() : node.peering->RefreshNow();
  node.last_ms = ThreadCpuMs() - start;
  node.last_gets = node.peering->fetches() - gets_before;
  if (!report.ok()) {
    std::fprintf(stderr, "%s: %s\n", node.id.c_str(), report.error().message.c_str());
    std::exit(1);
  }
  node.last_admitted = report->admitted;
  node.last_errors = report->errors.size();
  if (!report->errors.empty()) {
    std::fprintf(stderr, "%s: %s\n", node.id.c_str(), report->errors.front().c_str());
  }
}

// Runs one pass of every node on `threads` threads; returns the wall time in ms.
double RunAll(std::vector<SimNode*>& nodes, int threads, bool withdrawn = false) {
  std::atomic<size_t> next{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (size_t i = next++; i < nodes.size(); i = next++) RunPass(*nodes[i], withdrawn);
    });
  }
  for (std::thread& thread : pool) thread.join();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

struct Stats {
  double sum = 0, mean = 0, max = 0, p50 = 0;
};
Stats Summarise(std::vector<double> values) {
  Stats s;
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  s.sum = std::accumulate(values.begin(), values.end(), 0.0);
  s.mean = s.sum / values.size();
  s.max = values.back();
  s.p50 = values[values.size() / 2];
  return s;
}

std::string NodeId(int i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "https://node-%04d.example", i);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  int nodes_count = 1000;
  int threads = 2;
  int refresh_interval = 300;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--nodes")) nodes_count = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--refresh-interval")) refresh_interval = std::atoi(argv[i + 1]);
  }
  if (nodes_count < 2 || threads < 1 || refresh_interval < 1) {
    std::fprintf(stderr,
                 "usage: bench_network_sim [--nodes N>=2] [--threads T] [--refresh-interval S]\n");
    return 2;
  }

  // One "admitted" line per peer per node would be a million lines: warnings only.
  spdlog::set_level(spdlog::level::warn);
  kith::FakeClock clock(1'700'000'000);
  kith::testing::FederationFixture federation(clock);
  const std::string anchor_id = "https://anchor.example/networks/sim";
  federation.AddNetwork(anchor_id);
  const fed::TrustAnchor anchor = federation.Anchor(anchor_id);
  auto& fetcher = federation.fetcher();

  const auto setup_start = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<SimNode>> owned;
  for (int i = 1; i <= nodes_count; ++i) {
    federation.AddLeaf(NodeId(i));
    federation.Enrol(anchor_id, NodeId(i));
    owned.push_back(MakeNode(NodeId(i), anchor, fetcher, clock));
  }
  std::vector<SimNode*> nodes;
  for (auto& node : owned) nodes.push_back(node.get());
  const double setup_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - setup_start)
          .count();
  std::printf("network: 1 anchor, %d nodes (setup: keys and statements %.0f ms)\n", nodes_count,
              setup_ms);

  // 1. Steady state.
  fetcher.ResetCounts();
  const double steady_wall = RunAll(nodes, threads);
  std::vector<double> cold_ms;
  uint64_t cold_gets_max = 0;
  for (SimNode* node : nodes) {
    cold_ms.push_back(node->last_ms);
    cold_gets_max = std::max(cold_gets_max, node->last_gets);
    if (node->target->ActivePeers() != nodes_count - 1) {
      std::fprintf(stderr, "%s has %d active peers, expected %d\n", node->id.c_str(),
                   node->target->ActivePeers(), nodes_count - 1);
      return 1;
    }
  }
  const uint64_t steady_gets = fetcher.gets();
  const Stats cold = Summarise(cold_ms);
  std::printf(
      "steady state: every node peered with all %d others; %d cold passes in %.1f s wall on %d "
      "threads (CPU per pass: mean %.1f ms, max %.1f ms; %llu GETs, %llu per node)\n",
      nodes_count - 1, nodes_count, steady_wall / 1e3, threads, cold.mean, cold.max,
      static_cast<unsigned long long>(steady_gets), static_cast<unsigned long long>(cold_gets_max));

  // 2. References over the unchanged network, a refresh interval later.
  clock.Advance(std::chrono::seconds(refresh_interval));
  federation.PublishWithdrawn(anchor_id);
  RunPass(*nodes[0], false);
  const double warm_ms = nodes[0]->last_ms;
  const uint64_t warm_gets = nodes[0]->last_gets;
  RunPass(*nodes[0], true);
  const double withdrawn_ms = nodes[0]->last_ms;
  const uint64_t withdrawn_gets = nodes[0]->last_gets;
  auto restarted = MakeNode(NodeId(1), anchor, fetcher, clock);
  RunPass(*restarted, false);
  const double restart_ms = restarted->last_ms;
  const uint64_t restart_gets = restarted->last_gets;
  restarted.reset();

  // 3. The operator adds organisation N+1.
  clock.Advance(std::chrono::seconds(refresh_interval));
  const std::string newcomer_id = NodeId(nodes_count + 1);
  federation.AddLeaf(newcomer_id);
  federation.Enrol(anchor_id, newcomer_id);
  federation.PublishWithdrawn(anchor_id);
  owned.push_back(MakeNode(newcomer_id, anchor, fetcher, clock));
  SimNode* newcomer = owned.back().get();
  nodes.push_back(newcomer);

  fetcher.ResetCounts();
  const double join_wall = RunAll(nodes, threads);
  const uint64_t join_gets = fetcher.gets();
  const uint64_t newcomer_config_gets =
      fetcher.gets(kith::testing::FederationFixture::ConfigurationUrl(newcomer_id));
  std::vector<double> existing_ms;
  std::vector<double> existing_gets;
  int errors = 0;
  for (SimNode* node : nodes) {
    errors += static_cast<int>(node->last_errors);
    if (node == newcomer) continue;
    existing_ms.push_back(node->last_ms);
    existing_gets.push_back(static_cast<double>(node->last_gets));
    if (!node->target->HasActive(newcomer_id) || node->last_admitted != 1) {
      std::fprintf(stderr, "%s did not admit the newcomer\n", node->id.c_str());
      return 1;
    }
  }
  if (newcomer->target->ActivePeers() != nodes_count) {
    std::fprintf(stderr, "the newcomer has %d active peers, expected %d\n",
                 newcomer->target->ActivePeers(), nodes_count);
    return 1;
  }
  const Stats existing = Summarise(existing_ms);
  const Stats existing_get_stats = Summarise(existing_gets);

  std::printf("\n| measurement | time | GETs |\n|---|---|---|\n");
  std::printf(
      "| one node, warm refresh pass over the unchanged network (reference) | %.2f ms | %llu |\n",
      warm_ms, static_cast<unsigned long long>(warm_gets));
  std::printf("| one node, withdrawn-list pass | %.2f ms | %llu |\n", withdrawn_ms,
              static_cast<unsigned long long>(withdrawn_gets));
  std::printf("| one node restarting (cold pass: resolves %d chains) | %.0f ms | %llu |\n",
              nodes_count - 1, restart_ms, static_cast<unsigned long long>(restart_gets));
  std::printf(
      "| organisation %d joins: pass of each existing node | mean %.2f ms, max %.2f ms | "
      "%.0f per node |\n",
      nodes_count + 1, existing.mean, existing.max, existing_get_stats.mean);
  std::printf("| organisation %d joins: the newcomer's own pass (admits %d) | %.0f ms | %llu |\n",
              nodes_count + 1, nodes_count, newcomer->last_ms,
              static_cast<unsigned long long>(newcomer->last_gets));
  std::printf(
      "| organisation %d joins: all %d passes together | %.0f ms CPU (%.0f ms wall on %d "
      "threads) | %llu in total (%.2f per node); the newcomer's configuration served %llu "
      "times |\n",
      nodes_count + 1, nodes_count + 1, existing.sum + newcomer->last_ms, join_wall, threads,
      static_cast<unsigned long long>(join_gets),
      static_cast<double>(join_gets) / (nodes_count + 1),
      static_cast<unsigned long long>(newcomer_config_gets));
  std::printf(
      "| steady state from cold: %d passes | %.0f ms CPU (%.0f ms wall on %d threads) | "
      "%llu |\n",
      nodes_count, cold.sum, steady_wall, threads, static_cast<unsigned long long>(steady_gets));
  std::printf(
      "\nchecked: all %d existing nodes admitted organisation %d; it admitted all %d; "
      "errors: %d\n",
      nodes_count, nodes_count + 1, nodes_count, errors);
  return errors == 0 ? 0 : 1;
}
