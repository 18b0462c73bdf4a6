#include "federation/subscriptions.h"

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "federation/stream_wire.h"
#include "storage/clock.h"

namespace kith::federation {

namespace {

// Runs a cached statement to completion after `bind`.
template <class Bind>
Status RunCached(storage::Database& db, std::string_view sql, Bind bind) {
  auto stmt = db.Cached(sql);
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  bind(**stmt);
  return (*stmt)->Run();
}

struct StreamRow {
  int64_t id = 0;
  std::string visibility;
  std::string network;  // "" when the group is not scoped to a network
};

Result<std::optional<StreamRow>> FindStream(storage::Database& db, std::string_view stream) {
  auto stmt = db.Cached(
      "SELECT s.id, COALESCE(g.visibility, ''), COALESCE(g.network, '') FROM streams s "
      "LEFT JOIN groups g ON g.stream_id = s.id WHERE s.name = ?");
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, stream);
  auto row = (*stmt)->Step();
  if (!row.ok()) return std::move(row).error();
  if (!*row) return std::optional<StreamRow>();
  return std::optional<StreamRow>(
      StreamRow{(*stmt)->ColumnInt(0), (*stmt)->ColumnText(1), (*stmt)->ColumnText(2)});
}

// Active peers by domain.
Result<std::map<std::string, std::string>> ActivePeersByDomain(storage::Database& db) {
  auto stmt = db.Cached("SELECT node_id FROM peers WHERE state = 'active'");
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  std::map<std::string, std::string> out;
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row.ok()) return std::move(row).error();
    if (!*row) break;
    std::string node = (*stmt)->ColumnText(0);
    auto domain = DomainOfNode(node);
    if (domain.ok()) out.emplace(std::move(domain).value(), std::move(node));
  }
  return out;
}

Subscription ReadSubscription(const storage::Statement& stmt) {
  Subscription s;
  s.stream = stmt.ColumnText(0);
  s.node = stmt.ColumnText(1);
  s.acked = stmt.ColumnInt(2);
  if (!stmt.ColumnIsNull(3)) s.until_seq = stmt.ColumnInt(3);
  s.following = stmt.ColumnInt(4) != 0;
  s.head = stmt.ColumnInt(5);
  return s;
}

Result<std::vector<Subscription>> ReadSubscriptions(storage::Statement& stmt) {
  std::vector<Subscription> out;
  for (;;) {
    auto row = stmt.Step();
    if (!row.ok()) return std::move(row).error();
    if (!*row) break;
    out.push_back(ReadSubscription(stmt));
  }
  return out;
}

constexpr std::string_view kSubscriptionColumns =
    "SELECT s.name, sub.node, sub.acked, sub.until_seq, sub.following, s.head "
    "FROM subscriptions sub JOIN streams s ON s.id = sub.stream_id ";

// A subscription whose stream is a group scoped to a network that sub.node does not reach at
// ?now (named parameter, bound by the caller).
constexpr std::string_view kOutOfNetwork =
    "EXISTS (SELECT 1 FROM groups g WHERE g.stream_id = sub.stream_id AND g.network IS NOT NULL "
    "AND NOT EXISTS (SELECT 1 FROM peer_networks pn WHERE pn.peer_node_id = sub.node AND "
    "pn.network = g.network AND pn.expires_at > :now))";

int64_t SystemNow() { return SystemClock::Instance().UnixSeconds(); }

// kSubscriptionColumns + `where` (append, not operator+: GCC 12 reports a false -Warray-bounds
// on the inlined rvalue operator+ here).
std::string SubscriptionSql(std::string_view where) {
  std::string sql(kSubscriptionColumns);
  sql.append(where);
  return sql;
}

}  // namespace

Result<std::vector<std::string>> UpdateSubscribersIn(storage::Database& db, std::string_view stream,
                                                     int64_t seq, std::string_view own_domain) {
  return UpdateSubscribersIn(db, stream, seq, own_domain, SystemNow());
}

