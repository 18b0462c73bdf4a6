#include "groups/group_store.h"

#include <sodium.h>

#include <cstdlib>
#include <utility>

#include "groups/decide.h"
#include "groups/event_log.h"
#include "groups/reducer.h"
#include "groups/sql.h"

namespace kith::groups {
namespace {

using storage::Database;
using storage::Statement;
using storage::StatementReset;
namespace t = event_type;

Error Invalid(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message), "invalid_argument");
}

struct StreamInfo {
  int64_t id = 0;
  std::string owner;
  int64_t head = 0;
};

Result<std::optional<StreamInfo>> LoadStream(Database& db, std::string_view name) {
  auto stmt = db.Cached("SELECT id, owner, head FROM streams WHERE name = ?1");
  if (!stmt.ok()) return stmt.error();
  StatementReset reset{*stmt};
  (*stmt)->Bind(1, name);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.error();
  if (!*row) return std::optional<StreamInfo>();
  return std::optional<StreamInfo>(
      StreamInfo{(*stmt)->ColumnInt(0), (*stmt)->ColumnText(1), (*stmt)->ColumnInt(2)});
}

Error NoGroup(std::string_view stream) {
  std::string id(stream);
  if (id.starts_with("group:")) id = id.substr(6);
  return MakeError(ErrorCode::kNotFound, "no group " + id + " here", "group_not_found");
}

// The stream's row id, or kNotFound.
Result<int64_t> StreamId(Database& db, std::string_view stream) {
  auto id = sql::Int(db, "SELECT id FROM streams WHERE name = ?1", stream);
  if (!id.ok()) return id.error();
  if (!id->has_value()) return NoGroup(stream);
  return **id;
}

Status InsertEvent(Database& db, int64_t stream_id, const Event& e, const std::string& data) {
  auto changed = sql::Run(db,
                          "INSERT INTO events (stream_id, seq, type, actor, at, data) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                          stream_id, e.seq, std::string_view(e.type), std::string_view(e.actor),
                          e.at, std::string_view(data));
  if (!changed.ok()) return changed.error();
  return OkStatus();
}

Status SetHead(Database& db, int64_t stream_id, int64_t head) {
  auto changed = sql::Run(db, "UPDATE streams SET head = ?2 WHERE id = ?1", stream_id, head);
  if (!changed.ok()) return changed.error();
  return OkStatus();
}

std::vector<std::string> ParseTags(const std::string& text) {
  std::vector<std::string> out;
  auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_array()) {
    for (const auto& tag : json) {
      if (tag.is_string()) out.push_back(tag.get<std::string>());
    }
  }
  return out;
}

constexpr std::string_view kGroupColumns =
    "SELECT g.slug, g.domain, g.name, g.description, g.tags, g.visibility, g.join_policy, "
    "g.status, g.created_by, g.created_at, g.updated_at, s.head, "
    "(SELECT count(*) FROM group_members m WHERE m.stream_id = g.stream_id), s.owner, "
    "COALESCE(g.network, '') "
    "FROM groups g JOIN streams s ON s.id = g.stream_id ";

Group ReadGroup(const Statement& s, const std::string& domain) {
  Group g;
  g.ref.slug = s.ColumnText(0);
  g.ref.domain = s.ColumnText(1);
  g.name = s.ColumnText(2);
  g.description = s.ColumnText(3);
  g.tags = ParseTags(s.ColumnText(4));
  auto visibility = ParseVisibility(s.ColumnText(5));
  g.visibility = visibility.ok() ? *visibility : Visibility::kPrivate;
  auto policy = ParseJoinPolicy(s.ColumnText(6));
  g.join_policy = policy.ok() ? *policy : JoinPolicy::kInvite;
  g.status = s.ColumnText(7) == "archived" ? GroupStatus::kArchived : GroupStatus::kActive;
  g.created_by = s.ColumnText(8);
  g.created_at = s.ColumnInt(9);
  g.updated_at = s.ColumnInt(10);
  g.head = s.ColumnInt(11);
  g.member_count = s.ColumnInt(12);
  g.owned = s.ColumnText(13) == domain;
  g.network = s.ColumnText(14);
  return g;
}

