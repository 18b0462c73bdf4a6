#include "federation/replication.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "federation/content_digest.h"
#include "federation/outbox.h"
#include "federation/signature_profile.h"
#include "federation/stream_wire.h"
#include "federation/subscriptions.h"
#include "groups/directory.h"
#include "identity/jwk.h"
#include "identity/node_keys.h"
#include "storage/database.h"
#include "storage/store.h"
#include "tests/support/temp_dir.h"

namespace kith::federation {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

template <class T>
asio::awaitable<void> Fulfil(asio::awaitable<T> work, std::promise<T>* promise) {
  promise->set_value(co_await std::move(work));
}

// This node is A (https://a.example). Peers: B (https://b.example, a key held here so that the
// tests can sign as B), C (https://c.example, likewise), and D at http://127.0.0.1:9, where
// nothing listens (an owner that is down).
class ReplicationTest : public ::testing::Test {
 protected:
  static constexpr const char* kSelf = "https://a.example";
  static constexpr const char* kB = "https://b.example";
  static constexpr const char* kC = "https://c.example";
  static constexpr const char* kDown = "http://127.0.0.1:9";

  void SetUp() override {
    auto store = storage::Store::Open({.path = dir_ / "kith.db"});
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    {
      auto db = storage::Database::Open({.path = dir_ / "kith.db"});
      ASSERT_TRUE(db.ok());
      ASSERT_TRUE(identity::NodeKeyring::CreateInitial(dir_.path(), *db, clock_).ok());
      auto ring = identity::NodeKeyring::Load(dir_.path(), *db);
      ASSERT_TRUE(ring.ok()) << ring.error().message;
      self_keys_ = *ring;
    }
    auto files = groups::FileStore::Open(dir_ / "files");
    ASSERT_TRUE(files.ok()) << files.error().message;
    files_ = std::move(files).value();
    groups_ = std::make_unique<groups::GroupStore>(*store_, clock_, "a.example");
    directory_ = std::make_unique<groups::DirectoryStore>(*store_, clock_, "a.example");
    peers_ = std::make_unique<PeerStore>(*store_, clock_);
    HttpClientOptions options;
    options.allow_private_addresses = true;
    options.connect_timeout = std::chrono::milliseconds(500);
    auto client = HttpClient::Create(ioc_.get_executor(), options);
    ASSERT_TRUE(client.ok());
    client_ = std::move(client).value();
    AddActivePeer(kB, b_key_);
    AddActivePeer(kC, c_key_);
    AddActivePeer(kDown, down_key_);
    io_thread_ = std::thread([this] { ioc_.run(); });
    MakeReplicator();
  }

  void TearDown() override {
    if (replicator_) replicator_->Stop();
    work_.reset();
    ioc_.stop();
    if (io_thread_.joinable()) io_thread_.join();
    replicator_.reset();
    client_.reset();
    if (store_) store_->Close();
  }

  void MakeReplicator() {
    ReplicationContext context;
    context.base_url = kSelf;
    context.domain = "a.example";
    context.keys = [this] { return self_keys_; };
    context.executor = ioc_.get_executor();
    context.submit_wait = std::chrono::milliseconds(300);
    context.min_backoff = std::chrono::milliseconds(20);
    replicator_ = std::make_unique<Replicator>(context, *store_, *groups_, *files_, *peers_,
                                               *client_, replay_, clock_);
    replicator_->SetDirectory(directory_.get());
  }

