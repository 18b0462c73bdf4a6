#include "groups/event.h"

#include <array>
#include <limits>

#include "identity/member.h"

namespace kith::groups {
namespace {

Error Invalid(std::string_view field, std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::string(field) + ": " + message,
                   "invalid_argument");
}

constexpr std::array<std::string_view, 22> kEventTypes = {
    event_type::kGroupCreated,      event_type::kGroupUpdated,     event_type::kGroupArchived,
    event_type::kGroupUnarchived,   event_type::kMemberRequested,  event_type::kMemberApproved,
    event_type::kMemberDeclined,    event_type::kMemberInvited,    event_type::kMemberJoined,
    event_type::kMemberRoleChanged, event_type::kMemberLeft,       event_type::kMemberRemoved,
    event_type::kThreadCreated,     event_type::kPostCreated,      event_type::kPostEdited,
    event_type::kPostDeleted,       event_type::kThreadPinned,     event_type::kThreadLocked,
    event_type::kFileAdded,         event_type::kFileVersionAdded, event_type::kFileUpdated,
    event_type::kFileRemoved,
};

bool IsHandleChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

// A node's domain: a host name or address with an optional port (base URL host[:port]).
Status ValidateDomain(std::string_view field, std::string_view domain) {
  if (domain.empty()) return Invalid(field, "has an empty domain");
  if (domain.size() > 262) return Invalid(field, "has a domain that is too long");
  for (char c : domain) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_';
    if (!ok) return Invalid(field, "has a character not allowed in a domain");
  }
  return OkStatus();
}

// --- Field checks for ValidateEventData --------------------------------------------------

enum class Need { kRequired, kOptional };

const nlohmann::json* Field(const nlohmann::json& data, std::string_view name) {
  auto it = data.find(name);
  return it == data.end() ? nullptr : &*it;
}

Status Text(const nlohmann::json& data, std::string_view name, size_t max, Need need,
            bool multiline = false, bool allow_empty = false) {
  const nlohmann::json* value = Field(data, name);
  if (value == nullptr) {
    if (need == Need::kRequired) return Invalid(name, "is required");
    return OkStatus();
  }
  if (!value->is_string()) return Invalid(name, "must be a string");
  const auto& text = value->get_ref<const std::string&>();
  return identity::ValidateText(name, text, max, !allow_empty, multiline);
}

Status Address(const nlohmann::json& data, std::string_view name) {
  const nlohmann::json* value = Field(data, name);
  if (value == nullptr) return Invalid(name, "is required");
  if (!value->is_string()) return Invalid(name, "must be a string");
  auto domain = AddressDomain(value->get_ref<const std::string&>());
  if (!domain.ok()) return Invalid(name, "must be an address like handle@node.example");
  return OkStatus();
}

