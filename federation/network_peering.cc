#include "federation/network_peering.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <deque>
#include <future>
#include <utility>

#include "federation/http_client.h"
#include "identity/node_keys.h"

namespace kith::federation {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr std::string_view kAccept =
    "application/entity-statement+jwt, application/kith-withdrawn+jwt, application/json";

// Runs one GET on the client's executor and hands the outcome to `promise`. A plain function
// (not a lambda) so that GCC 12 does not destroy by-value captures twice.
asio::awaitable<void> GetInto(HttpClient* client, std::string url,
                              std::shared_ptr<std::promise<Result<std::string>>> promise) {
  HttpMessage request;
  request.method = "GET";
  request.target_uri = url;
  request.headers.emplace_back("Accept", std::string(kAccept));
  // The body lives in this frame; the callback captures only a pointer: GCC 12 destroys
  // non-trivial temporaries of a co_await expression twice (a captured shared_ptr would be
  // released twice).
  std::string body;
  std::string* sink = &body;
  auto response = co_await client->Download(
      request,
      [sink](std::string_view chunk) -> Status {
        sink->append(chunk);
        return OkStatus();
      },
      kMaxWithdrawnListBytes);
  if (!response.ok()) {
    Error error = std::move(response).error();
    if (error.code != ErrorCode::kTooLarge) error.code = ErrorCode::kUnavailable;
    error.message = "GET " + url + ": " + error.message;
    promise->set_value(std::move(error));
    co_return;
  }
  const int status = response->message.status;
  if (status == 200) {
    promise->set_value(std::move(body));
  } else if (status == 404) {
    promise->set_value(MakeError(ErrorCode::kNotFound, "GET " + url + " answered 404"));
  } else {
    promise->set_value(
        MakeError(ErrorCode::kUnavailable, "GET " + url + " answered " + std::to_string(status)));
  }
}

// The raw Ed25519 public key of an OKP JWK; nullopt for other key types.
std::optional<identity::Ed25519PublicKey> Ed25519Bytes(const identity::PublicJwk& jwk) {
  if (jwk.kty() != "OKP") return std::nullopt;
  const json j = jwk.ToJson();
  auto x = j.find("x");
  if (x == j.end() || !x->is_string()) return std::nullopt;
  auto bytes = identity::Base64UrlDecode(x->get<std::string>());
  if (!bytes.ok() || bytes->size() != 32) return std::nullopt;
  identity::Ed25519PublicKey key{};
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return key;
}

bool HasFingerprint(const std::vector<identity::PublicJwk>& keys, std::string_view fingerprint) {
  for (const identity::PublicJwk& key : keys) {
    auto raw = Ed25519Bytes(key);
    if (raw && identity::Fingerprint(*raw) == fingerprint) return true;
  }
  return false;
}

// A list endpoint's body: a JSON array of entity ids. Invalid entries are skipped and named in
// `problems`.
Result<std::vector<std::string>> ParseMemberList(std::string_view body, bool allow_http,
                                                 std::vector<std::string>& problems) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_array()) {
    return MakeError(ErrorCode::kInvalidArgument, "the member list is not a JSON array");
  }
  if (parsed.size() > kMaxWithdrawnEntries) {
    return MakeError(ErrorCode::kTooLarge, "the member list has too many entries");
  }
  std::vector<std::string> ids;
  ids.reserve(parsed.size());
  for (const json& entry : parsed) {
    if (!entry.is_string()) {
      problems.push_back("a member list entry is not a string");
      continue;
    }
    std::string id = entry.get<std::string>();
    Status valid = ValidateEntityId(id, allow_http);
    if (!valid.ok()) {
      problems.push_back("member list entry " + id.substr(0, 200) + ": " + valid.error().message);
      continue;
    }
    ids.push_back(std::move(id));
  }
  return ids;
}

// Whether a verified configuration is the one of a network (it lists members).
bool IsNetwork(const EntityStatement& configuration) {
  return !ListEndpointOf(configuration).empty();
}

// Whether something resolved at `resolved_at`, valid until `expires_at`, still has more than
// half its life left at `now`.
bool Fresh(int64_t resolved_at, int64_t expires_at, int64_t now) {
  return now < resolved_at + (expires_at - resolved_at) / 2;
}

