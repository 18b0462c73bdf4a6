// bench_groups_load: the load driver of bench/groups_federation.sh (issue 5, "Figures").
// Blocking keep-alive HTTP/1.1 clients (Boost.Beast, one thread per connection, 10 s socket
// timeouts) against kithd's /api/v1 with signed-in members' sessions.
//
//   posts:     N connections POST replies to one thread for a fixed duration; counts answers
//              by state (201 accepted = durable on the owner; 202 pending; errors).
//     bench_groups_load posts --client PORT:SESSION:CSRF [--client ...] --group G --thread T
//                       [--connections 32] [--duration 10 | --count N]
//   fanout:    one post at a time on the owner; after each, every mirror is polled (its own
//              keep-alive connection and thread, every --poll-ms) until the group's head there
//              reaches the post's seq. Reports the time until the post was applied on ALL
//              mirrors: p50/p99/max over --posts posts.
//     bench_groups_load fanout --client PORT:SESSION:CSRF (the owner's poster) --mirror
//                       PORT:SESSION:CSRF (one per mirror) --group G --thread T [--posts 200]
//   wait-head: polls one node until the group's head is at least --head; prints the seconds.
//     bench_groups_load wait-head --client PORT:SESSION:CSRF --group G --head N [--timeout 120]
//
// Prints one JSON object on stdout (and a summary on stderr). Exit status 0 when it ran, 1 when
// a deadline passed (wait-head, fanout), 2 on bad arguments or when nothing could connect.
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

struct Credentials {
  uint16_t port = 0;
  std::string session;
  std::string csrf;
};

std::optional<Credentials> ParseCredentials(const std::string& s) {
  auto a = s.find(':');
  auto b = s.find(':', a == std::string::npos ? a : a + 1);
  if (a == std::string::npos || b == std::string::npos) return std::nullopt;
  try {
    return Credentials{static_cast<uint16_t>(std::stoi(s.substr(0, a))), s.substr(a + 1, b - a - 1),
                       s.substr(b + 1)};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// One keep-alive connection; reconnects after an error. Not thread-safe.
class Connection {
 public:
  explicit Connection(Credentials c) : c_(std::move(c)) {}

  // Sends one request; nullopt on a transport error (the connection is then reopened next time).
  std::optional<http::response<http::string_body>> Send(http::verb verb, const std::string& target,
                                                        const std::string& body) {
    try {
      if (!socket_) Open();
      http::request<http::string_body> req(verb, target, 11);
      req.set(http::field::host, "127.0.0.1:" + std::to_string(c_.port));
      req.set(http::field::cookie, "kith_session=" + c_.session);
      req.keep_alive(true);
      if (verb != http::verb::get) {
        req.set("X-CSRF-Token", c_.csrf);
        req.set(http::field::content_type, "application/json");
        req.body() = body;
        req.prepare_payload();
      }
      http::write(*socket_, req);
      http::response<http::string_body> res;
      http::read(*socket_, buffer_, res);
      if (!res.keep_alive()) socket_.reset();
      return res;
    } catch (const std::exception&) {
      socket_.reset();
      buffer_.clear();
      return std::nullopt;
    }
  }

 private:
  void Open() {
    socket_.emplace(ioc_);
    socket_->connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), c_.port));
    socket_->set_option(tcp::no_delay(true));
    timeval tv{10, 0};
    ::setsockopt(socket_->native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(socket_->native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    buffer_.clear();
  }

  Credentials c_;
  asio::io_context ioc_;
  std::optional<tcp::socket> socket_;
  beast::flat_buffer buffer_;
};

int64_t Percentile(std::vector<int64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string GroupTarget(const std::string& group, const std::string& rest = "") {
  return "/api/v1/groups/" + group + rest;
}

// The group's head on the node `conn` talks to; -1 when it cannot be read.
int64_t ReadHead(Connection& conn, const std::string& group) {
  auto res = conn.Send(http::verb::get, GroupTarget(group), "");
  if (!res || res->result_int() != 200) return -1;
  json j = json::parse(res->body(), nullptr, false);
  if (!j.is_object()) return -1;
  return j.value("head", int64_t{-1});
}

struct Args {
  std::string mode;
  std::vector<Credentials> clients;
  std::vector<Credentials> mirrors;
  std::string group;
  int64_t thread = 0;
  int connections = 32;
  int duration = 10;
  int64_t count = 0;  // posts: stop after this many requests (0 = run for --duration)
  int posts = 200;
  int poll_ms = 2;
  int64_t head = 0;
  int timeout = 120;
};

int Posts(const Args& a) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> issued{0};
  std::mutex mu;
  std::map<std::string, int64_t> counts;
  std::vector<int64_t> latencies;
  std::vector<std::thread> threads;
  const std::string target =
      GroupTarget(a.group, "/threads/" + std::to_string(a.thread) + "/posts");
  for (int t = 0; t < a.connections; ++t) {
    threads.emplace_back([&, t] {
      Connection conn(a.clients[static_cast<size_t>(t) % a.clients.size()]);
      std::map<std::string, int64_t> mine;
      std::vector<int64_t> lat;
      for (int i = 0; !stop; ++i) {
        if (a.count > 0 && issued++ >= a.count) break;
        const auto t0 = SteadyClock::now();
        auto res =
            conn.Send(http::verb::post, target,
                      json{{"body", "load " + std::to_string(t) + "-" + std::to_string(i)}}.dump());
        lat.push_back(
            std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - t0).count());
        if (!res) {
          mine["errors"]++;
        } else if (res->result_int() == 201 || res->result_int() == 200) {
          mine["accepted"]++;
        } else if (res->result_int() == 202) {
          mine["pending"]++;
        } else {
          mine["status_" + std::to_string(res->result_int())]++;
        }
      }
      std::lock_guard lock(mu);
      for (auto& [k, v] : mine) counts[k] += v;
      latencies.insert(latencies.end(), lat.begin(), lat.end());
    });
  }
  const auto start = SteadyClock::now();
  if (a.count == 0) {
    std::this_thread::sleep_for(std::chrono::seconds(a.duration));  // the measured interval
    stop = true;
  }
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(SteadyClock::now() - start).count();
  json out = {{"mode", "posts"},
              {"connections", a.connections},
              {"duration_s", secs},
              {"requests", static_cast<int64_t>(latencies.size())},
              {"accepted_per_s", static_cast<double>(counts["accepted"]) / secs},
              {"p50_us", Percentile(latencies, 0.50)},
              {"p99_us", Percentile(latencies, 0.99)}};
  for (auto& [k, v] : counts) out[k] = v;
  std::cerr << "posts: " << counts["accepted"] << " accepted (" << out["accepted_per_s"] << "/s), "
            << counts["pending"] << " pending, " << counts["errors"] << " errors; p50 "
            << out["p50_us"] << " us, p99 " << out["p99_us"] << " us\n";
  std::cout << out.dump() << "\n";
  return 0;
}

