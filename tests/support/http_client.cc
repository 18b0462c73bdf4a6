#include "tests/support/http_client.h"

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <exception>
#include <optional>
#include <thread>

namespace kith::testing {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

HttpResponse Convert(http::response<http::string_body>& res) {
  HttpResponse out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& field : res) {
    std::string name = Lower(field.name_string());
    auto [it, inserted] = out.headers.emplace(name, std::string(field.value()));
    if (!inserted) it->second += ", " + std::string(field.value());
  }
  out.body = std::move(res.body());
  out.keep_alive = res.keep_alive();
  return out;
}

// Runs `work` (a coroutine filling `result`) on a private io_context for at most `timeout`.
template <class T, class Work>
Result<T> RunWithDeadline(Work work, std::chrono::milliseconds timeout) {
  asio::io_context ioc;
  std::optional<Result<T>> result;
  asio::co_spawn(ioc, work(result), [&](std::exception_ptr e) {
    if (e && !result) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        result = MakeError(ErrorCode::kUnavailable, ex.what());
      }
    }
  });
  ioc.run_for(timeout);
  if (!result) return MakeError(ErrorCode::kUnavailable, "HTTP call timed out");
  return std::move(*result);
}

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  auto it = headers.find(Lower(name));
  return it == headers.end() ? std::string() : it->second;
}

Result<HttpResponse> HttpRequest(std::string_view host, uint16_t port, std::string_view method,
                                 std::string_view target, std::string_view body,
                                 const HttpRequestOptions& options) {
  std::string h(host), m(method), t(target), b(body);
  auto work = [&](std::optional<Result<HttpResponse>>& out) -> asio::awaitable<void> {
    try {
      auto ex = co_await asio::this_coro::executor;
      tcp::socket socket(ex);
      co_await socket.async_connect(tcp::endpoint(asio::ip::make_address(h), port),
                                    asio::use_awaitable);
      http::request<http::string_body> req(http::string_to_verb(m), t, 11);
      req.set(http::field::host, h + ":" + std::to_string(port));
      for (const auto& [k, v] : options.headers) req.set(k, v);
      if (!b.empty() || m == "POST" || m == "PUT") {
        req.body() = b;
        req.prepare_payload();
      }
      co_await http::async_write(socket, req, asio::use_awaitable);
      beast::flat_buffer buffer;
      http::response_parser<http::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      if (m == "HEAD") parser.skip(true);
      co_await http::async_read(socket, buffer, parser, asio::use_awaitable);
      auto res = parser.release();
      out = Convert(res);
    } catch (const boost::system::system_error& e) {
      const bool bad_http =
          e.code().category() == http::make_error_code(http::error::bad_version).category();
      out = MakeError(bad_http ? ErrorCode::kInvalidArgument : ErrorCode::kUnavailable,
                      std::string("HTTP ") + m + " " + t + ": " + e.code().message());
    }
  };
  return RunWithDeadline<HttpResponse>(work, options.timeout);
}

Result<HttpResponse> HttpGet(uint16_t port, std::string_view target,
                             std::chrono::milliseconds timeout) {
  HttpRequestOptions options;
  options.timeout = timeout;
  return HttpRequest("127.0.0.1", port, "GET", target, {}, options);
}

Result<std::vector<HttpResponse>> HttpGetMany(uint16_t port, std::string_view target, int count,
                                              std::chrono::milliseconds timeout) {
  std::string t(target);
  auto work = [&](std::optional<Result<std::vector<HttpResponse>>>& out) -> asio::awaitable<void> {
    std::vector<HttpResponse> responses;
    try {
      auto ex = co_await asio::this_coro::executor;
      tcp::socket socket(ex);
      co_await socket.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                    asio::use_awaitable);
      beast::flat_buffer buffer;
      for (int i = 0; i < count; ++i) {
        http::request<http::empty_body> req(http::verb::get, t, 11);
        req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
        co_await http::async_write(socket, req, asio::use_awaitable);
        http::response<http::string_body> res;
        co_await http::async_read(socket, buffer, res, asio::use_awaitable);
        responses.push_back(Convert(res));
      }
      out = std::move(responses);
    } catch (const boost::system::system_error& e) {
      out = MakeError(
          ErrorCode::kUnavailable,
          "GET " + t + " #" + std::to_string(responses.size() + 1) + ": " + e.code().message());
    }
  };
  return RunWithDeadline<std::vector<HttpResponse>>(work, timeout);
}

Result<RawExchange> SendRaw(uint16_t port, std::string_view bytes,
                            std::chrono::milliseconds timeout) {
  std::string data(bytes);
  // The read loop ends at EOF; the deadline is handled by RunWithDeadline, so keep what was
  // received so far outside the coroutine.
  RawExchange partial;
  bool connected = false;
  auto work = [&](std::optional<Result<RawExchange>>& out) -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    tcp::socket socket(ex);
    boost::system::error_code ec;
    co_await socket.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                  asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      out = MakeError(ErrorCode::kUnavailable, "connect: " + ec.message());
      co_return;
    }
    connected = true;
    co_await asio::async_write(socket, asio::buffer(data),
                               asio::redirect_error(asio::use_awaitable, ec));
    // A server may close before reading everything; what it sent still counts.
    char buf[4096];
    while (true) {
      size_t n = co_await socket.async_read_some(asio::buffer(buf),
                                                 asio::redirect_error(asio::use_awaitable, ec));
      partial.received.append(buf, n);
      if (ec) break;
    }
    partial.closed_by_peer = true;
    out = partial;
  };
  auto result = RunWithDeadline<RawExchange>(work, timeout);
  if (!result.ok() && connected) return partial;  // deadline passed with the connection open
  return result;
}

uint16_t FreePort() {
  asio::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

bool WaitForHttpOk(uint16_t port, std::string_view target, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    auto res = HttpGet(port, target, std::chrono::seconds(2));
    if (res.ok() && res->status == 200) return true;
    // Polling a server that is starting: back off up to 100 ms between attempts.
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace kith::testing
