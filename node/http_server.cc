#include "node/http_server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <system_error>
#include <unordered_map>

namespace kith::node {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;
using Clock = std::chrono::steady_clock;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
// Streamed request bodies may take read_timeout plus one second per this many bytes.
constexpr uint64_t kMinStreamedBytesPerSecond = 256 * 1024;

using TcpStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using UnixStream = beast::basic_stream<local, asio::any_io_executor, beast::unlimited_rate_policy>;

std::string EndpointString(const tcp::endpoint& ep) {
  if (ep.address().is_v6())
    return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

bool IsCloseError(const beast::error_code& ec) {
  return ec == asio::error::eof || ec == http::error::end_of_stream ||
         ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == beast::error::timeout ||
         ec == asio::error::bad_descriptor || ec == asio::ssl::error::stream_truncated;
}

}  // namespace

std::string NewRequestId() {
  static const uint32_t prefix = [] {
    std::random_device rd;
    return static_cast<uint32_t>(rd());
  }();
  static std::atomic<uint64_t> counter{0};
  uint64_t n = counter.fetch_add(1, std::memory_order_relaxed);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08x%08x", prefix, static_cast<uint32_t>(n));
  return std::string(buf, 16);
}

// A connection, as seen by the server's registry (for shutdown).
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Closes the connection (on its strand) — only when it waits for a new request if
  // `only_if_idle`.
  virtual void Close(bool only_if_idle) = 0;
};

struct HttpServer::Core : std::enable_shared_from_this<HttpServer::Core> {
  Core(asio::io_context& ioc, HttpServerOptions opts, Router& r, Metrics* m)
      : ioc(ioc),
        options(std::move(opts)),
        router(r),
        metrics(m),
        tcp_acceptor(asio::make_strand(ioc)),
        unix_acceptor(tcp_acceptor.get_executor()) {}

  asio::io_context& ioc;
  HttpServerOptions options;
  Router& router;
  Metrics* metrics;
  std::optional<asio::ssl::context> tls;
  tcp::acceptor tcp_acceptor;
  local::acceptor unix_acceptor;
  bool is_unix = false;
  tcp::endpoint bound;
  std::atomic<bool> stopping{false};
  bool shut_down = false;  // guarded by mu

  std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions;

  void Register(SessionBase* s, std::weak_ptr<SessionBase> w) {
    std::lock_guard lock(mu);
    sessions.emplace(s, std::move(w));
  }
  void Unregister(SessionBase* s) {
    std::lock_guard lock(mu);
    sessions.erase(s);
    cv.notify_all();
  }
  size_t Count() {
    std::lock_guard lock(mu);
    return sessions.size();
  }
  void CloseSessions(bool only_if_idle) {
    std::vector<std::shared_ptr<SessionBase>> live;
    {
      std::lock_guard lock(mu);
      for (auto& [p, w] : sessions) {
        if (auto s = w.lock()) live.push_back(std::move(s));
      }
    }
    for (auto& s : live) s->Close(only_if_idle);
  }

  asio::awaitable<void> AcceptLoop();
};

namespace {

template <class Stream>
constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

template <class Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(std::shared_ptr<HttpServer::Core> core, Stream stream, std::string remote)
      : core_(std::move(core)), stream_(std::move(stream)), remote_(std::move(remote)) {
    if (core_->metrics) {
      core_->metrics->open_connections.fetch_add(1, std::memory_order_relaxed);
      core_->metrics->connections_total.fetch_add(1, std::memory_order_relaxed);
    }
  }
  ~Session() override {
    if (core_->metrics) core_->metrics->open_connections.fetch_sub(1, std::memory_order_relaxed);
    core_->Unregister(this);
  }

