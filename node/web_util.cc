#include "node/web_util.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

namespace kith::node {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

void SetPageHeaders(Response& res) {
  res.set(http::field::content_type, "text/html; charset=utf-8");
  // Pages load only their own stylesheet, fonts and images; no scripts, no frames, forms post
  // only to this node (the OIDC redirect after a form is a 302, which form-action also covers:
  // browsers follow it, so redirect targets are not restricted here).
  res.set("Content-Security-Policy",
          "default-src 'none'; style-src 'self'; img-src 'self'; font-src 'self'; "
          "base-uri 'none'; frame-ancestors 'none'");
  res.set("X-Frame-Options", "DENY");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.set(http::field::cache_control, "no-store");
}

}  // namespace

Result<identity::OidcParams> ParseForm(std::string_view encoded) {
  identity::OidcParams params;
  while (!encoded.empty()) {
    size_t amp = encoded.find('&');
    std::string_view pair = encoded.substr(0, amp);
    encoded = amp == std::string_view::npos ? std::string_view{} : encoded.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view raw_name = pair.substr(0, eq);
    std::string_view raw_value = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    auto name = PercentDecode(raw_name, /*plus_is_space=*/true);
    auto value = PercentDecode(raw_value, /*plus_is_space=*/true);
    if (!name || !value) {
      return MakeError(ErrorCode::kInvalidArgument, "malformed form encoding");
    }
    if (params.values.count(*name)) {
      if (std::find(params.duplicates.begin(), params.duplicates.end(), *name) ==
          params.duplicates.end()) {
        params.duplicates.push_back(*name);
      }
      continue;
    }
    params.values.emplace(std::move(*name), std::move(*value));
  }
  return params;
}

Result<identity::OidcParams> RequestForm(const RequestContext& ctx) {
  auto it = ctx.request.find(http::field::content_type);
  std::string_view type;
  if (it != ctx.request.end()) type = {it->value().data(), it->value().size()};
  type = Trim(type.substr(0, type.find(';')));
  if (!IEquals(type, "application/x-www-form-urlencoded")) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "expected a form (Content-Type: application/x-www-form-urlencoded)");
  }
  return ParseForm(ctx.request.body());
}

std::string FormEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::optional<std::string> GetCookie(const Request& request, std::string_view name) {
  for (auto it = request.find(http::field::cookie);
       it != request.end() && it->name() == http::field::cookie; ++it) {
    std::string_view header{it->value().data(), it->value().size()};
    while (!header.empty()) {
      size_t semi = header.find(';');
      std::string_view pair = Trim(header.substr(0, semi));
      header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
      size_t eq = pair.find('=');
      if (eq == std::string_view::npos) continue;
      if (Trim(pair.substr(0, eq)) != name) continue;
      std::string_view value = Trim(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return std::string(value);
    }
  }
  return std::nullopt;
}

std::string CookieHeader(std::string_view name, std::string_view value, bool secure,
                         long max_age_seconds) {
  std::string out;
  out.append(name).append("=").append(value).append("; Path=/; HttpOnly; SameSite=Lax");
  if (secure) out += "; Secure";
  if (max_age_seconds >= 0) out += "; Max-Age=" + std::to_string(max_age_seconds);
  return out;
}

bool SecureCookies(const WebContext& context) {
  return context.config != nullptr && context.config->node.base_url.rfind("https://", 0) == 0;
}

std::string ClientAddress(const RequestContext& ctx) {
  std::string_view a = ctx.remote_address;
  if (!a.empty() && a.front() == '[') {
    size_t close = a.find(']');
    return std::string(close == std::string_view::npos ? a.substr(1) : a.substr(1, close - 1));
  }
  size_t colon = a.rfind(':');
  if (colon != std::string_view::npos && a.find(':') == colon) a = a.substr(0, colon);
  return std::string(a);
}

std::optional<identity::Session> CurrentSession(const WebContext& context,
                                                const RequestContext& ctx) {
  auto token = GetCookie(ctx.request, kSessionCookie);
  if (!token || token->empty() || context.sessions == nullptr) return std::nullopt;
  auto session = context.sessions->Authenticate(*token);
  if (!session.ok()) return std::nullopt;
  return std::move(session).value();
}

Response SeeOther(std::string_view location) {
  Response res{http::status::see_other, 11};
  res.set(http::field::location, location);
  res.set(http::field::cache_control, "no-store");
  return res;
}

Response Found(std::string_view location) {
  Response res{http::status::found, 11};
  res.set(http::field::location, location);
  res.set(http::field::cache_control, "no-store");
  return res;
}

Response HtmlPage(const WebContext& context, http::status status, std::string_view template_name,
                  nlohmann::json data, const identity::Session* session) {
  if (!data.is_object()) data = nlohmann::json::object();
  if (context.config != nullptr) {
    data["node"] = {{"name", context.config->node.name},
                    {"organisation", context.config->node.organisation},
                    {"base_url", context.config->node.base_url}};
    if (!data.contains("page_title")) data["page_title"] = context.config->node.name;
  }
  if (session != nullptr) {
    data["csrf_token"] = session->csrf_token;
    if (!data.contains("member") && context.members != nullptr) {
      auto member = context.members->GetById(session->member_id);
      if (member.ok()) {
        data["member"] = {{"handle", member->handle}, {"display_name", member->display_name}};
      }
    }
  }
  Response res{status, 11};
  SetPageHeaders(res);
  auto html = context.templates == nullptr
                  ? Result<std::string>(MakeError(ErrorCode::kInternal, "no templates loaded"))
                  : context.templates->RenderPage(template_name, data);
  if (!html.ok()) {
    spdlog::error("page {}: {}", template_name, html.error().message);
    res.result(http::status::internal_server_error);
    res.body() =
        "<!DOCTYPE html><html lang=\"en\"><head><title>Sorry, there is a problem</title></head>"
        "<body><h1>Sorry, there is a problem with the service</h1></body></html>";
    return res;
  }
  res.body() = std::move(html).value();
  return res;
}

Response ErrorPage(const WebContext& context, http::status status, std::string_view title,
                   std::string_view message, const identity::Session* session) {
  nlohmann::json data = {{"title", title}, {"message", message}, {"page_title", title}};
  return HtmlPage(context, status, "error", std::move(data), session);
}

namespace {
bool WellFormedToken(std::string_view t) {
  if (t.size() != 43) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}
}  // namespace

std::string EnsureCsrfCookie(const WebContext& context, const RequestContext& ctx,
                             Response& response) {
  auto existing = GetCookie(ctx.request, kCsrfCookie);
  if (existing && WellFormedToken(*existing)) return *existing;
  uint8_t bytes[32];
  randombytes_buf(bytes, sizeof bytes);
  char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(b64, sizeof b64, bytes, sizeof bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  std::string token(b64);
  response.insert(http::field::set_cookie,
                  CookieHeader(kCsrfCookie, token, SecureCookies(context), -1));
  return token;
}

bool CheckCsrfCookie(const RequestContext& ctx, std::string_view submitted) {
  auto cookie = GetCookie(ctx.request, kCsrfCookie);
  if (!cookie || !WellFormedToken(*cookie) || cookie->size() != submitted.size()) return false;
  return sodium_memcmp(cookie->data(), submitted.data(), submitted.size()) == 0;
}

bool IsLocalPath(std::string_view next) {
  if (next.empty() || next.front() != '/') return false;
  if (next.size() > 1 && (next[1] == '/' || next[1] == '\\')) return false;
  for (unsigned char c : next) {
    if (c < 0x20 || c == 0x7f || c == '\\') return false;
  }
  return next.size() <= 2000;
}

}  // namespace kith::node
