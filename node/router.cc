#include "node/router.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

namespace kith::node {

struct Router::Node {
  std::vector<std::pair<std::string, std::unique_ptr<Node>>> literals;
  std::unique_ptr<Node> param;
  std::string param_name;
  std::vector<std::unique_ptr<Route>> routes;

  const Route* RouteFor(http::verb method) const {
    for (const auto& r : routes) {
      if (r->method == method) return r.get();
    }
    if (method == http::verb::head) return RouteFor(http::verb::get);
    return nullptr;
  }
};

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Splits off the next segment of `rest` (which has no leading '/'); `rest` becomes what
// follows the '/', and `last` tells whether this was the final segment.
std::string_view NextSegment(std::string_view& rest, bool& last) {
  size_t slash = rest.find('/');
  std::string_view seg = rest.substr(0, slash);
  if (slash == std::string_view::npos) {
    last = true;
    rest = {};
  } else {
    last = false;
    rest.remove_prefix(slash + 1);
  }
  return seg;
}

struct Search {
  http::verb method;
  bool any_method;  // second pass: find any route on the path (for 405)
  bool bad = false;
  std::vector<PathParam>* params;
};

}  // namespace

std::optional<std::string> PercentDecode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      char d = static_cast<char>(hi * 16 + lo);
      if (d == '\0') return std::nullopt;
      out += d;
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string_view RequestContext::Param(std::string_view name) const {
  for (const auto& p : params) {
    if (p.name == name) return p.value;
  }
  return {};
}

std::optional<std::string> RequestContext::QueryParam(std::string_view name) const {
  std::string_view rest = query;
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    size_t eq = pair.find('=');
    auto key = PercentDecode(pair.substr(0, eq), true);
    if (!key || *key != name) continue;
    if (eq == std::string_view::npos) return std::string();
    return PercentDecode(pair.substr(eq + 1), true);
  }
  return std::nullopt;
}

Router::Router() : root_(std::make_unique<Node>()) {}
Router::~Router() = default;

Status Router::Add(http::verb method, std::string_view pattern, Handler handler,
                   RouteOptions options) {
  auto bad = [&](std::string_view why) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "route pattern \"" + std::string(pattern) + "\": " + std::string(why));
  };
  if (pattern.empty() || pattern.front() != '/') return bad("must start with '/'");
  if (!handler) return bad("handler is empty");
  Node* node = root_.get();
  std::vector<std::string_view> names;
  if (pattern != "/") {
    std::string_view rest = pattern.substr(1);
    bool last = false;
    do {
      std::string_view seg = NextSegment(rest, last);
      if (seg.empty()) return bad("empty segment");
      if (seg.front() == '{') {
        if (seg.size() < 3 || seg.back() != '}') return bad("a parameter is \"{name}\"");
        std::string_view name = seg.substr(1, seg.size() - 2);
        if (name.find_first_of("{}/") != std::string_view::npos) return bad("bad parameter name");
        if (std::find(names.begin(), names.end(), name) != names.end()) {
          return bad("parameter used twice");
        }
        names.push_back(name);
        if (!node->param) {
          node->param = std::make_unique<Node>();
          node->param_name = std::string(name);
        } else if (node->param_name != name) {
          return bad("parameter {" + std::string(name) + "} where another route has {" +
                     node->param_name + "}");
        }
        node = node->param.get();
      } else {
        if (seg.find_first_of("{}") != std::string_view::npos) {
          return bad("a parameter must be a whole segment");
        }
        auto it = std::find_if(node->literals.begin(), node->literals.end(),
                               [&](const auto& l) { return l.first == seg; });
        if (it == node->literals.end()) {
          node->literals.emplace_back(std::string(seg), std::make_unique<Node>());
          it = std::prev(node->literals.end());
        }
        node = it->second.get();
      }
    } while (!last);
  }
  for (const auto& r : node->routes) {
    if (r->method == method) {
      return MakeError(ErrorCode::kConflict, "route " + std::string(http::to_string(method)) + " " +
                                                 std::string(pattern) + " is registered twice");
    }
  }
  auto route = std::make_unique<Route>();
  route->method = method;
  route->pattern = std::string(pattern);
  route->handler = std::move(handler);
  route->options = options;
  routes_.push_back(route.get());
  node->routes.push_back(std::move(route));
  return OkStatus();
}

