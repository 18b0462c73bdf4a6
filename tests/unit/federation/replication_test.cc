#include "federation/replication.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "federation/content_digest.h"
#include "federation/outbox.h"
#include "federation/signature_profile.h"
#include "federation/stream_wire.h"
#include "federation/subscriptions.h"
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
  EXPECT_FALSE(Sub(stream, kB).has_value()) << "an invite does not make B a subscriber";
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
