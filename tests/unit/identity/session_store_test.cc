#include "identity/session_store.h"

#include <gtest/gtest.h>

#include <chrono>

#include "identity/member_store.h"
#include "identity_test_util.h"

namespace kith::identity {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
using testing::Await;

class SessionStoreTest : public testing::StoreFixture {
 protected:
  void SetUp() override {
    StoreFixture::SetUp();
    members_ = std::make_unique<MemberStore>(*store_, clock_);
    sessions_ = std::make_unique<SessionStore>(*store_, clock_);
    NewMember m;
    m.handle = "alice";
    m.display_name = "Alice";
    m.email = "alice@example.org";
    auto added = Await<Member>([&](Done<Member> d) { members_->Add(m, d); });
    ASSERT_TRUE(added.ok());
    alice_ = *added;
  }
  Result<NewSession> Create(int64_t member_id) {
    return Await<NewSession>([&](Done<NewSession> d) {
      sessions_->Create(member_id, {"2001:db8::1", "Mozilla/5.0 \x01test"}, d);
    });
  }
  // Waits until queued writes (e.g. a touch) are committed.
  void Flush() {
    ASSERT_TRUE(store_->writer().SubmitAndWait([](storage::Database&) { return OkStatus(); }).ok());
  }
  FakeClock clock_;
  std::unique_ptr<MemberStore> members_;
  std::unique_ptr<SessionStore> sessions_;
  Member alice_;
};

TEST_F(SessionStoreTest, CreateAndAuthenticate) {
  auto created = Create(alice_.id);
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_EQ(created->token.size(), 43u);
  EXPECT_EQ(created->session.member_id, alice_.id);
  EXPECT_EQ(created->session.auth_time, clock_.UnixSeconds());
  EXPECT_EQ(created->session.user_agent, "Mozilla/5.0 ?test");
  auto session = sessions_->Authenticate(created->token);
  ASSERT_TRUE(session.ok()) << session.error().message;
  EXPECT_EQ(session->id, created->session.id);
  EXPECT_EQ(session->client_address, "2001:db8::1");
  EXPECT_EQ(session->csrf_token, created->session.csrf_token);

  // The token itself is not stored anywhere.
  auto stored = store_->Read([&](storage::Database& db) -> Result<int64_t> {
    auto stmt =
        db.Prepare("SELECT count(*) FROM sessions WHERE token_hash = ?1 OR csrf_token = ?1");
    if (!stmt.ok()) return stmt.error();
    stmt->Bind(1, std::string_view(created->token));
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    return stmt->ColumnInt(0);
  });
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(*stored, 0);

  for (std::string_view bad : {"", "short", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
                               "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}) {
    auto r = sessions_->Authenticate(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
    EXPECT_EQ(r.error().reason, "invalid_session");
  }
  auto missing = Await<NewSession>([&](Done<NewSession> d) { sessions_->Create(9999, {}, d); });
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST_F(SessionStoreTest, IdleExpiryAndCheapTouch) {
  auto created = Create(alice_.id);
  ASSERT_TRUE(created.ok());
  // Used every 7 hours: the idle timeout (8 h) never hits, as long as touches land.
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(hours(7));
    auto s = sessions_->Authenticate(created->token);
    ASSERT_TRUE(s.ok()) << i << ": " << s.error().message;
    Flush();
  }
  // Within the touch interval no write is queued.
  const auto committed = store_->writer().GetStats().jobs_committed;
  clock_.Advance(seconds(30));
  ASSERT_TRUE(sessions_->Authenticate(created->token).ok());
  Flush();
  EXPECT_EQ(store_->writer().GetStats().jobs_committed, committed + 1);  // just the flush
  // Idle for 8 hours: expired.
  clock_.Advance(hours(8));
  auto expired = sessions_->Authenticate(created->token);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().reason, "session_expired");
}

TEST_F(SessionStoreTest, AbsoluteExpiry) {
  auto created = Create(alice_.id);
  ASSERT_TRUE(created.ok());
  // Used every 6 hours for 30 days minus 6 hours: never idle, still valid.
  for (int step = 0; step < 30 * 4 - 1; ++step) {
    clock_.Advance(hours(6));
    ASSERT_TRUE(sessions_->Authenticate(created->token).ok()) << step;
    Flush();
  }
  clock_.Advance(hours(6));
  auto expired = sessions_->Authenticate(created->token);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().reason, "session_expired");
}

TEST_F(SessionStoreTest, RevokeOneAndAllAndPurge) {
  auto a = Create(alice_.id);
  auto b = Create(alice_.id);
  auto c = Create(alice_.id);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(sessions_->ListForMember(alice_.id)->size(), 3u);
  ASSERT_TRUE(Await<void>([&](Done<void> d) { sessions_->Revoke(a->session.id, d); }).ok());
  EXPECT_FALSE(sessions_->Authenticate(a->token).ok());
  EXPECT_TRUE(sessions_->Authenticate(b->token).ok());
  auto d = Create(alice_.id);
  ASSERT_TRUE(d.ok());
  auto others = Await<int64_t>(
      [&](Done<int64_t> done) { sessions_->RevokeOthers(alice_.id, d->session.id, done); });
  ASSERT_TRUE(others.ok());
  EXPECT_EQ(*others, 2);
  EXPECT_FALSE(sessions_->Authenticate(b->token).ok());
  EXPECT_TRUE(sessions_->Authenticate(d->token).ok());
  b = Create(alice_.id);
  c = Create(alice_.id);
  ASSERT_TRUE(b.ok() && c.ok());
  auto ended = Await<int64_t>([&](Done<int64_t> d) { sessions_->RevokeAll(alice_.id, d); });
  ASSERT_TRUE(ended.ok());
  EXPECT_EQ(*ended, 3);
  EXPECT_FALSE(sessions_->Authenticate(b->token).ok());
  EXPECT_FALSE(sessions_->Authenticate(c->token).ok());

  auto old = Create(alice_.id);
  ASSERT_TRUE(old.ok());
  clock_.Advance(hours(9));
  auto fresh = Create(alice_.id);
  ASSERT_TRUE(fresh.ok());
  auto purged = Await<int64_t>([&](Done<int64_t> d) { sessions_->PurgeExpired(d); });
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 1);
  EXPECT_TRUE(sessions_->Authenticate(fresh->token).ok());
}

TEST_F(SessionStoreTest, CsrfTokenIsPerSessionAndCheckedExactly) {
  auto a = Create(alice_.id);
  auto b = Create(alice_.id);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->session.csrf_token, b->session.csrf_token);
  EXPECT_TRUE(SessionStore::CheckCsrf(a->session, a->session.csrf_token));
  EXPECT_FALSE(SessionStore::CheckCsrf(a->session, b->session.csrf_token));
  EXPECT_FALSE(SessionStore::CheckCsrf(a->session, ""));
  EXPECT_FALSE(SessionStore::CheckCsrf(a->session, a->session.csrf_token + "x"));
}

TEST_F(SessionStoreTest, DisabledMembersCannotStartSessions) {
  ASSERT_TRUE(Await<Member>([&](Done<Member> d) {
                members_->SetStatus(alice_.id, MemberStatus::kDisabled, d);
              }).ok());
  auto refused = Create(alice_.id);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
}

}  // namespace
}  // namespace kith::identity