Status Id(const nlohmann::json& data, std::string_view name) {
  const nlohmann::json* value = Field(data, name);
  if (value == nullptr) return Invalid(name, "is required");
  if (value->is_number_unsigned()) {
    if (value->get<uint64_t>() < 1 ||
        value->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return Invalid(name, "must be a positive integer");
    return OkStatus();
  }
  if (!value->is_number_integer() || value->get<int64_t>() < 1)
    return Invalid(name, "must be a positive integer");
  return OkStatus();
}

Status Bool(const nlohmann::json& data, std::string_view name) {
  const nlohmann::json* value = Field(data, name);
  if (value == nullptr) return Invalid(name, "is required");
  if (!value->is_boolean()) return Invalid(name, "must be true or false");
  return OkStatus();
}

Status Tags(const nlohmann::json& data, Need need) {
  const nlohmann::json* value = Field(data, "tags");
  if (value == nullptr) {
    if (need == Need::kRequired) return Invalid("tags", "is required");
    return OkStatus();
  }
  if (!value->is_array()) return Invalid("tags", "must be an array of strings");
  if (value->size() > kMaxTags)
    return Invalid("tags", "must have at most " + std::to_string(kMaxTags) + " tags");
  for (const auto& tag : *value) {
    if (!tag.is_string()) return Invalid("tags", "must be an array of strings");
    KITH_RETURN_IF_ERROR(
        identity::ValidateText("tags", tag.get_ref<const std::string&>(), kMaxTag, true));
  }
  return OkStatus();
}

template <class T>
Status Enum(const nlohmann::json& data, std::string_view name, Need need,
            Result<T> (*parse)(std::string_view)) {
  const nlohmann::json* value = Field(data, name);
  if (value == nullptr) {
    if (need == Need::kRequired) return Invalid(name, "is required");
    return OkStatus();
  }
  if (!value->is_string()) return Invalid(name, "must be a string");
  auto parsed = parse(value->get_ref<const std::string&>());
  if (!parsed.ok()) return std::move(parsed).error();
  return OkStatus();
}

Status Sha256(const nlohmann::json& data) {
  const nlohmann::json* value = Field(data, "sha256");
  if (value == nullptr) return Invalid("sha256", "is required");
  if (!value->is_string()) return Invalid("sha256", "must be a string");
  const auto& s = value->get_ref<const std::string&>();
  bool ok = s.size() == 64;
  for (char c : s) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (!ok) return Invalid("sha256", "must be 64 lower-case hex digits");
  return OkStatus();
}

Status Size(const nlohmann::json& data) {
  const nlohmann::json* value = Field(data, "size");
  if (value == nullptr) return Invalid("size", "is required");
  if (value->is_number_unsigned()) {
    if (value->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return Invalid("size", "is too large");
    return OkStatus();
  }
  if (!value->is_number_integer() || value->get<int64_t>() < 0)
    return Invalid("size", "must be a non-negative integer");
  return OkStatus();
}

Status MediaType(const nlohmann::json& data) {
  KITH_RETURN_IF_ERROR(Text(data, "media_type", kMaxMediaType, Need::kRequired));
  const auto& s = data["media_type"].get_ref<const std::string&>();
  const size_t slash = s.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == s.size())
    return Invalid("media_type", "must look like type/subtype");
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80 || c == '"' || c == '\\')
      return Invalid("media_type", "must be ASCII without quotes or backslashes");
  }
  return OkStatus();
}

Status Filename(const nlohmann::json& data) {
  KITH_RETURN_IF_ERROR(Text(data, "filename", kMaxFilename, Need::kRequired));
  const auto& s = data["filename"].get_ref<const std::string&>();
  if (s.find('/') != std::string::npos || s.find('\\') != std::string::npos)
    return Invalid("filename", "must not contain '/' or '\\'");
  if (s == "." || s == "..") return Invalid("filename", "must be a file name");
  return OkStatus();
}

// `network`: absent, null, or a network entity id.
Status Network(const nlohmann::json& data) {
  const nlohmann::json* value = Field(data, "network");
  if (value == nullptr || value->is_null()) return OkStatus();
  if (!value->is_string()) return Invalid("network", "must be a string or null");
  return ValidateNetworkId(value->get_ref<const std::string&>());
}

// At least one of `names` present (for partial updates).
Status AnyOf(const nlohmann::json& data, std::initializer_list<std::string_view> names) {
  for (auto name : names) {
    if (data.contains(name)) return OkStatus();
  }
  return MakeError(ErrorCode::kInvalidArgument, "nothing to update", "invalid_argument");
}

}  // namespace

std::string_view VisibilityName(Visibility v) {
  switch (v) {
    case Visibility::kPublic:
      return "public";
    case Visibility::kRestricted:
      return "restricted";
    case Visibility::kPrivate:
      return "private";
  }
  return "private";
}

Result<Visibility> ParseVisibility(std::string_view name) {
  if (name == "public") return Visibility::kPublic;
  if (name == "restricted") return Visibility::kRestricted;
  if (name == "private") return Visibility::kPrivate;
  return Invalid("visibility", "must be public, restricted or private");
}

