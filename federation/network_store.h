// NetworkStore: the SQL and keys of networks (storage/migrations/0012_networks.sql).
//
// Operator side — the networks this node runs (trust anchor, or intermediate under another
// network): their Ed25519 keys (seed in DATA_DIR/keys/network-<name>.key, mode 0600), their
// member register, the subordinate statements issued about members (kept, reissued when less
// than half their lifetime is left), the withdrawn list, and the network's own entity
// configuration.
//
// Member side — the trust anchors this node trusts, the networks it belongs to (its
// authority_hints) and which networks each peer reaches (peer_networks).
//
// Calls block on SQLite (reads on a pooled connection, writes wait for the group commit):
// call them from a blocking pool, not an I/O thread. Thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "federation/entity_statement.h"
#include "federation/trust_chain.h"
#include "identity/jwk.h"
#include "storage/clock.h"
#include "storage/result.h"
#include "storage/store.h"

namespace kith::federation {

// Path prefix of networks under a node's base URL: <base>/networks/<name>.
inline constexpr std::string_view kNetworksPathPrefix = "/networks/";

// A network this node operates.
struct Network {
  int64_t id = 0;
  std::string name;       // [a-z0-9-], 1..63
  std::string entity_id;  // <base url>/networks/<name>
  std::string display_name;
  std::string superior;  // empty: trust anchor; else the superior network's entity id
  std::string kid;
  std::string fingerprint;  // identity::Fingerprint of the network key
  int64_t statement_lifetime = 86400;
  int64_t created_at = 0;

  bool IsAnchor() const { return superior.empty(); }
  // The endpoints the network publishes (metadata.federation_entity).
  std::string FetchEndpoint() const { return entity_id + "/fetch"; }
  std::string ListEndpoint() const { return entity_id + "/list"; }
  std::string WithdrawnEndpoint() const { return entity_id + "/withdrawn"; }
};

// One row of a network's register.
struct NetworkMember {
  std::string entity_id;
  std::string organisation;
  std::vector<identity::PublicJwk> keys;
  bool intermediate = false;
  std::optional<int> max_path_length;
  int64_t added_at = 0;
  std::optional<int64_t> withdrawn_at;
  std::optional<int64_t> statement_exp;  // expiry of the current subordinate statement
  std::optional<int64_t> last_contact_at;
  std::string last_error;
};

// What `network add-member` records.
struct NewNetworkMember {
  std::string entity_id;
  std::string organisation;
  std::vector<identity::PublicJwk> keys;  // from the member's entity configuration
  bool intermediate = false;
  std::optional<int> max_path_length;
};

// A trusted anchor as recorded (kithctl network list).
struct TrustedAnchorRecord {
  std::string entity_id;
  std::string fingerprint;
  int64_t added_at = 0;
};

// One peer's standing in one network.
struct PeerNetwork {
  std::string peer_node_id;
  std::string network;  // entity id of a network on the peer's chain
  std::string anchor;
  int64_t expires_at = 0;
};

class NetworkStore {
 public:
  // `store` and `clock` must outlive the NetworkStore. `base_url` is this node's base URL (no
  // trailing slash); `data_dir` holds the network keys; `allow_http` as for entity ids.
  NetworkStore(storage::Store& store, const Clock& clock, std::filesystem::path data_dir,
               std::string base_url, bool allow_http);

  // Whether http:// entity ids are accepted (tests, the example network), and this node's
  // base URL, as given.
  bool allow_http() const { return allow_http_; }
  const std::string& base_url() const { return base_url_; }

  // --- Operator side -------------------------------------------------------------------

  // Creates a network `name` (kInvalidArgument for a bad name, kConflict when it exists): a
  // fresh key (file first, then the row), entity id <base>/networks/<name>. `superior` empty
  // for a trust anchor, else the entity id of the network it is an intermediate of.
  Result<Network> Create(std::string_view name, std::string_view display_name,
                         std::string_view superior, int64_t statement_lifetime = 86400);

  // Every network this node operates, by name; one by name or entity id (nullopt: none).
  Result<std::vector<Network>> Networks();
  Result<std::optional<Network>> FindNetwork(std::string_view name_or_entity_id);

