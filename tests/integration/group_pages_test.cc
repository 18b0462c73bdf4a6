// The members' web pages with two real kithd (issue 6, "Web pages"): a member of node A signs
// in at B through their home node and uses B's group pages like B's own members — the group
// page, joining, replying through the form; a private group they are not in is "not found";
// their profile is edited at home. And the "create a group" form at B, with its error summary.
#include "tests/support/remote_session.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/support/group_network.h"

namespace kith::testing {
namespace {

using nlohmann::json;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class GroupPagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(net_.Start({"Council A", "Improvement Service"}));
    auto alice = A().AddMember("alice");
    ASSERT_TRUE(alice);
    alice_ = *alice;
    auto bob = B().AddMember("bob");
    ASSERT_TRUE(bob);
    bob_ = *bob;
    auto home = PasswordSession(A(), alice_);
    ASSERT_TRUE(home.ok()) << home.error().message;
    alice_home_ = *home;
    auto bob_b = PasswordSession(B(), bob_);
    ASSERT_TRUE(bob_b.ok()) << bob_b.error().message;
    bob_b_ = *bob_b;
  }

  PeerNode& A() { return net_.node(0); }
  PeerNode& B() { return net_.node(1); }

  GroupNetwork net_;
  TestMember alice_;
  TestMember bob_;
  BrowserSession alice_home_;
  BrowserSession bob_b_;
};

TEST_F(GroupPagesTest, CreateGroupFormWithErrorSummary) {
  auto form = bob_b_.Get("/groups/new");
  ASSERT_TRUE(form.ok());
  ASSERT_EQ(form->status, 200) << form->body;
  EXPECT_TRUE(Contains(form->body, "Create a group"));
  EXPECT_TRUE(Contains(form->body, "name=\"slug\""));

  // A bad slug: the form again, 400, with a GOV.UK error summary linking to the field.
  auto bad = bob_b_.PostForm("/groups/new", {{"name", "Roads"},
                                             {"slug", "Bad Slug!"},
                                             {"visibility", "public"},
                                             {"join_policy", "open"}});
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400) << bad->body;
  EXPECT_TRUE(Contains(bad->body, "govuk-error-summary")) << bad->body;
  EXPECT_TRUE(Contains(bad->body, "href=\"#slug\"")) << bad->body;
  EXPECT_TRUE(Contains(bad->body, "value=\"Roads\"")) << "what was typed is kept";
  // No name: an error on the name.
  auto no_name =
      bob_b_.PostForm("/groups/new", {{"visibility", "public"}, {"join_policy", "open"}});
  ASSERT_TRUE(no_name.ok());
  EXPECT_EQ(no_name->status, 400);
  EXPECT_TRUE(Contains(no_name->body, "Enter the group&#39;s name") ||
              Contains(no_name->body, "Enter the group"))
      << no_name->body;

  // The slug is derived from the name when left empty; the group page follows.
  auto made = bob_b_.PostForm("/groups/new", {{"name", "Roads & Bridges"},
                                              {"description", "Roads across councils"},
                                              {"tags", "roads, bridges"},
                                              {"visibility", "public"},
                                              {"join_policy", "request"}});
  ASSERT_TRUE(made.ok());
  ASSERT_EQ(made->status, 303) << made->body;
  const std::string path = "/groups/roads-bridges@" + B().domain();
  EXPECT_EQ(made->Header("location"), path + "?notice=created");
  auto page = bob_b_.Get(path);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->status, 200);
  EXPECT_TRUE(Contains(page->body, "Roads &amp; Bridges")) << page->body;
  // The same slug again: an error on the slug, nothing created.
  auto again = bob_b_.PostForm(
      "/groups/new",
      {{"name", "Roads & Bridges"}, {"visibility", "public"}, {"join_policy", "open"}});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, 400) << again->body;
  EXPECT_TRUE(Contains(again->body, "href=\"#slug\"")) << again->body;
  // Without the CSRF token nothing is created.
  BrowserSession forged = bob_b_;
  forged.csrf = "wrong";
  auto refused = forged.PostForm(
      "/groups/new", {{"name", "Forged"}, {"visibility", "public"}, {"join_policy", "open"}});
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, 403);
}