  void Close(bool only_if_idle) override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this(), only_if_idle] {
      if (!only_if_idle || self->idle_) {
        beast::get_lowest_layer(self->stream_).close();
      }
    });
  }

  asio::awaitable<void> Run();

 private:
  auto& Lowest() { return beast::get_lowest_layer(stream_); }

  // Writes `res` (with Connection: close), then closes gracefully.
  asio::awaitable<size_t> WriteError(Response res, unsigned version);
  // Half-closes and discards what the client still sends for a moment, so that it reads our
  // error response instead of a reset.
  asio::awaitable<void> LingeringClose();
  // What reading a body into a sink came to.
  struct SinkRead {
    std::optional<Error> error;  // the response's error, when the request failed
    bool close = false;          // the body was not read to its end: close after answering
    bool drop = false;           // timeout or connection gone: close without an answer
  };
  // Moves `parser` (header done, body not started) into a buffer-body parser and feeds the
  // body in chunks of at most 64 KiB to `sink`, then calls Finish.
  asio::awaitable<SinkRead> ReadIntoSink(http::request_parser<http::string_body>& parser,
                                         BodySink& sink, uint64_t body_limit);
  // Writes the header of `res` with Content-Length = file.length, then (unless `head_only`)
  // the file's bytes [offset, offset + length) in 64 KiB chunks, each under the write
  // timeout. Returns the bytes written and whether the connection is still usable.
  asio::awaitable<std::pair<size_t, bool>> WriteFile(Response& res, int fd,
                                                     const FileResponse& file, bool head_only);
  // Counts the request (before the response is written, so that a client that has read the
  // response sees it in /metrics).
  void Count(std::string_view method, RouteMetrics* m, unsigned status, Clock::time_point start);
  // Writes the access log line.
  void Log(std::string_view method, std::string_view target, unsigned status, size_t bytes,
           Clock::time_point start, const std::string& request_id);

  std::shared_ptr<HttpServer::Core> core_;
  Stream stream_;
  std::string remote_;
  beast::flat_buffer buffer_;
  bool idle_ = false;
};

template <class Stream>
void Session<Stream>::Count(std::string_view method, RouteMetrics* m, unsigned status,
                            Clock::time_point start) {
  if (m == nullptr && core_->metrics) m = core_->metrics->Unmatched(method);
  if (m)
    m->Record(status, std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start));
}

template <class Stream>
void Session<Stream>::Log(std::string_view method, std::string_view target, unsigned status,
                          size_t bytes, Clock::time_point start, const std::string& request_id) {
  auto elapsed = Clock::now() - start;
  if (core_->options.access_log) {
    // Control characters in the target are escaped by the parser's rules (it rejects them),
    // so the line cannot be forged.
    spdlog::info("{} {} {} \"{} {}\" {} {} {:.3f}ms", core_->options.name, request_id, remote_,
                 method, target, status, bytes,
                 std::chrono::duration<double, std::milli>(elapsed).count());
  }
}

template <class Stream>
asio::awaitable<size_t> Session<Stream>::WriteError(Response res, unsigned version) {
  res.version(version == 10 ? 10 : 11);
  res.keep_alive(false);
  res.prepare_payload();
  Lowest().expires_after(core_->options.write_timeout);
  auto [ec, n] = co_await http::async_write(stream_, res, kUseTuple);
  co_return ec ? 0 : n;
}

template <class Stream>
asio::awaitable<void> Session<Stream>::LingeringClose() {
  beast::error_code ec;
  if constexpr (kIsTls<Stream>) {
    Lowest().expires_after(std::chrono::seconds(2));
    co_await stream_.async_shutdown(kUseTuple);
    Lowest().close();
    co_return;
  } else {
    Lowest().socket().shutdown(asio::socket_base::shutdown_send, ec);
    if (ec) {
      Lowest().close();
      co_return;
    }
    Lowest().expires_after(std::chrono::milliseconds(500));
    char sink[4096];
    size_t drained = 0;
    while (drained < 256 * 1024) {
      auto [rec, n] = co_await Lowest().async_read_some(asio::buffer(sink), kUseTuple);
      if (rec) break;
      drained += n;
    }
    Lowest().close();
  }
}

