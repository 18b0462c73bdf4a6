#include "storage/migrations.h"

#include <sqlite3.h>

#include <string>

namespace kith::storage {

namespace {

// Checks that `migrations` is numbered 1, 2, 3, ... — a broken list is a build mistake, and
// applying it would record a version that does not describe the schema.
Status CheckNumbering(const std::vector<Migration>& migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return MakeError(ErrorCode::kInternal, "migration list is not numbered 1..N: position " +
                                                 std::to_string(i + 1) + " holds version " +
                                                 std::to_string(migrations[i].version));
    }
  }
  return OkStatus();
}

std::string MigrationLabel(const Migration& m) {
  std::string version = std::to_string(m.version);
  if (version.size() < 4) version.insert(0, 4 - version.size(), '0');
  return version + "_" + std::string(m.name);
}

Status RefuseNewer(const Database& db, int current, int latest) {
  return MakeError(ErrorCode::kConflict,
                   "database " + db.path().string() + " has schema version " +
                       std::to_string(current) + ", newer than version " + std::to_string(latest) +
                       " that this kith build knows; run a newer kith (or restore a backup made "
                       "by this version)",
                   "schema_too_new");
}

// Denies BEGIN/COMMIT/ROLLBACK while migration SQL is prepared: a migration that ended the
// surrounding transaction would make the rest of it non-atomic (and could not be undone).
int DenyTransactionControl(void*, int action, const char*, const char*, const char*, const char*) {
  return action == SQLITE_TRANSACTION ? SQLITE_DENY : SQLITE_OK;
}

// Applies migrations (current, latest] inside the caller's open transaction.
Status ApplyPending(Database& db, const std::vector<Migration>& migrations, int current,
                    int latest) {
  sqlite3_set_authorizer(db.handle(), DenyTransactionControl, nullptr);
  Status status;
  for (int v = current + 1; v <= latest && status.ok(); ++v) {
    const Migration& m = migrations[static_cast<size_t>(v - 1)];
    status = db.Exec(m.sql);
    if (!status.ok()) {
      Error error = std::move(status).error();
      error.message = "migration " + MigrationLabel(m) + " failed on " + db.path().string() + ": " +
                      error.message;
      if (error.message.find("not authorized") != std::string::npos) {
        error.message += " (migrations must not contain BEGIN/COMMIT/ROLLBACK)";
      }
      status = std::move(error);
    }
  }
  sqlite3_set_authorizer(db.handle(), nullptr, nullptr);
  KITH_RETURN_IF_ERROR(status);
  // user_version cannot be bound as a parameter; `latest` is our own integer, not input.
  return db.Exec("PRAGMA user_version = " + std::to_string(latest));
}

}  // namespace

Result<int> SchemaVersion(Database& db) {
  auto stmt = db.Prepare("PRAGMA user_version");
  if (!stmt.ok()) return std::move(stmt).error();
  auto row = stmt->Step();
  if (!row.ok()) return std::move(row).error();
  if (!*row) return MakeError(ErrorCode::kInternal, "PRAGMA user_version returned no row");
  return static_cast<int>(stmt->ColumnInt(0));
}

Status Migrate(Database& db) { return Migrate(db, BuiltInMigrations()); }

Status Migrate(Database& db, const std::vector<Migration>& migrations) {
  KITH_RETURN_IF_ERROR(CheckNumbering(migrations));
  const int latest = static_cast<int>(migrations.size());

  auto before = SchemaVersion(db);
  if (!before.ok()) return std::move(before).error();
  if (*before > latest) return RefuseNewer(db, *before, latest);
  if (*before == latest) return OkStatus();

  // The write lock also serialises two processes migrating the same file at once; the version
  // is read again under it because the other one may have finished in between.
  KITH_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  Status status;
  auto current = SchemaVersion(db);
  if (!current.ok()) {
    status = std::move(current).error();
  } else if (*current > latest) {
    status = RefuseNewer(db, *current, latest);
  } else if (*current < latest) {
    status = ApplyPending(db, migrations, *current, latest);
  }
  if (status.ok()) {
    status = db.Exec("COMMIT");
    if (status.ok()) return status;
  }
  if (db.TransactionOpen()) {
    db.ResetActiveStatements();
    (void)db.Exec("ROLLBACK");
  }
  return status;
}

Status QuickCheck(Database& db) {
  auto stmt = db.Prepare("PRAGMA quick_check");
  if (!stmt.ok()) return std::move(stmt).error();
  std::string problems;
  int count = 0;
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) {
      Error error = std::move(row).error();
      error.message = "quick_check of " + db.path().string() + " failed: " + error.message;
      return error;
    }
    if (!*row) break;
    const std::string line = stmt->ColumnText(0);
    if (line == "ok") continue;
    if (++count <= 5) {
      if (!problems.empty()) problems += "; ";
      problems += line;
    }
  }
  if (count == 0) return OkStatus();
  if (count > 5) problems += "; and " + std::to_string(count - 5) + " more";
  return MakeError(ErrorCode::kInternal,
                   "database " + db.path().string() + " is damaged (quick_check): " + problems,
                   "database_corrupt");
}

}  // namespace kith::storage
