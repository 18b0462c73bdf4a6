#include "groups/directory.h"

#include <limits>
#include <utility>

#include "groups/event_log.h"
#include "groups/reducer.h"
#include "groups/sql.h"

namespace kith::groups {
namespace {

using storage::Database;
using storage::StatementReset;
namespace de = directory_event;

Error Invalid(std::string_view field, std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::string(field) + ": " + message,
                   "invalid_argument");
}

const nlohmann::json* Field(const nlohmann::json& data, std::string_view name) {
  auto it = data.find(name);
  return it == data.end() ? nullptr : &*it;
}

Status Text(const nlohmann::json& data, std::string_view name, size_t max, bool required,
            bool multiline = false) {
  const nlohmann::json* value = Field(data, name);
  if (value == nullptr) {
    if (required) return Invalid(name, "is required");
    return OkStatus();
  }
  if (!value->is_string()) return Invalid(name, "must be a string");
  return identity::ValidateText(name, value->get_ref<const std::string&>(), max, required,
                                multiline);
}

// An address "handle@domain" of a member of `owner_domain`.
Status OwnAddressText(std::string_view field, std::string_view text,
                      std::string_view owner_domain) {
  auto domain = AddressDomain(text);
  if (!domain.ok()) return Invalid(field, "must be an address like handle@node.example");
  const std::string handle(text.substr(0, text.size() - domain->size() - 1));
  auto normal = identity::NormalizeHandle(handle);
  if (!normal.ok() || *normal != handle) return Invalid(field, "has an invalid handle");
  if (*domain != owner_domain)
    return Invalid(field, "must be of the directory's own node " + std::string(owner_domain));
  return OkStatus();
}

Status OwnAddress(std::string_view field, const nlohmann::json* value,
                  std::string_view owner_domain) {
  if (value == nullptr) return Invalid(field, "is required");
  if (!value->is_string()) return Invalid(field, "must be a string");
  return OwnAddressText(field, value->get_ref<const std::string&>(), owner_domain);
}

Status OwnGroup(const nlohmann::json& data, std::string_view owner_domain) {
  const nlohmann::json* value = Field(data, "group");
  if (value == nullptr) return Invalid("group", "is required");
  if (!value->is_string()) return Invalid("group", "must be a string");
  auto ref = ParseGroupId(value->get_ref<const std::string&>());
  if (!ref.ok()) return Invalid("group", "must be a group like slug@node.example");
  if (ref->domain != owner_domain)
    return Invalid("group", "must be of the directory's own node " + std::string(owner_domain));
  return OkStatus();
}

Status Tags(const nlohmann::json& data) {
  const nlohmann::json* value = Field(data, "tags");
  if (value == nullptr) return OkStatus();
  if (!value->is_array()) return Invalid("tags", "must be an array of strings");
  if (value->size() > kMaxTags)
    return Invalid("tags", "at most " + std::to_string(kMaxTags) + " tags");
  for (const auto& tag : *value) {
    if (!tag.is_string()) return Invalid("tags", "must be an array of strings");
    KITH_RETURN_IF_ERROR(
        identity::ValidateText("tags", tag.get_ref<const std::string&>(), kMaxTag, true));
  }
  return OkStatus();
}

template <class Parse>
Status Enum(const nlohmann::json& data, std::string_view name, Parse parse) {
  const nlohmann::json* value = Field(data, name);
  if (value == nullptr) return Invalid(name, "is required");
  if (!value->is_string()) return Invalid(name, "must be a string");
  if (!parse(value->get_ref<const std::string&>()).ok())
    return Invalid(name, "has an unknown value");
  return OkStatus();
}

bool IsInt(const nlohmann::json& v) {
  return v.is_number_integer() &&
         !(v.is_number_unsigned() &&
           v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
}

std::string Str(const nlohmann::json& data, const char* name) {
  auto it = data.find(name);
  if (it == data.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

struct StreamInfo {
  int64_t id = 0;
  int64_t head = 0;
};

Result<std::optional<StreamInfo>> LoadStream(Database& db, std::string_view name) {
  auto stmt = db.Cached("SELECT id, head FROM streams WHERE name = ?1");
  if (!stmt.ok()) return stmt.error();
  StatementReset reset{*stmt};
  (*stmt)->Bind(1, name);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.error();
  if (!*row) return std::optional<StreamInfo>();
  return std::optional<StreamInfo>(StreamInfo{(*stmt)->ColumnInt(0), (*stmt)->ColumnInt(1)});
}

Result<int64_t> CreateStream(Database& db, std::string_view name, std::string_view owner,
                             int64_t at) {
  auto created = sql::Run(db,
                          "INSERT INTO streams (name, owner, head, created_at) "
                          "VALUES (?1, ?2, 0, ?3)",
                          name, owner, at);
  if (!created.ok()) return created.error();
  return db.LastInsertRowId();
}

Status InsertEvent(Database& db, int64_t stream_id, const Event& e, const std::string& data) {
  auto changed = sql::Run(db,
                          "INSERT INTO events (stream_id, seq, type, actor, at, data) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                          stream_id, e.seq, std::string_view(e.type), std::string_view(e.actor),
                          e.at, std::string_view(data));
  if (!changed.ok()) return changed.error();
  auto head = sql::Run(db, "UPDATE streams SET head = ?2 WHERE id = ?1", stream_id, e.seq);
  if (!head.ok()) return head.error();
  return OkStatus();
}

// The reducer of directory streams; `local` marks rows of this node's own stream.
Status ApplyDirectory(Database& db, int64_t stream_id, const Event& e, bool local) {
  const nlohmann::json& d = e.data;
  Result<int64_t> changed = int64_t{0};
  if (e.type == de::kProfilePublished) {
    changed = sql::Run(
        db,
        "INSERT INTO directory_people (stream_id, address, display_name, "
        "organisation, job_title, bio, updated_at, local) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
        "ON CONFLICT (stream_id, address) DO UPDATE SET "
        "display_name = excluded.display_name, organisation = "
        "excluded.organisation, job_title = excluded.job_title, bio = "
        "excluded.bio, updated_at = excluded.updated_at",
        stream_id, std::string_view(Str(d, "address")), std::string_view(Str(d, "display_name")),
        std::string_view(Str(d, "organisation")), std::string_view(Str(d, "job_title")),
        std::string_view(Str(d, "bio")), e.at, int64_t{local ? 1 : 0});
  } else if (e.type == de::kProfileRemoved) {
    changed = sql::Run(db, "DELETE FROM directory_people WHERE stream_id = ?1 AND address = ?2",
                       stream_id, std::string_view(Str(d, "address")));
  } else if (e.type == de::kGroupListed) {
    const nlohmann::json tags = d.contains("tags") ? d["tags"] : nlohmann::json::array();
    changed = sql::Run(
        db,
        "INSERT INTO directory_groups (stream_id, ref, name, description, tags, visibility, "
        "join_policy, status, member_count, updated_at, local) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
        "ON CONFLICT (stream_id, ref) DO UPDATE SET name = excluded.name, description = "
        "excluded.description, tags = excluded.tags, visibility = excluded.visibility, "
        "join_policy = excluded.join_policy, status = excluded.status, member_count = "
        "excluded.member_count, updated_at = excluded.updated_at",
        stream_id, std::string_view(Str(d, "group")), std::string_view(Str(d, "name")),
        std::string_view(Str(d, "description")), std::string_view(CanonicalTags(tags)),
        std::string_view(Str(d, "visibility")), std::string_view(Str(d, "join_policy")),
        std::string_view(Str(d, "status")), d.value("member_count", int64_t{0}), e.at,
        int64_t{local ? 1 : 0});
  } else if (e.type == de::kGroupUnlisted) {
    changed = sql::Run(db, "DELETE FROM directory_groups WHERE stream_id = ?1 AND ref = ?2",
                       stream_id, std::string_view(Str(d, "group")));
  } else {
    return Invalid("type", "not a directory event type");
  }
  if (!changed.ok()) return changed.error();
  return OkStatus();
}

// Whether applying `change` to the projection of `stream_id` would change nothing.
Result<bool> IsNoop(Database& db, int64_t stream_id, const DirectoryChange& change) {
  const nlohmann::json& d = change.data;
  if (change.type == de::kProfilePublished) {
    auto n =
        sql::Int(db,
                 "SELECT count(*) FROM directory_people WHERE stream_id = ?1 AND "
                 "address = ?2 AND display_name = ?3 AND organisation = ?4 AND "
                 "job_title = ?5 AND bio = ?6",
                 stream_id, std::string_view(Str(d, "address")),
                 std::string_view(Str(d, "display_name")), std::string_view(Str(d, "organisation")),
                 std::string_view(Str(d, "job_title")), std::string_view(Str(d, "bio")));
    if (!n.ok()) return n.error();
    return n->value_or(0) > 0;
  }
  if (change.type == de::kProfileRemoved) {
    auto n = sql::Int(db,
                      "SELECT count(*) FROM directory_people WHERE stream_id = ?1 AND "
                      "address = ?2",
                      stream_id, std::string_view(Str(d, "address")));
    if (!n.ok()) return n.error();
    return n->value_or(0) == 0;
  }
  if (change.type == de::kGroupListed) {
    const nlohmann::json tags = d.contains("tags") ? d["tags"] : nlohmann::json::array();
    auto n =
        sql::Int(db,
                 "SELECT count(*) FROM directory_groups WHERE stream_id = ?1 AND ref = ?2 AND "
                 "name = ?3 AND description = ?4 AND tags = ?5 AND visibility = ?6 AND "
                 "join_policy = ?7 AND status = ?8 AND member_count = ?9",
                 stream_id, std::string_view(Str(d, "group")), std::string_view(Str(d, "name")),
                 std::string_view(Str(d, "description")), std::string_view(CanonicalTags(tags)),
                 std::string_view(Str(d, "visibility")), std::string_view(Str(d, "join_policy")),
                 std::string_view(Str(d, "status")), d.value("member_count", int64_t{0}));
    if (!n.ok()) return n.error();
    return n->value_or(0) > 0;
  }
  auto n = sql::Int(db, "SELECT count(*) FROM directory_groups WHERE stream_id = ?1 AND ref = ?2",
                    stream_id, std::string_view(Str(d, "group")));
  if (!n.ok()) return n.error();
  return n->value_or(0) == 0;
}

std::vector<std::string> ParseTags(const std::string& text) {
  std::vector<std::string> out;
  auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_array()) return out;
  for (const auto& tag : json) {
    if (tag.is_string()) out.push_back(tag.get<std::string>());
  }
  return out;
}

}  // namespace

bool IsDirectoryEventType(std::string_view type) {
  return type == de::kProfilePublished || type == de::kProfileRemoved || type == de::kGroupListed ||
         type == de::kGroupUnlisted;
}

std::string DirectoryStream(std::string_view domain) { return "directory@" + std::string(domain); }

Result<std::string> ParseDirectoryStream(std::string_view stream) {
  constexpr std::string_view kPrefix = "directory@";
  if (!stream.starts_with(kPrefix)) return Invalid("stream", "must be directory@<domain>");
  std::string_view domain = stream.substr(kPrefix.size());
  if (domain.empty() || domain.size() > 262) return Invalid("stream", "has a bad domain");
  for (char c : domain) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '@' || c == '/' || u <= 0x20 || u >= 0x7F)
      return Invalid("stream", "has a character not allowed in a domain");
  }
  return std::string(domain);
}

