#include "identity/oidc_relying_party.h"

#include <gtest/gtest.h>

#include <boost/url/parse.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "identity/jws.h"
#include "identity/oidc_keys.h"
#include "identity/oidc_provider.h"
#include "identity/session_store.h"
#include "identity_test_util.h"

namespace kith::identity {
namespace {

using std::chrono::seconds;
using testing::Await;

constexpr std::string_view kHome = "https://council-a.example";  // the provider (node A)
constexpr std::string_view kRp = "https://is.example";           // the relying party (node B)
const std::string kCallback = std::string(kRp) + "/sign-in/callback";

std::map<std::string, std::string> Query(const std::string& url) {
  std::map<std::string, std::string> out;
  auto parsed = boost::urls::parse_uri(url);
  EXPECT_TRUE(parsed.has_value()) << url;
  if (!parsed) return out;
  for (auto p : parsed->params()) out[std::string(p.key)] = std::string(p.value);
  return out;
}

OidcParams ToParams(const std::map<std::string, std::string>& m) {
  OidcParams p;
  for (const auto& [k, v] : m) p.values.emplace(k, v);
  return p;
}

// Decodes an application/x-www-form-urlencoded body (what RpTokenRequestBody makes).
OidcParams FormParams(const std::string& body) { return ToParams(Query("https://x/?" + body)); }

TEST(RpAuthRequestTest, FreshRandomValuesAndS256Challenge) {
  FakeClock clock;
  auto a = NewRpAuthRequest(std::string(kHome), kCallback, true, "", clock);
  auto b = NewRpAuthRequest(std::string(kHome), kCallback, false, "/groups", clock);
  EXPECT_EQ(a.state.size(), 43u);
  EXPECT_NE(a.state, b.state);
  EXPECT_NE(a.nonce, b.nonce);
  EXPECT_NE(a.code_verifier, b.code_verifier);
  EXPECT_TRUE(CheckPkce(a.code_verifier, a.CodeChallenge()));
  EXPECT_EQ(a.return_to, "/");
  EXPECT_EQ(b.return_to, "/groups");
  EXPECT_EQ(a.created_at, clock.UnixSeconds());
}

TEST(RpAuthRequestTest, AuthorizationUrlCarriesEverything) {
  FakeClock clock;
  auto r = NewRpAuthRequest(std::string(kHome), kCallback, true, "", clock);
  auto url = RpAuthorizationUrl(std::string(kHome) + "/oidc/authorize", kRp, r, "alice");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->rfind(std::string(kHome) + "/oidc/authorize?", 0), 0u);
  auto q = Query(*url);
  EXPECT_EQ(q["response_type"], "code");
  EXPECT_EQ(q["client_id"], kRp);
  EXPECT_EQ(q["redirect_uri"], kCallback);
  EXPECT_EQ(q["scope"], "openid profile");
  EXPECT_EQ(q["state"], r.state);
  EXPECT_EQ(q["nonce"], r.nonce);
  EXPECT_EQ(q["code_challenge"], r.CodeChallenge());
  EXPECT_EQ(q["code_challenge_method"], "S256");
  EXPECT_EQ(q["prompt"], "none");
  EXPECT_EQ(q["login_hint"], "alice");
  r.prompt_none = false;
  EXPECT_EQ(
      Query(*RpAuthorizationUrl(std::string(kHome) + "/oidc/authorize", kRp, r)).count("prompt"),
      0u);
  EXPECT_FALSE(RpAuthorizationUrl("javascript:alert(1)", kRp, r).ok());
  EXPECT_FALSE(RpAuthorizationUrl("/relative", kRp, r).ok());
}

TEST(RpPendingRequestsTest, OneTimeAndShortLived) {
  FakeClock clock;
  RpPendingRequests pending(clock, seconds(600), 3);
  auto a = NewRpAuthRequest(std::string(kHome), kCallback, false, "", clock);
  pending.Put(a);
  EXPECT_FALSE(pending.Take("unknown").has_value());
  auto taken = pending.Take(a.state);
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->nonce, a.nonce);
  EXPECT_FALSE(pending.Take(a.state).has_value()) << "a state is used once";

  auto b = NewRpAuthRequest(std::string(kHome), kCallback, false, "", clock);
  pending.Put(b);
  clock.Advance(seconds(601));
  EXPECT_FALSE(pending.Take(b.state).has_value()) << "expired";
  EXPECT_EQ(pending.size(), 0u);

