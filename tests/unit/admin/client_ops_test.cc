#include "admin/client_ops.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <array>
#include <optional>
#include <string>

#include "admin/admin_api.h"
#include "admin/node_init.h"
#include "identity/jwk.h"
#include "tests/support/temp_dir.h"

namespace kith::admin {
namespace {

using kith::testing::TempDir;
using nlohmann::json;

class ClientOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitOptions init;
    init.data_dir = dir_ / "node";
    init.base_url = "http://127.0.0.1:8401";
    init.name = "council-a.example";
    init.organisation = "Council A";
    auto report = InitDataDir(init, clock_);
    ASSERT_TRUE(report.ok()) << report.error().message;
    storage::Store::Options options;
    options.path = report->database_path;
    auto store = storage::Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    clients_ = std::make_unique<identity::OidcClientStore>(*store_, clock_);
    NodeContext context;
    context.data_dir = report->data_dir;
    context.store = store_.get();
    context.clients = clients_.get();
    api_.emplace(std::move(context));
  }
  void TearDown() override {
    api_.reset();
    if (store_) store_->Close();
  }

  AdminResponse Call(std::string_view method, std::string_view path, const json& body) {
    return api_->Handle(method, path, body.is_null() ? std::string() : body.dump());
  }

  TempDir dir_{"client-ops"};
  FakeClock clock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<identity::OidcClientStore> clients_;
  std::optional<AdminApi> api_;
};

const json kIntranet{{"name", "Council intranet"},
                     {"redirect_uris", {"https://intranet.council-a.example/callback"}},
                     {"post_logout_redirect_uris", {"https://intranet.council-a.example/"}},
                     {"first_party", true}};

TEST_F(ClientOpsTest, AddShowsTheSecretOnceAndStoresOnlyItsHash) {
  auto res = Call("POST", "/v1/clients", kIntranet);
  ASSERT_EQ(res.status, 200) << res.body.dump();
  const json& c = res.body["client"];
  const std::string client_id = c["client_id"];
  const std::string secret = res.body["client_secret"];
  EXPECT_FALSE(client_id.empty());
  EXPECT_EQ(secret.size(), 43u);  // 256 bits, base64url
  EXPECT_EQ(c["name"], "Council intranet");
  EXPECT_EQ(c["public"], false);
  EXPECT_EQ(c["first_party"], true);
  EXPECT_EQ(c["id_token_alg"], "RS256");
  EXPECT_EQ(c["auth_method"], "client_secret_basic");
  EXPECT_EQ(c["has_secret"], true);
  EXPECT_EQ(c["redirect_uris"], json::array({"https://intranet.council-a.example/callback"}));
  EXPECT_TRUE(c["jwks"].is_null());
  EXPECT_FALSE(c.contains("secret_hash"));

  auto stored = clients_->Get(client_id);
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(identity::CheckClientSecret(*stored, secret));
  EXPECT_FALSE(identity::CheckClientSecret(*stored, secret + "x"));

  auto list = Call("GET", "/v1/clients", nullptr);
  ASSERT_EQ(list.status, 200) << list.body.dump();
  ASSERT_EQ(list.body["clients"].size(), 1u);
  EXPECT_EQ(list.body["clients"][0]["client_id"], client_id);
  EXPECT_EQ(list.body.dump().find(secret), std::string::npos);
  EXPECT_EQ(list.body.dump().find("secret_hash"), std::string::npos);
}

TEST_F(ClientOpsTest, PublicAndEdDsaClients) {
  json body{{"name", "Mobile app"},
            {"redirect_uris", {"http://127.0.0.1:9000/cb", "https://app.example/cb"}},
            {"public", true},
            {"id_token_alg", "EdDSA"}};
  auto res = Call("POST", "/v1/clients", body);
  ASSERT_EQ(res.status, 200) << res.body.dump();
  EXPECT_FALSE(res.body.contains("client_secret"));
  EXPECT_EQ(res.body["client"]["auth_method"], "none");
  EXPECT_EQ(res.body["client"]["id_token_alg"], "EdDSA");
  EXPECT_EQ(res.body["client"]["has_secret"], false);
  EXPECT_EQ(res.body["client"]["redirect_uris"].size(), 2u);

  body = kIntranet;
  body["auth_method"] = "client_secret_post";
  res = Call("POST", "/v1/clients", body);
  ASSERT_EQ(res.status, 200) << res.body.dump();
  EXPECT_EQ(res.body["client"]["auth_method"], "client_secret_post");
  EXPECT_TRUE(res.body["client_secret"].is_string());
}

