// Directory search (issue 6, "Figures"): search over 150,000 people and 5,000 groups
// (generated), two-word queries through groups::Searcher::Search (permissions, filters,
// snippets, the joins) beside the bare FTS5 query (`SELECT rowid ... MATCH ... ORDER BY bm25
// LIMIT 20`) on the same database in the same run. Target: Search p99 under 10 ms.
//
// Data, written through the stores in batched writer jobs:
//  * 20,000 local members (MemberStore::InsertAll; visibility 70% network, 20% node, 10%
//    hidden);
//  * 130,000 remote profiles in the directory streams of 26 peer nodes
//    (DirectoryStore::ApplyRemote, 1,000 events per job);
//  * 4,500 remote group listings in those streams, and 500 groups owned here
//    (GroupStore::Append; a fifth of them private, so that the membership checks run).
// Names, organisations, job titles and group names come from lists of realistic words.
// Queries (2,000, fixed seed), all two words, the last one a prefix as typed: first name +
// surname, first name + organisation word, job title words, group topic words, surname + job
// word. Each query runs once through Search (viewer: a local member, limit 20) and once bare.
//
// Files go to a fresh directory under $KITH_BENCH_DIR, else $TMPDIR, else /tmp.
// Knobs: KITH_BENCH_PEOPLE (default 150000), KITH_BENCH_QUERIES (default 2000);
// KITH_BENCH_KEEP=<dir>: keep the database in <dir> and, when <dir>/kith.db is already there,
// reuse it instead of generating again (the migrations of a newer build run on open, so this
// also times a migration over a full index).
//
//   ninja -C build bench_directory_search && build/bin/bench_directory_search
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "groups/directory.h"
#include "groups/group_store.h"
#include "groups/search.h"
#include "identity/member_store.h"
#include "storage/clock.h"
#include "storage/database.h"
#include "storage/store.h"

namespace kith::groups {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr int kPeers = 26;
constexpr size_t kBatch = 1000;

int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  char* end = nullptr;
  const long parsed = std::strtol(value, &end, 10);
  return (*end == '\0' && parsed > 0 && parsed < 100'000'000) ? static_cast<int>(parsed) : fallback;
}

template <class T, class Start>
Result<T> Await(Start&& start) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  start([promise](Result<T> result) { promise->set_value(std::move(result)); });
  return future.get();
}

constexpr std::array<const char*, 60> kFirst = {
    "James",  "Mary",      "John",    "Patricia", "Robert",  "Jennifer", "Michael",  "Linda",
    "David",  "Elizabeth", "William", "Barbara",  "Richard", "Susan",    "Joseph",   "Jessica",
    "Thomas", "Sarah",     "Charles", "Karen",    "Andrew",  "Fiona",    "Alistair", "Morag",
    "Callum", "Eilidh",    "Hamish",  "Isla",     "Euan",    "Catriona", "Duncan",   "Ailsa",
    "Fraser", "Kirsty",    "Graeme",  "Shona",    "Lachlan", "Mhairi",   "Rory",     "Iona",
    "Gareth", "Sian",      "Rhys",    "Ffion",    "Owen",    "Carys",    "Niamh",    "Ciaran",
    "Aoife",  "Declan",    "Priya",   "Arjun",    "Aisha",   "Omar",     "Mei",      "Wei",
    "Zofia",  "Piotr",     "Chloe",   "Liam"};
constexpr std::array<const char*, 60> kLast = {
    "Smith",    "Brown",     "Wilson",     "Campbell", "Stewart",  "Thomson",   "Robertson",
    "Anderson", "MacDonald", "Scott",      "Reid",     "Murray",   "Taylor",    "Clark",
    "Mitchell", "Ross",      "Walker",     "Paterson", "Young",    "Watson",    "Morrison",
    "Miller",   "Fraser",    "Davidson",   "Gray",     "McDonald", "Henderson", "Johnston",
    "Hamilton", "Graham",    "Kerr",       "Simpson",  "Martin",   "Ferguson",  "Cameron",
    "Duncan",   "Hunter",    "Kelly",      "Bell",     "Grant",    "Mackenzie", "Mackay",
    "Allan",    "Black",     "MacLeod",    "McLean",   "Russell",  "Gibson",    "Wallace",
    "Gordon",   "Marshall",  "Sutherland", "Jones",    "Evans",    "Davies",    "Khan",
    "Patel",    "Nowak",     "Chen",       "O'Neill"};
