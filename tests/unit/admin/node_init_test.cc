#include "admin/node_init.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "identity/node_keys.h"
#include "storage/data_dir_lock.h"
#include "storage/database.h"
#include "tests/support/temp_dir.h"

namespace kith::admin {
namespace {

using kith::testing::TempDir;

int Mode(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return static_cast<int>(st.st_mode & 0777);
}

InitOptions Options(const std::filesystem::path& dir) {
  InitOptions o;
  o.data_dir = dir;
  o.base_url = "http://127.0.0.1:8401";
  o.name = "Glasgow City Council";
  o.organisation = "Glasgow City Council";
  return o;
}

TEST(ParseBaseUrlTest, AcceptsHttpAndHttps) {
  auto a = ParseBaseUrl("http://127.0.0.1:8401");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->url, "http://127.0.0.1:8401");
  EXPECT_EQ(a->port, 8401);
  EXPECT_EQ(a->host, "127.0.0.1");
  auto b = ParseBaseUrl("https://kith.glasgow.gov.uk/");
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(b->url, "https://kith.glasgow.gov.uk");
  EXPECT_EQ(b->port, 443);
  auto c = ParseBaseUrl("http://[::1]:9000");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->port, 9000);
}

TEST(ParseBaseUrlTest, RefusesWhatIsNotABaseUrl) {
  for (const char* bad : {"", "kith.example", "ftp://kith.example", "http://", "http:///x",
                          "https://kith.example/path", "https://kith.example/?q=1",
                          "https://kith.example/#top", "https://user:pw@kith.example",
                          "http://kith.example:0", "http://kith.example:99999", "http://a b"}) {
    auto r = ParseBaseUrl(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
      EXPECT_NE(r.error().message.find("--base-url"), std::string::npos);
    }
  }
}

TEST(InitDataDirTest, MakesAWorkingNode) {
  TempDir tmp("init");
  FakeClock clock;
  auto report = InitDataDir(Options(tmp / "node"), clock);
  ASSERT_TRUE(report.ok()) << report.error().message;
  const auto dir = tmp / "node";
  EXPECT_EQ(report->data_dir, dir);
  EXPECT_EQ(Mode(dir), 0700);
  EXPECT_EQ(Mode(dir / "kith.toml"), 0600);
  EXPECT_EQ(Mode(dir / "kith.db"), 0600);
  EXPECT_EQ(Mode(dir / "keys" / (report->key.kid + ".key")), 0600);
  EXPECT_EQ(report->port, 8401);
  EXPECT_EQ(report->listen_address, "127.0.0.1");
  EXPECT_EQ(report->fingerprint, identity::Fingerprint(report->key.public_key));

  std::ifstream in(dir / "kith.toml");
  std::string config((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(config.find("name = \"Glasgow City Council\""), std::string::npos);
  EXPECT_NE(config.find("data_dir = \"" + dir.string() + "\""), std::string::npos);
  EXPECT_NE(config.find("port = 8401"), std::string::npos);

  // The key in the database loads with its file.
  auto db = storage::Database::Open({.path = dir / "kith.db"});
  ASSERT_TRUE(db.ok());
  auto ring = identity::NodeKeyring::Load(dir, *db);
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  EXPECT_EQ((*ring)->current().kid, report->key.kid);
}

TEST(InitDataDirTest, ListenAndPortOverrideTheBaseUrl) {
  TempDir tmp("init");
  FakeClock clock;
  auto options = Options(tmp / "node");
  options.base_url = "https://kith.example.org";
  options.listen_address = "0.0.0.0";
  options.port = 8080;
  auto report = InitDataDir(options, clock);
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->port, 8080);
  EXPECT_EQ(report->listen_address, "0.0.0.0");
}

TEST(InitDataDirTest, EscapesStringsInTheConfig) {
  TempDir tmp("init");
  FakeClock clock;
  auto options = Options(tmp / "node");
  options.name = "The \"Quoted\" \\ Node";
  auto report = InitDataDir(options, clock);
  ASSERT_TRUE(report.ok()) << report.error().message;
  const std::string text = RenderConfig(*report, options.name, options.organisation);
  EXPECT_NE(text.find(R"(name = "The \"Quoted\" \\ Node")"), std::string::npos) << text;
}

TEST(InitDataDirTest, AcceptsAnExistingEmptyDirectory) {
  TempDir tmp("init");
  FakeClock clock;
  std::filesystem::create_directory(tmp / "node");
  auto report = InitDataDir(Options(tmp / "node"), clock);
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(Mode(tmp / "node"), 0700);
}

TEST(InitDataDirTest, RefusesANonEmptyDirectory) {
  TempDir tmp("init");
  FakeClock clock;
  std::filesystem::create_directory(tmp / "node");
  std::ofstream(tmp / "node" / "something") << "x";
  auto report = InitDataDir(Options(tmp / "node"), clock);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().code, ErrorCode::kConflict);
  EXPECT_TRUE(std::filesystem::exists(tmp / "node" / "something"));
  EXPECT_FALSE(std::filesystem::exists(tmp / "node" / "kith.toml"));
}

TEST(InitDataDirTest, RefusesToInitialiseTwice) {
  TempDir tmp("init");
  FakeClock clock;
  ASSERT_TRUE(InitDataDir(Options(tmp / "node"), clock).ok());
  auto again = InitDataDir(Options(tmp / "node"), clock);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_NE(again.error().message.find("holds a node already"), std::string::npos);
}

TEST(InitDataDirTest, RefusesADirectoryInUse) {
  TempDir tmp("init");
  FakeClock clock;
  ASSERT_TRUE(InitDataDir(Options(tmp / "node"), clock).ok());
  auto lock = storage::DataDirLock::Acquire(tmp / "node");
  ASSERT_TRUE(lock.ok()) << lock.error().message;
  auto again = InitDataDir(Options(tmp / "node"), clock);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("running kithd"), std::string::npos)
      << again.error().message;
}

