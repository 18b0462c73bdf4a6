// JWK (RFC 7517/7518/8037) public keys, signing keys and base64url (RFC 4648 §5, no padding).
//
// PublicJwk is a parsed, validated public key (RSA >= 2048 bits, EC P-256, OKP Ed25519) that
// can verify JWS signatures; it exports itself as JWK JSON with its RFC 7638 thumbprint as
// "kid" unless the key came with one. SigningKey is the private side: RsaSigningKey (OpenSSL
// EVP, RS256) and Ed25519SigningKey (libsodium, EdDSA). Secret bytes are wiped on destruction.
//
// Thread-safety: all types here are immutable after construction and safe to share between
// threads (const methods only).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/result.h"

struct evp_pkey_st;

namespace kith::identity {

// base64url without padding. Decoding refuses padding, whitespace and any other character.
std::string Base64UrlEncode(std::span<const uint8_t> bytes);
std::string Base64UrlEncode(std::string_view bytes);
Result<std::vector<uint8_t>> Base64UrlDecode(std::string_view text);

// `bytes` random bytes (libsodium) as base64url: tokens, client ids, subs.
std::string RandomBase64Url(size_t bytes);

// SHA-256 of `data`.
std::array<uint8_t, 32> Sha256(std::string_view data);

// The JWS algorithms kith signs or verifies.
enum class JwsAlgorithm { kRS256, kES256, kEdDSA };

// "RS256", "ES256", "EdDSA".
std::string_view JwsAlgorithmName(JwsAlgorithm alg);
// Parses an "alg" value; kInvalidArgument for anything else (including "none").
Result<JwsAlgorithm> ParseJwsAlgorithm(std::string_view name);

// A public key. Cheap to copy (the OpenSSL key is shared, immutable).
class PublicJwk {
 public:
  // Parses one JWK object. Accepts kty RSA (n, e; modulus >= 2048 bits), EC (crv P-256, x, y;
  // the point must be on the curve) and OKP (crv Ed25519, x). Refuses keys carrying private
  // members ("d", "p", ...), unknown kty/crv, and "use" other than "sig". kInvalidArgument
  // with a message naming the member on any problem.
  static Result<PublicJwk> FromJson(const nlohmann::json& jwk);

  // The public JWK of an Ed25519 key; kid is `kid` or, when empty, the RFC 7638 thumbprint.
  static PublicJwk FromEd25519(std::span<const uint8_t, 32> public_key, std::string kid = {});

  // "RSA", "EC" or "OKP".
  const std::string& kty() const { return kty_; }
  // The "kid": the key's own kid if it had one, else its RFC 7638 thumbprint.
  const std::string& kid() const { return kid_; }
  // The "alg" the key was published with, empty when none.
  const std::string& alg() const { return alg_; }

  // RFC 7638 thumbprint: base64url(SHA-256 of the canonical required members).
  std::string Thumbprint() const;

  // Whether this key type can verify `alg` (RSA: RS256, EC P-256: ES256, OKP: EdDSA), and
  // the key's own "alg" (if any) agrees.
  bool Supports(JwsAlgorithm alg) const;

  // Verifies `signature` over `signing_input`. kUnauthenticated when it does not verify,
  // kInvalidArgument when the algorithm does not fit the key.
  Status Verify(JwsAlgorithm alg, std::string_view signing_input,
                std::span<const uint8_t> signature) const;

  // The public JWK: kty, the key members, kid, "use":"sig" and "alg" when known.
  nlohmann::json ToJson() const;

  // The raw 32-byte public key of an OKP Ed25519 key (for fingerprints); nullopt for RSA/EC.
  std::optional<std::array<uint8_t, 32>> ed25519() const {
    if (kty_ != "OKP") return std::nullopt;
    return ed25519_;
  }

 private:
  friend class RsaSigningKey;
  friend class Ed25519SigningKey;
  PublicJwk() = default;
  std::string kty_;
  std::string crv_;
  std::string kid_;
  std::string alg_;
  // base64url members as published: RSA n, e; EC/OKP x (and EC y).
  std::string n_, e_, x_, y_;
  std::shared_ptr<evp_pkey_st> evp_;  // RSA and EC
  std::array<uint8_t, 32> ed25519_{};
};

// A JWKS document {"keys":[...]} from public keys, in the given order.
nlohmann::json JwksDocument(const std::vector<PublicJwk>& keys);

// Parses a JWKS document; every key must parse (the error names its index). At most 32 keys.
Result<std::vector<PublicJwk>> ParseJwks(const nlohmann::json& jwks);

// A private key that signs JWS. Implementations are immutable and thread-safe.
class SigningKey {
 public:
  virtual ~SigningKey() = default;
  virtual JwsAlgorithm algorithm() const = 0;
  // The kid published in the JWKS and put in JWS headers.
  virtual const std::string& kid() const = 0;
  virtual const PublicJwk& public_jwk() const = 0;
  // The raw JWS signature of `signing_input`; kInternal on a library failure.
  virtual Result<std::vector<uint8_t>> Sign(std::string_view signing_input) const = 0;
};

// RS256 with an RSA key (OpenSSL EVP). kid = RFC 7638 thumbprint.
class RsaSigningKey final : public SigningKey {
 public:
  // Generates a fresh key (2048 bits by default, at least 2048). Slow-ish (tens to hundreds
  // of milliseconds): call at initialisation or rotation, never on an I/O thread.
  static Result<std::unique_ptr<RsaSigningKey>> Generate(int bits = 2048);
  // Loads a PKCS#8 or traditional PEM private key; refuses non-RSA and < 2048-bit keys.
  static Result<std::unique_ptr<RsaSigningKey>> FromPem(std::string_view pem);

  ~RsaSigningKey() override;

  // The private key as PKCS#8 PEM. The caller owns the secret text and should wipe it
  // (sodium_memzero) once written.
  Result<std::string> ToPem() const;

  JwsAlgorithm algorithm() const override { return JwsAlgorithm::kRS256; }
  const std::string& kid() const override { return public_.kid(); }
  const PublicJwk& public_jwk() const override { return public_; }
  Result<std::vector<uint8_t>> Sign(std::string_view signing_input) const override;

 private:
  RsaSigningKey() = default;
  static Result<std::unique_ptr<RsaSigningKey>> FromEvp(evp_pkey_st* pkey);  // takes ownership
  std::shared_ptr<evp_pkey_st> evp_;
  PublicJwk public_;
};

// EdDSA with an Ed25519 key (libsodium). kid = RFC 7638 thumbprint unless given.
class Ed25519SigningKey final : public SigningKey {
 public:
  // From a 32-byte seed (the JWK "d"). kInvalidArgument on a wrong size.
  static Result<std::unique_ptr<Ed25519SigningKey>> FromSeed(std::span<const uint8_t> seed,
                                                             std::string kid = {});
  static std::unique_ptr<Ed25519SigningKey> Generate();
  ~Ed25519SigningKey() override;  // wipes the secret

  JwsAlgorithm algorithm() const override { return JwsAlgorithm::kEdDSA; }
  const std::string& kid() const override { return public_.kid(); }
  const PublicJwk& public_jwk() const override { return public_; }
  Result<std::vector<uint8_t>> Sign(std::string_view signing_input) const override;

 private:
  Ed25519SigningKey() = default;
  std::array<uint8_t, 64> secret_{};
  PublicJwk public_;
};

}  // namespace kith::identity
