#include "node/daemon.h"

#include <unistd.h>

#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <fstream>
#include <future>

#include "node/api_routes.h"
#include "node/endpoints.h"
#include "node/federation_routes.h"
#include "node/group_pages.h"
#include "node/network_pages.h"
#include "node/network_routes.h"
#include "node/sso_routes.h"

namespace kith::node {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;

// Writes `text` to `path` atomically (temp file in the same folder + rename).
Status WriteFileAtomically(const fs::path& path, const std::string& text) {
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      return MakeError(ErrorCode::kInternal, tmp.string() + ": cannot write");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return MakeError(ErrorCode::kInternal,
                     path.string() + ": cannot rename into place: " + ec.message());
  }
  return OkStatus();
}

void WriterCollector(storage::Store* store, std::string& out) {
  auto& writer = store->writer();
  auto stats = writer.GetStats();
  out += "# HELP kith_db_write_queue_depth Write jobs queued and not yet taken by the writer.\n";
  out += "# TYPE kith_db_write_queue_depth gauge\n";
  out += "kith_db_write_queue_depth " + std::to_string(writer.QueueDepth()) + "\n";
  out += "# HELP kith_db_commit_batch_size Write jobs committed per transaction (group commit).\n";
  out += "# TYPE kith_db_commit_batch_size histogram\n";
  uint64_t cumulative = 0;
  constexpr size_t kBuckets = std::size(storage::Writer::kBatchBuckets);
  for (size_t i = 0; i < stats.batch_size_buckets.size() && i <= kBuckets; ++i) {
    cumulative += stats.batch_size_buckets[i];
    std::string le = i < kBuckets ? std::to_string(storage::Writer::kBatchBuckets[i]) : "+Inf";
    out +=
        "kith_db_commit_batch_size_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  if (stats.batch_size_buckets.size() <= kBuckets) {
    out += "kith_db_commit_batch_size_bucket{le=\"+Inf\"} " + std::to_string(stats.batches) + "\n";
  }
  out += "kith_db_commit_batch_size_sum " + std::to_string(stats.batch_size_sum) + "\n";
  out += "kith_db_commit_batch_size_count " + std::to_string(stats.batches) + "\n";
  out += "# HELP kith_db_jobs_total Write jobs finished, by result.\n";
  out += "# TYPE kith_db_jobs_total counter\n";
  out += "kith_db_jobs_total{result=\"committed\"} " + std::to_string(stats.jobs_committed) + "\n";
  out += "kith_db_jobs_total{result=\"failed\"} " + std::to_string(stats.jobs_failed) + "\n";
}

}  // namespace

