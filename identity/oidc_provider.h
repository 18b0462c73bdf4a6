// OidcProvider: the OpenID Connect provider's protocol logic (OIDC Core 1.0, RFC 6749, RFC 7636
// PKCE, RFC 9207 iss, RP-initiated logout), independent of HTTP: the routes in node/ parse the
// request into parameter maps, call these functions and render what they return.
//
// Tokens: codes, access tokens and refresh tokens are opaque 256-bit random strings stored only
// as SHA-256 (like sessions). Opaque access tokens rather than JWTs because the only resource
// server is this node's own UserInfo: a lookup is as cheap as verifying a signature, and an
// opaque token can be revoked at once (family revocation on code or refresh-token reuse, a
// disabled member) where a JWT would stay valid until it expires.
//
// Every successful code exchange starts a token family (oidc_token_families); each rotation of
// the refresh token stays in it. Presenting a used code or a used refresh token revokes the
// whole family: whoever holds the stolen copy and the legitimate client both lose access.
//
// Errors: every failure is an Error whose `reason` is the OAuth/OIDC error code
// ("invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
// "unsupported_grant_type", "unsupported_response_type", "invalid_scope", "login_required",
// "consent_required", "invalid_token") and whose message is the error_description. ErrorCode is
// kUnauthenticated for invalid_client/invalid_token (HTTP 401) and kInvalidArgument otherwise.
//
// Thread-safety: all methods may be called from any thread. Writes follow
// identity/write_result.h (`done` on the writer thread after commit); everything else is
// synchronous on pooled reader connections. The Store, Clock, stores and key-set source must
// outlive the provider.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "identity/member.h"
#include "identity/member_store.h"
#include "identity/oidc_client.h"
#include "identity/oidc_keys.h"
#include "identity/session_store.h"
#include "identity/write_result.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace kith::identity {

// Request parameters as decoded from a query string or form. Repeated parameters are an
// invalid_request (RFC 6749 §3.1), so the routes keep the first and report duplicates in
// `duplicates`.
struct OidcParams {
  std::map<std::string, std::string, std::less<>> values;
  std::vector<std::string> duplicates;

  // The value of `name`, or empty.
  std::string Get(std::string_view name) const;
  bool Has(std::string_view name) const { return values.find(name) != values.end(); }
};

// The scopes kith knows; others are ignored (RFC 6749 §3.3 lets the server narrow scope).
inline constexpr std::string_view kSupportedScopes[] = {"openid", "profile", "email",
                                                        "offline_access"};

// A validated authorization request.
struct AuthorizeRequest {
  OidcClient client;
  std::string redirect_uri;
  std::string scope;  // granted scopes (supported ones only), space-separated, "openid" first
  std::string state;
  std::string nonce;
  std::string code_challenge;  // empty without PKCE
  bool prompt_none = false;
  bool prompt_login = false;
  bool prompt_consent = false;
  std::optional<int64_t> max_age;  // seconds
  std::string login_hint;
  // The provider session the code is issued in (SessionSid of the member's session): set by
  // the route before IssueCode; becomes the ID token's sid. Empty: no sid.
  std::string sid;
};

// The outcome of checking an authorization request. When `request` is absent the client or
// the redirect URI cannot be trusted: show `error` on an error page and never redirect. When
// both are present, `error` goes back to the client at request->redirect_uri.
struct AuthorizeCheck {
  std::optional<AuthorizeRequest> request;
  std::optional<Error> error;
};

// What the authorization endpoint should do next for a checked request.
enum class AuthorizeStep {
  kSignIn,     // show the sign-in page (no session, prompt=login, or max_age exceeded)
  kConsent,    // show the consent page (third-party client without a stored consent)
  kIssueCode,  // issue a code and redirect
  kErrorToRp,  // redirect the error in AuthorizeNext::error (login_required, ...)
};

struct AuthorizeNext {
  AuthorizeStep step = AuthorizeStep::kSignIn;
  std::optional<Error> error;  // for kErrorToRp
};

// What the token endpoint received: the form and the Authorization header (may be empty).
struct TokenRequest {
  OidcParams form;
  std::string authorization_header;
};

// A successful grant, before the ID token is signed (see TokenResponse).
struct TokenGrant {
  OidcClient client;
  Member member;
  std::string scope;
  std::string access_token;
  std::string refresh_token;  // empty when offline_access was not granted
  int64_t expires_in = 0;     // access token lifetime in seconds
  int64_t auth_time = 0;
  std::string nonce;  // empty on refresh or when the request had none
  std::string sid;    // the provider session (empty on refresh or when the code had none)
};

