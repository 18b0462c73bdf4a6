// Internals of the /api/v1 routes (node/api_routes.h): authentication, request parsing, the
// JSON forms of groups, threads, posts and documents, and the handler class whose members are
// defined by area in api_groups.cc, api_forum.cc and api_library.cc.
//
// Thread-safety: free functions over their arguments; Api is stateless apart from its context.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "node/api_routes.h"
#include "node/await.h"
#include "node/router.h"

namespace kith::node::api {

// Who is calling. For a remote member (signed in through their home node) `member` has id 0
// and only handle and display_name; `address` is handle@home-domain.
struct Viewer {
  identity::Member member;
  std::string address;                       // handle@domain
  bool bearer = false;                       // authenticated by an access token (not a session)
  std::optional<identity::Session> session;  // when authenticated by the session cookie
};

// Authenticates the request (see api_routes.h). Unsafe methods with a session need the
// X-CSRF-Token header. kUnauthenticated / kPermissionDenied ("csrf").
Result<Viewer> Authenticate(const ApiContext& c, const RequestContext& ctx);

// The viewer of a live session `session` (local or remote, as Authenticate makes it; used by
// the web pages, which check their CSRF token in the form). kUnauthenticated when a local
// session's member is gone (or cannot be read).
Result<Viewer> SessionViewer(const ApiContext& c, identity::Session session);

// A command of `viewer` in the group `ref` (command_id left empty: the Replicator makes one).
groups::Command MakeCommand(const groups::GroupRef& ref, std::string_view type,
                            const Viewer& viewer, nlohmann::json data);

// A new group's fields (POST /api/v1/groups and the page GET|POST /groups/new).
struct NewGroup {
  std::string slug;
  std::string name;
  std::string description;
  std::string visibility = "public";  // public | restricted | private
  std::string join_policy = "open";   // open | request | invite
  std::vector<std::string> tags;
};
// The group.created command of `viewer` for `group` at this node, validated (the slug, then
// the event's data): kInvalidArgument "<field>: <problem>" otherwise. Submitting it is the
// caller's (Replicator::Submit; kConflict when the slug is taken).
Result<groups::Command> NewGroupCommand(const ApiContext& c, const Viewer& viewer,
                                        const NewGroup& group);
// A slug made from a group's name: ASCII letters and digits lower-cased, every other run of
// characters one '-', no '-' at either end, at most groups::kMaxSlug characters; "" when the
// name has no ASCII letter or digit.
std::string SlugFromName(std::string_view name);

// Runs `work` on `pool` — reads that may take milliseconds (a search, a scan) never run on an
// I/O thread — and resumes the awaiting coroutine on its own executor with the result. Without
// a pool (tests), `work` runs at once on the calling thread. `work` is copied; it must not
// refer to anything that may die before it runs (capture by value). Pass a named
// std::function: GCC 12 destroys non-trivial temporaries of a co_await expression twice.
template <class T>
boost::asio::awaitable<Result<T>> OnPool(boost::asio::thread_pool* pool,
                                         const std::function<Result<T>()>& work) {
  return AwaitDone<T>([pool, work](std::function<void(Result<T>)> done) {
    if (pool == nullptr) {
      done(work());
      return;
    }
    boost::asio::post(*pool, [work, done = std::move(done)] { done(work()); });
  });
}

// A JSON error response (no-store).
Response Fail(const Error& error);
// A JSON response (no-store).
Response Json(http::status status, const nlohmann::json& body);

// The request body as a JSON object. kInvalidArgument saying what is wrong.
Result<nlohmann::json> JsonBody(std::string_view body);

// Field readers for a JSON object: absent -> nullopt; wrong type -> kInvalidArgument naming it.
Result<std::optional<std::string>> OptString(const nlohmann::json& body, const char* name);
Result<std::optional<bool>> OptBool(const nlohmann::json& body, const char* name);
// Tags: an array of strings, or one comma-separated string (trimmed, empty ones dropped).
Result<std::optional<std::vector<std::string>>> OptTags(const nlohmann::json& body,
                                                        const char* name);
std::vector<std::string> SplitTags(std::string_view csv);

// The {group} parameter ("slug@domain", already percent-decoded by the router).
Result<groups::GroupRef> GroupParam(const RequestContext& ctx);
// A positive integer path parameter.
Result<int64_t> IdParam(const RequestContext& ctx, std::string_view name);
// ?after=N&limit=M (after >= 0, default 0; limit 1..100, default 50).
struct PageParams {
  int64_t after = 0;
  size_t limit = 50;
};
Result<PageParams> GetPageParams(const RequestContext& ctx);

nlohmann::json GroupJson(const groups::Group& g);
nlohmann::json ThreadJson(const groups::Thread& t);
nlohmann::json PostJson(const groups::Post& p);
nlohmann::json VersionJson(const groups::DocumentVersion& v);
nlohmann::json DocumentJson(const groups::Document& d);
nlohmann::json OutboxJson(const federation::OutboxEntry& e);

// A media type safe to store and send: "type/subtype" of token characters, lower-cased,
// parameters dropped except charset; anything else -> "application/octet-stream".
std::string SanitiseMediaType(std::string_view media_type);
// Content-Disposition: attachment with an ASCII fallback filename and RFC 5987 filename*.
std::string AttachmentDisposition(std::string_view filename);

// A single byte range of a Range header against a representation of `size` bytes.
struct RangeResult {
  enum class Kind { kFull, kPartial, kUnsatisfiable };
  Kind kind = Kind::kFull;
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive
};
// Absent, malformed, or several ranges: kFull (RFC 9110 allows ignoring Range).
RangeResult ParseRange(std::string_view header, uint64_t size);

// What a route needs of the {group} it names (Api::BeginGroup):
//   kAny          only the parameter (a write: the group's owner decides)
//   kListed       the group must be visible to the viewer (a private one only to members)
//   kContent      the viewer may read its content (kPermissionDenied otherwise)
//   kFacilitator  kContent, and the viewer is a facilitator or owner (kPermissionDenied)
enum class GroupAccess { kAny, kListed, kContent, kFacilitator };

class Api {
 public:
  explicit Api(ApiContext c) : c_(c) {}
  static void Register(Router& router, const std::shared_ptr<Api>& self);

