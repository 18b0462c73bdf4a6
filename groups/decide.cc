#include "groups/decide.h"

#include <optional>
#include <string>
#include <vector>

#include "groups/sql.h"

namespace kith::groups {
namespace {

using storage::Database;
namespace t = event_type;

Error Denied(std::string message) {
  return MakeError(ErrorCode::kPermissionDenied, std::move(message));
}
Error Precondition(std::string message) {
  return MakeError(ErrorCode::kConflict, std::move(message), "failed_precondition");
}
Error Conflict(std::string message) { return MakeError(ErrorCode::kConflict, std::move(message)); }
Error NotFound(std::string message) { return MakeError(ErrorCode::kNotFound, std::move(message)); }

// The fields each type defines (the owner keeps only these in the event it appends).
std::vector<std::string_view> FieldsOf(std::string_view type) {
  if (type == t::kGroupCreated || type == t::kGroupUpdated)
    return {"name", "description", "tags", "visibility", "join_policy", "network"};
  if (type == t::kMemberRequested) return {"member", "message"};
  if (type == t::kMemberRoleChanged) return {"member", "role"};
  if (type == t::kMemberApproved || type == t::kMemberDeclined || type == t::kMemberInvited ||
      type == t::kMemberJoined || type == t::kMemberLeft || type == t::kMemberRemoved)
    return {"member"};
  if (type == t::kThreadCreated) return {"title", "body"};
  if (type == t::kPostCreated) return {"thread", "body"};
  if (type == t::kPostEdited) return {"post", "body", "title"};
  if (type == t::kPostDeleted) return {"post"};
  if (type == t::kThreadPinned) return {"thread", "pinned"};
  if (type == t::kThreadLocked) return {"thread", "locked"};
  if (type == t::kFileAdded)
    return {"title", "description", "tags", "sha256", "size", "media_type", "filename"};
  if (type == t::kFileVersionAdded) return {"document", "sha256", "size", "media_type", "filename"};
  if (type == t::kFileUpdated) return {"document", "title", "description", "tags"};
  if (type == t::kFileRemoved) return {"document"};
  return {};
}

nlohmann::json KnownFields(std::string_view type, const nlohmann::json& data) {
  nlohmann::json out = nlohmann::json::object();
  for (auto name : FieldsOf(type)) {
    auto it = data.find(name);
    if (it != data.end()) out[std::string(name)] = *it;
  }
  return out;
}

struct GroupState {
  JoinPolicy join_policy = JoinPolicy::kOpen;
  GroupStatus status = GroupStatus::kActive;
};

Result<std::optional<GroupState>> LoadGroup(Database& db, int64_t stream) {
  auto stmt = db.Cached("SELECT join_policy, status FROM groups WHERE stream_id = ?1");
  if (!stmt.ok()) return stmt.error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, stream);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.error();
  if (!*row) return std::optional<GroupState>();
  GroupState state;
  auto policy = ParseJoinPolicy((*stmt)->ColumnText(0));
  state.join_policy = policy.ok() ? *policy : JoinPolicy::kInvite;
  state.status =
      (*stmt)->ColumnText(1) == "archived" ? GroupStatus::kArchived : GroupStatus::kActive;
  return std::optional<GroupState>(state);
}

Result<std::optional<Role>> LoadRole(Database& db, int64_t stream, const std::string& member) {
  auto role = sql::Text(db, "SELECT role FROM group_members WHERE stream_id = ?1 AND member = ?2",
                        stream, std::string_view(member));
  if (!role.ok()) return role.error();
  if (!role->has_value()) return std::optional<Role>();
  auto parsed = ParseRole(**role);
  if (!parsed.ok()) return std::optional<Role>(Role::kMember);
  return std::optional<Role>(*parsed);
}

Result<bool> Exists(Database& db, std::string_view sql, int64_t stream, const std::string& member) {
  auto row = sql::Int(db, sql, stream, std::string_view(member));
  if (!row.ok()) return row.error();
  return row->has_value();
}

Result<int64_t> OwnerCount(Database& db, int64_t stream) {
  auto n = sql::Int(
      db, "SELECT count(*) FROM group_members WHERE stream_id = ?1 AND role = 'owner'", stream);
  if (!n.ok()) return n.error();
  return n->value_or(0);
}

struct ThreadState {
  bool locked = false;
  bool deleted = false;
};

Result<ThreadState> LoadThread(Database& db, int64_t stream, int64_t thread) {
  auto stmt = db.Cached("SELECT locked, deleted FROM threads WHERE stream_id = ?1 AND id = ?2");
  if (!stmt.ok()) return stmt.error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, stream).Bind(2, thread);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.error();
  if (!*row) return NotFound("no thread " + std::to_string(thread) + " in this group");
  return ThreadState{(*stmt)->ColumnInt(0) != 0, (*stmt)->ColumnInt(1) != 0};
}