template <class Stream>
asio::awaitable<typename Session<Stream>::SinkRead> Session<Stream>::ReadIntoSink(
    http::request_parser<http::string_body>& parser, BodySink& sink, uint64_t body_limit) {
  SinkRead out;
  http::request_parser<http::buffer_body> p(std::move(parser));
  p.body_limit(body_limit);
  std::vector<char> buf(64 * 1024);
  while (!p.is_done()) {
    p.get().body().data = buf.data();
    p.get().body().size = buf.size();
    auto [ec, n] = co_await http::async_read(stream_, buffer_, p, kUseTuple);
    if (ec == http::error::need_buffer) ec = {};
    if (ec == http::error::body_limit) {
      out.error = MakeError(ErrorCode::kTooLarge,
                            "request body larger than " + std::to_string(body_limit) + " bytes",
                            "body_too_large");
      out.close = true;
      co_return out;
    }
    if (ec == beast::error::timeout || IsCloseError(ec)) {
      out.drop = true;
      co_return out;
    }
    if (ec) {
      out.error = MakeError(ErrorCode::kInvalidArgument,
                            "malformed HTTP request body: " + ec.message(), "bad_request");
      out.close = true;
      co_return out;
    }
    size_t got = buf.size() - p.get().body().size;
    if (got > 0) {
      Status written = sink.Write(std::string_view(buf.data(), got));
      if (!written.ok()) {
        out.error = std::move(written).error();
        out.close = !p.is_done();
        co_return out;
      }
    }
  }
  Status finished = sink.Finish();
  if (!finished.ok()) out.error = std::move(finished).error();
  co_return out;
}

template <class Stream>
asio::awaitable<std::pair<size_t, bool>> Session<Stream>::WriteFile(Response& res, int fd,
                                                                    const FileResponse& file,
                                                                    bool head_only) {
  http::response<http::empty_body> head(res.base());
  head.content_length(file.length);
  Lowest().expires_after(core_->options.write_timeout);
  auto [hec, total] = co_await http::async_write(stream_, head, kUseTuple);
  if (hec) co_return std::pair<size_t, bool>{0, false};
  if (head_only) co_return std::pair<size_t, bool>{total, true};
  std::vector<char> buf(64 * 1024);
  uint64_t offset = file.offset;
  uint64_t left = file.length;
  while (left > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
    ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // The file shrank or failed under us: the promised length cannot be kept, so the
      // connection must end here (the client sees a short body).
      spdlog::error("{} {}: reading {} failed at offset {}", core_->options.name, remote_,
                    file.path.string(), offset);
      co_return std::pair<size_t, bool>{total, false};
    }
    Lowest().expires_after(core_->options.write_timeout);
    auto [wec, wn] = co_await asio::async_write(
        stream_, asio::buffer(buf.data(), static_cast<size_t>(n)), kUseTuple);
    if (wec) co_return std::pair<size_t, bool>{total, false};
    total += wn;
    offset += static_cast<uint64_t>(n);
    left -= static_cast<uint64_t>(n);
  }
  co_return std::pair<size_t, bool>{total, true};
}

