// Group commit vs one-row-per-commit, measured in the same run on the same disk.
//
// (a) 64 writer threads, each submitting a 500-byte row through storage::Writer and waiting
//     until that row is durable before submitting its next one (WAL, synchronous=FULL).
// (b) one connection, each INSERT its own transaction (WAL, synchronous=FULL).
//
// Both write real files in a fresh directory under $KITH_BENCH_DIR, else $TMPDIR, else /tmp; the
// benchmark refuses to run on tmpfs, where fsync costs nothing and the comparison means nothing.
// Knobs (environment): KITH_BENCH_ROWS_PER_WRITER (default 1000), KITH_BENCH_SINGLE_ROWS (3000).
//
//   ninja -C build bench_group_commit && build/bin/bench_group_commit
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <sys/vfs.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "storage/database.h"
#include "storage/writer.h"

namespace kith::storage {
namespace {

constexpr int kWriters = 64;
constexpr size_t kRowBytes = 500;
constexpr long kTmpfsMagic = 0x01021994;

constexpr const char* kCreateTable =
    "CREATE TABLE bench_rows (id INTEGER PRIMARY KEY, body BLOB NOT NULL)";
constexpr const char* kInsert = "INSERT INTO bench_rows (body) VALUES (?1)";

int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  char* end = nullptr;
  const long parsed = std::strtol(value, &end, 10);
  return (*end == '\0' && parsed > 0 && parsed < 100'000'000) ? static_cast<int>(parsed) : fallback;
}

// A fresh directory on a real file system, removed when the benchmark ends.
class BenchDir {
 public:
  BenchDir() {
    const char* base = std::getenv("KITH_BENCH_DIR");
    if (base == nullptr || *base == '\0') base = std::getenv("TMPDIR");
    if (base == nullptr || *base == '\0') base = "/tmp";
    std::string pattern = std::string(base) + "/kith-bench-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      error_ = "cannot create a directory under " + std::string(base);
      return;
    }
    path_ = pattern;
    struct statfs fs {};
    if (::statfs(path_.c_str(), &fs) == 0 && static_cast<long>(fs.f_type) == kTmpfsMagic) {
      error_ = path_.string() + " is on tmpfs; set KITH_BENCH_DIR to a directory on a disk";
    }
  }
  ~BenchDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  const std::string& error() const { return error_; }

 private:
  std::filesystem::path path_;
  std::string error_;
};

Result<Database> CreateBenchDatabase(const std::filesystem::path& path) {
  Database::Options options;
  options.path = path;
  auto db = Database::Open(options);
  if (!db.ok()) return db;
  KITH_RETURN_IF_ERROR(db->Exec(kCreateTable));
  return db;
}

std::vector<uint8_t> RowBody(uint64_t seed) {
  std::vector<uint8_t> body(kRowBytes);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& byte : body) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    byte = static_cast<uint8_t>(x);
  }
  return body;
}

struct GroupCommitResult {
  double rows_per_s = 0;
  double mean_batch = 0;
  uint64_t failures = 0;
  std::string error;
};

GroupCommitResult RunGroupCommit(const std::filesystem::path& path, int rows_per_writer) {
  GroupCommitResult result;
  {
    auto db = CreateBenchDatabase(path);
    if (!db.ok()) {
      result.error = db.error().message;
      return result;
    }
  }
  Writer::Options options;
  options.path = path;
  auto writer = Writer::Start(options);
  if (!writer.ok()) {
    result.error = writer.error().message;
    return result;
  }
  std::atomic<uint64_t> failures{0};
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  threads.reserve(kWriters);
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      const std::vector<uint8_t> body = RowBody(static_cast<uint64_t>(t) + 1);
      ++ready;
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (int i = 0; i < rows_per_writer; ++i) {
        Status s = (*writer)->SubmitAndWait([&body](Database& db) -> Status {
          auto stmt = db.Cached(kInsert);
          if (!stmt.ok()) return std::move(stmt).error();
          return (*stmt)->BindBlob(1, body).Run();
        });
        if (!s.ok()) ++failures;
      }
    });
  }
  while (ready.load() < kWriters) std::this_thread::yield();
  const auto start = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  for (auto& thread : threads) thread.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto stats = (*writer)->GetStats();
  (*writer)->Stop();
  result.failures = failures.load();
  result.rows_per_s = static_cast<double>(stats.jobs_committed) / seconds;
  result.mean_batch = stats.batches == 0 ? 0
                                         : static_cast<double>(stats.batch_size_sum) /
                                               static_cast<double>(stats.batches);
  return result;
}

struct SingleResult {
  double rows_per_s = 0;
  std::string error;
};

SingleResult RunOnePerCommit(const std::filesystem::path& path, int rows) {
  SingleResult result;
  auto db = CreateBenchDatabase(path);
  if (!db.ok()) {
    result.error = db.error().message;
    return result;
  }
  const std::vector<uint8_t> body = RowBody(4242);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < rows; ++i) {
    auto stmt = db->Cached(kInsert);  // autocommit: each INSERT is its own transaction
    if (!stmt.ok()) {
      result.error = stmt.error().message;
      return result;
    }
    Status s = (*stmt)->BindBlob(1, body).Run();
    if (!s.ok()) {
      result.error = s.error().message;
      return result;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.rows_per_s = rows / seconds;
  return result;
}

void BM_GroupCommitVsOnePerCommit(benchmark::State& state) {
  const int rows_per_writer = EnvInt("KITH_BENCH_ROWS_PER_WRITER", 1000);
  const int single_rows = EnvInt("KITH_BENCH_SINGLE_ROWS", 3000);
  BenchDir dir;
  if (!dir.error().empty()) {
    state.SkipWithError(dir.error().c_str());
    return;
  }
  GroupCommitResult group;
  SingleResult single;
  for (auto _ : state) {
    group = RunGroupCommit(dir.path() / "group.db", rows_per_writer);
    single = RunOnePerCommit(dir.path() / "single.db", single_rows);
  }
  if (!group.error.empty() || !single.error.empty() || group.failures != 0) {
    const std::string error = "group: " + (group.error.empty() ? "ok" : group.error) +
                              ", single: " + (single.error.empty() ? "ok" : single.error) +
                              ", failed jobs: " + std::to_string(group.failures);
    state.SkipWithError(error.c_str());
    return;
  }
  state.counters["group_commit_rows_per_s"] = group.rows_per_s;
  state.counters["one_per_commit_rows_per_s"] = single.rows_per_s;
  state.counters["ratio"] = group.rows_per_s / single.rows_per_s;
  state.counters["mean_batch"] = group.mean_batch;
  state.counters["writers"] = kWriters;
  state.counters["row_bytes"] = kRowBytes;
  std::printf(
      "group commit (%d writers, %zu-byte rows, synchronous=FULL): %.0f durable rows/s "
      "(mean batch %.1f)\none row per commit: %.0f rows/s\nratio: %.1fx  [dir: %s]\n",
      kWriters, kRowBytes, group.rows_per_s, group.mean_batch, single.rows_per_s,
      group.rows_per_s / single.rows_per_s, dir.path().c_str());
}

BENCHMARK(BM_GroupCommitVsOnePerCommit)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace kith::storage

BENCHMARK_MAIN();
