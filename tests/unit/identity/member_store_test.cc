#include "identity/member_store.h"

#include <gtest/gtest.h>

#include "identity/member.h"
#include "identity/session_store.h"
#include "identity_test_util.h"

namespace kith::identity {
namespace {

using testing::Await;

NewMember Alice() {
  NewMember m;
  m.handle = "Alice.Smith";
  m.display_name = "Alice Smith";
  m.email = "Alice.Smith@Council-A.Example";
  m.organisation = "Council A";
  m.job_title = "Policy officer";
  return m;
}

TEST(MemberValidationTest, HandlesAreLowerCasedAndChecked) {
  EXPECT_EQ(*NormalizeHandle("Alice_1.x-y"), "alice_1.x-y");
  EXPECT_EQ(*NormalizeHandle("9lives"), "9lives");
  for (std::string_view bad : {"", ".alice", "-x", "_x", "al ice", "al@ice", "élodie"}) {
    auto r = NormalizeHandle(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find("handle"), std::string::npos);
  }
  EXPECT_TRUE(NormalizeHandle(std::string(64, 'a')).ok());
  EXPECT_FALSE(NormalizeHandle(std::string(65, 'a')).ok());
}

TEST(MemberValidationTest, EmailsAreCheckedReasonably) {
  EXPECT_EQ(*NormalizeEmail("First.Last+tag@Example.ORG"), "First.Last+tag@example.org");
  for (std::string_view bad : {"", "plain", "@example.org", "a@", "a@b", "a@-b.org", "a b@c.org",
                               "a..b@c.org", "a@b..org", "a@b_c.org", "a@b.org-"}) {
    auto r = NormalizeEmail(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("email"), std::string::npos);
  }
}

TEST(MemberValidationTest, TextFieldsAreLimited) {
  NewMember m = Alice();
  m.bio = std::string(kMaxBio + 1, 'x');
  auto r = ValidateNewMember(m);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("bio"), std::string::npos);
  m = Alice();
  m.display_name = "Bad\x01name";
  EXPECT_FALSE(ValidateNewMember(m).ok());
  m = Alice();
  m.display_name = "   ";
  EXPECT_FALSE(ValidateNewMember(m).ok());
  m = Alice();
  m.bio = "Line one\nLine two";
  EXPECT_TRUE(ValidateNewMember(m).ok());
}

class MemberStoreTest : public testing::StoreFixture {
 protected:
  Result<Member> Add(NewMember m) {
    return Await<Member>([&](Done<Member> done) { members_->Add(std::move(m), done); });
  }
  void SetUp() override {
    StoreFixture::SetUp();
    members_ = std::make_unique<MemberStore>(*store_, clock_);
  }
  FakeClock clock_;
  std::unique_ptr<MemberStore> members_;
};

TEST_F(MemberStoreTest, AddGetAndConflicts) {
  auto added = Add(Alice());
  ASSERT_TRUE(added.ok()) << added.error().message;
  EXPECT_EQ(added->handle, "alice.smith");
  EXPECT_EQ(added->email, "Alice.Smith@council-a.example");
  EXPECT_EQ(added->visibility, DirectoryVisibility::kNode);
  EXPECT_EQ(added->status, MemberStatus::kActive);
  EXPECT_FALSE(added->has_password);
  EXPECT_GE(added->sub.size(), 22u);
  EXPECT_EQ(added->created_at, clock_.UnixSeconds());
  EXPECT_EQ(added->Address("council-a.example"), "alice.smith@council-a.example");

  auto by_handle = members_->GetByHandle("ALICE.SMITH");
  ASSERT_TRUE(by_handle.ok());
  EXPECT_EQ(by_handle->id, added->id);
  EXPECT_EQ(members_->GetBySub(added->sub)->id, added->id);
  EXPECT_EQ(members_->GetByEmail("alice.smith@COUNCIL-A.example")->id, added->id);
  EXPECT_EQ(members_->GetById(added->id)->organisation, "Council A");
  EXPECT_EQ(members_->GetByHandle("nobody").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(members_->GetByHandle("bad handle!").error().code, ErrorCode::kNotFound);

  auto same_handle = Alice();
  same_handle.email = "other@council-a.example";
  auto dup = Add(same_handle);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kConflict);
  EXPECT_NE(dup.error().message.find("handle"), std::string::npos);

  auto same_email = Alice();
  same_email.handle = "alice2";
  same_email.email = "ALICE.SMITH@council-a.example";
  auto dup_email = Add(same_email);
  ASSERT_FALSE(dup_email.ok());
  EXPECT_EQ(dup_email.error().code, ErrorCode::kConflict);
  EXPECT_NE(dup_email.error().message.find("email"), std::string::npos);

  auto invalid = Alice();
  invalid.handle = "-bad";
  auto bad = Add(invalid);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(*members_->Count(), 1);
}

TEST_F(MemberStoreTest, UpdateDisableEnableRemove) {
  auto alice = Add(Alice());
  ASSERT_TRUE(alice.ok());
  auto bob_in = Alice();
  bob_in.handle = "bob";
  bob_in.email = "bob@council-a.example";
  auto bob = Add(bob_in);
  ASSERT_TRUE(bob.ok());

  clock_.Advance(std::chrono::seconds(10));
  ProfileUpdate update;
  update.display_name = "Alice S.";
  update.bio = "Housing policy, data sharing";
  update.visibility = DirectoryVisibility::kNetwork;
  auto updated =
      Await<Member>([&](Done<Member> done) { members_->UpdateProfile(alice->id, update, done); });
  ASSERT_TRUE(updated.ok()) << updated.error().message;
  EXPECT_EQ(updated->display_name, "Alice S.");
  EXPECT_EQ(updated->visibility, DirectoryVisibility::kNetwork);
  EXPECT_EQ(updated->updated_at, alice->created_at + 10);
  EXPECT_EQ(members_->GetById(alice->id)->bio, "Housing policy, data sharing");

  ProfileUpdate steal;
  steal.email = "BOB@council-a.example";
  auto stolen =
      Await<Member>([&](Done<Member> done) { members_->UpdateProfile(alice->id, steal, done); });
  ASSERT_FALSE(stolen.ok());
  EXPECT_EQ(stolen.error().code, ErrorCode::kConflict);
  ProfileUpdate bad;
  bad.display_name = "";
  EXPECT_EQ(Await<Member>([&](Done<Member> done) { members_->UpdateProfile(alice->id, bad, done); })
                .error()
                .code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(Await<Member>([&](Done<Member> done) { members_->UpdateProfile(999, update, done); })
                .error()
                .code,
            ErrorCode::kNotFound);

  // Disabling ends the member's sessions.
  SessionStore sessions(*store_, clock_);
  auto session = Await<NewSession>([&](Done<NewSession> done) {
    sessions.Create(alice->id, {"192.0.2.1", "test"}, done);
  });
  ASSERT_TRUE(session.ok()) << session.error().message;
  auto disabled = Await<Member>(
      [&](Done<Member> done) { members_->SetStatus(alice->id, MemberStatus::kDisabled, done); });
  ASSERT_TRUE(disabled.ok());
  EXPECT_EQ(disabled->status, MemberStatus::kDisabled);
  EXPECT_FALSE(sessions.Authenticate(session->token).ok());
  auto enabled = Await<Member>(
      [&](Done<Member> done) { members_->SetStatus(alice->id, MemberStatus::kActive, done); });
  ASSERT_TRUE(enabled.ok());
  EXPECT_EQ(enabled->status, MemberStatus::kActive);

  // Removal retires the sub: a new member with the same handle gets a different one.
  const std::string old_sub = alice->sub;
  auto removed = Await<void>([&](Done<void> done) { members_->Remove(alice->id, done); });
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(members_->GetById(alice->id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(Await<void>([&](Done<void> done) { members_->Remove(alice->id, done); }).error().code,
            ErrorCode::kNotFound);
  auto again = Add(Alice());
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->sub, old_sub);
}

TEST_F(MemberStoreTest, PasswordHashAndUpgrade) {
  auto alice = Add(Alice());
  ASSERT_TRUE(alice.ok());
  EXPECT_EQ(*members_->PasswordHash(alice->id), "");
  const std::string h1 = "$argon2id$v=19$m=8,t=1,p=1$one";
  const std::string h2 = "$argon2id$v=19$m=8,t=2,p=1$two";
  ASSERT_TRUE(Await<void>([&](Done<void> d) { members_->SetPasswordHash(alice->id, h1, d); }).ok());
  EXPECT_EQ(*members_->PasswordHash(alice->id), h1);
  EXPECT_TRUE(members_->GetById(alice->id)->has_password);
  EXPECT_FALSE(
      Await<void>([&](Done<void> d) { members_->SetPasswordHash(alice->id, "plain", d); }).ok());
  auto upgraded =
      Await<bool>([&](Done<bool> d) { members_->UpgradePasswordHash(alice->id, h1, h2, d); });
  ASSERT_TRUE(upgraded.ok());
  EXPECT_TRUE(*upgraded);
  // A stale expected hash (the password changed meanwhile) does not overwrite.
  auto stale =
      Await<bool>([&](Done<bool> d) { members_->UpgradePasswordHash(alice->id, h1, h1, d); });
  ASSERT_TRUE(stale.ok());
  EXPECT_FALSE(*stale);
  EXPECT_EQ(*members_->PasswordHash(alice->id), h2);
}

TEST_F(MemberStoreTest, ListPages) {
  for (int i = 0; i < 25; ++i) {
    NewMember m = Alice();
    m.handle = "user" + std::to_string(i);
    m.email = "user" + std::to_string(i) + "@example.org";
    ASSERT_TRUE(Add(m).ok());
  }
  std::vector<std::string> handles;
  int64_t after = 0;
  int pages = 0;
  do {
    auto page = members_->List(after, 10);
    ASSERT_TRUE(page.ok());
    for (const auto& m : page->members) handles.push_back(m.handle);
    after = page->next_after;
    ++pages;
  } while (after != 0 && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(handles.size(), 25u);
  EXPECT_EQ(handles.front(), "user0");
  EXPECT_FALSE(members_->List(0, 0).ok());
  EXPECT_FALSE(members_->List(0, 5000).ok());
}

}  // namespace
}  // namespace kith::identity
