#include "storage/migrations.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace kith::storage {
namespace {

Database OpenOrDie(const std::filesystem::path& path) {
  Database::Options options;
  options.path = path;
  auto db = Database::Open(options);
  EXPECT_TRUE(db.ok()) << (db.ok() ? "" : db.error().message);
  return std::move(db).value();
}

std::vector<std::string> Tables(Database& db) {
  auto stmt = db.Prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name");
  EXPECT_TRUE(stmt.ok());
  std::vector<std::string> names;
  while (true) {
    auto row = stmt->Step();
    EXPECT_TRUE(row.ok());
    if (!row.ok() || !*row) break;
    names.push_back(stmt->ColumnText(0));
  }
  return names;
}

const std::vector<Migration> kTwo = {
    {1, "a", "CREATE TABLE a (id INTEGER PRIMARY KEY);"},
    {2, "b", "CREATE TABLE b (id INTEGER PRIMARY KEY); INSERT INTO a VALUES (7);"},
};

TEST(MigrationsTest, BuiltInListIsNumberedAndAppliesToAFreshDatabase) {
  const auto& builtin = BuiltInMigrations();
  ASSERT_FALSE(builtin.empty());
  for (size_t i = 0; i < builtin.size(); ++i) EXPECT_EQ(builtin[i].version, int(i) + 1);

  testing::TempDir dir("mig");
  Database db = OpenOrDie(dir / "kith.db");
  EXPECT_EQ(*SchemaVersion(db), 0);
  ASSERT_TRUE(Migrate(db).ok());
  EXPECT_EQ(*SchemaVersion(db), static_cast<int>(builtin.size()));
  auto tables = Tables(db);
  EXPECT_NE(std::find(tables.begin(), tables.end(), "health_probe"), tables.end());
  EXPECT_NE(std::find(tables.begin(), tables.end(), "node_keys"), tables.end());
  // Idempotent.
  ASSERT_TRUE(Migrate(db).ok());
  EXPECT_TRUE(QuickCheck(db).ok());
}

TEST(MigrationsTest, UpgradesFromAnOlderVersion) {
  testing::TempDir dir("mig");
  Database db = OpenOrDie(dir / "kith.db");
  const std::vector<Migration> one(kTwo.begin(), kTwo.begin() + 1);
  ASSERT_TRUE(Migrate(db, one).ok());
  EXPECT_EQ(*SchemaVersion(db), 1);
  EXPECT_EQ(Tables(db), (std::vector<std::string>{"a"}));

  ASSERT_TRUE(Migrate(db, kTwo).ok());
  EXPECT_EQ(*SchemaVersion(db), 2);
  EXPECT_EQ(Tables(db), (std::vector<std::string>{"a", "b"}));
  auto stmt = db.Prepare("SELECT count(*) FROM a");
  ASSERT_TRUE(stmt.ok() && *stmt->Step());
  EXPECT_EQ(stmt->ColumnInt(0), 1);  // migration 2 ran exactly once
}

TEST(MigrationsTest, RefusesANewerDatabaseNamingBothVersions) {
  testing::TempDir dir("mig");
  Database db = OpenOrDie(dir / "kith.db");
  ASSERT_TRUE(Migrate(db, kTwo).ok());
  const std::vector<Migration> one(kTwo.begin(), kTwo.begin() + 1);
  Status status = Migrate(db, one);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kConflict);
  EXPECT_NE(status.error().message.find("schema version 2"), std::string::npos)
      << status.error().message;
  EXPECT_NE(status.error().message.find("version 1"), std::string::npos);
  EXPECT_NE(status.error().message.find((dir / "kith.db").string()), std::string::npos);
  EXPECT_EQ(*SchemaVersion(db), 2);
}

TEST(MigrationsTest, AFailingMigrationLeavesTheDatabaseUnchanged) {
  testing::TempDir dir("mig");
  Database db = OpenOrDie(dir / "kith.db");
  const std::vector<Migration> one(kTwo.begin(), kTwo.begin() + 1);
  ASSERT_TRUE(Migrate(db, one).ok());

  // 2 succeeds, 3 fails half-way: neither may stay.
  const std::vector<Migration> broken = {
      kTwo[0],
      kTwo[1],
      {3, "broken", "CREATE TABLE c (x); INSERT INTO nowhere VALUES (1);"},
  };
  Status status = Migrate(db, broken);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("0003_broken"), std::string::npos)
      << status.error().message;
  EXPECT_NE(status.error().message.find("no such table: nowhere"), std::string::npos);
  EXPECT_EQ(*SchemaVersion(db), 1);
  EXPECT_EQ(Tables(db), (std::vector<std::string>{"a"}));
  EXPECT_FALSE(db.TransactionOpen());

  // A migration may not end the transaction it runs in.
  const std::vector<Migration> committing = {kTwo[0], {2, "commit", "COMMIT; CREATE TABLE d (x);"}};
  status = Migrate(db, committing);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(*SchemaVersion(db), 1);
  EXPECT_EQ(Tables(db), (std::vector<std::string>{"a"}));
}

TEST(MigrationsTest, RejectsABadlyNumberedList) {
  testing::TempDir dir("mig");
  Database db = OpenOrDie(dir / "kith.db");
  const std::vector<Migration> gap = {{1, "a", "CREATE TABLE a (x);"}, {3, "c", "SELECT 1;"}};
  Status status = Migrate(db, gap);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(*SchemaVersion(db), 0);
  EXPECT_TRUE(Tables(db).empty());
}

}  // namespace
}  // namespace kith::storage
