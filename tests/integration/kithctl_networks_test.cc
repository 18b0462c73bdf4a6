// kithctl network (and kithctl member admin) against live kithd processes: the operator's view
// of issue 7. One node runs a network, a second node is added to it and trusts it.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/group_network.h"
#include "tests/support/process.h"
#include "tests/support/test_node.h"

namespace kith::testing {
namespace {

using nlohmann::json;

std::string Output(const ProcessResult& r) { return "stdout:\n" + r.out + "\nstderr:\n" + r.err; }

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class KithctlNetworksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    is_ = PeerNode::Start("Improvement Service", FederationTestEnv());
    ASSERT_TRUE(is_);
    council_ = PeerNode::Start("Council", FederationTestEnv());
    ASSERT_TRUE(council_);
  }

  std::unique_ptr<PeerNode> is_;
  std::unique_ptr<PeerNode> council_;
};

TEST_F(KithctlNetworksTest, CreateAddTrustRemove) {
  // --- create ----------------------------------------------------------------------------
  auto created = is_->Ctl({"network", "create", "uk", "--display-name", "UK public services"});
  ASSERT_EQ(created.status.code, 0) << Output(created);
  const std::string network_id = is_->url + "/networks/uk";
  EXPECT_TRUE(Contains(created.out, network_id)) << created.out;
  EXPECT_TRUE(
      Contains(created.out, "kithctl network trust " + network_id + " --fingerprint SHA256:"))
      << created.out;

  auto again = is_->Ctl({"network", "create", "uk"});
  EXPECT_EQ(again.status.code, 1) << Output(again);
  EXPECT_TRUE(Contains(again.err, "already exists")) << again.err;
  EXPECT_EQ(is_->Ctl({"network", "create", "Not_Valid"}).status.code, 2);
  EXPECT_EQ(is_->Ctl({"network", "create"}).status.code, 2);  // CLI usage

  json list = is_->CtlJson({"network", "list"});
  ASSERT_EQ(list["networks"].size(), 1u) << list.dump();
  const json& uk = list["networks"][0];
  EXPECT_EQ(uk["entity_id"], network_id);
  const std::string fingerprint = uk["fingerprint"];
  ASSERT_EQ(fingerprint.rfind("SHA256:", 0), 0u);
  auto table = is_->Ctl({"network", "list"});
  ASSERT_EQ(table.status.code, 0) << Output(table);
  EXPECT_EQ(table.out.rfind("NAME", 0), 0u) << table.out;
  EXPECT_TRUE(Contains(table.out, "\nuk ")) << table.out;

  auto empty = is_->Ctl({"network", "status", "uk"});
  ASSERT_EQ(empty.status.code, 0) << Output(empty);
  EXPECT_TRUE(Contains(empty.out, "No members yet")) << empty.out;
  EXPECT_TRUE(
      Contains(empty.out, "kithctl network trust " + network_id + " --fingerprint " + fingerprint))
      << empty.out;
  EXPECT_EQ(is_->Ctl({"network", "status", "nope"}).status.code, 1);

  // --- add-member ------------------------------------------------------------------------
  // Declining at the prompt (empty stdin) adds nothing, after showing what would be added.
  auto declined = is_->Ctl({"network", "add-member", "uk", council_->url});
  EXPECT_EQ(declined.status.code, 3) << Output(declined);
  EXPECT_TRUE(Contains(declined.out, "SHA256:")) << declined.out;
  EXPECT_TRUE(Contains(declined.out, council_->url)) << declined.out;
  EXPECT_EQ(is_->CtlJson({"network", "status", "uk"})["members"].size(), 0u);

  auto unknown = is_->Ctl({"network", "add-member", "nope", council_->url, "--yes"});
  EXPECT_EQ(unknown.status.code, 1) << Output(unknown);
  auto unreachable = is_->Ctl({"network", "add-member", "uk", "http://127.0.0.1:9", "--yes"});
  EXPECT_EQ(unreachable.status.code, 1) << Output(unreachable);
  auto not_a_url = is_->Ctl({"network", "add-member", "uk", "council", "--yes"});
  EXPECT_EQ(not_a_url.status.code, 2) << Output(not_a_url);

  auto added = is_->Ctl({"network", "add-member", "uk", council_->url, "--yes"});
  ASSERT_EQ(added.status.code, 0) << Output(added);
  EXPECT_TRUE(Contains(added.out, "Added " + council_->url)) << added.out;

  json status = is_->CtlJson({"network", "status", "uk"});
  ASSERT_EQ(status["members"].size(), 1u) << status.dump();
  const json& member = status["members"][0];
  EXPECT_EQ(member["entity_id"], council_->url);
  EXPECT_TRUE(member["statement_exp"].is_number_integer()) << member.dump();
  ASSERT_FALSE(member["keys"].empty());
  // The member's registered key is the council's node key.
  json council_status = council_->CtlJson({"status"});
  EXPECT_EQ(member["keys"][0]["fingerprint"], council_status["node"]["key"]["fingerprint"])
      << member.dump() << council_status.dump();
  auto status_table = is_->Ctl({"network", "status", "uk"});
  ASSERT_EQ(status_table.status.code, 0) << Output(status_table);
  EXPECT_TRUE(Contains(status_table.out, "STATEMENT EXPIRES")) << status_table.out;
  EXPECT_TRUE(Contains(status_table.out, "LAST CONTACT")) << status_table.out;
  EXPECT_TRUE(Contains(status_table.out, council_->url)) << status_table.out;

  // The network's list endpoint now names the council.
  auto listed = HttpGet(is_->port, "/networks/uk/list");
  ASSERT_TRUE(listed.ok()) << listed.error().message;
  EXPECT_TRUE(Contains(listed->body, council_->url)) << listed->body;

  // --- trust / untrust on the member's node ------------------------------------------------
  auto wrong = council_->Ctl({"network", "trust", network_id, "--fingerprint",
                              "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"});
  EXPECT_EQ(wrong.status.code, 2) << Output(wrong);
  EXPECT_TRUE(Contains(wrong.err, "matches no key")) << wrong.err;
  EXPECT_EQ(council_->Ctl({"network", "trust", network_id}).status.code, 2);  // no fingerprint

  auto trusted = council_->Ctl({"network", "trust", network_id, "--fingerprint", fingerprint});
  ASSERT_EQ(trusted.status.code, 0) << Output(trusted);
  EXPECT_TRUE(Contains(trusted.out, "matches")) << trusted.out;
  json council_list = council_->CtlJson({"network", "list"});
  ASSERT_EQ(council_list["trusted"].size(), 1u) << council_list.dump();
  EXPECT_EQ(council_list["trusted"][0]["entity_id"], network_id);
  EXPECT_EQ(council_list["trusted"][0]["fingerprint"], fingerprint);
  EXPECT_TRUE(council_list["networks"].empty());

  auto untrusted = council_->Ctl({"network", "untrust", network_id});
  ASSERT_EQ(untrusted.status.code, 0) << Output(untrusted);
  EXPECT_EQ(council_->Ctl({"network", "untrust", network_id}).status.code, 1);
  EXPECT_TRUE(council_->CtlJson({"network", "list"})["trusted"].empty());

  // --- remove-member -----------------------------------------------------------------------
  auto removed = is_->Ctl({"network", "remove-member", "uk", council_->url});
  ASSERT_EQ(removed.status.code, 0) << Output(removed);
  EXPECT_EQ(is_->Ctl({"network", "remove-member", "uk", council_->url}).status.code, 1);
  status = is_->CtlJson({"network", "status", "uk"});
  EXPECT_EQ(status["network"]["members"], 0);
  EXPECT_EQ(status["network"]["withdrawn"], 1);
  EXPECT_TRUE(status["members"][0]["withdrawn_at"].is_number_integer());
}

