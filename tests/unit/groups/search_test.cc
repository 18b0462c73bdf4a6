#include "groups/search.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "groups/directory.h"
#include "groups_test_util.h"
#include "identity/member_store.h"

namespace kith::groups {
namespace {

using nlohmann::json;
using testing::Await;
using testing::NewGroup;
using testing::Node;

constexpr const char* kOwner = "olivia@a.example";
constexpr const char* kLocal = "lee@a.example";   // a member of a.example, in no group
constexpr const char* kRemote = "bob@b.example";  // signed in at a.example from b.example

// A node with members, groups, its directory and the searcher.
struct SearchNode {
  explicit SearchNode(std::string domain)
      : node(domain),
        members(node.store(), node.clock()),
        directory(node.store(), node.clock(), domain),
        searcher(node.store(), domain) {}

  int64_t Do(std::string stream, std::string actor, std::string type, json data) {
    node.clock().Advance(std::chrono::seconds(1));
    auto r = node.Do(std::move(stream), std::move(type), std::move(actor), std::move(data));
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? r->seq : 0;
  }

  identity::Member AddMember(std::string handle, std::string name, std::string organisation,
                             identity::DirectoryVisibility visibility) {
    identity::NewMember m;
    m.handle = handle;
    m.display_name = std::move(name);
    m.email = handle + "@example.org";
    m.organisation = std::move(organisation);
    m.job_title = "Policy officer";
    m.visibility = visibility;
    auto added = Await<identity::Member>(
        [&](identity::Done<identity::Member> done) { members.Add(m, std::move(done)); });
    EXPECT_TRUE(added.ok()) << added.error().message;
    return added.ok() ? *added : identity::Member{};
  }

  // "kind:target" of every hit, in rank order.
  std::vector<std::string> Find(std::string_view viewer, std::string_view query,
                                SearchFilters filters = {}, size_t limit = 100, size_t offset = 0) {
    auto page = searcher.Search(viewer, query, filters, limit, offset);
    EXPECT_TRUE(page.ok()) << query << ": " << page.error().message;
    std::vector<std::string> out;
    if (!page.ok()) return out;
    for (const SearchHit& h : page->hits) {
      std::string s(SearchKindName(h.kind));
      s += ":";
      switch (h.kind) {
        case SearchKind::kPerson:
          s += h.address;
          break;
        case SearchKind::kGroup:
          s += h.group;
          break;
        case SearchKind::kThread:
        case SearchKind::kPost:
          s += h.group + "#" + std::to_string(h.post_id);
          break;
        case SearchKind::kDocument:
          s += h.group + "#" + std::to_string(h.document_id);
          break;
      }
      out.push_back(s);
    }
    return out;
  }

  bool Finds(std::string_view viewer, std::string_view query, std::string_view what) {
    auto hits = Find(viewer, query);
    return std::find(hits.begin(), hits.end(), what) != hits.end();
  }

