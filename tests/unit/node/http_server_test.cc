#include "node/http_server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

namespace kith::node {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// A blocking client socket with a receive timeout, so no test can hang.
struct Client {
  asio::io_context ioc;
  tcp::socket socket{ioc};
  beast::flat_buffer buffer;

  explicit Client(uint16_t port) {
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    timeval tv{5, 0};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }

  void Send(std::string_view raw) { asio::write(socket, asio::buffer(raw)); }

  // Reads one response; status 0 on error.
  http::response<http::string_body> Read() {
    http::response<http::string_body> res;
    beast::error_code ec;
    http::read(socket, buffer, res, ec);
    if (ec) res.result(0);
    return res;
  }

  http::response<http::string_body> Get(std::string_view target, bool keep_alive = true) {
    std::string raw = "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n";
    if (!keep_alive) raw += "Connection: close\r\n";
    raw += "\r\n";
    Send(raw);
    return Read();
  }

  // Whether the server closed the connection (EOF or reset) within `wait`.
  bool ClosedWithin(std::chrono::milliseconds wait) {
    auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{socket.native_handle(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char c[4096];
      ssize_t n = ::recv(socket.native_handle(), c, sizeof c, 0);
      if (n <= 0) return true;  // EOF or reset; otherwise drain and keep waiting
    }
  }
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.AddOrDie(http::verb::get, "/healthz", [](RequestContext&) -> asio::awaitable<Response> {
      co_return TextResponse(http::status::ok, "ok");
    });
    router_.AddOrDie(http::verb::post, "/echo",
                     [](RequestContext& ctx) -> asio::awaitable<Response> {
                       co_return TextResponse(http::status::ok, ctx.request.body());
                     });
    router_.AddOrDie(
        http::verb::post, "/big",
        [](RequestContext& ctx) -> asio::awaitable<Response> {
          co_return TextResponse(http::status::ok, std::to_string(ctx.request.body().size()));
        },
        RouteOptions{.max_body_bytes = 8192});
    router_.AddOrDie(http::verb::get, "/items/{id}",
                     [](RequestContext& ctx) -> asio::awaitable<Response> {
                       co_return TextResponse(http::status::ok, std::string(ctx.Param("id")));
                     });
    router_.AddOrDie(http::verb::get, "/throw", [](RequestContext&) -> asio::awaitable<Response> {
      throw std::runtime_error("boom");
      co_return TextResponse(http::status::ok, "never");
    });
    router_.AddOrDie(
        http::verb::get, "/sleep", [](RequestContext& ctx) -> asio::awaitable<Response> {
          asio::steady_timer timer(co_await asio::this_coro::executor);
          timer.expires_after(
              std::chrono::milliseconds(std::stoi(ctx.QueryParam("ms").value_or("0"))));
          co_await timer.async_wait(asio::use_awaitable);
          co_return TextResponse(http::status::ok, "slept");
        });
  }

  void Start(HttpServerOptions options = {}) {
    options.listen_address = "127.0.0.1";
    options.port = 0;
    if (options.max_body_bytes == 1048576) options.max_body_bytes = 1024;
    options.max_header_bytes = 2048;
    options.read_timeout = 500ms;
    options.idle_timeout = 3s;
    options.write_timeout = 2s;
    options.access_log = false;
    auto server = HttpServer::Start(ioc_, options, router_, &metrics_);
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(server.value());
    thread_ = std::thread([this] { ioc_.run(); });
  }

  void TearDown() override {
    if (server_) server_->Shutdown(1s);
    work_.reset();
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }

  uint16_t port() const { return server_->port(); }