std::string AuditDetail(std::string_view anchor, std::string_view reason) {
  return json{{"anchor", anchor}, {"reason", reason}}.dump();
}

std::string StringMember(const json& object, std::string_view section, std::string_view name) {
  if (!object.is_object()) return {};
  auto s = object.find(section);
  if (s == object.end() || !s->is_object()) return {};
  auto v = s->find(name);
  if (v == s->end() || !v->is_string()) return {};
  return v->get<std::string>();
}

}  // namespace

// ---------------------------------------------------------------------------------------------

HttpEntityFetcher::HttpEntityFetcher(HttpClient& client, asio::any_io_executor executor,
                                     std::chrono::milliseconds timeout)
    : client_(client), executor_(std::move(executor)), timeout_(timeout) {}

Result<std::string> HttpEntityFetcher::Get(const std::string& url) {
  auto promise = std::make_shared<std::promise<Result<std::string>>>();
  auto future = promise->get_future();
  asio::co_spawn(executor_, GetInto(&client_, url, promise), asio::detached);
  if (future.wait_for(timeout_) != std::future_status::ready) {
    return MakeError(ErrorCode::kUnavailable, "GET " + url + " took too long");
  }
  return future.get();
}

// ---------------------------------------------------------------------------------------------

Result<NodeDocument> NodeDocumentFromChain(const TrustChain& chain, int64_t now) {
  const EntityStatement& config = chain.subject_configuration;
  NodeDocument doc;
  doc.id = EntityHost(chain.subject);
  doc.base_url = chain.subject;
  doc.version = 1;
  doc.name = StringMember(config.metadata, "kith_node", "name");
  doc.organisation = StringMember(config.metadata, "kith_node", "organisation");
  if (doc.organisation.empty()) {
    doc.organisation = StringMember(config.metadata, "federation_entity", "organization_name");
  }
  if (doc.name.empty()) doc.name = doc.organisation.empty() ? doc.id : doc.organisation;
  if (doc.organisation.empty()) doc.organisation = doc.name;
  for (const identity::PublicJwk& jwk : chain.subject_keys) {
    auto raw = Ed25519Bytes(jwk);
    if (!raw) continue;
    NodeDocumentKey key;
    key.kid = jwk.kid();
    key.alg = "ed25519";
    key.public_key = *raw;
    key.created_at = now;
    key.status = "current";
    doc.keys.push_back(std::move(key));
  }
  if (doc.keys.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "the chain of " + chain.subject + " states no Ed25519 key");
  }
  return doc;
}

nlohmann::json RefreshReport::ToJson() const {
  return json{{"anchors", anchors},           {"networks", networks},
              {"members_seen", members_seen}, {"chains_resolved", chains_resolved},
              {"admitted", admitted},         {"suspended", suspended},
              {"fetches", fetches},           {"errors", errors}};
}

void RefreshReport::Merge(const RefreshReport& other) {
  anchors = std::max(anchors, other.anchors);
  networks = std::max(networks, other.networks);
  members_seen = std::max(members_seen, other.members_seen);
  chains_resolved += other.chains_resolved;
  admitted += other.admitted;
  suspended += other.suspended;
  fetches += other.fetches;
  errors.insert(errors.end(), other.errors.begin(), other.errors.end());
}

// ---------------------------------------------------------------------------------------------

StoreNetworkPeerTarget::StoreNetworkPeerTarget(NetworkStore& networks, PeerStore& peers,
                                               const Clock& clock)
    : networks_(networks), peers_(peers), clock_(clock) {}

Result<std::vector<TrustAnchor>> StoreNetworkPeerTarget::TrustedAnchors() {
  return networks_.TrustedAnchors();
}

Result<std::vector<std::string>> StoreNetworkPeerTarget::AuthorityHints() {
  return networks_.AuthorityHints();
}

Status StoreNetworkPeerTarget::SetAuthorityHints(const std::vector<std::string>& entity_ids) {
  return networks_.SetAuthorityHints(entity_ids);
}

