// Group streams on disk (issue 5, "Figures"): how fast an owner appends decided events, and how
// fast a mirror applies pushed events durably, beside SQLite's own batched insert of the same
// rows measured in the same run on the same disk.
//
// (a) owner: GroupStore::Append of `post.created` commands from producers keeping up to 1,000
//     appends in flight (each one decided, appended and reduced; durable when its callback
//     runs; the Writer commits them in groups).
// (b) mirror: the owner's events (read back with EventsAfter) applied by a second GroupStore
//     through ApplyRemote in batches of 500, at most 2 batches in flight (as a receiver with
//     federation.max_in_flight = 2 sees them), each batch one durable writer job.
// (c) raw SQLite: the same rows (stream_id, seq, type, actor, at, data) inserted into a bare
//     copy of the `events` table, 500 per transaction, WAL + synchronous=FULL, one connection.
// The ratio (b)/(c) says what the reducers and bookkeeping cost over writing the log alone.
// The mirror's digest is checked against the owner's at the end.
//
// Files go to a fresh directory under $KITH_BENCH_DIR, else $TMPDIR, else /tmp (not tmpfs).
// Knob: KITH_BENCH_EVENTS (posts, default 50000).
//
//   ninja -C build bench_groups_apply && build/bin/bench_groups_apply
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <sys/vfs.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "groups/event.h"
#include "groups/group_store.h"
#include "storage/clock.h"
#include "storage/database.h"
#include "storage/store.h"

namespace kith::groups {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr long kTmpfsMagic = 0x01021994;
constexpr size_t kBatch = 500;
constexpr int kMirrorInFlight = 2;
constexpr int kOwnerInFlight = 1000;

int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  char* end = nullptr;
  const long parsed = std::strtol(value, &end, 10);
  return (*end == '\0' && parsed > 0 && parsed < 100'000'000) ? static_cast<int>(parsed) : fallback;
}

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

// Calls `start(done)` and waits for the result (the writer always answers).
template <class T, class Start>
Result<T> Await(Start&& start) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  start([promise](Result<T> result) { promise->set_value(std::move(result)); });
  return future.get();
}

// A window of at most `limit` operations in flight; Wait() returns the first error seen.
class Window {
 public:
  explicit Window(int limit) : limit_(limit) {}
  void Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return in_flight_ < limit_; });
    ++in_flight_;
  }
  void Release(const std::string& error) {
    std::lock_guard lock(mu_);
    --in_flight_;
    if (!error.empty() && error_.empty()) error_ = error;
    cv_.notify_all();
  }
  std::string Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return in_flight_ == 0; });
    return error_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int limit_;
  int in_flight_ = 0;
  std::string error_;
};

std::string PostBody(int i) {
  std::string body = "Post " + std::to_string(i) + ": ";
  while (body.size() < 200) body += "the quick brown fox jumps over the lazy dog. ";
  return body;
}

struct Figures {
  double owner_per_s = 0;
  double mirror_per_s = 0;
  double raw_per_s = 0;
  int64_t events = 0;
  std::string error;
};

