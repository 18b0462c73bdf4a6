#include "groups/directory.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "groups_test_util.h"
#include "identity/member_store.h"

namespace kith::groups {
namespace {

using nlohmann::json;
using testing::Await;
using testing::Node;

json Profile(std::string address, std::string name = "Alice Smith") {
  return {{"address", std::move(address)},
          {"display_name", std::move(name)},
          {"organisation", "Fife Council"},
          {"job_title", "Roads engineer"},
          {"bio", "Potholes.\nBridges."}};
}

json Listed(std::string ref, std::string visibility = "public") {
  return {{"group", std::move(ref)}, {"name", "Roads"},          {"description", "About roads"},
          {"tags", {"b", "a"}},      {"visibility", visibility}, {"join_policy", "open"},
          {"status", "active"},      {"member_count", 3}};
}

// A node with its directory.
struct DirNode {
  explicit DirNode(std::string domain)
      : node(domain),
        directory(node.store(), node.clock(), domain),
        members(node.store(), node.clock()) {}

  Result<std::optional<Event>> Publish(std::string type, std::string actor, json data) {
    DirectoryChange change{std::move(type), std::move(actor), std::move(data)};
    return Await<std::optional<Event>>([&](identity::Done<std::optional<Event>> done) {
      directory.Publish(std::move(change), std::move(done));
    });
  }
  Result<ApplyReport> Apply(std::string stream, std::vector<Event> events) {
    return Await<ApplyReport>([&](identity::Done<ApplyReport> done) {
      directory.ApplyRemote(std::move(stream), std::move(events), std::move(done));
    });
  }
  identity::Member AddMember(std::string handle, identity::DirectoryVisibility visibility) {
    identity::NewMember m;
    m.handle = handle;
    m.display_name = "Person " + handle;
    m.email = handle + "@example.org";
    m.organisation = "Fife Council";
    m.visibility = visibility;
    auto added = Await<identity::Member>(
        [&](identity::Done<identity::Member> done) { members.Add(m, std::move(done)); });
    EXPECT_TRUE(added.ok()) << added.error().message;
    return added.ok() ? *added : identity::Member{};
  }

