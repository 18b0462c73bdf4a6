#include "identity/throttle.h"

#include <gtest/gtest.h>

namespace kith::identity {
namespace {

using std::chrono::seconds;

TEST(LoginThrottleTest, DelaysGrowAfterFreeFailuresAndAreCapped) {
  FakeClock clock;
  LoginThrottle throttle(clock);  // 5 free failures per account, 1 s base, 15 min cap
  for (int i = 0; i < 4; ++i) {
    EXPECT_FALSE(throttle.RetryAfter("alice", "").has_value());
    throttle.RecordFailure("alice", "");
  }
  EXPECT_FALSE(throttle.RetryAfter("alice", "").has_value());
  throttle.RecordFailure("alice", "");  // 5th
  EXPECT_EQ(throttle.RetryAfter("alice", ""), seconds(1));
  clock.Advance(seconds(1));
  EXPECT_FALSE(throttle.RetryAfter("alice", "").has_value());
  throttle.RecordFailure("alice", "");                      // 6th: 2 s
  EXPECT_EQ(throttle.RetryAfter("ALICE", ""), seconds(2));  // case-insensitive
  for (int i = 0; i < 30; ++i) throttle.RecordFailure("alice", "");
  EXPECT_EQ(throttle.RetryAfter("alice", ""), seconds(15 * 60));
  // Never a permanent lock-out.
  clock.Advance(seconds(15 * 60));
  EXPECT_FALSE(throttle.RetryAfter("alice", "").has_value());
  // Other accounts are not affected.
  EXPECT_FALSE(throttle.RetryAfter("bob", "").has_value());
}

TEST(LoginThrottleTest, AddressesHaveTheirOwnCounterAndSuccessDecays) {
  FakeClock clock;
  LoginThrottle::Options options;
  options.address_free_failures = 3;
  LoginThrottle throttle(clock, options);
  throttle.RecordFailure("a", "192.0.2.1");
  throttle.RecordFailure("b", "192.0.2.1");
  throttle.RecordFailure("c", "192.0.2.1");
  auto wait = throttle.RetryAfter("d", "192.0.2.1");
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, seconds(1));
  EXPECT_FALSE(throttle.RetryAfter("d", "192.0.2.2").has_value());
  // A success from the address halves its failures (3 -> 1): below the threshold again.
  throttle.RecordSuccess("a", "192.0.2.1");
  EXPECT_FALSE(throttle.RetryAfter("d", "192.0.2.1").has_value());
}

TEST(LoginThrottleTest, SuccessForgetsTheAccountAndOldEntriesExpire) {
  FakeClock clock;
  LoginThrottle throttle(clock);
  for (int i = 0; i < 8; ++i) throttle.RecordFailure("alice", "198.51.100.7");
  EXPECT_TRUE(throttle.RetryAfter("alice", "").has_value());
  throttle.RecordSuccess("alice", "");
  EXPECT_FALSE(throttle.RetryAfter("alice", "").has_value());
  for (int i = 0; i < 8; ++i) throttle.RecordFailure("carol", "");
  clock.Advance(seconds(24 * 3600));
  EXPECT_FALSE(throttle.RetryAfter("carol", "").has_value());
  throttle.RecordFailure("carol", "");  // counting starts again
  EXPECT_FALSE(throttle.RetryAfter("carol", "").has_value());
}

TEST(LoginThrottleTest, SizeIsBounded) {
  FakeClock clock;
  LoginThrottle::Options options;
  options.max_entries = 100;
  LoginThrottle throttle(clock, options);
  for (int i = 0; i < 1000; ++i) throttle.RecordFailure("user" + std::to_string(i), "");
  EXPECT_LE(throttle.size(), 100u);
  // The most recent entries are kept.
  for (int i = 0; i < 10; ++i) throttle.RecordFailure("user999", "");
  EXPECT_TRUE(throttle.RetryAfter("user999", "").has_value());
}

}  // namespace
}  // namespace kith::identity