Result<std::map<std::string, NetworkPeerStatus>> StoreNetworkPeerTarget::Peers() {
  auto peers = peers_.List();
  if (!peers.ok()) return std::move(peers).error();
  auto rows = networks_.PeerNetworks();
  if (!rows.ok()) return std::move(rows).error();
  std::map<std::string, NetworkPeerStatus> out;
  for (const Peer& peer : *peers) {
    NetworkPeerStatus& status = out[peer.node_id];
    status.state = peer.state;
    status.network_admitted = peer.admitted_by == "network";
  }
  for (const PeerNetwork& row : *rows) {
    auto it = out.find(row.peer_node_id);
    if (it == out.end()) continue;  // rows of a peer that no longer exists
    NetworkPeerStatus& status = it->second;
    status.chain_expires_at = status.chain_expires_at
                                  ? std::min(*status.chain_expires_at, row.expires_at)
                                  : row.expires_at;
    status.networks.push_back(row.network);
    if (status.anchor.empty()) status.anchor = row.anchor;
  }
  return out;
}

Result<bool> StoreNetworkPeerTarget::Admit(const TrustChain& chain, std::string_view reason) {
  std::vector<PeerNetwork> rows;
  for (const std::string& network : chain.superiors) {
    rows.push_back(PeerNetwork{chain.subject, network, chain.anchor, chain.expires_at});
  }
  if (std::find(chain.superiors.begin(), chain.superiors.end(), chain.anchor) ==
      chain.superiors.end()) {
    rows.push_back(PeerNetwork{chain.subject, chain.anchor, chain.anchor, chain.expires_at});
  }
  auto found = peers_.Find(chain.subject);
  if (!found.ok()) return std::move(found).error();
  if (found->has_value() && (*found)->node_id == chain.subject &&
      (*found)->state == PeerState::kActive) {
    KITH_RETURN_IF_ERROR(networks_.ReplacePeerNetworks(chain.subject, rows));
    return false;
  }
  auto document = NodeDocumentFromChain(chain, clock_.UnixSeconds());
  if (!document.ok()) return std::move(document).error();
  PeerChange change;
  change.node_id = chain.subject;
  change.event = PeerEvent::kNetworkAdmit;
  change.document = std::move(document).value();
  change.audit =
      AuditRecord{"network:" + chain.anchor, "network", AuditDetail(chain.anchor, reason)};
  auto applied = peers_.ApplyEvent(change);
  if (!applied.ok()) return std::move(applied).error();
  KITH_RETURN_IF_ERROR(networks_.ReplacePeerNetworks(chain.subject, rows));
  return true;
}

Result<bool> StoreNetworkPeerTarget::Withdraw(const std::string& node_id, std::string_view anchor,
                                              std::string_view reason) {
  auto found = peers_.Find(node_id);
  if (!found.ok()) return std::move(found).error();
  bool changed = false;
  if (found->has_value() && (*found)->node_id == node_id && (*found)->state == PeerState::kActive &&
      (*found)->admitted_by == "network") {
    PeerChange change;
    change.node_id = node_id;
    change.event = PeerEvent::kNetworkWithdraw;
    change.audit =
        AuditRecord{"network:" + std::string(anchor), "network", AuditDetail(anchor, reason)};
    auto applied = peers_.ApplyEvent(change);
    if (!applied.ok()) return std::move(applied).error();
    changed = true;
  }
  KITH_RETURN_IF_ERROR(networks_.ReplacePeerNetworks(node_id, {}));
  return changed;
}

// ---------------------------------------------------------------------------------------------

// Counts the GETs of one NetworkPeering (its own and its resolvers').
class NetworkPeering::CountingFetcher : public EntityFetcher {
 public:
  CountingFetcher(EntityFetcher& inner, std::atomic<uint64_t>& count)
      : inner_(inner), count_(count) {}
  Result<std::string> Get(const std::string& url) override {
    count_.fetch_add(1, std::memory_order_relaxed);
    return inner_.Get(url);
  }

 private:
  EntityFetcher& inner_;
  std::atomic<uint64_t>& count_;
};

NetworkPeering::NetworkPeering(NetworkStore& networks, PeerStore& peers, EntityFetcher& fetcher,
                               const Clock& clock, Options options)
    : owned_target_(std::make_unique<StoreNetworkPeerTarget>(networks, peers, clock)),
      target_(*owned_target_),
      fetcher_(std::make_unique<CountingFetcher>(fetcher, fetches_)),
      clock_(clock),
      options_(std::move(options)) {}