// A relying party to tell that a member signed out everywhere (Back-Channel Logout 1.0).
struct RpLogoutTarget {
  std::string client_id;
  std::string client_name;
  std::string uri;  // the client's backchannel_logout_uri
  JwsAlgorithm alg = JwsAlgorithm::kRS256;
};

// A signed logout token and where to POST it (form-encoded, `logout_token=...`).
struct BackchannelLogout {
  std::string client_id;
  std::string uri;
  std::string logout_token;
};

// Where this provider started a session for a member (an ID token with a sid), for the account
// page.
struct RpSessionInfo {
  std::string client_id;
  std::string client_name;  // empty when the client is no longer registered
  int64_t created_at = 0;
};

// Where RP-initiated logout ends: the validated post-logout redirect (with state), or empty to
// show the node's own "signed out" page.
struct EndSessionTarget {
  std::string redirect_uri;  // already carries ?state=... when state was given
  std::string client_id;     // empty when no client was identified
};

class OidcProvider {
 public:
  struct Options {
    std::string issuer;     // e.g. "https://council-a.example" (no trailing slash)
    std::string node_name;  // e.g. "council-a.example" (for preferred_username, kith_node)
    std::chrono::seconds code_ttl{60};
    std::chrono::seconds access_token_ttl{3600};
    std::chrono::seconds refresh_token_ttl{30 * 24 * 3600};
    std::chrono::seconds id_token_ttl{3600};
    // Client assertions may live at most this long (exp - now) and be this old (iat).
    std::chrono::seconds assertion_max_lifetime{600};
    // How long a session started at a relying party is remembered for "sign out everywhere"
    // (the longest session a kith peer keeps: its absolute timeout).
    std::chrono::seconds rp_session_ttl{30 * 24 * 3600};
  };

  // Delivers logout tokens (federation::PeerSignIn in kithd): must return at once and
  // deliver in the background.
  using LogoutSender = std::function<void(std::vector<BackchannelLogout>)>;

  // `keys` returns the current key snapshot (swapped after a rotation).
  using KeySource = std::function<std::shared_ptr<const OidcKeySet>()>;

  OidcProvider(storage::Store& store, const Clock& clock, MemberStore& members,
               OidcClientStore& clients, KeySource keys, Options options);

  // --- Discovery -------------------------------------------------------------------------
  // The /.well-known/openid-configuration document.
  nlohmann::json DiscoveryDocument() const;
  // The JWKS document (current and retiring RSA keys, the EdDSA key).
  nlohmann::json Jwks() const;
  // Endpoint URLs, from the issuer.
  std::string AuthorizationEndpoint() const { return options_.issuer + "/oidc/authorize"; }
  std::string TokenEndpoint() const { return options_.issuer + "/oidc/token"; }
  std::string UserInfoEndpoint() const { return options_.issuer + "/oidc/userinfo"; }
  std::string JwksUri() const { return options_.issuer + "/oidc/jwks"; }
  std::string EndSessionEndpoint() const { return options_.issuer + "/oidc/end-session"; }

  // --- Authorization endpoint ------------------------------------------------------------
  // Checks an authorization request (GET query or POST form). Unknown parameters are ignored;
  // ui_locales, claims_locales, display, acr_values and login_hint are accepted.
  AuthorizeCheck CheckAuthorize(const OidcParams& params) const;

  // Decides the next step for `request` given the member's session (nullptr: none) and
  // whether the member has just proved their password in this request (then prompt=login and
  // max_age are satisfied) or just consented on the consent page. Reads the consent table for
  // third-party clients.
  AuthorizeNext Next(const AuthorizeRequest& request, const Session* session, bool just_signed_in,
                     bool just_consented = false) const;

  // Records the member's consent to the request's client and scopes (replacing an older one).
  void RecordConsent(int64_t member_id, const std::string& client_id, const std::string& scope,
                     Done<void> done);

  // Whether the member has consented to `client_id` for every scope in `scope`.
  Result<bool> HasConsent(int64_t member_id, std::string_view client_id,
                          std::string_view scope) const;

  // Issues a code for the member's session and answers the redirect URL carrying code, state
  // and iss. kPermissionDenied when the member is disabled.
  void IssueCode(const AuthorizeRequest& request, int64_t member_id, int64_t auth_time,
                 Done<std::string> done);

  // The redirect URL carrying an error (error, error_description, state, iss).
  std::string ErrorRedirect(const AuthorizeRequest& request, const Error& error) const;

