// An injectable clock, so that tests never sleep: production code takes a Clock&,
// tests pass a FakeClock and advance it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace kith {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time (for timestamps on the wire and in the database).
  virtual std::chrono::system_clock::time_point Now() const = 0;
  // Monotonic time (for timeouts and rate limits).
  virtual std::chrono::steady_clock::time_point Steady() const = 0;

  // Seconds since the Unix epoch.
  int64_t UnixSeconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(Now().time_since_epoch()).count();
  }
};

// The real clocks. Thread-safe.
class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::now();
  }
  std::chrono::steady_clock::time_point Steady() const override {
    return std::chrono::steady_clock::now();
  }
  // A process-wide instance.
  static SystemClock& Instance() {
    static SystemClock clock;
    return clock;
  }
};

// A clock that moves only when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t unix_seconds = 1'700'000'000) : micros_(unix_seconds * 1'000'000) {}
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(std::chrono::microseconds(micros_.load()));
  }
  std::chrono::steady_clock::time_point Steady() const override {
    return std::chrono::steady_clock::time_point(std::chrono::microseconds(micros_.load()));
  }
  void Advance(std::chrono::microseconds d) { micros_ += d.count(); }
  void SetUnixSeconds(int64_t s) { micros_ = s * 1'000'000; }

 private:
  std::atomic<int64_t> micros_;
};

}  // namespace kith
