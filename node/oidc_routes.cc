// The OpenID Connect provider's HTTP endpoints (node/web.h): they parse requests into
// identity::OidcParams, call identity::OidcProvider, and render what it answers.
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <optional>

#include "node/await.h"
#include "node/web.h"
#include "node/web_util.h"

namespace kith::node {
namespace {

namespace asio = boost::asio;
using identity::AuthorizeRequest;
using identity::AuthorizeStep;
using identity::OAuthError;
using identity::OidcParams;
using identity::Session;

// A sign-in within this many seconds counts as "this interaction's" sign-in when the member
// continues from the consent page (so prompt=login is not asked twice in a row).
constexpr int64_t kRecentSignInSeconds = 300;

// The largest authorization request we keep in a form field (the query string of the request).
constexpr size_t kMaxAuthzBytes = 8192;

std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A JSON response for the token and UserInfo endpoints: never cached (RFC 6749 §5.1).
Response OAuthJson(http::status status, const nlohmann::json& body) {
  Response res = JsonResponse(status, Dump(body));
  res.set(http::field::cache_control, "no-store");
  res.set(http::field::pragma, "no-cache");
  return res;
}

// The OAuth error body {"error","error_description"} with the status the spec asks for.
Response OAuthErrorResponse(const Error& error, bool basic_attempted = false) {
  const std::string code(error.Name());
  http::status status = http::status::bad_request;
  if (code == "invalid_client") status = http::status::unauthorized;
  if (code == "invalid_token") status = http::status::unauthorized;
  if (error.code == ErrorCode::kUnavailable) status = http::status::service_unavailable;
  if (error.code == ErrorCode::kInternal) status = http::status::internal_server_error;
  nlohmann::json body = {{"error", error.code == ErrorCode::kInternal ? "server_error" : code}};
  if (!error.message.empty()) body["error_description"] = error.message;
  Response res = OAuthJson(status, body);
  if (code == "invalid_client" && basic_attempted) {
    res.set(http::field::www_authenticate, "Basic realm=\"kith\", charset=\"UTF-8\"");
  }
  return res;
}

// A public, cacheable JSON document (discovery, JWKS) that browser-based clients may fetch.
Response PublicJson(const nlohmann::json& body) {
  Response res = JsonResponse(http::status::ok, Dump(body));
  res.set(http::field::cache_control, "public, max-age=300");
  res.set(http::field::access_control_allow_origin, "*");
  return res;
}

std::string_view Header(const Request& request, http::field field) {
  auto it = request.find(field);
  if (it == request.end()) return {};
  return {it->value().data(), it->value().size()};
}

// Human descriptions of the scopes, for the consent page.
nlohmann::json ScopeList(std::string_view scope) {
  nlohmann::json out = nlohmann::json::array();
  size_t pos = 0;
  while (pos < scope.size()) {
    size_t end = scope.find(' ', pos);
    if (end == std::string_view::npos) end = scope.size();
    std::string_view one = scope.substr(pos, end - pos);
    pos = end + 1;
    std::string description;
    if (one == "openid") description = "Confirm who you are (your member identifier)";
    if (one == "profile") description = "Your name, handle and organisation";
    if (one == "email") description = "Your email address";
    if (one == "offline_access") description = "Stay connected when you are not signed in";
    if (description.empty()) continue;
    out.push_back({{"name", std::string(one)}, {"description", description}});
  }
  return out;
}

class OidcRoutes : public std::enable_shared_from_this<OidcRoutes> {
 public:
  explicit OidcRoutes(const WebContext& context) : c_(context) {}

  // GET and POST /oidc/authorize.
  asio::awaitable<Response> Authorize(RequestContext& ctx) {
    std::string authz;
    if (ctx.request.method() == http::verb::post) {
      auto form = RequestForm(ctx);
      if (!form.ok()) {
        co_return ErrorPage(c_, http::status::bad_request, "There is a problem with the request",
                            form.error().message);
      }
      authz = ctx.request.body();
    } else {
      authz = std::string(ctx.query);
    }
    auto session = CurrentSession(c_, ctx);
    co_return co_await Continue(ctx, std::move(authz), session ? &*session : nullptr, false, false);
  }