  void AddActivePeer(const std::string& node, const Ed25519SecretKey& key) {
    NodeDocument doc;
    doc.id = node;
    doc.name = node;
    doc.organisation = node;
    doc.base_url = node;
    doc.version = 1;
    doc.keys.push_back(NodeDocumentKey{identity::KeyIdFor(key.public_key()), "ed25519",
                                       key.public_key(), 1'600'000'000, std::nullopt, "current"});
    PeerChange request;
    request.node_id = node;
    request.event = PeerEvent::kWeRequest;
    request.document = doc;
    request.audit = AuditRecord{"kithctl", "admin.sock", "{}"};
    ASSERT_TRUE(peers_->ApplyEvent(request).ok());
    PeerChange accept = request;
    accept.event = PeerEvent::kTheyAccept;
    accept.document.reset();
    ASSERT_TRUE(peers_->ApplyEvent(accept).ok());
  }

  template <class T>
  T Run(asio::awaitable<T> work) {
    std::promise<T> promise;
    auto future = promise.get_future();
    asio::co_spawn(ioc_, Fulfil(std::move(work), &promise), asio::detached);
    return future.get();
  }

  // An inbound request signed by `key` (as that peer would).
  StreamResponse Send(const Ed25519SecretKey& key, const std::string& method,
                      const std::string& path, const std::string& body) {
    KithSigner signer(identity::KeyIdFor(key.public_key()), key.AsSignFunction(), clock_);
    StreamRequest request;
    request.inbound.message.method = method;
    request.inbound.message.target_uri = std::string(kSelf) + path;
    if (!body.empty()) {
      request.inbound.message.headers.emplace_back("Content-Type", "application/json");
    }
    EXPECT_TRUE(signer.SignRequest(request.inbound.message, body).ok());
    request.inbound.body = body;
    request.inbound.remote_address = "192.0.2.1";
    return Run(replicator_->HandleInbound(std::move(request)));
  }

  static std::string Path(const std::string& stream, const std::string& action) {
    std::string encoded;
    for (char c : stream) {
      if (c == ':') {
        encoded += "%3A";
      } else if (c == '@') {
        encoded += "%40";
      } else {
        encoded += c;
      }
    }
    return std::string(kStreamsPathPrefix) + encoded + "/" + action;
  }

  std::string CommandBody(const std::string& type, const std::string& actor, json data,
                          const std::string& id) {
    groups::Command c;
    c.type = type;
    c.actor = actor;
    c.data = std::move(data);
    c.command_id = id;
    return CommandJson(c);
  }

  // Creates group `slug` owned here by alice@a.example.
  std::string CreateGroup(const std::string& slug, const std::string& visibility,
                          const std::string& policy = "open") {
    groups::Command c;
    c.stream = "group:" + slug + "@a.example";
    c.type = "group.created";
    c.actor = "alice@a.example";
    c.data = {{"name", "Group " + slug}, {"visibility", visibility}, {"join_policy", policy}};
    auto submitted = Run(replicator_->Submit(c));
    EXPECT_TRUE(submitted.ok()) << submitted.error().message;
    if (submitted.ok()) {
      EXPECT_EQ(submitted->state, SubmitResult::State::kAccepted);
    }
    return c.stream;
  }

  Result<SubmitResult> Local(const std::string& stream, const std::string& type,
                             const std::string& actor, json data) {
    groups::Command c;
    c.stream = stream;
    c.type = type;
    c.actor = actor;
    c.data = std::move(data);
    return Run(replicator_->Submit(c));
  }

  std::optional<Subscription> Sub(const std::string& stream, const std::string& node) {
    auto found =
        store_->Read([&](storage::Database& db) { return FindSubscription(db, stream, node); });
    EXPECT_TRUE(found.ok());
    return found.ok() ? *found : std::nullopt;
  }

  int64_t Head(const std::string& stream) {
    auto head = groups_->Head(stream);
    EXPECT_TRUE(head.ok());
    return head.ok() ? *head : -1;
  }

  testing::TempDir dir_{"replication"};
  FakeClock clock_{1'700'000'000};
  asio::io_context ioc_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      asio::make_work_guard(ioc_)};
  std::thread io_thread_;
  std::unique_ptr<storage::Store> store_;
  std::shared_ptr<const identity::NodeKeyring> self_keys_;
  std::unique_ptr<groups::FileStore> files_;
  std::unique_ptr<groups::GroupStore> groups_;
  std::unique_ptr<groups::DirectoryStore> directory_;
  std::unique_ptr<PeerStore> peers_;
  std::unique_ptr<HttpClient> client_;
  ReplayCache replay_;
  std::unique_ptr<Replicator> replicator_;
  Ed25519SecretKey b_key_ = Ed25519SecretKey::Generate();
  Ed25519SecretKey c_key_ = Ed25519SecretKey::Generate();
  Ed25519SecretKey down_key_ = Ed25519SecretKey::Generate();
  Ed25519SecretKey stranger_key_ = Ed25519SecretKey::Generate();
};

// --- Owner side: commands ----------------------------------------------------------------

TEST_F(ReplicationTest, CommandFromAPeerIsAppliedOnceAndAnsweredWithItsSeq) {
  const std::string stream = CreateGroup("planning", "public");
  const std::string body =
      CommandBody("member.joined", "bob@b.example", {{"member", "bob@b.example"}}, "cmd-1");
  StreamResponse first = Send(b_key_, "POST", Path(stream, "commands"), body);
  ASSERT_EQ(first.status, 200) << first.body;
  json answer = json::parse(first.body);
  EXPECT_EQ(answer["seq"], 2);
  EXPECT_EQ(answer["event"]["type"], "member.joined");
  EXPECT_EQ(Head(stream), 2);

  // The same command again (a retry after a lost answer): same seq and event, nothing appended.
  StreamResponse again = Send(b_key_, "POST", Path(stream, "commands"), body);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(again.body), answer);
  EXPECT_EQ(Head(stream), 2);
  EXPECT_EQ(replicator_->stats().events_applied, 0u);
}

TEST_F(ReplicationTest, ForgedActorIsRefused) {
  const std::string stream = CreateGroup("planning", "public");
  StreamResponse forged =
      Send(b_key_, "POST", Path(stream, "commands"),
           CommandBody("member.joined", "carol@c.example", {{"member", "carol@c.example"}}, "x1"));
  EXPECT_EQ(forged.status, 403) << forged.body;
  EXPECT_EQ(json::parse(forged.body)["error"], "actor_not_from_sender");
  // Nor may B act for this node's members.
  StreamResponse ours =
      Send(b_key_, "POST", Path(stream, "commands"),
           CommandBody("member.joined", "zed@a.example", {{"member", "zed@a.example"}}, "x2"));
  EXPECT_EQ(ours.status, 403) << ours.body;
  EXPECT_EQ(Head(stream), 1);
  EXPECT_GE(replicator_->stats().refused_inbound, 2u);
}

TEST_F(ReplicationTest, DecisionRefusalsReachThePeer) {
  const std::string stream = CreateGroup("closed", "restricted", "invite");
  StreamResponse refused =
      Send(b_key_, "POST", Path(stream, "commands"),
           CommandBody("member.joined", "bob@b.example", {{"member", "bob@b.example"}}, "j1"));
  EXPECT_EQ(refused.status, 403) << refused.body;
  StreamResponse unknown_group =
      Send(b_key_, "POST", Path("group:nope@a.example", "commands"),
           CommandBody("member.joined", "bob@b.example", {{"member", "bob@b.example"}}, "j2"));
  EXPECT_EQ(unknown_group.status, 404) << unknown_group.body;
  StreamResponse not_ours =
      Send(b_key_, "POST", Path("group:other@c.example", "commands"),
           CommandBody("member.joined", "bob@b.example", {{"member", "bob@b.example"}}, "j3"));
  EXPECT_EQ(not_ours.status, 404) << not_ours.body;
  EXPECT_EQ(json::parse(not_ours.body)["error"], "stream_not_owned_here");
}

// A batch item: the command `CommandBody` makes, with its stream.
json BatchItemJson(const std::string& stream, const std::string& type, const std::string& actor,
                   json data, const std::string& id) {
  return json{{"stream", stream},
              {"command_id", id},
              {"type", type},
              {"actor", actor},
              {"data", std::move(data)}};
}

TEST_F(ReplicationTest, ABatchOfCommandsIsAnsweredPerCommandInOrder) {
  const std::string open = CreateGroup("open", "public");
  const std::string closed = CreateGroup("closed", "restricted", "invite");
  json batch{{"commands", json::array()}};
  auto add = [&](const std::string& stream, const std::string& type, const std::string& actor,
                 json data, const std::string& id) {
    batch["commands"].push_back(BatchItemJson(stream, type, actor, std::move(data), id));
  };
  add(open, "member.joined", "bob@b.example", {{"member", "bob@b.example"}}, "b1");
  add(open, "thread.created", "bob@b.example", {{"title", "Hello"}, {"body", "first"}}, "b2");
  add(closed, "member.joined", "bob@b.example", {{"member", "bob@b.example"}}, "b3");    // 403
  add(open, "member.joined", "carol@c.example", {{"member", "carol@c.example"}}, "b4");  // forged
  add("group:other@c.example", "member.joined", "dave@b.example", {{"member", "dave@b.example"}},
      "b5");  // not owned here
  add(open, "member.joined", "dave@b.example", {{"member", "dave@b.example"}}, "b6");
  batch["commands"].push_back(json{{"command_id", "b7"}, {"type", "nope"}});  // malformed
  StreamResponse answer = Send(b_key_, "POST", std::string(kCommandsPath), batch.dump());
  ASSERT_EQ(answer.status, 200) << answer.body;
  json results = json::parse(answer.body)["results"];
  ASSERT_EQ(results.size(), 7u) << answer.body;
  std::vector<int> statuses;
  for (const json& r : results) statuses.push_back(r["status"].get<int>());
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 403, 403, 404, 200, 400}));
  EXPECT_EQ(results[0]["seq"], 2);
  EXPECT_EQ(results[1]["seq"], 3);
  EXPECT_EQ(results[5]["seq"], 4);
  EXPECT_EQ(results[3]["error"], "actor_not_from_sender");
  EXPECT_EQ(results[4]["error"], "stream_not_owned_here");
  EXPECT_EQ(results[6]["command_id"], "b7");
  EXPECT_EQ(Head(open), 4);
  EXPECT_EQ(Head(closed), 1);

  // The same batch again (a retry after a lost answer): the same seqs, nothing appended.
  StreamResponse again = Send(b_key_, "POST", std::string(kCommandsPath), batch.dump());
  ASSERT_EQ(again.status, 200) << again.body;
  json repeated = json::parse(again.body)["results"];
  EXPECT_EQ(repeated[0], results[0]);
  EXPECT_EQ(repeated[1], results[1]);
  EXPECT_EQ(repeated[5], results[5]);
  EXPECT_EQ(Head(open), 4);
}

