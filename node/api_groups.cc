// /api/v1: the member, groups, membership and commands (node/api_routes.h).
#include <boost/asio/use_awaitable.hpp>

#include "node/api_util.h"

namespace kith::node::api {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

// The {member} parameter: an address handle@domain.
Result<std::string> MemberParam(const RequestContext& ctx) {
  std::string member(ctx.Param("member"));
  if (!groups::AddressDomain(member).ok()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "member: expected an address handle@domain, got \"" + member + "\"");
  }
  return member;
}

// The `network` field of a create or settings request: absent -> nullopt; null or "" -> null
// (no scope / lift the scope); a string -> checked (Replicator::CheckGroupNetwork).
Result<std::optional<json>> NetworkField(const ApiContext& c, const json& body) {
  auto it = body.find("network");
  if (it == body.end()) return std::optional<json>();
  if (it->is_null() || (it->is_string() && it->get_ref<const std::string&>().empty())) {
    return std::optional<json>(json(nullptr));
  }
  if (!it->is_string()) {
    return MakeError(ErrorCode::kInvalidArgument, "network: must be a string or null");
  }
  const std::string& network = it->get_ref<const std::string&>();
  if (Status s = c.replicator->CheckGroupNetwork(network, c.config->AllowHttpEntities()); !s.ok()) {
    return std::move(s).error();
  }
  return std::optional<json>(json(network));
}

// A group as the API shows it: GroupJson and the network it is scoped to (null: none).
json GroupWithNetworkJson(const groups::Group& g) {
  json out = GroupJson(g);
  out["network"] = g.network.empty() ? json(nullptr) : json(g.network);
  return out;
}

}  // namespace

