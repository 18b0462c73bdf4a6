#include "identity/jws.h"

namespace kith::identity {
namespace {

Error BadJws(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message), "invalid_jws");
}

Error BadToken(std::string message) {
  return MakeError(ErrorCode::kUnauthenticated, std::move(message), "invalid_token");
}

Result<std::string> Sign(const SigningKey& key, std::string header_b64, std::string_view payload) {
  std::string input = std::move(header_b64);
  input += '.';
  input += Base64UrlEncode(payload);
  auto sig = key.Sign(input);
  if (!sig.ok()) return sig.error();
  input += '.';
  input += Base64UrlEncode(*sig);
  return input;
}

}  // namespace

Result<std::string> SignJws(const SigningKey& key, std::string_view payload, std::string_view typ) {
  nlohmann::json header{{"alg", JwsAlgorithmName(key.algorithm())}, {"kid", key.kid()}};
  if (!typ.empty()) header["typ"] = typ;
  return Sign(key, Base64UrlEncode(header.dump()), payload);
}

Result<std::string> SignJwsWithHeader(const SigningKey& key, std::string_view header_json,
                                      std::string_view payload) {
  nlohmann::json header = nlohmann::json::parse(header_json, nullptr, false);
  if (header.is_discarded() || !header.is_object())
    return BadJws("the JWS header must be a JSON object");
  if (!header.contains("alg") || header["alg"] != JwsAlgorithmName(key.algorithm()))
    return BadJws("the JWS header \"alg\" does not match the key");
  return Sign(key, Base64UrlEncode(header_json), payload);
}

Result<Jws> ParseJws(std::string_view compact) {
  if (compact.size() > kMaxJwsBytes) return BadJws("the JWS is larger than 64 KiB");
  const size_t dot1 = compact.find('.');
  if (dot1 == std::string_view::npos) return BadJws("a compact JWS has three parts");
  const size_t dot2 = compact.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || compact.find('.', dot2 + 1) != std::string_view::npos)
    return BadJws("a compact JWS has three parts");
  auto header_bytes = Base64UrlDecode(compact.substr(0, dot1));
  if (!header_bytes.ok()) return BadJws("the JWS header is not base64url");
  auto payload = Base64UrlDecode(compact.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!payload.ok()) return BadJws("the JWS payload is not base64url");
  auto signature = Base64UrlDecode(compact.substr(dot2 + 1));
  if (!signature.ok()) return BadJws("the JWS signature is not base64url");

  Jws jws;
  jws.header = nlohmann::json::parse(header_bytes->begin(), header_bytes->end(), nullptr, false);
  if (jws.header.is_discarded() || !jws.header.is_object())
    return BadJws("the JWS header is not a JSON object");
  auto alg = jws.header.find("alg");
  if (alg == jws.header.end() || !alg->is_string()) return BadJws("the JWS header has no \"alg\"");
  auto parsed = ParseJwsAlgorithm(alg->get<std::string>());
  if (!parsed.ok()) return BadJws(parsed.error().message);
  jws.algorithm = *parsed;
  if (jws.header.contains("crit")) return BadJws("JWS \"crit\" headers are not supported");
  if (auto kid = jws.header.find("kid"); kid != jws.header.end()) {
    if (!kid->is_string()) return BadJws("the JWS header \"kid\" must be a string");
    jws.kid = kid->get<std::string>();
  }
  jws.payload.assign(payload->begin(), payload->end());
  jws.signing_input = std::string(compact.substr(0, dot2));
  jws.signature = std::move(signature).value();
  return jws;
}

Status VerifyJws(const Jws& jws, const PublicJwk& key) {
  if (!key.Supports(jws.algorithm))
    return MakeError(
        ErrorCode::kUnauthenticated,
        "key " + key.kid() + " cannot verify " + std::string(JwsAlgorithmName(jws.algorithm)),
        "unknown_key");
  return key.Verify(jws.algorithm, jws.signing_input, jws.signature);
}

Result<Jws> VerifyJwsWithKeys(std::string_view compact, const std::vector<PublicJwk>& keys) {
  auto jws = ParseJws(compact);
  if (!jws.ok()) return jws.error();
  bool tried = false;
  for (const auto& key : keys) {
    if (!jws->kid.empty() && key.kid() != jws->kid) continue;
    if (!key.Supports(jws->algorithm)) continue;
    tried = true;
    if (key.Verify(jws->algorithm, jws->signing_input, jws->signature).ok()) return jws;
  }
  if (!tried)
    return MakeError(
        ErrorCode::kUnauthenticated,
        "no known key " +
            (jws->kid.empty() ? std::string() : "\"" + jws->kid.substr(0, 64) + "\" ") + "for " +
            std::string(JwsAlgorithmName(jws->algorithm)),
        "unknown_key");
  return MakeError(ErrorCode::kUnauthenticated, "JWS signature does not verify",
                   "invalid_signature");
}

Result<nlohmann::json> ParseJwtClaims(std::string_view payload) {
  auto claims = nlohmann::json::parse(payload, nullptr, false);
  if (claims.is_discarded() || !claims.is_object())
    return MakeError(ErrorCode::kInvalidArgument, "the JWT payload is not a JSON object",
                     "invalid_token");
  return claims;
}

Status CheckJwtClaims(const nlohmann::json& claims, const JwtExpectations& expect,
                      const Clock& clock) {
  const int64_t now = clock.UnixSeconds();
  const int64_t leeway = expect.leeway.count();
  auto number = [&](const char* name) -> Result<std::optional<int64_t>> {
    auto it = claims.find(name);
    if (it == claims.end()) return std::optional<int64_t>();
    if (!it->is_number())
      return BadToken(std::string("JWT claim \"") + name + "\" is not a number");
    return std::optional<int64_t>(static_cast<int64_t>(it->get<double>()));
  };
  if (!expect.issuer.empty()) {
    auto iss = claims.find("iss");
    if (iss == claims.end() || !iss->is_string() || *iss != expect.issuer)
      return BadToken("JWT claim \"iss\" does not name the expected issuer");
  }
  if (!expect.audience.empty()) {
    auto aud = claims.find("aud");
    bool found = false;
    if (aud != claims.end() && aud->is_string()) found = *aud == expect.audience;
    if (aud != claims.end() && aud->is_array())
      for (const auto& a : *aud) found = found || (a.is_string() && a == expect.audience);
    if (!found) return BadToken("JWT claim \"aud\" does not include the expected audience");
  }
  auto exp = number("exp");
  if (!exp.ok()) return exp.error();
  if (!exp->has_value() && expect.require_exp) return BadToken("JWT claim \"exp\" is missing");
  if (exp->has_value()) {
    if (now > **exp + leeway) return BadToken("JWT claim \"exp\": the token has expired");
    if (expect.max_lifetime && **exp - now > expect.max_lifetime->count() + leeway)
      return BadToken("JWT claim \"exp\" is too far in the future");
  }
  auto nbf = number("nbf");
  if (!nbf.ok()) return nbf.error();
  if (nbf->has_value() && now + leeway < **nbf)
    return BadToken("JWT claim \"nbf\": the token is not valid yet");
  auto iat = number("iat");
  if (!iat.ok()) return iat.error();
  if (iat->has_value() && **iat > now + leeway)
    return BadToken("JWT claim \"iat\" is in the future");
  if (expect.max_age) {
    if (!iat->has_value()) return BadToken("JWT claim \"iat\" is missing");
    if (now - **iat > expect.max_age->count() + leeway)
      return BadToken("JWT claim \"iat\": the token is too old");
  }
  return OkStatus();
}

}  // namespace kith::identity