  Node node;
  identity::MemberStore members;
  DirectoryStore directory;
  Searcher searcher;
};

json File(std::string title, std::string description) {
  return {{"title", std::move(title)},      {"description", std::move(description)},
          {"sha256", std::string(64, 'a')}, {"size", 3},
          {"media_type", "text/plain"},     {"filename", "plan.txt"}};
}

TEST(FtsQueryTest, QuotesTermsAndPrefixesTheLast) {
  EXPECT_EQ(FtsQuery("road tra"), "\"road\" \"tra\"*");
  EXPECT_EQ(FtsQuery("  "), "");
  EXPECT_EQ(FtsQuery("\"*-^:()"), "");
  EXPECT_EQ(FtsQuery("a NEAR(b c)"), "\"a\" \"NEAR\" \"b\" \"c\"");
  EXPECT_EQ(FtsQuery("-roads OR col:x"), "\"roads\" \"OR\" \"col\" \"x\"");
  EXPECT_EQ(FtsQuery("Zürich café"), "\"Zürich\" \"café\"*");
  EXPECT_EQ(FtsQuery("o'brien"), "\"o\" \"brien\"*");
  EXPECT_EQ(FtsQuery("bad\xff\xfe utf"), "\"bad\" \"utf\"*");
  EXPECT_EQ(FtsQuery("a\xe2\x80\x94z"), "\"a\" \"z\"");  // em dash separates
  // A last term of 1 character is a whole word: "s"* would match most of the index.
  EXPECT_EQ(FtsQuery("james s"), "\"james\" \"s\"");
  EXPECT_EQ(FtsQuery("james sm"), "\"james\" \"sm\"*");
  EXPECT_EQ(FtsQuery("日本語"), "\"日本語\"*");  // characters, not bytes
  std::string many;
  for (int i = 0; i < 40; ++i) many += "w" + std::to_string(i) + " ";
  const std::string q = FtsQuery(many);
  EXPECT_EQ(std::count(q.begin(), q.end(), '"'), 32);
}

TEST(SearchTest, HostileQueriesNeverFail) {
  SearchNode a("a.example");
  a.AddMember("alice", "Alice Smith", "Fife Council", identity::DirectoryVisibility::kNetwork);
  for (std::string_view q : {"\"",
                             "\"\"",
                             "*",
                             "**",
                             "a*b",
                             "NEAR",
                             "NEAR(alice smith, 2)",
                             "-alice",
                             "alice -smith",
                             "alice AND",
                             "OR",
                             "NOT alice",
                             "title:alice",
                             "^alice",
                             "(alice",
                             "alice)",
                             "{alice}",
                             "alice + smith",
                             "😀",
                             "alice 😀",
                             "\xff\xfe",
                             "Zürich",
                             "日本語",
                             "ali\"ce",
                             "'",
                             "\\",
                             "%",
                             "_"}) {
    auto page = a.searcher.Search(kLocal, q, {}, 10, 0);
    EXPECT_TRUE(page.ok()) << q << ": " << page.error().message;
  }
  EXPECT_EQ(a.Find(kLocal, "-alice"), std::vector<std::string>{"person:alice@a.example"});
  // Operators are words: "NEAR" and "2" must match too, and do not.
  EXPECT_TRUE(a.Find(kLocal, "NEAR(alice smith, 2)").empty());
  EXPECT_EQ(a.Find(kLocal, "alice -smith"), std::vector<std::string>{"person:alice@a.example"});
  EXPECT_EQ(a.Find(kLocal, "\"alice\" OR"), std::vector<std::string>{});
  EXPECT_EQ(a.Find(kLocal, "ali"), std::vector<std::string>{"person:alice@a.example"});
  EXPECT_TRUE(a.Find(kLocal, "").empty());
}

TEST(SearchTest, RefusesBadArguments) {
  SearchNode a("a.example");
  EXPECT_FALSE(a.searcher.Search(kLocal, "x", {}, 0, 0).ok());
  EXPECT_FALSE(a.searcher.Search(kLocal, "x", {}, 101, 0).ok());
  EXPECT_FALSE(a.searcher.Search(kLocal, "x", {}, 10, 10001).ok());
  EXPECT_FALSE(a.searcher.Search(kLocal, std::string(501, 'x'), {}, 10, 0).ok());
  SearchFilters f;
  f.visibility = "secret";
  EXPECT_FALSE(a.searcher.Search(kLocal, "x", f, 10, 0).ok());
  EXPECT_TRUE(ParseSearchKind("person").ok());
  EXPECT_FALSE(ParseSearchKind("people").ok());
}

TEST(SearchTest, PeopleFollowDirectoryVisibility) {
  SearchNode a("a.example");
  a.AddMember("nina", "Nina Network", "Fife Council", identity::DirectoryVisibility::kNetwork);
  a.AddMember("noah", "Noah Node", "Fife Council", identity::DirectoryVisibility::kNode);
  a.AddMember("hugo", "Hugo Hidden", "Fife Council", identity::DirectoryVisibility::kHidden);
  EXPECT_TRUE(a.Finds(kLocal, "nina network", "person:nina@a.example"));
  EXPECT_TRUE(a.Finds(kRemote, "nina network", "person:nina@a.example"));
  EXPECT_TRUE(a.Finds(kLocal, "noah", "person:noah@a.example"));
  EXPECT_FALSE(a.Finds(kRemote, "noah", "person:noah@a.example"));
  EXPECT_FALSE(a.Finds("", "noah", "person:noah@a.example"));
  EXPECT_TRUE(a.Find(kLocal, "hugo").empty());
  EXPECT_TRUE(a.Find(kLocal, "hidden").empty());

  // Changing the visibility, or disabling, takes effect at once.
  auto noah = a.members.GetByHandle("noah");
  ASSERT_TRUE(noah.ok());
  identity::ProfileUpdate hide;
  hide.visibility = identity::DirectoryVisibility::kHidden;
  ASSERT_TRUE(Await<identity::Member>([&](identity::Done<identity::Member> done) {
                a.members.UpdateProfile(noah->id, hide, std::move(done));
              }).ok());
  EXPECT_TRUE(a.Find(kLocal, "noah").empty());
  auto nina = a.members.GetByHandle("nina");
  ASSERT_TRUE(Await<identity::Member>([&](identity::Done<identity::Member> done) {
                a.members.SetStatus(nina->id, identity::MemberStatus::kDisabled, std::move(done));
              }).ok());
  EXPECT_TRUE(a.Find(kLocal, "nina").empty());
}

TEST(SearchTest, FindsPeopleAndListingsFromAnotherNode) {
  SearchNode a("a.example");
  SearchNode b("b.example");
  b.AddMember("bea", "Beatrice Jones", "Lothian Health Board",
              identity::DirectoryVisibility::kNetwork);
  auto bea = b.members.GetByHandle("bea");
  ASSERT_TRUE(bea.ok());
  DirectoryChange change = DirectoryEventsForMember(*bea, "b.example");
  ASSERT_TRUE(Await<std::optional<Event>>([&](identity::Done<std::optional<Event>> done) {
                b.directory.Publish(change, std::move(done));
              }).ok());
  DirectoryChange listing{"group.listed",
                          "bea@b.example",
                          {{"group", "nurses@b.example"},
                           {"name", "Nurses forum"},
                           {"description", "For nurses"},
                           {"visibility", "restricted"},
                           {"join_policy", "request"},
                           {"status", "active"},
                           {"member_count", 4}}};
  ASSERT_TRUE(Await<std::optional<Event>>([&](identity::Done<std::optional<Event>> done) {
                b.directory.Publish(listing, std::move(done));
              }).ok());
  // b's own directory stream does not index bea twice.
  EXPECT_EQ(b.Find("x@b.example", "beatrice"), std::vector<std::string>{"person:bea@b.example"});
  EXPECT_EQ(b.Find("x@b.example", "nurses"), std::vector<std::string>{});  // no group row here

  auto events = b.directory.EventsAfter("directory@b.example", 0, 100);
  ASSERT_TRUE(events.ok());
  ASSERT_TRUE(Await<ApplyReport>([&](identity::Done<ApplyReport> done) {
                a.directory.ApplyRemote("directory@b.example", *events, std::move(done));
              }).ok());
  EXPECT_EQ(a.Find(kLocal, "beatrice jo"), std::vector<std::string>{"person:bea@b.example"});
  EXPECT_EQ(a.Find(kLocal, "nurses forum"), std::vector<std::string>{"group:nurses@b.example"});
  SearchFilters health;
  health.organisation = "lothian health board";
  EXPECT_EQ(a.Find(kLocal, "beatrice", health), std::vector<std::string>{"person:bea@b.example"});
  SearchFilters node_a;
  node_a.node = "a.example";
  EXPECT_TRUE(a.Find(kLocal, "beatrice", node_a).empty());

  auto page = a.searcher.Search(kLocal, "beatrice", {}, 10, 0);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->hits.size(), 1u);
  EXPECT_EQ(page->hits[0].title, "Beatrice Jones");
  EXPECT_EQ(page->hits[0].organisation, "Lothian Health Board");
  EXPECT_EQ(page->hits[0].node, "b.example");
  ASSERT_FALSE(page->hits[0].snippet.empty());

