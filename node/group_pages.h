// The members' web pages for groups (issue 6, "Web pages"): home, group about / forum /
// library / members / facilitator tools, my profile, the directory and profile pages.
//
// Server-rendered from node/templates/*.html inside the GOV.UK Frontend layout, working
// without JavaScript. Every form carries the session's CSRF token (`csrf_token`; a multipart
// upload sends it as a form part). Reads go through groups::GroupStore with the API's read rules
// (api::Api::ReadableGroup); writes go through federation::Replicator::Submit, exactly like the
// JSON API, and answer with a 303 to the page that shows the result (POST/redirect/GET). A
// command that is still waiting for the group's owner (another node that did not answer in
// time) redirects with `?notice=pending` and is listed as "waiting for <node>" on the home page
// and the group's pages. Form errors re-render the form with a GOV.UK error summary (400);
// refusals by the group's rules are shown on an error page with the status of their code.
//
// Who may use them: a member of this node, or a remote member signed in here through their
// home node (node/sso_routes.h; identity::SessionStore::AuthenticateAny) — the pages treat both
// as the JSON API does (api::Viewer, address handle@home-domain). Only /profile is for local
// members: a remote member is sent to their home node's /profile.
//
// URLs ({group} is "slug@domain"; every page needs a signed-in member except `/`):
//   GET  /                                      home: my groups, recent activity, pending commands
//   GET  /groups                                groups this member may see (filter `q`)
//   GET|POST /groups/new                        create a group (name, slug, description,
//                                               visibility, join_policy, tags); the same
//                                               command as POST /api/v1/groups
//   GET  /groups/{group}                        about; POST .../join, .../leave
//   GET  /groups/{group}/forum[?after=N]        threads; POST: new thread (title, body)
//   GET  /groups/{group}/forum/{thread}         a thread; POST .../reply (body)
//   POST /groups/{group}/forum/{thread}/pin | /lock   (value=1|0; facilitators)
//   GET|POST /groups/{group}/posts/{post}/edit  POST /groups/{group}/posts/{post}/delete
//   GET  /groups/{group}/library[?after=N]      documents; POST: upload (multipart: csrf_token,
//                                               title, description, file)
//   GET  /groups/{group}/library/{doc}          versions; POST .../versions (multipart),
//                                               POST .../remove. Downloads use the API's
//                                               /api/v1/groups/{group}/documents/{doc}/download
//   GET  /groups/{group}/members[?q=name]       members with a people finder
//   GET  /groups/{group}/manage                 facilitator tools; POST .../requests/{m}/approve|
//                                               decline, .../invite (member), .../members/{m}/role
//                                               (role), .../members/{m}/remove, .../settings,
//                                               .../archive, .../unarchive
//   GET|POST /profile                           my profile and directory visibility
//   GET  /directory[?q=&organisation=&node=&kind=&visibility=&offset=]   people and groups;
//                                               group results carry join / request buttons
//                                               (for a group hosted by a peer: a link to its
//                                               page there, through "sign in with your
//                                               organisation" for a member of this node)
//   GET  /people/{address}                      a person's profile page
//
// Thread-safety: the routes may run on any I/O thread; the pages hold no mutable state.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "federation/peer_store.h"
#include "groups/directory.h"
#include "groups/read_markers.h"
#include "groups/search.h"
#include "node/api_routes.h"
#include "node/api_util.h"
#include "node/router.h"
#include "node/web.h"
#include "storage/store.h"

