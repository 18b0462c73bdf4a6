#include "identity/jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sodium.h>

#include <cstring>

namespace kith::identity {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};

std::shared_ptr<EVP_PKEY> Share(EVP_PKEY* p) { return std::shared_ptr<EVP_PKEY>(p, PkeyFree{}); }

Error Invalid(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message), "invalid_jwk");
}

Result<std::string> StringMember(const nlohmann::json& jwk, const char* name) {
  auto it = jwk.find(name);
  if (it == jwk.end()) return Invalid(std::string("JWK member \"") + name + "\" is missing");
  if (!it->is_string()) return Invalid(std::string("JWK member \"") + name + "\" must be a string");
  return it->get<std::string>();
}

Result<std::vector<uint8_t>> DecodeMember(const nlohmann::json& jwk, const char* name) {
  auto text = StringMember(jwk, name);
  if (!text.ok()) return text.error();
  auto bytes = Base64UrlDecode(*text);
  if (!bytes.ok())
    return Invalid(std::string("JWK member \"") + name + "\" is not valid base64url");
  return bytes;
}

std::vector<uint8_t> BnBytes(const BIGNUM* bn) {
  std::vector<uint8_t> out(static_cast<size_t>(BN_num_bytes(bn)));
  BN_bn2bin(bn, out.data());
  return out;
}

}  // namespace

