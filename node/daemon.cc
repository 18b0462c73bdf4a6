#include "node/daemon.h"

#include <unistd.h>

#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <fstream>

#include "node/endpoints.h"
#include "node/federation_routes.h"

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

  auto keys = d->store_->Read(
      [&](storage::Database& db) { return identity::NodeKeyring::Load(data_dir, db); });
  if (!keys.ok()) return std::move(keys).error();
  d->keys_ = std::move(keys.value());

  d->blocking_pool_ = std::make_unique<asio::thread_pool>(2);

  CoreEndpoints endpoints;
  endpoints.config = &d->config_;
  endpoints.store = d->store_.get();
  endpoints.keys = d->keys_;
  endpoints.metrics = &d->metrics_;
  endpoints.clock = &SystemClock::Instance();
  endpoints.blocking_pool = d->blocking_pool_.get();
  endpoints.test_routes = options.test_routes;
  AddCoreRoutes(d->router_, endpoints);

  {  // Peering: signed federation endpoints and the admin operations on peers.
    federation::HttpClientOptions client_options;
    client_options.allow_private_addresses = c.federation.allow_private_addresses;
    auto client = federation::HttpClient::Create(d->ioc_.get_executor(), client_options);
    if (!client.ok()) return std::move(client).error();
    d->http_client_ = std::move(client.value());
    d->replay_cache_ = std::make_unique<federation::ReplayCache>();
    d->peer_store_ = std::make_unique<federation::PeerStore>(*d->store_, SystemClock::Instance());
    federation::PeeringContext peering;
    peering.base_url = c.node.base_url;
    peering.keys = [keys = d->keys_] { return keys; };
    peering.self_document = [raw = d.get()] {
      return NodeDocument(raw->config_, *raw->keys_, SystemClock::Instance().UnixSeconds());
    };
    peering.executor = d->ioc_.get_executor();
    d->peering_ = std::make_unique<federation::PeeringService>(std::move(peering), *d->peer_store_,
                                                               *d->http_client_, *d->replay_cache_,
                                                               SystemClock::Instance());
    AddFederationRoutes(d->router_, *d->peering_, *d->blocking_pool_, c.node.base_url);
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
  context.keys = d->keys_;
  context.name = c.node.name;
  context.organisation = c.node.organisation;
  context.base_url = c.node.base_url;
  context.started_at = d->started_at_;
  Daemon* raw = d.get();
  context.peering = d->peering_.get();
  context.peers = d->peer_store_.get();
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

  auto admin_socket = AdminSocket::Start(d->ioc_, data_dir / "admin.sock", *d->admin_api_);
  if (!admin_socket.ok()) return std::move(admin_socket).error();
  d->admin_socket_ = std::move(admin_socket.value());

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
  if (blocking_pool_) blocking_pool_->join();
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
