#include "federation/http_client.h"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kith::federation {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
using SteadyClock = std::chrono::steady_clock;

bool InV4(uint32_t address, uint32_t network, int prefix) {
  const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return (address & mask) == (network & mask);
}

constexpr uint32_t V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
}

bool ForbiddenV4(const asio::ip::address_v4& address) {
  const uint32_t a = address.to_uint();
  struct Net {
    uint32_t network;
    int prefix;
  };
  static constexpr Net kForbidden[] = {
      {V4(0, 0, 0, 0), 8},        // "this network", unspecified
      {V4(10, 0, 0, 0), 8},       // private
      {V4(100, 64, 0, 0), 10},    // CGNAT shared address space
      {V4(127, 0, 0, 0), 8},      // loopback
      {V4(169, 254, 0, 0), 16},   // link-local (cloud metadata lives here)
      {V4(172, 16, 0, 0), 12},    // private
      {V4(192, 0, 0, 0), 24},     // IETF protocol assignments
      {V4(192, 0, 2, 0), 24},     // TEST-NET-1
      {V4(192, 168, 0, 0), 16},   // private
      {V4(198, 18, 0, 0), 15},    // benchmarking
      {V4(198, 51, 100, 0), 24},  // TEST-NET-2
      {V4(203, 0, 113, 0), 24},   // TEST-NET-3
      {V4(224, 0, 0, 0), 4},      // multicast
      {V4(240, 0, 0, 0), 4},      // reserved, broadcast
  };
  for (const Net& net : kForbidden) {
    if (InV4(a, net.network, net.prefix)) return true;
  }
  return false;
}

bool ForbiddenV6(const asio::ip::address_v6& address) {
  if (address.is_v4_mapped()) {
    return ForbiddenV4(asio::ip::make_address_v4(asio::ip::v4_mapped, address));
  }
  const auto bytes = address.to_bytes();
  if (address.is_unspecified() || address.is_loopback()) return true;
  // ::/96 (deprecated IPv4-compatible) and 64:ff9b::/96 (NAT64: judge the embedded IPv4).
  bool zero_prefix = true;
  for (int i = 0; i < 12; ++i) zero_prefix = zero_prefix && bytes[i] == 0;
  if (zero_prefix) return true;
  static constexpr uint8_t kNat64[12] = {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::equal(std::begin(kNat64), std::end(kNat64), bytes.begin())) {
    return ForbiddenV4(asio::ip::address_v4({bytes[12], bytes[13], bytes[14], bytes[15]}));
  }
  if ((bytes[0] & 0xfe) == 0xfc) return true;                      // fc00::/7 unique-local
  if (bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80) return true;  // fe80::/10 link-local
  if (bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0xc0) return true;  // fec0::/10 site-local
  if (bytes[0] == 0xff) return true;                               // multicast
  if (bytes[0] == 0x20 && bytes[1] == 0x01 && bytes[2] == 0x0d && bytes[3] == 0xb8) {
    return true;  // 2001:db8::/32 documentation
  }
  return false;
}

bool Forbidden(const asio::ip::address& address) {
  return address.is_v4() ? ForbiddenV4(address.to_v4()) : ForbiddenV6(address.to_v6());
}

struct Origin {
  bool tls = false;
  std::string host;       // for DNS, SNI and certificate checks (no brackets)
  std::string host_port;  // for the Host header
  uint16_t port = 0;
  bool host_is_ip = false;
  std::string target;  // path and query

  std::string Key() const {
    return std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(port);
  }
};

Result<Origin> ParseOrigin(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    return MakeError(ErrorCode::kInvalidArgument, "not an absolute URL: " + std::string(url));
  }
  const auto& u = *parsed;
  Origin origin;
  const std::string scheme(u.scheme());
  if (scheme == "https") {
    origin.tls = true;
  } else if (scheme != "http") {
    return MakeError(ErrorCode::kInvalidArgument,
                     "unsupported URL scheme \"" + scheme + "\" (http or https only)");
  }
  if (u.has_userinfo()) {
    return MakeError(ErrorCode::kInvalidArgument, "URLs with user information are refused");
  }
  if (u.has_fragment()) {
    return MakeError(ErrorCode::kInvalidArgument, "URL has a fragment: " + std::string(url));
  }
  origin.host = u.host_address();
  if (origin.host.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "URL has no host: " + std::string(url));
  }
  origin.host_is_ip = u.host_type() == boost::urls::host_type::ipv4 ||
                      u.host_type() == boost::urls::host_type::ipv6;
  if (u.has_port()) {
    if (u.port().empty() || u.port_number() == 0) {
      return MakeError(ErrorCode::kInvalidArgument, "URL has a bad port: " + std::string(url));
    }
    origin.port = u.port_number();
  } else {
    origin.port = origin.tls ? 443 : 80;
  }
  origin.host_port = std::string(u.encoded_host_and_port());
  origin.target = std::string(u.encoded_path());
  if (origin.target.empty()) origin.target = "/";
  if (u.has_query()) origin.target += "?" + std::string(u.encoded_query());
  return origin;
}

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

