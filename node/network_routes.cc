#include "node/network_routes.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "federation/peer_sign_in.h"
#include "identity/oidc_keys.h"
#include "node/await.h"

namespace kith::node {
namespace {

namespace asio = boost::asio;

// Runs `work` on `pool` and resumes the awaiting coroutine on its own executor with the result.
// Not a coroutine itself (see node/await.h).
template <class T>
asio::awaitable<Result<T>> OnPool(asio::thread_pool& pool, std::function<Result<T>()> work) {
  return AwaitDone<T>([&pool, work = std::move(work)](std::function<void(Result<T>)> done) mutable {
    asio::post(pool, [work = std::move(work), done = std::move(done)] {
      Result<T> result = MakeError(ErrorCode::kInternal, "not run");
      try {
        result = work();
      } catch (const std::exception& e) {
        result = MakeError(ErrorCode::kInternal, e.what());
      }
      done(std::move(result));
    });
  });
}

Response StatementResponse(std::string body, std::string_view content_type, unsigned version,
                           int max_age) {
  Response res{http::status::ok, version};
  res.set(http::field::content_type, std::string(content_type));
  res.set(http::field::cache_control, "max-age=" + std::to_string(max_age));
  res.set(http::field::access_control_allow_origin, "*");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

// A network name as NetworkStore::Create accepts it: [a-z0-9-], 1..63.
bool IsNetworkName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

Error UnknownNetwork(std::string_view name) {
  return MakeError(ErrorCode::kNotFound, IsNetworkName(name)
                                             ? "no network \"" + std::string(name) + "\" here"
                                             : std::string("no such network"));
}

// The built node EC, shared by every request for cache_ttl.
struct EcCache {
  std::mutex mu;
  std::string jwt;  // guarded by mu
  std::string kid;  // the key that signed it
  std::chrono::steady_clock::time_point built_at;
};

struct Shared {
  NetworkEndpoints deps;
  EcCache cache;
};

// Plain functions taking their arguments by value (not lambda coroutines with captures: see
// the GCC 12 note in the preamble).
asio::awaitable<Response> ServeNodeConfiguration(std::shared_ptr<Shared> shared, unsigned version) {
  const NetworkEndpoints& deps = shared->deps;
  std::shared_ptr<const identity::NodeKeyring> keys = deps.keys->Get();
  const std::string kid = keys ? keys->current().kid : std::string();
  {
    std::lock_guard lock(shared->cache.mu);
    if (!shared->cache.jwt.empty() && shared->cache.kid == kid &&
        std::chrono::steady_clock::now() - shared->cache.built_at < deps.cache_ttl) {
      co_return StatementResponse(shared->cache.jwt, federation::kEntityStatementContentType,
                                  version, 60);
    }
  }
  // A named std::function, not a temporary lambda inside the co_await expression: GCC 12
  // destroys such temporaries' captures twice.
  std::function<Result<std::string>()> build = [shared, keys]() -> Result<std::string> {
    const NetworkEndpoints& d = shared->deps;
    if (!keys) return MakeError(ErrorCode::kUnavailable, "the node has no keys loaded");
    std::vector<std::string> hints;
    if (d.networks != nullptr) {
      auto stored = d.networks->AuthorityHints();
      if (!stored.ok()) return std::move(stored).error();
      hints = std::move(stored.value());
    }
    nlohmann::json op =
        d.openid_provider_metadata ? d.openid_provider_metadata() : nlohmann::json::object();
    return SignNodeEntityConfiguration(*d.config, keys, hints, op, d.clock->UnixSeconds());
  };
  Result<std::string> built = co_await OnPool<std::string>(*deps.blocking_pool, std::move(build));
  if (!built.ok()) {
    spdlog::error("entity configuration: {}", built.error().message);
    co_return ErrorResponse(built.error(), version);
  }
  {
    std::lock_guard lock(shared->cache.mu);
    shared->cache.jwt = *built;
    shared->cache.kid = kid;
    shared->cache.built_at = std::chrono::steady_clock::now();
  }
  co_return StatementResponse(std::move(built.value()), federation::kEntityStatementContentType,
                              version, 60);
}

enum class NetworkEndpoint { kConfiguration, kFetch, kList, kWithdrawn };

asio::awaitable<Response> ServeNetwork(std::shared_ptr<Shared> shared, NetworkEndpoint which,
                                       std::string name, std::optional<std::string> sub,
                                       unsigned version) {
  const NetworkEndpoints& deps = shared->deps;
  if (deps.networks == nullptr || !IsNetworkName(name)) {
    co_return ErrorResponse(UnknownNetwork(name), version);
  }
  if (which == NetworkEndpoint::kFetch) {
    if (!sub || sub->empty()) {
      co_return ErrorResponse(
          MakeError(ErrorCode::kInvalidArgument,
                    "the query parameter sub (an entity id) is required", "invalid_request"),
          version);
    }
    if (sub->size() > federation::kMaxEntityIdBytes) {
      co_return ErrorResponse(
          MakeError(
              ErrorCode::kInvalidArgument,
              "sub is longer than " + std::to_string(federation::kMaxEntityIdBytes) + " bytes",
              "invalid_request"),
          version);
    }
    Status valid = federation::ValidateEntityId(*sub, deps.networks->allow_http());
    if (!valid.ok()) {
      co_return ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                                        "sub: " + valid.error().message, "invalid_request"),
                              version);
    }
  }
  std::function<Result<std::string>()> read = [shared, which, name, sub]() -> Result<std::string> {
    federation::NetworkStore& store = *shared->deps.networks;
    auto network = store.FindNetwork(name);
    if (!network.ok()) return std::move(network).error();
    if (!network->has_value() || (*network)->name != name) return UnknownNetwork(name);
    switch (which) {
      case NetworkEndpoint::kConfiguration:
        return store.EntityConfiguration(name);
      case NetworkEndpoint::kFetch: {
        auto statement = store.SubordinateStatement(name, *sub);
        if (!statement.ok() && statement.error().code == ErrorCode::kNotFound) {
          return MakeError(ErrorCode::kNotFound,
                           *sub + " is not a member of " + (*network)->entity_id);
        }
        return statement;
      }
      case NetworkEndpoint::kList: {
        auto ids = store.MemberIds(name);
        if (!ids.ok()) return std::move(ids).error();
        return nlohmann::json(*ids).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      }
      case NetworkEndpoint::kWithdrawn:
        return store.WithdrawnListJwt(name);
    }
    return MakeError(ErrorCode::kInternal, "unknown endpoint");
  };
  Result<std::string> body = co_await OnPool<std::string>(*deps.blocking_pool, std::move(read));
  if (!body.ok()) {
    if (body.error().code != ErrorCode::kNotFound) {
      spdlog::warn("network {}: {}", name, body.error().message);
    }
    co_return ErrorResponse(body.error(), version);
  }
  switch (which) {
    case NetworkEndpoint::kConfiguration:
      co_return StatementResponse(std::move(body.value()), federation::kEntityStatementContentType,
                                  version, 60);
    case NetworkEndpoint::kFetch:
      co_return StatementResponse(std::move(body.value()), federation::kEntityStatementContentType,
                                  version, 60);
    case NetworkEndpoint::kList: {
      Response res = JsonResponse(http::status::ok, std::move(body.value()), version);
      res.set(http::field::cache_control, "no-cache");
      res.set(http::field::access_control_allow_origin, "*");
      co_return res;
    }
    case NetworkEndpoint::kWithdrawn:
      co_return StatementResponse(std::move(body.value()), federation::kWithdrawnListContentType,
                                  version, 0);
  }
  co_return ErrorResponse(MakeError(ErrorCode::kInternal, "unknown endpoint"), version);
}

}  // namespace

