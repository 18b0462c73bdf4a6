// Issue 6, "Directory and search", across real nodes: two kithd processes on loopback, peered.
// A's directory stream (`directory@A`) reaches B by the delivery loop: a member of A who chose
// the network directory is found by B's search, and leaves it when they switch to hidden; a
// public group of A is listed on B; a private group's name and content never reach B's search.
// An invitation from A to a member of B makes the group known on B, and the member accepts
// through B.
#include "tests/support/group_network.h"

#include <gtest/gtest.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "tests/support/group_api.h"

namespace kith::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

// Percent-encodes a query value (letters and digits kept).
std::string Encode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

class DirectoryFederationTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(net_.Start({"Alpha", "Beta"})); }
  void TearDown() override {
    if (HasFailure()) std::cout << net_.Logs();
  }

  PeerNode& A() { return net_.node(0); }
  PeerNode& B() { return net_.node(1); }

  // `kithctl member add` with a display name and directory visibility.
  std::optional<TestMember> AddMember(PeerNode& node, const std::string& handle,
                                      const std::string& name, const std::string& visibility) {
    ProcessResult r =
        node.Ctl({"member", "add", handle, "--email", handle + "@example.org", "--name", name,
                  "--organisation", "Fife Council", "--visibility", visibility, "--json"});
    if (r.status.code != 0) {
      ADD_FAILURE() << "kithctl member add " << handle << ": " << r.out << r.err;
      return std::nullopt;
    }
    json added = json::parse(r.out, nullptr, false);
    if (added.is_discarded() || !added["password"].is_string()) {
      ADD_FAILURE() << "kithctl member add printed: " << r.out;
      return std::nullopt;
    }
    return TestMember{handle, added["member"]["address"].get<std::string>(),
                      added["password"].get<std::string>()};
  }

  static ApiClient SignIn(const PeerNode& node, const TestMember& member) {
    auto api = ApiClient::SignIn(node, member);
    EXPECT_TRUE(api.ok()) << api.error().message;
    return std::move(api).value();
  }

  // The results of `q` searched by `api` (empty on any failure).
  static json Search(const ApiClient& api, const std::string& q) {
    auto page = api.GetJson("/api/v1/search?q=" + Encode(q));
    if (!page || !(*page)["results"].is_array()) return json::array();
    return (*page)["results"];
  }

  static bool Finds(const ApiClient& api, const std::string& q, const std::string& kind,
                    const std::string& key, const std::string& value) {
    for (const json& hit : Search(api, q)) {
      if (hit.value("kind", "") == kind && hit.value(key, "") == value) return true;
    }
    return false;
  }

  void CreateGroup(const ApiClient& api, const std::string& slug, const std::string& name,
                   const std::string& visibility, const std::string& policy) {
    auto res = api.Post("/api/v1/groups", {{"slug", slug},
                                           {"name", name},
                                           {"description", "About " + name},
                                           {"visibility", visibility},
                                           {"join_policy", policy},
                                           {"tags", json::array({"roadworks", "safety"})}});
    ASSERT_TRUE(res.ok() && res->status == 201) << Describe(res);
  }

  GroupNetwork net_;
};

