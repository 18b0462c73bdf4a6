#include "federation/backoff.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <set>

#include "storage/clock.h"

namespace kith::federation {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr milliseconds kMin{500};
constexpr milliseconds kMax = std::chrono::duration_cast<milliseconds>(seconds(3600));

TEST(BackoffTest, CeilingDoublesFromTheMinimumUpToTheCap) {
  EXPECT_EQ(BackoffCeiling(0, kMin, kMax), milliseconds(0));
  EXPECT_EQ(BackoffCeiling(1, kMin, kMax), milliseconds(500));
  EXPECT_EQ(BackoffCeiling(2, kMin, kMax), milliseconds(1000));
  EXPECT_EQ(BackoffCeiling(3, kMin, kMax), milliseconds(2000));
  EXPECT_EQ(BackoffCeiling(13, kMin, kMax), milliseconds(500 << 12));  // 2048 s
  EXPECT_EQ(BackoffCeiling(14, kMin, kMax), kMax);                     // capped at one hour
  EXPECT_EQ(BackoffCeiling(1000000, kMin, kMax), kMax);                // never overflows
  EXPECT_EQ(BackoffCeiling(-3, kMin, kMax), milliseconds(0));
}

TEST(BackoffTest, FullJitterStaysWithinBounds) {
  for (int64_t failures : {1, 2, 5, 13, 14, 40}) {
    const milliseconds ceiling = BackoffCeiling(failures, kMin, kMax);
    std::set<int64_t> seen;
    for (int i = 0; i < 200; ++i) {
      const milliseconds d = BackoffDelay(failures, kMin, kMax, RandomBits());
      EXPECT_GE(d.count(), 0);
      EXPECT_LE(d, ceiling);
      EXPECT_LE(d, kMax);
      seen.insert(d.count());
    }
    EXPECT_GT(seen.size(), 1u) << "jitter spreads the retries";
  }
  // The extremes of the random input map to the extremes of the range.
  EXPECT_EQ(BackoffDelay(3, kMin, kMax, 0), milliseconds(0));
  EXPECT_EQ(BackoffDelay(3, kMin, kMax, 2000), milliseconds(2000));
  EXPECT_EQ(BackoffDelay(0, kMin, kMax, 12345), milliseconds(0));
}

TEST(BackoffTest, FailuresPostponeAndResetClears) {
  FakeClock clock;
  Backoff backoff;
  EXPECT_TRUE(backoff.Ready(clock.Steady()));
  const milliseconds first = backoff.Fail(clock.Steady(), kMin, kMax, 499);
  EXPECT_EQ(first, milliseconds(499));
  EXPECT_EQ(backoff.failures, 1);
  EXPECT_FALSE(backoff.Ready(clock.Steady()));
  clock.Advance(milliseconds(498));
  EXPECT_FALSE(backoff.Ready(clock.Steady()));
  clock.Advance(milliseconds(1));
  EXPECT_TRUE(backoff.Ready(clock.Steady()));

  for (int i = 0; i < 30; ++i) backoff.Fail(clock.Steady(), kMin, kMax, ~uint64_t{0});
  EXPECT_EQ(backoff.failures, 31);
  EXPECT_LE(backoff.next_attempt - clock.Steady(), kMax);
  EXPECT_FALSE(backoff.Ready(clock.Steady()));

  backoff.Reset();  // the peer contacted us
  EXPECT_EQ(backoff.failures, 0);
  EXPECT_TRUE(backoff.Ready(clock.Steady()));
}

}  // namespace
}  // namespace kith::federation
