// Events and commands of group streams (DESIGN.md, "The shape of the data: streams of events").
//
// A group `slug@domain` is the stream `group:slug@domain`, owned by the node whose domain
// (base URL host[:port]) is `domain`. Every change to a group is an event in that stream,
// numbered 1, 2, 3, ... by the owner. A command is a proposed event: the same type, actor
// and data, plus an idempotency key; the owner decides it (groups/decide.h) and, when allowed,
// appends it as the next event.
//
// Event types and their `data` (all strings UTF-8 without control characters except in
// Markdown bodies, descriptions and request messages, which allow \n, \r and \t; limits in
// code points; `description`, `tags` and `message` are optional, ids are integers >= 1):
//   group.created        {name, description, tags, visibility, join_policy, network?}
//                                                 actor = first owner
//   group.updated        {name?, description?, tags?, visibility?, join_policy?, network?}
//                        network: the entity id of the one network the group is scoped to
//                        (ValidateNetworkId); null or absent in group.created: none; null in
//                        group.updated: the scope is lifted, absent: unchanged
//   group.archived       {}            group.unarchived {}
//   member.requested     {member, message}       actor == member
//   member.approved      {member}      member.declined {member}
//   member.invited       {member}      member.joined   {member}   actor == member
//   member.role_changed  {member, role}
//   member.left          {member}      actor == member
//   member.removed       {member}
//   thread.created       {title, body}           thread id = post id = seq
//   post.created         {thread, body}          post id = seq
//   post.edited          {post, body, title?}    title only for a thread's first post
//   post.deleted         {post}
//   thread.pinned        {thread, pinned}        thread.locked {thread, locked}
//   file.added           {title, description, tags, sha256, size, media_type, filename}
//                                                 document id = seq, version 1
//   file.version_added   {document, sha256, size, media_type, filename}
//   file.updated         {document, title?, description?, tags?}
//   file.removed         {document}
//
// Wire form of an event: {"seq":N,"type":"...","actor":"a@b","at":unix,"data":{...}}.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "storage/result.h"

