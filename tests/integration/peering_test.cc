// Two kithd processes on loopback peer through kithctl and exchange signed messages.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <csignal>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "federation/signature_profile.h"
#include "identity/node_keys.h"
#include "storage/clock.h"
#include "tests/support/group_network.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/test_node.h"

namespace kith::testing {
namespace {

using nlohmann::json;

// PeerNode (tests/support/group_network.h): a node whose advertised base URL is where it
// really listens.

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

// Reads the 32-byte seed of node key `kid` from DATA_DIR/keys (as kithd keeps it).
std::optional<federation::Ed25519SecretKey> KeyFromFile(const std::filesystem::path& data_dir,
                                                        const std::string& kid) {
  std::ifstream in(identity::NodeKeyring::KeyFile(data_dir, kid), std::ios::binary);
  std::array<uint8_t, 32> seed{};
  if (!in.read(reinterpret_cast<char*>(seed.data()), seed.size())) return std::nullopt;
  federation::Ed25519SecretKey key{std::span<const uint8_t, 32>(seed)};
  std::fill(seed.begin(), seed.end(), 0);
  return key;
}

// Sends `to` a federation ping signed with `key` under key id `kid` (a fresh nonce each time).
Result<HttpResponse> SignedPing(const PeerNode& to, const federation::Ed25519SecretKey& key,
                                const std::string& kid) {
  federation::KithSigner signer(kid, key.AsSignFunction(), SystemClock::Instance());
  federation::HttpMessage m;
  m.method = "GET";
  m.target_uri = to.url + "/federation/v1/ping";
  Status signed_ok = signer.SignRequest(m, "");
  if (!signed_ok.ok()) return signed_ok.error();
  HttpRequestOptions options;
  options.headers = m.headers;
  return HttpRequest("127.0.0.1", to.port, "GET", "/federation/v1/ping", "", options);
}

std::unique_ptr<PeerNode> PeeredWith(PeerNode& a, const std::string& name) {
  auto b = PeerNode::Start(name);
  if (!b) return nullptr;
  ProcessResult added = a.Ctl({"peer", "add", b->url, "--yes"});
  EXPECT_EQ(added.status.code, 0) << added.out << added.err;
  ProcessResult approved = b->Ctl({"peer", "approve", a.url});
  EXPECT_EQ(approved.status.code, 0) << approved.out << approved.err;
  if (a.StateOf(b->url) != "active" || b->StateOf(a.url) != "active") return nullptr;
  return b;
}

// A rotates its key with a 4 s overlap: the announcement (signed with the old key) reaches B,
// A's signed requests now use the new key and B accepts them; a request signed with A's old
// key (its file is still in A's DATA_DIR/keys) is accepted until the overlap ends and refused
// (401 key_not_valid) after.
TEST(PeeringIntegrationTest, KeyRotationIsAnnouncedAndTheOldKeyEndsAfterTheOverlap) {
  auto a = PeerNode::Start("Alpha");
  ASSERT_TRUE(a);
  auto b = PeeredWith(*a, "Beta");
  ASSERT_TRUE(b);

  json before = a->CtlJson({"keys", "list"});
  ASSERT_EQ(before["node"].size(), 1u) << before.dump();
  const std::string old_kid = before["node"][0]["kid"];
  auto old_key = KeyFromFile(a->node->data_dir(), old_kid);
  ASSERT_TRUE(old_key);

  // Bad overlaps are usage errors; nothing rotates.
  for (const char* bad : {"4", "4x", "-4s", "400d"}) {
    ProcessResult r = a->Ctl({"keys", "rotate", "--overlap", bad});
    EXPECT_EQ(r.status.code, 2) << bad << ": " << r.out << r.err;
  }

  json rotated = a->CtlJson({"keys", "rotate", "--overlap", "4s"});
  const int64_t old_not_after = rotated["old_not_after"];
  // Right away, while the old key is still valid: a request signed with it is accepted.
  auto early = SignedPing(*b, *old_key, old_kid);
  const int64_t early_at = SystemClock::Instance().UnixSeconds();
  ASSERT_TRUE(early.ok()) << early.error().message;
  ASSERT_LE(early_at, old_not_after) << "the machine is too slow for a 4 s overlap";
  EXPECT_EQ(early->status, 200) << early->body;

  const std::string new_kid = rotated["kid"];
  EXPECT_NE(new_kid, old_kid);
  EXPECT_EQ(rotated["old_kid"], old_kid);
  ASSERT_EQ(rotated["announced"].size(), 1u) << rotated.dump();
  EXPECT_EQ(rotated["announced"][0]["node_id"], b->url);
  EXPECT_EQ(rotated["announced"][0]["ok"], true) << rotated.dump();

  // A's node document publishes both keys during the overlap.
  auto doc = HttpGet(a->port, "/.well-known/kith-node");
  ASSERT_TRUE(doc.ok());
  EXPECT_NE(doc->body.find(new_kid), std::string::npos) << doc->body;
  EXPECT_NE(doc->body.find(old_kid), std::string::npos) << doc->body;

  // kithd signs with the new key at once: A's ping reaches B, and so does a request signed
  // with the new key file directly.
  EXPECT_EQ(a->Ctl({"peer", "ping", b->url}).status.code, 0);
  auto new_key = KeyFromFile(a->node->data_dir(), new_kid);
  ASSERT_TRUE(new_key);
  auto with_new = SignedPing(*b, *new_key, new_kid);
  ASSERT_TRUE(with_new.ok());
  EXPECT_EQ(with_new->status, 200) << with_new->body;

  // B recorded the rotation in its audit log.
  json audit = b->CtlJson({"audit"});
  EXPECT_NE(audit.dump().find("peer.key_rotated"), std::string::npos) << audit.dump();

  // After the overlap, the old key is refused, with a reason naming the key's validity.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  Result<HttpResponse> late = MakeError(ErrorCode::kInternal, "not sent");
  int64_t late_at = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    late = SignedPing(*b, *old_key, old_kid);
    late_at = SystemClock::Instance().UnixSeconds();
    ASSERT_TRUE(late.ok()) << late.error().message;
    if (late->status != 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling, with a deadline
  }
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->status, 401) << late->body;
  EXPECT_NE(late->body.find("key_not_valid"), std::string::npos) << late->body;
  EXPECT_GT(late_at, old_not_after - 1);  // refused only once the overlap was over
  // The new key still works.
  with_new = SignedPing(*b, *new_key, new_kid);
  ASSERT_TRUE(with_new.ok());
  EXPECT_EQ(with_new->status, 200) << with_new->body;

