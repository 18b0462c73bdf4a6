// Router: maps (method, path) to a handler, with path parameters.
//
// Patterns are absolute paths made of segments: literal segments ("api", "v1") and parameter
// segments ("{slug}"), e.g. "/api/v1/groups/{slug}/threads/{id}". A parameter matches exactly
// one non-empty segment.
//
// Matching rules (documented because clients depend on them):
//  * Only the path of the request target is matched; the query ("?...") is ignored by the
//    router and available in RequestContext::query.
//  * The raw path is split on '/' FIRST, then each segment is percent-decoded. So "%2F" inside
//    a segment is a literal '/' in that segment's value and never splits it. '+' is not a space.
//    Literal segments are compared with the decoded segment, so "/health%7A" matches
//    "/healthz". A malformed escape ("%4", "%zz") or an escape decoding to NUL is a 400.
//  * No normalisation: "/a/" (trailing slash) and "/a//b" (empty segment) do not match "/a"
//    and "/a/b"; "." and ".." are ordinary segments.
//  * Literal segments take precedence over parameters at every level: with routes "/g/new"
//    and "/g/{slug}", "/g/new" goes to the first. If the literal branch fails deeper down, the
//    parameter branch is tried (backtracking), so the most specific route wins.
//  * A path that matches a pattern but not the method yields kMethodNotAllowed with the
//    pattern's methods (for the `Allow` header). Otherwise kNotFound, or the fallback handler
//    when one is set.
//
// Lookup walks a segment tree: no regular expressions, no allocation for a path without
// parameters or escapes. Routes are added at start-up (not thread-safe); Find is const and
// safe to call from many threads once routes are no longer added.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/result.h"

namespace kith::node {

namespace http = boost::beast::http;

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

class RouteMetrics;

// A response body sent from a file in chunks (never read whole into memory): a handler sets
// RequestContext::file_response and returns the Response with its status and headers (the
// server sets Content-Length = length and ignores the Response's string body).
struct FileResponse {
  std::filesystem::path path;
  uint64_t offset = 0;
  uint64_t length = 0;
};

// Receives a request body in chunks as it arrives (routes with RouteOptions::body_sink), so
// that large uploads go to disk, never whole into memory. Write is called for each chunk in
// order, Finish once after the last; an error from either ends the request with that error
// (413 for kTooLarge). The handler finds the sink in RequestContext::body_sink.
class BodySink {
 public:
  virtual ~BodySink() = default;
  virtual Status Write(std::string_view chunk) = 0;
  virtual Status Finish() = 0;
};

// A path parameter: the name from the pattern and the percent-decoded value.
struct PathParam {
  std::string_view name;  // points into the route (lives as long as the Router)
  std::string value;
};

// Everything a handler learns about its request. Owned by the connection; valid for the
// duration of the handler call only.
struct RequestContext {
  const Request& request;
  std::string_view path;   // raw (still percent-encoded) path of the target
  std::string_view query;  // raw query without '?', empty when absent
  std::vector<PathParam> params;
  std::string remote_address;  // "ip:port" or "unix"
  std::string request_id;      // also sent as X-Request-Id
  // Routes with RouteOptions::body_sink: the sink that received the body (request.body() is
  // then empty).
  std::unique_ptr<BodySink> body_sink;
  // Set by a handler to send a file as the body (see FileResponse).
  std::optional<FileResponse> file_response;

  // The decoded value of the parameter `name`; empty when the route has no such parameter.
  std::string_view Param(std::string_view name) const;

  // The percent-decoded ('+' = space) value of the first query parameter `name`, or nullopt
  // when absent or malformed.
  std::optional<std::string> QueryParam(std::string_view name) const;
};

// A handler: a coroutine that produces the response. An exception escaping it becomes a 500
// (logged with the request id); the connection survives.
using Handler = std::function<boost::asio::awaitable<Response>(RequestContext&)>;

struct RouteOptions {
  // Largest request body this route accepts; nullopt = the server's default
  // (limits.max_body_bytes). Over the limit: 413 before the body is read.
  std::optional<uint64_t> max_body_bytes;
  // When set, the body is streamed into the sink this returns (called after the header was
  // read; an error answers the request with it before the body is read) instead of being
  // buffered in request.body().
  std::function<Result<std::unique_ptr<BodySink>>(const RequestContext&)> body_sink;
};

// A registered route (one pattern + one method).
struct Route {
  http::verb method;
  std::string pattern;
  Handler handler;
  RouteOptions options;
  RouteMetrics* metrics = nullptr;  // owned by the server's Metrics; set when it starts
};

// Result of a lookup.
struct RouteMatch {
  enum class Kind { kFound, kNotFound, kMethodNotAllowed, kBadPath };
  Kind kind = Kind::kNotFound;
  const Route* route = nullptr;  // kFound (possibly the fallback)
  std::vector<PathParam> params;
  std::string allow;  // kMethodNotAllowed: e.g. "GET, HEAD, POST"
};

class Router {
 public:
  Router();
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Registers `handler` for `method` on `pattern`. kInvalidArgument for a malformed pattern
  // (not starting with '/', empty or unclosed "{...}", two parameters with one name, or a
  // parameter name differing from an earlier route's at the same position);
  // kConflict if the same method and pattern are already registered.
  Status Add(http::verb method, std::string_view pattern, Handler handler,
             RouteOptions options = {});

  // Like Add, for start-up code where a failure is a programmer's mistake: aborts with the
  // message on error.
  void AddOrDie(http::verb method, std::string_view pattern, Handler handler,
                RouteOptions options = {});

  // A handler for every request no route matches (used by the admin socket, which hands all
  // requests to one API). Its pattern (the metrics label) is "fallback".
  void SetFallback(Handler handler, RouteOptions options = {});

  // Finds the route for `method` and the raw path (no query).
  RouteMatch Find(http::verb method, std::string_view raw_path) const;

  // Every registered route, in registration order (for metrics registration and docs).
  std::vector<Route*> Routes();

 private:
  struct Node;
  std::unique_ptr<Node> root_;
  std::vector<Route*> routes_;
  std::unique_ptr<Route> fallback_;
};

// Decodes %XX escapes. nullopt for a malformed escape or a decoded NUL. When `plus_is_space`,
// '+' becomes ' ' (query strings).
std::optional<std::string> PercentDecode(std::string_view in, bool plus_is_space = false);

// Builds a JSON error response {"error": name, "message": message} with the status of `error`.
Response ErrorResponse(const Error& error, unsigned version = 11);

// A JSON response with `status` and a serialized body.
Response JsonResponse(http::status status, std::string body, unsigned version = 11);

// A text/plain response.
Response TextResponse(http::status status, std::string body, unsigned version = 11);

}  // namespace kith::node
