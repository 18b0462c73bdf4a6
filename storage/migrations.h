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

// The schema version of `db` (0 for a fresh database).
Result<int> SchemaVersion(Database& db);

// Applies the pending migrations of `migrations` (default: the built-in ones) in one
// transaction. Fails with kFailedPrecondition-like kConflict when the database is newer
// than the newest migration, naming both versions; leaves the database unchanged on error.
Status Migrate(Database& db);
Status Migrate(Database& db, const std::vector<Migration>& migrations);

// Runs PRAGMA quick_check; an Error names what SQLite reported.
Status QuickCheck(Database& db);

}  // namespace kith::storage
