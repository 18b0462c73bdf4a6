#include "federation/http_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

namespace kith::federation {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// A tiny keep-alive HTTP server on 127.0.0.1:0, run on the test's io_context.
//   /hello  200 "hello"          /big  200 with 10,000 bytes
//   /slow   answers after 5 s    /close  200 with Connection: close
//   /echo   echoes the request body and the X-Test header
class TestServer {
 public:
  explicit TestServer(asio::io_context& ioc)
      : acceptor_(ioc, {asio::ip::make_address("127.0.0.1"), 0}) {
    asio::co_spawn(ioc, Accept(), asio::detached);
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int accepted() const { return accepted_.load(); }

 private:
  asio::awaitable<void> Accept() {
    while (true) {
      auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
      if (ec) co_return;
      ++accepted_;
      asio::co_spawn(acceptor_.get_executor(), Serve(std::move(socket)), asio::detached);
    }
  }

  static asio::awaitable<void> Serve(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    while (true) {
      http::request<http::string_body> req;
      auto [ec, n] = co_await http::async_read(stream, buffer, req, kTuple);
      if (ec) co_return;
      http::response<http::string_body> res{http::status::ok, req.version()};
      res.set(http::field::content_type, "text/plain");
      if (req.target() == "/hello") {
        res.body() = "hello";
      } else if (req.target() == "/big") {
        res.body() = std::string(10000, 'x');
      } else if (req.target() == "/slow") {
        asio::steady_timer timer(stream.get_executor(), std::chrono::seconds(5));
        co_await timer.async_wait(kTuple);
        res.body() = "late";
      } else if (req.target() == "/close") {
        res.body() = "bye";
        res.keep_alive(false);
      } else if (req.target() == "/echo") {
        res.body() = std::string(req[http::field::host]) + "|" + std::string(req["X-Test"]) + "|" +
                     req.body();
      } else {
        res.result(http::status::not_found);
      }
      if (req.target() != "/close") res.keep_alive(req.keep_alive());
      res.prepare_payload();
      auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
      if (wec || !res.keep_alive()) co_return;
    }
  }

  tcp::acceptor acceptor_;
  std::atomic<int> accepted_{0};
};

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<TestServer>(ioc_);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void TearDown() override {
    client_.reset();
    ioc_.stop();
    thread_.join();
  }

  HttpClient& Client(HttpClientOptions options = {}) {
    auto client = HttpClient::Create(ioc_.get_executor(), std::move(options));
    EXPECT_TRUE(client.ok()) << client.error().message;
    client_ = std::move(client).value();
    return *client_;
  }

  std::string Url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + std::string(path);
  }

  Result<ClientResponse> Run(asio::awaitable<Result<ClientResponse>> call) {
    // Result<T> has no default constructor, so use_future cannot carry it: a promise does.
    auto promise = std::make_shared<std::promise<Result<ClientResponse>>>();
    auto future = promise->get_future();
    asio::co_spawn(
        ioc_,
        [promise, call = std::move(call)]() mutable -> asio::awaitable<void> {
          promise->set_value(co_await std::move(call));
        },
        asio::detached);
    if (future.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
      ADD_FAILURE() << "request did not finish";
      return MakeError(ErrorCode::kInternal, "test deadline");
    }
    return future.get();
  }

  static HttpClientOptions Private() {
    HttpClientOptions options;
    options.allow_private_addresses = true;
    return options;
  }

  asio::io_context ioc_{1};
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<HttpClient> client_;
  std::thread thread_;
};

TEST_F(HttpClientTest, KeepAliveReusesOneConnection) {
  HttpClient& client = Client(Private());
  for (int i = 0; i < 5; ++i) {
    auto res = Run(client.Get(Url("/hello")));
    ASSERT_TRUE(res.ok()) << res.error().message;
    EXPECT_EQ(res->message.status, 200);
    EXPECT_EQ(res->body, "hello");
  }
  EXPECT_EQ(server_->accepted(), 1);
  EXPECT_EQ(client.stats().connections_opened, 1u);
  EXPECT_EQ(client.stats().reused, 4u);
  EXPECT_EQ(client.IdleConnections(), 1u);
}

TEST_F(HttpClientTest, ConnectionCloseIsNotPooled) {
  HttpClient& client = Client(Private());
  for (int i = 0; i < 2; ++i) {
    auto res = Run(client.Get(Url("/close")));
    ASSERT_TRUE(res.ok()) << res.error().message;
    EXPECT_EQ(res->body, "bye");
  }
  EXPECT_EQ(server_->accepted(), 2);
  EXPECT_EQ(client.IdleConnections(), 0u);
}

