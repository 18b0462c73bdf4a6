#include "federation/network_peering.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "federation/http_client.h"
#include "federation/network_store.h"
#include "federation/peer_store.h"
#include "storage/store.h"
#include "tests/support/statement_fixture.h"
#include "tests/support/temp_dir.h"

namespace kith::federation {
namespace {

using testing::FederationFixture;
using testing::StatementOptions;

constexpr const char* kSelf = "https://self.example";
constexpr const char* kUk = "https://is.example/networks/uk";
constexpr const char* kScot = "https://scot.example/networks/scot";

std::string Leaf(int i) { return "https://council-" + std::to_string(i) + ".example"; }

class NetworkPeeringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::Store::Options options;
    options.path = dir_ / "kith.db";
    auto store = storage::Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    peers_ = std::make_unique<PeerStore>(*store_, clock_);
    networks_ = std::make_unique<NetworkStore>(*store_, clock_, dir_.path(), kSelf,
                                               /*allow_http=*/false);
    fed_.AddNetwork(kUk);
    fed_.AddLeaf(kSelf);
    fed_.Enrol(kUk, kSelf);
    for (int i = 1; i <= 5; ++i) {
      fed_.AddLeaf(Leaf(i));
      fed_.Enrol(kUk, Leaf(i));
    }
    ASSERT_TRUE(networks_->Trust(fed_.Anchor(kUk)).ok());
    NetworkPeering::Options peering;
    peering.self = kSelf;
    peering.on_peer_changed = [this](const NetworkPeerChange& change) {
      changes_.push_back(change);
    };
    peering_ = std::make_unique<NetworkPeering>(*networks_, *peers_, fed_.fetcher(), clock_,
                                                std::move(peering));
  }

  Peer MustFind(const std::string& node_id) {
    auto peer = peers_->Find(node_id);
    EXPECT_TRUE(peer.ok() && peer->has_value()) << node_id;
    if (!peer.ok() || !peer->has_value()) return Peer{};
    return **peer;
  }

