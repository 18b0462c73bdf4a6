#include "federation/signature_profile.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "federation/content_digest.h"

namespace kith::federation {
namespace {

using namespace std::chrono_literals;

class FakeResolver final : public KeyResolver {
 public:
  std::optional<ResolvedKey> Resolve(std::string_view kid) const override {
    auto it = keys.find(std::string(kid));
    if (it == keys.end()) return std::nullopt;
    return it->second;
  }
  std::map<std::string, ResolvedKey> keys;
};

class KithProfileTest : public ::testing::Test {
 protected:
  KithProfileTest()
      : key_(Ed25519SecretKey::Generate()),
        signer_("kid-a", key_.AsSignFunction(), clock_),
        verifier_(resolver_, cache_, clock_) {
    resolver_.keys["kid-a"] = ResolvedKey{key_.public_key(),           "a.example", true, "active",
                                          clock_.UnixSeconds() - 3600, std::nullopt};
  }

  HttpMessage PostRequest() {
    HttpMessage m;
    m.method = "POST";
    m.target_uri = "https://b.example/federation/v1/streams/group%3Ax%40a.example/commands";
    m.headers = {{"Host", "b.example"}, {"Content-Type", "application/json"}};
    return m;
  }

  HttpMessage SignedPost(const std::string& body) {
    HttpMessage m = PostRequest();
    EXPECT_TRUE(signer_.SignRequest(m, body).ok());
    return m;
  }

  std::string Reason(const Result<VerifiedSignature>& r) {
    return r.ok() ? "ok" : r.error().reason;
  }