Status ValidateDirectoryEventData(std::string_view type, const nlohmann::json& data,
                                  std::string_view owner_domain) {
  if (!data.is_object()) return Invalid("data", "must be a JSON object");
  if (type == de::kProfilePublished) {
    KITH_RETURN_IF_ERROR(OwnAddress("address", Field(data, "address"), owner_domain));
    KITH_RETURN_IF_ERROR(Text(data, "display_name", identity::kMaxDisplayName, true));
    KITH_RETURN_IF_ERROR(Text(data, "organisation", identity::kMaxOrganisation, false));
    KITH_RETURN_IF_ERROR(Text(data, "job_title", identity::kMaxJobTitle, false));
    KITH_RETURN_IF_ERROR(Text(data, "bio", identity::kMaxBio, false, true));
    return OkStatus();
  }
  if (type == de::kProfileRemoved) {
    return OwnAddress("address", Field(data, "address"), owner_domain);
  }
  if (type == de::kGroupListed) {
    KITH_RETURN_IF_ERROR(OwnGroup(data, owner_domain));
    KITH_RETURN_IF_ERROR(Text(data, "name", kMaxGroupName, true));
    KITH_RETURN_IF_ERROR(Text(data, "description", kMaxDescription, false, true));
    KITH_RETURN_IF_ERROR(Tags(data));
    KITH_RETURN_IF_ERROR(Enum(data, "visibility", ParseVisibility));
    if (data["visibility"] == "private")
      return Invalid("visibility", "a private group is never listed");
    KITH_RETURN_IF_ERROR(Enum(data, "join_policy", ParseJoinPolicy));
    KITH_RETURN_IF_ERROR(Enum(data, "status", ParseGroupStatus));
    const nlohmann::json* count = Field(data, "member_count");
    if (count == nullptr) return Invalid("member_count", "is required");
    if (!IsInt(*count) || count->get<int64_t>() < 0)
      return Invalid("member_count", "must be a non-negative integer");
    return OkStatus();
  }
  if (type == de::kGroupUnlisted) return OwnGroup(data, owner_domain);
  return Invalid("type", "not a directory event type");
}

