#include "storage/store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "storage/migrations.h"
#include "tests/support/temp_dir.h"

namespace kith::storage {
namespace {

std::unique_ptr<Store> OpenStore(const std::filesystem::path& path) {
  Store::Options options;
  options.path = path;
  auto store = Store::Open(options);
  EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().message);
  return store.ok() ? std::move(store).value() : nullptr;
}

Result<int64_t> QueryInt(Database& db, const char* sql) {
  auto stmt = db.Prepare(sql);
  if (!stmt.ok()) return std::move(stmt).error();
  auto row = stmt->Step();
  if (!row.ok()) return std::move(row).error();
  if (!*row) return MakeError(ErrorCode::kNotFound, "no row");
  return stmt->ColumnInt(0);
}

TEST(StoreTest, OpenMigratesChecksAndCloses) {
  testing::TempDir dir("store");
  auto store = OpenStore(dir / "kith.db");
  ASSERT_NE(store, nullptr);
  auto version = store->Read([](Database& db) { return SchemaVersion(db); });
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, static_cast<int>(BuiltInMigrations().size()));
  EXPECT_GT(store->SizeBytes(), 0u);

  ASSERT_TRUE(store->CheckWritable().ok());
  auto probe = store->Read(
      [](Database& db) { return QueryInt(db, "SELECT count(*) FROM health_probe WHERE id = 1"); });
  ASSERT_TRUE(probe.ok());
  EXPECT_EQ(*probe, 1);
  ASSERT_TRUE(store->CheckWritable().ok());  // an upsert: a second probe does not conflict

  // Readers are read-only connections.
  Status write = store->Read([](Database& db) { return db.Exec("DELETE FROM health_probe"); });
  EXPECT_FALSE(write.ok());

  store->Close();
  EXPECT_FALSE(store->CheckWritable().ok());
  auto closed = store->Read([](Database& db) { return QueryInt(db, "SELECT 1"); });
  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.error().code, ErrorCode::kUnavailable);
  store->Close();  // idempotent

  // Reopening the same file works (already migrated).
  auto again = OpenStore(dir / "kith.db");
  ASSERT_NE(again, nullptr);
}

TEST(StoreTest, ReadersSeeCommittedWrites) {
  testing::TempDir dir("store");
  auto store = OpenStore(dir / "kith.db");
  ASSERT_NE(store, nullptr);
  // Borrow once so a pooled reader exists before the write.
  ASSERT_TRUE(store->Read([](Database& db) { return QueryInt(db, "SELECT 1"); }).ok());
  ASSERT_TRUE(store->writer()
                  .SubmitAndWait([](Database& db) {
                    return db.Exec("INSERT INTO node_meta (key, value) VALUES ('k', 'v')");
                  })
                  .ok());
  auto count = store->Read(
      [](Database& db) { return QueryInt(db, "SELECT count(*) FROM node_meta WHERE key = 'k'"); });
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 1);
}

TEST(StoreTest, OpenRefusesANewerSchemaAndNamesTheFile) {
  testing::TempDir dir("store");
  {
    Database::Options options;
    options.path = dir / "kith.db";
    auto db = Database::Open(options);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec("PRAGMA user_version = 9999").ok());
  }
  Store::Options options;
  options.path = dir / "kith.db";
  auto store = Store::Open(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kConflict);
  EXPECT_NE(store.error().message.find("9999"), std::string::npos) << store.error().message;
  EXPECT_NE(store.error().message.find(options.path.string()), std::string::npos);

  options.path = dir / "missing" / "kith.db";
  auto missing = Store::Open(options);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find(options.path.string()), std::string::npos);
}

TEST(StoreTest, BackupWhileWritingPassesIntegrityCheck) {
  testing::TempDir dir("store");
  auto store = OpenStore(dir / "kith.db");
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->writer()
                  .SubmitAndWait([](Database& db) {
                    return db.Exec("CREATE TABLE rows (id INTEGER PRIMARY KEY, body BLOB)");
                  })
                  .ok());

  // A writer thread keeps committing for the whole backup.
  std::atomic<bool> stop{false};
  std::atomic<int64_t> written{0};
  std::thread writing([&] {
    const std::vector<uint8_t> body(2000, 0xab);
    while (!stop.load()) {
      Status s = store->writer().SubmitAndWait([&body](Database& db) -> Status {
        auto stmt = db.Cached("INSERT INTO rows (body) VALUES (?1)");
        if (!stmt.ok()) return std::move(stmt).error();
        return (*stmt)->BindBlob(1, body).Run();
      });
      if (!s.ok()) break;
      ++written;
    }
  });
  // Let the database grow to a few hundred pages before copying (bounded by a deadline).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (written.load() < 500 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  const auto copy = dir / "backup.db";
  Status backup = Backup(dir / "kith.db", copy);
  const int64_t during = written.load();
  stop = true;
  writing.join();
  ASSERT_TRUE(backup.ok()) << backup.error().message;
  EXPECT_GE(during, 500);

  // The copy is one self-contained file that passes integrity_check and holds a prefix of the
  // rows (a consistent snapshot).
  EXPECT_FALSE(std::filesystem::exists(copy.string() + "-wal"));
  Database::Options options;
  options.path = copy;
  options.read_only = true;
  auto db = Database::Open(options);
  ASSERT_TRUE(db.ok());
  auto check = db->Prepare("PRAGMA integrity_check");
  ASSERT_TRUE(check.ok() && *check->Step());
  EXPECT_EQ(check->ColumnText(0), "ok");
  auto mode = db->Prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode.ok() && *mode->Step());
  EXPECT_EQ(mode->ColumnText(0), "delete");
  auto count = QueryInt(*db, "SELECT count(*) FROM rows");
  ASSERT_TRUE(count.ok());
  EXPECT_GT(*count, 0);
  EXPECT_LE(*count, written.load());
  auto max_id = QueryInt(*db, "SELECT max(id) FROM rows");
  ASSERT_TRUE(max_id.ok());
  EXPECT_EQ(*max_id, *count);  // no holes: a prefix
  auto version = SchemaVersion(*db);
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, static_cast<int>(BuiltInMigrations().size()));

  // A second backup to the same name is refused and leaves the first copy alone.
  const auto size = std::filesystem::file_size(copy);
  Status again = Backup(dir / "kith.db", copy);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_EQ(std::filesystem::file_size(copy), size);
}

TEST(StoreTest, BackupBadInputLeavesNothingBehind) {
  testing::TempDir dir("store");
  Status no_source = Backup(dir / "absent.db", dir / "out.db");
  ASSERT_FALSE(no_source.ok());
  EXPECT_EQ(no_source.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir / "absent.db"));

  auto store = OpenStore(dir / "kith.db");
  ASSERT_NE(store, nullptr);
  Status no_dir = Backup(dir / "kith.db", dir / "nope" / "out.db");
  ASSERT_FALSE(no_dir.ok());
  EXPECT_EQ(no_dir.error().code, ErrorCode::kInvalidArgument);

  // Not a database: the copy fails and no file (partial or final) remains.
  const auto junk = dir / "junk.db";
  { std::ofstream(junk) << std::string(8192, 'x'); }
  Status bad = Backup(junk, dir / "out.db");
  ASSERT_FALSE(bad.ok());
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    left.push_back(entry.path().filename().string());
  }
  for (const auto& name : left) {
    EXPECT_EQ(name.find("out.db"), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace kith::storage