Result<std::unique_ptr<Daemon>> Daemon::Start(Config config, Options options) {
  std::unique_ptr<Daemon> d(new Daemon());
  d->config_ = std::move(config);
  d->started_at_ = std::chrono::steady_clock::now();
  const Config& c = d->config_;
  const fs::path& data_dir = c.node.data_dir;
  std::error_code ec;
  if (!fs::is_directory(data_dir, ec)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "data directory " + data_dir.string() +
                         " does not exist (create it with `kithctl init --data-dir " +
                         data_dir.string() + " ...`)");
  }

  auto lock = storage::DataDirLock::Acquire(data_dir);
  if (!lock.ok()) return std::move(lock).error();
  d->lock_ = std::move(lock.value());

  storage::Store::Options store_options;
  store_options.path = data_dir / "kith.db";
  auto store = storage::Store::Open(store_options);
  if (!store.ok()) return std::move(store).error();
  d->store_ = std::move(store.value());

  {  // Keys: the node's Ed25519 keyring, and the OIDC provider's RSA key (made on first start).
    auto rsa = identity::OidcKeys::EnsureRsaKey(data_dir, *d->store_, SystemClock::Instance());
    if (!rsa.ok()) return std::move(rsa).error();
    d->node_keys_ = std::make_unique<storage::Snapshot<identity::NodeKeyring>>(nullptr);
    d->oidc_keys_ = std::make_unique<storage::Snapshot<identity::OidcKeySet>>(nullptr);
    KITH_RETURN_IF_ERROR(d->ReloadKeys());
  }

  d->blocking_pool_ = std::make_unique<asio::thread_pool>(2);

  CoreEndpoints endpoints;
  endpoints.config = &d->config_;
  endpoints.store = d->store_.get();
  endpoints.keys = d->node_keys_.get();
  endpoints.metrics = &d->metrics_;
  endpoints.clock = &SystemClock::Instance();
  endpoints.blocking_pool = d->blocking_pool_.get();
  endpoints.test_routes = options.test_routes;
  AddCoreRoutes(d->router_, endpoints);

  {  // Peering: signed federation endpoints and the admin operations on peers.
    federation::HttpClientOptions client_options;
    client_options.allow_private_addresses = c.federation.allow_private_addresses;
    if (!c.federation.ca_file.empty()) client_options.ca_file = c.federation.ca_file;
    auto client = federation::HttpClient::Create(d->ioc_.get_executor(), client_options);
    if (!client.ok()) return std::move(client).error();
    d->http_client_ = std::move(client.value());
    d->replay_cache_ = std::make_unique<federation::ReplayCache>();
    d->peer_store_ = std::make_unique<federation::PeerStore>(*d->store_, SystemClock::Instance());
    federation::PeeringContext peering;
    peering.base_url = c.node.base_url;
    peering.keys = [keys = d->node_keys_.get()] { return keys->Get(); };
    peering.self_document = [raw = d.get()] {
      return NodeDocument(raw->config_, *raw->node_keys_->Get(),
                          SystemClock::Instance().UnixSeconds());
    };
    peering.executor = d->ioc_.get_executor();
    peering.on_peer_changed = [raw = d.get()](const std::string& node) {
      raw->OnPeerChanged(node);
    };
    d->peering_ = std::make_unique<federation::PeeringService>(std::move(peering), *d->peer_store_,
                                                               *d->http_client_, *d->replay_cache_,
                                                               SystemClock::Instance());
    AddFederationRoutes(d->router_, *d->peering_, *d->blocking_pool_, c.node.base_url);
  }

  {  // Networks: the OpenID Federation endpoints, automatic peering and the operator's sweep.
    const bool allow_http = c.AllowHttpEntities();
    d->network_store_ = std::make_unique<federation::NetworkStore>(
        *d->store_, SystemClock::Instance(), data_dir, c.node.base_url, allow_http);
    d->entity_fetcher_ = std::make_unique<federation::HttpEntityFetcher>(
        *d->http_client_, d->ioc_.get_executor(), std::chrono::seconds(15));
    federation::NetworkPeering::Options peering_options;
    peering_options.allow_http = allow_http;
    peering_options.self = c.node.base_url;
    peering_options.config_cache_ttl =
        std::min(std::chrono::seconds(60), std::chrono::seconds(c.networks.refresh_interval));
    peering_options.on_peer_changed = [raw = d.get()](const federation::NetworkPeerChange& change) {
      spdlog::info("networks: peer {} {} ({})", change.node_id,
                   change.active ? "admitted" : "suspended", change.reason);
      raw->OnPeerChanged(change.node_id);
    };
    d->network_peering_ = std::make_unique<federation::NetworkPeering>(
        *d->network_store_, *d->peer_store_, *d->entity_fetcher_, SystemClock::Instance(),
        std::move(peering_options));
    d->network_operator_ = std::make_unique<federation::NetworkOperator>(
        *d->network_store_, SystemClock::Instance(), allow_http);
    NetworkEndpoints endpoints;
    endpoints.config = &d->config_;
    endpoints.keys = d->node_keys_.get();
    endpoints.networks = d->network_store_.get();
    endpoints.clock = &SystemClock::Instance();
    endpoints.blocking_pool = d->blocking_pool_.get();
    endpoints.openid_provider_metadata = [raw = d.get()]() -> nlohmann::json {
      return raw->oidc_ ? raw->oidc_->DiscoveryDocument() : nlohmann::json::object();
    };
    // The EC names the networks found at the last refresh: never cache it for longer than that.
    endpoints.cache_ttl =
        std::min(std::chrono::seconds(60), std::chrono::seconds(c.networks.refresh_interval));
    AddNetworkRoutes(d->router_, std::move(endpoints));
  }

  {  // Groups: the library's files, the group streams and their replication.
    auto files = groups::FileStore::Open(data_dir / "files");
    if (!files.ok()) return std::move(files).error();
    d->files_ = std::move(files.value());
    d->groups_ =
        std::make_unique<groups::GroupStore>(*d->store_, SystemClock::Instance(), c.node.domain());
    d->directory_ = std::make_unique<groups::DirectoryStore>(*d->store_, SystemClock::Instance(),
                                                             c.node.domain());
    d->searcher_ = std::make_unique<groups::Searcher>(*d->store_, c.node.domain());
    federation::ReplicationContext replication;
    replication.base_url = c.node.base_url;
    replication.domain = c.node.domain();
    replication.keys = [keys = d->node_keys_.get()] { return keys->Get(); };
    replication.executor = d->ioc_.get_executor();
    replication.max_batch_events = static_cast<size_t>(c.federation.push_batch_events);
    replication.max_batch_bytes = static_cast<size_t>(c.federation.push_batch_bytes);
    replication.max_in_flight = static_cast<size_t>(c.federation.max_in_flight);
    replication.min_backoff = std::chrono::milliseconds(c.federation.min_backoff_ms);
    replication.max_backoff = std::chrono::seconds(c.federation.max_backoff_seconds);
    replication.max_upload_bytes = c.groups.max_upload_bytes;
    d->replicator_ = std::make_unique<federation::Replicator>(
        std::move(replication), *d->store_, *d->groups_, *d->files_, *d->peer_store_,
        *d->http_client_, *d->replay_cache_, SystemClock::Instance());
    d->replicator_->SetDirectory(d->directory_.get());
    AddStreamRoutes(d->router_, *d->replicator_, c.node.base_url);
  }

  {  // Members, sessions, the OpenID Connect provider, and the pages.
    const auto& ic = c.identity;
    identity::PasswordHasher::Options hash_options;
    hash_options.params = ic.password_cost == "moderate" ? identity::PasswordHashParams::Moderate()
                          : ic.password_cost == "minimum"
                              ? identity::PasswordHashParams::Minimum()
                              : identity::PasswordHashParams::Interactive();
    if (ic.password_cost == "minimum") {
      spdlog::warn(
          "identity.password_cost = \"minimum\": passwords are hashed far too cheaply "
          "for production (meant for tests)");
    }
    hash_options.threads = static_cast<size_t>(ic.password_threads);
    d->hasher_ = std::make_unique<identity::PasswordHasher>(hash_options);
    const Clock& clock = SystemClock::Instance();
    d->members_ = std::make_unique<identity::MemberStore>(*d->store_, clock);
    // Member changes made in-process (profile page, admin socket) reach the directory stream.
    d->members_->SetOnChange([raw = d.get()] { raw->SyncDirectory(); });
    identity::SessionStore::Options session_options;
    session_options.idle_timeout = std::chrono::seconds(ic.session_idle_timeout_seconds);
    session_options.absolute_timeout = std::chrono::seconds(ic.session_absolute_timeout_seconds);
    d->sessions_ = std::make_unique<identity::SessionStore>(*d->store_, clock, session_options);
    d->throttle_ = std::make_unique<identity::LoginThrottle>(clock);
    d->clients_ = std::make_unique<identity::OidcClientStore>(*d->store_, clock);
    identity::OidcProvider::Options oidc_options;
    oidc_options.issuer = c.node.base_url;
    oidc_options.node_name = c.node.domain();
    d->oidc_ = std::make_unique<identity::OidcProvider>(
        *d->store_, clock, *d->members_, *d->clients_,
        [keys = d->oidc_keys_.get()] { return keys->Get(); }, oidc_options);
    auto templates = Templates::Load(c.web.templates_dir);
    if (!templates.ok()) return std::move(templates).error();
    d->templates_ = std::move(templates.value());
    WebContext& web = d->web_;
    web.config = &d->config_;
    web.clock = &clock;
    web.members = d->members_.get();
    web.sessions = d->sessions_.get();
    web.hasher = d->hasher_.get();
    web.throttle = d->throttle_.get();
    web.clients = d->clients_.get();
    web.oidc = d->oidc_.get();
    web.templates = d->templates_.get();
    web.metrics = &d->metrics_;
    web.blocking_pool = d->blocking_pool_.get();
    AddOidcRoutes(d->router_, web);
    AddWebRoutes(d->router_, web);
    federation::PeerSignInContext sign_in;
    sign_in.base_url = c.node.base_url;
    sign_in.keys = [keys = d->node_keys_.get()] { return keys->Get(); };
    sign_in.executor = d->ioc_.get_executor();
    d->peer_sign_in_ = std::make_unique<federation::PeerSignIn>(
        std::move(sign_in), *d->peer_store_, *d->http_client_, *d->clients_, *d->sessions_, clock);
    // "Sign out everywhere": the provider's logout tokens go out through the peers' client.
    d->oidc_->SetLogoutSender(
        [sign_in_ptr = d->peer_sign_in_.get()](std::vector<identity::BackchannelLogout> logouts) {
          sign_in_ptr->DeliverLogouts(std::move(logouts));
        });
    AddSsoRoutes(d->router_, web, *d->peer_sign_in_);
    d->SyncPeerClients();

    ApiContext api;
    api.config = &d->config_;
    api.clock = &clock;
    api.members = d->members_.get();
    api.sessions = d->sessions_.get();
    api.oidc = d->oidc_.get();
    api.groups = d->groups_.get();
    api.files = d->files_.get();
    api.replicator = d->replicator_.get();
    api.directory = d->directory_.get();
    api.searcher = d->searcher_.get();
    api.blocking_pool = d->blocking_pool_.get();
    api.max_upload_bytes = c.groups.max_upload_bytes;
    AddApiRoutes(d->router_, api);
    AddGroupPages(d->router_, web, api, GroupPagesExtras{d->store_.get(), d->peer_store_.get()});
    AddNetworkPages(d->router_, web,
                    NetworkPagesContext{d->network_store_.get(), d->peer_store_.get()});
  }

  storage::Store* store_ptr = d->store_.get();
  d->metrics_.AddCollector([store_ptr](std::string& out) { WriterCollector(store_ptr, out); });
  const auto start_unix = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  d->metrics_.AddCollector([start_unix](std::string& out) {
    out += "# HELP process_start_time_seconds Start time of the process since the Unix epoch.\n";
    out += "# TYPE process_start_time_seconds gauge\n";
    out += "process_start_time_seconds " + std::to_string(start_unix) + "\n";
    out += "# HELP kith_build_info The running kith version.\n";
    out += "# TYPE kith_build_info gauge\n";
    out += "kith_build_info{version=\"" KITH_VERSION "\"} 1\n";
  });

  admin::NodeContext context;
  context.data_dir = data_dir;
  context.store = d->store_.get();
  context.node_keys = d->node_keys_.get();
  context.oidc_keys = d->oidc_keys_.get();
  context.reload_keys = [raw = d.get()] { return raw->ReloadKeys(); };
  context.members = d->members_.get();
  context.sessions = d->sessions_.get();
  context.hasher = d->hasher_.get();
  context.clients = d->clients_.get();
  context.name = c.node.name;
  context.organisation = c.node.organisation;
  context.base_url = c.node.base_url;
  context.domain = c.node.domain();
  context.started_at = d->started_at_;
  Daemon* raw = d.get();
  context.peering = d->peering_.get();
  context.peers = d->peer_store_.get();
  context.networks = d->network_store_.get();
  context.default_statement_lifetime = c.networks.statement_lifetime;
  context.entity_fetcher = d->entity_fetcher_.get();
  context.refresh_networks = [raw]() -> nlohmann::json {
    // On the admin socket's pool (AdminApi::Handle may block).
    federation::RefreshReport report;
    auto listed = raw->network_peering_->RefreshNow();
    if (listed.ok()) {
      report.Merge(*listed);
    } else {
      report.errors.push_back("refresh: " + listed.error().message);
    }
    auto withdrawn = raw->network_peering_->RefreshWithdrawnNow();
    if (withdrawn.ok()) {
      report.Merge(*withdrawn);
    } else {
      report.errors.push_back("withdrawn lists: " + withdrawn.error().message);
    }
    if (raw->replicator_) raw->replicator_->NotePeerNetworksChanged("");
    return report.ToJson();
  };
  context.server_stats = [raw]() -> nlohmann::json {
    return nlohmann::json{
        {"http_address", raw->http_ ? raw->http_->local_address() : ""},
        {"open_connections", raw->metrics_.open_connections.load(std::memory_order_relaxed)},
        {"connections_total", raw->metrics_.connections_total.load(std::memory_order_relaxed)},
        {"requests_total", raw->metrics_.RequestsTotal()},
        {"io_threads", raw->threads_.size()}};
  };
  d->admin_api_ = std::make_unique<admin::AdminApi>(std::move(context));

  // Threads first, so that a failure below can still shut down cleanly.
  int threads = c.http.io_threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  auto work = std::make_shared<asio::executor_work_guard<asio::io_context::executor_type>>(
      asio::make_work_guard(d->ioc_));
  for (int i = 0; i < threads; ++i) {
    d->threads_.emplace_back([ioc = &d->ioc_, work] {
      try {
        ioc->run();
      } catch (const std::exception& e) {
        spdlog::critical("I/O thread stopped by an exception: {}", e.what());
      }
    });
  }

  HttpServerOptions http_options;
  http_options.listen_address = c.http.listen_address;
  http_options.port = c.http.port;
  http_options.tls_certificate = c.http.tls_certificate;
  http_options.tls_private_key = c.http.tls_private_key;
  http_options.max_body_bytes = c.limits.max_body_bytes;
  http_options.max_header_bytes = c.limits.max_header_bytes;
  http_options.max_connections = c.limits.max_connections;
  http_options.read_timeout = std::chrono::seconds(c.limits.read_timeout_seconds);
  http_options.idle_timeout = std::chrono::seconds(c.limits.idle_timeout_seconds);
  http_options.write_timeout = std::chrono::seconds(c.limits.write_timeout_seconds);
  http_options.access_log = c.log.access_log;
  auto http = HttpServer::Start(d->ioc_, http_options, d->router_, &d->metrics_);
  if (!http.ok()) return std::move(http).error();
  d->http_ = std::move(http.value());

  d->replicator_->Start();
  d->directory_timer_ = std::make_unique<asio::steady_timer>(d->ioc_);
  d->SyncDirectory();
  d->ScheduleDirectorySync();

  auto admin_socket = AdminSocket::Start(d->ioc_, data_dir / "admin.sock", *d->admin_api_);
  if (!admin_socket.ok()) return std::move(admin_socket).error();
  d->admin_socket_ = std::move(admin_socket.value());

  d->housekeeping_timer_ = std::make_unique<asio::steady_timer>(d->ioc_);
  d->ScheduleHousekeeping(std::chrono::seconds(60));

  d->network_timer_ = std::make_unique<asio::steady_timer>(d->ioc_);
  d->withdrawn_timer_ = std::make_unique<asio::steady_timer>(d->ioc_);
  d->ScheduleNetworkRefresh(
      std::min(std::chrono::seconds(5), std::chrono::seconds(c.networks.refresh_interval)));
  d->ScheduleWithdrawnRefresh(std::chrono::seconds(c.networks.withdrawn_refresh_interval));

  if (options.handle_signals) {
    d->signals_ = std::make_unique<asio::signal_set>(d->ioc_, SIGTERM, SIGINT);
    d->signals_->async_wait([raw](const boost::system::error_code& sec, int signo) {
      if (sec) return;
      spdlog::info("received signal {}, stopping", signo);
      raw->RequestStop();
    });
  }
  KITH_RETURN_IF_ERROR(
      WriteFileAtomically(data_dir / "kithd.addr", d->http_->local_address() + "\n"));
  spdlog::info("kithd {} listening on {}://{} (base URL {}), admin socket {}", KITH_VERSION,
               d->http_->tls() ? "https" : "http", d->http_->local_address(), c.node.base_url,
               d->admin_socket_->path());
  // The threads hold copies of the work guard, so they run until Stop() stops the io_context.
  work.reset();
  return d;
}

