#include "identity/oidc_logout.h"

#include <gtest/gtest.h>

#include <boost/url/parse.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "identity/jws.h"
#include "identity/oidc_keys.h"
#include "identity/oidc_provider.h"
#include "identity/oidc_relying_party.h"
#include "identity/session_store.h"
#include "identity_test_util.h"

namespace kith::identity {
namespace {

using std::chrono::seconds;
using testing::Await;

constexpr std::string_view kHome = "https://council-a.example";  // the provider (node A)
constexpr std::string_view kRp = "https://is.example";           // the relying party (node B)
const std::string kBackchannel = std::string(kRp) + "/sign-in/backchannel-logout";

// Logout tokens signed by a stand-alone key, to check each rule of VerifyLogoutToken.
class LogoutTokenTest : public ::testing::Test {
 protected:
  nlohmann::json Claims() const {
    return {{"iss", kHome},
            {"aud", kRp},
            {"iat", clock_.UnixSeconds()},
            {"exp", clock_.UnixSeconds() + 120},
            {"jti", "j-1"},
            {"sub", "s-123"},
            {"events", {{std::string(kBackchannelLogoutEvent), nlohmann::json::object()}}}};
  }
  std::string Token(nlohmann::json overrides, std::string_view typ = kLogoutTokenType,
                    const SigningKey* with = nullptr) const {
    nlohmann::json claims = Claims();
    for (auto& [k, v] : overrides.items()) {
      if (v.is_null())
        claims.erase(k);
      else
        claims[k] = v;
    }
    return *SignJws(with ? *with : *key_, claims.dump(), typ);
  }
  Result<VerifiedLogout> Verify(const std::string& token) const {
    return VerifyLogoutToken(token, {key_->public_jwk()}, kHome, kRp, clock_);
  }
  FakeClock clock_;
  std::unique_ptr<Ed25519SigningKey> key_ = Ed25519SigningKey::Generate();
};

TEST_F(LogoutTokenTest, BuildsWhatTheSpecAsksAndVerifies) {
  auto token = BuildLogoutToken(*key_, kHome, kRp, "s-123", "sid-9", clock_);
  ASSERT_TRUE(token.ok()) << token.error().message;
  auto jws = ParseJws(*token);
  ASSERT_TRUE(jws.ok());
  EXPECT_EQ(jws->header["typ"], "logout+jwt");
  EXPECT_EQ(jws->kid, key_->kid());
  auto claims = ParseJwtClaims(jws->payload);
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ((*claims)["iss"], kHome);
  EXPECT_EQ((*claims)["aud"], kRp);
  EXPECT_EQ((*claims)["sub"], "s-123");
  EXPECT_EQ((*claims)["sid"], "sid-9");
  EXPECT_EQ((*claims)["exp"].get<int64_t>() - (*claims)["iat"].get<int64_t>(), 120);
  EXPECT_TRUE((*claims)["events"][std::string(kBackchannelLogoutEvent)].is_object());
  EXPECT_FALSE(claims->contains("nonce"));
  EXPECT_FALSE((*claims)["jti"].get<std::string>().empty());
  EXPECT_EQ(*PeekLogoutTokenIssuer(*token), kHome);

  auto verified = Verify(*token);
  ASSERT_TRUE(verified.ok()) << verified.error().message;
  EXPECT_EQ(verified->issuer, kHome);
  EXPECT_EQ(verified->sub, "s-123");
  EXPECT_EQ(verified->sid, "sid-9");
  EXPECT_EQ(verified->jti, (*claims)["jti"]);
  EXPECT_EQ(verified->expires_at, clock_.UnixSeconds() + 120);

  // Fresh jti each time; sub alone or sid alone; never neither.
  auto other = BuildLogoutToken(*key_, kHome, kRp, "s-123", "", clock_);
  EXPECT_NE(Verify(*other)->jti, verified->jti);
  EXPECT_TRUE(Verify(*other)->sid.empty());
  EXPECT_EQ(Verify(*BuildLogoutToken(*key_, kHome, kRp, "", "sid-9", clock_))->sid, "sid-9");
  EXPECT_FALSE(BuildLogoutToken(*key_, kHome, kRp, "", "", clock_).ok());
}

TEST_F(LogoutTokenTest, RefusesEveryBadToken) {
  auto refused = [&](const Result<VerifiedLogout>& r, const char* what,
                     std::string_view reason = "invalid_logout_token") {
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << what;
    EXPECT_EQ(r.error().reason, reason) << what << ": " << r.error().message;
  };
  ASSERT_TRUE(Verify(Token({})).ok());
  // Forged: signed by a key the issuer does not publish, or altered after signing.
  auto forger = Ed25519SigningKey::Generate();
  refused(Verify(Token({}, kLogoutTokenType, forger.get())), "unknown key", "unknown_key");
  std::string altered = Token({});
  const size_t dot = altered.find('.');
  auto payload = Claims();
  payload["sub"] = "s-someone-else";
  altered = altered.substr(0, dot + 1) + Base64UrlEncode(payload.dump()) +
            altered.substr(altered.rfind('.'));
  refused(Verify(altered), "altered payload");
  refused(Verify("not-a-jwt"), "garbage");
  // Expired, too old, from the future.
  refused(Verify(Token({{"exp", clock_.UnixSeconds() - 120}})), "expired");
  refused(Verify(Token({{"exp", nullptr}})), "no exp");
  refused(Verify(Token({{"iat", clock_.UnixSeconds() - 600}})), "iat too old");
  refused(Verify(Token({{"iat", nullptr}})), "no iat");
  refused(Verify(Token({{"iat", clock_.UnixSeconds() + 600}})), "iat in the future");
  refused(Verify(Token({{"exp", clock_.UnixSeconds() + 86400}})), "lives too long");
  // Wrong audience or issuer.
  refused(Verify(Token({{"aud", "https://other-rp.example"}})), "aud");
  refused(Verify(Token({{"iss", "https://evil.example"}})), "iss");
  // Not a logout token: a nonce, no events, another event, no sub/sid, no jti, wrong typ.
  refused(Verify(Token({{"nonce", "n-1"}})), "nonce present");
  refused(Verify(Token({{"events", nullptr}})), "no events");
  refused(Verify(Token({{"events", "logout"}})), "events not an object");
  refused(Verify(Token({{"events", {{"http://example.com/other", nlohmann::json::object()}}}})),
          "another event");
  refused(Verify(Token({{"events", {{std::string(kBackchannelLogoutEvent), true}}}})),
          "event not an object");
  refused(Verify(Token({{"sub", nullptr}})), "neither sub nor sid");
  refused(Verify(Token({{"sub", 42}})), "sub not a string");
  refused(Verify(Token({{"sub", std::string(300, 'x')}})), "sub too long");
  refused(Verify(Token({{"jti", nullptr}})), "no jti");
  refused(Verify(Token({{"jti", ""}})), "empty jti");
  refused(Verify(Token({}, "JWT")), "typ JWT (an ID token or an assertion)");
  // typ may be absent (providers that do not set it) or the full media type.
  EXPECT_TRUE(Verify(Token({}, "")).ok());
  EXPECT_TRUE(Verify(Token({}, "application/logout+jwt")).ok());
  EXPECT_FALSE(PeekLogoutTokenIssuer("x.y.z").ok());
  EXPECT_FALSE(PeekLogoutTokenIssuer(Token({{"iss", nullptr}})).ok());
}

// The provider (node A): sid in ID tokens, the sessions it started at relying parties, and
// "sign out everywhere" turning them into logout tokens.
class ProviderLogoutTest : public testing::StoreFixture {
 protected:
  void SetUp() override {
    StoreFixture::SetUp();
    members_ = std::make_unique<MemberStore>(*store_, clock_);
    clients_ = std::make_unique<OidcClientStore>(*store_, clock_);
    sessions_ = std::make_unique<SessionStore>(*store_, clock_);
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
    ASSERT_TRUE(alice.ok()) << alice.error().message;
    alice_ = *alice;
    NewOidcClient c;
    c.client_id = std::string(kRp);
    c.name = "Improvement Service";
    c.redirect_uris = {std::string(kRp) + "/sign-in/callback"};
    c.backchannel_logout_uri = kBackchannel;
    c.first_party = true;
    c.id_token_alg = JwsAlgorithm::kEdDSA;
    c.auth_method = ClientAuthMethod::kPrivateKeyJwt;
    c.jwks_json = JwksDocument({rp_key_->public_jwk()}).dump();
    ASSERT_TRUE(
        Await<RegisteredClient>([&](Done<RegisteredClient> d) { clients_->Add(c, d); }).ok());
  }