struct Connection {
  std::unique_ptr<beast::tcp_stream> tcp;
  std::unique_ptr<TlsStream> tls;
  beast::flat_buffer buffer;
  SteadyClock::time_point idle_since;

  beast::tcp_stream& Lowest() { return tls ? beast::get_lowest_layer(*tls) : *tcp; }
};

std::string Describe(const beast::error_code& ec) {
  if (ec == beast::error::timeout) return "timed out";
  return ec.message();
}

}  // namespace

bool IsForbiddenAddress(std::string_view address) {
  beast::error_code ec;
  auto parsed = asio::ip::make_address(std::string(address), ec);
  if (ec) return true;
  return Forbidden(parsed);
}

struct HttpClient::Impl {
  asio::any_io_executor executor;
  HttpClientOptions options;
  ssl::context ssl_ctx{ssl::context::tls_client};
  mutable std::mutex mu;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle;  // guarded
  HttpClientStats stats;                                                           // guarded

  std::unique_ptr<Connection> TakeIdle(const std::string& key) {
    std::lock_guard lock(mu);
    auto it = idle.find(key);
    if (it == idle.end()) return nullptr;
    auto& list = it->second;
    const auto now = SteadyClock::now();
    while (!list.empty()) {
      std::unique_ptr<Connection> conn = std::move(list.back());
      list.pop_back();
      if (now - conn->idle_since < options.idle_timeout) {
        if (list.empty()) idle.erase(it);
        return conn;
      }
    }
    idle.erase(it);
    return nullptr;
  }

  void GiveBack(const std::string& key, std::unique_ptr<Connection> conn) {
    conn->idle_since = SteadyClock::now();
    std::lock_guard lock(mu);
    auto it = idle.find(key);
    if (it == idle.end()) {
      if (idle.size() >= options.max_origins) return;  // closes conn
      it = idle.emplace(key, std::vector<std::unique_ptr<Connection>>{}).first;
    }
    if (it->second.size() >= options.max_idle_per_origin) return;
    it->second.push_back(std::move(conn));
  }

  asio::awaitable<Result<std::unique_ptr<Connection>>> Connect(const Origin& origin) {
    tcp::resolver resolver(executor);
    asio::steady_timer timer(executor);
    timer.expires_after(options.connect_timeout);
    auto raced =
        co_await (resolver.async_resolve(origin.host, std::to_string(origin.port), kTuple) ||
                  timer.async_wait(kTuple));
    if (raced.index() == 1) {
      co_return MakeError(ErrorCode::kUnavailable, "resolving " + origin.host + " timed out");
    }
    auto [resolve_ec, results] = std::get<0>(std::move(raced));
    if (resolve_ec) {
      co_return MakeError(ErrorCode::kUnavailable,
                          "cannot resolve " + origin.host + ": " + resolve_ec.message());
    }
    std::vector<tcp::endpoint> endpoints;
    for (const auto& entry : results) {
      const auto address = entry.endpoint().address();
      if (!options.allow_private_addresses && Forbidden(address)) {
        co_return MakeError(ErrorCode::kPermissionDenied,
                            origin.host + " resolves to " + address.to_string() +
                                ", a loopback/private/reserved address; refused "
                                "(federation.allow_private_addresses is false)",
                            "forbidden_address");
      }
      endpoints.push_back(entry.endpoint());
    }
    if (endpoints.empty()) {
      co_return MakeError(ErrorCode::kUnavailable, "no address for " + origin.host);
    }

    auto conn = std::make_unique<Connection>();
    if (origin.tls) {
      conn->tls = std::make_unique<TlsStream>(executor, ssl_ctx);
    } else {
      conn->tcp = std::make_unique<beast::tcp_stream>(executor);
    }
    beast::tcp_stream& lowest = conn->Lowest();
    lowest.expires_after(options.connect_timeout);
    auto [connect_ec, endpoint] = co_await lowest.async_connect(endpoints, kTuple);
    if (connect_ec) {
      co_return MakeError(ErrorCode::kUnavailable,
                          "cannot connect to " + origin.host_port + ": " + Describe(connect_ec));
    }
    // Requests are written as header then body: without TCP_NODELAY, Nagle's algorithm holds
    // the body until the header is acknowledged, and the peer's delayed ACK makes that ~40 ms.
    boost::system::error_code nodelay_ec;
    lowest.socket().set_option(asio::ip::tcp::no_delay(true), nodelay_ec);
    if (origin.tls) {
      if (!origin.host_is_ip &&
          !SSL_set_tlsext_host_name(conn->tls->native_handle(), origin.host.c_str())) {
        co_return MakeError(ErrorCode::kInternal, "cannot set TLS SNI for " + origin.host);
      }
      conn->tls->set_verify_mode(ssl::verify_peer);
      conn->tls->set_verify_callback(ssl::host_name_verification(origin.host));
      auto [handshake_ec] = co_await conn->tls->async_handshake(ssl::stream_base::client, kTuple);
      if (handshake_ec) {
        co_return MakeError(ErrorCode::kUnavailable, "TLS handshake with " + origin.host_port +
                                                         " failed: " + Describe(handshake_ec));
      }
    }
    {
      std::lock_guard lock(mu);
      ++stats.connections_opened;
    }
    co_return conn;
  }

