#include "identity/oidc_client.h"

#include <gtest/gtest.h>

#include "identity/jwk.h"
#include "identity_test_util.h"

namespace kith::identity {
namespace {

using testing::Await;

TEST(RedirectUriTest, AcceptsHttpsAndLoopbackHttp) {
  for (std::string_view good :
       {"https://rp.example/cb", "https://rp.example:8443/a/b?x=1&y=%2F",
        "http://127.0.0.1:5000/cb", "http://localhost/cb", "http://[::1]:8080/cb",
        "https://rp.example", "http://127.0.0.2:8402/cb", "http://127.255.1.9/cb"}) {
    EXPECT_TRUE(ValidateRedirectUri(good).ok()) << good;
  }
  for (std::string_view bad : {"",
                               "/relative",
                               "rp.example/cb",
                               "https://rp.example/cb#frag",
                               "http://rp.example/cb",
                               "ftp://rp.example/cb",
                               "HTTPS://rp.example/cb",
                               "https://user@rp.example/cb",
                               "https:///cb",
                               "https://rp.example:0/cb",
                               "https://rp.example:99999/cb",
                               "https://rp.example/c b",
                               "https://rp.example/%zz",
                               "https://rp.exa_mple/cb",
                               "javascript:alert(1)",
                               "https://[::1/cb",
                               "http://128.0.0.1/cb",
                               "http://127.0.0/cb",
                               "http://127.0.0.1.5/cb",
                               "http://127.0.0.256/cb",
                               "http://127.0.0.1x/cb",
                               "http://127..0.1/cb",
                               "http://127.0.0.1.example/cb"}) {
    auto r = ValidateRedirectUri(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("redirect_uri"), std::string::npos);
  }
  EXPECT_FALSE(ValidateRedirectUri("https://rp.example/" + std::string(2000, 'a')).ok());
}

NewOidcClient Intranet() {
  NewOidcClient c;
  c.name = "Council intranet";
  c.redirect_uris = {"https://intranet.council-a.example/redirect_uri"};
  c.post_logout_redirect_uris = {"https://intranet.council-a.example/"};
  return c;
}

TEST(OidcClientValidationTest, AuthMethodRules) {
  auto confidential = Intranet();
  ASSERT_TRUE(ValidateNewOidcClient(confidential).ok());
  EXPECT_EQ(confidential.auth_method, ClientAuthMethod::kClientSecretBasic);
  auto pub = Intranet();
  pub.is_public = true;
  ASSERT_TRUE(ValidateNewOidcClient(pub).ok());
  EXPECT_EQ(pub.auth_method, ClientAuthMethod::kNone);
  auto pub_secret = Intranet();
  pub_secret.is_public = true;
  pub_secret.auth_method = ClientAuthMethod::kClientSecretPost;
  EXPECT_FALSE(ValidateNewOidcClient(pub_secret).ok());
  auto conf_none = Intranet();
  conf_none.auth_method = ClientAuthMethod::kNone;
  EXPECT_FALSE(ValidateNewOidcClient(conf_none).ok());
  auto jwt_without_keys = Intranet();
  jwt_without_keys.auth_method = ClientAuthMethod::kPrivateKeyJwt;
  auto r = ValidateNewOidcClient(jwt_without_keys);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("jwks"), std::string::npos);
  auto bad_alg = Intranet();
  bad_alg.id_token_alg = JwsAlgorithm::kES256;
  EXPECT_FALSE(ValidateNewOidcClient(bad_alg).ok());
  auto no_uris = Intranet();
  no_uris.redirect_uris.clear();
  EXPECT_FALSE(ValidateNewOidcClient(no_uris).ok());
  auto bad_logout = Intranet();
  bad_logout.post_logout_redirect_uris = {"http://evil.example/"};
  auto logout = ValidateNewOidcClient(bad_logout);
  ASSERT_FALSE(logout.ok());
  EXPECT_NE(logout.error().message.find("post_logout_redirect_uri"), std::string::npos);
  auto bad_name = Intranet();
  bad_name.name = "";
  EXPECT_FALSE(ValidateNewOidcClient(bad_name).ok());
  EXPECT_EQ(*ParseClientAuthMethod("private_key_jwt"), ClientAuthMethod::kPrivateKeyJwt);
  EXPECT_FALSE(ParseClientAuthMethod("client_secret_jwt").ok());
}

class OidcClientStoreTest : public testing::StoreFixture {
 protected:
  void SetUp() override {
    StoreFixture::SetUp();
    clients_ = std::make_unique<OidcClientStore>(*store_, clock_);
  }
  Result<RegisteredClient> Add(NewOidcClient c) {
    return Await<RegisteredClient>([&](Done<RegisteredClient> d) { clients_->Add(c, d); });
  }
  FakeClock clock_;
  std::unique_ptr<OidcClientStore> clients_;
};

TEST_F(OidcClientStoreTest, ConfidentialClientSecretIsShownOnceAndStoredHashed) {
  auto reg = Add(Intranet());
  ASSERT_TRUE(reg.ok()) << reg.error().message;
  EXPECT_EQ(reg->secret.size(), 43u);
  EXPECT_GE(reg->client.client_id.size(), 32u);
  auto got = clients_->Get(reg->client.client_id);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->name, "Council intranet");
  EXPECT_FALSE(got->is_public);
  EXPECT_EQ(got->auth_method, ClientAuthMethod::kClientSecretBasic);
  EXPECT_TRUE(got->HasRedirectUri("https://intranet.council-a.example/redirect_uri"));
  EXPECT_FALSE(got->HasRedirectUri("https://intranet.council-a.example/redirect_uri/"));
  EXPECT_TRUE(got->HasPostLogoutRedirectUri("https://intranet.council-a.example/"));
  EXPECT_TRUE(CheckClientSecret(*got, reg->secret));
  EXPECT_FALSE(CheckClientSecret(*got, reg->secret + "x"));
  EXPECT_FALSE(CheckClientSecret(*got, ""));
  // The secret is not in the database.
  auto raw = store_->Read([&](storage::Database& db) -> Result<int64_t> {
    auto stmt = db.Prepare(
        "SELECT count(*) FROM oidc_clients WHERE instr(CAST(secret_hash AS TEXT), ?1) > 0");
    if (!stmt.ok()) return stmt.error();
    stmt->Bind(1, std::string_view(reg->secret));
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    return stmt->ColumnInt(0);
  });
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(*raw, 0);
}