Result<std::vector<std::string>> UpdateSubscribersIn(storage::Database& db, std::string_view stream,
                                                     int64_t seq, std::string_view own_domain,
                                                     int64_t now) {
  auto found = FindStream(db, stream);
  if (!found.ok()) return std::move(found).error();
  if (!found->has_value()) {
    return MakeError(ErrorCode::kNotFound, "no stream " + std::string(stream));
  }
  const StreamRow row = **found;
  auto peers = ActivePeersByDomain(db);
  if (!peers.ok()) return std::move(peers).error();

  std::set<std::string> wanted;
  {
    // Members and invitees: an invited member's node must learn of the invitation (to show
    // it and let the member accept through it).
    auto stmt = db.Cached(
        "SELECT member FROM group_members WHERE stream_id = ?1 "
        "UNION SELECT member FROM group_invites WHERE stream_id = ?1");
    if (!stmt.ok()) return std::move(stmt).error();
    storage::StatementReset reset{*stmt};
    (*stmt)->Bind(1, row.id);
    for (;;) {
      auto r = (*stmt)->Step();
      if (!r.ok()) return std::move(r).error();
      if (!*r) break;
      auto domain = groups::AddressDomain((*stmt)->ColumnText(0));
      if (!domain.ok() || *domain == own_domain) continue;
      auto peer = peers->find(*domain);
      if (peer != peers->end()) wanted.insert(peer->second);
    }
  }
  struct Existing {
    std::optional<int64_t> until_seq;
    bool following = false;
  };
  std::map<std::string, Existing> existing;
  {
    auto stmt =
        db.Cached("SELECT node, until_seq, following FROM subscriptions WHERE stream_id = ?");
    if (!stmt.ok()) return std::move(stmt).error();
    storage::StatementReset reset{*stmt};
    (*stmt)->Bind(1, row.id);
    for (;;) {
      auto r = (*stmt)->Step();
      if (!r.ok()) return std::move(r).error();
      if (!*r) break;
      Existing e;
      if (!(*stmt)->ColumnIsNull(1)) e.until_seq = (*stmt)->ColumnInt(1);
      e.following = (*stmt)->ColumnInt(2) != 0;
      existing.emplace((*stmt)->ColumnText(0), e);
    }
  }
  const bool is_public = row.visibility == "public";
  const bool is_private = row.visibility == "private";
  if (is_public) {
    for (const auto& [node, e] : existing) {
      // A follower stays one only while it is an active peer.
      bool active = false;
      for (const auto& [domain, peer_node] : *peers) active = active || peer_node == node;
      if (e.following && active) wanted.insert(node);
    }
  }

  // Network scope: only peers that reach the group's network receive it; a node outside it
  // loses its row at once.
  std::set<std::string> outside;
  if (!row.network.empty()) {
    auto in_network = [&](const std::string& node) -> Result<bool> {
      return NodeInNetworkIn(db, node, row.network, now);
    };
    for (auto it = wanted.begin(); it != wanted.end();) {
      auto in = in_network(*it);
      if (!in.ok()) return std::move(in).error();
      it = *in ? std::next(it) : wanted.erase(it);
    }
    for (const auto& [node, e] : existing) {
      auto in = in_network(node);
      if (!in.ok()) return std::move(in).error();
      if (!*in) outside.insert(node);
    }
  }

  std::vector<std::string> changed;
  for (const auto& [node, e] : existing) {
    const bool want = wanted.count(node) > 0;
    if (outside.count(node) > 0) {
      KITH_RETURN_IF_ERROR(
          RunCached(db, "DELETE FROM subscriptions WHERE stream_id = ? AND node = ?",
                    [&](storage::Statement& s) { s.Bind(1, row.id).Bind(2, node); }));
      changed.push_back(node);
    } else if (want && e.until_seq.has_value()) {
      KITH_RETURN_IF_ERROR(RunCached(
          db,
          "UPDATE subscriptions SET until_seq = NULL, acked = CASE WHEN ? THEN 0 ELSE acked END "
          "WHERE stream_id = ? AND node = ?",
          [&](storage::Statement& s) {
            s.Bind(1, int64_t{is_private ? 1 : 0}).Bind(2, row.id).Bind(3, node);
          }));
      changed.push_back(node);
    } else if (!want && !e.until_seq.has_value()) {
      KITH_RETURN_IF_ERROR(
          RunCached(db, "UPDATE subscriptions SET until_seq = ? WHERE stream_id = ? AND node = ?",
                    [&](storage::Statement& s) { s.Bind(1, seq).Bind(2, row.id).Bind(3, node); }));
      changed.push_back(node);
    }
  }
  for (const std::string& node : wanted) {
    if (existing.count(node)) continue;
    KITH_RETURN_IF_ERROR(
        RunCached(db,
                  "INSERT INTO subscriptions (stream_id, node, acked, until_seq, following) "
                  "VALUES (?, ?, 0, NULL, 0)",
                  [&](storage::Statement& s) { s.Bind(1, row.id).Bind(2, node); }));
    changed.push_back(node);
  }
  return changed;
}

