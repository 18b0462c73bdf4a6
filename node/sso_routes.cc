#include "node/sso_routes.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <string>

#include "node/await.h"
#include "node/web_util.h"

namespace kith::node {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

constexpr long kHomeCookieSeconds = 365L * 24 * 3600;
constexpr size_t kMaxFieldBytes = 2048;

class SsoRoutes {
 public:
  SsoRoutes(const WebContext& web, federation::PeerSignIn& sign_in) : c_(web), s_(sign_in) {}

  asio::awaitable<Response> Organisation(RequestContext& ctx) {
    std::string next = ctx.QueryParam("next").value_or("/");
    if (next.size() > kMaxFieldBytes || !IsLocalPath(next)) next = "/";
    auto node = ctx.QueryParam("node");
    if (node && !node->empty()) co_return Start(ctx, *node, next);
    co_return ChoosePage(ctx, next, "", "");
  }

  asio::awaitable<Response> Callback(RequestContext& ctx) {
    const std::string state = ctx.QueryParam("state").value_or("");
    auto pending = state.empty() || state.size() > 128 ? std::nullopt : s_.pending().Take(state);
    if (!pending) {
      co_return Problem(http::status::bad_request, "This sign-in has expired",
                        "The sign-in link was not started here, was already used or is more "
                        "than ten minutes old. Start again from \"Sign in with your "
                        "organisation\".");
    }
    // RFC 9207: the response names its issuer; it must be the one we sent the member to.
    if (auto iss = ctx.QueryParam("iss"); iss && *iss != pending->issuer) {
      co_return Problem(http::status::bad_request, "Sign-in refused",
                        "The answer came from another organisation than the one you chose.");
    }
    auto peer = s_.FindActivePeer(pending->issuer);
    if (!peer.ok() || peer->node_id != pending->issuer) {
      co_return Problem(http::status::forbidden, "Sign-in refused",
                        "This node no longer works with " + pending->issuer + ".");
    }
    if (auto error = ctx.QueryParam("error")) {
      const bool interaction = *error == "login_required" || *error == "interaction_required" ||
                               *error == "consent_required" ||
                               *error == "account_selection_required";
      if (interaction && pending->prompt_none) {
        // Not signed in at home (or it needs a page): go again, this time with its pages.
        co_return Redirect(*peer, pending->return_to, false, "");
      }
      std::string description = ctx.QueryParam("error_description").value_or("");
      if (description.size() > 300) description.resize(300);
      co_return Problem(http::status::bad_request, "Sign-in did not finish",
                        peer->name + " answered: " + *error +
                            (description.empty() ? "" : " (" + description + ")"));
    }
    const std::string code = ctx.QueryParam("code").value_or("");
    if (code.empty() || code.size() > 512) {
      co_return Problem(http::status::bad_request, "Sign-in did not finish",
                        "The answer carried no authorization code.");
    }
    const std::string return_to = pending->return_to;
    auto who = co_await s_.Redeem(std::move(*pending), code);
    if (!who.ok()) {
      spdlog::warn("request {}: sign-in through {} failed: {}", ctx.request_id, peer->node_id,
                   who.error().message);
      const bool unavailable = who.error().code == ErrorCode::kUnavailable;
      co_return Problem(unavailable ? http::status::bad_gateway : http::status::unauthorized,
                        "Sign-in did not finish",
                        unavailable ? peer->name + " could not be reached. Try again later."
                                    : "The answer of " + peer->name +
                                          " could not be verified: " + who.error().message);
    }
    identity::RemoteSignIn remote{who->address, who->handle,       peer->node_id,  who->sub,
                                  who->name,    who->organisation, who->auth_time, who->sid};
    identity::SessionContext session_context{
        ClientAddress(ctx), std::string(ctx.request[http::field::user_agent].substr(0, 512))};
    auto created =
        co_await AwaitDone<identity::NewSession>([&](identity::Done<identity::NewSession> done) {
          c_.sessions->CreateRemote(remote, session_context, std::move(done));
        });
    if (!created.ok()) {
      spdlog::warn("request {}: no session for {}: {}", ctx.request_id, who->address,
                   created.error().message);
      co_return Problem(created.error().code == ErrorCode::kConflict
                            ? http::status::conflict
                            : http::status::internal_server_error,
                        "Sign-in did not finish", created.error().message);
    }
    // A session this browser had before (local or remote) ends: one person per browser.
    if (auto old = GetCookie(ctx.request, kSessionCookie); old && !old->empty()) {
      auto previous = c_.sessions->AuthenticateAny(*old);
      if (previous.ok()) co_await End(*previous);
    }
    spdlog::info("request {}: {} signed in through {}", ctx.request_id, who->address,
                 peer->node_id);
    Response res = SeeOther(return_to);
    const bool secure = SecureCookies(c_);
    res.insert(http::field::set_cookie, CookieHeader(kSessionCookie, created->token, secure));
    res.insert(http::field::set_cookie, CookieHeader(kHomeNodeCookie, FormEncode(peer->node_id),
                                                     secure, kHomeCookieSeconds));
    co_return res;
  }

