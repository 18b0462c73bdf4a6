#include "storage/writer.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <future>
#include <string>
#include <utility>

namespace kith::storage {

namespace {

// How often BEGIN IMMEDIATE / COMMIT are retried after SQLite's own busy handler (which already
// waited busy_timeout_ms) gave up. Another process holding the write lock that long — a kithctl
// maintenance command, a stuck backup tool — is unusual; after this the batch fails with
// kUnavailable rather than blocking every writer forever.
constexpr int kBusyRetries = 3;

constexpr std::string_view kSavepoint = "SAVEPOINT kith_job";
constexpr std::string_view kRelease = "RELEASE kith_job";
constexpr std::string_view kRollbackTo = "ROLLBACK TO kith_job";

bool IsBusy(const Status& status) {
  return !status.ok() && status.error().code == ErrorCode::kUnavailable;
}

// Runs a cached parameterless statement (SAVEPOINT/RELEASE/...) to completion.
Status RunCached(Database& db, std::string_view sql) {
  auto stmt = db.Cached(sql);
  if (!stmt.ok()) return std::move(stmt).error();
  return (*stmt)->Run();
}

// While a job runs, its SQL may not BEGIN/COMMIT/ROLLBACK: that would end the batch's
// transaction under the other jobs. (Set once: changing an authorizer expires every prepared
// statement, so it stays installed and checks the writer's flag instead.)
int DenyTransactionControlInJobs(void* in_job, int action, const char*, const char*, const char*,
                                 const char*) {
  if (action == SQLITE_TRANSACTION && *static_cast<const bool*>(in_job)) return SQLITE_DENY;
  return SQLITE_OK;
}

void CallDone(const WriteDone& done, Status status) {
  if (!done) return;
  // A callback's exception must not take the writer thread (and every later write) with it.
  try {
    done(std::move(status));
  } catch (...) {
  }
}

}  // namespace

Result<std::unique_ptr<Writer>> Writer::Start(const Options& options) {
  if (options.max_batch == 0) {
    return MakeError(ErrorCode::kInvalidArgument, "writer max_batch must be at least 1");
  }
  Database::Options db_options;
  db_options.path = options.path;
  db_options.busy_timeout_ms = options.busy_timeout_ms;
  auto db = Database::Open(db_options);
  if (!db.ok()) return std::move(db).error();

  std::unique_ptr<Writer> writer(new Writer());
  writer->options_ = options;
  writer->db_ = std::make_unique<Database>(std::move(db).value());
  writer->stats_.batch_size_buckets.assign(std::size(kBatchBuckets) + 1, 0);
  sqlite3_set_authorizer(writer->db_->handle(), DenyTransactionControlInJobs, &writer->in_job_);
  try {
    writer->thread_ = std::thread([w = writer.get()] { w->Run(); });
    writer->thread_id_ = writer->thread_.get_id();
  } catch (const std::system_error& e) {
    return MakeError(ErrorCode::kInternal, std::string("cannot start writer thread: ") + e.what());
  }
  return writer;
}

Writer::~Writer() { Stop(); }

void Writer::Submit(WriteJob job, WriteDone done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_ && queue_.size() < options_.max_queue && job) {
      queue_.push_back(Item{std::move(job), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  if (!job) {
    CallDone(done, MakeError(ErrorCode::kInternal, "Writer::Submit called with an empty job"));
    return;
  }
  const bool stopped = [&] {
    std::lock_guard lock(mu_);
    return stopping_;
  }();
  CallDone(done, MakeError(ErrorCode::kUnavailable,
                           stopped ? "the database writer is stopped"
                                   : "the database write queue is full (" +
                                         std::to_string(options_.max_queue) + " jobs)",
                           stopped ? "writer_stopped" : "write_queue_full"));
}

Status Writer::SubmitAndWait(WriteJob job) {
  if (std::this_thread::get_id() == thread_id_) {
    return MakeError(ErrorCode::kInternal,
                     "SubmitAndWait called on the writer thread (it would wait for itself)");
  }
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  Submit(std::move(job), [promise](Status status) { promise->set_value(std::move(status)); });
  return future.get();
}

size_t Writer::QueueDepth() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

Writer::Stats Writer::GetStats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

void Writer::Stop() {
  std::lock_guard stop_lock(stop_mu_);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (!thread_.joinable()) return;
  if (std::this_thread::get_id() == thread_id_) {
    // Called from a done callback: the thread drains and ends by itself; whoever destroys the
    // Writer joins it.
    return;
  }
  thread_.join();
  db_.reset();
}

void Writer::Run() {
  std::vector<Item> batch;
  while (true) {
    batch.clear();
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued has been written
      const size_t n = std::min(queue_.size(), options_.max_batch);
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    RunBatch(batch);
  }
}

Status Writer::Begin() {
  Status status;
  for (int attempt = 0; attempt <= kBusyRetries; ++attempt) {
    status = RunCached(*db_, "BEGIN IMMEDIATE");
    if (!IsBusy(status)) break;
  }
  if (!status.ok()) {
    Error error = std::move(status).error();
    error.message =
        "cannot start a write transaction on " + db_->path().string() + ": " + error.message;
    return error;
  }
  return status;
}

Status Writer::Commit() {
  Status status;
  for (int attempt = 0; attempt <= kBusyRetries; ++attempt) {
    status = RunCached(*db_, "COMMIT");
    // A busy COMMIT leaves the transaction open, so trying again is safe.
    if (!IsBusy(status) || !db_->TransactionOpen()) break;
  }
  if (!status.ok()) {
    Error error = std::move(status).error();
    error.message = "commit on " + db_->path().string() + " failed: " + error.message;
    if (db_->TransactionOpen()) {
      db_->ResetActiveStatements();
      (void)db_->Exec("ROLLBACK");
    }
    return error;
  }
  return status;
}

Status Writer::RunJob(Item& item) {
  KITH_RETURN_IF_ERROR(RunCached(*db_, kSavepoint));
  Status status;
  in_job_ = true;
  try {
    status = item.job(*db_);
  } catch (const std::exception& e) {
    status = MakeError(ErrorCode::kInternal, std::string("write job threw: ") + e.what());
  } catch (...) {
    status = MakeError(ErrorCode::kInternal, "write job threw a non-standard exception");
  }
  in_job_ = false;
  // A job that left a SELECT part-way through would hold the savepoint open.
  db_->ResetActiveStatements();
  if (!db_->TransactionOpen()) return status;  // the caller notices the broken transaction
  if (status.ok()) {
    // A deferred foreign key left dangling would only fail at COMMIT, taking the whole batch
    // down with it; every earlier job was checked the same way, so a count here is this job's.
    int deferred = 0;
    int high = 0;
    if (sqlite3_db_status(db_->handle(), SQLITE_DBSTATUS_DEFERRED_FKS, &deferred, &high, 0) ==
            SQLITE_OK &&
        deferred > 0) {
      status = MakeError(ErrorCode::kConflict,
                         "FOREIGN KEY constraint failed (a deferred foreign key is unresolved "
                         "at the end of the write job)");
    }
  }
  if (status.ok()) {
    status = RunCached(*db_, kRelease);
    if (status.ok()) return status;
  }
  // Undo this job alone; the batch's earlier jobs stay.
  Status undo = RunCached(*db_, kRollbackTo);
  if (undo.ok()) undo = RunCached(*db_, kRelease);
  if (!undo.ok() && db_->TransactionOpen()) {
    // The savepoint could not be undone: the batch cannot be trusted, end it.
    db_->ResetActiveStatements();
    (void)db_->Exec("ROLLBACK");
  }
  return status;
}

void Writer::RunBatch(std::vector<Item>& batch) {
  std::vector<Status> results(batch.size());
  size_t next = 0;
  // Normally one transaction for the whole batch. Only when a job's failure ends the
  // transaction (SQLITE_FULL, an I/O error) are the jobs of that
  // transaction failed and the rest carried on in a new one.
  while (next < batch.size()) {
    const size_t first = next;
    Status begun = Begin();
    if (!begun.ok()) {
      for (size_t i = first; i < batch.size(); ++i) results[i] = begun;
      next = batch.size();
      Finish(batch, results, first, batch.size(), false);
      break;
    }
    bool broken = false;
    Error broken_error;
    for (; next < batch.size(); ++next) {
      results[next] = RunJob(batch[next]);
      if (!db_->TransactionOpen()) {
        broken = true;
        broken_error =
            results[next].ok()
                ? MakeError(ErrorCode::kInternal, "a write job ended the batch transaction itself")
                : results[next].error();
        ++next;
        break;
      }
    }
    if (broken) {
      // What the transaction held is gone (or was committed behind our back, which we cannot
      // tell apart): every job in it is told of the failure rather than of durability.
      Error error = broken_error;
      error.message = "write transaction was aborted: " + error.message;
      for (size_t i = first; i < next; ++i) {
        if (results[i].ok()) results[i] = error;
      }
      Finish(batch, results, first, next, true);
      continue;
    }
    Status committed = Commit();
    if (!committed.ok()) {
      for (size_t i = first; i < next; ++i) results[i] = committed;
    }
    Finish(batch, results, first, next, true);
  }
}

void Writer::Finish(std::vector<Item>& batch, const std::vector<Status>& results, size_t first,
                    size_t last, bool was_transaction) {
  uint64_t ok = 0;
  for (size_t i = first; i < last; ++i) ok += results[i].ok() ? 1 : 0;
  {
    std::lock_guard lock(stats_mu_);
    stats_.jobs_committed += ok;
    stats_.jobs_failed += (last - first) - ok;
    if (was_transaction) {
      const size_t size = last - first;
      ++stats_.batches;
      stats_.batch_size_sum += size;
      size_t bucket = 0;
      while (bucket < std::size(kBatchBuckets) && size > kBatchBuckets[bucket]) ++bucket;
      ++stats_.batch_size_buckets[bucket];
    }
  }
  for (size_t i = first; i < last; ++i) {
    CallDone(batch[i].done, results[i]);
    // Release what the job captured now, not when the next batch reuses the vector.
    batch[i].job = nullptr;
    batch[i].done = nullptr;
  }
}

}  // namespace kith::storage
