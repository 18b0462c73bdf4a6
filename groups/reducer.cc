#include "groups/reducer.h"

#include <algorithm>
#include <unordered_map>

#include "groups/sql.h"

namespace kith::groups {
namespace {

using storage::Database;
namespace t = event_type;

Error Impossible(const Event& e, std::string why) {
  return MakeError(ErrorCode::kInvalidArgument,
                   "seq " + std::to_string(e.seq) + " (" + e.type + "): " + why, "bad_event");
}

std::string Str(const nlohmann::json& data, const char* name, std::string fallback = {}) {
  auto it = data.find(name);
  if (it == data.end() || !it->is_string()) return fallback;
  return it->get<std::string>();
}

int64_t Int(const nlohmann::json& data, const char* name) {
  auto it = data.find(name);
  if (it == data.end() || !it->is_number_integer()) return 0;
  return it->get<int64_t>();
}

// Adds a member unless present: kInvalidArgument when already a member.
Status AddMember(Database& db, int64_t stream, const Event& e, const std::string& member) {
  auto changed = sql::Run(db,
                          "INSERT OR IGNORE INTO group_members (stream_id, member, role, "
                          "joined_at) VALUES (?1, ?2, 'member', ?3)",
                          stream, std::string_view(member), e.at);
  if (!changed.ok()) return changed.error();
  if (*changed == 0) return Impossible(e, member + " is already a member");
  KITH_RETURN_IF_ERROR(sql::Run(db,
                                "DELETE FROM group_requests WHERE stream_id = ?1 AND member = ?2",
                                stream, std::string_view(member)));
  KITH_RETURN_IF_ERROR(sql::Run(db,
                                "DELETE FROM group_invites WHERE stream_id = ?1 AND member = ?2",
                                stream, std::string_view(member)));
  return OkStatus();
}

Status RemoveMember(Database& db, int64_t stream, const Event& e, const std::string& member) {
  auto changed = sql::Run(db, "DELETE FROM group_members WHERE stream_id = ?1 AND member = ?2",
                          stream, std::string_view(member));
  if (!changed.ok()) return changed.error();
  if (*changed == 0) return Impossible(e, member + " is not a member");
  auto owners = sql::Int(
      db, "SELECT count(*) FROM group_members WHERE stream_id = ?1 AND role = 'owner'", stream);
  if (!owners.ok()) return owners.error();
  if (owners->value_or(0) == 0) return Impossible(e, "the group would have no owner");
  return OkStatus();
}

// --- group.* ------------------------------------------------------------------------------

Status GroupCreated(Database& db, int64_t stream, const Event& e) {
  if (e.seq != 1) return Impossible(e, "a group is created by its stream's first event");
  auto ref = ParseGroupStream(e.stream);
  if (!ref.ok()) return Impossible(e, ref.error().message);
  auto actor_domain = AddressDomain(e.actor);
  if (!actor_domain.ok() || *actor_domain != ref->domain)
    return Impossible(e, "the first owner must be a member of the owning node");
  const auto& d = e.data;
  auto changed =
      sql::Run(db,
               "INSERT OR IGNORE INTO groups (stream_id, slug, domain, name, description, tags, "
               "visibility, join_policy, status, created_by, created_at, updated_at, network) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'active', ?9, ?10, ?10, NULLIF(?11, ''))",
               stream, std::string_view(ref->slug), std::string_view(ref->domain),
               std::string_view(Str(d, "name")), std::string_view(Str(d, "description")),
               std::string_view(CanonicalTags(d.value("tags", nlohmann::json::array()))),
               std::string_view(Str(d, "visibility")), std::string_view(Str(d, "join_policy")),
               std::string_view(e.actor), e.at, std::string_view(Str(d, "network")));
  if (!changed.ok()) return changed.error();
  if (*changed == 0) return Impossible(e, "the group exists already");
  auto member = sql::Run(db,
                         "INSERT INTO group_members (stream_id, member, role, joined_at) "
                         "VALUES (?1, ?2, 'owner', ?3)",
                         stream, std::string_view(e.actor), e.at);
  if (!member.ok()) return member.error();
  return OkStatus();
}

Status GroupUpdated(Database& db, int64_t stream, const Event& e) {
  const auto& d = e.data;
  // COALESCE keeps a column when its field is absent (bound as NULL).
  auto stmt = db.Cached(
      "UPDATE groups SET name = COALESCE(?2, name), description = COALESCE(?3, description), "
      "tags = COALESCE(?4, tags), visibility = COALESCE(?5, visibility), "
      "join_policy = COALESCE(?6, join_policy), updated_at = ?7 WHERE stream_id = ?1");
  if (!stmt.ok()) return stmt.error();
  storage::StatementReset reset{*stmt};
  auto& s = **stmt;
  s.Bind(1, stream).Bind(7, e.at);
  auto bind_text = [&](int index, const char* name) {
    if (d.contains(name)) {
      s.Bind(index, std::string_view(Str(d, name)));
    } else {
      s.BindNull(index);
    }
  };
  bind_text(2, "name");
  bind_text(3, "description");
  if (d.contains("tags")) {
    s.Bind(4, std::string_view(CanonicalTags(d["tags"])));
  } else {
    s.BindNull(4);
  }
  bind_text(5, "visibility");
  bind_text(6, "join_policy");
  KITH_RETURN_IF_ERROR(s.Run());
  // network: null lifts the scope, a string sets it, absent keeps it.
  if (auto it = d.find("network"); it != d.end()) {
    KITH_RETURN_IF_ERROR(sql::Run(db,
                                  "UPDATE groups SET network = NULLIF(?2, '') WHERE stream_id = ?1",
                                  stream, std::string_view(Str(d, "network"))));
  }
  return OkStatus();
}

Status SetStatus(Database& db, int64_t stream, const Event& e, std::string_view status) {
  auto changed = sql::Run(db, "UPDATE groups SET status = ?2, updated_at = ?3 WHERE stream_id = ?1",
                          stream, status, e.at);
  if (!changed.ok()) return changed.error();
  return OkStatus();
}

Status GroupArchived(Database& db, int64_t stream, const Event& e) {
  return SetStatus(db, stream, e, "archived");
}

Status GroupUnarchived(Database& db, int64_t stream, const Event& e) {
  return SetStatus(db, stream, e, "active");
}

// --- member.* -----------------------------------------------------------------------------

Status MemberRequested(Database& db, int64_t stream, const Event& e) {
  const std::string member = Str(e.data, "member");
  KITH_RETURN_IF_ERROR(sql::Run(db,
                                "INSERT OR REPLACE INTO group_requests (stream_id, member, "
                                "message, requested_at) VALUES (?1, ?2, ?3, ?4)",
                                stream, std::string_view(member),
                                std::string_view(Str(e.data, "message")), e.at));
  return OkStatus();
}

Status MemberApproved(Database& db, int64_t stream, const Event& e) {
  return AddMember(db, stream, e, Str(e.data, "member"));
}

Status MemberDeclined(Database& db, int64_t stream, const Event& e) {
  auto changed = sql::Run(db, "DELETE FROM group_requests WHERE stream_id = ?1 AND member = ?2",
                          stream, std::string_view(Str(e.data, "member")));
  if (!changed.ok()) return changed.error();
  if (*changed == 0) return Impossible(e, "no pending request from " + Str(e.data, "member"));
  return OkStatus();
}

Status MemberInvited(Database& db, int64_t stream, const Event& e) {
  KITH_RETURN_IF_ERROR(sql::Run(db,
                                "INSERT OR REPLACE INTO group_invites (stream_id, member, "
                                "invited_by, invited_at) VALUES (?1, ?2, ?3, ?4)",
                                stream, std::string_view(Str(e.data, "member")),
                                std::string_view(e.actor), e.at));
  return OkStatus();
}

Status MemberJoined(Database& db, int64_t stream, const Event& e) {
  return AddMember(db, stream, e, Str(e.data, "member"));
}

Status MemberRoleChanged(Database& db, int64_t stream, const Event& e) {
  const std::string member = Str(e.data, "member");
  auto changed =
      sql::Run(db, "UPDATE group_members SET role = ?3 WHERE stream_id = ?1 AND member = ?2",
               stream, std::string_view(member), std::string_view(Str(e.data, "role")));
  if (!changed.ok()) return changed.error();
  if (*changed == 0) return Impossible(e, member + " is not a member");
  auto owners = sql::Int(
      db, "SELECT count(*) FROM group_members WHERE stream_id = ?1 AND role = 'owner'", stream);
  if (!owners.ok()) return owners.error();
  if (owners->value_or(0) == 0) return Impossible(e, "the group would have no owner");
  return OkStatus();
}

Status MemberLeft(Database& db, int64_t stream, const Event& e) {
  return RemoveMember(db, stream, e, Str(e.data, "member"));
}

Status MemberRemoved(Database& db, int64_t stream, const Event& e) {
  return RemoveMember(db, stream, e, Str(e.data, "member"));
}

// --- threads and posts --------------------------------------------------------------------

Status InsertPost(Database& db, int64_t stream, const Event& e, int64_t thread) {
  auto changed = sql::Run(db,
                          "INSERT OR IGNORE INTO posts (stream_id, id, thread_id, author, body, "
                          "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                          stream, e.seq, thread, std::string_view(e.actor),
                          std::string_view(Str(e.data, "body")), e.at);
  if (!changed.ok()) return changed.error();
  if (*changed == 0) return Impossible(e, "post " + std::to_string(e.seq) + " exists already");
  return OkStatus();
}

Status ThreadCreated(Database& db, int64_t stream, const Event& e) {
  auto changed = sql::Run(db,
                          "INSERT OR IGNORE INTO threads (stream_id, id, title, author, "
                          "created_at, last_post_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                          stream, e.seq, std::string_view(Str(e.data, "title")),
                          std::string_view(e.actor), e.at);
  if (!changed.ok()) return changed.error();
  if (*changed == 0) return Impossible(e, "thread " + std::to_string(e.seq) + " exists already");
  return InsertPost(db, stream, e, e.seq);
}

Status PostCreated(Database& db, int64_t stream, const Event& e) {
  const int64_t thread = Int(e.data, "thread");
  auto changed = sql::Run(db,
                          "UPDATE threads SET last_post_at = max(last_post_at, ?3), "
                          "reply_count = reply_count + 1 WHERE stream_id = ?1 AND id = ?2",
                          stream, thread, e.at);
  if (!changed.ok()) return changed.error();
  if (*changed == 0) return Impossible(e, "no thread " + std::to_string(thread));
  return InsertPost(db, stream, e, thread);
}

// The thread of a live post, or an Impossible error.
Result<int64_t> LivePostThread(Database& db, int64_t stream, const Event& e, int64_t post) {
  auto stmt = db.Cached("SELECT thread_id, deleted FROM posts WHERE stream_id = ?1 AND id = ?2");
  if (!stmt.ok()) return stmt.error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, stream).Bind(2, post);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.error();
  if (!*row) return Impossible(e, "no post " + std::to_string(post));
  if ((*stmt)->ColumnInt(1) != 0)
    return Impossible(e, "post " + std::to_string(post) + " was deleted");
  return (*stmt)->ColumnInt(0);
}

Status PostEdited(Database& db, int64_t stream, const Event& e) {
  const int64_t post = Int(e.data, "post");
  auto thread = LivePostThread(db, stream, e, post);
  if (!thread.ok()) return thread.error();
  KITH_RETURN_IF_ERROR(sql::Run(db,
                                "UPDATE posts SET body = ?3, edited_at = ?4, edited_by = ?5 "
                                "WHERE stream_id = ?1 AND id = ?2",
                                stream, post, std::string_view(Str(e.data, "body")), e.at,
                                std::string_view(e.actor)));
  if (e.data.contains("title")) {
    if (*thread != post) return Impossible(e, "only a thread's first post has a title");
    KITH_RETURN_IF_ERROR(sql::Run(db,
                                  "UPDATE threads SET title = ?3 WHERE stream_id = ?1 AND id = ?2",
                                  stream, post, std::string_view(Str(e.data, "title"))));
  }
  return OkStatus();
}

Status PostDeleted(Database& db, int64_t stream, const Event& e) {
  const int64_t post = Int(e.data, "post");
  auto thread = LivePostThread(db, stream, e, post);
  if (!thread.ok()) return thread.error();
  KITH_RETURN_IF_ERROR(sql::Run(db,
                                "UPDATE posts SET body = '', deleted = 1, edited_at = ?3, "
                                "edited_by = ?4 WHERE stream_id = ?1 AND id = ?2",
                                stream, post, e.at, std::string_view(e.actor)));
  if (*thread == post) {
    KITH_RETURN_IF_ERROR(sql::Run(
        db, "UPDATE threads SET deleted = 1 WHERE stream_id = ?1 AND id = ?2", stream, post));
  } else {
    KITH_RETURN_IF_ERROR(sql::Run(
        db,
        "UPDATE threads SET reply_count = max(reply_count - 1, 0) WHERE stream_id = ?1 AND id = ?2",
        stream, *thread));
  }
  return OkStatus();
}

Status SetThreadFlag(Database& db, int64_t stream, const Event& e, std::string_view sql,
                     const char* field) {
  const int64_t thread = Int(e.data, "thread");
  const int64_t value = e.data.value(field, false) ? 1 : 0;
  auto changed = sql::Run(db, sql, stream, thread, value);
  if (!changed.ok()) return changed.error();
  if (*changed == 0) return Impossible(e, "no thread " + std::to_string(thread));
  return OkStatus();
}

Status ThreadPinned(Database& db, int64_t stream, const Event& e) {
  return SetThreadFlag(db, stream, e,
                       "UPDATE threads SET pinned = ?3 WHERE stream_id = ?1 AND id = ?2", "pinned");
}

Status ThreadLocked(Database& db, int64_t stream, const Event& e) {
  return SetThreadFlag(db, stream, e,
                       "UPDATE threads SET locked = ?3 WHERE stream_id = ?1 AND id = ?2", "locked");
}

// --- files --------------------------------------------------------------------------------

Status InsertVersion(Database& db, int64_t stream, const Event& e, int64_t document,
                     int64_t version) {
  auto changed = sql::Run(
      db,
      "INSERT OR IGNORE INTO document_versions (stream_id, document_id, version, sha256, size, "
      "media_type, filename, author, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
      stream, document, version, std::string_view(Str(e.data, "sha256")), Int(e.data, "size"),
      std::string_view(Str(e.data, "media_type")), std::string_view(Str(e.data, "filename")),
      std::string_view(e.actor), e.at);
  if (!changed.ok()) return changed.error();
  if (*changed == 0) return Impossible(e, "the version exists already");
  return OkStatus();
}

Status FileAdded(Database& db, int64_t stream, const Event& e) {
  auto changed =
      sql::Run(db,
               "INSERT OR IGNORE INTO documents (stream_id, id, title, description, tags, author, "
               "created_at, updated_at, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 1)",
               stream, e.seq, std::string_view(Str(e.data, "title")),
               std::string_view(Str(e.data, "description")),
               std::string_view(CanonicalTags(e.data.value("tags", nlohmann::json::array()))),
               std::string_view(e.actor), e.at);
  if (!changed.ok()) return changed.error();
  if (*changed == 0) return Impossible(e, "document " + std::to_string(e.seq) + " exists already");
  return InsertVersion(db, stream, e, e.seq, 1);
}

// The current version of a live document, or an Impossible error.
Result<int64_t> LiveDocumentVersion(Database& db, int64_t stream, const Event& e,
                                    int64_t document) {
  auto stmt = db.Cached("SELECT version, deleted FROM documents WHERE stream_id = ?1 AND id = ?2");
  if (!stmt.ok()) return stmt.error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, stream).Bind(2, document);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.error();
  if (!*row) return Impossible(e, "no document " + std::to_string(document));
  if ((*stmt)->ColumnInt(1) != 0)
    return Impossible(e, "document " + std::to_string(document) + " was removed");
  return (*stmt)->ColumnInt(0);
}

