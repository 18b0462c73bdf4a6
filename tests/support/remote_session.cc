// Browser-like helpers (tests/support/remote_session.h).
#include "tests/support/remote_session.h"

#include <cctype>
#include <nlohmann/json.hpp>

namespace kith::testing {

std::string InputValue(const std::string& html, const std::string& name) {
  const std::string key = "name=\"" + name + "\" value=\"";
  auto pos = html.find(key);
  if (pos == std::string::npos) return "";
  pos += key.size();
  return html.substr(pos, html.find('"', pos) - pos);
}

// The origin-relative target of an absolute URL at `node`, or "" when it is elsewhere.
std::string TargetAt(const PeerNode& node, const std::string& url) {
  if (url.rfind(node.url + "/", 0) != 0) return "";
  return url.substr(node.url.size());
}

namespace {

Result<HttpResponse> GetWithCookie(uint16_t port, const std::string& target,
                                   const std::string& cookie) {
  HttpRequestOptions options;
  if (!cookie.empty()) options.headers = {{"Cookie", cookie}};
  return HttpRequest("127.0.0.1", port, "GET", target, "", options);
}

// The CSRF token of a session, from /api/v1/me (which serves remote members too).
Result<std::string> CsrfOf(uint16_t port, const std::string& cookie) {
  auto me = GetWithCookie(port, "/api/v1/me", "kith_session=" + cookie);
  if (!me.ok()) return std::move(me).error();
  if (me->status != 200) return MakeError(ErrorCode::kInternal, "/api/v1/me: " + Describe(me));
  std::string csrf = JsonBody(*me).value("csrf_token", "");
  if (csrf.empty()) return MakeError(ErrorCode::kInternal, "no csrf_token in " + me->body);
  return csrf;
}

}  // namespace

std::string FormValue(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string CookieValue(const std::string& set_cookie, const std::string& name) {
  const std::string key = name + "=";
  for (size_t pos = set_cookie.find(key); pos != std::string::npos;
       pos = set_cookie.find(key, pos + 1)) {
    if (pos != 0 && set_cookie[pos - 1] != ' ' && set_cookie[pos - 1] != ',') continue;
    const size_t start = pos + key.size();
    return set_cookie.substr(start, set_cookie.find(';', start) - start);
  }
  return "";
}

Result<HttpResponse> BrowserSession::Get(const std::string& target) const {
  return GetWithCookie(port, target, "kith_session=" + cookie);
}

Result<HttpResponse> BrowserSession::PostForm(
    const std::string& target, const std::map<std::string, std::string>& fields) const {
  std::string body = "csrf_token=" + FormValue(csrf);
  for (const auto& [k, v] : fields) body += "&" + FormValue(k) + "=" + FormValue(v);
  HttpRequestOptions options;
  options.headers = {{"Cookie", "kith_session=" + cookie},
                     {"Content-Type", "application/x-www-form-urlencoded"}};
  return HttpRequest("127.0.0.1", port, "POST", target, body, options);
}

Result<BrowserSession> PasswordSession(const PeerNode& node, const TestMember& member) {
  auto page = GetWithCookie(node.port, "/sign-in", "");
  if (!page.ok()) return std::move(page).error();
  HttpRequestOptions options;
  options.headers = {
      {"Content-Type", "application/x-www-form-urlencoded"},
      {"Cookie", "kith_csrf=" + CookieValue(page->Header("set-cookie"), "kith_csrf")}};
  auto res = HttpRequest("127.0.0.1", node.port, "POST", "/sign-in",
                         "username=" + FormValue(member.handle) +
                             "&password=" + FormValue(member.password) +
                             "&csrf_token=" + FormValue(InputValue(page->body, "csrf_token")),
                         options);
  if (!res.ok()) return std::move(res).error();
  BrowserSession s;
  s.port = node.port;
  s.cookie = CookieValue(res->Header("set-cookie"), "kith_session");
  if (res->status != 303 || s.cookie.empty()) {
    return MakeError(ErrorCode::kInternal, "password sign-in failed: " + Describe(res));
  }
  auto csrf = CsrfOf(node.port, s.cookie);
  if (!csrf.ok()) return std::move(csrf).error();
  s.csrf = *csrf;
  return s;
}

Result<BrowserSession> RemoteSession(const PeerNode& home, const PeerNode& at,
                                     const TestMember& member, const BrowserSession& home_session) {
  std::string callback, last;
  const bool registered = WaitFor(
      [&] {
        auto start = GetWithCookie(
            at.port, "/sign-in/organisation?node=" + FormValue(member.address) + "&next=%2F", "");
        last = "start: " + Describe(start);
        if (!start.ok() || start->status != 302) return false;
        const std::string at_home = TargetAt(home, start->Header("location"));
        if (at_home.empty()) return false;
        auto answer = GetWithCookie(home.port, at_home, "kith_session=" + home_session.cookie);
        last += "\nat home: " + Describe(answer);
        if (!answer.ok() || answer->status != 302) return false;
        callback = TargetAt(at, answer->Header("location"));
        return !callback.empty();
      },
      std::chrono::seconds(20));
  if (!registered) return MakeError(ErrorCode::kInternal, "no sign-in through home: " + last);
  auto done = GetWithCookie(at.port, callback, "");
  if (!done.ok()) return std::move(done).error();
  BrowserSession s;
  s.port = at.port;
  s.cookie = CookieValue(done->Header("set-cookie"), "kith_session");
  if (done->status != 303 || s.cookie.empty()) {
    return MakeError(ErrorCode::kInternal, "callback: " + Describe(done));
  }
  auto csrf = CsrfOf(at.port, s.cookie);
  if (!csrf.ok()) return std::move(csrf).error();
  s.csrf = *csrf;
  return s;
}

}  // namespace kith::testing