Result<Event> DirectoryEventFromJson(std::string_view stream, const nlohmann::json& json) {
  auto owner = ParseDirectoryStream(stream);
  if (!owner.ok()) return owner.error();
  if (!json.is_object()) return Invalid("event", "must be a JSON object");
  Event event;
  event.stream = std::string(stream);
  const nlohmann::json* seq = Field(json, "seq");
  if (seq == nullptr) return Invalid("seq", "is required");
  if (!IsInt(*seq) || seq->get<int64_t>() < 1) return Invalid("seq", "must be a positive integer");
  event.seq = seq->get<int64_t>();

  const nlohmann::json* type = Field(json, "type");
  if (type == nullptr) return Invalid("type", "is required");
  if (!type->is_string()) return Invalid("type", "must be a string");
  event.type = type->get<std::string>();
  if (!IsDirectoryEventType(event.type)) return Invalid("type", "not a directory event type");

  KITH_RETURN_IF_ERROR(OwnAddress("actor", Field(json, "actor"), *owner));
  event.actor = json["actor"].get<std::string>();

  const nlohmann::json* at = Field(json, "at");
  if (at == nullptr) return Invalid("at", "is required");
  if (!IsInt(*at) || at->get<int64_t>() < 0) return Invalid("at", "must be a non-negative integer");
  event.at = at->get<int64_t>();

  const nlohmann::json* data = Field(json, "data");
  if (data == nullptr) return Invalid("data", "is required");
  if (!data->is_object()) return Invalid("data", "must be a JSON object");
  if (data->dump().size() > kMaxEventBytes) return Invalid("data", "is too large");
  event.data = *data;
  KITH_RETURN_IF_ERROR(ValidateDirectoryEventData(event.type, event.data, *owner));
  return event;
}

