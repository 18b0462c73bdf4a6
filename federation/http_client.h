// HttpClient: the node's outbound HTTP/1.1 client for federation (Boost.Beast, OpenSSL TLS).
//
//  * Coroutine API: co_await client.Send(request, body) -> Result<ClientResponse>.
//  * TLS: certificates verified against the system trust store, or only against a CA file
//    (private PKI); SNI and hostname verification. Plain http:// is allowed (tests, a node
//    behind a local proxy) but only reaches private addresses when those are allowed.
//  * Keep-alive pool per origin (scheme, host, port): at most max_idle_per_origin idle
//    connections per origin, max_origins origins; idle connections older than idle_timeout
//    are dropped. A request that fails on a reused connection before any response byte
//    arrived (the peer closed it while idle) is retried once on a fresh connection.
//  * Timeouts: connect (resolve + TCP + TLS handshake) and every write/read.
//  * Size limits: response header and body (kTooLarge beyond).
//  * SSRF guard: the host is resolved first; if ANY resolved address is loopback, private
//    (10/8, 172.16/12, 192.168/16), CGNAT (100.64/10), link-local, unique-local (fc00::/7),
//    unspecified, multicast, broadcast or reserved, the request is refused with
//    kPermissionDenied (reason "forbidden_address") unless allow_private_addresses is set.
//
// Errors: kInvalidArgument for a bad URL or scheme, kPermissionDenied for the SSRF guard,
// kUnavailable for DNS/connect/TLS/I/O failures and timeouts (message says which),
// kTooLarge for an oversized response. HTTP error statuses are NOT errors: the response is
// returned as-is.
//
// Thread-safety: Send may be called concurrently from coroutines on any thread of the
// client's io_context; the pool is guarded by a mutex and a connection is used by one request
// at a time.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "federation/http_signature.h"
#include "storage/result.h"

namespace kith::federation {

struct HttpClientOptions {
  bool allow_private_addresses = false;
  std::optional<std::filesystem::path> ca_file;  // set: trust only this CA bundle (PEM)
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds io_timeout{10000};    // each write and each read
  std::chrono::milliseconds idle_timeout{30000};  // pooled connections older than this close
  size_t max_response_body = 1024 * 1024;
  size_t max_response_header = 16 * 1024;
  size_t max_idle_per_origin = 8;
  size_t max_origins = 256;
  std::string user_agent = "kith";
};

// A response: status and headers in `message` (status != 0), the body separately.
struct ClientResponse {
  HttpMessage message;
  std::string body;
};

// Counters for tests and metrics.
struct HttpClientStats {
  uint64_t connections_opened = 0;
  uint64_t requests = 0;
  uint64_t reused = 0;  // requests sent on a pooled connection
};

// True if `address` (textual IPv4 or IPv6) is one the SSRF guard refuses by default.
// A string that is not an IP address yields true (refuse what we cannot classify).
bool IsForbiddenAddress(std::string_view address);

class HttpClient {
 public:
  // Creates a client whose connections live on `executor`. Errors: kInvalidArgument when the
  // CA file cannot be loaded, kInternal when OpenSSL cannot build a context.
  static Result<std::unique_ptr<HttpClient>> Create(boost::asio::any_io_executor executor,
                                                    HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `request` (method and absolute http(s) target_uri set; headers as given — Host,
  // User-Agent and Content-Length are added) with `body`, and reads the response.
  boost::asio::awaitable<Result<ClientResponse>> Send(HttpMessage request, std::string body);

  // Sends `request` like Send (with an empty body) and streams a 2xx response's body to
  // `on_chunk` piece by piece as it arrives (never held whole in memory), at most `max_bytes`
  // (kTooLarge beyond; a Content-Length above it is refused before the body is read). An error
  // from on_chunk ends the download with that error. A non-2xx response is returned with its
  // body in ClientResponse::body (at most max_response_body) and on_chunk is not called. For a
  // 2xx response the returned body is empty. Uses a fresh connection (pooled afterwards).
  boost::asio::awaitable<Result<ClientResponse>> Download(
      HttpMessage request, std::function<Status(std::string_view)> on_chunk, uint64_t max_bytes);

  // GET `url` (a shorthand for Send).
  boost::asio::awaitable<Result<ClientResponse>> Get(std::string url);

  HttpClientStats stats() const;
  // Idle pooled connections right now (all origins).
  size_t IdleConnections() const;

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kith::federation
