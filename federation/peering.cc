#include "federation/peering.h"

#include <string>

namespace kith::federation {

std::string_view PeerStateName(PeerState state) {
  switch (state) {
    case PeerState::kRequested:
      return "requested";
    case PeerState::kPending:
      return "pending";
    case PeerState::kActive:
      return "active";
    case PeerState::kSuspended:
      return "suspended";
    case PeerState::kRevoked:
      return "revoked";
    case PeerState::kRejected:
      return "rejected";
  }
  return "unknown";
}

std::string_view PeerEventName(PeerEvent event) {
  switch (event) {
    case PeerEvent::kWeRequest:
      return "we_request";
    case PeerEvent::kTheyRequest:
      return "they_request";
    case PeerEvent::kWeApprove:
      return "we_approve";
    case PeerEvent::kTheyAccept:
      return "they_accept";
    case PeerEvent::kWeReject:
      return "we_reject";
    case PeerEvent::kTheyReject:
      return "they_reject";
    case PeerEvent::kSuspend:
      return "suspend";
    case PeerEvent::kResume:
      return "resume";
    case PeerEvent::kRevoke:
      return "revoke";
    case PeerEvent::kNetworkAdmit:
      return "network_admit";
    case PeerEvent::kNetworkWithdraw:
      return "network_withdraw";
  }
  return "unknown";
}

Result<PeerState> ParsePeerState(std::string_view name) {
  for (PeerState state : {PeerState::kRequested, PeerState::kPending, PeerState::kActive,
                          PeerState::kSuspended, PeerState::kRevoked, PeerState::kRejected}) {
    if (PeerStateName(state) == name) return state;
  }
  return MakeError(ErrorCode::kInvalidArgument, "unknown peer state \"" + std::string(name) + "\"");
}

namespace {

// A short verb for the error message ("cannot approve a peer in state active").
std::string_view Verb(PeerEvent event) {
  switch (event) {
    case PeerEvent::kWeRequest:
      return "request peering with";
    case PeerEvent::kTheyRequest:
      return "accept a peering request from";
    case PeerEvent::kWeApprove:
      return "approve";
    case PeerEvent::kTheyAccept:
      return "take an acceptance from";
    case PeerEvent::kWeReject:
      return "reject";
    case PeerEvent::kTheyReject:
      return "take a rejection from";
    case PeerEvent::kSuspend:
      return "suspend";
    case PeerEvent::kResume:
      return "resume";
    case PeerEvent::kRevoke:
      return "revoke";
    case PeerEvent::kNetworkAdmit:
      return "admit through a network";
    case PeerEvent::kNetworkWithdraw:
      return "withdraw through a network";
  }
  return "change";
}

std::optional<PeerState> Next(std::optional<PeerState> from, PeerEvent event) {
  using S = PeerState;
  switch (event) {
    case PeerEvent::kWeRequest:
      if (!from || *from == S::kRejected || *from == S::kRevoked || *from == S::kRequested) {
        return S::kRequested;
      }
      return std::nullopt;
    case PeerEvent::kTheyRequest:
      // A repeated request while pending is idempotent (the peer retried).
      if (!from || *from == S::kRejected || *from == S::kPending) return S::kPending;
      return std::nullopt;
    case PeerEvent::kWeApprove:
      return from == S::kPending ? std::optional(S::kActive) : std::nullopt;
    case PeerEvent::kTheyAccept:
      return from == S::kRequested ? std::optional(S::kActive) : std::nullopt;
    case PeerEvent::kWeReject:
      return from == S::kPending ? std::optional(S::kRejected) : std::nullopt;
    case PeerEvent::kTheyReject:
      return from == S::kRequested ? std::optional(S::kRejected) : std::nullopt;
    case PeerEvent::kSuspend:
      return from == S::kActive ? std::optional(S::kSuspended) : std::nullopt;
    case PeerEvent::kResume:
      return from == S::kSuspended ? std::optional(S::kActive) : std::nullopt;
    case PeerEvent::kRevoke:
      if (from == S::kRequested || from == S::kPending || from == S::kActive ||
          from == S::kSuspended) {
        return S::kRevoked;
      }
      return std::nullopt;
    case PeerEvent::kNetworkAdmit:
      if (!from || *from == S::kRequested || *from == S::kPending || *from == S::kRejected ||
          *from == S::kSuspended) {
        return S::kActive;
      }
      return std::nullopt;
    case PeerEvent::kNetworkWithdraw:
      return from == S::kActive ? std::optional(S::kSuspended) : std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

Result<PeerState> NextPeerState(std::optional<PeerState> from, PeerEvent event) {
  auto next = Next(from, event);
  if (next) return *next;
  std::string message = "cannot " + std::string(Verb(event)) + " a peer ";
  message += from ? "in state " + std::string(PeerStateName(*from)) : "that is not known";
  return MakeError(ErrorCode::kConflict, std::move(message), "peer_state_conflict");
}

}  // namespace kith::federation
