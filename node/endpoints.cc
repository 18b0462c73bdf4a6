#include "node/endpoints.h"

#include <sodium.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>

namespace kith::node {
namespace {

namespace asio = boost::asio;

std::string Base64Url(const uint8_t* data, size_t size) {
  std::string out(sodium_base64_encoded_len(size, sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), data, size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}

}  // namespace

std::string NodeDocument(const Config& config, const identity::NodeKeyring& keys,
                         int64_t now_unix) {
  nlohmann::json doc;
  doc["version"] = 1;  // the node-document format version (federation/node_document.h)
  doc["id"] = config.node.base_url;
  doc["name"] = config.node.name;
  doc["organisation"] = config.node.organisation;
  doc["base_url"] = config.node.base_url;
  nlohmann::json list = nlohmann::json::array();
  for (const auto& key : keys.Published(now_unix)) {
    nlohmann::json k;
    k["kid"] = key.kid;
    k["alg"] = key.algorithm;
    k["public_key"] = Base64Url(key.public_key.data(), key.public_key.size());
    k["created_at"] = key.created_at;
    if (key.not_after) k["not_after"] = *key.not_after;
    k["status"] = key.status;
    list.push_back(std::move(k));
  }
  doc["keys"] = std::move(list);
  doc["software"] = {{"name", "kith"}, {"version", KITH_VERSION}};
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void AddCoreRoutes(Router& router, const CoreEndpoints& deps) {
  router.AddOrDie(http::verb::get, "/healthz", [](RequestContext&) -> asio::awaitable<Response> {
    co_return TextResponse(http::status::ok, "ok");
  });

  router.AddOrDie(http::verb::get, "/readyz", [deps](RequestContext&) -> asio::awaitable<Response> {
    Status s = co_await asio::co_spawn(
        *deps.blocking_pool,
        [store = deps.store]() -> asio::awaitable<Status> {
          if (store == nullptr) co_return MakeError(ErrorCode::kUnavailable, "no database");
          co_return store->CheckWritable();
        },
        asio::use_awaitable);
    if (!s.ok()) {
      Error e = s.error();
      e.code = ErrorCode::kUnavailable;
      e.message = "database not writable: " + e.message;
      e.reason = "not_ready";
      co_return ErrorResponse(e);
    }
    co_return JsonResponse(http::status::ok, R"({"status":"ready"})");
  });

  router.AddOrDie(http::verb::get, "/metrics",
                  [deps](RequestContext&) -> asio::awaitable<Response> {
                    Response res = TextResponse(http::status::ok, deps.metrics->Render());
                    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
                    co_return res;
                  });

  router.AddOrDie(http::verb::get, "/.well-known/kith-node",
                  [deps](RequestContext&) -> asio::awaitable<Response> {
                    Response res = JsonResponse(
                        http::status::ok,
                        NodeDocument(*deps.config, *deps.keys->Get(), deps.clock->UnixSeconds()));
                    res.set(http::field::cache_control, "max-age=300");
                    res.set(http::field::access_control_allow_origin, "*");
                    co_return res;
                  });

  if (deps.test_routes) {
    router.AddOrDie(
        http::verb::get, "/_test/sleep", [](RequestContext& ctx) -> asio::awaitable<Response> {
          auto raw = ctx.QueryParam("ms").value_or("");
          int ms = -1;
          auto [ptr, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), ms);
          if (ec != std::errc() || ptr != raw.data() + raw.size() || ms < 0 || ms > 60000) {
            co_return ErrorResponse(
                MakeError(ErrorCode::kInvalidArgument, "ms must be an integer 0..60000"));
          }
          asio::steady_timer timer(co_await asio::this_coro::executor);
          timer.expires_after(std::chrono::milliseconds(ms));
          co_await timer.async_wait(asio::use_awaitable);
          co_return JsonResponse(http::status::ok, "{\"slept_ms\":" + std::to_string(ms) + "}");
        });
  }
}

}  // namespace kith::node
