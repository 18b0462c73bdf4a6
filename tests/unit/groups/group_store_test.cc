#include "groups/group_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <future>

#include "groups/reducer.h"
#include "groups_test_util.h"

namespace kith::groups {
namespace {

using nlohmann::json;
using testing::NewGroup;
using testing::Node;

constexpr const char* kStream = "group:roads@a.example";
constexpr const char* kOwner = "olivia@a.example";
constexpr const char* kBob = "bob@b.example";
constexpr const char* kCarol = "carol@c.example";

class GroupStoreTest : public ::testing::Test {
 protected:
  int64_t Do(Node& node, std::string_view actor, std::string_view type, json data = json::object(),
             std::string_view stream = kStream) {
    auto r = node.Do(std::string(stream), std::string(type), std::string(actor), std::move(data));
    EXPECT_TRUE(r.ok()) << type << " by " << actor << ": " << r.error().message;
    node.clock().Advance(std::chrono::seconds(1));
    return r.ok() ? r->seq : 0;
  }
  int64_t Do(std::string_view actor, std::string_view type, json data = json::object()) {
    return Do(a_, actor, type, std::move(data));
  }

  // Feeds `mirror` everything `owner` has after the mirror's head, in batches of `batch`.
  void Sync(Node& owner, Node& mirror, std::string_view stream = kStream, size_t batch = 1000) {
    for (;;) {
      auto head = mirror.groups().Head(stream);
      ASSERT_TRUE(head.ok());
      auto events = owner.groups().EventsAfter(stream, *head, batch);
      ASSERT_TRUE(events.ok()) << events.error().message;
      if (events->empty()) return;
      auto report = mirror.Apply(std::string(stream), "a.example", std::move(events).value());
      ASSERT_TRUE(report.ok()) << report.error().message;
      if (report->dropped) return;
    }
  }

  std::string DigestOf(Node& node, std::string_view stream = kStream) {
    auto digest = node.groups().Digest(stream);
    EXPECT_TRUE(digest.ok()) << digest.error().message;
    return digest.ok() ? *digest : "";
  }

  // A group with every kind of event: members of three nodes, roles, threads, replies, edits,
  // deletes, pins, locks, documents and versions.
  void BusyGroup() {
    Do(kOwner, "group.created", NewGroup("public", "request"));
    Do(kOwner, "member.invited", {{"member", kBob}});
    Do(a_, kBob, "member.joined", {{"member", kBob}});
    Do(kCarol, "member.requested", {{"member", kCarol}, {"message", "Hello"}});
    Do(kOwner, "member.approved", {{"member", kCarol}});
    Do(kOwner, "member.role_changed", {{"member", kBob}, {"role", "facilitator"}});
    Do("dan@c.example", "member.requested", {{"member", "dan@c.example"}});
    Do(kOwner, "member.invited", {{"member", "erin@b.example"}});
    const int64_t t1 = Do(kBob, "thread.created", {{"title", "Potholes"}, {"body", "*Many*"}});
    const int64_t r1 = Do(kCarol, "post.created", {{"thread", t1}, {"body", "Agreed"}});
    Do(kCarol, "post.edited", {{"post", r1}, {"body", "Agreed!"}});
    Do(kCarol, "post.created", {{"thread", t1}, {"body", "More"}});
    const int64_t t2 = Do(kCarol, "thread.created", {{"title", "Bridges"}, {"body", "Old"}});
    Do(kBob, "thread.pinned", {{"thread", t2}, {"pinned", true}});
    Do(kBob, "thread.locked", {{"thread", t1}, {"locked", true}});
    Do(kBob, "post.deleted", {{"post", r1}});
    Do(kBob, "post.edited", {{"post", t2}, {"body", "Older"}, {"title", "Bridges and tunnels"}});
    const int64_t doc = Do(kCarol, "file.added",
                           {{"title", "Plan"},
                            {"tags", {"b", "a", "b"}},
                            {"sha256", std::string(64, 'a')},
                            {"size", 3},
                            {"media_type", "text/plain"},
                            {"filename", "plan.txt"}});
    Do(kBob, "file.version_added",
       {{"document", doc},
        {"sha256", std::string(64, 'b')},
        {"size", 5},
        {"media_type", "application/pdf"},
        {"filename", "plan.pdf"}});
    Do(kCarol, "file.updated", {{"document", doc}, {"description", "Now with more"}});
    Do(kOwner, "group.updated", {{"tags", {"z", "a"}}, {"description", "Roads, bridges"}});
  }

