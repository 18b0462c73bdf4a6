#include "federation/peer_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

namespace kith::federation {

using storage::Database;
using storage::Statement;

namespace {

constexpr std::string_view kPeerColumns =
    "id, node_id, name, organisation, state, created_at, updated_at, last_contact_at, failures, "
    "last_error, admitted_by, suspended_by";

Result<Peer> ReadPeer(const Statement& stmt) {
  Peer peer;
  peer.id = stmt.ColumnInt(0);
  peer.node_id = stmt.ColumnText(1);
  peer.name = stmt.ColumnText(2);
  peer.organisation = stmt.ColumnText(3);
  auto state = ParsePeerState(stmt.ColumnText(4));
  if (!state.ok()) {
    return MakeError(ErrorCode::kInternal,
                     "peer " + peer.node_id + " has a bad stored state: " + state.error().message);
  }
  peer.state = *state;
  peer.created_at = stmt.ColumnInt(5);
  peer.updated_at = stmt.ColumnInt(6);
  if (!stmt.ColumnIsNull(7)) peer.last_contact_at = stmt.ColumnInt(7);
  peer.failures = stmt.ColumnInt(8);
  if (!stmt.ColumnIsNull(9)) peer.last_error = stmt.ColumnText(9);
  peer.admitted_by = stmt.ColumnText(10);
  if (!stmt.ColumnIsNull(11)) peer.suspended_by = stmt.ColumnText(11);
  return peer;
}

Result<PeerKey> ReadKey(const Statement& stmt, int first) {
  PeerKey key;
  key.kid = stmt.ColumnText(first);
  auto bytes = stmt.ColumnBlob(first + 1);
  if (bytes.size() != key.public_key.size()) {
    return MakeError(ErrorCode::kInternal, "peer key " + key.kid + " is not 32 bytes");
  }
  std::copy(bytes.begin(), bytes.end(), key.public_key.begin());
  key.created_at = stmt.ColumnInt(first + 2);
  if (!stmt.ColumnIsNull(first + 3)) key.not_after = stmt.ColumnInt(first + 3);
  key.status = stmt.ColumnText(first + 4);
  return key;
}

// Runs a query that yields peers.
template <class BindFn>
Result<std::vector<Peer>> QueryPeers(Database& db, const std::string& sql, BindFn bind) {
  auto stmt = db.Prepare(sql);
  if (!stmt.ok()) return std::move(stmt).error();
  bind(*stmt);
  std::vector<Peer> peers;
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return std::move(row).error();
    if (!*row) break;
    auto peer = ReadPeer(*stmt);
    if (!peer.ok()) return std::move(peer).error();
    peers.push_back(std::move(peer).value());
  }
  return peers;
}

Result<std::optional<Peer>> PeerByNodeId(Database& db, std::string_view node_id) {
  auto peers =
      QueryPeers(db, "SELECT " + std::string(kPeerColumns) + " FROM peers WHERE node_id = ?",
                 [&](Statement& s) { s.Bind(1, node_id); });
  if (!peers.ok()) return std::move(peers).error();
  if (peers->empty()) return std::optional<Peer>();
  return std::optional<Peer>(std::move(peers->front()));
}

Status InsertAudit(Database& db, int64_t now, std::string_view action, std::string_view peer,
                   const AuditRecord& audit) {
  auto stmt = db.Cached(
      "INSERT INTO audit (at, actor, action, peer, detail, source) VALUES (?, ?, ?, ?, ?, ?)");
  if (!stmt.ok()) return std::move(stmt).error();
  (*stmt)->Bind(1, now).Bind(2, audit.actor).Bind(3, action);
  if (peer.empty()) {
    (*stmt)->BindNull(4);
  } else {
    (*stmt)->Bind(4, peer);
  }
  (*stmt)
      ->Bind(5, audit.detail.empty() ? std::string_view("{}") : std::string_view(audit.detail))
      .Bind(6, audit.source);
  return (*stmt)->Run();
}

Status InsertKey(Database& db, int64_t peer_id, const PeerKey& key) {
  auto stmt = db.Cached(
      "INSERT INTO peer_keys (peer, kid, public_key, created_at, not_after, status) "
      "VALUES (?, ?, ?, ?, ?, ?)");
  if (!stmt.ok()) return std::move(stmt).error();
  (*stmt)->Bind(1, peer_id).Bind(2, key.kid).BindBlob(3, key.public_key).Bind(4, key.created_at);
  if (key.not_after) {
    (*stmt)->Bind(5, *key.not_after);
  } else {
    (*stmt)->BindNull(5);
  }
  (*stmt)->Bind(6, key.status);
  return (*stmt)->Run();
}

// What networks may not do, beyond the state machine: undo an operator's suspension or
// revocation, or withdraw a pairwise peering.
Status CheckNetworkEvent(const std::optional<Peer>& current, const PeerChange& change) {
  if (!current) return OkStatus();
  if (change.event == PeerEvent::kNetworkAdmit &&
      (current->state == PeerState::kRevoked ||
       (current->state == PeerState::kSuspended && current->suspended_by != "network"))) {
    return MakeError(ErrorCode::kConflict,
                     "peer " + change.node_id + " is " +
                         std::string(PeerStateName(current->state)) +
                         ", suspended by an operator; a network does not resume it",
                     "peer_state_conflict");
  }
  if (change.event == PeerEvent::kNetworkWithdraw && current->admitted_by != "network") {
    return MakeError(
        ErrorCode::kConflict,
        "peer " + change.node_id + " was admitted by an operator; a network does not withdraw it",
        "peer_state_conflict");
  }
  return OkStatus();
}

}  // namespace