struct PostState {
  std::string author;
  int64_t thread = 0;
  bool deleted = false;
};

Result<PostState> LoadPost(Database& db, int64_t stream, int64_t post) {
  auto stmt =
      db.Cached("SELECT author, thread_id, deleted FROM posts WHERE stream_id = ?1 AND id = ?2");
  if (!stmt.ok()) return stmt.error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, stream).Bind(2, post);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.error();
  if (!*row) return NotFound("no post " + std::to_string(post) + " in this group");
  return PostState{(*stmt)->ColumnText(0), (*stmt)->ColumnInt(1), (*stmt)->ColumnInt(2) != 0};
}

struct DocumentState {
  std::string author;
  bool deleted = false;
};

Result<DocumentState> LoadDocument(Database& db, int64_t stream, int64_t document) {
  auto stmt = db.Cached("SELECT author, deleted FROM documents WHERE stream_id = ?1 AND id = ?2");
  if (!stmt.ok()) return stmt.error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, stream).Bind(2, document);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.error();
  if (!*row) return NotFound("no document " + std::to_string(document) + " in this group");
  return DocumentState{(*stmt)->ColumnText(0), (*stmt)->ColumnInt(1) != 0};
}

bool AtLeast(const std::optional<Role>& role, Role needed) {
  return role.has_value() && static_cast<int>(*role) >= static_cast<int>(needed);
}

