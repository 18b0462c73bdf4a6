#include "admin/network_ops.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "admin/admin_router.h"
#include "federation/peer_store.h"
#include "tests/support/statement_fixture.h"
#include "tests/support/temp_dir.h"

namespace kith::admin {
namespace {

using nlohmann::json;

constexpr char kCouncil[] = "https://council.example";
constexpr char kAnchor[] = "https://anchor.example/networks/uk";

class NetworkOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::Store::Options options;
    options.path = dir_ / "kith.db";
    auto store = storage::Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    networks_ = std::make_unique<federation::NetworkStore>(*store_, clock_, dir_.path(),
                                                           "https://is.example", false);
    peers_ = std::make_unique<federation::PeerStore>(*store_, clock_);
    fed_.AddLeaf(kCouncil);
    fed_.AddNetwork(kAnchor);
    context_.store = store_.get();
    context_.networks = networks_.get();
    context_.entity_fetcher = &fed_.fetcher();
    context_.peers = peers_.get();
    AddNetworkRoutes(router_, &context_, clock_);
  }
  void TearDown() override {
    if (store_) store_->Close();
  }

  AdminResponse Call(std::string_view method, std::string_view path, const json& body = nullptr) {
    return router_.Dispatch(method, path, body.is_null() ? std::string() : body.dump());
  }

  void CreateUk() {
    auto res = Call("POST", "/v1/networks", {{"name", "uk"}, {"display_name", "UK"}});
    ASSERT_EQ(res.status, 200) << res.body.dump();
  }

