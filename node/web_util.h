// Helpers shared by the page and OIDC routes: forms, cookies, redirects, HTML pages, the
// signed-in session.
//
// Thread-safety: free functions over their arguments.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "identity/oidc_provider.h"
#include "identity/session_store.h"
#include "node/router.h"
#include "node/web.h"

namespace kith::node {

inline constexpr std::string_view kSessionCookie = "kith_session";
inline constexpr std::string_view kCsrfCookie = "kith_csrf";

// Parses an application/x-www-form-urlencoded string (a query string or a form body) into
// OidcParams: the first value of each name is kept, repeated names are listed in
// `duplicates`. kInvalidArgument for a malformed escape or a NUL.
Result<identity::OidcParams> ParseForm(std::string_view encoded);

// The form of a POST: the body when Content-Type is application/x-www-form-urlencoded.
// kInvalidArgument ("expected a form") for any other content type.
Result<identity::OidcParams> RequestForm(const RequestContext& ctx);

// Percent-encodes for a query string or form value (RFC 3986 unreserved kept).
std::string FormEncode(std::string_view value);

// The value of cookie `name` in the request's Cookie header(s), or nullopt.
std::optional<std::string> GetCookie(const Request& request, std::string_view name);

// A Set-Cookie value: `name=value; Path=/; HttpOnly; SameSite=Lax` (+ `; Secure` when
// `secure`, + `; Max-Age=N` when max_age_seconds >= 0; 0 deletes the cookie).
std::string CookieHeader(std::string_view name, std::string_view value, bool secure,
                         long max_age_seconds = -1);

// Whether cookies must be Secure: the node's base URL is https.
bool SecureCookies(const WebContext& context);

// The client address without the port ("ip:port" -> "ip", "[v6]:port" -> "v6").
std::string ClientAddress(const RequestContext& ctx);

// The live session of the request's kith_session cookie, or nullopt (no cookie, unknown or
// expired session).
std::optional<identity::Session> CurrentSession(const WebContext& context,
                                                const RequestContext& ctx);

// A 303 See Other to `location`.
Response SeeOther(std::string_view location);

// A 302 Found to `location` (OAuth redirects to a client).
Response Found(std::string_view location);

// An HTML page: renders `template_name` inside the layout. Adds to `data` the layout's fields:
// `node` {name, organisation, base_url}, `member` {handle, display_name} and `csrf_token` when
// `session` is given, and `page_title` defaulting to the node name. Sets the security headers
// (a strict Content-Security-Policy, X-Frame-Options DENY, X-Content-Type-Options nosniff,
// Referrer-Policy, Cache-Control no-store). A rendering error becomes a plain 500 page.
Response HtmlPage(const WebContext& context, http::status status, std::string_view template_name,
                  nlohmann::json data, const identity::Session* session = nullptr);

// The error page (template "error": `title`, `message`) with `status`.
Response ErrorPage(const WebContext& context, http::status status, std::string_view title,
                   std::string_view message, const identity::Session* session = nullptr);

// The pre-session CSRF token (double-submit cookie `kith_csrf`, for the sign-in form): the
// request's cookie when it holds a well-formed token, else a fresh 256-bit random token that
// is also set as a cookie on `response`. Put the returned value in the form's csrf_token; on
// POST, CheckCsrfCookie compares the two.
std::string EnsureCsrfCookie(const WebContext& context, const RequestContext& ctx,
                             Response& response);

// Whether the submitted csrf_token equals the request's kith_csrf cookie (constant time).
bool CheckCsrfCookie(const RequestContext& ctx, std::string_view submitted);

// Whether `next` is a safe local redirect target: starts with a single '/', no '//' or '\'
// at the start, no control characters, no scheme.
bool IsLocalPath(std::string_view next);

}  // namespace kith::node