TEST_F(GroupPagesTest, RemoteMemberUsesTheGroupPages) {
  // bob makes an open group and a private one at B, and starts a thread.
  ASSERT_EQ(bob_b_
                .PostForm("/groups/new", {{"name", "Roads"},
                                          {"slug", "roads"},
                                          {"visibility", "public"},
                                          {"join_policy", "open"}})
                ->status,
            303);
  ASSERT_EQ(bob_b_
                .PostForm("/groups/new", {{"name", "Secret"},
                                          {"slug", "secret"},
                                          {"visibility", "private"},
                                          {"join_policy", "invite"}})
                ->status,
            303);
  const std::string group = "/groups/roads@" + B().domain();
  auto thread =
      bob_b_.PostForm(group + "/forum", {{"title", "Potholes"}, {"body", "Report them here."}});
  ASSERT_TRUE(thread.ok());
  ASSERT_EQ(thread->status, 303) << thread->body;

  // alice@A signs in at B through A: a remote session at B.
  auto alice = RemoteSession(A(), B(), alice_, alice_home_);
  ASSERT_TRUE(alice.ok()) << alice.error().message << "\n" << net_.Logs();

  // Home and the group's page, as herself.
  auto home = alice->Get("/");
  ASSERT_TRUE(home.ok());
  EXPECT_EQ(home->status, 200) << home->body;
  EXPECT_TRUE(Contains(home->body, alice_.address)) << home->body;
  auto about = alice->Get(group);
  ASSERT_TRUE(about.ok());
  ASSERT_EQ(about->status, 200) << about->body;
  EXPECT_TRUE(Contains(about->body, "Roads"));
  EXPECT_TRUE(Contains(about->body, group + "/join")) << "an open group offers to join";

  // Join through the form, then open the thread and reply through the form.
  auto joined = alice->PostForm(group + "/join", {});
  ASSERT_TRUE(joined.ok());
  ASSERT_EQ(joined->status, 303) << joined->body;
  EXPECT_EQ(joined->Header("location"), group + "?notice=joined");
  auto forum = alice->Get(group + "/forum");
  ASSERT_TRUE(forum.ok());
  ASSERT_EQ(forum->status, 200) << forum->body;
  const size_t link = forum->body.find(group + "/forum/");
  ASSERT_NE(link, std::string::npos) << forum->body;
  const std::string thread_url = forum->body.substr(link, forum->body.find('"', link) - link);
  auto reply = alice->PostForm(thread_url + "/reply", {{"body", "Reply from Council A"}});
  ASSERT_TRUE(reply.ok());
  ASSERT_EQ(reply->status, 303) << reply->body;
  EXPECT_EQ(reply->Header("location"), thread_url + "?notice=reply");
  auto shown = alice->Get(thread_url);
  ASSERT_TRUE(shown.ok());
  ASSERT_EQ(shown->status, 200);
  EXPECT_TRUE(Contains(shown->body, "Reply from Council A")) << shown->body;
  EXPECT_TRUE(Contains(shown->body, alice_.address)) << "the reply is attributed to alice@A";
  // bob sees it too.
  auto bob_sees = bob_b_.Get(thread_url);
  ASSERT_TRUE(bob_sees.ok());
  EXPECT_TRUE(Contains(bob_sees->body, "Reply from Council A"));

  // The members page and the directory work for her.
  auto members = alice->Get(group + "/members");
  ASSERT_TRUE(members.ok());
  EXPECT_EQ(members->status, 200);
  EXPECT_TRUE(Contains(members->body, alice_.address));
  auto directory = alice->Get("/directory?q=Roads");
  ASSERT_TRUE(directory.ok());
  EXPECT_EQ(directory->status, 200) << directory->body;

  // A private group she is not in: not found, like the API.
  auto secret = alice->Get("/groups/secret@" + B().domain());
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ(secret->status, 404) << secret->body;
  auto secret_forum = alice->Get("/groups/secret@" + B().domain() + "/forum");
  ASSERT_TRUE(secret_forum.ok());
  EXPECT_EQ(secret_forum->status, 404);

  // Her profile is kept at home: the page says where.
  auto profile = alice->Get("/profile");
  ASSERT_TRUE(profile.ok());
  EXPECT_EQ(profile->status, 200);
  EXPECT_TRUE(Contains(profile->body, A().url + "/profile")) << profile->body;
  // She cannot create groups at B (a node hosts its own members' groups).
  auto create = alice->Get("/groups/new");
  ASSERT_TRUE(create.ok());
  EXPECT_EQ(create->status, 403);
}

}  // namespace
}  // namespace kith::testing
