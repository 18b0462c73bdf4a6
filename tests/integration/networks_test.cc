// Networks (issue 7), the acceptance: real kithd processes on loopback.
//
//  * A network operator's node (the anchor) creates network `uk`; five nodes trust it by its
//    fingerprint; the operator adds the five: every pair peers automatically (no `peer add`,
//    no approval). Removing one from the network suspends it at the other four, and a member
//    of the removed node signed in at another node through "sign in with your organisation"
//    loses that session.
//  * An intermediate: node 0 runs `scot` under `uk`, the anchor adds it as an intermediate,
//    node 0 adds a sixth node to `scot`: the sixth (trusting only `uk`) peers with the others.
//  * A forged entity (its configuration signed by a key its network never registered) and an
//    expired one (its configuration expired) are never peered; the refusal is in the refresh
//    report.
// Plus the endpoints' answers to bad input and the operator page's access rule.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "federation/entity_statement.h"
#include "identity/jwk.h"
#include "storage/clock.h"
#include "tests/support/fake_entity_server.h"
#include "tests/support/group_network.h"
#include "tests/support/http_client.h"
#include "tests/support/remote_session.h"

namespace kith::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::vector<std::pair<std::string, std::string>> NetworkEnv() {
  auto env = FederationTestEnv();
  env.emplace_back("KITH_NETWORKS_REFRESH_INTERVAL", "1");
  env.emplace_back("KITH_NETWORKS_WITHDRAWN_REFRESH_INTERVAL", "1");
  env.emplace_back("KITH_NETWORKS_ALLOW_HTTP_ENTITIES", "true");
  return env;
}

std::unique_ptr<PeerNode> StartNode(const std::string& name) {
  return PeerNode::Start(name, NetworkEnv());
}

// node_id -> state of every peer of `node` (one `kithctl peer list`).
std::map<std::string, std::string> PeerStates(const PeerNode& node) {
  std::map<std::string, std::string> out;
  ProcessResult r = node.Ctl({"peer", "list", "--json"});
  if (r.status.code != 0) return out;
  json list = json::parse(r.out, nullptr, false);
  if (!list.is_object() || !list.contains("peers") || !list["peers"].is_array()) return out;
  for (const auto& p : list["peers"]) {
    if (p.is_object()) out[p.value("node_id", "")] = p.value("state", "");
  }
  return out;
}

std::string StateIn(const std::map<std::string, std::string>& states, const std::string& url) {
  auto it = states.find(url);
  return it == states.end() ? "absent" : it->second;
}

// Whether every pair of `nodes` is active on both sides.
bool AllPairsActive(const std::vector<const PeerNode*>& nodes, std::string* missing) {
  for (const PeerNode* a : nodes) {
    auto states = PeerStates(*a);
    for (const PeerNode* b : nodes) {
      if (a == b) continue;
      if (StateIn(states, b->url) != "active") {
        if (missing != nullptr) {
          *missing = a->url + " sees " + b->url + " as " + StateIn(states, b->url);
        }
        return false;
      }
    }
  }
  return true;
}

Result<HttpResponse> Get(const PeerNode& node, const std::string& target,
                         const std::string& cookie = "") {
  HttpRequestOptions options;
  if (!cookie.empty()) options.headers = {{"Cookie", cookie}};
  return HttpRequest("127.0.0.1", node.port, "GET", target, "", options);
}

std::string Log(const PeerNode& node) {
  return node.kithd ? node.kithd->Stdout() + node.kithd->Stderr() : "";
}

std::string Tail(const PeerNode& node) {
  std::string out = Log(node);
  return out.size() > 3000 ? out.substr(out.size() - 3000) : out;
}

// `kithctl network create` on `node`; the network's JSON ({entity_id, fingerprint, ...}).
json CreateNetwork(const PeerNode& node, std::vector<std::string> args) {
  std::vector<std::string> all = {"network", "create"};
  all.insert(all.end(), args.begin(), args.end());
  json created = node.CtlJson(all);
  return created.is_object() && created.contains("network") ? created["network"] : json();
}

void Trust(const PeerNode& node, const json& network) {
  ProcessResult r = node.Ctl({"network", "trust", network.value("entity_id", ""), "--fingerprint",
                              network.value("fingerprint", "")});
  EXPECT_EQ(r.status.code, 0) << node.url << ": " << r.out << r.err;
}