Status Daemon::ReloadKeys() {
  const fs::path& data_dir = config_.node.data_dir;
  auto keyring = store_->Read(
      [&](storage::Database& db) { return identity::NodeKeyring::Load(data_dir, db); });
  if (!keyring.ok()) return std::move(keyring).error();
  std::shared_ptr<const identity::NodeKeyring> node_keys = std::move(keyring.value());
  auto oidc_keys = identity::OidcKeySet::Load(
      data_dir, *store_, std::make_shared<identity::NodeKeyringSigningKey>(node_keys),
      SystemClock::Instance());
  if (!oidc_keys.ok()) return std::move(oidc_keys).error();
  node_keys_->Set(std::move(node_keys));
  oidc_keys_->Set(std::move(oidc_keys.value()));
  return OkStatus();
}

void Daemon::SyncPeerClients() {
  if (!blocking_pool_) return;
  asio::post(*blocking_pool_, [this] {
    if (!peer_sign_in_) return;
    auto synced = peer_sign_in_->SyncClients();
    if (!synced.ok()) spdlog::warn("sign-in: peer clients: {}", synced.error().message);
  });
}

void Daemon::OnPeerChanged(const std::string& node) {
  SyncPeerClients();
  if (replicator_) replicator_->NotePeerChanged(node);
}