  Node node;
  DirectoryStore directory;
  identity::MemberStore members;
};

TEST(DirectoryStreamName, RoundTrips) {
  EXPECT_EQ(DirectoryStream("a.example"), "directory@a.example");
  auto owner = ParseDirectoryStream("directory@a.example:8443");
  ASSERT_TRUE(owner.ok());
  EXPECT_EQ(*owner, "a.example:8443");
  EXPECT_FALSE(ParseDirectoryStream("directory@").ok());
  EXPECT_FALSE(ParseDirectoryStream("group:x@a.example").ok());
  EXPECT_FALSE(ParseDirectoryStream("directory@a@b").ok());
  EXPECT_FALSE(ParseDirectoryStream("directory@a b").ok());
}

TEST(DirectoryValidation, AcceptsGoodEvents) {
  EXPECT_TRUE(
      ValidateDirectoryEventData("profile.published", Profile("alice@a.example"), "a.example")
          .ok());
  EXPECT_TRUE(
      ValidateDirectoryEventData("profile.removed", {{"address", "alice@a.example"}}, "a.example")
          .ok());
  EXPECT_TRUE(
      ValidateDirectoryEventData("group.listed", Listed("roads@a.example"), "a.example").ok());
  EXPECT_TRUE(
      ValidateDirectoryEventData("group.unlisted", {{"group", "roads@a.example"}}, "a.example")
          .ok());
}

TEST(DirectoryValidation, RefusesBadData) {
  auto refused = [](std::string_view type, const json& data, std::string_view field) {
    auto status = ValidateDirectoryEventData(type, data, "a.example");
    ASSERT_FALSE(status.ok()) << data.dump();
    EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(status.error().message.find(field), std::string::npos) << status.error().message;
  };
  // A node speaks for its own members and groups only.
  refused("profile.published", Profile("alice@b.example"), "address");
  refused("profile.published", Profile("Alice@a.example"), "address");
  refused("profile.published", Profile("not-an-address"), "address");
  json no_name = Profile("alice@a.example");
  no_name.erase("display_name");
  refused("profile.published", no_name, "display_name");
  json long_bio = Profile("alice@a.example");
  long_bio["bio"] = std::string(identity::kMaxBio + 1, 'x');
  refused("profile.published", long_bio, "bio");
  json control = Profile("alice@a.example");
  control["job_title"] = "a\x01z";
  refused("profile.published", control, "job_title");
  json number = Profile("alice@a.example");
  number["organisation"] = 5;
  refused("profile.published", number, "organisation");
  refused("group.listed", Listed("roads@a.example", "private"), "visibility");
  refused("group.listed", Listed("roads@b.example"), "group");
  refused("group.listed", Listed("Bad Slug@a.example"), "group");
  json negative = Listed("roads@a.example");
  negative["member_count"] = -1;
  refused("group.listed", negative, "member_count");
  json status = Listed("roads@a.example");
  status["status"] = "gone";
  refused("group.listed", status, "status");
  json tags = Listed("roads@a.example");
  tags["tags"] = json::array({1});
  refused("group.listed", tags, "tags");
  refused("group.created", json::object(), "type");
  refused("profile.removed", json::array(), "data");
}

TEST(DirectoryValidation, ParsesWireEvents) {
  json wire = {{"seq", 1},
               {"type", "profile.published"},
               {"actor", "alice@a.example"},
               {"at", 10},
               {"data", Profile("alice@a.example")}};
  auto event = DirectoryEventFromJson("directory@a.example", wire);
  ASSERT_TRUE(event.ok()) << event.error().message;
  EXPECT_EQ(event->seq, 1);
  EXPECT_EQ(event->stream, "directory@a.example");
  for (auto [key, value] : {std::pair<std::string, json>{"seq", 0},
                            {"seq", "1"},
                            {"type", "group.created"},
                            {"actor", "mallory@b.example"},
                            {"at", -1},
                            {"data", "x"}}) {
    json bad = wire;
    bad[key] = value;
    EXPECT_FALSE(DirectoryEventFromJson("directory@a.example", bad).ok()) << key;
  }
  EXPECT_FALSE(DirectoryEventFromJson("group:x@a.example", wire).ok());
  EXPECT_FALSE(DirectoryEventFromJson("directory@a.example", json::array()).ok());
}

TEST(DirectoryChanges, ForMember) {
  identity::Member m;
  m.handle = "alice";
  m.display_name = "Alice";
  m.organisation = "Fife Council";
  m.visibility = identity::DirectoryVisibility::kNetwork;
  auto published = DirectoryEventsForMember(m, "a.example");
  EXPECT_EQ(published.type, "profile.published");
  EXPECT_EQ(published.actor, "alice@a.example");
  EXPECT_EQ(published.data["organisation"], "Fife Council");
  EXPECT_TRUE(ValidateDirectoryEventData(published.type, published.data, "a.example").ok());

  m.visibility = identity::DirectoryVisibility::kNode;
  EXPECT_EQ(DirectoryEventsForMember(m, "a.example").type, "profile.removed");
  m.visibility = identity::DirectoryVisibility::kHidden;
  EXPECT_EQ(DirectoryEventsForMember(m, "a.example").type, "profile.removed");
  m.visibility = identity::DirectoryVisibility::kNetwork;
  m.status = identity::MemberStatus::kDisabled;
  EXPECT_EQ(DirectoryEventsForMember(m, "a.example").type, "profile.removed");
  m.status = identity::MemberStatus::kActive;
  EXPECT_EQ(DirectoryEventsForMember(m, "a.example", /*removed=*/true).type, "profile.removed");
}

TEST(DirectoryChanges, ForGroup) {
  Group g;
  g.ref = {"roads", "a.example"};
  g.name = "Roads";
  g.created_by = "olivia@a.example";
  g.visibility = Visibility::kRestricted;
  g.status = GroupStatus::kArchived;
  g.member_count = 7;
  auto listed = DirectoryEventsForGroup(g);
  EXPECT_EQ(listed.type, "group.listed");
  EXPECT_EQ(listed.actor, "olivia@a.example");
  EXPECT_EQ(listed.data["status"], "archived");
  EXPECT_EQ(listed.data["member_count"], 7);
  EXPECT_TRUE(ValidateDirectoryEventData(listed.type, listed.data, "a.example").ok());
  g.visibility = Visibility::kPrivate;
  auto unlisted = DirectoryEventsForGroup(g, "fred@a.example");
  EXPECT_EQ(unlisted.type, "group.unlisted");
  EXPECT_EQ(unlisted.actor, "fred@a.example");
}

TEST(DirectoryStoreTest, PublishAppendsAndSkipsNoops) {
  DirNode a("a.example");
  // Removing what was never published appends nothing.
  auto none = a.Publish("profile.removed", "alice@a.example", {{"address", "alice@a.example"}});
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_FALSE(none->has_value());

  auto first = a.Publish("profile.published", "alice@a.example", Profile("alice@a.example"));
  ASSERT_TRUE(first.ok()) << first.error().message;
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->seq, 1);
  EXPECT_EQ((*first)->stream, "directory@a.example");
  auto repeat = a.Publish("profile.published", "alice@a.example", Profile("alice@a.example"));
  ASSERT_TRUE(repeat.ok());
  EXPECT_FALSE(repeat->has_value());
  auto changed =
      a.Publish("profile.published", "alice@a.example", Profile("alice@a.example", "Alice S"));
  ASSERT_TRUE(changed.ok());
  ASSERT_TRUE(changed->has_value());
  EXPECT_EQ((*changed)->seq, 2);
  auto listed = a.Publish("group.listed", "olivia@a.example", Listed("roads@a.example"));
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ((*listed)->seq, 3);

