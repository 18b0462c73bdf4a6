// The directory stream of a node (DESIGN.md, "streams"): `directory@<domain>`, owned by the
// node whose domain is `domain`, carries the profiles of its members who chose the network
// directory and the listings of its public and restricted groups (not scoped to a network) to every
// peer.
//
// It lives in the same `streams` / `events` tables as group streams (stream name
// "directory@<domain>"), numbered 1, 2, 3, ... by the owner. Its projection is the tables
// `directory_people` and `directory_groups` (migration 0007); the owner applies its own events
// with the same reducer as every mirror. Remote profiles and listings are kept in the search
// index (groups/search.h) in the same transaction as the projection change.
//
// Event types and their `data` (strings UTF-8 without control characters, except `bio` and
// `description`, which allow \n, \r and \t; limits in code points as identity/member.h and
// groups/event.h say):
//   profile.published {address, display_name, organisation, job_title, bio}
//                      address "handle@<owner domain>"; display_name required (1..100)
//   profile.removed   {address}
//   group.listed      {group, name, description, tags, visibility, join_policy, status,
//                      member_count}
//                      group "slug@<owner domain>"; visibility public|restricted (a private
//                      group is never listed); status active|archived; member_count >= 0
//   group.unlisted    {group}
// The actor of profile events is the member; of group events the member who caused the change
// (any address of the owner's domain). A node speaks for its own members and groups only: an
// address or group whose domain is not the stream's owner domain is refused (kInvalidArgument).
//
// Wire form of an event: as groups/event.h ({"seq","type","actor","at","data"}).
//
// Thread-safety: DirectoryStore is thread-safe (reads borrow pool connections, writes go to the
// writer); the free functions are pure.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "groups/event.h"
#include "groups/group_store.h"
#include "identity/member.h"
#include "identity/write_result.h"
#include "storage/clock.h"
#include "storage/database.h"
#include "storage/store.h"

namespace kith::groups {

namespace directory_event {
inline constexpr std::string_view kProfilePublished = "profile.published";
inline constexpr std::string_view kProfileRemoved = "profile.removed";
inline constexpr std::string_view kGroupListed = "group.listed";
inline constexpr std::string_view kGroupUnlisted = "group.unlisted";
}  // namespace directory_event

// True for the four types above.
bool IsDirectoryEventType(std::string_view type);

// "directory@<domain>".
std::string DirectoryStream(std::string_view domain);
// The owner domain of a directory stream name; kInvalidArgument unless "directory@<domain>"
// with a non-empty domain without '@', '/' or whitespace.
Result<std::string> ParseDirectoryStream(std::string_view stream);

// Checks `data` of a directory event of `type` in the stream owned by `owner_domain`: required
// fields with the right JSON types, strings within limits, enums known, addresses / group refs
// of the owner's domain. kInvalidArgument naming the field.
Status ValidateDirectoryEventData(std::string_view type, const nlohmann::json& data,
                                  std::string_view owner_domain);

// Parses the wire form of one event of the directory stream `stream`: shape (seq >= 1, a
// directory event type, actor an address of the owner's domain, data an object within
// kMaxEventBytes) and data (ValidateDirectoryEventData). kInvalidArgument saying what is wrong.
Result<Event> DirectoryEventFromJson(std::string_view stream, const nlohmann::json& json);

// A directory event to append on the owner (the seq and time are the owner's).
struct DirectoryChange {
  std::string type;   // a directory_event type
  std::string actor;  // "handle@<this node's domain>"
  nlohmann::json data = nlohmann::json::object();
};

// What the owner appends when local `member`'s profile, visibility or status changed (or it
// was added / removed: pass `removed` = true when the member no longer exists):
// profile.published with the profile when the member is active with visibility `network`,
// profile.removed otherwise. `domain` is this node's domain. PublishIn skips a change that
// would not change the projection (a repeat, or a removal of an unpublished profile).
DirectoryChange DirectoryEventsForMember(const identity::Member& member, std::string_view domain,
                                         bool removed = false);

// What the owner appends when a group it owns was created, updated, archived/unarchived or
// its member count changed: group.listed for public and restricted groups (with status and
// member count), group.unlisted for private ones and ones scoped to a network (a group that
// turned private or scoped disappears from peers' directories). `actor` is who caused it (empty:
// the group's creator).
DirectoryChange DirectoryEventsForGroup(const Group& group, std::string_view actor = {});

// A profile as the directory shows it.
struct Profile {
  std::string address;  // "handle@domain"
  std::string display_name;
  std::string organisation;
  std::string job_title;
  std::string bio;
  std::string node;        // the member's domain
  std::string visibility;  // "network" | "node" (a remote profile is always "network")
  bool local = false;      // a member of this node
  int64_t updated_at = 0;
};

// A group listing received from a peer's directory (or this node's own).
struct Listing {
  GroupRef ref;
  std::string name;
  std::string description;
  std::vector<std::string> tags;
  Visibility visibility = Visibility::kPublic;  // public | restricted
  JoinPolicy join_policy = JoinPolicy::kOpen;
  GroupStatus status = GroupStatus::kActive;
  int64_t member_count = 0;
  int64_t updated_at = 0;
};

class DirectoryStore {
 public:
  // `domain` is this node's domain (NodeSection::domain()); its own stream is
  // DirectoryStream(domain).
  DirectoryStore(storage::Store& store, const Clock& clock, std::string domain);