// The rules for an existing, decoded group. `actor_role` is nullopt for a non-member.
Status DecideIn(Database& db, int64_t stream, const GroupState& group, const Command& c,
                const std::optional<Role>& actor_role) {
  const std::string& type = c.type;
  const auto& d = c.data;
  const bool facilitator = AtLeast(actor_role, Role::kFacilitator);
  const bool owner = AtLeast(actor_role, Role::kOwner);
  const bool member = actor_role.has_value();

  if (group.status == GroupStatus::kArchived && type != t::kGroupUnarchived)
    return Precondition("the group is archived: it is read-only");

  if (type == t::kGroupUpdated) {
    if (!facilitator) return Denied("only facilitators can change the group's settings");
    return OkStatus();
  }
  if (type == t::kGroupArchived) {
    if (!facilitator) return Denied("only facilitators can archive the group");
    return OkStatus();
  }
  if (type == t::kGroupUnarchived) {
    if (!facilitator) return Denied("only facilitators can unarchive the group");
    if (group.status != GroupStatus::kArchived) return Precondition("the group is not archived");
    return OkStatus();
  }

  if (type.starts_with("member.")) {
    const std::string target = d.value("member", "");
    auto target_role = LoadRole(db, stream, target);
    if (!target_role.ok()) return target_role.error();
    const bool target_member = target_role->has_value();
    auto has_request = [&]() {
      return Exists(db, "SELECT 1 FROM group_requests WHERE stream_id = ?1 AND member = ?2", stream,
                    target);
    };
    auto has_invite = [&]() {
      return Exists(db, "SELECT 1 FROM group_invites WHERE stream_id = ?1 AND member = ?2", stream,
                    target);
    };
    auto last_owner = [&]() -> Result<bool> {
      if (*target_role != Role::kOwner) return false;
      auto owners = OwnerCount(db, stream);
      if (!owners.ok()) return owners.error();
      return *owners <= 1;
    };

    if (type == t::kMemberRequested || type == t::kMemberJoined || type == t::kMemberLeft) {
      if (target != c.actor) return Denied("members can only join or leave for themselves");
    }
    if (type == t::kMemberRequested) {
      if (target_member) return Conflict(target + " is already a member");
      if (group.join_policy == JoinPolicy::kOpen)
        return Precondition("the group is open: join it directly");
      if (group.join_policy == JoinPolicy::kInvite)
        return Denied("the group is invite-only: ask a facilitator for an invitation");
      auto pending = has_request();
      if (!pending.ok()) return pending.error();
      if (*pending) return Conflict(target + " has already asked to join");
      return OkStatus();
    }
    if (type == t::kMemberJoined) {
      if (target_member) return Conflict(target + " is already a member");
      if (group.join_policy == JoinPolicy::kOpen) return OkStatus();
      auto invited = has_invite();
      if (!invited.ok()) return invited.error();
      if (*invited) return OkStatus();
      if (group.join_policy == JoinPolicy::kRequest)
        return Denied("the group takes join requests: ask to join and wait for approval");
      return Denied("the group is invite-only: ask a facilitator for an invitation");
    }
    if (type == t::kMemberLeft) {
      if (!target_member) return Conflict(target + " is not a member");
      auto last = last_owner();
      if (!last.ok()) return last.error();
      if (*last)
        return Precondition(
            "a group must keep at least one owner: make someone else an owner first");
      return OkStatus();
    }
    if (type == t::kMemberApproved || type == t::kMemberDeclined) {
      if (!facilitator)
        return Denied(type == t::kMemberApproved ? "only facilitators can approve join requests"
                                                 : "only facilitators can decline join requests");
      auto pending = has_request();
      if (!pending.ok()) return pending.error();
      if (!*pending) return NotFound("no pending join request from " + target);
      if (target_member) return Conflict(target + " is already a member");
      return OkStatus();
    }
    if (type == t::kMemberInvited) {
      if (!facilitator) return Denied("only facilitators can invite members");
      if (target_member) return Conflict(target + " is already a member");
      auto invited = has_invite();
      if (!invited.ok()) return invited.error();
      if (*invited) return Conflict(target + " is already invited");
      return OkStatus();
    }
    if (type == t::kMemberRoleChanged) {
      if (!facilitator) return Denied("only facilitators can change members' roles");
      if (!target_member) return NotFound(target + " is not a member of the group");
      auto role = ParseRole(d.value("role", ""));
      if (!role.ok()) return role.error();
      if ((*role == Role::kOwner || *target_role == Role::kOwner) && !owner)
        return Denied("only owners can make or unmake owners");
      if (*role == **target_role) return Conflict(target + " is already " + d.value("role", ""));
      auto last = last_owner();
      if (!last.ok()) return last.error();
      if (*last) return Precondition("a group must keep at least one owner");
      return OkStatus();
    }
    if (type == t::kMemberRemoved) {
      if (!facilitator) return Denied("only facilitators can remove members");
      if (!target_member) return NotFound(target + " is not a member of the group");
      if (*target_role == Role::kOwner && !owner) return Denied("only owners can remove an owner");
      auto last = last_owner();
      if (!last.ok()) return last.error();
      if (*last) return Precondition("a group must keep at least one owner");
      return OkStatus();
    }
  }

  if (type == t::kThreadCreated) {
    if (!member) return Denied("only members can start threads in the group");
    return OkStatus();
  }
  if (type == t::kPostCreated) {
    if (!member) return Denied("only members can post in the group");
    auto thread = LoadThread(db, stream, d.value("thread", int64_t{0}));
    if (!thread.ok()) return thread.error();
    if (thread->deleted) return Precondition("the thread was deleted");
    if (thread->locked && !facilitator) return Precondition("the thread is locked");
    return OkStatus();
  }
  if (type == t::kPostEdited || type == t::kPostDeleted) {
    const int64_t id = d.value("post", int64_t{0});
    auto post = LoadPost(db, stream, id);
    if (!post.ok()) return post.error();
    const bool edit = type == t::kPostEdited;
    if (!member || (post->author != c.actor && !facilitator))
      return Denied(edit ? "only the author or a facilitator can edit a post"
                         : "only the author or a facilitator can delete a post");
    if (post->deleted) return Precondition("the post was deleted");
    if (edit && d.contains("title") && post->thread != id)
      return MakeError(ErrorCode::kInvalidArgument, "title: only a thread's first post has a title",
                       "invalid_argument");
    auto thread = LoadThread(db, stream, post->thread);
    if (!thread.ok()) return thread.error();
    if (thread->locked && !facilitator) return Precondition("the thread is locked");
    return OkStatus();
  }
  if (type == t::kThreadPinned || type == t::kThreadLocked) {
    if (!facilitator)
      return Denied(type == t::kThreadPinned ? "only facilitators can pin threads"
                                             : "only facilitators can lock threads");
    auto thread = LoadThread(db, stream, d.value("thread", int64_t{0}));
    if (!thread.ok()) return thread.error();
    if (thread->deleted) return Precondition("the thread was deleted");
    return OkStatus();
  }
  if (type == t::kFileAdded) {
    if (!member) return Denied("only members can add documents to the group");
    return OkStatus();
  }
  if (type == t::kFileVersionAdded || type == t::kFileUpdated || type == t::kFileRemoved) {
    auto doc = LoadDocument(db, stream, d.value("document", int64_t{0}));
    if (!doc.ok()) return doc.error();
    if (type == t::kFileVersionAdded) {
      if (!member) return Denied("only members can add new versions of documents");
    } else if (!member || (doc->author != c.actor && !facilitator)) {
      return Denied(type == t::kFileUpdated
                        ? "only the author or a facilitator can edit a document"
                        : "only the author or a facilitator can remove a document");
    }
    if (doc->deleted) return Precondition("the document was removed");
    return OkStatus();
  }
  return MakeError(ErrorCode::kInvalidArgument, "type: unknown command type", "invalid_argument");
}

}  // namespace