  asio::io_context ioc_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      asio::make_work_guard(ioc_)};
  Router router_;
  Metrics metrics_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  Start();
  Client c(port());
  for (int i = 0; i < 3; ++i) {
    auto res = c.Get("/healthz");
    ASSERT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.body(), "ok");
    EXPECT_TRUE(res.keep_alive());
    EXPECT_EQ(res["X-Request-Id"].size(), 16u);
  }
  // Pipelined: two requests in one write, answered in order.
  c.Send("GET /items/1 HTTP/1.1\r\nHost: t\r\n\r\nGET /items/a%2Fb HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(c.Read().body(), "1");
  EXPECT_EQ(c.Read().body(), "a/b");
  EXPECT_EQ(server_->open_connections(), 1);
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  Start();
  Client c(port());
  auto res = c.Get("/healthz", /*keep_alive=*/false);
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(c.ClosedWithin(2s));
}

TEST_F(HttpServerTest, NotFoundAndMethodNotAllowed) {
  Start();
  Client c(port());
  auto res = c.Get("/nope");
  EXPECT_EQ(res.result_int(), 404u);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_NE(res.body().find("\"error\":\"not_found\""), std::string::npos);
  res = c.Get("/echo");
  EXPECT_EQ(res.result_int(), 405u);
  EXPECT_EQ(res[http::field::allow], "POST");
  res = c.Get("/items/%zz");
  EXPECT_EQ(res.result_int(), 400u);
  // Still usable afterwards.
  EXPECT_EQ(c.Get("/healthz").result_int(), 200u);
}

TEST_F(HttpServerTest, BodiesWithinAndOverTheLimit) {
  Start();
  {
    Client c(port());
    c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    auto res = c.Read();
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.body(), "hello");
  }
  {
    Client c(port());
    std::string body(2000, 'x');
    c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n" + body);
    auto res = c.Read();
    EXPECT_EQ(res.result_int(), 413u);
    EXPECT_NE(res.body().find("body_too_large"), std::string::npos);
    EXPECT_FALSE(res.keep_alive());
    EXPECT_TRUE(c.ClosedWithin(2s));
  }
  {
    // Chunked bodies have no Content-Length: the limit applies while reading.
    Client c(port());
    std::string chunk(1500, 'y');
    c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5dc\r\n" + chunk +
           "\r\n0\r\n\r\n");
    EXPECT_EQ(c.Read().result_int(), 413u);
  }
  {
    // A route with its own, larger limit.
    Client c(port());
    std::string body(5000, 'z');
    c.Send("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n" + body);
    auto res = c.Read();
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.body(), "5000");
  }
}

TEST_F(HttpServerTest, MalformedRequestGets400AndClose) {
  Start();
  Client c(port());
  c.Send("THIS IS NOT HTTP\r\n\r\n");
  auto res = c.Read();
  EXPECT_EQ(res.result_int(), 400u);
  EXPECT_NE(res.body().find("\"error\":\"bad_request\""), std::string::npos);
  EXPECT_TRUE(c.ClosedWithin(2s));

  Client c2(port());
  c2.Send("GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n");
  EXPECT_EQ(c2.Read().result_int(), 400u);
  EXPECT_TRUE(c2.ClosedWithin(2s));
}

TEST_F(HttpServerTest, HeaderTooLargeGets431) {
  Start();
  Client c(port());
  c.Send("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n");
  auto res = c.Read();
  EXPECT_EQ(res.result_int(), 431u);
  EXPECT_NE(res.body().find("header_too_large"), std::string::npos);
  EXPECT_TRUE(c.ClosedWithin(2s));
}

