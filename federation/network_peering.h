// NetworkPeering: automatic peering through networks (OpenID Federation 1.0 trust anchors and
// intermediates, see federation/trust_chain.h).
//
// A node that trusts an anchor (NetworkStore::Trust) peers with every node the anchor's network
// lists, directly or through intermediate networks, once it holds a verified trust chain for
// it. Two periodic passes, driven by the daemon's timers on the blocking pool:
//
//  * RefreshNow (networks.refresh_interval): for each trusted anchor, fetch its entity
//    configuration (one of its keys must have the configured fingerprint), GET its list
//    endpoint, and recurse into listed members that are networks (their verified chain's
//    configuration has a federation_list_endpoint; depth at most 5, loops cut). For every leaf
//    other than this node, resolve a chain when the leaf is not peered through a network yet or
//    its chain has less than half its life left; on success admit it (PeerEvent::kNetworkAdmit,
//    admitted_by "network") and record the networks it reaches (peer_networks). Failures are
//    logged (spdlog warn) and reported, never admitted. The networks whose list names this
//    node become its authority hints.
//  * RefreshWithdrawnNow (networks.withdrawn_refresh_interval): fetch the withdrawn list of
//    every network seen by the last RefreshNow (verified with the network's keys from its
//    chain, or the anchor's fingerprinted configuration) and suspend (kNetworkWithdraw)
//    network-admitted peers that are withdrawn, whose chain expired, or that no list named in
//    the last complete RefreshNow. Their peer_networks rows go.
//
// Pairwise (operator) peerings are never changed: a pairwise peer found in a network only gets
// its peer_networks rows (for network-scoped groups). A peer an operator suspended or revoked
// is never resumed by a network.
//
// The peer-table side is behind NetworkPeerTarget, so that the same resolution and verification
// code runs in a node (StoreNetworkPeerTarget: SQLite through PeerStore and NetworkStore) and in
// the 1,000-node simulation (bench/network_sim_bench.cc: in-memory tables).
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "federation/network_store.h"
#include "federation/peer_store.h"
#include "federation/peering.h"
#include "federation/trust_chain.h"
#include "storage/clock.h"
#include "storage/result.h"

namespace kith::federation {

class HttpClient;

// EntityFetcher over the node's HttpClient (SSRF guard, TLS, connection pool): GET with
// `Accept: application/entity-statement+jwt, application/kith-withdrawn+jwt, application/json`,
// only a 200 answer counts (kNotFound for 404, kUnavailable otherwise), the body is read up to
// kMaxWithdrawnListBytes (kTooLarge beyond). Get blocks the calling thread until the request
// ends or `timeout` passes (kUnavailable): call it from a blocking pool thread, never from an
// I/O thread of `executor`. Thread-safe.
class HttpEntityFetcher : public EntityFetcher {
 public:
  // `client` must outlive the fetcher; its coroutines run on `executor`.
  HttpEntityFetcher(HttpClient& client, boost::asio::any_io_executor executor,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30));

  Result<std::string> Get(const std::string& url) override;

 private:
  HttpClient& client_;
  boost::asio::any_io_executor executor_;
  std::chrono::milliseconds timeout_;
};

// One peer as networks see it.
struct NetworkPeerStatus {
  PeerState state = PeerState::kActive;
  bool network_admitted = false;  // admitted_by == "network"
  // Smallest expires_at of the peer's peer_networks rows; nullopt when it has none.
  std::optional<int64_t> chain_expires_at;
  std::vector<std::string> networks;  // the networks of those rows
  std::string anchor;                 // the anchor of those rows (empty: none)
};

// The peer-table side of NetworkPeering. Implementations must be safe to call from the thread
// running a refresh (NetworkPeering never calls one target from two threads at once).
class NetworkPeerTarget {
 public:
  virtual ~NetworkPeerTarget() = default;

  // The trust anchors this node trusts.
  virtual Result<std::vector<TrustAnchor>> TrustedAnchors() = 0;
  // This node's authority hints (the networks that list it); SetAuthorityHints replaces them.
  virtual Result<std::vector<std::string>> AuthorityHints() = 0;
  virtual Status SetAuthorityHints(const std::vector<std::string>& entity_ids) = 0;

  // Every known peer by node id (pairwise ones too: a network must not touch those).
  virtual Result<std::map<std::string, NetworkPeerStatus>> Peers() = 0;

  // Admits `chain.subject` through `chain`: a peer that is not active moves to active
  // (kNetworkAdmit, keys = chain.subject_keys, audit detail {anchor, reason}); an active one
  // (pairwise or network) keeps its state and keys. Either way its networks become the chain's
  // superiors, valid until chain.expires_at. Returns true when the peer's state changed.
  // kConflict when an operator suspended or revoked the peer (nothing written).
  virtual Result<bool> Admit(const TrustChain& chain, std::string_view reason) = 0;

  // Withdraws `node_id`'s network standing: its networks are forgotten; a network-admitted
  // active peer is suspended (kNetworkWithdraw, audit detail {anchor, reason}). Returns true
  // when the peer's state changed. Pairwise peers only lose their networks.
  virtual Result<bool> Withdraw(const std::string& node_id, std::string_view anchor,
                                std::string_view reason) = 0;
};

// StoreNetworkPeerTarget: the node's target, over PeerStore and NetworkStore (SQLite; blocks).
class StoreNetworkPeerTarget : public NetworkPeerTarget {
 public:
  // `networks`, `peers` and `clock` must outlive the target.
  StoreNetworkPeerTarget(NetworkStore& networks, PeerStore& peers, const Clock& clock);