std::string Base64UrlEncode(std::span<const uint8_t> bytes) {
  const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_encoded_len(bytes.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), variant);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::string Base64UrlEncode(std::string_view bytes) {
  return Base64UrlEncode(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

Result<std::vector<uint8_t>> Base64UrlDecode(std::string_view text) {
  std::vector<uint8_t> out(text.size() * 3 / 4 + 3);
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != text.data() + text.size()) {
    return MakeError(ErrorCode::kInvalidArgument, "not valid base64url (no padding)");
  }
  out.resize(len);
  return out;
}

std::string RandomBase64Url(size_t bytes) {
  std::vector<uint8_t> buf(bytes);
  randombytes_buf(buf.data(), buf.size());
  std::string out = Base64UrlEncode(buf);
  sodium_memzero(buf.data(), buf.size());
  return out;
}

std::array<uint8_t, 32> Sha256(std::string_view data) {
  std::array<uint8_t, 32> digest{};
  crypto_hash_sha256(digest.data(), reinterpret_cast<const uint8_t*>(data.data()), data.size());
  return digest;
}

std::string_view JwsAlgorithmName(JwsAlgorithm alg) {
  switch (alg) {
    case JwsAlgorithm::kRS256:
      return "RS256";
    case JwsAlgorithm::kES256:
      return "ES256";
    case JwsAlgorithm::kEdDSA:
      return "EdDSA";
  }
  return "RS256";
}

Result<JwsAlgorithm> ParseJwsAlgorithm(std::string_view name) {
  if (name == "RS256") return JwsAlgorithm::kRS256;
  if (name == "ES256") return JwsAlgorithm::kES256;
  if (name == "EdDSA") return JwsAlgorithm::kEdDSA;
  return MakeError(ErrorCode::kInvalidArgument,
                   "unsupported JWS algorithm \"" + std::string(name.substr(0, 32)) +
                       "\" (RS256, ES256 or EdDSA)",
                   "unsupported_alg");
}

// ---------------------------------------------------------------------------------------------
// PublicJwk

Result<PublicJwk> PublicJwk::FromJson(const nlohmann::json& jwk) {
  if (!jwk.is_object()) return Invalid("a JWK must be a JSON object");
  for (const char* secret : {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}) {
    if (jwk.contains(secret))
      return Invalid(std::string("JWK carries private member \"") + secret +
                     "\"; publish only the public key");
  }
  auto kty = StringMember(jwk, "kty");
  if (!kty.ok()) return kty.error();
  if (auto use = jwk.find("use"); use != jwk.end() && *use != "sig")
    return Invalid("JWK \"use\" must be \"sig\"");

  PublicJwk key;
  key.kty_ = *kty;
  if (auto kid = jwk.find("kid"); kid != jwk.end()) {
    if (!kid->is_string() || kid->get<std::string>().empty() ||
        kid->get<std::string>().size() > 256)
      return Invalid("JWK \"kid\" must be a non-empty string of at most 256 characters");
    key.kid_ = kid->get<std::string>();
  }
  if (auto alg = jwk.find("alg"); alg != jwk.end()) {
    if (!alg->is_string()) return Invalid("JWK \"alg\" must be a string");
    auto parsed = ParseJwsAlgorithm(alg->get<std::string>());
    if (!parsed.ok()) return Invalid("JWK \"alg\": " + parsed.error().message);
    key.alg_ = alg->get<std::string>();
  }

  if (key.kty_ == "RSA") {
    auto n = DecodeMember(jwk, "n");
    if (!n.ok()) return n.error();
    auto e = DecodeMember(jwk, "e");
    if (!e.ok()) return e.error();
    if (n->empty() || (*n)[0] == 0) return Invalid("JWK member \"n\" has leading zero bytes");
    if (n->size() * 8 < 2048) return Invalid("JWK RSA modulus \"n\" must be at least 2048 bits");
    if (n->size() * 8 > 8192) return Invalid("JWK RSA modulus \"n\" is larger than 8192 bits");
    if (e->empty() || e->size() > 8) return Invalid("JWK member \"e\" has a bad size");
    std::unique_ptr<BIGNUM, BnFree> bn_n(
        BN_bin2bn(n->data(), static_cast<int>(n->size()), nullptr));
    std::unique_ptr<BIGNUM, BnFree> bn_e(
        BN_bin2bn(e->data(), static_cast<int>(e->size()), nullptr));
    std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
    if (!bn_n || !bn_e || !bld ||
        !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
        !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()))
      return MakeError(ErrorCode::kInternal, "OpenSSL could not build RSA parameters");
    std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld.get()));
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
        EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
    EVP_PKEY* pkey = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
        EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0)
      return Invalid("JWK RSA key is not a valid public key");
    key.evp_ = Share(pkey);
    key.n_ = Base64UrlEncode(*n);
    key.e_ = Base64UrlEncode(*e);
  } else if (key.kty_ == "EC") {
    auto crv = StringMember(jwk, "crv");
    if (!crv.ok()) return crv.error();
    if (*crv != "P-256") return Invalid("JWK EC curve \"crv\" must be \"P-256\"");
    auto x = DecodeMember(jwk, "x");
    if (!x.ok()) return x.error();
    auto y = DecodeMember(jwk, "y");
    if (!y.ok()) return y.error();
    if (x->size() != 32 || y->size() != 32)
      return Invalid("JWK P-256 members \"x\" and \"y\" must be 32 bytes each");
    std::vector<uint8_t> point;
    point.reserve(65);
    point.push_back(0x04);
    point.insert(point.end(), x->begin(), x->end());
    point.insert(point.end(), y->begin(), y->end());
    std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
    if (!bld ||
        !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                          point.size()))
      return MakeError(ErrorCode::kInternal, "OpenSSL could not build EC parameters");
    std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld.get()));
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
        EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY* pkey = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
        EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0)
      return Invalid("JWK EC key is not a point on P-256");
    key.evp_ = Share(pkey);
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> check(EVP_PKEY_CTX_new(pkey, nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) != 1)
      return Invalid("JWK EC key is not a point on P-256");
    key.crv_ = *crv;
    key.x_ = Base64UrlEncode(*x);
    key.y_ = Base64UrlEncode(*y);
  } else if (key.kty_ == "OKP") {
    auto crv = StringMember(jwk, "crv");
    if (!crv.ok()) return crv.error();
    if (*crv != "Ed25519") return Invalid("JWK OKP curve \"crv\" must be \"Ed25519\"");
    auto x = DecodeMember(jwk, "x");
    if (!x.ok()) return x.error();
    if (x->size() != 32) return Invalid("JWK Ed25519 member \"x\" must be 32 bytes");
    key.crv_ = *crv;
    std::memcpy(key.ed25519_.data(), x->data(), 32);
    key.x_ = Base64UrlEncode(*x);
  } else {
    return Invalid("JWK \"kty\" must be RSA, EC or OKP, not \"" + key.kty_.substr(0, 16) + "\"");
  }
  if (!key.alg_.empty()) {
    auto alg = ParseJwsAlgorithm(key.alg_);
    if (!key.Supports(*alg)) return Invalid("JWK \"alg\" " + key.alg_ + " does not fit its kty");
  }
  if (key.kid_.empty()) key.kid_ = key.Thumbprint();
  return key;
}

PublicJwk PublicJwk::FromEd25519(std::span<const uint8_t, 32> public_key, std::string kid) {
  PublicJwk key;
  key.kty_ = "OKP";
  key.crv_ = "Ed25519";
  key.alg_ = "EdDSA";
  std::memcpy(key.ed25519_.data(), public_key.data(), 32);
  key.x_ = Base64UrlEncode(public_key);
  key.kid_ = kid.empty() ? key.Thumbprint() : std::move(kid);
  return key;
}

