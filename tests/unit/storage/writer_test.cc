#include "storage/writer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.h"

namespace kith::storage {
namespace {

using std::chrono::seconds;

// A migrated database with table t(id INTEGER PRIMARY KEY, v TEXT UNIQUE) and a writer on it.
class WriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_ / "w.db";
    Database::Options options;
    options.path = path_;
    auto db = Database::Open(options);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)").ok());
  }

  std::unique_ptr<Writer> StartWriter(size_t max_queue = 200000, size_t max_batch = 4096) {
    Writer::Options options;
    options.path = path_;
    options.max_queue = max_queue;
    options.max_batch = max_batch;
    auto writer = Writer::Start(options);
    EXPECT_TRUE(writer.ok()) << (writer.ok() ? "" : writer.error().message);
    return std::move(writer).value();
  }

  // A second, independent connection, as another process would see the file.
  Database Observer() {
    Database::Options options;
    options.path = path_;
    options.read_only = true;
    auto db = Database::Open(options);
    EXPECT_TRUE(db.ok());
    return std::move(db).value();
  }

  static WriteJob Insert(std::string value) {
    return [value = std::move(value)](Database& db) -> Status {
      auto stmt = db.Cached("INSERT INTO t (v) VALUES (?1)");
      if (!stmt.ok()) return std::move(stmt).error();
      return (*stmt)->Bind(1, value).Run();
    };
  }

  static std::vector<std::string> Values(Database& db) {
    auto stmt = db.Prepare("SELECT v FROM t ORDER BY id");
    EXPECT_TRUE(stmt.ok());
    std::vector<std::string> values;
    while (true) {
      auto row = stmt->Step();
      if (!row.ok() || !*row) break;
      values.push_back(stmt->ColumnText(0));
    }
    return values;
  }

  testing::TempDir dir_{"writer"};
  std::filesystem::path path_;
};

TEST_F(WriterTest, RunsJobsInSubmissionOrder) {
  auto writer = StartWriter();
  std::vector<std::string> expected;
  std::vector<std::future<Status>> done;
  for (int i = 0; i < 500; ++i) {
    expected.push_back("v" + std::to_string(i));
    auto promise = std::make_shared<std::promise<Status>>();
    done.push_back(promise->get_future());
    writer->Submit(Insert(expected.back()), [promise](Status s) { promise->set_value(s); });
  }
  for (auto& f : done) {
    ASSERT_EQ(f.wait_for(seconds(30)), std::future_status::ready);
    EXPECT_TRUE(f.get().ok());
  }
  Database observer = Observer();
  EXPECT_EQ(Values(observer), expected);  // rowids follow submission order
  EXPECT_EQ(writer->GetStats().jobs_committed, 500u);
}

TEST_F(WriterTest, DoneFiresOnlyOnceTheRowIsCommitted) {
  auto writer = StartWriter();
  Database observer = Observer();
  // Seen from another connection at the moment `done` runs: committed means visible there.
  std::vector<std::future<bool>> seen;
  for (int i = 0; i < 50; ++i) {
    const std::string value = "d" + std::to_string(i);
    auto promise = std::make_shared<std::promise<bool>>();
    seen.push_back(promise->get_future());
    writer->Submit(Insert(value), [this, value, promise](Status s) {
      if (!s.ok()) {
        promise->set_value(false);
        return;
      }
      Database::Options options;
      options.path = path_;
      options.read_only = true;
      auto db = Database::Open(options);
      if (!db.ok()) {
        promise->set_value(false);
        return;
      }
      auto stmt = db->Prepare("SELECT count(*) FROM t WHERE v = ?1");
      if (!stmt.ok()) {
        promise->set_value(false);
        return;
      }
      auto row = stmt->Bind(1, value).Step();
      promise->set_value(row.ok() && *row && stmt->ColumnInt(0) == 1);
    });
  }
  for (auto& f : seen) {
    ASSERT_EQ(f.wait_for(seconds(30)), std::future_status::ready);
    EXPECT_TRUE(f.get());
  }
  // The writer connection really uses synchronous=FULL in WAL mode (one fsync per commit).
  auto probe = writer->SubmitAndWait([](Database& db) -> Status {
    auto stmt = db.Prepare("PRAGMA synchronous");
    if (!stmt.ok()) return std::move(stmt).error();
    auto row = stmt->Step();
    if (!row.ok() || !*row || stmt->ColumnInt(0) != 2) {
      return MakeError(ErrorCode::kInternal, "synchronous is not FULL");
    }
    return OkStatus();
  });
  EXPECT_TRUE(probe.ok());
}