  // Bounded: the oldest go first.
  std::vector<RpAuthRequest> many;
  for (int i = 0; i < 5; ++i) {
    many.push_back(NewRpAuthRequest(std::string(kHome), kCallback, false, "", clock));
    pending.Put(many.back());
    clock.Advance(seconds(1));
  }
  EXPECT_EQ(pending.size(), 3u);
  EXPECT_FALSE(pending.Take(many[0].state).has_value());
  EXPECT_TRUE(pending.Take(many[4].state).has_value());
}

TEST(DomainOfBaseUrlTest, HostAndPort) {
  EXPECT_EQ(*DomainOfBaseUrl("https://Council-A.example"), "council-a.example");
  EXPECT_EQ(*DomainOfBaseUrl("http://127.0.0.1:8402"), "127.0.0.1:8402");
  EXPECT_FALSE(DomainOfBaseUrl("ftp://a.example").ok());
  EXPECT_FALSE(DomainOfBaseUrl("https://user@a.example").ok());
  EXPECT_FALSE(DomainOfBaseUrl("a.example").ok());
}

TEST(ClientAssertionTest, ClaimsAndSignature) {
  FakeClock clock;
  auto key = Ed25519SigningKey::Generate();
  auto jwt = ClientAssertion(*key, kRp, std::string(kHome) + "/oidc/token", clock, seconds(60));
  ASSERT_TRUE(jwt.ok());
  auto verified = VerifyJwsWithKeys(*jwt, {key->public_jwk()});
  ASSERT_TRUE(verified.ok());
  EXPECT_EQ(verified->algorithm, JwsAlgorithm::kEdDSA);
  auto claims = ParseJwtClaims(verified->payload);
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ((*claims)["iss"], kRp);
  EXPECT_EQ((*claims)["sub"], kRp);
  EXPECT_EQ((*claims)["aud"], std::string(kHome) + "/oidc/token");
  EXPECT_EQ((*claims)["exp"].get<int64_t>() - (*claims)["iat"].get<int64_t>(), 60);
  EXPECT_FALSE((*claims)["jti"].get<std::string>().empty());
  auto again = ClientAssertion(*key, kRp, "aud", clock);
  auto again_claims = ParseJwtClaims(ParseJws(*again)->payload);
  EXPECT_NE((*again_claims)["jti"], (*claims)["jti"]);
}

// ID tokens signed by a stand-alone key, to check each rule of VerifyIdToken.
class VerifyIdTokenTest : public ::testing::Test {
 protected:
  std::string Token(nlohmann::json overrides, const SigningKey* with = nullptr) {
    nlohmann::json claims = {{"iss", kHome},
                             {"sub", "s-123"},
                             {"aud", kRp},
                             {"iat", clock_.UnixSeconds()},
                             {"exp", clock_.UnixSeconds() + 3600},
                             {"auth_time", clock_.UnixSeconds() - 5},
                             {"nonce", "n-1"}};
    for (auto& [k, v] : overrides.items()) {
      if (v.is_null())
        claims.erase(k);
      else
        claims[k] = v;
    }
    return *SignJws(with ? *with : *key_, claims.dump());
  }
  Result<RemoteIdentity> Verify(const std::string& token, std::string nonce = "n-1") {
    return VerifyIdToken(token, {key_->public_jwk()}, kHome, kRp, nonce, clock_);
  }
  FakeClock clock_;
  std::unique_ptr<Ed25519SigningKey> key_ = Ed25519SigningKey::Generate();
};

TEST_F(VerifyIdTokenTest, AcceptsAGoodTokenAndMergesProfile) {
  auto id = Verify(Token({}));
  ASSERT_TRUE(id.ok()) << id.error().message;
  EXPECT_EQ(id->sub, "s-123");
  EXPECT_EQ(id->issuer, kHome);
  EXPECT_EQ(id->auth_time, clock_.UnixSeconds() - 5);
  EXPECT_TRUE(id->handle.empty());
  nlohmann::json info = {{"sub", "s-123"},
                         {"preferred_username", "Alice@council-a.example"},
                         {"name", "Alice Example"},
                         {"organisation", "Council A"}};
  ASSERT_TRUE(MergeProfile(*id, info).ok());
  EXPECT_EQ(id->handle, "alice");
  EXPECT_EQ(id->address, "alice@council-a.example");
  EXPECT_EQ(id->name, "Alice Example");
  EXPECT_EQ(id->organisation, "Council A");

  // The profile may come in the ID token itself.
  auto with_profile = Verify(Token({{"preferred_username", "bob"}}));
  ASSERT_TRUE(with_profile.ok());
  EXPECT_EQ(with_profile->address, "bob@council-a.example");
}