TEST_F(HttpServerTest, SlowlorisIsDisconnectedAtTheReadDeadline) {
  Start();  // read_timeout 500 ms
  Client c(port());
  std::string header = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: " + std::string(100, 'a');
  auto start = std::chrono::steady_clock::now();
  bool closed = false;
  // The client trickles one byte every 100 ms: each byte is "progress", yet the whole request
  // must arrive within the read timeout.
  for (char ch : header) {
    if (::send(c.socket.native_handle(), &ch, 1, MSG_NOSIGNAL) != 1) {
      closed = true;
      break;
    }
    if (c.ClosedWithin(100ms)) {
      closed = true;
      break;
    }
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(closed);
  EXPECT_LT(elapsed, 2s);
  EXPECT_GE(elapsed, 400ms);
}

TEST_F(HttpServerTest, IdleKeepAliveConnectionIsClosedAfterIdleTimeout) {
  HttpServerOptions o;
  Start(o);
  Client c(port());
  EXPECT_EQ(c.Get("/healthz").result_int(), 200u);
  // idle_timeout is 3 s in these tests: still open at 1 s, closed by 5 s.
  EXPECT_FALSE(c.ClosedWithin(1s));
  EXPECT_TRUE(c.ClosedWithin(4s));
}

TEST_F(HttpServerTest, HandlerExceptionIs500AndConnectionSurvives) {
  Start();
  Client c(port());
  auto res = c.Get("/throw");
  EXPECT_EQ(res.result_int(), 500u);
  EXPECT_NE(res.body().find(std::string(res["X-Request-Id"])), std::string::npos);
  EXPECT_EQ(c.Get("/healthz").result_int(), 200u);
}

TEST_F(HttpServerTest, HeadUsesGetWithoutBody) {
  Start();
  Client c(port());
  c.Send("HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  http::response_parser<http::string_body> p;
  p.skip(true);  // a response to HEAD has no body
  beast::error_code ec;
  http::read(c.socket, c.buffer, p, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(p.get().result_int(), 200u);
  EXPECT_EQ(p.get()[http::field::content_length], "2");
  EXPECT_EQ(c.Get("/healthz").body(), "ok");
}

TEST_F(HttpServerTest, MetricsCountByRoutePattern) {
  Start();
  Client c(port());
  c.Get("/items/7");
  c.Get("/items/8");
  c.Get("/missing");
  std::string text = metrics_.Render();
  EXPECT_NE(
      text.find(R"(kith_http_requests_total{route="/items/{id}",method="GET",status="200"} 2)"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(kith_http_requests_total{route="unmatched",method="GET",status="404"} 1)"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find(R"(kith_http_request_duration_seconds_count{route="/items/{id}",method="GET"} 2)"),
      std::string::npos);
  EXPECT_NE(text.find("kith_http_open_connections 1"), std::string::npos);
}

TEST_F(HttpServerTest, ConnectionCapClosesExtraConnections) {
  HttpServerOptions o;
  o.max_connections = 1;
  Start(o);
  Client a(port());
  EXPECT_EQ(a.Get("/healthz").result_int(), 200u);
  Client b(port());
  EXPECT_TRUE(b.ClosedWithin(2s));
  EXPECT_EQ(metrics_.connections_rejected.load(), 1u);
  EXPECT_EQ(a.Get("/healthz").result_int(), 200u);
}

TEST_F(HttpServerTest, ShutdownLetsInFlightRequestFinishAndClosesIdleAtOnce) {
  Start();
  Client idle(port());
  EXPECT_EQ(idle.Get("/healthz").result_int(), 200u);
  Client busy(port());
  busy.Send("GET /sleep?ms=400 HTTP/1.1\r\nHost: t\r\n\r\n");
  // Wait until the sleeping request is in flight (two connections open, the second not idle).
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (server_->open_connections() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  auto start = std::chrono::steady_clock::now();
  auto done = std::async(std::launch::async, [this] { return server_->Shutdown(5s); });
  EXPECT_TRUE(idle.ClosedWithin(1s));
  auto res = busy.Read();
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), "slept");
  EXPECT_FALSE(res.keep_alive());
  EXPECT_EQ(done.get(), 0u);  // nothing forced
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
  // No longer accepting.
  beast::error_code ec;
  asio::io_context io;
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port()), ec);
  EXPECT_TRUE(ec);
}

// TLS from config: a self-signed certificate for 127.0.0.1, made with the openssl tool.
TEST_F(HttpServerTest, ServesHttpsWithTheConfiguredCertificate) {
  auto dir = std::filesystem::temp_directory_path() /
             ("kith-tls-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
  std::filesystem::create_directories(dir);
  auto cert = dir / "cert.pem";
  auto key = dir / "key.pem";
  std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
      "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -days 1 -keyout '" +
      key.string() + "' -out '" + cert.string() + "' >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl could not make a test certificate";

  HttpServerOptions o;
  o.tls_certificate = cert;
  o.tls_private_key = key;
  Start(o);
  ASSERT_TRUE(server_->tls());

  asio::io_context ioc;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file(cert.string());
  ctx.set_verify_mode(asio::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
  stream.set_verify_callback(asio::ssl::host_name_verification("127.0.0.1"));
  beast::get_lowest_layer(stream).expires_after(5s);
  beast::get_lowest_layer(stream).connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), port()));
  stream.handshake(asio::ssl::stream_base::client);
  beast::flat_buffer buffer;
  for (int i = 0; i < 2; ++i) {  // keep-alive over TLS
    http::request<http::empty_body> req(http::verb::get, "/healthz", 11);
    req.set(http::field::host, "127.0.0.1");
    http::write(stream, req);
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), "ok");
  }

  // A plain-HTTP request to the TLS port is not answered as HTTP: the handshake fails and the
  // connection is closed.
  Client plain(port());
  plain.Send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_TRUE(plain.ClosedWithin(3s));
  std::filesystem::remove_all(dir);
}

