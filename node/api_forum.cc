// /api/v1: forum threads and posts (node/api_routes.h).
#include "node/api_util.h"

namespace kith::node::api {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

json NextAfter(const std::optional<int64_t>& next) { return next ? json(*next) : json(nullptr); }

}  // namespace

asio::awaitable<Response> Api::Threads(RequestContext& ctx) {
  auto call = BeginGroup(ctx, false, GroupAccess::kContent);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  auto page = GetPageParams(ctx);
  if (!page.ok()) co_return Fail(page.error());
  auto threads = c_.groups->Threads(ref.Stream(), page->after, page->limit);
  if (!threads.ok()) co_return Fail(threads.error());
  json out = json::array();
  for (const auto& t : threads->items) out.push_back(ThreadJson(t));
  co_return Json(http::status::ok,
                 json{{"threads", std::move(out)}, {"next_after", NextAfter(threads->next_after)}});
}

asio::awaitable<Response> Api::CreateThread(RequestContext& ctx) {
  auto call = BeginGroup(ctx, true, GroupAccess::kAny);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  auto title = OptString(call->body, "title");
  if (!title.ok()) co_return Fail(title.error());
  auto body = OptString(call->body, "body");
  if (!body.ok()) co_return Fail(body.error());
  if (!*title || !*body) {
    co_return Fail(MakeError(ErrorCode::kInvalidArgument, "title and body: required"));
  }
  groups::Command command = MakeCommand(ref, groups::event_type::kThreadCreated, call->viewer,
                                        json{{"title", **title}, {"body", **body}});
  co_return co_await Submit(std::move(command), true);
}

asio::awaitable<Response> Api::GetThread(RequestContext& ctx) {
  auto call = BeginGroup(ctx, false, GroupAccess::kContent);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  auto id = IdParam(ctx, "thread");
  if (!id.ok()) co_return Fail(id.error());
  auto page = GetPageParams(ctx);
  if (!page.ok()) co_return Fail(page.error());
  auto thread = c_.groups->GetThread(ref.Stream(), *id);
  if (!thread.ok()) co_return Fail(thread.error());
  auto posts = c_.groups->Posts(ref.Stream(), *id, page->after, page->limit);
  if (!posts.ok()) co_return Fail(posts.error());
  json out = json::array();
  for (const auto& p : posts->items) out.push_back(PostJson(p));
  co_return Json(http::status::ok, json{{"thread", ThreadJson(*thread)},
                                        {"posts", std::move(out)},
                                        {"next_after", NextAfter(posts->next_after)}});
}

asio::awaitable<Response> Api::Reply(RequestContext& ctx) {
  auto call = BeginGroup(ctx, true, GroupAccess::kAny);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  auto id = IdParam(ctx, "thread");
  if (!id.ok()) co_return Fail(id.error());
  auto body = OptString(call->body, "body");
  if (!body.ok()) co_return Fail(body.error());
  if (!*body) co_return Fail(MakeError(ErrorCode::kInvalidArgument, "body: required"));
  groups::Command command = MakeCommand(ref, groups::event_type::kPostCreated, call->viewer,
                                        json{{"thread", *id}, {"body", **body}});
  co_return co_await Submit(std::move(command), true);
}

asio::awaitable<Response> Api::PinOrLock(RequestContext& ctx, bool pin) {
  auto call = BeginGroup(ctx, true, GroupAccess::kAny);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  auto id = IdParam(ctx, "thread");
  if (!id.ok()) co_return Fail(id.error());
  const char* field = pin ? "pinned" : "locked";
  auto value = OptBool(call->body, field);
  if (!value.ok()) co_return Fail(value.error());
  bool on = value->value_or(true);
  groups::Command command =
      MakeCommand(ref, pin ? groups::event_type::kThreadPinned : groups::event_type::kThreadLocked,
                  call->viewer, json{{"thread", *id}, {field, on}});
  co_return co_await Submit(std::move(command), false);
}

asio::awaitable<Response> Api::EditPost(RequestContext& ctx) {
  auto call = BeginGroup(ctx, true, GroupAccess::kAny);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  auto id = IdParam(ctx, "post");
  if (!id.ok()) co_return Fail(id.error());
  auto body = OptString(call->body, "body");
  if (!body.ok()) co_return Fail(body.error());
  auto title = OptString(call->body, "title");
  if (!title.ok()) co_return Fail(title.error());
  if (!*body) co_return Fail(MakeError(ErrorCode::kInvalidArgument, "body: required"));
  json data{{"post", *id}, {"body", **body}};
  if (*title) data["title"] = **title;
  groups::Command command =
      MakeCommand(ref, groups::event_type::kPostEdited, call->viewer, std::move(data));
  co_return co_await Submit(std::move(command), false);
}

asio::awaitable<Response> Api::DeletePost(RequestContext& ctx) {
  auto call = BeginGroup(ctx, false, GroupAccess::kAny);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  auto id = IdParam(ctx, "post");
  if (!id.ok()) co_return Fail(id.error());
  groups::Command command =
      MakeCommand(ref, groups::event_type::kPostDeleted, call->viewer, json{{"post", *id}});
  co_return co_await Submit(std::move(command), false);
}

}  // namespace kith::node::api