TEST_F(VerifyIdTokenTest, RefusesWhatIsWrong) {
  auto refused = [&](const Result<RemoteIdentity>& r, const char* what) {
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.error().reason, "invalid_id_token") << what;
    EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated) << what;
  };
  refused(Verify(Token({}), "other-nonce"), "nonce");
  refused(Verify(Token({}), ""), "no expected nonce");
  refused(Verify(Token({{"nonce", nullptr}})), "missing nonce");
  refused(Verify(Token({{"iss", "https://evil.example"}})), "iss");
  refused(Verify(Token({{"aud", "https://other-rp.example"}})), "aud");
  refused(Verify(Token({{"aud", {kRp, "https://x.example"}}})), "several aud without azp");
  refused(Verify(Token({{"azp", "https://x.example"}})), "azp");
  refused(Verify(Token({{"exp", clock_.UnixSeconds() - 120}})), "expired");
  refused(Verify(Token({{"iat", clock_.UnixSeconds() - 3600}})), "too old");
  refused(Verify(Token({{"sub", nullptr}})), "sub");
  auto other = Ed25519SigningKey::Generate();
  refused(Verify(Token({}, other.get())), "signature by an unknown key");
  refused(Verify("not-a-jwt"), "garbage");
  // A profile for another subject, another node or a bad handle.
  auto id = Verify(Token({}));
  ASSERT_TRUE(id.ok());
  EXPECT_FALSE(MergeProfile(*id, {{"sub", "s-999"}, {"preferred_username", "alice"}}).ok());
  EXPECT_FALSE(
      MergeProfile(*id, {{"sub", "s-123"}, {"preferred_username", "alice@other.example"}}).ok());
  EXPECT_FALSE(MergeProfile(*id, {{"sub", "s-123"}, {"preferred_username", "a b"}}).ok());
  EXPECT_FALSE(MergeProfile(*id, {{"sub", "s-123"}}).ok());
}

// The whole exchange against a real OidcProvider (node A) with B registered the way peering
// registers it: private_key_jwt with B's Ed25519 key, EdDSA ID tokens, first party.
class RelyingPartyRoundTripTest : public testing::StoreFixture {
 protected:
  void SetUp() override {
    StoreFixture::SetUp();
    members_ = std::make_unique<MemberStore>(*store_, clock_);
    clients_ = std::make_unique<OidcClientStore>(*store_, clock_);
    ASSERT_TRUE(OidcKeys::EnsureRsaKey(dir_.path(), *store_, clock_).ok());
    auto keys = OidcKeySet::Load(dir_.path(), *store_, home_key_, clock_);
    ASSERT_TRUE(keys.ok()) << keys.error().message;
    keys_ = *keys;
    OidcProvider::Options options;
    options.issuer = std::string(kHome);
    options.node_name = "council-a.example";
    provider_ = std::make_unique<OidcProvider>(
        *store_, clock_, *members_, *clients_, [this] { return keys_; }, options);
    NewMember m;
    m.handle = "alice";
    m.display_name = "Alice Example";
    m.email = "alice@council-a.example";
    auto alice = Await<Member>([&](Done<Member> d) { members_->Add(m, d); });
    ASSERT_TRUE(alice.ok());
    alice_ = *alice;
    NewOidcClient c;
    c.client_id = std::string(kRp);
    c.name = "Improvement Service";
    c.redirect_uris = {kCallback};
    c.first_party = true;
    c.id_token_alg = JwsAlgorithm::kEdDSA;
    c.auth_method = ClientAuthMethod::kPrivateKeyJwt;
    c.jwks_json = JwksDocument({rp_key_->public_jwk()}).dump();
    ASSERT_TRUE(
        Await<RegisteredClient>([&](Done<RegisteredClient> d) { clients_->Add(c, d); }).ok());
  }