Status FileVersionAdded(Database& db, int64_t stream, const Event& e) {
  const int64_t document = Int(e.data, "document");
  auto version = LiveDocumentVersion(db, stream, e, document);
  if (!version.ok()) return version.error();
  KITH_RETURN_IF_ERROR(sql::Run(db,
                                "UPDATE documents SET version = ?3, updated_at = ?4 "
                                "WHERE stream_id = ?1 AND id = ?2",
                                stream, document, *version + 1, e.at));
  return InsertVersion(db, stream, e, document, *version + 1);
}

Status FileUpdated(Database& db, int64_t stream, const Event& e) {
  const int64_t document = Int(e.data, "document");
  auto version = LiveDocumentVersion(db, stream, e, document);
  if (!version.ok()) return version.error();
  const auto& d = e.data;
  auto stmt = db.Cached(
      "UPDATE documents SET title = COALESCE(?3, title), description = COALESCE(?4, "
      "description), tags = COALESCE(?5, tags), updated_at = ?6 WHERE stream_id = ?1 AND id = ?2");
  if (!stmt.ok()) return stmt.error();
  storage::StatementReset reset{*stmt};
  auto& s = **stmt;
  s.Bind(1, stream).Bind(2, document).Bind(6, e.at);
  if (d.contains("title")) {
    s.Bind(3, std::string_view(Str(d, "title")));
  } else {
    s.BindNull(3);
  }
  if (d.contains("description")) {
    s.Bind(4, std::string_view(Str(d, "description")));
  } else {
    s.BindNull(4);
  }
  if (d.contains("tags")) {
    s.Bind(5, std::string_view(CanonicalTags(d["tags"])));
  } else {
    s.BindNull(5);
  }
  return s.Run();
}