  // Removal reaches the index too.
  DirectoryChange removed = DirectoryEventsForMember(*bea, "b.example", /*removed=*/true);
  ASSERT_TRUE(Await<std::optional<Event>>([&](identity::Done<std::optional<Event>> done) {
                b.directory.Publish(removed, std::move(done));
              }).ok());
  auto more = b.directory.EventsAfter("directory@b.example", 2, 100);
  ASSERT_TRUE(more.ok());
  ASSERT_TRUE(Await<ApplyReport>([&](identity::Done<ApplyReport> done) {
                a.directory.ApplyRemote("directory@b.example", *more, std::move(done));
              }).ok());
  EXPECT_TRUE(a.Find(kLocal, "beatrice").empty());
}

class GroupSearchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_.Do("group:open@a.example", kOwner, "group.created",
          {{"name", "Open roads"},
           {"description", "Public group about tarmac"},
           {"visibility", "public"},
           {"join_policy", "open"}});
    a_.Do("group:club@a.example", kOwner, "group.created",
          {{"name", "Restricted club"},
           {"description", "Restricted group about gravel"},
           {"visibility", "restricted"},
           {"join_policy", "request"}});
    a_.Do("group:secret@a.example", kOwner, "group.created",
          {{"name", "Secret cabal"},
           {"description", "Private group about zeppelins"},
           {"visibility", "private"},
           {"join_policy", "invite"}});
    open_thread_ = a_.Do("group:open@a.example", kOwner, "thread.created",
                         {{"title", "Tarmac thread"}, {"body", "opening words about bitumen"}});
    open_reply_ = a_.Do("group:open@a.example", kOwner, "post.created",
                        {{"thread", open_thread_}, {"body", "a reply about asphalt"}});
    club_thread_ = a_.Do("group:club@a.example", kOwner, "thread.created",
                         {{"title", "Gravel thread"}, {"body", "club words about pebbles"}});
    secret_thread_ = a_.Do("group:secret@a.example", kOwner, "thread.created",
                           {{"title", "Zeppelin plans"}, {"body", "airship secrets"}});
    secret_reply_ = a_.Do("group:secret@a.example", kOwner, "post.created",
                          {{"thread", secret_thread_}, {"body", "hydrogen is risky"}});
    secret_doc_ = a_.Do("group:secret@a.example", kOwner, "file.added",
                        File("Blimp budget", "helium procurement"));
  }

  SearchNode a_{"a.example"};
  int64_t open_thread_ = 0, open_reply_ = 0, club_thread_ = 0, secret_thread_ = 0,
          secret_reply_ = 0, secret_doc_ = 0;
};