template <class... Args>
Result<std::vector<Group>> SelectGroups(Database& db, const std::string& domain,
                                        std::string_view where, const Args&... args) {
  auto stmt = db.Cached(std::string(kGroupColumns) + std::string(where));
  if (!stmt.ok()) return stmt.error();
  StatementReset reset{*stmt};
  sql::BindAll(**stmt, args...);
  std::vector<Group> out;
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    if (!*row) break;
    out.push_back(ReadGroup(**stmt, domain));
  }
  return out;
}

Status CheckLimit(size_t limit, size_t max) {
  if (limit < 1 || limit > max)
    return Invalid("limit: must be between 1 and " + std::to_string(max));
  return OkStatus();
}

Thread ReadThread(const Statement& s) {
  Thread th;
  th.id = s.ColumnInt(0);
  th.title = s.ColumnText(1);
  th.author = s.ColumnText(2);
  th.created_at = s.ColumnInt(3);
  th.last_post_at = s.ColumnInt(4);
  th.reply_count = s.ColumnInt(5);
  th.pinned = s.ColumnInt(6) != 0;
  th.locked = s.ColumnInt(7) != 0;
  th.deleted = s.ColumnInt(8) != 0;
  return th;
}
constexpr std::string_view kThreadColumns =
    "SELECT id, title, author, created_at, last_post_at, reply_count, pinned, locked, deleted "
    "FROM threads ";

Post ReadPost(const Statement& s) {
  Post p;
  p.id = s.ColumnInt(0);
  p.thread_id = s.ColumnInt(1);
  p.author = s.ColumnText(2);
  p.body = s.ColumnText(3);
  p.created_at = s.ColumnInt(4);
  if (!s.ColumnIsNull(5)) p.edited_at = s.ColumnInt(5);
  p.edited_by = s.ColumnText(6);
  p.deleted = s.ColumnInt(7) != 0;
  return p;
}
constexpr std::string_view kPostColumns =
    "SELECT id, thread_id, author, body, created_at, edited_at, edited_by, deleted FROM posts ";

Document ReadDocument(const Statement& s) {
  Document d;
  d.id = s.ColumnInt(0);
  d.title = s.ColumnText(1);
  d.description = s.ColumnText(2);
  d.tags = ParseTags(s.ColumnText(3));
  d.author = s.ColumnText(4);
  d.created_at = s.ColumnInt(5);
  d.updated_at = s.ColumnInt(6);
  d.deleted = s.ColumnInt(7) != 0;
  d.current.version = s.ColumnInt(8);
  d.current.sha256 = s.ColumnText(9);
  d.current.size = s.ColumnInt(10);
  d.current.media_type = s.ColumnText(11);
  d.current.filename = s.ColumnText(12);
  d.current.author = s.ColumnText(13);
  d.current.created_at = s.ColumnInt(14);
  return d;
}
constexpr std::string_view kDocumentColumns =
    "SELECT d.id, d.title, d.description, d.tags, d.author, d.created_at, d.updated_at, "
    "d.deleted, v.version, v.sha256, v.size, v.media_type, v.filename, v.author, v.created_at "
    "FROM documents d JOIN document_versions v ON v.stream_id = d.stream_id AND "
    "v.document_id = d.id AND v.version = d.version ";

DocumentVersion ReadVersion(const Statement& s) {
  DocumentVersion v;
  v.version = s.ColumnInt(0);
  v.sha256 = s.ColumnText(1);
  v.size = s.ColumnInt(2);
  v.media_type = s.ColumnText(3);
  v.filename = s.ColumnText(4);
  v.author = s.ColumnText(5);
  v.created_at = s.ColumnInt(6);
  return v;
}

// Runs a cached query and collects its rows with `read`.
template <class T, class ReadRow, class... Args>
Result<std::vector<T>> Collect(Database& db, std::string_view sql, ReadRow read,
                               const Args&... args) {
  auto stmt = db.Cached(sql);
  if (!stmt.ok()) return stmt.error();
  StatementReset reset{*stmt};
  sql::BindAll(**stmt, args...);
  std::vector<T> out;
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    if (!*row) break;
    out.push_back(read(**stmt));
  }
  return out;
}

