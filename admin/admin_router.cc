#include "admin/admin_router.h"

#include <exception>

namespace kith::admin {
namespace {

std::vector<std::string> Split(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    out.emplace_back(path.substr(i, end - i));
    i = end;
  }
  return out;
}

bool IsParam(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

bool Match(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
           std::map<std::string, std::string>* params) {
  if (pattern.size() != path.size()) return false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (IsParam(pattern[i])) {
      if (params) (*params)[pattern[i].substr(1, pattern[i].size() - 2)] = path[i];
    } else if (pattern[i] != path[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<nlohmann::json> AdminRequest::JsonBody() const {
  if (body.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "the request needs a JSON object body");
  }
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return MakeError(ErrorCode::kInvalidArgument, "the request body is not valid JSON");
  }
  if (!parsed.is_object()) {
    return MakeError(ErrorCode::kInvalidArgument, "the request body must be a JSON object");
  }
  return parsed;
}

void AdminRouter::Add(std::string method, std::string_view pattern, AdminHandler handler) {
  routes_.push_back(Route{std::move(method), Split(pattern), std::move(handler)});
}

AdminResponse AdminRouter::ErrorResponse(const Error& error) {
  AdminResponse response;
  response.status = HttpStatusFor(error.code);
  response.body = {{"error", std::string(error.Name())}, {"message", error.message}};
  return response;
}

AdminResponse AdminRouter::Dispatch(std::string_view method, std::string_view path,
                                    std::string_view body) const {
  // The query string is not part of the route.
  std::string_view route_path = path.substr(0, path.find('?'));
  if (route_path.empty() || route_path.front() != '/') {
    return ErrorResponse(MakeError(ErrorCode::kInvalidArgument, "the path must start with /"));
  }
  const std::vector<std::string> segments = Split(route_path);
  std::string allow;
  for (const Route& route : routes_) {
    if (!Match(route.segments, segments, nullptr)) continue;
    if (route.method != method) {
      if (allow.find(route.method) == std::string::npos) {
        allow += (allow.empty() ? "" : ", ") + route.method;
      }
      continue;
    }
    AdminRequest request{method, path, {}, body};
    Match(route.segments, segments, &request.params);
    try {
      Result<nlohmann::json> result = route.handler(request);
      if (!result.ok()) return ErrorResponse(result.error());
      return AdminResponse{200, std::move(result).value()};
    } catch (const std::exception& e) {
      return ErrorResponse(
          MakeError(ErrorCode::kInternal,
                    std::string(method) + " " + std::string(route_path) + " failed: " + e.what()));
    }
  }
  if (!allow.empty()) {
    AdminResponse response = ErrorResponse(
        MakeError(ErrorCode::kMethodNotAllowed, std::string(route_path) + " allows " + allow));
    response.allow = allow;
    return response;
  }
  return ErrorResponse(
      MakeError(ErrorCode::kNotFound, "no admin route " + std::string(route_path)));
}

}  // namespace kith::admin
