#include "groups/decide.h"

#include <gtest/gtest.h>

#include "groups/group_store.h"
#include "groups_test_util.h"

namespace kith::groups {
namespace {

using nlohmann::json;
using testing::NewGroup;
using testing::Node;

constexpr const char* kStream = "group:roads@a.example";
constexpr const char* kOwner = "olivia@a.example";
constexpr const char* kFacilitator = "fred@a.example";
constexpr const char* kMember = "mary@b.example";
constexpr const char* kOther = "oscar@c.example";

// Expects `result` to be refused with `code` and a message containing `mentions`.
template <class T>
void ExpectRefused(const Result<T>& result, ErrorCode code, std::string_view mentions) {
  ASSERT_FALSE(result.ok()) << "expected a refusal mentioning \"" << mentions << "\"";
  EXPECT_EQ(result.error().code, code) << result.error().message;
  EXPECT_NE(result.error().message.find(mentions), std::string::npos) << result.error().message;
}

class DecideTest : public ::testing::Test {
 protected:
  // A group owned by kOwner with kFacilitator and kMember.
  void MakeGroup(std::string_view visibility = "public", std::string_view policy = "open") {
    ASSERT_TRUE(Ok(kOwner, event_type::kGroupCreated, NewGroup(visibility, policy)));
    ASSERT_TRUE(Ok(kOwner, event_type::kMemberInvited, {{"member", kFacilitator}}));
    ASSERT_TRUE(Ok(kFacilitator, event_type::kMemberJoined, {{"member", kFacilitator}}));
    ASSERT_TRUE(Ok(kOwner, event_type::kMemberRoleChanged,
                   {{"member", kFacilitator}, {"role", "facilitator"}}));
    ASSERT_TRUE(Ok(kOwner, event_type::kMemberInvited, {{"member", kMember}}));
    ASSERT_TRUE(Ok(kMember, event_type::kMemberJoined, {{"member", kMember}}));
  }

  Result<Event> Do(std::string_view actor, std::string_view type, json data = json::object()) {
    return node_.Do(kStream, std::string(type), std::string(actor), std::move(data));
  }
  bool Ok(std::string_view actor, std::string_view type, json data = json::object()) {
    auto r = Do(actor, type, std::move(data));
    EXPECT_TRUE(r.ok()) << type << " by " << actor << ": " << r.error().message;
    return r.ok();
  }
  int64_t Seq(std::string_view actor, std::string_view type, json data) {
    auto r = Do(actor, type, std::move(data));
    EXPECT_TRUE(r.ok()) << type << " by " << actor << ": " << r.error().message;
    return r.ok() ? r->seq : 0;
  }