TEST(HttpServerUnixTest, UnixSocketWithFallbackAndMode0600) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("kith-unix-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path sock = dir / "admin.sock";
  { std::ofstream(dir / "placeholder"); }
  asio::io_context ioc;
  auto work = asio::make_work_guard(ioc);
  Router router;
  router.SetFallback([](RequestContext& ctx) -> asio::awaitable<Response> {
    co_return JsonResponse(http::status::ok, "{\"path\":\"" + std::string(ctx.path) +
                                                 "\",\"remote\":\"" + ctx.remote_address + "\"}");
  });
  HttpServerOptions o;
  o.unix_socket_path = sock;
  o.access_log = false;
  // A stale socket file from a crashed process is replaced.
  {
    asio::local::stream_protocol::acceptor stale(
        ioc, asio::local::stream_protocol::endpoint(sock.string()));
  }
  ASSERT_TRUE(fs::exists(sock));
  auto server = HttpServer::Start(ioc, o, router, nullptr);
  ASSERT_TRUE(server.ok()) << server.error().message;
  std::thread t([&] { ioc.run(); });
  struct stat st {};
  ASSERT_EQ(::stat(sock.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  asio::io_context cio;
  asio::local::stream_protocol::socket s(cio);
  s.connect(asio::local::stream_protocol::endpoint(sock.string()));
  std::string req = "GET /v1/status HTTP/1.1\r\nHost: kithd\r\n\r\n";
  asio::write(s, asio::buffer(req));
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res);
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), R"({"path":"/v1/status","remote":"unix"})");

  server.value()->Shutdown(1s);
  EXPECT_FALSE(fs::exists(sock));
  work.reset();
  ioc.stop();
  t.join();
  // A regular file at the socket path is not deleted.
  { std::ofstream(sock.string()) << "x"; }
  auto refused = HttpServer::Start(ioc, o, router, nullptr);
  EXPECT_FALSE(refused.ok());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kith::node