  // --- Token endpoint --------------------------------------------------------------------
  // Authenticates the client (client_secret_basic, client_secret_post, private_key_jwt, or
  // none for public clients), then runs the grant: authorization_code (single-use code, PKCE,
  // redirect_uri match; a reused code revokes its family) or refresh_token (rotation; reuse
  // revokes the family). The assertion's jti is recorded in the same commit, so a replay
  // fails. `done` gets the grant; build the JSON with TokenResponse.
  void Token(TokenRequest request, Done<TokenGrant> done);

  // The token response JSON for a grant, with a signed ID token when openid was granted
  // (alg per client). Signs (RSA: about a millisecond); call it off the writer thread.
  Result<nlohmann::json> TokenResponse(const TokenGrant& grant) const;

  // Builds and signs an ID token. `nonce` empty: no nonce claim; `sid` empty: no sid claim.
  Result<std::string> IdToken(const OidcClient& client, const Member& member, int64_t auth_time,
                              std::string_view nonce, std::string_view access_token,
                              std::string_view sid = {}) const;

  // --- UserInfo ---------------------------------------------------------------------------
  // The claims for a bearer access token: sub always; name, preferred_username, organisation,
  // kith_node with profile; email, email_verified with email. kUnauthenticated reason
  // "invalid_token" for an unknown, expired or revoked token or a disabled member.
  Result<nlohmann::json> UserInfo(std::string_view access_token) const;

  // Extracts the token from "Bearer <token>"; invalid_request when malformed.
  static Result<std::string> BearerToken(std::string_view authorization_header);

  // --- End session ------------------------------------------------------------------------
  // Validates an RP-initiated logout request: id_token_hint (must be ours, expiry ignored),
  // client_id, post_logout_redirect_uri (must be registered for the client), state.
  // invalid_request on any mismatch: show an error page, never redirect.
  Result<EndSessionTarget> CheckEndSession(const OidcParams& params) const;

  // --- Back-channel logout ("sign out everywhere") ----------------------------------------
  // The sid of a provider session, as ID tokens and logout tokens carry it: 128 bits derived
  // one-way from the session's secret CSRF token, so it is stable for the session, says
  // nothing about it and cannot be turned back into anything usable.
  static std::string SessionSid(const Session& session);

  // Where this provider started sessions for `member_id` that have not expired, newest first.
  Result<std::vector<RpSessionInfo>> RpSessions(int64_t member_id) const;

  // Forgets every session started for `member_id` at relying parties and revokes the token
  // families issued to them for the member; answers the clients that take back-channel
  // logout (one per client, whatever the number of sids: the token then names only sub,
  // which ends all of the member's sessions there).
  void EndRpSessions(int64_t member_id, Done<std::vector<RpLogoutTarget>> done);

  // Signs the logout token for `target` about the member with subject `sub` (alg per client;
  // RSA takes about a millisecond).
  Result<BackchannelLogout> SignLogout(const RpLogoutTarget& target, std::string_view sub) const;

  // Installs the sender. Call before the node serves; not thread-safe against SendLogouts.
  void SetLogoutSender(LogoutSender sender) { logout_sender_ = std::move(sender); }

  // Hands `logouts` to the sender (returns at once). Without a sender they are dropped: those
  // sessions end at their own expiry.
  void SendLogouts(std::vector<BackchannelLogout> logouts) const;

  // --- Housekeeping -----------------------------------------------------------------------
  // Deletes expired codes, access tokens, refresh tokens, empty families, jtis and remembered
  // relying-party sessions; answers how many rows went.
  void PurgeExpired(Done<int64_t> done);

  const Options& options() const { return options_; }

 private:
  struct AuthenticatedClient {
    OidcClient client;
    std::string jti;  // to record; empty unless private_key_jwt
    int64_t jti_expires_at = 0;
  };
  Result<AuthenticatedClient> AuthenticateClient(const TokenRequest& request) const;
  Result<Member> ActiveMember(int64_t member_id) const;

  storage::Store& store_;
  const Clock& clock_;
  MemberStore& members_;
  OidcClientStore& clients_;
  KeySource keys_;
  Options options_;
  LogoutSender logout_sender_;
};

// Whether `verifier` is a valid RFC 7636 code_verifier whose S256 challenge equals `challenge`.
bool CheckPkce(std::string_view verifier, std::string_view challenge);

// The S256 challenge of a verifier (base64url SHA-256).
std::string PkceChallenge(std::string_view verifier);

// An Error carrying an OAuth error code (see the file comment for the ErrorCode chosen).
Error OAuthError(std::string_view oauth_code, std::string description);

}  // namespace kith::identity
