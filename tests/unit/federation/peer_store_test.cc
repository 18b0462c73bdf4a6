#include "federation/peer_store.h"

#include <gtest/gtest.h>

#include <memory>

#include "federation/peer_key_resolver.h"
#include "tests/support/temp_dir.h"

namespace kith::federation {
namespace {

class PeerStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::Store::Options options;
    options.path = dir_ / "kith.db";
    auto store = storage::Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    peers_ = std::make_unique<PeerStore>(*store_, clock_);
  }

  static NodeDocument Document(std::string base_url, uint8_t key_byte) {
    NodeDocument doc;
    doc.id = base_url;
    doc.name = "Node " + base_url;
    doc.organisation = "Org";
    doc.base_url = base_url;
    doc.version = 1;
    NodeDocumentKey key;
    key.public_key.fill(key_byte);
    key.kid = identity::KeyIdFor(key.public_key);
    key.alg = "ed25519";
    key.created_at = 1'699'000'000;
    key.status = "current";
    doc.keys.push_back(key);
    return doc;
  }

  PeerChange Change(std::string node_id, PeerEvent event) {
    PeerChange change;
    change.node_id = std::move(node_id);
    change.event = event;
    change.audit = AuditRecord{"kithctl", "admin.sock", R"({"why":"test"})"};
    return change;
  }

