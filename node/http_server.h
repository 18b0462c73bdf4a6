// HttpServer: HTTP/1.1 (Boost.Beast, C++20 coroutines) on TCP — optionally TLS — or on a Unix
// stream socket (the admin socket), dispatching to a Router.
//
// Per connection: one strand, one coroutine, keep-alive, pipelined requests handled in order.
// Per request: a FRESH parser with the header limit; the route is looked up from the header,
// then the body limit is set to the route's own (RouteOptions::max_body_bytes) or the default.
// Timeouts (each a deadline, so trickling bytes never extends it — slowloris-proof):
//   idle_timeout   waiting for the first byte of the next request on a keep-alive connection
//   read_timeout   from the first byte of a request until its body is complete
//   write_timeout  writing one response
// On a timeout the connection is closed without a response.
// Errors: malformed HTTP -> 400 and close; header over the limit -> 431 and close; body over
// the limit -> 413 and close (before reading the body when Content-Length says so); unknown
// path -> 404; wrong method -> 405 with Allow; malformed percent-escape in the path -> 400;
// a handler exception -> 500 with the request id logged. Errors are JSON
// {"error": code, "message": text}. Every response carries X-Request-Id; HEAD is served by the
// GET handler without a body.
// Streamed bodies (RouteOptions::body_sink): after the header, the route's factory makes the
// sink (its error is answered at once, and the connection closed when a body was announced);
// then `Expect: 100-continue` is answered and the body (Content-Length or chunked, within the
// route's limit) is fed to the sink in chunks of at most 64 KiB and finished, before the
// handler runs with RequestContext::body_sink. Its read deadline is read_timeout plus one
// second per 256 KiB of the announced length (or of the route's limit when chunked). A sink error
// answers the request with it; the connection is closed when the body was not read to its end. File
// responses (RequestContext::file_response): the handler's status and headers are sent with
// Content-Length = length, then the file's bytes in 64 KiB chunks (each write under the write
// timeout); HEAD sends the header only. A file that cannot be opened is a 500; one that fails while
// being sent ends the connection. Connection cap: a connection accepted while max_connections are
// open is closed at once without a response (cheapest for an overloaded server; counted in
// kith_http_connections_rejected_total).
//
// Thread-safety: Start/Shutdown/accessors may be called from any thread that is not one of
// the io_context's threads (Shutdown blocks). The Router and Metrics must outlive the server
// and must not be changed while it runs.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "node/metrics.h"
#include "node/router.h"
#include "storage/result.h"

namespace kith::node {

struct HttpServerOptions {
  // TCP: listen on listen_address:port (port 0 = any free port).
  std::string listen_address = "127.0.0.1";
  uint16_t port = 0;
  // Both set: TLS (PEM files; the certificate file may hold the chain).
  std::filesystem::path tls_certificate;
  std::filesystem::path tls_private_key;
  // When set, listen on this Unix stream socket instead of TCP: a stale socket file is
  // removed first, the socket gets mode 0600 before it listens, and it is removed on Shutdown.
  std::filesystem::path unix_socket_path;

  uint64_t max_body_bytes = 1048576;
  uint32_t max_header_bytes = 16384;
  uint32_t max_connections = 10000;
  std::chrono::milliseconds read_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds write_timeout{30'000};

  bool access_log = true;
  std::string name = "http";  // in log lines, e.g. "http" or "admin"
};

class HttpServer {
 public:
  // Binds and listens (errors name the address or file: kUnavailable when it is in use,
  // kInvalidArgument for a bad address or unreadable TLS files), then starts accepting on
  // `ioc` (which the caller runs on its own threads). `metrics` may be null.
  static Result<std::unique_ptr<HttpServer>> Start(boost::asio::io_context& ioc,
                                                   HttpServerOptions options, Router& router,
                                                   Metrics* metrics);

  // Shutdown(0ms) if it was not called.
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Graceful stop: stops accepting, closes idle keep-alive connections at once, lets requests
  // in flight finish (their responses carry Connection: close) for at most `grace`, then
  // closes whatever is left. Blocks until every connection is gone; must not be called on one
  // of the io_context's threads, and the io_context must still be running. Idempotent.
  // Returns the number of connections that had to be closed forcibly.
  size_t Shutdown(std::chrono::milliseconds grace);

  // "127.0.0.1:43123", "[::1]:8401", or the socket path.
  std::string local_address() const;
  uint16_t port() const;  // 0 for a Unix socket
  bool tls() const;

  int64_t open_connections() const;

  struct Core;  // implementation detail (http_server.cc)

 private:
  explicit HttpServer(std::shared_ptr<Core> core) : core_(std::move(core)) {}
  std::shared_ptr<Core> core_;
};

// A per-process unique request id (16 lowercase hex digits). Thread-safe.
std::string NewRequestId();

}  // namespace kith::node
