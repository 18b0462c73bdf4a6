// GroupStore: the groups of this node's database — streams it owns and streams it mirrors —
// with the decision rules (who may do what), the reducers (one per event type) that keep the
// projection tables, the reads the API and pages need, and a digest of a group's state.
//
// Writes go through the storage::Writer (group commit): `done` is called once on the writer
// thread after the batch holding the write is durable (identity/write_result.h pattern).
// The *In functions do the same work inside a writer job the caller already runs (federation
// batches many events per job); they never BEGIN/COMMIT.
//
// Decision rules (Decide): the actor must be allowed by the group's state:
//  * group.created: only on the owner for its own members (actor's domain == owner domain),
//    slug unused. The actor becomes the group's owner.
//  * Archived groups refuse everything except group.unarchived (kFailedPrecondition).
//  * group.updated / archived / unarchived, member.approved / declined / invited /
//    role_changed / removed, thread.pinned / locked: facilitator or owner. Only an owner makes
//    or unmakes an owner, or removes an owner. A group always keeps at least one owner.
//  * member.requested: join policy `request`, not yet a member. member.joined: policy `open`,
//    or a pending invite. member.left: a member (not the last owner).
//  * thread.created, post.created, file.added, file.version_added: a member; posts not into
//    a deleted thread, nor a locked one unless facilitator.
//  * post.edited / post.deleted, file.updated / file.removed: the author or a facilitator.
// Refusals: kPermissionDenied (403) with a message naming the rule ("only facilitators can
// approve join requests"), kNotFound (404) for an unknown group/thread/post/document,
// kConflict (409) for a duplicate (slug taken, already a member), kConflict (409) with reason
// "failed_precondition" for state (archived, locked, deleted, last owner), kInvalidArgument
// (400) for bad data. The owner appends only the fields the event type defines (unknown fields
// of a command are dropped). The rules are in groups/decide.cc, the reducers in
// groups/reducer.cc.
//
// Read rules (CanRead): public: anyone signed in; restricted and private: members only (a
// restricted group's listing is visible to anyone, its content to members only). A group
// scoped to a network (Group::network) is further limited to viewers whose node reaches the
// network; GroupStore does not know peers, so the node and federation apply that part.
//
// Thread-safety: thread-safe (reads borrow pool connections, writes go to the writer).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "groups/event.h"
#include "identity/write_result.h"
#include "storage/clock.h"
#include "storage/database.h"
#include "storage/store.h"

namespace kith::groups {

using identity::Done;

struct Group {
  GroupRef ref;
  std::string name;
  std::string description;
  std::vector<std::string> tags;
  Visibility visibility = Visibility::kPublic;
  JoinPolicy join_policy = JoinPolicy::kOpen;
  GroupStatus status = GroupStatus::kActive;
  std::string created_by;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  int64_t head = 0;  // last seq applied on this node
  int64_t member_count = 0;
  bool owned = false;  // this node owns the stream
  // The entity id of the network the group is scoped to (groups/event.h); empty: none. Only
  // this node's members and members of peers that reach the network may see it (enforced by
  // federation and the node: groups only stores it).
  std::string network;
};

struct Membership {
  std::string member;  // "handle@domain"
  Role role = Role::kMember;
  int64_t joined_at = 0;
};

struct JoinRequest {
  std::string member;
  std::string message;
  int64_t requested_at = 0;
};

struct Invite {
  std::string member;
  std::string invited_by;
  int64_t invited_at = 0;
};

struct Thread {
  int64_t id = 0;
  std::string title;
  std::string author;
  int64_t created_at = 0;
  int64_t last_post_at = 0;
  int64_t reply_count = 0;
  bool pinned = false;
  bool locked = false;
  bool deleted = false;
};

struct Post {
  int64_t id = 0;
  int64_t thread_id = 0;
  std::string author;
  std::string body;  // Markdown; empty when deleted
  int64_t created_at = 0;
  std::optional<int64_t> edited_at;
  std::string edited_by;
  bool deleted = false;
};

struct DocumentVersion {
  int64_t version = 0;
  std::string sha256;  // lower-case hex
  int64_t size = 0;
  std::string media_type;
  std::string filename;
  std::string author;
  int64_t created_at = 0;
};

struct Document {
  int64_t id = 0;
  std::string title;
  std::string description;
  std::vector<std::string> tags;
  std::string author;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  bool deleted = false;
  DocumentVersion current;
};

// A page of items, oldest-id-first unless said otherwise, with the cursor for the next page.
template <class T>
struct Page {
  std::vector<T> items;
  std::optional<int64_t> next_after;  // pass as `after` for the next page; nullopt = last page
};

// What one mirror batch did.
struct ApplyReport {
  int64_t applied = 0;     // events applied now
  int64_t duplicates = 0;  // events at or below the head (acknowledged, ignored)
  int64_t head = 0;        // the stream's head after the batch
  bool gap = false;        // an event after head + 1 was met: the rest was not applied
  bool dropped = false;    // a private group lost its last local member: content removed
};

class GroupStore {
 public:
  // `domain` is this node's domain (NodeSection::domain()).
  GroupStore(storage::Store& store, const Clock& clock, std::string domain);