  FakeClock clock_;
  std::shared_ptr<const SigningKey> home_key_ = Ed25519SigningKey::Generate();
  std::unique_ptr<Ed25519SigningKey> rp_key_ = Ed25519SigningKey::Generate();
  std::shared_ptr<const OidcKeySet> keys_;
  std::unique_ptr<MemberStore> members_;
  std::unique_ptr<OidcClientStore> clients_;
  std::unique_ptr<OidcProvider> provider_;
  Member alice_;
};

TEST_F(RelyingPartyRoundTripTest, PromptNoneCodeAssertionIdTokenUserInfo) {
  // B starts: a pending request, and the browser goes to A's authorize endpoint.
  RpPendingRequests pending(clock_);
  auto started = NewRpAuthRequest(std::string(kHome), kCallback, true, "/", clock_);
  pending.Put(started);
  auto url = RpAuthorizationUrl(provider_->AuthorizationEndpoint(), kRp, started);
  ASSERT_TRUE(url.ok());

  // A: alice has a session there, so prompt=none passes without any page.
  auto check = provider_->CheckAuthorize(ToParams(Query(*url)));
  ASSERT_FALSE(check.error.has_value()) << check.error->message;
  ASSERT_TRUE(check.request->prompt_none);
  Session session;
  session.member_id = alice_.id;
  session.auth_time = clock_.UnixSeconds();
  EXPECT_EQ(provider_->Next(*check.request, &session, false).step, AuthorizeStep::kIssueCode)
      << "a peer is first party: no consent page";
  auto no_session = provider_->Next(*check.request, nullptr, false);
  EXPECT_EQ(no_session.step, AuthorizeStep::kErrorToRp);
  EXPECT_EQ(no_session.error->reason, "login_required");
  auto redirect = Await<std::string>([&](Done<std::string> d) {
    provider_->IssueCode(*check.request, alice_.id, clock_.UnixSeconds(), d);
  });
  ASSERT_TRUE(redirect.ok());
  EXPECT_EQ(redirect->rfind(kCallback + "?", 0), 0u);
  auto back = Query(*redirect);
  EXPECT_EQ(back["iss"], kHome);

  // B's callback: the state finds the pending request once.
  auto kept = pending.Take(back["state"]);
  ASSERT_TRUE(kept.has_value());
  EXPECT_FALSE(pending.Take(back["state"]).has_value());
  auto assertion = ClientAssertion(*rp_key_, kRp, provider_->TokenEndpoint(), clock_);
  ASSERT_TRUE(assertion.ok());
  TokenRequest token_request;
  token_request.form = FormParams(
      RpTokenRequestBody(back["code"], kept->redirect_uri, kept->code_verifier, kRp, *assertion));
  auto grant = Await<TokenGrant>([&](Done<TokenGrant> d) { provider_->Token(token_request, d); });
  ASSERT_TRUE(grant.ok()) << grant.error().message;
  auto response = provider_->TokenResponse(*grant);
  ASSERT_TRUE(response.ok());
  const std::string id_token = (*response)["id_token"];
  EXPECT_EQ(ParseJws(id_token)->algorithm, JwsAlgorithm::kEdDSA);

  // B verifies against A's JWKS and reads UserInfo.
  auto jwks = ParseJwks(provider_->Jwks());
  ASSERT_TRUE(jwks.ok());
  auto who = VerifyIdToken(id_token, *jwks, kHome, kRp, kept->nonce, clock_);
  ASSERT_TRUE(who.ok()) << who.error().message;
  EXPECT_EQ(who->sub, alice_.sub);
  auto info = provider_->UserInfo((*response)["access_token"].get<std::string>());
  ASSERT_TRUE(info.ok());
  ASSERT_TRUE(MergeProfile(*who, *info).ok());
  EXPECT_EQ(who->address, "alice@council-a.example");
  EXPECT_EQ(who->name, "Alice Example");

  // The same code and assertion cannot be used again; a wrong verifier is refused.
  auto again = Await<TokenGrant>([&](Done<TokenGrant> d) { provider_->Token(token_request, d); });
  EXPECT_FALSE(again.ok());
  auto assertion2 = ClientAssertion(*rp_key_, kRp, provider_->TokenEndpoint(), clock_);
  TokenRequest wrong;
  wrong.form = FormParams(
      RpTokenRequestBody(back["code"], kCallback, std::string(43, 'a'), kRp, *assertion2));
  EXPECT_FALSE(Await<TokenGrant>([&](Done<TokenGrant> d) { provider_->Token(wrong, d); }).ok());
}

