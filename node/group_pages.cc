// The members' pages (node/group_pages.h): routes, shared helpers, home, group about,
// members, facilitator tools, my profile, the directory and profile pages.
#include "node/group_pages.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <utility>

#include "identity/oidc_relying_party.h"
#include "node/await.h"
#include "node/web_util.h"

namespace kith::node {
namespace pages {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

constexpr uint64_t kMaxFormBytes = 64 * 1024;
// The people finders and the directory shell look at this many local members at most.
constexpr size_t kMaxScannedMembers = 2000;
constexpr size_t kMaxShownPeople = 50;
// Threads per group the home page looks at for activity and unread counts.
constexpr size_t kHomeThreadsPerGroup = 50;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "thread.created" -> "New thread", for the list of pending commands.
std::string DescribeCommand(std::string_view type) {
  static const std::pair<std::string_view, std::string_view> kNames[] = {
      {groups::event_type::kThreadCreated, "New thread"},
      {groups::event_type::kPostCreated, "Reply"},
      {groups::event_type::kPostEdited, "Edit of a post"},
      {groups::event_type::kPostDeleted, "Deletion of a post"},
      {groups::event_type::kMemberJoined, "Joining the group"},
      {groups::event_type::kMemberRequested, "Request to join"},
      {groups::event_type::kMemberLeft, "Leaving the group"},
      {groups::event_type::kFileAdded, "Document upload"},
      {groups::event_type::kFileVersionAdded, "New version of a document"},
      {groups::event_type::kFileRemoved, "Removal of a document"},
      {groups::event_type::kMemberApproved, "Approval of a join request"},
      {groups::event_type::kMemberDeclined, "Declined join request"},
      {groups::event_type::kMemberInvited, "Invitation"},
      {groups::event_type::kMemberRoleChanged, "Role change"},
      {groups::event_type::kMemberRemoved, "Removal of a member"},
      {groups::event_type::kGroupUpdated, "Settings change"},
      {groups::event_type::kGroupArchived, "Archiving the group"},
      {groups::event_type::kGroupUnarchived, "Unarchiving the group"},
  };
  for (const auto& [t, name] : kNames) {
    if (t == type) return std::string(name);
  }
  return std::string(type);
}

json PendingJson(const federation::OutboxEntry& e) {
  json j{{"what", DescribeCommand(e.type)},
         {"owner", e.owner},
         {"since", FormatTime(e.created_at)},
         {"attempts", e.attempts}};
  if (auto ref = groups::ParseGroupStream(e.stream); ref.ok()) {
    j["group_id"] = ref->Id();
    j["group_path"] = GroupPath(*ref);
  }
  return j;
}

// The member's local display name for an address of this node, or empty.
std::string LocalName(identity::MemberStore* members, std::string_view address,
                      std::string_view domain) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos || address.substr(at + 1) != domain) return "";
  auto m = members->GetByHandle(address.substr(0, at));
  return m.ok() ? m->display_name : "";
}

// Helpers that build values for coroutine bodies: GCC 12 destroys temporaries created in one
// branch of a ?: inside a coroutine twice, so coroutines call these instead.
std::string HostLabel(const groups::Group& g) {
  if (g.owned) return "this node";
  return g.ref.domain;
}

json TimeOrNull(int64_t unix_seconds) {
  if (unix_seconds <= 0) return nullptr;
  return FormatTime(unix_seconds);
}

groups::Profile OwnProfile(const identity::Member& m, const std::string& address,
                           const std::string& domain) {
  groups::Profile p;
  p.address = address;
  p.display_name = m.display_name;
  p.organisation = m.organisation;
  p.job_title = m.job_title;
  p.bio = m.bio;
  p.node = domain;
  p.visibility = "hidden";
  p.local = true;
  return p;
}

json Visibilities(std::string_view selected) {
  json out = json::array();
  for (auto [value, label, hint] :
       {std::tuple{"public", "Public", "Anyone signed in can find and read the group."},
        std::tuple{"restricted", "Restricted",
                   "Anyone can find the group; only members read its content."},
        std::tuple{"private", "Private", "Only members know the group exists."}}) {
    out.push_back(
        {{"value", value}, {"label", label}, {"hint", hint}, {"checked", selected == value}});
  }
  return out;
}

json JoinPolicies(std::string_view selected) {
  json out = json::array();
  for (auto [value, label] : {std::pair{"open", "Anyone can join"},
                              std::pair{"request", "People ask to join and a facilitator approves"},
                              std::pair{"invite", "By invitation only"}}) {
    out.push_back({{"value", value}, {"label", label}, {"checked", selected == value}});
  }
  return out;
}

// The layout's `member` for `who` (HtmlPage finds only members of this node by itself).
json MemberJson(const SignedIn& who) {
  json m{{"handle", who.viewer.member.handle},
         {"display_name", who.viewer.member.display_name},
         {"address", who.viewer.address},
         {"remote", who.remote()}};
  if (who.remote()) m["home_node"] = who.session.home_node;
  return m;
}

}  // namespace

// --- shared helpers ------------------------------------------------------------------------

std::string FormatTime(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (unix_seconds <= 0 || gmtime_r(&t, &tm) == nullptr) return "";
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%e %B %Y at %H:%M UTC", &tm);
  return Trim(std::string_view(buf, n));
}

std::string FormatSize(int64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + (bytes == 1 ? " byte" : " bytes");
  const char* units[] = {"KB", "MB", "GB"};
  double v = static_cast<double>(bytes) / 1024.0;
  int u = 0;
  while (v >= 1024.0 && u < 2) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

std::string GroupPath(const groups::GroupRef& ref, std::string_view suffix) {
  return "/groups/" + ref.Id() + std::string(suffix);
}

void AddFieldError(json& data, std::string_view field, std::string_view text) {
  if (!data.contains("error_summary")) data["error_summary"] = {{"errors", json::array()}};
  data["error_summary"]["errors"].push_back({{"text", text}, {"href", "#" + std::string(field)}});
  if (!data["field_errors"].is_object()) data["field_errors"] = json::object();
  if (!data["field_errors"].contains(field)) data["field_errors"][std::string(field)] = text;
}

bool HasErrors(const json& data) { return data.contains("error_summary"); }

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

bool ContainsNoCase(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) return true;
  return Lower(haystack).find(Lower(needle)) != std::string::npos;
}

std::optional<std::string> NoticeText(std::string_view code) {
  static const std::pair<std::string_view, std::string_view> kNotices[] = {
      {"pending",
       "Your change has been sent to the node that hosts this group. It will appear here when "
       "that node confirms it."},
      {"created", "Your group has been created. You are its owner."},
      {"joined", "You have joined the group."},
      {"requested", "Your request to join has been sent to the group's facilitators."},
      {"left", "You have left the group."},
      {"thread", "Your thread has been posted."},
      {"reply", "Your reply has been posted."},
      {"edited", "The post has been changed."},
      {"deleted", "The post has been deleted."},
      {"pinned", "The thread has been updated."},
      {"uploaded", "The document has been uploaded."},
      {"version", "The new version has been uploaded."},
      {"removed", "The document has been removed."},
      {"approved", "The request has been approved."},
      {"declined", "The request has been declined."},
      {"invited", "The invitation has been sent."},
      {"role", "The member's role has been changed."},
      {"member_removed", "The member has been removed from the group."},
      {"settings", "The group's settings have been saved."},
      {"archived", "The group has been archived. It stays readable."},
      {"unarchived", "The group is active again."},
      {"profile", "Your profile has been saved."},
  };
  for (const auto& [c, text] : kNotices) {
    if (c == code) return std::string(text);
  }
  return std::nullopt;
}

// --- the class ----------------------------------------------------------------------------

GroupPages::GroupPages(const WebContext& web, const ApiContext& api, GroupPagesExtras extras)
    : web_(web), api_ctx_(api), peers_(extras.peers), api_(api) {
  if (extras.store != nullptr) read_markers_ = std::make_unique<ReadMarkers>(*extras.store);
}

void GroupPages::MarkRead(const SignedIn& who, const std::string& stream, int64_t thread_id,
                          int64_t read_at) {
  if (read_markers_ == nullptr) return;
  read_markers_->Mark(who.viewer.address, stream, thread_id, read_at,
                      identity::Done<void>([member = who.viewer.address](Status s) {
                        if (!s.ok()) {
                          spdlog::warn("read marker of {} not saved: {}", member,
                                       s.error().message);
                        }
                      }));
}

std::optional<std::string> GroupPages::PeerBaseUrl(std::string_view domain) const {
  if (peers_ == nullptr) return std::nullopt;
  auto peers = peers_->List();
  if (!peers.ok()) return std::nullopt;
  for (const federation::Peer& p : *peers) {
    if (p.state != federation::PeerState::kActive) continue;
    auto d = identity::DomainOfBaseUrl(p.node_id);
    if (d.ok() && *d == domain) return p.node_id;
  }
  return std::nullopt;
}