constexpr std::array<const char*, 40> kOrgs = {"Fife Council",
                                               "Glasgow City Council",
                                               "City of Edinburgh Council",
                                               "Aberdeenshire Council",
                                               "Highland Council",
                                               "Dundee City Council",
                                               "Perth and Kinross Council",
                                               "Scottish Borders Council",
                                               "Argyll and Bute Council",
                                               "Orkney Islands Council",
                                               "NHS Lothian",
                                               "NHS Greater Glasgow and Clyde",
                                               "NHS Highland",
                                               "NHS Tayside",
                                               "Police Scotland",
                                               "Scottish Fire and Rescue Service",
                                               "Improvement Service",
                                               "Scottish Government",
                                               "Local Government Association",
                                               "Leeds City Council",
                                               "Manchester City Council",
                                               "Kent County Council",
                                               "Cornwall Council",
                                               "Bristol City Council",
                                               "Cardiff Council",
                                               "Belfast City Council",
                                               "Transport Scotland",
                                               "Skills Development Scotland",
                                               "Audit Scotland",
                                               "Care Inspectorate",
                                               "Education Scotland",
                                               "Historic Environment Scotland",
                                               "NatureScot",
                                               "Scottish Water",
                                               "SEPA",
                                               "Public Health Scotland",
                                               "Social Security Scotland",
                                               "Disclosure Scotland",
                                               "Registers of Scotland",
                                               "Accounts Commission"};
constexpr std::array<const char*, 40> kJobs = {"Policy Officer",
                                               "Senior Policy Officer",
                                               "Planning Officer",
                                               "Chief Executive",
                                               "Head of Finance",
                                               "Finance Manager",
                                               "Housing Officer",
                                               "Social Worker",
                                               "Senior Social Worker",
                                               "Environmental Health Officer",
                                               "Climate Change Officer",
                                               "Sustainability Manager",
                                               "Community Learning Worker",
                                               "Procurement Officer",
                                               "Data Analyst",
                                               "Performance Analyst",
                                               "Business Analyst",
                                               "Project Manager",
                                               "Programme Manager",
                                               "Change Manager",
                                               "Digital Transformation Lead",
                                               "Solicitor",
                                               "Legal Adviser",
                                               "HR Business Partner",
                                               "Learning and Development Adviser",
                                               "Economic Development Officer",
                                               "Roads Engineer",
                                               "Transport Planner",
                                               "Waste Services Manager",
                                               "Libraries Manager",
                                               "Educational Psychologist",
                                               "Head Teacher",
                                               "Public Health Consultant",
                                               "Information Governance Officer",
                                               "Records Manager",
                                               "Communications Officer",
                                               "Customer Services Adviser",
                                               "Licensing Officer",
                                               "Trading Standards Officer",
                                               "Emergency Planning Officer"};
constexpr std::array<const char*, 40> kTopics = {"Climate",
                                                 "Sustainability",
                                                 "Housing",
                                                 "Homelessness",
                                                 "Procurement",
                                                 "Digital",
                                                 "Data",
                                                 "Finance",
                                                 "Audit",
                                                 "Roads",
                                                 "Transport",
                                                 "Waste",
                                                 "Recycling",
                                                 "Planning",
                                                 "Education",
                                                 "Early Years",
                                                 "Social Care",
                                                 "Public Health",
                                                 "Mental Health",
                                                 "Violence Against Women",
                                                 "Community Safety",
                                                 "Libraries",
                                                 "Culture",
                                                 "Tourism",
                                                 "Economic Development",
                                                 "Employability",
                                                 "Licensing",
                                                 "Trading Standards",
                                                 "Emergency Planning",
                                                 "Legal",
                                                 "HR",
                                                 "Workforce",
                                                 "Change Management",
                                                 "Performance",
                                                 "Customer Service",
                                                 "Communications",
                                                 "Records",
                                                 "Information Governance",
                                                 "Child Protection",
                                                 "Poverty"};
