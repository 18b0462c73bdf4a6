// AdminRouter: maps (method, path pattern) to a handler for the admin API.
//
// Patterns are absolute paths whose segments are literals or `{name}` parameters, e.g.
// "/v1/peers/{id}". A path that matches no pattern is 404; a path that matches only under
// other methods is 405 with the allowed methods. Handlers return JSON or an Error, which
// becomes {"error": name, "message": text} with the ErrorCode's HTTP status.
//
// Thread-safety: add every route before the first Dispatch; Dispatch is then safe to call
// from several threads at once (handlers must be thread-safe themselves).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "admin/admin_api.h"
#include "storage/result.h"

namespace kith::admin {

// One admin request as a handler sees it.
struct AdminRequest {
  std::string_view method;
  std::string_view path;
  std::map<std::string, std::string> params;  // values of {name} segments
  std::string_view body;                      // raw body (may be empty)

  // The body parsed as a JSON object; kInvalidArgument when it is empty or not an object.
  Result<nlohmann::json> JsonBody() const;
};

using AdminHandler = std::function<Result<nlohmann::json>(const AdminRequest&)>;

class AdminRouter {
 public:
  // Registers `handler` for `method` (GET, POST, ...) on `pattern`.
  void Add(std::string method, std::string_view pattern, AdminHandler handler);

  // Finds the route and runs it. Never throws: a handler's exception becomes a 500.
  AdminResponse Dispatch(std::string_view method, std::string_view path,
                         std::string_view body) const;

  // An error response in the admin API's shape.
  static AdminResponse ErrorResponse(const Error& error);

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    AdminHandler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace kith::admin