  // Finishes (or advances) the authorization request `authz` for the member's `session`.
  asio::awaitable<Response> Continue(RequestContext& ctx, std::string authz, const Session* session,
                                     bool just_signed_in, bool just_consented) {
    if (authz.size() > kMaxAuthzBytes) {
      co_return ErrorPage(c_, http::status::bad_request, "There is a problem with the request",
                          "The sign-in request is too long.", session);
    }
    auto params = ParseForm(authz);
    if (!params.ok()) {
      co_return ErrorPage(c_, http::status::bad_request, "There is a problem with the request",
                          "The sign-in request is malformed.", session);
    }
    identity::AuthorizeCheck check = c_.oidc->CheckAuthorize(*params);
    if (!check.request) {
      // Neither the client nor the redirect URI can be trusted: show, never redirect.
      const Error error = check.error.value_or(OAuthError("invalid_request", "bad request"));
      spdlog::info("request {}: authorization refused: {} ({})", ctx.request_id, error.message,
                   error.Name());
      co_return ErrorPage(c_, http::status::bad_request,
                          "The application's sign-in request cannot be accepted",
                          "The application that sent you here made a request this node cannot "
                          "accept: " +
                              error.message + ". Go back to the application and try again.",
                          session);
    }
    const AuthorizeRequest& request = *check.request;
    if (check.error) {
      spdlog::info("request {}: authorization error for client {}: {} ({})", ctx.request_id,
                   request.client.client_id, check.error->message, check.error->Name());
      co_return Found(c_.oidc->ErrorRedirect(request, *check.error));
    }
    identity::AuthorizeNext next = c_.oidc->Next(request, session, just_signed_in, just_consented);
    switch (next.step) {
      case AuthorizeStep::kSignIn:
        co_return SignInPage(ctx, request, authz);
      case AuthorizeStep::kConsent:
        co_return HtmlPage(c_, http::status::ok, "consent",
                           {{"page_title", "Allow " + request.client.name + " to sign you in?"},
                            {"client_name", request.client.name},
                            {"client_id", request.client.client_id},
                            {"scopes", ScopeList(request.scope)},
                            {"authz", authz}},
                           session);
      case AuthorizeStep::kErrorToRp: {
        const Error error = next.error.value_or(OAuthError("server_error", "unknown"));
        co_return Found(c_.oidc->ErrorRedirect(request, error));
      }
      case AuthorizeStep::kIssueCode:
        break;
    }
    // The code carries this session's sid into the ID token (back-channel logout).
    check.request->sid = identity::OidcProvider::SessionSid(*session);
    auto url = co_await AwaitDone<std::string>([&](identity::Done<std::string> done) {
      c_.oidc->IssueCode(request, session->member_id, session->auth_time, std::move(done));
    });
    if (!url.ok()) {
      spdlog::warn("request {}: cannot issue a code: {}", ctx.request_id, url.error().message);
      if (url.error().code == ErrorCode::kPermissionDenied) {
        co_return Found(c_.oidc->ErrorRedirect(
            request, OAuthError("access_denied", "the member account is disabled")));
      }
      co_return Found(
          c_.oidc->ErrorRedirect(request, OAuthError("server_error", "cannot issue a code now")));
    }
    co_return Found(*url);
  }

  // The sign-in page, carrying the authorization request in `authz`.
  Response SignInPage(RequestContext& ctx, const AuthorizeRequest& request,
                      const std::string& authz) {
    Response res{http::status::ok, 11};
    std::string csrf = EnsureCsrfCookie(c_, ctx, res);
    nlohmann::json data = {{"page_title", "Sign in"},
                           {"authz", authz},
                           {"csrf_token", csrf},
                           {"client_name", request.client.name}};
    if (!request.login_hint.empty()) data["username"] = request.login_hint;
    Response page = HtmlPage(c_, http::status::ok, "sign-in", std::move(data), nullptr);
    for (const auto& field : res.base()) {
      if (field.name() == http::field::set_cookie)
        page.insert(http::field::set_cookie, field.value());
    }
    return page;
  }

