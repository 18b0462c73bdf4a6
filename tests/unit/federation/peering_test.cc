#include "federation/peering.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "federation/http_client.h"
#include "federation/peer_store.h"
#include "federation/peering_service.h"
#include "federation/replay_cache.h"
#include "federation/signature_profile.h"
#include "identity/jwk.h"
#include "identity/node_keys.h"
#include "storage/database.h"
#include "storage/store.h"
#include "tests/support/temp_dir.h"

namespace kith::federation {
namespace {

using S = PeerState;
using E = PeerEvent;

TEST(PeeringTest, HappyPathsReachActive) {
  auto requested = NextPeerState(std::nullopt, E::kWeRequest);
  ASSERT_TRUE(requested.ok());
  EXPECT_EQ(*requested, S::kRequested);
  EXPECT_EQ(*NextPeerState(S::kRequested, E::kTheyAccept), S::kActive);

  auto pending = NextPeerState(std::nullopt, E::kTheyRequest);
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(*pending, S::kPending);
  EXPECT_EQ(*NextPeerState(S::kPending, E::kWeApprove), S::kActive);
}

TEST(PeeringTest, SuspendResumeRevoke) {
  EXPECT_EQ(*NextPeerState(S::kActive, E::kSuspend), S::kSuspended);
  EXPECT_EQ(*NextPeerState(S::kSuspended, E::kResume), S::kActive);
  for (S from : {S::kRequested, S::kPending, S::kActive, S::kSuspended}) {
    EXPECT_EQ(*NextPeerState(from, E::kRevoke), S::kRevoked) << PeerStateName(from);
  }
  EXPECT_EQ(*NextPeerState(S::kPending, E::kWeReject), S::kRejected);
  EXPECT_EQ(*NextPeerState(S::kRequested, E::kTheyReject), S::kRejected);
}

TEST(PeeringTest, IllegalTransitionsAreConflicts) {
  struct Case {
    std::optional<S> from;
    E event;
  };
  const Case cases[] = {
      {std::nullopt, E::kWeApprove},  {std::nullopt, E::kSuspend},    {std::nullopt, E::kRevoke},
      {S::kActive, E::kWeApprove},    {S::kActive, E::kResume},       {S::kActive, E::kWeRequest},
      {S::kActive, E::kTheyRequest},  {S::kRequested, E::kWeApprove}, {S::kPending, E::kTheyAccept},
      {S::kSuspended, E::kSuspend},   {S::kRevoked, E::kResume},      {S::kRevoked, E::kRevoke},
      {S::kRevoked, E::kTheyRequest}, {S::kRejected, E::kWeApprove},  {S::kRevoked, E::kTheyAccept},
  };
  for (const Case& c : cases) {
    auto next = NextPeerState(c.from, c.event);
    ASSERT_FALSE(next.ok()) << PeerEventName(c.event);
    EXPECT_EQ(next.error().code, ErrorCode::kConflict);
    EXPECT_NE(next.error().message.find(c.from ? PeerStateName(*c.from) : "not known"),
              std::string::npos)
        << next.error().message;
  }
}

TEST(PeeringTest, OperatorMayRetryAfterRejectionOrRevocation) {
  EXPECT_EQ(*NextPeerState(S::kRejected, E::kWeRequest), S::kRequested);
  EXPECT_EQ(*NextPeerState(S::kRevoked, E::kWeRequest), S::kRequested);
  EXPECT_EQ(*NextPeerState(S::kRejected, E::kTheyRequest), S::kPending);
  EXPECT_EQ(*NextPeerState(S::kPending, E::kTheyRequest), S::kPending);
}

TEST(PeeringTest, StateNamesRoundTrip) {
  for (S s : {S::kRequested, S::kPending, S::kActive, S::kSuspended, S::kRevoked, S::kRejected}) {
    auto parsed = ParsePeerState(PeerStateName(s));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_FALSE(ParsePeerState("Active").ok());
  EXPECT_FALSE(ParsePeerState("").ok());
}

TEST(PeeringTest, NetworkAdmitAndWithdraw) {
  for (std::optional<S> from :
       {std::optional<S>(), std::optional(S::kRequested), std::optional(S::kPending),
        std::optional(S::kRejected), std::optional(S::kSuspended)}) {
    auto next = NextPeerState(from, E::kNetworkAdmit);
    ASSERT_TRUE(next.ok()) << (from ? PeerStateName(*from) : "none");
    EXPECT_EQ(*next, S::kActive);
  }
  for (S from : {S::kActive, S::kRevoked}) {
    auto next = NextPeerState(from, E::kNetworkAdmit);
    ASSERT_FALSE(next.ok()) << PeerStateName(from);
    EXPECT_EQ(next.error().code, ErrorCode::kConflict);
  }
  EXPECT_EQ(*NextPeerState(S::kActive, E::kNetworkWithdraw), S::kSuspended);
  for (std::optional<S> from :
       {std::optional<S>(), std::optional(S::kRequested), std::optional(S::kPending),
        std::optional(S::kSuspended), std::optional(S::kRevoked), std::optional(S::kRejected)}) {
    EXPECT_FALSE(NextPeerState(from, E::kNetworkWithdraw).ok());
  }
  EXPECT_EQ(PeerEventName(E::kNetworkAdmit), "network_admit");
  EXPECT_EQ(PeerEventName(E::kNetworkWithdraw), "network_withdraw");
}

// The receiving side of key rotation, through PeeringService::HandleInbound: this node (B)
// has an active peer A whose keys are in-memory Ed25519 keys; requests are signed as A would.
class KeyRotationInboundTest : public ::testing::Test {
 protected:
  static constexpr const char* kSelf = "https://b.example";
  static constexpr const char* kPeer = "https://a.example";

  void SetUp() override {
    auto store = storage::Store::Open({.path = dir_ / "kith.db"});
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    {  // B's own node key (it signs responses; not used here otherwise).
      auto db = storage::Database::Open({.path = dir_ / "kith.db"});
      ASSERT_TRUE(db.ok());
      ASSERT_TRUE(identity::NodeKeyring::CreateInitial(dir_.path(), *db, clock_).ok());
      auto ring = identity::NodeKeyring::Load(dir_.path(), *db);
      ASSERT_TRUE(ring.ok()) << ring.error().message;
      self_keys_ = *ring;
    }
    peers_ = std::make_unique<PeerStore>(*store_, clock_);
    auto client = HttpClient::Create(ioc_.get_executor(), {});
    ASSERT_TRUE(client.ok());
    client_ = std::move(client).value();
    PeeringContext context;
    context.base_url = kSelf;
    context.keys = [this] { return self_keys_; };
    context.self_document = [] { return std::string("{}"); };
    context.executor = ioc_.get_executor();  // never run: no outbound request completes
    service_ = std::make_unique<PeeringService>(context, *peers_, *client_, replay_, clock_);

    // A is an active peer with key old_.
    PeerChange request;
    request.node_id = kPeer;
    request.event = PeerEvent::kWeRequest;
    request.document = DocumentOf(old_);
    request.audit = AuditRecord{"kithctl", "admin.sock", "{}"};
    ASSERT_TRUE(peers_->ApplyEvent(request).ok());
    PeerChange accept = request;
    accept.event = PeerEvent::kTheyAccept;
    accept.document.reset();
    ASSERT_TRUE(peers_->ApplyEvent(accept).ok());
  }
  void TearDown() override {
    service_.reset();
    client_.reset();
    if (store_) store_->Close();
  }

  NodeDocumentKey DocKey(const Ed25519SecretKey& key, std::optional<int64_t> not_after = {}) {
    return NodeDocumentKey{
        identity::KeyIdFor(key.public_key()), "ed25519", key.public_key(), 1'700'000'000, not_after,
        not_after ? "retiring" : "current"};
  }
  NodeDocument DocumentOf(const Ed25519SecretKey& key) {
    NodeDocument doc;
    doc.id = kPeer;
    doc.name = "Alpha";
    doc.organisation = "Alpha Council";
    doc.base_url = kPeer;
    doc.version = 1;
    doc.keys.push_back(DocKey(key));
    return doc;
  }

  InboundResponse Send(const Ed25519SecretKey& key, const std::string& method,
                       const std::string& path, const std::string& body) {
    KithSigner signer(identity::KeyIdFor(key.public_key()), key.AsSignFunction(), clock_);
    InboundRequest request;
    request.message.method = method;
    request.message.target_uri = std::string(kSelf) + path;
    if (!body.empty()) request.message.headers.emplace_back("Content-Type", "application/json");
    EXPECT_TRUE(signer.SignRequest(request.message, body).ok());
    request.body = body;
    request.remote_address = "192.0.2.1";
    return service_->HandleInbound(request);
  }
  InboundResponse Ping(const Ed25519SecretKey& key) {
    return Send(key, "GET", "/federation/v1/ping", "");
  }
  std::string Rotated(const Ed25519SecretKey& old_key, const Ed25519SecretKey& new_key,
                      int64_t old_not_after) {
    return nlohmann::json{{"type", "keys.rotated"},
                          {"node_id", kPeer},
                          {"old_kid", identity::KeyIdFor(old_key.public_key())},
                          {"old_not_after", old_not_after},
                          {"key",
                           {{"kid", identity::KeyIdFor(new_key.public_key())},
                            {"alg", "ed25519"},
                            {"public_key", identity::Base64UrlEncode(new_key.public_key())},
                            {"created_at", clock_.UnixSeconds()}}}}
        .dump();
  }

  testing::TempDir dir_{"rotation"};
  FakeClock clock_{1'700'000'000};
  boost::asio::io_context ioc_;
  std::unique_ptr<storage::Store> store_;
  std::shared_ptr<const identity::NodeKeyring> self_keys_;
  std::unique_ptr<PeerStore> peers_;
  std::unique_ptr<HttpClient> client_;
  ReplayCache replay_;
  std::unique_ptr<PeeringService> service_;
  Ed25519SecretKey old_ = Ed25519SecretKey::Generate();
  Ed25519SecretKey new_ = Ed25519SecretKey::Generate();
};

TEST_F(KeyRotationInboundTest, AnnouncedKeyIsAcceptedAndTheOldOneUntilNotAfter) {
  EXPECT_EQ(Ping(new_).status, 401);  // not known yet
  EXPECT_EQ(Ping(old_).status, 200);

  InboundResponse rotated =
      Send(old_, "POST", "/federation/v1/keys/rotated", Rotated(old_, new_, 1'700'000'100));
  ASSERT_EQ(rotated.status, 200) << rotated.body;

  EXPECT_EQ(Ping(new_).status, 200);
  EXPECT_EQ(Ping(old_).status, 200);
  clock_.SetUnixSeconds(1'700'000'100);
  EXPECT_EQ(Ping(old_).status, 200);  // valid up to and including not_after
  clock_.SetUnixSeconds(1'700'000'101);
  InboundResponse late = Ping(old_);
  EXPECT_EQ(late.status, 401);
  EXPECT_NE(late.body.find("key_not_valid"), std::string::npos) << late.body;
  EXPECT_EQ(Ping(new_).status, 200);

  auto keys = peers_->Keys(1);
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 2u);
  auto audit = peers_->Audit(1);
  ASSERT_TRUE(audit.ok());
  EXPECT_EQ((*audit)[0].action, "peer.key_rotated");
  EXPECT_NE((*audit)[0].detail.find(identity::KeyIdFor(new_.public_key())), std::string::npos);
}

TEST_F(KeyRotationInboundTest, RotationMustBeSignedWithTheOldKeyAndBeSane) {
  auto third = Ed25519SecretKey::Generate();
  // old_kid names another key than the one that signed.
  InboundResponse wrong_signer =
      Send(old_, "POST", "/federation/v1/keys/rotated", Rotated(third, new_, 1'700'000'100));
  EXPECT_EQ(wrong_signer.status, 400) << wrong_signer.body;
  // Signed by a key nobody knows.
  EXPECT_EQ(Send(third, "POST", "/federation/v1/keys/rotated", Rotated(third, new_, 1'700'000'100))
                .status,
            401);
  // The old key kept valid for more than a year.
  EXPECT_EQ(Send(old_, "POST", "/federation/v1/keys/rotated",
                 Rotated(old_, new_, 1'700'000'000 + 400LL * 86400))
                .status,
            400);
  // A kid that is not the thumbprint of the announced public key.
  nlohmann::json body = nlohmann::json::parse(Rotated(old_, new_, 1'700'000'100));
  body["key"]["kid"] = identity::KeyIdFor(third.public_key());
  EXPECT_EQ(Send(old_, "POST", "/federation/v1/keys/rotated", body.dump()).status, 400);
  // Malformed bodies.
  for (const char* bad : {R"({"type":"keys.rotated"})", R"({"old_kid":1})", "[]", "{"}) {
    EXPECT_EQ(Send(old_, "POST", "/federation/v1/keys/rotated", bad).status, 400) << bad;
  }
  EXPECT_EQ(Ping(new_).status, 401);  // nothing was learned
  EXPECT_EQ(Ping(old_).status, 200);  // and the old key is unchanged
}

TEST_F(KeyRotationInboundTest, UnknownKeyStartsARateLimitedRefresh) {
  EXPECT_EQ(service_->key_refresh_sweeps(), 0u);
  EXPECT_EQ(Ping(new_).status, 401);
  EXPECT_EQ(service_->key_refresh_sweeps(), 1u);
  EXPECT_EQ(Ping(new_).status, 401);
  EXPECT_EQ(service_->key_refresh_sweeps(), 1u);  // at most one per interval
  clock_.Advance(std::chrono::seconds(59));
  EXPECT_EQ(Ping(new_).status, 401);
  EXPECT_EQ(service_->key_refresh_sweeps(), 1u);
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_EQ(Ping(new_).status, 401);
  EXPECT_EQ(service_->key_refresh_sweeps(), 2u);
  EXPECT_EQ(Ping(old_).status, 200);  // known keys never trigger one
  EXPECT_EQ(service_->key_refresh_sweeps(), 2u);
}

// What the refresh does with a fetched document: PeerStore::MergeKeys.
TEST_F(KeyRotationInboundTest, MergeKeysAddsNewKeysAndOnlyShortensValidity) {
  auto merge = [&](std::vector<NodeDocumentKey> keys, const std::string& node = kPeer) {
    std::promise<Result<std::vector<std::string>>> promise;
    auto future = promise.get_future();
    peers_->MergeKeys(
        node, std::move(keys), AuditRecord{"peer:" + node, "key refresh", "{}"},
        [&promise](Result<std::vector<std::string>> r) { promise.set_value(std::move(r)); });
    return future.get();
  };
  // The document lists the old key ending at 1'700'000'500 and the new key.
  auto added = merge({DocKey(old_, 1'700'000'500), DocKey(new_)});
  ASSERT_TRUE(added.ok()) << added.error().message;
  EXPECT_EQ(*added, std::vector<std::string>{identity::KeyIdFor(new_.public_key())});
  EXPECT_EQ(Ping(new_).status, 200);
  auto audit = peers_->Audit(1);
  ASSERT_TRUE(audit.ok());
  EXPECT_EQ((*audit)[0].action, "peer.keys_refreshed");

  // A later document cannot lengthen the old key's validity, nor swap a known kid's key.
  NodeDocumentKey swapped = DocKey(Ed25519SecretKey::Generate());
  swapped.kid = identity::KeyIdFor(new_.public_key());
  added = merge({DocKey(old_, 1'800'000'000), swapped});
  ASSERT_TRUE(added.ok()) << added.error().message;
  EXPECT_TRUE(added->empty());
  clock_.SetUnixSeconds(1'700'000'501);
  EXPECT_EQ(Ping(old_).status, 401);
  EXPECT_EQ(Ping(new_).status, 200);  // still the original public key

  // Only for active peers.
  PeerChange suspend;
  suspend.node_id = kPeer;
  suspend.event = PeerEvent::kSuspend;
  suspend.audit = AuditRecord{"kithctl", "admin.sock", "{}"};
  ASSERT_TRUE(peers_->ApplyEvent(suspend).ok());
  auto third = Ed25519SecretKey::Generate();
  added = merge({DocKey(third)});
  ASSERT_FALSE(added.ok());
  EXPECT_EQ(added.error().code, ErrorCode::kPermissionDenied);
  added = merge({DocKey(third)}, "https://nobody.example");
  ASSERT_FALSE(added.ok());
  EXPECT_EQ(added.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace kith::federation