PeerStore::PeerStore(storage::Store& store, const Clock& clock) : store_(store), clock_(clock) {}

Result<Peer> PeerStore::ApplyEvent(const PeerChange& change) {
  if (change.node_id.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "peer node id is empty");
  }
  const int64_t now = clock_.UnixSeconds();
  Peer result;
  Status status = store_.writer().SubmitAndWait([&](Database& db) -> Status {
    auto current = PeerByNodeId(db, change.node_id);
    if (!current.ok()) return std::move(current).error();
    std::optional<PeerState> from;
    if (current->has_value()) from = (*current)->state;
    KITH_RETURN_IF_ERROR(CheckNetworkEvent(*current, change));
    auto next = NextPeerState(from, change.event);
    if (!next.ok()) return std::move(next).error();
    std::string admitted_by = current->has_value() ? (*current)->admitted_by : "operator";
    std::string suspended_by = current->has_value() ? (*current)->suspended_by : "";
    switch (change.event) {
      case PeerEvent::kNetworkAdmit:
        admitted_by = "network";
        suspended_by.clear();
        break;
      case PeerEvent::kNetworkWithdraw:
        suspended_by = "network";
        break;
      case PeerEvent::kSuspend:
        suspended_by = "operator";
        break;
      case PeerEvent::kResume:
        // An operator resuming what a network suspended takes the peering over: networks
        // would otherwise suspend it again at their next pass.
        if (suspended_by == "network") admitted_by = "operator";
        suspended_by.clear();
        break;
      case PeerEvent::kWeRequest:
        admitted_by = "operator";
        suspended_by.clear();
        break;
      default:
        break;
    }

    int64_t peer_id = 0;
    if (!from) {
      if (!change.document) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "a new peer needs its node document (" + change.node_id + ")");
      }
      auto insert = db.Cached(
          "INSERT INTO peers (node_id, name, organisation, state, created_at, updated_at, "
          "admitted_by) VALUES (?, ?, ?, ?, ?, ?, ?)");
      if (!insert.ok()) return std::move(insert).error();
      (*insert)
          ->Bind(1, change.node_id)
          .Bind(2, change.document->name)
          .Bind(3, change.document->organisation)
          .Bind(4, PeerStateName(*next))
          .Bind(5, now)
          .Bind(6, now)
          .Bind(7, admitted_by);
      KITH_RETURN_IF_ERROR((*insert)->Run());
      peer_id = db.LastInsertRowId();
    } else {
      peer_id = (*current)->id;
      auto update = db.Cached(
          "UPDATE peers SET state = ?, updated_at = ?, admitted_by = ?, suspended_by = ? "
          "WHERE id = ?");
      if (!update.ok()) return std::move(update).error();
      (*update)->Bind(1, PeerStateName(*next)).Bind(2, now).Bind(3, admitted_by);
      if (suspended_by.empty()) {
        (*update)->BindNull(4);
      } else {
        (*update)->Bind(4, suspended_by);
      }
      (*update)->Bind(5, peer_id);
      KITH_RETURN_IF_ERROR((*update)->Run());
      if (change.document) {
        auto names = db.Cached("UPDATE peers SET name = ?, organisation = ? WHERE id = ?");
        if (!names.ok()) return std::move(names).error();
        (*names)
            ->Bind(1, change.document->name)
            .Bind(2, change.document->organisation)
            .Bind(3, peer_id);
        KITH_RETURN_IF_ERROR((*names)->Run());
      }
    }
    if (change.document) {
      auto clear = db.Cached("DELETE FROM peer_keys WHERE peer = ?");
      if (!clear.ok()) return std::move(clear).error();
      (*clear)->Bind(1, peer_id);
      KITH_RETURN_IF_ERROR((*clear)->Run());
      for (const NodeDocumentKey& key : change.document->keys) {
        KITH_RETURN_IF_ERROR(
            InsertKey(db, peer_id,
                      PeerKey{key.kid, key.public_key, key.created_at, key.not_after, key.status}));
      }
    }
    KITH_RETURN_IF_ERROR(InsertAudit(db, now, "peer." + std::string(PeerEventName(change.event)),
                                     change.node_id, change.audit));
    auto stored = PeerByNodeId(db, change.node_id);
    if (!stored.ok()) return std::move(stored).error();
    if (!stored->has_value()) return MakeError(ErrorCode::kInternal, "peer vanished");
    result = std::move(**stored);
    return OkStatus();
  });
  if (!status.ok()) return std::move(status).error();
  return result;
}