Result<std::vector<std::string>> SyncDirectorySubscribersIn(storage::Database& db,
                                                            std::string_view stream,
                                                            std::string_view own_domain,
                                                            int64_t now) {
  KITH_RETURN_IF_ERROR(RunCached(
      db,
      "INSERT INTO streams (name, owner, head, created_at) VALUES (?, ?, 0, ?) "
      "ON CONFLICT (name) DO NOTHING",
      [&](storage::Statement& s) { s.Bind(1, stream).Bind(2, own_domain).Bind(3, now); }));
  KITH_RETURN_IF_ERROR(RunCached(
      db,
      "DELETE FROM subscriptions WHERE stream_id = (SELECT id FROM streams WHERE name = ?) "
      "AND node NOT IN (SELECT node_id FROM peers WHERE state IN ('active', 'suspended'))",
      [&](storage::Statement& s) { s.Bind(1, stream); }));
  std::vector<std::string> added;
  {
    auto stmt = db.Cached(
        "SELECT p.node_id FROM peers p WHERE p.state = 'active' AND NOT EXISTS (SELECT 1 FROM "
        "subscriptions sub WHERE sub.stream_id = (SELECT id FROM streams WHERE name = ?1) AND "
        "sub.node = p.node_id) ORDER BY p.node_id");
    if (!stmt.ok()) return std::move(stmt).error();
    storage::StatementReset reset{*stmt};
    (*stmt)->Bind(1, stream);
    for (;;) {
      auto r = (*stmt)->Step();
      if (!r.ok()) return std::move(r).error();
      if (!*r) break;
      added.push_back((*stmt)->ColumnText(0));
    }
  }
  for (const std::string& node : added) {
    KITH_RETURN_IF_ERROR(
        RunCached(db,
                  "INSERT INTO subscriptions (stream_id, node, acked, until_seq, following) "
                  "VALUES ((SELECT id FROM streams WHERE name = ?), ?, 0, NULL, 0)",
                  [&](storage::Statement& s) { s.Bind(1, stream).Bind(2, node); }));
  }
  return added;
}

Status SetFollowingIn(storage::Database& db, std::string_view stream, std::string_view node,
                      bool follow, std::string_view own_domain) {
  return SetFollowingIn(db, stream, node, follow, own_domain, SystemNow());
}

