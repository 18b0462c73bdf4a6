#include "node/metrics.h"

#include <algorithm>
#include <cstdio>

namespace kith::node {
namespace {

constexpr std::string_view kUnmatchedMethods[] = {"GET",   "HEAD",   "POST",   "PUT",
                                                  "PATCH", "DELETE", "OPTIONS"};

// Index of each common status in kCommonStatuses, -1 otherwise; built once.
template <size_t N>
std::array<int8_t, 600> StatusIndex(const std::array<unsigned, N>& statuses) {
  std::array<int8_t, 600> index;
  index.fill(-1);
  for (size_t i = 0; i < N; ++i) index[statuses[i]] = static_cast<int8_t>(i);
  return index;
}

void AppendDouble(std::string& out, double v) {
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%.9g", v);
  out.append(buf, static_cast<size_t>(n));
}

}  // namespace

std::string PrometheusLabel(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

RouteMetrics::RouteMetrics(std::string route, std::string method)
    : route_(PrometheusLabel(route)), method_(PrometheusLabel(method)) {}

void RouteMetrics::Record(unsigned status, std::chrono::nanoseconds duration) {
  static const auto index = StatusIndex(kCommonStatuses);
  int i = status < index.size() ? index[status] : -1;
  if (i >= 0) {
    by_status_[static_cast<size_t>(i)].fetch_add(1, std::memory_order_relaxed);
  } else {
    std::lock_guard lock(rare_mu_);
    ++rare_statuses_[status];
  }
  double seconds = std::chrono::duration<double>(duration).count();
  size_t b = static_cast<size_t>(std::lower_bound(kBuckets.begin(), kBuckets.end(), seconds) -
                                 kBuckets.begin());
  buckets_[b].fetch_add(1, std::memory_order_relaxed);
  sum_nanos_.fetch_add(static_cast<uint64_t>(std::max<int64_t>(0, duration.count())),
                       std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void RouteMetrics::Render(std::string& requests, std::string& durations) const {
  std::string labels = "route=\"" + route_ + "\",method=\"" + method_ + "\"";
  auto line = [&](unsigned status, uint64_t n) {
    if (n == 0) return;
    requests += "kith_http_requests_total{" + labels + ",status=\"" + std::to_string(status) +
                "\"} " + std::to_string(n) + "\n";
  };
  for (size_t i = 0; i < kCommonStatuses.size(); ++i) {
    line(kCommonStatuses[i], by_status_[i].load(std::memory_order_relaxed));
  }
  {
    std::lock_guard lock(rare_mu_);
    for (const auto& [status, n] : rare_statuses_) line(status, n);
  }
  uint64_t count = count_.load(std::memory_order_relaxed);
  if (count == 0) return;
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= kBuckets.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    durations += "kith_http_request_duration_seconds_bucket{" + labels + ",le=\"";
    if (i < kBuckets.size()) {
      AppendDouble(durations, kBuckets[i]);
    } else {
      durations += "+Inf";
    }
    durations += "\"} " + std::to_string(cumulative) + "\n";
  }
  durations += "kith_http_request_duration_seconds_sum{" + labels + "} ";
  AppendDouble(durations, static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) / 1e9);
  durations += "\n";
  // The count is the +Inf bucket, so that _count and the buckets agree within one scrape.
  durations += "kith_http_request_duration_seconds_count{" + labels + "} " +
               std::to_string(cumulative) + "\n";
}

Metrics::Metrics() {
  for (auto m : kUnmatchedMethods) unmatched_[std::string(m)] = ForRoute("unmatched", m);
  unmatched_["OTHER"] = ForRoute("unmatched", "OTHER");
}

RouteMetrics* Metrics::ForRoute(std::string_view pattern, std::string_view method) {
  std::lock_guard lock(mu_);
  auto key = std::make_pair(std::string(pattern), std::string(method));
  auto it = routes_.find(key);
  if (it == routes_.end()) {
    it =
        routes_
            .emplace(key, std::make_unique<RouteMetrics>(std::string(pattern), std::string(method)))
            .first;
  }
  return it->second.get();
}

RouteMetrics* Metrics::Unmatched(std::string_view method) {
  // unmatched_ is filled in the constructor and never changed: no lock needed.
  auto it = unmatched_.find(method);
  return it != unmatched_.end() ? it->second : unmatched_.find(std::string_view("OTHER"))->second;
}

void Metrics::AddCollector(std::function<void(std::string&)> collector) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collector));
}

uint64_t Metrics::RequestsTotal() const {
  std::lock_guard lock(mu_);
  uint64_t total = 0;
  for (const auto& [key, m] : routes_) total += m->count();
  return total;
}

std::string Metrics::Render() const {
  std::string requests, durations;
  std::lock_guard lock(mu_);
  for (const auto& [key, m] : routes_) m->Render(requests, durations);
  std::string out;
  out.reserve(requests.size() + durations.size() + 1024);
  out +=
      "# HELP kith_http_requests_total HTTP requests served, by route pattern, method and "
      "status.\n";
  out += "# TYPE kith_http_requests_total counter\n";
  out += requests;
  out +=
      "# HELP kith_http_request_duration_seconds Time from the request's first byte to the "
      "response written.\n";
  out += "# TYPE kith_http_request_duration_seconds histogram\n";
  out += durations;
  out += "# HELP kith_http_open_connections Open HTTP connections.\n";
  out += "# TYPE kith_http_open_connections gauge\n";
  out += "kith_http_open_connections " +
         std::to_string(open_connections.load(std::memory_order_relaxed)) + "\n";
  out += "# HELP kith_http_connections_total HTTP connections accepted.\n";
  out += "# TYPE kith_http_connections_total counter\n";
  out += "kith_http_connections_total " +
         std::to_string(connections_total.load(std::memory_order_relaxed)) + "\n";
  out +=
      "# HELP kith_http_connections_rejected_total Connections closed at once because "
      "limits.max_connections was reached.\n";
  out += "# TYPE kith_http_connections_rejected_total counter\n";
  out += "kith_http_connections_rejected_total " +
         std::to_string(connections_rejected.load(std::memory_order_relaxed)) + "\n";
  for (const auto& c : collectors_) c(out);
  return out;
}

}  // namespace kith::node
