// The peering state machine: which state a peer moves to when something happens, and which
// events are illegal in which state. Pure functions, no I/O; thread-safe.
//
//   (none) --we request-----> requested --they accept--> active
//   (none) --they request---> pending   --we approve---> active
//   requested --they reject--> rejected;   pending --we reject--> rejected
//   active --suspend (either side)--> suspended --resume--> active
//   requested|pending|active|suspended --revoke (either side)--> revoked
//   rejected|revoked --we request--> requested (an operator may try again);
//   rejected --they request--> pending (a revoked peer cannot re-request itself).
//   (none)|requested|pending|rejected|suspended --network admit--> active (a trust chain
//     through a trusted network vouches for the peer; PeerStore refuses it for a peering an
//     operator suspended or revoked);
//   active --network withdraw--> suspended (the chain expired or the network withdrew the
//     peer; PeerStore allows it only for peers a network admitted).
//
// The persisted form of a state is its lowercase name (peers.state).
#pragma once

#include <optional>
#include <string_view>

#include "storage/result.h"

namespace kith::federation {

enum class PeerState { kRequested, kPending, kActive, kSuspended, kRevoked, kRejected };

// What happened to a peering. "We" is this node (its operator via kithctl), "they" the peer
// (a signed federation message).
enum class PeerEvent {
  kWeRequest,    // kithctl peer add
  kTheyRequest,  // POST /federation/v1/peering/request
  kWeApprove,    // kithctl peer approve
  kTheyAccept,   // POST /federation/v1/peering/accept
  kWeReject,     // kithctl peer reject
  kTheyReject,   // POST /federation/v1/peering/reject
  kSuspend,      // kithctl peer suspend, or POST .../suspend
  kResume,       // kithctl peer resume, or POST .../resume
  kRevoke,       // kithctl peer revoke, or POST .../revoke
  // Networks (federation/network_peering.h): automatic, from a verified trust chain.
  kNetworkAdmit,     // a valid chain to a trusted anchor was found
  kNetworkWithdraw,  // the chain expired, or the network withdrew or no longer lists the peer
};

// "requested", "pending", ... (the stored and displayed form).
std::string_view PeerStateName(PeerState state);
// "we_request", "they_accept", ... (for audit rows and messages).
std::string_view PeerEventName(PeerEvent event);

// Parses a stored state name. kInvalidArgument for anything else.
Result<PeerState> ParsePeerState(std::string_view name);

// The state after `event` happens to a peering currently in `from` (nullopt: no peering yet).
// kConflict with a message naming the current state and the refused event when the event is
// not legal there, e.g. "cannot approve a peer in state active".
Result<PeerState> NextPeerState(std::optional<PeerState> from, PeerEvent event);

}  // namespace kith::federation
