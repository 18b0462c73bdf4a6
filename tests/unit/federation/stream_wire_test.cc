#include "federation/stream_wire.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace kith::federation {
namespace {

using nlohmann::json;

constexpr const char* kStream = "group:planning@a.example";

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(KITH_SOURCE_DIR) + "/tests/unit/federation/fixtures/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

json Batch() { return json::parse(Fixture("stream_events_batch.json")); }

TEST(StreamWireTest, GoldenBatchParsesAndRoundTrips) {
  auto batch = ParseEventBatch(kStream, Fixture("stream_events_batch.json"), 1 << 20);
  ASSERT_TRUE(batch.ok()) << batch.error().message;
  ASSERT_EQ(batch->events.size(), 3u);
  EXPECT_EQ(batch->events[0].type, "group.created");
  EXPECT_EQ(batch->events[1].actor, "bob@b.example");
  EXPECT_EQ(batch->events[2].seq, 3);
  EXPECT_EQ(json::parse(EventBatchJson(kStream, batch->events)), Batch());
}

TEST(StreamWireTest, GoldenPageParses) {
  auto page = ParseEventsPage(kStream, Fixture("stream_events_page.json"), 1, 1 << 20);
  ASSERT_TRUE(page.ok()) << page.error().message;
  EXPECT_EQ(page->head, 3);
  ASSERT_EQ(page->events.size(), 2u);
  EXPECT_EQ(json::parse(EventsPageJson(kStream, page->events, 3)),
            json::parse(Fixture("stream_events_page.json")));
  // A page must start right after `after`.
  auto wrong = ParseEventsPage(kStream, Fixture("stream_events_page.json"), 0, 1 << 20);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, ErrorCode::kInvalidArgument);
}

TEST(StreamWireTest, BatchRefusals) {
  struct Case {
    const char* what;
    json body;
    ErrorCode code;
  };
  std::vector<Case> cases;
  {
    json b = Batch();
    b["events"][1]["type"] = "member.teleported";
    cases.push_back({"unknown type", b, ErrorCode::kInvalidArgument});
  }
  {
    json b = Batch();
    b["events"][2]["seq"] = 2;
    cases.push_back({"duplicate seq", b, ErrorCode::kInvalidArgument});
  }
  {
    json b = Batch();
    std::swap(b["events"][1], b["events"][2]);
    cases.push_back({"reordered", b, ErrorCode::kInvalidArgument});
  }
  {
    json b = Batch();
    b["events"][2]["seq"] = 5;
    cases.push_back({"gap inside a batch", b, ErrorCode::kInvalidArgument});
  }
  {
    json b = Batch();
    b["events"][0]["data"].erase("name");
    cases.push_back({"bad data", b, ErrorCode::kInvalidArgument});
  }
  {
    json b = Batch();
    b["events"][1]["actor"] = "not an address";
    cases.push_back({"bad actor", b, ErrorCode::kInvalidArgument});
  }
  {
    json b = Batch();
    b["stream"] = "group:other@a.example";
    cases.push_back({"stream differs from the path", b, ErrorCode::kInvalidArgument});
  }
  {
    json b = Batch();
    b["events"] = json::array();
    cases.push_back({"empty", b, ErrorCode::kInvalidArgument});
  }
  {
    json b = Batch();
    b["events"][0]["seq"] = 0;
    cases.push_back({"seq 0", b, ErrorCode::kInvalidArgument});
  }
  cases.push_back({"not an object", json::array(), ErrorCode::kInvalidArgument});
  for (const Case& c : cases) {
    auto parsed = ParseEventBatch(kStream, c.body.dump(), 1 << 20);
    ASSERT_FALSE(parsed.ok()) << c.what;
    EXPECT_EQ(parsed.error().code, c.code) << c.what << ": " << parsed.error().message;
  }
  auto garbage = ParseEventBatch(kStream, "{\"events\":[", 1 << 20);
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().code, ErrorCode::kInvalidArgument);
}

TEST(StreamWireTest, OversizedBatchAndEventAreRefused) {
  const std::string body = Fixture("stream_events_batch.json");
  auto too_big = ParseEventBatch(kStream, body, body.size() - 1);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.error().code, ErrorCode::kTooLarge);

  auto too_many = ParseEventBatch(kStream, body, 1 << 20, /*max_events=*/2);
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.error().code, ErrorCode::kTooLarge);

  json b = Batch();
  b["events"][2]["data"]["body"] = std::string(70 * 1024, 'x');  // beyond kMaxEventBytes
  auto huge_event = ParseEventBatch(kStream, b.dump(), 1 << 20);
  ASSERT_FALSE(huge_event.ok());
}

