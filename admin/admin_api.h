// AdminApi: every administrative operation of a running node, as one C++ API.
//
// kithd serves it on DATA_DIR/admin.sock (HTTP/1.1 over a Unix socket, mode 0600: the
// file permissions are the access control); kithctl is its client. Requests and responses
// are JSON; errors are {"error": code, "message": text} with the status of the ErrorCode.
//
// Routes (all under /v1):
//   GET  /v1/status            -> {"version","uptime_seconds","database_bytes",
//                                  "write_queue_depth","node":{...},"server":{...}}
//   POST /v1/backup {"path"}   -> {"path","bytes"}   (SQLite online backup; path must not exist)
// Later issues add members, clients, peers, keys and audit here.
//
// Thread-safety: Handle may be called from several threads at once. It may block (backups,
// password hashing), so the daemon calls it off its I/O threads.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "identity/member_store.h"
#include "identity/node_keys.h"
#include "identity/oidc_client.h"
#include "identity/oidc_keys.h"
#include "identity/password.h"
#include "identity/session_store.h"
#include "storage/clock.h"
#include "storage/snapshot.h"
#include "storage/store.h"

namespace kith::federation {
class EntityFetcher;
class NetworkStore;
class PeeringService;
class PeerStore;
}  // namespace kith::federation

namespace kith::admin {

// What the daemon lends to the admin API. Everything outlives the AdminApi.
struct NodeContext {
  std::filesystem::path data_dir;
  storage::Store* store = nullptr;
  // The node's Ed25519 keyring and the OIDC signing keys, swapped after a rotation.
  storage::Snapshot<identity::NodeKeyring>* node_keys = nullptr;
  storage::Snapshot<identity::OidcKeySet>* oidc_keys = nullptr;
  // Reloads both snapshots from the database and the key files (after a rotation).
  std::function<Status()> reload_keys;
  std::string name;
  std::string organisation;
  std::string base_url;
  std::string domain;  // members' address domain (handle@domain): the base URL's host[:port]
  std::chrono::steady_clock::time_point started_at;
  // Live figures of the HTTP server (open connections, requests served, ...), as JSON.
  std::function<nlohmann::json()> server_stats;
  // Peering (admin/peer_ops.h: /v1/peers..., /v1/audit); null when federation is not running.
  federation::PeeringService* peering = nullptr;
  federation::PeerStore* peers = nullptr;
  // Members, sessions and OIDC clients (admin/member_ops.h); null in tests that do not need them.
  identity::MemberStore* members = nullptr;
  identity::SessionStore* sessions = nullptr;
  identity::PasswordHasher* hasher = nullptr;
  identity::OidcClientStore* clients = nullptr;
  // Networks (admin/network_ops.h: /v1/networks...); null when networks are not running.
  federation::NetworkStore* networks = nullptr;
  // Lifetime of statements a network created without --statement-lifetime issues
  // (networks.statement_lifetime).
  int64_t default_statement_lifetime = 86400;
  // Fetches entity configurations for fetch-member / add-member (HttpEntityFetcher in kithd).
  federation::EntityFetcher* entity_fetcher = nullptr;
  // Runs NetworkPeering::RefreshNow + RefreshWithdrawnNow and returns their report; empty when
  // automatic peering is not running (POST /v1/networks/refresh then answers 503).
  std::function<nlohmann::json()> refresh_networks;
};

struct AdminResponse {
  int status = 200;
  nlohmann::json body;
  std::string allow;  // for 405: the methods the path allows ("GET, POST"); send as Allow
};

class AdminApi {
 public:
  explicit AdminApi(NodeContext context);

  // Handles one request. `body` is the raw request body (JSON or empty). `path` may carry a
  // query string. Never throws; unknown paths are 404, wrong methods 405 (with `allow` set).
  AdminResponse Handle(std::string_view method, std::string_view path, std::string_view body);

 private:
  // The context and the route table, shared by copies of this AdminApi (routes point into it).
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace kith::admin