  FakeClock clock_{1'700'000'000};
  Ed25519SecretKey key_;
  FakeResolver resolver_;
  ReplayCache cache_{1000};
  KithSigner signer_;
  KithVerifier verifier_;
  const std::string body_ = R"({"command":"post"})";
};

TEST_F(KithProfileTest, SignedRequestWithBodyVerifies) {
  HttpMessage m = SignedPost(body_);
  const std::string input(m.FieldValues("signature-input").at(0));
  EXPECT_EQ(input.rfind("kith=(\"@method\" \"@target-uri\" \"content-digest\" \"content-type\")"
                        ";created=1700000000;expires=1700000300;keyid=\"kid-a\";alg=\"ed25519\""
                        ";nonce=\"",
                        0),
            0u)
      << input;
  EXPECT_NE(input.find(";tag=\"kith\""), std::string::npos);
  EXPECT_EQ(m.FieldValues("content-digest").at(0), ContentDigestSha256(body_));
  auto r = verifier_.VerifyRequest(m, body_);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->key_id, "kid-a");
  EXPECT_EQ(r->node_id, "a.example");
  EXPECT_EQ(r->nonce.size(), 22u);
}

TEST_F(KithProfileTest, SignedGetWithoutBodyVerifies) {
  HttpMessage m;
  m.method = "GET";
  m.target_uri = "https://b.example/federation/v1/streams/x/events?after=10";
  ASSERT_TRUE(signer_.SignRequest(m, "").ok());
  EXPECT_EQ(std::string(m.FieldValues("signature-input").at(0))
                .rfind("kith=(\"@method\" \"@target-uri\");created=", 0),
            0u);
  EXPECT_FALSE(m.HasField("content-digest"));
  EXPECT_TRUE(verifier_.VerifyRequest(m, "").ok());
}

TEST_F(KithProfileTest, BodyWithoutContentTypeCannotBeSigned) {
  HttpMessage m = PostRequest();
  m.headers.pop_back();
  EXPECT_EQ(signer_.SignRequest(m, body_).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(KithProfileTest, ResponseIsBoundToItsRequest) {
  HttpMessage request = SignedPost(body_);
  HttpMessage response;
  response.status = 200;
  response.headers = {{"Content-Type", "application/json"}};
  const std::string rbody = R"({"seq":42})";
  ASSERT_TRUE(signer_.SignResponse(response, request, rbody).ok());
  EXPECT_EQ(std::string(response.FieldValues("signature-input").at(0))
                .rfind("kith=(\"@status\" \"content-digest\" \"@method\";req \"@target-uri\";req)"
                       ";created=",
                       0),
            0u);
  auto r = verifier_.VerifyResponse(response, request, rbody);
  ASSERT_TRUE(r.ok()) << r.error().message;

  // The same response presented as the answer to another request fails.
  HttpMessage other = request;
  other.target_uri += "x";
  HttpMessage response2;
  response2.status = 200;
  ASSERT_TRUE(signer_.SignResponse(response2, request, rbody).ok());
  EXPECT_EQ(Reason(verifier_.VerifyResponse(response2, other, rbody)), "invalid_signature");
  HttpMessage response3;
  response3.status = 200;
  ASSERT_TRUE(signer_.SignResponse(response3, request, rbody).ok());
  response3.status = 201;
  EXPECT_EQ(Reason(verifier_.VerifyResponse(response3, request, rbody)), "invalid_signature");
  HttpMessage response4;
  response4.status = 200;
  ASSERT_TRUE(signer_.SignResponse(response4, request, rbody).ok());
  EXPECT_EQ(Reason(verifier_.VerifyResponse(response4, request, "{}")), "digest_mismatch");
}

TEST_F(KithProfileTest, TamperingWithAnyCoveredComponentFails) {
  {
    HttpMessage m = SignedPost(body_);
    m.method = "PUT";
    EXPECT_EQ(Reason(verifier_.VerifyRequest(m, body_)), "invalid_signature");
  }
  {
    HttpMessage m = SignedPost(body_);
    m.target_uri += "?x=1";
    EXPECT_EQ(Reason(verifier_.VerifyRequest(m, body_)), "invalid_signature");
  }
  {
    HttpMessage m = SignedPost(body_);
    m.SetField("Content-Type", "text/plain");
    EXPECT_EQ(Reason(verifier_.VerifyRequest(m, body_)), "invalid_signature");
  }
  {
    HttpMessage m = SignedPost(body_);
    m.SetField("Content-Digest", ContentDigestSha256("other"));
    EXPECT_EQ(Reason(verifier_.VerifyRequest(m, "other")), "invalid_signature");
  }
  {
    HttpMessage m = SignedPost(body_);
    EXPECT_EQ(Reason(verifier_.VerifyRequest(m, body_ + " ")), "digest_mismatch");
  }
}

TEST_F(KithProfileTest, MissingAndMalformedHeaders) {
  HttpMessage m = PostRequest();
  EXPECT_EQ(Reason(verifier_.VerifyRequest(m, "")), "missing_signature");
  m.headers.emplace_back("Signature-Input", "kith=(");
  m.headers.emplace_back("Signature", "kith=:AAAA:");
  EXPECT_EQ(Reason(verifier_.VerifyRequest(m, "")), "malformed_signature");
  HttpMessage n = SignedPost(body_);
  std::erase_if(n.headers, [](const auto& h) { return h.first == "Content-Digest"; });
  EXPECT_EQ(Reason(verifier_.VerifyRequest(n, body_)), "missing_digest");
}

// Rewrites the kith Signature-Input, re-signing so that only the policy check can fail.
HttpMessage Resign(const HttpMessage& base_message, const Ed25519SecretKey& key,
                   const std::function<void(sf::InnerList&)>& edit) {
  HttpMessage m = base_message;
  auto entry = FindSignature(m, "kith");
  EXPECT_TRUE(entry.ok());
  sf::InnerList input = entry->input;
  edit(input);
  auto base = SignatureBase(input, m, nullptr);
  EXPECT_TRUE(base.ok());
  const auto sig = key.Sign(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(base->data()), base->size()));
  EXPECT_TRUE(AttachSignature(m, "kith", input, sig).ok());
  return m;
}

void SetParam(sf::InnerList& input, const std::string& key, sf::BareItem value) {
  for (auto& [k, v] : input.params) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  input.params.emplace_back(key, std::move(value));
}

TEST_F(KithProfileTest, PolicyViolationsNameTheirReason) {
  const HttpMessage good = SignedPost(body_);
  auto with = [&](auto edit) { return verifier_.VerifyRequest(Resign(good, key_, edit), body_); };
  EXPECT_EQ(Reason(with([](sf::InnerList& i) { SetParam(i, "tag", std::string("other")); })),
            "wrong_tag");
  EXPECT_EQ(Reason(with([](sf::InnerList& i) { SetParam(i, "alg", std::string("rsa-v1_5")); })),
            "unsupported_algorithm");
  EXPECT_EQ(Reason(with([](sf::InnerList& i) { SetParam(i, "keyid", std::string("nope")); })),
            "unknown_key");
  EXPECT_EQ(Reason(with([](sf::InnerList& i) { i.items.pop_back(); })), "component_not_covered");
  EXPECT_EQ(Reason(with([](sf::InnerList& i) { i.items.erase(i.items.begin()); })),
            "component_not_covered");
  EXPECT_EQ(Reason(with([](sf::InnerList& i) {
              std::erase_if(i.params, [](const auto& p) { return p.first == "nonce"; });
            })),
            "malformed_signature");
  EXPECT_EQ(Reason(with([](sf::InnerList& i) { SetParam(i, "expires", int64_t{1'700'000'301}); })),
            "validity_too_long");
  EXPECT_EQ(Reason(with([](sf::InnerList& i) { SetParam(i, "expires", int64_t{1'699'999'000}); })),
            "malformed_signature");
  EXPECT_EQ(Reason(with([](sf::InnerList& i) {
              SetParam(i, "created", int64_t{1'700'000'061});
              SetParam(i, "expires", int64_t{1'700'000'100});
            })),
            "created_in_future");
  EXPECT_EQ(Reason(with([](sf::InnerList& i) {
              SetParam(i, "created", int64_t{1'700'000'060});
              SetParam(i, "expires", int64_t{1'700'000'100});
            })),
            "ok");  // exactly at the skew limit
}

TEST_F(KithProfileTest, TimeWindowUsesInjectedClock) {
  HttpMessage m = SignedPost(body_);
  clock_.Advance(301s);
  EXPECT_EQ(Reason(verifier_.VerifyRequest(m, body_)), "signature_expired");
  clock_.Advance(-2s);
  EXPECT_EQ(Reason(verifier_.VerifyRequest(m, body_)), "ok");
}

TEST_F(KithProfileTest, ReplayedNonceIsRefused) {
  HttpMessage m = SignedPost(body_);
  EXPECT_EQ(Reason(verifier_.VerifyRequest(m, body_)), "ok");
  EXPECT_EQ(Reason(verifier_.VerifyRequest(m, body_)), "replayed_nonce");
  clock_.Advance(200s);
  EXPECT_EQ(Reason(verifier_.VerifyRequest(m, body_)), "replayed_nonce");
  // A fresh signature (new nonce) of the same request is fine.
  EXPECT_EQ(Reason(verifier_.VerifyRequest(SignedPost(body_), body_)), "ok");
}

TEST_F(KithProfileTest, InactivePeerAndKeyValidity) {
  HttpMessage m = SignedPost(body_);
  resolver_.keys["kid-a"].peer_active = false;
  resolver_.keys["kid-a"].peer_state = "suspended";
  auto r = verifier_.VerifyRequest(m, body_);
  EXPECT_EQ(Reason(r), "peer_not_active");
  EXPECT_NE(r.error().message.find("suspended"), std::string::npos);
  resolver_.keys["kid-a"].peer_active = true;
  resolver_.keys["kid-a"].valid_until = clock_.UnixSeconds() - 1;
  EXPECT_EQ(Reason(verifier_.VerifyRequest(m, body_)), "key_not_valid");
  resolver_.keys["kid-a"].valid_until.reset();
  resolver_.keys["kid-a"].valid_from = clock_.UnixSeconds() + 3600;
  EXPECT_EQ(Reason(verifier_.VerifyRequest(m, body_)), "key_not_valid");
}

TEST_F(KithProfileTest, WrongKeyFails) {
  Ed25519SecretKey other = Ed25519SecretKey::Generate();
  resolver_.keys["kid-a"].public_key = other.public_key();
  EXPECT_EQ(Reason(verifier_.VerifyRequest(SignedPost(body_), body_)), "invalid_signature");
}

TEST_F(KithProfileTest, ErrorsMapTo401WithJson) {
  auto r = verifier_.VerifyRequest(PostRequest(), "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(HttpStatusFor(r.error().code), 401);
  auto json = nlohmann::json::parse(SignatureErrorJson(r.error()));
  EXPECT_EQ(json.at("error"), "missing_signature");
  EXPECT_FALSE(json.at("message").get<std::string>().empty());
}

TEST(Nonce, IsBase64Url128Bits) {
  const std::string a = NewNonce();
  EXPECT_EQ(a.size(), 22u);
  EXPECT_EQ(a.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
  EXPECT_NE(a, NewNonce());
}

}  // namespace
}  // namespace kith::federation