Result<bool> LocalMemberIn(Database& db, int64_t stream_id, const std::string& domain) {
  auto row = sql::Int(db,
                      "SELECT 1 FROM group_members WHERE stream_id = ?1 AND "
                      "substr(member, length(member) - length(?2) + 1) = ?2 LIMIT 1",
                      stream_id, std::string_view("@" + domain));
  if (!row.ok()) return row.error();
  return row->has_value();
}

Result<bool> IsPrivate(Database& db, int64_t stream_id) {
  auto v = sql::Text(db, "SELECT visibility FROM groups WHERE stream_id = ?1", stream_id);
  if (!v.ok()) return v.error();
  return v->has_value() && **v == "private";
}

// Ends a read transaction on a pooled connection on every path.
struct ReadTransaction {
  Database& db;
  bool open = false;
  explicit ReadTransaction(Database& d) : db(d) { open = db.Exec("BEGIN").ok(); }
  ~ReadTransaction() {
    if (open) (void)db.Exec("ROLLBACK");
  }
};

}  // namespace

GroupStore::GroupStore(storage::Store& store, const Clock& clock, std::string domain)
    : store_(store), clock_(clock), domain_(std::move(domain)) {
  if (sodium_init() < 0) std::abort();
}

// --- Writes -------------------------------------------------------------------------------

void GroupStore::Append(Command command, Done<Event> done) {
  identity::SubmitWrite<Event>(
      store_.writer(),
      [this, command = std::move(command)](Database& db) -> Result<Event> {
        return AppendIn(db, command);
      },
      std::move(done));
}

Result<Event> GroupStore::AppendIn(Database& db, const Command& command) {
  auto ref = ParseGroupStream(command.stream);
  if (!ref.ok()) return ref.error();
  if (ref->domain != domain_)
    return Invalid("the group " + ref->Id() + " is not owned by this node");
  auto info = LoadStream(db, command.stream);
  if (!info.ok()) return info.error();
  const int64_t existing_id = info->has_value() ? (*info)->id : 0;
  auto data = Decide(db, existing_id, command);
  if (!data.ok()) return data.error();

  Event event;
  event.stream = command.stream;
  event.seq = info->has_value() ? (*info)->head + 1 : 1;
  event.type = command.type;
  event.actor = command.actor;
  event.at = clock_.UnixSeconds();
  event.data = std::move(data).value();
  const std::string data_text = event.data.dump();
  if (data_text.size() + event.type.size() + event.actor.size() + 80 > kMaxEventBytes)
    return MakeError(ErrorCode::kTooLarge,
                     "the event is larger than " + std::to_string(kMaxEventBytes) + " bytes");

  int64_t stream_id = existing_id;
  if (stream_id == 0) {
    auto created = sql::Run(db,
                            "INSERT INTO streams (name, owner, head, created_at) "
                            "VALUES (?1, ?2, 0, ?3)",
                            std::string_view(command.stream), std::string_view(domain_), event.at);
    if (!created.ok()) return created.error();
    stream_id = db.LastInsertRowId();
  }
  KITH_RETURN_IF_ERROR(InsertEvent(db, stream_id, event, data_text));
  KITH_RETURN_IF_ERROR(Apply(db, stream_id, event));
  KITH_RETURN_IF_ERROR(SetHead(db, stream_id, event.seq));
  return event;
}

void GroupStore::ApplyRemote(std::string stream, std::string owner_domain,
                             std::vector<Event> events, Done<ApplyReport> done) {
  identity::SubmitWrite<ApplyReport>(
      store_.writer(),
      [this, stream = std::move(stream), owner_domain = std::move(owner_domain),
       events = std::move(events)](Database& db) -> Result<ApplyReport> {
        return ApplyRemoteIn(db, stream, owner_domain, events);
      },
      std::move(done));
}