Status SetFollowingIn(storage::Database& db, std::string_view stream, std::string_view node,
                      bool follow, std::string_view own_domain, int64_t now) {
  auto found = FindStream(db, stream);
  if (!found.ok()) return std::move(found).error();
  if (!found->has_value())
    return MakeError(ErrorCode::kNotFound, "no group " + std::string(stream));
  const StreamRow row = **found;
  if (follow && row.visibility != "public") {
    return MakeError(ErrorCode::kConflict,
                     "only public groups can be followed; " + std::string(stream) + " is " +
                         (row.visibility.empty() ? "not a group" : row.visibility),
                     "not_public");
  }
  if (follow && !row.network.empty()) {
    auto in = NodeInNetworkIn(db, node, row.network, now);
    if (!in.ok()) return std::move(in).error();
    if (!*in) {
      return MakeError(ErrorCode::kPermissionDenied,
                       std::string(node) + " cannot follow " + std::string(stream) +
                           ": the group is visible only to members of the network " + row.network,
                       std::string(kNotInNetworkReason));
    }
  }
  if (follow) {
    KITH_RETURN_IF_ERROR(RunCached(
        db,
        "INSERT INTO subscriptions (stream_id, node, acked, until_seq, following) "
        "VALUES (?, ?, 0, NULL, 1) ON CONFLICT (stream_id, node) DO UPDATE SET following = 1",
        [&](storage::Statement& s) { s.Bind(1, row.id).Bind(2, node); }));
  } else {
    KITH_RETURN_IF_ERROR(
        RunCached(db, "UPDATE subscriptions SET following = 0 WHERE stream_id = ? AND node = ?",
                  [&](storage::Statement& s) { s.Bind(1, row.id).Bind(2, node); }));
  }
  // The head: a node that stops following stops after what it has seen so far.
  auto head = db.Cached("SELECT head FROM streams WHERE id = ?");
  if (!head.ok()) return std::move(head).error();
  int64_t head_seq = 0;
  {
    storage::StatementReset reset{*head};
    (*head)->Bind(1, row.id);
    auto r = (*head)->Step();
    if (!r.ok()) return std::move(r).error();
    if (*r) head_seq = (*head)->ColumnInt(0);
  }
  auto updated = UpdateSubscribersIn(db, stream, head_seq, own_domain, now);
  if (!updated.ok()) return std::move(updated).error();
  return OkStatus();
}

Status AckIn(storage::Database& db, std::string_view stream, std::string_view node, int64_t acked) {
  KITH_RETURN_IF_ERROR(
      RunCached(db,
                "UPDATE subscriptions SET acked = MAX(acked, ?) "
                "WHERE stream_id = (SELECT id FROM streams WHERE name = ?) AND node = ?",
                [&](storage::Statement& s) { s.Bind(1, acked).Bind(2, stream).Bind(3, node); }));
  return RunCached(db,
                   "DELETE FROM subscriptions WHERE stream_id = (SELECT id FROM streams WHERE "
                   "name = ?) AND node = ? AND until_seq IS NOT NULL AND acked >= until_seq",
                   [&](storage::Statement& s) { s.Bind(1, stream).Bind(2, node); });
}

Result<std::vector<Subscription>> PendingFor(storage::Database& db, std::string_view node,
                                             size_t limit) {
  auto stmt =
      db.Cached(SubscriptionSql("WHERE sub.node = ? AND sub.acked < s.head AND "
                                "(sub.until_seq IS NULL OR sub.acked < sub.until_seq) "
                                "ORDER BY s.id LIMIT ?"));
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, node).Bind(2, static_cast<int64_t>(limit));
  return ReadSubscriptions(**stmt);
}

Result<std::vector<Subscription>> PendingFor(storage::Database& db, std::string_view node,
                                             size_t limit, int64_t now) {
  std::string where =
      "WHERE sub.node = :node AND sub.acked < s.head AND "
      "(sub.until_seq IS NULL OR sub.acked < sub.until_seq) AND NOT ";
  where.append(kOutOfNetwork);
  where.append(" ORDER BY s.id LIMIT :limit");
  auto stmt = db.Cached(SubscriptionSql(where));
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, node).Bind(2, now).Bind(3, static_cast<int64_t>(limit));
  return ReadSubscriptions(**stmt);
}

Result<std::vector<std::string>> NodesWithPending(storage::Database& db) {
  auto stmt = db.Cached(
      "SELECT DISTINCT sub.node FROM subscriptions sub JOIN streams s ON s.id = sub.stream_id "
      "WHERE sub.acked < s.head AND (sub.until_seq IS NULL OR sub.acked < sub.until_seq)");
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  std::vector<std::string> out;
  for (;;) {
    auto r = (*stmt)->Step();
    if (!r.ok()) return std::move(r).error();
    if (!*r) break;
    out.push_back((*stmt)->ColumnText(0));
  }
  return out;
}

Result<std::vector<Subscription>> SubscribersOf(storage::Database& db, std::string_view stream) {
  auto stmt = db.Cached(SubscriptionSql("WHERE s.name = ? ORDER BY sub.node"));
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, stream);
  return ReadSubscriptions(**stmt);
}

