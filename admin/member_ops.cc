#include "admin/member_ops.h"

#include <sodium.h>

#include <algorithm>
#include <boost/url/decode_view.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/url_view.hpp>
#include <cctype>
#include <charconv>
#include <initializer_list>
#include <limits>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "identity/member_import.h"

namespace kith::admin {

using nlohmann::json;

namespace {

constexpr size_t kDefaultPageSize = 100;
constexpr size_t kMaxPageSize = 1000;
constexpr size_t kMaxQueryText = 200;
// Generated passwords: 15 random bytes are 20 base64url characters (120 bits).
constexpr size_t kGeneratedPasswordBytes = 15;

Error Invalid(std::string_view field, std::string_view message) {
  return MakeError(ErrorCode::kInvalidArgument, std::string(field) + ": " + std::string(message),
                   "invalid_" + std::string(field));
}

Error NotRunning() {
  return MakeError(ErrorCode::kUnavailable, "the member services are not running on this node");
}

// A password from the operating system's CSPRNG that meets the password rules.
Result<std::string> GeneratePassword(std::string_view handle, std::string_view email) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::string password = identity::RandomBase64Url(kGeneratedPasswordBytes);
    if (identity::CheckPasswordRules(password, handle, email).ok()) return password;
    sodium_memzero(password.data(), password.size());
  }
  // 16 random passwords in a row containing the handle or email cannot happen by chance.
  return MakeError(ErrorCode::kInternal, "could not generate a password");
}

json MemberJson(const identity::Member& m, std::string_view node_name) {
  return json{{"id", m.id},
              {"handle", m.handle},
              {"address", m.Address(node_name)},
              {"sub", m.sub},
              {"display_name", m.display_name},
              {"email", m.email},
              {"organisation", m.organisation},
              {"job_title", m.job_title},
              {"bio", m.bio},
              {"visibility", std::string(identity::VisibilityName(m.visibility))},
              {"status", std::string(identity::MemberStatusName(m.status))},
              {"has_password", m.has_password},
              {"node_admin", m.node_admin},
              {"created_at", m.created_at},
              {"updated_at", m.updated_at}};
}

// Refuses members of `body` other than `allowed`, so that a misspelt field is not ignored.
Status OnlyFields(const json& body, std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : body.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return MakeError(ErrorCode::kInvalidArgument, "unknown field \"" + key.substr(0, 64) + "\"",
                       "unknown_field");
    }
  }
  return OkStatus();
}

// The string member `name` of `body`: nullopt when absent or null, kInvalidArgument when it is
// not a string.
Result<std::optional<std::string>> OptionalString(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return Invalid(name, "must be a string");
  return std::optional<std::string>(it->get<std::string>());
}

// Hashes `password` on the node's hasher and waits for it.
Result<std::string> HashPassword(identity::PasswordHasher& hasher, std::string_view password) {
  return WaitDone<std::string>([&](identity::Done<std::string> done) {
    hasher.Hash(identity::SecretString(password), std::move(done));
  });
}

// The password to set for `handle`/`email`: the given one when it meets the rules, else a
// generated one. `generated` says which.
Result<std::string> ChoosePassword(const std::optional<std::string>& given, std::string_view handle,
                                   std::string_view email, bool* generated) {
  *generated = !given.has_value();
  if (!given) return GeneratePassword(handle, email);
  if (auto status = identity::CheckPasswordRules(*given, handle, email); !status.ok()) {
    return MakeError(ErrorCode::kInvalidArgument, "password: " + status.error().message,
                     "weak_password");
  }
  return *given;
}

void Wipe(std::string& secret) { sodium_memzero(secret.data(), secret.size()); }

// The member named by the {handle} parameter. 400 for a malformed handle, 404 when unknown.
Result<identity::Member> MemberFromPath(identity::MemberStore& members,
                                        const AdminRequest& request) {
  auto raw = DecodeComponent(request.params.at("handle"), "handle");
  if (!raw.ok()) return std::move(raw).error();
  auto handle = identity::NormalizeHandle(*raw);
  if (!handle.ok()) return std::move(handle).error();
  auto member = members.GetByHandle(*handle);
  if (!member.ok() && member.error().code == ErrorCode::kNotFound) {
    return MakeError(ErrorCode::kNotFound, "no member \"" + *handle + "\" on this node",
                     "member_not_found");
  }
  return member;
}