Result<ApplyReport> GroupStore::ApplyRemoteIn(Database& db, const std::string& stream,
                                              const std::string& owner_domain,
                                              const std::vector<Event>& events) {
  auto ref = ParseGroupStream(stream);
  if (!ref.ok()) return ref.error();
  if (ref->domain != owner_domain)
    return Invalid("the stream " + stream + " is not owned by " + owner_domain);
  if (owner_domain == domain_) return Invalid("the stream " + stream + " is owned by this node");

  auto info = LoadStream(db, stream);
  if (!info.ok()) return info.error();
  const bool existed = info->has_value();
  int64_t stream_id = existed ? (*info)->id : 0;
  ApplyReport report;
  report.head = existed ? (*info)->head : 0;

  bool private_at_start = false;
  bool local_at_start = false;
  if (existed) {
    auto is_private = IsPrivate(db, stream_id);
    if (!is_private.ok()) return is_private.error();
    private_at_start = *is_private;
    if (private_at_start) {
      auto local = LocalMemberIn(db, stream_id, domain_);
      if (!local.ok()) return local.error();
      local_at_start = *local;
    }
  }

  const std::string local_suffix = "@" + domain_;
  bool local_left = false;
  for (const Event& given : events) {
    if (given.seq <= report.head) {
      ++report.duplicates;
      continue;
    }
    if (given.seq != report.head + 1) {
      report.gap = true;
      break;
    }
    auto refuse = [&](const std::string& why) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "seq " + std::to_string(given.seq) + " (" + given.type + "): " + why,
                       "bad_event");
    };
    if (!given.stream.empty() && given.stream != stream)
      return refuse("the event belongs to " + given.stream);
    if (!IsKnownEventType(given.type)) return refuse("unknown event type");
    if (!AddressDomain(given.actor).ok()) return refuse("the actor is not an address");
    if (!given.data.is_object()) return refuse("data must be a JSON object");
    const std::string data_text = given.data.dump();
    if (data_text.size() > kMaxEventBytes) return refuse("the event is too large");

    if (stream_id == 0) {
      auto created =
          sql::Run(db,
                   "INSERT INTO streams (name, owner, head, created_at) "
                   "VALUES (?1, ?2, 0, ?3)",
                   std::string_view(stream), std::string_view(owner_domain), clock_.UnixSeconds());
      if (!created.ok()) return created.error();
      stream_id = db.LastInsertRowId();
    }
    KITH_RETURN_IF_ERROR(InsertEvent(db, stream_id, given, data_text));
    if (given.stream.empty()) {
      Event copy = given;
      copy.stream = stream;
      KITH_RETURN_IF_ERROR(Apply(db, stream_id, copy));
    } else {
      KITH_RETURN_IF_ERROR(Apply(db, stream_id, given));
    }
    if ((given.type == t::kMemberLeft || given.type == t::kMemberRemoved) &&
        given.data.value("member", "").ends_with(local_suffix)) {
      local_left = true;
    }
    report.head = given.seq;
    ++report.applied;
  }
  if (report.applied == 0) return report;
  KITH_RETURN_IF_ERROR(SetHead(db, stream_id, report.head));

  // Private groups never stay where they have no member. A stream that is still catching up
  // (private from the start, no local member yet) is kept: its member's join is further on.
  auto is_private = IsPrivate(db, stream_id);
  if (!is_private.ok()) return is_private.error();
  if (*is_private) {
    auto local = LocalMemberIn(db, stream_id, domain_);
    if (!local.ok()) return local.error();
    const bool had_reason = local_left || (existed && (local_at_start || !private_at_start));
    if (!*local && had_reason) {
      KITH_RETURN_IF_ERROR(sql::Run(db, "DELETE FROM streams WHERE id = ?1", stream_id));
      report.dropped = true;
    }
  }
  return report;
}

Status GroupStore::Check(const Command& command) {
  return store_.Read([&](Database& db) -> Status {
    auto info = LoadStream(db, command.stream);
    if (!info.ok()) return info.error();
    if (!info->has_value()) {
      auto ref = ParseGroupStream(command.stream);
      if (!ref.ok()) return ref.error();
      if (command.type != t::kGroupCreated || ref->domain != domain_)
        return NoGroup(command.stream);
    }
    auto data = Decide(db, info->has_value() ? (*info)->id : 0, command);
    if (!data.ok()) return data.error();
    return OkStatus();
  });
}

// --- Reads --------------------------------------------------------------------------------

