// Issue 5 acceptance: three kithd nodes on loopback. A owns groups of every visibility and join
// policy; members on B and C join (by request with approval, by invitation), post threads and
// replies from all three nodes, upload on C and download on B, edit, delete, archive; the
// group's digest is then equal on A, B and C. A private group reaches only the nodes of its
// members, and a node whose last member leaves drops it.
#include "tests/support/group_network.h"

#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/group_api.h"

namespace kith::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

// The API clients of the members used below, one map per node.
struct Cast {
  std::map<std::string, ApiClient> at;  // handle -> signed-in client
  const ApiClient& operator[](const std::string& handle) const { return at.at(handle); }
};

class GroupsFederationTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) std::cout << net_.Logs();
  }

  void SetUp() override {
    ASSERT_TRUE(net_.Start({"Alpha", "Beta", "Gamma"}));
    AddMembers(0, {"alice", "adam"});
    AddMembers(1, {"bob", "bea"});
    AddMembers(2, {"carol", "cat"});
  }

  void AddMembers(size_t node, const std::vector<std::string>& handles) {
    for (const auto& h : handles) {
      auto m = net_.node(node).AddMember(h);
      ASSERT_TRUE(m);
      auto api = ApiClient::SignIn(net_.node(node), *m);
      ASSERT_TRUE(api.ok()) << api.error().message;
      cast_.at.emplace(h, std::move(api).value());
    }
  }

  PeerNode& A() { return net_.node(0); }
  PeerNode& B() { return net_.node(1); }
  PeerNode& C() { return net_.node(2); }
  const ApiClient& Api(const std::string& handle) { return cast_[handle]; }
  std::string Addr(const std::string& handle) { return cast_[handle].address(); }

  // Creates a group on A as alice; returns its id.
  std::string CreateGroup(const std::string& slug, const std::string& visibility,
                          const std::string& policy) {
    auto res = Api("alice").Post("/api/v1/groups", {{"slug", slug},
                                                    {"name", "Group " + slug},
                                                    {"description", "About " + slug},
                                                    {"tags", {"test", visibility}},
                                                    {"visibility", visibility},
                                                    {"join_policy", policy}});
    EXPECT_TRUE(res.ok() && res->status == 201) << Describe(res);
    if (res.ok()) {
      json body = JsonBody(*res);
      EXPECT_EQ(body.value("state", ""), "accepted") << res->body;
      EXPECT_EQ(body.value("seq", 0), 1) << res->body;
      EXPECT_EQ(body["event"].value("type", ""), "group.created") << res->body;
    }
    return slug + "@" + A().domain();
  }

  // A write that must end accepted; returns the seq.
  int64_t Accepted(const std::string& who, const std::string& method, const std::string& target,
                   const json& body = json::object()) {
    auto out = Write(Api(who), method, target, body);
    EXPECT_TRUE(out.ok()) << out.error().message;
    if (!out.ok()) return 0;
    EXPECT_EQ(out->state, "accepted")
        << who << " " << method << " " << target << ": " << out->status << " " << out->body.dump();
    EXPECT_GT(out->seq, 0) << out->body.dump();
    return out->seq;
  }

  // A write that must be refused with `status` (and an error body).
  void Refused(const std::string& who, const std::string& method, const std::string& target,
               int status, const json& body = json::object()) {
    auto res = method == "DELETE" ? Api(who).Delete(target)
                                  : Api(who).Send(method, target, body.dump(), "application/json");
    ASSERT_TRUE(res.ok()) << res.error().message;
    EXPECT_EQ(res->status, status) << who << " " << method << " " << target << ": " << res->body;
    json err = JsonBody(*res);
    EXPECT_TRUE(err.is_object() && err.contains("error") && err.contains("message")) << res->body;
  }

  int64_t HeadAt(const std::string& who, const std::string& group) {
    auto d = GroupDigest(Api(who), group);
    return d ? d->value("head", int64_t{-1}) : -1;
  }

  // Waits until the digest seen by each of `viewers` (one per node) has the owner's head and
  // digest; the final values are compared with EXPECT so a failure shows them.
  void ExpectConverged(const std::string& group, const std::vector<std::string>& viewers,
                       std::chrono::seconds timeout = seconds(60)) {
    auto owner = GroupDigest(Api(viewers[0]), group);
    ASSERT_TRUE(owner) << "no digest on the owner for " << group;
    WaitFor(
        [&] {
          for (size_t i = 1; i < viewers.size(); ++i) {
            auto d = GroupDigest(Api(viewers[i]), group);
            if (!d || (*d)["digest"] != (*owner)["digest"]) return false;
          }
          return true;
        },
        timeout, std::chrono::milliseconds(100));
    for (size_t i = 1; i < viewers.size(); ++i) {
      auto d = GroupDigest(Api(viewers[i]), group);
      ASSERT_TRUE(d) << viewers[i] << " sees no digest of " << group;
      EXPECT_EQ((*d)["head"], (*owner)["head"]) << viewers[i];
      EXPECT_EQ((*d)["digest"], (*owner)["digest"]) << viewers[i];
      EXPECT_EQ((*d)["stream"], (*owner)["stream"]) << viewers[i];
    }
  }

  GroupNetwork net_;
  Cast cast_;
};