constexpr std::array<const char*, 10> kGroupKinds = {
    "Network",  "Forum", "Practitioners", "Community of Practice",  "Working Group",
    "Officers", "Leads", "Managers",      "Special Interest Group", "Benchmarking Club"};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The first word of a multi-word list entry, lower-cased.
std::string FirstWord(const char* text) {
  std::string s(text);
  return Lower(s.substr(0, s.find(' ')));
}

// A two-word query as typed: the last word cut to a prefix of at least 3 letters sometimes.
std::string Typed(std::mt19937& rng, const std::string& a, const std::string& b) {
  std::string last = b;
  if (last.size() > 4 && rng() % 2 == 0) last = last.substr(0, 3 + rng() % (last.size() - 3));
  return a + " " + last;
}

struct Figures {
  double open_s = 0;  // Store::Open, migrations included
  double generate_s = 0;
  int64_t docs = 0;
  std::vector<double> search_ms;
  std::vector<double> raw_ms;
  // The same on the calling thread's CPU clock: what the query costs, whatever else the
  // machine runs (Search and the bare query run on the calling thread).
  std::vector<double> search_cpu_ms;
  std::vector<double> raw_cpu_ms;
  double search_hits = 0;  // mean hits per query (<= 20)
  double raw_hits = 0;
  std::vector<std::string> texts;  // the queries, in the order of search_ms / raw_ms
  std::vector<int> classes;        // each query's kind (0..4, see kQueryClasses)
  std::string error;
};

constexpr std::array<const char*, 5> kQueryClasses = {
    "first name + surname", "first name + organisation", "job title words", "topic + group kind",
    "surname + job word"};