Result<std::optional<Peer>> PeerStore::Find(std::string_view node_or_name) {
  return store_.Read([&](Database& db) -> Result<std::optional<Peer>> {
    auto by_id = PeerByNodeId(db, node_or_name);
    if (!by_id.ok() || by_id->has_value()) return by_id;
    auto by_name =
        QueryPeers(db, "SELECT " + std::string(kPeerColumns) + " FROM peers WHERE name = ?",
                   [&](Statement& s) { s.Bind(1, node_or_name); });
    if (!by_name.ok()) return std::move(by_name).error();
    if (by_name->empty()) return std::optional<Peer>();
    if (by_name->size() > 1) {
      return MakeError(
          ErrorCode::kConflict,
          "several peers are named \"" + std::string(node_or_name) + "\"; use the node URL");
    }
    return std::optional<Peer>(std::move(by_name->front()));
  });
}

Result<std::vector<Peer>> PeerStore::List() {
  return store_.Read([&](Database& db) {
    return QueryPeers(db, "SELECT " + std::string(kPeerColumns) + " FROM peers ORDER BY node_id",
                      [](Statement&) {});
  });
}

Result<std::vector<PeerKey>> PeerStore::Keys(int64_t peer_id) {
  return store_.Read([&](Database& db) -> Result<std::vector<PeerKey>> {
    auto stmt = db.Prepare(
        "SELECT kid, public_key, created_at, not_after, status FROM peer_keys WHERE peer = ? "
        "ORDER BY created_at DESC, id DESC");
    if (!stmt.ok()) return std::move(stmt).error();
    stmt->Bind(1, peer_id);
    std::vector<PeerKey> keys;
    while (true) {
      auto row = stmt->Step();
      if (!row.ok()) return std::move(row).error();
      if (!*row) break;
      auto key = ReadKey(*stmt, 0);
      if (!key.ok()) return std::move(key).error();
      keys.push_back(std::move(key).value());
    }
    return keys;
  });
}

Result<std::optional<PeerKeyOwner>> PeerStore::FindKey(std::string_view kid) {
  return store_.Read([&](Database& db) -> Result<std::optional<PeerKeyOwner>> {
    auto stmt = db.Cached(
        "SELECT p.id, p.node_id, p.name, p.organisation, p.state, p.created_at, p.updated_at, "
        "p.last_contact_at, p.failures, p.last_error, p.admitted_by, p.suspended_by, "
        "k.kid, k.public_key, k.created_at, k.not_after, k.status "
        "FROM peer_keys k JOIN peers p ON p.id = k.peer WHERE k.kid = ? ORDER BY k.id DESC "
        "LIMIT 1");
    if (!stmt.ok()) return std::move(stmt).error();
    (*stmt)->Bind(1, kid);
    auto row = (*stmt)->Step();
    if (!row.ok()) return std::move(row).error();
    if (!*row) return std::optional<PeerKeyOwner>();
    auto peer = ReadPeer(**stmt);
    if (!peer.ok()) return std::move(peer).error();
    auto key = ReadKey(**stmt, 12);
    if (!key.ok()) return std::move(key).error();
    (*stmt)->Reset();
    return std::optional<PeerKeyOwner>(PeerKeyOwner{std::move(*peer), std::move(*key)});
  });
}