std::string_view JoinPolicyName(JoinPolicy p) {
  switch (p) {
    case JoinPolicy::kOpen:
      return "open";
    case JoinPolicy::kRequest:
      return "request";
    case JoinPolicy::kInvite:
      return "invite";
  }
  return "invite";
}

Result<JoinPolicy> ParseJoinPolicy(std::string_view name) {
  if (name == "open") return JoinPolicy::kOpen;
  if (name == "request") return JoinPolicy::kRequest;
  if (name == "invite") return JoinPolicy::kInvite;
  return Invalid("join_policy", "must be open, request or invite");
}

std::string_view GroupStatusName(GroupStatus s) {
  return s == GroupStatus::kActive ? "active" : "archived";
}

Result<GroupStatus> ParseGroupStatus(std::string_view name) {
  if (name == "active") return GroupStatus::kActive;
  if (name == "archived") return GroupStatus::kArchived;
  return Invalid("status", "must be active or archived");
}

std::string_view RoleName(Role r) {
  switch (r) {
    case Role::kMember:
      return "member";
    case Role::kFacilitator:
      return "facilitator";
    case Role::kOwner:
      return "owner";
  }
  return "member";
}

Result<Role> ParseRole(std::string_view name) {
  if (name == "member") return Role::kMember;
  if (name == "facilitator") return Role::kFacilitator;
  if (name == "owner") return Role::kOwner;
  return Invalid("role", "must be member, facilitator or owner");
}

bool IsKnownEventType(std::string_view type) {
  for (auto known : kEventTypes) {
    if (known == type) return true;
  }
  return false;
}

Status ValidateSlug(std::string_view slug) {
  if (slug.empty()) return Invalid("slug", "is required");
  if (slug.size() > kMaxSlug)
    return Invalid("slug", "must be at most " + std::to_string(kMaxSlug) + " characters");
  for (char c : slug) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
      return Invalid("slug", "may contain only a-z, 0-9 and '-'");
  }
  if (slug.front() == '-') return Invalid("slug", "must start with a letter or digit");
  return OkStatus();
}

Status ValidateNetworkId(std::string_view network) {
  if (network.empty()) return Invalid("network", "is empty");
  if (network.size() > kMaxNetworkId)
    return Invalid("network", "must be at most " + std::to_string(kMaxNetworkId) + " bytes");
  std::string_view rest;
  if (network.starts_with("https://")) {
    rest = network.substr(8);
  } else if (network.starts_with("http://")) {
    rest = network.substr(7);
  } else {
    return Invalid("network", "must be an https:// entity identifier");
  }
  for (char c : network) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F || c == '\\')
      return Invalid("network", "must be printable ASCII without spaces or backslashes");
  }
  if (network.find_first_of("?#") != std::string_view::npos)
    return Invalid("network", "must have no query or fragment");
  if (network.back() == '/') return Invalid("network", "must not end with '/'");
  const std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.empty() || authority.front() == ':') return Invalid("network", "must name a host");
  if (authority.find('@') != std::string_view::npos)
    return Invalid("network", "must have no user info");
  return OkStatus();
}

Result<GroupRef> ParseGroupId(std::string_view id) {
  const size_t at = id.find('@');
  if (at == std::string_view::npos) return Invalid("group", "must look like slug@node.example");
  GroupRef ref{std::string(id.substr(0, at)), std::string(id.substr(at + 1))};
  KITH_RETURN_IF_ERROR(ValidateSlug(ref.slug));
  KITH_RETURN_IF_ERROR(ValidateDomain("group", ref.domain));
  return ref;
}

Result<GroupRef> ParseGroupStream(std::string_view stream) {
  constexpr std::string_view kPrefix = "group:";
  if (stream.substr(0, kPrefix.size()) != kPrefix)
    return Invalid("stream", "must look like group:slug@node.example");
  auto ref = ParseGroupId(stream.substr(kPrefix.size()));
  if (!ref.ok()) return Invalid("stream", "must look like group:slug@node.example");
  return ref;
}