void GroupPages::Register(Router& router, const std::shared_ptr<GroupPages>& self) {
  using V = http::verb;
  const RouteOptions form{kMaxFormBytes};
  auto add = [&](V method, std::string_view pattern, auto call, RouteOptions options = {}) {
    router.AddOrDie(
        method, pattern, [self, call](RequestContext& ctx) { return call(*self, ctx); },
        std::move(options));
  };
  using P = GroupPages;
  using C = RequestContext;
  add(V::get, "/", [](P& p, C& ctx) { return p.Home(ctx); });
  add(V::get, "/groups", [](P& p, C& ctx) { return p.GroupList(ctx); });
  add(V::get, "/groups/new", [](P& p, C& ctx) { return p.NewGroupPage(ctx); });
  add(
      V::post, "/groups/new", [](P& p, C& ctx) { return p.CreateGroup(ctx); }, form);
  const std::string g = "/groups/{group}";
  add(V::get, g, [](P& p, C& ctx) { return p.About(ctx); });
  add(
      V::post, g + "/join", [](P& p, C& ctx) { return p.JoinOrLeave(ctx, true); }, form);
  add(
      V::post, g + "/leave", [](P& p, C& ctx) { return p.JoinOrLeave(ctx, false); }, form);
  add(V::get, g + "/members", [](P& p, C& ctx) { return p.Members(ctx); });
  add(V::get, g + "/manage", [](P& p, C& ctx) { return p.Manage(ctx); });
  for (std::string action : {"invite", "settings", "archive", "unarchive"}) {
    add(
        V::post, g + "/manage/" + action,
        [action](P& p, C& ctx) { return p.ManageAction(ctx, action); }, form);
  }
  for (std::string action : {"approve", "decline"}) {
    add(
        V::post, g + "/manage/requests/{member}/" + action,
        [action](P& p, C& ctx) { return p.ManageAction(ctx, action); }, form);
  }
  for (std::string action : {"role", "remove"}) {
    add(
        V::post, g + "/manage/members/{member}/" + action,
        [action](P& p, C& ctx) { return p.ManageAction(ctx, action); }, form);
  }
  // Forum.
  add(V::get, g + "/forum", [](P& p, C& ctx) { return p.Forum(ctx); });
  add(
      V::post, g + "/forum", [](P& p, C& ctx) { return p.NewThread(ctx); }, form);
  add(V::get, g + "/forum/{thread}", [](P& p, C& ctx) { return p.Thread(ctx); });
  add(
      V::post, g + "/forum/{thread}/reply", [](P& p, C& ctx) { return p.Reply(ctx); }, form);
  add(
      V::post, g + "/forum/{thread}/pin", [](P& p, C& ctx) { return p.PinOrLock(ctx, true); },
      form);
  add(
      V::post, g + "/forum/{thread}/lock", [](P& p, C& ctx) { return p.PinOrLock(ctx, false); },
      form);
  add(V::get, g + "/posts/{post}/edit", [](P& p, C& ctx) { return p.EditPostPage(ctx); });
  add(
      V::post, g + "/posts/{post}/edit", [](P& p, C& ctx) { return p.EditPost(ctx); }, form);
  add(
      V::post, g + "/posts/{post}/delete", [](P& p, C& ctx) { return p.DeletePost(ctx); }, form);
  // Library.
  RouteOptions upload;
  upload.max_body_bytes = static_cast<uint64_t>(self->api_ctx_.max_upload_bytes) + 1024 * 1024;
  upload.body_sink = [self](const RequestContext& ctx) { return self->MakeUploadSink(ctx); };
  add(V::get, g + "/library", [](P& p, C& ctx) { return p.Library(ctx); });
  add(
      V::post, g + "/library", [](P& p, C& ctx) { return p.Upload(ctx, false); }, upload);
  add(V::get, g + "/library/{doc}", [](P& p, C& ctx) { return p.DocumentPage(ctx); });
  add(
      V::post, g + "/library/{doc}/versions", [](P& p, C& ctx) { return p.Upload(ctx, true); },
      upload);
  add(
      V::post, g + "/library/{doc}/remove", [](P& p, C& ctx) { return p.RemoveDocument(ctx); },
      form);
  // Profile and directory.
  add(V::get, "/profile", [](P& p, C& ctx) { return p.Profile(ctx); });
  add(
      V::post, "/profile", [](P& p, C& ctx) { return p.SaveProfile(ctx); }, form);
  add(V::get, "/directory", [](P& p, C& ctx) { return p.Directory(ctx); });
  add(V::get, "/people/{address}", [](P& p, C& ctx) { return p.Person(ctx); });
}

std::optional<identity::Session> AnySession(const WebContext& web, const RequestContext& ctx) {
  auto token = GetCookie(ctx.request, kSessionCookie);
  if (!token || token->empty() || web.sessions == nullptr) return std::nullopt;
  auto session = web.sessions->AuthenticateAny(*token);
  if (!session.ok()) return std::nullopt;
  return std::move(session).value();
}

std::variant<SignedIn, Response> GroupPages::RequireMember(const RequestContext& ctx) {
  // Members of this node and remote members (signed in through their home node) alike.
  auto session = AnySession(web_, ctx);
  if (!session) {
    std::string here(ctx.path);
    if (!ctx.query.empty()) here += "?" + std::string(ctx.query);
    if (!IsLocalPath(here) || ctx.request.method() != http::verb::get) here = "/";
    return SeeOther("/sign-in?next=" + FormEncode(here));
  }
  auto viewer = api::SessionViewer(api_ctx_, *session);
  if (!viewer.ok()) return SeeOther("/sign-in");
  SignedIn who{std::move(session).value(), std::move(viewer).value()};
  return who;
}

std::variant<GroupPages::GroupPageCall, Response> GroupPages::BeginGroupPage(
    const RequestContext& ctx, bool content, std::string_view tab, bool facilitator) {
  auto who_or = RequireMember(ctx);
  if (auto* res = std::get_if<Response>(&who_or)) return std::move(*res);
  SignedIn& who = std::get<SignedIn>(who_or);
  auto view_or = LoadGroup(ctx, who, content, tab);
  if (auto* res = std::get_if<Response>(&view_or)) return std::move(*res);
  GroupView& view = std::get<GroupView>(view_or);
  if (facilitator && (!view.role || *view.role < groups::Role::kFacilitator)) {
    return Failure(&who, MakeError(ErrorCode::kPermissionDenied,
                                   "only the group's facilitators can use its tools"));
  }
  return GroupPageCall{std::move(who), std::move(view)};
}

std::variant<GroupPages::GroupFormCall, Response> GroupPages::BeginGroupForm(
    const RequestContext& ctx) {
  auto who_or = RequireMember(ctx);
  if (auto* res = std::get_if<Response>(&who_or)) return std::move(*res);
  SignedIn& who = std::get<SignedIn>(who_or);
  auto form_or = CheckedForm(ctx, who);
  if (auto* res = std::get_if<Response>(&form_or)) return std::move(*res);
  auto ref = api::GroupParam(ctx);
  if (!ref.ok()) {
    return Failure(&who, MakeError(ErrorCode::kNotFound, "there is no such group"));
  }
  return GroupFormCall{std::move(who), std::move(std::get<identity::OidcParams>(form_or)),
                       std::move(ref).value()};
}

std::variant<identity::OidcParams, Response> GroupPages::CheckedForm(const RequestContext& ctx,
                                                                     const SignedIn& who) {
  auto form = RequestForm(ctx);
  if (!form.ok() || !identity::SessionStore::CheckCsrf(who.session, form->Get("csrf_token"))) {
    return ErrorPage(web_, http::status::forbidden, "This form has expired",
                     "The form was out of date or not sent from this site, so nothing was "
                     "changed. Go back, reload the page and try again.",
                     &who.session);
  }
  return std::move(form).value();
}

Response GroupPages::Page(const SignedIn& who, http::status status, std::string_view name,
                          json data) {
  if (!data.is_object()) data = json::object();
  data["member"] = MemberJson(who);
  return HtmlPage(web_, status, name, std::move(data), &who.session);
}

Response GroupPages::Failure(const SignedIn* who, const Error& error) {
  const auto status = static_cast<http::status>(HttpStatusFor(error.code));
  std::string title = "Sorry, there is a problem";
  std::string message = error.message;
  switch (error.code) {
    case ErrorCode::kNotFound:
      title = "Page not found";
      break;
    case ErrorCode::kPermissionDenied:
      title = "You cannot do that";
      break;
    case ErrorCode::kConflict:
      title = "That cannot be done now";
      break;
    case ErrorCode::kInvalidArgument:
      title = "There is a problem with what you sent";
      break;
    default:
      spdlog::error("page: {}", error.message);
      message = "The page cannot be shown right now. Try again in a few minutes.";
  }
  if (!message.empty()) {
    message[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(message[0])));
    if (message.back() != '.') message += '.';
  }
  if (who == nullptr) return ErrorPage(web_, status, title, message);
  return Page(*who, status, "error",
              json{{"title", title}, {"message", message}, {"page_title", title}});
}

