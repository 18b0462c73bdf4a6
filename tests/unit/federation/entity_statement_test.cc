#include "federation/entity_statement.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "identity/jws.h"
#include "tests/support/statement_fixture.h"

namespace kith::federation {
namespace {

constexpr int64_t kNow = 1'700'000'000;

class EntityStatementTest : public ::testing::Test {
 protected:
  EntityStatementTest()
      : issuer_key_(identity::Ed25519SigningKey::Generate()),
        subject_key_(identity::Ed25519SigningKey::Generate()),
        other_key_(identity::Ed25519SigningKey::Generate()) {}

  EntityStatement Subordinate() const {
    EntityStatement s;
    s.iss = "https://is.example/networks/uk";
    s.sub = "https://council.example";
    s.iat = kNow;
    s.exp = kNow + 86400;
    s.jwks = {subject_key_->public_jwk()};
    s.constraints = Constraints{2, NamingConstraints{{".gov.uk"}, {"bad.gov.uk"}}};
    return s;
  }

  EntityStatement Configuration() const {
    EntityStatement s;
    s.iss = s.sub = "https://council.example";
    s.iat = kNow;
    s.exp = kNow + 86400;
    s.jwks = {subject_key_->public_jwk()};
    s.metadata = {{"kith_node", {{"name", "council"}, {"organisation", "Council"}}},
                  {"federation_entity",
                   {{"organization_name", "Council"},
                    {"federation_fetch_endpoint", "https://council.example/fetch"}}}};
    s.authority_hints = {"https://is.example/networks/uk"};
    return s;
  }

  // Signs `payload` under `header` with `key` (no checks: for refusal tests).
  static std::string Raw(const nlohmann::json& header, const nlohmann::json& payload,
                         const identity::SigningKey& key) {
    auto c = identity::SignJwsWithHeader(key, header.dump(), payload.dump());
    EXPECT_TRUE(c.ok());
    return c.ok() ? *c : std::string();
  }

  nlohmann::json Header(std::string_view typ = kEntityStatementTyp) const {
    return {{"alg", "EdDSA"}, {"kid", issuer_key_->kid()}, {"typ", typ}};
  }

  nlohmann::json Payload() const {
    return {{"iss", "https://is.example/networks/uk"},
            {"sub", "https://council.example"},
            {"iat", kNow},
            {"exp", kNow + 3600},
            {"jwks", identity::JwksDocument({subject_key_->public_jwk()})}};
  }

  void ExpectRefused(const std::string& compact, ErrorCode code, const std::string& needle) {
    auto parsed = ParseEntityStatement(compact, clock_);
    ASSERT_FALSE(parsed.ok()) << "accepted; wanted " << needle;
    EXPECT_EQ(parsed.error().code, code) << parsed.error().message;
    EXPECT_NE(parsed.error().message.find(needle), std::string::npos) << parsed.error().message;
  }

