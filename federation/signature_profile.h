// The kith profile of HTTP Message Signatures: what every federation request and response
// carries, how it is signed with the node's Ed25519 key and how a receiving node verifies it.
// The wire format, with worked examples, is in docs/federation.md ("Signed messages").
//
// Requests with a body cover ("@method" "@target-uri" "content-digest" "content-type"),
// requests without one ("@method" "@target-uri"). Responses cover ("@status" "content-digest"
// "@method";req "@target-uri";req). Parameters, in this order: created, expires (at most
// 300 s after created), keyid, alg="ed25519", nonce (128 random bits, base64url), tag="kith".
// The signature label is "kith".
//
// Verification failures are Error{kUnauthenticated (401), message, reason}; the reasons are
// the constants in namespace `reason` below. A full replay cache yields
// Error{kUnavailable (503), ..., "replay_cache_full"} (fail closed, see replay_cache.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "federation/http_signature.h"
#include "federation/replay_cache.h"
#include "identity/node_keys.h"
#include "storage/clock.h"
#include "storage/result.h"

namespace kith::federation {

inline constexpr std::string_view kSignatureLabel = "kith";
inline constexpr std::string_view kSignatureTag = "kith";
inline constexpr std::chrono::seconds kMaxSignatureValidity{300};

// The machine-readable reasons a kith signature is refused (Error::reason).
namespace reason {
inline constexpr std::string_view kMissingSignature = "missing_signature";
inline constexpr std::string_view kMalformedSignature = "malformed_signature";
inline constexpr std::string_view kUnsupportedAlgorithm = "unsupported_algorithm";
inline constexpr std::string_view kWrongTag = "wrong_tag";
inline constexpr std::string_view kComponentNotCovered = "component_not_covered";
inline constexpr std::string_view kComponentMissing = "component_missing";
inline constexpr std::string_view kUnsupportedComponent = "unsupported_component";
inline constexpr std::string_view kUnknownKey = "unknown_key";
inline constexpr std::string_view kPeerNotActive = "peer_not_active";
inline constexpr std::string_view kKeyNotValid = "key_not_valid";
inline constexpr std::string_view kCreatedInFuture = "created_in_future";
inline constexpr std::string_view kSignatureExpired = "signature_expired";
inline constexpr std::string_view kValidityTooLong = "validity_too_long";
inline constexpr std::string_view kInvalidSignature = "invalid_signature";
inline constexpr std::string_view kMissingDigest = "missing_digest";
inline constexpr std::string_view kDigestMismatch = "digest_mismatch";
inline constexpr std::string_view kMalformedDigest = "malformed_digest";
inline constexpr std::string_view kUnsupportedDigest = "unsupported_digest";
inline constexpr std::string_view kReplayedNonce = "replayed_nonce";
inline constexpr std::string_view kReplayCacheFull = "replay_cache_full";
}  // namespace reason

// Produces Ed25519 signatures for the node's current key. Implementations: a lambda around
// identity::NodeKeyring::Sign, or Ed25519SecretKey below (tests, tools). Must be thread-safe
// if the signer is shared between threads.
using SignFunction = std::function<identity::Ed25519Signature(std::span<const uint8_t>)>;

// An Ed25519 key pair held in memory (tests, tools, benchmarks); the secret is wiped on
// destruction. Not copyable.
class Ed25519SecretKey {
 public:
  // From a 32-byte seed.
  explicit Ed25519SecretKey(std::span<const uint8_t, 32> seed);
  // A fresh random key.
  static Ed25519SecretKey Generate();
  ~Ed25519SecretKey();
  Ed25519SecretKey(Ed25519SecretKey&& other) noexcept;
  Ed25519SecretKey(const Ed25519SecretKey&) = delete;
  Ed25519SecretKey& operator=(const Ed25519SecretKey&) = delete;
  Ed25519SecretKey& operator=(Ed25519SecretKey&&) = delete;

  const identity::Ed25519PublicKey& public_key() const { return public_key_; }
  identity::Ed25519Signature Sign(std::span<const uint8_t> message) const;
  // A SignFunction that refers to this key (which must outlive it).
  SignFunction AsSignFunction() const;