TEST_F(HttpClientTest, SendsHeadersBodyAndHost) {
  HttpClient& client = Client(Private());
  HttpMessage request;
  request.method = "POST";
  request.target_uri = Url("/echo");
  request.headers = {{"X-Test", "yes"}, {"Content-Type", "text/plain"}, {"Host", "evil"}};
  auto res = Run(client.Send(request, "payload"));
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->body, "127.0.0.1:" + std::to_string(server_->port()) + "|yes|payload");
  EXPECT_EQ(res->message.FieldValues("content-type").at(0), "text/plain");
}

TEST_F(HttpClientTest, ReadTimeout) {
  HttpClientOptions options = Private();
  options.io_timeout = std::chrono::milliseconds(200);
  HttpClient& client = Client(options);
  const auto start = std::chrono::steady_clock::now();
  auto res = Run(client.Get(Url("/slow")));
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(res.error().message.find("timed out"), std::string::npos) << res.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
}

TEST_F(HttpClientTest, ResponseBodyLimit) {
  HttpClientOptions options = Private();
  options.max_response_body = 1000;
  HttpClient& client = Client(options);
  auto res = Run(client.Get(Url("/big")));
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(client.IdleConnections(), 0u);
}

TEST_F(HttpClientTest, SsrfGuardRefusesLoopbackByDefault) {
  HttpClient& client = Client();
  for (const std::string host : {"127.0.0.1", "localhost", "[::1]"}) {
    auto res = Run(client.Get("http://" + host + ":" + std::to_string(server_->port()) + "/hello"));
    ASSERT_FALSE(res.ok()) << host;
    EXPECT_EQ(res.error().code, ErrorCode::kPermissionDenied) << res.error().message;
    EXPECT_EQ(res.error().reason, "forbidden_address");
  }
  EXPECT_EQ(server_->accepted(), 0);
}

TEST_F(HttpClientTest, BadUrlsAreInvalidArguments) {
  HttpClient& client = Client(Private());
  for (const char* url : {"ftp://example.com/", "not a url", "http://user:pw@127.0.0.1/",
                          "http://127.0.0.1:0/", "/relative"}) {
    auto res = Run(client.Get(url));
    ASSERT_FALSE(res.ok()) << url;
    EXPECT_EQ(res.error().code, ErrorCode::kInvalidArgument) << url;
  }
}

TEST_F(HttpClientTest, ConnectionRefusedIsUnavailable) {
  HttpClient& client = Client(Private());
  // Bind then close a port so that nobody listens on it.
  uint16_t port;
  {
    tcp::acceptor probe(ioc_, {asio::ip::make_address("127.0.0.1"), 0});
    port = probe.local_endpoint().port();
  }
  auto res = Run(client.Get("http://127.0.0.1:" + std::to_string(port) + "/"));
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, ErrorCode::kUnavailable);
}

TEST_F(HttpClientTest, MissingCaFileIsAnError) {
  HttpClientOptions options;
  options.ca_file = "/nonexistent/ca.pem";
  auto client = HttpClient::Create(ioc_.get_executor(), options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().code, ErrorCode::kInvalidArgument);
}

TEST(IsForbiddenAddressTest, Classification) {
  for (const char* bad : {"127.0.0.1",
                          "127.9.9.9",
                          "10.1.2.3",
                          "172.16.0.1",
                          "172.31.255.255",
                          "192.168.1.1",
                          "169.254.169.254",
                          "100.64.0.1",
                          "100.127.255.255",
                          "0.0.0.0",
                          "224.0.0.1",
                          "255.255.255.255",
                          "::1",
                          "::",
                          "fe80::1",
                          "fc00::1",
                          "fd12:3456::1",
                          "ff02::1",
                          "::ffff:127.0.0.1",
                          "::ffff:10.0.0.1",
                          "64:ff9b::a00:1",
                          "not-an-ip"}) {
    EXPECT_TRUE(IsForbiddenAddress(bad)) << bad;
  }
  for (const char* good : {"8.8.8.8", "172.32.0.1", "100.128.0.1", "1.1.1.1",
                           "2a00:1450:4009:80b::200e", "::ffff:8.8.8.8", "64:ff9b::808:808"}) {
    EXPECT_FALSE(IsForbiddenAddress(good)) << good;
  }
}

}  // namespace
}  // namespace kith::federation
