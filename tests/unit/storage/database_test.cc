#include "storage/database.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace kith::storage {
namespace {

Database OpenOrDie(const std::filesystem::path& path, bool read_only = false) {
  Database::Options options;
  options.path = path;
  options.read_only = read_only;
  auto db = Database::Open(options);
  EXPECT_TRUE(db.ok()) << (db.ok() ? "" : db.error().message);
  return std::move(db).value();
}

std::string PragmaValue(Database& db, const char* pragma) {
  auto stmt = db.Prepare(pragma);
  EXPECT_TRUE(stmt.ok());
  auto row = stmt->Step();
  EXPECT_TRUE(row.ok() && *row);
  return stmt->ColumnText(0);
}

TEST(DatabaseTest, AppliesConnectionPragmas) {
  testing::TempDir dir("db");
  Database db = OpenOrDie(dir / "a.db");
  EXPECT_EQ(PragmaValue(db, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(PragmaValue(db, "PRAGMA foreign_keys"), "1");
  EXPECT_EQ(PragmaValue(db, "PRAGMA synchronous"), "2");  // FULL
  EXPECT_EQ(PragmaValue(db, "PRAGMA busy_timeout"), "5000");

  Database reader = OpenOrDie(dir / "a.db", /*read_only=*/true);
  EXPECT_EQ(PragmaValue(reader, "PRAGMA foreign_keys"), "1");
  EXPECT_EQ(PragmaValue(reader, "PRAGMA journal_mode"), "wal");
}

TEST(DatabaseTest, BindsAndReadsEveryType) {
  testing::TempDir dir("db");
  Database db = OpenOrDie(dir / "a.db");
  ASSERT_TRUE(db.Exec("CREATE TABLE t (i INTEGER, d REAL, s TEXT, b BLOB, n TEXT)").ok());
  auto insert = db.Prepare("INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)");
  ASSERT_TRUE(insert.ok());
  const std::vector<uint8_t> blob = {0, 1, 2, 255};
  const std::string text("nul\0inside", 10);
  ASSERT_TRUE(insert->Bind(1, int64_t{-7})
                  .Bind(2, 2.5)
                  .Bind(3, std::string_view(text))
                  .BindBlob(4, blob)
                  .Bind(5, std::optional<std::string>())
                  .Run()
                  .ok());
  EXPECT_EQ(db.Changes(), 1);
  EXPECT_EQ(db.LastInsertRowId(), 1);

  auto select = db.Prepare("SELECT i, d, s, b, n FROM t");
  ASSERT_TRUE(select.ok());
  auto row = select->Step();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ(select->ColumnCount(), 5);
  EXPECT_EQ(select->ColumnInt(0), -7);
  EXPECT_DOUBLE_EQ(select->ColumnDouble(1), 2.5);
  EXPECT_EQ(select->ColumnText(2), text);
  EXPECT_EQ(select->ColumnBlob(3), blob);
  EXPECT_TRUE(select->ColumnIsNull(4));
  row = select->Step();
  ASSERT_TRUE(row.ok());
  EXPECT_FALSE(*row);
}

TEST(DatabaseTest, MapsErrorsToCodes) {
  testing::TempDir dir("db");
  Database db = OpenOrDie(dir / "a.db");
  ASSERT_TRUE(db.Exec("CREATE TABLE p (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
                      "CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p(id))")
                  .ok());
  auto insert = db.Prepare("INSERT INTO p (name) VALUES (?1)");
  ASSERT_TRUE(insert.ok());
  ASSERT_TRUE(insert->Bind(1, "x").Run().ok());
  insert->Reset();
  Status dup = insert->Bind(1, "x").Run();
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kConflict);
  EXPECT_NE(dup.error().message.find("UNIQUE constraint failed"), std::string::npos)
      << dup.error().message;

  // Foreign keys are enforced.
  Status orphan = db.Exec("INSERT INTO c (p) VALUES (42)");
  ASSERT_FALSE(orphan.ok());
  EXPECT_EQ(orphan.error().code, ErrorCode::kConflict);
  EXPECT_NE(orphan.error().message.find("FOREIGN KEY"), std::string::npos);

  // Bad SQL is our bug: kInternal with SQLite's message.
  auto bad = db.Prepare("SELEKT 1");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInternal);
  EXPECT_NE(bad.error().message.find("syntax error"), std::string::npos);

  // Two statements in one Prepare are refused rather than silently half-run.
  auto two = db.Prepare("SELECT 1; SELECT 2");
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.error().code, ErrorCode::kInternal);
  // A trailing comment is fine.
  EXPECT_TRUE(db.Prepare("SELECT 1; -- done").ok());

  // A bind to a parameter that does not exist is reported by Step, not ignored.
  auto one = db.Prepare("SELECT ?1");
  ASSERT_TRUE(one.ok());
  auto stepped = one->Bind(2, int64_t{1}).Step();
  ASSERT_FALSE(stepped.ok());
  EXPECT_EQ(stepped.error().code, ErrorCode::kInternal);
}

