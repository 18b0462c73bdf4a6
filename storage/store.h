// Store: a node's database as one object: migrated at open, checked, with the Writer for
// all writes and a pool of reader connections.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "storage/database.h"
#include "storage/result.h"
#include "storage/writer.h"

namespace kith::storage {

class Store {
 public:
  struct Options {
    std::filesystem::path path;  // e.g. DATA_DIR/kith.db
    Writer::Options writer;      // path is filled in from `path`
    size_t max_readers = 16;     // idle reader connections kept open at most
  };

  // Opens the database, applies migrations (refusing a newer schema), runs quick_check and
  // starts the writer. An error message names the file and what is wrong.
  static Result<std::unique_ptr<Store>> Open(const Options& options);

  ~Store();

  Writer& writer() { return *writer_; }

  // Runs `fn` with a read-only connection borrowed from the pool (opened on demand; more than
  // max_readers at once are opened and closed again after use). Returns fn's result, or the
  // Error of opening a connection (kUnavailable after Close). Thread-safe; readers see the last
  // committed state (WAL snapshot per statement, or per transaction if fn opens one).
  template <class Fn>
  auto Read(Fn&& fn) -> decltype(fn(std::declval<Database&>())) {
    auto lease = Borrow();
    if (!lease.ok()) return lease.error();
    auto result = fn(*lease.value());
    Return(std::move(lease.value()));
    return result;
  }

  // Whether a trivial write commits (for /readyz): upserts the health_probe row through the
  // writer and waits for durability. Blocks the caller; kUnavailable after Close.
  Status CheckWritable();

  // Size of the database file plus its WAL, in bytes (files that are missing count 0).
  uint64_t SizeBytes() const;

  const std::filesystem::path& path() const { return options_.path; }

  // Stops the writer (draining it) and closes every connection. Idempotent.
  void Close();

 private:
  Store() = default;
  Result<std::unique_ptr<Database>> Borrow();
  void Return(std::unique_ptr<Database> db);
  Options options_;
  std::unique_ptr<Writer> writer_;
  std::mutex readers_mu_;
  bool closed_ = false;  // guarded by readers_mu_
  std::vector<std::unique_ptr<Database>> idle_readers_;
};

// Copies the live database at `source` to `destination` with SQLite's online backup API,
// consistent even while another connection or process writes (the copy is one WAL snapshot;
// readers do not block the writer in WAL mode). The copy is written under a temporary name,
// switched to journal_mode=DELETE (one self-contained file), must pass integrity_check, is
// fsynced and only then linked into place. Errors: kConflict if destination exists,
// kInvalidArgument if its directory does not, kNotFound if source does not exist, kInternal
// otherwise; on any error nothing is left at destination. Thread-safe.
Status Backup(const std::filesystem::path& source, const std::filesystem::path& destination);

}  // namespace kith::storage
