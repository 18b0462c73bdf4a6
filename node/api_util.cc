#include "node/api_util.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>

#include "groups/markdown.h"
#include "node/web_util.h"

namespace kith::node::api {
namespace {

bool IsUnsafe(http::verb method) {
  return method != http::verb::get && method != http::verb::head && method != http::verb::options;
}

bool IsTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$&^_.+-").find(c) != std::string_view::npos;
}

std::optional<uint64_t> ParseU64(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

Result<Viewer> Authenticate(const ApiContext& c, const RequestContext& ctx) {
  const auto& req = ctx.request;
  auto authorization = req[http::field::authorization];
  std::string domain = c.config->node.domain();
  if (!authorization.empty()) {
    auto token = identity::OidcProvider::BearerToken(
        std::string_view(authorization.data(), authorization.size()));
    if (!token.ok()) {
      return MakeError(ErrorCode::kUnauthenticated,
                       "malformed Authorization header (expected "
                       "\"Bearer <access token>\")",
                       "invalid_token");
    }
    auto claims = c.oidc->UserInfo(*token);
    if (!claims.ok()) {
      return MakeError(ErrorCode::kUnauthenticated,
                       "the access token is unknown, expired or revoked", "invalid_token");
    }
    auto sub = claims->find("sub");
    if (sub == claims->end() || !sub->is_string()) {
      return MakeError(ErrorCode::kUnauthenticated, "the access token has no subject",
                       "invalid_token");
    }
    auto member = c.members->GetBySub(sub->get<std::string>());
    if (!member.ok()) {
      return MakeError(ErrorCode::kUnauthenticated, "the access token's member is unknown",
                       "invalid_token");
    }
    Viewer v{std::move(member).value(), "", true, std::nullopt};
    v.address = v.member.Address(domain);
    return v;
  }
  auto cookie = GetCookie(req, kSessionCookie);
  if (!cookie || cookie->empty()) {
    return MakeError(ErrorCode::kUnauthenticated, "sign in or send a bearer token",
                     "unauthenticated");
  }
  // Remote members (signed in through their home node, node/sso_routes.h) act here too.
  auto session = c.sessions->AuthenticateAny(*cookie);
  if (!session.ok()) {
    return MakeError(ErrorCode::kUnauthenticated,
                     "the session has ended; sign in again or send a bearer token",
                     "unauthenticated");
  }
  if (IsUnsafe(req.method())) {
    auto csrf = req["X-CSRF-Token"];
    if (csrf.empty() ||
        !identity::SessionStore::CheckCsrf(*session, std::string_view(csrf.data(), csrf.size()))) {
      return MakeError(ErrorCode::kPermissionDenied,
                       "missing or wrong X-CSRF-Token header (the session's csrf token)", "csrf");
    }
  }
  return SessionViewer(c, std::move(session).value());
}

Result<Viewer> SessionViewer(const ApiContext& c, identity::Session session) {
  if (session.remote()) {
    // Not a member of this node: no id, the home node's name; the address is the actor.
    identity::Member remote;
    remote.handle = session.remote_address.substr(0, session.remote_address.find('@'));
    remote.display_name = session.display_name;
    std::string address = session.remote_address;
    Viewer v{std::move(remote), std::move(address), false, std::move(session)};
    return v;
  }
  auto member = c.members->GetById(session.member_id);
  if (!member.ok()) {
    return MakeError(ErrorCode::kUnauthenticated, "the session's member is gone",
                     "unauthenticated");
  }
  Viewer v{std::move(member).value(), "", false, std::move(session)};
  v.address = v.member.Address(c.config->node.domain());
  return v;
}

Result<groups::Command> NewGroupCommand(const ApiContext& c, const Viewer& viewer,
                                        const NewGroup& group) {
  if (Status s = groups::ValidateSlug(group.slug); !s.ok()) return std::move(s).error();
  groups::GroupRef ref{group.slug, c.config->node.domain()};
  nlohmann::json data{{"name", group.name},
                      {"description", group.description},
                      {"tags", group.tags},
                      {"visibility", group.visibility},
                      {"join_policy", group.join_policy}};
  groups::Command command =
      MakeCommand(ref, groups::event_type::kGroupCreated, viewer, std::move(data));
  if (Status s = groups::ValidateEventData(command.type, command.data); !s.ok()) {
    return std::move(s).error();
  }
  return command;
}

std::string SlugFromName(std::string_view name) {
  std::string slug;
  bool dash = false;
  for (char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) && c < 0x80) {
      if (dash && !slug.empty()) slug += '-';
      dash = false;
      slug += static_cast<char>(std::tolower(c));
    } else {
      dash = true;
    }
    if (slug.size() >= groups::kMaxSlug) break;
  }
  if (slug.size() > groups::kMaxSlug) slug.resize(groups::kMaxSlug);
  while (!slug.empty() && slug.back() == '-') slug.pop_back();
  return slug;
}

