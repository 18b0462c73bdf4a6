#include "storage/store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>

#include "storage/clock.h"
#include "storage/migrations.h"

namespace kith::storage {

Result<std::unique_ptr<Store>> Store::Open(const Options& options) {
  std::unique_ptr<Store> store(new Store());
  store->options_ = options;
  store->options_.writer.path = options.path;
  {
    // Migrate and check on a connection of their own, closed before the writer starts.
    Database::Options db_options;
    db_options.path = options.path;
    db_options.busy_timeout_ms = options.writer.busy_timeout_ms;
    auto db = Database::Open(db_options);
    if (!db.ok()) return std::move(db).error();
    KITH_RETURN_IF_ERROR(Migrate(*db));
    KITH_RETURN_IF_ERROR(QuickCheck(*db));
  }
  auto writer = Writer::Start(store->options_.writer);
  if (!writer.ok()) return std::move(writer).error();
  store->writer_ = std::move(writer).value();
  return store;
}

Store::~Store() { Close(); }

Result<std::unique_ptr<Database>> Store::Borrow() {
  {
    std::lock_guard lock(readers_mu_);
    if (closed_) {
      return MakeError(ErrorCode::kUnavailable,
                       "the database " + options_.path.string() + " is closed");
    }
    if (!idle_readers_.empty()) {
      auto db = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return db;
    }
  }
  // Opening can take a moment (it reads the WAL index); do it without the lock.
  Database::Options db_options;
  db_options.path = options_.path;
  db_options.read_only = true;
  db_options.busy_timeout_ms = options_.writer.busy_timeout_ms;
  auto db = Database::Open(db_options);
  if (!db.ok()) return std::move(db).error();
  return std::make_unique<Database>(std::move(db).value());
}

void Store::Return(std::unique_ptr<Database> db) {
  if (!db) return;
  // A statement left part-way through its rows would pin an old snapshot.
  db->ResetActiveStatements();
  if (db->TransactionOpen()) (void)db->Exec("ROLLBACK");
  std::lock_guard lock(readers_mu_);
  if (closed_ || idle_readers_.size() >= options_.max_readers) return;  // closed on return
  idle_readers_.push_back(std::move(db));
}

Status Store::CheckWritable() {
  const int64_t now = SystemClock::Instance().UnixSeconds();
  return writer_->SubmitAndWait([now](Database& db) -> Status {
    auto stmt = db.Cached(
        "INSERT INTO health_probe (id, checked_at) VALUES (1, ?1) "
        "ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at");
    if (!stmt.ok()) return std::move(stmt).error();
    return (*stmt)->Bind(1, now).Run();
  });
}

uint64_t Store::SizeBytes() const {
  uint64_t total = 0;
  for (const auto& file : {options_.path, std::filesystem::path(options_.path.string() + "-wal")}) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(file, ec);
    if (!ec) total += size;
  }
  return total;
}

void Store::Close() {
  if (writer_) writer_->Stop();
  std::vector<std::unique_ptr<Database>> readers;
  {
    std::lock_guard lock(readers_mu_);
    closed_ = true;
    readers.swap(idle_readers_);
  }
  // Destroyed here, outside the lock.
}

// ---------------------------------------------------------------------------------------------
// Backup

namespace {

// Pages copied per sqlite3_backup_step.
constexpr int kBackupPagesPerStep = 1024;

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using SqliteHandle = std::unique_ptr<sqlite3, SqliteCloser>;

struct BackupFinisher {
  void operator()(sqlite3_backup* backup) const { sqlite3_backup_finish(backup); }
};

Error Failed(const std::filesystem::path& destination, std::string what) {
  return MakeError(ErrorCode::kInternal,
                   "backup to " + destination.string() + " failed: " + std::move(what));
}

Error ErrnoError(const std::filesystem::path& destination, const std::string& what, int err) {
  return Failed(destination, what + ": " + std::strerror(err));
}

Status FsyncPath(const std::filesystem::path& path, int flags, const std::filesystem::path& dest) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return ErrnoError(dest, "cannot open " + path.string() + " to sync it", errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoError(dest, "fsync of " + path.string(), err);
  return OkStatus();
}

// Runs a statement on a raw connection and collects the first column of every row.
Result<std::vector<std::string>> Rows(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  if (rc != SQLITE_OK) return SqliteError(rc, db, sql);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
  std::vector<std::string> rows;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 0));
    rows.emplace_back(text != nullptr ? text : "");
  }
  if (rc != SQLITE_DONE) return SqliteError(rc, db, sql);
  return rows;
}

