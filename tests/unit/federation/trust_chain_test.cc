#include "federation/trust_chain.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "identity/node_keys.h"
#include "tests/support/statement_fixture.h"

namespace kith::federation {
namespace {

using testing::FederationFixture;
using testing::StatementOptions;

const std::string kUk = "https://is.example/networks/uk";
const std::string kScot = "https://is.example/networks/scot";
const std::string kFife = "https://fife.gov.scot";
const std::string kLga = "https://lga.gov.uk";

class TrustChainTest : public ::testing::Test {
 protected:
  TrustChainTest() : fed_(clock_) {
    fed_.AddNetwork(kUk);
    fed_.AddNetwork(kScot, {kUk});
    fed_.AddLeaf(kFife, {kScot});
    fed_.AddLeaf(kLga, {kUk});
    fed_.Enrol(kUk, kScot);
    fed_.Enrol(kScot, kFife);
    fed_.Enrol(kUk, kLga);
  }

  std::vector<TrustAnchor> Anchors() const { return {fed_.Anchor(kUk)}; }

  // The chain leaf -> anchor for LGA, or leaf -> scot -> uk for Fife.
  std::vector<std::string> LgaChain() const {
    return {fed_.Configuration(kLga), fed_.Subordinate(kUk, kLga), fed_.Configuration(kUk)};
  }
  std::vector<std::string> FifeChain() const {
    return {fed_.Configuration(kFife), fed_.Subordinate(kScot, kFife), fed_.Subordinate(kUk, kScot),
            fed_.Configuration(kUk)};
  }

  void ExpectRefused(const std::vector<std::string>& chain, const std::string& needle,
                     const std::vector<TrustAnchor>& anchors) {
    auto verified = VerifyTrustChain(chain, anchors, clock_);
    ASSERT_FALSE(verified.ok()) << "accepted; wanted " << needle;
    EXPECT_NE(verified.error().message.find(needle), std::string::npos) << verified.error().message;
  }
  void ExpectRefused(const std::vector<std::string>& chain, const std::string& needle) {
    ExpectRefused(chain, needle, Anchors());
  }

