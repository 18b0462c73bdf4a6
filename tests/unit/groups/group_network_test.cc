#include "groups/event.h"

#include <gtest/gtest.h>

#include <string>

#include "groups/directory.h"
#include "groups/group_store.h"
#include "groups/search.h"
#include "groups_test_util.h"

namespace kith::groups {
namespace {

using nlohmann::json;
using testing::NewGroup;
using testing::Node;

constexpr const char* kStream = "group:roads@a.example";
constexpr const char* kOwner = "olivia@a.example";
constexpr const char* kNetwork = "https://is.example/networks/spsn";

TEST(GroupNetworkTest, NetworkIdsAreCheckedForTheirForm) {
  for (const char* good : {"https://is.example/networks/spsn", "http://127.0.0.1:8401/networks/uk",
                           "https://is.example", "https://is.example:8443/networks/a-b"}) {
    EXPECT_TRUE(ValidateNetworkId(good).ok()) << good;
  }
  const std::string too_long = "https://is.example/" + std::string(kMaxNetworkId, 'a');
  for (const std::string& bad :
       {std::string(), std::string("is.example/networks/spsn"), std::string("ftp://is.example"),
        std::string("https://"), std::string("https:///networks/x"),
        std::string("https://is.example/networks/"), std::string("https://is.example/n?x=1"),
        std::string("https://is.example/n#f"), std::string("https://u@is.example/n"),
        std::string("https://is.example/a b"), std::string("https://is.example/\x01"),
        std::string("https://is.example/caf\xc3\xa9"), std::string("https://:443/n"), too_long}) {
    auto status = ValidateNetworkId(bad);
    ASSERT_FALSE(status.ok()) << bad;
    EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
    EXPECT_TRUE(status.error().message.starts_with("network:")) << status.error().message;
  }
}

TEST(GroupNetworkTest, EventDataTakesANetworkOrNull) {
  json created = NewGroup();
  created["network"] = kNetwork;
  EXPECT_TRUE(ValidateEventData(event_type::kGroupCreated, created).ok());
  created["network"] = nullptr;
  EXPECT_TRUE(ValidateEventData(event_type::kGroupCreated, created).ok());
  created["network"] = 7;
  EXPECT_FALSE(ValidateEventData(event_type::kGroupCreated, created).ok());
  created["network"] = "not a url";
  EXPECT_FALSE(ValidateEventData(event_type::kGroupCreated, created).ok());

  // group.updated: the network alone is a change; null lifts the scope.
  EXPECT_TRUE(ValidateEventData(event_type::kGroupUpdated, {{"network", kNetwork}}).ok());
  EXPECT_TRUE(ValidateEventData(event_type::kGroupUpdated, {{"network", nullptr}}).ok());
  EXPECT_FALSE(ValidateEventData(event_type::kGroupUpdated, {{"network", "https://x/"}}).ok());
}

class GroupNetworkStoreTest : public ::testing::Test {
 protected:
  Event Do(Node& node, std::string_view actor, std::string_view type, json data) {
    auto r = node.Do(kStream, std::string(type), std::string(actor), std::move(data));
    EXPECT_TRUE(r.ok()) << type << ": " << r.error().message;
    node.clock().Advance(std::chrono::seconds(1));
    return r.ok() ? *r : Event{};
  }

  void Sync() {
    auto head = b_.groups().Head(kStream);
    ASSERT_TRUE(head.ok());
    auto events = a_.groups().EventsAfter(kStream, *head, 1000);
    ASSERT_TRUE(events.ok()) << events.error().message;
    if (events->empty()) return;
    auto report = b_.Apply(kStream, "a.example", std::move(events).value());
    ASSERT_TRUE(report.ok()) << report.error().message;
  }

  std::string Digest(Node& node) {
    auto digest = node.groups().Digest(kStream);
    EXPECT_TRUE(digest.ok());
    return digest.ok() ? *digest : "";
  }