TEST_F(DirectoryFederationTest, PeopleAndPublicGroupsOfANodeAreFoundOnItsPeers) {
  auto ada = AddMember(A(), "ada", "Ada Quixotica", "network");
  auto alice = AddMember(A(), "alice", "Alice Plain", "node");
  auto bob = AddMember(B(), "bob", "Bob Brown", "node");
  ASSERT_TRUE(ada && alice && bob);
  ApiClient ada_api = SignIn(A(), *ada);
  ApiClient alice_api = SignIn(A(), *alice);
  ApiClient bob_api = SignIn(B(), *bob);

  CreateGroup(alice_api, "roads", "Zebracrossing Roads", "public", "open");
  CreateGroup(alice_api, "secret", "Xylophonic Secrets", "private", "invite");
  {
    auto thread = alice_api.Post(GroupPath("secret@" + A().domain(), "/threads"),
                                 {{"title", "Quokkaplan"}, {"body", "Wombatbudget figures"}});
    ASSERT_TRUE(thread.ok() && thread->status < 300) << Describe(thread);
  }

  // A member with visibility network is found on B; a public group of A is listed on B.
  EXPECT_TRUE(
      WaitFor([&] { return Finds(bob_api, "Quixotica", "person", "address", ada->address); },
              seconds(30), std::chrono::milliseconds(100)))
      << Search(bob_api, "Quixotica").dump();
  EXPECT_TRUE(WaitFor(
      [&] { return Finds(bob_api, "Zebracrossing", "group", "group", "roads@" + A().domain()); },
      seconds(30), std::chrono::milliseconds(100)))
      << Search(bob_api, "Zebracrossing").dump();
  // The listing carries its tags as a list and whether the group is archived.
  int listed = 0;
  for (const json& hit : Search(bob_api, "Zebracrossing")) {
    if (hit.value("kind", "") != "group") continue;
    ++listed;
    EXPECT_EQ(hit["tags"], json::array({"roadworks", "safety"})) << hit.dump();
    EXPECT_EQ(hit["archived"], false) << hit.dump();
  }
  EXPECT_EQ(listed, 1);
  // Members of A with visibility node are not in B's directory.
  EXPECT_FALSE(Finds(bob_api, "Plain", "person", "address", alice->address));

  // Ada switches to hidden (the profile page on A): she leaves B's directory.
  auto page = ada_api.Send("GET", "/profile", "", "text/plain");
  ASSERT_TRUE(page.ok() && page->status == 200) << Describe(page);
  std::smatch match;
  ASSERT_TRUE(
      std::regex_search(page->body, match, std::regex("name=\"csrf_token\" value=\"([^\"]+)\"")))
      << page->body.substr(0, 2000);
  const std::string form = "csrf_token=" + Encode(match[1].str()) +
                           "&display_name=Ada+Quixotica&organisation=Fife+Council&job_title="
                           "&bio=&visibility=hidden";
  auto saved = ada_api.Send("POST", "/profile", form, "application/x-www-form-urlencoded");
  ASSERT_TRUE(saved.ok() && saved->status < 400) << Describe(saved);
  EXPECT_TRUE(
      WaitFor([&] { return !Finds(bob_api, "Quixotica", "person", "address", ada->address); },
              seconds(30), std::chrono::milliseconds(100)))
      << Search(bob_api, "Quixotica").dump();
  auto profile = bob_api.Get("/api/v1/directory/people/" + ada->address);
  ASSERT_TRUE(profile.ok());
  EXPECT_EQ(profile->status, 404) << profile->body;

  // The private group's name and content never reach B (B has no member in it).
  for (const char* word : {"Xylophonic", "Quokkaplan", "Wombatbudget"}) {
    EXPECT_TRUE(Search(bob_api, word).empty()) << word << ": " << Search(bob_api, word).dump();
  }
}

TEST_F(DirectoryFederationTest, AnInvitationMakesTheGroupKnownOnTheInviteesNode) {
  auto alice = AddMember(A(), "alice", "Alice Plain", "node");
  auto bob = AddMember(B(), "bob", "Bob Brown", "node");
  ASSERT_TRUE(alice && bob);
  ApiClient alice_api = SignIn(A(), *alice);
  ApiClient bob_api = SignIn(B(), *bob);
  CreateGroup(alice_api, "club", "Invitation Club", "restricted", "invite");
  const std::string club = "club@" + A().domain();
  // Nobody of B is in the group: B does not have it.
  auto before = bob_api.Get(GroupPath(club));
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->status, 404) << before->body;

  auto invited = Write(alice_api, "POST", GroupPath(club, "/invites"), {{"member", bob->address}});
  ASSERT_TRUE(invited.ok()) << invited.error().message;
  EXPECT_EQ(invited->state, "accepted") << invited->body.dump();

  // B learns of the invitation: the group (and bob's invite) is there.
  EXPECT_TRUE(WaitFor(
      [&] {
        auto g = bob_api.Get(GroupPath(club));
        return g.ok() && g->status == 200;
      },
      seconds(30), std::chrono::milliseconds(100)))
      << Describe(bob_api.Get(GroupPath(club)));
  // Bob accepts through B (his node sends the join to A, which knows the invite).
  auto joined = Write(bob_api, "POST", GroupPath(club, "/join"));
  ASSERT_TRUE(joined.ok()) << joined.error().message;
  EXPECT_EQ(joined->state, "accepted") << joined->body.dump();
  EXPECT_TRUE(WaitFor(
      [&] {
        auto g = bob_api.GetJson(GroupPath(club));
        return g && (*g)["my_role"] == "member";
      },
      seconds(30), std::chrono::milliseconds(100)))
      << Describe(bob_api.Get(GroupPath(club)));
}

}  // namespace
}  // namespace kith::testing