namespace kith::node {
namespace {

// Counts what it receives; fails on demand.
struct CountingSink final : BodySink {
  struct Seen {
    std::atomic<uint64_t> bytes{0};
    std::atomic<uint64_t> largest_chunk{0};
    std::atomic<uint64_t> checksum{0};
    std::atomic<bool> finished{false};
  };
  std::shared_ptr<Seen> seen;
  uint64_t fail_after = UINT64_MAX;
  Status Write(std::string_view chunk) override {
    seen->bytes += chunk.size();
    if (chunk.size() > seen->largest_chunk) seen->largest_chunk = chunk.size();
    uint64_t sum = 0;
    for (unsigned char c : chunk) sum += c;
    seen->checksum += sum;
    if (seen->bytes > fail_after) return MakeError(ErrorCode::kTooLarge, "sink is full");
    return OkStatus();
  }
  Status Finish() override {
    seen->finished = true;
    return OkStatus();
  }
};

class HttpServerStreamingTest : public HttpServerTest {
 protected:
  void SetUp() override {
    HttpServerTest::SetUp();
    seen_ = std::make_shared<CountingSink::Seen>();
    RouteOptions sink_options;
    sink_options.max_body_bytes = 8 * 1024 * 1024;
    sink_options.body_sink =
        [seen = seen_](const RequestContext& ctx) -> Result<std::unique_ptr<BodySink>> {
      if (ctx.request["X-Refuse"] == "1") {
        return MakeError(ErrorCode::kPermissionDenied, "not you");
      }
      auto sink = std::make_unique<CountingSink>();
      sink->seen = seen;
      if (ctx.request["X-Fail-After"] != "") {
        sink->fail_after = std::stoull(std::string(ctx.request["X-Fail-After"]));
      }
      return std::unique_ptr<BodySink>(std::move(sink));
    };
    router_.AddOrDie(
        http::verb::post, "/sink",
        [](RequestContext& ctx) -> asio::awaitable<Response> {
          EXPECT_NE(ctx.body_sink, nullptr);
          EXPECT_TRUE(ctx.request.body().empty());
          co_return TextResponse(http::status::ok, "stored");
        },
        sink_options);
    RouteOptions small = sink_options;
    small.max_body_bytes = 4096;
    router_.AddOrDie(
        http::verb::post, "/small-sink",
        [](RequestContext&) -> asio::awaitable<Response> {
          co_return TextResponse(http::status::ok, "stored");
        },
        small);
    file_ = std::filesystem::temp_directory_path() /
            ("kith_http_file_" + std::to_string(::getpid()) + ".bin");
    {
      std::ofstream out(file_, std::ios::binary);
      for (int i = 0; i < 200000; ++i) out.put(static_cast<char>(i % 251));
    }
    router_.AddOrDie(http::verb::get, "/file",
                     [this](RequestContext& ctx) -> asio::awaitable<Response> {
                       Response res{http::status::ok, 11};
                       res.set(http::field::content_type, "application/octet-stream");
                       uint64_t offset = std::stoull(ctx.QueryParam("offset").value_or("0"));
                       uint64_t length = std::stoull(ctx.QueryParam("length").value_or("200000"));
                       if (offset > 0) res.result(http::status::partial_content);
                       ctx.file_response = FileResponse{file_, offset, length};
                       co_return res;
                     });
    router_.AddOrDie(http::verb::get, "/missing-file",
                     [](RequestContext& ctx) -> asio::awaitable<Response> {
                       ctx.file_response = FileResponse{"/nonexistent/kith/file", 0, 10};
                       co_return Response{http::status::ok, 11};
                     });
  }
  void TearDown() override {
    HttpServerTest::TearDown();
    std::error_code ec;
    std::filesystem::remove(file_, ec);
  }
  std::string Expected(uint64_t offset, uint64_t length) {
    std::string s;
    for (uint64_t i = offset; i < offset + length; ++i) s += static_cast<char>(i % 251);
    return s;
  }

  std::shared_ptr<CountingSink::Seen> seen_;
  std::filesystem::path file_;
};

TEST_F(HttpServerStreamingTest, SinkReceivesABigBodyInBoundedChunks) {
  HttpServerOptions options;
  options.read_timeout = 5s;
  Start(options);
  std::string body(5 * 1024 * 1024, '\0');
  uint64_t sum = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    body[i] = static_cast<char>(i * 31 % 256);
    sum += static_cast<unsigned char>(body[i]);
  }
  Client c(port());
  std::thread writer([&] {
    c.Send("POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n");
    c.Send(body);
  });
  auto res = c.Read();
  writer.join();
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), "stored");
  EXPECT_EQ(seen_->bytes.load(), body.size());
  EXPECT_EQ(seen_->checksum.load(), sum);
  EXPECT_LE(seen_->largest_chunk.load(), 64u * 1024);
  EXPECT_TRUE(seen_->finished.load());
  // The connection is still usable.
  EXPECT_EQ(c.Get("/healthz").result_int(), 200u);
}

