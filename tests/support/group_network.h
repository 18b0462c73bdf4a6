// GroupNetwork: several real kithd processes on loopback, federated, for the tests of issue 5
// (federated groups) — nodes whose base URL is where they listen, peered pairwise with kithctl,
// members made with kithctl, API clients signed in with a session cookie and CSRF token,
// SIGKILL and restart of a node, and a poll helper.
//
// Usage:
//   GroupNetwork net;
//   ASSERT_TRUE(net.Start({"Alpha", "Beta", "Gamma"}));   // 3 nodes, all peered pairwise
//   auto alice = net.node(0).AddMember("alice");          // kithctl member add
//   auto api = ApiClient::SignIn(net.node(0), *alice);    // POST /sign-in, csrf from /account
//   auto created = api->Post("/api/v1/groups", {{"slug", "g"}, ...});
//   net.node(1).Kill(); ASSERT_TRUE(net.node(1).Launch());
//   EXPECT_TRUE(WaitFor([&] { return ...; }, std::chrono::seconds(30)));
//
// Not thread-safe, except ApiClient's requests (each is its own connection), which tests call
// from several threads at once.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "storage/result.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/test_node.h"

namespace kith::testing {

// Calls `predicate` until it returns true or `timeout` passes, pausing `pause` between calls.
// Returns the last answer. (Polling with a deadline; never a bare sleep.)
bool WaitFor(const std::function<bool()>& predicate, std::chrono::milliseconds timeout,
             std::chrono::milliseconds pause = std::chrono::milliseconds(50));

// The environment every federated test node gets: private (loopback) addresses allowed,
// cheapest password hashing, fast replication backoff, quiet access log.
std::vector<std::pair<std::string, std::string>> FederationTestEnv();

// A member made by kithctl on a node.
struct TestMember {
  std::string handle;
  std::string address;  // "handle@domain"
  std::string password;
};

// A node whose advertised base URL is where it really listens: TestNode::Init writes the
// advertised port into kith.toml, and Launch (unlike TestNode::Launch) keeps it, so a
// restarted node comes back at the same URL.
struct PeerNode {
  std::unique_ptr<TestNode> node;
  std::optional<ChildProcess> kithd;
  uint16_t port = 0;
  std::string url;                                       // "http://127.0.0.1:<port>"
  std::vector<std::pair<std::string, std::string>> env;  // kithd's extra environment

  // kithctl init + Launch. `env` defaults to {KITH_FEDERATION_ALLOW_PRIVATE_ADDRESSES=true}.
  static std::unique_ptr<PeerNode> Start(const std::string& name,
                                         std::vector<std::pair<std::string, std::string>> env = {
                                             {"KITH_FEDERATION_ALLOW_PRIVATE_ADDRESSES", "true"}});

  // Starts kithd on the node's config (the advertised port) and waits for /healthz (20 s).
  // False (with a gtest failure showing kithd's output) otherwise.
  bool Launch();
  // SIGTERM and wait for a clean exit (a gtest failure when it is not).
  void StopKithd();
  // SIGKILL, then reap. The data directory stays; Launch starts it again.
  void Kill();

  // This node's domain: base URL host:port ("127.0.0.1:<port>").
  std::string domain() const;

  ProcessResult Ctl(std::vector<std::string> args) const;
  // Ctl with --json; a gtest failure when it fails or does not print JSON.
  nlohmann::json CtlJson(std::vector<std::string> args) const;
  // The peering state of `peer_url` here ("absent" when unknown).
  std::string StateOf(const std::string& peer_url) const;

  // `kithctl member add <handle>` with a generated password. nullopt (with a gtest failure)
  // when it fails.
  std::optional<TestMember> AddMember(const std::string& handle) const;
};

// Peers `a` and `b` (a: peer add --yes, b: peer approve). False (gtest failure) unless both
// sides end up active.
bool PeerPair(const PeerNode& a, const PeerNode& b);

// A member's signed-in session at a node, for /api/v1. Requests carry the session cookie and,
// for unsafe methods, X-CSRF-Token. Thread-safe (requests share only immutable state).
class ApiClient {
 public:
  // Signs `member` in at `node` through the sign-in form, and reads the session's CSRF token
  // from /account. An error saying what failed otherwise.
  static Result<ApiClient> SignIn(const PeerNode& node, const TestMember& member);

  Result<HttpResponse> Get(const std::string& target) const;
  Result<HttpResponse> Post(const std::string& target,
                            const nlohmann::json& body = nlohmann::json::object()) const;
  Result<HttpResponse> Patch(const std::string& target, const nlohmann::json& body) const;
  Result<HttpResponse> Delete(const std::string& target) const;
  // Any request with a raw body and content type.
  Result<HttpResponse> Send(
      const std::string& method, const std::string& target, const std::string& body,
      const std::string& content_type, std::chrono::milliseconds timeout = std::chrono::seconds(20),
      const std::vector<std::pair<std::string, std::string>>& extra_headers = {}) const;

  // GET `target` and parse the JSON body; nullopt (no failure added) unless 200 and JSON.
  std::optional<nlohmann::json> GetJson(const std::string& target) const;

  const std::string& address() const { return member_.address; }
  uint16_t port() const { return port_; }

 private:
  ApiClient() = default;
  uint16_t port_ = 0;
  TestMember member_;
  std::string session_;  // kith_session cookie value
  std::string csrf_;
};

// The JSON body of a response, or a discarded value when it is not JSON.
nlohmann::json JsonBody(const HttpResponse& response);
// A short description of a response for failure messages: "status body".
std::string Describe(const Result<HttpResponse>& response);

// "/api/v1/groups/<slug>@<domain>" + rest.
std::string GroupPath(const std::string& group_id, const std::string& rest = "");

// SHA-256 of `bytes`, lower-case hex.
std::string Sha256Hex(std::string_view bytes);

// N peered nodes. The destructor kills what still runs (ChildProcess).
class GroupNetwork {
 public:
  // Starts one node per name (with FederationTestEnv() plus `extra_env`) and peers every pair.
  // False (with gtest failures) when something fails.
  bool Start(const std::vector<std::string>& names,
             const std::vector<std::pair<std::string, std::string>>& extra_env = {});
  PeerNode& node(size_t i) { return *nodes_.at(i); }
  size_t size() const { return nodes_.size(); }
  // SIGTERM every running node (clean exits expected).
  void StopAll();
  // The last `bytes` of every node's kithd output (stdout + stderr), for failure messages.
  std::string Logs(size_t bytes = 4000);

 private:
  std::vector<std::unique_ptr<PeerNode>> nodes_;
};

}  // namespace kith::testing