  Node a_{"a.example"};
  Node b_{"b.example"};
};

TEST_F(GroupStoreTest, AppendThenRead) {
  BusyGroup();
  GroupStore& g = a_.groups();
  auto group = g.GetGroup(kStream);
  ASSERT_TRUE(group.ok()) << group.error().message;
  EXPECT_EQ(group->ref.Id(), "roads@a.example");
  EXPECT_EQ(group->name, "Roads and transport");
  EXPECT_EQ(group->description, "Roads, bridges");
  EXPECT_EQ(group->tags, (std::vector<std::string>{"a", "z"}));
  EXPECT_EQ(group->visibility, Visibility::kPublic);
  EXPECT_EQ(group->join_policy, JoinPolicy::kRequest);
  EXPECT_EQ(group->status, GroupStatus::kActive);
  EXPECT_EQ(group->created_by, kOwner);
  EXPECT_EQ(group->head, 21);
  EXPECT_EQ(group->member_count, 3);
  EXPECT_TRUE(group->owned);
  EXPECT_GT(group->updated_at, group->created_at);

  auto members = g.Members(kStream);
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->size(), 3u);
  EXPECT_EQ((*members)[0].member, kOwner);
  EXPECT_EQ((*members)[0].role, Role::kOwner);
  EXPECT_EQ((*members)[1].member, kBob);
  EXPECT_EQ((*members)[1].role, Role::kFacilitator);
  EXPECT_EQ((*members)[2].member, kCarol);
  auto requests = g.Requests(kStream);
  ASSERT_TRUE(requests.ok());
  ASSERT_EQ(requests->size(), 1u);
  EXPECT_EQ((*requests)[0].member, "dan@c.example");
  auto invites = g.Invites(kStream);
  ASSERT_TRUE(invites.ok());
  ASSERT_EQ(invites->size(), 1u);
  EXPECT_EQ((*invites)[0].member, "erin@b.example");
  EXPECT_EQ((*invites)[0].invited_by, kOwner);

  // Threads: pinned first, then the most recently active.
  auto threads = g.Threads(kStream, 0, 10);
  ASSERT_TRUE(threads.ok());
  ASSERT_EQ(threads->items.size(), 2u);
  EXPECT_FALSE(threads->next_after.has_value());
  const Thread& bridges = threads->items[0];
  EXPECT_EQ(bridges.title, "Bridges and tunnels");
  EXPECT_TRUE(bridges.pinned);
  const Thread& potholes = threads->items[1];
  EXPECT_EQ(potholes.title, "Potholes");
  EXPECT_TRUE(potholes.locked);
  EXPECT_EQ(potholes.reply_count, 1);  // two replies, one deleted
  auto first_page = g.Threads(kStream, 0, 1);
  ASSERT_TRUE(first_page.ok());
  ASSERT_EQ(first_page->items.size(), 1u);
  ASSERT_TRUE(first_page->next_after.has_value());
  auto second_page = g.Threads(kStream, *first_page->next_after, 1);
  ASSERT_TRUE(second_page.ok());
  ASSERT_EQ(second_page->items.size(), 1u);
  EXPECT_EQ(second_page->items[0].id, potholes.id);
  EXPECT_FALSE(second_page->next_after.has_value());
  EXPECT_FALSE(g.Threads(kStream, 0, 0).ok());
  EXPECT_FALSE(g.Threads(kStream, 0, 101).ok());