  FakeClock clock_{kNow};
  std::unique_ptr<identity::Ed25519SigningKey> issuer_key_;
  std::unique_ptr<identity::Ed25519SigningKey> subject_key_;
  std::unique_ptr<identity::Ed25519SigningKey> other_key_;
};

TEST_F(EntityStatementTest, SubordinateStatementRoundTrip) {
  auto compact = SignEntityStatement(Subordinate(), *issuer_key_);
  ASSERT_TRUE(compact.ok()) << compact.error().message;
  auto parsed = ParseEntityStatement(*compact, clock_);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const EntityStatement& s = parsed->statement;
  EXPECT_EQ(s.iss, "https://is.example/networks/uk");
  EXPECT_EQ(s.sub, "https://council.example");
  EXPECT_FALSE(s.IsConfiguration());
  EXPECT_EQ(s.iat, kNow);
  EXPECT_EQ(s.exp, kNow + 86400);
  ASSERT_EQ(s.jwks.size(), 1u);
  EXPECT_EQ(s.jwks[0].kid(), subject_key_->kid());
  ASSERT_TRUE(s.constraints.has_value());
  EXPECT_EQ(s.constraints->max_path_length, 2);
  ASSERT_TRUE(s.constraints->naming_constraints.has_value());
  EXPECT_EQ(s.constraints->naming_constraints->permitted, std::vector<std::string>{".gov.uk"});
  EXPECT_EQ(s.constraints->naming_constraints->excluded, std::vector<std::string>{"bad.gov.uk"});
  EXPECT_EQ(parsed->jws.header["typ"], "entity-statement+jwt");
  EXPECT_EQ(parsed->jws.kid, issuer_key_->kid());
  EXPECT_TRUE(VerifyStatementSignature(*parsed, {issuer_key_->public_jwk()}).ok());
}

TEST_F(EntityStatementTest, ConfigurationRoundTripAndMetadata) {
  auto compact = SignEntityStatement(Configuration(), *subject_key_);
  ASSERT_TRUE(compact.ok()) << compact.error().message;
  auto parsed = ParseEntityStatement(*compact, clock_);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_TRUE(parsed->statement.IsConfiguration());
  EXPECT_EQ(parsed->statement.authority_hints,
            std::vector<std::string>{"https://is.example/networks/uk"});
  EXPECT_EQ(parsed->statement.metadata["kith_node"]["name"], "council");
  EXPECT_EQ(FetchEndpointOf(parsed->statement), "https://council.example/fetch");
  EXPECT_EQ(ListEndpointOf(parsed->statement), "");
  EXPECT_EQ(WithdrawnEndpointOf(parsed->statement), "");
  EXPECT_TRUE(VerifyStatementSignature(*parsed, parsed->statement.jwks).ok());
}

TEST_F(EntityStatementTest, SigningRefusesWhatWouldNotParse) {
  auto s = Subordinate();
  s.jwks.clear();
  EXPECT_FALSE(SignEntityStatement(s, *issuer_key_).ok());
  s = Subordinate();
  s.exp = s.iat;
  EXPECT_FALSE(SignEntityStatement(s, *issuer_key_).ok());
  s = Subordinate();
  s.sub = "https://council.example/";
  EXPECT_FALSE(SignEntityStatement(s, *issuer_key_).ok());
  s = Subordinate();
  s.authority_hints = {"https://x.example"};  // hints in a subordinate statement
  EXPECT_FALSE(SignEntityStatement(s, *issuer_key_).ok());
  auto c = Configuration();
  c.constraints = Constraints{};
  EXPECT_FALSE(SignEntityStatement(c, *subject_key_).ok());
  c = Configuration();
  c.authority_hints.assign(kMaxAuthorityHints + 1, "https://x.example");
  EXPECT_FALSE(SignEntityStatement(c, *subject_key_).ok());
}

TEST_F(EntityStatementTest, ForgedSignatureIsRefused) {
  // Signed by another key that claims the issuer's kid.
  auto forged = Raw(Header(), Payload(), *other_key_);
  auto parsed = ParseEntityStatement(forged, clock_);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  auto ok = VerifyStatementSignature(*parsed, {issuer_key_->public_jwk()});
  ASSERT_FALSE(ok.ok());
  EXPECT_EQ(ok.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(ok.error().reason, "invalid_signature");
  // Signed by another key under its own kid: unknown key.
  auto compact = SignEntityStatement(Subordinate(), *other_key_);
  ASSERT_TRUE(compact.ok());
  auto p2 = ParseEntityStatement(*compact, clock_);
  ASSERT_TRUE(p2.ok());
  auto ok2 = VerifyStatementSignature(*p2, {issuer_key_->public_jwk()});
  ASSERT_FALSE(ok2.ok());
  EXPECT_EQ(ok2.error().reason, "unknown_key");
}

TEST_F(EntityStatementTest, ExpiredAndFutureAreRefused) {
  auto s = Subordinate();
  s.iat = kNow - 7200;
  s.exp = kNow - 3600;
  ExpectRefused(*SignEntityStatement(s, *issuer_key_), ErrorCode::kUnauthenticated, "expired");
  s.iat = kNow + 3600;
  s.exp = kNow + 7200;
  ExpectRefused(*SignEntityStatement(s, *issuer_key_), ErrorCode::kUnauthenticated,
                "issued in the future");
  // Within the leeway both pass.
  s.iat = kNow + 30;
  s.exp = kNow + 7200;
  EXPECT_TRUE(ParseEntityStatement(*SignEntityStatement(s, *issuer_key_), clock_).ok());
  s.iat = kNow - 7200;
  s.exp = kNow - 30;
  EXPECT_TRUE(ParseEntityStatement(*SignEntityStatement(s, *issuer_key_), clock_).ok());
}

TEST_F(EntityStatementTest, TypAndAlgAreChecked) {
  ExpectRefused(Raw(Header("JWT"), Payload(), *issuer_key_), ErrorCode::kInvalidArgument,
                "wrong typ");
  auto no_typ = Header();
  no_typ.erase("typ");
  ExpectRefused(Raw(no_typ, Payload(), *issuer_key_), ErrorCode::kInvalidArgument, "missing typ");
  // alg none: unsigned token.
  const std::string header =
      identity::Base64UrlEncode(std::string_view(R"({"alg":"none","typ":"entity-statement+jwt"})"));
  const std::string payload = identity::Base64UrlEncode(std::string_view(Payload().dump()));
  ExpectRefused(header + "." + payload + ".", ErrorCode::kInvalidArgument, "not a compact JWS");
  // The withdrawn list's typ is not a statement.
  ExpectRefused(Raw(Header(kWithdrawnListTyp), Payload(), *issuer_key_),
                ErrorCode::kInvalidArgument, "wrong typ");
}

TEST_F(EntityStatementTest, OversizedIsRefusedBeforeParsing) {
  ExpectRefused(std::string(kMaxEntityStatementBytes + 1, 'a'), ErrorCode::kTooLarge,
                "larger than");
  auto p = Payload();
  p["metadata"] = {{"padding", std::string(kMaxEntityStatementBytes, 'x')}};
  ExpectRefused(Raw(Header(), p, *issuer_key_), ErrorCode::kTooLarge, "larger than");
}

TEST_F(EntityStatementTest, MalformedClaimsAreNamed) {
  struct Case {
    std::function<void(nlohmann::json&)> edit;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {[](auto& p) { p.erase("iss"); }, "\"iss\""},
      {[](auto& p) { p["sub"] = 7; }, "\"sub\""},
      {[](auto& p) { p["sub"] = "https://council.example?x=1"; }, "has a query"},
      {[](auto& p) { p["iat"] = "yesterday"; }, "\"iat\""},
      {[](auto& p) { p["exp"] = 1.5; }, "\"exp\""},
      {[](auto& p) {
         p["exp"] = kNow - 10;
         p["iat"] = kNow;
       },
       "not after"},
      {[](auto& p) { p.erase("jwks"); }, "\"jwks\""},
      {[](auto& p) {
         p["jwks"] = {{"keys", nlohmann::json::array()}};
       },
       "1 to 16 keys"},
      {[](auto& p) {
         p["jwks"] = {{"keys", {{{"kty", "OKP"}}}}};
       },
       "\"jwks\""},
      {[](auto& p) { p["metadata"] = "x"; }, "\"metadata\""},
      {[](auto& p) { p["authority_hints"] = {"https://a.example"}; }, "about another entity"},
      {[](auto& p) {
         p["constraints"] = {{"max_path_length", -1}};
       },
       "max_path_length"},
      {[](auto& p) {
         p["constraints"] = {{"naming_constraints", {{"permitted", {1}}}}};
       },
       "naming_constraints.permitted"},
      {[](auto& p) { p["constraints"] = 3; }, "\"constraints\""},
  };
  for (const auto& c : cases) {
    auto p = Payload();
    c.edit(p);
    ExpectRefused(Raw(Header(), p, *issuer_key_), ErrorCode::kInvalidArgument, c.needle);
  }
  // Configuration-only and subordinate-only members.
  auto conf = Payload();
  conf["sub"] = conf["iss"];
  conf["constraints"] = {{"max_path_length", 1}};
  ExpectRefused(Raw(Header(), conf, *issuer_key_), ErrorCode::kInvalidArgument,
                "in an entity configuration");
  conf.erase("constraints");
  conf["authority_hints"] = {"https://is.example/x/"};
  ExpectRefused(Raw(Header(), conf, *issuer_key_), ErrorCode::kInvalidArgument, "trailing slash");
  // Unknown claims are ignored.
  auto extra = Payload();
  extra["future_claim"] = {{"x", 1}};
  EXPECT_TRUE(ParseEntityStatement(Raw(Header(), extra, *issuer_key_), clock_).ok());
}

TEST_F(EntityStatementTest, GarbageNeverCrashes) {
  for (std::string text : {"", ".", "..", "a.b.c", "e30.e30.", "e30.e30.e30.e30",
                           "eyJhbGciOiJFZERTQSJ9.bm90IGpzb24.AAAA"}) {
    EXPECT_FALSE(ParseEntityStatement(text, clock_).ok()) << text;
  }
}

TEST(EntityId, ValidAndInvalid) {
  EXPECT_TRUE(ValidateEntityId("https://council.example", false).ok());
  EXPECT_TRUE(ValidateEntityId("https://is.example/networks/spsn", false).ok());
  EXPECT_TRUE(ValidateEntityId("https://is.example:8443", false).ok());
  EXPECT_TRUE(ValidateEntityId("http://127.0.0.1:8401", true).ok());
  struct Case {
    std::string id;
    bool allow_http;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {"", true, "empty"},
      {"https://council.example?x=1", true, "has a query"},
      {"https://council.example#top", true, "has a fragment"},
      {"https://council.example/", true, "trailing slash"},
      {"https://is.example/networks/uk/", true, "trailing slash"},
      {"http://127.0.0.1:8401", false, "https required"},
      {"ftp://council.example", true, "https"},
      {"council.example", true, ""},
      {"https://user@council.example", true, "user information"},
      {"https:///path", true, "no host"},
      {"https://a.example/x/../y", true, "dot"},
      {"https://exa mple.com", true, "absolute URL"},
      {"https://a.example/" + std::string(kMaxEntityIdBytes, 'a'), true, "longer than"},
  };
  for (const auto& c : cases) {
    auto s = ValidateEntityId(c.id, c.allow_http);
    ASSERT_FALSE(s.ok()) << c.id;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(s.error().message.find(c.needle), std::string::npos) << s.error().message;
  }
}

TEST(EntityId, HostAndNamingConstraints) {
  EXPECT_EQ(EntityHost("https://Council.Example:8443/networks/x"), "council.example");
  NamingConstraints nc{{".gov.scot", "is.example"}, {"bad.gov.scot"}};
  EXPECT_TRUE(SatisfiesNamingConstraints("https://fife.gov.scot", nc));
  EXPECT_TRUE(SatisfiesNamingConstraints("https://is.example/networks/x", nc));
  EXPECT_FALSE(SatisfiesNamingConstraints("https://gov.scot", nc));  // .x needs a subdomain
  EXPECT_FALSE(SatisfiesNamingConstraints("https://bad.gov.scot", nc));
  EXPECT_FALSE(SatisfiesNamingConstraints("https://sub.is.example", nc));
  EXPECT_FALSE(SatisfiesNamingConstraints("https://council.example", nc));
  EXPECT_TRUE(SatisfiesNamingConstraints("https://anything.example", NamingConstraints{}));
  EXPECT_FALSE(SatisfiesNamingConstraints("https://x.evil.example",
                                          NamingConstraints{{}, {".evil.example"}}));
}

class WithdrawnListTest : public EntityStatementTest {
 protected:
  WithdrawnList List() const {
    WithdrawnList list;
    list.iss = "https://is.example/networks/uk";
    list.iat = kNow;
    list.exp = kNow + 600;
    list.withdrawn = {{"https://gone.example", kNow - 100}, {"https://also.example", kNow - 50}};
    return list;
  }
};

TEST_F(WithdrawnListTest, RoundTrip) {
  auto compact = SignWithdrawnList(List(), *issuer_key_);
  ASSERT_TRUE(compact.ok()) << compact.error().message;
  auto jws = identity::ParseJws(*compact);
  ASSERT_TRUE(jws.ok());
  EXPECT_EQ(jws->header["typ"], "kith-withdrawn+jwt");
  auto list = ParseWithdrawnList(*compact, "https://is.example/networks/uk",
                                 {issuer_key_->public_jwk()}, clock_);
  ASSERT_TRUE(list.ok()) << list.error().message;
  EXPECT_EQ(list->iss, "https://is.example/networks/uk");
  EXPECT_EQ(list->exp, kNow + 600);
  ASSERT_EQ(list->withdrawn.size(), 2u);
  EXPECT_EQ(list->withdrawn[0].sub, "https://gone.example");
  EXPECT_EQ(list->withdrawn[1].at, kNow - 50);
  // An empty list is a list.
  auto empty = List();
  empty.withdrawn.clear();
  auto e =
      ParseWithdrawnList(*SignWithdrawnList(empty, *issuer_key_), "https://is.example/networks/uk",
                         {issuer_key_->public_jwk()}, clock_);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_TRUE(e->withdrawn.empty());
}

TEST_F(WithdrawnListTest, LargerThanAStatement) {
  auto list = List();
  list.withdrawn.clear();
  for (int i = 0; i < 5000; ++i)
    list.withdrawn.push_back({"https://node-" + std::to_string(i) + ".example", kNow});
  auto compact = SignWithdrawnList(list, *issuer_key_);
  ASSERT_TRUE(compact.ok()) << compact.error().message;
  ASSERT_GT(compact->size(), kMaxEntityStatementBytes);
  auto parsed = ParseWithdrawnList(*compact, list.iss, {issuer_key_->public_jwk()}, clock_);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->withdrawn.size(), 5000u);
  EXPECT_EQ(ParseWithdrawnList(std::string(kMaxWithdrawnListBytes + 1, 'a'), list.iss,
                               {issuer_key_->public_jwk()}, clock_)
                .error()
                .code,
            ErrorCode::kTooLarge);
}

TEST_F(WithdrawnListTest, Refusals) {
  const std::string uk = "https://is.example/networks/uk";
  auto compact = *SignWithdrawnList(List(), *issuer_key_);
  // Wrong issuer.
  auto wrong = ParseWithdrawnList(compact, "https://is.example/networks/scot",
                                  {issuer_key_->public_jwk()}, clock_);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(wrong.error().message.find("expected"), std::string::npos) << wrong.error().message;
  // Forged: signed by another key (own kid, then the issuer's kid).
  auto forged = ParseWithdrawnList(*SignWithdrawnList(List(), *other_key_), uk,
                                   {issuer_key_->public_jwk()}, clock_);
  ASSERT_FALSE(forged.ok());
  EXPECT_EQ(forged.error().reason, "unknown_key");
  nlohmann::json header{{"alg", "EdDSA"}, {"kid", issuer_key_->kid()}, {"typ", kWithdrawnListTyp}};
  nlohmann::json payload{{"iss", uk}, {"iat", kNow}, {"exp", kNow + 60}, {"withdrawn", {}}};
  auto forged2 = ParseWithdrawnList(Raw(header, payload, *other_key_), uk,
                                    {issuer_key_->public_jwk()}, clock_);
  ASSERT_FALSE(forged2.ok());
  EXPECT_EQ(forged2.error().reason, "invalid_signature");
  // Expired.
  auto old = List();
  old.iat = kNow - 1200;
  old.exp = kNow - 600;
  auto expired = ParseWithdrawnList(*SignWithdrawnList(old, *issuer_key_), uk,
                                    {issuer_key_->public_jwk()}, clock_);
  ASSERT_FALSE(expired.ok());
  EXPECT_NE(expired.error().message.find("expired"), std::string::npos);
  // An entity statement is not a withdrawn list (typ).
  auto statement = *SignEntityStatement(Subordinate(), *issuer_key_);
  auto typ = ParseWithdrawnList(statement, uk, {issuer_key_->public_jwk()}, clock_);
  ASSERT_FALSE(typ.ok());
  EXPECT_NE(typ.error().message.find("wrong typ"), std::string::npos);
  // A bad entry.
  payload["withdrawn"] = {{{"sub", "https://x.example/"}, {"at", kNow}}};
  auto bad = ParseWithdrawnList(Raw(header, payload, *issuer_key_), uk, {issuer_key_->public_jwk()},
                                clock_);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("withdrawn[0]"), std::string::npos) << bad.error().message;
}

}  // namespace
}  // namespace kith::federation
