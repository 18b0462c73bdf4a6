#include "federation/content_digest.h"

#include <sodium.h>

#include "federation/structured_field.h"

namespace kith::federation {
namespace {

std::string Sha256(std::string_view body) {
  std::string out(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256(reinterpret_cast<unsigned char*>(out.data()),
                     reinterpret_cast<const unsigned char*>(body.data()), body.size());
  return out;
}

std::string Sha512(std::string_view body) {
  std::string out(crypto_hash_sha512_BYTES, '\0');
  crypto_hash_sha512(reinterpret_cast<unsigned char*>(out.data()),
                     reinterpret_cast<const unsigned char*>(body.data()), body.size());
  return out;
}

std::string Field(std::string algorithm, std::string digest) {
  sf::Dictionary dict;
  dict.emplace_back(std::move(algorithm), sf::Item{sf::ByteSequence{std::move(digest)}, {}});
  // Cannot fail: the key is a constant valid key and the value a byte sequence.
  return sf::SerializeDictionary(dict).value();
}

Error DigestError(std::string message, std::string reason) {
  return MakeError(ErrorCode::kUnauthenticated, std::move(message), std::move(reason));
}

}  // namespace

std::string ContentDigestSha256(std::string_view body) { return Field("sha-256", Sha256(body)); }

std::string ContentDigestSha512(std::string_view body) { return Field("sha-512", Sha512(body)); }

Status VerifyContentDigest(std::string_view field_value, std::string_view body) {
  auto dict = sf::ParseDictionary(field_value);
  if (!dict.ok()) {
    return DigestError("Content-Digest is not a valid dictionary: " + dict.error().message,
                       "malformed_digest");
  }
  int checked = 0;
  for (const auto& [algorithm, member] : *dict) {
    const bool sha256 = algorithm == "sha-256";
    const bool sha512 = algorithm == "sha-512";
    if (!sha256 && !sha512) continue;  // RFC 9530: unknown algorithms are ignored
    const auto* item = std::get_if<sf::Item>(&member);
    const auto* bytes = item ? std::get_if<sf::ByteSequence>(&item->value) : nullptr;
    if (bytes == nullptr) {
      return DigestError("Content-Digest " + algorithm + " is not a byte sequence",
                         "malformed_digest");
    }
    const std::string expected = sha256 ? Sha256(body) : Sha512(body);
    if (bytes->bytes.size() != expected.size() ||
        sodium_memcmp(bytes->bytes.data(), expected.data(), expected.size()) != 0) {
      return DigestError("Content-Digest " + algorithm + " does not match the body",
                         "digest_mismatch");
    }
    ++checked;
  }
  if (checked == 0) {
    return DigestError("Content-Digest has no supported algorithm (sha-256 or sha-512)",
                       "unsupported_digest");
  }
  return OkStatus();
}

}  // namespace kith::federation