  auto posts = g.Posts(kStream, potholes.id, 0, 2);
  ASSERT_TRUE(posts.ok());
  ASSERT_EQ(posts->items.size(), 2u);
  EXPECT_EQ(posts->items[0].id, potholes.id);
  EXPECT_EQ(posts->items[0].body, "*Many*");
  EXPECT_TRUE(posts->items[1].deleted);
  EXPECT_EQ(posts->items[1].body, "");
  ASSERT_TRUE(posts->next_after.has_value());
  auto more = g.Posts(kStream, potholes.id, *posts->next_after, 2);
  ASSERT_TRUE(more.ok());
  ASSERT_EQ(more->items.size(), 1u);
  EXPECT_EQ(more->items[0].body, "More");
  EXPECT_FALSE(more->next_after.has_value());
  auto post = g.GetPost(kStream, bridges.id);
  ASSERT_TRUE(post.ok());
  EXPECT_EQ(post->body, "Older");
  ASSERT_TRUE(post->edited_at.has_value());
  EXPECT_EQ(post->edited_by, kBob);
  EXPECT_EQ(g.GetPost(kStream, 999).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(g.GetThread(kStream, 999).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(g.Posts(kStream, 999, 0, 10).error().code, ErrorCode::kNotFound);

  auto docs = g.Documents(kStream, 0, 10);
  ASSERT_TRUE(docs.ok());
  ASSERT_EQ(docs->items.size(), 1u);
  const Document& doc = docs->items[0];
  EXPECT_EQ(doc.title, "Plan");
  EXPECT_EQ(doc.description, "Now with more");
  EXPECT_EQ(doc.tags, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(doc.author, kCarol);
  EXPECT_EQ(doc.current.version, 2);
  EXPECT_EQ(doc.current.sha256, std::string(64, 'b'));
  EXPECT_EQ(doc.current.filename, "plan.pdf");
  EXPECT_EQ(doc.current.author, kBob);
  auto versions = g.Versions(kStream, doc.id);
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].sha256, std::string(64, 'a'));
  EXPECT_EQ((*versions)[0].size, 3);
  EXPECT_EQ(g.GetDocument(kStream, 999).error().code, ErrorCode::kNotFound);

  EXPECT_EQ(*g.RoleOf(kStream, kBob), Role::kFacilitator);
  EXPECT_FALSE(g.RoleOf(kStream, "dan@c.example")->has_value());
  EXPECT_TRUE(*g.HasLocalMember(kStream));
  EXPECT_EQ(g.GetGroup("group:none@a.example").error().code, ErrorCode::kNotFound);
}

TEST_F(GroupStoreTest, ListsAndReadRules) {
  Do(a_, kOwner, "group.created", NewGroup("public", "open"), "group:pub@a.example");
  Do(a_, kOwner, "group.created", NewGroup("restricted", "request"), "group:res@a.example");
  Do(a_, kOwner, "group.created", NewGroup("private", "invite"), "group:priv@a.example");
  Do(a_, kOwner, "member.invited", {{"member", kBob}}, "group:priv@a.example");
  Do(a_, kBob, "member.joined", {{"member", kBob}}, "group:priv@a.example");
  Do(a_, kOwner, "group.updated", {{"name", "A private one"}}, "group:priv@a.example");

  auto names = [](const Result<std::vector<Group>>& groups) {
    std::vector<std::string> out;
    for (const auto& g : *groups) out.push_back(g.ref.slug);
    return out;
  };
  auto carol = a_.groups().ListGroups(kCarol);
  ASSERT_TRUE(carol.ok());
  EXPECT_EQ(names(carol), (std::vector<std::string>{"pub", "res"}));
  auto bob = a_.groups().ListGroups(kBob);
  ASSERT_TRUE(bob.ok());
  EXPECT_EQ(names(bob), (std::vector<std::string>{"priv", "pub", "res"}));  // by name
  auto bobs = a_.groups().GroupsOf(kBob);
  ASSERT_TRUE(bobs.ok());
  EXPECT_EQ(names(bobs), (std::vector<std::string>{"priv"}));

  EXPECT_TRUE(*a_.groups().CanRead("group:pub@a.example", kCarol));
  EXPECT_FALSE(*a_.groups().CanRead("group:res@a.example", kCarol));
  EXPECT_FALSE(*a_.groups().CanRead("group:priv@a.example", kCarol));
  EXPECT_TRUE(*a_.groups().CanRead("group:priv@a.example", kBob));
  EXPECT_TRUE(*a_.groups().CanRead("group:res@a.example", kOwner));
  EXPECT_EQ(a_.groups().CanRead("group:none@a.example", kBob).error().code, ErrorCode::kNotFound);
}

TEST_F(GroupStoreTest, EventsAfterPagesByCountAndBytes) {
  BusyGroup();
  auto all = a_.groups().EventsAfter(kStream, 0, 1000);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 21u);
  for (size_t i = 0; i < all->size(); ++i) {
    EXPECT_EQ((*all)[i].seq, static_cast<int64_t>(i + 1));
    EXPECT_EQ((*all)[i].stream, kStream);
  }
  EXPECT_EQ((*all)[0].type, "group.created");
  EXPECT_EQ((*all)[0].actor, kOwner);
  auto some = a_.groups().EventsAfter(kStream, 5, 3);
  ASSERT_TRUE(some.ok());
  ASSERT_EQ(some->size(), 3u);
  EXPECT_EQ((*some)[0].seq, 6);
  auto small = a_.groups().EventsAfter(kStream, 0, 1000, 1);  // always at least one
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->size(), 1u);
  auto tail = a_.groups().EventsAfter(kStream, 21, 10);
  ASSERT_TRUE(tail.ok());
  EXPECT_TRUE(tail->empty());
  EXPECT_FALSE(a_.groups().EventsAfter(kStream, 0, 0).ok());
  EXPECT_FALSE(a_.groups().EventsAfter(kStream, 0, 1001).ok());
  EXPECT_EQ(a_.groups().EventsAfter("group:none@a.example", 0, 10).error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(*a_.groups().Head(kStream), 21);
  EXPECT_EQ(*a_.groups().Head("group:none@a.example"), 0);
}

TEST_F(GroupStoreTest, MirrorDigestEqualsOwnerDigest) {
  BusyGroup();
  // The mirror's clock is elsewhere: state must not depend on it.
  b_.clock().SetUnixSeconds(1'900'000'000);
  Sync(a_, b_, kStream, 7);
  const std::string owner = DigestOf(a_);
  ASSERT_EQ(owner.size(), 64u);
  EXPECT_EQ(DigestOf(b_), owner);
  auto mirrored = b_.groups().GetGroup(kStream);
  ASSERT_TRUE(mirrored.ok());
  EXPECT_FALSE(mirrored->owned);
  EXPECT_EQ(mirrored->head, 21);

  Do(kCarol, "post.created", {{"thread", 13}, {"body", "One more"}});
  const std::string after = DigestOf(a_);
  EXPECT_NE(after, owner);
  EXPECT_EQ(DigestOf(b_), owner);
  Sync(a_, b_);
  EXPECT_EQ(DigestOf(b_), after);
  EXPECT_EQ(DigestOf(a_), after);  // stable
}

TEST_F(GroupStoreTest, MirrorIgnoresDuplicatesAndStopsAtGaps) {
  BusyGroup();
  auto events = a_.groups().EventsAfter(kStream, 0, 1000);
  ASSERT_TRUE(events.ok());
  std::vector<Event> first(events->begin(), events->begin() + 5);
  auto r1 = b_.Apply(kStream, "a.example", first);
  ASSERT_TRUE(r1.ok()) << r1.error().message;
  EXPECT_EQ(r1->applied, 5);
  EXPECT_EQ(r1->head, 5);
  EXPECT_FALSE(r1->gap);

  // The same batch again, plus one new: duplicates acknowledged, the new one applied.
  std::vector<Event> again(events->begin(), events->begin() + 6);
  auto r2 = b_.Apply(kStream, "a.example", again);
  ASSERT_TRUE(r2.ok()) << r2.error().message;
  EXPECT_EQ(r2->duplicates, 5);
  EXPECT_EQ(r2->applied, 1);
  EXPECT_EQ(r2->head, 6);

  // A gap: 8.. after head 6 applies nothing.
  std::vector<Event> gap(events->begin() + 7, events->begin() + 10);
  auto r3 = b_.Apply(kStream, "a.example", gap);
  ASSERT_TRUE(r3.ok()) << r3.error().message;
  EXPECT_TRUE(r3->gap);
  EXPECT_EQ(r3->applied, 0);
  EXPECT_EQ(r3->head, 6);
  // 7, then a hole at 9: 7 applied, the rest not.
  std::vector<Event> holed = {(*events)[6], (*events)[8], (*events)[9]};
  auto r4 = b_.Apply(kStream, "a.example", holed);
  ASSERT_TRUE(r4.ok()) << r4.error().message;
  EXPECT_TRUE(r4->gap);
  EXPECT_EQ(r4->applied, 1);
  EXPECT_EQ(r4->head, 7);
  EXPECT_EQ(*b_.groups().Head(kStream), 7);

  // A new stream whose first pushed event is not seq 1: a gap, nothing stored.
  std::vector<Event> late(events->begin() + 3, events->begin() + 4);
  auto r5 = b_.Apply("group:other@a.example", "a.example", late);
  ASSERT_TRUE(r5.ok());
  EXPECT_TRUE(r5->gap);
  EXPECT_EQ(*b_.groups().Head("group:other@a.example"), 0);
}

TEST_F(GroupStoreTest, BadEventRefusesTheWholeBatch) {
  BusyGroup();
  auto events = a_.groups().EventsAfter(kStream, 0, 1000);
  ASSERT_TRUE(events.ok());
  std::vector<Event> start(events->begin(), events->begin() + 8);
  ASSERT_TRUE(b_.Apply(kStream, "a.example", start).ok());
  const std::string before = DigestOf(b_);

  auto refused = [&](std::vector<Event> batch, std::string_view mentions) {
    auto r = b_.Apply(kStream, "a.example", std::move(batch));
    ASSERT_FALSE(r.ok()) << "expected a refusal mentioning " << mentions;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(mentions), std::string::npos) << r.error().message;
    EXPECT_EQ(*b_.groups().Head(kStream), 8);
    EXPECT_EQ(DigestOf(b_), before);
    auto stored = b_.groups().EventsAfter(kStream, 0, 1000);
    ASSERT_TRUE(stored.ok());
    EXPECT_EQ(stored->size(), 8u);
  };
  // Good 9, then a post into a thread that does not exist at 10.
  Event bad = (*events)[9];
  bad.type = "post.created";
  bad.data = {{"thread", 999}, {"body", "x"}};
  refused({(*events)[8], bad}, "seq 10");
  refused({(*events)[8], bad}, "no thread 999");
  Event unknown = (*events)[8];
  unknown.type = "post.exploded";
  refused({unknown}, "seq 9");
  Event bad_data = (*events)[8];
  bad_data.data = {{"title", 5}};
  refused({bad_data}, "seq 9");
  Event other_stream = (*events)[8];
  other_stream.stream = "group:other@a.example";
  refused({other_stream}, "belongs to");
  Event second_create = (*events)[0];
  second_create.seq = 9;
  refused({second_create}, "seq 9");
  Event role_of_stranger = (*events)[8];
  role_of_stranger.type = "member.role_changed";
  role_of_stranger.data = {{"member", "nobody@c.example"}, {"role", "owner"}};
  refused({role_of_stranger}, "not a member");

  // The good events still apply afterwards.
  std::vector<Event> rest(events->begin() + 8, events->end());
  auto ok = b_.Apply(kStream, "a.example", rest);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(DigestOf(b_), DigestOf(a_));
}

TEST_F(GroupStoreTest, MirrorRefusesStreamsItOwnsOrOthersClaim) {
  BusyGroup();
  auto events = a_.groups().EventsAfter(kStream, 0, 10);
  ASSERT_TRUE(events.ok());
  auto own = a_.Apply(kStream, "a.example", *events);
  ASSERT_FALSE(own.ok());
  EXPECT_EQ(own.error().code, ErrorCode::kInvalidArgument);
  auto forged = b_.Apply(kStream, "c.example", *events);
  ASSERT_FALSE(forged.ok());
  EXPECT_EQ(forged.error().code, ErrorCode::kInvalidArgument);
  auto bad_name = b_.Apply("group:Bad@a.example", "a.example", *events);
  ASSERT_FALSE(bad_name.ok());
  // A first event whose actor is not of the owner's node.
  std::vector<Event> first = {(*events)[0]};
  first[0].actor = "mallory@c.example";
  auto stranger = b_.Apply(kStream, "a.example", first);
  ASSERT_FALSE(stranger.ok());
  EXPECT_EQ(*b_.groups().Head(kStream), 0);
}

TEST_F(GroupStoreTest, PrivateGroupIsDroppedWhenTheLastLocalMemberLeaves) {
  constexpr const char* kPrivate = "group:secret@a.example";
  Do(a_, kOwner, "group.created", NewGroup("private", "invite"), kPrivate);
  Do(a_, kOwner, "thread.created", {{"title", "T"}, {"body", "B"}}, kPrivate);
  Do(a_, kOwner, "member.invited", {{"member", kBob}}, kPrivate);
  Do(a_, kOwner, "member.invited", {{"member", "bea@b.example"}}, kPrivate);

  // Catching up in small batches before the local member's join is further on: kept.
  auto early = a_.groups().EventsAfter(kPrivate, 0, 2);
  ASSERT_TRUE(early.ok());
  auto r1 = b_.Apply(kPrivate, "a.example", *early);
  ASSERT_TRUE(r1.ok()) << r1.error().message;
  EXPECT_FALSE(r1->dropped);
  Do(a_, kBob, "member.joined", {{"member", kBob}}, kPrivate);
  Do(a_, "bea@b.example", "member.joined", {{"member", "bea@b.example"}}, kPrivate);
  Sync(a_, b_, kPrivate, 2);
  EXPECT_EQ(DigestOf(b_, kPrivate), DigestOf(a_, kPrivate));
  EXPECT_TRUE(*b_.groups().HasLocalMember(kPrivate));

  // One of two local members leaves: kept.
  Do(a_, kBob, "member.left", {{"member", kBob}}, kPrivate);
  Sync(a_, b_, kPrivate);
  EXPECT_EQ(*b_.groups().Head(kPrivate), 7);
  // The last one is removed: the mirror drops the group and all its content.
  Do(a_, kOwner, "member.removed", {{"member", "bea@b.example"}}, kPrivate);
  auto last = a_.groups().EventsAfter(kPrivate, 7, 10);
  ASSERT_TRUE(last.ok());
  auto r2 = b_.Apply(kPrivate, "a.example", *last);
  ASSERT_TRUE(r2.ok()) << r2.error().message;
  EXPECT_TRUE(r2->dropped);
  EXPECT_EQ(r2->head, 8);
  EXPECT_EQ(*b_.groups().Head(kPrivate), 0);
  EXPECT_EQ(b_.groups().GetGroup(kPrivate).error().code, ErrorCode::kNotFound);
  auto rows = b_.store().Read([](storage::Database& db) -> Result<int64_t> {
    auto stmt = db.Prepare(
        "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM threads) + "
        "(SELECT count(*) FROM posts) + (SELECT count(*) FROM group_members) + "
        "(SELECT count(*) FROM group_invites) + (SELECT count(*) FROM groups)");
    if (!stmt.ok()) return stmt.error();
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    return stmt->ColumnInt(0);
  });
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  EXPECT_EQ(*rows, 0);

  // A public group is never dropped, and nor is a private group on its owner.
  Do(a_, kOwner, "group.created", NewGroup("public", "open"), "group:open@a.example");
  Do(a_, kBob, "member.joined", {{"member", kBob}}, "group:open@a.example");
  Do(a_, kBob, "member.left", {{"member", kBob}}, "group:open@a.example");
  Sync(a_, b_, "group:open@a.example");
  EXPECT_EQ(*b_.groups().Head("group:open@a.example"), 3);
  EXPECT_TRUE(a_.groups().GetGroup(kPrivate).ok());
}

TEST_F(GroupStoreTest, GroupTurningPrivateIsDroppedByFollowers) {
  Do(kOwner, "group.created", NewGroup("public", "open"));
  Do(kOwner, "thread.created", {{"title", "T"}, {"body", "B"}});
  Sync(a_, b_);
  EXPECT_EQ(*b_.groups().Head(kStream), 2);
  Do(kOwner, "group.updated", {{"visibility", "private"}});
  auto events = a_.groups().EventsAfter(kStream, 2, 10);
  ASSERT_TRUE(events.ok());
  auto r = b_.Apply(kStream, "a.example", *events);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->dropped);
  EXPECT_EQ(*b_.groups().Head(kStream), 0);
}

