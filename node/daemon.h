// Daemon: kithd's wiring, as a class so that tests can run a node in-process.
//
// Start: takes the data directory lock, opens the Store (DATA_DIR/kith.db), loads the node's
// keys, opens the library's file store (DATA_DIR/files) and the group streams, starts the
// HTTP server (with the /api/v1 routes) and the admin socket (DATA_DIR/admin.sock) on one
// io_context with config.http.io_threads threads, and writes the listening address to
// DATA_DIR/kithd.addr (e.g. "127.0.0.1:43123"; temp file + rename, so a reader never sees half of
// it). Group replication starts once the server listens and stops before the Store closes. Wait:
// blocks until SIGTERM/SIGINT (when handle_signals) or RequestStop(), then stops gracefully: no new
// connections, idle keep-alive connections closed at once, requests in flight get
// limits.shutdown_grace_seconds to finish, the Store is closed (the writer drained), kithd.addr is
// removed.
//
// Thread-safety: RequestStop is thread-safe; Start/Wait are called by one owner thread.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "admin/admin_api.h"
#include "federation/http_client.h"
#include "federation/network_operator.h"
#include "federation/network_peering.h"
#include "federation/network_store.h"
#include "federation/peer_sign_in.h"
#include "federation/peer_store.h"
#include "federation/peering_service.h"
#include "federation/replay_cache.h"
#include "federation/replication.h"
#include "groups/directory.h"
#include "groups/file_store.h"
#include "groups/group_store.h"
#include "groups/search.h"
#include "identity/member_store.h"
#include "identity/node_keys.h"
#include "identity/oidc_client.h"
#include "identity/oidc_keys.h"
#include "identity/oidc_provider.h"
#include "identity/password.h"
#include "identity/session_store.h"
#include "identity/throttle.h"
#include "node/admin_socket.h"
#include "node/config.h"
#include "node/http_server.h"
#include "node/metrics.h"
#include "node/router.h"
#include "node/templates.h"
#include "node/web.h"
#include "storage/data_dir_lock.h"
#include "storage/result.h"
#include "storage/snapshot.h"
#include "storage/store.h"

namespace kith::node {

class Daemon {
 public:
  struct Options {
    bool handle_signals = true;  // install SIGTERM/SIGINT handlers
    bool test_routes = false;    // GET /_test/sleep (KITH_TEST_ROUTES=1)
  };

  // Starts everything (see above). Errors: kConflict when another kithd holds the data
  // directory; others name the file or address that failed. Nothing is left running on error.
  static Result<std::unique_ptr<Daemon>> Start(Config config, Options options);

  ~Daemon();  // RequestStop() + Wait() if still running

  // Blocks until a stop is requested, then shuts down gracefully (see above). Idempotent.
  void Wait();

  // Asks Wait() to return after a graceful stop. Thread-safe; may be called from any thread.
  void RequestStop();

  // The HTTP listening address ("127.0.0.1:43123") and port.
  std::string http_address() const { return http_->local_address(); }
  uint16_t http_port() const { return http_->port(); }

  const Config& config() const { return config_; }
  Router& router() { return router_; }  // for routes added by later modules before serving
  Metrics& metrics() { return metrics_; }

 private:
  Daemon() = default;
  void Stop();
  // Loads the node keyring and the OIDC key set from the database and key files and installs
  // them (at start, and after `kithctl keys rotate`).
  Status ReloadKeys();
  // Every few minutes: deletes expired sessions, codes and tokens, and ends keys whose overlap
  // is over (then reloads the key snapshots). Runs on the blocking pool; logs failures.
  void ScheduleHousekeeping(std::chrono::seconds delay);
  void Housekeeping();
  // Runs PeerSignIn::SyncClients on the blocking pool (after a peer changed, and at start).
  void SyncPeerClients();
  // Runs DirectoryStore::SyncMembers (this node's profiles in its directory stream) and wakes
  // the delivery of what it published: at start, after each in-process member change, and
  // every 60 s (for kithctl's offline edits). At most one runs and one is queued.
  void SyncDirectory();
  void ScheduleDirectorySync();
  // What every change of a peer's state triggers (PeeringContext::on_peer_changed and
  // NetworkPeering's): the peers' OIDC clients are synced (a peer no longer active loses its
  // client and its members' sessions here end) and replication hears of it.
  void OnPeerChanged(const std::string& node);
  // Networks (issue 7): NetworkPeering::RefreshNow + NetworkOperator::Sweep every
  // networks.refresh_interval, NetworkPeering::RefreshWithdrawnNow every
  // networks.withdrawn_refresh_interval, each on the blocking pool; at most one of each runs at
  // a time (a tick that finds the previous one still running is skipped).
  void ScheduleNetworkRefresh(std::chrono::seconds delay);
  void ScheduleWithdrawnRefresh(std::chrono::seconds delay);
  void RefreshNetworks();
  void RefreshWithdrawn();