DirectoryChange DirectoryEventsForMember(const identity::Member& member, std::string_view domain,
                                         bool removed) {
  DirectoryChange change;
  change.actor = member.Address(domain);
  if (!removed && member.status == identity::MemberStatus::kActive &&
      member.visibility == identity::DirectoryVisibility::kNetwork) {
    change.type = std::string(de::kProfilePublished);
    change.data = {{"address", change.actor},
                   {"display_name", member.display_name},
                   {"organisation", member.organisation},
                   {"job_title", member.job_title},
                   {"bio", member.bio}};
  } else {
    change.type = std::string(de::kProfileRemoved);
    change.data = {{"address", change.actor}};
  }
  return change;
}

DirectoryChange DirectoryEventsForGroup(const Group& group, std::string_view actor) {
  DirectoryChange change;
  change.actor = actor.empty() ? group.created_by : std::string(actor);
  // A group scoped to a network is not listed either: the directory stream goes to every
  // peer, in the network or not.
  if (group.visibility == Visibility::kPrivate || !group.network.empty()) {
    change.type = std::string(de::kGroupUnlisted);
    change.data = {{"group", group.ref.Id()}};
    return change;
  }
  change.type = std::string(de::kGroupListed);
  change.data = {{"group", group.ref.Id()},
                 {"name", group.name},
                 {"description", group.description},
                 {"tags", group.tags},
                 {"visibility", VisibilityName(group.visibility)},
                 {"join_policy", JoinPolicyName(group.join_policy)},
                 {"status", GroupStatusName(group.status)},
                 {"member_count", group.member_count}};
  return change;
}