Status PeerStore::RotateKey(std::string_view node_id, std::string_view old_kid,
                            int64_t old_not_after, const PeerKey& new_key,
                            const AuditRecord& audit) {
  const int64_t now = clock_.UnixSeconds();
  return store_.writer().SubmitAndWait([&](Database& db) -> Status {
    auto peer = PeerByNodeId(db, node_id);
    if (!peer.ok()) return std::move(peer).error();
    if (!peer->has_value()) {
      return MakeError(ErrorCode::kNotFound, "no peer " + std::string(node_id));
    }
    const int64_t peer_id = (*peer)->id;
    auto existing = db.Cached("SELECT public_key FROM peer_keys WHERE peer = ? AND kid = ?");
    if (!existing.ok()) return std::move(existing).error();
    (*existing)->Bind(1, peer_id).Bind(2, new_key.kid);
    auto row = (*existing)->Step();
    if (!row.ok()) return std::move(row).error();
    bool have_new = false;
    if (*row) {
      auto bytes = (*existing)->ColumnBlob(0);
      if (!std::equal(bytes.begin(), bytes.end(), new_key.public_key.begin(),
                      new_key.public_key.end())) {
        (*existing)->Reset();
        return MakeError(ErrorCode::kConflict,
                         "key " + new_key.kid + " is already known with another public key");
      }
      have_new = true;
    }
    (*existing)->Reset();
    if (!have_new) KITH_RETURN_IF_ERROR(InsertKey(db, peer_id, new_key));
    auto retire = db.Cached(
        "UPDATE peer_keys SET not_after = ?, status = 'retiring' WHERE peer = ? AND kid = ?");
    if (!retire.ok()) return std::move(retire).error();
    (*retire)->Bind(1, old_not_after).Bind(2, peer_id).Bind(3, old_kid);
    KITH_RETURN_IF_ERROR((*retire)->Run());
    return InsertAudit(db, now, "peer.key_rotated", node_id, audit);
  });
}