TEST_F(GroupsFederationTest, ThreeNodesJoinPostUploadEditArchiveAndAgree) {
  // A owns one group of each visibility and join policy.
  std::map<std::string, std::string> groups;
  for (const char* vis : {"public", "restricted", "private"}) {
    for (const char* policy : {"open", "request", "invite"}) {
      const std::string slug = std::string(vis) + "-" + policy;
      groups[slug] = CreateGroup(slug, vis, policy);
    }
  }
  {
    auto g = Api("alice").GetJson(GroupPath(groups["restricted-request"]));
    ASSERT_TRUE(g);
    EXPECT_EQ((*g)["my_role"], "owner") << g->dump();
    // adam (A, not a member) sees public and restricted groups listed, not private ones.
    auto list = Api("adam").GetJson("/api/v1/groups");
    ASSERT_TRUE(list);
    const std::string listed = list->dump();
    EXPECT_NE(listed.find("public-open"), std::string::npos) << listed;
    EXPECT_NE(listed.find("restricted-invite"), std::string::npos) << listed;
    EXPECT_EQ(listed.find("private-"), std::string::npos) << listed;
  }

  // Open public group: bob (B) joins at once, cat (C) too.
  const std::string pub = groups["public-open"];
  EXPECT_EQ(Accepted("bob", "POST", GroupPath(pub, "/join")), 2);
  Accepted("cat", "POST", GroupPath(pub, "/join"));

  // Restricted, join by request: bob asks through B, alice approves on A.
  const std::string g = groups["restricted-request"];
  Accepted("bob", "POST", GroupPath(g, "/join"), {{"message", "I plan roads at Beta"}});
  {
    auto requests = Api("alice").GetJson(GroupPath(g, "/requests"));
    ASSERT_TRUE(requests);
    ASSERT_EQ((*requests)["requests"].size(), 1u) << requests->dump();
    EXPECT_EQ((*requests)["requests"][0]["member"], Addr("bob"));
    EXPECT_EQ((*requests)["requests"][0]["message"], "I plan roads at Beta");
  }
  // Not a facilitator (not even a member): 403, on a mirror node as on the owner.
  Refused("bea", "POST", GroupPath(g, "/requests/" + Addr("bob") + "/approve"), 403);
  Refused("adam", "POST", GroupPath(g, "/requests/" + Addr("bob") + "/approve"), 403);
  Accepted("alice", "POST", GroupPath(g, "/requests/" + Addr("bob") + "/approve"));
  // B now mirrors the group: bob reads it on B as a member.
  EXPECT_TRUE(WaitFor(
      [&] {
        auto got = Api("bob").GetJson(GroupPath(g));
        return got && (*got)["my_role"] == "member";
      },
      seconds(30)))
      << Describe(Api("bob").Get(GroupPath(g)));

  // Invite a remote member: alice invites carol (C); carol joins through C.
  Accepted("alice", "POST", GroupPath(g, "/invites"), {{"member", Addr("carol")}});
  {
    auto invites = Api("alice").GetJson(GroupPath(g, "/invites"));
    ASSERT_TRUE(invites);
    EXPECT_NE(invites->dump().find(Addr("carol")), std::string::npos) << invites->dump();
  }
  Accepted("carol", "POST", GroupPath(g, "/join"));
  // bob becomes a facilitator and approves cat's request from his own node (B → A).
  Accepted("alice", "PATCH", GroupPath(g, "/members/" + Addr("bob")), {{"role", "facilitator"}});
  Accepted("cat", "POST", GroupPath(g, "/join"), {{"message", "me too"}});
  EXPECT_TRUE(WaitFor(
      [&] {
        auto r = Api("bob").GetJson(GroupPath(g, "/requests"));
        return r && r->dump().find(Addr("cat")) != std::string::npos;
      },
      seconds(30)));
  Accepted("bob", "POST", GroupPath(g, "/requests/" + Addr("cat") + "/approve"));
  {
    auto members = Api("alice").GetJson(GroupPath(g, "/members"));
    ASSERT_TRUE(members);
    std::map<std::string, std::string> roles;
    for (const auto& m : (*members)["members"]) {
      roles[m.value("member", "")] = m.value("role", "");
    }
    EXPECT_EQ(roles[Addr("alice")], "owner");
    EXPECT_EQ(roles[Addr("bob")], "facilitator");
    EXPECT_EQ(roles[Addr("carol")], "member");
    EXPECT_EQ(roles[Addr("cat")], "member");
    EXPECT_EQ(roles.size(), 4u) << members->dump();
  }

  // Threads from all three nodes, replies from all three nodes to each.
  std::vector<int64_t> threads;
  for (const char* who : {"alice", "bob", "carol"}) {
    threads.push_back(Accepted(who, "POST", GroupPath(g, "/threads"),
                               {{"title", std::string("Thread by ") + who},
                                {"body", std::string("Hello from **") + who + "**"}}));
  }
  std::map<int64_t, std::vector<int64_t>> replies;
  for (int64_t t : threads) {
    for (const char* who : {"alice", "bob", "carol", "cat"}) {
      replies[t].push_back(Accepted(who, "POST",
                                    GroupPath(g, "/threads/" + std::to_string(t) + "/posts"),
                                    {{"body", std::string("Reply by ") + who}}));
    }
  }
  ExpectConverged(g, {"alice", "bob", "carol"});
  // Every node shows the same thread with the Markdown rendered safely.
  for (const char* who : {"alice", "bob", "carol"}) {
    auto t = Api(who).GetJson(GroupPath(g, "/threads/" + std::to_string(threads[1])));
    ASSERT_TRUE(t) << who;
    EXPECT_EQ((*t)["thread"]["title"], "Thread by bob") << who;
    ASSERT_EQ((*t)["posts"].size(), 5u) << t->dump();
    EXPECT_EQ((*t)["posts"][0]["author"], Addr("bob"));
    EXPECT_NE((*t)["posts"][0]["body_html"].get<std::string>().find("<strong>bob</strong>"),
              std::string::npos)
        << t->dump();
    EXPECT_EQ((*t)["posts"][4]["author"], Addr("cat"));
  }

  // Upload on C (multipart, 300 KiB), download on B with the hash checked, and a range.
  const std::string bytes = RandomBytes(300 * 1024, 5);
  const std::string sha = Sha256Hex(bytes);
  Multipart form = MakeMultipart(
      {{"title", "Road survey"}, {"description", "2026 survey"}, {"tags", "roads,survey"}},
      "road survey.pdf", "application/pdf", bytes);
  auto uploaded =
      Api("carol").Send("POST", GroupPath(g, "/documents"), form.body, form.content_type);
  ASSERT_TRUE(uploaded.ok()) << uploaded.error().message;
  ASSERT_TRUE(uploaded->status == 201 || uploaded->status == 202) << Describe(uploaded);
  json up = JsonBody(*uploaded);
  int64_t doc = up.value("seq", int64_t{0});
  if (up.value("state", "") == "pending") {
    auto entry = AwaitCommand(Api("carol"), up.value("command_id", ""), seconds(30));
    ASSERT_TRUE(entry && entry->value("state", "") == "accepted") << (entry ? entry->dump() : "");
    doc = entry->value("seq", int64_t{0});
  } else {
    EXPECT_EQ(up["event"].value("type", ""), "file.added") << up.dump();
    EXPECT_EQ(up["event"]["data"].value("sha256", ""), sha) << up.dump();
  }
  ASSERT_GT(doc, 0);
  const std::string doc_path = GroupPath(g, "/documents/" + std::to_string(doc));
  ASSERT_TRUE(WaitFor([&] { return Api("bob").GetJson(doc_path).has_value(); }, seconds(30)));
  auto download = Api("bob").Get(doc_path + "/download");
  ASSERT_TRUE(download.ok()) << download.error().message;
  ASSERT_EQ(download->status, 200) << download->body.substr(0, 500);
  EXPECT_EQ(download->body.size(), bytes.size());
  EXPECT_EQ(Sha256Hex(download->body), sha);
  EXPECT_EQ(download->Header("content-type"), "application/pdf");
  EXPECT_NE(download->Header("content-disposition").find("attachment"), std::string::npos);
  EXPECT_NE(download->Header("etag").find(sha), std::string::npos) << download->Header("etag");
  {
    auto ranged = Api("bob").Send("GET", doc_path + "/download", "", "", seconds(20),
                                  {{"Range", "bytes=1000-1999"}});
    ASSERT_TRUE(ranged.ok());
    EXPECT_EQ(ranged->status, 206);
    EXPECT_EQ(ranged->body, bytes.substr(1000, 1000));
    EXPECT_EQ(ranged->Header("content-range"), "bytes 1000-1999/" + std::to_string(bytes.size()));
    auto unsatisfiable = Api("bob").Send("GET", doc_path + "/download", "", "", seconds(20),
                                         {{"Range", "bytes=999999-"}});
    ASSERT_TRUE(unsatisfiable.ok());
    EXPECT_EQ(unsatisfiable->status, 416);
  }
  // The owner has the bytes too (fetched from C before it accepted the command).
  auto on_a = Api("alice").Get(doc_path + "/download");
  ASSERT_TRUE(on_a.ok());
  EXPECT_EQ(on_a->status, 200);
  EXPECT_EQ(Sha256Hex(on_a->body), sha);

  // Edit and delete: bob edits his thread's first post on B; carol deletes her reply on C;
  // carol may not edit bob's post (403 on C as on A); alice pins and locks a thread.
  Accepted("bob", "PATCH", GroupPath(g, "/posts/" + std::to_string(threads[1])),
           {{"body", "Edited by bob"}, {"title", "Thread by bob (edited)"}});
  Accepted("carol", "DELETE", GroupPath(g, "/posts/" + std::to_string(replies[threads[0]][2])));
  Refused("carol", "PATCH", GroupPath(g, "/posts/" + std::to_string(threads[1])), 403,
          {{"body", "not mine"}});
  Accepted("alice", "POST", GroupPath(g, "/threads/" + std::to_string(threads[2]) + "/pin"),
           {{"pinned", true}});
  Accepted("alice", "POST", GroupPath(g, "/threads/" + std::to_string(threads[0]) + "/lock"),
           {{"locked", true}});
  ExpectConverged(g, {"alice", "bob", "carol"});
  {
    auto t = Api("carol").GetJson(GroupPath(g, "/threads/" + std::to_string(threads[0])));
    ASSERT_TRUE(t);
    bool found = false;
    for (const auto& p : (*t)["posts"]) {
      if (p["id"] == replies[threads[0]][2]) {
        found = true;
        EXPECT_EQ(p["deleted"], true) << p.dump();
        EXPECT_EQ(p.value("body", ""), "") << "a deleted post's body is gone: " << p.dump();
      }
    }
    EXPECT_TRUE(found) << t->dump();
    auto edited = Api("carol").GetJson(GroupPath(g, "/threads/" + std::to_string(threads[1])));
    ASSERT_TRUE(edited);
    EXPECT_EQ((*edited)["posts"][0]["body"], "Edited by bob") << edited->dump();
  }

  // Archive: read-only everywhere, still readable.
  Accepted("alice", "POST", GroupPath(g, "/archive"));
  ExpectConverged(g, {"alice", "bob", "carol"});
  Refused("bob", "POST", GroupPath(g, "/threads"), 409, {{"title", "late"}, {"body", "late"}});
  Refused("alice", "POST", GroupPath(g, "/threads"), 409, {{"title", "late"}, {"body", "late"}});
  {
    auto on_b = Api("bob").GetJson(GroupPath(g));
    ASSERT_TRUE(on_b);
    EXPECT_EQ((*on_b)["status"], "archived") << on_b->dump();
    EXPECT_TRUE(Api("carol").GetJson(GroupPath(g, "/threads")).has_value());
  }

  // The digests agree on A, B and C for the public group as well.
  ExpectConverged(pub, {"alice", "bob", "cat"});
}

