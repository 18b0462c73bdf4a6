// A small blocking HTTP/1.1 client for tests (Boost.Beast over loopback TCP), with a deadline
// on every call, plus a raw-bytes exchange for malformed-request tests and FreePort().
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/result.h"

namespace kith::testing {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased; repeated ones joined by ", "
  std::string body;
  bool keep_alive = false;  // whether the server left the connection open

  // The header's value, or "" when absent. `name` is matched case-insensitively.
  std::string Header(std::string_view name) const;
};

struct HttpRequestOptions {
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds timeout = std::chrono::seconds(10);
};

// Sends one request on a fresh connection to host:port and reads the response.
// Errors: kUnavailable when the connection fails or the deadline passes, kInvalidArgument
// when the response cannot be parsed. Thread-safe (each call has its own io_context).
Result<HttpResponse> HttpRequest(std::string_view host, uint16_t port, std::string_view method,
                                 std::string_view target, std::string_view body = {},
                                 const HttpRequestOptions& options = {});

// Shorthand for GET on 127.0.0.1.
Result<HttpResponse> HttpGet(uint16_t port, std::string_view target,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Several requests on ONE keep-alive connection; fails at the first broken exchange.
Result<std::vector<HttpResponse>> HttpGetMany(
    uint16_t port, std::string_view target, int count,
    std::chrono::milliseconds timeout = std::chrono::seconds(30));

struct RawExchange {
  std::string received;         // every byte the server sent
  bool closed_by_peer = false;  // the server closed the connection before the deadline
};

// Writes `bytes` to 127.0.0.1:port as-is, then reads until the server closes the connection
// or `timeout` passes (not an error: closed_by_peer tells which). kUnavailable when the
// connection cannot be made.
Result<RawExchange> SendRaw(uint16_t port, std::string_view bytes,
                            std::chrono::milliseconds timeout = std::chrono::seconds(5));

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
uint16_t FreePort();

// Polls GET 127.0.0.1:port/target until it answers 200 or `timeout` passes.
bool WaitForHttpOk(uint16_t port, std::string_view target, std::chrono::milliseconds timeout);

}  // namespace kith::testing
