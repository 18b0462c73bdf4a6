// kithctl member and kithctl client against a live kithd: the operator's view of issue 4.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/test_node.h"

namespace kith::testing {
namespace {

using nlohmann::json;

// A node that hashes passwords at the cheapest Argon2id cost, so that imports are quick.
std::unique_ptr<TestNode> StartNode() {
  TestNodeOptions options;
  options.name = "council-a.example";
  options.env.emplace_back("KITH_IDENTITY_PASSWORD_COST", "minimum");
  // Members' addresses are handle@<the base URL's host>.
  options.env.emplace_back("KITH_NODE_BASE_URL", "https://council-a.example");
  return TestNode::Start(options);
}

// Runs `kithctl ARGS --data-dir D` with `input` on its standard input.
ProcessResult KithctlWithInput(const TestNode& node, const std::string& input,
                               const std::string& args) {
  ProcessOptions options;
  options.env = {
      {"KITHCTL", KithctlPath()}, {"DATA_DIR", node.data_dir().string()}, {"INPUT", input}};
  return RunProcess(
      {"/bin/sh", "-c",
       "printf '%s\\n' \"$INPUT\" | \"$KITHCTL\" " + args + " --data-dir \"$DATA_DIR\""},
      options, std::chrono::seconds(60));
}

json ParseJson(const ProcessResult& r) {
  json j = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.out << r.err;
  return j;
}

// Writes `rows` member rows (handle prefix `prefix`) to a CSV file; rows listed in `bad` get an
// invalid email.
std::filesystem::path WriteCsv(const TestNode& node, const std::string& name,
                               const std::string& prefix, int rows, const std::vector<int>& bad) {
  const auto path = node.temp_dir() / name;
  std::ofstream out(path);
  out << "handle,display_name,email,organisation,job_title\n";
  for (int i = 0; i < rows; ++i) {
    const std::string handle = prefix + std::to_string(i);
    const bool broken = std::find(bad.begin(), bad.end(), i) != bad.end();
    out << handle << ",\"Member " << i << ", Esq.\","
        << (broken ? "no-at-sign" : handle + "@council-a.example") << ",Council A,Officer\n";
  }
  return path;
}

TEST(KithctlMembers, AddListShowDisableEnableResetRemove) {
  auto node = StartNode();
  ASSERT_TRUE(node);

  // Generated password, as other engineers' acceptance tests read it.
  auto add = node->Kithctl({"member", "add", "alice", "--email", "alice@council-a.example",
                            "--name", "Alice Smith", "--organisation", "Council A", "--job-title",
                            "Planner", "--json"});
  ASSERT_EQ(add.status.code, 0) << add.out << add.err;
  json added = ParseJson(add);
  EXPECT_EQ(added["member"]["handle"], "alice");
  EXPECT_EQ(added["member"]["address"], "alice@council-a.example");
  ASSERT_TRUE(added["password"].is_string());
  EXPECT_EQ(added["password"].get<std::string>().size(), 20u);
  EXPECT_EQ(add.out.find("argon2"), std::string::npos);

  // Human output shows the generated password once.
  auto human = node->Kithctl(
      {"member", "add", "carol", "--email", "carol@council-a.example", "--name", "Carol"});
  ASSERT_EQ(human.status.code, 0) << human.out << human.err;
  EXPECT_NE(human.out.find("Added member carol@council-a.example"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("Password (shown only now"), std::string::npos) << human.out;

  // A password from stdin is used and not echoed.
  auto bob = KithctlWithInput(*node, "bobs long passphrase",
                              "member add bob --email bob@council-a.example --name Bob "
                              "--password-stdin");
  ASSERT_EQ(bob.status.code, 0) << bob.out << bob.err;
  EXPECT_EQ(bob.out.find("Password"), std::string::npos) << bob.out;
  EXPECT_EQ(bob.out.find("bobs long passphrase"), std::string::npos) << bob.out;

  // Refusals: a weak password and a bad email are usage errors; a taken handle fails.
  auto weak = KithctlWithInput(*node, "short",
                               "member add dave --email dave@x.example --name Dave "
                               "--password-stdin");
  EXPECT_EQ(weak.status.code, 2) << weak.out << weak.err;
  EXPECT_NE(weak.err.find("password"), std::string::npos) << weak.err;
  auto bad_email = node->Kithctl({"member", "add", "dave", "--email", "nope", "--name", "D"});
  EXPECT_EQ(bad_email.status.code, 2) << bad_email.err;
  EXPECT_NE(bad_email.err.find("email"), std::string::npos) << bad_email.err;
  auto taken = node->Kithctl({"member", "add", "ALICE", "--email", "a2@x.example", "--name", "A"});
  EXPECT_EQ(taken.status.code, 1) << taken.err;
  EXPECT_NE(taken.err.find("taken"), std::string::npos) << taken.err;
  EXPECT_EQ(node->Kithctl({"member", "add", "eve", "--name", "Eve"}).status.code, 2);

  // list: an aligned table, JSON, --limit, --search.
  auto list = node->Kithctl({"member", "list"});
  ASSERT_EQ(list.status.code, 0) << list.err;
  EXPECT_EQ(list.out.rfind("HANDLE", 0), 0u) << list.out;
  for (const char* h : {"alice", "bob", "carol"}) {
    EXPECT_NE(list.out.find(std::string("\n") + h + " "), std::string::npos) << list.out;
  }
  const auto status_column = list.out.find("STATUS");
  const auto alice_line = list.out.find("\nalice") + 1;
  EXPECT_EQ(list.out.substr(alice_line + status_column, 6), "active") << list.out;
  auto list_json = node->Kithctl({"member", "list", "--json"});
  ASSERT_EQ(list_json.status.code, 0);
  EXPECT_EQ(ParseJson(list_json)["members"].size(), 3u);
  auto limited = node->Kithctl({"member", "list", "--limit", "1", "--json"});
  ASSERT_EQ(limited.status.code, 0);
  json one = ParseJson(limited);
  EXPECT_EQ(one["members"].size(), 1u);
  EXPECT_NE(one["next_after"], 0);
  auto search = node->Kithctl({"member", "list", "--search", "Alice Sm", "--json"});
  ASSERT_EQ(search.status.code, 0);
  ASSERT_EQ(ParseJson(search)["members"].size(), 1u);

  // show
  auto show = node->Kithctl({"member", "show", "alice"});
  ASSERT_EQ(show.status.code, 0) << show.err;
  EXPECT_NE(show.out.find("alice@council-a.example"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("Planner"), std::string::npos) << show.out;

  // disable / enable
  auto disable = node->Kithctl({"member", "disable", "alice", "--json"});
  ASSERT_EQ(disable.status.code, 0) << disable.err;
  EXPECT_EQ(ParseJson(disable)["member"]["status"], "disabled");
  auto shown = node->Kithctl({"member", "show", "alice", "--json"});
  EXPECT_EQ(ParseJson(shown)["member"]["status"], "disabled");
  auto enable = node->Kithctl({"member", "enable", "alice"});
  ASSERT_EQ(enable.status.code, 0) << enable.err;
  EXPECT_NE(enable.out.find("Enabled alice@council-a.example"), std::string::npos);

  // reset-password: generated (shown once) or from stdin.
  auto reset = node->Kithctl({"member", "reset-password", "alice", "--json"});
  ASSERT_EQ(reset.status.code, 0) << reset.err;
  json reset_json = ParseJson(reset);
  ASSERT_TRUE(reset_json["password"].is_string());
  EXPECT_NE(reset_json["password"], added["password"]);
  EXPECT_TRUE(reset_json["sessions_ended"].is_number_integer());
  auto reset_stdin = KithctlWithInput(*node, "a brand new passphrase 2026",
                                      "member reset-password alice --password-stdin");
  ASSERT_EQ(reset_stdin.status.code, 0) << reset_stdin.err;
  EXPECT_EQ(reset_stdin.out.find("Password (shown"), std::string::npos) << reset_stdin.out;

  // remove: declined without an answer (stdin is empty), done with --yes.
  auto declined = node->Kithctl({"member", "remove", "carol"});
  EXPECT_EQ(declined.status.code, 3) << declined.out << declined.err;
  EXPECT_EQ(node->Kithctl({"member", "show", "carol"}).status.code, 0);
  auto removed = node->Kithctl({"member", "remove", "carol", "--yes"});
  ASSERT_EQ(removed.status.code, 0) << removed.err;
  auto gone = node->Kithctl({"member", "show", "carol"});
  EXPECT_EQ(gone.status.code, 1);
  EXPECT_NE(gone.err.find("no member \"carol\""), std::string::npos) << gone.err;
  EXPECT_EQ(node->Kithctl({"member", "disable", "carol"}).status.code, 1);
  EXPECT_EQ(node->Kithctl({"member", "show", "bad handle"}).status.code, 2);

  EXPECT_EQ(node->Stop().code, 0);
}

TEST(KithctlMembers, ImportIsAllOrNothing) {
  auto node = StartNode();
  ASSERT_TRUE(node);
  // 2,000 rows, three of them bad: nothing is imported, and each bad line is named.
  const auto bad = WriteCsv(*node, "bad.csv", "m", 2000, {10, 999, 1998});
  auto rejected = node->Kithctl({"member", "import", bad.string()});
  EXPECT_EQ(rejected.status.code, 1) << rejected.out << rejected.err;
  for (const char* line : {":12 (m10): email", ":1001 (m999): email", ":2000 (m1998): email"}) {
    EXPECT_NE(rejected.err.find(bad.string() + line), std::string::npos) << line << "\n"
                                                                         << rejected.err;
  }
  EXPECT_NE(rejected.err.find("3 of 2000 rows rejected; nothing was imported"), std::string::npos)
      << rejected.err;
  auto empty = node->Kithctl({"member", "list", "--json"});
  EXPECT_EQ(ParseJson(empty)["members"].size(), 0u);

  // The clean file goes in whole, in one go.
  const auto good = WriteCsv(*node, "good.csv", "m", 2000, {});
  const auto start = std::chrono::steady_clock::now();
  auto imported = node->Kithctl({"member", "import", good.string(), "--json"});
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(imported.status.code, 0) << imported.out << imported.err;
  json report = ParseJson(imported);
  EXPECT_EQ(report["committed"], true);
  EXPECT_EQ(report["imported"], 2000);
  EXPECT_EQ(report["rejected"].size(), 0u);
  EXPECT_LT(took, std::chrono::seconds(20));
  std::cout << "[ figures  ] kithctl member import of 2000 rows took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
  auto all = node->Kithctl({"member", "list", "--json"});
  ASSERT_EQ(all.status.code, 0);
  json members = ParseJson(all)["members"];
  ASSERT_EQ(members.size(), 2000u);
  EXPECT_EQ(members[1999]["display_name"], "Member 1999, Esq.");
  EXPECT_EQ(members[0]["has_password"], false);

  // Importing it again clashes with every row: nothing changes.
  auto again = node->Kithctl({"member", "import", good.string(), "--json"});
  EXPECT_EQ(again.status.code, 1);
  EXPECT_EQ(ParseJson(again)["rejected"].size(), 2000u);

  // A file that cannot be used at all.
  std::ofstream(node->temp_dir() / "wrong.csv") << "name,mail\nx,y\n";
  auto wrong = node->Kithctl({"member", "import", (node->temp_dir() / "wrong.csv").string()});
  EXPECT_EQ(wrong.status.code, 2) << wrong.err;
  EXPECT_NE(wrong.err.find("column"), std::string::npos) << wrong.err;
  auto missing = node->Kithctl({"member", "import", (node->temp_dir() / "none.csv").string()});
  EXPECT_EQ(missing.status.code, 1);
  EXPECT_NE(missing.err.find("cannot open"), std::string::npos) << missing.err;
  EXPECT_EQ(node->Stop().code, 0);
}

TEST(KithctlClients, AddListRemove) {
  auto node = StartNode();
  ASSERT_TRUE(node);
  auto add = node->Kithctl({"client", "add", "--name", "Council intranet", "--redirect-uri",
                            "https://intranet.example/cb", "--redirect-uri",
                            "http://127.0.0.1:8080/cb", "--post-logout-redirect-uri",
                            "https://intranet.example/", "--first-party", "--json"});
  ASSERT_EQ(add.status.code, 0) << add.out << add.err;
  json added = ParseJson(add);
  const std::string client_id = added["client"]["client_id"];
  EXPECT_FALSE(client_id.empty());
  ASSERT_TRUE(added["client_secret"].is_string());
  EXPECT_EQ(added["client"]["redirect_uris"].size(), 2u);

  auto pub = node->Kithctl({"client", "add", "--name", "Mobile", "--redirect-uri",
                            "https://app.example/cb", "--public", "--id-token-alg", "EdDSA"});
  ASSERT_EQ(pub.status.code, 0) << pub.out << pub.err;
  EXPECT_NE(pub.out.find("client_id:"), std::string::npos) << pub.out;
  EXPECT_EQ(pub.out.find("client_secret"), std::string::npos) << pub.out;

  auto bad = node->Kithctl(
      {"client", "add", "--name", "Bad", "--redirect-uri", "http://intranet.example/cb"});
  EXPECT_EQ(bad.status.code, 2) << bad.err;
  EXPECT_NE(bad.err.find("redirect_uri"), std::string::npos) << bad.err;
  EXPECT_EQ(node->Kithctl({"client", "add", "--name", "NoUri"}).status.code, 2);
  EXPECT_EQ(node->Kithctl({"client", "add", "--name", "X", "--redirect-uri", "https://x.example/",
                           "--id-token-alg", "HS256"})
                .status.code,
            2);

  auto list = node->Kithctl({"client", "list"});
  ASSERT_EQ(list.status.code, 0) << list.err;
  EXPECT_EQ(list.out.rfind("CLIENT ID", 0), 0u) << list.out;
  EXPECT_NE(list.out.find("Council intranet"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("public"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find(added["client_secret"].get<std::string>()), std::string::npos);
  auto list_json = node->Kithctl({"client", "list", "--json"});
  EXPECT_EQ(ParseJson(list_json)["clients"].size(), 2u);

  auto removed = node->Kithctl({"client", "remove", client_id});
  ASSERT_EQ(removed.status.code, 0) << removed.err;
  EXPECT_NE(removed.out.find("Removed client " + client_id), std::string::npos);
  auto again = node->Kithctl({"client", "remove", client_id});
  EXPECT_EQ(again.status.code, 1);
  EXPECT_EQ(ParseJson(node->Kithctl({"client", "list", "--json"}))["clients"].size(), 1u);
  EXPECT_EQ(node->Stop().code, 0);
}

TEST(KithctlMembers, ExplainsWhenKithdIsNotRunning) {
  auto node = TestNode::Init();
  ASSERT_TRUE(node);
  for (auto args : std::vector<std::vector<std::string>>{{"member", "list"}, {"client", "list"}}) {
    auto r = node->Kithctl(args);
    EXPECT_EQ(r.status.code, 1);
    EXPECT_NE(r.err.find("kithd is not running"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace kith::testing