  std::vector<std::string> NetworksOf(const std::string& node_id) {
    auto rows = networks_->PeerNetworks();
    EXPECT_TRUE(rows.ok());
    std::vector<std::string> out;
    if (!rows.ok()) return out;
    for (const PeerNetwork& row : *rows) {
      if (row.peer_node_id == node_id) out.push_back(row.network);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  RefreshReport Refresh() {
    auto report = peering_->RefreshNow();
    EXPECT_TRUE(report.ok()) << report.error().message;
    return report.ok() ? *report : RefreshReport{};
  }
  RefreshReport RefreshWithdrawn() {
    auto report = peering_->RefreshWithdrawnNow();
    EXPECT_TRUE(report.ok()) << report.error().message;
    return report.ok() ? *report : RefreshReport{};
  }

  static bool Mentions(const RefreshReport& report, const std::string& text) {
    return std::any_of(report.errors.begin(), report.errors.end(),
                       [&](const std::string& e) { return e.find(text) != std::string::npos; });
  }

  PeerChange Change(const std::string& node_id, PeerEvent event) {
    PeerChange change;
    change.node_id = node_id;
    change.event = event;
    change.audit = AuditRecord{"kithctl", "admin.sock", "{}"};
    return change;
  }

  testing::TempDir dir_{"network_peering"};
  FakeClock clock_{1'700'000'000};
  FederationFixture fed_{clock_};
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<PeerStore> peers_;
  std::unique_ptr<NetworkStore> networks_;
  std::unique_ptr<NetworkPeering> peering_;
  std::vector<NetworkPeerChange> changes_;
};

TEST_F(NetworkPeeringTest, FiveNodesUnderOneAnchorAreAdmitted) {
  RefreshReport report = Refresh();
  EXPECT_TRUE(report.errors.empty()) << report.ToJson().dump();
  EXPECT_EQ(report.anchors, 1);
  EXPECT_EQ(report.networks, 1);
  EXPECT_EQ(report.members_seen, 5);
  EXPECT_EQ(report.chains_resolved, 5);
  EXPECT_EQ(report.admitted, 5);
  EXPECT_GT(report.fetches, 0u);
  EXPECT_EQ(changes_.size(), 5u);

  for (int i = 1; i <= 5; ++i) {
    Peer peer = MustFind(Leaf(i));
    EXPECT_EQ(peer.state, PeerState::kActive);
    EXPECT_EQ(peer.admitted_by, "network");
    EXPECT_EQ(peer.suspended_by, "");
    EXPECT_EQ(peer.organisation, "Organisation " + Leaf(i));
    auto keys = peers_->Keys(peer.id);
    ASSERT_TRUE(keys.ok());
    ASSERT_EQ(keys->size(), 1u);
    EXPECT_EQ(keys->front().kid, fed_.entity(Leaf(i)).key->kid());
    EXPECT_EQ(NetworksOf(Leaf(i)), std::vector<std::string>{kUk});
  }
  EXPECT_FALSE(peers_->Find(kSelf)->has_value());

  auto audit = peers_->Audit();
  ASSERT_TRUE(audit.ok());
  ASSERT_FALSE(audit->empty());
  EXPECT_EQ(audit->front().action, "peer.network_admit");
  EXPECT_EQ(audit->front().actor, std::string("network:") + kUk);
  auto detail = nlohmann::json::parse(audit->front().detail);
  EXPECT_EQ(detail["anchor"], kUk);
  EXPECT_EQ(detail["reason"], std::string("listed by ") + kUk);

  // A second pass changes nothing and resolves nothing (the chains are fresh).
  RefreshReport again = Refresh();
  EXPECT_EQ(again.admitted, 0);
  EXPECT_EQ(again.chains_resolved, 0);
  EXPECT_EQ(again.members_seen, 5);
  EXPECT_EQ(changes_.size(), 5u);
  // A withdrawn pass over a healthy network suspends nobody.
  EXPECT_EQ(RefreshWithdrawn().suspended, 0);
}

TEST_F(NetworkPeeringTest, OwnAuthorityHintsAreDiscovered) {
  fed_.AddNetwork(kScot, {kUk});
  fed_.Enrol(kUk, kScot);
  fed_.Enrol(kScot, kSelf);
  Refresh();
  auto hints = networks_->AuthorityHints();
  ASSERT_TRUE(hints.ok());
  std::vector<std::string> sorted = *hints;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<std::string>{kUk, kScot}));

  // Leaving a network drops its hint on the next (complete) pass.
  fed_.Withdraw(kScot, kSelf);
  Refresh();
  hints = networks_->AuthorityHints();
  ASSERT_TRUE(hints.ok());
  EXPECT_EQ(*hints, std::vector<std::string>{kUk});
}

TEST_F(NetworkPeeringTest, IntermediateChainIsAdmitted) {
  fed_.AddNetwork(kScot, {kUk});
  fed_.Enrol(kUk, kScot);
  // The leaf's own configuration names no superior: the listing network is tried anyway.
  fed_.AddLeaf("https://highland.example");
  fed_.Enrol(kScot, "https://highland.example");
  RefreshReport report = Refresh();
  EXPECT_TRUE(report.errors.empty()) << report.ToJson().dump();
  EXPECT_EQ(report.networks, 2);
  EXPECT_EQ(report.admitted, 6);
  EXPECT_EQ(report.members_seen, 6);
  Peer peer = MustFind("https://highland.example");
  EXPECT_EQ(peer.state, PeerState::kActive);
  EXPECT_EQ(NetworksOf("https://highland.example"), (std::vector<std::string>{kUk, kScot}));
  // The intermediate is a network, not a peer.
  EXPECT_FALSE(peers_->Find(kScot)->has_value());
}

TEST_F(NetworkPeeringTest, WithdrawnPeerIsSuspendedAndResumedWhenReAdded) {
  Refresh();
  changes_.clear();
  fed_.Withdraw(kUk, Leaf(2));
  RefreshReport report = RefreshWithdrawn();
  EXPECT_EQ(report.suspended, 1) << report.ToJson().dump();
  Peer peer = MustFind(Leaf(2));
  EXPECT_EQ(peer.state, PeerState::kSuspended);
  EXPECT_EQ(peer.suspended_by, "network");
  EXPECT_TRUE(NetworksOf(Leaf(2)).empty());
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].node_id, Leaf(2));
  EXPECT_FALSE(changes_[0].active);
  EXPECT_EQ(changes_[0].reason, std::string("withdrawn by ") + kUk);
  auto audit = peers_->Audit(1);
  ASSERT_TRUE(audit.ok());
  EXPECT_EQ(audit->front().action, "peer.network_withdraw");
  EXPECT_EQ(nlohmann::json::parse(audit->front().detail)["anchor"], kUk);
  for (int i : {1, 3, 4, 5}) EXPECT_EQ(MustFind(Leaf(i)).state, PeerState::kActive);

  // Still off the list: a member-list pass does not bring it back.
  EXPECT_EQ(Refresh().admitted, 0);
  EXPECT_EQ(MustFind(Leaf(2)).state, PeerState::kSuspended);

  // Re-added by the operator: resumed on the next pass, and the withdrawn pass leaves it.
  fed_.Enrol(kUk, Leaf(2));
  fed_.PublishWithdrawn(kUk);
  RefreshReport readmit = Refresh();
  EXPECT_EQ(readmit.admitted, 1) << readmit.ToJson().dump();
  peer = MustFind(Leaf(2));
  EXPECT_EQ(peer.state, PeerState::kActive);
  EXPECT_EQ(peer.suspended_by, "");
  EXPECT_EQ(RefreshWithdrawn().suspended, 0);
  EXPECT_EQ(MustFind(Leaf(2)).state, PeerState::kActive);
  ASSERT_EQ(changes_.size(), 2u);
  EXPECT_TRUE(changes_[1].active);
}