namespace kith::node {

// The per-member read markers of the unread counts (groups/read_markers.h).
using ReadMarkers = groups::ReadMarkers;

// What the pages use beyond the web and API contexts; all optional (nullptr: the feature is
// off). `store`: the node's database, for the read markers (without it there are no unread
// counts). `peers`: the node's peers, for the directory's node filter and the links to groups
// hosted by a peer (without it the filter is a text field and such links go to this node's
// copy of the group). The directory's profiles and search index come from the ApiContext
// (`directory`, `searcher`); without them the directory lists only this node's people and
// the groups known here.
struct GroupPagesExtras {
  storage::Store* store = nullptr;
  federation::PeerStore* peers = nullptr;
};

// Adds the pages above. `web` and `api` (and what they point to) outlive the router's routes.
void AddGroupPages(Router& router, const WebContext& web, const ApiContext& api,
                   GroupPagesExtras extras = {});

namespace pages {

// What the directory knows of a group for its buttons (group_pages.cc).
struct GroupFacts;

// The signed-in member of a page request: a member of this node, or a remote member
// (session.remote(); viewer.member.id == 0, viewer.address handle@home-domain).
struct SignedIn {
  identity::Session session;
  api::Viewer viewer;  // member, address handle@domain
  bool remote() const { return session.remote(); }
};

// The handlers; members are defined by area in group_pages.cc (home, group, members, tools,
// profile, directory), group_pages_forum.cc and group_pages_library.cc.
class GroupPages {
 public:
  GroupPages(const WebContext& web, const ApiContext& api, GroupPagesExtras extras);
  static void Register(Router& router, const std::shared_ptr<GroupPages>& self);

  // group_pages.cc
  boost::asio::awaitable<Response> Home(RequestContext& ctx);
  boost::asio::awaitable<Response> GroupList(RequestContext& ctx);
  boost::asio::awaitable<Response> NewGroupPage(RequestContext& ctx);
  boost::asio::awaitable<Response> CreateGroup(RequestContext& ctx);
  boost::asio::awaitable<Response> About(RequestContext& ctx);
  boost::asio::awaitable<Response> JoinOrLeave(RequestContext& ctx, bool join);
  boost::asio::awaitable<Response> Members(RequestContext& ctx);
  boost::asio::awaitable<Response> Manage(RequestContext& ctx);
  // action: approve, decline, invite, role, remove, settings, archive, unarchive
  boost::asio::awaitable<Response> ManageAction(RequestContext& ctx, std::string action);
  boost::asio::awaitable<Response> Profile(RequestContext& ctx);
  boost::asio::awaitable<Response> SaveProfile(RequestContext& ctx);
  boost::asio::awaitable<Response> Directory(RequestContext& ctx);
  boost::asio::awaitable<Response> Person(RequestContext& ctx);
  // The directory page with the search index (groups/search.h); the search runs on the
  // blocking pool.
  boost::asio::awaitable<Response> SearchDirectory(RequestContext& ctx, const SignedIn& who);
  // The directory's join / ask-to-join / open-at-the-owner button of a group, and the link of
  // its name (`path`).
  nlohmann::json GroupAction(const SignedIn& who, const GroupFacts& group) const;
  // The directory's node filter: any node, this node, the active peers (value: domain).
  nlohmann::json NodeOptions(std::string_view selected) const;
  // The directory's results for search hits.
  nlohmann::json ResultsJson(const SignedIn& who, const std::vector<groups::SearchHit>& hits) const;
  // group_pages_forum.cc
  boost::asio::awaitable<Response> Forum(RequestContext& ctx);
  boost::asio::awaitable<Response> NewThread(RequestContext& ctx);
  boost::asio::awaitable<Response> Thread(RequestContext& ctx);
  boost::asio::awaitable<Response> Reply(RequestContext& ctx);
  boost::asio::awaitable<Response> PinOrLock(RequestContext& ctx, bool pin);
  boost::asio::awaitable<Response> EditPostPage(RequestContext& ctx);
  boost::asio::awaitable<Response> EditPost(RequestContext& ctx);
  boost::asio::awaitable<Response> DeletePost(RequestContext& ctx);
  // group_pages_library.cc
  boost::asio::awaitable<Response> Library(RequestContext& ctx);
  boost::asio::awaitable<Response> Upload(RequestContext& ctx, bool new_version);
  boost::asio::awaitable<Response> DocumentPage(RequestContext& ctx);
  boost::asio::awaitable<Response> RemoveDocument(RequestContext& ctx);
  // The body sink of the upload routes: only for a signed-in member.
  Result<std::unique_ptr<BodySink>> MakeUploadSink(const RequestContext& ctx);