void Api::Register(Router& router, const std::shared_ptr<Api>& self) {
  using V = http::verb;
  auto add = [&](V method, std::string_view pattern, auto member_call, RouteOptions options = {}) {
    router.AddOrDie(
        method, pattern,
        [self, member_call](RequestContext& ctx) { return member_call(*self, ctx); },
        std::move(options));
  };
  const std::string g = "/api/v1/groups/{group}";
  add(V::get, "/api/v1/me", [](Api& a, RequestContext& ctx) { return a.Me(ctx); });
  add(V::get, "/api/v1/groups", [](Api& a, RequestContext& ctx) { return a.ListGroups(ctx); });
  add(V::post, "/api/v1/groups", [](Api& a, RequestContext& ctx) { return a.CreateGroup(ctx); });
  add(V::get, g, [](Api& a, RequestContext& ctx) { return a.GetGroup(ctx); });
  add(V::patch, g, [](Api& a, RequestContext& ctx) { return a.UpdateGroup(ctx); });
  add(V::post, g + "/archive", [](Api& a, RequestContext& ctx) { return a.Archive(ctx, true); });
  add(V::post, g + "/unarchive", [](Api& a, RequestContext& ctx) { return a.Archive(ctx, false); });
  add(V::get, g + "/digest", [](Api& a, RequestContext& ctx) { return a.Digest(ctx); });
  add(V::post, g + "/join", [](Api& a, RequestContext& ctx) { return a.Join(ctx); });
  add(V::post, g + "/leave", [](Api& a, RequestContext& ctx) { return a.Leave(ctx); });
  add(V::post, g + "/follow", [](Api& a, RequestContext& ctx) { return a.Follow(ctx, true); });
  add(V::delete_, g + "/follow", [](Api& a, RequestContext& ctx) { return a.Follow(ctx, false); });
  add(V::get, g + "/members", [](Api& a, RequestContext& ctx) { return a.Members(ctx); });
  add(V::patch, g + "/members/{member}",
      [](Api& a, RequestContext& ctx) { return a.ChangeRole(ctx); });
  add(V::delete_, g + "/members/{member}",
      [](Api& a, RequestContext& ctx) { return a.RemoveMember(ctx); });
  add(V::get, g + "/requests", [](Api& a, RequestContext& ctx) { return a.Requests(ctx); });
  add(V::post, g + "/requests/{member}/approve",
      [](Api& a, RequestContext& ctx) { return a.Decide(ctx, true); });
  add(V::post, g + "/requests/{member}/decline",
      [](Api& a, RequestContext& ctx) { return a.Decide(ctx, false); });
  add(V::get, g + "/invites", [](Api& a, RequestContext& ctx) { return a.Invites(ctx); });
  add(V::post, g + "/invites", [](Api& a, RequestContext& ctx) { return a.Invite(ctx); });
  // Forum.
  add(V::get, g + "/threads", [](Api& a, RequestContext& ctx) { return a.Threads(ctx); });
  add(V::post, g + "/threads", [](Api& a, RequestContext& ctx) { return a.CreateThread(ctx); });
  add(V::get, g + "/threads/{thread}",
      [](Api& a, RequestContext& ctx) { return a.GetThread(ctx); });
  add(V::post, g + "/threads/{thread}/posts",
      [](Api& a, RequestContext& ctx) { return a.Reply(ctx); });
  add(V::post, g + "/threads/{thread}/pin",
      [](Api& a, RequestContext& ctx) { return a.PinOrLock(ctx, true); });
  add(V::post, g + "/threads/{thread}/lock",
      [](Api& a, RequestContext& ctx) { return a.PinOrLock(ctx, false); });
  add(V::patch, g + "/posts/{post}", [](Api& a, RequestContext& ctx) { return a.EditPost(ctx); });
  add(V::delete_, g + "/posts/{post}",
      [](Api& a, RequestContext& ctx) { return a.DeletePost(ctx); });
  // Library. Uploads are streamed into a sink; the route limit leaves room for the multipart
  // framing and the form fields around the file.
  RouteOptions upload;
  upload.max_body_bytes = static_cast<uint64_t>(self->c_.max_upload_bytes) + 1024 * 1024;
  upload.body_sink = [self](const RequestContext& ctx) { return self->MakeUploadSink(ctx); };
  add(V::get, g + "/documents", [](Api& a, RequestContext& ctx) { return a.Documents(ctx); });
  add(
      V::post, g + "/documents", [](Api& a, RequestContext& ctx) { return a.Upload(ctx, false); },
      upload);
  add(V::get, g + "/documents/{doc}",
      [](Api& a, RequestContext& ctx) { return a.GetDocument(ctx); });
  add(V::patch, g + "/documents/{doc}",
      [](Api& a, RequestContext& ctx) { return a.UpdateDocument(ctx); });
  add(V::delete_, g + "/documents/{doc}",
      [](Api& a, RequestContext& ctx) { return a.DeleteDocument(ctx); });
  add(
      V::post, g + "/documents/{doc}/versions",
      [](Api& a, RequestContext& ctx) { return a.Upload(ctx, true); }, upload);
  add(V::get, g + "/documents/{doc}/download",
      [](Api& a, RequestContext& ctx) { return a.Download(ctx); });
  // Commands.
  add(V::get, "/api/v1/commands", [](Api& a, RequestContext& ctx) { return a.Commands(ctx); });
  add(V::get, "/api/v1/commands/{command_id}",
      [](Api& a, RequestContext& ctx) { return a.GetCommand(ctx); });
}

Result<Api::Call> Api::Begin(const RequestContext& ctx, bool with_body) {
  auto viewer = Authenticate(c_, ctx);
  if (!viewer.ok()) return std::move(viewer).error();
  Call call{std::move(viewer).value(), json::object()};
  if (with_body) {
    auto body = JsonBody(ctx.request.body());
    if (!body.ok()) return std::move(body).error();
    call.body = std::move(body).value();
  }
  return call;
}