Result<Group> GroupStore::GetGroup(std::string_view stream) {
  return store_.Read([&](Database& db) -> Result<Group> {
    auto groups = SelectGroups(db, domain_, "WHERE s.name = ?1", stream);
    if (!groups.ok()) return groups.error();
    if (groups->empty()) return NoGroup(stream);
    return std::move(groups->front());
  });
}

Result<Group> GroupStore::GetGroupIn(Database& db, std::string_view stream) {
  auto groups = SelectGroups(db, domain_, "WHERE s.name = ?1", stream);
  if (!groups.ok()) return groups.error();
  if (groups->empty()) return NoGroup(stream);
  return std::move(groups->front());
}

Result<std::vector<Group>> GroupStore::ListGroups(std::string_view viewer) {
  return store_.Read([&](Database& db) {
    auto viewer_domain = AddressDomain(viewer);
    const int64_t local = viewer_domain.ok() && *viewer_domain == domain_ ? 1 : 0;
    return SelectGroups(db, domain_,
                        "WHERE (g.visibility IN ('public', 'restricted') AND "
                        "(g.network IS NULL OR ?2 = 1)) OR EXISTS (SELECT 1 FROM "
                        "group_members m WHERE m.stream_id = g.stream_id AND m.member = ?1) "
                        "ORDER BY g.name, g.slug, g.domain",
                        viewer, local);
  });
}

Result<std::vector<Group>> GroupStore::GroupsOf(std::string_view member) {
  return store_.Read([&](Database& db) {
    return SelectGroups(db, domain_,
                        "WHERE EXISTS (SELECT 1 FROM group_members m WHERE m.stream_id = "
                        "g.stream_id AND m.member = ?1) ORDER BY g.name, g.slug, g.domain",
                        member);
  });
}

Result<std::optional<Role>> GroupStore::RoleOf(std::string_view stream, std::string_view member) {
  return store_.Read([&](Database& db) -> Result<std::optional<Role>> {
    auto role = sql::Text(db,
                          "SELECT m.role FROM group_members m JOIN streams s ON s.id = "
                          "m.stream_id WHERE s.name = ?1 AND m.member = ?2",
                          stream, member);
    if (!role.ok()) return role.error();
    if (!role->has_value()) return std::optional<Role>();
    auto parsed = ParseRole(**role);
    return std::optional<Role>(parsed.ok() ? *parsed : Role::kMember);
  });
}

Result<bool> GroupStore::CanRead(std::string_view stream, std::string_view viewer) {
  return store_.Read([&](Database& db) -> Result<bool> {
    auto stmt = db.Cached(
        "SELECT g.visibility, EXISTS (SELECT 1 FROM group_members m WHERE m.stream_id = "
        "g.stream_id AND m.member = ?2) FROM groups g JOIN streams s ON s.id = g.stream_id "
        "WHERE s.name = ?1");
    if (!stmt.ok()) return stmt.error();
    StatementReset reset{*stmt};
    (*stmt)->Bind(1, stream).Bind(2, viewer);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    if (!*row) return NoGroup(stream);
    if ((*stmt)->ColumnText(0) == "public") return true;
    return (*stmt)->ColumnInt(1) != 0;
  });
}

Result<std::vector<Membership>> GroupStore::Members(std::string_view stream) {
  return store_.Read([&](Database& db) -> Result<std::vector<Membership>> {
    auto id = StreamId(db, stream);
    if (!id.ok()) return id.error();
    return Collect<Membership>(
        db,
        "SELECT member, role, joined_at FROM group_members WHERE stream_id = ?1 ORDER BY "
        "CASE role WHEN 'owner' THEN 0 WHEN 'facilitator' THEN 1 ELSE 2 END, member",
        [](const Statement& s) {
          auto role = ParseRole(s.ColumnText(1));
          return Membership{s.ColumnText(0), role.ok() ? *role : Role::kMember, s.ColumnInt(2)};
        },
        *id);
  });
}