DirectoryStore::DirectoryStore(storage::Store& store, const Clock& clock, std::string domain)
    : store_(store), clock_(clock), domain_(std::move(domain)), stream_(DirectoryStream(domain_)) {}

void DirectoryStore::Publish(DirectoryChange change, identity::Done<std::optional<Event>> done) {
  identity::SubmitWrite<std::optional<Event>>(
      store_.writer(),
      [this, change = std::move(change)](Database& db) -> Result<std::optional<Event>> {
        return PublishIn(db, change);
      },
      std::move(done));
}

Result<std::optional<Event>> DirectoryStore::PublishIn(Database& db,
                                                       const DirectoryChange& change) {
  if (!IsDirectoryEventType(change.type)) return Invalid("type", "not a directory event type");
  KITH_RETURN_IF_ERROR(OwnAddressText("actor", change.actor, domain_));
  KITH_RETURN_IF_ERROR(ValidateDirectoryEventData(change.type, change.data, domain_));
  auto info = LoadStream(db, stream_);
  if (!info.ok()) return info.error();
  const int64_t now = clock_.UnixSeconds();
  int64_t stream_id = 0;
  int64_t head = 0;
  if (info->has_value()) {
    stream_id = (*info)->id;
    head = (*info)->head;
    auto noop = IsNoop(db, stream_id, change);
    if (!noop.ok()) return noop.error();
    if (*noop) return std::optional<Event>();
  } else {
    // Nothing published yet: a removal changes nothing.
    if (change.type == de::kProfileRemoved || change.type == de::kGroupUnlisted)
      return std::optional<Event>();
    auto id = CreateStream(db, stream_, domain_, now);
    if (!id.ok()) return id.error();
    stream_id = *id;
  }
  Event event;
  event.stream = stream_;
  event.seq = head + 1;
  event.type = change.type;
  event.actor = change.actor;
  event.at = now;
  event.data = change.data;
  const std::string data_text = event.data.dump();
  if (data_text.size() > kMaxEventBytes)
    return MakeError(ErrorCode::kTooLarge, "the directory event is too large");
  KITH_RETURN_IF_ERROR(InsertEvent(db, stream_id, event, data_text));
  KITH_RETURN_IF_ERROR(ApplyDirectory(db, stream_id, event, /*local=*/true));
  return std::optional<Event>(std::move(event));
}

namespace {

struct MemberRow {
  int64_t id = 0;
  std::string handle;
  std::string display_name;
  std::string organisation;
  std::string job_title;
  std::string bio;
};

}  // namespace

