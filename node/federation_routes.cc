#include "node/federation_routes.h"

#include "federation/stream_wire.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <string>
#include <utility>

namespace kith::node {

namespace asio = boost::asio;

void AddFederationRoutes(Router& router, federation::PeeringService& service,
                         asio::thread_pool& blocking_pool, std::string base_url) {
  Handler handler = [&service, &blocking_pool,
                     base_url](RequestContext& ctx) -> asio::awaitable<Response> {
    federation::InboundRequest inbound;
    inbound.message.method = std::string(ctx.request.method_string());
    inbound.message.target_uri = base_url + std::string(ctx.request.target());
    inbound.message.AppendFields(ctx.request.base());
    inbound.body = ctx.request.body();
    inbound.remote_address = ctx.remote_address;

    // Verification and the database work block: run them off the I/O threads.
    auto answer = co_await asio::co_spawn(
        blocking_pool,
        [&service, &inbound]() -> asio::awaitable<federation::InboundResponse> {
          co_return service.HandleInbound(inbound);
        },
        asio::use_awaitable);

    federation::HttpMessage signed_response;
    signed_response.status = answer.status;
    signed_response.headers.emplace_back("Content-Type", "application/json");
    Status signed_ok = service.SignResponse(signed_response, inbound.message, answer.body);
    Response res{static_cast<http::status>(answer.status), ctx.request.version()};
    if (!signed_ok.ok()) {
      spdlog::error("cannot sign a federation response: {}", signed_ok.error().message);
      co_return ErrorResponse(signed_ok.error(), ctx.request.version());
    }
    for (const auto& [name, value] : signed_response.headers) res.set(name, value);
    res.body() = std::move(answer.body);
    res.prepare_payload();
    co_return res;
  };
  RouteOptions options;
  options.max_body_bytes = federation::kMaxFederationBody;
  router.AddOrDie(http::verb::post, federation::kPeeringRequestPath, handler, options);
  for (const char* action : {"accept", "reject", "suspend", "resume", "revoke"}) {
    router.AddOrDie(http::verb::post, std::string(federation::kPeeringPathPrefix) + action, handler,
                    options);
  }
  router.AddOrDie(http::verb::post, federation::kKeysRotatedPath, handler, options);
  router.AddOrDie(http::verb::get, federation::kPingPath, handler, options);
}

namespace {

// One handler for the stream routes; a plain coroutine (no lambda coroutine with
// captures, see the GCC 12 note in the preamble).
asio::awaitable<Response> HandleStreamRoute(RequestContext& ctx, federation::Replicator& replicator,
                                            std::string base_url) {
  federation::StreamRequest request;
  request.inbound.message.method = std::string(ctx.request.method_string());
  request.inbound.message.target_uri = base_url + std::string(ctx.request.target());
  request.inbound.message.AppendFields(ctx.request.base());
  request.inbound.body = ctx.request.body();
  request.inbound.remote_address = ctx.remote_address;
  const federation::HttpMessage signed_request = request.inbound.message;

  federation::StreamResponse answer = co_await replicator.HandleInbound(std::move(request));

  federation::HttpMessage signed_response;
  signed_response.status = answer.status;
  signed_response.headers.emplace_back(
      "Content-Type", answer.file ? "application/octet-stream" : "application/json");
  Status signed_ok = replicator.SignResponse(signed_response, signed_request, answer.body, answer);
  if (!signed_ok.ok()) {
    spdlog::error("cannot sign a federation response: {}", signed_ok.error().message);
    co_return ErrorResponse(signed_ok.error(), ctx.request.version());
  }
  Response res{static_cast<http::status>(answer.status), ctx.request.version()};
  for (const auto& [name, value] : signed_response.headers) res.set(name, value);
  if (answer.file) {
    ctx.file_response = FileResponse{*answer.file, 0, static_cast<uint64_t>(answer.file_size)};
    co_return res;
  }
  res.body() = std::move(answer.body);
  res.prepare_payload();
  co_return res;
}

}  // namespace

void AddStreamRoutes(Router& router, federation::Replicator& replicator, std::string base_url) {
  auto shared_base = std::make_shared<const std::string>(std::move(base_url));
  Handler handler = [&replicator, shared_base](RequestContext& ctx) {
    return HandleStreamRoute(ctx, replicator, *shared_base);
  };
  const std::string streams = std::string(federation::kStreamsPathPrefix) + "{stream}";
  RouteOptions small;
  small.max_body_bytes = federation::kMaxFederationBody;
  RouteOptions commands;
  commands.max_body_bytes = federation::kMaxCommandBody;
  RouteOptions batches;
  batches.max_body_bytes = federation::kMaxCommandBatchBody;
  RouteOptions events;
  events.max_body_bytes = federation::kMaxEventsBody;
  router.AddOrDie(http::verb::post, std::string(federation::kCommandsPath), handler, batches);
  router.AddOrDie(http::verb::post, streams + "/commands", handler, commands);
  router.AddOrDie(http::verb::post, streams + "/events", handler, events);
  router.AddOrDie(http::verb::get, streams + "/events", handler, small);
  router.AddOrDie(http::verb::post, streams + "/follow", handler, small);
  router.AddOrDie(http::verb::get, std::string(federation::kFilesPathPrefix) + "{sha256}", handler,
                  small);
}

}  // namespace kith::node