TEST_F(GroupStoreTest, CheckOnAMirrorRefusesLikeTheOwner) {
  BusyGroup();
  Sync(a_, b_);
  Command approve{kStream, "member.approved", kCarol, {{"member", "dan@c.example"}}, "c1"};
  auto on_mirror = b_.groups().Check(approve);
  auto on_owner = a_.groups().Check(approve);
  ASSERT_FALSE(on_mirror.ok());
  ASSERT_FALSE(on_owner.ok());
  EXPECT_EQ(on_mirror.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(on_mirror.error().message, on_owner.error().message);
  Command post{kStream, "post.created", kCarol, {{"thread", 13}, {"body", "Hi"}}, "c2"};
  EXPECT_TRUE(b_.groups().Check(post).ok());
  // Append on a mirror is refused: writes happen only on the owner.
  auto appended = b_.Do(kStream, "post.created", kCarol, {{"thread", 13}, {"body", "Hi"}});
  ASSERT_FALSE(appended.ok());
  EXPECT_EQ(appended.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(GroupStoreTest, TagsAreCanonical) {
  EXPECT_EQ(CanonicalTags(json::array({"b", "a", "b"})), R"(["a","b"])");
  EXPECT_EQ(CanonicalTags(json::array()), "[]");
  EXPECT_EQ(CanonicalTags(json()), "[]");
}

// A rough throughput check of the hot paths (owner appends, mirror applies), kept loose so
// that a busy machine does not fail it; the real figures are measured in bench/.
TEST_F(GroupStoreTest, HotPathsAreFast) {
  Do(kOwner, "group.created", NewGroup());
  const int64_t thread = Do(kOwner, "thread.created", {{"title", "T"}, {"body", "B"}});
  const int kPosts = 2000;
  auto start = std::chrono::steady_clock::now();
  {
    std::vector<std::shared_ptr<std::promise<Result<Event>>>> waits;
    for (int i = 0; i < kPosts; ++i) {
      auto promise = std::make_shared<std::promise<Result<Event>>>();
      waits.push_back(promise);
      a_.groups().Append(Command{kStream,
                                 "post.created",
                                 kOwner,
                                 {{"thread", thread}, {"body", "Post " + std::to_string(i)}},
                                 ""},
                         [promise](Result<Event> r) { promise->set_value(std::move(r)); });
    }
    for (auto& w : waits) ASSERT_TRUE(w->get_future().get().ok());
  }
  const double append_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto events = a_.groups().EventsAfter(kStream, 0, 1000, 64 << 20);
  ASSERT_TRUE(events.ok());
  start = std::chrono::steady_clock::now();
  int64_t applied = 0;
  for (int64_t after = 0;;) {
    auto batch = a_.groups().EventsAfter(kStream, after, 500, 64 << 20);
    ASSERT_TRUE(batch.ok());
    if (batch->empty()) break;
    after = batch->back().seq;
    auto r = b_.Apply(kStream, "a.example", std::move(batch).value());
    ASSERT_TRUE(r.ok()) << r.error().message;
    applied += r->applied;
  }
  const double apply_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(applied, kPosts + 2);
  std::printf("owner: %.0f posts/s; mirror: %.0f events/s (incl. reading them)\n",
              kPosts / append_s, applied / apply_s);
  EXPECT_EQ(DigestOf(a_), DigestOf(b_));
}

}  // namespace
}  // namespace kith::groups