  // One request/response on `conn`. `got_response_bytes` tells the caller whether a retry
  // on a fresh connection is safe; `keep_alive` whether the connection may be pooled.
  template <class Stream>
  asio::awaitable<Result<ClientResponse>> Exchange(Stream& stream, Connection& conn,
                                                   http::request<http::string_body>& req,
                                                   bool& got_response_bytes, bool& keep_alive) {
    got_response_bytes = false;
    keep_alive = false;
    conn.Lowest().expires_after(options.io_timeout);
    auto [write_ec, written] = co_await http::async_write(stream, req, kTuple);
    if (write_ec) {
      co_return MakeError(ErrorCode::kUnavailable,
                          "sending the request failed: " + Describe(write_ec));
    }
    http::response_parser<http::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(options.max_response_header));
    parser.body_limit(options.max_response_body);
    conn.Lowest().expires_after(options.io_timeout);
    auto [read_ec, read] = co_await http::async_read(stream, conn.buffer, parser, kTuple);
    got_response_bytes = parser.got_some() || read > 0;
    if (read_ec == http::error::body_limit) {
      co_return MakeError(
          ErrorCode::kTooLarge,
          "response body exceeds " + std::to_string(options.max_response_body) + " bytes");
    }
    if (read_ec == http::error::header_limit) {
      co_return MakeError(
          ErrorCode::kTooLarge,
          "response header exceeds " + std::to_string(options.max_response_header) + " bytes");
    }
    if (read_ec) {
      co_return MakeError(ErrorCode::kUnavailable,
                          "reading the response failed: " + Describe(read_ec));
    }
    auto res = parser.release();
    ClientResponse response;
    response.message.status = static_cast<int>(res.result_int());
    response.message.AppendFields(res.base());
    response.body = std::move(res.body());
    keep_alive = res.keep_alive();
    co_return response;
  }

  asio::awaitable<Result<ClientResponse>> SendOnce(const Origin& origin,
                                                   http::request<http::string_body>& req,
                                                   std::unique_ptr<Connection> conn,
                                                   bool& retry_safe) {
    retry_safe = false;
    bool got_bytes = false;
    bool keep_alive = false;
    Result<ClientResponse> result = MakeError(ErrorCode::kInternal, "not sent");
    if (conn->tls) {
      result = co_await Exchange(*conn->tls, *conn, req, got_bytes, keep_alive);
    } else {
      result = co_await Exchange(*conn->tcp, *conn, req, got_bytes, keep_alive);
    }
    if (!result.ok()) {
      retry_safe = !got_bytes && result.error().code == ErrorCode::kUnavailable;
      co_return result;  // conn closes
    }
    if (keep_alive) GiveBack(origin.Key(), std::move(conn));
    co_return result;
  }
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::Create(asio::any_io_executor executor,
                                                       HttpClientOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->executor = std::move(executor);
  impl->options = std::move(options);
  beast::error_code ec;
  impl->ssl_ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                                ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                                ssl::context::no_tlsv1_1,
                            ec);
  if (ec) return MakeError(ErrorCode::kInternal, "TLS context options: " + ec.message());
  if (impl->options.ca_file) {
    impl->ssl_ctx.load_verify_file(impl->options.ca_file->string(), ec);
    if (ec) {
      return MakeError(
          ErrorCode::kInvalidArgument,
          "cannot load CA file " + impl->options.ca_file->string() + ": " + ec.message());
    }
  } else {
    impl->ssl_ctx.set_default_verify_paths(ec);
    if (ec) {
      return MakeError(ErrorCode::kInternal, "cannot load the system trust store: " + ec.message());
    }
  }
  impl->ssl_ctx.set_verify_mode(ssl::verify_peer);
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

