// KeyResolvers for the KithVerifier: PeerKeyResolver looks key ids up in the peer_keys table
// (the normal case), DocumentKeyResolver in one node document (a peering request, whose sender
// is not a peer yet: the request must be signed by a key its own document lists).
#pragma once

#include <optional>
#include <string_view>

#include "federation/node_document.h"
#include "federation/peer_store.h"
#include "federation/signature_profile.h"

namespace kith::federation {

// Resolves kids of known peers. The owner counts as active only in state "active". A database
// error is logged and resolves to nothing (the verifier then answers "unknown_key"): failing
// closed is the safe direction. Blocks on SQLite; thread-safe. `peers` must outlive it.
//
// With kAnyState, every known peer's key counts as active: the federation endpoints use it to
// authenticate the sender first and then decide by its peering state themselves (403, or the
// accept/reject/resume flow), instead of a bare 401 "peer_not_active".
class PeerKeyResolver final : public KeyResolver {
 public:
  enum class Mode { kActiveOnly, kAnyState };
  explicit PeerKeyResolver(PeerStore& peers, Mode mode = Mode::kActiveOnly)
      : peers_(peers), mode_(mode) {}
  std::optional<ResolvedKey> Resolve(std::string_view kid) const override;

 private:
  PeerStore& peers_;
  Mode mode_;
};

// Resolves only the keys listed in `document`, as belonging to an active node with the
// document's base_url as node id. Thread-safe; `document` must outlive it.
class DocumentKeyResolver final : public KeyResolver {
 public:
  explicit DocumentKeyResolver(const NodeDocument& document) : document_(document) {}
  std::optional<ResolvedKey> Resolve(std::string_view kid) const override;

 private:
  const NodeDocument& document_;
};

}  // namespace kith::federation
