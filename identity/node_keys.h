// NodeKeyring: the node's own Ed25519 signing keys (libsodium).
//
// Layout: the secret seed of each key lives in DATA_DIR/keys/<kid>.key (directory 0700,
// file 0600); the table node_keys holds the public half, creation time, status and validity,
// which is what the node document (/.well-known/kith-node) publishes.
// A key id (kid) is the RFC 7638 JWK thumbprint (base64url, SHA-256) of the OKP public key.
//
// Thread-safety: a loaded NodeKeyring is immutable and safe to share between threads.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "storage/clock.h"
#include "storage/database.h"
#include "storage/result.h"

namespace kith::identity {

using Ed25519PublicKey = std::array<uint8_t, 32>;
using Ed25519Signature = std::array<uint8_t, 64>;

struct NodeKey {
  std::string kid;
  std::string algorithm = "ed25519";
  Ed25519PublicKey public_key{};
  int64_t created_at = 0;            // unix seconds
  std::optional<int64_t> not_after;  // set once the key has been superseded
  std::string status = "current";    // current | retiring | retired
};

// RFC 7638 thumbprint of an Ed25519 public key: base64url(SHA-256({"crv","kty","x"})).
std::string KeyIdFor(const Ed25519PublicKey& public_key);

// Human-checkable fingerprint for operators, "SHA256:" + base64 (no padding) of SHA-256(pk).
std::string Fingerprint(const Ed25519PublicKey& public_key);

class NodeKeyring {
 public:
  // Creates DATA_DIR/keys and the node's first key (file and database row) on `db`.
  // kConflict if the node already has a key.
  static Result<NodeKey> CreateInitial(const std::filesystem::path& data_dir, storage::Database& db,
                                       const Clock& clock);

  // Loads every published key from `db` and the current key's secret from its file.
  // Errors name the missing or unreadable file, or a wrong file mode (must be 0600).
  static Result<std::shared_ptr<const NodeKeyring>> Load(const std::filesystem::path& data_dir,
                                                         storage::Database& db);

  ~NodeKeyring();  // wipes the secret

  const NodeKey& current() const { return current_; }

  // The current key and the superseded ones still valid at `now_unix` (for the node document).
  std::vector<NodeKey> Published(int64_t now_unix) const;

  // Signs `message` with the current key.
  Ed25519Signature Sign(std::span<const uint8_t> message) const;

 private:
  NodeKeyring() = default;
  NodeKey current_;
  std::vector<NodeKey> all_;
  std::array<uint8_t, 64> secret_{};  // libsodium secret key (seed || public key)
};

}  // namespace kith::identity