namespace {

// The Beast request for `request` to `origin` with `body`.
Result<http::request<http::string_body>> BuildRequest(const HttpMessage& request,
                                                      const Origin& origin, std::string body,
                                                      const std::string& user_agent) {
  auto verb = http::string_to_verb(request.method);
  if (verb == http::verb::unknown) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "unsupported HTTP method \"" + request.method + "\"");
  }
  http::request<http::string_body> req{verb, origin.target, 11};
  for (const auto& [name, value] : request.headers) {
    if (beast::iequals(name, "host") || beast::iequals(name, "content-length") ||
        beast::iequals(name, "transfer-encoding") || beast::iequals(name, "connection")) {
      continue;  // framing is ours
    }
    req.insert(name, value);
  }
  req.set(http::field::host, origin.host_port);
  if (!req.count(http::field::user_agent)) req.set(http::field::user_agent, user_agent);
  req.keep_alive(true);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

// Reads a response whose 2xx body goes to `on_chunk` (see HttpClient::Download).
template <class Stream>
asio::awaitable<Result<ClientResponse>> ReadStreamed(
    Stream& stream, beast::tcp_stream& lowest, beast::flat_buffer& buffer,
    const HttpClientOptions& options, const std::function<Status(std::string_view)>& on_chunk,
    uint64_t max_bytes, bool& keep_alive) {
  keep_alive = false;
  http::response_parser<http::buffer_body> parser;
  parser.header_limit(static_cast<uint32_t>(options.max_response_header));
  parser.body_limit(boost::none);
  lowest.expires_after(options.io_timeout);
  auto [header_ec, header_read] = co_await http::async_read_header(stream, buffer, parser, kTuple);
  if (header_ec == http::error::header_limit) {
    co_return MakeError(
        ErrorCode::kTooLarge,
        "response header exceeds " + std::to_string(options.max_response_header) + " bytes");
  }
  if (header_ec) {
    co_return MakeError(ErrorCode::kUnavailable,
                        "reading the response failed: " + Describe(header_ec));
  }
  ClientResponse response;
  response.message.status = static_cast<int>(parser.get().result_int());
  response.message.AppendFields(parser.get().base());
  const bool success = response.message.status >= 200 && response.message.status < 300;
  const uint64_t limit = success ? max_bytes : options.max_response_body;
  if (parser.content_length() && *parser.content_length() > limit) {
    co_return MakeError(ErrorCode::kTooLarge, "response body of " +
                                                  std::to_string(*parser.content_length()) +
                                                  " bytes exceeds " + std::to_string(limit));
  }
  uint64_t total = 0;
  std::vector<char> chunk(64 * 1024);
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    lowest.expires_after(options.io_timeout);
    auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, kTuple);
    if (read_ec == http::error::need_buffer) read_ec = {};
    if (read_ec) {
      co_return MakeError(ErrorCode::kUnavailable,
                          "reading the response body failed: " + Describe(read_ec));
    }
    const size_t got = chunk.size() - parser.get().body().size;
    total += got;
    if (total > limit) {
      co_return MakeError(ErrorCode::kTooLarge,
                          "response body exceeds " + std::to_string(limit) + " bytes");
    }
    if (got == 0) continue;
    if (success) {
      Status written = on_chunk(std::string_view(chunk.data(), got));
      if (!written.ok()) co_return std::move(written).error();
    } else {
      response.body.append(chunk.data(), got);
    }
  }
  keep_alive = parser.get().keep_alive();
  co_return response;
}

}  // namespace