TEST_F(GroupSearchTest, PublicContentForEveryone) {
  for (const char* viewer : {kOwner, kLocal, kRemote, ""}) {
    EXPECT_TRUE(a_.Finds(viewer, "tarmac", "group:open@a.example")) << viewer;
    EXPECT_TRUE(a_.Finds(viewer, "tarmac", "thread:open@a.example#" + std::to_string(open_thread_)))
        << viewer;
    EXPECT_TRUE(
        a_.Finds(viewer, "bitumen", "thread:open@a.example#" + std::to_string(open_thread_)));
    EXPECT_TRUE(a_.Finds(viewer, "asphalt", "post:open@a.example#" + std::to_string(open_reply_)));
  }
  auto page = a_.searcher.Search(kLocal, "asphalt", {}, 10, 0);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->hits.size(), 1u);
  EXPECT_EQ(page->hits[0].title, "Tarmac thread");
  EXPECT_EQ(page->hits[0].thread_id, open_thread_);
  EXPECT_EQ(page->hits[0].visibility, "public");
  bool marked = false;
  for (const auto& part : page->hits[0].snippet)
    marked = marked || (part.match && part.text == "asphalt");
  EXPECT_TRUE(marked);
}

TEST_F(GroupSearchTest, RestrictedListingForAllContentForMembers) {
  EXPECT_TRUE(a_.Finds(kLocal, "restricted club", "group:club@a.example"));
  EXPECT_TRUE(a_.Finds(kRemote, "restricted club", "group:club@a.example"));
  EXPECT_TRUE(a_.Find(kLocal, "pebbles").empty());
  EXPECT_TRUE(a_.Find(kRemote, "gravel thread", {{SearchKind::kThread}}).empty());
  EXPECT_FALSE(a_.Find(kOwner, "pebbles").empty());
  // A remote member approved into the group sees its content.
  a_.Do("group:club@a.example", kRemote, "member.requested", {{"member", kRemote}});
  a_.Do("group:club@a.example", kOwner, "member.approved", {{"member", kRemote}});
  EXPECT_EQ(a_.Find(kRemote, "pebbles"),
            std::vector<std::string>{"thread:club@a.example#" + std::to_string(club_thread_)});
}

TEST_F(GroupSearchTest, PrivateGroupNeverFoundByNonMembers) {
  for (const char* q : {"secret cabal", "zeppelin", "zeppelins", "airship", "hydrogen", "blimp",
                        "helium", "cabal"}) {
    for (const char* viewer : {kLocal, kRemote, ""}) {
      EXPECT_TRUE(a_.Find(viewer, q).empty()) << viewer << " found " << q;
      SearchFilters priv;
      priv.visibility = "private";
      EXPECT_TRUE(a_.Find(viewer, q, priv).empty());
    }
    EXPECT_FALSE(a_.Find(kOwner, q).empty()) << q;
  }
  EXPECT_TRUE(
      a_.Finds(kOwner, "helium", "document:secret@a.example#" + std::to_string(secret_doc_)));
  // Invited and joined: found; left: gone again.
  a_.Do("group:secret@a.example", kOwner, "member.invited", {{"member", kLocal}});
  a_.Do("group:secret@a.example", kLocal, "member.joined", {{"member", kLocal}});
  EXPECT_TRUE(
      a_.Finds(kLocal, "hydrogen", "post:secret@a.example#" + std::to_string(secret_reply_)));
  a_.Do("group:secret@a.example", kLocal, "member.left", {{"member", kLocal}});
  EXPECT_TRUE(a_.Find(kLocal, "hydrogen").empty());
}

