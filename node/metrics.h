// Metrics: the HTTP server's counters, rendered in the Prometheus text format (/metrics).
//
// The hot path is lock-free: each route holds its own RouteMetrics (relaxed atomics) that the
// connection updates directly through Route::metrics; the registry mutex is taken only when a
// route is registered, for a status code outside the common set (rare), and when rendering.
//
// Exposed series:
//   kith_http_requests_total{route,method,status}          counter
//   kith_http_request_duration_seconds{route,method}       histogram
//   kith_http_open_connections                              gauge
//   kith_http_connections_total / _rejected_total           counters
//   + whatever the collectors add (the daemon adds database and process figures).
// The route label is the route PATTERN ("/api/v1/groups/{slug}"); requests that match no route
// (404, 405, malformed) are labelled "unmatched".
//
// Thread-safety: every member function is thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace kith::node {

// Counters of one (route, method).
class RouteMetrics {
 public:
  RouteMetrics(std::string route, std::string method);

  // Records one finished request. Lock-free unless `status` is outside the common set.
  void Record(unsigned status, std::chrono::nanoseconds duration);

  // Histogram bucket upper bounds, in seconds (+Inf implied).
  static constexpr std::array<double, 14> kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

  // Appends this route's series to the two sections of the output.
  void Render(std::string& requests, std::string& durations) const;

  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  static constexpr std::array<unsigned, 24> kCommonStatuses = {
      200, 201, 202, 204, 301, 302, 303, 304, 400, 401, 403, 404,
      405, 408, 409, 413, 415, 422, 429, 431, 500, 502, 503, 504};
  std::string route_;
  std::string method_;
  std::array<std::atomic<uint64_t>, kCommonStatuses.size()> by_status_{};
  mutable std::mutex rare_mu_;
  std::map<unsigned, uint64_t> rare_statuses_;
  std::array<std::atomic<uint64_t>, kBuckets.size() + 1> buckets_{};  // non-cumulative
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_nanos_{0};
};

class Metrics {
 public:
  Metrics();

  // The counters for a route; created on first call, owned by Metrics (stable pointer).
  RouteMetrics* ForRoute(std::string_view pattern, std::string_view method);

  // The counters for requests that matched no route, by method (unknown methods -> "OTHER").
  RouteMetrics* Unmatched(std::string_view method);

  std::atomic<int64_t> open_connections{0};
  std::atomic<uint64_t> connections_total{0};
  std::atomic<uint64_t> connections_rejected{0};

  // Adds a function that appends more series to the output at render time. Collectors run
  // under the registry lock, in the order added; they must be cheap and must not call back
  // into Metrics.
  void AddCollector(std::function<void(std::string&)> collector);

  // The whole text exposition.
  std::string Render() const;

  // Total requests recorded so far (all routes).
  uint64_t RequestsTotal() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<RouteMetrics>> routes_;
  std::map<std::string, RouteMetrics*, std::less<>> unmatched_;
  std::vector<std::function<void(std::string&)>> collectors_;
};

// Escapes a Prometheus label value (backslash, quote, newline).
std::string PrometheusLabel(std::string_view value);

}  // namespace kith::node