Result<groups::Group> Api::ReadableGroup(const groups::GroupRef& ref, const Viewer& viewer,
                                         bool content) {
  const std::string stream = ref.Stream();
  auto group = c_.groups->GetGroup(stream);
  if (!group.ok()) {
    if (group.error().code == ErrorCode::kNotFound) {
      return MakeError(ErrorCode::kNotFound, "no such group: " + ref.Id());
    }
    return std::move(group).error();
  }
  if (!group->network.empty()) {
    // A group scoped to a network: members of nodes outside it (signed in here from their
    // node) do not learn that it exists, as for a private group.
    auto domain = groups::AddressDomain(viewer.address);
    if (!domain.ok()) return std::move(domain).error();
    auto in = c_.replicator->DomainInNetwork(*domain, group->network);
    if (!in.ok()) return std::move(in).error();
    if (!*in) return MakeError(ErrorCode::kNotFound, "no such group: " + ref.Id());
  }
  if (content || group->visibility == groups::Visibility::kPrivate) {
    auto can = c_.groups->CanRead(stream, viewer.address);
    if (!can.ok()) return std::move(can).error();
    if (!*can) {
      if (group->visibility == groups::Visibility::kPrivate) {
        return MakeError(ErrorCode::kNotFound, "no such group: " + ref.Id());
      }
      return MakeError(ErrorCode::kPermissionDenied,
                       "only members of " + ref.Id() + " can read its content");
    }
  }
  return group;
}

Result<Api::GroupAccessResult> Api::CheckGroupAccess(const groups::GroupRef& ref,
                                                     const Viewer& viewer, GroupAccess access) {
  GroupAccessResult out;
  if (access == GroupAccess::kAny) return out;
  auto group = ReadableGroup(ref, viewer, access != GroupAccess::kListed);
  if (!group.ok()) return std::move(group).error();
  out.group = std::move(group).value();
  auto role = c_.groups->RoleOf(ref.Stream(), viewer.address);
  if (!role.ok()) return std::move(role).error();
  out.role = *role;
  if (access == GroupAccess::kFacilitator &&
      (!out.role || *out.role < groups::Role::kFacilitator)) {
    return MakeError(ErrorCode::kPermissionDenied,
                     "only the facilitators of " + ref.Id() + " can do that");
  }
  return out;
}

Result<Api::GroupCall> Api::BeginGroup(const RequestContext& ctx, bool with_body,
                                       GroupAccess access) {
  auto call = Begin(ctx, with_body);
  if (!call.ok()) return std::move(call).error();
  auto ref = GroupParam(ctx);
  if (!ref.ok()) return std::move(ref).error();
  auto checked = CheckGroupAccess(*ref, call->viewer, access);
  if (!checked.ok()) return std::move(checked).error();
  return GroupCall{std::move(call->viewer), std::move(call->body), std::move(ref).value(),
                   std::move(checked->group), checked->role};
}

asio::awaitable<Response> Api::Submit(groups::Command command, bool created) {
  if (Status valid = groups::ValidateEventData(command.type, command.data); !valid.ok()) {
    co_return Fail(valid.error());
  }
  auto result = co_await c_.replicator->Submit(std::move(command));
  if (!result.ok()) co_return Fail(result.error());
  const federation::SubmitResult& r = *result;
  if (r.state == federation::SubmitResult::State::kAccepted && r.event) {
    co_return Json(created ? http::status::created : http::status::ok,
                   json{{"state", "accepted"},
                        {"command_id", r.command_id},
                        {"seq", r.event->seq},
                        {"event", r.event->ToJson()}});
  }
  co_return Json(http::status::accepted, json{{"state", "pending"}, {"command_id", r.command_id}});
}

asio::awaitable<Response> Api::Me(RequestContext& ctx) {
  auto call = Begin(ctx, false);
  if (!call.ok()) co_return Fail(call.error());
  const auto& m = call->viewer.member;
  json out{
      {"member", call->viewer.address}, {"handle", m.handle}, {"display_name", m.display_name},
      {"organisation", m.organisation}, {"email", m.email},   {"node", c_.config->node.domain()}};
  // Cookie clients need the session's token for X-CSRF-Token; another site cannot read this
  // answer (no CORS), so handing it out here is safe.
  if (call->viewer.session) out["csrf_token"] = call->viewer.session->csrf_token;
  co_return Json(http::status::ok, out);
}