  // Another node's member, a bad actor, bad data: refused, nothing appended.
  EXPECT_FALSE(a.Publish("profile.published", "bob@b.example", Profile("bob@b.example")).ok());
  EXPECT_FALSE(a.Publish("profile.published", "alice@b.example", Profile("alice@a.example")).ok());
  EXPECT_FALSE(
      a.Publish("group.listed", "olivia@a.example", Listed("x@a.example", "private")).ok());
  EXPECT_FALSE(a.Publish("group.created", "olivia@a.example", json::object()).ok());
  auto head = a.directory.Head("directory@a.example");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(*head, 3);
  auto events = a.directory.EventsAfter("directory@a.example", 1, 100);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].data["display_name"], "Alice S");
  EXPECT_FALSE(a.directory.EventsAfter("directory@a.example", 0, 0).ok());
  // Own listings are readable like remote ones.
  auto listing = a.directory.GetListing("roads@a.example");
  ASSERT_TRUE(listing.ok()) << listing.error().message;
  EXPECT_EQ(listing->member_count, 3);
  EXPECT_EQ(listing->tags, (std::vector<std::string>{"a", "b"}));
}

TEST(DirectoryStoreTest, MirrorAppliesIdempotentlyAndStopsAtGap) {
  DirNode a("a.example");
  DirNode b("b.example");
  ASSERT_TRUE(a.Publish("profile.published", "alice@a.example", Profile("alice@a.example")).ok());
  ASSERT_TRUE(
      a.Publish("profile.published", "ann@a.example", Profile("ann@a.example", "Ann")).ok());
  ASSERT_TRUE(a.Publish("group.listed", "alice@a.example", Listed("roads@a.example")).ok());
  ASSERT_TRUE(a.Publish("profile.removed", "ann@a.example", {{"address", "ann@a.example"}}).ok());
  auto events = a.directory.EventsAfter("directory@a.example", 0, 100);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 4u);

  // A gap: events 1 and 3 — only 1 is applied.
  auto gap = b.Apply("directory@a.example", {(*events)[0], (*events)[2]});
  ASSERT_TRUE(gap.ok()) << gap.error().message;
  EXPECT_EQ(gap->applied, 1);
  EXPECT_TRUE(gap->gap);
  EXPECT_EQ(gap->head, 1);

  // Everything again: 1 is a duplicate, 2..4 are applied.
  auto all = b.Apply("directory@a.example", *events);
  ASSERT_TRUE(all.ok()) << all.error().message;
  EXPECT_EQ(all->duplicates, 1);
  EXPECT_EQ(all->applied, 3);
  EXPECT_FALSE(all->gap);
  EXPECT_EQ(all->head, 4);
  auto again = b.Apply("directory@a.example", *events);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->duplicates, 4);
  EXPECT_EQ(again->applied, 0);

  auto alice = b.directory.GetProfile("alice@a.example", "bob@b.example");
  ASSERT_TRUE(alice.ok()) << alice.error().message;
  EXPECT_EQ(alice->display_name, "Alice Smith");
  EXPECT_EQ(alice->node, "a.example");
  EXPECT_FALSE(alice->local);
  auto ann = b.directory.GetProfile("ann@a.example", "bob@b.example");
  ASSERT_FALSE(ann.ok());
  EXPECT_EQ(ann.error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(b.directory.GetListing("roads@a.example").ok());
  EXPECT_EQ(b.directory.GetListing("other@a.example").error().code, ErrorCode::kNotFound);

  // Own stream, a stream of the wrong shape: refused.
  EXPECT_FALSE(b.Apply("directory@b.example", *events).ok());
  EXPECT_FALSE(b.Apply("group:roads@a.example", *events).ok());
}

