#include "federation/signature_profile.h"

#include <sodium.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "federation/content_digest.h"

namespace kith::federation {
namespace {

void InitSodium() {
  if (sodium_init() < 0) std::abort();  // libsodium cannot work at all; nothing to recover
}

Error Refuse(std::string_view reason, std::string message) {
  return MakeError(ErrorCode::kUnauthenticated, std::move(message), std::string(reason));
}

sf::Item Component(std::string name, bool req = false) {
  sf::Item item{std::move(name), {}};
  if (req) item.params.emplace_back("req", true);
  return item;
}

bool Covers(const sf::InnerList& input, const sf::Item& wanted) {
  return std::any_of(input.items.begin(), input.items.end(),
                     [&](const sf::Item& item) { return item == wanted; });
}

std::string Describe(const sf::Item& component) {
  auto text = sf::SerializeItem(component);
  return text.ok() ? *text : "?";
}

}  // namespace

// --- Ed25519SecretKey ------------------------------------------------------------------------

Ed25519SecretKey::Ed25519SecretKey(std::span<const uint8_t, 32> seed) {
  InitSodium();
  crypto_sign_seed_keypair(public_key_.data(), secret_.data(), seed.data());
}

Ed25519SecretKey Ed25519SecretKey::Generate() {
  InitSodium();
  Ed25519SecretKey key;
  crypto_sign_keypair(key.public_key_.data(), key.secret_.data());
  return key;
}

Ed25519SecretKey::~Ed25519SecretKey() { sodium_memzero(secret_.data(), secret_.size()); }

Ed25519SecretKey::Ed25519SecretKey(Ed25519SecretKey&& other) noexcept
    : secret_(other.secret_), public_key_(other.public_key_) {
  sodium_memzero(other.secret_.data(), other.secret_.size());
}

identity::Ed25519Signature Ed25519SecretKey::Sign(std::span<const uint8_t> message) const {
  return SignEd25519(
      std::string_view(reinterpret_cast<const char*>(message.data()), message.size()),
      std::span<const uint8_t, 64>(secret_));
}

SignFunction Ed25519SecretKey::AsSignFunction() const {
  return [this](std::span<const uint8_t> message) { return Sign(message); };
}

std::string NewNonce() {
  InitSodium();
  unsigned char bytes[16];
  randombytes_buf(bytes, sizeof(bytes));
  char out[sodium_base64_ENCODED_LEN(16, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(out, sizeof(out), bytes, sizeof(bytes),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return out;
}

// --- KithSigner ------------------------------------------------------------------------------

KithSigner::KithSigner(std::string key_id, SignFunction sign, const Clock& clock,
                       std::chrono::seconds validity)
    : key_id_(std::move(key_id)),
      sign_(std::move(sign)),
      clock_(clock),
      validity_(std::clamp(validity, std::chrono::seconds(1), kMaxSignatureValidity)) {
  InitSodium();
}

sf::Parameters KithSigner::Params() const {
  const int64_t created = clock_.UnixSeconds();
  return {
      {"created", created},  {"expires", created + validity_.count()},
      {"keyid", key_id_},    {"alg", std::string("ed25519")},
      {"nonce", NewNonce()}, {"tag", std::string(kSignatureTag)},
  };
}

Status KithSigner::Sign(HttpMessage& message, const HttpMessage* request,
                        sf::InnerList input) const {
  input.params = Params();
  auto base = SignatureBase(input, message, request);
  if (!base.ok()) {
    return MakeError(ErrorCode::kInvalidArgument, "cannot sign: " + base.error().message);
  }
  const auto signature =
      sign_(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(base->data()), base->size()));
  return AttachSignature(message, kSignatureLabel, input, signature);
}

Status KithSigner::SignRequest(HttpMessage& request, std::string_view body) const {
  if (!request.IsRequest() || request.method.empty() || request.target_uri.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "cannot sign: not a request with a target URI");
  }
  sf::InnerList input;
  input.items = {Component("@method"), Component("@target-uri")};
  if (!body.empty()) {
    if (!request.HasField("content-type")) {
      return MakeError(ErrorCode::kInvalidArgument, "cannot sign: a body needs a Content-Type");
    }
    request.SetField("Content-Digest", ContentDigestSha256(body));
    input.items.push_back(Component("content-digest"));
    input.items.push_back(Component("content-type"));
  }
  return Sign(request, nullptr, std::move(input));
}

Status KithSigner::SignResponse(HttpMessage& response, const HttpMessage& request,
                                std::string_view body) const {
  if (response.IsRequest() || !request.IsRequest()) {
    return MakeError(ErrorCode::kInvalidArgument, "cannot sign: not a response to a request");
  }
  response.SetField("Content-Digest", ContentDigestSha256(body));
  sf::InnerList input;
  input.items = {Component("@status"), Component("content-digest"), Component("@method", true),
                 Component("@target-uri", true)};
  return Sign(response, &request, std::move(input));
}

// --- KithVerifier ----------------------------------------------------------------------------

KithVerifier::KithVerifier(const KeyResolver& resolver, ReplayCache& replay_cache,
                           const Clock& clock, VerifyPolicy policy)
    : resolver_(resolver), replay_cache_(replay_cache), clock_(clock), policy_(policy) {
  InitSodium();
}

Result<VerifiedSignature> KithVerifier::VerifyRequest(const HttpMessage& request,
                                                      std::string_view body) const {
  if (!request.IsRequest()) return Refuse(reason::kMalformedSignature, "not a request");
  return Verify(request, nullptr, body);
}

Result<VerifiedSignature> KithVerifier::VerifyResponse(const HttpMessage& response,
                                                       const HttpMessage& request,
                                                       std::string_view body) const {
  if (response.IsRequest() || !request.IsRequest()) {
    return Refuse(reason::kMalformedSignature, "not a response to a request");
  }
  return Verify(response, &request, body);
}

Result<VerifiedSignature> KithVerifier::Verify(const HttpMessage& message,
                                               const HttpMessage* request,
                                               std::string_view body) const {
  auto entry = FindSignature(message, kSignatureLabel);
  if (!entry.ok()) return std::move(entry).error();
  const sf::Parameters& params = entry->input.params;

  // Parameters: all six are required, with the right types.
  auto int_param = [&](std::string_view key) -> const int64_t* {
    const sf::BareItem* v = sf::FindParam(params, key);
    return v ? std::get_if<int64_t>(v) : nullptr;
  };
  auto string_param = [&](std::string_view key) -> const std::string* {
    const sf::BareItem* v = sf::FindParam(params, key);
    return v ? std::get_if<std::string>(v) : nullptr;
  };
  const int64_t* created = int_param("created");
  const int64_t* expires = int_param("expires");
  const std::string* keyid = string_param("keyid");
  const std::string* alg = string_param("alg");
  const std::string* nonce = string_param("nonce");
  const std::string* tag = string_param("tag");
  if (tag == nullptr || *tag != kSignatureTag) {
    return Refuse(reason::kWrongTag, "signature tag must be \"kith\"");
  }
  if (alg == nullptr || *alg != "ed25519") {
    return Refuse(reason::kUnsupportedAlgorithm,
                  "signature algorithm must be \"ed25519\", got " +
                      (alg ? "\"" + *alg + "\"" : std::string("none")));
  }
  if (created == nullptr || expires == nullptr || keyid == nullptr || nonce == nullptr) {
    return Refuse(reason::kMalformedSignature,
                  "signature parameters created, expires, keyid and nonce are required");
  }
  if (nonce->empty() || nonce->size() > 128) {
    return Refuse(reason::kMalformedSignature, "nonce must have 1 to 128 characters");
  }

  // Coverage.
  std::vector<sf::Item> required;
  bool digest_required = false;
  if (request == nullptr) {
    required = {Component("@method"), Component("@target-uri")};
    if (!body.empty() || message.HasField("content-digest")) {
      required.push_back(Component("content-digest"));
      required.push_back(Component("content-type"));
      digest_required = true;
    }
  } else {
    required = {Component("@status"), Component("content-digest"), Component("@method", true),
                Component("@target-uri", true)};
    digest_required = true;
  }
  for (const sf::Item& component : required) {
    if (!Covers(entry->input, component)) {
      return Refuse(reason::kComponentNotCovered,
                    "the signature does not cover " + Describe(component));
    }
  }
  if (digest_required && !message.HasField("content-digest")) {
    return Refuse(reason::kMissingDigest, "the message has no Content-Digest");
  }

  // Time window.
  const int64_t now = clock_.UnixSeconds();
  if (*expires <= *created) {
    return Refuse(reason::kMalformedSignature, "signature expires before it is created");
  }
  if (*expires - *created > policy_.max_validity.count()) {
    return Refuse(
        reason::kValidityTooLong,
        "signature validity exceeds " + std::to_string(policy_.max_validity.count()) + " s");
  }
  if (*created > now + policy_.max_clock_skew.count()) {
    return Refuse(reason::kCreatedInFuture, "signature created at " + std::to_string(*created) +
                                                ", beyond the allowed clock skew (now " +
                                                std::to_string(now) + ")");
  }
  if (*expires < now) {
    return Refuse(reason::kSignatureExpired, "signature expired at " + std::to_string(*expires) +
                                                 " (now " + std::to_string(now) + ")");
  }

  // Key.
  std::optional<ResolvedKey> key = resolver_.Resolve(*keyid);
  if (!key.has_value()) return Refuse(reason::kUnknownKey, "unknown key id \"" + *keyid + "\"");
  if (!key->peer_active) {
    return Refuse(reason::kPeerNotActive,
                  "key \"" + *keyid + "\" belongs to " + key->node_id + ", which is not an " +
                      "active peer" +
                      (key->peer_state.empty() ? "" : " (" + key->peer_state + ")"));
  }
  if (now + policy_.max_clock_skew.count() < key->valid_from ||
      (key->valid_until.has_value() && now > *key->valid_until)) {
    return Refuse(reason::kKeyNotValid, "key \"" + *keyid + "\" is not valid now");
  }

  // Signature.
  auto base = SignatureBase(entry->input, message, request);
  if (!base.ok()) return std::move(base).error();
  if (!VerifyEd25519(*base, entry->signature, key->public_key)) {
    return Refuse(reason::kInvalidSignature, "the Ed25519 signature does not verify");
  }

  // Body.
  if (digest_required) {
    std::string digest;
    for (auto v : message.FieldValues("content-digest")) {
      if (!digest.empty()) digest += ", ";
      digest += v;
    }
    KITH_RETURN_IF_ERROR(VerifyContentDigest(digest, body));
  }

  // Replay: recorded last, so that only authentic messages occupy the cache.
  KITH_RETURN_IF_ERROR(replay_cache_.CheckAndInsert(*keyid, *nonce, *expires, now));
  return VerifiedSignature{*keyid, key->node_id, *created, *expires, *nonce};
}

std::string SignatureErrorJson(const Error& error) {
  nlohmann::json body = {{"error", std::string(error.Name())}, {"message", error.message}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace kith::federation