  // api_groups.cc
  boost::asio::awaitable<Response> Me(RequestContext& ctx);
  boost::asio::awaitable<Response> ListGroups(RequestContext& ctx);
  boost::asio::awaitable<Response> CreateGroup(RequestContext& ctx);
  boost::asio::awaitable<Response> GetGroup(RequestContext& ctx);
  boost::asio::awaitable<Response> UpdateGroup(RequestContext& ctx);
  boost::asio::awaitable<Response> Archive(RequestContext& ctx, bool archive);
  boost::asio::awaitable<Response> Digest(RequestContext& ctx);
  boost::asio::awaitable<Response> Join(RequestContext& ctx);
  boost::asio::awaitable<Response> Leave(RequestContext& ctx);
  boost::asio::awaitable<Response> Follow(RequestContext& ctx, bool follow);
  boost::asio::awaitable<Response> Members(RequestContext& ctx);
  boost::asio::awaitable<Response> ChangeRole(RequestContext& ctx);
  boost::asio::awaitable<Response> RemoveMember(RequestContext& ctx);
  boost::asio::awaitable<Response> Requests(RequestContext& ctx);
  boost::asio::awaitable<Response> Decide(RequestContext& ctx, bool approve);
  boost::asio::awaitable<Response> Invites(RequestContext& ctx);
  boost::asio::awaitable<Response> Invite(RequestContext& ctx);
  boost::asio::awaitable<Response> Commands(RequestContext& ctx);
  boost::asio::awaitable<Response> GetCommand(RequestContext& ctx);
  // api_forum.cc
  boost::asio::awaitable<Response> Threads(RequestContext& ctx);
  boost::asio::awaitable<Response> CreateThread(RequestContext& ctx);
  boost::asio::awaitable<Response> GetThread(RequestContext& ctx);
  boost::asio::awaitable<Response> Reply(RequestContext& ctx);
  boost::asio::awaitable<Response> PinOrLock(RequestContext& ctx, bool pin);
  boost::asio::awaitable<Response> EditPost(RequestContext& ctx);
  boost::asio::awaitable<Response> DeletePost(RequestContext& ctx);
  // api_library.cc
  boost::asio::awaitable<Response> Documents(RequestContext& ctx);
  boost::asio::awaitable<Response> Upload(RequestContext& ctx, bool new_version);
  boost::asio::awaitable<Response> GetDocument(RequestContext& ctx);
  boost::asio::awaitable<Response> UpdateDocument(RequestContext& ctx);
  boost::asio::awaitable<Response> DeleteDocument(RequestContext& ctx);
  boost::asio::awaitable<Response> Download(RequestContext& ctx);
  // The body sink of the upload routes (authenticates first, so that nobody unauthenticated
  // can make the node write to disk).
  Result<std::unique_ptr<BodySink>> MakeUploadSink(const RequestContext& ctx);

  // Submits a command by `viewer` and answers as the contract says (201 when `created`).
  boost::asio::awaitable<Response> Submit(groups::Command command, bool created);
  // The group for a read by `viewer`: kNotFound for an unknown group or a private one the
  // viewer is not in; kPermissionDenied when the viewer may not read its content and
  // `content` is true.
  Result<groups::Group> ReadableGroup(const groups::GroupRef& ref, const Viewer& viewer,
                                      bool content);
  // Authenticates and reads the JSON body.
  struct Call {
    Viewer viewer;
    nlohmann::json body;
  };
  Result<Call> Begin(const RequestContext& ctx, bool with_body);
  // The prologue of the group routes: Begin, the {group} parameter, and what `access` asks
  // for. `group` and `role` are filled unless access is kAny.
  struct GroupCall {
    Viewer viewer;
    nlohmann::json body;
    groups::GroupRef ref;
    std::optional<groups::Group> group;
    std::optional<groups::Role> role;
  };
  Result<GroupCall> BeginGroup(const RequestContext& ctx, bool with_body, GroupAccess access);
  // The checks of `access` for `viewer` on `ref`: the group (nullopt for kAny) and the
  // viewer's role in it. Shared with the web pages.
  struct GroupAccessResult {
    std::optional<groups::Group> group;
    std::optional<groups::Role> role;
  };
  Result<GroupAccessResult> CheckGroupAccess(const groups::GroupRef& ref, const Viewer& viewer,
                                             GroupAccess access);

  const ApiContext& context() const { return c_; }

 private:
  ApiContext c_;
};

}  // namespace kith::node::api