TEST_F(GroupSearchTest, VisibilityChangeAppliesToContent) {
  EXPECT_FALSE(a_.Find(kLocal, "bitumen").empty());
  a_.Do("group:open@a.example", kOwner, "group.updated", {{"visibility", "private"}});
  EXPECT_TRUE(a_.Find(kLocal, "bitumen").empty());
  EXPECT_TRUE(a_.Find(kLocal, "tarmac").empty());
  a_.Do("group:open@a.example", kOwner, "group.updated", {{"visibility", "public"}});
  EXPECT_FALSE(a_.Find(kLocal, "bitumen").empty());
}

TEST_F(GroupSearchTest, IndexFollowsEditsAndTombstones) {
  const std::string reply = "post:open@a.example#" + std::to_string(open_reply_);
  const std::string thread = "thread:open@a.example#" + std::to_string(open_thread_);
  a_.Do("group:open@a.example", kOwner, "post.edited",
        {{"post", open_reply_}, {"body", "now about cobblestones"}});
  EXPECT_TRUE(a_.Find(kLocal, "asphalt").empty());
  EXPECT_TRUE(a_.Finds(kLocal, "cobblestones", reply));
  a_.Do("group:open@a.example", kOwner, "post.edited",
        {{"post", open_thread_}, {"body", "first post rewritten"}, {"title", "Macadam thread"}});
  EXPECT_TRUE(a_.Find(kLocal, "bitumen").empty());
  EXPECT_TRUE(a_.Finds(kLocal, "macadam", thread));
  EXPECT_TRUE(a_.Finds(kLocal, "rewritten", thread));
  EXPECT_FALSE(a_.Finds(kLocal, "tarmac", thread));
  a_.Do("group:open@a.example", kOwner, "post.deleted", {{"post", open_reply_}});
  EXPECT_TRUE(a_.Find(kLocal, "cobblestones").empty());
  a_.Do("group:open@a.example", kOwner, "post.deleted", {{"post", open_thread_}});
  EXPECT_TRUE(a_.Find(kLocal, "macadam").empty());
  EXPECT_TRUE(a_.Find(kLocal, "rewritten").empty());

  const int64_t doc =
      a_.Do("group:open@a.example", kOwner, "file.added", File("Road atlas", "maps of lanes"));
  const std::string document = "document:open@a.example#" + std::to_string(doc);
  EXPECT_TRUE(a_.Finds(kLocal, "atlas", document));
  a_.Do("group:open@a.example", kOwner, "file.updated",
        {{"document", doc}, {"title", "Street guide"}});
  EXPECT_TRUE(a_.Find(kLocal, "atlas").empty());
  EXPECT_TRUE(a_.Finds(kLocal, "street guide", document));
  a_.Do("group:open@a.example", kOwner, "file.removed", {{"document", doc}});
  EXPECT_TRUE(a_.Find(kLocal, "street").empty());
  EXPECT_TRUE(a_.Find(kLocal, "lanes").empty());
}

TEST_F(GroupSearchTest, FiltersAndPagination) {
  SearchFilters groups_only;
  groups_only.kinds = {SearchKind::kGroup};
  EXPECT_EQ(a_.Find(kOwner, "group about", groups_only).size(), 3u);
  SearchFilters restricted;
  restricted.visibility = "restricted";
  EXPECT_EQ(a_.Find(kOwner, "group about", restricted),
            std::vector<std::string>{"group:club@a.example"});
  SearchFilters elsewhere;
  elsewhere.node = "b.example";
  EXPECT_TRUE(a_.Find(kOwner, "group", elsewhere).empty());

  auto first = a_.searcher.Search(kOwner, "group about", groups_only, 2, 0);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->hits.size(), 2u);
  EXPECT_TRUE(first->more);
  auto second = a_.searcher.Search(kOwner, "group about", groups_only, 2, 2);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->hits.size(), 1u);
  EXPECT_FALSE(second->more);
  // Pagination counts visible hits only: a non-member has two groups, on one page.
  auto visible = a_.searcher.Search(kLocal, "group about", groups_only, 2, 0);
  ASSERT_TRUE(visible.ok());
  EXPECT_EQ(visible->hits.size(), 2u);
  EXPECT_FALSE(visible->more);
}

std::string SnippetText(const SearchHit& hit) {
  std::string text;
  for (const auto& part : hit.snippet) text += part.match ? "[" + part.text + "]" : part.text;
  return text;
}

