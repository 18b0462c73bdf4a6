#include "node/admin_socket.h"

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace kith::node {

namespace asio = boost::asio;

Result<std::unique_ptr<AdminSocket>> AdminSocket::Start(asio::io_context& ioc,
                                                        const std::filesystem::path& socket_path,
                                                        admin::AdminApi& api, int worker_threads) {
  std::unique_ptr<AdminSocket> self(new AdminSocket());
  self->pool_ = std::make_unique<asio::thread_pool>(std::max(1, worker_threads));
  self->router_ = std::make_unique<Router>();
  asio::thread_pool* pool = self->pool_.get();
  self->router_->SetFallback(
      [&api, pool](RequestContext& ctx) -> asio::awaitable<Response> {
        std::string method(ctx.request.method_string());
        std::string path(ctx.path);  // with its query: list routes page with ?after=&limit=
        if (!ctx.query.empty()) path.append("?").append(ctx.query);
        const std::string& body = ctx.request.body();
        // Run the (possibly blocking) admin call on the pool; the connection's coroutine
        // resumes on its own strand when it is done.
        admin::AdminResponse out = co_await asio::co_spawn(
            *pool,
            [&]() -> asio::awaitable<admin::AdminResponse> {
              try {
                co_return api.Handle(method, path, body);
              } catch (const std::exception& e) {
                spdlog::error("admin {} {}: {}", method, path, e.what());
                co_return admin::AdminResponse{
                    500, nlohmann::json{{"error", "internal"}, {"message", e.what()}}};
              }
            },
            asio::use_awaitable);
        if (out.status < 100 || out.status > 599) out.status = 500;
        co_return JsonResponse(
            static_cast<http::status>(out.status),
            out.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
            ctx.request.version());
      },
      // Large enough for `kithctl member import` of tens of thousands of rows; the socket is
      // reachable only by the node's operators (mode 0600).
      RouteOptions{.max_body_bytes = 64 * 1024 * 1024});
  HttpServerOptions options;
  options.unix_socket_path = socket_path;
  options.max_body_bytes = 1024 * 1024;
  options.max_connections = 64;
  options.read_timeout = std::chrono::seconds(30);
  options.idle_timeout = std::chrono::seconds(60);
  options.write_timeout = std::chrono::seconds(30);
  options.name = "admin";
  auto server = HttpServer::Start(ioc, options, *self->router_, nullptr);
  if (!server.ok()) return std::move(server).error();
  self->server_ = std::move(server.value());
  return self;
}

AdminSocket::~AdminSocket() { Shutdown(std::chrono::milliseconds(0)); }

void AdminSocket::Shutdown(std::chrono::milliseconds grace) {
  if (server_) server_->Shutdown(grace);
  if (pool_) pool_->join();
}

}  // namespace kith::node
