// The OpenID Federation endpoints a node serves (issue 7, docs/networks.md):
//
//   GET /.well-known/openid-federation              this node's entity configuration (EC):
//                                                   signed with the current node key, jwks =
//                                                   the published node keys, metadata
//                                                   kith_node / federation_entity /
//                                                   openid_provider / openid_relying_party,
//                                                   authority_hints = NetworkStore::
//                                                   AuthorityHints(); lifetime 24 h. Built on
//                                                   the blocking pool and cached (see below).
//   GET /networks/{name}/.well-known/openid-federation   a network's EC
//   GET /networks/{name}/fetch?sub=<entity id>      the subordinate statement about a current
//                                                   member (404 {"error":"not_found"} for
//                                                   anything else; 400 invalid_request without
//                                                   or with a malformed / oversized sub)
//   GET /networks/{name}/list                       JSON array of the current members' ids
//   GET /networks/{name}/withdrawn                  the signed withdrawn list (10 min)
//
// Statements are `application/entity-statement+jwt`, the withdrawn list
// `application/kith-withdrawn+jwt`. An unknown network (or a name that is not [a-z0-9-]{1,63})
// is a 404; a failure of the store a 500/503 JSON error. Never a crash on bad input.
//
// Thread-safety: the routes may run on any I/O thread; the SQL and signing run on the
// blocking pool. The EC cache is guarded by a mutex that is never held across a wait.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "federation/network_store.h"
#include "identity/node_keys.h"
#include "node/config.h"
#include "node/router.h"
#include "storage/clock.h"
#include "storage/snapshot.h"

namespace kith::node {

// Lifetime of the node's entity configuration.
inline constexpr int64_t kNodeEntityConfigurationLifetime = 86400;

// What the routes use; everything must outlive the router's server.
struct NetworkEndpoints {
  const Config* config = nullptr;
  storage::Snapshot<identity::NodeKeyring>* keys = nullptr;
  federation::NetworkStore* networks = nullptr;
  const Clock* clock = nullptr;
  boost::asio::thread_pool* blocking_pool = nullptr;
  // The OpenID provider's discovery document (metadata.openid_provider); may be empty.
  std::function<nlohmann::json()> openid_provider_metadata;
  // How long a built node EC is served before it is rebuilt (it is also rebuilt at once after a
  // key rotation, when the current kid changed).
  std::chrono::seconds cache_ttl{60};
};

// The claims of this node's entity configuration (unsigned): iss = sub = base URL, iat = now,
// exp = now + kNodeEntityConfigurationLifetime, jwks = the keyring's published keys (OKP),
// metadata as described above, authority_hints as given. Pure.
federation::EntityStatement NodeEntityStatement(const Config& config,
                                                const identity::NodeKeyring& keys,
                                                const std::vector<std::string>& authority_hints,
                                                const nlohmann::json& openid_provider, int64_t now);

// Signs NodeEntityStatement with the keyring's current key. Errors from SignEntityStatement
// (e.g. an http:// base URL while http entities are not allowed is NOT checked here: the
// statement is what it is; peers decide).
Result<std::string> SignNodeEntityConfiguration(const Config& config,
                                                std::shared_ptr<const identity::NodeKeyring> keys,
                                                const std::vector<std::string>& authority_hints,
                                                const nlohmann::json& openid_provider, int64_t now);

// Registers the routes above on `router`.
void AddNetworkRoutes(Router& router, NetworkEndpoints deps);

}  // namespace kith::node