TEST(DatabaseTest, BusyWriteLockIsUnavailable) {
  testing::TempDir dir("db");
  Database::Options options;
  options.path = dir / "a.db";
  options.busy_timeout_ms = 0;  // fail at once instead of waiting
  auto first = Database::Open(options);
  auto second = Database::Open(options);
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE(first->Exec("CREATE TABLE t (x)").ok());
  ASSERT_TRUE(first->Exec("BEGIN IMMEDIATE").ok());
  Status busy = second->Exec("BEGIN IMMEDIATE");
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().code, ErrorCode::kUnavailable);
  ASSERT_TRUE(first->Exec("COMMIT").ok());
  EXPECT_TRUE(second->Exec("BEGIN IMMEDIATE; COMMIT").ok());
}

TEST(DatabaseTest, OpenErrorsNameTheFile) {
  testing::TempDir dir("db");
  Database::Options missing;
  missing.path = dir / "no-such-dir" / "a.db";
  auto r = Database::Open(missing);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(missing.path.string()), std::string::npos);

  // A file that is not a database fails at open, not at the first query.
  const auto junk = dir / "junk.db";
  std::ofstream(junk) << std::string(8192, 'x');
  Database::Options bad;
  bad.path = junk;
  auto j = Database::Open(bad);
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.error().message.find(junk.string()), std::string::npos);
  EXPECT_NE(j.error().message.find("not a database"), std::string::npos) << j.error().message;

  // read_only never creates the file.
  Database::Options ro;
  ro.path = dir / "absent.db";
  ro.read_only = true;
  EXPECT_FALSE(Database::Open(ro).ok());
  EXPECT_FALSE(std::filesystem::exists(ro.path));
}

TEST(DatabaseTest, CachedStatementIsReusedAndReset) {
  testing::TempDir dir("db");
  Database db = OpenOrDie(dir / "a.db");
  ASSERT_TRUE(db.Exec("CREATE TABLE t (x INTEGER)").ok());
  Statement* first = nullptr;
  for (int64_t i = 0; i < 3; ++i) {
    auto stmt = db.Cached("INSERT INTO t VALUES (?1)");
    ASSERT_TRUE(stmt.ok());
    if (first == nullptr) first = *stmt;
    EXPECT_EQ(*stmt, first);
    ASSERT_TRUE((*stmt)->Bind(1, i).Run().ok());
  }
  // Bindings are cleared between uses: an unbound parameter is NULL.
  auto stmt = db.Cached("INSERT INTO t VALUES (?1)");
  ASSERT_TRUE(stmt.ok() && (*stmt)->Run().ok());
  auto count = db.Prepare("SELECT count(*), count(x), sum(x) FROM t");
  ASSERT_TRUE(count.ok() && *count->Step());
  EXPECT_EQ(count->ColumnInt(0), 4);
  EXPECT_EQ(count->ColumnInt(1), 3);
  EXPECT_EQ(count->ColumnInt(2), 3);
}

TEST(DatabaseTest, InTransactionCommitsOrRollsBack) {
  testing::TempDir dir("db");
  Database db = OpenOrDie(dir / "a.db");
  ASSERT_TRUE(db.Exec("CREATE TABLE t (x INTEGER)").ok());
  ASSERT_TRUE(InTransaction(db, [&] { return db.Exec("INSERT INTO t VALUES (1)"); }).ok());
  Status failed = InTransaction(db, [&]() -> Status {
    KITH_RETURN_IF_ERROR(db.Exec("INSERT INTO t VALUES (2)"));
    return MakeError(ErrorCode::kInvalidArgument, "no");
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kInvalidArgument);
  Status threw = InTransaction(db, [&]() -> Status {
    KITH_RETURN_IF_ERROR(db.Exec("INSERT INTO t VALUES (3)"));
    throw std::runtime_error("boom");
  });
  ASSERT_FALSE(threw.ok());
  EXPECT_EQ(threw.error().code, ErrorCode::kInternal);
  EXPECT_FALSE(db.TransactionOpen());
  EXPECT_EQ(PragmaValue(db, "SELECT group_concat(x) FROM t"), "1");
}

TEST(DatabaseTest, MoveKeepsConnectionAndCache) {
  testing::TempDir dir("db");
  Database a = OpenOrDie(dir / "a.db");
  ASSERT_TRUE(a.Exec("CREATE TABLE t (x)").ok());
  ASSERT_TRUE(a.Cached("INSERT INTO t VALUES (1)").ok());
  Database b = OpenOrDie(dir / "b.db");
  b = std::move(a);
  auto stmt = b.Cached("INSERT INTO t VALUES (1)");
  ASSERT_TRUE(stmt.ok());
  EXPECT_TRUE((*stmt)->Run().ok());
  EXPECT_EQ(b.path(), dir / "a.db");
}

}  // namespace
}  // namespace kith::storage