TEST_F(ReplicationTest, ABatchKeepsAnActorsLaterCommandsBehindOneToRetry) {
  const std::string open = CreateGroup("open", "public");
  json batch{{"commands", json::array()}};
  batch["commands"].push_back(
      BatchItemJson(open, "member.joined", "bob@b.example", {{"member", "bob@b.example"}}, "k1"));
  // The file's bytes cannot be fetched from B (no such peer endpoint here): 503, retried later.
  batch["commands"].push_back(BatchItemJson(open, "file.added", "bob@b.example",
                                            {{"title", "Plan"},
                                             {"filename", "plan.pdf"},
                                             {"media_type", "application/pdf"},
                                             {"size", 4},
                                             {"sha256", std::string(64, 'a')}},
                                            "k2"));
  // Bob's next command must not overtake the one to retry; Carol's may go on.
  batch["commands"].push_back(BatchItemJson(open, "thread.created", "bob@b.example",
                                            {{"title", "After"}, {"body", "x"}}, "k3"));
  batch["commands"].push_back(
      BatchItemJson(open, "member.joined", "erin@b.example", {{"member", "erin@b.example"}}, "k4"));
  StreamResponse answer = Send(b_key_, "POST", std::string(kCommandsPath), batch.dump());
  ASSERT_EQ(answer.status, 200) << answer.body;
  json results = json::parse(answer.body)["results"];
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results[0]["status"], 200);
  EXPECT_EQ(results[1]["status"], 503) << results[1];
  EXPECT_EQ(results[2]["status"], 503) << results[2];
  EXPECT_EQ(results[3]["status"], 200);
  EXPECT_EQ(Head(open), 3);  // created, bob joined, erin joined
}

TEST_F(ReplicationTest, MalformedOrOversizedBatchesChangeNothing) {
  const std::string open = CreateGroup("open", "public");
  for (const std::string& body :
       {std::string("{\"commands\":[]}"), std::string("[1,2]"), std::string("{\"commands\":")}) {
    StreamResponse refused = Send(b_key_, "POST", std::string(kCommandsPath), body);
    EXPECT_EQ(refused.status, 400) << body << " -> " << refused.body;
  }
  StreamResponse huge =
      Send(b_key_, "POST", std::string(kCommandsPath), std::string(kMaxCommandBatchBody + 1, ' '));
  EXPECT_EQ(huge.status, 413) << huge.body;
  json batch{{"commands", json::array({BatchItemJson(open, "member.joined", "bob@b.example",
                                                     {{"member", "bob@b.example"}}, "m1")})}};
  StreamResponse stranger = Send(stranger_key_, "POST", std::string(kCommandsPath), batch.dump());
  EXPECT_EQ(stranger.status, 401) << stranger.body;
  EXPECT_EQ(Head(open), 1);
}

TEST_F(ReplicationTest, UnsignedOrUnknownSendersAreRefused) {
  const std::string stream = CreateGroup("planning", "public");
  const std::string body =
      CommandBody("member.joined", "bob@b.example", {{"member", "bob@b.example"}}, "s1");
  StreamResponse stranger = Send(stranger_key_, "POST", Path(stream, "commands"), body);
  EXPECT_EQ(stranger.status, 401) << stranger.body;
  EXPECT_EQ(json::parse(stranger.body)["error"], "unknown_key");

  StreamRequest unsigned_request;
  unsigned_request.inbound.message.method = "POST";
  unsigned_request.inbound.message.target_uri = std::string(kSelf) + Path(stream, "commands");
  unsigned_request.inbound.body = body;
  StreamResponse bare = Run(replicator_->HandleInbound(std::move(unsigned_request)));
  EXPECT_EQ(bare.status, 401);
  EXPECT_EQ(Head(stream), 1);
}

// --- Owner side: subscriptions -----------------------------------------------------------

