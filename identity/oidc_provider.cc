#include "identity/oidc_provider.h"

#include <sodium.h>

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <cctype>
#include <set>
#include <sstream>
#include <utility>

#include "identity/jws.h"
#include "identity/oidc_logout.h"

namespace kith::identity {
namespace {

constexpr size_t kMaxStateBytes = 2048;
constexpr size_t kMaxNonceBytes = 512;
constexpr size_t kMaxHintBytes = 512;
constexpr size_t kTokenBytes = 32;
constexpr std::string_view kJwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

std::span<const uint8_t> HashSpan(const std::array<uint8_t, 32>& h) { return {h.data(), h.size()}; }

bool IsUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// RFC 7636 §4.1: 43-128 unreserved characters (verifier and S256 challenge alike).
bool ValidPkceText(std::string_view s) {
  return s.size() >= 43 && s.size() <= 128 && std::all_of(s.begin(), s.end(), IsUnreserved);
}

std::vector<std::string> SplitSpaces(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool HasScope(std::string_view scope, std::string_view one) {
  for (const auto& s : SplitSpaces(scope))
    if (s == one) return true;
  return false;
}

// Decodes application/x-www-form-urlencoded text ('+' is a space). nullopt on bad escapes.
std::optional<std::string> FormDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%') {
      auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Appends query parameters to an absolute URL (already validated at client registration).
std::string WithParams(std::string_view base,
                       const std::vector<std::pair<std::string, std::string>>& params) {
  auto parsed = boost::urls::parse_uri(base);
  if (!parsed) return std::string(base);  // registered URIs always parse; keep it unchanged
  boost::urls::url url(*parsed);
  for (const auto& [k, v] : params) url.params().append({k, v});
  return std::string(url.buffer());
}

Error ClientError(std::string description) {
  return OAuthError("invalid_client", std::move(description));
}
Error GrantError(std::string description) {
  return OAuthError("invalid_grant", std::move(description));
}
Error RequestError(std::string description) {
  return OAuthError("invalid_request", std::move(description));
}

// Revokes every family issued from a code, ending their access and refresh tokens.
Status RevokeFamiliesOfCode(storage::Database& db, int64_t code_id, int64_t now) {
  auto revoke = db.Cached(
      "UPDATE oidc_token_families SET revoked_at = ?1 WHERE code_id = ?2 AND revoked_at IS NULL");
  if (!revoke.ok()) return revoke.error();
  KITH_RETURN_IF_ERROR((*revoke)->Bind(1, now).Bind(2, code_id).Run());
  auto del = db.Cached(
      "DELETE FROM oidc_access_tokens WHERE family_id IN "
      "(SELECT id FROM oidc_token_families WHERE code_id = ?1)");
  if (!del.ok()) return del.error();
  return (*del)->Bind(1, code_id).Run();
}

Status RevokeFamily(storage::Database& db, int64_t family_id, int64_t now) {
  auto revoke = db.Cached(
      "UPDATE oidc_token_families SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL");
  if (!revoke.ok()) return revoke.error();
  KITH_RETURN_IF_ERROR((*revoke)->Bind(1, now).Bind(2, family_id).Run());
  auto del = db.Cached("DELETE FROM oidc_access_tokens WHERE family_id = ?1");
  if (!del.ok()) return del.error();
  return (*del)->Bind(1, family_id).Run();
}

Result<bool> MemberActive(storage::Database& db, int64_t member_id) {
  auto st = db.Cached("SELECT status FROM members WHERE id = ?1");
  if (!st.ok()) return st.error();
  (*st)->Bind(1, member_id);
  auto row = (*st)->Step();
  if (!row.ok()) return row.error();
  if (!*row) return false;
  return (*st)->ColumnText(0) == "active";
}

// Issues a new access token (and refresh token when `with_refresh`) in `family_id`.
Status IssueTokens(storage::Database& db, int64_t family_id, const std::string& scope,
                   bool with_refresh, int64_t now, const OidcProvider::Options& o,
                   TokenGrant& grant) {
  grant.access_token = RandomBase64Url(kTokenBytes);
  grant.expires_in = o.access_token_ttl.count();
  auto at = db.Cached(
      "INSERT INTO oidc_access_tokens (token_hash, family_id, scope, created_at, expires_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5)");
  if (!at.ok()) return at.error();
  KITH_RETURN_IF_ERROR((*at)
                           ->BindBlob(1, HashSpan(Sha256(grant.access_token)))
                           .Bind(2, family_id)
                           .Bind(3, scope)
                           .Bind(4, now)
                           .Bind(5, now + o.access_token_ttl.count())
                           .Run());
  if (!with_refresh) return OkStatus();
  grant.refresh_token = RandomBase64Url(kTokenBytes);
  auto rt = db.Cached(
      "INSERT INTO oidc_refresh_tokens (token_hash, family_id, created_at, expires_at) "
      "VALUES (?1, ?2, ?3, ?4)");
  if (!rt.ok()) return rt.error();
  return (*rt)
      ->BindBlob(1, HashSpan(Sha256(grant.refresh_token)))
      .Bind(2, family_id)
      .Bind(3, now)
      .Bind(4, now + o.refresh_token_ttl.count())
      .Run();
}

// A grant job's value: either a grant (member still to be loaded) or an OAuth error that must
// be answered after the job's other effects (a burnt code, a revoked family) are committed.
struct GrantOutcome {
  std::optional<Error> error;
  TokenGrant grant;
  int64_t member_id = 0;
};

}  // namespace

std::string OidcParams::Get(std::string_view name) const {
  auto it = values.find(name);
  return it == values.end() ? std::string() : it->second;
}

Error OAuthError(std::string_view oauth_code, std::string description) {
  const bool unauthenticated = oauth_code == "invalid_client" || oauth_code == "invalid_token";
  return MakeError(unauthenticated ? ErrorCode::kUnauthenticated : ErrorCode::kInvalidArgument,
                   std::move(description), std::string(oauth_code));
}

std::string PkceChallenge(std::string_view verifier) {
  return Base64UrlEncode(HashSpan(Sha256(verifier)));
}

bool CheckPkce(std::string_view verifier, std::string_view challenge) {
  if (!ValidPkceText(verifier)) return false;
  const std::string computed = PkceChallenge(verifier);
  return computed.size() == challenge.size() &&
         sodium_memcmp(computed.data(), challenge.data(), computed.size()) == 0;
}

OidcProvider::OidcProvider(storage::Store& store, const Clock& clock, MemberStore& members,
                           OidcClientStore& clients, KeySource keys, Options options)
    : store_(store),
      clock_(clock),
      members_(members),
      clients_(clients),
      keys_(std::move(keys)),
      options_(std::move(options)) {}

nlohmann::json OidcProvider::DiscoveryDocument() const {
  return {
      {"issuer", options_.issuer},
      {"authorization_endpoint", AuthorizationEndpoint()},
      {"token_endpoint", TokenEndpoint()},
      {"userinfo_endpoint", UserInfoEndpoint()},
      {"jwks_uri", JwksUri()},
      {"end_session_endpoint", EndSessionEndpoint()},
      {"scopes_supported", {"openid", "profile", "email", "offline_access"}},
      {"response_types_supported", {"code"}},
      {"response_modes_supported", {"query"}},
      {"grant_types_supported", {"authorization_code", "refresh_token"}},
      {"subject_types_supported", {"public"}},
      {"id_token_signing_alg_values_supported", {"RS256", "EdDSA"}},
      {"token_endpoint_auth_methods_supported",
       {"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}},
      {"token_endpoint_auth_signing_alg_values_supported", {"RS256", "ES256", "EdDSA"}},
      {"claims_supported",
       {"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "name", "email", "email_verified",
        "preferred_username", "organisation", "kith_node", "sid"}},
      {"code_challenge_methods_supported", {"S256"}},
      {"prompt_values_supported", {"none", "login", "consent"}},
      {"authorization_response_iss_parameter_supported", true},
      {"backchannel_logout_supported", true},
      {"backchannel_logout_session_supported", true},
      {"claims_parameter_supported", false},
      {"request_parameter_supported", false},
      {"request_uri_parameter_supported", false},
      {"ui_locales_supported", {"en"}},
  };
}

nlohmann::json OidcProvider::Jwks() const {
  auto keys = keys_();
  if (!keys) return {{"keys", nlohmann::json::array()}};
  return keys->Jwks();
}

// ---------------------------------------------------------------------------------------------
// Authorization endpoint

AuthorizeCheck OidcProvider::CheckAuthorize(const OidcParams& params) const {
  AuthorizeCheck out;
  auto duplicated = [&](std::string_view name) {
    return std::find(params.duplicates.begin(), params.duplicates.end(), name) !=
           params.duplicates.end();
  };
  // Until client and redirect URI are trusted, errors are shown, never redirected.
  if (duplicated("client_id") || duplicated("redirect_uri")) {
    out.error = RequestError("client_id and redirect_uri must each be given once");
    return out;
  }
  const std::string client_id = params.Get("client_id");
  if (client_id.empty()) {
    out.error = RequestError("client_id is missing");
    return out;
  }
  auto client = clients_.Get(client_id);
  if (!client.ok()) {
    out.error = client.error().code == ErrorCode::kNotFound ? RequestError("unknown client_id")
                                                            : client.error();
    return out;
  }
  const std::string redirect_uri = params.Get("redirect_uri");
  if (redirect_uri.empty()) {
    out.error = RequestError("redirect_uri is missing");
    return out;
  }
  if (!client->HasRedirectUri(redirect_uri)) {
    out.error = RequestError("redirect_uri is not registered for this client");
    return out;
  }

  AuthorizeRequest r;
  r.client = std::move(client).value();
  r.redirect_uri = redirect_uri;
  r.state = params.Get("state");
  auto fail = [&](Error e) {
    out.request = std::move(r);
    out.error = std::move(e);
    return out;
  };
  if (r.state.size() > kMaxStateBytes) {
    r.state.clear();
    return fail(RequestError("state is too long"));
  }
  if (!params.duplicates.empty())
    return fail(RequestError("parameter " + params.duplicates.front() + " is repeated"));
  if (params.Has("request"))
    return fail(OAuthError("request_not_supported", "request objects are not supported"));
  if (params.Has("request_uri"))
    return fail(OAuthError("request_uri_not_supported", "request_uri is not supported"));
  const std::string response_type = params.Get("response_type");
  if (response_type.empty()) return fail(RequestError("response_type is missing"));
  if (response_type != "code")
    return fail(OAuthError("unsupported_response_type", "only response_type=code is supported"));
  if (params.Has("response_mode") && params.Get("response_mode") != "query")
    return fail(RequestError("only response_mode=query is supported"));

  // Scopes: openid is required; unknown ones are dropped.
  const auto requested = SplitSpaces(params.Get("scope"));
  if (std::find(requested.begin(), requested.end(), "openid") == requested.end())
    return fail(OAuthError("invalid_scope", "scope must include openid"));
  std::string scope = "openid";
  for (std::string_view known : kSupportedScopes) {
    if (known == "openid") continue;
    if (std::find(requested.begin(), requested.end(), known) != requested.end())
      scope += " " + std::string(known);
  }
  r.scope = scope;

  r.nonce = params.Get("nonce");
  if (r.nonce.size() > kMaxNonceBytes) return fail(RequestError("nonce is too long"));
  r.login_hint = params.Get("login_hint");
  if (r.login_hint.size() > kMaxHintBytes) return fail(RequestError("login_hint is too long"));

  // PKCE: S256 only; required for public clients, honoured for every client.
  const std::string method = params.Get("code_challenge_method");
  const std::string challenge = params.Get("code_challenge");
  if (!challenge.empty()) {
    if (method != "S256") return fail(RequestError("code_challenge_method must be S256"));
    if (!ValidPkceText(challenge)) return fail(RequestError("code_challenge is malformed"));
    r.code_challenge = challenge;
  } else if (params.Has("code_challenge_method")) {
    return fail(RequestError("code_challenge_method without code_challenge"));
  } else if (r.client.is_public) {
    return fail(RequestError("public clients must use PKCE (code_challenge with S256)"));
  }

  for (const auto& p : SplitSpaces(params.Get("prompt"))) {
    if (p == "none") {
      r.prompt_none = true;
    } else if (p == "login") {
      r.prompt_login = true;
    } else if (p == "consent") {
      r.prompt_consent = true;
    } else if (p != "select_account") {
      return fail(RequestError("unknown prompt value " + p));
    }
  }
  if (r.prompt_none && (r.prompt_login || r.prompt_consent))
    return fail(RequestError("prompt=none cannot be combined with other values"));

  if (params.Has("max_age")) {
    const std::string text = params.Get("max_age");
    int64_t v = 0;
    bool ok = !text.empty() && text.size() <= 10;
    for (char c : text) {
      if (c < '0' || c > '9')
        ok = false;
      else
        v = v * 10 + (c - '0');
    }
    if (!ok) return fail(RequestError("max_age must be a non-negative integer"));
    r.max_age = v;
  }
  out.request = std::move(r);
  return out;
}

AuthorizeNext OidcProvider::Next(const AuthorizeRequest& request, const Session* session,
                                 bool just_signed_in, bool just_consented) const {
  auto to_rp = [](std::string_view code, std::string description) {
    return AuthorizeNext{AuthorizeStep::kErrorToRp, OAuthError(code, std::move(description))};
  };
  if (session == nullptr) {
    if (request.prompt_none) return to_rp("login_required", "no session at this node");
    return {AuthorizeStep::kSignIn, std::nullopt};
  }
  if (!just_signed_in) {
    if (request.prompt_login) return {AuthorizeStep::kSignIn, std::nullopt};
    // max_age=0 asks for a fresh sign-in every time, like prompt=login (OIDC Core 1.0
    // errata set 2, §3.1.2.1).
    if (request.max_age &&
        (*request.max_age == 0 || clock_.UnixSeconds() - session->auth_time > *request.max_age)) {
      if (request.prompt_none)
        return to_rp("login_required", "the last sign-in is older than max_age");
      return {AuthorizeStep::kSignIn, std::nullopt};
    }
  }
  if (!request.client.first_party && !just_consented) {
    bool consented = false;
    if (!request.prompt_consent) {
      auto has = HasConsent(session->member_id, request.client.client_id, request.scope);
      if (!has.ok())
        return {AuthorizeStep::kErrorToRp, OAuthError("server_error", has.error().message)};
      consented = *has;
    }
    if (!consented) {
      if (request.prompt_none)
        return to_rp("consent_required", "the member has not consented to this client");
      return {AuthorizeStep::kConsent, std::nullopt};
    }
  }
  return {AuthorizeStep::kIssueCode, std::nullopt};
}

void OidcProvider::RecordConsent(int64_t member_id, const std::string& client_id,
                                 const std::string& scope, Done<void> done) {
  const int64_t now = clock_.UnixSeconds();
  SubmitWrite(
      store_.writer(),
      std::function<Status(storage::Database&)>(
          [member_id, client_id, scope, now](storage::Database& db) -> Status {
            auto st = db.Cached(
                "INSERT INTO oidc_consents (member_id, client_id, scope, granted_at) "
                "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (member_id, client_id) DO UPDATE SET "
                "scope = excluded.scope, granted_at = excluded.granted_at");
            if (!st.ok()) return st.error();
            return (*st)->Bind(1, member_id).Bind(2, client_id).Bind(3, scope).Bind(4, now).Run();
          }),
      std::move(done));
}

Result<bool> OidcProvider::HasConsent(int64_t member_id, std::string_view client_id,
                                      std::string_view scope) const {
  return store_.Read([&](storage::Database& db) -> Result<bool> {
    auto st = db.Cached("SELECT scope FROM oidc_consents WHERE member_id = ?1 AND client_id = ?2");
    if (!st.ok()) return st.error();
    (*st)->Bind(1, member_id).Bind(2, client_id);
    auto row = (*st)->Step();
    if (!row.ok()) return row.error();
    if (!*row) return false;
    const std::string granted = (*st)->ColumnText(0);
    (*st)->Reset();
    for (const auto& s : SplitSpaces(scope))
      if (!HasScope(granted, s)) return false;
    return true;
  });
}

void OidcProvider::IssueCode(const AuthorizeRequest& request, int64_t member_id, int64_t auth_time,
                             Done<std::string> done) {
  const int64_t now = clock_.UnixSeconds();
  auto code = std::make_shared<std::string>(RandomBase64Url(kTokenBytes));
  const std::string redirect = WithParams(request.redirect_uri, [&] {
    std::vector<std::pair<std::string, std::string>> p{{"code", *code}};
    if (!request.state.empty()) p.emplace_back("state", request.state);
    p.emplace_back("iss", options_.issuer);
    return p;
  }());
  const int64_t expires = now + options_.code_ttl.count();
  SubmitWrite<std::string>(
      store_.writer(),
      [request, member_id, auth_time, now, expires, code,
       redirect](storage::Database& db) -> Result<std::string> {
        auto active = MemberActive(db, member_id);
        if (!active.ok()) return active.error();
        if (!*active)
          return MakeError(ErrorCode::kPermissionDenied, "the member is disabled or removed",
                           "access_denied");
        auto st = db.Cached(
            "INSERT INTO oidc_codes (code_hash, client_id, member_id, redirect_uri, scope, nonce, "
            "code_challenge, auth_time, created_at, expires_at, sid) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
        if (!st.ok()) return st.error();
        auto opt = [](const std::string& s) {
          return s.empty() ? std::optional<std::string>() : std::optional<std::string>(s);
        };
        KITH_RETURN_IF_ERROR((*st)
                                 ->BindBlob(1, HashSpan(Sha256(*code)))
                                 .Bind(2, request.client.client_id)
                                 .Bind(3, member_id)
                                 .Bind(4, request.redirect_uri)
                                 .Bind(5, request.scope)
                                 .Bind(6, opt(request.nonce))
                                 .Bind(7, opt(request.code_challenge))
                                 .Bind(8, auth_time)
                                 .Bind(9, now)
                                 .Bind(10, expires)
                                 .Bind(11, opt(request.sid))
                                 .Run());
        return redirect;
      },
      std::move(done));
}

std::string OidcProvider::ErrorRedirect(const AuthorizeRequest& request, const Error& error) const {
  std::vector<std::pair<std::string, std::string>> p{{"error", std::string(error.Name())}};
  if (!error.message.empty()) p.emplace_back("error_description", error.message);
  if (!request.state.empty()) p.emplace_back("state", request.state);
  p.emplace_back("iss", options_.issuer);
  return WithParams(request.redirect_uri, p);
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

Result<OidcProvider::AuthenticatedClient> OidcProvider::AuthenticateClient(
    const TokenRequest& request) const {
  const OidcParams& form = request.form;
  const bool has_basic = !request.authorization_header.empty();
  const bool has_post = form.Has("client_secret");
  const bool has_jwt = form.Has("client_assertion") || form.Has("client_assertion_type");
  if (int(has_basic) + int(has_post) + int(has_jwt) > 1)
    return RequestError("use exactly one client authentication method");

  AuthenticatedClient out;
  std::string client_id = form.Get("client_id");
  auto load = [&](const std::string& id) -> Status {
    auto c = clients_.Get(id);
    if (!c.ok()) {
      if (c.error().code == ErrorCode::kNotFound) return ClientError("unknown client");
      return c.error();
    }
    out.client = std::move(c).value();
    return OkStatus();
  };

  if (has_basic) {
    std::string_view h = request.authorization_header;
    if (h.size() < 6 || !std::equal(h.begin(), h.begin() + 6, "Basic ", [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        }))
      return ClientError("Authorization header must use the Basic scheme");
    std::string_view b64 = h.substr(6);
    if (b64.size() > 4096) return ClientError("Authorization header is too long");
    std::string decoded(b64.size(), '\0');
    size_t len = 0;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(decoded.data()), decoded.size(),
                          b64.data(), b64.size(), nullptr, &len, nullptr,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
      return ClientError("Authorization header is not valid base64");
    decoded.resize(len);
    const auto colon = decoded.find(':');
    if (colon == std::string::npos) return ClientError("Basic credentials lack a ':'");
    auto id = FormDecode(std::string_view(decoded).substr(0, colon));
    auto secret = FormDecode(std::string_view(decoded).substr(colon + 1));
    sodium_memzero(decoded.data(), decoded.size());
    if (!id || !secret) return ClientError("Basic credentials are not form-encoded");
    if (!client_id.empty() && client_id != *id)
      return RequestError("client_id differs from the Authorization header");
    KITH_RETURN_IF_ERROR(load(*id));
    // client_secret_basic and client_secret_post are interchangeable for secret clients: the
    // secret proves the same thing either way.
    if (!out.client.has_secret || !CheckClientSecret(out.client, *secret))
      return ClientError("client authentication failed");
    return out;
  }
  if (has_post) {
    if (client_id.empty()) return RequestError("client_id is missing");
    KITH_RETURN_IF_ERROR(load(client_id));
    if (!out.client.has_secret || !CheckClientSecret(out.client, form.Get("client_secret")))
      return ClientError("client authentication failed");
    return out;
  }
  if (has_jwt) {
    if (form.Get("client_assertion_type") != kJwtBearer)
      return RequestError("client_assertion_type must be " + std::string(kJwtBearer));
    const std::string assertion = form.Get("client_assertion");
    auto jws = ParseJws(assertion);
    if (!jws.ok()) return ClientError("client_assertion is not a valid JWS");
    auto claims = ParseJwtClaims(jws->payload);
    if (!claims.ok()) return ClientError("client_assertion claims are not a JSON object");
    const auto& c = *claims;
    if (!c.contains("iss") || !c["iss"].is_string() || !c.contains("sub") ||
        !c["sub"].is_string() || c["iss"] != c["sub"])
      return ClientError("client_assertion iss and sub must both be the client_id");
    const std::string iss = c["iss"].get<std::string>();
    if (!client_id.empty() && client_id != iss)
      return ClientError("client_assertion is for another client");
    KITH_RETURN_IF_ERROR(load(iss));
    if (out.client.auth_method != ClientAuthMethod::kPrivateKeyJwt)
      return ClientError("this client is not registered for private_key_jwt");
    auto keys = ClientKeys(out.client);
    if (!keys.ok()) return ClientError("the client has no usable keys");
    auto verified = VerifyJwsWithKeys(assertion, *keys);
    if (!verified.ok())
      return ClientError("client_assertion signature: " + verified.error().message);
    JwtExpectations expect;
    expect.leeway = std::chrono::seconds(60);
    expect.max_lifetime = options_.assertion_max_lifetime;
    expect.max_age = options_.assertion_max_lifetime;
    auto checked = CheckJwtClaims(c, expect, clock_);
    if (!checked.ok()) return ClientError("client_assertion: " + checked.error().message);
    // aud: the issuer or the token endpoint (RFC 7523 §3; OIDC Core §9).
    bool aud_ok = false;
    auto aud_matches = [&](const nlohmann::json& a) {
      return a.is_string() && (a == options_.issuer || a == TokenEndpoint());
    };
    if (c.contains("aud")) {
      if (c["aud"].is_array()) {
        for (const auto& a : c["aud"]) aud_ok = aud_ok || aud_matches(a);
      } else {
        aud_ok = aud_matches(c["aud"]);
      }
    }
    if (!aud_ok) return ClientError("client_assertion aud must be the issuer or token endpoint");
    if (!c.contains("jti") || !c["jti"].is_string() || c["jti"].get<std::string>().empty() ||
        c["jti"].get<std::string>().size() > 256)
      return ClientError("client_assertion needs a jti of 1-256 characters");
    out.jti = c["jti"].get<std::string>();
    out.jti_expires_at = c["exp"].is_number_integer()
                             ? c["exp"].get<int64_t>()
                             : clock_.UnixSeconds() + options_.assertion_max_lifetime.count();
    return out;
  }
  // No credentials: only a public client.
  if (client_id.empty()) return ClientError("client authentication is missing");
  KITH_RETURN_IF_ERROR(load(client_id));
  if (!out.client.is_public) return ClientError("client authentication is missing");
  return out;
}

void OidcProvider::Token(TokenRequest request, Done<TokenGrant> done) {
  if (!request.form.duplicates.empty())
    return done(RequestError("parameter " + request.form.duplicates.front() + " is repeated"));
  auto client = AuthenticateClient(request);
  if (!client.ok()) return done(std::move(client).error());
  const std::string grant_type = request.form.Get("grant_type");
  if (grant_type.empty()) return done(RequestError("grant_type is missing"));
  if (grant_type != "authorization_code" && grant_type != "refresh_token")
    return done(
        OAuthError("unsupported_grant_type", "grant_type " + grant_type + " is not supported"));

  const int64_t now = clock_.UnixSeconds();
  const Options o = options_;
  auto job = [auth = std::move(client).value(), form = std::move(request.form), grant_type, now,
              o](storage::Database& db) -> Result<GrantOutcome> {
    GrantOutcome out;
    out.grant.client = auth.client;
    const std::string& client_id = auth.client.client_id;
    if (!auth.jti.empty()) {
      auto st =
          db.Cached("INSERT INTO oidc_used_jtis (client_id, jti, expires_at) VALUES (?1, ?2, ?3)");
      if (!st.ok()) return st.error();
      auto inserted =
          (*st)->Bind(1, client_id).Bind(2, auth.jti).Bind(3, auth.jti_expires_at).Run();
      if (!inserted.ok()) {
        if (inserted.error().code == ErrorCode::kConflict)
          return ClientError("client_assertion jti was already used");
        return inserted.error();
      }
    }
    auto fail = [&](Error e) -> Result<GrantOutcome> {
      out.error = std::move(e);
      return std::move(out);
    };

    if (grant_type == "authorization_code") {
      const std::string code = form.Get("code");
      if (code.empty()) return fail(RequestError("code is missing"));
      if (!form.Has("redirect_uri")) return fail(RequestError("redirect_uri is missing"));
      auto st = db.Cached(
          "SELECT id, client_id, member_id, redirect_uri, scope, nonce, code_challenge, auth_time, "
          "expires_at, used_at, sid FROM oidc_codes WHERE code_hash = ?1");
      if (!st.ok()) return st.error();
      (*st)->BindBlob(1, HashSpan(Sha256(code)));
      auto row = (*st)->Step();
      if (!row.ok()) return row.error();
      if (!*row) return fail(GrantError("unknown authorization code"));
      const int64_t code_id = (*st)->ColumnInt(0);
      const std::string code_client = (*st)->ColumnText(1);
      const int64_t member_id = (*st)->ColumnInt(2);
      const std::string redirect_uri = (*st)->ColumnText(3);
      const std::string scope = (*st)->ColumnText(4);
      const std::string nonce = (*st)->ColumnIsNull(5) ? "" : (*st)->ColumnText(5);
      const std::string challenge = (*st)->ColumnIsNull(6) ? "" : (*st)->ColumnText(6);
      const int64_t auth_time = (*st)->ColumnInt(7);
      const int64_t expires_at = (*st)->ColumnInt(8);
      const bool used = !(*st)->ColumnIsNull(9);
      const std::string sid = (*st)->ColumnIsNull(10) ? "" : (*st)->ColumnText(10);
      (*st)->Reset();
      // A code presented by another client is not consumed: that client never had it rightly.
      if (code_client != client_id)
        return fail(GrantError("the code was issued to another client"));
      if (used) {
        KITH_RETURN_IF_ERROR(RevokeFamiliesOfCode(db, code_id, now));
        return fail(GrantError("the code was already used; tokens issued from it are revoked"));
      }
      // From here on the code is spent, whatever the outcome.
      auto burn = db.Cached("UPDATE oidc_codes SET used_at = ?1 WHERE id = ?2");
      if (!burn.ok()) return burn.error();
      KITH_RETURN_IF_ERROR((*burn)->Bind(1, now).Bind(2, code_id).Run());
      if (now >= expires_at) return fail(GrantError("the code has expired"));
      if (form.Get("redirect_uri") != redirect_uri)
        return fail(GrantError("redirect_uri differs from the authorization request"));
      const bool has_verifier = form.Has("code_verifier");
      if (!challenge.empty()) {
        if (!has_verifier) return fail(GrantError("code_verifier is missing"));
        if (!CheckPkce(form.Get("code_verifier"), challenge))
          return fail(GrantError("code_verifier does not match the code_challenge"));
      } else if (has_verifier) {
        return fail(GrantError("code_verifier given but the request had no code_challenge"));
      }
      auto active = MemberActive(db, member_id);
      if (!active.ok()) return active.error();
      if (!*active) return fail(GrantError("the member is disabled"));
      auto fam = db.Cached(
          "INSERT INTO oidc_token_families (client_id, member_id, code_id, scope, auth_time, "
          "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
      if (!fam.ok()) return fam.error();
      KITH_RETURN_IF_ERROR((*fam)
                               ->Bind(1, client_id)
                               .Bind(2, member_id)
                               .Bind(3, code_id)
                               .Bind(4, scope)
                               .Bind(5, auth_time)
                               .Bind(6, now)
                               .Run());
      const int64_t family_id = db.LastInsertRowId();
      KITH_RETURN_IF_ERROR(
          IssueTokens(db, family_id, scope, HasScope(scope, "offline_access"), now, o, out.grant));
      out.grant.scope = scope;
      out.grant.auth_time = auth_time;
      out.grant.nonce = nonce;
      out.grant.sid = sid;
      out.member_id = member_id;
      if (!sid.empty()) {
        // Remembered for "sign out everywhere" (Back-Channel Logout 1.0).
        auto rp = db.Cached(
            "INSERT INTO oidc_rp_sessions (member_id, client_id, sid, created_at, expires_at) "
            "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (member_id, client_id, sid) DO UPDATE SET "
            "expires_at = excluded.expires_at");
        if (!rp.ok()) return rp.error();
        KITH_RETURN_IF_ERROR((*rp)
                                 ->Bind(1, member_id)
                                 .Bind(2, client_id)
                                 .Bind(3, sid)
                                 .Bind(4, now)
                                 .Bind(5, now + o.rp_session_ttl.count())
                                 .Run());
      }
      return out;
    }

    // refresh_token
    const std::string token = form.Get("refresh_token");
    if (token.empty()) return fail(RequestError("refresh_token is missing"));
    auto st = db.Cached(
        "SELECT r.id, r.expires_at, r.used_at, f.id, f.client_id, f.member_id, f.scope, "
        "f.auth_time, f.revoked_at FROM oidc_refresh_tokens r "
        "JOIN oidc_token_families f ON f.id = r.family_id WHERE r.token_hash = ?1");
    if (!st.ok()) return st.error();
    (*st)->BindBlob(1, HashSpan(Sha256(token)));
    auto row = (*st)->Step();
    if (!row.ok()) return row.error();
    if (!*row) return fail(GrantError("unknown refresh token"));
    const int64_t refresh_id = (*st)->ColumnInt(0);
    const int64_t expires_at = (*st)->ColumnInt(1);
    const bool used = !(*st)->ColumnIsNull(2);
    const int64_t family_id = (*st)->ColumnInt(3);
    const std::string family_client = (*st)->ColumnText(4);
    const int64_t member_id = (*st)->ColumnInt(5);
    const std::string family_scope = (*st)->ColumnText(6);
    const int64_t auth_time = (*st)->ColumnInt(7);
    const bool revoked = !(*st)->ColumnIsNull(8);
    (*st)->Reset();
    if (family_client != client_id)
      return fail(GrantError("the refresh token was issued to another client"));
    if (revoked) return fail(GrantError("the refresh token was revoked"));
    if (used) {
      KITH_RETURN_IF_ERROR(RevokeFamily(db, family_id, now));
      return fail(GrantError("the refresh token was already used; its family is revoked"));
    }
    if (now >= expires_at) return fail(GrantError("the refresh token has expired"));
    std::string scope = family_scope;
    if (form.Has("scope")) {
      const auto asked = SplitSpaces(form.Get("scope"));
      for (const auto& s : asked)
        if (!HasScope(family_scope, s))
          return fail(OAuthError("invalid_scope", "scope " + s + " was not granted"));
      scope.clear();
      for (const auto& s : asked) scope += (scope.empty() ? "" : " ") + s;
    }
    auto active = MemberActive(db, member_id);
    if (!active.ok()) return active.error();
    if (!*active) return fail(GrantError("the member is disabled"));
    auto mark = db.Cached("UPDATE oidc_refresh_tokens SET used_at = ?1 WHERE id = ?2");
    if (!mark.ok()) return mark.error();
    KITH_RETURN_IF_ERROR((*mark)->Bind(1, now).Bind(2, refresh_id).Run());
    // The new refresh token keeps the family's offline access even if the access token's
    // scope was narrowed for this call.
    KITH_RETURN_IF_ERROR(IssueTokens(db, family_id, scope, true, now, o, out.grant));
    out.grant.scope = scope;
    out.grant.auth_time = auth_time;
    out.member_id = member_id;
    return out;
  };

  SubmitWrite<GrantOutcome>(store_.writer(), std::move(job),
                            [this, done = std::move(done)](Result<GrantOutcome> result) {
                              if (!result.ok()) return done(std::move(result).error());
                              if (result->error) return done(std::move(*result->error));
                              auto member = members_.GetById(result->member_id);
                              if (!member.ok())
                                return done(GrantError("the member no longer exists"));
                              TokenGrant grant = std::move(result->grant);
                              grant.member = std::move(member).value();
                              done(std::move(grant));
                            });
}

Result<std::string> OidcProvider::IdToken(const OidcClient& client, const Member& member,
                                          int64_t auth_time, std::string_view nonce,
                                          std::string_view /*access_token*/,
                                          std::string_view sid) const {
  auto keys = keys_();
  if (!keys) return MakeError(ErrorCode::kUnavailable, "no signing keys are loaded");
  const SigningKey* signer = keys->SignerFor(client.id_token_alg);
  if (signer == nullptr)
    return MakeError(ErrorCode::kInternal,
                     "no key signs " + std::string(JwsAlgorithmName(client.id_token_alg)));
  const int64_t now = clock_.UnixSeconds();
  nlohmann::json claims = {
      {"iss", options_.issuer},
      {"sub", member.sub},
      {"aud", client.client_id},
      {"iat", now},
      {"exp", now + options_.id_token_ttl.count()},
      {"auth_time", auth_time},
  };
  if (!nonce.empty()) claims["nonce"] = nonce;
  if (!sid.empty()) claims["sid"] = sid;
  return SignJws(*signer, claims.dump());
}

Result<nlohmann::json> OidcProvider::TokenResponse(const TokenGrant& grant) const {
  nlohmann::json out = {{"access_token", grant.access_token},
                        {"token_type", "Bearer"},
                        {"expires_in", grant.expires_in},
                        {"scope", grant.scope}};
  if (!grant.refresh_token.empty()) out["refresh_token"] = grant.refresh_token;
  if (HasScope(grant.scope, "openid")) {
    auto id_token = IdToken(grant.client, grant.member, grant.auth_time, grant.nonce,
                            grant.access_token, grant.sid);
    if (!id_token.ok()) return id_token.error();
    out["id_token"] = *id_token;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// UserInfo

Result<std::string> OidcProvider::BearerToken(std::string_view header) {
  if (header.size() < 8 ||
      !std::equal(header.begin(), header.begin() + 7, "Bearer ", [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) ==
               std::tolower(static_cast<unsigned char>(b));
      }))
    return RequestError("Authorization header must be \"Bearer <token>\"");
  std::string token(header.substr(7));
  if (token.size() > 512 || token.find_first_of(" \t,") != std::string::npos)
    return RequestError("bearer token is malformed");
  return token;
}

Result<nlohmann::json> OidcProvider::UserInfo(std::string_view access_token) const {
  const int64_t now = clock_.UnixSeconds();
  struct Row {
    int64_t member_id = 0;
    std::string scope;
  };
  auto row = store_.Read([&](storage::Database& db) -> Result<Row> {
    auto st = db.Cached(
        "SELECT f.member_id, a.scope, a.expires_at, f.revoked_at FROM oidc_access_tokens a "
        "JOIN oidc_token_families f ON f.id = a.family_id WHERE a.token_hash = ?1");
    if (!st.ok()) return st.error();
    (*st)->BindBlob(1, HashSpan(Sha256(access_token)));
    auto step = (*st)->Step();
    if (!step.ok()) return step.error();
    if (!*step) return OAuthError("invalid_token", "unknown access token");
    Row r{(*st)->ColumnInt(0), (*st)->ColumnText(1)};
    const int64_t expires_at = (*st)->ColumnInt(2);
    const bool revoked = !(*st)->ColumnIsNull(3);
    (*st)->Reset();
    if (revoked) return OAuthError("invalid_token", "the access token was revoked");
    if (now >= expires_at) return OAuthError("invalid_token", "the access token has expired");
    return r;
  });
  if (!row.ok()) return row.error();
  auto member = members_.GetById(row->member_id);
  if (!member.ok()) return OAuthError("invalid_token", "the member no longer exists");
  if (member->status != MemberStatus::kActive)
    return OAuthError("invalid_token", "the member is disabled");
  nlohmann::json claims = {{"sub", member->sub}};
  if (HasScope(row->scope, "profile")) {
    claims["name"] = member->display_name;
    claims["preferred_username"] = member->Address(options_.node_name);
    claims["organisation"] = member->organisation;
    claims["kith_node"] = options_.node_name;
  }
  if (HasScope(row->scope, "email")) {
    claims["email"] = member->email;
    // Addresses are entered by the node's operator (kithctl, CSV import) who vouches for them.
    claims["email_verified"] = true;
  }
  return claims;
}

// ---------------------------------------------------------------------------------------------
// End session

Result<EndSessionTarget> OidcProvider::CheckEndSession(const OidcParams& params) const {
  if (!params.duplicates.empty())
    return RequestError("parameter " + params.duplicates.front() + " is repeated");
  EndSessionTarget out;
  out.client_id = params.Get("client_id");
  const std::string hint = params.Get("id_token_hint");
  if (!hint.empty()) {
    auto keys = keys_();
    if (!keys) return MakeError(ErrorCode::kUnavailable, "no signing keys are loaded");
    auto jws = VerifyJwsWithKeys(hint, keys->published());
    if (!jws.ok()) return RequestError("id_token_hint was not issued by this provider");
    auto claims = ParseJwtClaims(jws->payload);
    if (!claims.ok() || !claims->contains("iss") || (*claims)["iss"] != options_.issuer)
      return RequestError("id_token_hint was not issued by this provider");
    std::string aud;
    const auto& a = (*claims)["aud"];
    if (a.is_string())
      aud = a.get<std::string>();
    else if (a.is_array() && a.size() == 1 && a[0].is_string())
      aud = a[0].get<std::string>();
    if (aud.empty()) return RequestError("id_token_hint has no audience");
    if (!out.client_id.empty() && out.client_id != aud)
      return RequestError("client_id differs from the id_token_hint audience");
    out.client_id = aud;
  }
  const std::string post_logout = params.Get("post_logout_redirect_uri");
  if (post_logout.empty()) return out;
  if (out.client_id.empty())
    return RequestError("post_logout_redirect_uri needs client_id or id_token_hint");
  auto client = clients_.Get(out.client_id);
  if (!client.ok()) return RequestError("unknown client_id");
  if (!client->HasPostLogoutRedirectUri(post_logout))
    return RequestError("post_logout_redirect_uri is not registered for this client");
  const std::string state = params.Get("state");
  if (state.size() > kMaxStateBytes) return RequestError("state is too long");
  std::vector<std::pair<std::string, std::string>> p;
  if (!state.empty()) p.emplace_back("state", state);
  out.redirect_uri = WithParams(post_logout, p);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Back-channel logout

std::string OidcProvider::SessionSid(const Session& session) {
  const auto digest = Sha256("kith-sid:" + session.csrf_token);
  return Base64UrlEncode(std::span<const uint8_t>(digest.data(), 16));
}

Result<std::vector<RpSessionInfo>> OidcProvider::RpSessions(int64_t member_id) const {
  const int64_t now = clock_.UnixSeconds();
  return store_.Read([&](storage::Database& db) -> Result<std::vector<RpSessionInfo>> {
    auto st = db.Cached(
        "SELECT r.client_id, coalesce(c.name, ''), max(r.created_at) FROM oidc_rp_sessions r "
        "LEFT JOIN oidc_clients c ON c.client_id = r.client_id "
        "WHERE r.member_id = ?1 AND r.expires_at > ?2 GROUP BY r.client_id "
        "ORDER BY max(r.created_at) DESC LIMIT 100");
    if (!st.ok()) return st.error();
    storage::StatementReset reset{*st};
    (*st)->Bind(1, member_id).Bind(2, now);
    std::vector<RpSessionInfo> out;
    for (;;) {
      auto row = (*st)->Step();
      if (!row.ok()) return row.error();
      if (!*row) break;
      out.push_back({(*st)->ColumnText(0), (*st)->ColumnText(1), (*st)->ColumnInt(2)});
    }
    return out;
  });
}

void OidcProvider::EndRpSessions(int64_t member_id, Done<std::vector<RpLogoutTarget>> done) {
  const int64_t now = clock_.UnixSeconds();
  SubmitWrite<std::vector<RpLogoutTarget>>(
      store_.writer(),
      [member_id, now](storage::Database& db) -> Result<std::vector<RpLogoutTarget>> {
        std::vector<RpLogoutTarget> out;
        {
          auto st = db.Cached(
              "SELECT DISTINCT c.client_id, c.name, c.backchannel_logout_uri, c.id_token_alg "
              "FROM oidc_rp_sessions r JOIN oidc_clients c ON c.client_id = r.client_id "
              "WHERE r.member_id = ?1 AND r.expires_at > ?2 "
              "AND coalesce(c.backchannel_logout_uri, '') != ''");
          if (!st.ok()) return st.error();
          storage::StatementReset reset{*st};
          (*st)->Bind(1, member_id).Bind(2, now);
          for (;;) {
            auto row = (*st)->Step();
            if (!row.ok()) return row.error();
            if (!*row) break;
            RpLogoutTarget t;
            t.client_id = (*st)->ColumnText(0);
            t.client_name = (*st)->ColumnText(1);
            t.uri = (*st)->ColumnText(2);
            auto alg = ParseJwsAlgorithm((*st)->ColumnText(3));
            t.alg = alg.ok() ? *alg : JwsAlgorithm::kRS256;
            out.push_back(std::move(t));
          }
        }
        auto forget = db.Cached("DELETE FROM oidc_rp_sessions WHERE member_id = ?1");
        if (!forget.ok()) return forget.error();
        KITH_RETURN_IF_ERROR((*forget)->Bind(1, member_id).Run());
        // Access and refresh tokens the clients hold for the member end too.
        auto families = db.Cached(
            "UPDATE oidc_token_families SET revoked_at = ?1 "
            "WHERE member_id = ?2 AND revoked_at IS NULL");
        if (!families.ok()) return families.error();
        KITH_RETURN_IF_ERROR((*families)->Bind(1, now).Bind(2, member_id).Run());
        auto tokens = db.Cached(
            "DELETE FROM oidc_access_tokens WHERE family_id IN "
            "(SELECT id FROM oidc_token_families WHERE member_id = ?1)");
        if (!tokens.ok()) return tokens.error();
        KITH_RETURN_IF_ERROR((*tokens)->Bind(1, member_id).Run());
        return out;
      },
      std::move(done));
}

Result<BackchannelLogout> OidcProvider::SignLogout(const RpLogoutTarget& target,
                                                   std::string_view sub) const {
  auto keys = keys_();
  if (!keys) return MakeError(ErrorCode::kUnavailable, "no signing keys are loaded");
  const SigningKey* signer = keys->SignerFor(target.alg);
  if (signer == nullptr)
    return MakeError(ErrorCode::kInternal,
                     "no key signs " + std::string(JwsAlgorithmName(target.alg)));
  auto token = BuildLogoutToken(*signer, options_.issuer, target.client_id, sub, "", clock_);
  if (!token.ok()) return token.error();
  return BackchannelLogout{target.client_id, target.uri, std::move(token).value()};
}

void OidcProvider::SendLogouts(std::vector<BackchannelLogout> logouts) const {
  if (logouts.empty() || !logout_sender_) return;
  logout_sender_(std::move(logouts));
}

void OidcProvider::PurgeExpired(Done<int64_t> done) {
  const int64_t now = clock_.UnixSeconds();
  SubmitWrite<int64_t>(
      store_.writer(),
      [now](storage::Database& db) -> Result<int64_t> {
        int64_t total = 0;
        for (const char* sql : {
                 "DELETE FROM oidc_codes WHERE expires_at <= ?1",
                 "DELETE FROM oidc_access_tokens WHERE expires_at <= ?1",
                 "DELETE FROM oidc_refresh_tokens WHERE expires_at <= ?1",
                 "DELETE FROM oidc_used_jtis WHERE expires_at <= ?1",
                 "DELETE FROM oidc_rp_sessions WHERE expires_at <= ?1",
                 "DELETE FROM oidc_token_families WHERE created_at <= ?1 AND NOT EXISTS "
                 "(SELECT 1 FROM oidc_refresh_tokens r WHERE r.family_id = oidc_token_families.id) "
                 "AND NOT EXISTS (SELECT 1 FROM oidc_access_tokens a WHERE a.family_id = "
                 "oidc_token_families.id)",
             }) {
          auto st = db.Prepare(sql);
          if (!st.ok()) return st.error();
          KITH_RETURN_IF_ERROR(st->Bind(1, now).Run());
          total += db.Changes();
        }
        return total;
      },
      std::move(done));
}

}  // namespace kith::identity