groups::Command GroupPages::MakeCommand(const groups::GroupRef& ref, std::string_view type,
                                        const SignedIn& who, json data) const {
  return api::MakeCommand(ref, type, who.viewer, std::move(data));
}

std::variant<GroupPages::GroupView, Response> GroupPages::LoadGroup(const RequestContext& ctx,
                                                                    const SignedIn& who,
                                                                    bool content,
                                                                    std::string_view tab) {
  auto ref = api::GroupParam(ctx);
  if (!ref.ok()) return Failure(&who, MakeError(ErrorCode::kNotFound, "there is no such group"));
  auto group = api_.ReadableGroup(*ref, who.viewer, content);
  if (!group.ok()) {
    // A restricted group's content: show the about page, which explains how to join.
    if (group.error().code == ErrorCode::kPermissionDenied) {
      return SeeOther(GroupPath(*ref) + "?notice=members_only");
    }
    return Failure(&who, group.error());
  }
  auto role = api_ctx_.groups->RoleOf(ref->Stream(), who.viewer.address);
  if (!role.ok()) return Failure(&who, role.error());
  GroupView view{std::move(group).value(), *role, json::object()};
  const groups::Group& gr = view.group;
  const bool facilitator = view.role && *view.role >= groups::Role::kFacilitator;
  const bool archived = gr.status == groups::GroupStatus::kArchived;
  const std::string base = GroupPath(gr.ref);
  json g{{"id", gr.ref.Id()},
         {"path", base},
         {"name", gr.name},
         {"description", gr.description},
         {"tags", gr.tags},
         {"visibility", groups::VisibilityName(gr.visibility)},
         {"join_policy", groups::JoinPolicyName(gr.join_policy)},
         {"status", groups::GroupStatusName(gr.status)},
         {"archived", archived},
         {"network", gr.network.empty() ? json(nullptr) : json(gr.network)},
         {"owned", gr.owned},
         {"host", gr.ref.domain},
         {"member_count", gr.member_count},
         {"created", FormatTime(gr.created_at)},
         {"is_member", view.role.has_value()},
         {"can_write", view.role.has_value() && !archived},
         {"is_facilitator", facilitator},
         {"role", view.role ? json(groups::RoleName(*view.role)) : json(nullptr)}};
  json tabs = json::array();
  auto add_tab = [&](std::string_view id, std::string_view label, std::string path) {
    tabs.push_back({{"label", label}, {"href", std::move(path)}, {"current", id == tab}});
  };
  add_tab("about", "About", base);
  add_tab("forum", "Forum", base + "/forum");
  add_tab("library", "Library", base + "/library");
  add_tab("members", "Members", base + "/members");
  if (facilitator) add_tab("manage", "Facilitator tools", base + "/manage");
  view.data["group"] = std::move(g);
  view.data["tabs"] = std::move(tabs);
  if (auto code = ctx.QueryParam("notice")) {
    if (auto text = NoticeText(*code)) view.data["notice"] = *text;
    if (*code == "members_only") {
      view.data["notice_info"] =
          "Only members of this group can read its forum, library and "
          "member list.";
    }
    if (*code == "pending") view.data["notice_pending"] = true;
  }
  // This member's commands still waiting for the group's owner.
  if (!gr.owned) {
    auto outbox = api_ctx_.replicator->Outbox(who.viewer.address, true);
    if (outbox.ok()) {
      json pending = json::array();
      for (const auto& e : *outbox) {
        if (e.stream == gr.ref.Stream()) pending.push_back(PendingJson(e));
      }
      if (!pending.empty()) view.data["pending"] = std::move(pending);
    }
  }
  return view;
}

asio::awaitable<Response> GroupPages::SubmitThenRedirect(const SignedIn& who,
                                                         groups::Command command, std::string back,
                                                         std::string notice) {
  if (Status valid = groups::ValidateEventData(command.type, command.data); !valid.ok()) {
    co_return Failure(&who, valid.error());
  }
  auto result = co_await api_ctx_.replicator->Submit(std::move(command));
  if (!result.ok()) co_return Failure(&who, result.error());
  const bool pending = result->state == federation::SubmitResult::State::kPending;
  back += back.find('?') == std::string::npos ? "?" : "&";
  if (pending) notice = "pending";
  back += "notice=" + notice;
  co_return SeeOther(back);
}

// --- home --------------------------------------------------------------------------------

asio::awaitable<Response> GroupPages::Home(RequestContext& ctx) {
  auto session = AnySession(web_, ctx);
  if (!session) {
    co_return HtmlPage(web_, http::status::ok, "home",
                       {{"page_title", web_.config->node.name}, {"signed_out", true}});
  }
  auto who_or = RequireMember(ctx);
  if (auto* res = std::get_if<Response>(&who_or)) co_return std::move(*res);
  const SignedIn& who = std::get<SignedIn>(who_or);
  auto mine = api_ctx_.groups->GroupsOf(who.viewer.address);
  if (!mine.ok()) co_return Failure(&who, mine.error());
  json groups_out = json::array();
  json activity = json::array();
  for (const groups::Group& g : *mine) {
    json item{{"name", g.name},
              {"path", GroupPath(g.ref)},
              {"id", g.ref.Id()},
              {"host", HostLabel(g)},
              {"archived", g.status == groups::GroupStatus::kArchived},
              {"member_count", g.member_count}};
    // The most active threads (pinned ones come first, so look at a few more than shown).
    auto threads = api_ctx_.groups->Threads(g.ref.Stream(), 0, kHomeThreadsPerGroup);
    std::map<int64_t, int64_t> markers;
    if (read_markers_ != nullptr) {
      if (auto got = read_markers_->Get(who.viewer.address, g.ref.Stream()); got.ok()) {
        markers = std::move(got).value();
      }
    }
    int64_t latest = 0;
    int64_t unread = 0;
    if (threads.ok()) {
      for (const groups::Thread& t : threads->items) {
        if (t.deleted) continue;
        latest = std::max(latest, t.last_post_at);
        auto marker = markers.find(t.id);
        const bool is_unread = marker == markers.end() ? t.author != who.viewer.address
                                                       : t.last_post_at > marker->second;
        unread += is_unread ? 1 : 0;
        activity.push_back({{"title", t.title},
                            {"path", GroupPath(g.ref, "/forum/" + std::to_string(t.id))},
                            {"group", g.name},
                            {"at", t.last_post_at},
                            {"when", FormatTime(t.last_post_at)},
                            {"unread", is_unread && read_markers_ != nullptr},
                            {"replies", t.reply_count}});
      }
    }
    item["last_activity"] = TimeOrNull(latest);
    item["unread"] = unread;
    if (read_markers_ == nullptr) item["unread"] = nullptr;
    groups_out.push_back(std::move(item));
  }
  std::sort(activity.begin(), activity.end(), [](const json& a, const json& b) {
    return a["at"].get<int64_t>() > b["at"].get<int64_t>();
  });
  if (activity.size() > 10) activity.erase(activity.begin() + 10, activity.end());
  json pending = json::array();
  if (auto outbox = api_ctx_.replicator->Outbox(who.viewer.address, true); outbox.ok()) {
    for (const auto& e : *outbox) pending.push_back(PendingJson(e));
  }
  json data{
      {"page_title", "Home"},
      {"display_name", who.viewer.member.display_name.empty() ? who.viewer.member.handle
                                                              : who.viewer.member.display_name},
      {"address", who.viewer.address},
      {"remote", who.remote()},
      {"my_groups", std::move(groups_out)},
      {"activity", std::move(activity)},
      {"has_pending", !pending.empty()},
      {"pending", std::move(pending)}};
  co_return Page(who, http::status::ok, "home", std::move(data));
}

asio::awaitable<Response> GroupPages::GroupList(RequestContext& ctx) {
  auto who_or = RequireMember(ctx);
  if (auto* res = std::get_if<Response>(&who_or)) co_return std::move(*res);
  const SignedIn& who = std::get<SignedIn>(who_or);
  const std::string q = Trim(ctx.QueryParam("q").value_or(""));
  auto list = api_ctx_.groups->ListGroups(who.viewer.address);
  if (!list.ok()) co_return Failure(&who, list.error());
  json out = json::array();
  for (const groups::Group& g : *list) {
    if (!ContainsNoCase(g.name, q) && !ContainsNoCase(g.description, q)) continue;
    out.push_back({{"name", g.name},
                   {"path", GroupPath(g.ref)},
                   {"id", g.ref.Id()},
                   {"description", g.description},
                   {"visibility", groups::VisibilityName(g.visibility)},
                   {"host", HostLabel(g)},
                   {"archived", g.status == groups::GroupStatus::kArchived},
                   {"member_count", g.member_count}});
  }
  json data{{"page_title", "Groups"},
            {"q", q},
            {"remote", who.remote()},
            {"groups", out},
            {"count", out.size()}};
  co_return Page(who, http::status::ok, "groups", std::move(data));
}

