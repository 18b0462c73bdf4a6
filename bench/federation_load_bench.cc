// bench_federation_load: a keep-alive HTTP load client for kithd (Boost.Asio/Beast).
//
// N keep-alive connections, each sending its next request as soon as the previous answer is
// read, for a fixed duration; counts answers by status, and reports requests/s and the
// p50/p99 latency. Two modes:
//
//   plain:  every request is "GET PATH" (e.g. /healthz).
//   signed: every request is a kith-signed "GET PATH" (the federation ping). The server's
//           replay cache refuses a nonce seen before, so a pool of distinct signed requests is
//           made BEFORE the timed phase (signing costs the client nothing while timed); the
//           run stops early, and says so, if the pool runs out. A 2xx answer counts as good
//           only when it carries a Signature field (the server signs every federation answer).
//
//   bench_federation_load --port P --path /healthz --connections 50 --duration 10
//   bench_federation_load --port P --path /federation/v1/ping --connections 50 --duration 10
//       --base-url http://127.0.0.1:P --key-file A/keys/KID.key --kid KID [--pool 300000]
//
// Prints a human summary to stderr and one JSON object to stdout:
//   {"path","connections","threads","duration_s","requests","ok","non_2xx","unsigned",
//    "errors","requests_per_second","p50_us","p99_us","pool_exhausted"}
// Exit status: 0 when it ran (whatever the rates), 2 on bad arguments or when nothing could
// connect.
#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "federation/signature_profile.h"
#include "storage/clock.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fed = kith::federation;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

struct Options {
  uint16_t port = 0;
  std::string host = "127.0.0.1";
  std::string path = "/healthz";
  int connections = 50;
  int threads = 1;
  double duration_s = 10;
  double warmup_s = 1;
  // Signed mode.
  std::string base_url;
  std::string key_file;
  std::string kid;
  size_t pool = 300000;
};

void Usage(const char* why) {
  std::cerr << "bench_federation_load: " << why
            << "\nusage: bench_federation_load --port P [--host 127.0.0.1] [--path /healthz]\n"
               "         [--connections 50] [--threads 1] [--duration 10] [--warmup 1]\n"
               "         [--base-url URL --key-file SEED_FILE --kid KID [--pool 300000]]\n";
}

bool ParseArgs(int argc, char** argv, Options& o) {
  std::map<std::string, std::string> args;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc || std::strncmp(argv[i], "--", 2) != 0) {
      Usage("every option takes a value");
      return false;
    }
    args[argv[i] + 2] = argv[i + 1];
  }
  try {
    for (const auto& [name, value] : args) {
      if (name == "port") {
        int p = std::stoi(value);
        if (p <= 0 || p > 65535) throw std::invalid_argument("port");
        o.port = static_cast<uint16_t>(p);
      } else if (name == "host") {
        o.host = value;
      } else if (name == "path") {
        o.path = value;
      } else if (name == "connections") {
        o.connections = std::stoi(value);
      } else if (name == "threads") {
        o.threads = std::stoi(value);
      } else if (name == "duration") {
        o.duration_s = std::stod(value);
      } else if (name == "warmup") {
        o.warmup_s = std::stod(value);
      } else if (name == "base-url") {
        o.base_url = value;
      } else if (name == "key-file") {
        o.key_file = value;
      } else if (name == "kid") {
        o.kid = value;
      } else if (name == "pool") {
        o.pool = static_cast<size_t>(std::stoull(value));
      } else {
        Usage(("unknown option --" + name).c_str());
        return false;
      }
    }
  } catch (const std::exception&) {
    Usage("bad option value");
    return false;
  }
  if (o.port == 0) {
    Usage("--port is required");
    return false;
  }
  if (o.connections < 1 || o.connections > 10000 || o.threads < 1 || o.threads > 64 ||
      o.duration_s <= 0 || o.warmup_s < 0 || o.path.empty() || o.path[0] != '/') {
    Usage("out-of-range option");
    return false;
  }
  const bool any_signed = !o.base_url.empty() || !o.key_file.empty() || !o.kid.empty();
  if (any_signed && (o.base_url.empty() || o.key_file.empty() || o.kid.empty() || o.pool == 0)) {
    Usage("signed mode needs --base-url, --key-file and --kid");
    return false;
  }
  return true;
}

