// The OpenID Connect provider's signing keys.
//
// RS256: RSA-2048 keys, the private key in DATA_DIR/keys/oidc-rsa-<kid>.pem (mode 0600, the
// directory 0700), metadata in the oidc_keys table. Exactly one key is "current" (signs new
// ID tokens); Rotate makes a fresh current key and keeps the previous one published as
// "retiring" until its not_after, so relying parties that cached the JWKS still verify tokens
// signed just before the rotation. EdDSA: the node's own Ed25519 key (NodeKeyring), adapted by
// NodeKeyringSigningKey so its secret never leaves the keyring.
//
// OidcKeySet is an immutable snapshot (load it at start and again after a rotation, and swap
// a shared_ptr): thread-safe to share.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "identity/jwk.h"
#include "identity/node_keys.h"
#include "identity/write_result.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace kith::identity {

// Metadata of one RSA key (a row of oidc_keys).
struct OidcKeyInfo {
  int64_t id = 0;
  std::string kid;
  int64_t created_at = 0;
  std::optional<int64_t> not_after;  // set once superseded
  std::string status = "current";    // current | retiring
};

// The node's Ed25519 NodeKeyring as an EdDSA SigningKey. Holds the keyring alive.
class NodeKeyringSigningKey final : public SigningKey {
 public:
  explicit NodeKeyringSigningKey(std::shared_ptr<const NodeKeyring> keyring)
      : keyring_(std::move(keyring)),
        public_(PublicJwk::FromEd25519(keyring_->current().public_key, keyring_->current().kid)) {}
  JwsAlgorithm algorithm() const override { return JwsAlgorithm::kEdDSA; }
  const std::string& kid() const override { return public_.kid(); }
  const PublicJwk& public_jwk() const override { return public_; }
  Result<std::vector<uint8_t>> Sign(std::string_view signing_input) const override {
    auto sig = keyring_->Sign(std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(signing_input.data()), signing_input.size()));
    return std::vector<uint8_t>(sig.begin(), sig.end());
  }

 private:
  std::shared_ptr<const NodeKeyring> keyring_;
  PublicJwk public_;
};

// The keys the provider signs with and publishes, as of one moment.
class OidcKeySet {
 public:
  // Loads every RSA key still published at the clock's now (current, and retiring ones before
  // their not_after) with their PEM files. `eddsa` is the node's EdDSA key (may be null: no
  // EdDSA). kNotFound when there is no current RSA key (run EnsureRsaKey); errors name a
  // missing or unreadable file, a mode other than 0600, or a PEM whose kid does not match.
  static Result<std::shared_ptr<const OidcKeySet>> Load(const std::filesystem::path& data_dir,
                                                        storage::Store& store,
                                                        std::shared_ptr<const SigningKey> eddsa,
                                                        const Clock& clock);

  // The key that signs with `alg` (RS256: the current RSA key; EdDSA: the node key), or null.
  const SigningKey* SignerFor(JwsAlgorithm alg) const;

  // Public keys to publish: the current RSA key first, then retiring RSA keys, then EdDSA.
  const std::vector<PublicJwk>& published() const { return published_; }

  // {"keys":[...]} for the jwks_uri.
  nlohmann::json Jwks() const { return JwksDocument(published_); }

 private:
  OidcKeySet() = default;
  std::shared_ptr<const SigningKey> rsa_current_;
  std::shared_ptr<const SigningKey> eddsa_;
  std::vector<std::shared_ptr<const SigningKey>> rsa_retiring_;
  std::vector<PublicJwk> published_;
};

// Creating, rotating and listing the RSA keys.
class OidcKeys {
 public:
  // Makes sure a current RSA key exists: returns it, or generates one (slow: RSA-2048), writes
  // its PEM (0600) and records it, waiting for the commit. For start-up and tools only — it
  // blocks the calling thread.
  static Result<OidcKeyInfo> EnsureRsaKey(const std::filesystem::path& data_dir,
                                          storage::Store& store, const Clock& clock);

  // Generates a new current key (on the calling thread: call it off the I/O threads), writes
  // its PEM, then in one writer job marks the previous current key "retiring" with
  // not_after = now + overlap and records the new one. `done` gets the new key's info; on a
  // failed commit the new PEM file is removed again. overlap must be >= 0.
  static void Rotate(const std::filesystem::path& data_dir, storage::Store& store,
                     const Clock& clock, std::chrono::seconds overlap, Done<OidcKeyInfo> done);

  // Deletes retiring keys whose not_after has passed (rows and PEM files); answers how many.
  static void PurgeExpired(const std::filesystem::path& data_dir, storage::Store& store,
                           const Clock& clock, Done<int64_t> done);

  // Every recorded RSA key, newest first.
  static Result<std::vector<OidcKeyInfo>> List(storage::Store& store);

  // DATA_DIR/keys/oidc-rsa-<kid>.pem
  static std::filesystem::path PemPath(const std::filesystem::path& data_dir, std::string_view kid);
};

}  // namespace kith::identity
