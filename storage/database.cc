#include "storage/database.h"

#include <sqlite3.h>

#include <cctype>
#include <exception>
#include <string>
#include <utility>

namespace kith::storage {

Error SqliteError(int rc, sqlite3* db, std::string_view context) {
  const int primary = rc & 0xff;
  ErrorCode code = ErrorCode::kInternal;
  if (primary == SQLITE_CONSTRAINT) {
    code = ErrorCode::kConflict;
  } else if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    code = ErrorCode::kUnavailable;
  }
  // sqlite3_errmsg describes the most recent failure on this connection; when the call that
  // failed did not touch the connection (db == nullptr) fall back to the generic text.
  std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  if (detail.empty() || detail == "not an error") detail = sqlite3_errstr(rc);
  std::string message;
  if (!context.empty()) {
    message.append(context);
    message.append(": ");
  }
  message.append(detail);
  return MakeError(code, std::move(message));
}

// ---------------------------------------------------------------------------------------------
// Statement

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)),
      db_(std::exchange(other.db_, nullptr)),
      cached_(std::exchange(other.cached_, false)),
      bind_rc_(std::exchange(other.bind_rc_, SQLITE_OK)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
    db_ = std::exchange(other.db_, nullptr);
    cached_ = std::exchange(other.cached_, false);
    bind_rc_ = std::exchange(other.bind_rc_, SQLITE_OK);
  }
  return *this;
}

Statement::~Statement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

// A bind failure (index out of range, out of memory) is remembered and reported by the next
// Step(), so that the fluent Bind(...).Bind(...) style cannot silently run with a missing value.
void Statement::NoteBind(int rc) {
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

Statement& Statement::Bind(int index, int64_t value) {
  NoteBind(sqlite3_bind_int64(stmt_, index, value));
  return *this;
}

Statement& Statement::Bind(int index, double value) {
  NoteBind(sqlite3_bind_double(stmt_, index, value));
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  NoteBind(
      sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  return *this;
}

Statement& Statement::BindBlob(int index, std::span<const uint8_t> bytes) {
  // A zero-length blob must still be a blob, not NULL: SQLite treats a null pointer as NULL.
  static const uint8_t kEmpty = 0;
  const void* data = bytes.empty() ? &kEmpty : bytes.data();
  NoteBind(sqlite3_bind_blob64(stmt_, index, data, bytes.size(), SQLITE_TRANSIENT));
  return *this;
}

Statement& Statement::BindNull(int index) {
  NoteBind(sqlite3_bind_null(stmt_, index));
  return *this;
}

Statement& Statement::Bind(int index, const std::optional<std::string>& text) {
  if (!text.has_value() || text->empty()) return BindNull(index);
  return Bind(index, std::string_view(*text));
}

Result<bool> Statement::Step() {
  if (stmt_ == nullptr) return MakeError(ErrorCode::kInternal, "Step on an empty Statement");
  if (bind_rc_ != SQLITE_OK) {
    const int rc = bind_rc_;
    return MakeError(ErrorCode::kInternal, std::string("binding a parameter failed: ") +
                                               sqlite3_errstr(rc) + " (in: " + sqlite3_sql(stmt_) +
                                               ")");
  }
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Error error = SqliteError(rc, db_, {});
  // Reset so that a failed statement does not keep a transaction or a lock open.
  sqlite3_reset(stmt_);
  return error;
}

Status Statement::Run() {
  while (true) {
    auto row = Step();
    if (!row.ok()) return std::move(row).error();
    if (!*row) return OkStatus();
  }
}

int64_t Statement::ColumnInt(int col) const { return sqlite3_column_int64(stmt_, col); }

double Statement::ColumnDouble(int col) const { return sqlite3_column_double(stmt_, col); }

std::string Statement::ColumnText(int col) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (text == nullptr) return {};
  return std::string(text, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::vector<uint8_t> Statement::ColumnBlob(int col) const {
  const auto* data = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, col));
  const int size = sqlite3_column_bytes(stmt_, col);
  if (data == nullptr || size <= 0) return {};
  return std::vector<uint8_t>(data, data + size);
}

bool Statement::ColumnIsNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

int Statement::ColumnCount() const { return sqlite3_column_count(stmt_); }

void Statement::Reset() {
  if (stmt_ == nullptr) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_rc_ = SQLITE_OK;
}

// ---------------------------------------------------------------------------------------------
// Database

void Database::Closer::operator()(sqlite3* db) const {
  // close_v2 defers the close until every statement is finalized instead of failing.
  sqlite3_close_v2(db);
}

namespace {

// Runs a pragma that returns one text row and gives that row.
Result<std::string> PragmaText(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  if (rc != SQLITE_OK) return SqliteError(rc, db, sql);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
  rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_ROW) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 0));
    return std::string(text != nullptr ? text : "");
  }
  if (rc == SQLITE_DONE) return std::string();
  return SqliteError(rc, db, sql);
}