  // alice signs in at kRp through the provider, in her provider session `session`; answers
  // the ID token.
  std::string SignInAtRp(const Session& session) {
    OidcParams p;
    p.values = {{"client_id", std::string(kRp)},
                {"redirect_uri", std::string(kRp) + "/sign-in/callback"},
                {"response_type", "code"},
                {"scope", "openid profile"},
                {"nonce", "n-1"}};
    auto check = provider_->CheckAuthorize(p);
    EXPECT_FALSE(check.error.has_value());
    if (!check.request) return "";
    check.request->sid = OidcProvider::SessionSid(session);
    auto redirect = Await<std::string>([&](Done<std::string> d) {
      provider_->IssueCode(*check.request, alice_.id, clock_.UnixSeconds(), d);
    });
    EXPECT_TRUE(redirect.ok());
    auto parsed = boost::urls::parse_uri(*redirect);
    std::string code;
    for (auto q : parsed->params())
      if (q.key == "code") code = q.value;
    auto assertion = ClientAssertion(*rp_key_, kRp, provider_->TokenEndpoint(), clock_);
    TokenRequest request;
    request.form.values = {
        {"grant_type", "authorization_code"},
        {"code", code},
        {"redirect_uri", std::string(kRp) + "/sign-in/callback"},
        {"client_id", std::string(kRp)},
        {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
        {"client_assertion", *assertion}};
    auto grant = Await<TokenGrant>([&](Done<TokenGrant> d) { provider_->Token(request, d); });
    EXPECT_TRUE(grant.ok()) << (grant.ok() ? "" : grant.error().message);
    if (!grant.ok()) return "";
    auto response = provider_->TokenResponse(*grant);
    EXPECT_TRUE(response.ok());
    return (*response)["id_token"];
  }

  Session NewProviderSession() {
    auto s = Await<NewSession>(
        [&](Done<NewSession> d) { sessions_->Create(alice_.id, SessionContext{}, d); });
    EXPECT_TRUE(s.ok());
    return s->session;
  }

  FakeClock clock_;
  std::shared_ptr<const SigningKey> home_key_ = Ed25519SigningKey::Generate();
  std::unique_ptr<Ed25519SigningKey> rp_key_ = Ed25519SigningKey::Generate();
  std::shared_ptr<const OidcKeySet> keys_;
  std::unique_ptr<MemberStore> members_;
  std::unique_ptr<OidcClientStore> clients_;
  std::unique_ptr<SessionStore> sessions_;
  std::unique_ptr<OidcProvider> provider_;
  Member alice_;
};

TEST_F(ProviderLogoutTest, SidInIdTokenAndSignOutEverywhereMakesLogoutTokens) {
  EXPECT_EQ(provider_->DiscoveryDocument()["backchannel_logout_supported"], true);
  EXPECT_EQ(clients_->Get(kRp)->backchannel_logout_uri, kBackchannel);
  const Session first = NewProviderSession();
  const Session second = NewProviderSession();
  const std::string sid = OidcProvider::SessionSid(first);
  EXPECT_EQ(sid.size(), 22u);
  EXPECT_EQ(sid, OidcProvider::SessionSid(first)) << "stable for the session";
  EXPECT_NE(sid, OidcProvider::SessionSid(second));

  const std::string id_token = SignInAtRp(first);
  ASSERT_FALSE(id_token.empty());
  auto jwks = ParseJwks(provider_->Jwks());
  ASSERT_TRUE(jwks.ok());
  auto who = VerifyIdToken(id_token, *jwks, kHome, kRp, "n-1", clock_);
  ASSERT_TRUE(who.ok()) << who.error().message;
  EXPECT_EQ(who->sid, sid);
  ASSERT_FALSE(SignInAtRp(second).empty());

  auto listed = provider_->RpSessions(alice_.id);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u) << "one client, whatever the number of sids";
  EXPECT_EQ((*listed)[0].client_name, "Improvement Service");