// Reads the 32-byte Ed25519 seed of a node key file (DATA_DIR/keys/<kid>.key).
bool ReadSeed(const std::string& path, std::array<uint8_t, 32>& seed) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t got = 0;
  while (got < seed.size()) {
    ssize_t n = ::read(fd, seed.data() + got, seed.size() - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  char extra;
  const bool exact = got == seed.size() && ::read(fd, &extra, 1) == 0;
  ::close(fd);
  return exact;
}

// The wire bytes of one GET with `headers`.
std::string Serialize(const Options& o,
                      const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string out =
      "GET " + o.path + " HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) + "\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  return out + "\r\n";
}

// Pre-signed requests, each with its own nonce.
bool MakeSignedPool(const Options& o, std::vector<std::string>& pool) {
  std::array<uint8_t, 32> seed{};
  if (!ReadSeed(o.key_file, seed)) {
    std::cerr << "bench_federation_load: cannot read a 32-byte seed from " << o.key_file << "\n";
    return false;
  }
  fed::Ed25519SecretKey key{std::span<const uint8_t, 32>(seed)};
  sodium_memzero(seed.data(), seed.size());
  fed::KithSigner signer(o.kid, key.AsSignFunction(), kith::SystemClock::Instance());
  pool.reserve(o.pool);
  for (size_t i = 0; i < o.pool; ++i) {
    fed::HttpMessage m;
    m.method = "GET";
    m.target_uri = o.base_url + o.path;
    auto signed_ok = signer.SignRequest(m, "");
    if (!signed_ok.ok()) {
      std::cerr << "bench_federation_load: signing failed: " << signed_ok.error().message << "\n";
      return false;
    }
    pool.push_back(Serialize(o, m.headers));
  }
  return true;
}

struct Counters {
  uint64_t ok = 0;
  uint64_t non_2xx = 0;
  uint64_t unsigned_2xx = 0;
  uint64_t errors = 0;
  std::vector<uint32_t> latencies_us;
};

struct Run {
  const Options& options;
  const std::vector<std::string>& pool;
  bool rotate_pool = false;  // signed: each request once; plain: pool[0] for all
  std::atomic<size_t> next{0};
  std::atomic<bool> pool_exhausted{false};
  std::atomic<int> connected{0};
  Clock::time_point measure_from;
  Clock::time_point stop_at;
  std::mutex mu;
  Counters total;
};

asio::awaitable<void> Connection(Run& run, tcp::endpoint endpoint) {
  auto executor = co_await asio::this_coro::executor;
  beast::tcp_stream stream(executor);
  stream.expires_after(std::chrono::seconds(10));
  auto [cec] = co_await stream.async_connect(endpoint, kTuple);
  if (cec) {
    std::lock_guard lock(run.mu);
    ++run.total.errors;
    co_return;
  }
  stream.socket().set_option(tcp::no_delay(true));
  ++run.connected;
  Counters mine;
  mine.latencies_us.reserve(1 << 16);
  beast::flat_buffer buffer;
  while (Clock::now() < run.stop_at) {
    const std::string* request = &run.pool[0];
    if (run.rotate_pool) {
      const size_t i = run.next.fetch_add(1, std::memory_order_relaxed);
      if (i >= run.pool.size()) {
        run.pool_exhausted = true;
        break;
      }
      request = &run.pool[i];
    }
    const auto start = Clock::now();
    stream.expires_after(std::chrono::seconds(10));
    auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(*request), kTuple);
    http::response_parser<http::string_body> parser;
    parser.body_limit(1 << 20);
    boost::system::error_code rec = wec;
    if (!wec) {
      auto [ec, rn] = co_await http::async_read(stream, buffer, parser, kTuple);
      rec = ec;
    }
    const auto end = Clock::now();
    if (start < run.measure_from || end > run.stop_at) {
      if (rec) break;
      continue;  // warm-up, or finished after the end: not counted
    }
    if (rec) {
      ++mine.errors;
      break;
    }
    const auto& res = parser.get();
    const unsigned status = res.result_int();
    if (status < 200 || status > 299) {
      ++mine.non_2xx;
    } else if (run.rotate_pool && res.find("Signature") == res.end()) {
      ++mine.unsigned_2xx;
    } else {
      ++mine.ok;
    }
    mine.latencies_us.push_back(static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(end - start).count()));
    if (!res.keep_alive()) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  std::lock_guard lock(run.mu);
  run.total.ok += mine.ok;
  run.total.non_2xx += mine.non_2xx;
  run.total.unsigned_2xx += mine.unsigned_2xx;
  run.total.errors += mine.errors;
  run.total.latencies_us.insert(run.total.latencies_us.end(), mine.latencies_us.begin(),
                                mine.latencies_us.end());
}