TEST_F(NetworkPeeringTest, UnlistedPeerIsSuspended) {
  Refresh();
  // Off the list, without a withdrawn entry (e.g. a list edited by hand).
  std::vector<std::string> members = fed_.Members(kUk);
  std::erase(members, Leaf(4));
  fed_.fetcher().Put(FederationFixture::ListEndpoint(kUk), nlohmann::json(members).dump());
  Refresh();
  RefreshReport report = RefreshWithdrawn();
  EXPECT_EQ(report.suspended, 1);
  EXPECT_EQ(MustFind(Leaf(4)).state, PeerState::kSuspended);
  EXPECT_EQ(changes_.back().reason, "no longer listed by any network");
}

TEST_F(NetworkPeeringTest, ExpiredChainIsSuspended) {
  fed_.AddLeaf("https://short.example");
  StatementOptions short_lived;
  short_lived.lifetime = 3600;
  fed_.Enrol(kUk, "https://short.example", short_lived);
  Refresh();
  ASSERT_EQ(MustFind("https://short.example").state, PeerState::kActive);

  clock_.Advance(std::chrono::seconds(3700));
  fed_.PublishWithdrawn(kUk);  // the withdrawn list itself lives 10 minutes
  RefreshReport report = RefreshWithdrawn();
  EXPECT_EQ(report.suspended, 1) << report.ToJson().dump();
  Peer peer = MustFind("https://short.example");
  EXPECT_EQ(peer.state, PeerState::kSuspended);
  EXPECT_EQ(peer.suspended_by, "network");
  EXPECT_EQ(changes_.back().reason, "trust chain expired");
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(MustFind(Leaf(i)).state, PeerState::kActive);

  // The expired statement is still what the network serves: not admitted again.
  RefreshReport again = Refresh();
  EXPECT_EQ(again.admitted, 0);
  EXPECT_TRUE(Mentions(again, "https://short.example")) << again.ToJson().dump();

  // A fresh statement: resumed.
  fed_.Enrol(kUk, "https://short.example");
  EXPECT_EQ(Refresh().admitted, 1);
  EXPECT_EQ(MustFind("https://short.example").state, PeerState::kActive);
}

TEST_F(NetworkPeeringTest, ForgedStatementIsNeverAdmitted) {
  fed_.AddLeaf("https://mallory.example");
  auto forger = identity::Ed25519SigningKey::Generate();
  StatementOptions forged;
  forged.sign_with = forger.get();
  fed_.Enrol(kUk, "https://mallory.example", forged);
  RefreshReport report = Refresh();
  EXPECT_EQ(report.admitted, 5);
  EXPECT_TRUE(Mentions(report, "no valid chain for https://mallory.example"))
      << report.ToJson().dump();
  EXPECT_FALSE(peers_->Find("https://mallory.example")->has_value());
  EXPECT_TRUE(NetworksOf("https://mallory.example").empty());

  // A leaf whose configuration is signed by another key than its superior vouches for.
  fed_.AddLeaf("https://eve.example");
  StatementOptions wrong_key;
  wrong_key.jwks = std::vector<identity::PublicJwk>{forger->public_jwk()};
  fed_.Enrol(kUk, "https://eve.example", wrong_key);
  report = Refresh();
  EXPECT_EQ(report.admitted, 0);
  EXPECT_TRUE(Mentions(report, "no valid chain for https://eve.example")) << report.ToJson().dump();
  EXPECT_FALSE(peers_->Find("https://eve.example")->has_value());
}

TEST_F(NetworkPeeringTest, WrongAnchorFingerprintAdmitsNobody) {
  ASSERT_TRUE(networks_->Trust(TrustAnchor{kUk, "SHA256:not-the-key"}).ok());
  RefreshReport report = Refresh();
  EXPECT_EQ(report.admitted, 0);
  EXPECT_TRUE(Mentions(report, "fingerprint")) << report.ToJson().dump();
  auto peers = peers_->List();
  ASSERT_TRUE(peers.ok());
  EXPECT_TRUE(peers->empty());
}

