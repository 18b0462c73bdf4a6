#include "tests/support/group_network.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

namespace kith::testing {

using nlohmann::json;

bool WaitFor(const std::function<bool()>& predicate, std::chrono::milliseconds timeout,
             std::chrono::milliseconds pause) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (predicate()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(pause);  // polling, with a deadline
  }
}

std::vector<std::pair<std::string, std::string>> FederationTestEnv() {
  return {
      {"KITH_FEDERATION_ALLOW_PRIVATE_ADDRESSES", "true"},
      {"KITH_IDENTITY_PASSWORD_COST", "minimum"},
      {"KITH_LOG_ACCESS_LOG", "false"},
      {"KITH_LOG_LEVEL", "info"},
      // Replication tunables (node/config): retry a peer that was down quickly, so that tests
      // converge in seconds after a restart. Unknown names are ignored by the config loader.
      {"KITH_FEDERATION_MIN_BACKOFF_MS", "100"},
      {"KITH_FEDERATION_MAX_BACKOFF_SECONDS", "2"},
  };
}

// --- PeerNode ------------------------------------------------------------------------------

std::unique_ptr<PeerNode> PeerNode::Start(const std::string& name,
                                          std::vector<std::pair<std::string, std::string>> env) {
  auto p = std::make_unique<PeerNode>();
  p->env = std::move(env);
  TestNodeOptions options;
  options.name = name;
  options.organisation = name + " Council";
  p->node = TestNode::Init(options);
  if (!p->node) return nullptr;
  if (!p->Launch()) return nullptr;
  return p;
}

bool PeerNode::Launch() {
  ProcessOptions options;
  options.env = env;
  options.unset_env = {"KITH_DATA_DIR", "KITH_HTTP_PORT"};
  // Destroy the previous (exited) process first: ChildProcess's move assignment runs its
  // destructor on itself and then assigns to the destroyed members (tests/support/process.cc).
  kithd.reset();
  std::error_code ignored;
  std::filesystem::remove(node->data_dir() / "kithd.addr", ignored);  // stale after a SIGKILL
  kithd = ChildProcess::Start({KithdPath(), "--config", (node->data_dir() / "kith.toml").string()},
                              options);
  if (!kithd) return false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  auto pause = std::chrono::milliseconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!kithd->Running()) {
      ADD_FAILURE() << "kithd exited:\n" << kithd->Stdout() << kithd->Stderr();
      return false;
    }
    std::ifstream addr(node->data_dir() / "kithd.addr");
    std::string line;
    if (addr && std::getline(addr, line) && line.rfind(':') != std::string::npos) {
      port = static_cast<uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
      auto res = HttpGet(port, "/healthz", std::chrono::seconds(2));
      if (res.ok() && res->status == 200) {
        url = "http://127.0.0.1:" + std::to_string(port);
        return true;
      }
    }
    std::this_thread::sleep_for(pause);  // polling a starting server, with a deadline
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "kithd did not start:\n" << kithd->Stdout() << kithd->Stderr();
  return false;
}

void PeerNode::StopKithd() {
  if (!kithd || !kithd->Running()) return;
  kithd->Signal(SIGTERM);
  EXPECT_EQ(kithd->Wait(std::chrono::seconds(30)).code, 0) << kithd->Stderr();
}

void PeerNode::Kill() {
  if (!kithd) return;
  kithd->Signal(SIGKILL);
  kithd->Wait(std::chrono::seconds(10));
}

std::string PeerNode::domain() const { return "127.0.0.1:" + std::to_string(port); }

ProcessResult PeerNode::Ctl(std::vector<std::string> args) const {
  return node->Kithctl(std::move(args));
}

json PeerNode::CtlJson(std::vector<std::string> args) const {
  args.push_back("--json");
  ProcessResult r = Ctl(args);
  EXPECT_EQ(r.status.code, 0) << r.out << r.err;
  json parsed = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << r.out;
  return parsed;
}

std::string PeerNode::StateOf(const std::string& peer_url) const {
  json list = CtlJson({"peer", "list"});
  if (!list.is_object() || !list.contains("peers")) return "absent";
  for (const auto& p : list["peers"]) {
    if (p.value("node_id", "") == peer_url) return p.value("state", "");
  }
  return "absent";
}

