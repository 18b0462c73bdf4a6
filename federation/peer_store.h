// PeerStore: the SQL for the peering tables (peers, peer_keys, audit; storage/migrations/
// 0002_peering.sql). Every state change goes through ApplyEvent, which checks the peering state
// machine (federation/peering.h), updates the peer, replaces its keys when a node document came
// with the change and appends the audit row — in one write job, so it happens completely or
// not at all.
//
// Calls block on SQLite (reads on a pooled connection, writes wait for the group commit's
// fsync): call them from a blocking pool, not from an I/O thread. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "federation/node_document.h"
#include "federation/peering.h"
#include "identity/node_keys.h"
#include "storage/clock.h"
#include "storage/result.h"
#include "storage/store.h"

namespace kith::federation {

// One row of peers.
struct Peer {
  int64_t id = 0;
  std::string node_id;  // the peer's base URL
  std::string name;
  std::string organisation;
  PeerState state = PeerState::kRequested;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  std::optional<int64_t> last_contact_at;
  int64_t failures = 0;
  std::string last_error;
  // How the peering came about: "operator" (pairwise, kithctl or a peer's request) or
  // "network" (kNetworkAdmit, a trust chain through a trusted network).
  std::string admitted_by = "operator";
  // While suspended: "operator" (kSuspend, by either side's operator) or "network"
  // (kNetworkWithdraw); empty otherwise. A network only ever resumes what a network suspended.
  std::string suspended_by;
};

// One row of peer_keys.
struct PeerKey {
  std::string kid;
  identity::Ed25519PublicKey public_key{};
  int64_t created_at = 0;
  std::optional<int64_t> not_after;
  std::string status = "current";
};

// Who did something, from where, with what detail (a JSON object text).
struct AuditRecord {
  std::string actor;   // "kithctl" or "peer:<base url>"
  std::string source;  // remote address or "admin.sock"
  std::string detail = "{}";
};

// One row of audit.
struct AuditEntry {
  int64_t id = 0;
  int64_t at = 0;
  std::string actor;
  std::string action;
  std::string peer;  // empty when the action concerns no peer
  std::string detail;
  std::string source;
};

// A state change to apply.
struct PeerChange {
  std::string node_id;  // the peer's base URL (exact)
  PeerEvent event = PeerEvent::kWeRequest;
  // When set, the peer's name and organisation are taken from it and its key set replaced by
  // the document's keys (peering request / add).
  std::optional<NodeDocument> document;
  AuditRecord audit;
};

// A key together with the peer that owns it.
struct PeerKeyOwner {
  Peer peer;
  PeerKey key;
};

class PeerStore {
 public:
  // `store` and `clock` must outlive the PeerStore.
  PeerStore(storage::Store& store, const Clock& clock);

  // Applies `change`: the new state comes from NextPeerState (kConflict when the event is not
  // legal in the current state; nothing is written then). A peer that does not exist yet is
  // created by kWeRequest / kTheyRequest (with a document: kInvalidArgument without one).
  // The audit action is "peer." + PeerEventName(event). Returns the peer as stored.
  // Networks: kNetworkAdmit creates the peer (document required) or moves it to active with
  // admitted_by "network", suspended_by cleared and its keys replaced by the document's; it is
  // refused (kConflict "... suspended by an operator ...") for a revoked peer and for one
  // suspended by an operator. kNetworkWithdraw suspends an active peer with suspended_by
  // "network", only when a network admitted it (kConflict otherwise: pairwise peerings are
  // never changed by networks). kSuspend sets suspended_by "operator", kResume clears it (and,
  // resuming a network's suspension, makes the peering the operator's: admitted_by
  // "operator"); kWeRequest makes the peering the operator's again (admitted_by "operator").
  Result<Peer> ApplyEvent(const PeerChange& change);

  // The peer whose node id equals `node_or_name`, else the one whose name equals it
  // (kConflict when several peers share that name). nullopt when none.
  Result<std::optional<Peer>> Find(std::string_view node_or_name);

  // Every peer, by node id.
  Result<std::vector<Peer>> List();

  // The keys of a peer, newest first.
  Result<std::vector<PeerKey>> Keys(int64_t peer_id);

  // The peer key with id `kid` and its owner; nullopt when no peer publishes it. (Key ids are
  // RFC 7638 thumbprints, so one kid names one public key; if two peers list the same key the
  // most recently added row wins.)
  Result<std::optional<PeerKeyOwner>> FindKey(std::string_view kid);

  // Records a key rotation announced by an active peer: adds `new_key` (kConflict if the kid
  // exists with another public key), sets `old_kid`'s not_after to `old_not_after` and its
  // status to "retiring", and appends the audit row "peer.key_rotated".
  Status RotateKey(std::string_view node_id, std::string_view old_kid, int64_t old_not_after,
                   const PeerKey& new_key, const AuditRecord& audit);

  // Learns keys from a freshly fetched node document of peer `node_id` (the key refresh after
  // an unknown kid, see PeeringService): keys whose kid is new for this peer are added (valid
  // from min(their created_at, now)); a known kid whose document entry announces an earlier
  // not_after gets that not_after (validity only ever shrinks this way); a kid the document
  // lists with another public key than ours is left alone and named in the error list; keys
  // the document no longer lists keep their rows (they end at their own not_after). Only for a
  // peer in state "active" (else kPermissionDenied, nothing written). Appends the audit row
  // "peer.keys_refreshed" when a key was added. Non-blocking: `done` runs on the writer thread
  // with the kids added (empty when nothing changed).
  void MergeKeys(std::string node_id, std::vector<NodeDocumentKey> keys, AuditRecord audit,
                 std::function<void(Result<std::vector<std::string>>)> done);

  // A successful exchange with the peer: last_contact_at = now, failures = 0.
  Status RecordContact(std::string_view node_id);

  // A failed delivery to the peer: failures + 1, last_error = `error`.
  Status RecordFailure(std::string_view node_id, std::string_view error);

  // Appends an audit row (e.g. "keys.rotate", with an empty peer).
  Status AppendAudit(std::string_view action, std::string_view peer, const AuditRecord& audit);

  // The newest `limit` audit rows, newest first.
  Result<std::vector<AuditEntry>> Audit(int64_t limit = 100);

 private:
  storage::Store& store_;
  const Clock& clock_;
};

}  // namespace kith::federation