void Daemon::ScheduleNetworkRefresh(std::chrono::seconds delay) {
  network_timer_->expires_after(delay);
  network_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: stopping
    if (!network_refresh_running_.exchange(true)) {
      asio::post(*blocking_pool_, [this] {
        RefreshNetworks();
        network_refresh_running_ = false;
      });
    }
    std::lock_guard lock(mu_);
    if (!stopped_) ScheduleNetworkRefresh(std::chrono::seconds(config_.networks.refresh_interval));
  });
}

void Daemon::ScheduleWithdrawnRefresh(std::chrono::seconds delay) {
  withdrawn_timer_->expires_after(delay);
  withdrawn_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: stopping
    if (!withdrawn_refresh_running_.exchange(true)) {
      asio::post(*blocking_pool_, [this] {
        RefreshWithdrawn();
        withdrawn_refresh_running_ = false;
      });
    }
    std::lock_guard lock(mu_);
    if (!stopped_) {
      ScheduleWithdrawnRefresh(std::chrono::seconds(config_.networks.withdrawn_refresh_interval));
    }
  });
}

void Daemon::RefreshNetworks() {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
  }
  auto report = network_peering_->RefreshNow();
  if (!report.ok()) {
    spdlog::warn("networks: refresh: {}", report.error().message);
  } else {
    for (const auto& error : report->errors) spdlog::warn("networks: refresh: {}", error);
    if (report->admitted > 0 || report->suspended > 0) {
      spdlog::info("networks: refresh: {} admitted, {} suspended, {} member(s) seen",
                   report->admitted, report->suspended, report->members_seen);
    }
  }
  // Peers may have joined or left networks: groups scoped to one follow (H5).
  if (replicator_) replicator_->NotePeerNetworksChanged("");
  auto sweep = network_operator_->Sweep(*entity_fetcher_);
  if (!sweep.ok()) {
    spdlog::warn("networks: operator sweep: {}", sweep.error().message);
  } else {
    for (const auto& error : sweep->errors) spdlog::warn("networks: operator sweep: {}", error);
  }
}