federation::EntityStatement NodeEntityStatement(const Config& config,
                                                const identity::NodeKeyring& keys,
                                                const std::vector<std::string>& authority_hints,
                                                const nlohmann::json& openid_provider,
                                                int64_t now) {
  const std::string& base = config.node.base_url;
  federation::EntityStatement s;
  s.iss = base;
  s.sub = base;
  s.iat = now;
  s.exp = now + kNodeEntityConfigurationLifetime;
  for (const auto& key : keys.Published(now)) {
    if (s.jwks.size() >= federation::kMaxStatementKeys) break;
    s.jwks.push_back(identity::PublicJwk::FromEd25519(key.public_key, key.kid));
  }
  nlohmann::json op = openid_provider.is_object() ? openid_provider : nlohmann::json::object();
  if (!op.contains("issuer")) op["issuer"] = base;
  if (!op.contains("authorization_endpoint"))
    op["authorization_endpoint"] = base + "/oidc/authorize";
  if (!op.contains("token_endpoint")) op["token_endpoint"] = base + "/oidc/token";
  if (!op.contains("jwks_uri")) op["jwks_uri"] = base + "/oidc/jwks";
  s.metadata = {
      {"kith_node",
       {{"name", config.node.name},
        {"organisation", config.node.organisation},
        {"node_document", base + "/.well-known/kith-node"}}},
      {"federation_entity", {{"organization_name", config.node.organisation}}},
      {"openid_provider", std::move(op)},
      {"openid_relying_party",
       {{"client_name", config.node.name},
        {"redirect_uris", {base + std::string(federation::kSignInCallbackPath)}},
        {"post_logout_redirect_uris", {base + std::string(federation::kSignedOutPath)}},
        {"backchannel_logout_uri", base + std::string(federation::kBackchannelLogoutPath)},
        {"token_endpoint_auth_method", "private_key_jwt"}}},
  };
  for (const auto& hint : authority_hints) {
    if (s.authority_hints.size() >= federation::kMaxAuthorityHints) break;
    s.authority_hints.push_back(hint);
  }
  return s;
}