TEST(InitDataDirTest, BadInputTouchesNothing) {
  TempDir tmp("init");
  FakeClock clock;
  auto options = Options(tmp / "node");
  options.base_url = "https://kith.example/path";
  EXPECT_EQ(InitDataDir(options, clock).error().code, ErrorCode::kInvalidArgument);
  options = Options(tmp / "node");
  options.name = "";
  EXPECT_EQ(InitDataDir(options, clock).error().code, ErrorCode::kInvalidArgument);
  options = Options(tmp / "node");
  options.organisation = "bad\nline";
  EXPECT_EQ(InitDataDir(options, clock).error().code, ErrorCode::kInvalidArgument);
  options = Options(tmp / "node");
  options.listen_address = "not-an-ip";
  EXPECT_EQ(InitDataDir(options, clock).error().code, ErrorCode::kInvalidArgument);
  options = Options(tmp / "node");
  options.port = 70000;
  EXPECT_EQ(InitDataDir(options, clock).error().code, ErrorCode::kInvalidArgument);
  options = Options(tmp / "missing" / "node");
  EXPECT_EQ(InitDataDir(options, clock).error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(tmp / "node"));
  EXPECT_FALSE(std::filesystem::exists(tmp / "missing"));
}

TEST(InitDataDirTest, FailureLeavesNoHalfMadeDirectory) {
  // A data directory whose path is so long that the directory itself and kith.toml can be
  // made but the later steps (SQLite's path limit, the key file) cannot: init must fail and
  // remove everything it made, whoever runs the test (root ignores permission tricks).
  TempDir tmp("init");
  FakeClock clock;
  std::filesystem::path base = tmp.path();
  while (base.string().size() < 3950) base /= std::string(200, 'a');
  std::filesystem::create_directories(base);
  auto report = InitDataDir(Options(base / "node"), clock);
  ASSERT_FALSE(report.ok());
  EXPECT_FALSE(std::filesystem::exists(base / "node")) << report.error().message;
}

}  // namespace
}  // namespace kith::admin