void Daemon::RefreshWithdrawn() {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
  }
  auto report = network_peering_->RefreshWithdrawnNow();
  if (!report.ok()) {
    spdlog::warn("networks: withdrawn lists: {}", report.error().message);
    return;
  }
  for (const auto& error : report->errors) spdlog::warn("networks: withdrawn lists: {}", error);
  if (replicator_) replicator_->NotePeerNetworksChanged("");
  if (report->suspended > 0) {
    spdlog::info("networks: withdrawn lists: {} peer(s) suspended", report->suspended);
  }
}

void Daemon::SyncDirectory() {
  {
    std::lock_guard lock(directory_sync_mu_);
    if (directory_sync_running_) {
      directory_sync_queued_ = true;
      return;
    }
    directory_sync_running_ = true;
  }
  directory_->SyncMembers([this](Result<int64_t> changed) {  // on the writer thread
    if (!changed.ok()) {
      spdlog::warn("directory: syncing the members' profiles failed: {}", changed.error().message);
    } else if (*changed > 0) {
      spdlog::info("directory: {} profile change(s) published", *changed);
      if (replicator_) replicator_->NoteAppended(directory_->stream());
    }
    bool again = false;
    {
      std::lock_guard lock(directory_sync_mu_);
      again = directory_sync_queued_ && changed.ok();
      directory_sync_queued_ = false;
      directory_sync_running_ = false;
    }
    if (again) SyncDirectory();
  });
}