// Parses an unsigned integer query value within [min, max].
Result<int64_t> ParseBounded(std::string_view field, std::string_view text, int64_t min,
                             int64_t max) {
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value < min || value > max) {
    return Invalid(field, "must be an integer " + std::to_string(min) + ".." + std::to_string(max));
  }
  return value;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool Matches(const identity::Member& m, const std::string& needle) {
  for (const std::string* field : {&m.handle, &m.email, &m.display_name, &m.organisation}) {
    if (Lower(*field).find(needle) != std::string::npos) return true;
  }
  return false;
}

struct ListQuery {
  int64_t after = 0;
  size_t limit = kDefaultPageSize;
  std::string q;  // lower-cased; empty = every member
};

Result<ListQuery> ParseListQuery(std::string_view target) {
  ListQuery query;
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return MakeError(ErrorCode::kInvalidArgument, "the query string is malformed");
  std::set<std::string> seen;
  for (const auto& param : url->params()) {
    if (!seen.insert(param.key).second) return Invalid(param.key, "is given twice");
    if (param.key == "after") {
      auto after = ParseBounded("after", param.value, 0, std::numeric_limits<int64_t>::max());
      if (!after.ok()) return std::move(after).error();
      query.after = *after;
    } else if (param.key == "limit") {
      auto limit = ParseBounded("limit", param.value, 1, kMaxPageSize);
      if (!limit.ok()) return std::move(limit).error();
      query.limit = static_cast<size_t>(*limit);
    } else if (param.key == "q") {
      if (param.value.size() > kMaxQueryText) {
        return Invalid("q", "must be at most " + std::to_string(kMaxQueryText) + " bytes");
      }
      query.q = Lower(param.value);
    } else {
      return MakeError(
          ErrorCode::kInvalidArgument,
          "unknown query parameter \"" + param.key.substr(0, 64) + "\" (expected after, limit, q)",
          "unknown_field");
    }
  }
  return query;
}

Result<json> ListMembers(const NodeContext& ctx, const AdminRequest& request) {
  auto query = ParseListQuery(request.path);
  if (!query.ok()) return std::move(query).error();
  json out = json::array();
  int64_t after = query->after;
  int64_t next_after = 0;
  if (query->q.empty()) {
    auto page = ctx.members->List(after, query->limit);
    if (!page.ok()) return std::move(page).error();
    for (const auto& m : page->members) out.push_back(MemberJson(m, ctx.domain));
    next_after = page->next_after;
  } else {
    // No index serves substring search: scan the table in pages until the answer is full.
    // An operator's search over even 150,000 members reads ~150 pages.
    for (;;) {
      auto page = ctx.members->List(after, kMaxPageSize);
      if (!page.ok()) return std::move(page).error();
      bool full = false;
      for (const auto& m : page->members) {
        if (out.size() == query->limit) {
          full = true;  // more members follow the last one answered
          break;
        }
        after = m.id;
        if (Matches(m, query->q)) out.push_back(MemberJson(m, ctx.domain));
      }
      if (full || (out.size() == query->limit && page->next_after != 0)) {
        next_after = after;
        break;
      }
      if (page->next_after == 0) break;
      after = page->next_after;
    }
  }
  return json{{"members", std::move(out)}, {"next_after", next_after}};
}