  Result<std::vector<TrustAnchor>> TrustedAnchors() override;
  Result<std::vector<std::string>> AuthorityHints() override;
  Status SetAuthorityHints(const std::vector<std::string>& entity_ids) override;
  Result<std::map<std::string, NetworkPeerStatus>> Peers() override;
  Result<bool> Admit(const TrustChain& chain, std::string_view reason) override;
  Result<bool> Withdraw(const std::string& node_id, std::string_view anchor,
                        std::string_view reason) override;

 private:
  NetworkStore& networks_;
  PeerStore& peers_;
  const Clock& clock_;
};

// The NodeDocument a chain vouches for: base_url = id = chain.subject, name and organisation
// from metadata.kith_node (falling back to federation_entity.organization_name, then the host),
// keys = chain.subject_keys that are Ed25519 (kid = the JWK's kid, status "current").
// kInvalidArgument when the chain carries no Ed25519 key.
Result<NodeDocument> NodeDocumentFromChain(const TrustChain& chain, int64_t now);

// What one refresh pass did (kithctl network refresh prints it).
struct RefreshReport {
  int anchors = 0;          // trusted anchors
  int networks = 0;         // networks whose list was read (anchors and intermediates)
  int members_seen = 0;     // distinct leaves listed (this node excluded)
  int chains_resolved = 0;  // chains resolved and verified in this pass
  int admitted = 0;         // peers that became active
  int suspended = 0;        // peers suspended
  uint64_t fetches = 0;     // GETs made
  std::vector<std::string> errors;

  // {"anchors":..,"networks":..,"members_seen":..,"chains_resolved":..,"admitted":..,
  //  "suspended":..,"fetches":..,"errors":[...]}
  nlohmann::json ToJson() const;
  // Adds `other`'s counters and errors to this one (anchors and networks: the larger).
  void Merge(const RefreshReport& other);
};

// A change NetworkPeering made to a peer.
struct NetworkPeerChange {
  std::string node_id;
  bool active = false;  // true: admitted (now active); false: suspended
  std::string reason;
};

class NetworkPeering {
 public:
  struct Options {
    bool allow_http = false;  // accept http:// entity ids (tests, the example network)
    std::string self;         // this node's entity id (its base URL, no trailing slash)
    // Called (on the refreshing thread, outside any lock of this class) for every peer whose
    // state changed: the daemon ends sessions and removes OIDC clients of suspended peers.
    std::function<void(const NetworkPeerChange&)> on_peer_changed;
    int max_depth = 5;  // networks below an anchor, and superiors in a chain
    std::chrono::seconds config_cache_ttl{60};
  };

  // The node's form: targets PeerStore + NetworkStore. Every reference must outlive this.
  NetworkPeering(NetworkStore& networks, PeerStore& peers, EntityFetcher& fetcher,
                 const Clock& clock, Options options);
  // Any target (the simulation). `target`, `fetcher` and `clock` must outlive this.
  NetworkPeering(NetworkPeerTarget& target, EntityFetcher& fetcher, const Clock& clock,
                 Options options);
  ~NetworkPeering();
  NetworkPeering(const NetworkPeering&) = delete;
  NetworkPeering& operator=(const NetworkPeering&) = delete;

  // The member-list pass (see the file comment). Blocks (HTTP, SQLite). An error only when
  // the target cannot be read; a failing anchor, list or chain is an entry of errors.
  // Thread-safe: concurrent calls of either pass run one after the other.
  Result<RefreshReport> RefreshNow();

  // The withdrawn-list pass (see the file comment). Blocks; thread-safe as RefreshNow.
  Result<RefreshReport> RefreshWithdrawnNow();

  // GETs made by this object so far (resolvers included).
  uint64_t fetches() const { return fetches_.load(); }

 private:
  // A network seen by the last RefreshNow.
  struct KnownNetwork {
    std::string anchor;
    std::vector<identity::PublicJwk> keys;  // verified: fingerprint (anchor) or chain
    std::string list_endpoint;
    std::string withdrawn_endpoint;
    int64_t resolved_at = 0;
    int64_t chain_expires_at = 0;  // 0 for an anchor (its configuration is checked each pass)
  };
  // A leaf resolved by this object.
  struct KnownLeaf {
    std::string anchor;
    std::vector<std::string> superiors;
    int64_t resolved_at = 0;
    int64_t expires_at = 0;
    bool admitted = false;  // false: an operator's suspension or revocation stood in the way
  };
  class CountingFetcher;

  Result<RefreshReport> RefreshLocked(std::vector<NetworkPeerChange>& changes);
  Result<RefreshReport> WithdrawLocked(std::vector<NetworkPeerChange>& changes);
  void Notify(const std::vector<NetworkPeerChange>& changes);

  std::unique_ptr<NetworkPeerTarget> owned_target_;
  NetworkPeerTarget& target_;
  std::unique_ptr<CountingFetcher> fetcher_;
  const Clock& clock_;
  Options options_;
  std::atomic<uint64_t> fetches_{0};

  std::mutex mu_;  // one pass at a time; guards everything below
  std::unique_ptr<TrustChainResolver> resolver_;
  std::vector<TrustAnchor> resolver_anchors_;
  std::map<std::string, KnownNetwork> networks_;
  std::map<std::string, KnownLeaf> leaves_;
  // Leaves listed by the last RefreshNow, and whether every list of it was read.
  std::set<std::string> listed_;
  bool listed_complete_ = false;
};

}  // namespace kith::federation
