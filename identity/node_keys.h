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
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/clock.h"
#include "storage/database.h"
#include "storage/result.h"
#include "storage/store.h"

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

  // What Rotate did: the new current key, and the key(s) it superseded (now "retiring",
  // not_after = now + overlap). Normally exactly one superseded key.
  struct Rotation {
    NodeKey new_key;
    std::vector<NodeKey> superseded;
  };

  // Makes a new Ed25519 key: first its seed file DATA_DIR/keys/<kid>.key (0600, written
  // atomically), then, in one write job on `store`, every "current" row becomes "retiring"
  // with not_after = now + overlap and the new row is inserted as "current". When the job
  // fails the new file is removed again and nothing changed. kInvalidArgument for a negative
  // overlap or one over 366 days; kNotFound when the node has no current key. Blocks on the
  // writer's commit (call it off the I/O threads). Safe to call concurrently: the writer
  // serialises the jobs, so the second rotation supersedes the first one's new key.
  // The loaded keyrings are not changed: Load again (NodeContext::reload_keys) to sign with
  // the new key.
  static Result<Rotation> Rotate(const std::filesystem::path& data_dir, storage::Store& store,
                                 const Clock& clock, std::chrono::seconds overlap);

  // Ends the keys whose overlap is over: every "retiring" row with not_after <= now becomes
  // "retired" (kept, so that the kid stays on record and is never reused), and its seed file
  // is overwritten with zeros, fsynced and removed (a missing file is fine). Returns the kids
  // purged. Blocks on the writer; errors name the file that could not be removed (the row is
  // then already "retired": the key is no longer published nor used, run it again to retry).
  static Result<std::vector<std::string>> PurgeExpired(const std::filesystem::path& data_dir,
                                                       storage::Store& store, const Clock& clock);

  // Every recorded key (current, retiring and retired), newest first. Reads only `db`.
  static Result<std::vector<NodeKey>> List(storage::Database& db);

  // DATA_DIR/keys/<kid>.key: where the seed (32 bytes) of key `kid` is kept.
  static std::filesystem::path KeyFile(const std::filesystem::path& data_dir, std::string_view kid);

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