template <class Stream>
asio::awaitable<void> Session<Stream>::Run() {
  const auto& opt = core_->options;
  if constexpr (kIsTls<Stream>) {
    idle_ = false;
    Lowest().expires_after(opt.read_timeout);
    auto [ec] = co_await stream_.async_handshake(asio::ssl::stream_base::server, kUseTuple);
    if (ec) {
      spdlog::debug("{} {}: TLS handshake failed: {}", opt.name, remote_, ec.message());
      Lowest().close();
      co_return;
    }
  }
  bool linger = false;
  for (;;) {
    // Wait for the first byte of the next request under the idle timeout.
    if (buffer_.size() == 0) {
      if (core_->stopping.load(std::memory_order_relaxed)) break;
      idle_ = true;
      Lowest().expires_after(opt.idle_timeout);
      auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(8192), kUseTuple);
      idle_ = false;
      if (ec) break;
      buffer_.commit(n);
    }
    const auto start = Clock::now();
    const auto read_deadline = start + opt.read_timeout;
    Lowest().expires_at(read_deadline);

    http::request_parser<http::string_body> parser;
    parser.header_limit(opt.max_header_bytes);
    // The body limit depends on the route, known only once the header is in.
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    {
      auto [ec, n] = co_await http::async_read_header(stream_, buffer_, parser, kUseTuple);
      if (ec) {
        if (IsCloseError(ec)) break;
        std::string id = NewRequestId();
        Response res =
            ec == http::error::header_limit
                ? ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                                          "request header larger than " +
                                              std::to_string(opt.max_header_bytes) + " bytes",
                                          "header_too_large"))
                : ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                                          "malformed HTTP request: " + ec.message(),
                                          "bad_request"));
        if (ec == http::error::header_limit)
          res.result(http::status::request_header_fields_too_large);
        res.set("X-Request-Id", id);
        unsigned status = res.result_int();
        Count("-", nullptr, status, start);
        size_t bytes = co_await WriteError(std::move(res), 11);
        Log("-", "-", status, bytes, start, id);
        linger = true;
        break;
      }
    }

    const std::string request_id = NewRequestId();
    std::string_view target, path, query, method;
    auto split_target = [&](const Request& r) {
      target = std::string_view(r.target().data(), r.target().size());
      path = target;
      query = {};
      if (auto q = target.find('?'); q != std::string_view::npos) {
        path = target.substr(0, q);
        query = target.substr(q + 1);
      }
      if (auto hash = path.find('#'); hash != std::string_view::npos) path = path.substr(0, hash);
      method = std::string_view(r.method_string().data(), r.method_string().size());
    };
    split_target(parser.get());

    RouteMatch match = core_->router.Find(parser.get().method(), path);
    const Route* route = match.kind == RouteMatch::Kind::kFound ? match.route : nullptr;
    RouteMetrics* route_metrics = route ? route->metrics : nullptr;
    uint64_t body_limit = route && route->options.max_body_bytes ? *route->options.max_body_bytes
                                                                 : opt.max_body_bytes;
    parser.body_limit(body_limit);
    const bool streamed = route && route->options.body_sink;
    // A streamed body moves the parser (and its message) away: keep a copy of the header.
    std::optional<Request> header_copy;
    if (streamed) {
      header_copy.emplace(parser.get().base());
      split_target(*header_copy);
    }
    const Request& req = header_copy ? *header_copy : parser.get();

    auto too_large = [&] {
      return ErrorResponse(MakeError(
          ErrorCode::kTooLarge, "request body larger than " + std::to_string(body_limit) + " bytes",
          "body_too_large"));
    };
    auto send_continue = [&]() -> asio::awaitable<bool> {
      if (beast::iequals(req[http::field::expect], "100-continue") && req.version() >= 11) {
        http::response<http::empty_body> cont{http::status::continue_, req.version()};
        Lowest().expires_after(opt.write_timeout);
        auto [wec, wn] = co_await http::async_write(stream_, cont, kUseTuple);
        if (wec) co_return false;
        Lowest().expires_at(read_deadline);
      }
      co_return true;
    };
    std::optional<RequestContext> ctx;
    if (route) {
      ctx.emplace(RequestContext{req, path, query, std::move(match.params), remote_, request_id});
    }
    std::optional<Response> early;  // an error answered before (or instead of) the handler
    bool close_after = false;
    if (auto len = parser.content_length(); len && *len > body_limit) {
      early = too_large();
      close_after = true;
    } else if (streamed) {
      auto sink = route->options.body_sink(*ctx);
      if (!sink.ok()) {
        early = ErrorResponse(sink.error());
        close_after = !parser.is_done();
      } else {
        if (!parser.is_done() && !co_await send_continue()) break;
        // A large upload gets time in proportion to its size (announced, or the route's
        // limit when chunked) at a minimum rate; still one fixed deadline.
        const uint64_t expected = parser.content_length().value_or(body_limit);
        Lowest().expires_at(read_deadline +
                            std::chrono::seconds(expected / kMinStreamedBytesPerSecond));
        SinkRead r = co_await ReadIntoSink(parser, *sink.value(), body_limit);
        if (r.drop) break;
        if (r.error) {
          early = ErrorResponse(*r.error);
          close_after = r.close;
        } else {
          ctx->body_sink = std::move(sink.value());
        }
      }
    } else if (!parser.is_done()) {
      if (!co_await send_continue()) break;
      auto [ec, n] = co_await http::async_read(stream_, buffer_, parser, kUseTuple);
      if (ec == http::error::body_limit) {
        early = too_large();
        close_after = true;
      } else if (ec == beast::error::timeout || IsCloseError(ec)) {
        break;
      } else if (ec) {
        early =
            ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                                    "malformed HTTP request body: " + ec.message(), "bad_request"));
        close_after = true;
      }
    }

    Response res;
    int file_fd = -1;
    if (early) {
      res = std::move(*early);
    } else if (match.kind == RouteMatch::Kind::kBadPath) {
      res = ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                                    "malformed request path (bad percent-escape or not absolute)",
                                    "bad_path"));
    } else if (match.kind == RouteMatch::Kind::kNotFound) {
      res = ErrorResponse(
          MakeError(ErrorCode::kNotFound, "no such resource: " + std::string(path), "not_found"));
    } else if (match.kind == RouteMatch::Kind::kMethodNotAllowed) {
      res = ErrorResponse(MakeError(
          ErrorCode::kMethodNotAllowed,
          "method " + std::string(method) + " is not allowed here; allowed: " + match.allow,
          "method_not_allowed"));
      res.set(http::field::allow, match.allow);
    } else {
      bool failed = false;
      std::string what;
      try {
        res = co_await route->handler(*ctx);
      } catch (const std::exception& e) {
        failed = true;
        what = e.what();
      } catch (...) {
        failed = true;
        what = "unknown exception";
      }
      if (failed) {
        spdlog::error("{} {}: handler for {} {} threw: {}", opt.name, request_id, method,
                      route->pattern, what);
        res = ErrorResponse(MakeError(ErrorCode::kInternal,
                                      "internal error; request id " + request_id, "internal"));
        ctx->file_response.reset();
      }
      if (ctx->file_response) {
        file_fd = ::open(ctx->file_response->path.c_str(), O_RDONLY | O_CLOEXEC);
        if (file_fd < 0) {
          spdlog::error("{} {}: cannot open {}: {}", opt.name, request_id,
                        ctx->file_response->path.string(), std::generic_category().message(errno));
          res = ErrorResponse(MakeError(ErrorCode::kInternal,
                                        "internal error; request id " + request_id, "internal"));
          ctx->file_response.reset();
        }
      }
    }
    struct FdCloser {
      int& fd;
      ~FdCloser() {
        if (fd >= 0) ::close(fd);
      }
    } fd_closer{file_fd};

    const bool keep =
        !close_after && req.keep_alive() && !core_->stopping.load(std::memory_order_relaxed);
    res.version(req.version() == 10 ? 10 : 11);
    res.keep_alive(keep);
    res.set("X-Request-Id", request_id);
    if (req.method() == http::verb::head) {
      size_t n = res.body().size();
      res.body().clear();
      res.content_length(n);
    } else {
      res.prepare_payload();
    }
    Count(method, route_metrics, res.result_int(), start);
    if (file_fd >= 0) {
      auto [bytes, usable] =
          co_await WriteFile(res, file_fd, *ctx->file_response, req.method() == http::verb::head);
      Log(method, target, res.result_int(), bytes, start, request_id);
      if (!usable) break;
    } else {
      Lowest().expires_after(opt.write_timeout);
      auto [wec, bytes] = co_await http::async_write(stream_, res, kUseTuple);
      Log(method, target, res.result_int(), wec ? 0 : bytes, start, request_id);
      if (wec) break;
    }
    if (!keep) {
      // Half-close and let the client read the response before the connection goes.
      linger = true;
      break;
    }
  }
  if (linger) {
    co_await LingeringClose();
  } else {
    Lowest().close();
  }
}

}  // namespace

