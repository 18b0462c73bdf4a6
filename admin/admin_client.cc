#include "admin/admin_client.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <exception>
#include <optional>

namespace kith::admin {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local = asio::local::stream_protocol;

namespace {

constexpr size_t kMaxReplyBytes = 64 * 1024 * 1024;

Error ConnectError(const std::filesystem::path& socket, const boost::system::error_code& ec) {
  namespace errc = boost::system::errc;
  if (ec == errc::no_such_file_or_directory) {
    return MakeError(ErrorCode::kUnavailable,
                     "kithd is not running (no admin socket at " + socket.string() + ")");
  }
  if (ec == errc::connection_refused) {
    return MakeError(ErrorCode::kUnavailable,
                     "kithd is not running (admin socket " + socket.string() +
                         " refused the connection; it is left over from an earlier run)");
  }
  if (ec == errc::permission_denied) {
    return MakeError(ErrorCode::kPermissionDenied,
                     "permission denied on admin socket " + socket.string() +
                         " (run kithctl as the user that runs kithd)");
  }
  return MakeError(ErrorCode::kUnavailable,
                   "cannot connect to admin socket " + socket.string() + ": " + ec.message());
}

asio::awaitable<void> Exchange(const std::filesystem::path& socket_path,
                               http::request<http::string_body> request,
                               std::optional<Result<AdminReply>>& out) {
  auto executor = co_await asio::this_coro::executor;
  local::socket socket(executor);
  boost::system::error_code ec;
  co_await socket.async_connect(local::endpoint(socket_path.string()),
                                asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    out = ConnectError(socket_path, ec);
    co_return;
  }
  co_await http::async_write(socket, request, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    out = MakeError(ErrorCode::kUnavailable,
                    "sending to admin socket " + socket_path.string() + " failed: " + ec.message());
    co_return;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxReplyBytes);
  co_await http::async_read(socket, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    out = MakeError(ErrorCode::kUnavailable, "reading from admin socket " + socket_path.string() +
                                                 " failed: " + ec.message());
    co_return;
  }
  const auto& response = parser.get();
  AdminReply reply;
  reply.status = static_cast<int>(response.result_int());
  if (!response.body().empty()) {
    reply.body = nlohmann::json::parse(response.body(), nullptr, /*allow_exceptions=*/false);
    if (reply.body.is_discarded()) {
      out = MakeError(ErrorCode::kInternal, "kithd sent a reply that is not JSON (status " +
                                                std::to_string(reply.status) + ")");
      co_return;
    }
  }
  out = std::move(reply);
}

}  // namespace

Result<AdminReply> AdminClient::Call(std::string_view method, std::string_view target,
                                     std::string_view body,
                                     std::chrono::milliseconds timeout) const {
  http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) {
    return MakeError(ErrorCode::kInvalidArgument, "unknown HTTP method " + std::string(method));
  }
  http::request<http::string_body> request(verb, target, 11);
  request.set(http::field::host, "localhost");
  request.set(http::field::user_agent, "kithctl");
  if (!body.empty()) {
    request.set(http::field::content_type, "application/json");
    request.body() = std::string(body);
  }
  request.prepare_payload();

  std::optional<Result<AdminReply>> out;
  try {
    asio::io_context ioc;
    asio::co_spawn(
        ioc, Exchange(socket_path_, std::move(request), out), [&out](std::exception_ptr e) {
          if (!e || out) return;
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            out = MakeError(ErrorCode::kInternal, std::string("admin call failed: ") + ex.what());
          }
        });
    ioc.run_for(timeout);
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInternal, std::string("admin call failed: ") + e.what());
  }
  if (!out) {
    return MakeError(ErrorCode::kUnavailable, "kithd did not answer on " + socket_path_.string() +
                                                  " within " +
                                                  std::to_string(timeout.count() / 1000) + " s");
  }
  return std::move(*out);
}

Result<nlohmann::json> AdminClient::CallOk(std::string_view method, std::string_view target,
                                           std::string_view body,
                                           std::chrono::milliseconds timeout) const {
  auto reply = Call(method, target, body, timeout);
  if (!reply.ok()) return std::move(reply).error();
  if (reply->status >= 200 && reply->status < 300) return std::move(reply->body);
  std::string message = "kithd answered " + std::to_string(reply->status);
  if (reply->body.is_object() && reply->body.contains("message") &&
      reply->body["message"].is_string()) {
    message = reply->body["message"].get<std::string>();
  }
  ErrorCode code = reply->status == 400   ? ErrorCode::kInvalidArgument
                   : reply->status == 404 ? ErrorCode::kNotFound
                   : reply->status == 409 ? ErrorCode::kConflict
                   : reply->status == 503 ? ErrorCode::kUnavailable
                                          : ErrorCode::kInternal;
  return MakeError(code, std::move(message));
}

}  // namespace kith::admin