TEST_F(GroupSearchTest, TagsAreAListAndIndexedAsWords) {
  a_.Do("group:bins@a.example", kOwner, "group.created",
        {{"name", "Bin collections"},
         {"description", "Kerbside services"},
         {"tags", json::array({"recycling", "waste"})},
         {"visibility", "public"},
         {"join_policy", "open"}});
  const int64_t doc = a_.Do("group:bins@a.example", kOwner, "file.added", [] {
    json f = File("Route plan", "collection rounds");
    f["tags"] = json::array({"rounds", "routes"});
    return f;
  }());
  auto page = a_.searcher.Search(kLocal, "recycling", {}, 10, 0);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->hits.size(), 1u);
  const SearchHit& group = page->hits[0];
  EXPECT_EQ(group.group, "bins@a.example");
  EXPECT_EQ(group.tags, (std::vector<std::string>{"recycling", "waste"}));
  EXPECT_FALSE(group.archived);
  const std::string text = SnippetText(group);
  EXPECT_EQ(text.find('"'), std::string::npos) << text;  // no JSON text
  EXPECT_EQ(text.find("[\""), std::string::npos) << text;
  EXPECT_NE(text.find("[recycling] waste"), std::string::npos) << text;

  auto docs = a_.searcher.Search(kLocal, "routes", {}, 10, 0);
  ASSERT_TRUE(docs.ok());
  ASSERT_EQ(docs->hits.size(), 1u);
  EXPECT_EQ(docs->hits[0].document_id, doc);
  EXPECT_EQ(docs->hits[0].tags, (std::vector<std::string>{"rounds", "routes"}));
  // Changed tags are searchable at once; old ones are gone.
  a_.Do("group:bins@a.example", kOwner, "group.updated", {{"tags", json::array({"compost"})}});
  EXPECT_TRUE(a_.Find(kLocal, "recycling").empty());
  auto updated = a_.searcher.Search(kLocal, "compost", {}, 10, 0);
  ASSERT_TRUE(updated.ok());
  ASSERT_EQ(updated->hits.size(), 1u);
  EXPECT_EQ(updated->hits[0].tags, std::vector<std::string>{"compost"});
  // People have none.
  a_.AddMember("tess", "Tess Compost", "Fife Council", identity::DirectoryVisibility::kNetwork);
  auto people = a_.searcher.Search(kLocal, "tess", {}, 10, 0);
  ASSERT_TRUE(people.ok());
  ASSERT_EQ(people->hits.size(), 1u);
  EXPECT_TRUE(people->hits[0].tags.empty());
  EXPECT_FALSE(people->hits[0].archived);
}

TEST_F(GroupSearchTest, ArchivedGroupsAreFoundAndMarked) {
  a_.Do("group:open@a.example", kOwner, "group.archived", json::object());
  auto page = a_.searcher.Search(kLocal, "tarmac", {}, 10, 0);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->hits.size(), 2u);  // the group and its thread
  for (const SearchHit& hit : page->hits) EXPECT_TRUE(hit.archived) << hit.group;
  auto reply = a_.searcher.Search(kLocal, "asphalt", {}, 10, 0);
  ASSERT_TRUE(reply.ok());
  ASSERT_EQ(reply->hits.size(), 1u);
  EXPECT_TRUE(reply->hits[0].archived);
  // Other groups are not marked; unarchiving clears the mark.
  auto club = a_.searcher.Search(kLocal, "restricted club", {}, 10, 0);
  ASSERT_TRUE(club.ok());
  ASSERT_EQ(club->hits.size(), 1u);
  EXPECT_FALSE(club->hits[0].archived);
  a_.Do("group:open@a.example", kOwner, "group.unarchived", json::object());
  auto again = a_.searcher.Search(kLocal, "tarmac", {}, 10, 0);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->hits.size(), 2u);
  for (const SearchHit& hit : again->hits) EXPECT_FALSE(hit.archived);
  // Archiving changes nothing about who may see what.
  a_.Do("group:secret@a.example", kOwner, "group.archived", json::object());
  EXPECT_TRUE(a_.Find(kLocal, "zeppelin").empty());
  auto owner = a_.searcher.Search(kOwner, "cabal", {}, 10, 0);
  ASSERT_TRUE(owner.ok());
  ASSERT_EQ(owner->hits.size(), 1u);
  EXPECT_TRUE(owner->hits[0].archived);
}