std::optional<TestMember> PeerNode::AddMember(const std::string& handle) const {
  ProcessResult r = Ctl({"member", "add", handle, "--email", handle + "@example.org", "--name",
                         "Member " + handle, "--organisation", "Org", "--json"});
  if (r.status.code != 0) {
    ADD_FAILURE() << "kithctl member add " << handle << ": " << r.out << r.err;
    return std::nullopt;
  }
  json added = json::parse(r.out, nullptr, false);
  if (added.is_discarded() || !added["password"].is_string() ||
      !added["member"]["address"].is_string()) {
    ADD_FAILURE() << "kithctl member add printed: " << r.out;
    return std::nullopt;
  }
  return TestMember{handle, added["member"]["address"].get<std::string>(),
                    added["password"].get<std::string>()};
}

bool PeerPair(const PeerNode& a, const PeerNode& b) {
  ProcessResult added = a.Ctl({"peer", "add", b.url, "--yes"});
  EXPECT_EQ(added.status.code, 0) << added.out << added.err;
  ProcessResult approved = b.Ctl({"peer", "approve", a.url});
  EXPECT_EQ(approved.status.code, 0) << approved.out << approved.err;
  const bool active = a.StateOf(b.url) == "active" && b.StateOf(a.url) == "active";
  EXPECT_TRUE(active) << a.url << " and " << b.url << " are not both active";
  return active;
}

// --- ApiClient -----------------------------------------------------------------------------

namespace {

std::string FormEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string HtmlUnescape(std::string s) {
  const std::pair<const char*, const char*> entities[] = {
      {"&lt;", "<"},  {"&gt;", ">"},   {"&quot;", "\""}, {"&#39;", "'"},  {"&#61;", "="},
      {"&#96;", "`"}, {"&#x27;", "'"}, {"&#x3D;", "="},  {"&#x60;", "`"}, {"&amp;", "&"}};
  for (const auto& [from, to] : entities) {
    size_t pos = 0;
    while ((pos = s.find(from, pos)) != std::string::npos) {
      s.replace(pos, std::strlen(from), to);
      pos += std::strlen(to);
    }
  }
  return s;
}

std::string InputValue(const std::string& html, const std::string& name) {
  const std::string marker = "name=\"" + name + "\" value=\"";
  size_t pos = html.find(marker);
  if (pos == std::string::npos) return "";
  pos += marker.size();
  return HtmlUnescape(html.substr(pos, html.find('"', pos) - pos));
}

// The value of cookie `name` in a (joined) Set-Cookie header; "" when absent.
std::string CookieValue(const std::string& set_cookie, const std::string& name) {
  size_t pos = 0;
  while ((pos = set_cookie.find(name + "=", pos)) != std::string::npos) {
    if (pos == 0 || set_cookie[pos - 1] == ' ' || set_cookie[pos - 1] == ',') {
      size_t start = pos + name.size() + 1;
      size_t end = set_cookie.find(';', start);
      return set_cookie.substr(start, end == std::string::npos ? std::string::npos : end - start);
    }
    pos += name.size();
  }
  return "";
}

}  // namespace

Result<ApiClient> ApiClient::SignIn(const PeerNode& node, const TestMember& member) {
  auto page = HttpGet(node.port, "/sign-in");
  if (!page.ok()) return page.error();
  if (page->status != 200) {
    return MakeError(ErrorCode::kInternal, "GET /sign-in: " + std::to_string(page->status));
  }
  const std::string pre_csrf = CookieValue(page->Header("set-cookie"), "kith_csrf");
  HttpRequestOptions options;
  options.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                     {"Cookie", "kith_csrf=" + pre_csrf}};
  auto signed_in = HttpRequest(
      "127.0.0.1", node.port, "POST", "/sign-in",
      "username=" + FormEncode(member.handle) + "&password=" + FormEncode(member.password) +
          "&csrf_token=" + FormEncode(InputValue(page->body, "csrf_token")),
      options);
  if (!signed_in.ok()) return signed_in.error();
  ApiClient client;
  client.port_ = node.port;
  client.member_ = member;
  client.session_ = CookieValue(signed_in->Header("set-cookie"), "kith_session");
  if (signed_in->status != 303 || client.session_.empty()) {
    return MakeError(ErrorCode::kInternal, "POST /sign-in as " + member.handle + ": " +
                                               std::to_string(signed_in->status) + " " +
                                               signed_in->body.substr(0, 500));
  }
  HttpRequestOptions with_cookie;
  with_cookie.headers = {{"Cookie", "kith_session=" + client.session_}};
  auto account = HttpRequest("127.0.0.1", node.port, "GET", "/account", "", with_cookie);
  if (!account.ok()) return account.error();
  client.csrf_ = InputValue(account->body, "csrf_token");
  if (account->status != 200 || client.csrf_.empty()) {
    return MakeError(ErrorCode::kInternal,
                     "GET /account: " + std::to_string(account->status) + " without csrf_token");
  }
  return client;
}