  const std::string& domain() const { return domain_; }
  const std::string& stream() const { return stream_; }

  // --- Owner ----------------------------------------------------------------------------
  // Validates `change` and appends it as the next event of this node's directory stream
  // (creating the stream on first use), applying it to the projection and the search index in
  // the same job. Returns nullopt (nothing appended) when the change would not alter the
  // projection. kInvalidArgument for bad data or an actor/address of another domain.
  void Publish(DirectoryChange change, identity::Done<std::optional<Event>> done);
  Result<std::optional<Event>> PublishIn(storage::Database& db, const DirectoryChange& change);

  // --- Owner: members --------------------------------------------------------------------
  // Brings this node's published profiles in line with the `members` table (identity cannot
  // call groups, so the daemon runs this after member changes, at start and every minute):
  // profile.published for each active member with visibility `network` whose published
  // profile is missing or differs, profile.removed for each published profile whose member is
  // gone, disabled, or no longer `network`. The differences are found by SQL joins (never a
  // loop over every member in C++); the work runs as writer jobs of at most kSyncBatch members
  // each, so that a first sync of 150,000 members does not hold the writer for long. `done`
  // gets how many events were appended (0 when everything agreed), on the writer thread. A
  // member whose profile fails the directory's checks is skipped (counted in SyncStep).
  // Idempotent. Runs may overlap safely (each job re-reads), but callers should serialise them
  // (the daemon keeps at most one running and one queued).
  static constexpr size_t kSyncBatch = 1000;
  void SyncMembers(identity::Done<int64_t> done);
  // One step of SyncMembers inside a writer job: publishes the differing members with id >
  // `after_id` (at most `max_members`); when fewer remained, also the removals. `next_after`
  // is set when there may be more members after it.
  struct SyncStep {
    int64_t changed = 0;  // events appended
    int64_t skipped = 0;  // members whose profile the directory refused
    std::optional<int64_t> next_after;
  };
  Result<SyncStep> SyncMembersIn(storage::Database& db, int64_t after_id,
                                 size_t max_members = kSyncBatch);

  // --- Mirror ---------------------------------------------------------------------------
  // Applies `events` (ascending seq) of the peer's directory stream `stream` after its head,
  // with the semantics of GroupStore::ApplyRemote (the federation layer calls it for pushes and
  // pulls of `directory@<peer>`, after checking that the peer signed and owns the stream and
  // is active): events at or below the head are duplicates
  // (counted, ignored); an event after head + 1 stops the batch (gap = true, the report's head
  // says where to pull from); an invalid event fails the job with kInvalidArgument naming the
  // seq (nothing of the batch kept). Refuses this node's own stream (kInvalidArgument).
  // `dropped` is always false.
  void ApplyRemote(std::string stream, std::vector<Event> events, identity::Done<ApplyReport> done);
  Result<ApplyReport> ApplyRemoteIn(storage::Database& db, const std::string& stream,
                                    const std::vector<Event>& events);

  // --- Reads ----------------------------------------------------------------------------
  // The stream's head here; 0 when unknown.
  Result<int64_t> Head(std::string_view stream);
  // Events after `after`, at most `limit` (1..1000) and about `max_bytes` of JSON
  // (for serving pulls of this node's stream).
  Result<std::vector<Event>> EventsAfter(std::string_view stream, int64_t after, size_t limit,
                                         size_t max_bytes = 1024 * 1024);
  // The profile of `address` as `viewer` ("handle@domain", or empty when anonymous) may see
  // it: a local member with visibility network, or node when the viewer is of this node; a
  // remote profile from a peer's directory stream. kNotFound otherwise (hidden, disabled,
  // unknown — indistinguishable on purpose). kInvalidArgument for a malformed address.
  Result<Profile> GetProfile(std::string_view address, std::string_view viewer);
  // The listing of `group_ref` ("slug@domain") from a directory stream; kNotFound when none.
  Result<Listing> GetListing(std::string_view group_ref);

 private:
  storage::Store& store_;
  const Clock& clock_;
  std::string domain_;
  std::string stream_;
};

}  // namespace kith::groups
