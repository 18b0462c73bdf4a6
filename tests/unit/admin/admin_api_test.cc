#include "admin/admin_api.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>

#include "admin/node_init.h"
#include "storage/database.h"
#include "tests/support/temp_dir.h"

namespace kith::admin {
namespace {

using kith::testing::TempDir;

class AdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitOptions init;
    init.data_dir = dir_ / "node";
    init.base_url = "http://127.0.0.1:8401";
    init.name = "Improvement Service";
    init.organisation = "Improvement Service";
    auto report = InitDataDir(init, clock_);
    ASSERT_TRUE(report.ok()) << report.error().message;
    storage::Store::Options options;
    options.path = report->database_path;
    auto store = storage::Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    auto db = storage::Database::Open({.path = report->database_path});
    ASSERT_TRUE(db.ok());
    auto keys = identity::NodeKeyring::Load(report->data_dir, *db);
    ASSERT_TRUE(keys.ok()) << keys.error().message;
    NodeContext context;
    context.data_dir = report->data_dir;
    context.store = store_.get();
    node_keys_ = std::make_unique<storage::Snapshot<identity::NodeKeyring>>(*keys);
    context.node_keys = node_keys_.get();
    context.name = init.name;
    context.organisation = init.organisation;
    context.base_url = report->base_url;
    context.started_at = std::chrono::steady_clock::now() - std::chrono::seconds(90);
    context.server_stats = [] { return nlohmann::json{{"open_connections", 3}}; };
    api_.emplace(std::move(context));
  }
  void TearDown() override {
    if (store_) store_->Close();
  }
  TempDir dir_{"admin"};
  FakeClock clock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<storage::Snapshot<identity::NodeKeyring>> node_keys_;
  std::optional<AdminApi> api_;
};

TEST_F(AdminApiTest, StatusDescribesTheNode) {
  auto res = api_->Handle("GET", "/v1/status", "");
  ASSERT_EQ(res.status, 200) << res.body.dump();
  EXPECT_EQ(res.body["version"], KITH_VERSION);
  EXPECT_GE(res.body["uptime_seconds"].get<int64_t>(), 90);
  EXPECT_GT(res.body["database_bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(res.body["write_queue_depth"], 0);
  EXPECT_EQ(res.body["node"]["name"], "Improvement Service");
  EXPECT_EQ(res.body["node"]["base_url"], "http://127.0.0.1:8401");
  EXPECT_EQ(res.body["node"]["key"]["algorithm"], "ed25519");
  EXPECT_EQ(res.body["server"]["open_connections"], 3);
}

TEST_F(AdminApiTest, BackupWritesAConsistentCopy) {
  const auto target = dir_ / "backup.db";
  auto res = api_->Handle("POST", "/v1/backup", nlohmann::json{{"path", target.string()}}.dump());
  ASSERT_EQ(res.status, 200) << res.body.dump();
  EXPECT_EQ(res.body["path"], target.string());
  EXPECT_EQ(res.body["bytes"].get<uint64_t>(), std::filesystem::file_size(target));

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(target.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM node_keys", -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), 1);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_F(AdminApiTest, BackupRefusesBadPaths) {
  auto call = [&](const std::string& body) { return api_->Handle("POST", "/v1/backup", body); };
  EXPECT_EQ(call("").status, 400);
  EXPECT_EQ(call("{}").status, 400);
  EXPECT_EQ(call(R"({"path": 5})").status, 400);
  EXPECT_EQ(call(R"({"path": "relative.db"})").status, 400);
  EXPECT_EQ(
      call(nlohmann::json{{"path", (dir_ / "no" / "such" / "dir.db").string()}}.dump()).status,
      400);
  const auto existing = dir_ / "existing.db";
  std::ofstream(existing) << "keep me";
  auto res = call(nlohmann::json{{"path", existing.string()}}.dump());
  EXPECT_EQ(res.status, 409);
  EXPECT_EQ(std::filesystem::file_size(existing), 7u);
}

TEST_F(AdminApiTest, UnknownRoutesAndMethods) {
  EXPECT_EQ(api_->Handle("GET", "/v1/nothing", "").status, 404);
  auto res = api_->Handle("POST", "/v1/status", "");
  EXPECT_EQ(res.status, 405);
  EXPECT_EQ(res.allow, "GET");
}

}  // namespace
}  // namespace kith::admin