// --- create a group ----------------------------------------------------------------------

namespace {

// The form field an error of groups::ValidateEventData / ValidateSlug ("field: problem") is
// about, as the new-group and settings forms name them.
std::string SettingsField(std::string_view message) {
  const std::string field(message.substr(0, message.find(':')));
  if (field == "visibility") return "visibility-public";
  if (field == "join_policy") return "join_policy-open";
  if (field == "slug" || field == "description" || field == "tags" || field == "network")
    return field;
  return "name";
}

// The text shown for such an error: "Name must be ..." from "name: must be ...".
std::string SettingsMessage(std::string_view message) {
  static const std::pair<std::string_view, std::string_view> kLabels[] = {
      {"name", "The name"},
      {"slug", "The short name"},
      {"description", "The description"},
      {"tags", "Tags"},
      {"visibility", "Who can see the group"},
      {"join_policy", "Who can join"},
      {"network", "The network"}};
  const size_t colon = message.find(": ");
  if (colon == std::string_view::npos) return std::string(message);
  const std::string_view field = message.substr(0, colon);
  for (const auto& [f, label] : kLabels) {
    if (f == field) return std::string(label) + " " + std::string(message.substr(colon + 2));
  }
  return std::string(message);
}

// A node hosts the groups of its own members (groups/decide.cc): a remote member creates
// theirs at home.
Error RemoteCannotCreate(const SignedIn& who) {
  return MakeError(ErrorCode::kPermissionDenied,
                   "groups are created by the members of the node that hosts them: create "
                   "yours at your own organisation's node, " +
                       who.session.home_node + "/groups/new");
}

json NewGroupData(const identity::OidcParams* form) {
  json settings{{"name", ""},
                {"slug", ""},
                {"description", ""},
                {"tags", ""},
                {"visibilities", Visibilities("public")},
                {"policies", JoinPolicies("open")},
                {"network", ""}};
  if (form != nullptr) {
    settings = {{"name", form->Get("name")},
                {"slug", form->Get("slug")},
                {"description", form->Get("description")},
                {"tags", form->Get("tags")},
                {"visibilities", Visibilities(form->Get("visibility"))},
                {"policies", JoinPolicies(form->Get("join_policy"))},
                {"network", form->Get("network")}};
  }
  return json{{"page_title", "Create a group"}, {"new_group", true}, {"settings", settings}};
}

}  // namespace

asio::awaitable<Response> GroupPages::NewGroupPage(RequestContext& ctx) {
  auto who_or = RequireMember(ctx);
  if (auto* res = std::get_if<Response>(&who_or)) co_return std::move(*res);
  const SignedIn& who = std::get<SignedIn>(who_or);
  if (who.remote()) co_return Failure(&who, RemoteCannotCreate(who));
  co_return Page(who, http::status::ok, "group-new", NewGroupData(nullptr));
}

asio::awaitable<Response> GroupPages::CreateGroup(RequestContext& ctx) {
  auto who_or = RequireMember(ctx);
  if (auto* res = std::get_if<Response>(&who_or)) co_return std::move(*res);
  const SignedIn& who = std::get<SignedIn>(who_or);
  auto form_or = CheckedForm(ctx, who);
  if (auto* res = std::get_if<Response>(&form_or)) co_return std::move(*res);
  const identity::OidcParams& form = std::get<identity::OidcParams>(form_or);
  if (who.remote()) co_return Failure(&who, RemoteCannotCreate(who));
  json data = NewGroupData(&form);
  api::NewGroup group;
  group.name = Trim(form.Get("name"));
  group.slug = Trim(form.Get("slug"));
  group.description = form.Get("description");
  group.tags = api::SplitTags(form.Get("tags"));
  group.visibility = form.Get("visibility");
  group.join_policy = form.Get("join_policy");
  if (group.name.empty()) AddFieldError(data, "name", "Enter the group's name");
  if (group.slug.empty()) group.slug = api::SlugFromName(group.name);
  if (group.slug.empty() && !group.name.empty()) {
    AddFieldError(data, "slug",
                  "Enter a short name using letters a to z, digits and hyphens, like "
                  "change-managers");
  }
  if (group.visibility.empty()) {
    AddFieldError(data, "visibility-public", "Select who can see the group");
  }
  if (group.join_policy.empty()) AddFieldError(data, "join_policy-open", "Select who can join");
  const std::string network = Trim(form.Get("network"));
  if (!network.empty()) {
    Status checked =
        api_ctx_.replicator->CheckGroupNetwork(network, web_.config->AllowHttpEntities());
    if (!checked.ok()) {
      AddFieldError(data, "network", SettingsMessage(checked.error().message));
    }
  }
  std::optional<groups::Command> command;
  if (!HasErrors(data)) {
    // The same command and checks as POST /api/v1/groups.
    auto made = api::NewGroupCommand(api_ctx_, who.viewer, group);
    if (made.ok()) {
      command = std::move(made).value();
      if (!network.empty()) command->data["network"] = network;
    } else {
      AddFieldError(data, SettingsField(made.error().message),
                    SettingsMessage(made.error().message));
    }
  }
  if (HasErrors(data)) {
    data["page_title"] = "Error: Create a group";
    co_return Page(who, http::status::bad_request, "group-new", std::move(data));
  }
  groups::GroupRef ref{group.slug, web_.config->node.domain()};
  auto result = co_await api_ctx_.replicator->Submit(std::move(*command));
  if (!result.ok()) {
    if (result.error().code != ErrorCode::kConflict) co_return Failure(&who, result.error());
    AddFieldError(data, "slug",
                  "There is already a group called " + ref.Id() + ": choose another short name");
    data["page_title"] = "Error: Create a group";
    co_return Page(who, http::status::bad_request, "group-new", std::move(data));
  }
  co_return SeeOther(GroupPath(ref) + "?notice=created");
}

// --- about, join, leave ------------------------------------------------------------------

asio::awaitable<Response> GroupPages::About(RequestContext& ctx) {
  auto call_or = BeginGroupPage(ctx, false, "about");
  if (auto* res = std::get_if<Response>(&call_or)) co_return std::move(*res);
  GroupPageCall& call = std::get<GroupPageCall>(call_or);
  const SignedIn& who = call.who;
  GroupView& view = call.view;
  json& data = view.data;
  const groups::Group& g = view.group;
  data["page_title"] = g.name;
  if (!view.role && g.status == groups::GroupStatus::kActive) {
    const std::string stream = g.ref.Stream();
    bool invited = false, requested = false;
    if (auto invites = api_ctx_.groups->Invites(stream); invites.ok()) {
      for (const auto& i : *invites) invited = invited || i.member == who.viewer.address;
    }
    if (auto requests = api_ctx_.groups->Requests(stream); requests.ok()) {
      for (const auto& r : *requests) requested = requested || r.member == who.viewer.address;
    }
    if (requested) {
      data["requested"] = true;
    } else if (invited || g.join_policy == groups::JoinPolicy::kOpen) {
      data["can_join"] = true;
      data["invited"] = invited;
    } else if (g.join_policy == groups::JoinPolicy::kRequest) {
      data["can_request"] = true;
    } else {
      data["invite_only"] = true;
    }
  }
  co_return Page(who, http::status::ok, "group", std::move(data));
}

asio::awaitable<Response> GroupPages::JoinOrLeave(RequestContext& ctx, bool join) {
  auto call_or = BeginGroupForm(ctx);
  if (auto* res = std::get_if<Response>(&call_or)) co_return std::move(*res);
  const GroupFormCall& call = std::get<GroupFormCall>(call_or);
  const SignedIn& who = call.who;
  const identity::OidcParams& form = call.form;
  const groups::GroupRef& ref = call.ref;
  const std::string back = GroupPath(ref);
  if (!join) {
    groups::Command command = MakeCommand(ref, groups::event_type::kMemberLeft, who,
                                          json{{"member", who.viewer.address}});
    co_return co_await SubmitThenRedirect(who, std::move(command), back, std::string("left"));
  }
  // The same choice as the API's join: the policy decides between joining and asking.
  bool request = form.Get("request") == "1";
  if (auto group = api_ctx_.groups->GetGroup(ref.Stream()); group.ok()) {
    request = false;
    if (group->join_policy == groups::JoinPolicy::kRequest) {
      request = true;
      if (auto invites = api_ctx_.groups->Invites(ref.Stream()); invites.ok()) {
        for (const auto& i : *invites) request = request && i.member != who.viewer.address;
      }
    }
  }
  if (request) {
    groups::Command command =
        MakeCommand(ref, groups::event_type::kMemberRequested, who,
                    json{{"member", who.viewer.address}, {"message", Trim(form.Get("message"))}});
    co_return co_await SubmitThenRedirect(who, std::move(command), back, std::string("requested"));
  }
  groups::Command command = MakeCommand(ref, groups::event_type::kMemberJoined, who,
                                        json{{"member", who.viewer.address}});
  co_return co_await SubmitThenRedirect(who, std::move(command), back, std::string("joined"));
}

