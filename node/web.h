// The member-facing web: server-rendered pages (sign in, sign out, account) and the OpenID
// Connect provider's HTTP endpoints. Both are added to the node's Router by the daemon.
//
// Pages are rendered from template files (node/templates.h; escaping by default), styled with
// GOV.UK Frontend served under /assets/, and work without JavaScript. Every state-changing form
// carries a CSRF token (`csrf_token`): the session's token once signed in, a double-submit
// cookie `kith_csrf` before (the sign-in form).
//
// Sessions: cookie `kith_session` (HttpOnly, SameSite=Lax, Path=/, Secure when the base URL is
// https), identity/session_store.h.
//
// URLs (the contract tests and other pages rely on):
//   GET  /sign-in[?next=/local/path]       sign-in page (fields: username, password, csrf_token)
//   POST /sign-in                           signs in; 303 to `next` (local paths only) or /account
//   POST /sign-out                          ends this session; 303 /signed-out
//   GET  /signed-out                        "you have signed out" page
//   GET  /account                           profile, password, sessions ("sign out everywhere")
//   POST /account/profile | /account/password | /account/sign-out-everywhere
//   GET  /assets/...                        GOV.UK Frontend files (long-cached)
//   GET|POST /oidc/authorize, POST /oidc/token, GET|POST /oidc/userinfo, GET /oidc/jwks,
//   GET|POST /oidc/end-session, POST /oidc/consent, GET /.well-known/openid-configuration
//
// Authorization and sign-in meet in one place: when /oidc/authorize needs a sign-in, the page
// it shows posts the original authorization parameters back (hidden field `authz`, the
// request's query string) to POST /sign-in; after a successful sign-in that handler calls
// WebContext::continue_authorization, which finishes the authorization (consent page, or a
// code and the redirect to the client) with just_signed_in = true.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <string>

#include "identity/member_store.h"
#include "identity/oidc_client.h"
#include "identity/oidc_provider.h"
#include "identity/password.h"
#include "identity/session_store.h"
#include "identity/throttle.h"
#include "node/config.h"
#include "node/metrics.h"
#include "node/router.h"
#include "node/templates.h"
#include "storage/clock.h"

namespace kith::node {

// Continues an authorization request after the member signed in (or consented): `authz` is
// the raw query string of the original request. Answers the redirect to the client, the
// consent page, or an error page.
using ContinueAuthorization = std::function<boost::asio::awaitable<Response>(
    RequestContext& ctx, std::string authz, const identity::Session& session, bool just_signed_in)>;

// What the web and OIDC routes use. Everything outlives the Router's routes.
struct WebContext {
  const Config* config = nullptr;
  const Clock* clock = nullptr;
  identity::MemberStore* members = nullptr;
  identity::SessionStore* sessions = nullptr;
  identity::PasswordHasher* hasher = nullptr;
  identity::LoginThrottle* throttle = nullptr;
  identity::OidcClientStore* clients = nullptr;
  identity::OidcProvider* oidc = nullptr;
  const Templates* templates = nullptr;
  Metrics* metrics = nullptr;
  // For work that may block (signing, file reads); never run it on an I/O thread.
  boost::asio::thread_pool* blocking_pool = nullptr;
  // Set by AddOidcRoutes; called by POST /sign-in when the form carried `authz`.
  ContinueAuthorization continue_authorization;
};

// Adds the pages (sign in/out, account, assets). Call AddOidcRoutes first so that
// `context.continue_authorization` is set.
void AddWebRoutes(Router& router, const WebContext& context);

// Adds the OpenID Connect endpoints and sets context.continue_authorization.
void AddOidcRoutes(Router& router, WebContext& context);

}  // namespace kith::node
