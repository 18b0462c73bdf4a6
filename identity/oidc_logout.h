// Logout tokens of OpenID Connect Back-Channel Logout 1.0 ("sign out everywhere", issue 6).
//
// The provider (a member's home node A) signs one logout token per relying party where it
// started a session for the member, and POSTs it form-encoded (`logout_token=...`) to the
// client's back-channel logout endpoint; a kith peer's is <peer>/sign-in/backchannel-logout.
//
// A logout token is a JWT with header {alg, kid, typ: "logout+jwt"} and the claims iss, aud
// (the client id), iat, exp (short: two minutes), jti (random), events
// {"http://schemas.openid.net/event/backchannel-logout": {}}, and sub and/or sid. It never
// carries a nonce (so that it cannot pass for an ID token, and an ID token not for it).
//
// The relying party (node B) verifies with VerifyLogoutToken, refuses a jti it has accepted
// before (kept in logout_token_jtis by SessionStore::EndRemoteByLogout until exp), then ends
// the sessions the token names: the one with that sid, or every session of sub.
//
// Thread-safety: free functions over immutable inputs.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "identity/jwk.h"
#include "storage/clock.h"
#include "storage/result.h"

namespace kith::identity {

// The event a logout token carries, and its media type (header typ).
inline constexpr std::string_view kBackchannelLogoutEvent =
    "http://schemas.openid.net/event/backchannel-logout";
inline constexpr std::string_view kLogoutTokenType = "logout+jwt";

// How long a logout token lives (exp - iat), and how old (iat) a verifier accepts one.
inline constexpr std::chrono::seconds kLogoutTokenLifetime{120};

// Signs a logout token for `audience` (the client id) from `issuer` about `sub` and/or `sid`
// (an empty one is left out). kInvalidArgument when both are empty.
Result<std::string> BuildLogoutToken(const SigningKey& key, std::string_view issuer,
                                     std::string_view audience, std::string_view sub,
                                     std::string_view sid, const Clock& clock,
                                     std::chrono::seconds lifetime = kLogoutTokenLifetime);

// The "iss" of a logout token, read WITHOUT verifying anything: only to choose whose keys to
// verify it with. kInvalidArgument (reason "invalid_request") when it is no JWT or has no iss.
Result<std::string> PeekLogoutTokenIssuer(std::string_view token);

// What a verified logout token says.
struct VerifiedLogout {
  std::string issuer;
  std::string sub;  // empty when the token names only a sid
  std::string sid;  // empty when the token names only a sub
  std::string jti;
  int64_t expires_at = 0;  // exp: keep the jti until then
};

// Verifies a logout token (Back-Channel Logout 1.0 §2.6): typ, when present, is logout+jwt;
// the signature with one of `keys` (by kid); iss == issuer; aud contains audience; exp in the
// future and iat not older than `max_age` (60 s leeway each); the events claim is an object
// holding the back-channel logout event as an object; no nonce; sub or sid (strings of 1-255
// characters); a jti of 1-256 characters. The jti's freshness is the caller's (a database).
// kInvalidArgument with reason "unknown_key" when no key has the token's kid (fetch the JWKS
// again and retry once), otherwise reason "invalid_logout_token"; the message names the
// check that failed.
Result<VerifiedLogout> VerifyLogoutToken(std::string_view token, const std::vector<PublicJwk>& keys,
                                         std::string_view issuer, std::string_view audience,
                                         const Clock& clock,
                                         std::chrono::seconds max_age = kLogoutTokenLifetime);

}  // namespace kith::identity
