// Sign-in across nodes, the relying-party pages (issue 6; docs/operators.md "Sign-in across
// nodes", docs/federation.md "Sign-in across nodes"). This node (B) signs a visitor in through
// the OpenID Connect provider of their home node (A, an active peer):
//
//   GET  /sign-in/organisation[?next=/path]     "Sign in with your organisation": the active
//                                               peers, and a field for `handle@node`
//   GET  /sign-in/organisation?node=X[&next=]   X = a peer's base URL, name, domain or a member
//                                               address: 302 to X's authorize endpoint
//                                               (prompt=none first when the `kith_home` cookie
//                                               names X: this browser signed in from X before)
//   GET  /sign-in/callback?code&state&iss       redeems the code (private_key_jwt with this
//                                               node's key), verifies the ID token, starts a
//                                               remote session (`kith_session`) for
//                                               handle@home-domain, 303 to `next` (default /)
//                                               — or, on login_required after prompt=none, one
//                                               more trip to the authorize endpoint without it
//   POST /sign-in/remote/sign-out               ends the remote session (csrf_token), 303
//                                               /signed-out
//   POST /sign-in/backchannel-logout            logout_token=<JWT> from a peer's provider
//                                               (OpenID Connect Back-Channel Logout 1.0):
//                                               verified against the peer's JWKS, jti recorded,
//                                               the remote sessions it names end; 200, or 400
//                                               {"error":"invalid_request",...} (logged)
//
// State, nonce and the PKCE verifier stay on the server (federation::PeerSignIn::pending(),
// ten minutes, one-time). Failures are GOV.UK error pages, never a crash.
#pragma once

#include "federation/peer_sign_in.h"
#include "node/router.h"
#include "node/web.h"

namespace kith::node {

// The cookie remembering the home node of the last cross-node sign-in in this browser.
inline constexpr std::string_view kHomeNodeCookie = "kith_home";

// Adds the routes above. Both must outlive the Router's routes.
void AddSsoRoutes(Router& router, const WebContext& web, federation::PeerSignIn& sign_in);

}  // namespace kith::node