// Copies source into the (new, empty) file temp and checks the copy.
Status CopyInto(const std::filesystem::path& source, const std::filesystem::path& temp,
                const std::filesystem::path& destination) {
  // The source is opened read-only: a backup must never create or change it.
  Database::Options src_options;
  src_options.path = source;
  src_options.read_only = true;
  auto src = Database::Open(src_options);
  if (!src.ok()) return Failed(destination, src.error().message);

  sqlite3* raw = nullptr;
  const int open_rc =
      sqlite3_open_v2(temp.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_EXRESCODE, nullptr);
  SqliteHandle dst(raw);
  if (open_rc != SQLITE_OK) {
    return Failed(destination, SqliteError(open_rc, raw, "cannot create " + temp.string()).message);
  }

  // One read transaction on the source for the whole copy: every step reads the same WAL
  // snapshot, so the copy is consistent, and in WAL mode a reader never blocks the writer —
  // the live node keeps committing while the copy runs. (Without it each step would take a
  // fresh snapshot and the backup would restart whenever the node wrote.)
  Status begun = src->Exec("BEGIN");
  if (!begun.ok()) return Failed(destination, begun.error().message);
  auto touch = Rows(src->handle(), "SELECT count(*) FROM sqlite_schema");
  if (!touch.ok()) {
    (void)src->Exec("ROLLBACK");
    return Failed(destination, "cannot read " + source.string() + ": " + touch.error().message);
  }

  std::unique_ptr<sqlite3_backup, BackupFinisher> backup(
      sqlite3_backup_init(dst.get(), "main", src->handle(), "main"));
  if (!backup) {
    (void)src->Exec("ROLLBACK");
    return Failed(destination, sqlite3_errmsg(dst.get()));
  }
  // BUSY/LOCKED cannot come from the source (its snapshot is already held) and nobody else
  // knows the temporary destination, so anything but OK ends the loop (DONE is success).
  int rc;
  do {
    rc = sqlite3_backup_step(backup.get(), kBackupPagesPerStep);
  } while (rc == SQLITE_OK);
  const int finish_rc = sqlite3_backup_finish(backup.release());
  (void)src->Exec("COMMIT");
  if (rc != SQLITE_DONE) {
    return Failed(destination, "copying pages: " + std::string(sqlite3_errstr(rc)));
  }
  if (finish_rc != SQLITE_OK) {
    return Failed(destination, SqliteError(finish_rc, dst.get(), "finishing the copy").message);
  }

  // The copy inherits WAL mode from the source's header. A backup is one self-contained file,
  // so switch it to a rollback journal: no -wal/-shm to carry along, and restoring it is a plain
  // file copy. kithd switches it back to WAL when it opens the restored file.
  auto mode = Rows(dst.get(), "PRAGMA journal_mode=DELETE");
  if (!mode.ok()) return Failed(destination, mode.error().message);
  if (mode->empty() || mode->front() != "delete") {
    return Failed(destination, "could not set the copy's journal mode to delete");
  }
  auto check = Rows(dst.get(), "PRAGMA integrity_check");
  if (!check.ok()) return Failed(destination, "integrity_check: " + check.error().message);
  if (check->size() != 1 || check->front() != "ok") {
    std::string problems;
    for (size_t i = 0; i < check->size() && i < 5; ++i) {
      if (i > 0) problems += "; ";
      problems += (*check)[i];
    }
    return Failed(destination, "the copy does not pass integrity_check: " + problems);
  }
  if (sqlite3_close(dst.get()) != SQLITE_OK) {
    return Failed(destination, SqliteError(SQLITE_ERROR, dst.get(), "closing the copy").message);
  }
  (void)dst.release();
  return FsyncPath(temp, O_RDONLY, destination);
}

}  // namespace

Status Backup(const std::filesystem::path& source, const std::filesystem::path& destination) {
  std::error_code ec;
  if (std::filesystem::symlink_status(destination, ec).type() !=
      std::filesystem::file_type::not_found) {
    if (ec && ec != std::errc::no_such_file_or_directory) {
      return ErrnoError(destination, "cannot inspect the destination", ec.value());
    }
    if (!ec) {
      return MakeError(ErrorCode::kConflict, "backup destination " + destination.string() +
                                                 " already exists; choose a new file name");
    }
  }
  std::filesystem::path parent = destination.parent_path();
  if (parent.empty()) parent = ".";
  if (!std::filesystem::is_directory(parent, ec)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "backup destination directory " + parent.string() + " does not exist");
  }
  if (!std::filesystem::exists(source, ec)) {
    return MakeError(ErrorCode::kNotFound, "backup source " + source.string() + " does not exist");
  }

  // Written under a temporary name and linked into place at the end, so a failed or
  // interrupted backup never leaves a partial file under the name the operator asked for.
  const std::filesystem::path temp =
      destination.string() + ".partial-" + std::to_string(::getpid());
  auto cleanup = [&temp] {
    std::error_code ignored;
    for (const char* suffix : {"", "-journal", "-wal", "-shm"}) {
      std::filesystem::remove(temp.string() + suffix, ignored);
    }
  };
  cleanup();  // a leftover from a crashed earlier attempt with the same pid
  Status copied = CopyInto(source, temp, destination);
  if (!copied.ok()) {
    cleanup();
    return copied;
  }
  // link() fails with EEXIST instead of replacing a file that appeared meanwhile.
  if (::link(temp.c_str(), destination.c_str()) != 0) {
    const int err = errno;
    cleanup();
    if (err == EEXIST) {
      return MakeError(ErrorCode::kConflict, "backup destination " + destination.string() +
                                                 " already exists; choose a new file name");
    }
    return ErrnoError(destination, "cannot move the copy into place", err);
  }
  cleanup();
  return FsyncPath(parent, O_RDONLY | O_DIRECTORY, destination);
}

}  // namespace kith::storage