void Daemon::ScheduleDirectorySync() {
  directory_timer_->expires_after(std::chrono::seconds(60));
  directory_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: stopping
    SyncDirectory();
    // Also a safety net for the directory's subscribers (a peer change we were not told of).
    if (replicator_) replicator_->NotePeerChanged("");
    std::lock_guard lock(mu_);
    if (!stopped_) ScheduleDirectorySync();
  });
}

void Daemon::ScheduleHousekeeping(std::chrono::seconds delay) {
  housekeeping_timer_->expires_after(delay);
  housekeeping_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: stopping
    asio::post(*blocking_pool_, [this] {
      Housekeeping();
      asio::post(ioc_, [this] {
        std::lock_guard lock(mu_);
        if (!stopped_) ScheduleHousekeeping(std::chrono::seconds(600));
      });
    });
  });
}

void Daemon::Housekeeping() {
  const Clock& clock = SystemClock::Instance();
  auto wait = [](auto start) {
    std::promise<Status> promise;
    auto future = promise.get_future();
    start([&promise](auto result) {
      promise.set_value(result.ok() ? OkStatus() : Status(result.error()));
    });
    return future.get();
  };
  auto log = [](std::string_view what, const Status& s) {
    if (!s.ok()) spdlog::warn("housekeeping: {}: {}", what, s.error().message);
  };
  log("expired sessions", wait([&](auto done) { sessions_->PurgeExpired(done); }));
  if (peer_sign_in_) {
    auto synced = peer_sign_in_->SyncClients();
    log("peer clients", synced.ok() ? OkStatus() : Status(synced.error()));
  }
  log("expired codes and tokens", wait([&](auto done) { oidc_->PurgeExpired(done); }));
  log("retired OIDC keys", wait([&](auto done) {
        identity::OidcKeys::PurgeExpired(config_.node.data_dir, *store_, clock, done);
      }));
  auto ended = identity::NodeKeyring::PurgeExpired(config_.node.data_dir, *store_, clock);
  if (!ended.ok()) log("retired node keys", ended.error());
  Status reloaded = ReloadKeys();  // drops keys whose overlap ended from the published sets
  log("reloading keys", reloaded);
}