TEST(SearchTest, ArchivedListingFromAnotherNodeIsMarked) {
  SearchNode a("a.example");
  SearchNode b("b.example");
  DirectoryChange listing{"group.listed",
                          "bea@b.example",
                          {{"group", "oldies@b.example"},
                           {"name", "Old archive"},
                           {"description", "Kept for reference"},
                           {"tags", json::array({"history"})},
                           {"visibility", "public"},
                           {"join_policy", "request"},
                           {"status", "archived"},
                           {"member_count", 4}}};
  ASSERT_TRUE(Await<std::optional<Event>>([&](identity::Done<std::optional<Event>> done) {
                b.directory.Publish(listing, std::move(done));
              }).ok());
  auto events = b.directory.EventsAfter("directory@b.example", 0, 100);
  ASSERT_TRUE(events.ok());
  ASSERT_TRUE(Await<ApplyReport>([&](identity::Done<ApplyReport> done) {
                a.directory.ApplyRemote("directory@b.example", *events, std::move(done));
              }).ok());
  auto page = a.searcher.Search(kLocal, "history", {}, 10, 0);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->hits.size(), 1u);
  EXPECT_EQ(page->hits[0].group, "oldies@b.example");
  EXPECT_TRUE(page->hits[0].archived);
  EXPECT_EQ(page->hits[0].tags, std::vector<std::string>{"history"});
}

TEST_F(GroupSearchTest, SnippetsMarkWhatMatched) {
  const int64_t thread =
      a_.Do("group:open@a.example", kOwner, "thread.created",
            {{"title", "Long thread"},
             {"body",
              "One two three four five six seven eight nine ten eleven twelve thirteen fourteen "
              "fifteen sixteen seventeen eighteen nineteen twenty: the Zürich crossing of "
              "twenty-one twenty-two twenty-three twenty-four twenty-five twenty-six twenty-seven "
              "twenty-eight twenty-nine thirty thirty-one thirty-two."}});
  auto page = a_.searcher.Search(kLocal, "zurich cross", {}, 10, 0);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->hits.size(), 1u);
  EXPECT_EQ(page->hits[0].thread_id, thread);
  const std::string text = SnippetText(page->hits[0]);
  // Diacritics folded as the index folds them, the prefix marks the whole word, cut with '…'.
  EXPECT_NE(text.find("[Zürich] [crossing]"), std::string::npos) << text;
  EXPECT_EQ(text.rfind("…", 0), 0u) << text;
  EXPECT_NE(text.find("…", 3), std::string::npos) << text;
  EXPECT_EQ(text.find("One two"), std::string::npos) << text;
  // A short text is whole, without '…'.
  auto whole = a_.searcher.Search(kLocal, "asph", {}, 10, 0);
  ASSERT_TRUE(whole.ok());
  ASSERT_EQ(whole->hits.size(), 1u);
  EXPECT_EQ(SnippetText(whole->hits[0]), "a reply about [asphalt]");
}

// The ranking step keeps the best few matches for the permission checks; when those are all
// invisible to the viewer (or filtered out), the page must still be full.
TEST_F(GroupSearchTest, FullPageWhenTheBestHitsAreInvisible) {
  // 150 private threads with "kestrel" in the title outrank everything else...
  for (int i = 0; i < 150; ++i) {
    a_.Do("group:secret@a.example", kOwner, "thread.created",
          {{"title", "Kestrel sighting " + std::to_string(i)}, {"body", "seen"}});
  }
  // ...than 30 public replies with it in the body only.
  std::vector<std::string> visible;
  for (int i = 0; i < 30; ++i) {
    const int64_t post = a_.Do("group:open@a.example", kOwner, "post.created",
                               {{"thread", open_thread_}, {"body", "a kestrel overhead"}});
    visible.push_back("post:open@a.example#" + std::to_string(post));
  }
  std::sort(visible.begin(), visible.end());
  for (const char* viewer : {kLocal, kRemote, ""}) {
    auto first = a_.searcher.Search(viewer, "kestrel", {}, 20, 0);
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(first->hits.size(), 20u) << viewer;
    EXPECT_TRUE(first->more);
    auto second = a_.searcher.Search(viewer, "kestrel", {}, 20, 20);
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(second->hits.size(), 10u) << viewer;
    EXPECT_FALSE(second->more);
    std::vector<std::string> seen = a_.Find(viewer, "kestrel");
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, visible) << viewer;  // every visible one, no private one
  }
  // The owner sees the private threads first.
  auto owner = a_.searcher.Search(kOwner, "kestrel", {}, 20, 0);
  ASSERT_TRUE(owner.ok());
  ASSERT_EQ(owner->hits.size(), 20u);
  for (const SearchHit& hit : owner->hits) EXPECT_EQ(hit.group, "secret@a.example");
  EXPECT_EQ(a_.Find(kOwner, "kestrel").size(), 100u);  // the limit

  // Filters too: 140 people outrank the one group, which a kind filter still finds.
  for (int i = 0; i < 140; ++i) {
    a_.AddMember("osprey" + std::to_string(i), "Osprey Watcher " + std::to_string(i),
                 "Fife Council", identity::DirectoryVisibility::kNetwork);
  }
  a_.Do("group:birds@a.example", kOwner, "group.created",
        {{"name", "Birdwatchers"},
         {"description", "ospreys and osprey nests"},
         {"visibility", "public"},
         {"join_policy", "open"}});
  SearchFilters groups_only;
  groups_only.kinds = {SearchKind::kGroup};
  EXPECT_EQ(a_.Find(kLocal, "osprey", groups_only, 10),
            std::vector<std::string>{"group:birds@a.example"});
  EXPECT_EQ(a_.Find(kLocal, "osprey", {}, 100, 0).size(), 100u);
  auto last = a_.searcher.Search(kLocal, "osprey", {}, 100, 100);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->hits.size(), 41u);
  EXPECT_EQ(last->hits.back().group, "birds@a.example");  // body only: ranked last
}