TEST_F(NetworkPeeringTest, OperatorSuspendedPeerIsNotResumed) {
  Refresh();
  ASSERT_TRUE(peers_->ApplyEvent(Change(Leaf(3), PeerEvent::kSuspend)).ok());
  EXPECT_EQ(MustFind(Leaf(3)).suspended_by, "operator");
  // Withdrawn and re-added: the network pass must leave the operator's suspension alone.
  fed_.Withdraw(kUk, Leaf(3));
  RefreshWithdrawn();
  EXPECT_TRUE(NetworksOf(Leaf(3)).empty());
  fed_.Enrol(kUk, Leaf(3));
  fed_.PublishWithdrawn(kUk);
  changes_.clear();
  RefreshReport report = Refresh();
  EXPECT_EQ(report.admitted, 0);
  EXPECT_TRUE(report.errors.empty()) << report.ToJson().dump();
  Peer peer = MustFind(Leaf(3));
  EXPECT_EQ(peer.state, PeerState::kSuspended);
  EXPECT_EQ(peer.suspended_by, "operator");
  EXPECT_TRUE(changes_.empty());

  // The operator resumes it: active again, and the network keeps it.
  ASSERT_TRUE(peers_->ApplyEvent(Change(Leaf(3), PeerEvent::kResume)).ok());
  EXPECT_EQ(MustFind(Leaf(3)).suspended_by, "");
}

TEST_F(NetworkPeeringTest, PairwisePeerIsUntouchedByWithdrawal) {
  // Leaf 1 was peered pairwise before the network existed.
  PeerChange request = Change(Leaf(1), PeerEvent::kWeRequest);
  NodeDocument doc;
  doc.id = "council-1.example";
  doc.name = "Council 1";
  doc.organisation = "Council 1";
  doc.base_url = Leaf(1);
  NodeDocumentKey key;
  key.public_key.fill(9);
  key.kid = identity::KeyIdFor(key.public_key);
  key.alg = "ed25519";
  key.status = "current";
  doc.keys.push_back(key);
  request.document = doc;
  ASSERT_TRUE(peers_->ApplyEvent(request).ok());
  ASSERT_TRUE(peers_->ApplyEvent(Change(Leaf(1), PeerEvent::kTheyAccept)).ok());

  RefreshReport report = Refresh();
  EXPECT_EQ(report.admitted, 4);
  Peer peer = MustFind(Leaf(1));
  EXPECT_EQ(peer.admitted_by, "operator");
  EXPECT_EQ(peer.name, "Council 1");  // its pairwise document and keys stay
  auto keys = peers_->Keys(peer.id);
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ(keys->front().kid, key.kid);
  EXPECT_EQ(NetworksOf(Leaf(1)), std::vector<std::string>{kUk});  // but it is in the network

  fed_.Withdraw(kUk, Leaf(1));
  report = RefreshWithdrawn();
  EXPECT_EQ(report.suspended, 0);
  peer = MustFind(Leaf(1));
  EXPECT_EQ(peer.state, PeerState::kActive);
  EXPECT_TRUE(NetworksOf(Leaf(1)).empty());

  // PeerStore refuses a network withdrawal of a pairwise peer outright.
  auto withdraw = peers_->ApplyEvent(Change(Leaf(1), PeerEvent::kNetworkWithdraw));
  ASSERT_FALSE(withdraw.ok());
  EXPECT_EQ(withdraw.error().code, ErrorCode::kConflict);
}

TEST_F(NetworkPeeringTest, PeerStoreRefusesNetworkAdmitAfterOperatorSuspendOrRevoke) {
  Refresh();
  ASSERT_TRUE(peers_->ApplyEvent(Change(Leaf(1), PeerEvent::kSuspend)).ok());
  ASSERT_TRUE(peers_->ApplyEvent(Change(Leaf(2), PeerEvent::kRevoke)).ok());
  for (int i : {1, 2}) {
    auto admit = peers_->ApplyEvent(Change(Leaf(i), PeerEvent::kNetworkAdmit));
    ASSERT_FALSE(admit.ok());
    EXPECT_EQ(admit.error().code, ErrorCode::kConflict);
    EXPECT_NE(admit.error().message.find("suspended by an operator"), std::string::npos)
        << admit.error().message;
  }
  // A network suspension is the network's to undo.
  ASSERT_TRUE(peers_->ApplyEvent(Change(Leaf(3), PeerEvent::kNetworkWithdraw)).ok());
  EXPECT_EQ(MustFind(Leaf(3)).suspended_by, "network");
  auto admit = peers_->ApplyEvent(Change(Leaf(3), PeerEvent::kNetworkAdmit));
  ASSERT_TRUE(admit.ok()) << admit.error().message;
  EXPECT_EQ(admit->state, PeerState::kActive);
  EXPECT_EQ(admit->suspended_by, "");

  // An operator resuming a network's suspension takes the peering over.
  ASSERT_TRUE(peers_->ApplyEvent(Change(Leaf(4), PeerEvent::kNetworkWithdraw)).ok());
  auto resumed = peers_->ApplyEvent(Change(Leaf(4), PeerEvent::kResume));
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(resumed->admitted_by, "operator");
  EXPECT_EQ(resumed->suspended_by, "");
}

