#include "admin/key_ops.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>

#include "federation/peer_store.h"
#include "federation/peering_service.h"
#include "identity/node_keys.h"
#include "identity/oidc_keys.h"

namespace kith::admin {

using nlohmann::json;

namespace {

constexpr int64_t kMaxOverlapSeconds = 366 * 24 * 3600;

json OptionalTime(const std::optional<int64_t>& t) { return t ? json(*t) : json(nullptr); }

Error NotReady(const char* what) {
  return MakeError(ErrorCode::kUnavailable, std::string("this node's ") + what + " are not loaded");
}

// The parsed body of POST /v1/keys/rotate.
struct RotateRequest {
  std::string kind = "node";
  std::chrono::seconds overlap{kDefaultKeyOverlapSeconds};
};

Result<RotateRequest> ParseRotate(const AdminRequest& request) {
  RotateRequest out;
  if (request.body.empty()) return out;
  auto body = request.JsonBody();
  if (!body.ok()) return std::move(body).error();
  for (const auto& [name, value] : body->items()) {
    if (name != "kind" && name != "overlap_seconds") {
      return MakeError(ErrorCode::kInvalidArgument, "unknown member \"" + name + "\"");
    }
  }
  if (auto it = body->find("kind"); it != body->end()) {
    if (!it->is_string() || (*it != "node" && *it != "oidc")) {
      return MakeError(ErrorCode::kInvalidArgument, "\"kind\" must be \"node\" or \"oidc\"");
    }
    out.kind = it->get<std::string>();
  }
  if (auto it = body->find("overlap_seconds"); it != body->end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 ||
        it->get<int64_t>() > kMaxOverlapSeconds) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "\"overlap_seconds\" must be an integer from 0 to " +
                           std::to_string(kMaxOverlapSeconds) + " (366 days)");
    }
    out.overlap = std::chrono::seconds(it->get<int64_t>());
  }
  return out;
}

// Waits for a Done<T> callback (the OIDC key functions answer on the writer thread).
template <class T, class Start>
Result<T> Wait(Start start) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  start([promise](Result<T> result) { promise->set_value(std::move(result)); });
  return future.get();
}

Result<json> ListKeys(const NodeContext& c) {
  if (!c.store) return NotReady("keys");
  auto node = c.store->Read([](storage::Database& db) { return identity::NodeKeyring::List(db); });
  if (!node.ok()) return std::move(node).error();
  auto oidc = identity::OidcKeys::List(*c.store);
  if (!oidc.ok()) return std::move(oidc).error();
  json out{{"node", json::array()}, {"oidc", json::array()}};
  for (const auto& key : *node) {
    out["node"].push_back({{"kid", key.kid},
                           {"algorithm", key.algorithm},
                           {"fingerprint", identity::Fingerprint(key.public_key)},
                           {"status", key.status},
                           {"created_at", key.created_at},
                           {"not_after", OptionalTime(key.not_after)}});
  }
  for (const auto& key : *oidc) {
    out["oidc"].push_back({{"kid", key.kid},
                           {"algorithm", "RS256"},
                           {"status", key.status},
                           {"created_at", key.created_at},
                           {"not_after", OptionalTime(key.not_after)}});
  }
  return out;
}

// Reloads the daemon's key snapshots after a committed rotation.
Status Reload(const NodeContext& c, const std::string& what) {
  if (!c.reload_keys) return OkStatus();
  Status reloaded = c.reload_keys();
  if (reloaded.ok()) return OkStatus();
  spdlog::error("{}, but reloading the keys failed: {}", what, reloaded.error().message);
  return MakeError(ErrorCode::kInternal, what + ", but the running node could not load its keys (" +
                                             reloaded.error().message + "); restart kithd");
}