  Config config_;
  std::unique_ptr<storage::DataDirLock> lock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<storage::Snapshot<identity::NodeKeyring>> node_keys_;
  std::unique_ptr<storage::Snapshot<identity::OidcKeySet>> oidc_keys_;
  // Members, sessions and the OpenID Connect provider.
  std::unique_ptr<identity::PasswordHasher> hasher_;
  std::unique_ptr<identity::MemberStore> members_;
  std::unique_ptr<identity::SessionStore> sessions_;
  std::unique_ptr<identity::LoginThrottle> throttle_;
  std::unique_ptr<identity::OidcClientStore> clients_;
  std::unique_ptr<identity::OidcProvider> oidc_;
  std::unique_ptr<Templates> templates_;
  WebContext web_;
  Metrics metrics_;
  Router router_;
  std::unique_ptr<admin::AdminApi> admin_api_;
  boost::asio::io_context ioc_;
  std::unique_ptr<boost::asio::thread_pool> blocking_pool_;
  // Peering (after ioc_: the client's pooled sockets must close before the io_context goes).
  std::unique_ptr<federation::ReplayCache> replay_cache_;
  std::unique_ptr<federation::PeerStore> peer_store_;
  std::unique_ptr<federation::HttpClient> http_client_;
  std::unique_ptr<federation::PeeringService> peering_;
  // Sign-in across nodes (peer clients at our provider, and the relying-party side); uses the
  // client and session stores above.
  std::unique_ptr<federation::PeerSignIn> peer_sign_in_;
  // Networks: the tables and keys, statements fetched over http_client_, automatic peering
  // (uses peer_store_) and the operator's sweep. Declared after what they use.
  std::unique_ptr<federation::NetworkStore> network_store_;
  std::unique_ptr<federation::HttpEntityFetcher> entity_fetcher_;
  std::unique_ptr<federation::NetworkPeering> network_peering_;
  std::unique_ptr<federation::NetworkOperator> network_operator_;
  std::atomic<bool> network_refresh_running_{false};
  std::atomic<bool> withdrawn_refresh_running_{false};
  // Groups: the library's file store, the group streams, and their replication (after the
  // peering pieces it uses, so that it goes first).
  std::unique_ptr<groups::FileStore> files_;
  std::unique_ptr<groups::GroupStore> groups_;
  std::unique_ptr<groups::DirectoryStore> directory_;  // directory@<domain> and mirrors
  std::unique_ptr<groups::Searcher> searcher_;         // the FTS5 search index
  std::unique_ptr<federation::Replicator> replicator_;
  std::unique_ptr<boost::asio::signal_set> signals_;
  std::unique_ptr<boost::asio::steady_timer> housekeeping_timer_;
  std::unique_ptr<boost::asio::steady_timer> directory_timer_;
  std::unique_ptr<boost::asio::steady_timer> network_timer_;
  std::unique_ptr<boost::asio::steady_timer> withdrawn_timer_;
  std::mutex directory_sync_mu_;
  bool directory_sync_running_ = false;  // guarded by directory_sync_mu_
  bool directory_sync_queued_ = false;   // guarded by directory_sync_mu_
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<AdminSocket> admin_socket_;
  std::vector<std::thread> threads_;
  std::chrono::steady_clock::time_point started_at_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_requested_ = false;
  bool stopped_ = false;
};

}  // namespace kith::node