void AddMember(const PeerNode& node, const std::string& network, const std::string& url,
               bool intermediate = false) {
  std::vector<std::string> args = {"network", "add-member", network, url, "--yes"};
  if (intermediate) args.push_back("--intermediate");
  ProcessResult r = node.Ctl(args);
  EXPECT_EQ(r.status.code, 0) << "add-member " << url << ": " << r.out << r.err;
}

TEST(NetworksTest, AnchorPeersFiveNodesWithdrawsOneAndAnIntermediateAddsASixth) {
  auto anchor = StartNode("Improvement Service");
  ASSERT_TRUE(anchor);
  std::vector<std::unique_ptr<PeerNode>> nodes;
  for (int i = 0; i < 5; ++i) {
    nodes.push_back(StartNode("Council " + std::to_string(i)));
    ASSERT_TRUE(nodes.back());
  }

  // The anchor's network, and its endpoints.
  json uk = CreateNetwork(*anchor, {"uk", "--display-name", "UK public services"});
  ASSERT_TRUE(uk.is_object());
  const std::string uk_id = uk.value("entity_id", "");
  ASSERT_EQ(uk_id, anchor->url + "/networks/uk");
  ASSERT_EQ(uk.value("fingerprint", "").rfind("SHA256:", 0), 0u) << uk.dump();
  {
    auto ec = Get(*anchor, "/networks/uk/.well-known/openid-federation");
    ASSERT_TRUE(ec.ok());
    EXPECT_EQ(ec->status, 200) << ec->body;
    EXPECT_EQ(ec->Header("content-type"), "application/entity-statement+jwt");
    auto node_ec = Get(*nodes[0], "/.well-known/openid-federation");
    ASSERT_TRUE(node_ec.ok());
    EXPECT_EQ(node_ec->status, 200) << node_ec->body;
    EXPECT_EQ(node_ec->Header("content-type"), "application/entity-statement+jwt");
    EXPECT_EQ(std::count(node_ec->body.begin(), node_ec->body.end(), '.'), 2) << node_ec->body;
    for (const auto& [target, status] : std::vector<std::pair<std::string, int>>{
             {"/networks/nope/list", 404},
             {"/networks/UK/list", 404},
             {"/networks/uk/fetch", 400},
             {"/networks/uk/fetch?sub=", 400},
             {"/networks/uk/fetch?sub=not-a-url", 400},
             {"/networks/uk/fetch?sub=" + std::string(3000, 'a'), 400},
             {"/networks/uk/fetch?sub=" + FormValue(nodes[0]->url), 404},
             {"/networks/nope/fetch?sub=" + FormValue(nodes[0]->url), 404},
             {"/networks/uk/list", 200},
             {"/networks/uk/withdrawn", 200}}) {
      auto r = Get(*anchor, target);
      ASSERT_TRUE(r.ok()) << target;
      EXPECT_EQ(r->status, status) << target << ": " << r->body;
      if (status != 200) {
        EXPECT_TRUE(json::parse(r->body, nullptr, false).contains("error")) << r->body;
      }
    }
  }

  // Five nodes trust the anchor; the operator adds them.
  for (auto& n : nodes) Trust(*n, uk);
  for (auto& n : nodes) AddMember(*anchor, "uk", n->url);
  {
    auto list = Get(*anchor, "/networks/uk/list");
    ASSERT_TRUE(list.ok());
    json ids = json::parse(list->body, nullptr, false);
    ASSERT_TRUE(ids.is_array()) << list->body;
    EXPECT_EQ(ids.size(), 5u);
    auto statement = Get(*anchor, "/networks/uk/fetch?sub=" + FormValue(nodes[1]->url));
    ASSERT_TRUE(statement.ok());
    EXPECT_EQ(statement->status, 200) << statement->body;
    EXPECT_EQ(statement->Header("content-type"), "application/entity-statement+jwt");
  }

  std::vector<const PeerNode*> five;
  for (auto& n : nodes) five.push_back(n.get());
  std::string missing;
  EXPECT_TRUE(WaitFor([&] { return AllPairsActive(five, &missing); }, 90s, 250ms))
      << missing << "\n"
      << Tail(*nodes[0]);
  // Nobody ran `peer add` or `peer approve`: the peerings came from the network.
  {
    json peers = nodes[0]->CtlJson({"peer", "list"});
    for (const auto& p : peers.value("peers", json::array())) {
      if (p.contains("admitted_by")) {
        EXPECT_EQ(p["admitted_by"], "network") << p.dump();
      }
    }
  }

  // A member of node 2 signs in at node 0 through "sign in with your organisation".
  PeerNode& home = *nodes[2];
  auto alice = home.AddMember("alice");
  ASSERT_TRUE(alice);
  auto home_session = PasswordSession(home, *alice);
  ASSERT_TRUE(home_session.ok()) << home_session.error().message;
  auto remote = RemoteSession(home, *nodes[0], *alice, *home_session);
  ASSERT_TRUE(remote.ok()) << remote.error().message;
  {
    auto me = Get(*nodes[0], "/api/v1/me", "kith_session=" + remote->cookie);
    ASSERT_TRUE(me.ok());
    EXPECT_EQ(me->status, 200) << me->body;
  }

  // The operator withdraws node 2: the other four suspend it, alice's session at node 0 ends.
  {
    ProcessResult r = anchor->Ctl({"network", "remove-member", "uk", home.url});
    ASSERT_EQ(r.status.code, 0) << r.out << r.err;
  }
  EXPECT_TRUE(WaitFor(
      [&] {
        for (int i : {0, 1, 3, 4}) {
          if (StateIn(PeerStates(*nodes[i]), home.url) != "suspended") return false;
        }
        return true;
      },
      30s, 250ms))
      << Tail(*nodes[0]);
  EXPECT_TRUE(WaitFor(
      [&] {
        auto me = Get(*nodes[0], "/api/v1/me", "kith_session=" + remote->cookie);
        return me.ok() && me->status == 401;
      },
      20s))
      << "alice@node2's session at node 0 did not end";
  {  // The others still peer with each other.
    std::vector<const PeerNode*> four = {nodes[0].get(), nodes[1].get(), nodes[3].get(),
                                         nodes[4].get()};
    EXPECT_TRUE(AllPairsActive(four, &missing)) << missing;
  }

  // An intermediate: node 0 runs `scot` under `uk`; the anchor adds it; node 0 adds a sixth.
  json scot = CreateNetwork(*nodes[0], {"scot", "--superior", uk_id});
  ASSERT_TRUE(scot.is_object());
  const std::string scot_id = scot.value("entity_id", "");
  ASSERT_EQ(scot_id, nodes[0]->url + "/networks/scot");
  AddMember(*anchor, "uk", scot_id, /*intermediate=*/true);
  auto sixth = StartNode("Council 5");
  ASSERT_TRUE(sixth);
  Trust(*sixth, uk);
  AddMember(*nodes[0], "scot", sixth->url);
  std::vector<const PeerNode*> with_sixth = {nodes[0].get(), nodes[1].get(), nodes[3].get(),
                                             nodes[4].get(), sixth.get()};
  EXPECT_TRUE(WaitFor([&] { return AllPairsActive(with_sixth, &missing); }, 90s, 250ms))
      << missing << "\n"
      << Tail(*sixth);
  EXPECT_NE(StateIn(PeerStates(*sixth), home.url), "active");
  {  // The sixth node's configuration names `scot` once it found itself in its list.
    EXPECT_TRUE(WaitFor(
        [&] {
          json list = sixth->CtlJson({"network", "list"});
          for (const auto& hint : list.value("authority_hints", json::array())) {
            if (hint == scot_id) return true;
          }
          return false;
        },
        30s, 250ms));
  }

  // The operator page: a 404 for members who are not node administrators, the overview for one.
  {
    auto bob = anchor->AddMember("bob");
    ASSERT_TRUE(bob);
    auto bob_session = PasswordSession(*anchor, *bob);
    ASSERT_TRUE(bob_session.ok()) << bob_session.error().message;
    auto hidden = bob_session->Get("/admin/network");
    ASSERT_TRUE(hidden.ok());
    EXPECT_EQ(hidden->status, 404);
    auto anonymous = Get(*anchor, "/admin/network");
    ASSERT_TRUE(anonymous.ok());
    EXPECT_EQ(anonymous->status, 404);
    ProcessResult granted = anchor->Ctl({"member", "admin", "bob", "--grant"});
    ASSERT_EQ(granted.status.code, 0) << granted.out << granted.err;
    auto page = bob_session->Get("/admin/network");
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(page->status, 200) << page->body.substr(0, 2000);
    EXPECT_NE(page->body.find(uk.value("fingerprint", "")), std::string::npos);
    EXPECT_NE(page->body.find(nodes[1]->url), std::string::npos);
    EXPECT_NE(page->body.find("govuk-table"), std::string::npos);
    EXPECT_NE(page->body.find("read-only"), std::string::npos);
    EXPECT_EQ(page->body.find("<script"), std::string::npos);
  }

  for (auto& n : nodes) n->StopKithd();
  sixth->StopKithd();
  anchor->StopKithd();
}