Result<std::vector<JoinRequest>> GroupStore::Requests(std::string_view stream) {
  return store_.Read([&](Database& db) -> Result<std::vector<JoinRequest>> {
    auto id = StreamId(db, stream);
    if (!id.ok()) return id.error();
    return Collect<JoinRequest>(
        db,
        "SELECT member, message, requested_at FROM group_requests WHERE stream_id = ?1 "
        "ORDER BY requested_at, member",
        [](const Statement& s) {
          return JoinRequest{s.ColumnText(0), s.ColumnText(1), s.ColumnInt(2)};
        },
        *id);
  });
}

Result<std::vector<Invite>> GroupStore::Invites(std::string_view stream) {
  return store_.Read([&](Database& db) -> Result<std::vector<Invite>> {
    auto id = StreamId(db, stream);
    if (!id.ok()) return id.error();
    return Collect<Invite>(
        db,
        "SELECT member, invited_by, invited_at FROM group_invites WHERE stream_id = ?1 "
        "ORDER BY invited_at, member",
        [](const Statement& s) {
          return Invite{s.ColumnText(0), s.ColumnText(1), s.ColumnInt(2)};
        },
        *id);
  });
}

Result<Page<Thread>> GroupStore::Threads(std::string_view stream, int64_t after, size_t limit) {
  KITH_RETURN_IF_ERROR(CheckLimit(limit, 100));
  if (after < 0) return Invalid("after: must not be negative");
  return store_.Read([&](Database& db) -> Result<Page<Thread>> {
    auto id = StreamId(db, stream);
    if (!id.ok()) return id.error();
    auto rows = Collect<Thread>(db,
                                std::string(kThreadColumns) +
                                    "WHERE stream_id = ?1 ORDER BY pinned DESC, last_post_at "
                                    "DESC, id DESC LIMIT ?2 OFFSET ?3",
                                &ReadThread, *id, static_cast<int64_t>(limit + 1), after);
    if (!rows.ok()) return rows.error();
    Page<Thread> page;
    page.items = std::move(rows).value();
    if (page.items.size() > limit) {
      page.items.resize(limit);
      page.next_after = after + static_cast<int64_t>(limit);
    }
    return page;
  });
}

Result<Thread> GroupStore::GetThread(std::string_view stream, int64_t thread_id) {
  return store_.Read([&](Database& db) -> Result<Thread> {
    auto id = StreamId(db, stream);
    if (!id.ok()) return id.error();
    auto rows =
        Collect<Thread>(db, std::string(kThreadColumns) + "WHERE stream_id = ?1 AND id = ?2",
                        &ReadThread, *id, thread_id);
    if (!rows.ok()) return rows.error();
    if (rows->empty())
      return MakeError(ErrorCode::kNotFound, "no thread " + std::to_string(thread_id),
                       "thread_not_found");
    return std::move(rows->front());
  });
}

Result<Page<Post>> GroupStore::Posts(std::string_view stream, int64_t thread_id, int64_t after,
                                     size_t limit) {
  KITH_RETURN_IF_ERROR(CheckLimit(limit, 100));
  return store_.Read([&](Database& db) -> Result<Page<Post>> {
    auto id = StreamId(db, stream);
    if (!id.ok()) return id.error();
    auto exists =
        sql::Int(db, "SELECT 1 FROM threads WHERE stream_id = ?1 AND id = ?2", *id, thread_id);
    if (!exists.ok()) return exists.error();
    if (!exists->has_value())
      return MakeError(ErrorCode::kNotFound, "no thread " + std::to_string(thread_id),
                       "thread_not_found");
    auto rows = Collect<Post>(db,
                              std::string(kPostColumns) +
                                  "WHERE stream_id = ?1 AND thread_id = ?2 AND id > ?3 "
                                  "ORDER BY id LIMIT ?4",
                              &ReadPost, *id, thread_id, after, static_cast<int64_t>(limit + 1));
    if (!rows.ok()) return rows.error();
    Page<Post> page;
    page.items = std::move(rows).value();
    if (page.items.size() > limit) {
      page.items.resize(limit);
      page.next_after = page.items.back().id;
    }
    return page;
  });
}

