// Two kithd processes on loopback peer through kithctl and exchange signed messages.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/test_node.h"

namespace kith::testing {
namespace {

using nlohmann::json;

// A node whose advertised base URL is where it really listens: TestNode::Init writes the
// advertised port into kith.toml, and this launcher (unlike TestNode::Launch) keeps it.
struct PeerNode {
  std::unique_ptr<TestNode> node;
  std::optional<ChildProcess> kithd;
  uint16_t port = 0;
  std::string url;

  static std::unique_ptr<PeerNode> Start(const std::string& name) {
    auto p = std::make_unique<PeerNode>();
    TestNodeOptions options;
    options.name = name;
    options.organisation = name + " Council";
    p->node = TestNode::Init(options);
    if (!p->node) return nullptr;
    ProcessOptions env;
    env.env = {{"KITH_FEDERATION_ALLOW_PRIVATE_ADDRESSES", "true"}};
    env.unset_env = {"KITH_DATA_DIR", "KITH_HTTP_PORT"};
    p->kithd = ChildProcess::Start(
        {KithdPath(), "--config", (p->node->data_dir() / "kith.toml").string()}, env);
    if (!p->kithd) return nullptr;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    auto pause = std::chrono::milliseconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      if (!p->kithd->Running()) {
        ADD_FAILURE() << "kithd exited:\n" << p->kithd->Stdout() << p->kithd->Stderr();
        return nullptr;
      }
      std::ifstream addr(p->node->data_dir() / "kithd.addr");
      std::string line;
      if (addr && std::getline(addr, line) && line.rfind(':') != std::string::npos) {
        p->port = static_cast<uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
        auto res = HttpGet(p->port, "/healthz", std::chrono::seconds(2));
        if (res.ok() && res->status == 200) {
          p->url = "http://127.0.0.1:" + std::to_string(p->port);
          return p;
        }
      }
      std::this_thread::sleep_for(pause);  // polling a starting server, with a deadline
      pause = std::min(pause * 2, std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "kithd did not start:\n" << p->kithd->Stdout() << p->kithd->Stderr();
    return nullptr;
  }

  ProcessResult Ctl(std::vector<std::string> args) const { return node->Kithctl(std::move(args)); }

  json CtlJson(std::vector<std::string> args) const {
    args.push_back("--json");
    ProcessResult r = Ctl(args);
    EXPECT_EQ(r.status.code, 0) << r.out << r.err;
    json parsed = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << r.out;
    return parsed;
  }

  std::string StateOf(const std::string& peer_url) const {
    json list = CtlJson({"peer", "list"});
    for (const auto& p : list["peers"]) {
      if (p["node_id"] == peer_url) return p["state"];
    }
    return "absent";
  }
};

TEST(PeeringIntegrationTest, AddApprovePingSuspendResumeRevoke) {
  auto a = PeerNode::Start("Alpha");
  ASSERT_TRUE(a);
  auto b = PeerNode::Start("Beta");
  ASSERT_TRUE(b);

  // Without --yes, declining at the prompt requests nothing.
  ProcessResult declined = a->Ctl({"peer", "add", b->url});  // stdin is empty: "no"
  EXPECT_EQ(declined.status.code, 3) << declined.out << declined.err;
  EXPECT_NE(declined.out.find("SHA256:"), std::string::npos) << declined.out;
  EXPECT_NE(declined.out.find("Beta Council"), std::string::npos) << declined.out;
  EXPECT_EQ(a->StateOf(b->url), "absent");

  ProcessResult added = a->Ctl({"peer", "add", b->url, "--yes"});
  ASSERT_EQ(added.status.code, 0) << added.out << added.err;
  EXPECT_EQ(a->StateOf(b->url), "requested");
  EXPECT_EQ(b->StateOf(a->url), "pending");

  // Not active yet: a ping is refused.
  ProcessResult early = a->Ctl({"peer", "ping", b->url});
  EXPECT_NE(early.status.code, 0);

  ProcessResult approved = b->Ctl({"peer", "approve", "Alpha"});  // by name
  ASSERT_EQ(approved.status.code, 0) << approved.out << approved.err;
  EXPECT_EQ(b->StateOf(a->url), "active");
  EXPECT_EQ(a->StateOf(b->url), "active");

  // Signed pings both ways, signed answers verified by the sender.
  json pong = a->CtlJson({"peer", "ping", b->url});
  EXPECT_EQ(pong["answer"]["node_id"], b->url);
  pong = b->CtlJson({"peer", "ping", a->url});
  EXPECT_EQ(pong["answer"]["node_id"], a->url);

  // An unsigned request is refused with 401 and a reason.
  auto unsigned_ping = HttpGet(b->port, "/federation/v1/ping");
  ASSERT_TRUE(unsigned_ping.ok());
  EXPECT_EQ(unsigned_ping->status, 401);
  EXPECT_NE(unsigned_ping->body.find("missing_signature"), std::string::npos);
  EXPECT_FALSE(unsigned_ping->Header("signature").empty()) << "error answers are signed too";

  // A suspends B: both sides suspended; B's pings get 403.
  ASSERT_EQ(a->Ctl({"peer", "suspend", b->url}).status.code, 0);
  EXPECT_EQ(a->StateOf(b->url), "suspended");
  EXPECT_EQ(b->StateOf(a->url), "suspended");
  ProcessResult refused = b->Ctl({"peer", "ping", a->url});
  EXPECT_NE(refused.status.code, 0);
  EXPECT_NE(refused.err.find("403"), std::string::npos) << refused.err;

  ASSERT_EQ(a->Ctl({"peer", "resume", b->url}).status.code, 0);
  EXPECT_EQ(b->StateOf(a->url), "active");
  EXPECT_EQ(b->Ctl({"peer", "ping", a->url}).status.code, 0);

  // Illegal transition: resuming an active peer is a conflict.
  ProcessResult conflict = a->Ctl({"peer", "resume", b->url});
  EXPECT_NE(conflict.status.code, 0);
  EXPECT_NE(conflict.err.find("state active"), std::string::npos) << conflict.err;

  ASSERT_EQ(b->Ctl({"peer", "revoke", a->url}).status.code, 0);
  EXPECT_EQ(a->StateOf(b->url), "revoked");
  EXPECT_EQ(b->StateOf(a->url), "revoked");
  refused = a->Ctl({"peer", "ping", b->url});
  EXPECT_NE(refused.status.code, 0);
  EXPECT_NE(refused.err.find("403"), std::string::npos) << refused.err;

  // The audit log shows every change, with who and from where.
  json audit = a->CtlJson({"audit"});
  std::string actions;
  for (const auto& e : audit["entries"]) actions += e["action"].get<std::string>() + ",";
  EXPECT_NE(actions.find("peer.we_request"), std::string::npos) << actions;
  EXPECT_NE(actions.find("peer.they_accept"), std::string::npos) << actions;
  EXPECT_NE(actions.find("peer.suspend"), std::string::npos) << actions;
  EXPECT_NE(actions.find("peer.resume"), std::string::npos) << actions;
  EXPECT_NE(actions.find("peer.revoke"), std::string::npos) << actions;
  ProcessResult text = b->Ctl({"audit"});
  EXPECT_EQ(text.status.code, 0);
  EXPECT_NE(text.out.find("peer:" + a->url), std::string::npos) << text.out;

  a->kithd->Signal(SIGTERM);
  b->kithd->Signal(SIGTERM);
  EXPECT_EQ(a->kithd->Wait(std::chrono::seconds(30)).code, 0);
  EXPECT_EQ(b->kithd->Wait(std::chrono::seconds(30)).code, 0);
}

}  // namespace
}  // namespace kith::testing