TEST_F(WriterTest, OneFailingJobDoesNotPoisonTheBatch) {
  auto writer = StartWriter();
  // Hold the writer inside a job until every other job is queued, so they share one batch.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> started;
  auto first = std::async(std::launch::async, [&] {
    return writer->SubmitAndWait([&started, released](Database&) -> Status {
      started.set_value();
      released.wait();
      return OkStatus();
    });
  });
  ASSERT_EQ(started.get_future().wait_for(seconds(30)), std::future_status::ready);

  std::vector<std::future<Status>> results;
  auto submit = [&](WriteJob job) {
    auto promise = std::make_shared<std::promise<Status>>();
    results.push_back(promise->get_future());
    writer->Submit(std::move(job), [promise](Status s) { promise->set_value(s); });
  };
  submit(Insert("a"));
  submit([](Database& db) -> Status {  // writes, then fails: its write must vanish
    KITH_RETURN_IF_ERROR(db.Exec("INSERT INTO t (v) VALUES ('partial')"));
    return db.Exec("INSERT INTO t (v) VALUES ('a')");  // UNIQUE violation
  });
  submit(Insert("b"));
  submit([](Database&) -> Status { throw std::runtime_error("job bug"); });
  submit(Insert("c"));
  submit([](Database& db) -> Status {  // may not end the batch's transaction
    KITH_RETURN_IF_ERROR(db.Exec("INSERT INTO t (v) VALUES ('committed?')"));
    return db.Exec("COMMIT");
  });
  release.set_value();
  ASSERT_EQ(first.wait_for(seconds(30)), std::future_status::ready);
  EXPECT_TRUE(first.get().ok());

  std::vector<Status> statuses;
  for (auto& f : results) {
    ASSERT_EQ(f.wait_for(seconds(30)), std::future_status::ready);
    statuses.push_back(f.get());
  }
  EXPECT_TRUE(statuses[0].ok());
  ASSERT_FALSE(statuses[1].ok());
  EXPECT_EQ(statuses[1].error().code, ErrorCode::kConflict);
  EXPECT_TRUE(statuses[2].ok());
  ASSERT_FALSE(statuses[3].ok());
  EXPECT_NE(statuses[3].error().message.find("job bug"), std::string::npos);
  EXPECT_TRUE(statuses[4].ok());
  ASSERT_FALSE(statuses[5].ok());
  EXPECT_NE(statuses[5].error().message.find("not authorized"), std::string::npos)
      << statuses[5].error().message;

  Database observer = Observer();
  EXPECT_EQ(Values(observer), (std::vector<std::string>{"a", "b", "c"}));
  const auto stats = writer->GetStats();
  EXPECT_EQ(stats.batches, 2u);  // the blocker's, then one transaction for all six jobs
  EXPECT_EQ(stats.jobs_failed, 3u);
  EXPECT_EQ(stats.jobs_committed, 4u);
}

TEST_F(WriterTest, ADanglingDeferredForeignKeyFailsOnlyItsJob) {
  {
    Database::Options options;
    options.path = path_;
    auto db = Database::Open(options);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec("CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES "
                         "t(id) DEFERRABLE INITIALLY DEFERRED)")
                    .ok());
  }
  auto writer = StartWriter();
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> started;
  std::promise<Status> blocker_done;
  writer->Submit(
      [&, released](Database&) -> Status {
        started.set_value();
        released.wait();
        return OkStatus();
      },
      [&](Status s) { blocker_done.set_value(s); });
  ASSERT_EQ(started.get_future().wait_for(seconds(30)), std::future_status::ready);
  std::vector<std::future<Status>> results;
  auto submit = [&](WriteJob job) {
    auto promise = std::make_shared<std::promise<Status>>();
    results.push_back(promise->get_future());
    writer->Submit(std::move(job), [promise](Status s) { promise->set_value(s); });
  };
  submit(Insert("before"));
  submit([](Database& db) { return db.Exec("INSERT INTO child (parent) VALUES (999)"); });
  submit([](Database& db) -> Status {  // resolved within the job: fine
    KITH_RETURN_IF_ERROR(db.Exec("INSERT INTO child (parent) VALUES (1000)"));
    return db.Exec("INSERT INTO t (id, v) VALUES (1000, 'parent')");
  });
  submit(Insert("after"));
  release.set_value();
  std::vector<Status> statuses;
  for (auto& f : results) {
    ASSERT_EQ(f.wait_for(seconds(30)), std::future_status::ready);
    statuses.push_back(f.get());
  }
  EXPECT_TRUE(statuses[0].ok());
  ASSERT_FALSE(statuses[1].ok());
  EXPECT_EQ(statuses[1].error().code, ErrorCode::kConflict);
  EXPECT_TRUE(statuses[2].ok());
  EXPECT_TRUE(statuses[3].ok());
  Database observer = Observer();
  EXPECT_EQ(Values(observer), (std::vector<std::string>{"before", "parent", "after"}));
  auto count = observer.Prepare("SELECT group_concat(parent) FROM child");
  ASSERT_TRUE(count.ok() && *count->Step());
  EXPECT_EQ(count->ColumnText(0), "1000");
}