Result<Post> GroupStore::GetPost(std::string_view stream, int64_t post_id) {
  return store_.Read([&](Database& db) -> Result<Post> {
    auto id = StreamId(db, stream);
    if (!id.ok()) return id.error();
    auto rows = Collect<Post>(db, std::string(kPostColumns) + "WHERE stream_id = ?1 AND id = ?2",
                              &ReadPost, *id, post_id);
    if (!rows.ok()) return rows.error();
    if (rows->empty())
      return MakeError(ErrorCode::kNotFound, "no post " + std::to_string(post_id),
                       "post_not_found");
    return std::move(rows->front());
  });
}

Result<Page<Document>> GroupStore::Documents(std::string_view stream, int64_t after, size_t limit) {
  KITH_RETURN_IF_ERROR(CheckLimit(limit, 100));
  return store_.Read([&](Database& db) -> Result<Page<Document>> {
    auto id = StreamId(db, stream);
    if (!id.ok()) return id.error();
    auto rows = Collect<Document>(db,
                                  std::string(kDocumentColumns) +
                                      "WHERE d.stream_id = ?1 AND d.id > ?2 ORDER BY d.id LIMIT ?3",
                                  &ReadDocument, *id, after, static_cast<int64_t>(limit + 1));
    if (!rows.ok()) return rows.error();
    Page<Document> page;
    page.items = std::move(rows).value();
    if (page.items.size() > limit) {
      page.items.resize(limit);
      page.next_after = page.items.back().id;
    }
    return page;
  });
}

Result<Document> GroupStore::GetDocument(std::string_view stream, int64_t document_id) {
  return store_.Read([&](Database& db) -> Result<Document> {
    auto id = StreamId(db, stream);
    if (!id.ok()) return id.error();
    auto rows = Collect<Document>(
        db, std::string(kDocumentColumns) + "WHERE d.stream_id = ?1 AND d.id = ?2", &ReadDocument,
        *id, document_id);
    if (!rows.ok()) return rows.error();
    if (rows->empty())
      return MakeError(ErrorCode::kNotFound, "no document " + std::to_string(document_id),
                       "document_not_found");
    return std::move(rows->front());
  });
}

Result<std::vector<DocumentVersion>> GroupStore::Versions(std::string_view stream,
                                                          int64_t document_id) {
  return store_.Read([&](Database& db) -> Result<std::vector<DocumentVersion>> {
    auto id = StreamId(db, stream);
    if (!id.ok()) return id.error();
    auto rows = Collect<DocumentVersion>(
        db,
        "SELECT version, sha256, size, media_type, filename, author, created_at FROM "
        "document_versions WHERE stream_id = ?1 AND document_id = ?2 ORDER BY version",
        &ReadVersion, *id, document_id);
    if (!rows.ok()) return rows.error();
    if (rows->empty())
      return MakeError(ErrorCode::kNotFound, "no document " + std::to_string(document_id),
                       "document_not_found");
    return rows;
  });
}

// --- Streams ------------------------------------------------------------------------------

Result<int64_t> GroupStore::Head(std::string_view stream) {
  return store_.Read([&](Database& db) -> Result<int64_t> {
    auto head = sql::Int(db, "SELECT head FROM streams WHERE name = ?1", stream);
    if (!head.ok()) return head.error();
    return head->value_or(0);
  });
}

Result<std::vector<Event>> GroupStore::EventsAfter(std::string_view stream, int64_t after,
                                                   size_t limit, size_t max_bytes) {
  KITH_RETURN_IF_ERROR(CheckLimit(limit, 1000));
  if (after < 0) return Invalid("after: must not be negative");
  return store_.Read([&](Database& db) -> Result<std::vector<Event>> {
    auto id = StreamId(db, stream);
    if (!id.ok()) return id.error();
    return ReadEventsAfterIn(db, *id, stream, after, limit, max_bytes);
  });
}