Figures Run(const std::filesystem::path& dir, int posts) {
  Figures f;
  const Clock& clock = SystemClock::Instance();
  storage::Store::Options owner_options;
  owner_options.path = dir / "owner.db";
  auto owner_store = storage::Store::Open(owner_options);
  if (!owner_store.ok()) return {.error = owner_store.error().message};
  GroupStore owner(**owner_store, clock, "a.example");
  const std::string stream = "group:bench@a.example";

  auto append = [&](Command c) { return Await<Event>([&](auto done) { owner.Append(c, done); }); };
  auto created = append({stream, "group.created", "alice@a.example",
                         json{{"name", "Bench"},
                              {"description", "apply rate"},
                              {"tags", json::array()},
                              {"visibility", "public"},
                              {"join_policy", "open"}},
                         "c-created"});
  if (!created.ok()) return {.error = "group.created: " + created.error().message};
  auto joined = append(
      {stream, "member.joined", "bob@b.example", json{{"member", "bob@b.example"}}, "c-joined"});
  if (!joined.ok()) return {.error = "member.joined: " + joined.error().message};
  auto thread = append({stream, "thread.created", "alice@a.example",
                        json{{"title", "Load"}, {"body", "Posts follow"}}, "c-thread"});
  if (!thread.ok()) return {.error = "thread.created: " + thread.error().message};

  // (a) owner appends.
  {
    Window window(kOwnerInFlight);
    const auto start = SteadyClock::now();
    for (int i = 0; i < posts; ++i) {
      window.Acquire();
      Command c{stream, "post.created", i % 2 ? "alice@a.example" : "bob@b.example",
                json{{"thread", thread->seq}, {"body", PostBody(i)}}, "p" + std::to_string(i)};
      owner.Append(std::move(c),
                   [&window](Result<Event> r) { window.Release(r.ok() ? "" : r.error().message); });
    }
    const std::string error = window.Wait();
    const double s = std::chrono::duration<double>(SteadyClock::now() - start).count();
    if (!error.empty()) return {.error = "owner append: " + error};
    f.owner_per_s = posts / s;
  }

  // The owner's log, read back as a mirror would receive it.
  std::vector<Event> events;
  for (int64_t after = 0;;) {
    auto page = owner.EventsAfter(stream, after, 1000, 16 * 1024 * 1024);
    if (!page.ok()) return {.error = "EventsAfter: " + page.error().message};
    if (page->empty()) break;
    after = page->back().seq;
    for (auto& e : *page) events.push_back(std::move(e));
  }
  f.events = static_cast<int64_t>(events.size());

  // (b) mirror applies batches of 500.
  storage::Store::Options mirror_options;
  mirror_options.path = dir / "mirror.db";
  auto mirror_store = storage::Store::Open(mirror_options);
  if (!mirror_store.ok()) return {.error = mirror_store.error().message};
  GroupStore mirror(**mirror_store, clock, "b.example");
  {
    Window window(kMirrorInFlight);
    std::atomic<int64_t> applied{0};
    const auto start = SteadyClock::now();
    for (size_t i = 0; i < events.size(); i += kBatch) {
      window.Acquire();
      std::vector<Event> batch(
          events.begin() + static_cast<std::ptrdiff_t>(i),
          events.begin() + static_cast<std::ptrdiff_t>(std::min(events.size(), i + kBatch)));
      mirror.ApplyRemote(stream, "a.example", std::move(batch),
                         [&window, &applied](Result<ApplyReport> r) {
                           if (r.ok()) applied += r->applied;
                           window.Release(r.ok() ? (r->gap ? "gap" : "") : r.error().message);
                         });
    }
    const std::string error = window.Wait();
    const double s = std::chrono::duration<double>(SteadyClock::now() - start).count();
    if (!error.empty()) return {.error = "mirror apply: " + error};
    if (applied != f.events) return {.error = "mirror applied " + std::to_string(applied.load())};
    f.mirror_per_s = static_cast<double>(f.events) / s;
  }
  auto owner_digest = owner.Digest(stream);
  auto mirror_digest = mirror.Digest(stream);
  if (!owner_digest.ok() || !mirror_digest.ok() || *owner_digest != *mirror_digest) {
    return {.error = "the mirror's digest differs from the owner's"};
  }

  // (c) raw SQLite batched insert of the same rows.
  {
    storage::Database::Options options;
    options.path = dir / "raw.db";
    auto db = storage::Database::Open(options);
    if (!db.ok()) return {.error = db.error().message};
    Status s = db->Exec(
        "CREATE TABLE events (stream_id INTEGER NOT NULL, seq INTEGER NOT NULL, type TEXT NOT "
        "NULL, actor TEXT NOT NULL, at INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY "
        "(stream_id, seq)) WITHOUT ROWID");
    if (!s.ok()) return {.error = s.error().message};
    std::vector<std::string> data;
    data.reserve(events.size());
    for (const Event& e : events) data.push_back(e.data.dump());
    const auto start = SteadyClock::now();
    for (size_t i = 0; i < events.size(); i += kBatch) {
      if (Status b = db->Exec("BEGIN"); !b.ok()) return {.error = b.error().message};
      for (size_t j = i; j < std::min(events.size(), i + kBatch); ++j) {
        auto stmt = db->Cached(
            "INSERT INTO events (stream_id, seq, type, actor, at, data) VALUES (1, ?1, ?2, ?3, "
            "?4, ?5)");
        if (!stmt.ok()) return {.error = stmt.error().message};
        Status r = (*stmt)
                       ->Bind(1, events[j].seq)
                       .Bind(2, events[j].type)
                       .Bind(3, events[j].actor)
                       .Bind(4, events[j].at)
                       .Bind(5, data[j])
                       .Run();
        if (!r.ok()) return {.error = r.error().message};
      }
      if (Status c = db->Exec("COMMIT"); !c.ok()) return {.error = c.error().message};
    }
    const double secs = std::chrono::duration<double>(SteadyClock::now() - start).count();
    f.raw_per_s = static_cast<double>(events.size()) / secs;
  }
  (*owner_store)->Close();
  (*mirror_store)->Close();
  return f;
}

void BM_GroupsApply(benchmark::State& state) {
  const int posts = EnvInt("KITH_BENCH_EVENTS", 50000);
  BenchDir dir;
  if (!dir.error().empty()) {
    state.SkipWithError(dir.error().c_str());
    return;
  }
  Figures f;
  for (auto _ : state) f = Run(dir.path(), posts);
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  state.counters["owner_appends_per_s"] = f.owner_per_s;
  state.counters["mirror_events_per_s"] = f.mirror_per_s;
  state.counters["sqlite_batched_rows_per_s"] = f.raw_per_s;
  state.counters["mirror_vs_sqlite"] = f.mirror_per_s / f.raw_per_s;
  state.counters["events"] = static_cast<double>(f.events);
  std::printf(
      "owner Append (decide+append+reduce, <=%d in flight): %.0f durable events/s\n"
      "mirror ApplyRemote (batches of %zu, %d in flight): %.0f durable events/s\n"
      "SQLite batched insert of the same rows (%zu per transaction): %.0f rows/s\n"
      "mirror / SQLite: %.2f  (%lld events, synchronous=FULL) [dir: %s]\n",
      kOwnerInFlight, f.owner_per_s, kBatch, kMirrorInFlight, f.mirror_per_s, kBatch, f.raw_per_s,
      f.mirror_per_s / f.raw_per_s, static_cast<long long>(f.events), dir.path().c_str());
}

BENCHMARK(BM_GroupsApply)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace kith::groups

BENCHMARK_MAIN();