  // Adds (or re-adds after a withdrawal, or updates the keys of) a member. kNotFound for an
  // unknown network, kInvalidArgument for a bad entity id or no keys.
  Result<NetworkMember> AddMember(std::string_view network, const NewNetworkMember& member);

  // Withdraws a member: withdrawn_at = now, its statement is no longer served, it goes on the
  // withdrawn list. kNotFound when it is not a current member.
  Status RemoveMember(std::string_view network, std::string_view entity_id);

  // The register (current and withdrawn members), by entity id.
  Result<std::vector<NetworkMember>> Members(std::string_view network);
  // One row of the register (current or withdrawn); nullopt when never a member. kNotFound
  // for an unknown network.
  Result<std::optional<NetworkMember>> FindMember(std::string_view network,
                                                  std::string_view entity_id);

  // Replaces the registered keys of current member `entity_id` (a member's key rotation, seen
  // by NetworkOperator::Sweep); its statement is reissued at once. kNotFound when it is not a
  // current member, kInvalidArgument for no keys or too many.
  Status UpdateMemberKeys(std::string_view network, std::string_view entity_id,
                          const std::vector<identity::PublicJwk>& keys);

  // Records the result of the operator's periodic fetch of a member's configuration: ok
  // sets last_contact_at = now and clears last_error, else sets last_error.
  Status RecordMemberContact(std::string_view network, std::string_view entity_id, bool ok,
                             std::string_view error = {});

  // The network's entity configuration, signed with its key: iss = sub = entity id, jwks =
  // the network key, metadata.federation_entity {fetch, list, withdrawn endpoints,
  // organization_name}, authority_hints = [superior] for an intermediate. Lifetime
  // `lifetime` (default: one day).
  Result<std::string> EntityConfiguration(std::string_view network, int64_t lifetime = 86400);

  // The subordinate statement about current member `sub` (the fetch endpoint): the stored one
  // when more than half its lifetime is left, else a fresh one (stored). jwks = the member's
  // registered keys; constraints {max_path_length} for intermediates. kNotFound when `sub`
  // is not a current member.
  Result<std::string> SubordinateStatement(std::string_view network, std::string_view sub);

  // Reissues every statement with less than half its lifetime left (a periodic job). Returns
  // how many were reissued.
  Result<int> ReissueDue();

  // Entity ids of the current members (the list endpoint).
  Result<std::vector<std::string>> MemberIds(std::string_view network);

  // The signed withdrawn list of the network, valid for `lifetime` seconds.
  Result<std::string> WithdrawnListJwt(std::string_view network, int64_t lifetime = 600);

  // --- Member side ----------------------------------------------------------------------

  // Trusts an anchor (re-trusting replaces the fingerprint). kInvalidArgument for a bad
  // entity id or an empty fingerprint.
  Status Trust(const TrustAnchor& anchor);
  // Stops trusting an anchor. kNotFound when it was not trusted.
  Status Untrust(std::string_view entity_id);
  Result<std::vector<TrustAnchor>> TrustedAnchors();
  // The same with the time each was added, by entity id.
  Result<std::vector<TrustedAnchorRecord>> TrustedAnchorRecords();

  // This node's authority_hints (networks it was found in); replaced as a whole.
  Result<std::vector<std::string>> AuthorityHints();
  Status SetAuthorityHints(const std::vector<std::string>& entity_ids);

  // The networks of peers. ReplacePeerNetworks sets the rows of one peer (none: delete).
  Status ReplacePeerNetworks(std::string_view peer_node_id, const std::vector<PeerNetwork>& rows);
  Result<std::vector<PeerNetwork>> PeerNetworks();
  // Whether `peer_node_id` reaches `network` through a chain valid now.
  Result<bool> PeerInNetwork(std::string_view peer_node_id, std::string_view network);

 private:
  // The network's signing key, loaded from its seed file once and cached.
  Result<std::shared_ptr<const identity::SigningKey>> KeyFor(const Network& network);

  storage::Store& store_;
  const Clock& clock_;
  std::filesystem::path data_dir_;
  std::string base_url_;
  bool allow_http_;
  std::mutex keys_mu_;
  std::map<std::string, std::shared_ptr<const identity::SigningKey>> keys_;  // by network name
};

}  // namespace kith::federation