 private:
  Ed25519SecretKey() = default;
  std::array<uint8_t, 64> secret_{};
  identity::Ed25519PublicKey public_key_{};
};

// Signs outgoing federation messages under the kith profile. Thread-safe if `sign` is.
class KithSigner {
 public:
  // `key_id` is the kid the receiver resolves; `clock` must outlive the signer. `validity` is
  // clamped to [1 s, 300 s].
  KithSigner(std::string key_id, SignFunction sign, const Clock& clock,
             std::chrono::seconds validity = kMaxSignatureValidity);

  // Signs `request` (method and absolute target URI set) carrying `body`. A non-empty body
  // gets a Content-Digest (sha-256) and needs a Content-Type field (kInvalidArgument if absent).
  // Adds or replaces Content-Digest, Signature-Input and Signature.
  Status SignRequest(HttpMessage& request, std::string_view body) const;

  // Signs `response` (status set) carrying `body`, bound to the `request` it answers.
  // Always adds a Content-Digest (also of an empty body).
  Status SignResponse(HttpMessage& response, const HttpMessage& request,
                      std::string_view body) const;

  const std::string& key_id() const { return key_id_; }

 private:
  Status Sign(HttpMessage& message, const HttpMessage* request, sf::InnerList input) const;
  sf::Parameters Params() const;

  std::string key_id_;
  SignFunction sign_;
  const Clock& clock_;
  std::chrono::seconds validity_;
};

// What a verifier needs to know about a key id. Filled by the peering module from the peers
// table and their node documents.
struct ResolvedKey {
  identity::Ed25519PublicKey public_key{};
  std::string node_id;                 // the node that owns the key (e.g. its base URL or node id)
  bool peer_active = false;            // is the owner an active peer (or ourselves)?
  std::string peer_state;              // for the error message, e.g. "suspended"
  int64_t valid_from = 0;              // unix seconds (the key's created_at)
  std::optional<int64_t> valid_until;  // unix seconds (the key's not_after), if any
};

// Looks up key ids. Must be thread-safe if the verifier is shared.
class KeyResolver {
 public:
  virtual ~KeyResolver() = default;
  // The key for `kid`, or std::nullopt if no known peer (or this node) publishes it.
  virtual std::optional<ResolvedKey> Resolve(std::string_view kid) const = 0;
};

// Tunables of verification.
struct VerifyPolicy {
  std::chrono::seconds max_clock_skew{60};  // how far `created` may be in the future
  std::chrono::seconds max_validity{kMaxSignatureValidity};  // expires - created
};

// What a successful verification established.
struct VerifiedSignature {
  std::string key_id;
  std::string node_id;
  int64_t created = 0;
  int64_t expires = 0;
  std::string nonce;
};

// Verifies incoming federation messages under the kith profile. Thread-safe if the resolver is
// (the replay cache locks itself). The resolver, cache and clock must outlive the verifier.
class KithVerifier {
 public:
  KithVerifier(const KeyResolver& resolver, ReplayCache& replay_cache, const Clock& clock,
               VerifyPolicy policy = {});

  // Verifies a federation request and its body: signature, coverage, parameters, key, time
  // window, digest, and records the nonce (only after everything else passed).
  Result<VerifiedSignature> VerifyRequest(const HttpMessage& request, std::string_view body) const;

  // Verifies a response to `request` (as we sent it) and its body.
  Result<VerifiedSignature> VerifyResponse(const HttpMessage& response, const HttpMessage& request,
                                           std::string_view body) const;

 private:
  Result<VerifiedSignature> Verify(const HttpMessage& message, const HttpMessage* request,
                                   std::string_view body) const;

  const KeyResolver& resolver_;
  ReplayCache& replay_cache_;
  const Clock& clock_;
  VerifyPolicy policy_;
};

// The JSON body of a refused signature, e.g.
// {"error":"signature_expired","message":"signature expired at 1700000300"}.
std::string SignatureErrorJson(const Error& error);

// A fresh nonce: 16 random bytes, base64url without padding (22 characters).
std::string NewNonce();

}  // namespace kith::federation
