// The operator page for networks (issue 7):
//
//   GET /admin/network   read-only overview for node administrators (members with
//                        node_admin, `kithctl member admin HANDLE --grant`): the networks this
//                        node operates with their key fingerprints and, per network, its
//                        members (organisation, entity id, added, statement expiry, last
//                        contact, last error, peer state); the trust anchors this node trusts;
//                        this node's authority hints. Changes go through kithctl.
//
// Anyone else — signed out, a remote member signed in through their home node, a member
// without node_admin — gets the ordinary 404 page, so that the page is not discoverable.
// GOV.UK table markup, no JavaScript, the pages' Content-Security-Policy (node/web_util.h).
//
// Thread-safety: the route may run on any I/O thread; the reads run on the blocking pool.
#pragma once

#include <nlohmann/json.hpp>

#include "federation/network_store.h"
#include "federation/peer_store.h"
#include "node/router.h"
#include "node/web.h"

namespace kith::node {

// What the page reads besides the WebContext; both must outlive the router's server.
struct NetworkPagesContext {
  federation::NetworkStore* networks = nullptr;  // null: the page is a 404
  federation::PeerStore* peers = nullptr;        // null: peer states are not shown
};

// The page's template data (template "admin-network"), read from the stores. Blocks on
// SQLite: call it on the blocking pool. `now` is for "expired" marks.
Result<nlohmann::json> NetworkPageData(federation::NetworkStore& networks,
                                       federation::PeerStore* peers, int64_t now);

// Registers GET /admin/network. `web` must outlive the router's server (it is copied).
void AddNetworkPages(Router& router, const WebContext& web, NetworkPagesContext context);

}  // namespace kith::node