uint32_t Percentile(std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, o)) return 2;
  if (sodium_init() < 0) return 2;
  std::vector<std::string> pool;
  const bool is_signed = !o.kid.empty();
  if (is_signed) {
    const auto t0 = Clock::now();
    if (!MakeSignedPool(o, pool)) return 2;
    std::cerr << "pre-signed " << pool.size() << " requests in "
              << std::chrono::duration<double>(Clock::now() - t0).count() << " s\n";
  } else {
    pool.push_back(Serialize(o, {}));
  }

  boost::system::error_code ec;
  const auto address = asio::ip::make_address(o.host, ec);
  if (ec) {
    Usage("--host must be an IP address");
    return 2;
  }
  const tcp::endpoint endpoint(address, o.port);

  Run run{o, pool};
  run.rotate_pool = is_signed;
  const auto warmup =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmup_s));
  const auto duration =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
  run.measure_from = Clock::now() + warmup;
  run.stop_at = run.measure_from + duration;

  std::vector<std::unique_ptr<asio::io_context>> contexts;
  for (int t = 0; t < o.threads; ++t) contexts.push_back(std::make_unique<asio::io_context>(1));
  for (int c = 0; c < o.connections; ++c) {
    asio::co_spawn(*contexts[static_cast<size_t>(c % o.threads)], Connection(run, endpoint),
                   asio::detached);
  }
  std::vector<std::thread> threads;
  for (auto& ioc : contexts) threads.emplace_back([&ioc] { ioc->run(); });
  for (auto& t : threads) t.join();

  // The measured window ends early when the pool ran out; rate over the time really used.
  double window = o.duration_s;
  std::sort(run.total.latencies_us.begin(), run.total.latencies_us.end());
  const uint64_t requests =
      run.total.ok + run.total.non_2xx + run.total.unsigned_2xx + run.total.errors;
  if (run.pool_exhausted) {
    std::cerr << "warning: the pool of " << pool.size()
              << " signed requests ran out before the end; raise --pool\n";
  }
  const double rate = static_cast<double>(run.total.ok) / window;
  nlohmann::json out{{"path", o.path},
                     {"signed", is_signed},
                     {"connections", o.connections},
                     {"threads", o.threads},
                     {"duration_s", window},
                     {"requests", requests},
                     {"ok", run.total.ok},
                     {"non_2xx", run.total.non_2xx},
                     {"unsigned", run.total.unsigned_2xx},
                     {"errors", run.total.errors},
                     {"requests_per_second", static_cast<int64_t>(rate)},
                     {"p50_us", Percentile(run.total.latencies_us, 0.50)},
                     {"p99_us", Percentile(run.total.latencies_us, 0.99)},
                     {"pool_exhausted", run.pool_exhausted.load()}};
  std::fprintf(stderr,
               "%s%s: %d connections, %.1f s: %llu ok (2xx%s), %llu non-2xx, %llu errors, "
               "%.0f req/s, p50 %u us, p99 %u us\n",
               o.path.c_str(), is_signed ? " (signed)" : "", o.connections, window,
               static_cast<unsigned long long>(run.total.ok), is_signed ? ", signed" : "",
               static_cast<unsigned long long>(run.total.non_2xx),
               static_cast<unsigned long long>(run.total.errors), rate,
               out["p50_us"].get<uint32_t>(), out["p99_us"].get<uint32_t>());
  std::cout << out.dump() << "\n";
  if (run.connected.load() == 0) {
    std::cerr << "bench_federation_load: no connection to " << o.host << ":" << o.port << "\n";
    return 2;
  }
  return 0;
}