TEST_F(NetworkPeeringTest, ConcurrentRefreshesDoNotOverlap) {
  std::vector<std::thread> threads;
  std::vector<RefreshReport> reports(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto report = t % 2 ? peering_->RefreshWithdrawnNow() : peering_->RefreshNow();
      if (report.ok()) reports[t] = *report;
    });
  }
  for (std::thread& thread : threads) thread.join();
  int admitted = 0;
  for (const RefreshReport& r : reports) admitted += r.admitted;
  EXPECT_EQ(admitted, 5);
  EXPECT_EQ(changes_.size(), 5u);
}

TEST(RefreshReportTest, ToJson) {
  RefreshReport report;
  report.anchors = 1;
  report.admitted = 2;
  report.fetches = 7;
  report.errors.push_back("x");
  nlohmann::json j = report.ToJson();
  EXPECT_EQ(j["anchors"], 1);
  EXPECT_EQ(j["admitted"], 2);
  EXPECT_EQ(j["fetches"], 7);
  EXPECT_EQ(j["errors"], nlohmann::json::array({"x"}));
  for (const char* key : {"networks", "members_seen", "chains_resolved", "suspended"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
}

// HttpEntityFetcher against a tiny HTTP server on 127.0.0.1:0.
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> Serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  http::request<http::string_body> req;
  auto [ec, n] = co_await http::async_read(stream, buffer, req, kTuple);
  if (ec) co_return;
  http::response<http::string_body> res{http::status::ok, req.version()};
  if (req.target() == "/ok") {
    res.body() = "accept=" + std::string(req[http::field::accept]);
  } else if (req.target() == "/big") {
    res.body() = std::string(kMaxWithdrawnListBytes + 1, 'x');
  } else if (req.target() == "/error") {
    res.result(http::status::internal_server_error);
  } else if (req.target() == "/created") {
    res.result(http::status::created);
    res.body() = "made";
  } else {
    res.result(http::status::not_found);
  }
  res.keep_alive(false);
  res.prepare_payload();
  co_await http::async_write(stream, res, kTuple);
}

asio::awaitable<void> Accept(tcp::acceptor* acceptor) {
  while (true) {
    auto [ec, socket] = co_await acceptor->async_accept(kTuple);
    if (ec) co_return;
    asio::co_spawn(acceptor->get_executor(), Serve(std::move(socket)), asio::detached);
  }
}

TEST(HttpEntityFetcherTest, OnlyA200BodyCounts) {
  asio::io_context ioc;
  tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  asio::co_spawn(ioc, Accept(&acceptor), asio::detached);
  HttpClientOptions options;
  options.allow_private_addresses = true;
  auto client = HttpClient::Create(ioc.get_executor(), options);
  ASSERT_TRUE(client.ok()) << client.error().message;
  auto guard = asio::make_work_guard(ioc);
  std::thread io([&] { ioc.run(); });

  HttpEntityFetcher fetcher(**client, ioc.get_executor(), std::chrono::seconds(20));
  const std::string base = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
  auto ok = fetcher.Get(base + "/ok");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_NE(ok->find("application/entity-statement+jwt"), std::string::npos) << *ok;
  EXPECT_NE(ok->find("application/kith-withdrawn+jwt"), std::string::npos) << *ok;

  auto missing = fetcher.Get(base + "/missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  auto error = fetcher.Get(base + "/error");
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.error().code, ErrorCode::kUnavailable);
  auto created = fetcher.Get(base + "/created");
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, ErrorCode::kUnavailable);
  auto big = fetcher.Get(base + "/big");
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, ErrorCode::kTooLarge);

  guard.reset();
  asio::post(ioc, [&] {
    beast::error_code ignored;
    acceptor.close(ignored);
  });
  ioc.stop();
  io.join();
}

}  // namespace
}  // namespace kith::federation