  auto targets = Await<std::vector<RpLogoutTarget>>(
      [&](Done<std::vector<RpLogoutTarget>> d) { provider_->EndRpSessions(alice_.id, d); });
  ASSERT_TRUE(targets.ok()) << targets.error().message;
  ASSERT_EQ(targets->size(), 1u);
  EXPECT_EQ((*targets)[0].uri, kBackchannel);
  EXPECT_EQ((*targets)[0].alg, JwsAlgorithm::kEdDSA);
  auto logout = provider_->SignLogout((*targets)[0], alice_.sub);
  ASSERT_TRUE(logout.ok()) << logout.error().message;
  EXPECT_EQ(logout->uri, kBackchannel);
  auto verified = VerifyLogoutToken(logout->logout_token, *jwks, kHome, kRp, clock_);
  ASSERT_TRUE(verified.ok()) << verified.error().message;
  EXPECT_EQ(verified->sub, alice_.sub);
  EXPECT_TRUE(verified->sid.empty()) << "everywhere: every session of sub";

  // Forgotten once told; a second "everywhere" has nobody to tell.
  EXPECT_TRUE(provider_->RpSessions(alice_.id)->empty());
  auto again = Await<std::vector<RpLogoutTarget>>(
      [&](Done<std::vector<RpLogoutTarget>> d) { provider_->EndRpSessions(alice_.id, d); });
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());