NetworkPeering::NetworkPeering(NetworkPeerTarget& target, EntityFetcher& fetcher,
                               const Clock& clock, Options options)
    : target_(target),
      fetcher_(std::make_unique<CountingFetcher>(fetcher, fetches_)),
      clock_(clock),
      options_(std::move(options)) {}

NetworkPeering::~NetworkPeering() = default;

void NetworkPeering::Notify(const std::vector<NetworkPeerChange>& changes) {
  if (!options_.on_peer_changed) return;
  for (const NetworkPeerChange& change : changes) options_.on_peer_changed(change);
}

Result<RefreshReport> NetworkPeering::RefreshNow() {
  std::vector<NetworkPeerChange> changes;
  Result<RefreshReport> report = [&] {
    std::lock_guard lock(mu_);
    return RefreshLocked(changes);
  }();
  Notify(changes);
  return report;
}

Result<RefreshReport> NetworkPeering::RefreshWithdrawnNow() {
  std::vector<NetworkPeerChange> changes;
  Result<RefreshReport> report = [&] {
    std::lock_guard lock(mu_);
    return WithdrawLocked(changes);
  }();
  Notify(changes);
  return report;
}

Result<RefreshReport> NetworkPeering::RefreshLocked(std::vector<NetworkPeerChange>& changes) {
  const uint64_t fetches_before = fetches_.load();
  const int64_t now = clock_.UnixSeconds();
  RefreshReport report;
  auto anchors = target_.TrustedAnchors();
  if (!anchors.ok()) return std::move(anchors).error();
  report.anchors = static_cast<int>(anchors->size());
  auto peers = target_.Peers();
  if (!peers.ok()) return std::move(peers).error();

  const bool same_anchors =
      resolver_ && resolver_anchors_.size() == anchors->size() &&
      std::equal(anchors->begin(), anchors->end(), resolver_anchors_.begin(),
                 [](const TrustAnchor& a, const TrustAnchor& b) {
                   return a.entity_id == b.entity_id && a.fingerprint == b.fingerprint;
                 });
  if (!same_anchors) {
    ResolveOptions resolve;
    resolve.check.allow_http = options_.allow_http;
    resolve.max_superiors = options_.max_depth;
    resolve.config_cache_ttl = options_.config_cache_ttl;
    resolver_ = std::make_unique<TrustChainResolver>(*fetcher_, *anchors, clock_, resolve);
    resolver_anchors_ = *anchors;
    // Chains to anchors no longer trusted must be resolved again (or expire).
    networks_.clear();
    leaves_.clear();
  }

  auto fail = [&](std::string message) {
    spdlog::warn("networks: {}", message);
    report.errors.push_back(std::move(message));
  };

  std::map<std::string, KnownNetwork> networks;              // networks read in this pass
  std::set<std::string> listed;                              // leaves listed in this pass
  std::set<std::string> hints;                               // networks that list this node
  std::vector<std::pair<TrustChain, std::string>> to_admit;  // chain, listing network
  bool complete = true;
  struct Visit {
    std::string network;
    int depth = 0;
  };
  std::deque<Visit> queue;

  for (const TrustAnchor& anchor : *anchors) {
    if (networks.count(anchor.entity_id)) continue;
    auto config = resolver_->Configuration(anchor.entity_id);
    if (!config.ok()) {
      complete = false;
      fail("anchor " + anchor.entity_id + ": " + config.error().message);
      continue;
    }
    if (config->sub != anchor.entity_id || !HasFingerprint(config->jwks, anchor.fingerprint)) {
      complete = false;
      fail("anchor " + anchor.entity_id +
           ": no key of its entity configuration has the "
           "trusted fingerprint " +
           anchor.fingerprint);
      continue;
    }
    KnownNetwork known;
    known.anchor = anchor.entity_id;
    known.keys = config->jwks;
    known.list_endpoint = ListEndpointOf(*config);
    known.withdrawn_endpoint = WithdrawnEndpointOf(*config);
    networks.emplace(anchor.entity_id, std::move(known));
    queue.push_back(Visit{anchor.entity_id, 0});
  }

  while (!queue.empty()) {
    const Visit visit = queue.front();
    queue.pop_front();
    const KnownNetwork& network = networks.at(visit.network);
    if (network.list_endpoint.empty()) {
      complete = false;
      fail("network " + visit.network + " publishes no list endpoint");
      continue;
    }
    auto body = fetcher_->Get(network.list_endpoint);
    if (!body.ok()) {
      complete = false;
      fail("network " + visit.network + ": " + body.error().message);
      continue;
    }
    std::vector<std::string> problems;
    auto members = ParseMemberList(*body, options_.allow_http, problems);
    for (std::string& problem : problems) fail("network " + visit.network + ": " + problem);
    if (!members.ok()) {
      complete = false;
      fail("network " + visit.network + ": " + members.error().message);
      continue;
    }
    ++report.networks;
    for (const std::string& id : *members) {
      if (id == options_.self) {
        hints.insert(visit.network);
        continue;
      }
      if (networks.count(id) || listed.count(id)) continue;  // seen in this pass (or a loop)

      // An intermediate resolved in an earlier pass whose chain is still fresh.
      if (auto known = networks_.find(id);
          known != networks_.end() && known->second.chain_expires_at > 0 &&
          Fresh(known->second.resolved_at, known->second.chain_expires_at, now)) {
        if (visit.depth + 1 < options_.max_depth) {
          networks.emplace(id, known->second);
          queue.push_back(Visit{id, visit.depth + 1});
        } else {
          fail("network " + id + " is nested deeper than " + std::to_string(options_.max_depth));
        }
        continue;
      }
      // A leaf whose chain is still fresh and on record.
      if (auto leaf = leaves_.find(id);
          leaf != leaves_.end() && Fresh(leaf->second.resolved_at, leaf->second.expires_at, now)) {
        auto peer = peers->find(id);
        const bool on_record = peer != peers->end() && peer->second.chain_expires_at &&
                               *peer->second.chain_expires_at > now;
        if (on_record || !leaf->second.admitted) {
          listed.insert(id);
          continue;
        }
      }

      auto chain = resolver_->Resolve(id, {visit.network});
      if (!chain.ok()) {
        listed.insert(id);  // listed, but without a valid chain: never admitted
        fail("no valid chain for " + id + " (listed by " + visit.network +
             "): " + chain.error().message);
        continue;
      }
      ++report.chains_resolved;
      if (IsNetwork(chain->subject_configuration)) {
        if (visit.depth + 1 >= options_.max_depth) {
          fail("network " + id + " is nested deeper than " + std::to_string(options_.max_depth));
          continue;
        }
        KnownNetwork known;
        known.anchor = chain->anchor;
        known.keys = chain->subject_keys;
        known.list_endpoint = ListEndpointOf(chain->subject_configuration);
        known.withdrawn_endpoint = WithdrawnEndpointOf(chain->subject_configuration);
        known.resolved_at = now;
        known.chain_expires_at = chain->expires_at;
        networks.emplace(id, std::move(known));
        queue.push_back(Visit{id, visit.depth + 1});
        continue;
      }
      listed.insert(id);
      to_admit.emplace_back(std::move(chain).value(), visit.network);
    }
  }
  report.members_seen = static_cast<int>(listed.size());

  for (auto& [chain, listed_by] : to_admit) {
    const std::string reason = "listed by " + listed_by;
    auto admitted = target_.Admit(chain, reason);
    KnownLeaf leaf;
    leaf.anchor = chain.anchor;
    leaf.superiors = chain.superiors;
    leaf.resolved_at = now;
    leaf.expires_at = chain.expires_at;
    if (!admitted.ok()) {
      if (admitted.error().code == ErrorCode::kConflict) {
        // An operator suspended or revoked it: leave it alone until the chain is due again.
        spdlog::info("networks: {} not admitted: {}", chain.subject, admitted.error().message);
        leaf.admitted = false;
        leaves_[chain.subject] = std::move(leaf);
      } else {
        fail("admitting " + chain.subject + ": " + admitted.error().message);
      }
      continue;
    }
    leaf.admitted = true;
    leaves_[chain.subject] = std::move(leaf);
    if (*admitted) {
      ++report.admitted;
      spdlog::info("networks: admitted {} ({})", chain.subject, reason);
      changes.push_back(NetworkPeerChange{chain.subject, true, reason});
    }
  }

  // Authority hints: what the lists said; when some list could not be read, keep the hints
  // we had too (a network that was down is not a network we left).
  auto old_hints = target_.AuthorityHints();
  if (!old_hints.ok()) {
    fail("reading authority hints: " + old_hints.error().message);
  } else {
    std::set<std::string> next = hints;
    if (!complete) next.insert(old_hints->begin(), old_hints->end());
    std::set<std::string> before(old_hints->begin(), old_hints->end());
    if (next != before) {
      Status set = target_.SetAuthorityHints(std::vector<std::string>(next.begin(), next.end()));
      if (!set.ok()) fail("recording authority hints: " + set.error().message);
    }
  }

  if (complete) {
    networks_ = std::move(networks);
  } else {
    for (auto& [id, network] : networks) networks_[id] = std::move(network);
  }
  listed_ = std::move(listed);
  listed_complete_ = complete;
  report.fetches = fetches_.load() - fetches_before;
  return report;
}

