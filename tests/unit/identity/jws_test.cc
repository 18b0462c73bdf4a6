#include "identity/jws.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "identity/jwk.h"
#include "storage/clock.h"

namespace kith::identity {
namespace {

nlohmann::json LoadVector() {
  std::ifstream in(std::string(KITH_VECTORS_DIR) + "/rfc8037-jws-ed25519.json");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return nlohmann::json::parse(buffer.str());
}

TEST(Base64UrlTest, RoundTripsAndRefusesPaddingAndForeignCharacters) {
  for (std::string_view s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00"}) {
    auto decoded = Base64UrlDecode(Base64UrlEncode(s));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(std::string(decoded->begin(), decoded->end()), s);
  }
  EXPECT_EQ(Base64UrlEncode(std::string_view("\xfb\xff")), "-_8");
  EXPECT_FALSE(Base64UrlDecode("Zm9vYg==").ok());
  EXPECT_FALSE(Base64UrlDecode("Zm9v+g").ok());
  EXPECT_FALSE(Base64UrlDecode("Zm9v g").ok());
  EXPECT_FALSE(Base64UrlDecode("Z").ok());
}

TEST(JwsTest, Rfc8037Ed25519VectorSignsExactly) {
  const auto vec = LoadVector();
  auto d = Base64UrlDecode(vec["jwk"]["d"].get<std::string>());
  ASSERT_TRUE(d.ok());
  auto key = Ed25519SigningKey::FromSeed(*d);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ((*key)->public_jwk().ToJson()["x"], vec["jwk"]["x"]);
  // RFC 8037 A.3: the thumbprint of this public key.
  EXPECT_EQ((*key)->kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
  auto jws = SignJwsWithHeader(**key, vec["protected_header"].get<std::string>(),
                               vec["payload"].get<std::string>());
  ASSERT_TRUE(jws.ok()) << jws.error().message;
  EXPECT_EQ(*jws, vec["jws_compact"].get<std::string>());

  auto public_key =
      PublicJwk::FromJson({{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", vec["jwk"]["x"]}});
  ASSERT_TRUE(public_key.ok());
  auto verified = VerifyJwsWithKeys(vec["jws_compact"].get<std::string>(), {*public_key});
  ASSERT_TRUE(verified.ok()) << verified.error().message;
  EXPECT_EQ(verified->payload, "Example of Ed25519 signing");
}

TEST(JwsTest, Rs256RoundTripAndTamperDetection) {
  auto key = RsaSigningKey::Generate();
  ASSERT_TRUE(key.ok());
  auto jws = SignJws(**key, R"({"sub":"abc","aud":"client"})");
  ASSERT_TRUE(jws.ok());
  const std::vector<PublicJwk> keys = {(*key)->public_jwk()};
  auto ok = VerifyJwsWithKeys(*jws, keys);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->kid, (*key)->kid());
  EXPECT_EQ(ok->header["alg"], "RS256");

  // The published JWK, parsed back, verifies too (as a relying party would).
  auto reparsed = PublicJwk::FromJson((*key)->public_jwk().ToJson());
  ASSERT_TRUE(reparsed.ok()) << reparsed.error().message;
  EXPECT_EQ(reparsed->kid(), (*key)->kid());
  EXPECT_EQ(reparsed->Thumbprint(), (*key)->kid());
  EXPECT_TRUE(VerifyJwsWithKeys(*jws, {*reparsed}).ok());

  // Change one payload character.
  std::string tampered = *jws;
  const size_t dot = tampered.find('.');
  tampered[dot + 3] = tampered[dot + 3] == 'A' ? 'B' : 'A';
  auto bad = VerifyJwsWithKeys(tampered, keys);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kUnauthenticated);

  // Change the signature.
  std::string bad_sig = *jws;
  bad_sig[bad_sig.size() - 5] = bad_sig[bad_sig.size() - 5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(VerifyJwsWithKeys(bad_sig, keys).ok());

  // Another key with the same kid does not verify.
  auto other = RsaSigningKey::Generate();
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(VerifyJwsWithKeys(*jws, {(*other)->public_jwk()}).ok());

  // alg "none" and alg confusion are refused.
  const std::string none = Base64UrlEncode(std::string_view(R"({"alg":"none"})")) + "." +
                           Base64UrlEncode(std::string_view("{}")) + ".";
  auto refused = VerifyJwsWithKeys(none, keys);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  const std::string hs = Base64UrlEncode(std::string_view(R"({"alg":"HS256"})")) + ".e30.AAAA";
  EXPECT_FALSE(VerifyJwsWithKeys(hs, keys).ok());
  const std::string eddsa =
      Base64UrlEncode(std::string_view(R"({"alg":"EdDSA"})")) + jws->substr(jws->find('.'));
  auto confused = VerifyJwsWithKeys(eddsa, keys);
  ASSERT_FALSE(confused.ok());
  EXPECT_EQ(confused.error().reason, "unknown_key");
}

TEST(JwsTest, PemRoundTrip) {
  auto key = RsaSigningKey::Generate();
  ASSERT_TRUE(key.ok());
  auto pem = (*key)->ToPem();
  ASSERT_TRUE(pem.ok());
  EXPECT_NE(pem->find("PRIVATE KEY"), std::string::npos);
  auto loaded = RsaSigningKey::FromPem(*pem);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ((*loaded)->kid(), (*key)->kid());
  auto jws = SignJws(**loaded, "x");
  ASSERT_TRUE(jws.ok());
  EXPECT_TRUE(VerifyJwsWithKeys(*jws, {(*key)->public_jwk()}).ok());
  EXPECT_FALSE(RsaSigningKey::FromPem("not a pem").ok());
}

// Signs `input` with a fresh P-256 key the way a client would for private_key_jwt and returns
// the public JWK and the R||S signature.
struct Es256Sample {
  nlohmann::json jwk;
  std::vector<uint8_t> signature;
};
Es256Sample SignEs256(std::string_view input) {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  EXPECT_NE(pkey, nullptr);
  BIGNUM* x = nullptr;
  BIGNUM* y = nullptr;
  EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x);
  EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
  std::vector<uint8_t> xb(32), yb(32);
  BN_bn2binpad(x, xb.data(), 32);
  BN_bn2binpad(y, yb.data(), 32);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey);
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const uint8_t*>(input.data()), input.size());
  std::vector<uint8_t> der(len);
  EVP_DigestSign(ctx, der.data(), &len, reinterpret_cast<const uint8_t*>(input.data()),
                 input.size());
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  std::vector<uint8_t> raw(64);
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw.data(), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw.data() + 32, 32);
  ECDSA_SIG_free(sig);
  EVP_MD_CTX_free(ctx);
  BN_free(x);
  BN_free(y);
  EVP_PKEY_free(pkey);
  return {{{"kty", "EC"}, {"crv", "P-256"}, {"x", Base64UrlEncode(xb)}, {"y", Base64UrlEncode(yb)}},
          raw};
}

TEST(JwsTest, Es256ClientAssertionVerifies) {
  const std::string header = Base64UrlEncode(std::string_view(R"({"alg":"ES256","kid":"c1"})"));
  const std::string payload = Base64UrlEncode(std::string_view(R"({"iss":"client"})"));
  const std::string input = header + "." + payload;
  auto sample = SignEs256(input);
  sample.jwk["kid"] = "c1";
  auto jwk = PublicJwk::FromJson(sample.jwk);
  ASSERT_TRUE(jwk.ok()) << jwk.error().message;
  const std::string compact = input + "." + Base64UrlEncode(sample.signature);
  auto verified = VerifyJwsWithKeys(compact, {*jwk});
  ASSERT_TRUE(verified.ok()) << verified.error().message;
  sample.signature[10] ^= 1;
  EXPECT_FALSE(VerifyJwsWithKeys(input + "." + Base64UrlEncode(sample.signature), {*jwk}).ok());
  // A point off the curve is refused at parse time.
  auto off = sample.jwk;
  off["y"] = Base64UrlEncode(std::vector<uint8_t>(32, 1));
  EXPECT_FALSE(PublicJwk::FromJson(off).ok());
}

TEST(JwkTest, RefusesBadKeys) {
  auto ed = Ed25519SigningKey::Generate();
  nlohmann::json good = ed->public_jwk().ToJson();
  EXPECT_TRUE(PublicJwk::FromJson(good).ok());
  auto with_d = good;
  with_d["d"] = "AAAA";
  auto refused = PublicJwk::FromJson(with_d);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("\"d\""), std::string::npos);
  auto bad_kty = good;
  bad_kty["kty"] = "oct";
  EXPECT_FALSE(PublicJwk::FromJson(bad_kty).ok());
  auto bad_crv = good;
  bad_crv["crv"] = "X25519";
  EXPECT_FALSE(PublicJwk::FromJson(bad_crv).ok());
  auto short_x = good;
  short_x["x"] = "AAAA";
  EXPECT_FALSE(PublicJwk::FromJson(short_x).ok());
  auto enc = good;
  enc["use"] = "enc";
  EXPECT_FALSE(PublicJwk::FromJson(enc).ok());
  auto wrong_alg = good;
  wrong_alg["alg"] = "RS256";
  EXPECT_FALSE(PublicJwk::FromJson(wrong_alg).ok());
  EXPECT_FALSE(PublicJwk::FromJson(nlohmann::json::array()).ok());
  nlohmann::json small_rsa = {
      {"kty", "RSA"}, {"n", Base64UrlEncode(std::vector<uint8_t>(128, 0xC1))}, {"e", "AQAB"}};
  auto small = PublicJwk::FromJson(small_rsa);
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.error().message.find("2048"), std::string::npos);
  EXPECT_FALSE(ParseJwks({{"keys", nlohmann::json::array()}}).ok());
  auto jwks = ParseJwks(JwksDocument({ed->public_jwk()}));
  ASSERT_TRUE(jwks.ok());
  EXPECT_EQ(jwks->size(), 1u);
}