TEST(DirectoryStoreTest, InvalidEventDiscardsTheWholeBatch) {
  DirNode b("b.example");
  Event good{"directory@a.example", 1, "profile.published",
             "alice@a.example",     5, Profile("alice@a.example")};
  Event forged{"directory@a.example", 2, "profile.published",
               "mallory@a.example",   5, Profile("mallory@c.example")};
  auto result = b.Apply("directory@a.example", {good, forged});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(result.error().message.find("seq 2"), std::string::npos) << result.error().message;
  auto head = b.directory.Head("directory@a.example");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(*head, 0);
  EXPECT_FALSE(b.directory.GetProfile("alice@a.example", "").ok());
  Event wrong_actor = good;
  wrong_actor.actor = "alice@c.example";
  EXPECT_FALSE(b.Apply("directory@a.example", {wrong_actor}).ok());
}

TEST(DirectoryStoreTest, LocalProfilesFollowVisibility) {
  DirNode a("a.example");
  a.AddMember("net", identity::DirectoryVisibility::kNetwork);
  a.AddMember("mine", identity::DirectoryVisibility::kNode);
  a.AddMember("ghost", identity::DirectoryVisibility::kHidden);
  EXPECT_TRUE(a.directory.GetProfile("net@a.example", "").ok());
  EXPECT_TRUE(a.directory.GetProfile("net@a.example", "bob@b.example").ok());
  auto mine = a.directory.GetProfile("mine@a.example", "other@a.example");
  ASSERT_TRUE(mine.ok());
  EXPECT_TRUE(mine->local);
  EXPECT_EQ(mine->visibility, "node");
  EXPECT_EQ(a.directory.GetProfile("mine@a.example", "bob@b.example").error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(a.directory.GetProfile("ghost@a.example", "other@a.example").error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(a.directory.GetProfile("nobody@a.example", "other@a.example").error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(a.directory.GetProfile("bad address", "").error().code, ErrorCode::kInvalidArgument);
}

Result<int64_t> Sync(DirNode& n) {
  return Await<int64_t>(
      [&](identity::Done<int64_t> done) { n.directory.SyncMembers(std::move(done)); });
}

std::vector<Event> AllEvents(DirNode& n) {
  auto events = n.directory.EventsAfter(n.directory.stream(), 0, 1000);
  EXPECT_TRUE(events.ok());
  return events.ok() ? *events : std::vector<Event>{};
}

TEST(DirectorySyncMembers, PublishesAndRemovesTheDifferencesOnly) {
  DirNode a("a.example");
  const auto net = a.AddMember("net", identity::DirectoryVisibility::kNetwork);
  a.AddMember("mine", identity::DirectoryVisibility::kNode);
  a.AddMember("ghost", identity::DirectoryVisibility::kHidden);
  const auto other = a.AddMember("other", identity::DirectoryVisibility::kNetwork);

  auto first = Sync(a);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(*first, 2);  // net and other
  auto events = AllEvents(a);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, "profile.published");
  EXPECT_EQ(events[0].data["address"], "net@a.example");
  EXPECT_EQ(events[0].data["display_name"], "Person net");
  EXPECT_EQ(events[0].data["organisation"], "Fife Council");
  EXPECT_EQ(events[1].data["address"], "other@a.example");

  // Idempotent: nothing differs, nothing is appended.
  auto again = Sync(a);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
  EXPECT_EQ(AllEvents(a).size(), 2u);

  auto update = [&](int64_t id, identity::ProfileUpdate u) {
    auto r = Await<identity::Member>([&](identity::Done<identity::Member> done) {
      a.members.UpdateProfile(id, std::move(u), std::move(done));
    });
    ASSERT_TRUE(r.ok()) << r.error().message;
  };
  // A changed profile is published again; network -> node removes it; node -> network back.
  identity::ProfileUpdate job;
  job.job_title = "Roads engineer";
  update(net.id, job);
  ASSERT_EQ(*Sync(a), 1);
  EXPECT_EQ(AllEvents(a).back().data["job_title"], "Roads engineer");
  identity::ProfileUpdate to_node;
  to_node.visibility = identity::DirectoryVisibility::kNode;
  update(net.id, to_node);
  ASSERT_EQ(*Sync(a), 1);
  EXPECT_EQ(AllEvents(a).back().type, "profile.removed");
  EXPECT_EQ(AllEvents(a).back().data["address"], "net@a.example");
  identity::ProfileUpdate to_network;
  to_network.visibility = identity::DirectoryVisibility::kNetwork;
  update(net.id, to_network);
  ASSERT_EQ(*Sync(a), 1);
  EXPECT_EQ(AllEvents(a).back().type, "profile.published");
  // -> hidden removes it.
  identity::ProfileUpdate to_hidden;
  to_hidden.visibility = identity::DirectoryVisibility::kHidden;
  update(net.id, to_hidden);
  ASSERT_EQ(*Sync(a), 1);
  EXPECT_EQ(AllEvents(a).back().type, "profile.removed");

  // Disabled, then removed for good.
  auto disabled = Await<identity::Member>([&](identity::Done<identity::Member> done) {
    a.members.SetStatus(other.id, identity::MemberStatus::kDisabled, std::move(done));
  });
  ASSERT_TRUE(disabled.ok());
  ASSERT_EQ(*Sync(a), 1);
  EXPECT_EQ(AllEvents(a).back().type, "profile.removed");
  EXPECT_EQ(AllEvents(a).back().data["address"], "other@a.example");
  auto enabled = Await<identity::Member>([&](identity::Done<identity::Member> done) {
    a.members.SetStatus(other.id, identity::MemberStatus::kActive, std::move(done));
  });
  ASSERT_TRUE(enabled.ok());
  ASSERT_EQ(*Sync(a), 1);
  auto removed =
      Await<void>([&](identity::Done<void> done) { a.members.Remove(other.id, std::move(done)); });
  ASSERT_TRUE(removed.ok());
  ASSERT_EQ(*Sync(a), 1);
  EXPECT_EQ(AllEvents(a).back().type, "profile.removed");
  EXPECT_EQ(*Sync(a), 0);

  // What the mirror ends with: nobody (net hidden, other removed).
  DirNode b("b.example");
  auto applied = b.Apply("directory@a.example", AllEvents(a));
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  EXPECT_FALSE(b.directory.GetProfile("net@a.example", "").ok());
  EXPECT_FALSE(b.directory.GetProfile("other@a.example", "").ok());
}

TEST(DirectorySyncMembers, WorksInStepsOfAtMostTheBatchSize) {
  DirNode a("a.example");
  for (int i = 0; i < 5; ++i) {
    a.AddMember("m" + std::to_string(i), identity::DirectoryVisibility::kNetwork);
  }
  auto step = a.node.store().writer().SubmitAndWait([&](storage::Database& db) -> Status {
    auto first = a.directory.SyncMembersIn(db, 0, 2);
    if (!first.ok()) return first.error();
    EXPECT_EQ(first->changed, 2);
    EXPECT_TRUE(first->next_after.has_value());
    auto rest = a.directory.SyncMembersIn(db, *first->next_after, 10);
    if (!rest.ok()) return rest.error();
    EXPECT_EQ(rest->changed, 3);
    EXPECT_FALSE(rest->next_after.has_value());
    return OkStatus();
  });
  ASSERT_TRUE(step.ok()) << step.error().message;
  EXPECT_EQ(AllEvents(a).size(), 5u);
  EXPECT_EQ(*Sync(a), 0);
}

}  // namespace
}  // namespace kith::groups