// The calling thread's CPU time, in milliseconds.
double ThreadCpuMs() {
  timespec t{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

Figures Run(const std::filesystem::path& dir, int people, int queries, bool reuse) {
  Figures f;
  const Clock& clock = SystemClock::Instance();
  storage::Store::Options options;
  options.path = dir / "kith.db";
  const bool generate = !(reuse && std::filesystem::exists(options.path));
  const auto open_start = SteadyClock::now();
  auto opened = storage::Store::Open(options);
  if (!opened.ok()) return {.error = opened.error().message};
  f.open_s = std::chrono::duration<double>(SteadyClock::now() - open_start).count();
  storage::Store& store = **opened;
  const std::string domain = "improvementservice.example";
  identity::MemberStore members(store, clock);
  DirectoryStore directory(store, clock, domain);
  GroupStore groups(store, clock, domain);
  Searcher searcher(store, domain);
  std::mt19937 rng(42);
  auto pick = [&](const auto& list) { return list[rng() % list.size()]; };

  const auto gen_start = SteadyClock::now();
  // Local members.
  const int local = std::min(people, 20000);
  if (generate) {
    std::vector<identity::NewMember> rows;
    for (int i = 0; i < local; ++i) {
      identity::NewMember m;
      const std::string first = pick(kFirst);
      const std::string last = pick(kLast);
      m.handle = "m" + std::to_string(i);
      m.display_name = first + " " + last;
      m.email = m.handle + "@is.example";
      m.organisation = pick(kOrgs);
      m.job_title = pick(kJobs);
      m.bio = "Works on " + Lower(pick(kTopics)) + " and " + Lower(pick(kTopics)) + ".";
      const int v = static_cast<int>(rng() % 10);
      m.visibility = v < 7   ? identity::DirectoryVisibility::kNetwork
                     : v < 9 ? identity::DirectoryVisibility::kNode
                             : identity::DirectoryVisibility::kHidden;
      rows.push_back(std::move(m));
      if (rows.size() == 5000 || i + 1 == local) {
        auto report = Await<identity::ImportReport>(
            [&](auto done) { members.InsertAll(std::move(rows), {}, std::move(done)); });
        if (!report.ok()) return {.error = "InsertAll: " + report.error().message};
        if (!report->committed) return {.error = "InsertAll: " + report->Summary()};
        rows.clear();
      }
    }
  }
  // Remote profiles and listings in the peers' directory streams.
  const int remote = people - local;
  const int listings = 4500;
  for (int peer = 0; generate && peer < kPeers; ++peer) {
    const std::string peer_domain = "node" + std::to_string(peer) + ".example";
    const std::string stream = DirectoryStream(peer_domain);
    std::vector<Event> events;
    int64_t seq = 0;
    auto flush = [&]() -> std::string {
      if (events.empty()) return "";
      auto report = Await<ApplyReport>(
          [&](auto done) { directory.ApplyRemote(stream, std::move(events), std::move(done)); });
      events.clear();
      if (!report.ok()) return report.error().message;
      if (report->gap) return "unexpected gap";
      return "";
    };
    const int mine = remote / kPeers + (peer < remote % kPeers ? 1 : 0);
    for (int i = 0; i < mine; ++i) {
      const std::string address = "p" + std::to_string(i) + "@" + peer_domain;
      const std::string first = pick(kFirst);
      const std::string last = pick(kLast);
      events.push_back(Event{stream, ++seq, "profile.published", address, 1700000000,
                             json{{"address", address},
                                  {"display_name", first + " " + last},
                                  {"organisation", pick(kOrgs)},
                                  {"job_title", pick(kJobs)},
                                  {"bio", "Interested in " + Lower(pick(kTopics)) + " and " +
                                              Lower(pick(kTopics)) + "."}}});
      if (events.size() == kBatch) {
        if (auto e = flush(); !e.empty()) return {.error = "ApplyRemote: " + e};
      }
    }
    const int my_listings = listings / kPeers + (peer < listings % kPeers ? 1 : 0);
    for (int i = 0; i < my_listings; ++i) {
      const std::string topic = pick(kTopics);
      events.push_back(
          Event{stream, ++seq, "group.listed", "p0@" + peer_domain, 1700000000,
                json{{"group", "g" + std::to_string(i) + "@" + peer_domain},
                     {"name", topic + " " + pick(kGroupKinds)},
                     {"description", "A group for people working on " + Lower(topic) + " and " +
                                         Lower(pick(kTopics)) + " across " + pick(kOrgs) + "."},
                     {"tags", json::array({Lower(topic)})},
                     {"visibility", rng() % 4 == 0 ? "restricted" : "public"},
                     {"join_policy", "request"},
                     {"status", "active"},
                     {"member_count", static_cast<int64_t>(rng() % 400)}}});
      if (events.size() == kBatch) {
        if (auto e = flush(); !e.empty()) return {.error = "ApplyRemote: " + e};
      }
    }
    if (auto e = flush(); !e.empty()) return {.error = "ApplyRemote: " + e};
  }
  // Groups owned here.
  for (int i = 0; generate && i < 500; ++i) {
    const std::string topic = pick(kTopics);
    Command c{"group:own" + std::to_string(i) + "@" + domain, "group.created",
              "m" + std::to_string(i) + "@" + domain,
              json{{"name", topic + " " + pick(kGroupKinds)},
                   {"description", "Scotland-wide " + Lower(topic) + " group."},
                   {"tags", json::array({Lower(topic)})},
                   {"visibility", i % 5 == 0 ? "private" : "public"},
                   {"join_policy", "open"}},
              "c" + std::to_string(i)};
    auto r = Await<Event>([&](auto done) { groups.Append(std::move(c), std::move(done)); });
    if (!r.ok()) return {.error = "group.created: " + r.error().message};
  }
  f.generate_s = std::chrono::duration<double>(SteadyClock::now() - gen_start).count();
  auto docs = store.Read([](storage::Database& db) -> Result<int64_t> {
    auto s = db.Prepare("SELECT count(*) FROM search_docs");
    if (!s.ok()) return s.error();
    auto row = s->Step();
    if (!row.ok()) return row.error();
    return s->ColumnInt(0);
  });
  if (!docs.ok()) return {.error = docs.error().message};
  f.docs = *docs;

  // Queries, from a generator of their own so that a reused database gets the same ones.
  rng.seed(7);
  std::vector<std::string> texts;
  std::vector<int> classes;
  for (int i = 0; i < queries; ++i) {
    const int query_class = static_cast<int>(rng() % 5);
    classes.push_back(query_class);
    switch (query_class) {
      case 0:
        texts.push_back(Typed(rng, Lower(pick(kFirst)), Lower(pick(kLast))));
        break;
      case 1:
        texts.push_back(Typed(rng, Lower(pick(kFirst)), FirstWord(pick(kOrgs))));
        break;
      case 2: {
        std::string job = Lower(pick(kJobs));
        const size_t space = job.find(' ');
        if (space == std::string::npos) job += " officer";
        const std::string a = job.substr(0, job.find(' '));
        std::string b = job.substr(job.find(' ') + 1);
        b = b.substr(0, b.find(' '));
        texts.push_back(Typed(rng, a, b));
        break;
      }
      case 3:
        texts.push_back(Typed(rng, FirstWord(pick(kTopics)), FirstWord(pick(kGroupKinds))));
        break;
      default:
        texts.push_back(Typed(rng, Lower(pick(kLast)), FirstWord(pick(kJobs))));
        break;
    }
  }
  const std::string viewer = "m1@" + domain;
  int64_t search_hits = 0;
  int64_t raw_hits = 0;
  // Warm the page cache and the statement caches.
  for (int i = 0; i < 50 && i < queries; ++i) {
    (void)searcher.Search(viewer, texts[static_cast<size_t>(i)], {}, 20, 0);
  }
  for (const std::string& text : texts) {
    const double c0 = ThreadCpuMs();
    auto t0 = SteadyClock::now();
    auto page = searcher.Search(viewer, text, {}, 20, 0);
    auto t1 = SteadyClock::now();
    f.search_cpu_ms.push_back(ThreadCpuMs() - c0);
    if (!page.ok()) return {.error = "Search(" + text + "): " + page.error().message};
    search_hits += static_cast<int64_t>(page->hits.size());
    f.search_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());

    const std::string match = FtsQuery(text);
    const double c2 = ThreadCpuMs();
    auto t2 = SteadyClock::now();
    auto n = store.Read([&](storage::Database& db) -> Result<int64_t> {
      auto stmt = db.Cached(
          "SELECT rowid FROM search_fts WHERE search_fts MATCH ?1 "
          "ORDER BY bm25(search_fts, 10.0, 1.0) LIMIT 20");
      if (!stmt.ok()) return stmt.error();
      storage::StatementReset reset{*stmt};
      (*stmt)->Bind(1, match);
      int64_t rows = 0;
      for (;;) {
        auto row = (*stmt)->Step();
        if (!row.ok()) return row.error();
        if (!*row) break;
        ++rows;
      }
      return rows;
    });
    auto t3 = SteadyClock::now();
    f.raw_cpu_ms.push_back(ThreadCpuMs() - c2);
    if (!n.ok()) return {.error = "raw FTS5(" + match + "): " + n.error().message};
    raw_hits += *n;
    f.raw_ms.push_back(std::chrono::duration<double, std::milli>(t3 - t2).count());
  }
  f.texts = std::move(texts);
  f.classes = std::move(classes);
  f.search_hits = static_cast<double>(search_hits) / static_cast<double>(f.texts.size());
  f.raw_hits = static_cast<double>(raw_hits) / static_cast<double>(f.texts.size());
  store.Close();
  return f;
}

class BenchDir {
 public:
  // `keep`: a directory to use and keep (created if missing); "" for a fresh temporary one.
  explicit BenchDir(const char* keep) {
    if (keep != nullptr && *keep != '\0') {
      std::error_code ec;
      std::filesystem::create_directories(keep, ec);
      if (!ec) path_ = keep;
      keep_ = true;
      return;
    }
    const char* base = std::getenv("KITH_BENCH_DIR");
    if (base == nullptr || *base == '\0') base = std::getenv("TMPDIR");
    if (base == nullptr || *base == '\0') base = "/tmp";
    std::string pattern = std::string(base) + "/kith-bench-XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~BenchDir() {
    std::error_code ignored;
    if (!path_.empty() && !keep_) std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

// The 1, 5 and 15 minute load averages, as /proc/loadavg gives them ("?" elsewhere).
std::string LoadAverage() {
  std::FILE* file = std::fopen("/proc/loadavg", "r");
  if (file == nullptr) return "?";
  double l1 = 0, l5 = 0, l15 = 0;
  const int n = std::fscanf(file, "%lf %lf %lf", &l1, &l5, &l15);
  std::fclose(file);
  if (n != 3) return "?";
  char text[64];
  std::snprintf(text, sizeof text, "%.2f %.2f %.2f", l1, l5, l15);
  return text;
}

double Mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0 : sum / static_cast<double>(v.size());
}

void PrintLine(const char* label, const std::vector<double>& ms, double hits) {
  std::printf(
      "  %-42s p50 %6.2f ms  p99 %6.2f ms  max %7.2f ms  mean %6.2f ms  (%.1f hits/query)\n", label,
      Percentile(ms, 0.50), Percentile(ms, 0.99), Percentile(ms, 1.0), Mean(ms), hits);
}

void BM_DirectorySearch(benchmark::State& state) {
  const int people = EnvInt("KITH_BENCH_PEOPLE", 150000);
  const int queries = EnvInt("KITH_BENCH_QUERIES", 2000);
  const char* keep = std::getenv("KITH_BENCH_KEEP");
  BenchDir dir(keep);
  if (dir.path().empty()) {
    state.SkipWithError("cannot create the bench directory");
    return;
  }
  const std::string load_before = LoadAverage();
  Figures f;
  for (auto _ : state) f = Run(dir.path(), people, queries, keep != nullptr && *keep != '\0');
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  const std::string load_after = LoadAverage();
  state.counters["search_p50_ms"] = Percentile(f.search_ms, 0.50);
  state.counters["search_p99_ms"] = Percentile(f.search_ms, 0.99);
  state.counters["raw_fts5_p50_ms"] = Percentile(f.raw_ms, 0.50);
  state.counters["raw_fts5_p99_ms"] = Percentile(f.raw_ms, 0.99);
  state.counters["search_cpu_p99_ms"] = Percentile(f.search_cpu_ms, 0.99);
  state.counters["raw_fts5_cpu_p99_ms"] = Percentile(f.raw_cpu_ms, 0.99);
  state.counters["generate_s"] = f.generate_s;
  state.counters["indexed_docs"] = static_cast<double>(f.docs);
  std::printf(
      "%d people (%d local) + 5000 groups = %lld index rows; generated in %.1f s; opened "
      "(migrations) in %.2f s\n"
      "load average before %s, after %s\n"
      "%zu two-word queries, limit 20:\n",
      people, std::min(people, 20000), static_cast<long long>(f.docs), f.generate_s, f.open_s,
      load_before.c_str(), load_after.c_str(), f.search_ms.size());
  PrintLine("Search (permissions, filters, snippets):", f.search_ms, f.search_hits);
  PrintLine("bare FTS5 MATCH ... ORDER BY bm25:", f.raw_ms, f.raw_hits);
  std::printf("the same in CPU time of the calling thread:\n");
  PrintLine("Search, CPU:", f.search_cpu_ms, f.search_hits);
  PrintLine("bare FTS5, CPU:", f.raw_cpu_ms, f.raw_hits);
  std::printf("by kind of query (Search | bare):\n");
  for (size_t c = 0; c < kQueryClasses.size(); ++c) {
    std::vector<double> search, raw;
    for (size_t i = 0; i < f.classes.size(); ++i) {
      if (static_cast<size_t>(f.classes[i]) != c) continue;
      search.push_back(f.search_ms[i]);
      raw.push_back(f.raw_ms[i]);
    }
    std::printf("  %-26s %4zu queries  p50 %5.2f | %5.2f ms  p99 %6.2f | %6.2f ms\n",
                kQueryClasses[c], search.size(), Percentile(search, 0.5), Percentile(raw, 0.5),
                Percentile(search, 0.99), Percentile(raw, 0.99));
  }
  std::vector<size_t> order(f.search_ms.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return f.search_ms[a] > f.search_ms[b]; });
  std::printf("slowest Search queries:\n");
  for (size_t i = 0; i < order.size() && i < 5; ++i) {
    std::printf("  %7.2f ms (bare %6.2f ms)  \"%s\"\n", f.search_ms[order[i]], f.raw_ms[order[i]],
                f.texts[order[i]].c_str());
  }
}

BENCHMARK(BM_DirectorySearch)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace kith::groups

BENCHMARK_MAIN();
