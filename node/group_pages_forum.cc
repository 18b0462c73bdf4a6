// The members' pages (node/group_pages.h): a group's forum — threads, a thread with its
// replies rendered from Markdown (cmark, unsafe HTML dropped), posting, editing, deleting,
// pinning and locking.
#include <map>
#include <string>
#include <utility>

#include "groups/markdown.h"
#include "node/group_pages.h"
#include "node/web_util.h"

namespace kith::node::pages {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

constexpr size_t kThreadsPerPage = 20;
constexpr size_t kPostsPerPage = 50;

// A non-negative ?after=N, 0 when absent or malformed.
int64_t AfterParam(const RequestContext& ctx) {
  auto after = ctx.QueryParam("after");
  if (!after || after->empty() || after->size() > 18) return 0;
  int64_t v = 0;
  for (char c : *after) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

// The forum page, with `extra` merged into its data (form errors and what was typed).
static asio::awaitable<Response> ForumPage(GroupPages& p, RequestContext& ctx, const SignedIn& who,
                                           json extra, http::status status) {
  auto view_or = p.LoadGroup(ctx, who, true, "forum");
  if (auto* res = std::get_if<Response>(&view_or)) co_return std::move(*res);
  GroupPages::GroupView& view = std::get<GroupPages::GroupView>(view_or);
  const int64_t after = AfterParam(ctx);
  auto threads = p.api_context().groups->Threads(view.group.ref.Stream(), after, kThreadsPerPage);
  if (!threads.ok()) co_return p.Failure(&who, threads.error());
  const std::string base = GroupPath(view.group.ref);
  std::map<int64_t, int64_t> markers;
  ReadMarkers* read_markers = p.read_markers();
  if (read_markers != nullptr) {
    if (auto got = read_markers->Get(who.viewer.address, view.group.ref.Stream()); got.ok()) {
      markers = std::move(got).value();
    }
  }
  json out = json::array();
  for (const groups::Thread& t : threads->items) {
    if (t.deleted) continue;
    auto marker = markers.find(t.id);
    const bool unread =
        read_markers != nullptr && (marker == markers.end() ? t.author != who.viewer.address
                                                            : t.last_post_at > marker->second);
    out.push_back({{"title", t.title},
                   {"unread", unread},
                   {"path", base + "/forum/" + std::to_string(t.id)},
                   {"author", t.author},
                   {"started", FormatTime(t.created_at)},
                   {"last_post", FormatTime(t.last_post_at)},
                   {"replies", t.reply_count},
                   {"pinned", t.pinned},
                   {"locked", t.locked}});
  }
  json& data = view.data;
  data["page_title"] = (HasErrors(extra) ? "Error: Forum – " : "Forum – ") + view.group.name;
  data["threads"] = std::move(out);
  json pagination = json::object();
  if (after > 0) {
    const int64_t prev = after > static_cast<int64_t>(kThreadsPerPage)
                             ? after - static_cast<int64_t>(kThreadsPerPage)
                             : 0;
    std::string prev_link = base + "/forum";
    if (prev > 0) prev_link += "?after=" + std::to_string(prev);
    pagination["prev"] = prev_link;
  }
  if (threads->next_after) {
    pagination["next"] = base + "/forum?after=" + std::to_string(*threads->next_after);
  }
  if (!pagination.empty()) data["pagination"] = std::move(pagination);
  for (auto& [k, v] : extra.items()) data[k] = v;
  co_return p.Page(who, status, "group-forum", std::move(data));
}

asio::awaitable<Response> GroupPages::Forum(RequestContext& ctx) {
  auto who_or = RequireMember(ctx);
  if (auto* res = std::get_if<Response>(&who_or)) co_return std::move(*res);
  co_return co_await ForumPage(*this, ctx, std::get<SignedIn>(who_or), json::object(),
                               http::status::ok);
}

asio::awaitable<Response> GroupPages::NewThread(RequestContext& ctx) {
  auto call_or = BeginGroupForm(ctx);
  if (auto* res = std::get_if<Response>(&call_or)) co_return std::move(*res);
  const GroupFormCall& call = std::get<GroupFormCall>(call_or);
  const SignedIn& who = call.who;
  const identity::OidcParams& form = call.form;
  const groups::GroupRef& ref = call.ref;
  const std::string title = Trim(form.Get("title"));
  const std::string body = form.Get("body");
  json extra{{"thread_title", title}, {"thread_body", body}};
  if (title.empty()) AddFieldError(extra, "title", "Enter a title for your thread");
  if (Trim(body).empty()) AddFieldError(extra, "body", "Enter your message");
  json data{{"title", title}, {"body", body}};
  if (!HasErrors(extra)) {
    if (Status s = groups::ValidateEventData(groups::event_type::kThreadCreated, data); !s.ok()) {
      const bool on_title = s.error().message.rfind("title", 0) == 0;
      AddFieldError(extra, on_title ? "title" : "body", s.error().message);
    }
  }
  if (HasErrors(extra)) {
    co_return co_await ForumPage(*this, ctx, who, std::move(extra), http::status::bad_request);
  }
  groups::Command command =
      MakeCommand(ref, groups::event_type::kThreadCreated, who, std::move(data));
  co_return co_await SubmitThenRedirect(who, std::move(command), GroupPath(ref, "/forum"),
                                        std::string("thread"));
}

// The thread page, with `extra` merged into its data.
static asio::awaitable<Response> ThreadPage(GroupPages& p, RequestContext& ctx, const SignedIn& who,
                                            json extra, http::status status) {
  auto view_or = p.LoadGroup(ctx, who, true, "forum");
  if (auto* res = std::get_if<Response>(&view_or)) co_return std::move(*res);
  GroupPages::GroupView& view = std::get<GroupPages::GroupView>(view_or);
  auto id = api::IdParam(ctx, "thread");
  if (!id.ok())
    co_return p.Failure(&who, MakeError(ErrorCode::kNotFound, "there is no such thread"));
  const std::string stream = view.group.ref.Stream();
  auto thread = p.api_context().groups->GetThread(stream, *id);
  if (!thread.ok()) co_return p.Failure(&who, thread.error());
  if (thread->deleted) {
    co_return p.Failure(&who, MakeError(ErrorCode::kNotFound, "this thread was deleted"));
  }
  const int64_t after = AfterParam(ctx);
  auto posts = p.api_context().groups->Posts(stream, *id, after, kPostsPerPage);
  if (!posts.ok()) co_return p.Failure(&who, posts.error());
  const bool facilitator = view.role && *view.role >= groups::Role::kFacilitator;
  const bool archived = view.group.status == groups::GroupStatus::kArchived;
  const std::string base = GroupPath(view.group.ref);
  const std::string thread_path = base + "/forum/" + std::to_string(*id);
  json out = json::array();
  for (const groups::Post& post : posts->items) {
    const bool mine = post.author == who.viewer.address;
    json j{{"id", post.id},
           {"anchor", "post-" + std::to_string(post.id)},
           {"author", post.author},
           {"author_path", "/people/" + post.author},
           {"when", FormatTime(post.created_at)},
           {"deleted", post.deleted},
           {"first", post.id == *id},
           {"can_edit", !post.deleted && !archived && (mine || facilitator)},
           {"edit_path", base + "/posts/" + std::to_string(post.id) + "/edit"},
           {"delete_path", base + "/posts/" + std::to_string(post.id) + "/delete"}};
    if (!post.deleted) j["body_html"] = groups::RenderMarkdown(post.body);
    if (post.edited_at) j["edited"] = FormatTime(*post.edited_at);
    out.push_back(std::move(j));
  }
  json& data = view.data;
  data["page_title"] =
      (HasErrors(extra) ? "Error: " : "") + thread->title + " – " + view.group.name;
  data["thread"] = {{"id", thread->id},
                    {"title", thread->title},
                    {"path", thread_path},
                    {"pinned", thread->pinned},
                    {"locked", thread->locked},
                    {"replies", thread->reply_count},
                    {"pin_path", thread_path + "/pin"},
                    {"lock_path", thread_path + "/lock"},
                    {"reply_path", thread_path + "/reply"}};
  data["posts"] = std::move(out);
  data["can_reply"] = view.role.has_value() && !archived && (!thread->locked || facilitator);
  data["can_moderate"] = facilitator && !archived;
  data["forum_path"] = base + "/forum";
  if (posts->next_after) {
    data["pagination"] = {{"next", thread_path + "?after=" + std::to_string(*posts->next_after)}};
  }
  for (auto& [k, v] : extra.items()) data[k] = v;
  p.MarkRead(who, stream, *id, thread->last_post_at);
  co_return p.Page(who, status, "group-thread", std::move(data));
}

asio::awaitable<Response> GroupPages::Thread(RequestContext& ctx) {
  auto who_or = RequireMember(ctx);
  if (auto* res = std::get_if<Response>(&who_or)) co_return std::move(*res);
  co_return co_await ThreadPage(*this, ctx, std::get<SignedIn>(who_or), json::object(),
                                http::status::ok);
}

asio::awaitable<Response> GroupPages::Reply(RequestContext& ctx) {
  auto call_or = BeginGroupForm(ctx);
  if (auto* res = std::get_if<Response>(&call_or)) co_return std::move(*res);
  const GroupFormCall& call = std::get<GroupFormCall>(call_or);
  const SignedIn& who = call.who;
  const identity::OidcParams& form = call.form;
  const groups::GroupRef& ref = call.ref;
  auto id = api::IdParam(ctx, "thread");
  if (!id.ok()) co_return Failure(&who, MakeError(ErrorCode::kNotFound, "there is no such thread"));
  const std::string body = form.Get("body");
  json extra{{"reply_body", body}};
  json data{{"thread", *id}, {"body", body}};
  if (Trim(body).empty()) {
    AddFieldError(extra, "body", "Enter your reply");
  } else if (Status s = groups::ValidateEventData(groups::event_type::kPostCreated, data);
             !s.ok()) {
    AddFieldError(extra, "body", s.error().message);
  }
  if (HasErrors(extra)) {
    co_return co_await ThreadPage(*this, ctx, who, std::move(extra), http::status::bad_request);
  }
  groups::Command command =
      MakeCommand(ref, groups::event_type::kPostCreated, who, std::move(data));
  co_return co_await SubmitThenRedirect(who, std::move(command),
                                        GroupPath(ref, "/forum/" + std::to_string(*id)),
                                        std::string("reply"));
}

asio::awaitable<Response> GroupPages::PinOrLock(RequestContext& ctx, bool pin) {
  auto call_or = BeginGroupForm(ctx);
  if (auto* res = std::get_if<Response>(&call_or)) co_return std::move(*res);
  const GroupFormCall& call = std::get<GroupFormCall>(call_or);
  const SignedIn& who = call.who;
  const identity::OidcParams& form = call.form;
  const groups::GroupRef& ref = call.ref;
  auto id = api::IdParam(ctx, "thread");
  if (!id.ok()) co_return Failure(&who, MakeError(ErrorCode::kNotFound, "there is no such thread"));
  const bool on = form.Get("value") != "0";
  const char* field = pin ? "pinned" : "locked";
  groups::Command command =
      MakeCommand(ref, pin ? groups::event_type::kThreadPinned : groups::event_type::kThreadLocked,
                  who, json{{"thread", *id}, {field, on}});
  co_return co_await SubmitThenRedirect(who, std::move(command),
                                        GroupPath(ref, "/forum/" + std::to_string(*id)),
                                        std::string("pinned"));
}

// The edit form for a post, with `extra` merged into its data.
static asio::awaitable<Response> EditPage(GroupPages& p, RequestContext& ctx, const SignedIn& who,
                                          json extra, http::status status) {
  auto view_or = p.LoadGroup(ctx, who, true, "forum");
  if (auto* res = std::get_if<Response>(&view_or)) co_return std::move(*res);
  GroupPages::GroupView& view = std::get<GroupPages::GroupView>(view_or);
  auto id = api::IdParam(ctx, "post");
  if (!id.ok()) co_return p.Failure(&who, MakeError(ErrorCode::kNotFound, "there is no such post"));
  const std::string stream = view.group.ref.Stream();
  auto post = p.api_context().groups->GetPost(stream, *id);
  if (!post.ok()) co_return p.Failure(&who, post.error());
  if (post->deleted)
    co_return p.Failure(&who, MakeError(ErrorCode::kNotFound, "this post was deleted"));
  auto thread = p.api_context().groups->GetThread(stream, post->thread_id);
  if (!thread.ok()) co_return p.Failure(&who, thread.error());
  const std::string base = GroupPath(view.group.ref);
  json& data = view.data;
  data["page_title"] = (HasErrors(extra) ? "Error: Edit post – " : "Edit post – ") + thread->title;
  data["post"] = {{"id", post->id},
                  {"first", post->id == post->thread_id},
                  {"title", thread->title},
                  {"body", post->body},
                  {"action", base + "/posts/" + std::to_string(post->id) + "/edit"},
                  {"thread_path", base + "/forum/" + std::to_string(post->thread_id)}};
  for (auto& [k, v] : extra.items()) data["post"][k] = v;
  if (extra.contains("error_summary")) {
    data["error_summary"] = extra["error_summary"];
    data["field_errors"] = extra["field_errors"];
  }
  co_return p.Page(who, status, "group-post-edit", std::move(data));
}

asio::awaitable<Response> GroupPages::EditPostPage(RequestContext& ctx) {
  auto who_or = RequireMember(ctx);
  if (auto* res = std::get_if<Response>(&who_or)) co_return std::move(*res);
  co_return co_await EditPage(*this, ctx, std::get<SignedIn>(who_or), json::object(),
                              http::status::ok);
}

asio::awaitable<Response> GroupPages::EditPost(RequestContext& ctx) {
  auto call_or = BeginGroupForm(ctx);
  if (auto* res = std::get_if<Response>(&call_or)) co_return std::move(*res);
  const GroupFormCall& call = std::get<GroupFormCall>(call_or);
  const SignedIn& who = call.who;
  const identity::OidcParams& form = call.form;
  const groups::GroupRef& ref = call.ref;
  auto id = api::IdParam(ctx, "post");
  if (!id.ok()) co_return Failure(&who, MakeError(ErrorCode::kNotFound, "there is no such post"));
  auto post = api_ctx_.groups->GetPost(ref.Stream(), *id);
  if (!post.ok()) co_return Failure(&who, post.error());
  const std::string body = form.Get("body");
  json data{{"post", *id}, {"body", body}};
  json extra{{"body", body}};
  const bool first = post->id == post->thread_id;
  if (first) {
    const std::string title = Trim(form.Get("title"));
    data["title"] = title;
    extra["title"] = title;
    if (title.empty()) AddFieldError(extra, "title", "Enter a title for the thread");
  }
  if (Trim(body).empty()) AddFieldError(extra, "body", "Enter the message");
  if (!HasErrors(extra)) {
    if (Status s = groups::ValidateEventData(groups::event_type::kPostEdited, data); !s.ok()) {
      AddFieldError(extra, s.error().message.rfind("title", 0) == 0 ? "title" : "body",
                    s.error().message);
    }
  }
  if (HasErrors(extra)) {
    co_return co_await EditPage(*this, ctx, who, std::move(extra), http::status::bad_request);
  }
  groups::Command command = MakeCommand(ref, groups::event_type::kPostEdited, who, std::move(data));
  co_return co_await SubmitThenRedirect(who, std::move(command),
                                        GroupPath(ref, "/forum/" + std::to_string(post->thread_id)),
                                        std::string("edited"));
}

asio::awaitable<Response> GroupPages::DeletePost(RequestContext& ctx) {
  auto call_or = BeginGroupForm(ctx);
  if (auto* res = std::get_if<Response>(&call_or)) co_return std::move(*res);
  const GroupFormCall& call = std::get<GroupFormCall>(call_or);
  const SignedIn& who = call.who;
  const groups::GroupRef& ref = call.ref;
  auto id = api::IdParam(ctx, "post");
  if (!id.ok()) co_return Failure(&who, MakeError(ErrorCode::kNotFound, "there is no such post"));
  auto post = api_ctx_.groups->GetPost(ref.Stream(), *id);
  if (!post.ok()) co_return Failure(&who, post.error());
  // Deleting a thread's first post deletes the thread: go back to the forum then.
  std::string back = GroupPath(ref, "/forum");
  if (post->id != post->thread_id) back += "/" + std::to_string(post->thread_id);
  groups::Command command =
      MakeCommand(ref, groups::event_type::kPostDeleted, who, json{{"post", *id}});
  co_return co_await SubmitThenRedirect(who, std::move(command), back, std::string("deleted"));
}

}  // namespace kith::node::pages