Result<DirectoryStore::SyncStep> DirectoryStore::SyncMembersIn(Database& db, int64_t after_id,
                                                               size_t max_members) {
  auto stream_id =
      sql::Int(db, "SELECT id FROM streams WHERE name = ?1", std::string_view(stream_));
  if (!stream_id.ok()) return stream_id.error();
  const int64_t sid = stream_id->value_or(0);
  const std::string suffix = "@" + domain_;
  SyncStep step;
  auto publish = [&](const DirectoryChange& change) -> Status {
    auto published = PublishIn(db, change);
    if (!published.ok()) {
      if (published.error().code != ErrorCode::kInvalidArgument) return published.error();
      ++step.skipped;
      return OkStatus();
    }
    if (published->has_value()) ++step.changed;
    return OkStatus();
  };

  // Members to publish: active, `network`, and no equal published profile. The rows are read
  // first, then published (no writes while the statement steps).
  std::vector<MemberRow> rows;
  {
    auto stmt = db.Cached(
        "SELECT m.id, m.handle, m.display_name, m.organisation, m.job_title, m.bio "
        "FROM members m WHERE m.id > ?1 AND m.status = 'active' AND m.visibility = 'network' "
        "AND NOT EXISTS (SELECT 1 FROM directory_people p WHERE p.stream_id = ?2 AND "
        "p.address = m.handle || ?3 AND p.display_name = m.display_name AND "
        "p.organisation = m.organisation AND p.job_title = m.job_title AND p.bio = m.bio) "
        "ORDER BY m.id LIMIT ?4");
    if (!stmt.ok()) return stmt.error();
    StatementReset reset{*stmt};
    (*stmt)
        ->Bind(1, after_id)
        .Bind(2, sid)
        .Bind(3, suffix)
        .Bind(4, static_cast<int64_t>(max_members));
    for (;;) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.error();
      if (!*row) break;
      rows.push_back(MemberRow{(*stmt)->ColumnInt(0), (*stmt)->ColumnText(1),
                               (*stmt)->ColumnText(2), (*stmt)->ColumnText(3),
                               (*stmt)->ColumnText(4), (*stmt)->ColumnText(5)});
    }
  }
  for (const MemberRow& m : rows) {
    DirectoryChange change;
    change.type = std::string(de::kProfilePublished);
    change.actor = m.handle + suffix;
    change.data = {{"address", change.actor},
                   {"display_name", m.display_name},
                   {"organisation", m.organisation},
                   {"job_title", m.job_title},
                   {"bio", m.bio}};
    KITH_RETURN_IF_ERROR(publish(change));
  }
  if (rows.size() >= max_members) {
    step.next_after = rows.back().id;
    return step;
  }

  // Published profiles whose member is gone, disabled or not `network` any more.
  if (sid == 0) return step;
  for (;;) {
    std::vector<std::string> gone;
    {
      auto stmt = db.Cached(
          "SELECT p.address FROM directory_people p WHERE p.stream_id = ?1 AND NOT EXISTS ("
          "SELECT 1 FROM members m WHERE m.handle = substr(p.address, 1, length(p.address) - "
          "length(?2)) AND m.status = 'active' AND m.visibility = 'network') "
          "ORDER BY p.address LIMIT ?3");
      if (!stmt.ok()) return stmt.error();
      StatementReset reset{*stmt};
      (*stmt)->Bind(1, sid).Bind(2, suffix).Bind(3, static_cast<int64_t>(max_members));
      for (;;) {
        auto row = (*stmt)->Step();
        if (!row.ok()) return row.error();
        if (!*row) break;
        gone.push_back((*stmt)->ColumnText(0));
      }
    }
    const int64_t before = step.changed;
    for (const std::string& address : gone) {
      DirectoryChange change;
      change.type = std::string(de::kProfileRemoved);
      change.actor = address;
      change.data = {{"address", address}};
      KITH_RETURN_IF_ERROR(publish(change));
    }
    // A page that removed nothing (only refused rows) would come back the same: stop.
    if (gone.size() < max_members || step.changed == before) break;
  }
  return step;
}