  const std::string& domain() const { return domain_; }

  // --- Writes ---------------------------------------------------------------------------
  // Owner: decides `command` against the current state and appends it as the next event of
  // its stream (creating the stream for group.created); the reducer updates the projection
  // in the same job. Errors as in "Decision rules". The stream must be owned here
  // (kInvalidArgument otherwise).
  void Append(Command command, Done<Event> done);
  Result<Event> AppendIn(storage::Database& db, const Command& command);

  // Mirror: applies `events` (ascending seq) of `stream`, owned by `owner_domain`, after the
  // stream's head: events at or below the head are counted as duplicates and ignored; an event
  // after head + 1 stops the batch (gap); an event the reducer refuses fails the job with
  // kInvalidArgument naming the seq (nothing of the batch is kept). Refuses streams owned by
  // this node (kInvalidArgument). When the group is private and no member of this node remains
  // after the batch, the stream and its content are deleted (dropped = true) — unless the
  // mirror never had a local member of the private group yet (a catch-up in batches whose
  // member's join is further on); a group that turns private drops on member-less followers.
  // After a drop the report's head is the seq reached (acknowledge it), Head() is 0 again.
  void ApplyRemote(std::string stream, std::string owner_domain, std::vector<Event> events,
                   Done<ApplyReport> done);
  Result<ApplyReport> ApplyRemoteIn(storage::Database& db, const std::string& stream,
                                    const std::string& owner_domain,
                                    const std::vector<Event>& events);

  // Checks `command` against the state this node has (owner or mirror) without writing:
  // what Decide would answer. kNotFound when the stream is not known here. Used by a mirror
  // to refuse at once what the owner would refuse (403 on mirrors alike).
  Status Check(const Command& command);

  // --- Reads ----------------------------------------------------------------------------
  Result<Group> GetGroup(std::string_view stream);
  // The same inside a writer job the caller runs (sees the job's uncommitted writes).
  Result<Group> GetGroupIn(storage::Database& db, std::string_view stream);
  // Groups known here that `viewer` ("handle@domain") may see listed: public and restricted
  // ones, and private ones the viewer is a member of. Ordered by name. Groups scoped to a
  // network are listed only to viewers of this node and to their members (which peers reach
  // the network is federation's to know; the node shows them to those by link).
  Result<std::vector<Group>> ListGroups(std::string_view viewer);
  // Groups `member` belongs to (any visibility), ordered by name.
  Result<std::vector<Group>> GroupsOf(std::string_view member);
  // The viewer's role, nullopt when not a member.
  Result<std::optional<Role>> RoleOf(std::string_view stream, std::string_view member);
  // Whether `viewer` may read the group's content (see "Read rules"). kNotFound: no group.
  Result<bool> CanRead(std::string_view stream, std::string_view viewer);

  Result<std::vector<Membership>> Members(std::string_view stream);
  Result<std::vector<JoinRequest>> Requests(std::string_view stream);
  Result<std::vector<Invite>> Invites(std::string_view stream);
  // Lists include tombstones (deleted threads/posts, removed documents) with their flag set.
  // Threads, pinned first, then by last_post_at descending, then id descending. `after` is an
  // offset here (0 for the first page; pass next_after). limit 1..100.
  Result<Page<Thread>> Threads(std::string_view stream, int64_t after, size_t limit);
  Result<Thread> GetThread(std::string_view stream, int64_t thread_id);
  // Posts of a thread by id (the first post is the thread's body); `after` = the last post id
  // seen (0 first). limit 1..100. Documents likewise by id.
  Result<Page<Post>> Posts(std::string_view stream, int64_t thread_id, int64_t after, size_t limit);
  Result<Post> GetPost(std::string_view stream, int64_t post_id);
  Result<Page<Document>> Documents(std::string_view stream, int64_t after, size_t limit);
  Result<Document> GetDocument(std::string_view stream, int64_t document_id);
  Result<std::vector<DocumentVersion>> Versions(std::string_view stream, int64_t document_id);

  // --- Streams --------------------------------------------------------------------------
  // The stream's head here; 0 when unknown.
  Result<int64_t> Head(std::string_view stream);
  // Events after `after`, at most `limit` (1..1000) and about `max_bytes` of JSON.
  Result<std::vector<Event>> EventsAfter(std::string_view stream, int64_t after, size_t limit,
                                         size_t max_bytes = 1024 * 1024);
  // SHA-256 (hex) of a canonical serialization of the group's projection (group row, members,
  // requests, invites, threads, posts, documents, versions; sorted; no node-local values such
  // as `owned` or row ids). Equal on the owner and every mirror at the same head.
  Result<std::string> Digest(std::string_view stream);
  // Whether some local member (…@domain()) is in the group.
  Result<bool> HasLocalMember(std::string_view stream);

 private:
  storage::Store& store_;
  const Clock& clock_;
  std::string domain_;
};

}  // namespace kith::groups