  // --- shared by the areas ---------------------------------------------------------------
  // The signed-in member, or the response to send instead (a redirect to the sign-in page
  // that comes back to this page, or an error page).
  std::variant<SignedIn, Response> RequireMember(const RequestContext& ctx);
  // The form of a POST with a valid CSRF token, or the "form has expired" page.
  std::variant<identity::OidcParams, Response> CheckedForm(const RequestContext& ctx,
                                                           const SignedIn& who);
  // The page's group as the viewer may see it (content pages need `content`), with its data
  // for the templates in `group` (see GroupData) — or the error page to send.
  struct GroupView {
    groups::Group group;
    std::optional<groups::Role> role;
    nlohmann::json data;  // the page's data: group {...}, tabs, banners, notice
  };
  std::variant<GroupView, Response> LoadGroup(const RequestContext& ctx, const SignedIn& who,
                                              bool content, std::string_view tab);
  // The prologue of a group page: the signed-in member, then LoadGroup; with `facilitator`,
  // a member who is not one of the group's facilitators gets the "you cannot do that" page.
  struct GroupPageCall {
    SignedIn who;
    GroupView view;
  };
  std::variant<GroupPageCall, Response> BeginGroupPage(const RequestContext& ctx, bool content,
                                                       std::string_view tab,
                                                       bool facilitator = false);
  // The prologue of a group form (POST): the signed-in member, the CSRF-checked form and the
  // {group} parameter. (What the member may do is the owner's decision, at submission.)
  struct GroupFormCall {
    SignedIn who;
    identity::OidcParams form;
    groups::GroupRef ref;
  };
  std::variant<GroupFormCall, Response> BeginGroupForm(const RequestContext& ctx);
  // Submits `command` like the API does and redirects to `back` (with ?notice=<notice>, or
  // ?notice=pending when the owner has not answered yet); a refusal is an error page.
  boost::asio::awaitable<Response> SubmitThenRedirect(const SignedIn& who, groups::Command command,
                                                      std::string back, std::string notice);
  // The page rendered in the layout for `who` (the layout's `member` filled for a remote one).
  Response Page(const SignedIn& who, http::status status, std::string_view name,
                nlohmann::json data);
  // An error page for `error` (status from its code).
  Response Failure(const SignedIn* who, const Error& error);
  // A command of `who` in `group`.
  groups::Command MakeCommand(const groups::GroupRef& ref, std::string_view type,
                              const SignedIn& who, nlohmann::json data) const;

  const WebContext& web() const { return web_; }
  const ApiContext& api_context() const { return api_ctx_; }
  // nullptr when unread counts are off.
  ReadMarkers* read_markers() const { return read_markers_.get(); }
  // Records a read marker (when they are on); a failure is logged.
  void MarkRead(const SignedIn& who, const std::string& stream, int64_t thread_id, int64_t read_at);
  // The base URL of the peer whose domain is `domain` (an active one), or nullopt.
  std::optional<std::string> PeerBaseUrl(std::string_view domain) const;

 private:
  const WebContext web_;
  const ApiContext api_ctx_;
  std::unique_ptr<ReadMarkers> read_markers_;
  federation::PeerStore* peers_ = nullptr;
  api::Api api_;  // for its read rules (ReadableGroup, CheckGroupAccess)
};

// --- helpers shared by the page files (group_pages.cc) -------------------------------------

// The live session of the request's kith_session cookie, of a member of this node or of a
// remote member; nullopt when there is none.
std::optional<identity::Session> AnySession(const WebContext& web, const RequestContext& ctx);

// "23 November 2026 at 17:43 UTC".
std::string FormatTime(int64_t unix_seconds);
// "2.4 MB", "512 bytes".
std::string FormatSize(int64_t bytes);
// The path of a group's page: "/groups/slug@domain" + suffix.
std::string GroupPath(const groups::GroupRef& ref, std::string_view suffix = "");
// Adds an error to data's error_summary and field_errors (GOV.UK error summary pattern).
void AddFieldError(nlohmann::json& data, std::string_view field, std::string_view text);
bool HasErrors(const nlohmann::json& data);
// Trims ASCII white space.
std::string Trim(std::string_view s);
// Whether `haystack` contains `needle`, ignoring ASCII case.
bool ContainsNoCase(std::string_view haystack, std::string_view needle);
// The message shown for ?notice=<code> (fixed texts; unknown codes give nullopt).
std::optional<std::string> NoticeText(std::string_view code);

}  // namespace pages
}  // namespace kith::node