void PeerStore::MergeKeys(std::string node_id, std::vector<NodeDocumentKey> keys, AuditRecord audit,
                          std::function<void(Result<std::vector<std::string>>)> done) {
  const int64_t now = clock_.UnixSeconds();
  auto added = std::make_shared<std::vector<std::string>>();
  store_.writer().Submit(
      [node_id, keys = std::move(keys), audit = std::move(audit), now,
       added](Database& db) -> Status {
        added->clear();
        auto peer = PeerByNodeId(db, node_id);
        if (!peer.ok()) return std::move(peer).error();
        if (!peer->has_value()) return MakeError(ErrorCode::kNotFound, "no peer " + node_id);
        if ((*peer)->state != PeerState::kActive) {
          return MakeError(ErrorCode::kPermissionDenied,
                           "peer " + node_id + " is not active (state " +
                               std::string(PeerStateName((*peer)->state)) + ")");
        }
        const int64_t peer_id = (*peer)->id;
        for (const NodeDocumentKey& key : keys) {
          if (key.status == "retired") continue;
          auto existing =
              db.Cached("SELECT public_key, not_after FROM peer_keys WHERE peer = ? AND kid = ?");
          if (!existing.ok()) return std::move(existing).error();
          (*existing)->Bind(1, peer_id).Bind(2, key.kid);
          auto row = (*existing)->Step();
          if (!row.ok()) return std::move(row).error();
          if (!*row) {
            (*existing)->Reset();
            KITH_RETURN_IF_ERROR(
                InsertKey(db, peer_id,
                          PeerKey{key.kid, key.public_key, std::min(key.created_at, now),
                                  key.not_after, key.not_after ? "retiring" : "current"}));
            added->push_back(key.kid);
            continue;
          }
          const auto bytes = (*existing)->ColumnBlob(0);
          // A plain pair rather than std::optional: GCC 12 warns (maybe-uninitialized) here.
          const bool have_ours = !(*existing)->ColumnIsNull(1);
          const int64_t ours = have_ours ? (*existing)->ColumnInt(1) : 0;
          (*existing)->Reset();
          if (!std::equal(bytes.begin(), bytes.end(), key.public_key.begin(),
                          key.public_key.end())) {
            spdlog::warn(
                "peer {}: its document lists key {} with another public key than the "
                "one on record; ignored",
                node_id, key.kid);
            continue;
          }
          if (key.not_after && (!have_ours || *key.not_after < ours)) {
            auto shrink = db.Cached(
                "UPDATE peer_keys SET not_after = ?, status = 'retiring' WHERE peer = ? AND "
                "kid = ?");
            if (!shrink.ok()) return std::move(shrink).error();
            (*shrink)->Bind(1, *key.not_after).Bind(2, peer_id).Bind(3, key.kid);
            KITH_RETURN_IF_ERROR((*shrink)->Run());
          }
        }
        if (added->empty()) return OkStatus();
        AuditRecord record = audit;
        nlohmann::json detail = nlohmann::json::parse(audit.detail, nullptr, false);
        if (!detail.is_object()) detail = nlohmann::json::object();
        detail["added"] = *added;
        record.detail = detail.dump();
        return InsertAudit(db, now, "peer.keys_refreshed", node_id, record);
      },
      [added, done = std::move(done)](Status status) {
        if (!status.ok()) {
          done(std::move(status).error());
        } else {
          done(std::move(*added));
        }
      });
}

Status PeerStore::RecordContact(std::string_view node_id) {
  const int64_t now = clock_.UnixSeconds();
  return store_.writer().SubmitAndWait([&](Database& db) -> Status {
    auto stmt = db.Cached(
        "UPDATE peers SET last_contact_at = ?, failures = 0, last_error = NULL WHERE node_id = ?");
    if (!stmt.ok()) return std::move(stmt).error();
    (*stmt)->Bind(1, now).Bind(2, node_id);
    return (*stmt)->Run();
  });
}

Status PeerStore::RecordFailure(std::string_view node_id, std::string_view error) {
  return store_.writer().SubmitAndWait([&](Database& db) -> Status {
    auto stmt =
        db.Cached("UPDATE peers SET failures = failures + 1, last_error = ? WHERE node_id = ?");
    if (!stmt.ok()) return std::move(stmt).error();
    (*stmt)->Bind(1, error).Bind(2, node_id);
    return (*stmt)->Run();
  });
}

Status PeerStore::AppendAudit(std::string_view action, std::string_view peer,
                              const AuditRecord& audit) {
  const int64_t now = clock_.UnixSeconds();
  return store_.writer().SubmitAndWait(
      [&](Database& db) { return InsertAudit(db, now, action, peer, audit); });
}

Result<std::vector<AuditEntry>> PeerStore::Audit(int64_t limit) {
  if (limit <= 0) return MakeError(ErrorCode::kInvalidArgument, "audit limit must be positive");
  return store_.Read([&](Database& db) -> Result<std::vector<AuditEntry>> {
    auto stmt = db.Prepare(
        "SELECT id, at, actor, action, peer, detail, source FROM audit ORDER BY id DESC LIMIT ?");
    if (!stmt.ok()) return std::move(stmt).error();
    stmt->Bind(1, limit);
    std::vector<AuditEntry> entries;
    while (true) {
      auto row = stmt->Step();
      if (!row.ok()) return std::move(row).error();
      if (!*row) break;
      AuditEntry entry;
      entry.id = stmt->ColumnInt(0);
      entry.at = stmt->ColumnInt(1);
      entry.actor = stmt->ColumnText(2);
      entry.action = stmt->ColumnText(3);
      if (!stmt->ColumnIsNull(4)) entry.peer = stmt->ColumnText(4);
      entry.detail = stmt->ColumnText(5);
      entry.source = stmt->ColumnText(6);
      entries.push_back(std::move(entry));
    }
    return entries;
  });
}

}  // namespace kith::federation
