#include "federation/content_digest.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

namespace kith::federation {
namespace {

nlohmann::json LoadVectors() {
  std::ifstream in(std::string(KITH_VECTORS_DIR) + "/rfc9530-content-digest.json");
  return nlohmann::json::parse(in);
}

TEST(ContentDigest, ProducesAndVerifiesPublishedVectors) {
  auto vectors = LoadVectors();
  size_t count = 0;
  for (const auto& c : vectors.at("cases")) {
    const std::string body = c.at("body").get<std::string>();
    const std::string sha256 = c.at("content_digest_sha256").get<std::string>();
    EXPECT_EQ(ContentDigestSha256(body), sha256);
    EXPECT_TRUE(VerifyContentDigest(sha256, body).ok());
    if (c.contains("content_digest_sha512")) {
      const std::string sha512 = c.at("content_digest_sha512").get<std::string>();
      EXPECT_EQ(ContentDigestSha512(body), sha512);
      EXPECT_TRUE(VerifyContentDigest(sha512, body).ok());
      EXPECT_TRUE(VerifyContentDigest(sha256 + ", " + sha512, body).ok());
    }
    ++count;
  }
  EXPECT_GE(count, 3u);
}

TEST(ContentDigest, RejectsWrongBody) {
  auto s = VerifyContentDigest(ContentDigestSha256("abc"), "abd");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(s.error().reason, "digest_mismatch");
}

TEST(ContentDigest, IgnoresUnknownAlgorithmsButNeedsOneKnown) {
  const std::string good = ContentDigestSha256("x");
  EXPECT_TRUE(VerifyContentDigest("md5=:AAAA:, " + good, "x").ok());
  auto s = VerifyContentDigest("md5=:AAAA:", "x");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().reason, "unsupported_digest");
}

TEST(ContentDigest, RejectsMalformedFields) {
  EXPECT_EQ(VerifyContentDigest("sha-256=abc", "x").error().reason, "malformed_digest");
  EXPECT_EQ(VerifyContentDigest("sha-256=:AAA", "x").error().reason, "malformed_digest");
  EXPECT_EQ(VerifyContentDigest("", "x").error().reason, "unsupported_digest");
  // One good, one bad supported digest: the bad one fails the whole field.
  EXPECT_EQ(VerifyContentDigest(ContentDigestSha256("x") + ", " + ContentDigestSha512("y"), "x")
                .error()
                .reason,
            "digest_mismatch");
}

}  // namespace
}  // namespace kith::federation