  testing::TempDir dir_{"network_ops"};
  FakeClock clock_{1'700'000'000};
  testing::FederationFixture fed_{clock_};
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<federation::NetworkStore> networks_;
  std::unique_ptr<federation::PeerStore> peers_;
  NodeContext context_;
  AdminRouter router_;
};

TEST_F(NetworkOpsTest, AnswersUnavailableWithoutNetworks) {
  context_.networks = nullptr;
  EXPECT_EQ(Call("GET", "/v1/networks").status, 503);
  EXPECT_EQ(Call("POST", "/v1/networks", {{"name", "uk"}}).status, 503);
  EXPECT_EQ(Call("POST", "/v1/networks/refresh", json::object()).status, 503);
}

TEST_F(NetworkOpsTest, CreateAndList) {
  auto res = Call("POST", "/v1/networks", {{"name", "uk"}, {"display_name", "UK networks"}});
  ASSERT_EQ(res.status, 200) << res.body.dump();
  const json& n = res.body["network"];
  EXPECT_EQ(n["name"], "uk");
  EXPECT_EQ(n["entity_id"], "https://is.example/networks/uk");
  EXPECT_EQ(n["superior"], "");
  EXPECT_EQ(n["members"], 0);
  EXPECT_EQ(n["fingerprint"].get<std::string>().rfind("SHA256:", 0), 0u);

  EXPECT_EQ(Call("POST", "/v1/networks", {{"name", "uk"}}).status, 409);
  EXPECT_EQ(Call("POST", "/v1/networks", {{"name", "Not Valid"}}).status, 400);
  EXPECT_EQ(Call("POST", "/v1/networks", {{"display_name", "x"}}).status, 400);
  EXPECT_EQ(Call("POST", "/v1/networks", {{"name", "x"}, {"superior", "ftp://x"}}).status, 400);
  EXPECT_EQ(Call("POST", "/v1/networks", {{"name", "x"}, {"statement_lifetime", "1"}}).status, 400);
  auto scot = Call("POST", "/v1/networks", {{"name", "scot"}, {"superior", std::string(kAnchor)}});
  ASSERT_EQ(scot.status, 200) << scot.body.dump();
  EXPECT_EQ(scot.body["network"]["superior"], kAnchor);

  auto list = Call("GET", "/v1/networks");
  ASSERT_EQ(list.status, 200) << list.body.dump();
  ASSERT_EQ(list.body["networks"].size(), 2u);
  EXPECT_EQ(list.body["networks"][0]["name"], "scot");
  EXPECT_EQ(list.body["networks"][1]["name"], "uk");
  EXPECT_TRUE(list.body["trusted"].empty());
  EXPECT_TRUE(list.body["authority_hints"].empty());
}

TEST_F(NetworkOpsTest, FetchAddStatusRemove) {
  CreateUk();
  auto fetched = Call("POST", "/v1/networks/fetch-member", {{"url", std::string(kCouncil) + "/"}});
  ASSERT_EQ(fetched.status, 200) << fetched.body.dump();
  EXPECT_EQ(fetched.body["entity_id"], kCouncil);
  EXPECT_EQ(fetched.body["is_network"], false);
  ASSERT_EQ(fetched.body["keys"].size(), 1u);
  EXPECT_EQ(fetched.body["keys"][0]["kid"], fed_.entity(kCouncil).key->kid());
  EXPECT_EQ(fetched.body["keys"][0]["fingerprint"].get<std::string>().rfind("SHA256:", 0), 0u);

  EXPECT_EQ(
      Call("POST", "/v1/networks/add-member", {{"network", "nope"}, {"url", kCouncil}}).status,
      404);
  EXPECT_EQ(
      Call("POST", "/v1/networks/add-member", {{"network", "uk"}, {"url", "https://down.example"}})
          .status,
      503);
  EXPECT_EQ(Call("POST", "/v1/networks/add-member",
                 {{"network", "uk"}, {"url", kCouncil}, {"intermediate", true}})
                .status,
            400);  // not a network
  EXPECT_EQ(Call("POST", "/v1/networks/add-member", {{"network", "uk"}, {"url", kAnchor}}).status,
            400);  // a network, without --intermediate
  EXPECT_EQ(Call("POST", "/v1/networks/add-member",
                 {{"network", "uk"}, {"url", "http://council.example"}})
                .status,
            400);

  auto added = Call("POST", "/v1/networks/add-member", {{"network", "uk"}, {"url", kCouncil}});
  ASSERT_EQ(added.status, 200) << added.body.dump();
  EXPECT_EQ(added.body["member"]["entity_id"], kCouncil);
  EXPECT_FALSE(added.body["member"]["organisation"].get<std::string>().empty());
  EXPECT_EQ(added.body["member"]["statement_exp"], clock_.UnixSeconds() + 86400);

  auto status = Call("GET", "/v1/networks/status?network=uk");
  ASSERT_EQ(status.status, 200) << status.body.dump();
  EXPECT_EQ(status.body["network"]["members"], 1);
  ASSERT_EQ(status.body["members"].size(), 1u);
  const json& m = status.body["members"][0];
  EXPECT_EQ(m["entity_id"], kCouncil);
  EXPECT_TRUE(m["peer_state"].is_null());
  EXPECT_TRUE(m["last_contact_at"].is_null());
  EXPECT_TRUE(m["withdrawn_at"].is_null());
  // By entity id (percent-encoded) as well.
  EXPECT_EQ(
      Call("GET", "/v1/networks/status?network=https%3A%2F%2Fis.example%2Fnetworks%2Fuk").status,
      200);
  EXPECT_EQ(Call("GET", "/v1/networks/status?network=scot").status, 404);
  EXPECT_EQ(Call("GET", "/v1/networks/status").status, 400);
  EXPECT_EQ(Call("GET", "/v1/networks/status?network=uk&x=1").status, 400);

  auto removed = Call("POST", "/v1/networks/remove-member", {{"network", "uk"}, {"url", kCouncil}});
  ASSERT_EQ(removed.status, 200) << removed.body.dump();
  EXPECT_EQ(
      Call("POST", "/v1/networks/remove-member", {{"network", "uk"}, {"url", kCouncil}}).status,
      404);
  status = Call("GET", "/v1/networks/status?network=uk");
  EXPECT_EQ(status.body["network"]["members"], 0);
  EXPECT_EQ(status.body["network"]["withdrawn"], 1);
  EXPECT_EQ(status.body["members"][0]["withdrawn_at"], clock_.UnixSeconds());
}

TEST_F(NetworkOpsTest, AddIntermediate) {
  CreateUk();
  auto added =
      Call("POST", "/v1/networks/add-member",
           {{"network", "uk"}, {"url", kAnchor}, {"intermediate", true}, {"max_path_length", 1}});
  ASSERT_EQ(added.status, 200) << added.body.dump();
  EXPECT_EQ(added.body["member"]["intermediate"], true);
  EXPECT_EQ(added.body["member"]["max_path_length"], 1);
  EXPECT_EQ(
      Call("POST", "/v1/networks/add-member",
           {{"network", "uk"}, {"url", kAnchor}, {"intermediate", true}, {"max_path_length", -1}})
          .status,
      400);
}

TEST_F(NetworkOpsTest, TrustChecksTheFingerprintWhenItCan) {
  const std::string good = fed_.Anchor(kAnchor).fingerprint;
  auto wrong =
      Call("POST", "/v1/networks/trust",
           {{"url", kAnchor}, {"fingerprint", "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}});
  EXPECT_EQ(wrong.status, 400) << wrong.body.dump();
  EXPECT_EQ(wrong.body["error"], "fingerprint_mismatch");
  EXPECT_EQ(Call("POST", "/v1/networks/trust", {{"url", kAnchor}, {"fingerprint", "abc"}}).status,
            400);
  EXPECT_EQ(Call("POST", "/v1/networks/trust", {{"url", kAnchor}}).status, 400);

  auto ok = Call("POST", "/v1/networks/trust", {{"url", kAnchor}, {"fingerprint", good}});
  ASSERT_EQ(ok.status, 200) << ok.body.dump();
  EXPECT_EQ(ok.body["checked"], true);

  // An anchor that cannot be reached is trusted unchecked, with a warning.
  auto offline = Call("POST", "/v1/networks/trust",
                      {{"url", "https://offline.example/networks/x"}, {"fingerprint", good}});
  ASSERT_EQ(offline.status, 200) << offline.body.dump();
  EXPECT_EQ(offline.body["checked"], false);
  EXPECT_FALSE(offline.body["warning"].get<std::string>().empty());

  auto list = Call("GET", "/v1/networks");
  ASSERT_EQ(list.body["trusted"].size(), 2u);
  EXPECT_EQ(list.body["trusted"][0]["entity_id"], kAnchor);
  EXPECT_EQ(list.body["trusted"][0]["fingerprint"], good);

  EXPECT_EQ(Call("POST", "/v1/networks/untrust", {{"url", kAnchor}}).status, 200);
  EXPECT_EQ(Call("POST", "/v1/networks/untrust", {{"url", kAnchor}}).status, 404);
  EXPECT_EQ(Call("GET", "/v1/networks").body["trusted"].size(), 1u);
}

TEST_F(NetworkOpsTest, RefreshRunsTheDaemonsRefresh) {
  int calls = 0;
  context_.refresh_networks = [&calls] {
    ++calls;
    return json{{"admitted", 2}};
  };
  auto res = Call("POST", "/v1/networks/refresh", json::object());
  ASSERT_EQ(res.status, 200) << res.body.dump();
  EXPECT_EQ(res.body["admitted"], 2);
  EXPECT_EQ(calls, 1);
}

TEST_F(NetworkOpsTest, BadBodies) {
  CreateUk();
  EXPECT_EQ(Call("POST", "/v1/networks/add-member", json::array()).status, 400);
  EXPECT_EQ(router_.Dispatch("POST", "/v1/networks/add-member", "{not json").status, 400);
  EXPECT_EQ(Call("POST", "/v1/networks/add-member", {{"network", 1}, {"url", kCouncil}}).status,
            400);
  EXPECT_EQ(Call("POST", "/v1/networks/add-member",
                 {{"network", "uk"}, {"url", kCouncil}, {"intermediate", "yes"}})
                .status,
            400);
  EXPECT_EQ(Call("GET", "/v1/networks/add-member").status, 405);
}

}  // namespace
}  // namespace kith::admin
