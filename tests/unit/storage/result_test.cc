#include "storage/result.h"

#include <gtest/gtest.h>

namespace kith {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return MakeError(ErrorCode::kInvalidArgument, "odd", "odd_number");
  return x / 2;
}

Status UseHalf(int x, int* out) {
  auto r = Half(x);
  if (!r.ok()) return r.error();
  *out = *r;
  return OkStatus();
}

TEST(ResultTest, CarriesValueOrError) {
  auto even = Half(4);
  ASSERT_TRUE(even.ok());
  EXPECT_EQ(*even, 2);
  auto odd = Half(3);
  ASSERT_FALSE(odd.ok());
  EXPECT_EQ(odd.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(odd.error().Name(), "odd_number");
  int out = 0;
  EXPECT_FALSE(UseHalf(5, &out).ok());
  EXPECT_TRUE(UseHalf(6, &out).ok());
  EXPECT_EQ(out, 3);
}

TEST(ResultTest, EveryCodeMapsToOneHttpStatus) {
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kMethodNotAllowed), 405);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kTooLarge), 413);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInternal), 500);
  EXPECT_EQ((Error{ErrorCode::kNotFound, "x", ""}.Name()), "not_found");
}

}  // namespace
}  // namespace kith