TEST(StreamWireTest, GoldenCommandParsesAndRoundTrips) {
  auto command = ParseCommand(kStream, Fixture("stream_command.json"));
  ASSERT_TRUE(command.ok()) << command.error().message;
  EXPECT_EQ(command->stream, kStream);
  EXPECT_EQ(command->type, "post.created");
  EXPECT_EQ(command->actor, "bob@b.example");
  EXPECT_EQ(command->command_id, "Yk3v9Qe2TfSx1b0cZp7w4A");
  EXPECT_EQ(json::parse(CommandJson(*command)), json::parse(Fixture("stream_command.json")));

  auto answer = ParseCommandAnswer(kStream, Fixture("stream_command_answer.json"));
  ASSERT_TRUE(answer.ok()) << answer.error().message;
  EXPECT_EQ(answer->seq, 7);
  EXPECT_EQ(json::parse(CommandAnswerJson(*answer)),
            json::parse(Fixture("stream_command_answer.json")));
}

TEST(StreamWireTest, GoldenCommandBatchParsesAndRoundTrips) {
  auto items = ParseCommandBatch(Fixture("stream_command_batch.json"));
  ASSERT_TRUE(items.ok()) << items.error().message;
  ASSERT_EQ(items->size(), 2u);
  std::vector<groups::Command> commands;
  for (const BatchItem& item : *items) {
    ASSERT_TRUE(item.command.ok()) << item.command.error().message;
    EXPECT_EQ(item.command_id, item.command->command_id);
    EXPECT_EQ(item.command->stream, kStream);
    commands.push_back(*item.command);
  }
  EXPECT_EQ(commands[1].type, "thread.pinned");
  EXPECT_EQ(commands[1].actor, "carol@b.example");
  EXPECT_EQ(json::parse(CommandBatchJson(commands)),
            json::parse(Fixture("stream_command_batch.json")));

  auto results = ParseCommandResults(commands, Fixture("stream_command_results.json"));
  ASSERT_TRUE(results.ok()) << results.error().message;
  ASSERT_EQ(results->size(), 2u);
  EXPECT_EQ((*results)[0].status, 200);
  ASSERT_TRUE((*results)[0].event.has_value());
  EXPECT_EQ((*results)[0].event->seq, 7);
  EXPECT_EQ((*results)[1].status, 403);
  EXPECT_FALSE((*results)[1].event.has_value());
  EXPECT_EQ(json::parse((*results)[1].error)["error"], "permission_denied");
  std::vector<CommandResult> back = *results;
  back[1].error = json{{"error", "permission_denied"},
                       {"message", "only a facilitator or owner can pin threads"}}
                      .dump();
  EXPECT_EQ(json::parse(CommandResultsJson(back)),
            json::parse(Fixture("stream_command_results.json")));
}

TEST(StreamWireTest, CommandBatchItemsFailAlone) {
  json b = json::parse(Fixture("stream_command_batch.json"));
  b["commands"][0]["type"] = "group.deleted";          // unknown type
  b["commands"].push_back(json{{"command_id", "x"}});  // no stream
  b["commands"].push_back(7);                          // not an object
  auto items = ParseCommandBatch(b.dump());
  ASSERT_TRUE(items.ok()) << items.error().message;
  ASSERT_EQ(items->size(), 4u);
  EXPECT_FALSE((*items)[0].command.ok());
  EXPECT_EQ((*items)[0].command_id, "Yk3v9Qe2TfSx1b0cZp7w4A");
  EXPECT_TRUE((*items)[1].command.ok());
  EXPECT_FALSE((*items)[2].command.ok());
  EXPECT_EQ((*items)[2].command_id, "x");
  EXPECT_FALSE((*items)[3].command.ok());
}

TEST(StreamWireTest, CommandBatchEnvelopeRefusals) {
  auto refused = [](std::string body, ErrorCode code = ErrorCode::kInvalidArgument) {
    auto parsed = ParseCommandBatch(body);
    return !parsed.ok() && parsed.error().code == code;
  };
  EXPECT_TRUE(refused("[]"));
  EXPECT_TRUE(refused("{\"commands\":[]}"));
  EXPECT_TRUE(refused("{\"commands\":{}}"));
  EXPECT_TRUE(refused("{\"commands\":[1"));
  json many = json::parse(Fixture("stream_command_batch.json"));
  while (many["commands"].size() <= kMaxBatchCommands)
    many["commands"].push_back(many["commands"][0]);
  EXPECT_TRUE(refused(many.dump()));
  EXPECT_TRUE(refused(std::string(kMaxCommandBatchBody + 1, ' '), ErrorCode::kTooLarge));
}