asio::awaitable<Response> Api::ListGroups(RequestContext& ctx) {
  auto call = Begin(ctx, false);
  if (!call.ok()) co_return Fail(call.error());
  auto mine = ctx.QueryParam("mine");
  bool only_mine = mine && (*mine == "1" || *mine == "true");
  auto list = only_mine ? c_.groups->GroupsOf(call->viewer.address)
                        : c_.groups->ListGroups(call->viewer.address);
  if (!list.ok()) co_return Fail(list.error());
  json out = json::array();
  for (const auto& g : *list) out.push_back(GroupWithNetworkJson(g));
  co_return Json(http::status::ok, json{{"groups", std::move(out)}});
}

asio::awaitable<Response> Api::CreateGroup(RequestContext& ctx) {
  auto call = Begin(ctx, true);
  if (!call.ok()) co_return Fail(call.error());
  const json& b = call->body;
  auto slug = OptString(b, "slug");
  if (!slug.ok()) co_return Fail(slug.error());
  auto name = OptString(b, "name");
  if (!name.ok()) co_return Fail(name.error());
  auto description = OptString(b, "description");
  if (!description.ok()) co_return Fail(description.error());
  auto visibility = OptString(b, "visibility");
  if (!visibility.ok()) co_return Fail(visibility.error());
  auto policy = OptString(b, "join_policy");
  if (!policy.ok()) co_return Fail(policy.error());
  auto tags = OptTags(b, "tags");
  if (!tags.ok()) co_return Fail(tags.error());
  if (!*slug) co_return Fail(MakeError(ErrorCode::kInvalidArgument, "slug: required"));
  if (!*name) co_return Fail(MakeError(ErrorCode::kInvalidArgument, "name: required"));
  NewGroup group;
  group.slug = **slug;
  group.name = **name;
  group.description = description->value_or("");
  group.tags = tags->value_or(std::vector<std::string>{});
  group.visibility = visibility->value_or("public");
  group.join_policy = policy->value_or("open");
  auto network = NetworkField(c_, b);
  if (!network.ok()) co_return Fail(network.error());
  auto command = NewGroupCommand(c_, call->viewer, group);
  if (!command.ok()) co_return Fail(command.error());
  if (*network && !(*network)->is_null()) command->data["network"] = **network;
  co_return co_await Submit(std::move(command).value(), true);
}

asio::awaitable<Response> Api::GetGroup(RequestContext& ctx) {
  auto call = BeginGroup(ctx, false, GroupAccess::kListed);
  if (!call.ok()) co_return Fail(call.error());
  json out = GroupWithNetworkJson(*call->group);
  out["my_role"] = call->role ? json(groups::RoleName(*call->role)) : json(nullptr);
  co_return Json(http::status::ok, out);
}

asio::awaitable<Response> Api::UpdateGroup(RequestContext& ctx) {
  auto call = BeginGroup(ctx, true, GroupAccess::kAny);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  json data = json::object();
  for (const char* key : {"name", "description", "visibility", "join_policy"}) {
    auto v = OptString(call->body, key);
    if (!v.ok()) co_return Fail(v.error());
    if (*v) data[key] = **v;
  }
  auto tags = OptTags(call->body, "tags");
  if (!tags.ok()) co_return Fail(tags.error());
  if (*tags) data["tags"] = **tags;
  auto network = NetworkField(c_, call->body);
  if (!network.ok()) co_return Fail(network.error());
  if (*network) data["network"] = **network;
  if (data.empty()) {
    co_return Fail(MakeError(
        ErrorCode::kInvalidArgument,
        "nothing to change: send name, description, tags, visibility, join_policy or network"));
  }
  groups::Command command =
      MakeCommand(ref, groups::event_type::kGroupUpdated, call->viewer, std::move(data));
  co_return co_await Submit(std::move(command), false);
}

asio::awaitable<Response> Api::Archive(RequestContext& ctx, bool archive) {
  auto call = BeginGroup(ctx, false, GroupAccess::kAny);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  groups::Command command = MakeCommand(
      ref, archive ? groups::event_type::kGroupArchived : groups::event_type::kGroupUnarchived,
      call->viewer, json::object());
  co_return co_await Submit(std::move(command), false);
}

