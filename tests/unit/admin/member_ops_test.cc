#include "admin/member_ops.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "admin/admin_api.h"
#include "admin/node_init.h"
#include "tests/support/temp_dir.h"

namespace kith::admin {
namespace {

using kith::testing::TempDir;
using nlohmann::json;

class MemberOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitOptions init;
    init.data_dir = dir_ / "node";
    init.base_url = "http://127.0.0.1:8401";
    init.name = "council-a.example";
    init.organisation = "Council A";
    auto report = InitDataDir(init, clock_);
    ASSERT_TRUE(report.ok()) << report.error().message;
    storage::Store::Options options;
    options.path = report->database_path;
    auto store = storage::Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    members_ = std::make_unique<identity::MemberStore>(*store_, clock_);
    sessions_ = std::make_unique<identity::SessionStore>(*store_, clock_);
    identity::PasswordHasher::Options hash_options;
    hash_options.params = identity::PasswordHashParams::Minimum();
    hasher_ = std::make_unique<identity::PasswordHasher>(hash_options);
    NodeContext context;
    context.data_dir = report->data_dir;
    context.store = store_.get();
    context.name = init.name;
    context.domain = "council-a.example";
    context.members = members_.get();
    context.sessions = sessions_.get();
    context.hasher = hasher_.get();
    api_.emplace(std::move(context));
  }
  void TearDown() override {
    api_.reset();
    hasher_.reset();
    if (store_) store_->Close();
  }

  AdminResponse Call(std::string_view method, std::string_view path, const json& body) {
    return api_->Handle(method, path, body.is_null() ? std::string() : body.dump());
  }

  // Adds a member through the API with a known password; fails the test on error.
  json AddMember(const std::string& handle, const std::string& email,
                 const std::string& organisation = "Council A") {
    auto res = Call("POST", "/v1/members",
                    {{"handle", handle},
                     {"email", email},
                     {"display_name", "Member " + handle},
                     {"organisation", organisation},
                     {"password", "correct horse battery"}});
    EXPECT_EQ(res.status, 200) << res.body.dump();
    return res.body["member"];
  }

  bool PasswordMatches(int64_t id, const std::string& password) {
    auto hash = members_->PasswordHash(id);
    if (!hash.ok() || hash->empty()) return false;
    auto check = WaitDone<identity::PasswordCheck>([&](identity::Done<identity::PasswordCheck> d) {
      hasher_->Verify(*hash, identity::SecretString(password), std::move(d));
    });
    return check.ok() && check->matches;
  }

  identity::NewSession StartSession(int64_t member_id) {
    auto session = WaitDone<identity::NewSession>([&](identity::Done<identity::NewSession> d) {
      sessions_->Create(member_id, {"127.0.0.1", "test"}, std::move(d));
    });
    EXPECT_TRUE(session.ok()) << session.error().message;
    return session.ok() ? std::move(session).value() : identity::NewSession{};
  }

  TempDir dir_{"member-ops"};
  FakeClock clock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<identity::MemberStore> members_;
  std::unique_ptr<identity::SessionStore> sessions_;
  std::unique_ptr<identity::PasswordHasher> hasher_;
  std::optional<AdminApi> api_;
};

// No response may carry a password hash, under any key.
void ExpectNoHash(const json& body) {
  const std::string text = body.dump();
  EXPECT_EQ(text.find("$argon2"), std::string::npos) << text;
  EXPECT_EQ(text.find("password_hash"), std::string::npos) << text;
}

