#include "identity/password.h"

#include <gtest/gtest.h>

#include <future>
#include <memory>

#include "identity_test_util.h"

namespace kith::identity {
namespace {

using testing::Await;

PasswordHasher::Options Fast() {
  PasswordHasher::Options options;
  options.params = PasswordHashParams::Minimum();
  options.threads = 2;
  return options;
}

TEST(PasswordRulesTest, EnforcesLengthAndPersonalParts) {
  EXPECT_TRUE(CheckPasswordRules("correct horse battery", "alice", "alice@example.org").ok());
  auto short_pw = CheckPasswordRules("elevenchars", "alice", "alice@example.org");
  ASSERT_FALSE(short_pw.ok());
  EXPECT_EQ(short_pw.error().reason, "weak_password");
  // Twelve code points in more than twelve bytes is fine; eleven is not.
  EXPECT_TRUE(CheckPasswordRules("ééééééééééééé", "bob", "bob@example.org").ok());
  EXPECT_FALSE(CheckPasswordRules("ééééééééééé", "bob", "bob@example.org").ok());
  EXPECT_FALSE(CheckPasswordRules("my-AliceSmith-pass", "alicesmith", "x@example.org").ok());
  EXPECT_FALSE(CheckPasswordRules("alice.smith@example.org", "as", "alice.smith@example.org").ok());
  EXPECT_FALSE(CheckPasswordRules("xx alice.smith xx", "as", "Alice.Smith@example.org").ok());
  // A very short handle is not a substring rule (it would forbid too much), only equality.
  EXPECT_TRUE(CheckPasswordRules("a long passphrase here", "a", "a@example.org").ok());
  EXPECT_FALSE(CheckPasswordRules(std::string(kMaxPasswordBytes + 1, 'x'), "a", "b@c.de").ok());
  EXPECT_FALSE(CheckPasswordRules("bad utf8 \xff\xfe here", "a", "b@c.de").ok());
}

TEST(Utf8Test, CountsCodePointsAndRejectsInvalid) {
  EXPECT_EQ(Utf8CodePoints("abc"), 3u);
  EXPECT_EQ(Utf8CodePoints("é€😀"), 3u);
  EXPECT_FALSE(Utf8CodePoints("\xC0\xAF").has_value());      // overlong
  EXPECT_FALSE(Utf8CodePoints("\xED\xA0\x80").has_value());  // surrogate
  EXPECT_FALSE(Utf8CodePoints("\xE2\x82").has_value());      // truncated
}

TEST(PasswordHasherTest, HashesAndVerifiesOffTheCallersThread) {
  PasswordHasher hasher(Fast());
  const auto caller = std::this_thread::get_id();
  std::thread::id worker;
  auto hash = Await<std::string>([&](Done<std::string> done) {
    hasher.Hash(SecretString("correct horse battery"), [&, done](Result<std::string> r) {
      worker = std::this_thread::get_id();
      done(std::move(r));
    });
  });
  ASSERT_TRUE(hash.ok()) << hash.error().message;
  EXPECT_NE(worker, caller);
  EXPECT_EQ(hash->rfind("$argon2id$", 0), 0u);

  auto good = Await<PasswordCheck>([&](Done<PasswordCheck> done) {
    hasher.Verify(*hash, SecretString("correct horse battery"), done);
  });
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(good->matches);
  EXPECT_FALSE(good->needs_rehash);

  auto bad = Await<PasswordCheck>([&](Done<PasswordCheck> done) {
    hasher.Verify(*hash, SecretString("wrong horse battery"), done);
  });
  ASSERT_TRUE(bad.ok());
  EXPECT_FALSE(bad->matches);

  // No stored hash: runs against the dummy, never matches.
  auto unknown = Await<PasswordCheck>([&](Done<PasswordCheck> done) {
    hasher.Verify("", SecretString("correct horse battery"), done);
  });
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(unknown->matches);

  // A garbage stored hash does not match and does not crash.
  auto garbage = Await<PasswordCheck>([&](Done<PasswordCheck> done) {
    hasher.Verify("$argon2id$nonsense", SecretString("correct horse battery"), done);
  });
  ASSERT_TRUE(garbage.ok());
  EXPECT_FALSE(garbage->matches);
}

TEST(PasswordHasherTest, ReportsNeedsRehashWhenParametersChange) {
  std::string old_hash;
  {
    PasswordHasher weak(Fast());
    auto hash = Await<std::string>(
        [&](Done<std::string> done) { weak.Hash(SecretString("correct horse battery"), done); });
    ASSERT_TRUE(hash.ok());
    old_hash = *hash;
  }
  auto options = Fast();
  options.params.opslimit += 1;
  PasswordHasher stronger(options);
  auto check = Await<PasswordCheck>([&](Done<PasswordCheck> done) {
    stronger.Verify(old_hash, SecretString("correct horse battery"), done);
  });
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->matches);
  EXPECT_TRUE(check->needs_rehash);
}

TEST(PasswordHasherTest, FullQueueAnswersBusyAtOnce) {
  auto options = Fast();
  options.max_queue = 0;
  PasswordHasher hasher(options);
  auto result = Await<std::string>(
      [&](Done<std::string> done) { hasher.Hash(SecretString("correct horse battery"), done); });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kUnavailable);
  auto empty =
      Await<std::string>([&](Done<std::string> done) { hasher.Hash(SecretString(), done); });
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
}

TEST(SecretStringTest, MovesAndEmpties) {
  SecretString a("secret");
  SecretString b(std::move(a));
  EXPECT_EQ(b.view(), "secret");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): moved-from is defined empty
  SecretString c;
  c = std::move(b);
  EXPECT_EQ(c.view(), "secret");
}

}  // namespace
}  // namespace kith::identity