TEST_F(KithctlNetworksTest, IntermediateNetwork) {
  ASSERT_EQ(is_->Ctl({"network", "create", "uk"}).status.code, 0);
  const std::string uk_id = is_->url + "/networks/uk";
  auto scot = council_->Ctl({"network", "create", "scot", "--superior", uk_id});
  ASSERT_EQ(scot.status.code, 0) << Output(scot);
  const std::string scot_id = council_->url + "/networks/scot";
  EXPECT_TRUE(
      Contains(scot.out, "kithctl network add-member " + uk_id + " " + scot_id + " --intermediate"))
      << scot.out;

  // A network is added as an intermediate only.
  auto plain = is_->Ctl({"network", "add-member", "uk", scot_id, "--yes"});
  EXPECT_EQ(plain.status.code, 2) << Output(plain);
  auto added = is_->Ctl({"network", "add-member", uk_id, scot_id, "--intermediate",
                         "--max-path-length", "0", "--yes"});
  ASSERT_EQ(added.status.code, 0) << Output(added);
  json status = is_->CtlJson({"network", "status", "uk"});
  ASSERT_EQ(status["members"].size(), 1u);
  EXPECT_EQ(status["members"][0]["intermediate"], true);
  EXPECT_EQ(status["members"][0]["max_path_length"], 0);
}

TEST_F(KithctlNetworksTest, MemberAdmin) {
  ASSERT_TRUE(is_->AddMember("alice"));
  auto granted = is_->Ctl({"member", "admin", "alice", "--grant"});
  ASSERT_EQ(granted.status.code, 0) << Output(granted);
  json shown = is_->CtlJson({"member", "show", "alice"});
  EXPECT_EQ(shown["member"]["node_admin"], true) << shown.dump();
  auto text = is_->Ctl({"member", "show", "alice"});
  EXPECT_TRUE(Contains(text.out, "Node admin:    yes")) << text.out;
  auto table = is_->Ctl({"member", "list"});
  EXPECT_TRUE(Contains(table.out, "ADMIN")) << table.out;

  ASSERT_EQ(is_->Ctl({"member", "admin", "alice", "--revoke"}).status.code, 0);
  EXPECT_EQ(is_->CtlJson({"member", "show", "alice"})["member"]["node_admin"], false);
  EXPECT_EQ(is_->Ctl({"member", "admin", "alice"}).status.code, 2);  // neither flag
  EXPECT_EQ(is_->Ctl({"member", "admin", "alice", "--grant", "--revoke"}).status.code, 2);
  EXPECT_EQ(is_->Ctl({"member", "admin", "nobody", "--grant"}).status.code, 1);
}

}  // namespace
}  // namespace kith::testing