TEST_F(ReplicationTest, SubscribersFollowMembership) {
  const std::string stream = CreateGroup("planning", "private");
  EXPECT_FALSE(Sub(stream, kB).has_value());
  // A member of B joins (invited first: private groups are invite-only here).
  ASSERT_TRUE(
      Local(stream, "member.invited", "alice@a.example", {{"member", "bob@b.example"}}).ok());
  // The invite makes B a subscriber (so that B can show it and bob can accept through B).
  auto invited = Sub(stream, kB);
  ASSERT_TRUE(invited.has_value()) << "an invite makes the invitee's node a subscriber";
  EXPECT_FALSE(invited->until_seq.has_value());
  EXPECT_FALSE(Sub(stream, kC).has_value()) << "nobody of C is invited";
  ASSERT_EQ(Send(b_key_, "POST", Path(stream, "commands"),
                 CommandBody("member.joined", "bob@b.example", {{"member", "bob@b.example"}}, "j1"))
                .status,
            200);
  auto sub = Sub(stream, kB);
  ASSERT_TRUE(sub.has_value());
  EXPECT_EQ(sub->acked, 0);
  EXPECT_FALSE(sub->until_seq.has_value());
  EXPECT_EQ(sub->head, 3);

  // B acknowledges everything; then its last member leaves at seq 4.
  ASSERT_TRUE(store_->writer()
                  .SubmitAndWait([&](storage::Database& db) { return AckIn(db, stream, kB, 3); })
                  .ok());
  StreamResponse left =
      Send(b_key_, "POST", Path(stream, "commands"),
           CommandBody("member.left", "bob@b.example", {{"member", "bob@b.example"}}, "l1"));
  ASSERT_EQ(left.status, 200) << left.body;
  sub = Sub(stream, kB);
  ASSERT_TRUE(sub.has_value());
  EXPECT_EQ(sub->until_seq, 4) << "B still gets the event that says it left";
  // Events after the leave are not for B.
  ASSERT_TRUE(Local(stream, "thread.created", "alice@a.example",
                    {{"title", "After"}, {"body", "B must not see this"}})
                  .ok());
  auto pending = store_->Read([&](storage::Database& db) { return PendingFor(db, kB); });
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  StreamResponse pull = Send(b_key_, "GET", Path(stream, "events") + "?after=3", "");
  ASSERT_EQ(pull.status, 200) << pull.body;
  json page = json::parse(pull.body);
  ASSERT_EQ(page["events"].size(), 1u) << pull.body;
  EXPECT_EQ(page["events"][0]["seq"], 4);
  // Once B acknowledged seq 4 its row goes.
  ASSERT_TRUE(store_->writer()
                  .SubmitAndWait([&](storage::Database& db) { return AckIn(db, stream, kB, 4); })
                  .ok());
  EXPECT_FALSE(Sub(stream, kB).has_value());
  pending = store_->Read([&](storage::Database& db) { return PendingFor(db, kB); });
  ASSERT_TRUE(pending.ok());
  EXPECT_TRUE(pending->empty());
  // Now B may not pull the private group at all.
  EXPECT_EQ(Send(b_key_, "GET", Path(stream, "events") + "?after=0", "").status, 403);

  // Invited and joining again: subscribed again from the start (B dropped the content).
  ASSERT_TRUE(
      Local(stream, "member.invited", "alice@a.example", {{"member", "bob@b.example"}}).ok());
  ASSERT_EQ(Send(b_key_, "POST", Path(stream, "commands"),
                 CommandBody("member.joined", "bob@b.example", {{"member", "bob@b.example"}}, "j2"))
                .status,
            200);
  sub = Sub(stream, kB);
  ASSERT_TRUE(sub.has_value());
  EXPECT_EQ(sub->acked, 0);
  EXPECT_FALSE(sub->until_seq.has_value());
}

TEST_F(ReplicationTest, LeavingAndRejoiningBeforeTheAckKeepsTheRow) {
  const std::string stream = CreateGroup("open", "public");
  auto join = [&](const std::string& id) {
    return Send(b_key_, "POST", Path(stream, "commands"),
                CommandBody("member.joined", "bob@b.example", {{"member", "bob@b.example"}}, id))
        .status;
  };
  ASSERT_EQ(join("j1"), 200);
  ASSERT_EQ(Send(b_key_, "POST", Path(stream, "commands"),
                 CommandBody("member.left", "bob@b.example", {{"member", "bob@b.example"}}, "l1"))
                .status,
            200);
  EXPECT_EQ(Sub(stream, kB)->until_seq, 3);
  ASSERT_EQ(join("j2"), 200);
  auto sub = Sub(stream, kB);
  ASSERT_TRUE(sub.has_value());
  EXPECT_FALSE(sub->until_seq.has_value());
  // Two members of B: one leaving keeps B subscribed.
  ASSERT_EQ(Send(b_key_, "POST", Path(stream, "commands"),
                 CommandBody("member.joined", "bea@b.example", {{"member", "bea@b.example"}}, "j3"))
                .status,
            200);
  ASSERT_EQ(Send(b_key_, "POST", Path(stream, "commands"),
                 CommandBody("member.left", "bob@b.example", {{"member", "bob@b.example"}}, "l2"))
                .status,
            200);
  EXPECT_FALSE(Sub(stream, kB)->until_seq.has_value());
}

TEST_F(ReplicationTest, PublicGroupsCanBeFollowed) {
  const std::string open = CreateGroup("open", "public");
  const std::string closed = CreateGroup("closed", "restricted");
  StreamResponse follow = Send(c_key_, "POST", Path(open, "follow"), R"({"follow":true})");
  ASSERT_EQ(follow.status, 200) << follow.body;
  EXPECT_EQ(json::parse(follow.body), json({{"stream", open}, {"following", true}}));
  auto sub = Sub(open, kC);
  ASSERT_TRUE(sub.has_value());
  EXPECT_TRUE(sub->following);
  EXPECT_FALSE(sub->until_seq.has_value());
  // A membership change elsewhere does not drop the follower.
  ASSERT_EQ(Send(b_key_, "POST", Path(open, "commands"),
                 CommandBody("member.joined", "bob@b.example", {{"member", "bob@b.example"}}, "j1"))
                .status,
            200);
  EXPECT_FALSE(Sub(open, kC)->until_seq.has_value());
  // Unfollowing: C gets up to the current head, then nothing.
  ASSERT_EQ(Send(c_key_, "POST", Path(open, "follow"), R"({"follow":false})").status, 200);
  EXPECT_EQ(Sub(open, kC)->until_seq, 2);

  StreamResponse refused = Send(c_key_, "POST", Path(closed, "follow"), R"({"follow":true})");
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_EQ(json::parse(refused.body)["error"], "not_public");
  EXPECT_EQ(Send(c_key_, "POST", Path(open, "follow"), R"({"follow":"yes"})").status, 400);
}

// --- Mirror side: pushes -------------------------------------------------------------------

