#include "federation/backoff.h"

#include <sodium.h>

#include <algorithm>
#include <cstdlib>

namespace kith::federation {

std::chrono::milliseconds BackoffCeiling(int64_t failures, std::chrono::milliseconds min_delay,
                                         std::chrono::milliseconds max_delay) {
  if (failures <= 0 || min_delay.count() <= 0) return std::chrono::milliseconds(0);
  int64_t ceiling = min_delay.count();
  for (int64_t i = 1; i < failures && ceiling < max_delay.count(); ++i) ceiling *= 2;
  return std::chrono::milliseconds(std::min(ceiling, max_delay.count()));
}

std::chrono::milliseconds BackoffDelay(int64_t failures, std::chrono::milliseconds min_delay,
                                       std::chrono::milliseconds max_delay, uint64_t random) {
  const int64_t ceiling = BackoffCeiling(failures, min_delay, max_delay).count();
  if (ceiling <= 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(static_cast<int64_t>(random % (uint64_t(ceiling) + 1)));
}

uint64_t RandomBits() {
  if (sodium_init() < 0) std::abort();  // libsodium cannot work at all
  uint64_t value = 0;
  randombytes_buf(&value, sizeof(value));
  return value;
}

}  // namespace kith::federation