int Fanout(const Args& a) {
  const size_t n = a.mirrors.size();
  std::mutex mu;
  std::condition_variable cv;
  int64_t target_seq = 0;  // the post to wait for; 0 = none yet
  int generation = 0;
  bool quit = false;
  std::vector<int> done_generation(n, 0);
  std::vector<SteadyClock::time_point> applied_at(n);
  std::vector<std::thread> pollers;
  for (size_t m = 0; m < n; ++m) {
    pollers.emplace_back([&, m] {
      Connection conn(a.mirrors[m]);
      int seen = 0;
      while (true) {
        int64_t want = 0;
        {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return quit || generation != seen; });
          if (quit) return;
          seen = generation;
          want = target_seq;
        }
        const auto deadline = SteadyClock::now() + std::chrono::seconds(30);
        while (ReadHead(conn, a.group) < want && SteadyClock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(a.poll_ms));
        }
        std::lock_guard lock(mu);
        applied_at[m] = SteadyClock::now();
        done_generation[m] = seen;
        cv.notify_all();
      }
    });
  }
  Connection poster(a.clients[0]);
  const std::string target =
      GroupTarget(a.group, "/threads/" + std::to_string(a.thread) + "/posts");
  std::vector<int64_t> all_ms;
  int timeouts = 0;
  for (int i = 0; i < a.posts; ++i) {
    const auto t0 = SteadyClock::now();
    auto res =
        poster.Send(http::verb::post, target, json{{"body", "fanout " + std::to_string(i)}}.dump());
    if (!res || (res->result_int() != 201 && res->result_int() != 200)) {
      std::cerr << "post " << i << " failed: " << (res ? res->body() : "transport error") << "\n";
      return 2;
    }
    json j = json::parse(res->body(), nullptr, false);
    const int64_t seq = j.is_object() ? j.value("seq", int64_t{0}) : 0;
    {
      std::lock_guard lock(mu);
      target_seq = seq;
      ++generation;
      cv.notify_all();
    }
    std::unique_lock lock(mu);
    cv.wait(lock, [&] {
      return std::all_of(done_generation.begin(), done_generation.end(),
                         [&](int g) { return g == generation; });
    });
    auto last = *std::max_element(applied_at.begin(), applied_at.end());
    const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(last - t0).count();
    if (ms >= 30000) ++timeouts;
    all_ms.push_back(ms);
  }
  {
    std::lock_guard lock(mu);
    quit = true;
    cv.notify_all();
  }
  for (auto& t : pollers) t.join();
  json out = {{"mode", "fanout"},
              {"mirrors", n},
              {"posts", a.posts},
              {"p50_ms", Percentile(all_ms, 0.50)},
              {"p99_ms", Percentile(all_ms, 0.99)},
              {"max_ms", Percentile(all_ms, 1.0)},
              {"timeouts", timeouts}};
  std::cerr << "fan-out to " << n << " mirrors over " << a.posts << " posts: p50 " << out["p50_ms"]
            << " ms, p99 " << out["p99_ms"] << " ms, max " << out["max_ms"] << " ms\n";
  std::cout << out.dump() << "\n";
  return timeouts == 0 ? 0 : 1;
}