TEST_F(MemberOpsTest, AddGeneratesAPasswordAndShowsItOnce) {
  auto res = Call("POST", "/v1/members",
                  {{"handle", "Alice"},
                   {"email", "alice@Council-A.example"},
                   {"display_name", "Alice Smith"},
                   {"organisation", "Council A"},
                   {"job_title", "Planner"},
                   {"bio", "Housing and planning"}});
  ASSERT_EQ(res.status, 200) << res.body.dump();
  ExpectNoHash(res.body);
  const json& m = res.body["member"];
  EXPECT_EQ(m["handle"], "alice");
  EXPECT_EQ(m["address"], "alice@council-a.example");
  EXPECT_EQ(m["email"], "alice@council-a.example");
  EXPECT_EQ(m["job_title"], "Planner");
  EXPECT_EQ(m["status"], "active");
  EXPECT_EQ(m["has_password"], true);
  EXPECT_FALSE(m["sub"].get<std::string>().empty());
  const std::string password = res.body["password"];
  EXPECT_EQ(password.size(), 20u);
  EXPECT_TRUE(identity::CheckPasswordRules(password, "alice", "alice@council-a.example").ok());
  EXPECT_TRUE(PasswordMatches(m["id"], password));
  EXPECT_FALSE(PasswordMatches(m["id"], "something else entirely"));

  auto shown = Call("GET", "/v1/members/ALICE", nullptr);
  ASSERT_EQ(shown.status, 200) << shown.body.dump();
  EXPECT_EQ(shown.body["member"]["id"], m["id"]);
  EXPECT_FALSE(shown.body.contains("password"));
  ExpectNoHash(shown.body);

  // Two generated passwords differ.
  auto other = Call("POST", "/v1/members",
                    {{"handle", "bob"}, {"email", "bob@x.example"}, {"display_name", "Bob"}});
  ASSERT_EQ(other.status, 200) << other.body.dump();
  EXPECT_NE(other.body["password"], password);
}

TEST_F(MemberOpsTest, AddWithAPasswordDoesNotEchoIt) {
  auto res = Call("POST", "/v1/members",
                  {{"handle", "carol"},
                   {"email", "carol@x.example"},
                   {"display_name", "Carol"},
                   {"password", "a long enough passphrase"}});
  ASSERT_EQ(res.status, 200) << res.body.dump();
  EXPECT_FALSE(res.body.contains("password"));
  EXPECT_TRUE(PasswordMatches(res.body["member"]["id"], "a long enough passphrase"));
}

TEST_F(MemberOpsTest, AddRefusesBadInputNamingTheField) {
  struct Case {
    json body;
    int status;
    std::string names;
  };
  const json ok{{"handle", "dave"}, {"email", "dave@x.example"}, {"display_name", "Dave"}};
  auto with = [&](const char* key, json value) {
    json b = ok;
    b[key] = std::move(value);
    return b;
  };
  auto without = [&](const char* key) {
    json b = ok;
    b.erase(key);
    return b;
  };
  const Case cases[] = {
      {without("handle"), 400, "handle"},
      {without("email"), 400, "email"},
      {without("display_name"), 400, "display_name"},
      {with("handle", "bad handle!"), 400, "handle"},
      {with("handle", 7), 400, "handle"},
      {with("email", "not-an-email"), 400, "email"},
      {with("display_name", ""), 400, "display_name"},
      {with("bio", std::string(3000, 'x')), 400, "bio"},
      {with("visibility", "everyone"), 400, "visibility"},
      {with("password", "short"), 400, "password"},
      {with("password", "dave-is-my-password"), 400, "password"},
      {with("colour", "blue"), 400, "colour"},
      {json::array(), 400, "object"},
  };
  for (const auto& c : cases) {
    auto res = Call("POST", "/v1/members", c.body);
    EXPECT_EQ(res.status, c.status) << c.body.dump() << " -> " << res.body.dump();
    EXPECT_NE(res.body["message"].get<std::string>().find(c.names), std::string::npos)
        << res.body.dump();
  }
  EXPECT_EQ(api_->Handle("POST", "/v1/members", "{not json").status, 400);
  EXPECT_EQ(members_->Count().value(), 0);
}

TEST_F(MemberOpsTest, AddRefusesATakenHandleOrEmail) {
  AddMember("erin", "erin@x.example");
  auto res = Call("POST", "/v1/members",
                  {{"handle", "ERIN"}, {"email", "other@x.example"}, {"display_name", "E"}});
  EXPECT_EQ(res.status, 409) << res.body.dump();
  EXPECT_NE(res.body["message"].get<std::string>().find("handle"), std::string::npos);
  res = Call("POST", "/v1/members",
             {{"handle", "erin2"}, {"email", "erin@X.example"}, {"display_name", "E"}});
  EXPECT_EQ(res.status, 409) << res.body.dump();
  EXPECT_NE(res.body["message"].get<std::string>().find("email"), std::string::npos);
  EXPECT_EQ(members_->Count().value(), 1);
}

