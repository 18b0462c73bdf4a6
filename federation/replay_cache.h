// ReplayCache: remembers the (key id, nonce) pairs of accepted signatures until the signature
// expires, so that a captured federation message cannot be replayed inside its validity window.
//
// Memory is bounded: at most `capacity` entries, each a 16-byte digest of (kid, nonce) plus its
// expiry (about 80 bytes with container overhead). When the cache is full it first drops
// entries whose signature has expired; if every entry is still live it FAILS CLOSED — the new
// message is refused with kUnavailable/"replay_cache_full" (HTTP 503, the peer retries later)
// rather than evicting a live nonce, which would reopen the replay window. With the kith
// profile's maximum validity of 300 s plus 60 s skew, the default capacity of 1,048,576 covers
// a sustained ~2,900 accepted messages per second per node; raise it for busier nodes.
//
// Thread-safe: every method takes an internal mutex.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <queue>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "storage/result.h"

namespace kith::federation {

class ReplayCache {
 public:
  static constexpr size_t kDefaultCapacity = 1 << 20;

  explicit ReplayCache(size_t capacity = kDefaultCapacity);

  // Records (kid, nonce) as used until `expires_unix`. `now_unix` is the current time.
  // Errors: kUnauthenticated/"replayed_nonce" if the pair is already recorded and not expired;
  // kUnavailable/"replay_cache_full" if the cache is full of live entries (fail closed).
  Status CheckAndInsert(std::string_view kid, std::string_view nonce, int64_t expires_unix,
                        int64_t now_unix);

  // Number of entries currently held (expired ones may linger until the next sweep).
  size_t size() const;

 private:
  using Key = std::array<uint8_t, 16>;
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  void DropExpiredLocked(int64_t now_unix);

  const size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<Key, int64_t, KeyHash> expiry_;
  // Min-heap of (expiry, key) to find expired entries without scanning.
  std::priority_queue<std::pair<int64_t, Key>, std::vector<std::pair<int64_t, Key>>, std::greater<>>
      by_expiry_;
};

}  // namespace kith::federation