// A self-signed entity configuration for `id` signed with `key`.
std::string EntityConfiguration(const std::string& id, const identity::SigningKey& key, int64_t iat,
                                int64_t exp) {
  federation::EntityStatement s;
  s.iss = id;
  s.sub = id;
  s.iat = iat;
  s.exp = exp;
  s.jwks = {key.public_jwk()};
  s.metadata = {{"kith_node", {{"name", "Fake"}, {"organisation", "Fake organisation"}}},
                {"federation_entity", {{"organization_name", "Fake organisation"}}}};
  auto signed_ec = federation::SignEntityStatement(s, key);
  EXPECT_TRUE(signed_ec.ok()) << signed_ec.error().message;
  return signed_ec.ok() ? *signed_ec : "";
}

TEST(NetworksTest, ForgedAndExpiredEntitiesAreNeverPeered) {
  auto anchor = StartNode("Improvement Service");
  ASSERT_TRUE(anchor);
  auto a = StartNode("Council A");
  ASSERT_TRUE(a);
  auto b = StartNode("Council B");
  ASSERT_TRUE(b);
  auto forged = FakeEntityServer::Start();
  ASSERT_TRUE(forged);
  auto expired = FakeEntityServer::Start();
  ASSERT_TRUE(expired);

  const int64_t now = SystemClock::Instance().UnixSeconds();
  const std::string ec_path(federation::kEntityConfigurationPath);
  auto registered = identity::Ed25519SigningKey::Generate();
  auto other = identity::Ed25519SigningKey::Generate();
  auto expired_key = identity::Ed25519SigningKey::Generate();
  // Valid while the operator adds them (add-member records the keys they show then).
  forged->Put(ec_path, EntityConfiguration(forged->url(), *registered, now, now + 86400));
  expired->Put(ec_path, EntityConfiguration(expired->url(), *expired_key, now, now + 86400));

  json uk = CreateNetwork(*anchor, {"uk"});
  ASSERT_TRUE(uk.is_object());
  Trust(*a, uk);
  Trust(*b, uk);
  AddMember(*anchor, "uk", a->url);
  AddMember(*anchor, "uk", b->url);
  AddMember(*anchor, "uk", forged->url());
  AddMember(*anchor, "uk", expired->url());
  // Then the forged entity signs with a key the network never vouched for, and the other
  // entity's configuration is expired.
  forged->Put(ec_path, EntityConfiguration(forged->url(), *other, now, now + 86400));
  expired->Put(ec_path, EntityConfiguration(expired->url(), *expired_key, now - 7200, now - 3600));

  std::string missing;
  EXPECT_TRUE(WaitFor(
      [&] {
        return AllPairsActive({a.get(), b.get()}, &missing);
      },
      60s, 250ms))
      << missing << "\n"
      << Tail(*a);

  // Both are refused, with the reason in the refresh report.
  json report = a->CtlJson({"network", "refresh"});
  std::string errors = report.value("errors", json::array()).dump();
  EXPECT_NE(errors.find(forged->url()), std::string::npos) << report.dump();
  EXPECT_NE(errors.find(expired->url()), std::string::npos) << report.dump();
  EXPECT_NE(errors.find("expired"), std::string::npos) << report.dump();
  for (const PeerNode* n : {a.get(), b.get()}) {
    auto states = PeerStates(*n);
    EXPECT_NE(StateIn(states, forged->url()), "active");
    EXPECT_NE(StateIn(states, expired->url()), "active");
  }
  EXPECT_NE(Log(*a).find(forged->url()), std::string::npos) << "no refusal in the log";

  a->StopKithd();
  b->StopKithd();
  anchor->StopKithd();
}

}  // namespace
}  // namespace kith::testing