Result<std::optional<Subscription>> FindSubscription(storage::Database& db, std::string_view stream,
                                                     std::string_view node) {
  auto stmt = db.Cached(SubscriptionSql("WHERE s.name = ? AND sub.node = ?"));
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, stream).Bind(2, node);
  auto rows = ReadSubscriptions(**stmt);
  if (!rows.ok()) return std::move(rows).error();
  if (rows->empty()) return std::optional<Subscription>();
  return std::optional<Subscription>(std::move(rows->front()));
}

Result<bool> MaySeeFile(storage::Database& db, std::string_view node, std::string_view sha256) {
  auto stmt = db.Cached(
      "SELECT 1 FROM document_versions dv JOIN subscriptions sub ON sub.stream_id = dv.stream_id "
      "WHERE dv.sha256 = ? AND sub.node = ? AND sub.until_seq IS NULL LIMIT 1");
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, sha256).Bind(2, node);
  auto r = (*stmt)->Step();
  if (!r.ok()) return std::move(r).error();
  return *r;
}

Result<bool> MaySeeFile(storage::Database& db, std::string_view node, std::string_view sha256,
                        int64_t now) {
  std::string sql =
      "SELECT 1 FROM document_versions dv JOIN subscriptions sub ON sub.stream_id = "
      "dv.stream_id WHERE dv.sha256 = :sha AND sub.node = :node AND sub.until_seq IS NULL AND "
      "NOT ";
  sql.append(kOutOfNetwork);
  sql.append(" LIMIT 1");
  auto stmt = db.Cached(sql);
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, sha256).Bind(2, node).Bind(3, now);
  auto r = (*stmt)->Step();
  if (!r.ok()) return std::move(r).error();
  return *r;
}

Result<std::optional<groups::Event>> FindAcceptedIn(storage::Database& db, std::string_view node,
                                                    std::string_view command_id) {
  auto stmt = db.Cached(
      "SELECT s.name, e.seq, e.type, e.actor, e.at, e.data FROM accepted_commands a "
      "JOIN streams s ON s.id = a.stream_id "
      "JOIN events e ON e.stream_id = a.stream_id AND e.seq = a.seq "
      "WHERE a.node = ? AND a.command_id = ?");
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, node).Bind(2, command_id);
  auto r = (*stmt)->Step();
  if (!r.ok()) return std::move(r).error();
  if (!*r) return std::optional<groups::Event>();
  groups::Event event;
  event.stream = (*stmt)->ColumnText(0);
  event.seq = (*stmt)->ColumnInt(1);
  event.type = (*stmt)->ColumnText(2);
  event.actor = (*stmt)->ColumnText(3);
  event.at = (*stmt)->ColumnInt(4);
  event.data = nlohmann::json::parse((*stmt)->ColumnText(5), nullptr, false);
  if (event.data.is_discarded()) event.data = nlohmann::json::object();
  return std::optional<groups::Event>(std::move(event));
}

Status RecordAcceptedIn(storage::Database& db, std::string_view node, std::string_view command_id,
                        std::string_view stream, int64_t seq, int64_t now) {
  return RunCached(db,
                   "INSERT INTO accepted_commands (node, command_id, stream_id, seq, accepted_at) "
                   "VALUES (?, ?, (SELECT id FROM streams WHERE name = ?), ?, ?)",
                   [&](storage::Statement& s) {
                     s.Bind(1, node).Bind(2, command_id).Bind(3, stream).Bind(4, seq).Bind(5, now);
                   });
}

// --- Network scope ---------------------------------------------------------------------------

Result<std::string> GroupNetworkIn(storage::Database& db, std::string_view stream) {
  auto stmt = db.Cached(
      "SELECT COALESCE(g.network, '') FROM groups g JOIN streams s ON s.id = g.stream_id "
      "WHERE s.name = ?");
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, stream);
  auto r = (*stmt)->Step();
  if (!r.ok()) return std::move(r).error();
  if (!*r) return std::string();
  return (*stmt)->ColumnText(0);
}

Result<bool> NodeInNetworkIn(storage::Database& db, std::string_view node, std::string_view network,
                             int64_t now) {
  auto stmt = db.Cached(
      "SELECT 1 FROM peer_networks WHERE peer_node_id = ? AND network = ? AND expires_at > ?");
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, node).Bind(2, network).Bind(3, now);
  auto r = (*stmt)->Step();
  if (!r.ok()) return std::move(r).error();
  return *r;
}

