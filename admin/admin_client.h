// AdminClient: the client side of the admin socket (HTTP/1.1 over DATA_DIR/admin.sock),
// used by kithctl. One request per connection; every call has a deadline.
//
// Thread-safety: an AdminClient holds only the socket path; Call is safe from any thread.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "storage/result.h"

namespace kith::admin {

// A response from kithd's admin API (any status).
struct AdminReply {
  int status = 0;
  nlohmann::json body;  // the parsed JSON body (null when the body was empty)
};

class AdminClient {
 public:
  explicit AdminClient(std::filesystem::path socket_path) : socket_path_(std::move(socket_path)) {}

  // The admin socket of the node in `data_dir`.
  static std::filesystem::path SocketFor(const std::filesystem::path& data_dir) {
    return data_dir / "admin.sock";
  }

  // Sends `method target` with `body` (JSON text, may be empty) and returns the reply.
  // Errors: kUnavailable with a message saying kithd is not running (socket missing or
  // connection refused) or did not answer in time; kPermissionDenied when the socket is not
  // ours to open; kInternal when the reply is not JSON. A non-2xx reply is NOT an error here.
  Result<AdminReply> Call(std::string_view method, std::string_view target,
                          std::string_view body = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

  // Call, turning a non-2xx reply into an Error carrying the server's message.
  Result<nlohmann::json> CallOk(std::string_view method, std::string_view target,
                                std::string_view body = {},
                                std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

 private:
  std::filesystem::path socket_path_;
};

}  // namespace kith::admin