groups::Command MakeCommand(const groups::GroupRef& ref, std::string_view type,
                            const Viewer& viewer, nlohmann::json data) {
  groups::Command c;
  c.stream = ref.Stream();
  c.type = std::string(type);
  c.actor = viewer.address;
  c.data = std::move(data);
  return c;
}

Response Json(http::status status, const nlohmann::json& body) {
  Response res =
      JsonResponse(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  res.set(http::field::cache_control, "no-store");
  return res;
}

Response Fail(const Error& error) {
  Response res = ErrorResponse(error);
  res.set(http::field::cache_control, "no-store");
  if (error.code == ErrorCode::kUnauthenticated) {
    res.set(http::field::www_authenticate, "Bearer");
  }
  return res;
}

Result<nlohmann::json> JsonBody(std::string_view body) {
  if (body.empty()) return nlohmann::json::object();
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return MakeError(ErrorCode::kInvalidArgument, "the body is not valid JSON", "bad_json");
  }
  if (!parsed.is_object()) {
    return MakeError(ErrorCode::kInvalidArgument, "the body must be a JSON object", "bad_json");
  }
  return parsed;
}

Result<std::optional<std::string>> OptString(const nlohmann::json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) {
    return MakeError(ErrorCode::kInvalidArgument, std::string(name) + ": must be a string");
  }
  return std::optional<std::string>(it->get<std::string>());
}

Result<std::optional<bool>> OptBool(const nlohmann::json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::optional<bool>();
  if (!it->is_boolean()) {
    return MakeError(ErrorCode::kInvalidArgument, std::string(name) + ": must be true or false");
  }
  return std::optional<bool>(it->get<bool>());
}

std::vector<std::string> SplitTags(std::string_view csv) {
  std::vector<std::string> out;
  while (!csv.empty()) {
    size_t comma = csv.find(',');
    std::string_view tag = csv.substr(0, comma);
    while (!tag.empty() && std::isspace(static_cast<unsigned char>(tag.front())))
      tag.remove_prefix(1);
    while (!tag.empty() && std::isspace(static_cast<unsigned char>(tag.back())))
      tag.remove_suffix(1);
    if (!tag.empty()) out.emplace_back(tag);
    if (comma == std::string_view::npos) break;
    csv.remove_prefix(comma + 1);
  }
  return out;
}

Result<std::optional<std::vector<std::string>>> OptTags(const nlohmann::json& body,
                                                        const char* name) {
  auto it = body.find(name);
  using Out = std::optional<std::vector<std::string>>;
  if (it == body.end() || it->is_null()) return Out();
  if (it->is_string()) return Out(SplitTags(it->get<std::string>()));
  if (!it->is_array()) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        std::string(name) + ": must be an array of strings or a comma-separated string");
  }
  std::vector<std::string> tags;
  for (const auto& t : *it) {
    if (!t.is_string()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       std::string(name) + ": must be an array of strings");
    }
    tags.push_back(t.get<std::string>());
  }
  return Out(std::move(tags));
}