Status ValidateCommandId(std::string_view command_id) {
  if (command_id.empty() || command_id.size() > 100)
    return MakeError(ErrorCode::kInvalidArgument, "command_id: must be 1-100 characters",
                     "invalid_argument");
  for (char ch : command_id) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
    if (!ok)
      return MakeError(ErrorCode::kInvalidArgument,
                       "command_id: may contain only A-Z, a-z, 0-9, '_' and '-'",
                       "invalid_argument");
  }
  return OkStatus();
}

Result<nlohmann::json> Decide(Database& db, int64_t stream_id, const Command& command) {
  auto ref = ParseGroupStream(command.stream);
  if (!ref.ok()) return ref.error();
  if (!IsKnownEventType(command.type))
    return MakeError(ErrorCode::kInvalidArgument, "type: unknown command type", "invalid_argument");
  auto actor_domain = AddressDomain(command.actor);
  if (!actor_domain.ok())
    return MakeError(ErrorCode::kInvalidArgument,
                     "actor: must be an address like handle@node.example", "invalid_argument");
  if (!command.command_id.empty()) KITH_RETURN_IF_ERROR(ValidateCommandId(command.command_id));
  KITH_RETURN_IF_ERROR(ValidateEventData(command.type, command.data));
  nlohmann::json data = KnownFields(command.type, command.data);

  if (command.type == t::kGroupCreated) {
    if (data.contains("network") && data["network"].is_null()) data.erase("network");
    if (*actor_domain != ref->domain)
      return Denied("only members of " + ref->domain + " can create groups there");
    if (stream_id != 0) return Conflict("the group " + ref->Id() + " exists already");
    return data;
  }
  if (stream_id == 0) return NotFound("no group " + ref->Id());
  auto group = LoadGroup(db, stream_id);
  if (!group.ok()) return group.error();
  if (!group->has_value()) return NotFound("no group " + ref->Id());
  auto role = LoadRole(db, stream_id, command.actor);
  if (!role.ok()) return role.error();
  KITH_RETURN_IF_ERROR(DecideIn(db, stream_id, **group, command, *role));
  return data;
}

}  // namespace kith::groups