  // The sender gets what SendLogouts is given.
  std::vector<BackchannelLogout> sent;
  provider_->SetLogoutSender([&](std::vector<BackchannelLogout> l) { sent = std::move(l); });
  provider_->SendLogouts({*logout});
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].client_id, kRp);
}

TEST_F(ProviderLogoutTest, ClientsWithoutBackchannelUriAreNotToldAndRowsExpire) {
  NewOidcClient plain;
  plain.client_id = "intranet";
  plain.name = "Intranet";
  plain.redirect_uris = {"https://intranet.example/cb"};
  plain.backchannel_logout_uri = "http://intranet.example/logout";
  EXPECT_FALSE(
      Await<RegisteredClient>([&](Done<RegisteredClient> d) { clients_->Add(plain, d); }).ok())
      << "http only for loopback";
  ASSERT_FALSE(SignInAtRp(NewProviderSession()).empty());
  clock_.Advance(provider_->options().rp_session_ttl + seconds(1));
  auto purged = Await<int64_t>([&](Done<int64_t> d) { provider_->PurgeExpired(d); });
  ASSERT_TRUE(purged.ok());
  EXPECT_TRUE(provider_->RpSessions(alice_.id)->empty());
  auto targets = Await<std::vector<RpLogoutTarget>>(
      [&](Done<std::vector<RpLogoutTarget>> d) { provider_->EndRpSessions(alice_.id, d); });
  ASSERT_TRUE(targets.ok());
  EXPECT_TRUE(targets->empty());
}

// The relying party (node B): ending remote sessions by a verified logout, once per jti.
class RemoteLogoutTest : public testing::StoreFixture {
 protected:
  void SetUp() override {
    StoreFixture::SetUp();
    sessions_ = std::make_unique<SessionStore>(*store_, clock_);
  }
  std::string SignIn(std::string sid) {
    RemoteSignIn who{
        "alice@council-a.example", "alice", std::string(kHome), "s-1", "Alice", "", 0, sid};
    auto s = Await<NewSession>(
        [&](Done<NewSession> d) { sessions_->CreateRemote(who, SessionContext{}, d); });
    EXPECT_TRUE(s.ok());
    return s.ok() ? s->token : "";
  }
  Result<int64_t> End(std::string sub, std::string sid, std::string jti) {
    RemoteLogout l{std::string(kHome), sub, sid, jti, clock_.UnixSeconds() + 120};
    return Await<int64_t>([&](Done<int64_t> d) { sessions_->EndRemoteByLogout(l, d); });
  }
  FakeClock clock_;
  std::unique_ptr<SessionStore> sessions_;
};

TEST_F(RemoteLogoutTest, BySidBySubAndNeverTwice) {
  const std::string one = SignIn("sid-1");
  const std::string two = SignIn("sid-2");
  const std::string three = SignIn("");
  // By sid: that session only.
  auto by_sid = End("s-1", "sid-1", "j-1");
  ASSERT_TRUE(by_sid.ok()) << by_sid.error().message;
  EXPECT_EQ(*by_sid, 1);
  EXPECT_FALSE(sessions_->AuthenticateAny(one).ok());
  EXPECT_TRUE(sessions_->AuthenticateAny(two).ok());
  // A replayed jti ends nothing, even for another session.
  auto replay = End("s-1", "", "j-1");
  ASSERT_FALSE(replay.ok());
  EXPECT_EQ(replay.error().code, ErrorCode::kConflict);
  EXPECT_TRUE(sessions_->AuthenticateAny(two).ok());
  // Another issuer's sub of the same value ends nothing here.
  RemoteLogout elsewhere{"https://evil.example", "s-1", "", "j-2", clock_.UnixSeconds() + 120};
  auto other = Await<int64_t>([&](Done<int64_t> d) { sessions_->EndRemoteByLogout(elsewhere, d); });
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(*other, 0);
  // By sub: every session of the member.
  auto by_sub = End("s-1", "", "j-3");
  ASSERT_TRUE(by_sub.ok());
  EXPECT_EQ(*by_sub, 2);
  EXPECT_FALSE(sessions_->AuthenticateAny(two).ok());
  EXPECT_FALSE(sessions_->AuthenticateAny(three).ok());
  EXPECT_FALSE(End("", "", "j-4").ok()) << "neither sub nor sid";
  // The jti is kept until the token's exp, then purged.
  clock_.Advance(seconds(121));
  ASSERT_TRUE(Await<int64_t>([&](Done<int64_t> d) { sessions_->PurgeExpired(d); }).ok());
  EXPECT_TRUE(End("s-1", "", "j-1").ok());
}

}  // namespace
}  // namespace kith::identity