  // A key B never heard of is refused as unknown.
  auto stranger = federation::Ed25519SecretKey::Generate();
  auto unknown = SignedPing(*b, stranger, identity::KeyIdFor(stranger.public_key()));
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 401);
  EXPECT_NE(unknown->body.find("unknown_key"), std::string::npos) << unknown->body;

  json keys = a->CtlJson({"keys", "list"});
  ASSERT_EQ(keys["node"].size(), 2u);
  EXPECT_EQ(keys["node"][0]["status"], "current");
  EXPECT_EQ(keys["node"][1]["status"], "retiring");
  // Purging retires the old key and removes its file.
  json purged = a->CtlJson({"keys", "purge"});
  EXPECT_EQ(purged["node"], json::array({old_kid})) << purged.dump();
  EXPECT_FALSE(
      std::filesystem::exists(identity::NodeKeyring::KeyFile(a->node->data_dir(), old_kid)));

  a->StopKithd();
  b->StopKithd();
}

// B is down while A rotates, so the announcement cannot be delivered. When A's first request
// signed with the new key reaches B, B does not know the key id: it refuses that request
// (401 unknown_key) and re-fetches A's node document in the background; A's retry is then
// accepted.
TEST(PeeringIntegrationTest, APeerThatMissedTheRotationLearnsTheKeyFromTheNodeDocument) {
  auto a = PeerNode::Start("Alpha");
  ASSERT_TRUE(a);
  auto b = PeeredWith(*a, "Beta");
  ASSERT_TRUE(b);

  b->StopKithd();
  ProcessResult rotated = a->Ctl({"keys", "rotate", "--overlap", "1h", "--json"});
  EXPECT_EQ(rotated.status.code, 1) << "a peer was not told: " << rotated.out << rotated.err;
  json result = json::parse(rotated.out, nullptr, false);
  ASSERT_FALSE(result.is_discarded()) << rotated.out;
  ASSERT_EQ(result["announced"].size(), 1u);
  EXPECT_EQ(result["announced"][0]["ok"], false);
  const std::string new_kid = result["kid"];

  ASSERT_TRUE(b->Launch());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  bool accepted = false;
  int refused = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    ProcessResult ping = a->Ctl({"peer", "ping", b->url});
    if (ping.status.code == 0) {
      accepted = true;
      break;
    }
    ++refused;
    EXPECT_NE(ping.err.find("unknown_key"), std::string::npos) << ping.err;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling, with a deadline
  }
  EXPECT_TRUE(accepted) << "B never learned A's new key";
  EXPECT_GE(refused, 1) << "the first request with the unknown key is refused";
  json audit = b->CtlJson({"audit"});
  EXPECT_NE(audit.dump().find("peer.keys_refreshed"), std::string::npos) << audit.dump();
  EXPECT_NE(audit.dump().find(new_kid), std::string::npos) << audit.dump();

  a->StopKithd();
  b->StopKithd();
}

}  // namespace
}  // namespace kith::testing