Result<json> AddMember(const NodeContext& ctx, const AdminRequest& request) {
  auto body = request.JsonBody();
  if (!body.ok()) return std::move(body).error();
  KITH_RETURN_IF_ERROR(OnlyFields(*body, {"handle", "email", "display_name", "organisation",
                                          "job_title", "bio", "visibility", "password"}));
  identity::NewMember member;
  const std::pair<const char*, std::string*> text_fields[] = {
      {"handle", &member.handle},
      {"email", &member.email},
      {"display_name", &member.display_name},
      {"organisation", &member.organisation},
      {"job_title", &member.job_title},
      {"bio", &member.bio}};
  for (const auto& [name, target] : text_fields) {
    auto value = OptionalString(*body, name);
    if (!value.ok()) return std::move(value).error();
    if (value->has_value()) *target = std::move(**value);
  }
  for (const char* required : {"handle", "email", "display_name"}) {
    if (!body->contains(required)) return Invalid(required, "is required");
  }
  auto visibility = OptionalString(*body, "visibility");
  if (!visibility.ok()) return std::move(visibility).error();
  if (visibility->has_value()) {
    auto parsed = identity::ParseVisibility(**visibility);
    if (!parsed.ok()) return Invalid("visibility", "must be network, node or hidden");
    member.visibility = *parsed;
  }
  auto given = OptionalString(*body, "password");
  if (!given.ok()) return std::move(given).error();
  if (body->contains("password") && (*body)["password"].is_string()) {
    Wipe((*body)["password"].get_ref<std::string&>());
  }

  // Validate and look for clashes before spending an Argon2id run on the password.
  KITH_RETURN_IF_ERROR(identity::ValidateNewMember(member));
  if (ctx.members->GetByHandle(member.handle).ok()) {
    return MakeError(ErrorCode::kConflict, "handle: \"" + member.handle + "\" is taken",
                     "handle_taken");
  }
  if (ctx.members->GetByEmail(member.email).ok()) {
    return MakeError(ErrorCode::kConflict, "email: " + member.email + " is in use", "email_in_use");
  }
  bool generated = false;
  auto password = ChoosePassword(*given, member.handle, member.email, &generated);
  if (given->has_value()) Wipe(**given);
  if (!password.ok()) return std::move(password).error();
  auto hash = HashPassword(*ctx.hasher, *password);
  if (!hash.ok()) {
    Wipe(*password);
    return std::move(hash).error();
  }
  member.password_hash = std::move(hash).value();
  auto added = WaitDone<identity::Member>([&](identity::Done<identity::Member> done) {
    ctx.members->Add(std::move(member), std::move(done));
  });
  if (!added.ok()) {
    Wipe(*password);
    return std::move(added).error();
  }
  json out{{"member", MemberJson(*added, ctx.domain)}};
  if (generated) out["password"] = *password;
  Wipe(*password);
  return out;
}

Result<json> SetNodeAdmin(const NodeContext& ctx, const AdminRequest& request, bool node_admin) {
  auto member = MemberFromPath(*ctx.members, request);
  if (!member.ok()) return std::move(member).error();
  auto updated = WaitDone<identity::Member>([&](identity::Done<identity::Member> done) {
    ctx.members->SetNodeAdmin(member->id, node_admin, std::move(done));
  });
  if (!updated.ok()) return std::move(updated).error();
  return json{{"member", MemberJson(*updated, ctx.domain)}};
}

Result<json> SetStatus(const NodeContext& ctx, const AdminRequest& request,
                       identity::MemberStatus status) {
  auto member = MemberFromPath(*ctx.members, request);
  if (!member.ok()) return std::move(member).error();
  auto updated = WaitDone<identity::Member>([&](identity::Done<identity::Member> done) {
    ctx.members->SetStatus(member->id, status, std::move(done));
  });
  if (!updated.ok()) return std::move(updated).error();
  return json{{"member", MemberJson(*updated, ctx.domain)}};
}

Result<json> ResetPassword(const NodeContext& ctx, const AdminRequest& request) {
  std::optional<std::string> given;
  if (!request.body.empty()) {
    auto body = request.JsonBody();
    if (!body.ok()) return std::move(body).error();
    KITH_RETURN_IF_ERROR(OnlyFields(*body, {"password"}));
    auto value = OptionalString(*body, "password");
    if (!value.ok()) return std::move(value).error();
    given = std::move(*value);
    if (auto it = body->find("password"); it != body->end() && it->is_string()) {
      Wipe(it->get_ref<std::string&>());
    }
  }
  auto member = MemberFromPath(*ctx.members, request);
  if (!member.ok()) {
    if (given) Wipe(*given);
    return std::move(member).error();
  }
  bool generated = false;
  auto password = ChoosePassword(given, member->handle, member->email, &generated);
  if (given) Wipe(*given);
  if (!password.ok()) return std::move(password).error();
  auto hash = HashPassword(*ctx.hasher, *password);
  if (!hash.ok()) {
    Wipe(*password);
    return std::move(hash).error();
  }
  Status set = WaitDone<void>([&](identity::Done<void> done) {
    ctx.members->SetPasswordHash(member->id, std::move(hash).value(), std::move(done));
  });
  if (!set.ok()) {
    Wipe(*password);
    return std::move(set).error();
  }
  // A reset means the old password may be known to someone else: end every session.
  auto ended = WaitDone<int64_t>(
      [&](identity::Done<int64_t> done) { ctx.sessions->RevokeAll(member->id, std::move(done)); });
  if (!ended.ok()) {
    Wipe(*password);
    return MakeError(ended.error().code,
                     "the password was changed but the member's sessions could not be ended (" +
                         ended.error().message + "); run reset-password again");
  }
  auto updated = ctx.members->GetById(member->id);
  json out{{"member", MemberJson(updated.ok() ? *updated : *member, ctx.domain)},
           {"sessions_ended", *ended}};
  if (generated) out["password"] = *password;
  Wipe(*password);
  return out;
}