TEST_F(MemberOpsTest, ListPagesAndSearches) {
  for (int i = 0; i < 5; ++i) {
    AddMember("user" + std::to_string(i), "user" + std::to_string(i) + "@x.example",
              i % 2 ? "Council B" : "Council A");
  }
  auto page = Call("GET", "/v1/members?limit=2", nullptr);
  ASSERT_EQ(page.status, 200) << page.body.dump();
  ASSERT_EQ(page.body["members"].size(), 2u);
  EXPECT_EQ(page.body["members"][0]["handle"], "user0");
  ExpectNoHash(page.body);
  std::vector<std::string> seen;
  int64_t after = 0;
  for (int guard = 0; guard < 10; ++guard) {
    auto res = Call("GET", "/v1/members?limit=2&after=" + std::to_string(after), nullptr);
    ASSERT_EQ(res.status, 200) << res.body.dump();
    for (const auto& m : res.body["members"]) seen.push_back(m["handle"]);
    after = res.body["next_after"];
    if (after == 0) break;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"user0", "user1", "user2", "user3", "user4"}));

  // Search: case-insensitive, over organisation too, paged.
  auto found = Call("GET", "/v1/members?q=council%20b", nullptr);
  ASSERT_EQ(found.status, 200) << found.body.dump();
  ASSERT_EQ(found.body["members"].size(), 2u);
  EXPECT_EQ(found.body["members"][0]["handle"], "user1");
  EXPECT_EQ(found.body["members"][1]["handle"], "user3");
  EXPECT_EQ(found.body["next_after"], 0);
  auto first = Call("GET", "/v1/members?q=COUNCIL+A&limit=1", nullptr);
  ASSERT_EQ(first.status, 200) << first.body.dump();
  ASSERT_EQ(first.body["members"].size(), 1u);
  EXPECT_EQ(first.body["members"][0]["handle"], "user0");
  const int64_t next = first.body["next_after"];
  EXPECT_EQ(next, first.body["members"][0]["id"]);
  auto rest = Call("GET", "/v1/members?q=council+a&limit=5&after=" + std::to_string(next), nullptr);
  ASSERT_EQ(rest.status, 200);
  ASSERT_EQ(rest.body["members"].size(), 2u);
  EXPECT_EQ(rest.body["members"][1]["handle"], "user4");
  EXPECT_EQ(Call("GET", "/v1/members?q=nobody", nullptr).body["members"].size(), 0u);

  for (const char* bad :
       {"/v1/members?limit=0", "/v1/members?limit=1001", "/v1/members?limit=x",
        "/v1/members?after=-1", "/v1/members?sort=name", "/v1/members?limit=1&limit=2"}) {
    auto res = Call("GET", bad, nullptr);
    EXPECT_EQ(res.status, 400) << bad << " -> " << res.body.dump();
  }
}

TEST_F(MemberOpsTest, DisableEndsSessionsAndEnableRestores) {
  const json m = AddMember("frank", "frank@x.example");
  auto session = StartSession(m["id"]);
  ASSERT_TRUE(sessions_->Authenticate(session.token).ok());

  auto res = Call("POST", "/v1/members/frank/disable", nullptr);
  ASSERT_EQ(res.status, 200) << res.body.dump();
  EXPECT_EQ(res.body["member"]["status"], "disabled");
  EXPECT_FALSE(sessions_->Authenticate(session.token).ok());
  auto refused = WaitDone<identity::NewSession>([&](identity::Done<identity::NewSession> d) {
    sessions_->Create(m["id"], {}, std::move(d));
  });
  EXPECT_FALSE(refused.ok());

  res = Call("POST", "/v1/members/frank/enable", nullptr);
  ASSERT_EQ(res.status, 200) << res.body.dump();
  EXPECT_EQ(res.body["member"]["status"], "active");
  EXPECT_EQ(members_->GetByHandle("frank")->status, identity::MemberStatus::kActive);
  EXPECT_EQ(Call("POST", "/v1/members/nobody/disable", nullptr).status, 404);
}

