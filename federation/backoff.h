// Backoff: when to try a peer again after failed deliveries (docs/federation.md, "Streams",
// delivery rules). Exponential with full jitter: after `failures` consecutive failures the next
// attempt waits a uniformly random time in [0, min(max, min_delay * 2^(failures-1))]; no wait
// after zero failures. A successful exchange, or any verified request from the peer
// (Replicator::NotePeerContact), resets it.
//
// Pure functions and a small value type; not thread-safe (the owner locks).
#pragma once

#include <chrono>
#include <cstdint>

namespace kith::federation {

// The upper bound of the wait after `failures` failures: min(max, min_delay * 2^(failures-1)),
// 0 for failures <= 0. Never overflows.
std::chrono::milliseconds BackoffCeiling(int64_t failures, std::chrono::milliseconds min_delay,
                                         std::chrono::milliseconds max_delay);

// A wait in [0, BackoffCeiling(...)] chosen by `random` (any 64-bit value, e.g. from
// randombytes): full jitter.
std::chrono::milliseconds BackoffDelay(int64_t failures, std::chrono::milliseconds min_delay,
                                       std::chrono::milliseconds max_delay, uint64_t random);

// 64 random bits (libsodium).
uint64_t RandomBits();

// Per-peer retry state: consecutive failures and the earliest next attempt (steady time).
struct Backoff {
  int64_t failures = 0;
  std::chrono::steady_clock::time_point next_attempt{};

  // Records a failure at `now`; returns the chosen wait.
  std::chrono::milliseconds Fail(std::chrono::steady_clock::time_point now,
                                 std::chrono::milliseconds min_delay,
                                 std::chrono::milliseconds max_delay, uint64_t random) {
    ++failures;
    const auto wait = BackoffDelay(failures, min_delay, max_delay, random);
    next_attempt = now + wait;
    return wait;
  }
  void Reset() {
    failures = 0;
    next_attempt = {};
  }
  bool Ready(std::chrono::steady_clock::time_point now) const { return now >= next_attempt; }
};

}  // namespace kith::federation
