// Compact JWS (RFC 7515) signing and verification, and JWT (RFC 7519) claim checks.
//
// Signing: SignJws puts {"alg","kid","typ"} in the protected header; SignJwsWithHeader signs
// an exact header text (for test vectors). Verification: ParseJws splits and decodes without
// trusting anything; VerifyJws checks the signature with one key, VerifyJwsWithKeys picks the
// key by "kid" (or tries every key fitting the algorithm when the header has no kid).
// "alg":"none", unknown algorithms, "crit" headers and oversized input are refused.
//
// Thread-safety: free functions over immutable inputs; safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "identity/jwk.h"
#include "storage/clock.h"
#include "storage/result.h"

namespace kith::identity {

// Compact serialisations longer than this are refused before any parsing.
inline constexpr size_t kMaxJwsBytes = 64 * 1024;

// A parsed compact JWS. `signing_input` is "<header b64>.<payload b64>".
struct Jws {
  nlohmann::json header;
  JwsAlgorithm algorithm = JwsAlgorithm::kRS256;
  std::string kid;  // empty when the header has none
  std::string payload;
  std::string signing_input;
  std::vector<uint8_t> signature;
};

// Signs `payload` with a header {"alg":key.algorithm(),"kid":key.kid(),"typ":typ} (typ omitted
// when empty). Returns the compact serialisation.
Result<std::string> SignJws(const SigningKey& key, std::string_view payload,
                            std::string_view typ = "JWT");

// Signs `payload` under an exact protected header text, which must be a JSON object whose
// "alg" matches the key. For test vectors and callers that need extra header members.
Result<std::string> SignJwsWithHeader(const SigningKey& key, std::string_view header_json,
                                      std::string_view payload);

// Splits and decodes a compact JWS. kInvalidArgument (reason "invalid_jws") for a malformed
// token, an unsupported alg (including "none") or a "crit" header. Verifies nothing.
Result<Jws> ParseJws(std::string_view compact);

// Verifies `jws` with `key`. kUnauthenticated when the signature does not verify or the key
// does not fit the algorithm.
Status VerifyJws(const Jws& jws, const PublicJwk& key);

// Parses and verifies with the key named by the header's kid among `keys` (or, without a kid,
// any key supporting the algorithm). kUnauthenticated with reason "unknown_key" when no key
// fits, "invalid_signature" when it does not verify.
Result<Jws> VerifyJwsWithKeys(std::string_view compact, const std::vector<PublicJwk>& keys);

// What CheckJwtClaims requires. Empty strings / nullopt disable a check.
struct JwtExpectations {
  std::string issuer;                                // "iss" must equal this
  std::string audience;                              // "aud" (string or array) must contain this
  std::chrono::seconds leeway{60};                   // allowed clock skew for exp/nbf/iat
  bool require_exp = true;                           // "exp" must be present
  std::optional<std::chrono::seconds> max_age;       // "iat" no older than this
  std::optional<std::chrono::seconds> max_lifetime;  // exp - now no larger than this
};

// Parses a JWT payload as a JSON object (kInvalidArgument when it is not one).
Result<nlohmann::json> ParseJwtClaims(std::string_view payload);

// Checks iss, aud, exp, nbf and iat against `clock`. kUnauthenticated with reason
// "invalid_token" and a message naming the claim on failure.
Status CheckJwtClaims(const nlohmann::json& claims, const JwtExpectations& expect,
                      const Clock& clock);

}  // namespace kith::identity
