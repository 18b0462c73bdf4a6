// Passwords: the rules a new password must meet, and Argon2id hashing (libsodium
// crypto_pwhash_str) on a small thread pool of its own, so that no I/O thread ever runs Argon2.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "storage/result.h"

namespace kith::identity {

// Passwords longer than this (in bytes) are refused before hashing, to bound the cost.
inline constexpr size_t kMaxPasswordBytes = 1024;
// At least this many Unicode code points.
inline constexpr size_t kMinPasswordCodePoints = 12;

// The number of code points in `text`, or nullopt when it is not valid UTF-8 (overlongs,
// surrogates and values above U+10FFFF are invalid).
std::optional<size_t> Utf8CodePoints(std::string_view text);

// Checks a new password: valid UTF-8, >= 12 code points, <= 1024 bytes, not equal to the
// handle, the email or the email's local part, and (case-insensitively) not containing any of
// them when that part is at least 4 characters long (a shorter one would forbid too much).
// kInvalidArgument with reason "weak_password" and a message for the member on failure.
Status CheckPasswordRules(std::string_view password, std::string_view handle,
                          std::string_view email);

// A string holding a secret (a password, a token) that is wiped when it dies. Move-only.
class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string_view text) : value_(text) {}
  SecretString(SecretString&& other) noexcept : value_(std::move(other.value_)) { other.Wipe(); }
  SecretString& operator=(SecretString&& other) noexcept;
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;
  ~SecretString() { Wipe(); }

  std::string_view view() const { return value_; }
  size_t size() const { return value_.size(); }
  bool empty() const { return value_.empty(); }

 private:
  void Wipe();
  std::string value_;
};

// Argon2id cost. Defaults to libsodium's INTERACTIVE limits.
struct PasswordHashParams {
  uint64_t opslimit;
  size_t memlimit;
  static PasswordHashParams Interactive();
  static PasswordHashParams Moderate();
  // The smallest libsodium accepts: for tests only.
  static PasswordHashParams Minimum();
};

// The outcome of a successful verification run.
struct PasswordCheck {
  bool matches = false;
  // The stored hash was made with other parameters than the hasher's current ones: hash the
  // password again and store it (only meaningful when matches).
  bool needs_rehash = false;
};

// Hashes and verifies passwords on its own threads.
//
// Every call returns at once; `done` runs later on one of the hasher's threads (keep it short:
// post back to your executor). When the queue is full, or the hasher is stopping, `done` runs
// at once on the caller's thread with kUnavailable (reason "busy"). Thread-safe.
class PasswordHasher {
 public:
  struct Options {
    PasswordHashParams params = PasswordHashParams::Interactive();
    size_t threads = 1;      // each Argon2id INTERACTIVE run uses 64 MiB while it runs
    size_t max_queue = 256;  // jobs waiting, beyond those running
  };

  explicit PasswordHasher(Options options);
  ~PasswordHasher();  // finishes running jobs; queued ones get kUnavailable
  PasswordHasher(const PasswordHasher&) = delete;
  PasswordHasher& operator=(const PasswordHasher&) = delete;

  // Hashes `password` ("$argon2id$..." string). kInvalidArgument for an empty or overlong
  // password, kInternal when Argon2 runs out of memory.
  void Hash(SecretString password, std::function<void(Result<std::string>)> done);

  // Verifies `password` against `stored_hash` in constant time (libsodium). An empty
  // `stored_hash` (unknown member, no password set) runs against a dummy hash and answers
  // matches=false, so that timing does not tell whether an account exists.
  void Verify(std::string stored_hash, SecretString password,
              std::function<void(Result<PasswordCheck>)> done);

  const PasswordHashParams& params() const { return options_.params; }
  size_t QueueDepth() const;

 private:
  void Enqueue(std::function<void()> work, std::function<void()> reject);
  void Run();
  const std::string& DummyHash();
  Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  struct Item {
    std::function<void()> work;
    std::function<void()> reject;
  };
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  std::once_flag dummy_once_;
  std::string dummy_hash_;
};

}  // namespace kith::identity
