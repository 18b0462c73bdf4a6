#include "identity/oidc_provider.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "identity/jwk.h"
#include "identity/jws.h"
#include "identity_test_util.h"

namespace kith::identity {
namespace {

using std::chrono::seconds;
using testing::Await;

constexpr std::string_view kIssuer = "https://council-a.example";
constexpr std::string_view kRedirect = "https://rp.example/cb";
const std::string kVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-more-entropy";

OidcParams Params(std::initializer_list<std::pair<const std::string, std::string>> list) {
  OidcParams p;
  for (const auto& [k, v] : list) p.values.emplace(k, v);
  return p;
}

// The query parameters of a redirect URL.
std::map<std::string, std::string> Query(const std::string& url) {
  std::map<std::string, std::string> out;
  auto parsed = boost::urls::parse_uri(url);
  EXPECT_TRUE(parsed.has_value()) << url;
  if (!parsed) return out;
  for (auto p : parsed->params()) out[std::string(p.key)] = std::string(p.value);
  return out;
}

class OidcProviderTest : public testing::StoreFixture {
 protected:
  void SetUp() override {
    StoreFixture::SetUp();
    members_ = std::make_unique<MemberStore>(*store_, clock_);
    clients_ = std::make_unique<OidcClientStore>(*store_, clock_);
    ASSERT_TRUE(OidcKeys::EnsureRsaKey(dir_.path(), *store_, clock_).ok());
    auto keys = OidcKeySet::Load(dir_.path(), *store_, eddsa_, clock_);
    ASSERT_TRUE(keys.ok()) << keys.error().message;
    keys_ = *keys;
    OidcProvider::Options options;
    options.issuer = std::string(kIssuer);
    options.node_name = "council-a.example";
    provider_ = std::make_unique<OidcProvider>(
        *store_, clock_, *members_, *clients_, [this] { return keys_; }, options);
    NewMember m;
    m.handle = "Alice";
    m.display_name = "Alice Example";
    m.email = "alice@council-a.example";
    m.organisation = "Council A";
    auto alice = Await<Member>([&](Done<Member> d) { members_->Add(m, d); });
    ASSERT_TRUE(alice.ok()) << alice.error().message;
    alice_ = *alice;
  }

  RegisteredClient AddClient(NewOidcClient c) {
    if (c.name.empty()) c.name = "RP";
    if (c.redirect_uris.empty()) c.redirect_uris = {std::string(kRedirect)};
    auto r = Await<RegisteredClient>([&](Done<RegisteredClient> d) { clients_->Add(c, d); });
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : RegisteredClient{};
  }
  RegisteredClient Confidential(JwsAlgorithm alg = JwsAlgorithm::kRS256) {
    NewOidcClient c;
    c.first_party = true;
    c.id_token_alg = alg;
    c.post_logout_redirect_uris = {"https://rp.example/bye"};
    return AddClient(c);
  }

  OidcParams AuthorizeParams(const std::string& client_id,
                             const std::string& scope = "openid profile email") {
    return Params({{"client_id", client_id},
                   {"redirect_uri", std::string(kRedirect)},
                   {"response_type", "code"},
                   {"scope", scope},
                   {"state", "st&ate"},
                   {"nonce", "n-0S6_WzA2Mj"},
                   {"code_challenge", PkceChallenge(kVerifier)},
                   {"code_challenge_method", "S256"},
                   {"ui_locales", "en"},
                   {"some_unknown_param", "ignored"}});
  }