TEST_F(WriterTest, BatchesConcurrentWriters) {
  auto writer = StartWriter();
  constexpr int kThreads = 16;
  constexpr int kRowsPerThread = 100;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRowsPerThread; ++i) {
        if (!writer->SubmitAndWait(Insert(std::to_string(t) + "/" + std::to_string(i))).ok()) {
          ++failures;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  const auto stats = writer->GetStats();
  EXPECT_EQ(stats.jobs_committed, uint64_t{kThreads * kRowsPerThread});
  EXPECT_EQ(stats.batch_size_sum, uint64_t{kThreads * kRowsPerThread});
  // Group commit happened: far fewer transactions than rows, and some batches held many jobs.
  EXPECT_LT(stats.batches, stats.jobs_committed / 2);
  uint64_t bucket_total = 0;
  for (uint64_t b : stats.batch_size_buckets) bucket_total += b;
  EXPECT_EQ(bucket_total, stats.batches);
  ASSERT_EQ(stats.batch_size_buckets.size(), std::size(Writer::kBatchBuckets) + 1);
  EXPECT_LT(stats.batch_size_buckets[0], stats.batches);  // not every batch was a single job
}

TEST_F(WriterTest, RespectsMaxBatch) {
  auto writer = StartWriter(/*max_queue=*/1000, /*max_batch=*/2);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<Status> blocker_done;
  writer->Submit(
      [released](Database&) -> Status {
        released.wait();
        return OkStatus();
      },
      [&](Status s) { blocker_done.set_value(s); });
  std::vector<std::future<Status>> results;
  for (int i = 0; i < 5; ++i) {
    auto promise = std::make_shared<std::promise<Status>>();
    results.push_back(promise->get_future());
    writer->Submit(Insert("m" + std::to_string(i)), [promise](Status s) { promise->set_value(s); });
  }
  release.set_value();
  for (auto& f : results) {
    ASSERT_EQ(f.wait_for(seconds(30)), std::future_status::ready);
    EXPECT_TRUE(f.get().ok());
  }
  const auto stats = writer->GetStats();
  EXPECT_EQ(stats.jobs_committed, 6u);
  // No batch held more than 2 jobs: buckets beyond "<= 2" stay empty.
  for (size_t i = 2; i < stats.batch_size_buckets.size(); ++i) {
    EXPECT_EQ(stats.batch_size_buckets[i], 0u) << "bucket " << i;
  }
}

TEST_F(WriterTest, FullQueueIsUnavailable) {
  auto writer = StartWriter(/*max_queue=*/2);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> started;
  std::promise<Status> blocker_done;
  writer->Submit(
      [&, released](Database&) -> Status {
        started.set_value();
        released.wait();
        return OkStatus();
      },
      [&](Status s) { blocker_done.set_value(s); });
  ASSERT_EQ(started.get_future().wait_for(seconds(30)), std::future_status::ready);

  std::vector<std::future<Status>> results;
  for (int i = 0; i < 3; ++i) {
    auto promise = std::make_shared<std::promise<Status>>();
    results.push_back(promise->get_future());
    writer->Submit(Insert("q" + std::to_string(i)), [promise](Status s) { promise->set_value(s); });
  }
  EXPECT_EQ(writer->QueueDepth(), 2u);
  // The third was refused at once, on the caller's thread.
  ASSERT_EQ(results[2].wait_for(std::chrono::seconds(0)), std::future_status::ready);
  Status refused = results[2].get();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(refused.error().Name(), "write_queue_full");

  release.set_value();
  EXPECT_TRUE(results[0].get().ok());
  EXPECT_TRUE(results[1].get().ok());
  EXPECT_TRUE(blocker_done.get_future().get().ok());
}

TEST_F(WriterTest, StopDrainsTheQueueThenRefuses) {
  auto writer = StartWriter();
  std::atomic<int> ok{0};
  for (int i = 0; i < 300; ++i) {
    writer->Submit(Insert("s" + std::to_string(i)), [&](Status s) {
      if (s.ok()) ++ok;
    });
  }
  writer->Stop();
  EXPECT_EQ(ok.load(), 300);  // every queued job was written before Stop returned
  Database observer = Observer();
  EXPECT_EQ(Values(observer).size(), 300u);

  Status after = writer->SubmitAndWait(Insert("late"));
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().code, ErrorCode::kUnavailable);
  writer->Stop();  // idempotent
}

TEST_F(WriterTest, BusyWriteLockHeldElsewhereFailsTheBatchBounded) {
  Writer::Options options;
  options.path = path_;
  options.busy_timeout_ms = 20;
  auto writer = Writer::Start(options);
  ASSERT_TRUE(writer.ok());
  // Another connection (think: a maintenance tool) holds the write lock.
  Database::Options other_options;
  other_options.path = path_;
  auto other = Database::Open(other_options);
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(other->Exec("BEGIN IMMEDIATE").ok());
  Status blocked = (*writer)->SubmitAndWait(Insert("blocked"));
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.error().code, ErrorCode::kUnavailable);
  ASSERT_TRUE(other->Exec("COMMIT").ok());
  // Once the lock is free the writer carries on.
  EXPECT_TRUE((*writer)->SubmitAndWait(Insert("after")).ok());
  Database observer = Observer();
  EXPECT_EQ(Values(observer), (std::vector<std::string>{"after"}));
}

}  // namespace
}  // namespace kith::storage