  Node a_{"a.example"};
  Node b_{"b.example"};
};

TEST_F(GroupNetworkStoreTest, TheNetworkTravelsInEventsAndTheReducerKeepsIt) {
  json created = NewGroup();
  created["network"] = kNetwork;
  Event first = Do(a_, kOwner, event_type::kGroupCreated, created);
  EXPECT_EQ(first.data["network"], kNetwork);
  auto group = a_.groups().GetGroup(kStream);
  ASSERT_TRUE(group.ok());
  EXPECT_EQ(group->network, kNetwork);

  // The mirror reaches the same state from the same events.
  Sync();
  auto mirrored = b_.groups().GetGroup(kStream);
  ASSERT_TRUE(mirrored.ok());
  EXPECT_EQ(mirrored->network, kNetwork);
  EXPECT_EQ(Digest(a_), Digest(b_));

  // An update without the field keeps the scope; another network replaces it; null lifts it.
  Do(a_, kOwner, event_type::kGroupUpdated, {{"name", "Roads"}});
  EXPECT_EQ(a_.groups().GetGroup(kStream)->network, kNetwork);
  const std::string other = "https://lga.example/networks/england";
  Do(a_, kOwner, event_type::kGroupUpdated, {{"network", other}});
  EXPECT_EQ(a_.groups().GetGroup(kStream)->network, other);
  Sync();
  EXPECT_EQ(b_.groups().GetGroup(kStream)->network, other);
  EXPECT_EQ(Digest(a_), Digest(b_));
  Event lifted = Do(a_, kOwner, event_type::kGroupUpdated, {{"network", nullptr}});
  EXPECT_TRUE(lifted.data.contains("network"));
  EXPECT_TRUE(lifted.data["network"].is_null());
  EXPECT_EQ(a_.groups().GetGroup(kStream)->network, "");
  Sync();
  EXPECT_EQ(b_.groups().GetGroup(kStream)->network, "");
  EXPECT_EQ(Digest(a_), Digest(b_));
}

TEST_F(GroupNetworkStoreTest, AGroupWithoutANetworkKeepsItsDigestAndEvents) {
  json created = NewGroup();
  created["network"] = nullptr;  // null at creation: no scope, not stored in the event
  Event first = Do(a_, kOwner, event_type::kGroupCreated, created);
  EXPECT_FALSE(first.data.contains("network"));
  EXPECT_EQ(a_.groups().GetGroup(kStream)->network, "");

  // The same group created without the field has the same digest: unscoped groups' digests
  // did not change when groups gained a network.
  Node c{"a.example"};
  auto again = c.Do(kStream, std::string(event_type::kGroupCreated), kOwner, NewGroup());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(Digest(a_), Digest(c));
}

TEST_F(GroupNetworkStoreTest, OnlyAFacilitatorChangesTheNetwork) {
  json created = NewGroup();
  Do(a_, kOwner, event_type::kGroupCreated, created);
  Do(a_, "bob@a.example", event_type::kMemberJoined, {{"member", "bob@a.example"}});
  auto refused = a_.Do(kStream, std::string(event_type::kGroupUpdated), "bob@a.example",
                       {{"network", kNetwork}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(a_.groups().GetGroup(kStream)->network, "");
}

TEST_F(GroupNetworkStoreTest, AScopedGroupIsNotListedInTheDirectoryStream) {
  json created = NewGroup("public");
  created["network"] = kNetwork;
  Do(a_, kOwner, event_type::kGroupCreated, created);
  auto group = a_.groups().GetGroup(kStream);
  ASSERT_TRUE(group.ok());
  DirectoryChange change = DirectoryEventsForGroup(*group);
  EXPECT_EQ(change.type, directory_event::kGroupUnlisted);
  EXPECT_EQ(change.data, json({{"group", "roads@a.example"}}));

  // Lifting the scope lists it again.
  Do(a_, kOwner, event_type::kGroupUpdated, {{"network", nullptr}});
  change = DirectoryEventsForGroup(*a_.groups().GetGroup(kStream));
  EXPECT_EQ(change.type, directory_event::kGroupListed);
}

TEST_F(GroupNetworkStoreTest, ScopedGroupsAreListedAndFoundOnlyByThisNodesViewersAndMembers) {
  json created = NewGroup("public");
  created["name"] = "Roads network";
  created["network"] = kNetwork;
  Do(a_, kOwner, event_type::kGroupCreated, created);
  Do(a_, "carol@c.example", event_type::kMemberJoined, {{"member", "carol@c.example"}});
  Do(a_, kOwner, event_type::kThreadCreated, {{"title", "Potholes"}, {"body", "Many potholes"}});

  auto listed = [&](std::string_view viewer) {
    auto list = a_.groups().ListGroups(viewer);
    EXPECT_TRUE(list.ok());
    return list.ok() && list->size() == 1;
  };
  EXPECT_TRUE(listed("dan@a.example"));    // a member of this node
  EXPECT_TRUE(listed("carol@c.example"));  // a member of the group from another node
  EXPECT_FALSE(listed("bob@b.example"));   // another node's member, not in the group

  Searcher searcher(a_.store(), "a.example");
  auto found = [&](std::string_view viewer, std::string_view query) {
    auto page = searcher.Search(viewer, query, SearchFilters{}, 10, 0);
    EXPECT_TRUE(page.ok()) << page.error().message;
    return page.ok() ? page->hits.size() : size_t{0};
  };
  EXPECT_EQ(found("dan@a.example", "roads network"), 1u);
  EXPECT_GT(found("dan@a.example", "potholes"), 0u);
  EXPECT_GT(found("carol@c.example", "potholes"), 0u);
  EXPECT_EQ(found("bob@b.example", "roads network"), 0u);
  EXPECT_EQ(found("bob@b.example", "potholes"), 0u);
  EXPECT_EQ(found("", "potholes"), 0u);

  // Without the scope, the public group is everyone's to find again.
  Do(a_, kOwner, event_type::kGroupUpdated, {{"network", nullptr}});
  EXPECT_TRUE(listed("bob@b.example"));
  EXPECT_EQ(found("bob@b.example", "roads network"), 1u);
}

}  // namespace
}  // namespace kith::groups
