// HttpClient::Download: a response body streamed to a callback in chunks, with a size limit.
#include "federation/http_client.h"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <future>
#include <string>
#include <thread>
#include <vector>

namespace kith::federation {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// /big: 1 MiB of 'z'; /missing: 404 with a JSON body; anything else: 200 "ok".
asio::awaitable<void> Serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    auto [ec, n] = co_await http::async_read(stream, buffer, req, kTuple);
    if (ec) co_return;
    http::response<http::string_body> res{http::status::ok, req.version()};
    if (req.target() == "/big") {
      res.body() = std::string(1024 * 1024, 'z');
    } else if (req.target() == "/missing") {
      res.result(http::status::not_found);
      res.body() = R"({"error":"not_found"})";
    } else {
      res.body() = "ok";
    }
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    auto [write_ec, written] = co_await http::async_write(stream, res, kTuple);
    if (write_ec) co_return;
  }
}

asio::awaitable<void> Accept(tcp::acceptor& acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kTuple);
    if (ec) co_return;
    asio::co_spawn(acceptor.get_executor(), Serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> Fetch(HttpClient* client, std::string url, uint64_t max_bytes,
                            std::vector<size_t>* chunks, std::string* bytes,
                            std::promise<Result<ClientResponse>>* done) {
  HttpMessage request;
  request.method = "GET";
  request.target_uri = std::move(url);
  done->set_value(co_await client->Download(
      request,
      [chunks, bytes](std::string_view chunk) {
        chunks->push_back(chunk.size());
        bytes->append(chunk);
        return OkStatus();
      },
      max_bytes));
}

class HttpDownloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    asio::co_spawn(ioc_, Accept(acceptor_), asio::detached);
    HttpClientOptions options;
    options.allow_private_addresses = true;
    auto client = HttpClient::Create(ioc_.get_executor(), options);
    ASSERT_TRUE(client.ok());
    client_ = std::move(client).value();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void TearDown() override {
    ioc_.stop();
    thread_.join();
  }
  Result<ClientResponse> Download(const std::string& path, uint64_t max_bytes) {
    std::promise<Result<ClientResponse>> done;
    auto future = done.get_future();
    const std::string url =
        "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + path;
    asio::co_spawn(ioc_, Fetch(client_.get(), url, max_bytes, &chunks_, &bytes_, &done),
                   asio::detached);
    return future.get();
  }

  asio::io_context ioc_;
  tcp::acceptor acceptor_{ioc_, {asio::ip::make_address("127.0.0.1"), 0}};
  std::unique_ptr<HttpClient> client_;
  std::thread thread_;
  std::vector<size_t> chunks_;
  std::string bytes_;
};

TEST_F(HttpDownloadTest, StreamsTheBodyInChunks) {
  auto response = Download("/big", 2 * 1024 * 1024);
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->message.status, 200);
  EXPECT_TRUE(response->body.empty());
  EXPECT_EQ(bytes_, std::string(1024 * 1024, 'z'));
  EXPECT_GT(chunks_.size(), 1u);
  for (size_t c : chunks_) EXPECT_LE(c, 64u * 1024);
}

TEST_F(HttpDownloadTest, RefusesBodiesOverTheLimit) {
  auto response = Download("/big", 1000);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, ErrorCode::kTooLarge);
  EXPECT_TRUE(bytes_.empty()) << "refused from Content-Length before any byte";
}

TEST_F(HttpDownloadTest, AnErrorAnswerComesBackAsItsBody) {
  auto response = Download("/missing", 1000);
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->message.status, 404);
  EXPECT_EQ(response->body, R"({"error":"not_found"})");
  EXPECT_TRUE(chunks_.empty());
}

}  // namespace
}  // namespace kith::federation