namespace kith::groups {

enum class Visibility { kPublic, kRestricted, kPrivate };
enum class JoinPolicy { kOpen, kRequest, kInvite };
enum class GroupStatus { kActive, kArchived };
enum class Role { kMember, kFacilitator, kOwner };  // ordered: a higher role includes the lower

std::string_view VisibilityName(Visibility v);  // "public" | "restricted" | "private"
Result<Visibility> ParseVisibility(std::string_view name);
std::string_view JoinPolicyName(JoinPolicy p);  // "open" | "request" | "invite"
Result<JoinPolicy> ParseJoinPolicy(std::string_view name);
std::string_view GroupStatusName(GroupStatus s);  // "active" | "archived"
Result<GroupStatus> ParseGroupStatus(std::string_view name);
std::string_view RoleName(Role r);  // "member" | "facilitator" | "owner"
Result<Role> ParseRole(std::string_view name);

// Limits.
inline constexpr size_t kMaxSlug = 64;  // a-z 0-9 '-', starting with a letter or digit
inline constexpr size_t kMaxGroupName = 120;
inline constexpr size_t kMaxDescription = 4000;
inline constexpr size_t kMaxTags = 20;
inline constexpr size_t kMaxTag = 40;
inline constexpr size_t kMaxTitle = 200;
inline constexpr size_t kMaxBody = 50000;  // Markdown post body
inline constexpr size_t kMaxMessage = 1000;
inline constexpr size_t kMaxFilename = 255;
inline constexpr size_t kMaxMediaType = 127;
inline constexpr size_t kMaxEventBytes = 64 * 1024;  // an event's serialized JSON at most
inline constexpr size_t kMaxNetworkId = 2048;        // bytes (federation's kMaxEntityIdBytes)

// Names of the event types (the strings above).
namespace event_type {
inline constexpr std::string_view kGroupCreated = "group.created";
inline constexpr std::string_view kGroupUpdated = "group.updated";
inline constexpr std::string_view kGroupArchived = "group.archived";
inline constexpr std::string_view kGroupUnarchived = "group.unarchived";
inline constexpr std::string_view kMemberRequested = "member.requested";
inline constexpr std::string_view kMemberApproved = "member.approved";
inline constexpr std::string_view kMemberDeclined = "member.declined";
inline constexpr std::string_view kMemberInvited = "member.invited";
inline constexpr std::string_view kMemberJoined = "member.joined";
inline constexpr std::string_view kMemberRoleChanged = "member.role_changed";
inline constexpr std::string_view kMemberLeft = "member.left";
inline constexpr std::string_view kMemberRemoved = "member.removed";
inline constexpr std::string_view kThreadCreated = "thread.created";
inline constexpr std::string_view kPostCreated = "post.created";
inline constexpr std::string_view kPostEdited = "post.edited";
inline constexpr std::string_view kPostDeleted = "post.deleted";
inline constexpr std::string_view kThreadPinned = "thread.pinned";
inline constexpr std::string_view kThreadLocked = "thread.locked";
inline constexpr std::string_view kFileAdded = "file.added";
inline constexpr std::string_view kFileVersionAdded = "file.version_added";
inline constexpr std::string_view kFileUpdated = "file.updated";
inline constexpr std::string_view kFileRemoved = "file.removed";
}  // namespace event_type

// True for the types above.
bool IsKnownEventType(std::string_view type);

// A stream's name for a group, and back. ParseGroupStream: kInvalidArgument unless
// "group:<slug>@<domain>" with a valid slug and a non-empty domain.
struct GroupRef {
  std::string slug;
  std::string domain;
  std::string Id() const { return slug + "@" + domain; }                 // "slug@domain"
  std::string Stream() const { return "group:" + slug + "@" + domain; }  // "group:slug@domain"
};
Result<GroupRef> ParseGroupStream(std::string_view stream);
Result<GroupRef> ParseGroupId(std::string_view id);  // "slug@domain"
// Validates a slug (see kMaxSlug). kInvalidArgument naming "slug".
Status ValidateSlug(std::string_view slug);

// Checks the `network` of a group: the form of an OpenID Federation entity identifier, as
// federation::ValidateEntityId checks it without the scheme policy (groups may not use
// federation): "https://" or "http://", a non-empty host, printable ASCII without spaces,
// no query, fragment, user info or trailing '/', at most kMaxNetworkId bytes. Whether http is
// allowed and whether the network is one this node knows is the node's to check.
// kInvalidArgument naming "network".
Status ValidateNetworkId(std::string_view network);

// A member address "handle@domain": the domain part (everything after the last '@'), or
// kInvalidArgument when the address is malformed.
Result<std::string> AddressDomain(std::string_view address);

struct Event {
  std::string stream;  // "group:slug@domain"
  int64_t seq = 0;
  std::string type;
  std::string actor;  // "handle@domain"
  int64_t at = 0;     // unix seconds
  nlohmann::json data = nlohmann::json::object();

  nlohmann::json ToJson() const;  // the wire form (without the stream)
};

// Parses the wire form of one event of `stream`. Checks the shape only (seq >= 1, known type,
// actor an address, data an object, serialized size within kMaxEventBytes); the data's
// fields are checked by ValidateEventData. kInvalidArgument saying what is wrong.
Result<Event> EventFromJson(std::string_view stream, const nlohmann::json& json);

// Checks `data` of an event (or command) of `type`: required fields present with the right
// JSON types, strings within limits, enums known. kInvalidArgument naming the field.
Status ValidateEventData(std::string_view type, const nlohmann::json& data);

// A proposed event.
struct Command {
  std::string stream;
  std::string type;
  std::string actor;
  nlohmann::json data = nlohmann::json::object();
  std::string command_id;  // idempotency key (random; 1-100 chars of [A-Za-z0-9_-])
};

}  // namespace kith::groups