  // Runs the authorization endpoint for alice and answers the code.
  std::string Code(const std::string& client_id, OidcParams params) {
    auto check = provider_->CheckAuthorize(params);
    EXPECT_FALSE(check.error.has_value()) << check.error->message;
    if (!check.request) return {};
    auto redirect = Await<std::string>([&](Done<std::string> d) {
      provider_->IssueCode(*check.request, alice_.id, clock_.UnixSeconds(), d);
    });
    EXPECT_TRUE(redirect.ok()) << redirect.error().message;
    if (!redirect.ok()) return {};
    auto q = Query(*redirect);
    EXPECT_EQ(q["state"], "st&ate");
    EXPECT_EQ(q["iss"], kIssuer);
    EXPECT_EQ(redirect->rfind(std::string(kRedirect) + "?", 0), 0u) << *redirect;
    (void)client_id;
    return q["code"];
  }
  std::string Code(const std::string& client_id) {
    return Code(client_id, AuthorizeParams(client_id));
  }

  Result<TokenGrant> Exchange(const RegisteredClient& rc, const std::string& code,
                              std::optional<std::string> verifier = kVerifier,
                              std::string redirect = std::string(kRedirect)) {
    TokenRequest req;
    req.form = Params({{"grant_type", "authorization_code"},
                       {"code", code},
                       {"redirect_uri", redirect},
                       {"client_id", rc.client.client_id},
                       {"client_secret", rc.secret}});
    if (verifier) req.form.values["code_verifier"] = *verifier;
    return Await<TokenGrant>([&](Done<TokenGrant> d) { provider_->Token(req, d); });
  }
  Result<TokenGrant> Refresh(const RegisteredClient& rc, const std::string& token) {
    TokenRequest req;
    req.form = Params({{"grant_type", "refresh_token"}, {"refresh_token", token}});
    req.authorization_header = "Basic " + BasicCredentials(rc.client.client_id, rc.secret);
    return Await<TokenGrant>([&](Done<TokenGrant> d) { provider_->Token(req, d); });
  }
  static std::string BasicCredentials(const std::string& id, const std::string& secret) {
    const std::string plain = id + ":" + secret;
    std::string out(sodium_base64_encoded_len(plain.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(plain.data()),
                      plain.size(), sodium_base64_VARIANT_ORIGINAL);
    out.resize(out.size() - 1);
    return out;
  }
  static void ExpectOAuth(const Result<TokenGrant>& r, std::string_view code) {
    ASSERT_FALSE(r.ok()) << "expected " << code;
    EXPECT_EQ(r.error().reason, code) << r.error().message;
  }

  FakeClock clock_;
  std::shared_ptr<const SigningKey> eddsa_ = Ed25519SigningKey::Generate();
  std::shared_ptr<const OidcKeySet> keys_;
  std::unique_ptr<MemberStore> members_;
  std::unique_ptr<OidcClientStore> clients_;
  std::unique_ptr<OidcProvider> provider_;
  Member alice_;
};

TEST_F(OidcProviderTest, DiscoveryDocumentHasRequiredFields) {
  auto d = provider_->DiscoveryDocument();
  for (const char* f :
       {"issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
        "end_session_endpoint", "response_types_supported", "subject_types_supported",
        "id_token_signing_alg_values_supported", "scopes_supported",
        "token_endpoint_auth_methods_supported", "claims_supported"})
    EXPECT_TRUE(d.contains(f)) << f;
  EXPECT_EQ(d["issuer"], std::string(kIssuer));
  EXPECT_EQ(d["code_challenge_methods_supported"], nlohmann::json::array({"S256"}));
  EXPECT_EQ(d["authorization_response_iss_parameter_supported"], true);
  EXPECT_EQ(provider_->Jwks()["keys"].size(), 2u);
}

TEST_F(OidcProviderTest, CodeFlowIssuesVerifiableIdTokenUserInfoAndRotatesRefreshTokens) {
  auto rc = Confidential();
  const std::string code =
      Code(rc.client.client_id,
           AuthorizeParams(rc.client.client_id, "openid profile email offline_access"));
  auto grant = Exchange(rc, code);
  ASSERT_TRUE(grant.ok()) << grant.error().message;
  EXPECT_EQ(grant->member.id, alice_.id);
  EXPECT_FALSE(grant->refresh_token.empty());
  auto response = provider_->TokenResponse(*grant);
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ((*response)["token_type"], "Bearer");

  auto jwks = ParseJwks(provider_->Jwks());
  ASSERT_TRUE(jwks.ok());
  auto id_token = VerifyJwsWithKeys((*response)["id_token"].get<std::string>(), *jwks);
  ASSERT_TRUE(id_token.ok()) << id_token.error().message;
  EXPECT_EQ(id_token->algorithm, JwsAlgorithm::kRS256);
  auto claims = ParseJwtClaims(id_token->payload);
  ASSERT_TRUE(claims.ok());
  JwtExpectations expect;
  expect.issuer = std::string(kIssuer);
  expect.audience = rc.client.client_id;
  EXPECT_TRUE(CheckJwtClaims(*claims, expect, clock_).ok());
  EXPECT_EQ((*claims)["sub"], alice_.sub);
  EXPECT_EQ((*claims)["nonce"], "n-0S6_WzA2Mj");
  EXPECT_EQ((*claims)["auth_time"], clock_.UnixSeconds());

  auto info = provider_->UserInfo(grant->access_token);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ((*info)["sub"], alice_.sub);
  EXPECT_EQ((*info)["name"], "Alice Example");
  EXPECT_EQ((*info)["email"], "alice@council-a.example");
  EXPECT_EQ((*info)["email_verified"], true);
  EXPECT_EQ((*info)["preferred_username"], "alice@council-a.example");
  EXPECT_EQ((*info)["organisation"], "Council A");
  EXPECT_EQ((*info)["kith_node"], "council-a.example");

  // Rotation: the new refresh token works, the old one is spent.
  auto second = Refresh(rc, grant->refresh_token);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_NE(second->refresh_token, grant->refresh_token);
  EXPECT_TRUE(provider_->UserInfo(second->access_token).ok());
  auto second_response = provider_->TokenResponse(*second);
  ASSERT_TRUE(second_response.ok());
  EXPECT_FALSE((*second_response)["id_token"].get<std::string>().empty());

  // Reusing the old one revokes the whole family, including the newest tokens.
  ExpectOAuth(Refresh(rc, grant->refresh_token), "invalid_grant");
  ExpectOAuth(Refresh(rc, second->refresh_token), "invalid_grant");
  auto revoked = provider_->UserInfo(second->access_token);
  ASSERT_FALSE(revoked.ok());
  EXPECT_EQ(revoked.error().reason, "invalid_token");
  EXPECT_EQ(HttpStatusFor(revoked.error().code), 401);
}

TEST_F(OidcProviderTest, EdDsaClientGetsEdDsaIdTokenAndNoRefreshWithoutOfflineAccess) {
  auto rc = Confidential(JwsAlgorithm::kEdDSA);
  auto grant = Exchange(rc, Code(rc.client.client_id));
  ASSERT_TRUE(grant.ok()) << grant.error().message;
  EXPECT_TRUE(grant->refresh_token.empty());
  auto response = provider_->TokenResponse(*grant);
  ASSERT_TRUE(response.ok());
  EXPECT_FALSE(response->contains("refresh_token"));
  auto jwks = ParseJwks(provider_->Jwks());
  ASSERT_TRUE(jwks.ok());
  auto id_token = VerifyJwsWithKeys((*response)["id_token"].get<std::string>(), *jwks);
  ASSERT_TRUE(id_token.ok()) << id_token.error().message;
  EXPECT_EQ(id_token->algorithm, JwsAlgorithm::kEdDSA);
}

TEST_F(OidcProviderTest, UnknownClientAndBadRedirectAreNeverRedirected) {
  auto rc = Confidential();
  auto unknown = provider_->CheckAuthorize(AuthorizeParams("no-such-client"));
  EXPECT_FALSE(unknown.request.has_value());
  ASSERT_TRUE(unknown.error.has_value());
  auto params = AuthorizeParams(rc.client.client_id);
  params.values["redirect_uri"] = "https://evil.example/cb";
  auto bad = provider_->CheckAuthorize(params);
  EXPECT_FALSE(bad.request.has_value());
  ASSERT_TRUE(bad.error.has_value());
  EXPECT_NE(bad.error->message.find("redirect_uri"), std::string::npos);
  params.values["redirect_uri"] = std::string(kRedirect) + "/";  // exact match only
  EXPECT_FALSE(provider_->CheckAuthorize(params).request.has_value());
  params.values.erase("redirect_uri");
  EXPECT_FALSE(provider_->CheckAuthorize(params).request.has_value());
  auto dup = AuthorizeParams(rc.client.client_id);
  dup.duplicates = {"client_id"};
  EXPECT_FALSE(provider_->CheckAuthorize(dup).request.has_value());
}

TEST_F(OidcProviderTest, AuthorizeParameterErrorsGoBackToTheClient) {
  auto rc = Confidential();
  auto expect_error = [&](OidcParams p, std::string_view code) {
    auto c = provider_->CheckAuthorize(p);
    ASSERT_TRUE(c.request.has_value()) << code;
    ASSERT_TRUE(c.error.has_value()) << code;
    EXPECT_EQ(c.error->reason, code) << c.error->message;
    auto q = Query(provider_->ErrorRedirect(*c.request, *c.error));
    EXPECT_EQ(q["error"], code);
    EXPECT_EQ(q["iss"], kIssuer);
  };
  auto p = AuthorizeParams(rc.client.client_id);
  p.values["response_type"] = "token";
  expect_error(p, "unsupported_response_type");
  p = AuthorizeParams(rc.client.client_id);
  p.values.erase("response_type");
  expect_error(p, "invalid_request");
  p = AuthorizeParams(rc.client.client_id);
  p.values["code_challenge_method"] = "plain";
  expect_error(p, "invalid_request");
  p = AuthorizeParams(rc.client.client_id);
  p.values["code_challenge"] = "short";
  expect_error(p, "invalid_request");
  p = AuthorizeParams(rc.client.client_id, "profile email");
  expect_error(p, "invalid_scope");
  p = AuthorizeParams(rc.client.client_id);
  p.values["prompt"] = "none login";
  expect_error(p, "invalid_request");
  p = AuthorizeParams(rc.client.client_id);
  p.values["max_age"] = "-5";
  expect_error(p, "invalid_request");
  p = AuthorizeParams(rc.client.client_id);
  p.duplicates = {"scope"};
  expect_error(p, "invalid_request");

  // Public clients must use PKCE; confidential ones may omit it.
  NewOidcClient pub;
  pub.is_public = true;
  auto public_client = AddClient(pub);
  p = AuthorizeParams(public_client.client.client_id);
  p.values.erase("code_challenge");
  p.values.erase("code_challenge_method");
  expect_error(p, "invalid_request");
  p.values["client_id"] = rc.client.client_id;
  auto ok = provider_->CheckAuthorize(p);
  EXPECT_FALSE(ok.error.has_value());
  ASSERT_TRUE(ok.request.has_value());
  EXPECT_EQ(ok.request->scope, "openid profile email");
}

TEST_F(OidcProviderTest, PromptMaxAgeAndConsentDecideTheNextStep) {
  auto first_party = Confidential();
  auto p = AuthorizeParams(first_party.client.client_id);
  auto req = *provider_->CheckAuthorize(p).request;
  EXPECT_EQ(provider_->Next(req, nullptr, false).step, AuthorizeStep::kSignIn);
  Session session;
  session.member_id = alice_.id;
  session.auth_time = clock_.UnixSeconds();
  EXPECT_EQ(provider_->Next(req, &session, false).step, AuthorizeStep::kIssueCode);

  p.values["prompt"] = "none";
  auto none = *provider_->CheckAuthorize(p).request;
  auto no_session = provider_->Next(none, nullptr, false);
  EXPECT_EQ(no_session.step, AuthorizeStep::kErrorToRp);
  EXPECT_EQ(no_session.error->reason, "login_required");
  EXPECT_EQ(provider_->Next(none, &session, false).step, AuthorizeStep::kIssueCode);

  // max_age: an older sign-in forces a new one (or login_required with prompt=none).
  p.values["max_age"] = "300";
  auto aged_none = *provider_->CheckAuthorize(p).request;
  p.values.erase("prompt");
  auto aged = *provider_->CheckAuthorize(p).request;
  clock_.Advance(seconds(301));
  EXPECT_EQ(provider_->Next(aged, &session, false).step, AuthorizeStep::kSignIn);
  EXPECT_EQ(provider_->Next(aged, &session, true).step, AuthorizeStep::kIssueCode);
  EXPECT_EQ(provider_->Next(aged_none, &session, false).error->reason, "login_required");

  // max_age=0 is prompt=login: even a sign-in this very second does not count.
  p.values["max_age"] = "0";
  auto zero = *provider_->CheckAuthorize(p).request;
  Session fresh = session;
  fresh.auth_time = clock_.UnixSeconds();
  EXPECT_EQ(provider_->Next(zero, &fresh, false).step, AuthorizeStep::kSignIn);
  EXPECT_EQ(provider_->Next(zero, &fresh, true).step, AuthorizeStep::kIssueCode);

  p.values.erase("max_age");
  p.values["prompt"] = "login";
  auto login = *provider_->CheckAuthorize(p).request;
  EXPECT_EQ(provider_->Next(login, &session, false).step, AuthorizeStep::kSignIn);
  EXPECT_EQ(provider_->Next(login, &session, true).step, AuthorizeStep::kIssueCode);

  // Third-party clients ask for consent once, then remember it.
  auto third = AddClient(NewOidcClient{});
  auto tp = AuthorizeParams(third.client.client_id);
  auto treq = *provider_->CheckAuthorize(tp).request;
  EXPECT_EQ(provider_->Next(treq, &session, false).step, AuthorizeStep::kConsent);
  tp.values["prompt"] = "none";
  auto tnone = *provider_->CheckAuthorize(tp).request;
  EXPECT_EQ(provider_->Next(tnone, &session, false).error->reason, "consent_required");
  ASSERT_TRUE(Await<void>([&](Done<void> d) {
                provider_->RecordConsent(alice_.id, third.client.client_id, treq.scope, d);
              }).ok());
  EXPECT_EQ(provider_->Next(treq, &session, false).step, AuthorizeStep::kIssueCode);
  EXPECT_EQ(provider_->Next(tnone, &session, false).step, AuthorizeStep::kIssueCode);
  // A wider scope than consented asks again.
  auto wider = *provider_
                    ->CheckAuthorize(AuthorizeParams(third.client.client_id,
                                                     "openid profile email offline_access"))
                    .request;
  EXPECT_EQ(provider_->Next(wider, &session, false).step, AuthorizeStep::kConsent);
}

TEST_F(OidcProviderTest, PkceVerifierMissingOrWrongIsRefused) {
  auto rc = Confidential();
  ExpectOAuth(Exchange(rc, Code(rc.client.client_id), std::nullopt), "invalid_grant");
  ExpectOAuth(Exchange(rc, Code(rc.client.client_id), kVerifier + "x"), "invalid_grant");
  ExpectOAuth(Exchange(rc, Code(rc.client.client_id), "short"), "invalid_grant");
  // A verifier without a challenge in the request is refused too.
  auto p = AuthorizeParams(rc.client.client_id);
  p.values.erase("code_challenge");
  p.values.erase("code_challenge_method");
  ExpectOAuth(Exchange(rc, Code(rc.client.client_id, p)), "invalid_grant");
  EXPECT_TRUE(Exchange(rc, Code(rc.client.client_id, p), std::nullopt).ok());
  // A failed attempt spends the code.
  const std::string code = Code(rc.client.client_id);
  ExpectOAuth(Exchange(rc, code, kVerifier + "x"), "invalid_grant");
  ExpectOAuth(Exchange(rc, code), "invalid_grant");
}

TEST_F(OidcProviderTest, ReusedCodeRevokesTokensIssuedFromIt) {
  auto rc = Confidential();
  const std::string code = Code(
      rc.client.client_id, AuthorizeParams(rc.client.client_id, "openid profile offline_access"));
  auto first = Exchange(rc, code);
  ASSERT_TRUE(first.ok()) << first.error().message;
  ASSERT_TRUE(provider_->UserInfo(first->access_token).ok());
  ExpectOAuth(Exchange(rc, code), "invalid_grant");
  EXPECT_FALSE(provider_->UserInfo(first->access_token).ok());
  ExpectOAuth(Refresh(rc, first->refresh_token), "invalid_grant");
}

TEST_F(OidcProviderTest, ExpiredCodeRedirectMismatchAndOtherClientAreRefused) {
  auto rc = Confidential();
  auto other = Confidential();
  const std::string code = Code(rc.client.client_id);
  clock_.Advance(seconds(61));
  ExpectOAuth(Exchange(rc, code), "invalid_grant");

  ExpectOAuth(Exchange(rc, Code(rc.client.client_id), kVerifier, "https://rp.example/other"),
              "invalid_grant");

  const std::string stolen = Code(rc.client.client_id);
  ExpectOAuth(Exchange(other, stolen), "invalid_grant");
  // The rightful client can still use it.
  EXPECT_TRUE(Exchange(rc, stolen).ok());

  ExpectOAuth(Exchange(rc, "not-a-code"), "invalid_grant");
}

TEST_F(OidcProviderTest, ClientAuthenticationFailuresAreInvalidClient) {
  auto rc = Confidential();
  auto wrong = rc;
  wrong.secret = "wrong-secret";
  auto r = Exchange(wrong, Code(rc.client.client_id));
  ExpectOAuth(r, "invalid_client");
  EXPECT_EQ(HttpStatusFor(r.error().code), 401);

  TokenRequest req;
  req.form = Params({{"grant_type", "authorization_code"},
                     {"code", Code(rc.client.client_id)},
                     {"redirect_uri", std::string(kRedirect)},
                     {"code_verifier", kVerifier}});
  req.authorization_header = "Basic " + BasicCredentials(rc.client.client_id, rc.secret);
  EXPECT_TRUE(Await<TokenGrant>([&](Done<TokenGrant> d) { provider_->Token(req, d); }).ok());

  req.authorization_header = "Basic !!!";
  ExpectOAuth(Await<TokenGrant>([&](Done<TokenGrant> d) { provider_->Token(req, d); }),
              "invalid_client");
  req.authorization_header.clear();
  ExpectOAuth(Await<TokenGrant>([&](Done<TokenGrant> d) { provider_->Token(req, d); }),
              "invalid_client");
  req.form.values["client_id"] = rc.client.client_id;  // confidential without a secret
  ExpectOAuth(Await<TokenGrant>([&](Done<TokenGrant> d) { provider_->Token(req, d); }),
              "invalid_client");
  req.form.values["client_secret"] = rc.secret;
  req.form.values["grant_type"] = "password";
  ExpectOAuth(Await<TokenGrant>([&](Done<TokenGrant> d) { provider_->Token(req, d); }),
              "unsupported_grant_type");
}

class PrivateKeyJwtTest : public OidcProviderTest {
 protected:
  RegisteredClient JwtClient(const SigningKey& key) {
    NewOidcClient c;
    c.first_party = true;
    c.auth_method = ClientAuthMethod::kPrivateKeyJwt;
    c.jwks_json = JwksDocument({key.public_jwk()}).dump();
    return AddClient(c);
  }
  std::string Assertion(const SigningKey& key, const std::string& client_id, const std::string& jti,
                        std::string aud = {}, int64_t lifetime = 60) {
    nlohmann::json claims = {{"iss", client_id},
                             {"sub", client_id},
                             {"aud", aud.empty() ? provider_->TokenEndpoint() : aud},
                             {"jti", jti},
                             {"iat", clock_.UnixSeconds()},
                             {"exp", clock_.UnixSeconds() + lifetime}};
    auto s = SignJws(key, claims.dump());
    EXPECT_TRUE(s.ok());
    return s.ok() ? *s : "";
  }
  Result<TokenGrant> ExchangeJwt(const RegisteredClient& rc, const std::string& assertion) {
    TokenRequest req;
    req.form =
        Params({{"grant_type", "authorization_code"},
                {"code", Code(rc.client.client_id)},
                {"redirect_uri", std::string(kRedirect)},
                {"code_verifier", kVerifier},
                {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
                {"client_assertion", assertion}});
    return Await<TokenGrant>([&](Done<TokenGrant> d) { provider_->Token(req, d); });
  }
};

TEST_F(PrivateKeyJwtTest, EdDsaAndRs256AssertionsWorkOnceEach) {
  auto ed = Ed25519SigningKey::Generate();
  auto rc = JwtClient(*ed);
  const std::string a = Assertion(*ed, rc.client.client_id, "jti-1");
  auto ok = ExchangeJwt(rc, a);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  ExpectOAuth(ExchangeJwt(rc, a), "invalid_client");  // replayed jti
  EXPECT_TRUE(
      ExchangeJwt(rc, Assertion(*ed, rc.client.client_id, "jti-2", std::string(kIssuer))).ok());

  auto rsa = RsaSigningKey::Generate();
  ASSERT_TRUE(rsa.ok());
  auto rsa_client = JwtClient(**rsa);
  auto r = ExchangeJwt(rsa_client, Assertion(**rsa, rsa_client.client.client_id, "jti-1"));
  EXPECT_TRUE(r.ok()) << r.error().message;
}

TEST_F(PrivateKeyJwtTest, BadAssertionsAreRefused) {
  auto ed = Ed25519SigningKey::Generate();
  auto other_key = Ed25519SigningKey::Generate();
  auto rc = JwtClient(*ed);
  const std::string id = rc.client.client_id;
  ExpectOAuth(ExchangeJwt(rc, Assertion(*other_key, id, "a")), "invalid_client");
  ExpectOAuth(ExchangeJwt(rc, Assertion(*ed, id, "b", "https://elsewhere.example")),
              "invalid_client");
  ExpectOAuth(ExchangeJwt(rc, Assertion(*ed, id, "c", {}, -120)), "invalid_client");  // expired
  ExpectOAuth(ExchangeJwt(rc, Assertion(*ed, id, "d", {}, 3600)), "invalid_client");  // too long
  ExpectOAuth(ExchangeJwt(rc, Assertion(*ed, id, "")), "invalid_client");             // no jti
  ExpectOAuth(ExchangeJwt(rc, "not.a.jws"), "invalid_client");
  // A secret client cannot authenticate with an assertion.
  auto secret_client = Confidential();
  ExpectOAuth(ExchangeJwt(secret_client, Assertion(*ed, secret_client.client.client_id, "e")),
              "invalid_client");
}

TEST_F(OidcProviderTest, ExpiredRefreshTokenIsRefused) {
  auto rc = Confidential();
  auto grant = Exchange(
      rc, Code(rc.client.client_id, AuthorizeParams(rc.client.client_id, "openid offline_access")));
  ASSERT_TRUE(grant.ok());
  clock_.Advance(provider_->options().refresh_token_ttl + seconds(1));
  ExpectOAuth(Refresh(rc, grant->refresh_token), "invalid_grant");
  auto expired_access = provider_->UserInfo(grant->access_token);
  ASSERT_FALSE(expired_access.ok());
  EXPECT_EQ(expired_access.error().reason, "invalid_token");
  ExpectOAuth(Refresh(rc, "unknown"), "invalid_grant");
}

TEST_F(OidcProviderTest, DisabledMemberGetsNoCodeTokensOrUserInfo) {
  auto rc = Confidential();
  auto grant = Exchange(
      rc, Code(rc.client.client_id, AuthorizeParams(rc.client.client_id, "openid offline_access")));
  ASSERT_TRUE(grant.ok());
  const std::string pending = Code(rc.client.client_id);
  auto check = provider_->CheckAuthorize(AuthorizeParams(rc.client.client_id));
  ASSERT_TRUE(Await<Member>([&](Done<Member> d) {
                members_->SetStatus(alice_.id, MemberStatus::kDisabled, d);
              }).ok());
  ExpectOAuth(Exchange(rc, pending), "invalid_grant");
  ExpectOAuth(Refresh(rc, grant->refresh_token), "invalid_grant");
  EXPECT_EQ(provider_->UserInfo(grant->access_token).error().reason, "invalid_token");
  auto code = Await<std::string>([&](Done<std::string> d) {
    provider_->IssueCode(*check.request, alice_.id, clock_.UnixSeconds(), d);
  });
  ASSERT_FALSE(code.ok());
  EXPECT_EQ(code.error().code, ErrorCode::kPermissionDenied);
}

TEST_F(OidcProviderTest, EndSessionRedirectsOnlyToRegisteredUris) {
  auto rc = Confidential();
  auto grant = Exchange(rc, Code(rc.client.client_id));
  ASSERT_TRUE(grant.ok());
  auto response = provider_->TokenResponse(*grant);
  ASSERT_TRUE(response.ok());
  const std::string hint = (*response)["id_token"].get<std::string>();

  auto plain = provider_->CheckEndSession(OidcParams{});
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->redirect_uri.empty());