TEST_F(HttpServerStreamingTest, SinkWithChunkedBodyAndExpectContinue) {
  Start();
  Client c(port());
  c.Send(
      "POST /sink HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
      "Expect: 100-continue\r\n\r\n");
  auto cont = c.Read();
  EXPECT_EQ(cont.result_int(), 100u);
  c.Send("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  auto res = c.Read();
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(seen_->bytes.load(), 11u);
}

TEST_F(HttpServerStreamingTest, SinkLimitsAndErrors) {
  Start();
  {  // Announced over the limit: 413 before reading, connection closed.
    Client c(port());
    c.Send("POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 9000000\r\n\r\n");
    auto res = c.Read();
    EXPECT_EQ(res.result_int(), 413u);
    EXPECT_TRUE(c.ClosedWithin(2s));
    EXPECT_EQ(seen_->bytes.load(), 0u);
  }
  {  // Chunked over the limit while streaming.
    Client c(port());
    std::string chunk(3000, 'a');
    c.Send(
        "POST /small-sink HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        "bb8\r\n" +
        chunk + "\r\nbb8\r\n" + chunk + "\r\n0\r\n\r\n");
    auto res = c.Read();
    EXPECT_EQ(res.result_int(), 413u);
    EXPECT_TRUE(c.ClosedWithin(2s));
  }
  {  // The factory refuses: its error, before the body.
    Client c(port());
    c.Send("POST /sink HTTP/1.1\r\nHost: t\r\nX-Refuse: 1\r\nContent-Length: 100\r\n\r\n");
    auto res = c.Read();
    EXPECT_EQ(res.result_int(), 403u);
    EXPECT_NE(res.body().find("not you"), std::string::npos);
    EXPECT_TRUE(c.ClosedWithin(2s));
  }
  {  // The sink fails midway: its error, connection closed.
    Client c(port());
    std::string body(100000, 'b');
    std::thread writer([&] {
      beast::error_code ec;
      std::string head =
          "POST /sink HTTP/1.1\r\nHost: t\r\nX-Fail-After: 1000\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\n\r\n";
      asio::write(c.socket, asio::buffer(head), ec);
      asio::write(c.socket, asio::buffer(body), ec);
    });
    auto res = c.Read();
    writer.join();
    EXPECT_EQ(res.result_int(), 413u);
    EXPECT_NE(res.body().find("sink is full"), std::string::npos);
  }
}

TEST_F(HttpServerStreamingTest, FileResponsesWholeRangeAndHead) {
  Start();
  Client c(port());
  auto whole = c.Get("/file");
  EXPECT_EQ(whole.result_int(), 200u);
  EXPECT_EQ(whole[http::field::content_length], "200000");
  EXPECT_EQ(whole.body(), Expected(0, 200000));
  auto part = c.Get("/file?offset=70000&length=100001");
  EXPECT_EQ(part.result_int(), 206u);
  EXPECT_EQ(part.body(), Expected(70000, 100001));
  c.Send("HEAD /file HTTP/1.1\r\nHost: t\r\n\r\n");
  http::response_parser<http::empty_body> head_parser;
  head_parser.skip(true);
  beast::error_code ec;
  http::read(c.socket, c.buffer, head_parser, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(head_parser.get()[http::field::content_length], "200000");
  // Still in sync after the HEAD.
  EXPECT_EQ(c.Get("/file?offset=5&length=3").body(), Expected(5, 3));
  auto missing = c.Get("/missing-file");
  EXPECT_EQ(missing.result_int(), 500u);
  EXPECT_EQ(c.Get("/healthz").result_int(), 200u);
}

}  // namespace
}  // namespace kith::node