TEST_F(MemberOpsTest, ResetPasswordEndsEverySession) {
  const json m = AddMember("grace", "grace@x.example");
  auto one = StartSession(m["id"]);
  auto two = StartSession(m["id"]);

  auto res = Call("POST", "/v1/members/grace/reset-password", nullptr);
  ASSERT_EQ(res.status, 200) << res.body.dump();
  ExpectNoHash(res.body);
  EXPECT_EQ(res.body["sessions_ended"], 2);
  const std::string generated = res.body["password"];
  EXPECT_TRUE(PasswordMatches(m["id"], generated));
  EXPECT_FALSE(PasswordMatches(m["id"], "correct horse battery"));
  EXPECT_FALSE(sessions_->Authenticate(one.token).ok());
  EXPECT_FALSE(sessions_->Authenticate(two.token).ok());

  res = Call("POST", "/v1/members/grace/reset-password", {{"password", "a brand new passphrase"}});
  ASSERT_EQ(res.status, 200) << res.body.dump();
  EXPECT_FALSE(res.body.contains("password"));
  EXPECT_EQ(res.body["sessions_ended"], 0);
  EXPECT_TRUE(PasswordMatches(m["id"], "a brand new passphrase"));

  // A weak password is refused and changes nothing.
  res = Call("POST", "/v1/members/grace/reset-password", {{"password", "grace@x.example!!"}});
  EXPECT_EQ(res.status, 400) << res.body.dump();
  EXPECT_NE(res.body["message"].get<std::string>().find("password"), std::string::npos);
  EXPECT_TRUE(PasswordMatches(m["id"], "a brand new passphrase"));
  EXPECT_EQ(Call("POST", "/v1/members/grace/reset-password", {{"pasword", "x"}}).status, 400);
  EXPECT_EQ(Call("POST", "/v1/members/nobody/reset-password", nullptr).status, 404);
}

TEST_F(MemberOpsTest, RemoveDeletesTheMemberAndRetiresItsSub) {
  const json m = AddMember("heidi", "heidi@x.example");
  auto session = StartSession(m["id"]);
  auto res = Call("DELETE", "/v1/members/heidi", nullptr);
  ASSERT_EQ(res.status, 200) << res.body.dump();
  EXPECT_EQ(res.body["removed"], "heidi");
  EXPECT_EQ(Call("GET", "/v1/members/heidi", nullptr).status, 404);
  EXPECT_FALSE(sessions_->Authenticate(session.token).ok());
  EXPECT_EQ(Call("DELETE", "/v1/members/heidi", nullptr).status, 404);
  // The handle is free again, but the new member is someone else: a new sub.
  const json again = AddMember("heidi", "heidi@x.example");
  EXPECT_NE(again["sub"], m["sub"]);
}

TEST_F(MemberOpsTest, PathErrors) {
  auto res = Call("GET", "/v1/members/nobody", nullptr);
  EXPECT_EQ(res.status, 404);
  EXPECT_NE(res.body["message"].get<std::string>().find("nobody"), std::string::npos);
  EXPECT_EQ(Call("GET", "/v1/members/bad%20handle", nullptr).status, 400);
  EXPECT_EQ(Call("GET", "/v1/members/bad%zz", nullptr).status, 400);
  EXPECT_EQ(Call("PUT", "/v1/members/alice", nullptr).status, 405);
  EXPECT_EQ(Call("GET", "/v1/members/import", nullptr).status, 404);
}