Result<RefreshReport> NetworkPeering::WithdrawLocked(std::vector<NetworkPeerChange>& changes) {
  const uint64_t fetches_before = fetches_.load();
  const int64_t now = clock_.UnixSeconds();
  RefreshReport report;
  report.networks = static_cast<int>(networks_.size());
  report.anchors = static_cast<int>(resolver_anchors_.size());
  auto fail = [&](std::string message) {
    spdlog::warn("networks: {}", message);
    report.errors.push_back(std::move(message));
  };

  // peer -> the networks that withdrew it
  std::map<std::string, std::set<std::string>> withdrawn;
  StatementCheckOptions check;
  check.allow_http = options_.allow_http;
  for (const auto& [id, network] : networks_) {
    if (network.withdrawn_endpoint.empty()) {
      fail("network " + id + " publishes no withdrawn list");
      continue;
    }
    auto body = fetcher_->Get(network.withdrawn_endpoint);
    if (!body.ok()) {
      fail("network " + id + ": " + body.error().message);
      continue;
    }
    auto list = ParseWithdrawnList(*body, id, network.keys, clock_, check);
    if (!list.ok()) {
      fail("the withdrawn list of " + id + ": " + list.error().message);
      continue;
    }
    for (const WithdrawnEntry& entry : list->withdrawn) withdrawn[entry.sub].insert(id);
  }

  auto peers = target_.Peers();
  if (!peers.ok()) return std::move(peers).error();
  for (const auto& [node_id, status] : *peers) {
    const bool admitted_active = status.network_admitted && status.state == PeerState::kActive;
    if (!admitted_active && !status.chain_expires_at) continue;  // nothing networks decide
    std::string reason;
    if (auto w = withdrawn.find(node_id); w != withdrawn.end()) {
      for (const std::string& network : status.networks) {
        if (w->second.count(network)) {
          reason = "withdrawn by " + network;
          break;
        }
      }
    }
    if (reason.empty() && status.chain_expires_at && *status.chain_expires_at <= now) {
      reason = "trust chain expired";
    }
    if (reason.empty() && !status.chain_expires_at) reason = "no valid trust chain";
    if (reason.empty() && listed_complete_ && !listed_.count(node_id)) {
      reason = "no longer listed by any network";
    }
    if (reason.empty()) continue;
    std::string anchor = status.anchor;
    if (auto leaf = leaves_.find(node_id); anchor.empty() && leaf != leaves_.end()) {
      anchor = leaf->second.anchor;
    }
    leaves_.erase(node_id);
    auto changed = target_.Withdraw(node_id, anchor, reason);
    if (!changed.ok()) {
      fail("withdrawing " + node_id + ": " + changed.error().message);
      continue;
    }
    if (*changed) {
      ++report.suspended;
      spdlog::info("networks: suspended {} ({})", node_id, reason);
      changes.push_back(NetworkPeerChange{node_id, false, reason});
    }
  }
  report.fetches = fetches_.load() - fetches_before;
  return report;
}

}  // namespace kith::federation