namespace {

// Runs the steps of a sync one writer job after another, adding up what they did.
void SyncFrom(DirectoryStore* directory, storage::Writer* writer, int64_t after, int64_t total,
              identity::Done<int64_t> done) {
  identity::SubmitWrite<DirectoryStore::SyncStep>(
      *writer,
      [directory, after](Database& db) -> Result<DirectoryStore::SyncStep> {
        return directory->SyncMembersIn(db, after);
      },
      [directory, writer, total,
       done = std::move(done)](Result<DirectoryStore::SyncStep> step) mutable {
        if (!step.ok()) {
          done(step.error());
          return;
        }
        const int64_t sum = total + step->changed;
        if (step->next_after) {
          SyncFrom(directory, writer, *step->next_after, sum, std::move(done));
        } else {
          done(sum);
        }
      });
}

}  // namespace

void DirectoryStore::SyncMembers(identity::Done<int64_t> done) {
  SyncFrom(this, &store_.writer(), 0, 0, std::move(done));
}

void DirectoryStore::ApplyRemote(std::string stream, std::vector<Event> events,
                                 identity::Done<ApplyReport> done) {
  identity::SubmitWrite<ApplyReport>(
      store_.writer(),
      [this, stream = std::move(stream), events = std::move(events)](
          Database& db) -> Result<ApplyReport> { return ApplyRemoteIn(db, stream, events); },
      std::move(done));
}

Result<ApplyReport> DirectoryStore::ApplyRemoteIn(Database& db, const std::string& stream,
                                                  const std::vector<Event>& events) {
  auto owner = ParseDirectoryStream(stream);
  if (!owner.ok()) return owner.error();
  if (*owner == domain_) return Invalid("stream", stream + " is owned by this node");
  auto info = LoadStream(db, stream);
  if (!info.ok()) return info.error();
  int64_t stream_id = info->has_value() ? (*info)->id : 0;
  ApplyReport report;
  report.head = info->has_value() ? (*info)->head : 0;
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
    if (!IsDirectoryEventType(given.type)) return refuse("not a directory event type");
    Status actor = OwnAddressText("actor", given.actor, *owner);
    if (!actor.ok()) return refuse(actor.error().message);
    Status valid = ValidateDirectoryEventData(given.type, given.data, *owner);
    if (!valid.ok()) return refuse(valid.error().message);
    const std::string data_text = given.data.dump();
    if (data_text.size() > kMaxEventBytes) return refuse("the event is too large");
    if (stream_id == 0) {
      auto id = CreateStream(db, stream, *owner, clock_.UnixSeconds());
      if (!id.ok()) return id.error();
      stream_id = *id;
    }
    KITH_RETURN_IF_ERROR(InsertEvent(db, stream_id, given, data_text));
    KITH_RETURN_IF_ERROR(ApplyDirectory(db, stream_id, given, /*local=*/false));
    report.head = given.seq;
    ++report.applied;
  }
  return report;
}

Result<int64_t> DirectoryStore::Head(std::string_view stream) {
  return store_.Read([&](Database& db) -> Result<int64_t> {
    auto head = sql::Int(db, "SELECT head FROM streams WHERE name = ?1", stream);
    if (!head.ok()) return head.error();
    return head->value_or(0);
  });
}

Result<std::vector<Event>> DirectoryStore::EventsAfter(std::string_view stream, int64_t after,
                                                       size_t limit, size_t max_bytes) {
  if (limit < 1 || limit > 1000) return Invalid("limit", "must be 1..1000");
  if (after < 0) return Invalid("after", "must not be negative");
  return store_.Read([&](Database& db) -> Result<std::vector<Event>> {
    auto id = sql::Int(db, "SELECT id FROM streams WHERE name = ?1", stream);
    if (!id.ok()) return id.error();
    if (!id->has_value()) return std::vector<Event>();
    return ReadEventsAfterIn(db, **id, stream, after, limit, max_bytes);
  });
}

