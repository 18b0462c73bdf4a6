// Browser-like helpers for the web pages and for sign-in across nodes (issue 6): the password
// sign-in form, "Sign in with your organisation" at another node (a remote session there),
// and form posts with the session's CSRF token.
//
// Not thread-safe beyond HttpRequest's own guarantees (each call is its own connection).
#pragma once

#include <map>
#include <string>

#include "storage/result.h"
#include "tests/support/group_network.h"
#include "tests/support/http_client.h"

namespace kith::testing {

// application/x-www-form-urlencoded encoding of one value (RFC 3986 unreserved kept).
std::string FormValue(const std::string& s);

// The value of cookie `name` in a (joined) Set-Cookie header; "" when absent.
std::string CookieValue(const std::string& set_cookie, const std::string& name);

// The value of the first `<input name="NAME" value="...">` in `html`; "" when absent.
std::string InputValue(const std::string& html, const std::string& name);

// The origin-relative target ("/path?query") of an absolute URL at `node`; "" when the URL is
// elsewhere.
std::string TargetAt(const PeerNode& node, const std::string& url);

// A signed-in browser at one node: its kith_session cookie and the session's CSRF token.
struct BrowserSession {
  uint16_t port = 0;
  std::string cookie;  // the kith_session value
  std::string csrf;    // the session's csrf_token

  // GET `target` with the session cookie.
  Result<HttpResponse> Get(const std::string& target) const;
  // POST a form (fields form-encoded, csrf_token added) with the session cookie.
  Result<HttpResponse> PostForm(const std::string& target,
                                const std::map<std::string, std::string>& fields) const;
};

// Signs `member` in at `node` with the password form.
Result<BrowserSession> PasswordSession(const PeerNode& node, const TestMember& member);

// Signs `member` of `home` in at `at` through "Sign in with your organisation", the browser
// holding `home_session` (a session at home, so no password is asked): at's start page, home's
// authorize endpoint, at's callback. Polls (up to 20 s) until the peering has registered `at`
// as a client at `home`. The answer is the remote session at `at`.
Result<BrowserSession> RemoteSession(const PeerNode& home, const PeerNode& at,
                                     const TestMember& member, const BrowserSession& home_session);

}  // namespace kith::testing