Result<groups::GroupRef> GroupParam(const RequestContext& ctx) {
  auto ref = groups::ParseGroupId(ctx.Param("group"));
  if (!ref.ok()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "malformed group id (expected slug@domain): " + ref.error().message);
  }
  return ref;
}

Result<int64_t> IdParam(const RequestContext& ctx, std::string_view name) {
  auto v = ParseU64(ctx.Param(name));
  if (!v || *v == 0 || *v > static_cast<uint64_t>(INT64_MAX)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string(name) + ": must be a positive integer");
  }
  return static_cast<int64_t>(*v);
}

Result<PageParams> GetPageParams(const RequestContext& ctx) {
  PageParams p;
  if (auto after = ctx.QueryParam("after"); after && !after->empty()) {
    auto v = ParseU64(*after);
    if (!v || *v > static_cast<uint64_t>(INT64_MAX)) {
      return MakeError(ErrorCode::kInvalidArgument, "after: must be a non-negative integer");
    }
    p.after = static_cast<int64_t>(*v);
  }
  if (auto limit = ctx.QueryParam("limit"); limit && !limit->empty()) {
    auto v = ParseU64(*limit);
    if (!v || *v < 1 || *v > 100) {
      return MakeError(ErrorCode::kInvalidArgument, "limit: must be 1..100");
    }
    p.limit = static_cast<size_t>(*v);
  }
  return p;
}

nlohmann::json GroupJson(const groups::Group& g) {
  return nlohmann::json{{"id", g.ref.Id()},
                        {"slug", g.ref.slug},
                        {"domain", g.ref.domain},
                        {"stream", g.ref.Stream()},
                        {"name", g.name},
                        {"description", g.description},
                        {"tags", g.tags},
                        {"visibility", groups::VisibilityName(g.visibility)},
                        {"join_policy", groups::JoinPolicyName(g.join_policy)},
                        {"status", groups::GroupStatusName(g.status)},
                        {"created_by", g.created_by},
                        {"created_at", g.created_at},
                        {"updated_at", g.updated_at},
                        {"head", g.head},
                        {"member_count", g.member_count},
                        {"owned", g.owned}};
}

nlohmann::json ThreadJson(const groups::Thread& t) {
  return nlohmann::json{{"id", t.id},
                        {"title", t.title},
                        {"author", t.author},
                        {"created_at", t.created_at},
                        {"last_post_at", t.last_post_at},
                        {"reply_count", t.reply_count},
                        {"pinned", t.pinned},
                        {"locked", t.locked},
                        {"deleted", t.deleted}};
}

nlohmann::json PostJson(const groups::Post& p) {
  nlohmann::json j{{"id", p.id},
                   {"thread", p.thread_id},
                   {"author", p.author},
                   {"body", p.body},
                   {"body_html", p.deleted ? std::string() : groups::RenderMarkdown(p.body)},
                   {"created_at", p.created_at},
                   {"edited_at", nullptr},
                   {"deleted", p.deleted}};
  if (p.edited_at) {
    j["edited_at"] = *p.edited_at;
    j["edited_by"] = p.edited_by;
  }
  return j;
}

nlohmann::json VersionJson(const groups::DocumentVersion& v) {
  return nlohmann::json{
      {"version", v.version},       {"sha256", v.sha256},     {"size", v.size},
      {"media_type", v.media_type}, {"filename", v.filename}, {"author", v.author},
      {"created_at", v.created_at}};
}

nlohmann::json DocumentJson(const groups::Document& d) {
  return nlohmann::json{{"id", d.id},
                        {"title", d.title},
                        {"description", d.description},
                        {"tags", d.tags},
                        {"author", d.author},
                        {"created_at", d.created_at},
                        {"updated_at", d.updated_at},
                        {"deleted", d.deleted},
                        {"current", VersionJson(d.current)}};
}

