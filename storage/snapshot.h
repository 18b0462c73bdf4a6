// Snapshot<T>: a shared, immutable value that can be replaced while readers use it — the
// node's keyring after a key rotation, the OIDC key set. Readers take a shared_ptr and keep
// using their copy; a writer installs a new one with Set. Old values live until their last
// reader drops them.
//
// Thread-safety: Get and Set may be called from any thread at once (one mutex, held only to
// copy a shared_ptr).
#pragma once

#include <memory>
#include <mutex>
#include <utility>

namespace kith::storage {

template <class T>
class Snapshot {
 public:
  explicit Snapshot(std::shared_ptr<const T> value) : value_(std::move(value)) {}
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  // The current value (may be null only if null was installed).
  std::shared_ptr<const T> Get() const {
    std::lock_guard lock(mu_);
    return value_;
  }

  // Installs a new value; readers holding the old one keep it until they drop it.
  void Set(std::shared_ptr<const T> value) {
    std::lock_guard lock(mu_);
    value_.swap(value);
    // `value` (the old one) is released after the lock, outside the critical section.
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const T> value_;
};

}  // namespace kith::storage