std::string PublicJwk::Thumbprint() const {
  // nlohmann::json objects keep members sorted and dump() writes no whitespace: exactly the
  // canonical form RFC 7638 §3 asks for.
  nlohmann::json canonical;
  canonical["kty"] = kty_;
  if (kty_ == "RSA") {
    canonical["n"] = n_;
    canonical["e"] = e_;
  } else {
    canonical["crv"] = crv_;
    canonical["x"] = x_;
    if (kty_ == "EC") canonical["y"] = y_;
  }
  const std::string text = canonical.dump();
  std::array<uint8_t, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256(digest.data(), reinterpret_cast<const uint8_t*>(text.data()), text.size());
  return Base64UrlEncode(digest);
}

bool PublicJwk::Supports(JwsAlgorithm alg) const {
  if (!alg_.empty() && alg_ != JwsAlgorithmName(alg)) return false;
  switch (alg) {
    case JwsAlgorithm::kRS256:
      return kty_ == "RSA";
    case JwsAlgorithm::kES256:
      return kty_ == "EC";
    case JwsAlgorithm::kEdDSA:
      return kty_ == "OKP";
  }
  return false;
}

Status PublicJwk::Verify(JwsAlgorithm alg, std::string_view signing_input,
                         std::span<const uint8_t> signature) const {
  if (!Supports(alg))
    return MakeError(ErrorCode::kInvalidArgument, "key " + kid_ + " (" + kty_ + ") cannot verify " +
                                                      std::string(JwsAlgorithmName(alg)));
  const auto bad =
      MakeError(ErrorCode::kUnauthenticated, "JWS signature does not verify", "invalid_signature");
  const auto* input = reinterpret_cast<const uint8_t*>(signing_input.data());
  if (alg == JwsAlgorithm::kEdDSA) {
    if (signature.size() != crypto_sign_BYTES) return bad;
    if (crypto_sign_verify_detached(signature.data(), input, signing_input.size(),
                                    ed25519_.data()) != 0)
      return bad;
    return OkStatus();
  }
  std::vector<uint8_t> der;
  std::span<const uint8_t> sig = signature;
  if (alg == JwsAlgorithm::kES256) {
    // JWS carries R || S (RFC 7518 §3.4); OpenSSL verifies DER.
    if (signature.size() != 64) return bad;
    std::unique_ptr<ECDSA_SIG, EcdsaSigFree> ecdsa(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(signature.data(), 32, nullptr);
    BIGNUM* s = BN_bin2bn(signature.data() + 32, 32, nullptr);
    if (!ecdsa || !r || !s || ECDSA_SIG_set0(ecdsa.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      return MakeError(ErrorCode::kInternal, "OpenSSL could not build an ECDSA signature");
    }
    unsigned char* out = nullptr;
    int len = i2d_ECDSA_SIG(ecdsa.get(), &out);
    if (len <= 0) return MakeError(ErrorCode::kInternal, "OpenSSL could not encode ECDSA");
    der.assign(out, out + len);
    OPENSSL_free(out);
    sig = der;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, evp_.get()) != 1)
    return MakeError(ErrorCode::kInternal, "OpenSSL could not start verification");
  if (EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), input, signing_input.size()) != 1)
    return bad;
  return OkStatus();
}

nlohmann::json PublicJwk::ToJson() const {
  nlohmann::json out;
  out["kty"] = kty_;
  if (kty_ == "RSA") {
    out["n"] = n_;
    out["e"] = e_;
  } else {
    out["crv"] = crv_;
    out["x"] = x_;
    if (kty_ == "EC") out["y"] = y_;
  }
  out["kid"] = kid_;
  out["use"] = "sig";
  if (!alg_.empty()) out["alg"] = alg_;
  return out;
}

nlohmann::json JwksDocument(const std::vector<PublicJwk>& keys) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& key : keys) list.push_back(key.ToJson());
  return nlohmann::json{{"keys", std::move(list)}};
}

Result<std::vector<PublicJwk>> ParseJwks(const nlohmann::json& jwks) {
  if (!jwks.is_object() || !jwks.contains("keys") || !jwks["keys"].is_array())
    return Invalid("a JWKS must be an object with a \"keys\" array");
  const auto& list = jwks["keys"];
  if (list.empty()) return Invalid("JWKS \"keys\" is empty");
  if (list.size() > 32) return Invalid("JWKS has more than 32 keys");
  std::vector<PublicJwk> keys;
  for (size_t i = 0; i < list.size(); ++i) {
    auto key = PublicJwk::FromJson(list[i]);
    if (!key.ok()) return Invalid("JWKS key " + std::to_string(i) + ": " + key.error().message);
    keys.push_back(std::move(key).value());
  }
  return keys;
}

