// The daemon's built-in routes:
//   GET /healthz                 200 "ok" — cheap: no locks, no I/O
//   GET /readyz                  200 {"status":"ready"} when a trivial database write commits,
//                                503 {"error":"unavailable",...} otherwise (runs off the I/O
//                                threads: it waits for an fsync)
//   GET /metrics                 Prometheus text (Metrics::Render)
//   GET /.well-known/kith-node   the node document (JSON, see DESIGN.md)
//   GET /_test/sleep?ms=N        only when enabled (KITH_TEST_ROUTES=1): waits N ms (0..60000)
//                                on an asio timer, for shutdown tests
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <string>

#include "identity/node_keys.h"
#include "node/config.h"
#include "node/metrics.h"
#include "node/router.h"
#include "storage/clock.h"
#include "storage/snapshot.h"
#include "storage/store.h"

namespace kith::node {

// What the built-in routes use; everything must outlive the router's server.
struct CoreEndpoints {
  const Config* config = nullptr;
  storage::Store* store = nullptr;
  storage::Snapshot<identity::NodeKeyring>* keys = nullptr;
  Metrics* metrics = nullptr;
  const Clock* clock = nullptr;
  boost::asio::thread_pool* blocking_pool = nullptr;  // for /readyz
  bool test_routes = false;
};

// Registers the routes above on `router`.
void AddCoreRoutes(Router& router, const CoreEndpoints& deps);

// The node document served at /.well-known/kith-node (JSON text).
std::string NodeDocument(const Config& config, const identity::NodeKeyring& keys, int64_t now_unix);

}  // namespace kith::node