TEST(StreamWireTest, CommandResultsMustAnswerTheBatch) {
  auto items = ParseCommandBatch(Fixture("stream_command_batch.json"));
  ASSERT_TRUE(items.ok());
  std::vector<groups::Command> commands;
  for (const BatchItem& item : *items) commands.push_back(*item.command);
  const json good = json::parse(Fixture("stream_command_results.json"));
  auto refused = [&](const json& body) { return !ParseCommandResults(commands, body.dump()).ok(); };
  json b = good;
  b["results"].erase(1);  // one result missing
  EXPECT_TRUE(refused(b));
  b = good;
  std::swap(b["results"][0], b["results"][1]);  // out of order
  EXPECT_TRUE(refused(b));
  b = good;
  b["results"][0]["seq"] = 8;  // differs from the event's
  EXPECT_TRUE(refused(b));
  b = good;
  b["results"][0].erase("event");
  EXPECT_TRUE(refused(b));
  b = good;
  b["results"][1]["status"] = 999;
  EXPECT_TRUE(refused(b));
  EXPECT_TRUE(refused(json::array()));
}

TEST(StreamWireTest, CommandRefusals) {
  const json good = json::parse(Fixture("stream_command.json"));
  auto refused = [&](json body) {
    auto parsed = ParseCommand(kStream, body.dump());
    return !parsed.ok() && parsed.error().code == ErrorCode::kInvalidArgument;
  };
  json b = good;
  b["command_id"] = "has space";
  EXPECT_TRUE(refused(b));
  b = good;
  b["command_id"] = std::string(101, 'a');
  EXPECT_TRUE(refused(b));
  b = good;
  b["type"] = "group.deleted";
  EXPECT_TRUE(refused(b));
  b = good;
  b["actor"] = "bob";
  EXPECT_TRUE(refused(b));
  b = good;
  b["data"] = json::array();
  EXPECT_TRUE(refused(b));
  b = good;
  b["data"].erase("body");
  EXPECT_TRUE(refused(b));
  b = good;
  b.erase("command_id");
  EXPECT_TRUE(refused(b));
  auto big = ParseCommand(kStream, std::string(kMaxCommandBody + 1, ' '));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, ErrorCode::kTooLarge);
}

TEST(StreamWireTest, ANodeSpeaksForItsOwnMembersOnly) {
  auto command = ParseCommand(kStream, Fixture("stream_command.json"));
  ASSERT_TRUE(command.ok());
  EXPECT_TRUE(CheckActorFromSender(*command, "b.example").ok());
  command->actor = "carol@c.example";
  Status forged = CheckActorFromSender(*command, "b.example");
  ASSERT_FALSE(forged.ok());
  EXPECT_EQ(forged.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(json::parse(ErrorJson(forged.error())),
            json::parse(Fixture("stream_error_actor_not_from_sender.json")));
}

TEST(StreamWireTest, OnlyTheOwnerPushesAStream) {
  EXPECT_TRUE(CheckStreamOwner(kStream, "a.example").ok());
  Status forged = CheckStreamOwner(kStream, "c.example");
  ASSERT_FALSE(forged.ok());
  EXPECT_EQ(forged.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(json::parse(ErrorJson(forged.error())),
            json::parse(Fixture("stream_error_not_stream_owner.json")));
  EXPECT_EQ(CheckStreamOwner("directory", "a.example").error().code, ErrorCode::kInvalidArgument);
}

TEST(StreamWireTest, DomainOfNode) {
  EXPECT_EQ(*DomainOfNode("https://a.example"), "a.example");
  EXPECT_EQ(*DomainOfNode("https://a.example/"), "a.example");
  EXPECT_EQ(*DomainOfNode("http://127.0.0.1:8401"), "127.0.0.1:8401");
  EXPECT_EQ(*DomainOfNode("https://[::1]:8443"), "[::1]:8443");
  EXPECT_FALSE(DomainOfNode("not a url").ok());
  EXPECT_FALSE(DomainOfNode("").ok());
}

TEST(StreamWireTest, CommandIds) {
  const std::string id = NewCommandId();
  EXPECT_TRUE(IsValidCommandId(id)) << id;
  EXPECT_NE(id, NewCommandId());
  EXPECT_FALSE(IsValidCommandId(""));
  EXPECT_FALSE(IsValidCommandId("a/b"));
}

TEST(StreamWireTest, ErrorFromAnswerKeepsTheOwnersVerdict) {
  Error e = ErrorFromAnswer(403, R"({"error":"permission_denied","message":"only members post"})");
  EXPECT_EQ(e.code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(e.message, "only members post");
  EXPECT_EQ(e.Name(), "permission_denied");
  Error forged = ErrorFromAnswer(403, Fixture("stream_error_actor_not_from_sender.json"));
  EXPECT_EQ(forged.Name(), "actor_not_from_sender");
  EXPECT_EQ(ErrorFromAnswer(409, "garbage").code, ErrorCode::kConflict);
  EXPECT_EQ(ErrorFromAnswer(502, "").code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace kith::federation
