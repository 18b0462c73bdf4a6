// AdminSocket: serves admin::AdminApi on DATA_DIR/admin.sock — HTTP/1.1 over a Unix stream
// socket, mode 0600 (the file permissions are the access control; nothing administrative is
// served on the network port). A stale socket file is replaced at start; the file is removed
// on Shutdown.
//
// Every request, whatever its method and path, goes to AdminApi::Handle, which runs on a small
// thread pool (it may block: backups, password hashing), never on the I/O threads. Request
// bodies are limited to 1 MiB. Responses are JSON.
//
// Thread-safety: as HttpServer. The AdminApi must outlive the AdminSocket.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <memory>

#include "admin/admin_api.h"
#include "node/http_server.h"
#include "node/router.h"
#include "storage/result.h"

namespace kith::node {

class AdminSocket {
 public:
  // Listens on `socket_path` with connections handled on `ioc` and AdminApi calls on a pool of
  // `worker_threads` threads. Errors as HttpServer::Start.
  static Result<std::unique_ptr<AdminSocket>> Start(boost::asio::io_context& ioc,
                                                    const std::filesystem::path& socket_path,
                                                    admin::AdminApi& api, int worker_threads = 2);
  ~AdminSocket();

  // Stops accepting, lets running admin calls finish within `grace`, removes the socket file,
  // then joins the worker pool. Blocking; not on an I/O thread. Idempotent.
  void Shutdown(std::chrono::milliseconds grace);

  std::string path() const { return server_->local_address(); }

 private:
  AdminSocket() = default;
  std::unique_ptr<boost::asio::thread_pool> pool_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<HttpServer> server_;
};

}  // namespace kith::node