json BEvent(int64_t seq, const std::string& type, const std::string& actor, json data) {
  return json{{"seq", seq},
              {"type", type},
              {"actor", actor},
              {"at", 1'700'000'000 + seq},
              {"data", std::move(data)}};
}

json BBatch(const std::string& stream, std::vector<json> events) {
  return json{{"stream", stream}, {"events", events}};
}

TEST_F(ReplicationTest, PushedBatchesAreAppliedIdempotently) {
  const std::string stream = "group:club@b.example";
  const json created =
      BEvent(1, "group.created", "bob@b.example",
             {{"name", "Club"}, {"visibility", "public"}, {"join_policy", "open"}});
  const json joined =
      BEvent(2, "member.joined", "carol@a.example", {{"member", "carol@a.example"}});
  StreamResponse first =
      Send(b_key_, "POST", Path(stream, "events"), BBatch(stream, {created, joined}).dump());
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(json::parse(first.body), json({{"head", 2}}));
  EXPECT_EQ(Head(stream), 2);
  auto digest = groups_->Digest(stream);
  ASSERT_TRUE(digest.ok());

  // Replayed (a new signature, same events): acknowledged, nothing changes.
  StreamResponse again =
      Send(b_key_, "POST", Path(stream, "events"), BBatch(stream, {created, joined}).dump());
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(again.body), json({{"head", 2}}));
  EXPECT_EQ(*groups_->Digest(stream), *digest);
  // An overlapping batch applies only the new part.
  const json thread =
      BEvent(3, "thread.created", "bob@b.example", {{"title", "Hi"}, {"body", "First"}});
  StreamResponse overlap =
      Send(b_key_, "POST", Path(stream, "events"), BBatch(stream, {joined, thread}).dump());
  ASSERT_EQ(overlap.status, 200) << overlap.body;
  EXPECT_EQ(Head(stream), 3);
  EXPECT_EQ(replicator_->stats().events_applied, 3u);
}

TEST_F(ReplicationTest, ForgedOversizedAndMalformedPushesChangeNothing) {
  const std::string stream = "group:club@b.example";
  const json created =
      BEvent(1, "group.created", "bob@b.example",
             {{"name", "Club"}, {"visibility", "public"}, {"join_policy", "open"}});
  // C pushes a stream B owns.
  StreamResponse forged =
      Send(c_key_, "POST", Path(stream, "events"), BBatch(stream, {created}).dump());
  EXPECT_EQ(forged.status, 403) << forged.body;
  EXPECT_EQ(json::parse(forged.body)["error"], "not_stream_owner");
  // B pushes a stream of this node.
  EXPECT_EQ(Send(b_key_, "POST", Path("group:mine@a.example", "events"),
                 BBatch("group:mine@a.example", {created}).dump())
                .status,
            403);
  // Unknown type.
  json bad = BEvent(1, "group.exploded", "bob@b.example", json::object());
  EXPECT_EQ(Send(b_key_, "POST", Path(stream, "events"), BBatch(stream, {bad}).dump()).status, 400);
  // Reordered inside the batch.
  const json joined =
      BEvent(2, "member.joined", "carol@a.example", {{"member", "carol@a.example"}});
  EXPECT_EQ(
      Send(b_key_, "POST", Path(stream, "events"), BBatch(stream, {joined, created}).dump()).status,
      400);
  // Oversized body.
  std::string huge = BBatch(stream, {created}).dump();
  huge.insert(huge.size() - 1, ",\"pad\":\"" + std::string(kMaxEventsBody, 'x') + "\"");
  EXPECT_EQ(Send(b_key_, "POST", Path(stream, "events"), huge).status, 413);
  // A reducer refusal (a post into a thread that does not exist) fails the whole batch.
  const json orphan = BEvent(2, "post.created", "bob@b.example", {{"thread", 99}, {"body", "x"}});
  StreamResponse refused =
      Send(b_key_, "POST", Path(stream, "events"), BBatch(stream, {created, orphan}).dump());
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(Head(stream), 0) << "nothing of a refused batch is kept";
}

TEST_F(ReplicationTest, AGapIsNotAppliedWhenTheOwnerCannotBePulled) {
  // D (down) owns the stream; a batch starting at seq 3 reaches us with nothing before it.
  const std::string stream = "group:far@127.0.0.1:9";
  const json thread =
      BEvent(3, "thread.created", "dan@127.0.0.1:9", {{"title", "Hi"}, {"body", "First"}});
  StreamResponse gap =
      Send(down_key_, "POST", Path(stream, "events"), BBatch(stream, {thread}).dump());
  EXPECT_EQ(gap.status, 503) << gap.body;
  EXPECT_EQ(Head(stream), 0);
  EXPECT_EQ(replicator_->stats().pulls, 1u);
}

// --- Sender side: the outbox -------------------------------------------------------------

TEST_F(ReplicationTest, CommandsForADownOwnerStayPendingDurably) {
  replicator_->Start();
  groups::Command command;
  command.stream = "group:far@127.0.0.1:9";
  command.type = "member.joined";
  command.actor = "carol@a.example";
  command.data = {{"member", "carol@a.example"}};
  auto submitted = Run(replicator_->Submit(command));
  ASSERT_TRUE(submitted.ok()) << submitted.error().message;
  EXPECT_EQ(submitted->state, SubmitResult::State::kPending);
  ASSERT_TRUE(IsValidCommandId(submitted->command_id));

  // The outbox loop tried and failed (connection refused); the entry records why.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  Result<OutboxEntry> entry = replicator_->GetOutboxEntry(submitted->command_id);
  while (entry.ok() && entry->attempts < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
    entry = replicator_->GetOutboxEntry(submitted->command_id);
  }
  ASSERT_TRUE(entry.ok()) << entry.error().message;
  EXPECT_EQ(entry->state, "pending");
  EXPECT_GE(entry->attempts, 2) << "retried with backoff";
  EXPECT_FALSE(entry->last_error.empty());
  EXPECT_EQ(entry->owner, kDown);
  EXPECT_EQ(entry->actor, "carol@a.example");
  EXPECT_GE(replicator_->stats().commands_sent, 2u);

  // A restart (a new Replicator on the same database) still has it.
  replicator_->Stop();
  MakeReplicator();
  auto pending = replicator_->Outbox("carol@a.example", /*pending_only=*/true);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].command_id, submitted->command_id);
  EXPECT_EQ((*pending)[0].data, command.data);
  auto others = replicator_->Outbox("dave@a.example", false);
  ASSERT_TRUE(others.ok());
  EXPECT_TRUE(others->empty());
}