  FakeClock clock_{1'700'000'000};
  FederationFixture fed_;
};

TEST_F(TrustChainTest, VerifiesLeafToAnchor) {
  auto chain = VerifyTrustChain(LgaChain(), Anchors(), clock_);
  ASSERT_TRUE(chain.ok()) << chain.error().message;
  EXPECT_EQ(chain->subject, kLga);
  EXPECT_EQ(chain->anchor, kUk);
  EXPECT_EQ(chain->superiors, std::vector<std::string>{kUk});
  EXPECT_EQ(chain->expires_at, clock_.UnixSeconds() + 86400);
  ASSERT_EQ(chain->subject_keys.size(), 1u);
  EXPECT_EQ(chain->subject_keys[0].kid(), fed_.entity(kLga).key->kid());
  EXPECT_EQ(chain->subject_configuration.metadata["kith_node"]["name"], kLga);
  EXPECT_EQ(chain->statements.size(), 3u);
}

TEST_F(TrustChainTest, VerifiesThroughAnIntermediate) {
  auto chain = VerifyTrustChain(FifeChain(), Anchors(), clock_);
  ASSERT_TRUE(chain.ok()) << chain.error().message;
  EXPECT_EQ(chain->superiors, (std::vector<std::string>{kScot, kUk}));
}

TEST_F(TrustChainTest, ExpiresAtTheEarliestStatement) {
  auto chain = FifeChain();
  chain[2] = fed_.Subordinate(kUk, kScot, {.lifetime = 3600});
  auto verified = VerifyTrustChain(chain, Anchors(), clock_);
  ASSERT_TRUE(verified.ok()) << verified.error().message;
  EXPECT_EQ(verified->expires_at, clock_.UnixSeconds() + 3600);
}

TEST_F(TrustChainTest, ForgedStatementIsRefused) {
  auto other = identity::Ed25519SigningKey::Generate();
  auto chain = LgaChain();
  chain[1] = fed_.Subordinate(kUk, kLga, {.sign_with = other.get()});
  ExpectRefused(chain, "statement 1 (" + kUk + " about " + kLga + ")");
  ExpectRefused(chain, "unknown key");
}

TEST_F(TrustChainTest, ExpiredStatementIsNamed) {
  auto chain = FifeChain();
  chain[1] = fed_.Subordinate(kScot, kFife, {.iat_offset = -7200, .lifetime = 3600});
  ExpectRefused(chain, "statement 1 (" + kScot + " about " + kFife + "): expired");
  chain = FifeChain();
  chain[3] = fed_.Configuration(kUk, {.iat_offset = 7200});
  ExpectRefused(chain, "issued in the future");
}

TEST_F(TrustChainTest, SubMismatchIsRefused) {
  // A statement about another entity (LGA) in Fife's chain.
  auto chain = FifeChain();
  chain[1] = fed_.Subordinate(kScot, kLga);
  ExpectRefused(chain, "sub mismatch");
}

TEST_F(TrustChainTest, LeafKeyNotListedBySuperiorIsRefused) {
  auto stranger = identity::Ed25519SigningKey::Generate();
  auto chain = LgaChain();
  // The superior vouches for another key than the one the leaf signs with.
  chain[1] = fed_.Subordinate(kUk, kLga, {.jwks = std::vector{stranger->public_jwk()}});
  ExpectRefused(chain, "statement 0");
  ExpectRefused(chain, "not signed by a key the superior's statement about the leaf lists");
}

TEST_F(TrustChainTest, AnchorProblems) {
  // Not a trusted anchor at all.
  ExpectRefused(LgaChain(), "untrusted anchor", {});
  ExpectRefused(LgaChain(), "untrusted anchor", {fed_.Anchor(kScot)});
  // Trusted, but pinned to another key.
  auto other = identity::Ed25519SigningKey::Generate();
  ExpectRefused(LgaChain(), "fingerprint mismatch",
                {{kUk, identity::Fingerprint(*other->public_jwk().ed25519())}});
  // The anchor configuration lists the pinned key but is signed by another one it also lists.
  auto chain = LgaChain();
  chain[2] = fed_.Configuration(
      kUk, {.sign_with = other.get(),
            .jwks = std::vector{fed_.entity(kUk).key->public_jwk(), other->public_jwk()}});
  ExpectRefused(chain, "pinned key");
}

TEST_F(TrustChainTest, LoopsAndLengthAreRefused) {
  // scot -> uk -> scot: scot twice.
  auto chain = FifeChain();
  chain.insert(chain.begin() + 3, fed_.Subordinate(kScot, kUk));
  chain.back() = fed_.Configuration(kScot);
  ExpectRefused(chain, "loop", {fed_.Anchor(kScot)});
  // Longer than max_superiors: a chain of 3 superiors with max_superiors 1.
  ResolveOptions options;
  options.max_superiors = 1;
  auto verified = VerifyTrustChain(FifeChain(), Anchors(), clock_, options);
  ASSERT_FALSE(verified.ok());
  EXPECT_NE(verified.error().message.find("max_superiors"), std::string::npos);
  ExpectRefused({fed_.Configuration(kUk)}, "at least 3 statements");
}

TEST_F(TrustChainTest, MaxPathLength) {
  // uk says about scot: no intermediates below scot. Fife is directly below: fine.
  auto chain = FifeChain();
  chain[2] = fed_.Subordinate(kUk, kScot, {.constraints = Constraints{0, std::nullopt}});
  EXPECT_TRUE(VerifyTrustChain(chain, Anchors(), clock_).ok());
  // A deeper tree: uk -> scot -> fife-net -> leaf, with max_path_length 0 on scot.
  const std::string kFifeNet = "https://fife.gov.scot/networks/schools";
  const std::string kSchool = "https://school.fife.gov.scot";
  fed_.AddNetwork(kFifeNet, {kScot});
  fed_.AddLeaf(kSchool, {kFifeNet});
  std::vector<std::string> deep = {
      fed_.Configuration(kSchool), fed_.Subordinate(kFifeNet, kSchool),
      fed_.Subordinate(kScot, kFifeNet),
      fed_.Subordinate(kUk, kScot, {.constraints = Constraints{1, {}}}), fed_.Configuration(kUk)};
  EXPECT_TRUE(VerifyTrustChain(deep, Anchors(), clock_).ok());
  deep[3] = fed_.Subordinate(kUk, kScot, {.constraints = Constraints{0, {}}});
  ExpectRefused(deep, "max_path_length 0 violated");
}

TEST_F(TrustChainTest, NamingConstraints) {
  auto chain = FifeChain();
  chain[2] = fed_.Subordinate(
      kUk, kScot, {.constraints = Constraints{std::nullopt, NamingConstraints{{".gov.scot"}, {}}}});
  EXPECT_TRUE(VerifyTrustChain(chain, Anchors(), clock_).ok());
  chain[2] = fed_.Subordinate(
      kUk, kScot, {.constraints = Constraints{std::nullopt, NamingConstraints{{".gov.uk"}, {}}}});
  ExpectRefused(chain, "naming constraints violated by " + kFife);
  chain[2] = fed_.Subordinate(
      kUk, kScot,
      {.constraints = Constraints{std::nullopt, NamingConstraints{{}, {"fife.gov.scot"}}}});
  ExpectRefused(chain, "naming constraints violated");
}

TEST_F(TrustChainTest, BadEntityIdsAreRefused) {
  ResolveOptions options;
  auto chain = LgaChain();
  chain[1] = fed_.Subordinate(kUk, kLga, {.edit = [](EntityStatement& s) { s.sub += "/"; }});
  ExpectRefused(chain, "trailing slash");
  chain[1] = fed_.Subordinate(kUk, kLga, {.edit = [](EntityStatement& s) { s.sub += "?a=b"; }});
  ExpectRefused(chain, "has a query");
  chain[1] = fed_.Subordinate(kUk, kLga, {.edit = [](EntityStatement& s) { s.sub += "#frag"; }});
  ExpectRefused(chain, "has a fragment");
  // http entities only when allowed.
  FederationFixture local(clock_);
  local.AddNetwork("http://127.0.0.1:8401/networks/uk");
  local.AddLeaf("http://127.0.0.1:8402");
  std::vector<std::string> http_chain = {
      local.Configuration("http://127.0.0.1:8402"),
      local.Subordinate("http://127.0.0.1:8401/networks/uk", "http://127.0.0.1:8402"),
      local.Configuration("http://127.0.0.1:8401/networks/uk")};
  const std::vector<TrustAnchor> anchors = {local.Anchor("http://127.0.0.1:8401/networks/uk")};
  ExpectRefused(http_chain, "https required", anchors);
  options.check.allow_http = true;
  EXPECT_TRUE(VerifyTrustChain(http_chain, anchors, clock_, options).ok());
}

// --- Resolver ---

TEST_F(TrustChainTest, ResolvesLeafToAnchor) {
  TrustChainResolver resolver(fed_.fetcher(), Anchors(), clock_);
  auto chain = resolver.Resolve(kLga);
  ASSERT_TRUE(chain.ok()) << chain.error().message;
  EXPECT_EQ(chain->anchor, kUk);
  EXPECT_EQ(chain->superiors, std::vector<std::string>{kUk});
  // Leaf configuration, anchor configuration, statement about the leaf.
  EXPECT_EQ(resolver.fetches(), 3u);
}

TEST_F(TrustChainTest, ResolvesThroughAnIntermediate) {
  TrustChainResolver resolver(fed_.fetcher(), Anchors(), clock_);
  auto chain = resolver.Resolve(kFife);
  ASSERT_TRUE(chain.ok()) << chain.error().message;
  EXPECT_EQ(chain->superiors, (std::vector<std::string>{kScot, kUk}));
  EXPECT_EQ(chain->statements.size(), 4u);
}

TEST_F(TrustChainTest, FirstHintBadSecondGood) {
  // A leaf in two networks; the first (scot) no longer vouches for it (404), uk does.
  const std::string kDual = "https://dual.gov.scot";
  fed_.AddLeaf(kDual, {kScot, kUk});
  fed_.Enrol(kUk, kDual);
  TrustChainResolver resolver(fed_.fetcher(), Anchors(), clock_);
  auto chain = resolver.Resolve(kDual);
  ASSERT_TRUE(chain.ok()) << chain.error().message;
  EXPECT_EQ(chain->superiors, std::vector<std::string>{kUk});
  // First hint good and forged: still falls through to the second.
  auto other = identity::Ed25519SigningKey::Generate();
  fed_.PublishSubordinate(kScot, kDual, {.sign_with = other.get()});
  auto again = resolver.Resolve(kDual);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->superiors, std::vector<std::string>{kUk});
}

TEST_F(TrustChainTest, ResolveErrorsNameEveryPath) {
  const std::string kStray = "https://stray.example";
  fed_.AddLeaf(kStray, {kScot, kUk});
  TrustChainResolver resolver(fed_.fetcher(), Anchors(), clock_);
  auto chain = resolver.Resolve(kStray);
  ASSERT_FALSE(chain.ok());
  EXPECT_EQ(chain.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(chain.error().message.find(kStray + " -> " + kScot), std::string::npos)
      << chain.error().message;
  EXPECT_NE(chain.error().message.find(kStray + " -> " + kUk), std::string::npos);
  // No hints at all.
  const std::string kAlone = "https://alone.example";
  fed_.AddLeaf(kAlone);
  EXPECT_EQ(resolver.Resolve(kAlone).error().code, ErrorCode::kNotFound);
  // Unknown entity.
  EXPECT_EQ(resolver.Resolve("https://nowhere.example").error().code, ErrorCode::kNotFound);
  // The anchor down: unavailable, not a refusal.
  fed_.fetcher().PutError(FederationFixture::ConfigurationUrl(kUk),
                          MakeError(ErrorCode::kUnavailable, "connection refused"));
  TrustChainResolver fresh(fed_.fetcher(), Anchors(), clock_);
  EXPECT_EQ(fresh.Resolve(kLga).error().code, ErrorCode::kUnavailable);
}

TEST_F(TrustChainTest, ResolverFollowsHintLoopsSafely) {
  // a hints b, b hints a; neither is an anchor.
  const std::string kA = "https://a.example/networks/a";
  const std::string kB = "https://b.example/networks/b";
  const std::string kLeaf = "https://leaf.example";
  fed_.AddNetwork(kA, {kB});
  fed_.AddNetwork(kB, {kA});
  fed_.Enrol(kA, kB);
  fed_.Enrol(kB, kA);
  fed_.AddLeaf(kLeaf, {kA});
  fed_.Enrol(kA, kLeaf);
  TrustChainResolver resolver(fed_.fetcher(), Anchors(), clock_);
  auto chain = resolver.Resolve(kLeaf);
  ASSERT_FALSE(chain.ok());
  EXPECT_NE(chain.error().message.find("loop"), std::string::npos) << chain.error().message;
}

TEST_F(TrustChainTest, ResolverRespectsMaxSuperiors) {
  ResolveOptions options;
  options.max_superiors = 1;
  TrustChainResolver resolver(fed_.fetcher(), Anchors(), clock_, options);
  EXPECT_TRUE(resolver.Resolve(kLga).ok());
  auto chain = resolver.Resolve(kFife);
  ASSERT_FALSE(chain.ok());
  EXPECT_NE(chain.error().message.find("max_superiors"), std::string::npos)
      << chain.error().message;
}

TEST_F(TrustChainTest, AnchorConfigurationFetchedOnceForManyLeaves) {
  for (int i = 0; i < 50; ++i) {
    const std::string id = "https://node-" + std::to_string(i) + ".example";
    fed_.AddLeaf(id, {kUk});
    fed_.Enrol(kUk, id);
  }
  fed_.fetcher().ResetCounts();
  TrustChainResolver resolver(fed_.fetcher(), Anchors(), clock_);
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(resolver.Resolve("https://node-" + std::to_string(i) + ".example").ok());
  EXPECT_EQ(fed_.fetcher().gets(FederationFixture::ConfigurationUrl(kUk)), 1u);
  EXPECT_EQ(resolver.fetches(), 1u + 2u * 50u);
  EXPECT_EQ(fed_.fetcher().gets(), resolver.fetches());
  // After the cache TTL, fetched again.
  clock_.Advance(std::chrono::seconds(61));
  ASSERT_TRUE(resolver.Resolve("https://node-0.example").ok());
  EXPECT_EQ(fed_.fetcher().gets(FederationFixture::ConfigurationUrl(kUk)), 2u);
}

TEST_F(TrustChainTest, ExtraHints) {
  // Fife's configuration names no network yet (it has not seen itself on a list): the
  // network whose list named it is given as an extra hint.
  fed_.entity(kFife).authority_hints.clear();
  fed_.PublishConfiguration(kFife);
  TrustChainResolver resolver(fed_.fetcher(), Anchors(), clock_);
  EXPECT_EQ(resolver.Resolve(kFife).error().code, ErrorCode::kNotFound);
  auto chain = resolver.Resolve(kFife, {kScot});
  ASSERT_TRUE(chain.ok()) << chain.error().message;
  EXPECT_EQ(chain->superiors, (std::vector<std::string>{kScot, kUk}));
}

TEST_F(TrustChainTest, WithdrawnMemberNoLongerResolves) {
  TrustChainResolver resolver(fed_.fetcher(), Anchors(), clock_);
  ASSERT_TRUE(resolver.Resolve(kLga).ok());
  fed_.Withdraw(kUk, kLga);
  EXPECT_FALSE(resolver.Resolve(kLga).ok());
  auto config = resolver.Configuration(kUk);
  ASSERT_TRUE(config.ok()) << config.error().message;
  auto body = fed_.fetcher().Get(WithdrawnEndpointOf(*config));
  ASSERT_TRUE(body.ok());
  auto list = ParseWithdrawnList(*body, kUk, config->jwks, clock_);
  ASSERT_TRUE(list.ok()) << list.error().message;
  ASSERT_EQ(list->withdrawn.size(), 1u);
  EXPECT_EQ(list->withdrawn[0].sub, kLga);
  auto members = fed_.fetcher().Get(ListEndpointOf(*config));
  ASSERT_TRUE(members.ok());
  EXPECT_EQ(nlohmann::json::parse(*members), nlohmann::json::array({kScot}));
}

TEST_F(TrustChainTest, ConcurrentResolves) {
  for (int i = 0; i < 40; ++i) {
    const std::string id = "https://node-" + std::to_string(i) + ".gov.scot";
    fed_.AddLeaf(id, {kScot});
    fed_.Enrol(kScot, id);
  }
  TrustChainResolver resolver(fed_.fetcher(), Anchors(), clock_);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = t; i < 40; i += 4)
        if (resolver.Resolve("https://node-" + std::to_string(i) + ".gov.scot").ok()) ++ok;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 40);
}

TEST(SubordinateStatementUrl, PercentEncodes) {
  EXPECT_EQ(SubordinateStatementUrl("https://is.example/networks/uk/fetch",
                                    "https://council.example:8443/x"),
            "https://is.example/networks/uk/fetch?sub=https%3A%2F%2Fcouncil.example%3A8443%2Fx");
}

}  // namespace
}  // namespace kith::federation