  testing::TempDir dir_{"peer_store"};
  FakeClock clock_{1'700'000'000};
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<PeerStore> peers_;
};

TEST_F(PeerStoreTest, RequestCreatesPeerWithKeysAndAudit) {
  auto change = Change("https://b.example", PeerEvent::kWeRequest);
  change.document = Document("https://b.example", 7);
  auto peer = peers_->ApplyEvent(change);
  ASSERT_TRUE(peer.ok()) << peer.error().message;
  EXPECT_EQ(peer->state, PeerState::kRequested);
  EXPECT_EQ(peer->name, "Node https://b.example");
  EXPECT_EQ(peer->created_at, 1'700'000'000);

  auto keys = peers_->Keys(peer->id);
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ(keys->front().kid, change.document->keys[0].kid);

  auto audit = peers_->Audit();
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ(audit->front().action, "peer.we_request");
  EXPECT_EQ(audit->front().actor, "kithctl");
  EXPECT_EQ(audit->front().peer, "https://b.example");
  EXPECT_EQ(audit->front().source, "admin.sock");
  EXPECT_EQ(audit->front().detail, R"({"why":"test"})");
}

TEST_F(PeerStoreTest, NewPeerNeedsADocument) {
  auto peer = peers_->ApplyEvent(Change("https://b.example", PeerEvent::kTheyRequest));
  ASSERT_FALSE(peer.ok());
  EXPECT_EQ(peer.error().code, ErrorCode::kInvalidArgument);
  auto list = peers_->List();
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

TEST_F(PeerStoreTest, IllegalEventWritesNothing) {
  auto change = Change("https://b.example", PeerEvent::kTheyRequest);
  change.document = Document("https://b.example", 7);
  ASSERT_TRUE(peers_->ApplyEvent(change).ok());
  auto resume = peers_->ApplyEvent(Change("https://b.example", PeerEvent::kResume));
  ASSERT_FALSE(resume.ok());
  EXPECT_EQ(resume.error().code, ErrorCode::kConflict);
  auto audit = peers_->Audit();
  ASSERT_TRUE(audit.ok());
  EXPECT_EQ(audit->size(), 1u);
  auto found = peers_->Find("https://b.example");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->state, PeerState::kPending);
}

TEST_F(PeerStoreTest, LifecycleAndResolver) {
  auto change = Change("https://b.example", PeerEvent::kTheyRequest);
  change.document = Document("https://b.example", 9);
  ASSERT_TRUE(peers_->ApplyEvent(change).ok());
  const std::string kid = change.document->keys[0].kid;
  PeerKeyResolver resolver(*peers_);

  auto resolved = resolver.Resolve(kid);
  ASSERT_TRUE(resolved.has_value());
  EXPECT_FALSE(resolved->peer_active);
  EXPECT_EQ(resolved->peer_state, "pending");
  EXPECT_EQ(resolved->node_id, "https://b.example");

  ASSERT_TRUE(peers_->ApplyEvent(Change("https://b.example", PeerEvent::kWeApprove)).ok());
  resolved = resolver.Resolve(kid);
  ASSERT_TRUE(resolved.has_value());
  EXPECT_TRUE(resolved->peer_active);

  ASSERT_TRUE(peers_->ApplyEvent(Change("https://b.example", PeerEvent::kSuspend)).ok());
  EXPECT_FALSE(resolver.Resolve(kid)->peer_active);
  // The federation endpoints authenticate any known peer and decide by state themselves.
  PeerKeyResolver any_state(*peers_, PeerKeyResolver::Mode::kAnyState);
  ASSERT_TRUE(any_state.Resolve(kid).has_value());
  EXPECT_TRUE(any_state.Resolve(kid)->peer_active);
  EXPECT_EQ(any_state.Resolve(kid)->peer_state, "suspended");
  EXPECT_FALSE(resolver.Resolve("no-such-kid").has_value());

  auto by_name = peers_->Find("Node https://b.example");
  ASSERT_TRUE(by_name.ok());
  ASSERT_TRUE(by_name->has_value());
  EXPECT_EQ((*by_name)->state, PeerState::kSuspended);
}

TEST_F(PeerStoreTest, RotateKeyAddsNewAndRetiresOld) {
  auto change = Change("https://b.example", PeerEvent::kWeRequest);
  change.document = Document("https://b.example", 1);
  auto peer = peers_->ApplyEvent(change);
  ASSERT_TRUE(peer.ok());
  const std::string old_kid = change.document->keys[0].kid;

  PeerKey fresh;
  fresh.public_key.fill(2);
  fresh.kid = identity::KeyIdFor(fresh.public_key);
  fresh.created_at = 1'700'000'100;
  AuditRecord audit{"peer:https://b.example", "127.0.0.1:5", "{}"};
  ASSERT_TRUE(peers_->RotateKey("https://b.example", old_kid, 1'700'604'800, fresh, audit).ok());
  // Announcing the same rotation again is idempotent.
  ASSERT_TRUE(peers_->RotateKey("https://b.example", old_kid, 1'700'604'800, fresh, audit).ok());

  auto keys = peers_->Keys(peer->id);
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].kid, fresh.kid);
  EXPECT_EQ((*keys)[1].status, "retiring");
  EXPECT_EQ((*keys)[1].not_after, 1'700'604'800);

  PeerKey clash = fresh;
  clash.public_key.fill(3);
  auto conflict = peers_->RotateKey("https://b.example", old_kid, 1, clash, audit);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, ErrorCode::kConflict);
  EXPECT_EQ(peers_->RotateKey("https://nobody.example", old_kid, 1, fresh, audit).error().code,
            ErrorCode::kNotFound);
}

TEST_F(PeerStoreTest, ContactAndFailures) {
  auto change = Change("https://b.example", PeerEvent::kWeRequest);
  change.document = Document("https://b.example", 1);
  ASSERT_TRUE(peers_->ApplyEvent(change).ok());
  ASSERT_TRUE(peers_->RecordFailure("https://b.example", "connection refused").ok());
  ASSERT_TRUE(peers_->RecordFailure("https://b.example", "timeout").ok());
  auto peer = peers_->Find("https://b.example");
  ASSERT_TRUE(peer.ok() && peer->has_value());
  EXPECT_EQ((*peer)->failures, 2);
  EXPECT_EQ((*peer)->last_error, "timeout");
  clock_.Advance(std::chrono::seconds(5));
  ASSERT_TRUE(peers_->RecordContact("https://b.example").ok());
  peer = peers_->Find("https://b.example");
  EXPECT_EQ((*peer)->failures, 0);
  EXPECT_EQ((*peer)->last_contact_at, 1'700'000'005);
  EXPECT_TRUE((*peer)->last_error.empty());
}

TEST_F(PeerStoreTest, DocumentResolverKnowsOnlyItsKeys) {
  NodeDocument doc = Document("https://c.example", 4);
  DocumentKeyResolver resolver(doc);
  auto resolved = resolver.Resolve(doc.keys[0].kid);
  ASSERT_TRUE(resolved.has_value());
  EXPECT_EQ(resolved->node_id, "https://c.example");
  EXPECT_TRUE(resolved->peer_active);
  EXPECT_FALSE(resolver.Resolve("other").has_value());
}

}  // namespace
}  // namespace kith::federation