TEST_F(ReplicationTest, SubmitChecksAMirroredGroupFirst) {
  // B's invite-only group, mirrored here.
  const std::string stream = "group:club@b.example";
  const json created =
      BEvent(1, "group.created", "bob@b.example",
             {{"name", "Club"}, {"visibility", "public"}, {"join_policy", "invite"}});
  ASSERT_EQ(Send(b_key_, "POST", Path(stream, "events"), BBatch(stream, {created}).dump()).status,
            200);
  groups::Command command;
  command.stream = stream;
  command.type = "member.joined";
  command.actor = "carol@a.example";
  command.data = {{"member", "carol@a.example"}};
  auto submitted = Run(replicator_->Submit(command));
  ASSERT_FALSE(submitted.ok());
  EXPECT_EQ(submitted.error().code, ErrorCode::kPermissionDenied) << submitted.error().message;
  auto outbox = replicator_->Outbox("carol@a.example", false);
  ASSERT_TRUE(outbox.ok());
  EXPECT_TRUE(outbox->empty()) << "a refused command never enters the outbox";

  // Not our member, or an owner that is no peer: refused at once.
  command.actor = "bob@b.example";
  EXPECT_FALSE(Run(replicator_->Submit(command)).ok());
  command.actor = "carol@a.example";
  command.stream = "group:club@unknown.example";
  auto unknown = Run(replicator_->Submit(command));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(ReplicationTest, OwnSubmitIsIdempotentByCommandId) {
  const std::string stream = CreateGroup("planning", "public");
  groups::Command command;
  command.stream = stream;
  command.type = "thread.created";
  command.actor = "alice@a.example";
  command.data = {{"title", "Hello"}, {"body", "World"}};
  command.command_id = "same-id";
  auto first = Run(replicator_->Submit(command));
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto second = Run(replicator_->Submit(command));
  ASSERT_TRUE(second.ok()) << second.error().message;
  ASSERT_TRUE(first->event && second->event);
  EXPECT_EQ(first->event->seq, second->event->seq);
  EXPECT_EQ(Head(stream), 2);
}

// --- Files ---------------------------------------------------------------------------------

TEST_F(ReplicationTest, FilesAreServedOnlyToSubscribersOfAStreamThatReferencesThem) {
  const std::string stream = CreateGroup("library", "restricted");
  auto upload = files_->Begin(1 << 20);
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Write(std::string_view("minutes of the March meeting")).ok());
  auto stored = (*upload)->Commit();
  ASSERT_TRUE(stored.ok()) << stored.error().message;
  const std::string sha = stored->sha256;
  ASSERT_TRUE(Local(stream, "file.added", "alice@a.example",
                    {{"title", "Minutes"},
                     {"description", ""},
                     {"tags", json::array()},
                     {"sha256", sha},
                     {"size", stored->size},
                     {"media_type", "text/plain"},
                     {"filename", "minutes.txt"}})
                  .ok());
  const std::string path = std::string(kFilesPathPrefix) + sha;
  EXPECT_EQ(Send(b_key_, "GET", path, "").status, 404) << "B has no member in the group yet";

  ASSERT_TRUE(
      Local(stream, "member.invited", "alice@a.example", {{"member", "bob@b.example"}}).ok());
  ASSERT_EQ(Send(b_key_, "POST", Path(stream, "commands"),
                 CommandBody("member.joined", "bob@b.example", {{"member", "bob@b.example"}}, "j1"))
                .status,
            200);
  StreamResponse file = Send(b_key_, "GET", path, "");
  ASSERT_EQ(file.status, 200) << file.body;
  ASSERT_TRUE(file.file.has_value());
  EXPECT_EQ(file.file_sha256, sha);
  EXPECT_EQ(file.file_size, stored->size);
  EXPECT_EQ(Send(c_key_, "GET", path, "").status, 404);
  EXPECT_EQ(Send(b_key_, "GET", std::string(kFilesPathPrefix) + "nothex", "").status, 400);

  // The signed answer's Content-Digest is the hash itself.
  HttpMessage request;
  request.method = "GET";
  request.target_uri = std::string(kSelf) + path;
  HttpMessage response;
  response.status = 200;
  response.headers.emplace_back("Content-Type", "application/octet-stream");
  ASSERT_TRUE(replicator_->SignResponse(response, request, "", file).ok());
  auto digest = response.FieldValues("content-digest");
  ASSERT_EQ(digest.size(), 1u);
  EXPECT_EQ(std::string(digest[0]), ContentDigestSha256("minutes of the March meeting"));
  EXPECT_FALSE(response.FieldValues("signature").empty());
}

TEST_F(ReplicationTest, APendingFileCommandLetsItsOwnerFetchTheBytes) {
  replicator_->Start();
  auto upload = files_->Begin(1 << 20);
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Write(std::string_view("draft budget")).ok());
  auto stored = (*upload)->Commit();
  ASSERT_TRUE(stored.ok());
  groups::Command command;
  command.stream = "group:far@127.0.0.1:9";
  command.type = "file.added";
  command.actor = "carol@a.example";
  command.data = {{"title", "Budget"},        {"description", ""},    {"tags", json::array()},
                  {"sha256", stored->sha256}, {"size", stored->size}, {"media_type", "text/plain"},
                  {"filename", "budget.txt"}};
  auto submitted = Run(replicator_->Submit(command));
  ASSERT_TRUE(submitted.ok()) << submitted.error().message;
  EXPECT_EQ(submitted->state, SubmitResult::State::kPending);
  const std::string path = std::string(kFilesPathPrefix) + stored->sha256;
  EXPECT_EQ(Send(down_key_, "GET", path, "").status, 200) << "the owner fetches it";
  EXPECT_EQ(Send(b_key_, "GET", path, "").status, 404) << "nobody else";
}

}  // namespace
}  // namespace kith::federation