void Router::AddOrDie(http::verb method, std::string_view pattern, Handler handler,
                      RouteOptions options) {
  Status s = Add(method, pattern, std::move(handler), options);
  if (!s.ok()) {
    std::fprintf(stderr, "kith: %s\n", s.error().message.c_str());
    std::abort();
  }
}

void Router::SetFallback(Handler handler, RouteOptions options) {
  fallback_ = std::make_unique<Route>();
  fallback_->method = http::verb::unknown;
  fallback_->pattern = "fallback";
  fallback_->handler = std::move(handler);
  fallback_->options = options;
  routes_.push_back(fallback_.get());
}

std::vector<Route*> Router::Routes() { return routes_; }

namespace {

// Depth-first search, literal children before the parameter child. Returns the node whose
// routes serve the path (with the method, or any method when search.any_method).
template <class NodeT>
const NodeT* MatchNode(const NodeT* node, std::string_view rest, bool at_end, Search& search) {
  if (at_end) {
    if (search.any_method ? !node->routes.empty() : node->RouteFor(search.method) != nullptr) {
      return node;
    }
    return nullptr;
  }
  bool last = false;
  std::string_view raw = NextSegment(rest, last);
  std::string decoded_storage;
  std::string_view seg = raw;
  if (raw.find('%') != std::string_view::npos) {
    auto d = PercentDecode(raw);
    if (!d) {
      search.bad = true;
      return nullptr;
    }
    decoded_storage = std::move(*d);
    seg = decoded_storage;
  }
  for (const auto& [literal, child] : node->literals) {
    if (literal == seg) {
      if (const NodeT* found = MatchNode(child.get(), rest, last, search)) return found;
      if (search.bad) return nullptr;
      break;
    }
  }
  if (node->param && !seg.empty()) {
    search.params->push_back(PathParam{node->param_name, std::string(seg)});
    if (const NodeT* found = MatchNode(node->param.get(), rest, last, search)) return found;
    search.params->pop_back();
  }
  return nullptr;
}

}  // namespace

RouteMatch Router::Find(http::verb method, std::string_view raw_path) const {
  RouteMatch match;
  if (raw_path.empty() || raw_path.front() != '/') {
    match.kind = RouteMatch::Kind::kBadPath;
    return match;
  }
  std::string_view rest = raw_path.substr(1);
  bool at_end = raw_path == "/";
  Search search{method, false, false, &match.params};
  if (const Node* node = MatchNode(root_.get(), rest, at_end, search)) {
    match.kind = RouteMatch::Kind::kFound;
    match.route = node->RouteFor(method);
    return match;
  }
  if (search.bad) {
    match.kind = RouteMatch::Kind::kBadPath;
    match.params.clear();
    return match;
  }
  match.params.clear();
  Search any{method, true, false, &match.params};
  const Node* node = MatchNode(root_.get(), rest, at_end, any);
  match.params.clear();
  if (node != nullptr) {
    match.kind = RouteMatch::Kind::kMethodNotAllowed;
    std::vector<std::string> methods;
    bool has_get = false, has_head = false;
    for (const auto& r : node->routes) {
      methods.emplace_back(http::to_string(r->method));
      has_get |= r->method == http::verb::get;
      has_head |= r->method == http::verb::head;
    }
    if (has_get && !has_head) methods.emplace_back("HEAD");
    std::sort(methods.begin(), methods.end());
    for (size_t i = 0; i < methods.size(); ++i) {
      if (i) match.allow += ", ";
      match.allow += methods[i];
    }
  }
  if (fallback_) {
    match.kind = RouteMatch::Kind::kFound;
    match.route = fallback_.get();
    match.allow.clear();
  }
  return match;
}

Response JsonResponse(http::status status, std::string body, unsigned version) {
  Response res{status, version};
  res.set(http::field::content_type, "application/json");
  res.body() = std::move(body);
  return res;
}

Response TextResponse(http::status status, std::string body, unsigned version) {
  Response res{status, version};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::move(body);
  return res;
}

Response ErrorResponse(const Error& error, unsigned version) {
  nlohmann::json j;
  j["error"] = std::string(error.Name());
  j["message"] = error.message;
  return JsonResponse(static_cast<http::status>(HttpStatusFor(error.code)),
                      j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), version);
}

}  // namespace kith::node