Result<std::string> GroupStore::Digest(std::string_view stream) {
  return store_.Read([&](Database& db) -> Result<std::string> {
    ReadTransaction transaction(db);
    auto info = LoadStream(db, stream);
    if (!info.ok()) return info.error();
    if (!info->has_value()) return NoGroup(stream);
    const int64_t id = (*info)->id;

    crypto_hash_sha256_state state;
    crypto_hash_sha256_init(&state);
    auto add = [&](const nlohmann::json& line) {
      const std::string text = line.dump() + "\n";
      crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(text.data()),
                                text.size());
    };
    add(nlohmann::json::array({"kith-group-digest-v1", std::string(stream), (*info)->head}));

    // Every projection table, its rows in primary-key order, every column but the stream's
    // node-local row id. Integers stay integers; NULL becomes null.
    struct Section {
      const char* name;
      const char* sql;
      std::vector<char> kinds;  // 'i' integer, 't' text, 'n' integer or NULL, 's' text or NULL
    };
    static const std::vector<Section> kSections = {
        {"group",
         "SELECT slug, domain, name, description, tags, visibility, join_policy, status, "
         "created_by, created_at, updated_at FROM groups WHERE stream_id = ?1",
         {'t', 't', 't', 't', 't', 't', 't', 't', 't', 'i', 'i'}},
        {"members",
         "SELECT member, role, joined_at FROM group_members WHERE stream_id = ?1 ORDER BY member",
         {'t', 't', 'i'}},
        {"requests",
         "SELECT member, message, requested_at FROM group_requests WHERE stream_id = ?1 "
         "ORDER BY member",
         {'t', 't', 'i'}},
        {"invites",
         "SELECT member, invited_by, invited_at FROM group_invites WHERE stream_id = ?1 "
         "ORDER BY member",
         {'t', 't', 'i'}},
        {"threads",
         "SELECT id, title, author, created_at, last_post_at, reply_count, pinned, locked, "
         "deleted FROM threads WHERE stream_id = ?1 ORDER BY id",
         {'i', 't', 't', 'i', 'i', 'i', 'i', 'i', 'i'}},
        {"posts",
         "SELECT id, thread_id, author, body, created_at, edited_at, edited_by, deleted FROM "
         "posts WHERE stream_id = ?1 ORDER BY id",
         {'i', 'i', 't', 't', 'i', 'n', 's', 'i'}},
        {"documents",
         "SELECT id, title, description, tags, author, created_at, updated_at, version, deleted "
         "FROM documents WHERE stream_id = ?1 ORDER BY id",
         {'i', 't', 't', 't', 't', 'i', 'i', 'i', 'i'}},
        {"versions",
         "SELECT document_id, version, sha256, size, media_type, filename, author, created_at "
         "FROM document_versions WHERE stream_id = ?1 ORDER BY document_id, version",
         {'i', 'i', 't', 'i', 't', 't', 't', 'i'}},
    };
    for (const Section& section : kSections) {
      add(nlohmann::json::array({section.name}));
      auto stmt = db.Cached(section.sql);
      if (!stmt.ok()) return stmt.error();
      StatementReset reset{*stmt};
      (*stmt)->Bind(1, id);
      for (;;) {
        auto row = (*stmt)->Step();
        if (!row.ok()) return row.error();
        if (!*row) break;
        nlohmann::json line = nlohmann::json::array();
        for (size_t col = 0; col < section.kinds.size(); ++col) {
          const int c = static_cast<int>(col);
          const char kind = section.kinds[col];
          if ((kind == 'n' || kind == 's') && (*stmt)->ColumnIsNull(c)) {
            line.push_back(nullptr);
          } else if (kind == 'i' || kind == 'n') {
            line.push_back((*stmt)->ColumnInt(c));
          } else {
            line.push_back((*stmt)->ColumnText(c));
          }
        }
        add(line);
      }
    }
    // The network scope only when set, so that the digests of unscoped groups stay as they
    // were before groups had one.
    auto network = sql::Text(db, "SELECT network FROM groups WHERE stream_id = ?1", id);
    if (!network.ok()) return network.error();
    if (network->has_value()) add(nlohmann::json::array({"network", **network}));
    unsigned char hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&state, hash);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(2 * sizeof hash);
    for (unsigned char b : hash) {
      hex.push_back(kHex[b >> 4]);
      hex.push_back(kHex[b & 0xF]);
    }
    return hex;
  });
}

Result<bool> GroupStore::HasLocalMember(std::string_view stream) {
  return store_.Read([&](Database& db) -> Result<bool> {
    auto id = StreamId(db, stream);
    if (!id.ok()) return id.error();
    return LocalMemberIn(db, *id, domain_);
  });
}

}  // namespace kith::groups