Result<bool> DomainInNetworkIn(storage::Database& db, std::string_view domain,
                               std::string_view network, std::string_view own_domain, int64_t now) {
  if (network.empty() || domain == own_domain) return true;
  auto peers = ActivePeersByDomain(db);
  if (!peers.ok()) return std::move(peers).error();
  auto peer = peers->find(std::string(domain));
  if (peer == peers->end()) return false;
  return NodeInNetworkIn(db, peer->second, network, now);
}

Status CheckNetworkScopeIn(storage::Database& db, const groups::Command& command,
                           std::string_view own_domain, int64_t now) {
  auto network = GroupNetworkIn(db, command.stream);
  if (!network.ok()) return std::move(network).error();
  if (network->empty()) return OkStatus();
  auto refuse = [&](const std::string& who) {
    return MakeError(ErrorCode::kPermissionDenied,
                     who + " is not in the network " + *network + ", to which " +
                         command.stream.substr(command.stream.find(':') + 1) + " is limited",
                     std::string(kNotInNetworkReason));
  };
  auto actor_domain = groups::AddressDomain(command.actor);
  if (!actor_domain.ok()) return std::move(actor_domain).error();
  auto actor_in = DomainInNetworkIn(db, *actor_domain, *network, own_domain, now);
  if (!actor_in.ok()) return std::move(actor_in).error();
  if (!*actor_in) return refuse("the node of " + command.actor + " (" + *actor_domain + ")");
  if (command.type == groups::event_type::kMemberInvited) {
    const std::string invitee = command.data.value("member", "");
    auto invitee_domain = groups::AddressDomain(invitee);
    if (invitee_domain.ok()) {
      auto invitee_in = DomainInNetworkIn(db, *invitee_domain, *network, own_domain, now);
      if (!invitee_in.ok()) return std::move(invitee_in).error();
      if (!*invitee_in) return refuse("the node of " + invitee + " (" + *invitee_domain + ")");
    }
  }
  return OkStatus();
}

Result<bool> IsKnownNetworkIn(storage::Database& db, std::string_view network) {
  auto stmt = db.Cached(
      "SELECT EXISTS (SELECT 1 FROM networks WHERE entity_id = ?1) OR "
      "EXISTS (SELECT 1 FROM authority_hints WHERE entity_id = ?1) OR "
      "EXISTS (SELECT 1 FROM trusted_anchors WHERE entity_id = ?1) OR "
      "EXISTS (SELECT 1 FROM peer_networks WHERE network = ?1)");
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, network);
  auto r = (*stmt)->Step();
  if (!r.ok()) return std::move(r).error();
  return *r && (*stmt)->ColumnInt(0) != 0;
}

Result<std::vector<std::string>> UpdateScopedSubscribersIn(storage::Database& db,
                                                           std::string_view own_domain,
                                                           int64_t now) {
  struct Scoped {
    std::string stream;
    int64_t head = 0;
  };
  std::vector<Scoped> scoped;
  {
    auto stmt = db.Cached(
        "SELECT s.name, s.head FROM groups g JOIN streams s ON s.id = g.stream_id "
        "WHERE g.network IS NOT NULL AND s.owner = ? ORDER BY s.id");
    if (!stmt.ok()) return std::move(stmt).error();
    storage::StatementReset reset{*stmt};
    (*stmt)->Bind(1, own_domain);
    for (;;) {
      auto r = (*stmt)->Step();
      if (!r.ok()) return std::move(r).error();
      if (!*r) break;
      scoped.push_back(Scoped{(*stmt)->ColumnText(0), (*stmt)->ColumnInt(1)});
    }
  }
  std::vector<std::string> changed;
  for (const Scoped& group : scoped) {
    auto nodes = UpdateSubscribersIn(db, group.stream, group.head, own_domain, now);
    if (!nodes.ok()) return std::move(nodes).error();
    if (!nodes->empty()) changed.push_back(group.stream);
  }
  return changed;
}

}  // namespace kith::federation
