#include "identity/oidc_keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "identity/jws.h"
#include "identity_test_util.h"

namespace kith::identity {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
using testing::Await;

class OidcKeysTest : public testing::StoreFixture {
 protected:
  std::shared_ptr<const SigningKey> eddsa_ = Ed25519SigningKey::Generate();
  FakeClock clock_;
};

TEST_F(OidcKeysTest, CreatesOneKeyWithAPrivateFileAndPublishesJwks) {
  auto first = OidcKeys::EnsureRsaKey(dir_.path(), *store_, clock_);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->status, "current");
  auto again = OidcKeys::EnsureRsaKey(dir_.path(), *store_, clock_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->kid, first->kid);

  const auto pem = OidcKeys::PemPath(dir_.path(), first->kid);
  struct stat st {};
  ASSERT_EQ(::stat(pem.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto set = OidcKeySet::Load(dir_.path(), *store_, eddsa_, clock_);
  ASSERT_TRUE(set.ok()) << set.error().message;
  const auto jwks = (*set)->Jwks();
  ASSERT_EQ(jwks["keys"].size(), 2u);
  EXPECT_EQ(jwks["keys"][0]["kty"], "RSA");
  EXPECT_EQ(jwks["keys"][0]["kid"], first->kid);
  EXPECT_EQ(jwks["keys"][0]["alg"], "RS256");
  EXPECT_EQ(jwks["keys"][1]["kty"], "OKP");
  EXPECT_EQ(jwks["keys"][1]["alg"], "EdDSA");

  // A relying party verifies tokens of both algorithms against the published JWKS.
  auto published = ParseJwks(jwks);
  ASSERT_TRUE(published.ok()) << published.error().message;
  for (auto alg : {JwsAlgorithm::kRS256, JwsAlgorithm::kEdDSA}) {
    const SigningKey* signer = (*set)->SignerFor(alg);
    ASSERT_NE(signer, nullptr);
    auto token = SignJws(*signer, R"({"sub":"x"})");
    ASSERT_TRUE(token.ok());
    EXPECT_TRUE(VerifyJwsWithKeys(*token, *published).ok()) << JwsAlgorithmName(alg);
  }
  EXPECT_EQ((*set)->SignerFor(JwsAlgorithm::kES256), nullptr);
}

TEST_F(OidcKeysTest, RotationKeepsTheOldKeyPublishedUntilNotAfter) {
  auto first = OidcKeys::EnsureRsaKey(dir_.path(), *store_, clock_);
  ASSERT_TRUE(first.ok());
  auto before = OidcKeySet::Load(dir_.path(), *store_, nullptr, clock_);
  ASSERT_TRUE(before.ok());
  auto old_token = SignJws(*(*before)->SignerFor(JwsAlgorithm::kRS256), "{}");
  ASSERT_TRUE(old_token.ok());

  auto second = Await<OidcKeyInfo>(
      [&](Done<OidcKeyInfo> d) { OidcKeys::Rotate(dir_.path(), *store_, clock_, hours(24), d); });
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_NE(second->kid, first->kid);

  auto after = OidcKeySet::Load(dir_.path(), *store_, nullptr, clock_);
  ASSERT_TRUE(after.ok()) << after.error().message;
  EXPECT_EQ((*after)->SignerFor(JwsAlgorithm::kRS256)->kid(), second->kid);
  ASSERT_EQ((*after)->published().size(), 2u);
  EXPECT_EQ((*after)->published()[0].kid(), second->kid);
  EXPECT_EQ((*after)->published()[1].kid(), first->kid);
  EXPECT_TRUE(VerifyJwsWithKeys(*old_token, (*after)->published()).ok());

  auto list = OidcKeys::List(*store_);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].status, "retiring");
  EXPECT_EQ((*list)[1].not_after, clock_.UnixSeconds() + 24 * 3600);

  // After the overlap the old key is no longer published, and can be purged with its file.
  clock_.Advance(hours(24) + seconds(1));
  auto later = OidcKeySet::Load(dir_.path(), *store_, nullptr, clock_);
  ASSERT_TRUE(later.ok());
  ASSERT_EQ((*later)->published().size(), 1u);
  EXPECT_FALSE(VerifyJwsWithKeys(*old_token, (*later)->published()).ok());
  auto purged = Await<int64_t>(
      [&](Done<int64_t> d) { OidcKeys::PurgeExpired(dir_.path(), *store_, clock_, d); });
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 1);
  EXPECT_FALSE(std::filesystem::exists(OidcKeys::PemPath(dir_.path(), first->kid)));
  EXPECT_TRUE(std::filesystem::exists(OidcKeys::PemPath(dir_.path(), second->kid)));
}

TEST_F(OidcKeysTest, LoadRefusesMissingKeysAndLooseFileModes) {
  auto none = OidcKeySet::Load(dir_.path(), *store_, nullptr, clock_);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);

  auto key = OidcKeys::EnsureRsaKey(dir_.path(), *store_, clock_);
  ASSERT_TRUE(key.ok());
  const auto pem = OidcKeys::PemPath(dir_.path(), key->kid);
  ASSERT_EQ(::chmod(pem.c_str(), 0644), 0);
  auto loose = OidcKeySet::Load(dir_.path(), *store_, nullptr, clock_);
  ASSERT_FALSE(loose.ok());
  EXPECT_NE(loose.error().message.find("0600"), std::string::npos);
  EXPECT_NE(loose.error().message.find(pem.string()), std::string::npos);

  std::filesystem::remove(pem);
  auto missing = OidcKeySet::Load(dir_.path(), *store_, nullptr, clock_);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find(pem.string()), std::string::npos);

  auto negative = Await<OidcKeyInfo>(
      [&](Done<OidcKeyInfo> d) { OidcKeys::Rotate(dir_.path(), *store_, clock_, seconds(-1), d); });
  EXPECT_FALSE(negative.ok());
}

}  // namespace
}  // namespace kith::identity