int WaitHead(const Args& a) {
  Connection conn(a.clients[0]);
  const auto start = SteadyClock::now();
  const auto deadline = start + std::chrono::seconds(a.timeout);
  int64_t head = -1, first_head = -1;
  std::optional<SteadyClock::time_point> moved_at;  // when the head first moved
  while ((head = ReadHead(conn, a.group)) < a.head && SteadyClock::now() < deadline) {
    if (first_head < 0 && head >= 0) first_head = head;
    if (!moved_at && first_head >= 0 && head > first_head) moved_at = SteadyClock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto end = SteadyClock::now();
  const double secs = std::chrono::duration<double>(end - start).count();
  // From the first applied batch to the last: the catch-up itself, without the wait for the
  // owner's next delivery attempt (its backoff after failures while this node was down).
  const double applying = moved_at ? std::chrono::duration<double>(end - *moved_at).count() : secs;
  json out = {{"mode", "wait-head"},      {"seconds", secs}, {"applying_seconds", applying},
              {"first_head", first_head}, {"head", head},    {"wanted", a.head}};
  std::cout << out.dump() << "\n";
  return head >= a.head ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (argc < 2) {
    std::cerr << "usage: bench_groups_load posts|fanout|wait-head --client PORT:SESSION:CSRF "
                 "--group G ...\n";
    return 2;
  }
  a.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) {
      std::cerr << k << " needs a value\n";
      return 2;
    }
    const std::string v = argv[++i];
    try {
      if (k == "--client" || k == "--mirror") {
        auto c = ParseCredentials(v);
        if (!c) {
          std::cerr << "bad " << k << " " << v << "\n";
          return 2;
        }
        (k == "--client" ? a.clients : a.mirrors).push_back(*c);
      } else if (k == "--group") {
        a.group = v;
      } else if (k == "--thread") {
        a.thread = std::stoll(v);
      } else if (k == "--connections") {
        a.connections = std::stoi(v);
      } else if (k == "--count") {
        a.count = std::stoll(v);
      } else if (k == "--duration") {
        a.duration = std::stoi(v);
      } else if (k == "--posts") {
        a.posts = std::stoi(v);
      } else if (k == "--poll-ms") {
        a.poll_ms = std::stoi(v);
      } else if (k == "--head") {
        a.head = std::stoll(v);
      } else if (k == "--timeout") {
        a.timeout = std::stoi(v);
      } else {
        std::cerr << "unknown option " << k << "\n";
        return 2;
      }
    } catch (const std::exception&) {
      std::cerr << "bad value for " << k << ": " << v << "\n";
      return 2;
    }
  }
  if (a.clients.empty() || a.group.empty()) {
    std::cerr << "--client and --group are required\n";
    return 2;
  }
  if (a.mode == "posts") return Posts(a);
  if (a.mode == "fanout") return a.mirrors.empty() ? 2 : Fanout(a);
  if (a.mode == "wait-head") return WaitHead(a);
  std::cerr << "unknown mode " << a.mode << "\n";
  return 2;
}
