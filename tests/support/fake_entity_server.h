// FakeEntityServer: a tiny HTTP/1.1 server on 127.0.0.1 inside the test process that answers
// GETs with fixed bodies by path (query included), for entities that kithd processes fetch
// over the network — e.g. an OpenID Federation entity whose configuration is forged or
// expired. Unknown paths are 404 {"error":"not_found"}. One request per connection
// (Connection: close), requests read up to 16 KiB with a 5 s timeout.
//
// Thread-safety: Put/Remove may be called while the server answers on its own thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace kith::testing {

class FakeEntityServer {
 public:
  // Listens on 127.0.0.1 on a kernel-chosen port. nullptr when the socket cannot be made.
  static std::unique_ptr<FakeEntityServer> Start();
  ~FakeEntityServer();  // stops the thread and closes the socket

  // Serves `body` with `content_type` at `path_and_query` ("/.well-known/openid-federation").
  void Put(const std::string& path_and_query, std::string body,
           std::string content_type = "application/entity-statement+jwt");
  void Remove(const std::string& path_and_query);

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // GETs answered so far.
  uint64_t requests() const { return requests_.load(); }

 private:
  FakeEntityServer() = default;
  void Run();
  void Serve(int fd);

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> requests_{0};
  std::thread thread_;
  std::mutex mu_;
  std::map<std::string, std::pair<std::string, std::string>> bodies_;  // guarded by mu_
};

}  // namespace kith::testing
