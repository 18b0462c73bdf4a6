#include "admin/key_ops.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "admin/key_commands.h"
#include "identity/node_keys.h"
#include "identity/oidc_keys.h"
#include "storage/database.h"
#include "storage/snapshot.h"
#include "storage/store.h"
#include "tests/support/temp_dir.h"

namespace kith::admin {
namespace {

using nlohmann::json;

// A node's keys as the daemon holds them, without the daemon: a store, the first node key,
// the key snapshots and a reload function like Daemon::ReloadKeys (node keys only).
class KeyOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    auto store = storage::Store::Open({.path = dir_ / "kith.db"});
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    auto db = storage::Database::Open({.path = dir_ / "kith.db"});
    ASSERT_TRUE(db.ok()) << db.error().message;
    auto first = identity::NodeKeyring::CreateInitial(dir_.path(), *db, clock_);
    ASSERT_TRUE(first.ok()) << first.error().message;
    first_kid_ = first->kid;
    context_.data_dir = dir_.path();
    context_.store = store_.get();
    context_.node_keys = &node_keys_;
    context_.reload_keys = [this]() -> Status {
      ++reloads_;
      auto ring = store_->Read(
          [&](storage::Database& rdb) { return identity::NodeKeyring::Load(dir_.path(), rdb); });
      if (!ring.ok()) return std::move(ring).error();
      node_keys_.Set(std::move(ring).value());
      return OkStatus();
    };
    ASSERT_TRUE(context_.reload_keys().ok());
    reloads_ = 0;
    AddKeyRoutes(router_, &context_, clock_);
  }
  void TearDown() override {
    if (store_) store_->Close();
  }

  AdminResponse Call(std::string_view method, std::string_view path, std::string_view body = "") {
    return router_.Dispatch(method, path, body);
  }

