// Writer: the single writer of the database, with group commit.
//
// Callers submit write jobs from any thread. One writer thread takes every queued job
// (up to max_batch), runs them inside one transaction, each in its own SAVEPOINT so that
// a failing job is rolled back alone and does not poison the batch, then commits once:
// with synchronous=FULL the whole batch costs one fsync. Each caller's callback runs
// after the commit that made its own job durable (or with the job's error).
//
// Thread-safe. Jobs run on the writer thread and must not block on anything but SQLite; they
// may use SAVEPOINTs but not BEGIN/COMMIT/ROLLBACK (refused with an error), nor InTransaction.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "storage/database.h"
#include "storage/result.h"

namespace kith::storage {

using WriteJob = std::function<Status(Database&)>;
using WriteDone = std::function<void(Status)>;

class Writer {
 public:
  struct Options {
    std::filesystem::path path;  // the database file (must already be migrated)
    size_t max_batch = 4096;     // jobs per transaction at most
    size_t max_queue = 200000;   // Submit fails with kUnavailable beyond this
    int busy_timeout_ms = 5000;
  };

  struct Stats {
    uint64_t jobs_committed = 0;
    uint64_t jobs_failed = 0;
    uint64_t batches = 0;
    // Not cumulative: batch_size_buckets[i] counts batches with kBatchBuckets[i-1] < size <=
    // kBatchBuckets[i] (size <= 1 for i == 0); the extra last one counts larger batches.
    // (Prometheus wants cumulative counts: sum the prefix.)
    std::vector<uint64_t> batch_size_buckets;
    uint64_t batch_size_sum = 0;
  };
  static constexpr size_t kBatchBuckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};

  // Opens the writer connection and starts the writer thread. Errors: the database cannot be
  // opened (message names the file), max_batch == 0 (kInvalidArgument).
  //
  // Busy handling: BEGIN IMMEDIATE and COMMIT wait busy_timeout_ms in SQLite's busy handler
  // and are retried a few times more; if another process still holds the write lock, the
  // batch's jobs fail with kUnavailable (nothing of them was written).
  static Result<std::unique_ptr<Writer>> Start(const Options& options);

  ~Writer();  // Stop()

  // Queues `job`; `done` is called exactly once on the writer thread, after the batch holding
  // the job committed durably (Status ok) or with the job's / the commit's error. Never blocks.
  // After Stop(), or with a full queue, `done` is called at once with kUnavailable.
  void Submit(WriteJob job, WriteDone done);

  // Submits and waits for durability. For tools, tests and start-up; not for I/O threads.
  // Returns kInternal at once when called on the writer thread (it would wait for itself).
  Status SubmitAndWait(WriteJob job);

  // Jobs queued and not yet taken by the writer thread.
  size_t QueueDepth() const;
  Stats GetStats() const;

  // Finishes every queued job, then stops the thread and closes the connection. Idempotent
  // and thread-safe. Called from a `done` callback it only asks the thread to stop (the
  // destructor joins it); the Writer itself must not be destroyed from a callback.
  void Stop();

 private:
  Writer() = default;
  struct Item {
    WriteJob job;
    WriteDone done;
  };
  void Run();
  void RunBatch(std::vector<Item>& batch);
  Status RunJob(Item& item);
  Status Begin();
  Status Commit();
  void Finish(std::vector<Item>& batch, const std::vector<Status>& results, size_t first,
              size_t last, bool was_transaction);
  Options options_;
  std::unique_ptr<Database> db_;  // used only by the writer thread (and Stop after the join)
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::mutex stop_mu_;  // serialises Stop() callers around the join
  std::thread thread_;
  std::thread::id thread_id_;  // the writer thread's id, fixed at Start
  bool in_job_ = false;        // writer thread only: a job is running (see the authorizer)
  mutable std::mutex stats_mu_;
  Stats stats_;
};

}  // namespace kith::storage