TEST_F(GroupsFederationTest, PrivateGroupReachesOnlyItsMembersNodesAndIsDroppedWhenTheyLeave) {
  const std::string g = CreateGroup("secret", "private", "invite");
  const std::string stream = "group:" + g;
  Accepted("alice", "POST", GroupPath(g, "/invites"), {{"member", Addr("bob")}});
  Accepted("bob", "POST", GroupPath(g, "/join"));
  Accepted("alice", "POST", GroupPath(g, "/threads"), {{"title", "Budget"}, {"body", "Numbers"}});
  const int64_t t =
      Accepted("bob", "POST", GroupPath(g, "/threads"), {{"title", "From B"}, {"body", "Hi"}});
  Accepted("alice", "POST", GroupPath(g, "/threads/" + std::to_string(t) + "/posts"),
           {{"body", "Reply"}});
  ExpectConverged(g, {"alice", "bob"});

  // C has no member in it: nothing of it on C, and C's members cannot see it (404).
  for (const char* who : {"carol", "cat"}) {
    auto res = Api(who).Get(GroupPath(g));
    ASSERT_TRUE(res.ok());
    EXPECT_EQ(res->status, 404) << res->body;
    auto threads = Api(who).Get(GroupPath(g, "/threads"));
    ASSERT_TRUE(threads.ok());
    EXPECT_EQ(threads->status, 404) << threads->body;
  }
  EXPECT_EQ(CountStreamRows(C().node->data_dir(), stream), 0);
  EXPECT_EQ(CountEventRows(C().node->data_dir(), stream), 0);
  EXPECT_GT(CountEventRows(B().node->data_dir(), stream), 0);
  // A member of A who is not in it gets 404 too (unlisted).
  auto adam = Api("adam").Get(GroupPath(g));
  ASSERT_TRUE(adam.ok());
  EXPECT_EQ(adam->status, 404) << adam->body;
  // A C member cannot join an invite-only group uninvited (refused by the owner).
  Refused("carol", "POST", GroupPath(g, "/join"), 403);

  // bob, B's last member, leaves: B drops the group and its content.
  Accepted("bob", "POST", GroupPath(g, "/leave"));
  EXPECT_TRUE(
      WaitFor([&] { return CountStreamRows(B().node->data_dir(), stream) == 0; }, seconds(30)));
  EXPECT_EQ(CountEventRows(B().node->data_dir(), stream), 0);
  auto gone = Api("bob").Get(GroupPath(g));
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->status, 404) << gone->body;
  // Later events do not reach B.
  Accepted("alice", "POST", GroupPath(g, "/threads"), {{"title", "After"}, {"body", "B left"}});
  auto still = Api("alice").GetJson(GroupPath(g, "/threads"));
  ASSERT_TRUE(still);
  EXPECT_EQ((*still)["threads"].size(), 3u) << still->dump();
  EXPECT_EQ(CountStreamRows(B().node->data_dir(), stream), 0);

  net_.StopAll();
}

}  // namespace
}  // namespace kith::testing