// --- members -----------------------------------------------------------------------------

asio::awaitable<Response> GroupPages::Members(RequestContext& ctx) {
  auto call_or = BeginGroupPage(ctx, true, "members");
  if (auto* res = std::get_if<Response>(&call_or)) co_return std::move(*res);
  GroupPageCall& call = std::get<GroupPageCall>(call_or);
  const SignedIn& who = call.who;
  GroupView& view = call.view;
  auto members = api_ctx_.groups->Members(view.group.ref.Stream());
  if (!members.ok()) co_return Failure(&who, members.error());
  const std::string q = Trim(ctx.QueryParam("q").value_or(""));
  const std::string domain = web_.config->node.domain();
  json out = json::array();
  for (const groups::Membership& m : *members) {
    const std::string name = LocalName(web_.members, m.member, domain);
    if (!ContainsNoCase(m.member, q) && !ContainsNoCase(name, q)) continue;
    out.push_back({{"address", m.member},
                   {"name", name.empty() ? m.member : name},
                   {"profile_path", "/people/" + m.member},
                   {"role", groups::RoleName(m.role)},
                   {"joined", FormatTime(m.joined_at)}});
  }
  json& data = view.data;
  data["page_title"] = "Members – " + view.group.name;
  data["q"] = q;
  data["count"] = out.size();
  data["total"] = members->size();
  data["members"] = std::move(out);
  co_return Page(who, http::status::ok, "group-members", std::move(data));
}

// --- facilitator tools -------------------------------------------------------------------

namespace {

// The facilitator tools page, with `extra` (form errors, what was typed) merged into its data.
Response ManagePage(GroupPages& p, const RequestContext& ctx, const SignedIn& who, json extra,
                    http::status status) {
  auto view_or = p.LoadGroup(ctx, who, true, "manage");
  if (auto* res = std::get_if<Response>(&view_or)) return std::move(*res);
  GroupPages::GroupView& view = std::get<GroupPages::GroupView>(view_or);
  if (!view.role || *view.role < groups::Role::kFacilitator) {
    return p.Failure(&who, MakeError(ErrorCode::kPermissionDenied,
                                     "only the group's facilitators can use its tools"));
  }
  const groups::Group& g = view.group;
  const std::string stream = g.ref.Stream();
  const std::string base = GroupPath(g.ref);
  const std::string domain = p.web().config->node.domain();
  groups::GroupStore* store = p.api_context().groups;
  identity::MemberStore* people = p.web().members;
  json requests = json::array();
  if (auto list = store->Requests(stream); list.ok()) {
    for (const auto& r : *list) {
      const std::string name = LocalName(people, r.member, domain);
      requests.push_back({{"address", r.member},
                          {"name", name.empty() ? r.member : name},
                          {"message", r.message},
                          {"when", FormatTime(r.requested_at)},
                          {"approve_path", base + "/manage/requests/" + r.member + "/approve"},
                          {"decline_path", base + "/manage/requests/" + r.member + "/decline"}});
    }
  }
  json invites = json::array();
  if (auto list = store->Invites(stream); list.ok()) {
    for (const auto& i : *list) {
      invites.push_back({{"address", i.member},
                         {"invited_by", i.invited_by},
                         {"when", FormatTime(i.invited_at)}});
    }
  }
  json members = json::array();
  if (auto list = store->Members(stream); list.ok()) {
    int n = 0;
    for (const auto& m : *list) {
      ++n;
      const std::string name = LocalName(people, m.member, domain);
      json roles = json::array();
      for (groups::Role r :
           {groups::Role::kMember, groups::Role::kFacilitator, groups::Role::kOwner}) {
        roles.push_back({{"value", groups::RoleName(r)}, {"selected", r == m.role}});
      }
      members.push_back({{"address", m.member},
                         {"name", name.empty() ? m.member : name},
                         {"n", n},
                         {"role", groups::RoleName(m.role)},
                         {"roles", std::move(roles)},
                         {"is_me", m.member == who.viewer.address},
                         {"role_path", base + "/manage/members/" + m.member + "/role"},
                         {"remove_path", base + "/manage/members/" + m.member + "/remove"}});
    }
  }
  std::string tags;
  for (const auto& t : g.tags) tags += (tags.empty() ? "" : ", ") + t;
  json& data = view.data;
  data["page_title"] =
      (HasErrors(extra) ? "Error: Facilitator tools – " : "Facilitator tools – ") + g.name;
  data["requests"] = std::move(requests);
  data["invites"] = std::move(invites);
  data["members"] = std::move(members);
  data["settings"] = {{"name", g.name},
                      {"description", g.description},
                      {"tags", tags},
                      {"visibilities", Visibilities(groups::VisibilityName(g.visibility))},
                      {"policies", JoinPolicies(groups::JoinPolicyName(g.join_policy))},
                      {"network", g.network}};
  for (auto& [k, v] : extra.items()) {
    if (k == "settings") {
      for (auto& [sk, sv] : v.items()) data["settings"][sk] = sv;
    } else {
      data[k] = v;
    }
  }
  return p.Page(who, status, "group-manage", std::move(data));
}

}  // namespace

asio::awaitable<Response> GroupPages::Manage(RequestContext& ctx) {
  auto who_or = RequireMember(ctx);
  if (auto* res = std::get_if<Response>(&who_or)) co_return std::move(*res);
  co_return ManagePage(*this, ctx, std::get<SignedIn>(who_or), json::object(), http::status::ok);
}

asio::awaitable<Response> GroupPages::ManageAction(RequestContext& ctx, std::string action) {
  auto call_or = BeginGroupForm(ctx);
  if (auto* res = std::get_if<Response>(&call_or)) co_return std::move(*res);
  const GroupFormCall& call = std::get<GroupFormCall>(call_or);
  const SignedIn& who = call.who;
  const identity::OidcParams& form = call.form;
  const groups::GroupRef& ref = call.ref;
  const std::string back = GroupPath(ref, "/manage");
  const std::string member(ctx.Param("member"));
  namespace et = groups::event_type;
  if (action == "approve" || action == "decline") {
    groups::Command command =
        MakeCommand(ref, action == "approve" ? et::kMemberApproved : et::kMemberDeclined, who,
                    json{{"member", member}});
    co_return co_await SubmitThenRedirect(
        who, std::move(command), back,
        std::string(action == "approve" ? std::string_view("approved")
                                        : std::string_view("declined")));
  }
  if (action == "role") {
    groups::Command command = MakeCommand(ref, et::kMemberRoleChanged, who,
                                          json{{"member", member}, {"role", form.Get("role")}});
    co_return co_await SubmitThenRedirect(who, std::move(command), back, std::string("role"));
  }
  if (action == "remove") {
    groups::Command command = MakeCommand(ref, et::kMemberRemoved, who, json{{"member", member}});
    co_return co_await SubmitThenRedirect(who, std::move(command), back,
                                          std::string("member_removed"));
  }
  if (action == "archive" || action == "unarchive") {
    groups::Command command = MakeCommand(
        ref, action == "archive" ? et::kGroupArchived : et::kGroupUnarchived, who, json::object());
    co_return co_await SubmitThenRedirect(
        who, std::move(command), back,
        std::string(action == "archive" ? std::string_view("archived")
                                        : std::string_view("unarchived")));
  }
  // invite and settings have fields: errors re-render the tools with an error summary.
  json errors = json::object();
  json command_data;
  std::string type;
  if (action == "invite") {
    const std::string invitee = Trim(form.Get("invitee"));
    if (invitee.empty()) {
      AddFieldError(errors, "invitee", "Enter the address of the person to invite");
    } else if (!groups::AddressDomain(invitee).ok() || invitee.find('@') == 0) {
      AddFieldError(errors, "invitee",
                    "Enter an address in the correct format, like alice@council.example");
    }
    type = et::kMemberInvited;
    command_data = {{"member", invitee}};
  } else {  // settings
    const std::string name = Trim(form.Get("name"));
    if (name.empty()) AddFieldError(errors, "name", "Enter the group's name");
    type = et::kGroupUpdated;
    command_data = {{"name", name},
                    {"description", form.Get("description")},
                    {"tags", api::SplitTags(form.Get("tags"))},
                    {"visibility", form.Get("visibility")},
                    {"join_policy", form.Get("join_policy")}};
    // The network: empty lifts the scope; a new one must be a network known here (an
    // unchanged one is kept even if this node has since lost sight of it).
    const std::string network = Trim(form.Get("network"));
    auto current = api_ctx_.groups->GetGroup(ref.Stream());
    const std::string old_network = current.ok() ? current->network : std::string();
    if (network != old_network) {
      command_data["network"] = network.empty() ? json(nullptr) : json(network);
      if (!network.empty()) {
        Status checked =
            api_ctx_.replicator->CheckGroupNetwork(network, web_.config->AllowHttpEntities());
        if (!checked.ok()) {
          AddFieldError(errors, "network", SettingsMessage(checked.error().message));
        }
      }
    }
    if (Status s = groups::ValidateEventData(type, command_data); !s.ok() && !HasErrors(errors)) {
      AddFieldError(errors, SettingsField(s.error().message), SettingsMessage(s.error().message));
    }
  }
  if (HasErrors(errors)) {
    // Show the tools again with the problem and what was typed.
    errors["invitee"] = form.Get("invitee");
    if (action == "settings") {
      errors["settings"] = {{"name", form.Get("name")},
                            {"description", form.Get("description")},
                            {"tags", form.Get("tags")},
                            {"visibilities", Visibilities(form.Get("visibility"))},
                            {"policies", JoinPolicies(form.Get("join_policy"))},
                            {"network", form.Get("network")}};
    }
    co_return ManagePage(*this, ctx, who, std::move(errors), http::status::bad_request);
  }
  groups::Command command = MakeCommand(ref, type, who, std::move(command_data));
  co_return co_await SubmitThenRedirect(
      who, std::move(command), back,
      std::string(action == "invite" ? std::string_view("invited") : std::string_view("settings")));
}