  // POST /oidc/consent: decision=allow|deny for the authorization request in `authz`.
  asio::awaitable<Response> Consent(RequestContext& ctx) {
    auto session = CurrentSession(c_, ctx);
    if (!session) {
      co_return ErrorPage(c_, http::status::forbidden, "You are not signed in",
                          "Your session has ended. Go back to the application and sign in again.");
    }
    auto form = RequestForm(ctx);
    if (!form.ok()) {
      co_return ErrorPage(c_, http::status::bad_request, "There is a problem with the request",
                          form.error().message, &*session);
    }
    if (!identity::SessionStore::CheckCsrf(*session, form->Get("csrf_token"))) {
      co_return ErrorPage(c_, http::status::forbidden, "This form has expired",
                          "Go back to the application and try again.", &*session);
    }
    std::string authz = form->Get("authz");
    const std::string decision = form->Get("decision");
    auto params = ParseForm(authz);
    if (!params.ok() || (decision != "allow" && decision != "deny")) {
      co_return ErrorPage(c_, http::status::bad_request, "There is a problem with the request",
                          "The consent form is incomplete.", &*session);
    }
    identity::AuthorizeCheck check = c_.oidc->CheckAuthorize(*params);
    if (check.request && !check.error) {
      if (decision == "deny") {
        co_return Found(c_.oidc->ErrorRedirect(*check.request,
                                               OAuthError("access_denied", "the member declined")));
      }
      Status recorded = co_await AwaitDone<void>([&](identity::Done<void> done) {
        c_.oidc->RecordConsent(session->member_id, check.request->client.client_id,
                               check.request->scope, std::move(done));
      });
      if (!recorded.ok()) {
        spdlog::warn("request {}: cannot record consent: {}", ctx.request_id,
                     recorded.error().message);
        co_return ErrorPage(c_, http::status::service_unavailable, "Sorry, there is a problem",
                            "Your answer could not be saved. Try again in a moment.", &*session);
      }
    }
    const bool recent = c_.clock->UnixSeconds() - session->auth_time <= kRecentSignInSeconds;
    co_return co_await Continue(ctx, std::move(authz), &*session, recent, true);
  }

  // POST /oidc/token.
  asio::awaitable<Response> Token(RequestContext& ctx) {
    auto form = RequestForm(ctx);
    if (!form.ok())
      co_return OAuthErrorResponse(OAuthError("invalid_request", form.error().message));
    identity::TokenRequest request;
    request.form = std::move(form).value();
    request.authorization_header = std::string(Header(ctx.request, http::field::authorization));
    const bool basic = !request.authorization_header.empty();
    auto grant =
        co_await AwaitDone<identity::TokenGrant>([&](identity::Done<identity::TokenGrant> done) {
          c_.oidc->Token(std::move(request), std::move(done));
        });
    if (!grant.ok()) {
      spdlog::info("request {}: token request refused: {} ({})", ctx.request_id,
                   grant.error().message, grant.error().Name());
      co_return OAuthErrorResponse(grant.error(), basic);
    }
    // RS256 signing takes about a millisecond: do it on the blocking pool, not the I/O thread.
    // (A plain callback, not a lambda coroutine: GCC 12 destroys the captures of a lambda
    // coroutine passed to co_spawn twice.)
    auto body = co_await AwaitDone<nlohmann::json>([&](identity::Done<nlohmann::json> done) {
      asio::post(*c_.blocking_pool,
                 [self = shared_from_this(), grant = std::move(grant).value(),
                  done = std::move(done)] { done(self->c_.oidc->TokenResponse(grant)); });
    });
    if (!body.ok()) {
      spdlog::error("request {}: cannot sign the ID token: {}", ctx.request_id,
                    body.error().message);
      co_return OAuthErrorResponse(body.error());
    }
    co_return OAuthJson(http::status::ok, *body);
  }

  // GET and POST /oidc/userinfo (RFC 6750: the token in the Authorization header, or in a
  // form body's access_token).
  asio::awaitable<Response> UserInfo(RequestContext& ctx) {
    std::string token;
    std::string_view header = Header(ctx.request, http::field::authorization);
    if (!header.empty()) {
      auto bearer = identity::OidcProvider::BearerToken(header);
      if (!bearer.ok()) co_return BearerError(bearer.error());
      token = std::move(bearer).value();
    } else if (ctx.request.method() == http::verb::post) {
      auto form = RequestForm(ctx);
      if (form.ok()) token = form->Get("access_token");
    }
    if (token.empty()) {
      Response res = OAuthJson(
          http::status::unauthorized,
          {{"error", "invalid_token"}, {"error_description", "a bearer access token is required"}});
      res.set(http::field::www_authenticate, "Bearer realm=\"kith\"");
      co_return res;
    }
    auto claims = c_.oidc->UserInfo(token);
    if (!claims.ok()) co_return BearerError(claims.error());
    Response res = OAuthJson(http::status::ok, *claims);
    res.set(http::field::access_control_allow_origin, "*");
    co_return res;
  }

