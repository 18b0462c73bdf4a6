#include "federation/replay_cache.h"

#include <sodium.h>

#include <cstring>
#include <string>

namespace kith::federation {

size_t ReplayCache::KeyHash::operator()(const Key& k) const {
  size_t h;
  std::memcpy(&h, k.data(), sizeof(h));  // the key is already a uniform hash
  return h;
}

ReplayCache::ReplayCache(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {
  if (sodium_init() < 0) std::abort();  // libsodium cannot work at all; nothing to recover
}

Status ReplayCache::CheckAndInsert(std::string_view kid, std::string_view nonce,
                                   int64_t expires_unix, int64_t now_unix) {
  // Digest of the length-prefixed pair, so that ("ab","c") and ("a","bc") differ.
  Key key{};
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, key.size());
  const uint64_t kid_len = kid.size();
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(&kid_len),
                            sizeof(kid_len));
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(kid.data()), kid.size());
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(nonce.data()),
                            nonce.size());
  crypto_generichash_final(&state, key.data(), key.size());

  std::lock_guard lock(mu_);
  auto it = expiry_.find(key);
  if (it != expiry_.end()) {
    if (it->second >= now_unix) {
      return MakeError(ErrorCode::kUnauthenticated, "nonce already used by key " + std::string(kid),
                       "replayed_nonce");
    }
    it->second = expires_unix;  // the old entry had expired; reuse its slot
    by_expiry_.emplace(expires_unix, key);
    return OkStatus();
  }
  if (expiry_.size() >= capacity_) DropExpiredLocked(now_unix);
  if (expiry_.size() >= capacity_) {
    return MakeError(ErrorCode::kUnavailable,
                     "replay cache is full of unexpired nonces; retry later", "replay_cache_full");
  }
  expiry_.emplace(key, expires_unix);
  by_expiry_.emplace(expires_unix, key);
  // Sweep a little on every insert so that expired entries do not pile up.
  DropExpiredLocked(now_unix);
  return OkStatus();
}

void ReplayCache::DropExpiredLocked(int64_t now_unix) {
  while (!by_expiry_.empty() && by_expiry_.top().first < now_unix) {
    const auto [expires, key] = by_expiry_.top();
    by_expiry_.pop();
    auto it = expiry_.find(key);
    // A heap entry may be stale when the slot was reused with a later expiry.
    if (it != expiry_.end() && it->second == expires) expiry_.erase(it);
  }
}

size_t ReplayCache::size() const {
  std::lock_guard lock(mu_);
  return expiry_.size();
}

}  // namespace kith::federation