// --- my profile ----------------------------------------------------------------------------

namespace {

json ProfileVisibilities(std::string_view selected) {
  json out = json::array();
  for (auto [value, label, hint] : {
           std::tuple{"network", "The whole network",
                      "People on every node this node is peered with can find you."},
           std::tuple{"node", "This node only", "Only people who sign in here can find you."},
           std::tuple{"hidden", "Hidden", "You are not listed in the directory."},
       }) {
    out.push_back(
        {{"value", value}, {"label", label}, {"hint", hint}, {"checked", selected == value}});
  }
  return out;
}

}  // namespace

asio::awaitable<Response> GroupPages::Profile(RequestContext& ctx) {
  auto who_or = RequireMember(ctx);
  if (auto* res = std::get_if<Response>(&who_or)) co_return std::move(*res);
  const SignedIn& who = std::get<SignedIn>(who_or);
  if (who.remote()) {
    // A remote member's profile is kept by their home node: edit it there.
    json data{{"page_title", "Your profile"},
              {"address", who.viewer.address},
              {"remote", true},
              {"home_node", who.session.home_node},
              {"home_profile", who.session.home_node + "/profile"}};
    co_return Page(who, http::status::ok, "profile", std::move(data));
  }
  const identity::Member& m = who.viewer.member;
  json data{{"page_title", "Your profile"},
            {"address", who.viewer.address},
            {"profile",
             {{"display_name", m.display_name},
              {"organisation", m.organisation},
              {"job_title", m.job_title},
              {"bio", m.bio}}},
            {"visibilities", ProfileVisibilities(identity::VisibilityName(m.visibility))}};
  if (auto code = ctx.QueryParam("notice"); code && *code == "profile") {
    data["notice"] = *NoticeText("profile");
  }
  co_return Page(who, http::status::ok, "profile", std::move(data));
}

asio::awaitable<Response> GroupPages::SaveProfile(RequestContext& ctx) {
  auto who_or = RequireMember(ctx);
  if (auto* res = std::get_if<Response>(&who_or)) co_return std::move(*res);
  const SignedIn& who = std::get<SignedIn>(who_or);
  auto form_or = CheckedForm(ctx, who);
  if (auto* res = std::get_if<Response>(&form_or)) co_return std::move(*res);
  // Nothing to save here for a remote member: the page says where to go.
  if (who.remote()) co_return SeeOther("/profile");
  const identity::OidcParams& form = std::get<identity::OidcParams>(form_or);
  identity::ProfileUpdate update;
  update.display_name = Trim(form.Get("display_name"));
  update.organisation = Trim(form.Get("organisation"));
  update.job_title = Trim(form.Get("job_title"));
  update.bio = form.Get("bio");
  const std::string visibility = form.Get("visibility");
  json data{{"page_title", "Your profile"},
            {"address", who.viewer.address},
            {"profile",
             {{"display_name", *update.display_name},
              {"organisation", *update.organisation},
              {"job_title", *update.job_title},
              {"bio", *update.bio}}},
            {"visibilities", ProfileVisibilities(visibility)}};
  auto check = [&](const char* field, const std::string& value, size_t max, bool required,
                   bool multiline, const char* label) {
    if (required && value.empty()) {
      AddFieldError(data, field, std::string("Enter your ") + label);
      return;
    }
    if (auto s = identity::ValidateText(field, value, max, required, multiline); !s.ok()) {
      std::string_view msg = s.error().message;
      if (auto colon = msg.find(": "); colon != std::string_view::npos)
        msg.remove_prefix(colon + 2);
      std::string text = label;
      text[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(text[0])));
      AddFieldError(data, field, text + " " + std::string(msg));
    }
  };
  check("display_name", *update.display_name, identity::kMaxDisplayName, true, false, "full name");
  check("organisation", *update.organisation, identity::kMaxOrganisation, false, false,
        "organisation");
  check("job_title", *update.job_title, identity::kMaxJobTitle, false, false, "job title");
  check("bio", *update.bio, identity::kMaxBio, false, true, "about you");
  if (auto v = identity::ParseVisibility(visibility); v.ok()) {
    update.visibility = *v;
  } else {
    AddFieldError(data, "visibility-network", "Select who can find you in the directory");
  }
  if (HasErrors(data)) {
    data["page_title"] = "Error: Your profile";
    co_return Page(who, http::status::bad_request, "profile", std::move(data));
  }
  auto updated = co_await AwaitDone<identity::Member>([&](identity::Done<identity::Member> done) {
    web_.members->UpdateProfile(who.viewer.member.id, std::move(update), std::move(done));
  });
  if (!updated.ok()) {
    if (updated.error().code == ErrorCode::kInvalidArgument) {
      AddFieldError(data, "display_name", updated.error().message);
      data["page_title"] = "Error: Your profile";
      co_return Page(who, http::status::bad_request, "profile", std::move(data));
    }
    co_return Failure(&who, updated.error());
  }
  co_return SeeOther("/profile?notice=profile");
}

// --- directory and people --------------------------------------------------------------------

namespace {

// A group's tags as text ("climate, net zero").
std::string JoinTags(const std::vector<std::string>& tags) {
  std::string out;
  for (const auto& t : tags) out += (out.empty() ? "" : ", ") + t;
  return out;
}

// Snippet text without the JSON punctuation of a group's tags (the search index keeps a
// group's tags as the JSON text of the listing: ["climate","net zero"]).
std::string TagText(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 3, "\",\"") == 0) {
      out += ", ";
      i += 2;
    } else if (text.compare(i, 2, "[\"") == 0 || text.compare(i, 2, "\"]") == 0) {
      ++i;
    } else if (text.compare(i, 2, "[]") == 0) {
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string_view KindLabel(std::string_view kind) {
  if (kind == "people") return "People";
  if (kind == "groups") return "Groups";
  if (kind == "content") return "Threads, posts and documents";
  return "Everything";
}

}  // namespace

// What the directory knows of a group for its buttons.
struct GroupFacts {
  groups::GroupRef ref;
  groups::JoinPolicy join_policy = groups::JoinPolicy::kOpen;
  groups::GroupStatus status = groups::GroupStatus::kActive;
  std::vector<std::string> tags;
  bool known_here = false;  // owned or mirrored here: its page here works
  bool member = false;
  bool invited = false;
  bool requested = false;
};

json GroupPages::GroupAction(const SignedIn& who, const GroupFacts& g) const {
  const std::string domain = web_.config->node.domain();
  const std::string id = g.ref.Id();
  json a{{"path", GroupPath(g.ref)}};
  if (g.status == groups::GroupStatus::kArchived) {
    a["archived"] = true;
    return a;
  }
  if (g.member) {
    a["is_member"] = true;
    return a;
  }
  if (g.ref.domain == domain) {
    if (g.requested) {
      a["requested"] = true;
    } else if (g.invited || g.join_policy == groups::JoinPolicy::kOpen) {
      a["join_path"] = GroupPath(g.ref, "/join");
      a["join_label"] = "Join";
    } else if (g.join_policy == groups::JoinPolicy::kRequest) {
      a["join_path"] = GroupPath(g.ref, "/join");
      a["join_label"] = "Ask to join";
    } else {
      a["invite_only"] = true;
    }
    return a;
  }
  // Hosted by a peer: the member joins at the group's owner. A member of this node signs in
  // there through this node (one click, no password); a remote member goes straight there.
  std::optional<std::string> owner = PeerBaseUrl(g.ref.domain);
  if (!owner && who.remote()) {
    if (auto home = identity::DomainOfBaseUrl(who.session.home_node);
        home.ok() && *home == g.ref.domain) {
      owner = who.session.home_node;
    }
  }
  if (!owner) return a;  // no way to reach the owner from here: the page here
  const std::string page = "/groups/" + id;
  a["owner_path"] =
      who.remote()
          ? *owner + page
          : *owner + "/sign-in/organisation?node=" + FormEncode(web_.config->node.base_url) +
                "&next=" + FormEncode(page);
  a["owner"] = g.ref.domain;
  a["join_label"] = g.join_policy == groups::JoinPolicy::kRequest ? "Ask to join" : "Join";
  if (!g.known_here) a["path"] = a["owner_path"];
  return a;
}

