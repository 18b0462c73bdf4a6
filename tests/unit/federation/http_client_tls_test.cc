// HttpClientOptions::ca_file (config federation.ca_file): with a CA file the client trusts
// only that bundle. A private CA and a server certificate signed by it are made with the
// openssl tool in a temporary directory; a TLS server on 127.0.0.1:0 presents that
// certificate.
#include "federation/http_client.h"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "tests/support/temp_dir.h"

namespace kith::federation {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Runs a shell command (openssl), quietly; true on exit status 0.
bool Sh(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

// Makes a CA named `name` in `dir`: <name>-ca.pem / <name>-ca.key.
bool MakeCa(const std::filesystem::path& dir, const std::string& name) {
  return Sh(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj /CN=" +
      name +
      "-test-ca -addext basicConstraints=critical,CA:TRUE -addext "
      "keyUsage=critical,keyCertSign,cRLSign -keyout '" +
      (dir / (name + "-ca.key")).string() + "' -out '" + (dir / (name + "-ca.pem")).string() + "'");
}

// A TLS HTTP server on 127.0.0.1:0 answering every request with 200 "secure hello".
class TlsServer {
 public:
  TlsServer(asio::io_context& ioc, const std::filesystem::path& cert,
            const std::filesystem::path& key)
      : ctx_(ssl::context::tls_server), acceptor_(ioc, {asio::ip::make_address("127.0.0.1"), 0}) {
    ctx_.use_certificate_chain_file(cert.string());
    ctx_.use_private_key_file(key.string(), ssl::context::pem);
    asio::co_spawn(ioc, Accept(), asio::detached);
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  asio::awaitable<void> Accept() {
    while (true) {
      auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
      if (ec) co_return;
      asio::co_spawn(acceptor_.get_executor(), Serve(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> Serve(tcp::socket socket) {
    beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), ctx_);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
    auto [hec] = co_await stream.async_handshake(ssl::stream_base::server, kTuple);
    if (hec) co_return;  // the client refused our certificate
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    auto [rec, n] = co_await http::async_read(stream, buffer, req, kTuple);
    if (rec) co_return;
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.body() = "secure hello";
    res.keep_alive(false);
    res.prepare_payload();
    co_await http::async_write(stream, res, kTuple);
    co_await stream.async_shutdown(kTuple);
  }

  ssl::context ctx_;
  tcp::acceptor acceptor_;
};

class HttpClientTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& d = dir_.path();
    ASSERT_TRUE(MakeCa(d, "private")) << "openssl could not make a test CA";
    ASSERT_TRUE(MakeCa(d, "other"));
    {
      std::ofstream ext(d / "server.ext");
      ext << "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
             "extendedKeyUsage=serverAuth\n";
    }
    ASSERT_TRUE(
        Sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
           "-subj /CN=127.0.0.1 -keyout '" +
           (d / "server.key").string() + "' -out '" + (d / "server.csr").string() + "'"));
    ASSERT_TRUE(Sh("openssl x509 -req -days 1 -in '" + (d / "server.csr").string() + "' -CA '" +
                   (d / "private-ca.pem").string() + "' -CAkey '" +
                   (d / "private-ca.key").string() + "' -set_serial 1 -extfile '" +
                   (d / "server.ext").string() + "' -out '" + (d / "server.pem").string() + "'"));
    server_ = std::make_unique<TlsServer>(ioc_, d / "server.pem", d / "server.key");
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void TearDown() override {
    client_.reset();
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
  }

  Result<ClientResponse> Get(std::optional<std::filesystem::path> ca_file) {
    HttpClientOptions options;
    options.allow_private_addresses = true;
    options.ca_file = std::move(ca_file);
    options.connect_timeout = std::chrono::seconds(5);
    auto client = HttpClient::Create(ioc_.get_executor(), options);
    if (!client.ok()) return std::move(client).error();
    client_ = std::move(client).value();
    auto promise = std::make_shared<std::promise<Result<ClientResponse>>>();
    auto future = promise->get_future();
    asio::co_spawn(
        ioc_,
        [this, promise]() -> asio::awaitable<void> {
          promise->set_value(
              co_await client_->Get("https://127.0.0.1:" + std::to_string(server_->port()) + "/"));
        },
        asio::detached);
    if (future.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
      ADD_FAILURE() << "request did not finish";
      return MakeError(ErrorCode::kInternal, "test deadline");
    }
    return future.get();
  }

  testing::TempDir dir_{"tls"};
  asio::io_context ioc_{1};
  std::unique_ptr<TlsServer> server_;
  std::unique_ptr<HttpClient> client_;
  std::thread thread_;
};

TEST_F(HttpClientTlsTest, TrustsAServerCertifiedByTheConfiguredCa) {
  auto res = Get(dir_ / "private-ca.pem");
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->message.status, 200);
  EXPECT_EQ(res->body, "secure hello");
}

TEST_F(HttpClientTlsTest, RefusesItWithAnotherCaFile) {
  // The CA file replaces the trust store: a bundle without our CA trusts nothing here.
  auto res = Get(dir_ / "other-ca.pem");
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(res.error().message.find("TLS handshake"), std::string::npos) << res.error().message;
}

TEST_F(HttpClientTlsTest, RefusesItWithTheSystemTrustStore) {
  auto res = Get(std::nullopt);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(res.error().message.find("TLS handshake"), std::string::npos) << res.error().message;
}

TEST_F(HttpClientTlsTest, ACaFileThatIsNotPemIsAnError) {
  {
    std::ofstream junk(dir_ / "junk.pem");
    junk << "not a certificate\n";
  }
  HttpClientOptions options;
  options.ca_file = dir_ / "junk.pem";
  auto client = HttpClient::Create(ioc_.get_executor(), options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(client.error().message.find("junk.pem"), std::string::npos) << client.error().message;
}

}  // namespace
}  // namespace kith::federation
