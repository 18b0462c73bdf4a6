#include "identity/throttle.h"

#include <algorithm>
#include <cctype>

namespace kith::identity {

LoginThrottle::LoginThrottle(const Clock& clock, Options options)
    : clock_(clock), options_(options) {
  options_.max_entries = std::max<size_t>(options_.max_entries, 2);
  options_.account_free_failures = std::max(options_.account_free_failures, 1);
  options_.address_free_failures = std::max(options_.address_free_failures, 1);
}

std::string LoginThrottle::AccountKey(std::string_view account) {
  std::string key = "a:";
  for (char c : account.substr(0, 320))
    key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return key;
}

std::string LoginThrottle::AddressKey(std::string_view address) {
  return "i:" + std::string(address.substr(0, 64));
}

std::optional<std::chrono::seconds> LoginThrottle::WaitFor(
    const std::string& key, int free_failures, std::chrono::steady_clock::time_point now) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  Entry& entry = it->second;
  if (now - entry.last_failure >= options_.forget_after) {
    lru_.erase(entry.lru);
    entries_.erase(it);
    return std::nullopt;
  }
  if (entry.failures < free_failures) return std::nullopt;
  const int extra = std::min(entry.failures - free_failures, 30);
  auto delay = options_.base_delay * (int64_t{1} << extra);
  delay = std::min<std::chrono::seconds>(delay, options_.max_delay);
  const auto allowed_at = entry.last_failure + delay;
  if (now >= allowed_at) return std::nullopt;
  // Round up so "retry after" is never early.
  auto wait = std::chrono::ceil<std::chrono::seconds>(allowed_at - now);
  return std::max<std::chrono::seconds>(wait, std::chrono::seconds(1));
}

std::optional<std::chrono::seconds> LoginThrottle::RetryAfter(std::string_view account,
                                                              std::string_view address) {
  const auto now = clock_.Steady();
  std::lock_guard lock(mu_);
  std::optional<std::chrono::seconds> wait;
  if (!account.empty()) wait = WaitFor(AccountKey(account), options_.account_free_failures, now);
  if (!address.empty()) {
    auto by_address = WaitFor(AddressKey(address), options_.address_free_failures, now);
    if (by_address && (!wait || *by_address > *wait)) wait = by_address;
  }
  return wait;
}

void LoginThrottle::Fail(const std::string& key, std::chrono::steady_clock::time_point now) {
  auto it = entries_.find(key);
  if (it != entries_.end() && now - it->second.last_failure >= options_.forget_after) {
    it->second.failures = 0;
  }
  if (it == entries_.end()) {
    while (entries_.size() >= options_.max_entries) {
      entries_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.push_front(key);
    it = entries_.emplace(key, Entry{0, now, lru_.begin()}).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  it->second.failures = std::min(it->second.failures + 1, 1000);
  it->second.last_failure = now;
}

void LoginThrottle::RecordFailure(std::string_view account, std::string_view address) {
  const auto now = clock_.Steady();
  std::lock_guard lock(mu_);
  if (!account.empty()) Fail(AccountKey(account), now);
  if (!address.empty()) Fail(AddressKey(address), now);
}

void LoginThrottle::RecordSuccess(std::string_view account, std::string_view address) {
  std::lock_guard lock(mu_);
  if (!account.empty()) {
    if (auto it = entries_.find(AccountKey(account)); it != entries_.end()) {
      lru_.erase(it->second.lru);
      entries_.erase(it);
    }
  }
  if (!address.empty()) {
    if (auto it = entries_.find(AddressKey(address)); it != entries_.end()) {
      it->second.failures /= 2;
      if (it->second.failures == 0) {
        lru_.erase(it->second.lru);
        entries_.erase(it);
      }
    }
  }
}

size_t LoginThrottle::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace kith::identity