Result<json> RotateNode(const NodeContext& c, const Clock& clock, std::chrono::seconds overlap) {
  if (!c.store || !c.node_keys) return NotReady("node keys");
  // The keyring before the rotation: its current key signs the announcement.
  std::shared_ptr<const identity::NodeKeyring> old_keys = c.node_keys->Get();
  if (!old_keys) return NotReady("node keys");
  auto purged = identity::NodeKeyring::PurgeExpired(c.data_dir, *c.store, clock);
  if (!purged.ok()) {
    spdlog::warn("purging expired node keys failed: {}", purged.error().message);
  }
  auto rotation = identity::NodeKeyring::Rotate(c.data_dir, *c.store, clock, overlap);
  if (!rotation.ok()) return std::move(rotation).error();
  const identity::NodeKey& fresh = rotation->new_key;
  int64_t old_not_after = clock.UnixSeconds() + overlap.count();
  for (const auto& old : rotation->superseded) {
    if (old.kid == old_keys->current().kid && old.not_after) old_not_after = *old.not_after;
  }
  if (c.peers) {
    (void)c.peers->AppendAudit("keys.rotate", "",
                               federation::AuditRecord{"kithctl", "admin.sock",
                                                       json{{"kind", "node"},
                                                            {"old_kid", old_keys->current().kid},
                                                            {"new_kid", fresh.kid},
                                                            {"old_not_after", old_not_after}}
                                                           .dump()});
  }
  KITH_RETURN_IF_ERROR(Reload(c, "the node key was rotated"));
  spdlog::info("node key rotated: {} is current, {} stays valid until {}", fresh.kid,
               old_keys->current().kid, old_not_after);

  json announced = json::array();
  if (c.peering) {
    for (const auto& result : c.peering->AnnounceRotation(*old_keys, fresh, old_not_after)) {
      announced.push_back(
          {{"node_id", result.node_id}, {"ok", result.ok}, {"error", result.error}});
    }
  }
  return json{{"kind", "node"},
              {"kid", fresh.kid},
              {"fingerprint", identity::Fingerprint(fresh.public_key)},
              {"created_at", fresh.created_at},
              {"old_kid", old_keys->current().kid},
              {"old_not_after", old_not_after},
              {"purged", purged.ok() ? json(*purged) : json::array()},
              {"announced", announced}};
}

Result<json> RotateOidc(const NodeContext& c, const Clock& clock, std::chrono::seconds overlap) {
  if (!c.store) return NotReady("OIDC keys");
  auto before = identity::OidcKeys::List(*c.store);
  if (!before.ok()) return std::move(before).error();
  std::string old_kid;
  for (const auto& key : *before) {
    if (key.status == "current") old_kid = key.kid;
  }
  (void)Wait<int64_t>([&](identity::Done<int64_t> done) {
    identity::OidcKeys::PurgeExpired(c.data_dir, *c.store, clock, std::move(done));
  });
  auto info = Wait<identity::OidcKeyInfo>([&](identity::Done<identity::OidcKeyInfo> done) {
    identity::OidcKeys::Rotate(c.data_dir, *c.store, clock, overlap, std::move(done));
  });
  if (!info.ok()) return std::move(info).error();
  const int64_t old_not_after = info->created_at + overlap.count();
  if (c.peers) {
    (void)c.peers->AppendAudit("keys.rotate", "",
                               federation::AuditRecord{"kithctl", "admin.sock",
                                                       json{{"kind", "oidc"},
                                                            {"old_kid", old_kid},
                                                            {"new_kid", info->kid},
                                                            {"old_not_after", old_not_after}}
                                                           .dump()});
  }
  KITH_RETURN_IF_ERROR(Reload(c, "the OIDC signing key was rotated"));
  spdlog::info("OIDC signing key rotated: {} is current", info->kid);
  return json{{"kind", "oidc"},
              {"kid", info->kid},
              {"created_at", info->created_at},
              {"old_kid", old_kid.empty() ? json(nullptr) : json(old_kid)},
              {"old_not_after", old_kid.empty() ? json(nullptr) : json(old_not_after)}};
}

Result<json> Purge(const NodeContext& c, const Clock& clock) {
  if (!c.store) return NotReady("keys");
  auto node = identity::NodeKeyring::PurgeExpired(c.data_dir, *c.store, clock);
  if (!node.ok()) return std::move(node).error();
  auto oidc = Wait<int64_t>([&](identity::Done<int64_t> done) {
    identity::OidcKeys::PurgeExpired(c.data_dir, *c.store, clock, std::move(done));
  });
  if (!oidc.ok()) return std::move(oidc).error();
  if (!node->empty() || *oidc > 0) KITH_RETURN_IF_ERROR(Reload(c, "expired keys were purged"));
  return json{{"node", *node}, {"oidc", *oidc}};
}

}  // namespace

void AddKeyRoutes(AdminRouter& router, const NodeContext* context, const Clock& clock) {
  // One rotation at a time: two at once would announce in an order peers cannot rely on.
  auto rotate_mu = std::make_shared<std::mutex>();
  const Clock* clk = &clock;
  router.Add("GET", "/v1/keys", [context](const AdminRequest&) { return ListKeys(*context); });
  router.Add("POST", "/v1/keys/rotate",
             [context, clk, rotate_mu](const AdminRequest& request) -> Result<json> {
               auto parsed = ParseRotate(request);
               if (!parsed.ok()) return std::move(parsed).error();
               std::lock_guard lock(*rotate_mu);
               if (parsed->kind == "oidc") return RotateOidc(*context, *clk, parsed->overlap);
               return RotateNode(*context, *clk, parsed->overlap);
             });
  router.Add("POST", "/v1/keys/purge",
             [context, clk, rotate_mu](const AdminRequest&) -> Result<json> {
               std::lock_guard lock(*rotate_mu);
               return Purge(*context, *clk);
             });
}

}  // namespace kith::admin