bool OnlyWhitespaceOrComments(const char* p) {
  while (*p != '\0') {
    if (std::isspace(static_cast<unsigned char>(*p))) {
      ++p;
    } else if (p[0] == '-' && p[1] == '-') {
      while (*p != '\0' && *p != '\n') ++p;
    } else if (p[0] == '/' && p[1] == '*') {
      p += 2;
      while (*p != '\0' && !(p[0] == '*' && p[1] == '/')) ++p;
      if (*p != '\0') p += 2;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<Database> Database::Open(const Options& options) {
  // SQLite would quietly open a private temporary database for an empty name.
  if (options.path.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "database path is empty");
  }
  const std::string file = options.path.string();
  const std::string where = "database " + file;
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  flags |= options.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(file.c_str(), &raw, flags, nullptr);
  Database db;
  db.db_.reset(raw);  // sqlite3_open_v2 may allocate a handle even when it fails
  db.path_ = options.path;
  if (rc != SQLITE_OK) return SqliteError(rc, raw, "cannot open " + where);
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, options.busy_timeout_ms);

  // The first statement reads the header, so a file that is not a database fails here.
  if (!options.read_only) {
    auto mode = PragmaText(raw, "PRAGMA journal_mode=WAL");
    if (!mode.ok()) {
      return MakeError(mode.error().code, "cannot open " + where + ": " + mode.error().message);
    }
    if (*mode != "wal" && *mode != "memory") {
      return MakeError(ErrorCode::kInternal,
                       "cannot open " + where + ": WAL journal mode is not available (got '" +
                           *mode + "'); is the file on a network file system?");
    }
  } else {
    // A read-only connection cannot change the journal mode; it follows the file's.
    auto mode = PragmaText(raw, "PRAGMA journal_mode");
    if (!mode.ok()) {
      return MakeError(mode.error().code, "cannot open " + where + ": " + mode.error().message);
    }
  }
  for (const char* pragma : {"PRAGMA foreign_keys=ON", "PRAGMA synchronous=FULL"}) {
    auto status = db.Exec(pragma);
    if (!status.ok()) {
      return MakeError(status.error().code, "cannot open " + where + ": " + status.error().message);
    }
  }
  return db;
}

Database::Database(Database&& other) noexcept
    : db_(std::move(other.db_)), path_(std::move(other.path_)), cache_(std::move(other.cache_)) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    cache_.clear();  // finalize our statements before our connection goes
    db_ = std::move(other.db_);
    path_ = std::move(other.path_);
    cache_ = std::move(other.cache_);
  }
  return *this;
}

Database::~Database() { cache_.clear(); }

Status Database::Exec(std::string_view sql) {
  if (!db_) return MakeError(ErrorCode::kInternal, "Exec on a closed Database");
  const std::string text(sql);  // sqlite3_exec needs a terminated string
  char* message = nullptr;
  const int rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return OkStatus();
  std::string detail = message != nullptr ? message : sqlite3_errstr(rc);
  sqlite3_free(message);
  Error error = SqliteError(rc, nullptr, {});
  error.message = detail;
  return error;
}

Result<Statement> Database::Prepare(std::string_view sql) {
  if (!db_) return MakeError(ErrorCode::kInternal, "Prepare on a closed Database");
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  const int rc =
      sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()), 0, &raw, &tail);
  if (rc != SQLITE_OK) {
    return SqliteError(rc, db_.get(), "cannot prepare '" + std::string(sql) + "'");
  }
  Statement stmt(raw, db_.get());
  if (raw == nullptr) {
    return MakeError(ErrorCode::kInternal,
                     "cannot prepare '" + std::string(sql) + "': no SQL statement in the text");
  }
  const std::string rest(tail, sql.data() + sql.size() - tail);
  if (!OnlyWhitespaceOrComments(rest.c_str())) {
    return MakeError(ErrorCode::kInternal, "cannot prepare '" + std::string(sql) +
                                               "': more than one statement (use Exec)");
  }
  return stmt;
}

Result<Statement*> Database::Cached(std::string_view sql) {
  const std::string key(sql);
  auto it = cache_.find(key);
  if (it != cache_.end()) {
    it->second->Reset();
    return it->second.get();
  }
  auto stmt = Prepare(sql);
  if (!stmt.ok()) return std::move(stmt).error();
  auto owned = std::make_unique<Statement>(std::move(stmt).value());
  owned->cached_ = true;
  Statement* pointer = owned.get();
  cache_.emplace(key, std::move(owned));
  return pointer;
}

int64_t Database::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_.get()); }

int64_t Database::Changes() const { return sqlite3_changes64(db_.get()); }

std::string Database::LastErrorMessage() const {
  if (!db_) return "database is closed";
  return sqlite3_errmsg(db_.get());
}

void Database::ResetActiveStatements() {
  if (!db_) return;
  for (sqlite3_stmt* stmt = sqlite3_next_stmt(db_.get(), nullptr); stmt != nullptr;
       stmt = sqlite3_next_stmt(db_.get(), stmt)) {
    if (sqlite3_stmt_busy(stmt)) sqlite3_reset(stmt);
  }
}

bool Database::TransactionOpen() const { return db_ && sqlite3_get_autocommit(db_.get()) == 0; }

Status InTransaction(Database& db, const std::function<Status()>& body) {
  KITH_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  Status status;
  try {
    status = body();
  } catch (const std::exception& e) {
    status = MakeError(ErrorCode::kInternal, std::string("transaction body threw: ") + e.what());
  }
  if (status.ok()) {
    status = db.Exec("COMMIT");
    if (status.ok()) return status;
  }
  // Some errors (SQLITE_FULL, SQLITE_IOERR, ...) already rolled the transaction back.
  if (db.TransactionOpen()) {
    db.ResetActiveStatements();
    (void)db.Exec("ROLLBACK");
  }
  return status;
}

}  // namespace kith::storage
