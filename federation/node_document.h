// NodeDocument: the JSON a node publishes at /.well-known/kith-node, parsed and validated.
//
//   {"id": "council-a.example", "name": "Council A", "organisation": "Council A",
//    "base_url": "https://council-a.example", "version": 1,
//    "keys": [{"kid": "...", "alg": "ed25519", "public_key": "<base64url, 32 bytes>",
//              "created_at": 1700000000, "not_after": 1700604800, "status": "current"}]}
//
// Documents come from the network, so parsing never throws and never trusts shapes: every
// problem is a kInvalidArgument error naming the offending member. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "identity/node_keys.h"
#include "storage/result.h"

namespace kith::federation {

struct NodeDocumentKey {
  std::string kid;
  std::string alg;  // always "ed25519" after validation
  identity::Ed25519PublicKey public_key{};
  int64_t created_at = 0;
  std::optional<int64_t> not_after;
  std::string status;  // current | retiring | retired
};

struct NodeDocument {
  std::string id;
  std::string name;
  std::string organisation;
  std::string base_url;  // https:// or http:// absolute URL without query or fragment
  std::vector<NodeDocumentKey> keys;
  int64_t version = 0;
};

// Upper bounds applied while parsing (a document is small; anything larger is refused).
inline constexpr size_t kMaxNodeDocumentBytes = 64 * 1024;
inline constexpr size_t kMaxNodeDocumentKeys = 32;

// Parses and validates a node document. Unknown members are ignored (forward compatibility).
// Errors (kInvalidArgument): not JSON, too large, a required member missing or of the wrong
// type, an empty string, a bad base_url, a key with an unsupported alg, a public key that is
// not base64url of 32 bytes, not_after before created_at, an unknown status, duplicate kids,
// no key at all.
Result<NodeDocument> ParseNodeDocument(std::string_view json_text);

// The canonical JSON form of a document (members in the order shown above).
std::string SerializeNodeDocument(const NodeDocument& document);

}  // namespace kith::federation