json GroupPages::NodeOptions(std::string_view selected) const {
  json out = json::array();
  out.push_back({{"value", ""}, {"label", "Any node"}, {"selected", selected.empty()}});
  const std::string domain = web_.config->node.domain();
  out.push_back({{"value", domain},
                 {"label", web_.config->node.name + " (this node)"},
                 {"selected", selected == domain}});
  if (peers_ != nullptr) {
    if (auto peers = peers_->List(); peers.ok()) {
      for (const federation::Peer& p : *peers) {
        if (p.state != federation::PeerState::kActive) continue;
        auto d = identity::DomainOfBaseUrl(p.node_id);
        if (!d.ok()) continue;
        out.push_back({{"value", *d},
                       {"label", (p.name.empty() ? *d : p.name) + " (" + *d + ")"},
                       {"selected", selected == *d}});
      }
    }
  }
  return out;
}

json GroupPages::ResultsJson(const SignedIn& who,
                             const std::vector<groups::SearchHit>& hits) const {
  json results = json::array();
  std::optional<std::vector<groups::Group>> mine;
  if (auto got = api_ctx_.groups->GroupsOf(who.viewer.address); got.ok()) {
    mine = std::move(got).value();
  }
  for (const groups::SearchHit& h : hits) {
    json snippet = json::array();
    for (const auto& part : h.snippet) {
      std::string text = h.kind == groups::SearchKind::kGroup ? TagText(part.text) : part.text;
      snippet.push_back({{"text", std::move(text)}, {"match", part.match}});
    }
    json r{{"kind", groups::SearchKindName(h.kind)},
           {"title", h.title},
           {"snippet", std::move(snippet)},
           {"node", h.node},
           {"organisation", h.organisation},
           {"job_title", h.job_title},
           {"visibility", h.visibility}};
    auto group_ref = groups::ParseGroupId(h.group);
    switch (h.kind) {
      case groups::SearchKind::kPerson:
        r["path"] = "/people/" + h.address;
        r["label"] = "Person";
        r["detail"] = h.address;
        break;
      case groups::SearchKind::kGroup: {
        r["path"] = group_ref.ok() ? GroupPath(*group_ref) : "";
        r["label"] = "Group";
        r["detail"] = h.group;
        if (!group_ref.ok()) break;
        GroupFacts facts;
        facts.ref = *group_ref;
        if (auto g = api_ctx_.groups->GetGroup(group_ref->Stream()); g.ok()) {
          facts.join_policy = g->join_policy;
          facts.status = g->status;
          facts.tags = g->tags;
          facts.known_here = true;
          const std::string stream = group_ref->Stream();
          if (auto invites = api_ctx_.groups->Invites(stream); invites.ok()) {
            for (const auto& i : *invites) facts.invited |= i.member == who.viewer.address;
          }
          if (auto requests = api_ctx_.groups->Requests(stream); requests.ok()) {
            for (const auto& q2 : *requests) facts.requested |= q2.member == who.viewer.address;
          }
        } else if (api_ctx_.directory != nullptr) {
          if (auto l = api_ctx_.directory->GetListing(h.group); l.ok()) {
            facts.join_policy = l->join_policy;
            facts.status = l->status;
            facts.tags = l->tags;
          }
        }
        if (mine) {
          for (const auto& m : *mine) facts.member |= m.ref.Id() == h.group;
        }
        r["tags"] = JoinTags(facts.tags);
        r["archived"] = facts.status == groups::GroupStatus::kArchived;
        json action = GroupAction(who, facts);
        r["path"] = action["path"];
        r["action"] = std::move(action);
        break;
      }
      case groups::SearchKind::kThread:
      case groups::SearchKind::kPost:
        r["path"] = group_ref.ok()
                        ? GroupPath(*group_ref, "/forum/" + std::to_string(h.thread_id) +
                                                    (h.kind == groups::SearchKind::kPost
                                                         ? "#post-" + std::to_string(h.post_id)
                                                         : ""))
                        : "";
        r["label"] = h.kind == groups::SearchKind::kPost ? "Post" : "Thread";
        r["detail"] = "in " + h.group;
        break;
      case groups::SearchKind::kDocument:
        r["path"] = group_ref.ok()
                        ? GroupPath(*group_ref, "/library/" + std::to_string(h.document_id))
                        : "";
        r["label"] = "Document";
        r["detail"] = "in " + h.group;
        break;
    }
    results.push_back(std::move(r));
  }
  return results;
}

asio::awaitable<Response> GroupPages::Directory(RequestContext& ctx) {
  auto who_or = RequireMember(ctx);
  if (auto* res = std::get_if<Response>(&who_or)) co_return std::move(*res);
  const SignedIn& who = std::get<SignedIn>(who_or);
  if (api_ctx_.searcher != nullptr) co_return co_await SearchDirectory(ctx, who);
  const std::string q = Trim(ctx.QueryParam("q").value_or(""));
  const std::string organisation = Trim(ctx.QueryParam("organisation").value_or(""));
  const std::string node = Trim(ctx.QueryParam("node").value_or(""));
  std::string kind = ctx.QueryParam("kind").value_or("all");
  if (kind != "people" && kind != "groups") kind = "all";
  const std::string domain = web_.config->node.domain();
  const bool searched = !q.empty() || !organisation.empty() || !node.empty();

  // Without the network directory index (groups/directory.h), the directory lists this
  // node's people who opted in and the groups known here (owned or mirrored). The scan of the
  // members runs on the blocking pool.
  json people = json::array();
  if (kind != "groups" && searched && (node.empty() || ContainsNoCase(domain, node))) {
    identity::MemberStore* members = web_.members;
    // Named, not a temporary in the co_await expression (GCC 12; see SearchDirectory).
    std::function<Result<json>()> scan = [members, q, organisation, domain]() -> Result<json> {
      json out = json::array();
      int64_t after = 0;
      size_t scanned = 0;
      while (out.size() < kMaxShownPeople && scanned < kMaxScannedMembers) {
        auto page = members->List(after, 200);
        if (!page.ok()) return std::move(page).error();
        for (const identity::Member& m : page->members) {
          ++scanned;
          if (m.visibility == identity::DirectoryVisibility::kHidden ||
              m.status != identity::MemberStatus::kActive) {
            continue;
          }
          const std::string address = m.Address(domain);
          if (!(ContainsNoCase(m.display_name, q) || ContainsNoCase(address, q) ||
                ContainsNoCase(m.job_title, q) || ContainsNoCase(m.bio, q))) {
            continue;
          }
          if (!ContainsNoCase(m.organisation, organisation)) continue;
          out.push_back({{"name", m.display_name.empty() ? address : m.display_name},
                         {"address", address},
                         {"path", "/people/" + address},
                         {"organisation", m.organisation},
                         {"job_title", m.job_title}});
          if (out.size() >= kMaxShownPeople) break;
        }
        if (page->next_after == 0) break;
        after = page->next_after;
      }
      return out;
    };
    auto found = co_await api::OnPool<json>(api_ctx_.blocking_pool, scan);
    if (!found.ok()) co_return Failure(&who, found.error());
    people = std::move(found).value();
  }
  json found_groups = json::array();
  if (kind != "people" && searched && organisation.empty()) {
    auto list = api_ctx_.groups->ListGroups(who.viewer.address);
    if (!list.ok()) co_return Failure(&who, list.error());
    auto mine = api_ctx_.groups->GroupsOf(who.viewer.address);
    for (const groups::Group& g : *list) {
      if (!ContainsNoCase(g.ref.domain, node)) continue;
      const std::string tags = JoinTags(g.tags);
      if (!ContainsNoCase(g.name, q) && !ContainsNoCase(g.description, q) &&
          !ContainsNoCase(tags, q)) {
        continue;
      }
      GroupFacts facts{g.ref, g.join_policy, g.status, g.tags, true};
      if (mine.ok()) {
        for (const auto& m : *mine) facts.member = facts.member || m.ref.Id() == g.ref.Id();
      }
      found_groups.push_back({{"name", g.name},
                              {"path", GroupPath(g.ref)},
                              {"id", g.ref.Id()},
                              {"description", g.description},
                              {"tags", tags},
                              {"visibility", groups::VisibilityName(g.visibility)},
                              {"host", HostLabel(g)},
                              {"archived", g.status == groups::GroupStatus::kArchived},
                              {"action", GroupAction(who, facts)},
                              {"member_count", g.member_count}});
    }
  }
  json kinds = json::array();
  for (auto [value, label] : {std::pair{"all", "People and groups"}, std::pair{"people", "People"},
                              std::pair{"groups", "Groups"}}) {
    kinds.push_back({{"value", value}, {"label", label}, {"selected", kind == value}});
  }
  json data{{"page_title", searched ? "Directory search results" : "Directory"},
            {"q", q},
            {"organisation", organisation},
            {"node_filter", node},
            {"nodes", NodeOptions(node)},
            {"kinds", std::move(kinds)},
            {"searched", searched},
            {"people_count", people.size()},
            {"group_count", found_groups.size()},
            {"people", std::move(people)},
            {"groups", std::move(found_groups)}};
  co_return Page(who, http::status::ok, "directory", std::move(data));
}