TEST(MirroredSearchTest, PrivateMirrorContentOnlyForMembersAndGoneOnDrop) {
  SearchNode a("a.example");
  SearchNode b("b.example");
  a.Do("group:secret@a.example", kOwner, "group.created",
       {{"name", "Secret cabal"}, {"visibility", "private"}, {"join_policy", "invite"}});
  a.Do("group:secret@a.example", kOwner, "member.invited", {{"member", kRemote}});
  a.Do("group:secret@a.example", kRemote, "member.joined", {{"member", kRemote}});
  a.Do("group:secret@a.example", kOwner, "thread.created",
       {{"title", "Zeppelin plans"}, {"body", "airship secrets"}});
  auto sync = [&] {
    auto head = b.node.groups().Head("group:secret@a.example");
    ASSERT_TRUE(head.ok());
    auto events = a.node.groups().EventsAfter("group:secret@a.example", *head, 1000);
    ASSERT_TRUE(events.ok());
    auto r = b.node.Apply("group:secret@a.example", "a.example", *events);
    ASSERT_TRUE(r.ok()) << r.error().message;
  };
  sync();
  EXPECT_FALSE(b.Find(kRemote, "airship").empty());
  EXPECT_FALSE(b.Find(kRemote, "cabal").empty());
  EXPECT_TRUE(b.Find("other@b.example", "airship").empty());
  EXPECT_TRUE(b.Find("other@b.example", "cabal").empty());
  // The only b member leaves: b drops the group, and the index with it.
  a.Do("group:secret@a.example", kRemote, "member.left", {{"member", kRemote}});
  sync();
  EXPECT_TRUE(b.Find(kRemote, "airship").empty());
  auto leftovers = b.node.store().Read([](storage::Database& db) -> Result<int64_t> {
    auto s = db.Prepare("SELECT count(*) FROM search_docs WHERE kind <> 'person'");
    if (!s.ok()) return s.error();
    auto row = s->Step();
    if (!row.ok()) return row.error();
    return s->ColumnInt(0);
  });
  ASSERT_TRUE(leftovers.ok());
  EXPECT_EQ(*leftovers, 0);
}

TEST(MirroredSearchTest, MirroredGroupReplacesItsListing) {
  SearchNode a("a.example");
  SearchNode b("b.example");
  a.Do("group:open@a.example", kOwner, "group.created",
       {{"name", "Open roads"}, {"visibility", "public"}, {"join_policy", "open"}});
  auto group = a.node.groups().GetGroup("group:open@a.example");
  ASSERT_TRUE(group.ok());
  ASSERT_TRUE(Await<std::optional<Event>>([&](identity::Done<std::optional<Event>> done) {
                a.directory.Publish(DirectoryEventsForGroup(*group), std::move(done));
              }).ok());
  auto dir = a.directory.EventsAfter("directory@a.example", 0, 100);
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(Await<ApplyReport>([&](identity::Done<ApplyReport> done) {
                b.directory.ApplyRemote("directory@a.example", *dir, std::move(done));
              }).ok());
  EXPECT_EQ(b.Find(kRemote, "open roads"), std::vector<std::string>{"group:open@a.example"});
  auto events = a.node.groups().EventsAfter("group:open@a.example", 0, 1000);
  ASSERT_TRUE(events.ok());
  ASSERT_TRUE(b.node.Apply("group:open@a.example", "a.example", *events).ok());
  EXPECT_EQ(b.Find(kRemote, "open roads"), std::vector<std::string>{"group:open@a.example"});
  // On a itself, the own listing does not duplicate the group.
  EXPECT_EQ(a.Find(kLocal, "open roads"), std::vector<std::string>{"group:open@a.example"});
}

}  // namespace
}  // namespace kith::groups