namespace kith::federation {
namespace {

// --- Directory streams ---------------------------------------------------------------------

json BProfile(const std::string& address, const std::string& name = "Bob Brown") {
  return {{"address", address},
          {"display_name", name},
          {"organisation", "Borders Council"},
          {"job_title", "Planner"},
          {"bio", ""}};
}

json BListing(const std::string& ref) {
  return {{"group", ref},          {"name", "Club"},         {"description", "About"},
          {"tags", json::array()}, {"visibility", "public"}, {"join_policy", "open"},
          {"status", "active"},    {"member_count", 2}};
}

TEST(DirectoryWire, TheGoldenBatchParsesAndIsRefusedForAnotherOwner) {
  std::ifstream in(std::string(KITH_SOURCE_DIR) +
                   "/tests/unit/federation/fixtures/stream_directory_batch.json");
  std::stringstream text;
  text << in.rdbuf();
  ASSERT_FALSE(text.str().empty());
  auto batch = ParseEventBatch("directory@a.example", text.str(), kMaxEventsBody);
  ASSERT_TRUE(batch.ok()) << batch.error().message;
  ASSERT_EQ(batch->events.size(), 4u);
  EXPECT_EQ(batch->events[1].type, "group.listed");
  EXPECT_EQ(batch->events[1].data["member_count"], 2);
  // The same events in another node's directory speak for members that are not its own.
  std::string other = text.str();
  other.replace(other.find("directory@a.example"), 19, "directory@b.example");
  EXPECT_FALSE(ParseEventBatch("directory@b.example", other, kMaxEventsBody).ok());
  auto name = ParseStreamName("directory@a.example");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->kind, StreamKind::kDirectory);
  EXPECT_EQ(name->owner_domain, "a.example");
  EXPECT_EQ(ParseStreamName("group:planning@a.example")->kind, StreamKind::kGroup);
  EXPECT_FALSE(ParseStreamName("directory@").ok());
  EXPECT_FALSE(ParseStreamName("planning@a.example").ok());
  EXPECT_TRUE(CheckStreamOwner("directory@a.example", "a.example").ok());
  EXPECT_EQ(CheckStreamOwner("directory@a.example", "b.example").error().code,
            ErrorCode::kPermissionDenied);
}

TEST_F(ReplicationTest, DirectoryPushesFromTheirOwnerAreApplied) {
  const std::string stream = "directory@b.example";
  const json p1 = BEvent(1, "profile.published", "bob@b.example", BProfile("bob@b.example"));
  const json l2 = BEvent(2, "group.listed", "bob@b.example", BListing("club@b.example"));
  StreamResponse pushed =
      Send(b_key_, "POST", Path(stream, "events"), BBatch(stream, {p1, l2}).dump());
  ASSERT_EQ(pushed.status, 200) << pushed.body;
  EXPECT_EQ(json::parse(pushed.body), json({{"head", 2}}));
  auto bob = directory_->GetProfile("bob@b.example", "alice@a.example");
  ASSERT_TRUE(bob.ok()) << bob.error().message;
  EXPECT_EQ(bob->display_name, "Bob Brown");
  EXPECT_TRUE(directory_->GetListing("club@b.example").ok());
  // Replayed: acknowledged, nothing changes; then an update and a removal.
  StreamResponse again =
      Send(b_key_, "POST", Path(stream, "events"), BBatch(stream, {p1, l2}).dump());
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(again.body), json({{"head", 2}}));
  const json r3 = BEvent(3, "profile.removed", "bob@b.example", {{"address", "bob@b.example"}});
  ASSERT_EQ(Send(b_key_, "POST", Path(stream, "events"), BBatch(stream, {r3}).dump()).status, 200);
  EXPECT_EQ(directory_->GetProfile("bob@b.example", "").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(*directory_->Head(stream), 3);
}

TEST_F(ReplicationTest, ForgedMalformedAndOversizedDirectoryPushesChangeNothing) {
  const std::string stream = "directory@b.example";
  const json p1 = BEvent(1, "profile.published", "bob@b.example", BProfile("bob@b.example"));
  // C pushes B's directory: forged owner.
  StreamResponse forged = Send(c_key_, "POST", Path(stream, "events"), BBatch(stream, {p1}).dump());
  EXPECT_EQ(forged.status, 403) << forged.body;
  EXPECT_EQ(json::parse(forged.body)["error"], "not_stream_owner");
  // B pushes this node's directory.
  EXPECT_EQ(Send(b_key_, "POST", Path("directory@a.example", "events"),
                 BBatch("directory@a.example", {p1}).dump())
                .status,
            403);
  // B speaks for a member of C; a group event type; a listing of a private group; bad data.
  const json other = BEvent(1, "profile.published", "carl@c.example", BProfile("carl@c.example"));
  EXPECT_EQ(Send(b_key_, "POST", Path(stream, "events"), BBatch(stream, {other}).dump()).status,
            400);
  const json group_type =
      BEvent(1, "group.created", "bob@b.example",
             {{"name", "X"}, {"visibility", "public"}, {"join_policy", "open"}});
  EXPECT_EQ(
      Send(b_key_, "POST", Path(stream, "events"), BBatch(stream, {group_type}).dump()).status,
      400);
  json private_listing = BListing("club@b.example");
  private_listing["visibility"] = "private";
  const json priv = BEvent(1, "group.listed", "bob@b.example", private_listing);
  EXPECT_EQ(Send(b_key_, "POST", Path(stream, "events"), BBatch(stream, {priv}).dump()).status,
            400);
  // A good event followed by a bad one: the whole batch is refused.
  const json bad2 = BEvent(2, "profile.published", "bob@b.example", {{"address", "bob@b.example"}});
  EXPECT_EQ(Send(b_key_, "POST", Path(stream, "events"), BBatch(stream, {p1, bad2}).dump()).status,
            400);
  // Oversized.
  std::string huge = BBatch(stream, {p1}).dump();
  huge.insert(huge.size() - 1, ",\"pad\":\"" + std::string(kMaxEventsBody, 'x') + "\"");
  EXPECT_EQ(Send(b_key_, "POST", Path(stream, "events"), huge).status, 413);
  // Unsigned by a peer.
  EXPECT_EQ(Send(stranger_key_, "POST", Path(stream, "events"), BBatch(stream, {p1}).dump()).status,
            401);
  EXPECT_EQ(*directory_->Head(stream), 0) << "nothing of a refused batch is kept";
  EXPECT_FALSE(directory_->GetProfile("bob@b.example", "").ok());
  // Commands and follows are for group streams only.
  EXPECT_GE(Send(b_key_, "POST", Path("directory@a.example", "commands"),
                 CommandBody("profile.published", "bob@b.example", BProfile("bob@b.example"), "d1"))
                .status,
            400);
  EXPECT_GE(
      Send(b_key_, "POST", Path("directory@a.example", "follow"), R"({"follow":true})").status,
      400);
}

TEST_F(ReplicationTest, ADirectoryGapIsPulledFromItsOwner) {
  // The owner is down: the gap cannot be filled, nothing is applied, the push is refused (503,
  // the owner retries).
  const std::string stream = "directory@127.0.0.1:9";
  const json p3 =
      BEvent(3, "profile.published", "dan@127.0.0.1:9", BProfile("dan@127.0.0.1:9", "Dan"));
  StreamResponse gap = Send(down_key_, "POST", Path(stream, "events"), BBatch(stream, {p3}).dump());
  EXPECT_EQ(gap.status, 503) << gap.body;
  EXPECT_EQ(*directory_->Head(stream), 0);
  EXPECT_EQ(replicator_->stats().pulls, 1u) << "the receiver tried to pull the gap";
}

TEST_F(ReplicationTest, ThisNodesDirectoryIsServedToActivePeers) {
  Status published = store_->writer().SubmitAndWait([&](storage::Database& db) -> Status {
    auto r =
        directory_->PublishIn(db, groups::DirectoryChange{"profile.published", "alice@a.example",
                                                          BProfile("alice@a.example", "Alice")});
    if (!r.ok()) return r.error();
    return OkStatus();
  });
  ASSERT_TRUE(published.ok()) << published.error().message;
  StreamResponse pull = Send(c_key_, "GET", Path("directory@a.example", "events") + "?after=0", "");
  ASSERT_EQ(pull.status, 200) << pull.body;
  json page = json::parse(pull.body);
  EXPECT_EQ(page["head"], 1);
  ASSERT_EQ(page["events"].size(), 1u);
  EXPECT_EQ(page["events"][0]["data"]["display_name"], "Alice");
  // Another node's directory is not served from here; strangers get nothing.
  EXPECT_EQ(Send(c_key_, "GET", Path("directory@b.example", "events") + "?after=0", "").status,
            404);
  EXPECT_EQ(
      Send(stranger_key_, "GET", Path("directory@a.example", "events") + "?after=0", "").status,
      401);
}

TEST_F(ReplicationTest, DirectorySubscriptionsFollowPeerState) {
  const std::string stream = "directory@a.example";
  // A mirror of B's directory exists here.
  const json p1 = BEvent(1, "profile.published", "bob@b.example", BProfile("bob@b.example"));
  ASSERT_EQ(Send(b_key_, "POST", Path("directory@b.example", "events"),
                 BBatch("directory@b.example", {p1}).dump())
                .status,
            200);
  replicator_->Start();
  auto eventually = [&](const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return done();
  };
  // Every active peer subscribes to this node's directory from the start.
  ASSERT_TRUE(eventually([&] { return Sub(stream, kB) && Sub(stream, kC) && Sub(stream, kDown); }));
  EXPECT_EQ(Sub(stream, kB)->acked, 0);
  EXPECT_FALSE(Sub(stream, kB)->until_seq.has_value());

  auto change = [&](const char* node, PeerEvent event) {
    PeerChange c;
    c.node_id = node;
    c.event = event;
    c.audit = AuditRecord{"kithctl", "admin.sock", "{}"};
    ASSERT_TRUE(peers_->ApplyEvent(c).ok());
    replicator_->NotePeerChanged(node);
  };
  // B's cursor moved; B is suspended: the row (and cursor) stays, nothing is delivered.
  ASSERT_TRUE(store_->writer()
                  .SubmitAndWait([&](storage::Database& db) -> Status {
                    auto r = directory_->PublishIn(
                        db, groups::DirectoryChange{"profile.published", "alice@a.example",
                                                    BProfile("alice@a.example", "Alice")});
                    if (!r.ok()) return r.error();
                    return AckIn(db, stream, kB, 1);
                  })
                  .ok());
  change(kB, PeerEvent::kSuspend);
  change(kC, PeerEvent::kRevoke);
  // C revoked: its row goes; B suspended: kept with its cursor.
  ASSERT_TRUE(eventually([&] { return !Sub(stream, kC).has_value(); }));
  ASSERT_TRUE(Sub(stream, kB).has_value());
  EXPECT_EQ(Sub(stream, kB)->acked, 1);
  // B's directory stays while B is suspended (public listings, no longer updated)...
  EXPECT_TRUE(directory_->GetProfile("bob@b.example", "").ok());
  // ...and goes when B is revoked.
  change(kB, PeerEvent::kRevoke);
  ASSERT_TRUE(eventually([&] { return !Sub(stream, kB).has_value(); }));
  EXPECT_EQ(directory_->GetProfile("bob@b.example", "").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(*directory_->Head("directory@b.example"), 0);
  // A revoked peer's pushes are refused.
  EXPECT_EQ(Send(b_key_, "POST", Path("directory@b.example", "events"),
                 BBatch("directory@b.example", {p1}).dump())
                .status,
            401);
  EXPECT_TRUE(Sub(stream, kDown).has_value());
}

TEST_F(ReplicationTest, GroupListingsAreAppendedWithTheGroupEvent) {
  const std::string stream = "directory@a.example";
  const std::string roads = CreateGroup("roads", "public");
  // Appended by the job that appended group.created (visible as soon as Submit answered).
  ASSERT_EQ(*directory_->Head(stream), 1);
  auto listing = directory_->GetListing("roads@a.example");
  ASSERT_TRUE(listing.ok()) << listing.error().message;
  EXPECT_EQ(listing->member_count, 1);
  EXPECT_EQ(listing->name, "Group roads");

  // A member of B joins through a command: the member count is published.
  ASSERT_EQ(Send(b_key_, "POST", Path(roads, "commands"),
                 CommandBody("member.joined", "bob@b.example", {{"member", "bob@b.example"}}, "j1"))
                .status,
            200);
  EXPECT_EQ(*directory_->Head(stream), 2);
  EXPECT_EQ(directory_->GetListing("roads@a.example")->member_count, 2);
  auto events = directory_->EventsAfter(stream, 1, 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].actor, "alice@a.example") << "a remote actor's change is the group's";

  // Content changes nothing in the listing.
  ASSERT_TRUE(
      Local(roads, "thread.created", "alice@a.example", {{"title", "T"}, {"body", "B"}}).ok());
  EXPECT_EQ(*directory_->Head(stream), 2);
  // Archived: the listing says so.
  ASSERT_TRUE(Local(roads, "group.archived", "alice@a.example", json::object()).ok());
  EXPECT_EQ(directory_->GetListing("roads@a.example")->status, groups::GroupStatus::kArchived);

  // A private group is never listed; a group that turns private is unlisted.
  CreateGroup("secret", "private");
  EXPECT_EQ(directory_->GetListing("secret@a.example").error().code, ErrorCode::kNotFound);
  const std::string open = CreateGroup("open", "restricted");
  EXPECT_TRUE(directory_->GetListing("open@a.example").ok());
  ASSERT_TRUE(Local(open, "group.updated", "alice@a.example", {{"visibility", "private"}}).ok());
  EXPECT_EQ(directory_->GetListing("open@a.example").error().code, ErrorCode::kNotFound);
  auto last = directory_->EventsAfter(stream, *directory_->Head(stream) - 1, 10);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->back().type, "group.unlisted");
}

}  // namespace
}  // namespace kith::federation