  Node node_{"a.example"};
};

TEST_F(DecideTest, GroupCreation) {
  ExpectRefused(node_.Do(kStream, "group.created", kMember, NewGroup()),
                ErrorCode::kPermissionDenied, "only members of a.example can create groups");
  ExpectRefused(node_.Do("group:roads@b.example", "group.created", kMember, NewGroup()),
                ErrorCode::kInvalidArgument, "not owned by this node");
  ExpectRefused(Do(kOwner, "post.created", {{"thread", 1}, {"body", "x"}}), ErrorCode::kNotFound,
                "no group roads@a.example");
  auto created = Do(kOwner, "group.created", NewGroup());
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_EQ(created->seq, 1);
  EXPECT_EQ(created->at, node_.clock().UnixSeconds());
  ExpectRefused(Do(kOwner, "group.created", NewGroup()), ErrorCode::kConflict, "exists already");
  ExpectRefused(Do(kOwner, "group.created", {{"name", "x"}}), ErrorCode::kInvalidArgument,
                "visibility");
  auto role = node_.groups().RoleOf(kStream, kOwner);
  ASSERT_TRUE(role.ok());
  EXPECT_EQ(*role, Role::kOwner);
}

TEST_F(DecideTest, UnknownFieldsAreNotAppended) {
  json data = NewGroup();
  data["slug"] = "roads";
  data["junk"] = std::string(1000, 'j');
  auto created = Do(kOwner, "group.created", data);
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_FALSE(created->data.contains("junk"));
  EXPECT_FALSE(created->data.contains("slug"));
  EXPECT_EQ(created->data["name"], "Roads and transport");
}

TEST_F(DecideTest, SettingsAndArchiving) {
  MakeGroup();
  ExpectRefused(Do(kMember, "group.updated", {{"name", "Mine"}}), ErrorCode::kPermissionDenied,
                "only facilitators can change the group's settings");
  EXPECT_TRUE(Ok(kFacilitator, "group.updated", {{"name", "Streets"}}));
  ExpectRefused(Do(kMember, "group.archived"), ErrorCode::kPermissionDenied,
                "only facilitators can archive");
  ExpectRefused(Do(kFacilitator, "group.unarchived"), ErrorCode::kConflict, "not archived");
  EXPECT_TRUE(Ok(kFacilitator, "group.archived"));
  auto refused = Do(kMember, "thread.created", {{"title", "T"}, {"body", "B"}});
  ExpectRefused(refused, ErrorCode::kConflict, "the group is archived: it is read-only");
  EXPECT_EQ(refused.error().Name(), "failed_precondition");
  ExpectRefused(Do(kFacilitator, "group.updated", {{"name", "x"}}), ErrorCode::kConflict,
                "archived");
  ExpectRefused(Do(kFacilitator, "group.archived"), ErrorCode::kConflict, "archived");
  ExpectRefused(Do(kMember, "group.unarchived"), ErrorCode::kPermissionDenied,
                "only facilitators can unarchive");
  EXPECT_TRUE(Ok(kFacilitator, "group.unarchived"));
  EXPECT_TRUE(Ok(kMember, "thread.created", {{"title", "T"}, {"body", "B"}}));
}

TEST_F(DecideTest, OpenGroupsAreJoinedDirectly) {
  MakeGroup("public", "open");
  ExpectRefused(Do(kOther, "member.joined", {{"member", "someone@c.example"}}),
                ErrorCode::kPermissionDenied, "for themselves");
  ExpectRefused(Do(kOther, "member.requested", {{"member", kOther}}), ErrorCode::kConflict,
                "open: join it directly");
  EXPECT_TRUE(Ok(kOther, "member.joined", {{"member", kOther}}));
  ExpectRefused(Do(kOther, "member.joined", {{"member", kOther}}), ErrorCode::kConflict,
                "already a member");
  EXPECT_TRUE(Ok(kOther, "member.left", {{"member", kOther}}));
  ExpectRefused(Do(kOther, "member.left", {{"member", kOther}}), ErrorCode::kConflict,
                "not a member");
}

TEST_F(DecideTest, RequestPolicyNeedsApproval) {
  MakeGroup("restricted", "request");
  ExpectRefused(Do(kOther, "member.joined", {{"member", kOther}}), ErrorCode::kPermissionDenied,
                "ask to join");
  ExpectRefused(Do(kOther, "member.requested", {{"member", "x@c.example"}}),
                ErrorCode::kPermissionDenied, "for themselves");
  EXPECT_TRUE(Ok(kOther, "member.requested", {{"member", kOther}, {"message", "Let me in"}}));
  ExpectRefused(Do(kOther, "member.requested", {{"member", kOther}}), ErrorCode::kConflict,
                "already asked");
  ExpectRefused(Do(kMember, "member.requested", {{"member", kMember}}), ErrorCode::kConflict,
                "already a member");
  ExpectRefused(Do(kMember, "member.approved", {{"member", kOther}}), ErrorCode::kPermissionDenied,
                "only facilitators can approve join requests");
  ExpectRefused(Do(kOther, "member.approved", {{"member", kOther}}), ErrorCode::kPermissionDenied,
                "only facilitators can approve join requests");
  ExpectRefused(Do(kFacilitator, "member.approved", {{"member", "nobody@c.example"}}),
                ErrorCode::kNotFound, "no pending join request");
  EXPECT_TRUE(Ok(kFacilitator, "member.approved", {{"member", kOther}}));
  ExpectRefused(Do(kFacilitator, "member.approved", {{"member", kOther}}), ErrorCode::kNotFound,
                "no pending join request");
  auto role = node_.groups().RoleOf(kStream, kOther);
  ASSERT_TRUE(role.ok());
  EXPECT_EQ(*role, Role::kMember);

  EXPECT_TRUE(Ok("dan@c.example", "member.requested", {{"member", "dan@c.example"}}));
  ExpectRefused(Do(kMember, "member.declined", {{"member", "dan@c.example"}}),
                ErrorCode::kPermissionDenied, "only facilitators can decline");
  EXPECT_TRUE(Ok(kFacilitator, "member.declined", {{"member", "dan@c.example"}}));
  auto requests = node_.groups().Requests(kStream);
  ASSERT_TRUE(requests.ok());
  EXPECT_TRUE(requests->empty());
}

TEST_F(DecideTest, InvitePolicyNeedsAnInvitation) {
  MakeGroup("private", "invite");
  ExpectRefused(Do(kOther, "member.joined", {{"member", kOther}}), ErrorCode::kPermissionDenied,
                "invite-only");
  ExpectRefused(Do(kOther, "member.requested", {{"member", kOther}}), ErrorCode::kPermissionDenied,
                "invite-only");
  ExpectRefused(Do(kMember, "member.invited", {{"member", kOther}}), ErrorCode::kPermissionDenied,
                "only facilitators can invite");
  ExpectRefused(Do(kFacilitator, "member.invited", {{"member", kMember}}), ErrorCode::kConflict,
                "already a member");
  EXPECT_TRUE(Ok(kFacilitator, "member.invited", {{"member", kOther}}));
  ExpectRefused(Do(kFacilitator, "member.invited", {{"member", kOther}}), ErrorCode::kConflict,
                "already invited");
  EXPECT_TRUE(Ok(kOther, "member.joined", {{"member", kOther}}));
  auto invites = node_.groups().Invites(kStream);
  ASSERT_TRUE(invites.ok());
  EXPECT_TRUE(invites->empty());
}

TEST_F(DecideTest, RolesAndOwners) {
  MakeGroup();
  ExpectRefused(Do(kMember, "member.role_changed", {{"member", kMember}, {"role", "facilitator"}}),
                ErrorCode::kPermissionDenied, "only facilitators can change members' roles");
  ExpectRefused(Do(kFacilitator, "member.role_changed", {{"member", kMember}, {"role", "owner"}}),
                ErrorCode::kPermissionDenied, "only owners can make or unmake owners");
  ExpectRefused(Do(kFacilitator, "member.role_changed", {{"member", kOwner}, {"role", "member"}}),
                ErrorCode::kPermissionDenied, "only owners can make or unmake owners");
  ExpectRefused(
      Do(kFacilitator, "member.role_changed", {{"member", "x@c.example"}, {"role", "member"}}),
      ErrorCode::kNotFound, "not a member");
  ExpectRefused(Do(kOwner, "member.role_changed", {{"member", kMember}, {"role", "member"}}),
                ErrorCode::kConflict, "already member");
  // The last owner can neither step down, leave nor be removed.
  ExpectRefused(Do(kOwner, "member.role_changed", {{"member", kOwner}, {"role", "member"}}),
                ErrorCode::kConflict, "a group must keep at least one owner");
  ExpectRefused(Do(kOwner, "member.left", {{"member", kOwner}}), ErrorCode::kConflict,
                "a group must keep at least one owner");
  ExpectRefused(Do(kOwner, "member.removed", {{"member", kOwner}}), ErrorCode::kConflict,
                "a group must keep at least one owner");
  ExpectRefused(Do(kFacilitator, "member.removed", {{"member", kOwner}}),
                ErrorCode::kPermissionDenied, "only owners can remove an owner");
  ExpectRefused(Do(kMember, "member.removed", {{"member", kFacilitator}}),
                ErrorCode::kPermissionDenied, "only facilitators can remove members");
  // With a second owner, the first may go.
  EXPECT_TRUE(Ok(kOwner, "member.role_changed", {{"member", kMember}, {"role", "owner"}}));
  EXPECT_TRUE(Ok(kOwner, "member.role_changed", {{"member", kOwner}, {"role", "facilitator"}}));
  EXPECT_TRUE(Ok(kMember, "member.removed", {{"member", kFacilitator}}));
  ExpectRefused(Do(kFacilitator, "thread.created", {{"title", "T"}, {"body", "B"}}),
                ErrorCode::kPermissionDenied, "only members");
  EXPECT_TRUE(Ok(kOwner, "member.left", {{"member", kOwner}}));
  auto members = node_.groups().Members(kStream);
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->size(), 1u);
  EXPECT_EQ((*members)[0].member, kMember);
  EXPECT_EQ((*members)[0].role, Role::kOwner);
}

TEST_F(DecideTest, ForumRules) {
  MakeGroup();
  ExpectRefused(Do(kOther, "thread.created", {{"title", "T"}, {"body", "B"}}),
                ErrorCode::kPermissionDenied, "only members can start threads");
  const int64_t thread = Seq(kMember, "thread.created", {{"title", "Potholes"}, {"body", "B"}});
  ExpectRefused(Do(kOther, "post.created", {{"thread", thread}, {"body", "x"}}),
                ErrorCode::kPermissionDenied, "only members can post");
  ExpectRefused(Do(kMember, "post.created", {{"thread", 999}, {"body", "x"}}), ErrorCode::kNotFound,
                "no thread 999");
  const int64_t reply = Seq(kFacilitator, "post.created", {{"thread", thread}, {"body", "Reply"}});

  // Edit: the author or a facilitator.
  ExpectRefused(Do(kMember, "post.edited", {{"post", reply}, {"body", "mine now"}}),
                ErrorCode::kPermissionDenied, "only the author or a facilitator can edit a post");
  EXPECT_TRUE(Ok(kFacilitator, "post.edited", {{"post", reply}, {"body", "Edited"}}));
  EXPECT_TRUE(Ok(kFacilitator, "post.edited", {{"post", thread}, {"body", "Fixed"}}));
  EXPECT_TRUE(Ok(kMember, "post.edited", {{"post", thread}, {"body", "B2"}, {"title", "Holes"}}));
  ExpectRefused(Do(kFacilitator, "post.edited", {{"post", reply}, {"body", "x"}, {"title", "T"}}),
                ErrorCode::kInvalidArgument, "first post");
  ExpectRefused(Do(kMember, "post.edited", {{"post", 999}, {"body", "x"}}), ErrorCode::kNotFound,
                "no post 999");

  // Pin and lock: facilitators.
  ExpectRefused(Do(kMember, "thread.pinned", {{"thread", thread}, {"pinned", true}}),
                ErrorCode::kPermissionDenied, "only facilitators can pin");
  ExpectRefused(Do(kMember, "thread.locked", {{"thread", thread}, {"locked", true}}),
                ErrorCode::kPermissionDenied, "only facilitators can lock");
  ExpectRefused(Do(kFacilitator, "thread.locked", {{"thread", 999}, {"locked", true}}),
                ErrorCode::kNotFound, "no thread");
  EXPECT_TRUE(Ok(kFacilitator, "thread.pinned", {{"thread", thread}, {"pinned", true}}));
  EXPECT_TRUE(Ok(kFacilitator, "thread.locked", {{"thread", thread}, {"locked", true}}));
  auto locked = Do(kMember, "post.created", {{"thread", thread}, {"body", "x"}});
  ExpectRefused(locked, ErrorCode::kConflict, "the thread is locked");
  EXPECT_EQ(locked.error().Name(), "failed_precondition");
  ExpectRefused(Do(kMember, "post.edited", {{"post", thread}, {"body", "x"}}), ErrorCode::kConflict,
                "locked");
  EXPECT_TRUE(Ok(kFacilitator, "post.created", {{"thread", thread}, {"body", "Closing"}}));
  EXPECT_TRUE(Ok(kFacilitator, "thread.locked", {{"thread", thread}, {"locked", false}}));

  // Delete: the author or a facilitator; deleted posts and threads stay deleted.
  ExpectRefused(Do(kMember, "post.deleted", {{"post", reply}}), ErrorCode::kPermissionDenied,
                "only the author or a facilitator can delete a post");
  EXPECT_TRUE(Ok(kFacilitator, "post.deleted", {{"post", reply}}));
  ExpectRefused(Do(kFacilitator, "post.deleted", {{"post", reply}}), ErrorCode::kConflict,
                "deleted");
  ExpectRefused(Do(kFacilitator, "post.edited", {{"post", reply}, {"body", "x"}}),
                ErrorCode::kConflict, "deleted");
  EXPECT_TRUE(Ok(kMember, "post.deleted", {{"post", thread}}));
  ExpectRefused(Do(kMember, "post.created", {{"thread", thread}, {"body", "x"}}),
                ErrorCode::kConflict, "the thread was deleted");
  ExpectRefused(Do(kFacilitator, "thread.pinned", {{"thread", thread}, {"pinned", false}}),
                ErrorCode::kConflict, "deleted");
}

json File(std::string_view title = "Plan") {
  return {{"title", title},
          {"description", "The plan"},
          {"tags", {"plans"}},
          {"sha256", std::string(64, 'a')},
          {"size", 3},
          {"media_type", "text/plain"},
          {"filename", "plan.txt"}};
}

json Version(int64_t document) {
  return {{"document", document},
          {"sha256", std::string(64, 'b')},
          {"size", 4},
          {"media_type", "text/plain"},
          {"filename", "plan-2.txt"}};
}

TEST_F(DecideTest, LibraryRules) {
  MakeGroup();
  ExpectRefused(Do(kOther, "file.added", File()), ErrorCode::kPermissionDenied,
                "only members can add documents");
  const int64_t doc = Seq(kFacilitator, "file.added", File());
  ExpectRefused(Do(kOther, "file.version_added", Version(doc)), ErrorCode::kPermissionDenied,
                "only members");
  ExpectRefused(Do(kMember, "file.version_added", Version(999)), ErrorCode::kNotFound,
                "no document 999");
  EXPECT_TRUE(Ok(kMember, "file.version_added", Version(doc)));
  ExpectRefused(Do(kMember, "file.updated", {{"document", doc}, {"title", "Mine"}}),
                ErrorCode::kPermissionDenied, "only the author or a facilitator can edit");
  ExpectRefused(Do(kMember, "file.removed", {{"document", doc}}), ErrorCode::kPermissionDenied,
                "only the author or a facilitator can remove");
  EXPECT_TRUE(Ok(kFacilitator, "file.updated", {{"document", doc}, {"title", "Plan B"}}));
  const int64_t mine = Seq(kMember, "file.added", File("Mine"));
  EXPECT_TRUE(Ok(kMember, "file.updated", {{"document", mine}, {"tags", {"z", "a", "z"}}}));
  EXPECT_TRUE(Ok(kFacilitator, "file.removed", {{"document", mine}}));
  ExpectRefused(Do(kMember, "file.version_added", Version(mine)), ErrorCode::kConflict, "removed");
  ExpectRefused(Do(kFacilitator, "file.removed", {{"document", mine}}), ErrorCode::kConflict,
                "removed");
}

TEST_F(DecideTest, BadCommandsAreInvalid) {
  MakeGroup();
  ExpectRefused(Do(kMember, "post.exploded", json::object()), ErrorCode::kInvalidArgument,
                "unknown");
  ExpectRefused(Do("not an address", "thread.created", {{"title", "T"}, {"body", "B"}}),
                ErrorCode::kInvalidArgument, "actor");
  ExpectRefused(Do(kMember, "thread.created", {{"title", 5}, {"body", "B"}}),
                ErrorCode::kInvalidArgument, "title");
  Command command{kStream, "thread.created", kMember, {{"title", "T"}, {"body", "B"}}, "bad id!"};
  auto checked = node_.groups().Check(command);
  ExpectRefused(checked, ErrorCode::kInvalidArgument, "command_id");
  EXPECT_TRUE(ValidateCommandId("abc-DEF_123").ok());
  EXPECT_FALSE(ValidateCommandId("").ok());
  EXPECT_FALSE(ValidateCommandId(std::string(101, 'a')).ok());
}

TEST_F(DecideTest, CheckAnswersWhatAppendWould) {
  MakeGroup();
  GroupStore& groups = node_.groups();
  EXPECT_TRUE(
      groups.Check({kStream, "thread.created", kMember, {{"title", "T"}, {"body", "B"}}, "c1"})
          .ok());
  ExpectRefused(groups.Check({kStream, "member.approved", kMember, {{"member", kOther}}, "c2"}),
                ErrorCode::kPermissionDenied, "only facilitators can approve join requests");
  ExpectRefused(groups.Check({"group:other@b.example",
                              "thread.created",
                              kMember,
                              {{"title", "T"}, {"body", "B"}},
                              "c3"}),
                ErrorCode::kNotFound, "no group other@b.example");
  EXPECT_TRUE(
      groups.Check({"group:new@a.example", "group.created", kOwner, NewGroup(), "c4"}).ok());
  // Nothing was written by Check.
  auto head = groups.Head(kStream);
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(*head, 6);
  EXPECT_EQ(*groups.Head("group:new@a.example"), 0);
}

}  // namespace
}  // namespace kith::groups