Result<std::string> SignNodeEntityConfiguration(const Config& config,
                                                std::shared_ptr<const identity::NodeKeyring> keys,
                                                const std::vector<std::string>& authority_hints,
                                                const nlohmann::json& openid_provider,
                                                int64_t now) {
  if (!keys) return MakeError(ErrorCode::kUnavailable, "the node has no keys loaded");
  federation::EntityStatement statement =
      NodeEntityStatement(config, *keys, authority_hints, openid_provider, now);
  identity::NodeKeyringSigningKey signer(std::move(keys));
  return federation::SignEntityStatement(statement, signer);
}

void AddNetworkRoutes(Router& router, NetworkEndpoints deps) {
  auto shared = std::make_shared<Shared>();
  shared->deps = std::move(deps);
  router.AddOrDie(http::verb::get, federation::kEntityConfigurationPath,
                  [shared](RequestContext& ctx) -> asio::awaitable<Response> {
                    return ServeNodeConfiguration(shared, ctx.request.version());
                  });
  const std::string prefix = "/networks/{network}";
  const std::pair<NetworkEndpoint, std::string> routes[] = {
      {NetworkEndpoint::kConfiguration, std::string(federation::kEntityConfigurationPath)},
      {NetworkEndpoint::kFetch, "/fetch"},
      {NetworkEndpoint::kList, "/list"},
      {NetworkEndpoint::kWithdrawn, "/withdrawn"},
  };
  for (const auto& [which, suffix] : routes) {
    router.AddOrDie(http::verb::get, prefix + suffix,
                    [shared, which](RequestContext& ctx) -> asio::awaitable<Response> {
                      std::optional<std::string> sub;
                      if (which == NetworkEndpoint::kFetch) sub = ctx.QueryParam("sub");
                      return ServeNetwork(shared, which, std::string(ctx.Param("network")),
                                          std::move(sub), ctx.request.version());
                    });
  }
}

}  // namespace kith::node