// Remote members' sessions (SessionStore's remote half, migration 0008).
class RemoteSessionTest : public testing::StoreFixture {
 protected:
  void SetUp() override {
    StoreFixture::SetUp();
    sessions_ = std::make_unique<SessionStore>(*store_, clock_);
  }
  RemoteSignIn Alice() {
    return RemoteSignIn{"alice@council-a.example", "alice",     std::string(kHome),       "s-1",
                        "Alice Example",           "Council A", clock_.UnixSeconds() - 10};
  }
  FakeClock clock_;
  std::unique_ptr<SessionStore> sessions_;
};

TEST_F(RemoteSessionTest, CreateAuthenticateRevoke) {
  auto created = Await<NewSession>([&](Done<NewSession> d) {
    sessions_->CreateRemote(Alice(), SessionContext{"1.2.3.4", "ua"}, d);
  });
  ASSERT_TRUE(created.ok()) << created.error().message;
  auto s = sessions_->AuthenticateAny(created->token);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(s->remote());
  EXPECT_EQ(s->member_id, 0);
  EXPECT_EQ(s->remote_address, "alice@council-a.example");
  EXPECT_EQ(s->home_node, kHome);
  EXPECT_EQ(s->display_name, "Alice Example");
  EXPECT_EQ(s->auth_time, clock_.UnixSeconds() - 10);
  EXPECT_EQ(s->csrf_token, created->session.csrf_token);
  // The local-only Authenticate (OIDC provider, account pages) never accepts it.
  EXPECT_FALSE(sessions_->Authenticate(created->token).ok());

  // A second sign-in reuses the remote member and refreshes the name.
  RemoteSignIn again = Alice();
  again.display_name = "Alice E.";
  auto second = Await<NewSession>(
      [&](Done<NewSession> d) { sessions_->CreateRemote(again, SessionContext{}, d); });
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->session.remote_member_id, s->remote_member_id);
  EXPECT_EQ(sessions_->AuthenticateAny(created->token)->display_name, "Alice E.");

  // Another person (another sub) cannot take the same address.
  RemoteSignIn impostor = Alice();
  impostor.sub = "s-2";
  auto taken = Await<NewSession>(
      [&](Done<NewSession> d) { sessions_->CreateRemote(impostor, SessionContext{}, d); });
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().code, ErrorCode::kConflict);

  ASSERT_TRUE(Await<void>([&](Done<void> d) { sessions_->RevokeRemote(s->id, d); }).ok());
  EXPECT_FALSE(sessions_->AuthenticateAny(created->token).ok());
  EXPECT_TRUE(sessions_->AuthenticateAny(second->token).ok());

  auto by_sub = Await<int64_t>(
      [&](Done<int64_t> d) { sessions_->RevokeRemoteBySub(std::string(kHome), "s-1", d); });
  ASSERT_TRUE(by_sub.ok());
  EXPECT_EQ(*by_sub, 1);
  EXPECT_FALSE(sessions_->AuthenticateAny(second->token).ok());
}

TEST_F(RemoteSessionTest, EndedByHomeAndByExpiry) {
  auto a = Await<NewSession>(
      [&](Done<NewSession> d) { sessions_->CreateRemote(Alice(), SessionContext{}, d); });
  RemoteSignIn bob{"bob@b.example", "bob", "https://b.example", "s-b", "Bob", "", 0};
  auto b = Await<NewSession>(
      [&](Done<NewSession> d) { sessions_->CreateRemote(bob, SessionContext{}, d); });
  ASSERT_TRUE(a.ok() && b.ok());
  auto ended = Await<int64_t>(
      [&](Done<int64_t> d) { sessions_->RevokeRemoteByHome(std::string(kHome), d); });
  ASSERT_TRUE(ended.ok());
  EXPECT_EQ(*ended, 1);
  EXPECT_FALSE(sessions_->AuthenticateAny(a->token).ok());
  EXPECT_TRUE(sessions_->AuthenticateAny(b->token).ok());
  clock_.Advance(sessions_->options().idle_timeout + seconds(1));
  auto expired = sessions_->AuthenticateAny(b->token);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().reason, "session_expired");
  RemoteSignIn bad = bob;
  bad.sub.clear();
  EXPECT_FALSE(Await<NewSession>([&](Done<NewSession> d) {
                 sessions_->CreateRemote(bad, SessionContext{}, d);
               }).ok());
}

}  // namespace
}  // namespace kith::identity