Status FileRemoved(Database& db, int64_t stream, const Event& e) {
  const int64_t document = Int(e.data, "document");
  auto version = LiveDocumentVersion(db, stream, e, document);
  if (!version.ok()) return version.error();
  KITH_RETURN_IF_ERROR(sql::Run(
      db, "UPDATE documents SET deleted = 1, updated_at = ?3 WHERE stream_id = ?1 AND id = ?2",
      stream, document, e.at));
  return OkStatus();
}

using Reducer = Status (*)(Database&, int64_t, const Event&);

const std::unordered_map<std::string_view, Reducer>& Reducers() {
  static const std::unordered_map<std::string_view, Reducer> table{
      {t::kGroupCreated, &GroupCreated},
      {t::kGroupUpdated, &GroupUpdated},
      {t::kGroupArchived, &GroupArchived},
      {t::kGroupUnarchived, &GroupUnarchived},
      {t::kMemberRequested, &MemberRequested},
      {t::kMemberApproved, &MemberApproved},
      {t::kMemberDeclined, &MemberDeclined},
      {t::kMemberInvited, &MemberInvited},
      {t::kMemberJoined, &MemberJoined},
      {t::kMemberRoleChanged, &MemberRoleChanged},
      {t::kMemberLeft, &MemberLeft},
      {t::kMemberRemoved, &MemberRemoved},
      {t::kThreadCreated, &ThreadCreated},
      {t::kPostCreated, &PostCreated},
      {t::kPostEdited, &PostEdited},
      {t::kPostDeleted, &PostDeleted},
      {t::kThreadPinned, &ThreadPinned},
      {t::kThreadLocked, &ThreadLocked},
      {t::kFileAdded, &FileAdded},
      {t::kFileVersionAdded, &FileVersionAdded},
      {t::kFileUpdated, &FileUpdated},
      {t::kFileRemoved, &FileRemoved},
  };
  return table;
}

}  // namespace

std::string CanonicalTags(const nlohmann::json& tags) {
  std::vector<std::string> out;
  if (tags.is_array()) {
    for (const auto& tag : tags) {
      if (tag.is_string()) out.push_back(tag.get<std::string>());
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return nlohmann::json(out).dump();
}

Status Apply(Database& db, int64_t stream_id, const Event& event) {
  auto it = Reducers().find(event.type);
  if (it == Reducers().end()) return Impossible(event, "unknown event type");
  if (auto valid = ValidateEventData(event.type, event.data); !valid.ok())
    return Impossible(event, valid.error().message);
  if (event.type != t::kGroupCreated) {
    auto exists = sql::Int(db, "SELECT 1 FROM groups WHERE stream_id = ?1", stream_id);
    if (!exists.ok()) return exists.error();
    if (!exists->has_value()) return Impossible(event, "the group was not created yet");
  }
  return it->second(db, stream_id, event);
}

}  // namespace kith::groups
