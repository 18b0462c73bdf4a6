// LoginThrottle: growing delays after failed sign-ins, per account and per client address.
//
// After `free_failures` consecutive failures a key must wait base_delay * 2^(extra failures),
// capped at max_delay (15 minutes by default): there is never a permanent lock-out, and the
// answer always says when to try again. A success forgets the account's failures and halves
// the address's. An entry idle for `forget_after` is dropped.
//
// State is in memory only, bounded by max_entries (the least recently failed entry is evicted
// first) and does NOT survive a restart: a restart forgives every delay. That is a deliberate
// trade: persisting would cost a database write on every failed attempt (a cheap way to load
// the writer), and an attacker gains at most `free_failures` extra guesses per restart of the
// node, which an operator notices. Accounts are keyed case-insensitively (lower-case handle).
//
// Thread-safe (one mutex). The Clock's steady time is used, so tests advance a FakeClock.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "storage/clock.h"

namespace kith::identity {

class LoginThrottle {
 public:
  struct Options {
    int account_free_failures = 5;   // failures allowed per account before delays start
    int address_free_failures = 20;  // per address (higher: many members share a NAT)
    std::chrono::seconds base_delay{1};
    std::chrono::seconds max_delay{15 * 60};
    std::chrono::seconds forget_after{24 * 3600};
    size_t max_entries = 100'000;
  };

  LoginThrottle(const Clock& clock, Options options);
  explicit LoginThrottle(const Clock& clock) : LoginThrottle(clock, Options{}) {}

  // How long the caller must wait before trying `account` from `address` again; nullopt when
  // an attempt is allowed now. Either key may be empty (not checked).
  std::optional<std::chrono::seconds> RetryAfter(std::string_view account,
                                                 std::string_view address);

  // Records a failed attempt (wrong password, unknown account) for both keys.
  void RecordFailure(std::string_view account, std::string_view address);

  // Records a successful sign-in: the account's failures are forgotten, the address's halved.
  void RecordSuccess(std::string_view account, std::string_view address);

  // Entries currently held (for metrics and tests).
  size_t size() const;

 private:
  struct Entry {
    int failures = 0;
    std::chrono::steady_clock::time_point last_failure;
    std::list<std::string>::iterator lru;
  };
  std::optional<std::chrono::seconds> WaitFor(const std::string& key, int free_failures,
                                              std::chrono::steady_clock::time_point now);
  void Fail(const std::string& key, std::chrono::steady_clock::time_point now);
  static std::string AccountKey(std::string_view account);
  static std::string AddressKey(std::string_view address);

  const Clock& clock_;
  Options options_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // front: most recently failed
};

}  // namespace kith::identity
