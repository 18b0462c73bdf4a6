#include "admin/admin_api.h"

#include <system_error>

#include "admin/admin_router.h"
#include "admin/client_ops.h"
#include "admin/key_ops.h"
#include "admin/member_ops.h"
#include "admin/network_ops.h"
#include "admin/peer_ops.h"

#ifndef KITH_VERSION
#define KITH_VERSION "unknown"
#endif

namespace kith::admin {

struct AdminApi::State {
  NodeContext context;
  AdminRouter router;
};

namespace {

Result<nlohmann::json> GetStatus(const NodeContext& context) {
  nlohmann::json body;
  body["version"] = KITH_VERSION;
  body["uptime_seconds"] = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::steady_clock::now() - context.started_at)
                               .count();
  body["database_bytes"] = context.store ? context.store->SizeBytes() : 0;
  body["write_queue_depth"] = context.store ? context.store->writer().QueueDepth() : 0;
  nlohmann::json node = {{"name", context.name},
                         {"organisation", context.organisation},
                         {"base_url", context.base_url},
                         {"data_dir", context.data_dir.string()}};
  if (auto keyring = context.node_keys ? context.node_keys->Get() : nullptr) {
    const identity::NodeKey& key = keyring->current();
    node["key"] = {{"kid", key.kid},
                   {"algorithm", key.algorithm},
                   {"fingerprint", identity::Fingerprint(key.public_key)},
                   {"created_at", key.created_at}};
  }
  body["node"] = std::move(node);
  body["server"] = context.server_stats ? context.server_stats() : nlohmann::json::object();
  return body;
}

Result<nlohmann::json> RunBackup(const NodeContext& context, const AdminRequest& request) {
  auto json = request.JsonBody();
  if (!json.ok()) return std::move(json).error();
  auto path_field = json->find("path");
  if (path_field == json->end() || !path_field->is_string() ||
      path_field->get<std::string>().empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "\"path\" must be a non-empty string");
  }
  const std::filesystem::path path(path_field->get<std::string>());
  if (!path.is_absolute()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "backup path " + path.string() + " must be absolute");
  }
  std::error_code ec;
  if (std::filesystem::symlink_status(path, ec).type() != std::filesystem::file_type::not_found) {
    return MakeError(ErrorCode::kConflict, "backup path " + path.string() + " already exists");
  }
  const auto parent = path.parent_path();
  if (!std::filesystem::is_directory(parent, ec)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "directory " + parent.string() + " does not exist");
  }
  if (context.store == nullptr) {
    return MakeError(ErrorCode::kUnavailable, "the database is not open");
  }
  KITH_RETURN_IF_ERROR(storage::Backup(context.store->path(), path));
  const auto bytes = std::filesystem::file_size(path, ec);
  return nlohmann::json{{"path", path.string()}, {"bytes", ec ? 0 : bytes}};
}

}  // namespace

AdminApi::AdminApi(NodeContext context) : state_(std::make_shared<State>()) {
  state_->context = std::move(context);
  // Handlers point at the shared state, which owns the router that holds them.
  const NodeContext* ctx = &state_->context;
  state_->router.Add("GET", "/v1/status", [ctx](const AdminRequest&) { return GetStatus(*ctx); });
  state_->router.Add("POST", "/v1/backup",
                     [ctx](const AdminRequest& request) { return RunBackup(*ctx, request); });
  AddPeerRoutes(state_->router, ctx->peering, ctx->peers);
  AddKeyRoutes(state_->router, ctx, SystemClock::Instance());
  AddMemberRoutes(state_->router, ctx);
  AddClientRoutes(state_->router, ctx->clients);
  AddNetworkRoutes(state_->router, ctx, SystemClock::Instance());
}

AdminResponse AdminApi::Handle(std::string_view method, std::string_view path,
                               std::string_view body) {
  return state_->router.Dispatch(method, path, body);
}

}  // namespace kith::admin