Daemon::~Daemon() {
  RequestStop();
  Stop();
}

void Daemon::RequestStop() {
  std::lock_guard lock(mu_);
  stop_requested_ = true;
  cv_.notify_all();
}

void Daemon::Wait() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return stop_requested_; });
  }
  Stop();
}

void Daemon::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  if (housekeeping_timer_) {
    asio::post(ioc_, [t = housekeeping_timer_.get()] { t->cancel(); });
  }
  if (directory_timer_) {
    asio::post(ioc_, [t = directory_timer_.get()] { t->cancel(); });
  }
  for (auto* timer : {network_timer_.get(), withdrawn_timer_.get()}) {
    if (timer != nullptr) asio::post(ioc_, [timer] { timer->cancel(); });
  }
  if (signals_) {
    asio::post(ioc_, [s = signals_.get()] {
      boost::system::error_code ec;
      s->cancel(ec);
    });
  }
  const auto grace = std::chrono::seconds(config_.limits.shutdown_grace_seconds);
  if (http_) {
    size_t forced = http_->Shutdown(grace);
    spdlog::info("HTTP server stopped ({} connection(s) closed forcibly)", forced);
  }
  if (admin_socket_) admin_socket_->Shutdown(std::chrono::seconds(5));
  // Replication stops before the Store closes (its state is durable; what is in flight is
  // retried at the next start).
  if (replicator_) replicator_->Stop();
  if (blocking_pool_) blocking_pool_->join();
  // The hasher's callbacks post to the io_context: finish them while it still exists.
  hasher_.reset();
  ioc_.stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  if (store_) store_->Close();
  std::error_code ec;
  if (http_) fs::remove(config_.node.data_dir / "kithd.addr", ec);
  spdlog::info("kithd stopped");
}

}  // namespace kith::node