nlohmann::json OutboxJson(const federation::OutboxEntry& e) {
  nlohmann::json j{{"command_id", e.command_id},
                   {"stream", e.stream},
                   {"owner", e.owner},
                   {"actor", e.actor},
                   {"type", e.type},
                   {"data", e.data},
                   {"state", e.state},
                   {"attempts", e.attempts},
                   {"last_error", e.last_error},
                   {"seq", nullptr},
                   {"error", e.error},
                   {"created_at", e.created_at},
                   {"updated_at", e.updated_at}};
  if (e.seq) j["seq"] = *e.seq;
  return j;
}

std::string SanitiseMediaType(std::string_view media_type) {
  constexpr std::string_view kDefault = "application/octet-stream";
  std::string_view main = media_type.substr(0, media_type.find(';'));
  while (!main.empty() && (main.front() == ' ' || main.front() == '\t')) main.remove_prefix(1);
  while (!main.empty() && (main.back() == ' ' || main.back() == '\t')) main.remove_suffix(1);
  size_t slash = main.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == main.size()) {
    return std::string(kDefault);
  }
  std::string out;
  for (size_t i = 0; i < main.size(); ++i) {
    char c = main[i];
    if (i != slash && !IsTokenChar(c)) return std::string(kDefault);
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  // Keep a charset parameter (text files), if it is a plain token.
  if (auto semi = media_type.find(';'); semi != std::string_view::npos) {
    std::string params(media_type.substr(semi + 1));
    std::string lower;
    for (char c : params) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (auto at = lower.find("charset="); at != std::string::npos) {
      std::string cs;
      for (size_t i = at + 8; i < lower.size() && IsTokenChar(lower[i]); ++i) cs += lower[i];
      if (!cs.empty() && cs.size() <= 40) out += "; charset=" + cs;
    }
  }
  if (out.size() > groups::kMaxMediaType) return std::string(kDefault);
  return out;
}

std::string AttachmentDisposition(std::string_view filename) {
  std::string ascii;
  std::string encoded;
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : filename) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '%' && c != ';') {
      ascii += static_cast<char>(c);
    } else {
      ascii += '_';
    }
    if (std::isalnum(c) ||
        std::string_view("!#$&+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos) {
      encoded += static_cast<char>(c);
    } else {
      encoded += '%';
      encoded += kHex[c >> 4];
      encoded += kHex[c & 15];
    }
  }
  if (ascii.empty()) ascii = "file";
  return "attachment; filename=\"" + ascii + "\"; filename*=UTF-8''" + encoded;
}

RangeResult ParseRange(std::string_view header, uint64_t size) {
  RangeResult full;
  constexpr std::string_view kUnit = "bytes=";
  if (header.size() <= kUnit.size() || header.substr(0, kUnit.size()) != kUnit) return full;
  std::string_view spec = header.substr(kUnit.size());
  if (spec.find(',') != std::string_view::npos) return full;  // several ranges: send it all
  while (!spec.empty() && spec.front() == ' ') spec.remove_prefix(1);
  while (!spec.empty() && spec.back() == ' ') spec.remove_suffix(1);
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return full;
  std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
  RangeResult r;
  r.kind = RangeResult::Kind::kPartial;
  if (a.empty()) {  // suffix: the last N bytes
    auto n = ParseU64(b);
    if (!n) return full;
    if (*n == 0 || size == 0) return RangeResult{RangeResult::Kind::kUnsatisfiable};
    r.first = *n >= size ? 0 : size - *n;
    r.last = size - 1;
    return r;
  }
  auto first = ParseU64(a);
  if (!first) return full;
  std::optional<uint64_t> last;
  if (!b.empty()) {
    last = ParseU64(b);
    if (!last || *last < *first) return full;
  }
  if (*first >= size) return RangeResult{RangeResult::Kind::kUnsatisfiable};
  r.first = *first;
  r.last = last ? std::min(*last, size - 1) : size - 1;
  return r;
}

}  // namespace kith::node::api