asio::awaitable<Result<ClientResponse>> HttpClient::Download(
    HttpMessage request, std::function<Status(std::string_view)> on_chunk, uint64_t max_bytes) {
  try {
    auto origin = ParseOrigin(request.target_uri);
    if (!origin.ok()) co_return std::move(origin).error();
    auto built = BuildRequest(request, *origin, {}, impl_->options.user_agent);
    if (!built.ok()) co_return std::move(built).error();
    http::request<http::string_body> req = std::move(built).value();
    {
      std::lock_guard lock(impl_->mu);
      ++impl_->stats.requests;
    }
    auto fresh = co_await impl_->Connect(*origin);
    if (!fresh.ok()) co_return std::move(fresh).error();
    std::unique_ptr<Connection> conn = std::move(fresh).value();
    conn->Lowest().expires_after(impl_->options.io_timeout);
    beast::error_code write_ec;
    if (conn->tls) {
      std::tie(write_ec, std::ignore) = co_await http::async_write(*conn->tls, req, kTuple);
    } else {
      std::tie(write_ec, std::ignore) = co_await http::async_write(*conn->tcp, req, kTuple);
    }
    if (write_ec) {
      co_return MakeError(ErrorCode::kUnavailable,
                          request.method + " " + request.target_uri +
                              ": sending the request failed: " + Describe(write_ec));
    }
    bool keep_alive = false;
    Result<ClientResponse> result = MakeError(ErrorCode::kInternal, "not read");
    if (conn->tls) {
      result = co_await ReadStreamed(*conn->tls, conn->Lowest(), conn->buffer, impl_->options,
                                     on_chunk, max_bytes, keep_alive);
    } else {
      result = co_await ReadStreamed(*conn->tcp, conn->Lowest(), conn->buffer, impl_->options,
                                     on_chunk, max_bytes, keep_alive);
    }
    if (!result.ok()) {
      co_return MakeError(result.error().code,
                          request.method + " " + request.target_uri + ": " + result.error().message,
                          result.error().reason);
    }
    if (keep_alive) impl_->GiveBack(origin->Key(), std::move(conn));
    co_return result;
  } catch (const std::exception& e) {
    co_return MakeError(ErrorCode::kInternal,
                        "HTTP client failure for " + request.target_uri + ": " + e.what());
  }
}

asio::awaitable<Result<ClientResponse>> HttpClient::Send(HttpMessage request, std::string body) {
  try {
    auto origin = ParseOrigin(request.target_uri);
    if (!origin.ok()) co_return std::move(origin).error();
    auto built = BuildRequest(request, *origin, std::move(body), impl_->options.user_agent);
    if (!built.ok()) co_return std::move(built).error();
    http::request<http::string_body> req = std::move(built).value();

    const std::string key = origin->Key();
    std::unique_ptr<Connection> conn = impl_->TakeIdle(key);
    const bool reused = conn != nullptr;
    {
      std::lock_guard lock(impl_->mu);
      ++impl_->stats.requests;
      if (reused) ++impl_->stats.reused;
    }
    if (!conn) {
      auto fresh = co_await impl_->Connect(*origin);
      if (!fresh.ok()) co_return std::move(fresh).error();
      conn = std::move(fresh).value();
    }
    bool retry_safe = false;
    auto result = co_await impl_->SendOnce(*origin, req, std::move(conn), retry_safe);
    if (!result.ok() && reused && retry_safe) {
      // The pooled connection had been closed by the server while idle.
      auto fresh = co_await impl_->Connect(*origin);
      if (!fresh.ok()) co_return std::move(fresh).error();
      result = co_await impl_->SendOnce(*origin, req, std::move(fresh).value(), retry_safe);
    }
    if (!result.ok()) {
      co_return MakeError(result.error().code,
                          request.method + " " + request.target_uri + ": " + result.error().message,
                          result.error().reason);
    }
    co_return result;
  } catch (const std::exception& e) {
    co_return MakeError(ErrorCode::kInternal,
                        "HTTP client failure for " + request.target_uri + ": " + e.what());
  }
}

asio::awaitable<Result<ClientResponse>> HttpClient::Get(std::string url) {
  HttpMessage request;
  request.method = "GET";
  request.target_uri = std::move(url);
  co_return co_await Send(std::move(request), {});
}

HttpClientStats HttpClient::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

size_t HttpClient::IdleConnections() const {
  std::lock_guard lock(impl_->mu);
  size_t total = 0;
  for (const auto& [key, list] : impl_->idle) total += list.size();
  return total;
}

}  // namespace kith::federation
