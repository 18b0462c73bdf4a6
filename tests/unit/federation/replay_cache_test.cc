#include "federation/replay_cache.h"

#include <gtest/gtest.h>

namespace kith::federation {
namespace {

TEST(ReplayCache, RefusesSeenNonceUntilExpiry) {
  ReplayCache cache(10);
  EXPECT_TRUE(cache.CheckAndInsert("k", "n1", 1000, 900).ok());
  auto again = cache.CheckAndInsert("k", "n1", 1000, 950);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().reason, "replayed_nonce");
  EXPECT_EQ(cache.CheckAndInsert("k", "n1", 1000, 1000).error().reason, "replayed_nonce");
  // Same nonce from another key is a different entry; length-prefixing keeps pairs apart.
  EXPECT_TRUE(cache.CheckAndInsert("k2", "n1", 1000, 950).ok());
  EXPECT_TRUE(cache.CheckAndInsert("kn", "1", 1000, 950).ok());
  // After expiry the entry is gone (the signature itself would be refused as expired).
  EXPECT_TRUE(cache.CheckAndInsert("k", "n1", 2000, 1001).ok());
}

TEST(ReplayCache, FullCacheEvictsOnlyExpiredThenFailsClosed) {
  ReplayCache cache(3);
  ASSERT_TRUE(cache.CheckAndInsert("k", "a", 100, 0).ok());
  ASSERT_TRUE(cache.CheckAndInsert("k", "b", 200, 0).ok());
  ASSERT_TRUE(cache.CheckAndInsert("k", "c", 300, 0).ok());
  auto full = cache.CheckAndInsert("k", "d", 300, 50);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(full.error().reason, "replay_cache_full");
  // Live entries were kept: "a" is still a replay.
  EXPECT_EQ(cache.CheckAndInsert("k", "a", 100, 50).error().reason, "replayed_nonce");
  // Once "a" expired there is room again, and only "a" was dropped.
  EXPECT_TRUE(cache.CheckAndInsert("k", "d", 300, 150).ok());
  EXPECT_EQ(cache.CheckAndInsert("k", "b", 200, 150).error().reason, "replayed_nonce");
  EXPECT_LE(cache.size(), 3u);
}

}  // namespace
}  // namespace kith::federation
