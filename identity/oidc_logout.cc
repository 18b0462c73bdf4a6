#include "identity/oidc_logout.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "identity/jws.h"

namespace kith::identity {
namespace {

constexpr size_t kMaxSubjectBytes = 255;
constexpr size_t kMaxJtiBytes = 256;

Error LogoutError(std::string message, std::string reason = "invalid_logout_token") {
  return MakeError(ErrorCode::kInvalidArgument, "logout token: " + std::move(message),
                   std::move(reason));
}

// A string claim of 1..max bytes, or nullopt when absent; an error when present but wrong.
Result<std::optional<std::string>> OptionalString(const nlohmann::json& claims, const char* name,
                                                  size_t max) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::optional<std::string>();
  if (!it->is_string() || it->get_ref<const std::string&>().empty() ||
      it->get_ref<const std::string&>().size() > max)
    return LogoutError(std::string(name) + " must be a string of 1-" + std::to_string(max) +
                       " characters");
  return std::optional<std::string>(it->get<std::string>());
}

}  // namespace

Result<std::string> BuildLogoutToken(const SigningKey& key, std::string_view issuer,
                                     std::string_view audience, std::string_view sub,
                                     std::string_view sid, const Clock& clock,
                                     std::chrono::seconds lifetime) {
  if (sub.empty() && sid.empty())
    return MakeError(ErrorCode::kInvalidArgument, "a logout token needs a sub or a sid");
  const int64_t now = clock.UnixSeconds();
  nlohmann::json claims = {
      {"iss", issuer},
      {"aud", audience},
      {"iat", now},
      {"exp", now + lifetime.count()},
      {"jti", RandomBase64Url(18)},
      {"events", {{std::string(kBackchannelLogoutEvent), nlohmann::json::object()}}},
  };
  if (!sub.empty()) claims["sub"] = sub;
  if (!sid.empty()) claims["sid"] = sid;
  return SignJws(key, claims.dump(), kLogoutTokenType);
}

Result<std::string> PeekLogoutTokenIssuer(std::string_view token) {
  auto jws = ParseJws(token);
  if (!jws.ok()) return LogoutError("not a signed JWT", "invalid_request");
  auto claims = ParseJwtClaims(jws->payload);
  if (!claims.ok()) return LogoutError("the claims are not a JSON object", "invalid_request");
  auto iss = claims->find("iss");
  if (iss == claims->end() || !iss->is_string() || iss->get_ref<const std::string&>().empty())
    return LogoutError("iss is missing", "invalid_request");
  return iss->get<std::string>();
}

Result<VerifiedLogout> VerifyLogoutToken(std::string_view token, const std::vector<PublicJwk>& keys,
                                         std::string_view issuer, std::string_view audience,
                                         const Clock& clock, std::chrono::seconds max_age) {
  auto parsed = ParseJws(token);
  if (!parsed.ok()) return LogoutError("not a signed JWT: " + parsed.error().message);
  // Explicit typing (§2.4): an ID token or another JWT of the issuer cannot pass for a logout
  // token. Tokens without typ are accepted for providers that do not set it.
  if (auto typ = parsed->header.find("typ"); typ != parsed->header.end()) {
    if (!typ->is_string() || (*typ != kLogoutTokenType && *typ != "application/logout+jwt"))
      return LogoutError("typ is not logout+jwt");
  }
  auto jws = VerifyJwsWithKeys(token, keys);
  if (!jws.ok()) {
    return LogoutError(jws.error().message, jws.error().Name() == "unknown_key"
                                                ? "unknown_key"
                                                : "invalid_logout_token");
  }
  auto claims = ParseJwtClaims(jws->payload);
  if (!claims.ok()) return LogoutError("the claims are not a JSON object");
  JwtExpectations expect;
  expect.issuer = std::string(issuer);
  expect.audience = std::string(audience);
  expect.max_age = max_age;
  expect.max_lifetime = max_age;
  Status checked = CheckJwtClaims(*claims, expect, clock);
  if (!checked.ok()) return LogoutError(checked.error().message);
  if (claims->contains("nonce")) return LogoutError("a nonce is present (§2.4 forbids one)");
  auto events = claims->find("events");
  if (events == claims->end() || !events->is_object())
    return LogoutError("the events claim is missing");
  auto event = events->find(std::string(kBackchannelLogoutEvent));
  if (event == events->end() || !event->is_object())
    return LogoutError("the events claim lacks the back-channel logout event");
  VerifiedLogout out;
  out.issuer = std::string(issuer);
  auto sub = OptionalString(*claims, "sub", kMaxSubjectBytes);
  if (!sub.ok()) return sub.error();
  auto sid = OptionalString(*claims, "sid", kMaxSubjectBytes);
  if (!sid.ok()) return sid.error();
  if (!*sub && !*sid) return LogoutError("neither sub nor sid is present");
  out.sub = sub->value_or("");
  out.sid = sid->value_or("");
  auto jti = OptionalString(*claims, "jti", kMaxJtiBytes);
  if (!jti.ok()) return jti.error();
  if (!*jti) return LogoutError("jti is missing");
  out.jti = **jti;
  const auto& exp = (*claims)["exp"];
  out.expires_at = static_cast<int64_t>(exp.get<double>());
  return out;
}

}  // namespace kith::identity