Result<Profile> DirectoryStore::GetProfile(std::string_view address, std::string_view viewer) {
  auto domain = AddressDomain(address);
  if (!domain.ok()) return Invalid("address", "must be an address like handle@node.example");
  const std::string handle(address.substr(0, address.size() - domain->size() - 1));
  auto not_found = [] {
    return MakeError(ErrorCode::kNotFound, "no such person in the directory", "not_found");
  };
  const bool viewer_local =
      !viewer.empty() && AddressDomain(viewer).ok() && *AddressDomain(viewer) == domain_;
  return store_.Read([&](Database& db) -> Result<Profile> {
    if (*domain == domain_) {
      // Read-only view of identity's members table (the directory shows a subset of it).
      auto stmt = db.Cached(
          "SELECT display_name, organisation, job_title, bio, visibility, updated_at "
          "FROM members WHERE handle = ?1 AND status = 'active'");
      if (!stmt.ok()) return stmt.error();
      StatementReset reset{*stmt};
      (*stmt)->Bind(1, handle);
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.error();
      if (!*row) return not_found();
      Profile p;
      p.address = handle + "@" + domain_;
      p.display_name = (*stmt)->ColumnText(0);
      p.organisation = (*stmt)->ColumnText(1);
      p.job_title = (*stmt)->ColumnText(2);
      p.bio = (*stmt)->ColumnText(3);
      p.visibility = (*stmt)->ColumnText(4);
      p.updated_at = (*stmt)->ColumnInt(5);
      p.node = domain_;
      p.local = true;
      if (p.visibility == "hidden" || (p.visibility == "node" && !viewer_local)) return not_found();
      return p;
    }
    auto stmt = db.Cached(
        "SELECT p.display_name, p.organisation, p.job_title, p.bio, p.updated_at "
        "FROM directory_people p JOIN streams s ON s.id = p.stream_id "
        "WHERE p.address = ?1 AND s.name = ?2");
    if (!stmt.ok()) return stmt.error();
    StatementReset reset{*stmt};
    (*stmt)->Bind(1, address).Bind(2, DirectoryStream(*domain));
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    if (!*row) return not_found();
    Profile p;
    p.address = std::string(address);
    p.display_name = (*stmt)->ColumnText(0);
    p.organisation = (*stmt)->ColumnText(1);
    p.job_title = (*stmt)->ColumnText(2);
    p.bio = (*stmt)->ColumnText(3);
    p.updated_at = (*stmt)->ColumnInt(4);
    p.node = *domain;
    p.visibility = "network";
    return p;
  });
}

Result<Listing> DirectoryStore::GetListing(std::string_view group_ref) {
  auto ref = ParseGroupId(group_ref);
  if (!ref.ok()) return ref.error();
  return store_.Read([&](Database& db) -> Result<Listing> {
    auto stmt = db.Cached(
        "SELECT g.name, g.description, g.tags, g.visibility, g.join_policy, g.status, "
        "g.member_count, g.updated_at FROM directory_groups g JOIN streams s "
        "ON s.id = g.stream_id WHERE g.ref = ?1 AND s.name = ?2");
    if (!stmt.ok()) return stmt.error();
    StatementReset reset{*stmt};
    (*stmt)->Bind(1, group_ref).Bind(2, DirectoryStream(ref->domain));
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    if (!*row)
      return MakeError(ErrorCode::kNotFound, "no listing of " + std::string(group_ref),
                       "group_not_found");
    Listing l;
    l.ref = *ref;
    l.name = (*stmt)->ColumnText(0);
    l.description = (*stmt)->ColumnText(1);
    l.tags = ParseTags((*stmt)->ColumnText(2));
    if (auto v = ParseVisibility((*stmt)->ColumnText(3)); v.ok()) l.visibility = *v;
    if (auto j = ParseJoinPolicy((*stmt)->ColumnText(4)); j.ok()) l.join_policy = *j;
    if (auto st = ParseGroupStatus((*stmt)->ColumnText(5)); st.ok()) l.status = *st;
    l.member_count = (*stmt)->ColumnInt(6);
    l.updated_at = (*stmt)->ColumnInt(7);
    return l;
  });
}

}  // namespace kith::groups