  // POST /sign-in/backchannel-logout (OpenID Connect Back-Channel Logout 1.0 §2.5, §2.8): the
  // home node of a remote member says they signed out everywhere. 200 when the token was
  // valid (whether or not a session was still there); 400 with an OAuth error otherwise.
  asio::awaitable<Response> BackchannelLogout(RequestContext& ctx) {
    auto form = RequestForm(ctx);
    if (!form.ok()) co_return LogoutRefused(ctx, "the body must be a form: logout_token=...");
    if (!form->duplicates.empty())
      co_return LogoutRefused(ctx, "parameter " + form->duplicates.front() + " is repeated");
    const std::string token = form->Get("logout_token");
    if (token.empty()) co_return LogoutRefused(ctx, "logout_token is missing");
    auto issuer = s_.LogoutTokenPeer(token);
    if (!issuer.ok()) co_return LogoutRefused(ctx, issuer.error().message);
    auto provider = co_await s_.Provider(*issuer);
    if (!provider.ok()) co_return KeysUnavailable(ctx, provider.error());
    auto verified = s_.CheckLogoutToken(token, *provider);
    if (!verified.ok() && verified.error().Name() == "unknown_key" &&
        s_.WorthRefetching(*provider)) {
      // The peer may have rotated its keys since we cached its JWKS.
      auto fresh = co_await s_.Provider(*issuer, true);
      if (!fresh.ok()) co_return KeysUnavailable(ctx, fresh.error());
      verified = s_.CheckLogoutToken(token, *fresh);
    }
    if (!verified.ok()) co_return LogoutRefused(ctx, verified.error().message);
    identity::RemoteLogout logout{verified->issuer, verified->sub, verified->sid, verified->jti,
                                  verified->expires_at};
    auto ended = co_await AwaitDone<int64_t>([&](identity::Done<int64_t> done) {
      c_.sessions->EndRemoteByLogout(std::move(logout), std::move(done));
    });
    if (!ended.ok()) {
      if (ended.error().code == ErrorCode::kConflict)
        co_return LogoutRefused(ctx, "logout token: " + ended.error().message);
      spdlog::error("request {}: back-channel logout: {}", ctx.request_id, ended.error().message);
      co_return LogoutAnswer(http::status::service_unavailable, "temporarily_unavailable",
                             "the sessions cannot be ended now");
    }
    spdlog::info("request {}: back-channel logout from {} (sub {}, sid {}): {} session(s) ended",
                 ctx.request_id, verified->issuer, verified->sub.empty() ? "-" : verified->sub,
                 verified->sid.empty() ? "-" : verified->sid, *ended);
    co_return LogoutAnswer(http::status::ok, "", "");
  }

  asio::awaitable<Response> SignOut(RequestContext& ctx) {
    auto token = GetCookie(ctx.request, kSessionCookie);
    Response res = SeeOther("/signed-out");
    res.insert(http::field::set_cookie, CookieHeader(kSessionCookie, "", SecureCookies(c_), 0));
    if (!token || token->empty()) co_return res;
    auto session = c_.sessions->AuthenticateAny(*token);
    if (!session.ok()) co_return res;
    auto form = RequestForm(ctx);
    if (!form.ok() || !identity::SessionStore::CheckCsrf(*session, form->Get("csrf_token"))) {
      co_return Problem(http::status::forbidden, "Sign-out refused",
                        "The form was out of date. Go back, reload the page and try again.");
    }
    co_await End(*session);
    co_return res;
  }

 private:
  Response Start(RequestContext& ctx, const std::string& node, const std::string& next) {
    if (node.size() > kMaxFieldBytes) return ChoosePage(ctx, next, "", "Enter a shorter name");
    auto peer = s_.FindActivePeer(node);
    if (!peer.ok()) {
      return ChoosePage(ctx, next, node,
                        peer.error().code == ErrorCode::kNotFound
                            ? "Enter the address of an organisation this node works with, like "
                              "name@council.example"
                            : "The list of organisations cannot be read just now; try again");
    }
    // Seen this browser sign in from there before: try without any page first.
    auto home = GetCookie(ctx.request, kHomeNodeCookie);
    auto decoded = home ? PercentDecode(*home, true) : std::nullopt;
    const bool silent = decoded && *decoded == peer->node_id;
    std::string hint;
    if (node.find('@') != std::string::npos && node.find("://") == std::string::npos) hint = node;
    return Redirect(*peer, next, silent, hint);
  }