Result<std::string> AddressDomain(std::string_view address) {
  const size_t at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at > identity::kMaxHandle)
    return Invalid("address", "must look like handle@node.example");
  const std::string_view handle = address.substr(0, at);
  for (char c : handle) {
    if (!IsHandleChar(c)) return Invalid("address", "has a character not allowed in a handle");
  }
  const std::string_view domain = address.substr(at + 1);
  KITH_RETURN_IF_ERROR(ValidateDomain("address", domain));
  return std::string(domain);
}

nlohmann::json Event::ToJson() const {
  return nlohmann::json{{"seq", seq}, {"type", type}, {"actor", actor}, {"at", at}, {"data", data}};
}

Result<Event> EventFromJson(std::string_view stream, const nlohmann::json& json) {
  if (!json.is_object()) return Invalid("event", "must be a JSON object");
  Event event;
  event.stream = std::string(stream);
  const nlohmann::json* seq = Field(json, "seq");
  if (seq == nullptr) return Invalid("seq", "is required");
  if (!(seq->is_number_integer() || seq->is_number_unsigned()) ||
      (seq->is_number_unsigned() &&
       seq->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) ||
      seq->get<int64_t>() < 1)
    return Invalid("seq", "must be a positive integer");
  event.seq = seq->get<int64_t>();

  const nlohmann::json* type = Field(json, "type");
  if (type == nullptr) return Invalid("type", "is required");
  if (!type->is_string()) return Invalid("type", "must be a string");
  event.type = type->get<std::string>();
  if (!IsKnownEventType(event.type)) {
    std::string shown = event.type.substr(0, 40);
    for (char& c : shown) {
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) c = '?';
    }
    return Invalid("type", "unknown event type \"" + shown + "\"");
  }

  const nlohmann::json* actor = Field(json, "actor");
  if (actor == nullptr) return Invalid("actor", "is required");
  if (!actor->is_string()) return Invalid("actor", "must be a string");
  event.actor = actor->get<std::string>();
  if (!AddressDomain(event.actor).ok())
    return Invalid("actor", "must be an address like handle@node.example");

  const nlohmann::json* at = Field(json, "at");
  if (at == nullptr) return Invalid("at", "is required");
  if (!(at->is_number_integer() || at->is_number_unsigned()) ||
      (at->is_number_unsigned() &&
       at->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) ||
      at->get<int64_t>() < 0)
    return Invalid("at", "must be a non-negative integer");
  event.at = at->get<int64_t>();

  const nlohmann::json* data = Field(json, "data");
  if (data == nullptr) return Invalid("data", "is required");
  if (!data->is_object()) return Invalid("data", "must be a JSON object");
  event.data = *data;

  if (json.dump().size() > kMaxEventBytes)
    return Invalid("event", "is larger than " + std::to_string(kMaxEventBytes) + " bytes");
  return event;
}