  // GET and POST /oidc/end-session (RP-initiated logout 1.0).
  asio::awaitable<Response> EndSession(RequestContext& ctx) {
    Result<OidcParams> params =
        ctx.request.method() == http::verb::post ? RequestForm(ctx) : ParseForm(ctx.query);
    auto session = CurrentSession(c_, ctx);
    if (!params.ok()) {
      co_return ErrorPage(c_, http::status::bad_request, "There is a problem with the request",
                          params.error().message, session ? &*session : nullptr);
    }
    auto target = c_.oidc->CheckEndSession(*params);
    if (!target.ok()) {
      spdlog::info("request {}: end-session refused: {}", ctx.request_id, target.error().message);
      co_return ErrorPage(c_, http::status::bad_request, "The sign-out request cannot be accepted",
                          target.error().message + ".", session ? &*session : nullptr);
    }
    if (session) {
      Status revoked = co_await AwaitDone<void>(
          [&](identity::Done<void> done) { c_.sessions->Revoke(session->id, std::move(done)); });
      if (!revoked.ok()) {
        co_return ErrorPage(c_, http::status::service_unavailable, "Sorry, there is a problem",
                            "You could not be signed out. Try again in a moment.", &*session);
      }
    }
    Response res =
        target->redirect_uri.empty() ? SeeOther("/signed-out") : Found(target->redirect_uri);
    res.insert(http::field::set_cookie, CookieHeader(kSessionCookie, "", SecureCookies(c_), 0));
    co_return res;
  }

 private:
  static Response BearerError(const Error& error) {
    Response res = OAuthErrorResponse(error);
    std::string challenge =
        "Bearer realm=\"kith\", error=\"" +
        std::string(error.code == ErrorCode::kUnauthenticated ? "invalid_token"
                                                              : "invalid_request") +
        "\"";
    res.set(http::field::www_authenticate, challenge);
    return res;
  }

  const WebContext& c_;
};

}  // namespace

void AddOidcRoutes(Router& router, WebContext& context) {
  auto routes = std::make_shared<OidcRoutes>(context);
  auto bind = [routes](auto method) {
    return [routes, method](RequestContext& ctx) -> asio::awaitable<Response> {
      co_return co_await ((*routes).*method)(ctx);
    };
  };
  router.AddOrDie(http::verb::get, "/.well-known/openid-configuration",
                  [&context](RequestContext&) -> asio::awaitable<Response> {
                    co_return PublicJson(context.oidc->DiscoveryDocument());
                  });
  router.AddOrDie(http::verb::get, "/oidc/jwks",
                  [&context](RequestContext&) -> asio::awaitable<Response> {
                    Response res = PublicJson(context.oidc->Jwks());
                    res.set(http::field::content_type, "application/jwk-set+json");
                    co_return res;
                  });
  const RouteOptions form_limit{.max_body_bytes = 64 * 1024};
  router.AddOrDie(http::verb::get, "/oidc/authorize", bind(&OidcRoutes::Authorize));
  router.AddOrDie(http::verb::post, "/oidc/authorize", bind(&OidcRoutes::Authorize), form_limit);
  router.AddOrDie(http::verb::post, "/oidc/consent", bind(&OidcRoutes::Consent), form_limit);
  router.AddOrDie(http::verb::post, "/oidc/token", bind(&OidcRoutes::Token), form_limit);
  router.AddOrDie(http::verb::get, "/oidc/userinfo", bind(&OidcRoutes::UserInfo));
  router.AddOrDie(http::verb::post, "/oidc/userinfo", bind(&OidcRoutes::UserInfo), form_limit);
  router.AddOrDie(http::verb::get, "/oidc/end-session", bind(&OidcRoutes::EndSession));
  router.AddOrDie(http::verb::post, "/oidc/end-session", bind(&OidcRoutes::EndSession), form_limit);
  context.continue_authorization = [routes](RequestContext& ctx, std::string authz,
                                            const Session& session,
                                            bool just_signed_in) -> asio::awaitable<Response> {
    co_return co_await routes->Continue(ctx, std::move(authz), &session, just_signed_in, false);
  };
}

}  // namespace kith::node
