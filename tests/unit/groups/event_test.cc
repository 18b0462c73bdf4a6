#include "groups/event.h"

#include <gtest/gtest.h>

#include <string>

namespace kith::groups {
namespace {

using nlohmann::json;

void ExpectInvalid(const Status& status, std::string_view mentions) {
  ASSERT_FALSE(status.ok()) << "expected a refusal mentioning " << mentions;
  EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(status.error().message.find(mentions), std::string::npos) << status.error().message;
}

TEST(EventNamesTest, EnumsRoundTrip) {
  for (auto v : {Visibility::kPublic, Visibility::kRestricted, Visibility::kPrivate})
    EXPECT_EQ(*ParseVisibility(VisibilityName(v)), v);
  for (auto p : {JoinPolicy::kOpen, JoinPolicy::kRequest, JoinPolicy::kInvite})
    EXPECT_EQ(*ParseJoinPolicy(JoinPolicyName(p)), p);
  for (auto s : {GroupStatus::kActive, GroupStatus::kArchived})
    EXPECT_EQ(*ParseGroupStatus(GroupStatusName(s)), s);
  for (auto r : {Role::kMember, Role::kFacilitator, Role::kOwner})
    EXPECT_EQ(*ParseRole(RoleName(r)), r);
  EXPECT_FALSE(ParseVisibility("secret").ok());
  EXPECT_FALSE(ParseJoinPolicy("").ok());
  EXPECT_FALSE(ParseGroupStatus("Active").ok());
  EXPECT_FALSE(ParseRole("admin").ok());
  EXPECT_LT(Role::kMember, Role::kFacilitator);
  EXPECT_LT(Role::kFacilitator, Role::kOwner);
  EXPECT_TRUE(IsKnownEventType("post.created"));
  EXPECT_FALSE(IsKnownEventType("post.exploded"));
}

TEST(EventNamesTest, StreamsAndSlugs) {
  auto ref = ParseGroupStream("group:roads-2@council-a.example");
  ASSERT_TRUE(ref.ok()) << ref.error().message;
  EXPECT_EQ(ref->slug, "roads-2");
  EXPECT_EQ(ref->domain, "council-a.example");
  EXPECT_EQ(ref->Id(), "roads-2@council-a.example");
  EXPECT_EQ(ref->Stream(), "group:roads-2@council-a.example");
  EXPECT_TRUE(ParseGroupStream("group:x@127.0.0.1:8402").ok());
  EXPECT_EQ(ParseGroupId("roads@a.example")->Stream(), "group:roads@a.example");
  for (std::string_view bad :
       {"", "group:", "roads@a.example", "group:@a.example", "group:roads@",
        "group:Roads@a.example", "group:-roads@a.example", "group:ro ads@a.example",
        "group:roads@a b", "directory@a.example", "group:roads@a.example/x"}) {
    EXPECT_FALSE(ParseGroupStream(bad).ok()) << bad;
  }
  EXPECT_TRUE(ValidateSlug(std::string(kMaxSlug, 'a')).ok());
  ExpectInvalid(ValidateSlug(std::string(kMaxSlug + 1, 'a')), "slug");
  ExpectInvalid(ValidateSlug("a_b"), "slug");
  ExpectInvalid(ValidateSlug(""), "slug");
}

TEST(EventNamesTest, AddressDomains) {
  EXPECT_EQ(*AddressDomain("alice@council-a.example"), "council-a.example");
  EXPECT_EQ(*AddressDomain("bob.smith_1@127.0.0.1:8402"), "127.0.0.1:8402");
  for (std::string_view bad : {"", "alice", "@a.example", "alice@", "Alice@a.example",
                               "al ice@a.example", "alice@a/b", "a@b@c", "alice@a\nb"}) {
    EXPECT_FALSE(AddressDomain(bad).ok()) << bad;
  }
}

json WireEvent() {
  return {{"seq", 3},
          {"type", "post.created"},
          {"actor", "alice@a.example"},
          {"at", 1700000000},
          {"data", {{"thread", 2}, {"body", "Hello"}}}};
}

TEST(EventJsonTest, RoundTrip) {
  auto e = EventFromJson("group:roads@a.example", WireEvent());
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->stream, "group:roads@a.example");
  EXPECT_EQ(e->seq, 3);
  EXPECT_EQ(e->type, "post.created");
  EXPECT_EQ(e->actor, "alice@a.example");
  EXPECT_EQ(e->at, 1700000000);
  EXPECT_EQ(e->data["body"], "Hello");
  EXPECT_EQ(e->ToJson(), WireEvent());
}

TEST(EventJsonTest, BadShapesAreRefused) {
  const std::string stream = "group:roads@a.example";
  auto not_object = EventFromJson(stream, json::array());
  ASSERT_FALSE(not_object.ok());
  EXPECT_NE(not_object.error().message.find("object"), std::string::npos);
  struct Case {
    const char* field;
    json value;  // null = remove the field
    const char* mentions;
  };
  const Case cases[] = {
      {"seq", nullptr, "seq"},
      {"seq", 0, "seq"},
      {"seq", -1, "seq"},
      {"seq", "3", "seq"},
      {"seq", 3.5, "seq"},
      {"seq", json(uint64_t{1} << 63), "seq"},
      {"type", nullptr, "type"},
      {"type", "post.exploded", "unknown event type"},
      {"type", 7, "type"},
      {"actor", nullptr, "actor"},
      {"actor", "alice", "actor"},
      {"actor", json::array(), "actor"},
      {"at", nullptr, "at"},
      {"at", -5, "at"},
      {"at", "now", "at"},
      {"data", nullptr, "data"},
      {"data", json::array(), "data"},
      {"data", "x", "data"},
  };
  for (const Case& c : cases) {
    json j = WireEvent();
    if (c.value.is_null()) {
      j.erase(c.field);
    } else {
      j[c.field] = c.value;
    }
    auto e = EventFromJson(stream, j);
    ASSERT_FALSE(e.ok()) << j.dump();
    EXPECT_EQ(e.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(e.error().message.find(c.mentions), std::string::npos)
        << j.dump() << " -> " << e.error().message;
  }
  json big = WireEvent();
  big["data"]["body"] = std::string(kMaxEventBytes, 'x');
  auto e = EventFromJson(stream, big);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("larger"), std::string::npos);
}

TEST(EventDataTest, EveryTypeAcceptsItsShape) {
  const std::string sha(64, 'a');
  const std::pair<std::string_view, json> good[] = {
      {event_type::kGroupCreated,
       {{"name", "Roads"}, {"visibility", "public"}, {"join_policy", "open"}}},
      {event_type::kGroupCreated,
       {{"name", "Roads"},
        {"description", "Line\nline"},
        {"tags", {"a", "b"}},
        {"visibility", "private"},
        {"join_policy", "invite"}}},
      {event_type::kGroupUpdated, {{"description", ""}}},
      {event_type::kGroupArchived, json::object()},
      {event_type::kGroupUnarchived, json::object()},
      {event_type::kMemberRequested, {{"member", "bob@b.example"}, {"message", "Please"}}},
      {event_type::kMemberRequested, {{"member", "bob@b.example"}}},
      {event_type::kMemberApproved, {{"member", "bob@b.example"}}},
      {event_type::kMemberDeclined, {{"member", "bob@b.example"}}},
      {event_type::kMemberInvited, {{"member", "bob@b.example"}}},
      {event_type::kMemberJoined, {{"member", "bob@b.example"}}},
      {event_type::kMemberRoleChanged, {{"member", "bob@b.example"}, {"role", "facilitator"}}},
      {event_type::kMemberLeft, {{"member", "bob@b.example"}}},
      {event_type::kMemberRemoved, {{"member", "bob@b.example"}}},
      {event_type::kThreadCreated, {{"title", "Potholes"}, {"body", "# Hi\n\n\tcode"}}},
      {event_type::kPostCreated, {{"thread", 2}, {"body", "Reply"}}},
      {event_type::kPostEdited, {{"post", 2}, {"body", "Edited"}, {"title", "New"}}},
      {event_type::kPostDeleted, {{"post", 2}}},
      {event_type::kThreadPinned, {{"thread", 2}, {"pinned", true}}},
      {event_type::kThreadLocked, {{"thread", 2}, {"locked", false}}},
      {event_type::kFileAdded,
       {{"title", "Plan"},
        {"sha256", sha},
        {"size", 0},
        {"media_type", "application/pdf"},
        {"filename", "plan.pdf"}}},
      {event_type::kFileVersionAdded,
       {{"document", 4},
        {"sha256", sha},
        {"size", 10},
        {"media_type", "text/plain; charset=utf-8"},
        {"filename", "plan v2.txt"}}},
      {event_type::kFileUpdated, {{"document", 4}, {"tags", json::array()}}},
      {event_type::kFileRemoved, {{"document", 4}}},
  };
  for (const auto& [type, data] : good) {
    auto status = ValidateEventData(type, data);
    EXPECT_TRUE(status.ok()) << type << " " << data.dump() << ": " << status.error().message;
  }
}

TEST(EventDataTest, BadDataNamesTheField) {
  const json group = {{"name", "Roads"}, {"visibility", "public"}, {"join_policy", "open"}};
  auto with = [&](const char* field, json value) {
    json j = group;
    if (value.is_null()) {
      j.erase(field);
    } else {
      j[field] = value;
    }
    return j;
  };
  const auto created = event_type::kGroupCreated;
  ExpectInvalid(ValidateEventData(created, json::array()), "data");
  ExpectInvalid(ValidateEventData(created, with("name", nullptr)), "name");
  ExpectInvalid(ValidateEventData(created, with("name", 5)), "name");
  ExpectInvalid(ValidateEventData(created, with("name", "")), "name");
  ExpectInvalid(ValidateEventData(created, with("name", "   ")), "name");
  ExpectInvalid(ValidateEventData(created, with("name", std::string(kMaxGroupName + 1, 'x'))),
                "name");
  // Limits count code points, not bytes: 120 two-byte characters fit.
  std::string accents;
  for (size_t i = 0; i < kMaxGroupName; ++i) accents += "\xc3\xa9";
  EXPECT_TRUE(ValidateEventData(created, with("name", accents)).ok());
  ExpectInvalid(ValidateEventData(created, with("name", "Bad\x01name")), "name");
  ExpectInvalid(ValidateEventData(created, with("name", "Two\nlines")), "name");
  ExpectInvalid(ValidateEventData(created, with("name", "\xff\xfe")), "UTF-8");
  ExpectInvalid(ValidateEventData(created, with("visibility", "secret")), "visibility");
  ExpectInvalid(ValidateEventData(created, with("visibility", nullptr)), "visibility");
  ExpectInvalid(ValidateEventData(created, with("join_policy", true)), "join_policy");
  ExpectInvalid(ValidateEventData(created, with("tags", "a,b")), "tags");
  ExpectInvalid(ValidateEventData(created, with("tags", {"a", 1})), "tags");
  ExpectInvalid(ValidateEventData(created, with("tags", {std::string(kMaxTag + 1, 't')})), "tags");
  ExpectInvalid(ValidateEventData(created, with("tags", {""})), "tags");
  json many = json::array();
  for (size_t i = 0; i <= kMaxTags; ++i) many.push_back("t" + std::to_string(i));
  ExpectInvalid(ValidateEventData(created, with("tags", many)), "tags");
  ExpectInvalid(
      ValidateEventData(created, with("description", std::string(kMaxDescription + 1, 'd'))),
      "description");

  ExpectInvalid(ValidateEventData(event_type::kGroupUpdated, json::object()), "nothing to update");
  ExpectInvalid(ValidateEventData(event_type::kMemberJoined, json::object()), "member");
  ExpectInvalid(ValidateEventData(event_type::kMemberJoined, {{"member", "bob"}}), "member");
  ExpectInvalid(ValidateEventData(event_type::kMemberJoined, {{"member", 1}}), "member");
  ExpectInvalid(ValidateEventData(
                    event_type::kMemberRequested,
                    {{"member", "bob@b.example"}, {"message", std::string(kMaxMessage + 1, 'm')}}),
                "message");
  ExpectInvalid(ValidateEventData(event_type::kMemberRoleChanged,
                                  {{"member", "bob@b.example"}, {"role", "admin"}}),
                "role");
  ExpectInvalid(ValidateEventData(event_type::kThreadCreated, {{"title", "T"}}), "body");
  ExpectInvalid(ValidateEventData(event_type::kThreadCreated,
                                  {{"title", "T"}, {"body", std::string(kMaxBody + 1, 'b')}}),
                "body");
  ExpectInvalid(ValidateEventData(event_type::kThreadCreated, {{"title", "T\n"}, {"body", "ok"}}),
                "title");
  ExpectInvalid(ValidateEventData(event_type::kThreadCreated, {{"title", "T"}, {"body", "a\x07"}}),
                "body");
  ExpectInvalid(ValidateEventData(event_type::kPostCreated, {{"thread", "2"}, {"body", "x"}}),
                "thread");
  ExpectInvalid(ValidateEventData(event_type::kPostCreated, {{"thread", 0}, {"body", "x"}}),
                "thread");
  ExpectInvalid(ValidateEventData(event_type::kPostCreated, {{"thread", 1.5}, {"body", "x"}}),
                "thread");
  ExpectInvalid(ValidateEventData(event_type::kPostDeleted, json::object()), "post");
  ExpectInvalid(ValidateEventData(event_type::kThreadPinned, {{"thread", 2}, {"pinned", 1}}),
                "pinned");
  ExpectInvalid(ValidateEventData(event_type::kThreadLocked, {{"thread", 2}}), "locked");

  const json file = {{"title", "Plan"},
                     {"sha256", std::string(64, 'a')},
                     {"size", 3},
                     {"media_type", "text/plain"},
                     {"filename", "plan.txt"}};
  auto file_with = [&](const char* field, json value) {
    json j = file;
    j[field] = value;
    return j;
  };
  const auto added = event_type::kFileAdded;
  ExpectInvalid(ValidateEventData(added, file_with("sha256", std::string(64, 'A'))), "sha256");
  ExpectInvalid(ValidateEventData(added, file_with("sha256", "abc")), "sha256");
  ExpectInvalid(ValidateEventData(added, file_with("size", -1)), "size");
  ExpectInvalid(ValidateEventData(added, file_with("size", "3")), "size");
  ExpectInvalid(ValidateEventData(added, file_with("media_type", "textplain")), "media_type");
  ExpectInvalid(ValidateEventData(added, file_with("filename", "../etc/passwd")), "filename");
  ExpectInvalid(ValidateEventData(added, file_with("filename", "")), "filename");
  ExpectInvalid(ValidateEventData(added, file_with("filename", std::string(kMaxFilename + 1, 'f'))),
                "filename");
  ExpectInvalid(ValidateEventData(event_type::kFileUpdated, {{"document", 4}}),
                "nothing to update");
  ExpectInvalid(ValidateEventData("file.exploded", json::object()), "type");
}

}  // namespace
}  // namespace kith::groups