  Response Redirect(const federation::Peer& peer, const std::string& next, bool silent,
                    const std::string& hint) {
    auto request =
        identity::NewRpAuthRequest(peer.node_id, s_.RedirectUri(), silent, next, *c_.clock);
    // The endpoint is the peer's own (PeerSignIn checks discovery answers against it too).
    auto url = identity::RpAuthorizationUrl(peer.node_id + "/oidc/authorize", s_.client_id(),
                                            request, hint);
    if (!url.ok()) {
      return Problem(http::status::bad_gateway, "Sign-in is not possible",
                     "The address of " + peer.name + " is not usable: " + url.error().message);
    }
    s_.pending().Put(std::move(request));
    return Found(*url);
  }

  Response ChoosePage(const RequestContext& ctx, const std::string& next, const std::string& value,
                      const std::string& error) {
    json peers = json::array();
    auto active = s_.ActivePeers();
    if (active.ok()) {
      for (const auto& p : *active) {
        peers.push_back({{"name", p.name.empty() ? p.node_id : p.name},
                         {"organisation", p.organisation},
                         {"href", "/sign-in/organisation?node=" + FormEncode(p.node_id) +
                                      "&next=" + FormEncode(next)}});
      }
    }
    json data = {{"page_title", "Sign in with your organisation"},
                 {"has_peers", !peers.empty()},
                 {"peers", peers},
                 {"next", next},
                 {"node_value", value}};
    if (!error.empty()) {
      data["field_errors"] = {{"node", error}};
      data["error_summary"] = {{"errors", json::array({{{"text", error}, {"href", "#node"}}})}};
    }
    (void)ctx;
    return HtmlPage(c_, error.empty() ? http::status::ok : http::status::bad_request,
                    "sign-in-organisation", std::move(data));
  }

  // The answers of the back-channel logout endpoint: no body on success, an OAuth error
  // otherwise; never cached.
  static Response LogoutAnswer(http::status status, std::string_view error,
                               std::string_view description) {
    Response res{status, 11};
    res.set(http::field::cache_control, "no-store");
    if (!error.empty()) {
      res.set(http::field::content_type, "application/json");
      res.body() = json{{"error", error}, {"error_description", description}}.dump(
          -1, ' ', false, json::error_handler_t::replace);
    }
    res.prepare_payload();
    return res;
  }

  Response KeysUnavailable(const RequestContext& ctx, const Error& error) const {
    spdlog::warn("request {}: back-channel logout: {}", ctx.request_id, error.message);
    return LogoutAnswer(http::status::service_unavailable, "temporarily_unavailable",
                        "the issuer's keys cannot be fetched now");
  }

  Response LogoutRefused(const RequestContext& ctx, const std::string& reason) const {
    spdlog::warn("request {}: back-channel logout refused: {}", ctx.request_id, reason);
    return LogoutAnswer(http::status::bad_request, "invalid_request", reason);
  }

  Response Problem(http::status status, std::string_view title, std::string_view message) const {
    return ErrorPage(c_, status, title, message);
  }

  asio::awaitable<void> End(const identity::Session& session) {
    auto done = co_await AwaitDone<bool>([&](identity::Done<bool> d) {
      auto wrap = [d](Status s) { d(s.ok() ? Result<bool>(true) : Result<bool>(s.error())); };
      if (session.remote()) {
        c_.sessions->RevokeRemote(session.id, wrap);
      } else {
        c_.sessions->Revoke(session.id, wrap);
      }
    });
    if (!done.ok()) spdlog::warn("session {}: not ended: {}", session.id, done.error().message);
  }

  const WebContext& c_;
  federation::PeerSignIn& s_;
};

}  // namespace

void AddSsoRoutes(Router& router, const WebContext& web, federation::PeerSignIn& sign_in) {
  auto routes = std::make_shared<SsoRoutes>(web, sign_in);
  auto bind = [routes](auto method) {
    return [routes, method](RequestContext& ctx) -> asio::awaitable<Response> {
      co_return co_await ((*routes).*method)(ctx);
    };
  };
  router.AddOrDie(http::verb::get, "/sign-in/organisation", bind(&SsoRoutes::Organisation));
  router.AddOrDie(http::verb::get, "/sign-in/callback", bind(&SsoRoutes::Callback));
  router.AddOrDie(http::verb::post, "/sign-in/remote/sign-out", bind(&SsoRoutes::SignOut),
                  RouteOptions{.max_body_bytes = 8 * 1024});
  router.AddOrDie(http::verb::post, federation::kBackchannelLogoutPath,
                  bind(&SsoRoutes::BackchannelLogout), RouteOptions{.max_body_bytes = 16 * 1024});
}

}  // namespace kith::node