Result<HttpResponse> ApiClient::Send(
    const std::string& method, const std::string& target, const std::string& body,
    const std::string& content_type, std::chrono::milliseconds timeout,
    const std::vector<std::pair<std::string, std::string>>& extra_headers) const {
  HttpRequestOptions options;
  options.timeout = timeout;
  options.headers = {{"Cookie", "kith_session=" + session_}, {"Accept", "application/json"}};
  if (method != "GET" && method != "HEAD") options.headers.emplace_back("X-CSRF-Token", csrf_);
  if (!content_type.empty()) options.headers.emplace_back("Content-Type", content_type);
  options.headers.insert(options.headers.end(), extra_headers.begin(), extra_headers.end());
  return HttpRequest("127.0.0.1", port_, method, target, body, options);
}

Result<HttpResponse> ApiClient::Get(const std::string& target) const {
  return Send("GET", target, "", "");
}
Result<HttpResponse> ApiClient::Post(const std::string& target, const json& body) const {
  return Send("POST", target, body.dump(), "application/json");
}
Result<HttpResponse> ApiClient::Patch(const std::string& target, const json& body) const {
  return Send("PATCH", target, body.dump(), "application/json");
}
Result<HttpResponse> ApiClient::Delete(const std::string& target) const {
  return Send("DELETE", target, "", "");
}

std::optional<json> ApiClient::GetJson(const std::string& target) const {
  auto res = Get(target);
  if (!res.ok() || res->status != 200) return std::nullopt;
  json body = JsonBody(*res);
  if (body.is_discarded()) return std::nullopt;
  return body;
}

json JsonBody(const HttpResponse& response) { return json::parse(response.body, nullptr, false); }

std::string Describe(const Result<HttpResponse>& response) {
  if (!response.ok()) return "error: " + response.error().message;
  return std::to_string(response->status) + " " + response->body.substr(0, 2000);
}

std::string GroupPath(const std::string& group_id, const std::string& rest) {
  return "/api/v1/groups/" + group_id + rest;
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char hash[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(hash, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : hash) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

// --- GroupNetwork --------------------------------------------------------------------------

bool GroupNetwork::Start(const std::vector<std::string>& names,
                         const std::vector<std::pair<std::string, std::string>>& extra_env) {
  auto env = FederationTestEnv();
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  for (const std::string& name : names) {
    auto node = PeerNode::Start(name, env);
    if (!node) return false;
    nodes_.push_back(std::move(node));
  }
  for (size_t i = 0; i < nodes_.size(); ++i) {
    for (size_t j = i + 1; j < nodes_.size(); ++j) {
      if (!PeerPair(*nodes_[i], *nodes_[j])) return false;
    }
  }
  return true;
}

std::string GroupNetwork::Logs(size_t bytes) {
  std::string out;
  for (auto& node : nodes_) {
    if (!node->kithd) continue;
    std::string log = node->kithd->Stdout() + node->kithd->Stderr();
    if (log.size() > bytes) log = log.substr(log.size() - bytes);
    out += "--- kithd " + node->url + " ---\n" + log + "\n";
  }
  return out;
}

void GroupNetwork::StopAll() {
  for (auto& node : nodes_) node->StopKithd();
}

}  // namespace kith::testing
