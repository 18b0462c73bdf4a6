// Numbered schema migrations, compiled into the binary from storage/migrations/NNNN_name.sql.
//
// The schema version lives in PRAGMA user_version. Migrate applies every pending migration
// in one transaction; a database whose version is newer than this binary knows is refused.
#pragma once

#include <string_view>
#include <vector>

#include "storage/database.h"
#include "storage/result.h"

namespace kith::storage {

struct Migration {
  int version;            // NNNN from the file name, 1-based, contiguous
  std::string_view name;  // the rest of the file name
  std::string_view sql;
};

// The migrations built into this binary, ordered by version.
const std::vector<Migration>& BuiltInMigrations();

// The schema version of `db` (0 for a fresh database), from PRAGMA user_version.
Result<int> SchemaVersion(Database& db);

// Applies the pending migrations of `migrations` (default: the built-in ones, which must be
// numbered 1..N) in one transaction and sets user_version to N. Fails with kConflict (reason
// "schema_too_new") when the database is newer than the newest migration, naming both
// versions; a failing migration gives kInternal naming the migration and SQLite's message.
// Leaves the database unchanged on any error. Not thread-safe (one Database).
Status Migrate(Database& db);
Status Migrate(Database& db, const std::vector<Migration>& migrations);

// Runs PRAGMA quick_check; kInternal (reason "database_corrupt") naming the file and what
// SQLite reported when the check finds damage.
Status QuickCheck(Database& db);

}  // namespace kith::storage
