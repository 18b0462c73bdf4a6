#include "tests/support/fake_entity_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

namespace kith::testing {

std::unique_ptr<FakeEntityServer> FakeEntityServer::Start() {
  std::unique_ptr<FakeEntityServer> server(new FakeEntityServer());
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd, 64) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return nullptr;
  }
  server->listen_fd_ = fd;
  server->port_ = ntohs(addr.sin_port);
  server->thread_ = std::thread([raw = server.get()] { raw->Run(); });
  return server;
}

FakeEntityServer::~FakeEntityServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void FakeEntityServer::Put(const std::string& path_and_query, std::string body,
                           std::string content_type) {
  std::lock_guard lock(mu_);
  bodies_[path_and_query] = {std::move(body), std::move(content_type)};
}

void FakeEntityServer::Remove(const std::string& path_and_query) {
  std::lock_guard lock(mu_);
  bodies_.erase(path_and_query);
}

void FakeEntityServer::Run() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, 100);  // wakes up to notice stop_
    if (ready <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    Serve(fd);
    ::close(fd);
  }
}

void FakeEntityServer::Serve(int fd) {
  std::string request;
  char buf[4096];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 16384) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) return;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return;
    request.append(buf, static_cast<size_t>(n));
  }
  ++requests_;
  // "GET /path?query HTTP/1.1"
  std::string target;
  if (auto sp = request.find(' '); sp != std::string::npos) {
    auto sp2 = request.find(' ', sp + 1);
    if (sp2 != std::string::npos) target = request.substr(sp + 1, sp2 - sp - 1);
  }
  std::string status = "404 Not Found";
  std::string body = R"({"error":"not_found"})";
  std::string type = "application/json";
  {
    std::lock_guard lock(mu_);
    if (auto it = bodies_.find(target); it != bodies_.end()) {
      status = "200 OK";
      body = it->second.first;
      type = it->second.second;
    }
  }
  std::string response = "HTTP/1.1 " + status + "\r\nContent-Type: " + type +
                         "\r\nContent-Length: " + std::to_string(body.size()) +
                         "\r\nConnection: close\r\n\r\n" + body;
  size_t sent = 0;
  while (sent < response.size()) {
    ssize_t n = ::send(fd, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

}  // namespace kith::testing
