#include "federation/peer_key_resolver.h"

#include <spdlog/spdlog.h>

#include <string>

namespace kith::federation {

std::optional<ResolvedKey> PeerKeyResolver::Resolve(std::string_view kid) const {
  auto found = peers_.FindKey(kid);
  if (!found.ok()) {
    spdlog::error("peer key lookup for kid {} failed: {}", kid, found.error().message);
    return std::nullopt;
  }
  if (!found->has_value()) return std::nullopt;
  const PeerKeyOwner& owner = **found;
  ResolvedKey resolved;
  resolved.public_key = owner.key.public_key;
  resolved.node_id = owner.peer.node_id;
  resolved.peer_active = mode_ == Mode::kAnyState || owner.peer.state == PeerState::kActive;
  resolved.peer_state = std::string(PeerStateName(owner.peer.state));
  resolved.valid_from = owner.key.created_at;
  resolved.valid_until = owner.key.not_after;
  return resolved;
}

std::optional<ResolvedKey> DocumentKeyResolver::Resolve(std::string_view kid) const {
  for (const NodeDocumentKey& key : document_.keys) {
    if (key.kid != kid) continue;
    ResolvedKey resolved;
    resolved.public_key = key.public_key;
    resolved.node_id = document_.base_url;
    resolved.peer_active = true;
    resolved.peer_state = "requesting";
    resolved.valid_from = key.created_at;
    resolved.valid_until = key.not_after;
    return resolved;
  }
  return std::nullopt;
}

}  // namespace kith::federation
