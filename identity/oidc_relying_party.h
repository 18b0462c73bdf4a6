// The relying-party side of "one login across nodes" (issue 6), without any HTTP: node B
// signing a visitor in through the OpenID Connect provider of their home node A.
//
//   * RpAuthRequest: state, nonce and PKCE (S256) of one authorization request, and the
//     authorization URL that carries them. RpPendingRequests keeps them server-side, in
//     memory, for a short time, and hands each out once (Take), so a replayed or forged
//     callback finds nothing.
//   * ClientAssertion: the private_key_jwt client assertion (RFC 7523, OIDC Core §9) B signs
//     with its node key (EdDSA): iss = sub = B's base URL (its client id at A), aud = A's token
//     endpoint, a random jti, iat, exp = iat + lifetime (short).
//   * VerifyIdToken: signature (against A's keys), iss, aud, azp, exp/iat, nonce; and the
//     remote member's address from the claims (preferred_username + A's domain).
//
// Thread-safety: free functions are pure; RpPendingRequests is internally locked.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "identity/jwk.h"
#include "storage/clock.h"
#include "storage/result.h"

namespace kith::identity {

// One authorization request in flight from this node (the RP) to a peer's provider.
struct RpAuthRequest {
  std::string issuer;         // the peer's issuer (its base URL)
  std::string state;          // 256 random bits, base64url
  std::string nonce;          // 256 random bits, base64url
  std::string code_verifier;  // 256 random bits, base64url (43 characters)
  std::string redirect_uri;   // this node's <base>/sign-in/callback
  std::string return_to;      // a local path to go to once signed in ("/" by default)
  bool prompt_none = false;   // tried silently first; on login_required retry interactively
  int64_t created_at = 0;     // unix seconds

  // The S256 challenge of code_verifier.
  std::string CodeChallenge() const;
};

// A fresh request with random state, nonce and verifier.
RpAuthRequest NewRpAuthRequest(std::string issuer, std::string redirect_uri, bool prompt_none,
                               std::string return_to, const Clock& clock);

// The authorization endpoint URL for `request`: response_type=code, client_id, redirect_uri,
// scope "openid profile", state, nonce, code_challenge (+ method S256), prompt=none when asked,
// login_hint when not empty. kInvalidArgument when `authorization_endpoint` is not an absolute
// http(s) URL.
Result<std::string> RpAuthorizationUrl(std::string_view authorization_endpoint,
                                       std::string_view client_id, const RpAuthRequest& request,
                                       std::string_view login_hint = {});

// The pending requests of this node, by state. Bounded (oldest dropped first) and short-lived.
class RpPendingRequests {
 public:
  explicit RpPendingRequests(const Clock& clock,
                             std::chrono::seconds ttl = std::chrono::minutes(10),
                             size_t capacity = 10000)
      : clock_(clock), ttl_(ttl), capacity_(capacity) {}

  // Keeps `request` under its state.
  void Put(RpAuthRequest request);

  // Removes and returns the request for `state`; nullopt when unknown, already taken or
  // older than the ttl. One-time: a second Take of the same state finds nothing.
  std::optional<RpAuthRequest> Take(std::string_view state);

  size_t size() const;

 private:
  void DropExpiredLocked(int64_t now);
  const Clock& clock_;
  std::chrono::seconds ttl_;
  size_t capacity_;
  mutable std::mutex mu_;
  std::map<std::string, RpAuthRequest, std::less<>> by_state_;  // guarded by mu_
  std::multimap<int64_t, std::string> by_time_;                 // guarded by mu_
};

// A private_key_jwt client assertion signed by `key`: header {alg, kid, typ:"JWT"}, claims
// iss = sub = client_id, aud = audience, jti (random), iat = now, exp = now + lifetime.
Result<std::string> ClientAssertion(const SigningKey& key, std::string_view client_id,
                                    std::string_view audience, const Clock& clock,
                                    std::chrono::seconds lifetime = std::chrono::seconds(60));

// The application/x-www-form-urlencoded token request (grant_type=authorization_code) with
// private_key_jwt client authentication.
std::string RpTokenRequestBody(std::string_view code, std::string_view redirect_uri,
                               std::string_view code_verifier, std::string_view client_id,
                               std::string_view client_assertion);

// What B learns from a verified ID token.
struct RemoteIdentity {
  std::string issuer;  // iss
  std::string sub;
  std::string handle;   // preferred_username, lower-case
  std::string address;  // handle@<issuer's domain>
  std::string name;
  std::string organisation;
  int64_t auth_time = 0;  // 0 when absent
  std::string sid;        // the provider session, for back-channel logout; empty when absent
};

// The domain of a base URL, as member addresses use it: the host with its port when it has
// one ("https://a.example" -> "a.example", "http://127.0.0.1:8402" -> "127.0.0.1:8402").
// kInvalidArgument for anything that is not an absolute http(s) URL without user info.
Result<std::string> DomainOfBaseUrl(std::string_view base_url);

// Verifies an ID token from `issuer` for `client_id`: the JWS signature with one of `keys`
// (by kid), iss == issuer, aud contains client_id (and azp, when present, equals it), exp in
// the future (60 s leeway), iat not older than `max_age`, nonce == expected_nonce, sub present.
// Fills issuer, sub, auth_time, sid (when a string of 1-255 characters), and the profile when the
// token carries preferred_username (else call MergeProfile with the UserInfo answer).
// kUnauthenticated (reason "invalid_id_token") with a message naming what failed.
Result<RemoteIdentity> VerifyIdToken(std::string_view id_token, const std::vector<PublicJwk>& keys,
                                     std::string_view issuer, std::string_view client_id,
                                     std::string_view expected_nonce, const Clock& clock,
                                     std::chrono::seconds max_age = std::chrono::minutes(10));

// Fills handle, address, name and organisation of `identity` from UserInfo (or ID token)
// claims: sub must equal identity.sub (OIDC Core §5.3.2); preferred_username is "handle" or
// "handle@<issuer's domain>" with a valid handle. kUnauthenticated ("invalid_id_token").
Status MergeProfile(RemoteIdentity& identity, const nlohmann::json& claims);

}  // namespace kith::identity