TEST(JwsTest, MalformedCompactFormsAreRefused) {
  for (std::string_view bad : {"", "a", "a.b", "a.b.c.d", "!!.e30.", "e30.e30.!!"}) {
    auto parsed = ParseJws(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
  }
  EXPECT_FALSE(ParseJws(std::string(kMaxJwsBytes + 1, 'a')).ok());
  const std::string crit = Base64UrlEncode(std::string_view(R"({"alg":"EdDSA","crit":["x"]})"));
  EXPECT_FALSE(ParseJws(crit + ".e30.AAAA").ok());
}

TEST(JwtClaimsTest, ChecksTimesIssuerAndAudience) {
  FakeClock clock(1'700'000'000);
  const int64_t now = clock.UnixSeconds();
  JwtExpectations expect;
  expect.issuer = "https://a.example";
  expect.audience = "https://a.example/token";
  nlohmann::json claims = {{"iss", "https://a.example"},
                           {"aud", nlohmann::json::array({"x", "https://a.example/token"})},
                           {"exp", now + 60},
                           {"iat", now}};
  EXPECT_TRUE(CheckJwtClaims(claims, expect, clock).ok());
  clock.Advance(std::chrono::seconds(60 + 59));
  EXPECT_TRUE(CheckJwtClaims(claims, expect, clock).ok());  // within the leeway
  clock.Advance(std::chrono::seconds(2));
  auto expired = CheckJwtClaims(claims, expect, clock);
  ASSERT_FALSE(expired.ok());
  EXPECT_NE(expired.error().message.find("exp"), std::string::npos);
  clock.SetUnixSeconds(now);

  auto wrong_iss = claims;
  wrong_iss["iss"] = "https://b.example";
  EXPECT_FALSE(CheckJwtClaims(wrong_iss, expect, clock).ok());
  auto wrong_aud = claims;
  wrong_aud["aud"] = "someone";
  EXPECT_FALSE(CheckJwtClaims(wrong_aud, expect, clock).ok());
  auto no_exp = claims;
  no_exp.erase("exp");
  EXPECT_FALSE(CheckJwtClaims(no_exp, expect, clock).ok());
  auto future_nbf = claims;
  future_nbf["nbf"] = now + 3600;
  EXPECT_FALSE(CheckJwtClaims(future_nbf, expect, clock).ok());
  auto string_exp = claims;
  string_exp["exp"] = "soon";
  EXPECT_FALSE(CheckJwtClaims(string_exp, expect, clock).ok());
  expect.max_lifetime = std::chrono::seconds(30);
  expect.leeway = std::chrono::seconds(0);
  EXPECT_FALSE(CheckJwtClaims(claims, expect, clock).ok());
  EXPECT_FALSE(ParseJwtClaims("[1]").ok());
  EXPECT_TRUE(ParseJwtClaims("{}").ok());
}

}  // namespace
}  // namespace kith::identity