asio::awaitable<void> HttpServer::Core::AcceptLoop() {
  auto self = shared_from_this();
  asio::steady_timer backoff(tcp_acceptor.get_executor());
  for (;;) {
    beast::error_code ec;
    std::string remote;
    std::shared_ptr<SessionBase> session;
    asio::any_io_executor strand = asio::make_strand(ioc);
    if (is_unix) {
      auto [aec, socket] = co_await unix_acceptor.async_accept(strand, kUseTuple);
      ec = aec;
      if (!ec) {
        if (stopping || Count() >= options.max_connections) {
          if (metrics) metrics->connections_rejected.fetch_add(1, std::memory_order_relaxed);
          socket.close(ec);
          continue;
        }
        auto s = std::make_shared<Session<UnixStream>>(self, UnixStream(std::move(socket)), "unix");
        Register(s.get(), s);
        asio::co_spawn(strand, s->Run(), [s](std::exception_ptr e) {
          if (e) spdlog::error("admin connection ended with an exception");
        });
      }
    } else {
      auto [aec, socket] = co_await tcp_acceptor.async_accept(strand, kUseTuple);
      ec = aec;
      if (!ec) {
        if (stopping || Count() >= options.max_connections) {
          if (metrics) metrics->connections_rejected.fetch_add(1, std::memory_order_relaxed);
          socket.close(ec);
          continue;
        }
        beast::error_code rec;
        auto ep = socket.remote_endpoint(rec);
        remote = rec ? std::string("?") : EndpointString(ep);
        socket.set_option(tcp::no_delay(true), rec);
        auto on_end = [](std::exception_ptr e) {
          if (!e) return;
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            spdlog::error("http connection ended with an exception: {}", ex.what());
          } catch (...) {
            spdlog::error("http connection ended with an unknown exception");
          }
        };
        if (tls) {
          auto s = std::make_shared<Session<TlsStream>>(
              self, TlsStream(TcpStream(std::move(socket)), *tls), std::move(remote));
          Register(s.get(), s);
          asio::co_spawn(strand, s->Run(), [s, on_end](std::exception_ptr e) { on_end(e); });
        } else {
          auto s = std::make_shared<Session<TcpStream>>(self, TcpStream(std::move(socket)),
                                                        std::move(remote));
          Register(s.get(), s);
          asio::co_spawn(strand, s->Run(), [s, on_end](std::exception_ptr e) { on_end(e); });
        }
      }
    }
    if (ec) {
      if (ec == asio::error::operation_aborted || stopping) co_return;
      // Out of file descriptors and the like: back off instead of spinning.
      spdlog::warn("{}: accept failed: {}", options.name, ec.message());
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(kUseTuple);
    }
  }
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(asio::io_context& ioc,
                                                      HttpServerOptions options, Router& router,
                                                      Metrics* metrics) {
  if (metrics) {
    for (Route* r : router.Routes()) {
      if (r->metrics == nullptr) {
        r->metrics = metrics->ForRoute(
            r->pattern, r->method == http::verb::unknown ? "ANY" : http::to_string(r->method));
      }
    }
  }
  auto core = std::make_shared<Core>(ioc, std::move(options), router, metrics);
  const auto& opt = core->options;
  beast::error_code ec;
  if (!opt.unix_socket_path.empty()) {
    core->is_unix = true;
    const std::string path = opt.unix_socket_path.string();
    if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       path + ": socket path too long (at most " +
                           std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes)");
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        return MakeError(ErrorCode::kConflict,
                         path + ": exists and is not a socket; not removing it");
      }
      // A stale socket from a kithd that died (the data directory lock rules out a live one).
      ::unlink(path.c_str());
    }
    local::endpoint ep(path);
    core->unix_acceptor.open(ep.protocol(), ec);
    if (!ec) core->unix_acceptor.bind(ep, ec);
    if (ec) return MakeError(ErrorCode::kUnavailable, path + ": cannot bind: " + ec.message());
    // The mode is the access control: set it before the socket accepts anything.
    if (::chmod(path.c_str(), 0600) != 0) {
      std::string why = std::generic_category().message(errno);
      ::unlink(path.c_str());
      return MakeError(ErrorCode::kInternal, path + ": chmod 0600 failed: " + why);
    }
    core->unix_acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      ::unlink(path.c_str());
      return MakeError(ErrorCode::kUnavailable, path + ": cannot listen: " + ec.message());
    }
  } else {
    if (!opt.tls_certificate.empty() || !opt.tls_private_key.empty()) {
      if (opt.tls_certificate.empty() || opt.tls_private_key.empty()) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "TLS needs both a certificate and a private key");
      }
      try {
        core->tls.emplace(asio::ssl::context::tls_server);
        core->tls->set_options(asio::ssl::context::default_workarounds |
                               asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                               asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                               asio::ssl::context::single_dh_use);
      } catch (const std::exception& e) {
        return MakeError(ErrorCode::kInternal, std::string("TLS set-up failed: ") + e.what());
      }
      core->tls->use_certificate_chain_file(opt.tls_certificate.string(), ec);
      if (ec) {
        return MakeError(
            ErrorCode::kInvalidArgument,
            opt.tls_certificate.string() + ": not a usable PEM certificate: " + ec.message());
      }
      core->tls->use_private_key_file(opt.tls_private_key.string(), asio::ssl::context::pem, ec);
      if (ec) {
        return MakeError(ErrorCode::kInvalidArgument,
                         opt.tls_private_key.string() +
                             ": not a usable PEM private key (or it does not match the "
                             "certificate): " +
                             ec.message());
      }
    }
    auto address = asio::ip::make_address(opt.listen_address, ec);
    if (ec) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "listen address \"" + opt.listen_address + "\": " + ec.message());
    }
    tcp::endpoint ep(address, opt.port);
    const std::string where = EndpointString(ep);
    core->tcp_acceptor.open(ep.protocol(), ec);
    if (!ec) core->tcp_acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) core->tcp_acceptor.bind(ep, ec);
    if (!ec) core->tcp_acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return MakeError(ErrorCode::kUnavailable, where + ": cannot listen: " + ec.message());
    core->bound = core->tcp_acceptor.local_endpoint(ec);
    if (ec) return MakeError(ErrorCode::kInternal, where + ": " + ec.message());
  }
  asio::co_spawn(core->tcp_acceptor.get_executor(), core->AcceptLoop(), [](std::exception_ptr e) {
    if (e) spdlog::critical("accept loop ended with an exception");
  });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(core)));
}