Status ValidateEventData(std::string_view type, const nlohmann::json& data) {
  namespace t = event_type;
  if (!data.is_object()) return Invalid("data", "must be a JSON object");
  if (type == t::kGroupCreated) {
    KITH_RETURN_IF_ERROR(Text(data, "name", kMaxGroupName, Need::kRequired));
    KITH_RETURN_IF_ERROR(
        Text(data, "description", kMaxDescription, Need::kOptional, true, /*allow_empty=*/true));
    KITH_RETURN_IF_ERROR(Tags(data, Need::kOptional));
    KITH_RETURN_IF_ERROR(Enum(data, "visibility", Need::kRequired, &ParseVisibility));
    KITH_RETURN_IF_ERROR(Network(data));
    return Enum(data, "join_policy", Need::kRequired, &ParseJoinPolicy);
  }
  if (type == t::kGroupUpdated) {
    KITH_RETURN_IF_ERROR(
        AnyOf(data, {"name", "description", "tags", "visibility", "join_policy", "network"}));
    KITH_RETURN_IF_ERROR(Network(data));
    KITH_RETURN_IF_ERROR(Text(data, "name", kMaxGroupName, Need::kOptional));
    KITH_RETURN_IF_ERROR(
        Text(data, "description", kMaxDescription, Need::kOptional, true, /*allow_empty=*/true));
    KITH_RETURN_IF_ERROR(Tags(data, Need::kOptional));
    KITH_RETURN_IF_ERROR(Enum(data, "visibility", Need::kOptional, &ParseVisibility));
    return Enum(data, "join_policy", Need::kOptional, &ParseJoinPolicy);
  }
  if (type == t::kGroupArchived || type == t::kGroupUnarchived) return OkStatus();
  if (type == t::kMemberRequested) {
    KITH_RETURN_IF_ERROR(Address(data, "member"));
    return Text(data, "message", kMaxMessage, Need::kOptional, true, /*allow_empty=*/true);
  }
  if (type == t::kMemberApproved || type == t::kMemberDeclined || type == t::kMemberInvited ||
      type == t::kMemberJoined || type == t::kMemberLeft || type == t::kMemberRemoved) {
    return Address(data, "member");
  }
  if (type == t::kMemberRoleChanged) {
    KITH_RETURN_IF_ERROR(Address(data, "member"));
    return Enum(data, "role", Need::kRequired, &ParseRole);
  }
  if (type == t::kThreadCreated) {
    KITH_RETURN_IF_ERROR(Text(data, "title", kMaxTitle, Need::kRequired));
    return Text(data, "body", kMaxBody, Need::kRequired, true);
  }
  if (type == t::kPostCreated) {
    KITH_RETURN_IF_ERROR(Id(data, "thread"));
    return Text(data, "body", kMaxBody, Need::kRequired, true);
  }
  if (type == t::kPostEdited) {
    KITH_RETURN_IF_ERROR(Id(data, "post"));
    KITH_RETURN_IF_ERROR(Text(data, "body", kMaxBody, Need::kRequired, true));
    return Text(data, "title", kMaxTitle, Need::kOptional);
  }
  if (type == t::kPostDeleted) return Id(data, "post");
  if (type == t::kThreadPinned) {
    KITH_RETURN_IF_ERROR(Id(data, "thread"));
    return Bool(data, "pinned");
  }
  if (type == t::kThreadLocked) {
    KITH_RETURN_IF_ERROR(Id(data, "thread"));
    return Bool(data, "locked");
  }
  if (type == t::kFileAdded) {
    KITH_RETURN_IF_ERROR(Text(data, "title", kMaxTitle, Need::kRequired));
    KITH_RETURN_IF_ERROR(
        Text(data, "description", kMaxDescription, Need::kOptional, true, /*allow_empty=*/true));
    KITH_RETURN_IF_ERROR(Tags(data, Need::kOptional));
    KITH_RETURN_IF_ERROR(Sha256(data));
    KITH_RETURN_IF_ERROR(Size(data));
    KITH_RETURN_IF_ERROR(MediaType(data));
    return Filename(data);
  }
  if (type == t::kFileVersionAdded) {
    KITH_RETURN_IF_ERROR(Id(data, "document"));
    KITH_RETURN_IF_ERROR(Sha256(data));
    KITH_RETURN_IF_ERROR(Size(data));
    KITH_RETURN_IF_ERROR(MediaType(data));
    return Filename(data);
  }
  if (type == t::kFileUpdated) {
    KITH_RETURN_IF_ERROR(Id(data, "document"));
    KITH_RETURN_IF_ERROR(AnyOf(data, {"title", "description", "tags"}));
    KITH_RETURN_IF_ERROR(Text(data, "title", kMaxTitle, Need::kOptional));
    KITH_RETURN_IF_ERROR(
        Text(data, "description", kMaxDescription, Need::kOptional, true, /*allow_empty=*/true));
    return Tags(data, Need::kOptional);
  }
  if (type == t::kFileRemoved) return Id(data, "document");
  return Invalid("type", "unknown event type");
}

}  // namespace kith::groups