TEST_F(ClientOpsTest, PrivateKeyJwtClientWithItsKeys) {
  std::array<uint8_t, 32> pk{};
  std::array<uint8_t, 64> sk{};
  ASSERT_EQ(crypto_sign_keypair(pk.data(), sk.data()), 0);
  json jwks{{"keys", json::array()}};
  jwks["keys"].push_back(identity::PublicJwk::FromEd25519(pk, "rp-key-1").ToJson());
  json body{{"client_id", "https://b.example"},
            {"name", "Node B"},
            {"redirect_uris", {"https://b.example/auth/callback"}},
            {"auth_method", "private_key_jwt"},
            {"jwks", jwks}};
  auto res = Call("POST", "/v1/clients", body);
  ASSERT_EQ(res.status, 200) << res.body.dump();
  EXPECT_FALSE(res.body.contains("client_secret"));
  EXPECT_EQ(res.body["client"]["client_id"], "https://b.example");
  EXPECT_EQ(res.body["client"]["jwks"]["keys"][0]["kid"], "rp-key-1");

  // The JWKS may also come as JSON text.
  body["client_id"] = "https://c.example";
  body["jwks"] = jwks.dump();
  res = Call("POST", "/v1/clients", body);
  ASSERT_EQ(res.status, 200) << res.body.dump();

  // The same client_id again is a conflict.
  res = Call("POST", "/v1/clients", body);
  EXPECT_EQ(res.status, 409) << res.body.dump();

  // A URL client_id is removed through its percent-encoded form.
  res = Call("DELETE", "/v1/clients/https%3A%2F%2Fb.example", nullptr);
  ASSERT_EQ(res.status, 200) << res.body.dump();
  EXPECT_EQ(res.body["removed"], "https://b.example");
  EXPECT_FALSE(clients_->Get("https://b.example").ok());
  EXPECT_TRUE(clients_->Get("https://c.example").ok());
  EXPECT_EQ(Call("DELETE", "/v1/clients/https%3A%2F%2Fb.example", nullptr).status, 404);
  EXPECT_EQ(Call("DELETE", "/v1/clients/bad%2", nullptr).status, 400);
}

TEST_F(ClientOpsTest, RefusesBadRegistrationsNamingTheField) {
  auto with = [](const char* key, json value) {
    json b = kIntranet;
    b[key] = std::move(value);
    return b;
  };
  auto without = [](const char* key) {
    json b = kIntranet;
    b.erase(key);
    return b;
  };
  const std::pair<json, std::string> cases[] = {
      {without("name"), "name"},
      {with("name", ""), "name"},
      {with("name", 5), "name"},
      {without("redirect_uris"), "redirect_uris"},
      {with("redirect_uris", json::array()), "redirect_uris"},
      {with("redirect_uris", "https://x.example/cb"), "redirect_uris"},
      {with("redirect_uris", {1}), "redirect_uris"},
      {with("redirect_uris", {"http://x.example/cb"}), "redirect_uri"},
      {with("redirect_uris", {"https://x.example/cb#frag"}), "redirect_uri"},
      {with("post_logout_redirect_uris", {"not a uri"}), "post_logout_redirect_uri"},
      {with("public", "yes"), "public"},
      {with("first_party", 1), "first_party"},
      {with("id_token_alg", "ES256"), "id_token_alg"},
      {with("id_token_alg", "none"), "id_token_alg"},
      {with("auth_method", "magic"), "auth_method"},
      {with("auth_method", "none"), "auth_method"},
      {with("auth_method", "private_key_jwt"), "jwks"},
      {with("jwks", {{"keys", json::array()}}), "jwks"},
      {with("jwks", 3), "jwks"},
      {with("client_id", "has space"), "client_id"},
      {with("secret", "mine"), "secret"},
  };
  for (const auto& [body, field] : cases) {
    auto res = Call("POST", "/v1/clients", body);
    EXPECT_EQ(res.status, 400) << body.dump() << " -> " << res.body.dump();
    EXPECT_NE(res.body["message"].get<std::string>().find(field), std::string::npos)
        << field << ": " << res.body.dump();
  }
  json pub = with("public", true);
  pub["auth_method"] = "client_secret_basic";
  auto res = Call("POST", "/v1/clients", pub);
  EXPECT_EQ(res.status, 400);
  EXPECT_NE(res.body["message"].get<std::string>().find("auth_method"), std::string::npos);
  EXPECT_EQ(clients_->List()->size(), 0u);
}

TEST_F(ClientOpsTest, RemoveUnknownIsNotFound) {
  auto res = Call("DELETE", "/v1/clients/nope", nullptr);
  EXPECT_EQ(res.status, 404) << res.body.dump();
  EXPECT_EQ(Call("PUT", "/v1/clients", nullptr).status, 405);
}

TEST(ClientOpsWithoutStore, AnswerUnavailable) {
  AdminApi api(NodeContext{});
  EXPECT_EQ(api.Handle("GET", "/v1/clients", "").status, 503);
  EXPECT_EQ(api.Handle("DELETE", "/v1/clients/x", "").status, 503);
}

}  // namespace
}  // namespace kith::admin
