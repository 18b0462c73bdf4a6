#include "federation/node_document.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace kith::federation {
namespace {

const char* kGood = R"({
  "id": "council-a.example", "name": "Council A", "organisation": "Council A",
  "base_url": "https://council-a.example",
  "keys": [{"kid": "k1", "alg": "ed25519",
            "public_key": "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs",
            "created_at": 1700000000, "status": "current"},
           {"kid": "k0", "alg": "ed25519",
            "public_key": "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs",
            "created_at": 1600000000, "not_after": 1700604800, "status": "retiring"}],
  "version": 1, "future_member": true})";

TEST(NodeDocument, ParsesAndRoundTrips) {
  auto doc = ParseNodeDocument(kGood);
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  EXPECT_EQ(doc->id, "council-a.example");
  ASSERT_EQ(doc->keys.size(), 2u);
  EXPECT_EQ(doc->keys[0].public_key[0], 0x26);
  EXPECT_FALSE(doc->keys[0].not_after.has_value());
  EXPECT_EQ(doc->keys[1].not_after.value(), 1700604800);
  auto again = ParseNodeDocument(SerializeNodeDocument(*doc));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(SerializeNodeDocument(*again), SerializeNodeDocument(*doc));
}

std::string Mutate(const std::function<void(nlohmann::json&)>& edit) {
  auto j = nlohmann::json::parse(kGood);
  edit(j);
  return j.dump();
}

void ExpectError(const std::string& text, const std::string& needle) {
  auto doc = ParseNodeDocument(text);
  ASSERT_FALSE(doc.ok()) << text;
  EXPECT_EQ(doc.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(doc.error().message.find(needle), std::string::npos) << doc.error().message;
}

TEST(NodeDocument, ClearErrors) {
  ExpectError("{", "not valid JSON");
  ExpectError("[]", "must be a JSON object");
  ExpectError(std::string(70000, ' '), "larger than");
  ExpectError(Mutate([](auto& j) { j.erase("name"); }), "name is missing");
  ExpectError(Mutate([](auto& j) { j["id"] = 5; }), "id must be a string");
  ExpectError(Mutate([](auto& j) { j["base_url"] = "ftp://x"; }), "base_url");
  ExpectError(Mutate([](auto& j) { j["base_url"] = "https://u:p@x"; }), "base_url");
  ExpectError(Mutate([](auto& j) { j["version"] = "1"; }), "version must be an integer");
  ExpectError(Mutate([](auto& j) { j["keys"] = nlohmann::json::array(); }), "keys must not");
  ExpectError(Mutate([](auto& j) { j["keys"][0]["alg"] = "rsa"; }), "keys[0].alg");
  ExpectError(Mutate([](auto& j) { j["keys"][1]["public_key"] = "AAAA"; }), "keys[1].public_key");
  ExpectError(Mutate([](auto& j) { j["keys"][1]["not_after"] = 1; }), "not_after is before");
  ExpectError(Mutate([](auto& j) { j["keys"][0]["status"] = "odd"; }), "status must be");
  ExpectError(Mutate([](auto& j) { j["keys"][1]["kid"] = "k1"; }), "duplicate kid");
  ExpectError(Mutate([](auto& j) { j["keys"][0]["created_at"] = 18446744073709551615ull; }),
              "out of range");
}

}  // namespace
}  // namespace kith::federation