asio::awaitable<Response> GroupPages::SearchDirectory(RequestContext& ctx, const SignedIn& who) {
  constexpr size_t kPerPage = 20;
  const std::string q = Trim(ctx.QueryParam("q").value_or(""));
  const std::string organisation = Trim(ctx.QueryParam("organisation").value_or(""));
  const std::string node = Trim(ctx.QueryParam("node").value_or(""));
  std::string kind = ctx.QueryParam("kind").value_or("all");
  std::string visibility = ctx.QueryParam("visibility").value_or("");
  size_t offset = 0;
  if (auto o = ctx.QueryParam("offset");
      o && !o->empty() && o->size() <= 5 && std::all_of(o->begin(), o->end(), ::isdigit)) {
    offset = std::min<size_t>(std::stoul(*o), 10000);
  }
  groups::SearchFilters filters;
  if (kind == "people") {
    filters.kinds = {groups::SearchKind::kPerson};
  } else if (kind == "groups") {
    filters.kinds = {groups::SearchKind::kGroup};
  } else if (kind == "content") {
    filters.kinds = {groups::SearchKind::kThread, groups::SearchKind::kPost,
                     groups::SearchKind::kDocument};
  } else {
    kind = "all";
  }
  static constexpr std::string_view kVisibilities[] = {"network", "node", "public", "restricted",
                                                       "private"};
  if (std::find(std::begin(kVisibilities), std::end(kVisibilities), visibility) ==
      std::end(kVisibilities)) {
    visibility.clear();
  }
  filters.organisation = organisation;
  filters.node = node;
  filters.visibility = visibility;
  // A filter alone searches too (everything of that organisation / node / visibility) only
  // with words; without any words the page explains what to type.
  const bool searched = !q.empty();
  json results = json::array();
  bool more = false;
  if (searched) {
    // FTS5 queries take milliseconds: on the blocking pool, never on an I/O thread.
    // A named std::function, not a lambda temporary inside the co_await expression: GCC 12
    // destroys such a temporary with non-trivial captures twice.
    groups::Searcher* searcher = api_ctx_.searcher;
    std::function<Result<groups::SearchPage>()> search = [searcher, viewer = who.viewer.address, q,
                                                          filters, offset]() {
      return searcher->Search(viewer, q, filters, kPerPage, offset);
    };
    auto page = co_await api::OnPool<groups::SearchPage>(api_ctx_.blocking_pool, search);
    if (!page.ok()) {
      if (page.error().code != ErrorCode::kInvalidArgument) co_return Failure(&who, page.error());
      json data{{"page_title", "Error: Directory"},
                {"q", q},
                {"indexed", true},
                {"nodes", NodeOptions(node)}};
      AddFieldError(data, "q", "Enter a shorter search (at most 500 characters)");
      co_return Page(who, http::status::bad_request, "directory", std::move(data));
    }
    more = page->more;
    results = ResultsJson(who, page->hits);
  }
  auto link = [&](size_t at) {
    return "/directory?q=" + FormEncode(q) + "&kind=" + kind +
           "&organisation=" + FormEncode(organisation) + "&node=" + FormEncode(node) +
           "&visibility=" + visibility + "&offset=" + std::to_string(at);
  };
  json pagination = json::object();
  if (offset > 0) pagination["prev"] = link(offset > kPerPage ? offset - kPerPage : 0);
  if (more) pagination["next"] = link(offset + kPerPage);
  json kinds = json::array();
  for (std::string_view value : {"all", "people", "groups", "content"}) {
    kinds.push_back({{"value", value}, {"label", KindLabel(value)}, {"selected", kind == value}});
  }
  json visibilities = json::array();
  for (auto [value, label] :
       {std::pair{"", "Any"}, std::pair{"network", "People listed across the network"},
        std::pair{"node", "People listed on this node only"}, std::pair{"public", "Public groups"},
        std::pair{"restricted", "Restricted groups"}, std::pair{"private", "Private groups"}}) {
    visibilities.push_back({{"value", value}, {"label", label}, {"selected", visibility == value}});
  }
  json data{{"page_title", searched ? "Directory search results" : "Directory"},
            {"q", q},
            {"organisation", organisation},
            {"node_filter", node},
            {"nodes", NodeOptions(node)},
            {"kinds", std::move(kinds)},
            {"visibilities", std::move(visibilities)},
            {"searched", searched},
            {"indexed", true},
            {"result_count", results.size()},
            {"results", std::move(results)}};
  if (!pagination.empty()) data["pagination"] = std::move(pagination);
  co_return Page(who, http::status::ok, "directory", std::move(data));
}

asio::awaitable<Response> GroupPages::Person(RequestContext& ctx) {
  auto who_or = RequireMember(ctx);
  if (auto* res = std::get_if<Response>(&who_or)) co_return std::move(*res);
  const SignedIn& who = std::get<SignedIn>(who_or);
  const std::string address(ctx.Param("address"));
  const std::string domain = web_.config->node.domain();
  auto person_domain = groups::AddressDomain(address);
  const Error not_found = MakeError(ErrorCode::kNotFound, "there is no such person here");
  if (!person_domain.ok()) co_return Failure(&who, not_found);
  json data{{"page_title", address}, {"address", address}, {"host", *person_domain}};
  if (api_ctx_.directory != nullptr) {
    auto profile = api_ctx_.directory->GetProfile(address, who.viewer.address);
    const bool me = address == who.viewer.address;
    if (!profile.ok() && !(me && profile.error().code == ErrorCode::kNotFound)) {
      Error error = profile.error();
      if (error.code == ErrorCode::kInvalidArgument) error = not_found;
      co_return Failure(&who, error);
    }
    // A member whose profile is hidden still sees their own.
    groups::Profile p = OwnProfile(who.viewer.member, address, domain);
    if (profile.ok()) p = std::move(profile).value();
    const std::string name = p.display_name.empty() ? address : p.display_name;
    data["page_title"] = name;
    data["name"] = name;
    data["organisation"] = p.organisation;
    data["job_title"] = p.job_title;
    data["bio"] = p.bio;
    data["is_me"] = me;
    data["visibility"] = p.visibility;
  } else if (*person_domain == domain) {
    auto m = web_.members->GetByHandle(address.substr(0, address.rfind('@')));
    if (!m.ok() || (m->visibility == identity::DirectoryVisibility::kHidden &&
                    m->id != who.viewer.member.id)) {
      co_return Failure(&who, not_found);
    }
    data["page_title"] = m->display_name.empty() ? address : m->display_name;
    data["name"] = m->display_name.empty() ? address : m->display_name;
    data["organisation"] = m->organisation;
    data["job_title"] = m->job_title;
    data["bio"] = m->bio;
    data["is_me"] = m->id == who.viewer.member.id;
  } else {
    data["name"] = address;
    data["remote"] = true;
  }
  // The groups of this person that the viewer may see listed.
  json shared = json::array();
  auto theirs = api_ctx_.groups->GroupsOf(address);
  auto visible = api_ctx_.groups->ListGroups(who.viewer.address);
  if (theirs.ok() && visible.ok()) {
    for (const groups::Group& g : *theirs) {
      for (const groups::Group& v : *visible) {
        if (v.ref.Id() == g.ref.Id()) {
          shared.push_back({{"name", g.name}, {"path", GroupPath(g.ref)}});
          break;
        }
      }
    }
  }
  data["groups"] = std::move(shared);
  co_return Page(who, http::status::ok, "person", std::move(data));
}

}  // namespace pages

void AddGroupPages(Router& router, const WebContext& web, const ApiContext& api,
                   GroupPagesExtras extras) {
  pages::GroupPages::Register(router, std::make_shared<pages::GroupPages>(web, api, extras));
}

}  // namespace kith::node