// ---------------------------------------------------------------------------------------------
// RsaSigningKey

RsaSigningKey::~RsaSigningKey() = default;

Result<std::unique_ptr<RsaSigningKey>> RsaSigningKey::FromEvp(EVP_PKEY* raw) {
  auto owned = Share(raw);
  if (EVP_PKEY_is_a(raw, "RSA") != 1)
    return MakeError(ErrorCode::kInvalidArgument, "the PEM key is not an RSA key");
  if (EVP_PKEY_get_bits(raw) < 2048)
    return MakeError(ErrorCode::kInvalidArgument, "the RSA key is shorter than 2048 bits");
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  if (EVP_PKEY_get_bn_param(raw, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
      EVP_PKEY_get_bn_param(raw, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
    BN_free(n);
    BN_free(e);
    return MakeError(ErrorCode::kInternal, "OpenSSL could not read the RSA public key");
  }
  std::unique_ptr<BIGNUM, BnFree> own_n(n), own_e(e);
  auto key = std::unique_ptr<RsaSigningKey>(new RsaSigningKey());
  key->evp_ = owned;
  key->public_.kty_ = "RSA";
  key->public_.alg_ = "RS256";
  key->public_.n_ = Base64UrlEncode(BnBytes(n));
  key->public_.e_ = Base64UrlEncode(BnBytes(e));
  key->public_.evp_ = owned;  // verification with the private key object works the same
  key->public_.kid_ = key->public_.Thumbprint();
  return key;
}

Result<std::unique_ptr<RsaSigningKey>> RsaSigningKey::Generate(int bits) {
  if (bits < 2048 || bits > 8192)
    return MakeError(ErrorCode::kInvalidArgument, "RSA key size must be 2048..8192 bits");
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits));
  if (!pkey) return MakeError(ErrorCode::kInternal, "OpenSSL could not generate an RSA key");
  return FromEvp(pkey);
}

Result<std::unique_ptr<RsaSigningKey>> RsaSigningKey::FromPem(std::string_view pem) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return MakeError(ErrorCode::kInternal, "OpenSSL could not allocate a BIO");
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (!pkey) return MakeError(ErrorCode::kInvalidArgument, "not a PEM private key");
  return FromEvp(pkey);
}

Result<std::string> RsaSigningKey::ToPem() const {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), evp_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return MakeError(ErrorCode::kInternal, "OpenSSL could not write the PEM key");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  std::string out(data, static_cast<size_t>(len));
  OPENSSL_cleanse(data, static_cast<size_t>(len));
  return out;
}

Result<std::vector<uint8_t>> RsaSigningKey::Sign(std::string_view signing_input) const {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  size_t len = 0;
  const auto* input = reinterpret_cast<const uint8_t*>(signing_input.data());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, evp_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, input, signing_input.size()) != 1)
    return MakeError(ErrorCode::kInternal, "OpenSSL could not start RS256 signing");
  std::vector<uint8_t> sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, input, signing_input.size()) != 1)
    return MakeError(ErrorCode::kInternal, "OpenSSL RS256 signing failed");
  sig.resize(len);
  return sig;
}

// ---------------------------------------------------------------------------------------------
// Ed25519SigningKey

Ed25519SigningKey::~Ed25519SigningKey() { sodium_memzero(secret_.data(), secret_.size()); }

Result<std::unique_ptr<Ed25519SigningKey>> Ed25519SigningKey::FromSeed(
    std::span<const uint8_t> seed, std::string kid) {
  if (seed.size() != crypto_sign_SEEDBYTES)
    return MakeError(ErrorCode::kInvalidArgument, "an Ed25519 seed must be 32 bytes");
  auto key = std::unique_ptr<Ed25519SigningKey>(new Ed25519SigningKey());
  std::array<uint8_t, 32> pk{};
  crypto_sign_seed_keypair(pk.data(), key->secret_.data(), seed.data());
  key->public_ = PublicJwk::FromEd25519(pk, std::move(kid));
  return key;
}

std::unique_ptr<Ed25519SigningKey> Ed25519SigningKey::Generate() {
  std::array<uint8_t, 32> seed{};
  randombytes_buf(seed.data(), seed.size());
  auto key = std::move(FromSeed(seed).value());
  sodium_memzero(seed.data(), seed.size());
  return key;
}

Result<std::vector<uint8_t>> Ed25519SigningKey::Sign(std::string_view signing_input) const {
  std::vector<uint8_t> sig(crypto_sign_BYTES);
  crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const uint8_t*>(signing_input.data()),
                       signing_input.size(), secret_.data());
  return sig;
}

}  // namespace kith::identity