Result<json> RemoveMember(const NodeContext& ctx, const AdminRequest& request) {
  auto member = MemberFromPath(*ctx.members, request);
  if (!member.ok()) return std::move(member).error();
  Status removed = WaitDone<void>(
      [&](identity::Done<void> done) { ctx.members->Remove(member->id, std::move(done)); });
  if (!removed.ok()) return std::move(removed).error();
  return json{{"removed", member->handle}};
}

Result<json> ImportMembers(const NodeContext& ctx, const AdminRequest& request) {
  auto body = request.JsonBody();
  if (!body.ok()) return std::move(body).error();
  KITH_RETURN_IF_ERROR(OnlyFields(*body, {"csv"}));
  auto csv_field = body->find("csv");
  if (csv_field == body->end() || !csv_field->is_string()) {
    return Invalid("csv", "is required: the CSV file's text");
  }
  std::string& csv = csv_field->get_ref<std::string&>();
  auto report = WaitDone<identity::ImportReport>([&](identity::Done<identity::ImportReport> done) {
    identity::ImportMembersCsv(*ctx.members, *ctx.hasher, csv, std::move(done));
  });
  Wipe(csv);  // it may hold passwords
  if (!report.ok()) return std::move(report).error();
  json rejected = json::array();
  for (const auto& row : report->rejected) {
    rejected.push_back({{"line", row.line}, {"handle", row.handle}, {"reason", row.reason}});
  }
  return json{{"rows", report->rows},
              {"imported", report->imported},
              {"committed", report->committed},
              {"rejected", std::move(rejected)},
              {"summary", report->Summary()}};
}

}  // namespace

Result<std::string> DecodeComponent(std::string_view text, std::string_view field) {
  auto pct = boost::urls::make_pct_string_view(text);
  if (!pct) return Invalid(field, "has a malformed percent-escape");
  std::string out;
  out.reserve(pct->decoded_size());
  for (char c : **pct) out += c;
  return out;
}

void AddMemberRoutes(AdminRouter& router, const NodeContext* context) {
  // Wraps a handler so that it answers 503 when the member services are missing.
  auto guarded = [context](Result<json> (*handler)(const NodeContext&, const AdminRequest&)) {
    return [context, handler](const AdminRequest& request) -> Result<json> {
      if (!context->members || !context->sessions || !context->hasher) return NotRunning();
      return handler(*context, request);
    };
  };
  router.Add("GET", "/v1/members", guarded(&ListMembers));
  router.Add("POST", "/v1/members", guarded(&AddMember));
  router.Add("POST", "/v1/members/import", guarded(&ImportMembers));
  router.Add("GET", "/v1/members/{handle}",
             guarded([](const NodeContext& ctx, const AdminRequest& request) -> Result<json> {
               auto member = MemberFromPath(*ctx.members, request);
               if (!member.ok()) return std::move(member).error();
               return json{{"member", MemberJson(*member, ctx.domain)}};
             }));
  router.Add("DELETE", "/v1/members/{handle}", guarded(&RemoveMember));
  router.Add("POST", "/v1/members/{handle}/disable",
             guarded([](const NodeContext& ctx, const AdminRequest& request) {
               return SetStatus(ctx, request, identity::MemberStatus::kDisabled);
             }));
  router.Add("POST", "/v1/members/{handle}/enable",
             guarded([](const NodeContext& ctx, const AdminRequest& request) {
               return SetStatus(ctx, request, identity::MemberStatus::kActive);
             }));
  router.Add("POST", "/v1/members/{handle}/reset-password", guarded(&ResetPassword));
  router.Add("POST", "/v1/members/{handle}/grant-admin",
             guarded([](const NodeContext& ctx, const AdminRequest& request) {
               return SetNodeAdmin(ctx, request, true);
             }));
  router.Add("POST", "/v1/members/{handle}/revoke-admin",
             guarded([](const NodeContext& ctx, const AdminRequest& request) {
               return SetNodeAdmin(ctx, request, false);
             }));
}

}  // namespace kith::admin