TEST_F(OidcClientStoreTest, PublicPeerAndPrivateKeyJwtClients) {
  auto pub = Intranet();
  pub.is_public = true;
  pub.first_party = true;
  pub.id_token_alg = JwsAlgorithm::kEdDSA;
  auto reg = Add(pub);
  ASSERT_TRUE(reg.ok());
  EXPECT_TRUE(reg->secret.empty());
  auto got = clients_->Get(reg->client.client_id);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->is_public);
  EXPECT_TRUE(got->first_party);
  EXPECT_EQ(got->id_token_alg, JwsAlgorithm::kEdDSA);
  EXPECT_FALSE(got->has_secret);
  EXPECT_FALSE(CheckClientSecret(*got, "anything"));

  auto key = Ed25519SigningKey::Generate();
  NewOidcClient peer = Intranet();
  peer.client_id = "https://b.example";
  peer.name = "Node B";
  peer.auth_method = ClientAuthMethod::kPrivateKeyJwt;
  peer.jwks_json = JwksDocument({key->public_jwk()}).dump();
  auto peer_reg = Add(peer);
  ASSERT_TRUE(peer_reg.ok()) << peer_reg.error().message;
  EXPECT_EQ(peer_reg->client.client_id, "https://b.example");
  auto stored = clients_->Get("https://b.example");
  ASSERT_TRUE(stored.ok());
  auto keys = ClientKeys(*stored);
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].kid(), key->kid());

  auto dup = Add(peer);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kConflict);

  auto list = clients_->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "Council intranet");
  EXPECT_EQ((*list)[1].name, "Node B");

  ASSERT_TRUE(Await<void>([&](Done<void> d) { clients_->Remove("https://b.example", d); }).ok());
  EXPECT_EQ(clients_->Get("https://b.example").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(
      Await<void>([&](Done<void> d) { clients_->Remove("https://b.example", d); }).error().code,
      ErrorCode::kNotFound);
}

TEST_F(OidcClientStoreTest, BadRegistrationsAreRefusedWithTheField) {
  auto bad_jwks = Intranet();
  bad_jwks.auth_method = ClientAuthMethod::kPrivateKeyJwt;
  bad_jwks.jwks_json = R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"short"}]})";
  auto r = Add(bad_jwks);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("jwks"), std::string::npos);
  auto bad_id = Intranet();
  bad_id.client_id = "has space";
  EXPECT_FALSE(Add(bad_id).ok());
  EXPECT_TRUE(clients_->List()->empty());
}

}  // namespace
}  // namespace kith::identity
