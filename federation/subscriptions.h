// Subscriptions: the owner side of replication in SQL (storage/migrations/0006_replication.sql,
// tables `subscriptions` and `accepted_commands`): who receives which stream, how far each
// subscriber acknowledged, and the commands already accepted from peers.
//
// The *In functions run inside a writer job (they never BEGIN/COMMIT); the others read on a
// pooled connection. They read the groups projection (groups, group_members, events) and the
// peers table directly, because the subscriber set must be computed in the same job that
// appended the membership event. Thread-safe (each call uses the connection it is given).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "groups/event.h"
#include "storage/database.h"
#include "storage/result.h"
#include "storage/store.h"

namespace kith::federation {

struct Subscription {
  std::string stream;
  std::string node;  // the subscriber's node id (base URL)
  int64_t acked = 0;
  std::optional<int64_t> until_seq;
  bool following = false;
  int64_t head = 0;  // the stream's head here
};

// Why a node outside a group's network is refused (the `error` of the 403 answer).
inline constexpr std::string_view kNotInNetworkReason = "not_in_network";

// Recomputes the subscribers of `stream` (owned here) after event `seq`: the nodes of the
// group's members and invitees (so that an invited member's node can show the invitation and
// let the member accept it) other than `own_domain`, mapped to active peers (a peer's domain is its
// base URL's host[:port]), plus the following peers when the group is public. A node that
// stops being one gets until_seq = seq (it still receives up to seq, so that it learns it
// left); one that becomes one gets a row with acked 0, or its row back (until_seq NULL; acked
// 0 when the group is private, whose mirror dropped the content). Returns the nodes whose
// row changed.
// Network scope: when the group names a network (groups.network), only peers that reach it
// at `now` (NodeInNetworkIn) are subscribers; the row of a node that does not is deleted (it
// receives nothing more, not even up to seq). The overload without `now` uses the system
// clock.
Result<std::vector<std::string>> UpdateSubscribersIn(storage::Database& db, std::string_view stream,
                                                     int64_t seq, std::string_view own_domain,
                                                     int64_t now);
Result<std::vector<std::string>> UpdateSubscribersIn(storage::Database& db, std::string_view stream,
                                                     int64_t seq, std::string_view own_domain);

// --- Network scope (groups scoped to one network) ------------------------------------------
// The SQL twins of NetworkStore::PeerInNetwork for writer jobs and short reads: they read
// `peer_networks` (migration 0012, kept by the network peering) on the caller's connection.

// The network `stream` (a group stream known here) is scoped to; "" when none, or when the
// stream is not a known group.
Result<std::string> GroupNetworkIn(storage::Database& db, std::string_view stream);

// Whether the peer `node` reaches `network` through a chain valid at `now`
// (peer_networks.expires_at > now).
Result<bool> NodeInNetworkIn(storage::Database& db, std::string_view node, std::string_view network,
                             int64_t now);

// Whether members of the node whose domain is `domain` may reach a group scoped to `network`:
// always for `own_domain` (this node's members) and for an empty `network`; else only when an
// active peer serves `domain` and reaches `network` at `now`.
Result<bool> DomainInNetworkIn(storage::Database& db, std::string_view domain,
                               std::string_view network, std::string_view own_domain, int64_t now);

// The network rule for a command on a group owned here: OkStatus when the group names no
// network, or when the actor's node (its domain) reaches it — and, for member.invited, the
// invitee's node too. Otherwise kPermissionDenied, reason kNotInNetworkReason, with a message
// naming the node and the network. Reads only; run it in the job that appends.
Status CheckNetworkScopeIn(storage::Database& db, const groups::Command& command,
                           std::string_view own_domain, int64_t now);

// Whether `network` is a network this node knows: one it operates (networks), belongs to
// (authority_hints), trusts as an anchor (trusted_anchors), or that a peer reaches
// (peer_networks, at any time). A group may be scoped only to such a network.
Result<bool> IsKnownNetworkIn(storage::Database& db, std::string_view network);

// Recomputes the subscribers of every group owned here (`own_domain`) that is scoped to a
// network (UpdateSubscribersIn at the stream's head), after peers joined or left networks or
// changed state. Returns the streams some of whose rows changed.
Result<std::vector<std::string>> UpdateScopedSubscribersIn(storage::Database& db,
                                                           std::string_view own_domain,
                                                           int64_t now);

// The subscribers of this node's directory stream `stream` ("directory@<own_domain>"):
// every active peer. Creates the stream row when missing (head 0), adds a row (acked 0) for
// each active peer without one, keeps the rows of suspended peers (their cursor; delivery
// waits until they are active again) and deletes the rows of every other node (revoked,
// rejected, removed). Returns the nodes added. Idempotent; run on start and whenever a peer
// changes.
Result<std::vector<std::string>> SyncDirectorySubscribersIn(storage::Database& db,
                                                            std::string_view stream,
                                                            std::string_view own_domain,
                                                            int64_t now);

// Follow or unfollow (public groups only: kConflict, "not_public", otherwise; kNotFound for an
// unknown stream; kPermissionDenied, kNotInNetworkReason, for following a group scoped to a
// network `node` does not reach at `now`). Unfollowing leaves the row while the node still has
// members in the group. The overload without `now` uses the system clock.
Status SetFollowingIn(storage::Database& db, std::string_view stream, std::string_view node,
                      bool follow, std::string_view own_domain, int64_t now);
Status SetFollowingIn(storage::Database& db, std::string_view stream, std::string_view node,
                      bool follow, std::string_view own_domain);

// Moves the cursor of (stream, node) forward to `acked` (never back), and deletes a row with
// until_seq once acked >= until_seq.
Status AckIn(storage::Database& db, std::string_view stream, std::string_view node, int64_t acked);

// The subscriptions of `node` with events to send: acked < head and (until_seq IS NULL OR
// acked < until_seq). At most `limit`.
Result<std::vector<Subscription>> PendingFor(storage::Database& db, std::string_view node,
                                             size_t limit = 1000);
// The same without the streams of groups scoped to a network `node` does not reach at `now`
// (what the delivery loop sends: a peer that left the network gets nothing more even before
// its rows are recomputed).
Result<std::vector<Subscription>> PendingFor(storage::Database& db, std::string_view node,
                                             size_t limit, int64_t now);
// The nodes with pending deliveries (for Start).
Result<std::vector<std::string>> NodesWithPending(storage::Database& db);
// The subscribers of `stream` (rows with until_seq NULL or not yet delivered up to it).
Result<std::vector<Subscription>> SubscribersOf(storage::Database& db, std::string_view stream);
Result<std::optional<Subscription>> FindSubscription(storage::Database& db, std::string_view stream,
                                                     std::string_view node);

// Whether `node` may fetch the bytes `sha256` from us: it subscribes to a stream one of whose
// document versions references them (and, with `now`, that stream's group is not scoped to a
// network `node` does not reach at `now`).
Result<bool> MaySeeFile(storage::Database& db, std::string_view node, std::string_view sha256);
Result<bool> MaySeeFile(storage::Database& db, std::string_view node, std::string_view sha256,
                        int64_t now);

// accepted_commands: the seq recorded for (node, command_id), and the event at that seq.
Result<std::optional<groups::Event>> FindAcceptedIn(storage::Database& db, std::string_view node,
                                                    std::string_view command_id);
Status RecordAcceptedIn(storage::Database& db, std::string_view node, std::string_view command_id,
                        std::string_view stream, int64_t seq, int64_t now);

}  // namespace kith::federation