  auto with_hint =
      provider_->CheckEndSession(Params({{"id_token_hint", hint},
                                         {"post_logout_redirect_uri", "https://rp.example/bye"},
                                         {"state", "s1"}}));
  ASSERT_TRUE(with_hint.ok()) << with_hint.error().message;
  EXPECT_EQ(with_hint->redirect_uri, "https://rp.example/bye?state=s1");
  EXPECT_EQ(with_hint->client_id, rc.client.client_id);

  EXPECT_TRUE(
      provider_
          ->CheckEndSession(Params({{"client_id", rc.client.client_id},
                                    {"post_logout_redirect_uri", "https://rp.example/bye"}}))
          .ok());
  EXPECT_FALSE(
      provider_
          ->CheckEndSession(Params({{"client_id", rc.client.client_id},
                                    {"post_logout_redirect_uri", "https://evil.example/"}}))
          .ok());
  EXPECT_FALSE(
      provider_->CheckEndSession(Params({{"post_logout_redirect_uri", "https://rp.example/bye"}}))
          .ok());
  EXPECT_FALSE(provider_->CheckEndSession(Params({{"id_token_hint", "x.y.z"}})).ok());
  auto foreign = Ed25519SigningKey::Generate();
  auto forged = SignJws(
      *foreign, nlohmann::json{{"iss", std::string(kIssuer)}, {"aud", rc.client.client_id}}.dump());
  ASSERT_TRUE(forged.ok());
  EXPECT_FALSE(provider_->CheckEndSession(Params({{"id_token_hint", *forged}})).ok());
}

TEST_F(OidcProviderTest, PurgeRemovesExpiredRows) {
  auto rc = Confidential();
  (void)Code(rc.client.client_id);
  clock_.Advance(seconds(61));
  auto purged = Await<int64_t>([&](Done<int64_t> d) { provider_->PurgeExpired(d); });
  ASSERT_TRUE(purged.ok()) << purged.error().message;
  EXPECT_GE(*purged, 1);
}

TEST(PkceTest, MatchesRfc7636Example) {
  // RFC 7636 Appendix B.
  EXPECT_EQ(PkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  EXPECT_TRUE(CheckPkce("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
  EXPECT_FALSE(CheckPkce("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK",
                         "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
  EXPECT_FALSE(CheckPkce("short", PkceChallenge("short")));
}

}  // namespace
}  // namespace kith::identity