asio::awaitable<Response> Api::Digest(RequestContext& ctx) {
  auto call = BeginGroup(ctx, false, GroupAccess::kContent);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  const std::string stream = ref.Stream();
  // Head and digest from one consistent view would need one read transaction; the digest is
  // computed at the head read just before, which callers compare at quiescence.
  auto head = c_.groups->Head(stream);
  if (!head.ok()) co_return Fail(head.error());
  auto digest = c_.groups->Digest(stream);
  if (!digest.ok()) co_return Fail(digest.error());
  co_return Json(http::status::ok, json{{"stream", stream}, {"head", *head}, {"digest", *digest}});
}

asio::awaitable<Response> Api::Join(RequestContext& ctx) {
  auto call = BeginGroup(ctx, true, GroupAccess::kAny);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  auto message = OptString(call->body, "message");
  if (!message.ok()) co_return Fail(message.error());
  // The join policy decides between joining and asking; a group not mirrored here yet is
  // asked to let us join (its owner refuses with a clear message when a request is needed).
  bool request = false;
  if (auto group = c_.groups->GetGroup(ref.Stream()); group.ok()) {
    if (group->join_policy == groups::JoinPolicy::kRequest) {
      // An invited member joins directly even when the policy is `request`.
      auto invites = c_.groups->Invites(ref.Stream());
      bool invited = false;
      if (invites.ok()) {
        for (const auto& i : *invites) invited = invited || i.member == call->viewer.address;
      }
      request = !invited;
    }
  } else if (group.error().code != ErrorCode::kNotFound) {
    co_return Fail(group.error());
  } else if (*message) {
    request = true;
  }
  if (request) {
    groups::Command command =
        MakeCommand(ref, groups::event_type::kMemberRequested, call->viewer,
                    json{{"member", call->viewer.address}, {"message", message->value_or("")}});
    co_return co_await Submit(std::move(command), false);
  }
  groups::Command command = MakeCommand(ref, groups::event_type::kMemberJoined, call->viewer,
                                        json{{"member", call->viewer.address}});
  co_return co_await Submit(std::move(command), false);
}

asio::awaitable<Response> Api::Leave(RequestContext& ctx) {
  auto call = BeginGroup(ctx, false, GroupAccess::kAny);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  groups::Command command = MakeCommand(ref, groups::event_type::kMemberLeft, call->viewer,
                                        json{{"member", call->viewer.address}});
  co_return co_await Submit(std::move(command), false);
}

asio::awaitable<Response> Api::Follow(RequestContext& ctx, bool follow) {
  auto call = BeginGroup(ctx, false, GroupAccess::kAny);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  Status s = co_await c_.replicator->Follow(ref.Stream(), follow);
  if (!s.ok()) co_return Fail(s.error());
  co_return Json(http::status::ok, json{{"stream", ref.Stream()}, {"following", follow}});
}

asio::awaitable<Response> Api::Members(RequestContext& ctx) {
  auto call = BeginGroup(ctx, false, GroupAccess::kContent);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  auto members = c_.groups->Members(ref.Stream());
  if (!members.ok()) co_return Fail(members.error());
  json out = json::array();
  for (const auto& m : *members) {
    out.push_back(
        json{{"member", m.member}, {"role", groups::RoleName(m.role)}, {"joined_at", m.joined_at}});
  }
  co_return Json(http::status::ok, json{{"members", std::move(out)}});
}

asio::awaitable<Response> Api::ChangeRole(RequestContext& ctx) {
  auto call = BeginGroup(ctx, true, GroupAccess::kAny);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  auto member = MemberParam(ctx);
  if (!member.ok()) co_return Fail(member.error());
  auto role = OptString(call->body, "role");
  if (!role.ok()) co_return Fail(role.error());
  if (!*role) {
    co_return Fail(
        MakeError(ErrorCode::kInvalidArgument, "role: required (member, facilitator or owner)"));
  }
  groups::Command command = MakeCommand(ref, groups::event_type::kMemberRoleChanged, call->viewer,
                                        json{{"member", *member}, {"role", **role}});
  co_return co_await Submit(std::move(command), false);
}