HttpServer::~HttpServer() { Shutdown(std::chrono::milliseconds(0)); }

size_t HttpServer::Shutdown(std::chrono::milliseconds grace) {
  auto& core = *core_;
  {
    std::lock_guard lock(core.mu);
    if (core.shut_down) return 0;
    core.shut_down = true;
  }
  core.stopping = true;
  // Close the acceptor on its strand and wait until that happened (bounded, in case the
  // io_context is no longer running).
  auto closed = std::make_shared<std::promise<void>>();
  auto done = closed->get_future();
  asio::post(core.tcp_acceptor.get_executor(), [core_ptr = core_, closed] {
    beast::error_code ec;
    core_ptr->tcp_acceptor.close(ec);
    core_ptr->unix_acceptor.close(ec);
    closed->set_value();
  });
  done.wait_for(std::chrono::seconds(5));
  if (core.is_unix) ::unlink(core.options.unix_socket_path.c_str());

  core.CloseSessions(/*only_if_idle=*/true);
  size_t forced = 0;
  {
    std::unique_lock lock(core.mu);
    core.cv.wait_for(lock, grace, [&] { return core.sessions.empty(); });
    forced = core.sessions.size();
  }
  if (forced > 0) {
    spdlog::warn("{}: closing {} connection(s) still busy after the {} ms grace period",
                 core.options.name, forced, grace.count());
    core.CloseSessions(/*only_if_idle=*/false);
    std::unique_lock lock(core.mu);
    core.cv.wait_for(lock, std::chrono::seconds(5), [&] { return core.sessions.empty(); });
  }
  return forced;
}

std::string HttpServer::local_address() const {
  if (core_->is_unix) return core_->options.unix_socket_path.string();
  return EndpointString(core_->bound);
}

uint16_t HttpServer::port() const { return core_->is_unix ? 0 : core_->bound.port(); }

bool HttpServer::tls() const { return core_->tls.has_value(); }

int64_t HttpServer::open_connections() const { return static_cast<int64_t>(core_->Count()); }

}  // namespace kith::node