  testing::TempDir dir_{"keyops"};
  FakeClock clock_{1'750'000'000};
  std::unique_ptr<storage::Store> store_;
  storage::Snapshot<identity::NodeKeyring> node_keys_{nullptr};
  NodeContext context_;
  AdminRouter router_;
  std::string first_kid_;
  int reloads_ = 0;
};

TEST_F(KeyOpsTest, ListShowsTheCurrentNodeKey) {
  AdminResponse res = Call("GET", "/v1/keys");
  ASSERT_EQ(res.status, 200) << res.body.dump();
  ASSERT_EQ(res.body["node"].size(), 1u);
  EXPECT_EQ(res.body["node"][0]["kid"], first_kid_);
  EXPECT_EQ(res.body["node"][0]["status"], "current");
  EXPECT_TRUE(res.body["node"][0]["not_after"].is_null());
  EXPECT_EQ(res.body["node"][0]["fingerprint"].get<std::string>().rfind("SHA256:", 0), 0u);
  EXPECT_TRUE(res.body["oidc"].is_array());
}

TEST_F(KeyOpsTest, RotateNodeKeyReloadsAtOnceAndKeepsTheOldKeyForTheOverlap) {
  AdminResponse res = Call("POST", "/v1/keys/rotate", R"({"kind":"node","overlap_seconds":60})");
  ASSERT_EQ(res.status, 200) << res.body.dump();
  const std::string kid = res.body["kid"];
  EXPECT_NE(kid, first_kid_);
  EXPECT_EQ(res.body["old_kid"], first_kid_);
  EXPECT_EQ(res.body["old_not_after"], 1'750'000'060);
  EXPECT_TRUE(res.body["announced"].empty());  // no federation in this test
  EXPECT_EQ(reloads_, 1);
  EXPECT_EQ(node_keys_.Get()->current().kid, kid);
  EXPECT_EQ(node_keys_.Get()->Published(clock_.UnixSeconds()).size(), 2u);

  AdminResponse list = Call("GET", "/v1/keys");
  ASSERT_EQ(list.body["node"].size(), 2u);
  EXPECT_EQ(list.body["node"][0]["kid"], kid);
  EXPECT_EQ(list.body["node"][1]["status"], "retiring");
  EXPECT_EQ(list.body["node"][1]["not_after"], 1'750'000'060);

  // After the overlap, purge retires the old key and removes its file.
  clock_.Advance(std::chrono::seconds(61));
  AdminResponse purged = Call("POST", "/v1/keys/purge", "{}");
  ASSERT_EQ(purged.status, 200) << purged.body.dump();
  EXPECT_EQ(purged.body["node"], json::array({first_kid_}));
  EXPECT_FALSE(std::filesystem::exists(identity::NodeKeyring::KeyFile(dir_.path(), first_kid_)));
  EXPECT_EQ(node_keys_.Get()->Published(clock_.UnixSeconds()).size(), 1u);
}

TEST_F(KeyOpsTest, RotateWithoutBodyUsesNodeAndSevenDays) {
  AdminResponse res = Call("POST", "/v1/keys/rotate");
  ASSERT_EQ(res.status, 200) << res.body.dump();
  EXPECT_EQ(res.body["kind"], "node");
  EXPECT_EQ(res.body["old_not_after"], 1'750'000'000 + 7 * 24 * 3600);
}

TEST_F(KeyOpsTest, RotateRefusesBadInputAndChangesNothing) {
  for (const char* body :
       {R"({"kind":"rsa"})", R"({"overlap_seconds":-1})", R"({"overlap_seconds":"7d"})",
        R"({"overlap_seconds":99999999999})", R"({"kind":"node","extra":1})", "[1]", "{"}) {
    AdminResponse res = Call("POST", "/v1/keys/rotate", body);
    EXPECT_EQ(res.status, 400) << body << " -> " << res.body.dump();
  }
  EXPECT_EQ(reloads_, 0);
  EXPECT_EQ(node_keys_.Get()->current().kid, first_kid_);
  EXPECT_EQ(Call("GET", "/v1/keys").body["node"].size(), 1u);
}

TEST_F(KeyOpsTest, RotateOidcKeyMakesANewCurrentRsaKey) {
  auto first = identity::OidcKeys::EnsureRsaKey(dir_.path(), *store_, clock_);
  ASSERT_TRUE(first.ok()) << first.error().message;
  AdminResponse res = Call("POST", "/v1/keys/rotate", R"({"kind":"oidc","overlap_seconds":120})");
  ASSERT_EQ(res.status, 200) << res.body.dump();
  EXPECT_EQ(res.body["old_kid"], first->kid);
  EXPECT_NE(res.body["kid"], first->kid);
  EXPECT_EQ(res.body["old_not_after"], 1'750'000'120);
  EXPECT_EQ(reloads_, 1);
  AdminResponse list = Call("GET", "/v1/keys");
  ASSERT_EQ(list.body["oidc"].size(), 2u);
  EXPECT_EQ(node_keys_.Get()->current().kid, first_kid_);  // the node key is untouched
}

TEST_F(KeyOpsTest, AFailedReloadIsReportedAsSuch) {
  context_.reload_keys = [] { return Status(MakeError(ErrorCode::kInternal, "disk on fire")); };
  AdminResponse res = Call("POST", "/v1/keys/rotate", R"({"overlap_seconds":5})");
  EXPECT_EQ(res.status, 500);
  EXPECT_NE(res.body.dump().find("restart kithd"), std::string::npos) << res.body.dump();
  EXPECT_NE(res.body.dump().find("disk on fire"), std::string::npos) << res.body.dump();
}

TEST(ParseKeyOverlapTest, AcceptsNumberAndUnit) {
  EXPECT_EQ(ParseKeyOverlap("30s")->count(), 30);
  EXPECT_EQ(ParseKeyOverlap("15m")->count(), 900);
  EXPECT_EQ(ParseKeyOverlap("12h")->count(), 43200);
  EXPECT_EQ(ParseKeyOverlap("7d")->count(), 604800);
  EXPECT_EQ(ParseKeyOverlap("0s")->count(), 0);
  EXPECT_EQ(ParseKeyOverlap("366d")->count(), 366 * 86400);
}

TEST(ParseKeyOverlapTest, RefusesEverythingElse) {
  for (const char* bad : {"", "7", "d", "7x", "-1d", "+1d", "1.5h", "7 d", " 7d", "7dd", "367d",
                          "99999999999999999999s", "7D"}) {
    auto parsed = ParseKeyOverlap(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace kith::admin
