#include "identity/oidc_relying_party.h"

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <utility>

#include "identity/jws.h"
#include "identity/member.h"
#include "identity/oidc_provider.h"

namespace kith::identity {
namespace {

constexpr size_t kRandomBytes = 32;

Error IdTokenError(std::string message) {
  return MakeError(ErrorCode::kUnauthenticated, "ID token: " + std::move(message),
                   "invalid_id_token");
}

bool IsUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

std::string FormValue(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (IsUnreserved(c)) {
      out.push_back(c);
    } else {
      const auto u = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

std::optional<std::string> StringClaim(const nlohmann::json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

}  // namespace

std::string RpAuthRequest::CodeChallenge() const { return PkceChallenge(code_verifier); }

RpAuthRequest NewRpAuthRequest(std::string issuer, std::string redirect_uri, bool prompt_none,
                               std::string return_to, const Clock& clock) {
  RpAuthRequest r;
  r.issuer = std::move(issuer);
  r.state = RandomBase64Url(kRandomBytes);
  r.nonce = RandomBase64Url(kRandomBytes);
  r.code_verifier = RandomBase64Url(kRandomBytes);
  r.redirect_uri = std::move(redirect_uri);
  r.return_to = return_to.empty() ? "/" : std::move(return_to);
  r.prompt_none = prompt_none;
  r.created_at = clock.UnixSeconds();
  return r;
}

Result<std::string> RpAuthorizationUrl(std::string_view authorization_endpoint,
                                       std::string_view client_id, const RpAuthRequest& request,
                                       std::string_view login_hint) {
  auto parsed = boost::urls::parse_absolute_uri(authorization_endpoint);
  if (!parsed || (parsed->scheme() != "https" && parsed->scheme() != "http"))
    return MakeError(ErrorCode::kInvalidArgument,
                     "the authorization endpoint is not an absolute http(s) URL");
  boost::urls::url url(*parsed);
  auto params = url.params();
  params.append({"response_type", "code"});
  params.append({"client_id", client_id});
  params.append({"redirect_uri", request.redirect_uri});
  params.append({"scope", "openid profile"});
  params.append({"state", request.state});
  params.append({"nonce", request.nonce});
  params.append({"code_challenge", request.CodeChallenge()});
  params.append({"code_challenge_method", "S256"});
  if (request.prompt_none) params.append({"prompt", "none"});
  if (!login_hint.empty()) params.append({"login_hint", login_hint});
  return std::string(url.buffer());
}

void RpPendingRequests::DropExpiredLocked(int64_t now) {
  const int64_t cutoff = now - ttl_.count();
  while (!by_time_.empty() && (by_time_.begin()->first < cutoff || by_time_.size() > capacity_)) {
    by_state_.erase(by_time_.begin()->second);
    by_time_.erase(by_time_.begin());
  }
}

void RpPendingRequests::Put(RpAuthRequest request) {
  std::lock_guard lock(mu_);
  const int64_t now = clock_.UnixSeconds();
  by_time_.emplace(request.created_at, request.state);
  std::string state = request.state;
  by_state_[std::move(state)] = std::move(request);
  DropExpiredLocked(now);
}

std::optional<RpAuthRequest> RpPendingRequests::Take(std::string_view state) {
  std::lock_guard lock(mu_);
  DropExpiredLocked(clock_.UnixSeconds());
  auto it = by_state_.find(state);
  if (it == by_state_.end()) return std::nullopt;
  RpAuthRequest out = std::move(it->second);
  by_state_.erase(it);
  auto [first, last] = by_time_.equal_range(out.created_at);
  for (auto t = first; t != last; ++t) {
    if (t->second == out.state) {
      by_time_.erase(t);
      break;
    }
  }
  if (out.created_at < clock_.UnixSeconds() - ttl_.count()) return std::nullopt;
  return out;
}

size_t RpPendingRequests::size() const {
  std::lock_guard lock(mu_);
  return by_state_.size();
}

Result<std::string> ClientAssertion(const SigningKey& key, std::string_view client_id,
                                    std::string_view audience, const Clock& clock,
                                    std::chrono::seconds lifetime) {
  const int64_t now = clock.UnixSeconds();
  nlohmann::json claims = {{"iss", client_id}, {"sub", client_id},
                           {"aud", audience},  {"jti", RandomBase64Url(18)},
                           {"iat", now},       {"exp", now + lifetime.count()}};
  return SignJws(key, claims.dump());
}

std::string RpTokenRequestBody(std::string_view code, std::string_view redirect_uri,
                               std::string_view code_verifier, std::string_view client_id,
                               std::string_view client_assertion) {
  std::string body = "grant_type=authorization_code&code=" + FormValue(code);
  body += "&redirect_uri=" + FormValue(redirect_uri);
  body += "&code_verifier=" + FormValue(code_verifier);
  body += "&client_id=" + FormValue(client_id);
  body += "&client_assertion_type=" +
          FormValue("urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  body += "&client_assertion=" + FormValue(client_assertion);
  return body;
}

Result<std::string> DomainOfBaseUrl(std::string_view base_url) {
  auto parsed = boost::urls::parse_absolute_uri(base_url);
  if (!parsed || (parsed->scheme() != "https" && parsed->scheme() != "http") ||
      parsed->has_userinfo() || parsed->encoded_host().empty())
    return MakeError(ErrorCode::kInvalidArgument,
                     "not an absolute http(s) base URL: " + std::string(base_url));
  std::string domain(parsed->encoded_host());
  if (parsed->has_port()) domain += ":" + std::string(parsed->port());
  for (char& c : domain) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return domain;
}

Status MergeProfile(RemoteIdentity& identity, const nlohmann::json& claims) {
  auto sub = StringClaim(claims, "sub");
  if (!sub || *sub != identity.sub) return IdTokenError("UserInfo is about another subject");
  auto username = StringClaim(claims, "preferred_username");
  if (!username) return IdTokenError("preferred_username is missing");
  // A kith provider gives "handle@domain"; accept a bare handle too.
  std::string handle = *username;
  auto domain = DomainOfBaseUrl(identity.issuer);
  if (!domain.ok()) return IdTokenError("the issuer is not a base URL");
  if (auto at = handle.find('@'); at != std::string::npos) {
    if (handle.substr(at + 1) != *domain)
      return IdTokenError("preferred_username names another node than the issuer");
    handle.resize(at);
  }
  auto normal = NormalizeHandle(handle);
  if (!normal.ok()) return IdTokenError("preferred_username is not a valid handle");
  identity.handle = *normal;
  identity.address = identity.handle + "@" + *domain;
  identity.name = StringClaim(claims, "name").value_or(identity.handle);
  identity.organisation = StringClaim(claims, "organisation").value_or("");
  return OkStatus();
}

Result<RemoteIdentity> VerifyIdToken(std::string_view id_token, const std::vector<PublicJwk>& keys,
                                     std::string_view issuer, std::string_view client_id,
                                     std::string_view expected_nonce, const Clock& clock,
                                     std::chrono::seconds max_age) {
  auto jws = VerifyJwsWithKeys(id_token, keys);
  if (!jws.ok()) return IdTokenError(jws.error().message);
  auto claims = ParseJwtClaims(jws->payload);
  if (!claims.ok()) return IdTokenError("the claims are not a JSON object");
  JwtExpectations expect;
  expect.issuer = std::string(issuer);
  expect.audience = std::string(client_id);
  expect.max_age = max_age;
  Status checked = CheckJwtClaims(*claims, expect, clock);
  if (!checked.ok()) return IdTokenError(checked.error().message);
  if (auto azp = StringClaim(*claims, "azp"); azp && *azp != client_id)
    return IdTokenError("azp is another client");
  // An aud array naming other parties needs azp (OIDC Core §3.1.3.7, 4-5).
  if (auto aud = claims->find("aud");
      aud != claims->end() && aud->is_array() && aud->size() > 1 && !StringClaim(*claims, "azp"))
    return IdTokenError("several audiences without azp");
  auto nonce = StringClaim(*claims, "nonce");
  if (expected_nonce.empty() || !nonce || *nonce != expected_nonce)
    return IdTokenError("the nonce does not match this sign-in");
  RemoteIdentity out;
  out.issuer = std::string(issuer);
  auto sub = StringClaim(*claims, "sub");
  if (!sub || sub->empty() || sub->size() > 255) return IdTokenError("sub is missing");
  out.sub = *sub;
  // kith providers put the profile in UserInfo, not in the ID token; take it when present.
  if (claims->contains("preferred_username")) KITH_RETURN_IF_ERROR(MergeProfile(out, *claims));
  if (auto t = claims->find("auth_time"); t != claims->end() && t->is_number_integer())
    out.auth_time = t->get<int64_t>();
  if (auto sid = StringClaim(*claims, "sid"); sid && !sid->empty() && sid->size() <= 255)
    out.sid = *sid;
  return out;
}

}  // namespace kith::identity