TEST_F(MemberOpsTest, ImportIsAllOrNothing) {
  AddMember("taken", "taken@x.example");
  const std::string header = "handle,display_name,email,organisation,job_title,password\n";
  std::string bad = header;
  bad += "ivan,Ivan,ivan@x.example,Council A,Officer,\n";         // line 2: fine
  bad += "judy,Judy,not-an-email,Council A,Officer,\n";           // line 3: email
  bad += "karl,Karl,karl@x.example,Council A,Officer,short\n";    // line 4: password
  bad += "ivan,Ivan Again,ivan2@x.example,Council A,Officer,\n";  // line 5: repeat
  bad += "\"lena\",\"Lena, PhD\",lena@x.example,Council A,\"Chief Officer, Housing\",\n";  // fine
  auto res = Call("POST", "/v1/members/import", {{"csv", bad}});
  ASSERT_EQ(res.status, 200) << res.body.dump();
  EXPECT_EQ(res.body["committed"], false);
  EXPECT_EQ(res.body["imported"], 0);
  EXPECT_EQ(res.body["rows"], 5);
  ASSERT_EQ(res.body["rejected"].size(), 3u) << res.body.dump();
  EXPECT_EQ(res.body["rejected"][0]["line"], 3);
  EXPECT_EQ(res.body["rejected"][0]["handle"], "judy");
  EXPECT_NE(res.body["rejected"][0]["reason"].get<std::string>().find("email"), std::string::npos);
  EXPECT_EQ(res.body["rejected"][1]["line"], 4);
  EXPECT_EQ(res.body["rejected"][2]["line"], 5);
  EXPECT_NE(res.body["summary"].get<std::string>().find("nothing was imported"), std::string::npos);
  EXPECT_EQ(members_->Count().value(), 1);

  // A clash with an existing member also rejects everything.
  res = Call("POST", "/v1/members/import",
             {{"csv", header + "ivan,Ivan,ivan@x.example,A,B,\ntaken,T,t2@x.example,A,B,\n"}});
  ASSERT_EQ(res.status, 200) << res.body.dump();
  EXPECT_EQ(res.body["committed"], false);
  ASSERT_EQ(res.body["rejected"].size(), 1u) << res.body.dump();
  EXPECT_EQ(res.body["rejected"][0]["line"], 3);
  EXPECT_EQ(members_->Count().value(), 1);

  std::string good = header;
  good += "ivan,Ivan,ivan@x.example,Council A,Officer,\n";
  good += "karl,Karl,karl@x.example,Council A,Officer,a long passphrase of his\n";
  good += "\"lena\",\"Lena, PhD\",lena@x.example,Council A,\"Chief Officer, Housing\",\n";
  res = Call("POST", "/v1/members/import", {{"csv", good}});
  ASSERT_EQ(res.status, 200) << res.body.dump();
  ExpectNoHash(res.body);
  EXPECT_EQ(res.body["committed"], true);
  EXPECT_EQ(res.body["imported"], 3);
  EXPECT_EQ(res.body["rejected"].size(), 0u);
  EXPECT_EQ(members_->Count().value(), 4);
  EXPECT_FALSE(members_->GetByHandle("ivan")->has_password);
  EXPECT_TRUE(PasswordMatches(members_->GetByHandle("karl")->id, "a long passphrase of his"));
  EXPECT_EQ(members_->GetByHandle("lena")->display_name, "Lena, PhD");

  // A file that is unusable as a whole is a 400 naming the problem.
  res = Call("POST", "/v1/members/import", {{"csv", "handle,email\nx,y\n"}});
  EXPECT_EQ(res.status, 400) << res.body.dump();
  EXPECT_NE(res.body["message"].get<std::string>().find("display_name"), std::string::npos);
  EXPECT_EQ(Call("POST", "/v1/members/import", {{"csv", 5}}).status, 400);
  EXPECT_EQ(Call("POST", "/v1/members/import", json::object()).status, 400);
}

TEST(MemberOpsWithoutServices, AnswerUnavailable) {
  AdminApi api(NodeContext{});
  EXPECT_EQ(api.Handle("GET", "/v1/members", "").status, 503);
  EXPECT_EQ(api.Handle("POST", "/v1/members/import", R"({"csv":""})").status, 503);
}

TEST(DecodeComponent, DecodesAndRefusesBadEscapes) {
  EXPECT_EQ(DecodeComponent("https%3A%2F%2Fb.example", "client_id").value(), "https://b.example");
  EXPECT_EQ(DecodeComponent("plain", "x").value(), "plain");
  auto bad = DecodeComponent("a%2", "client_id");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("client_id"), std::string::npos);
}

}  // namespace
}  // namespace kith::admin