asio::awaitable<Response> Api::RemoveMember(RequestContext& ctx) {
  auto call = BeginGroup(ctx, false, GroupAccess::kAny);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  auto member = MemberParam(ctx);
  if (!member.ok()) co_return Fail(member.error());
  groups::Command command =
      MakeCommand(ref, groups::event_type::kMemberRemoved, call->viewer, json{{"member", *member}});
  co_return co_await Submit(std::move(command), false);
}

asio::awaitable<Response> Api::Requests(RequestContext& ctx) {
  auto call = BeginGroup(ctx, false, GroupAccess::kFacilitator);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  auto requests = c_.groups->Requests(ref.Stream());
  if (!requests.ok()) co_return Fail(requests.error());
  json out = json::array();
  for (const auto& r : *requests) {
    out.push_back(
        json{{"member", r.member}, {"message", r.message}, {"requested_at", r.requested_at}});
  }
  co_return Json(http::status::ok, json{{"requests", std::move(out)}});
}

asio::awaitable<Response> Api::Decide(RequestContext& ctx, bool approve) {
  auto call = BeginGroup(ctx, false, GroupAccess::kAny);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  auto member = MemberParam(ctx);
  if (!member.ok()) co_return Fail(member.error());
  groups::Command command = MakeCommand(
      ref, approve ? groups::event_type::kMemberApproved : groups::event_type::kMemberDeclined,
      call->viewer, json{{"member", *member}});
  co_return co_await Submit(std::move(command), false);
}

asio::awaitable<Response> Api::Invites(RequestContext& ctx) {
  auto call = BeginGroup(ctx, false, GroupAccess::kFacilitator);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  auto invites = c_.groups->Invites(ref.Stream());
  if (!invites.ok()) co_return Fail(invites.error());
  json out = json::array();
  for (const auto& i : *invites) {
    out.push_back(
        json{{"member", i.member}, {"invited_by", i.invited_by}, {"invited_at", i.invited_at}});
  }
  co_return Json(http::status::ok, json{{"invites", std::move(out)}});
}

asio::awaitable<Response> Api::Invite(RequestContext& ctx) {
  auto call = BeginGroup(ctx, true, GroupAccess::kAny);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  auto member = OptString(call->body, "member");
  if (!member.ok()) co_return Fail(member.error());
  if (!*member || !groups::AddressDomain(**member).ok()) {
    co_return Fail(
        MakeError(ErrorCode::kInvalidArgument, "member: required, an address handle@domain"));
  }
  groups::Command command = MakeCommand(ref, groups::event_type::kMemberInvited, call->viewer,
                                        json{{"member", **member}});
  co_return co_await Submit(std::move(command), true);
}

asio::awaitable<Response> Api::Commands(RequestContext& ctx) {
  auto call = Begin(ctx, false);
  if (!call.ok()) co_return Fail(call.error());
  auto state = ctx.QueryParam("state");
  if (state && *state != "pending" && !state->empty()) {
    co_return Fail(MakeError(ErrorCode::kInvalidArgument, "state: only \"pending\" is supported"));
  }
  auto entries = c_.replicator->Outbox(call->viewer.address, state && *state == "pending");
  if (!entries.ok()) co_return Fail(entries.error());
  json out = json::array();
  for (const auto& e : *entries) out.push_back(OutboxJson(e));
  co_return Json(http::status::ok, json{{"commands", std::move(out)}});
}

asio::awaitable<Response> Api::GetCommand(RequestContext& ctx) {
  auto call = Begin(ctx, false);
  if (!call.ok()) co_return Fail(call.error());
  auto entry = c_.replicator->GetOutboxEntry(ctx.Param("command_id"));
  // Another member's command is not ours to see: the same 404 as an unknown one.
  if (!entry.ok() || entry->actor != call->viewer.address) {
    if (!entry.ok() && entry.error().code != ErrorCode::kNotFound) co_return Fail(entry.error());
    co_return Fail(MakeError(ErrorCode::kNotFound, "no such command"));
  }
  co_return Json(http::status::ok, OutboxJson(*entry));
}

}  // namespace kith::node::api
