// kithctl as operators run it: init (and its refusals), status and backup against a live kithd.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_node.h"

namespace kith::testing {
namespace {

ProcessResult Kithctl(std::vector<std::string> args) {
  args.insert(args.begin(), KithctlPath());
  return RunProcess(args, {}, std::chrono::seconds(60));
}

std::vector<std::string> InitArgs(const std::filesystem::path& dir,
                                  const std::string& url = "http://127.0.0.1:8401") {
  return {"init",   "--data-dir", dir.string(),     "--base-url",          url,
          "--name", "Glasgow",    "--organisation", "Glasgow City Council"};
}

TEST(KithctlInit, CreatesADataDirectory) {
  TempDir tmp("ctl");
  auto r = Kithctl(InitArgs(tmp / "node"));
  ASSERT_EQ(r.status.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("fingerprint: SHA256:"), std::string::npos) << r.out;
  struct stat st {};
  ASSERT_EQ(::stat((tmp / "node").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((tmp / "node" / "kith.toml").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(std::filesystem::exists(tmp / "node" / "kith.db"));
}

TEST(KithctlInit, JsonOutputNamesTheKey) {
  TempDir tmp("ctl");
  auto args = InitArgs(tmp / "node");
  args.push_back("--json");
  auto r = Kithctl(args);
  ASSERT_EQ(r.status.code, 0) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out);
  const std::string kid = j["key"]["kid"];
  EXPECT_EQ(kid.size(), 43u);
  EXPECT_TRUE(std::filesystem::exists(tmp / "node" / "keys" / (kid + ".key")));
}

TEST(KithctlInit, RefusesABadUrlWithUsageError) {
  TempDir tmp("ctl");
  for (const char* url :
       {"ftp://x.example", "https://x.example/sub", "https://x.example/?a=b", "not a url"}) {
    auto r = Kithctl(InitArgs(tmp / "node", url));
    EXPECT_EQ(r.status.code, 2) << url << "\n" << r.err;
    EXPECT_NE(r.err.find("--base-url"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(tmp / "node"));
  }
}

TEST(KithctlInit, MissingOptionIsAUsageError) {
  TempDir tmp("ctl");
  auto r = Kithctl({"init", "--data-dir", (tmp / "node").string()});
  EXPECT_EQ(r.status.code, 2) << r.err;
  EXPECT_EQ(Kithctl({"frobnicate"}).status.code, 2);
}

TEST(KithctlInit, RefusesAnExistingDirectory) {
  TempDir tmp("ctl");
  ASSERT_EQ(Kithctl(InitArgs(tmp / "node")).status.code, 0);
  auto r = Kithctl(InitArgs(tmp / "node"));
  EXPECT_EQ(r.status.code, 1) << r.err;
  EXPECT_NE(r.err.find("not empty"), std::string::npos) << r.err;
}

TEST(KithctlInit, RefusesADirectoryLockedByARunningKithd) {
  auto node = TestNode::Start();
  ASSERT_TRUE(node);
  auto r = Kithctl(InitArgs(node->data_dir()));
  EXPECT_EQ(r.status.code, 1) << r.err;
  EXPECT_NE(r.err.find("running kithd"), std::string::npos) << r.err;
  EXPECT_EQ(node->Stop().code, 0);
}

TEST(KithctlStatus, ExplainsWhenKithdIsNotRunning) {
  auto node = TestNode::Init();
  ASSERT_TRUE(node);
  auto r = node->Kithctl({"status"});
  EXPECT_EQ(r.status.code, 1);
  EXPECT_NE(r.err.find("kithd is not running"), std::string::npos) << r.err;
}

TEST(KithctlStatus, ReportsTheRunningNode) {
  TestNodeOptions options;
  options.name = "Improvement Service";
  auto node = TestNode::Start(options);
  ASSERT_TRUE(node);
  auto human = node->Kithctl({"status"});
  ASSERT_EQ(human.status.code, 0) << human.out << human.err;
  EXPECT_NE(human.out.find("Improvement Service"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("uptime"), std::string::npos) << human.out;
  auto json = node->Kithctl({"status", "--json"});
  ASSERT_EQ(json.status.code, 0) << json.err;
  auto j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["version"], KITH_VERSION);
  EXPECT_TRUE(j["database_bytes"].is_number());
  EXPECT_TRUE(j["write_queue_depth"].is_number());
  EXPECT_EQ(j["node"]["name"], "Improvement Service");
  EXPECT_EQ(node->Stop().code, 0);
}

// Runs PRAGMA integrity_check on `path` and returns its first answer.
std::string IntegrityCheck(const std::filesystem::path& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return "cannot open";
  }
  std::string answer = "no answer";
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    answer = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return answer;
}

TEST(KithctlBackup, CopiesTheDatabaseWhileWritesRun) {
  auto node = TestNode::Start();
  ASSERT_TRUE(node);
  // /readyz writes the health_probe row: hammer it from a thread during the backup.
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  std::thread writer([&] {
    while (!stop) {
      auto res = HttpGet(node->port(), "/readyz", std::chrono::seconds(5));
      if (res.ok() && res->status == 200) ++writes;
    }
  });
  // Let some writes land before and during the copy.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (writes < 20 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // polling a counter
  }
  const auto target = node->temp_dir() / "backup.db";
  auto r = node->Kithctl({"backup", target.string()});
  const int during = writes;
  stop = true;
  writer.join();
  ASSERT_EQ(r.status.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Backup written to " + target.string()), std::string::npos) << r.out;
  EXPECT_GE(during, 20) << "the writer thread made too few writes to exercise the backup";
  EXPECT_EQ(IntegrityCheck(target), "ok");

  // The same path again is refused, and the copy is left alone.
  const auto size = std::filesystem::file_size(target);
  auto again = node->Kithctl({"backup", target.string()});
  EXPECT_EQ(again.status.code, 1);
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;
  EXPECT_EQ(std::filesystem::file_size(target), size);
  EXPECT_EQ(node->Stop().code, 0);
}

}  // namespace
}  // namespace kith::testing
