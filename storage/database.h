// Database and Statement: RAII wrappers over one SQLite connection and its prepared
// statements. Every connection is opened with WAL, foreign keys on, a busy timeout and
// synchronous=FULL.
//
// Thread-safety: a Database (and its Statements) is used by one thread at a time.
// SQL text is always a constant in the caller's module; values are bound, never spliced.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "storage/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace kith::storage {

// One prepared statement. Bind parameters are 1-based, columns 0-based (as in SQLite).
class Statement {
 public:
  Statement() = default;
  Statement(Statement&&) noexcept;
  Statement& operator=(Statement&&) noexcept;
  ~Statement();

  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, double value);
  Statement& Bind(int index, std::string_view text);  // copied by SQLite
  Statement& Bind(int index, const char* text) { return Bind(index, std::string_view(text)); }
  // Without this, a std::string argument would be ambiguous (string_view vs optional<string>).
  Statement& Bind(int index, const std::string& text) {
    return Bind(index, std::string_view(text));
  }
  Statement& BindBlob(int index, std::span<const uint8_t> bytes);
  Statement& BindNull(int index);
  Statement& Bind(int index, const std::optional<std::string>& text);  // NULL when empty

  // Advances the statement. Returns true when a row is available, false when done,
  // an Error (kConflict for constraint violations, kUnavailable for busy) on failure.
  Result<bool> Step();
  // Steps to completion, ignoring rows. For INSERT/UPDATE/DELETE.
  Status Run();

  int64_t ColumnInt(int col) const;
  double ColumnDouble(int col) const;
  std::string ColumnText(int col) const;
  std::vector<uint8_t> ColumnBlob(int col) const;
  bool ColumnIsNull(int col) const;
  int ColumnCount() const;

  // Resets to run again and clears the bindings.
  void Reset();

 private:
  friend class Database;
  explicit Statement(sqlite3_stmt* stmt, sqlite3* db) : stmt_(stmt), db_(db) {}
  void NoteBind(int rc);
  sqlite3_stmt* stmt_ = nullptr;
  sqlite3* db_ = nullptr;
  bool cached_ = false;
  int bind_rc_ = 0;  // first failed bind since Reset(), reported by Step()
};

// Resets a statement (usually a cached one) when the scope ends, so that it releases its read
// snapshot on every path out of the scope:  StatementReset reset{stmt};
struct StatementReset {
  Statement* stmt;
  ~StatementReset() {
    if (stmt != nullptr) stmt->Reset();
  }
};

// One connection. Movable, not copyable.
class Database {
 public:
  struct Options {
    std::filesystem::path path;
    bool read_only = false;
    int busy_timeout_ms = 5000;
  };

  // Opens (creating if needed unless read_only) and applies the connection pragmas
  // (WAL unless read_only, foreign_keys=ON, synchronous=FULL, busy_timeout). Errors name the
  // file: kInvalidArgument for an empty path, kUnavailable when locked past the busy timeout,
  // kInternal when the file cannot be opened, is not a database, or cannot use WAL.
  static Result<Database> Open(const Options& options);

  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;
  ~Database();

  // Runs one or more statements without parameters (pragmas, migrations, BEGIN/COMMIT).
  Status Exec(std::string_view sql);

  // Prepares a fresh statement owned by the caller.
  Result<Statement> Prepare(std::string_view sql);

  // Returns a statement prepared once per connection and reused (reset, bindings cleared).
  // The pointer stays valid as long as this Database. Use for hot statements.
  Result<Statement*> Cached(std::string_view sql);

  int64_t LastInsertRowId() const;
  int64_t Changes() const;

  // The last SQLite error text for this connection.
  std::string LastErrorMessage() const;

  // Whether a transaction is open on this connection (SQLite is not in autocommit mode).
  bool TransactionOpen() const;

  // Resets every statement of this connection that is part-way through its rows, so that it
  // stops holding a read snapshot or a transaction open. Pools call it when a borrowed
  // connection comes back.
  void ResetActiveStatements();

  sqlite3* handle() const { return db_.get(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  struct Closer {
    void operator()(sqlite3* db) const;
  };
  Database() = default;
  std::unique_ptr<sqlite3, Closer> db_;
  std::filesystem::path path_;
  std::unordered_map<std::string, std::unique_ptr<Statement>> cache_;
};

// Turns a failed SQLite result code into an Error: constraint violations are kConflict,
// SQLITE_BUSY/SQLITE_LOCKED kUnavailable, everything else kInternal. The message is
// "<context>: <SQLite's message for db>" (or SQLite's generic text for rc when db is null).
Error SqliteError(int rc, sqlite3* db, std::string_view context);

// Runs `body` inside BEGIN IMMEDIATE … COMMIT on `db`, rolling back if body fails (or
// throws: the exception becomes kInternal). Returns body's error, or the BEGIN/COMMIT error
// (kUnavailable when another connection holds the write lock past the busy timeout).
// Use only on connections that are not the Writer's (the Writer batches its own).
Status InTransaction(Database& db, const std::function<Status()>& body);

}  // namespace kith::storage
