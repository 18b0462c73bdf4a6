// Groups scoped to one network, on the owner: who receives the stream, whose commands,
// follows and pulls are accepted (federation/subscriptions.h, federation/replication.h).
#include "federation/subscriptions.h"

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

#include "federation/network_store.h"
#include "federation/replication.h"
#include "federation/signature_profile.h"
#include "federation/stream_wire.h"
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

// This node is A (https://a.example), which runs groups. Peers B and C are both active; the
// network store says that B reaches the network N, C does not.
class GroupNetworkScopeTest : public ::testing::Test {
 protected:
  static constexpr const char* kSelf = "https://a.example";
  static constexpr const char* kB = "https://b.example";
  static constexpr const char* kC = "https://c.example";
  static constexpr const char* kNetwork = "https://is.example/networks/spsn";
  static constexpr const char* kAnchor = "https://is.example/networks/spsn";

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
    networks_ =
        std::make_unique<NetworkStore>(*store_, clock_, dir_.path(), kSelf, /*allow_http=*/true);
    HttpClientOptions options;
    options.allow_private_addresses = true;
    options.connect_timeout = std::chrono::milliseconds(500);
    auto client = HttpClient::Create(ioc_.get_executor(), options);
    ASSERT_TRUE(client.ok());
    client_ = std::move(client).value();
    AddActivePeer(kB, b_key_);
    AddActivePeer(kC, c_key_);
    SetInNetwork(kB, clock_.UnixSeconds() + 3600);
    io_thread_ = std::thread([this] { ioc_.run(); });

    ReplicationContext context;
    context.base_url = kSelf;
    context.domain = "a.example";
    context.keys = [this] { return self_keys_; };
    context.executor = ioc_.get_executor();
    context.submit_wait = std::chrono::milliseconds(300);
    replicator_ = std::make_unique<Replicator>(context, *store_, *groups_, *files_, *peers_,
                                               *client_, replay_, clock_);
    replicator_->SetDirectory(directory_.get());
  }

  void TearDown() override {
    if (replicator_) replicator_->Stop();
    work_.reset();
    ioc_.stop();
    if (io_thread_.joinable()) io_thread_.join();
    replicator_.reset();
    client_.reset();
    networks_.reset();
    if (store_) store_->Close();
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

  // `peer` reaches the network until `expires_at` (none: it left every network).
  void SetInNetwork(const std::string& peer, std::optional<int64_t> expires_at) {
    std::vector<PeerNetwork> rows;
    if (expires_at) rows.push_back(PeerNetwork{peer, kNetwork, kAnchor, *expires_at});
    ASSERT_TRUE(networks_->ReplacePeerNetworks(peer, rows).ok());
  }

  template <class T>
  T Run(asio::awaitable<T> work) {
    std::promise<T> promise;
    auto future = promise.get_future();
    asio::co_spawn(ioc_, Fulfil(std::move(work), &promise), asio::detached);
    return future.get();
  }

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

  static std::string Join(const std::string& member, const std::string& id) {
    groups::Command c;
    c.type = "member.joined";
    c.actor = member;
    c.data = {{"member", member}};
    c.command_id = id;
    return CommandJson(c);
  }

  // Creates group `slug` owned here by alice@a.example, scoped to kNetwork unless `scoped` is
  // false.
  std::string CreateGroup(const std::string& slug, const std::string& visibility,
                          bool scoped = true) {
    groups::Command c;
    c.stream = "group:" + slug + "@a.example";
    c.type = "group.created";
    c.actor = "alice@a.example";
    c.data = {{"name", "Group " + slug}, {"visibility", visibility}, {"join_policy", "open"}};
    if (scoped) c.data["network"] = kNetwork;
    auto submitted = Run(replicator_->Submit(c));
    EXPECT_TRUE(submitted.ok()) << submitted.error().message;
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

  // Runs UpdateScopedSubscribersIn in a writer job (what NotePeerNetworksChanged queues).
  std::vector<std::string> Rescope() {
    std::vector<std::string> changed;
    Status done = store_->writer().SubmitAndWait([&](storage::Database& db) -> Status {
      auto streams = UpdateScopedSubscribersIn(db, "a.example", clock_.UnixSeconds());
      if (!streams.ok()) return std::move(streams).error();
      changed = std::move(streams).value();
      return OkStatus();
    });
    EXPECT_TRUE(done.ok()) << done.error().message;
    return changed;
  }

  static std::string ErrorOf(const StreamResponse& r) {
    json body = json::parse(r.body, nullptr, false);
    return body.is_object() ? body.value("error", "") : "";
  }

  testing::TempDir dir_{"network-scope"};
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
  std::unique_ptr<NetworkStore> networks_;
  std::unique_ptr<HttpClient> client_;
  ReplayCache replay_;
  std::unique_ptr<Replicator> replicator_;
  Ed25519SecretKey b_key_ = Ed25519SecretKey::Generate();
  Ed25519SecretKey c_key_ = Ed25519SecretKey::Generate();
};

TEST_F(GroupNetworkScopeTest, CommandsFromANodeOutsideTheNetworkAreRefusedUnwritten) {
  const std::string stream = CreateGroup("roads", "public");
  StreamResponse from_b =
      Send(b_key_, "POST", Path(stream, "commands"), Join("bob@b.example", "b1"));
  ASSERT_EQ(from_b.status, 200) << from_b.body;
  EXPECT_EQ(Head(stream), 2);

  StreamResponse from_c =
      Send(c_key_, "POST", Path(stream, "commands"), Join("carol@c.example", "c1"));
  EXPECT_EQ(from_c.status, 403) << from_c.body;
  EXPECT_EQ(ErrorOf(from_c), kNotInNetworkReason);
  EXPECT_NE(from_c.body.find(kNetwork), std::string::npos) << from_c.body;
  EXPECT_EQ(Head(stream), 2);
  auto role = groups_->RoleOf(stream, "carol@c.example");
  ASSERT_TRUE(role.ok());
  EXPECT_FALSE(role->has_value());

  // In a batch alike.
  json batch = json::array({json{{"stream", stream},
                                 {"command_id", "c2"},
                                 {"type", "member.joined"},
                                 {"actor", "carol@c.example"},
                                 {"data", {{"member", "carol@c.example"}}}}});
  StreamResponse batched =
      Send(c_key_, "POST", std::string(kCommandsPath), json{{"commands", batch}}.dump());
  ASSERT_EQ(batched.status, 200) << batched.body;
  json results = json::parse(batched.body);
  ASSERT_TRUE(results.contains("results")) << batched.body;
  EXPECT_EQ(results["results"][0]["status"], 403) << batched.body;
  EXPECT_EQ(results["results"][0]["error"], kNotInNetworkReason) << batched.body;
  EXPECT_EQ(Head(stream), 2);

  // A group without a network takes C's commands as before.
  const std::string open = CreateGroup("open", "public", /*scoped=*/false);
  StreamResponse unscoped =
      Send(c_key_, "POST", Path(open, "commands"), Join("carol@c.example", "c3"));
  EXPECT_EQ(unscoped.status, 200) << unscoped.body;
}

TEST_F(GroupNetworkScopeTest, RemoteMembersSignedInHereAndInviteesAreCheckedToo) {
  const std::string stream = CreateGroup("roads", "restricted");
  // carol@c.example signed in at this node (cross-node sign-in) acts through Submit here.
  auto carol = Local(stream, "member.joined", "carol@c.example", {{"member", "carol@c.example"}});
  ASSERT_FALSE(carol.ok());
  EXPECT_EQ(carol.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(carol.error().reason, kNotInNetworkReason);
  auto bob = Local(stream, "member.joined", "bob@b.example", {{"member", "bob@b.example"}});
  EXPECT_TRUE(bob.ok()) << bob.error().message;

  // Inviting someone whose node is outside the network is refused; this node's members and
  // B's are fine.
  auto invite_c = Local(stream, "member.invited", "alice@a.example", {{"member", "dan@c.example"}});
  ASSERT_FALSE(invite_c.ok());
  EXPECT_EQ(invite_c.error().reason, kNotInNetworkReason);
  EXPECT_TRUE(
      Local(stream, "member.invited", "alice@a.example", {{"member", "erin@b.example"}}).ok());
  EXPECT_TRUE(
      Local(stream, "member.invited", "alice@a.example", {{"member", "fay@a.example"}}).ok());
}

TEST_F(GroupNetworkScopeTest, TheStreamGoesOnlyToPeersInTheNetwork) {
  const std::string stream = CreateGroup("roads", "public");
  ASSERT_EQ(Send(b_key_, "POST", Path(stream, "commands"), Join("bob@b.example", "b1")).status,
            200);
  EXPECT_TRUE(Sub(stream, kB).has_value());

  // C follows: refused; it may not pull either, though the group is public.
  StreamResponse follow = Send(c_key_, "POST", Path(stream, "follow"), R"({"follow":true})");
  EXPECT_EQ(follow.status, 403) << follow.body;
  EXPECT_EQ(ErrorOf(follow), kNotInNetworkReason);
  EXPECT_FALSE(Sub(stream, kC).has_value());
  StreamResponse pull = Send(c_key_, "GET", Path(stream, "events") + "?after=0", "");
  EXPECT_EQ(pull.status, 403) << pull.body;
  EXPECT_EQ(ErrorOf(pull), kNotInNetworkReason);
  StreamResponse b_pull = Send(b_key_, "GET", Path(stream, "events") + "?after=0", "");
  EXPECT_EQ(b_pull.status, 200) << b_pull.body;

  // C's member invited before the scope can't make C a subscriber either: the scope is set
  // later, and C's row goes.
  const std::string later = CreateGroup("later", "public", /*scoped=*/false);
  ASSERT_EQ(Send(c_key_, "POST", Path(later, "commands"), Join("carol@c.example", "c1")).status,
            200);
  ASSERT_TRUE(Sub(later, kC).has_value());
  auto scoped = Local(later, "group.updated", "alice@a.example", {{"network", kNetwork}});
  ASSERT_TRUE(scoped.ok()) << scoped.error().message;
  EXPECT_FALSE(Sub(later, kC).has_value());
  // Lifting the scope makes C a subscriber again (from the start).
  ASSERT_TRUE(Local(later, "group.updated", "alice@a.example", {{"network", nullptr}}).ok());
  auto back = Sub(later, kC);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->acked, 0);
  EXPECT_FALSE(back->until_seq.has_value());
}

TEST_F(GroupNetworkScopeTest, APeerThatLeavesTheNetworkLosesTheStream) {
  const std::string stream = CreateGroup("roads", "public");
  ASSERT_EQ(Send(b_key_, "POST", Path(stream, "commands"), Join("bob@b.example", "b1")).status,
            200);
  ASSERT_TRUE(
      Local(stream, "thread.created", "alice@a.example", {{"title", "T"}, {"body", "x"}}).ok());
  const int64_t now = clock_.UnixSeconds();
  auto pending = [&](bool network_aware) {
    auto subs = store_->Read([&](storage::Database& db) {
      return network_aware ? PendingFor(db, kB, 100, now) : PendingFor(db, kB, 100);
    });
    EXPECT_TRUE(subs.ok());
    size_t n = 0;
    for (const Subscription& s : subs.ok() ? *subs : std::vector<Subscription>()) {
      n += s.stream == stream ? 1 : 0;
    }
    return n;
  };
  EXPECT_EQ(pending(true), 1u);

  // B leaves the network: nothing more is sent to it even before the rows are recomputed…
  SetInNetwork(kB, std::nullopt);
  EXPECT_EQ(pending(true), 0u);
  EXPECT_EQ(pending(false), 1u);
  // …and the recomputation removes its subscription.
  EXPECT_EQ(Rescope(), std::vector<std::string>{stream});
  EXPECT_FALSE(Sub(stream, kB).has_value());
  EXPECT_TRUE(Rescope().empty());  // idempotent

  // Commands from B are refused now.
  StreamResponse post = Send(
      b_key_, "POST", Path(stream, "commands"),
      CommandJson(groups::Command{
          "", "thread.created", "bob@b.example", {{"title", "Hello"}, {"body", "again"}}, "b2"}));
  EXPECT_EQ(post.status, 403) << post.body;

  // Back in the network: the member's node is a subscriber again.
  SetInNetwork(kB, clock_.UnixSeconds() + 3600);
  EXPECT_EQ(Rescope(), std::vector<std::string>{stream});
  auto sub = Sub(stream, kB);
  ASSERT_TRUE(sub.has_value());
  EXPECT_FALSE(sub->until_seq.has_value());
}

TEST_F(GroupNetworkScopeTest, AnExpiredChainCountsAsOutside) {
  const std::string stream = CreateGroup("roads", "public");
  SetInNetwork(kB, clock_.UnixSeconds() + 10);
  ASSERT_EQ(Send(b_key_, "POST", Path(stream, "commands"), Join("bob@b.example", "b1")).status,
            200);
  clock_.Advance(std::chrono::seconds(11));
  auto in = replicator_->DomainInNetwork("b.example", kNetwork);
  ASSERT_TRUE(in.ok());
  EXPECT_FALSE(*in);
  StreamResponse post = Send(
      b_key_, "POST", Path(stream, "commands"),
      CommandJson(groups::Command{
          "", "thread.created", "bob@b.example", {{"title", "Hello"}, {"body", "late"}}, "b2"}));
  EXPECT_EQ(post.status, 403) << post.body;
  EXPECT_EQ(Rescope(), std::vector<std::string>{stream});
  EXPECT_FALSE(Sub(stream, kB).has_value());
}

TEST_F(GroupNetworkScopeTest, TheNodeAsksWhoIsInTheNetworkAndWhichNetworksAreKnown) {
  auto own = replicator_->DomainInNetwork("a.example", kNetwork);
  ASSERT_TRUE(own.ok());
  EXPECT_TRUE(*own);
  EXPECT_TRUE(*replicator_->DomainInNetwork("b.example", kNetwork));
  EXPECT_FALSE(*replicator_->DomainInNetwork("c.example", kNetwork));
  EXPECT_FALSE(*replicator_->DomainInNetwork("stranger.example", kNetwork));
  EXPECT_TRUE(*replicator_->DomainInNetwork("c.example", ""));

  // kNetwork is known (B reaches it); one this node runs is known; others are not.
  EXPECT_TRUE(replicator_->CheckGroupNetwork(kNetwork, false).ok());
  auto unknown = replicator_->CheckGroupNetwork("https://elsewhere.example/networks/x", false);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kInvalidArgument);
  auto created = networks_->Create("uk", "UK", "");
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_TRUE(replicator_->CheckGroupNetwork(created->entity_id, false).ok());
  EXPECT_FALSE(replicator_->CheckGroupNetwork("http://127.0.0.1:8401/networks/uk", false).ok());
  EXPECT_FALSE(replicator_->CheckGroupNetwork("not a url", true).ok());
}

TEST_F(GroupNetworkScopeTest, AScopedGroupStaysOutOfTheDirectoryStream) {
  const std::string scoped = CreateGroup("roads", "public");
  const std::string open = CreateGroup("open", "public", /*scoped=*/false);
  EXPECT_FALSE(directory_->GetListing("roads@a.example").ok());
  EXPECT_TRUE(directory_->GetListing("open@a.example").ok());
  // A listed group that becomes scoped is unlisted.
  ASSERT_TRUE(Local(open, "group.updated", "alice@a.example", {{"network", kNetwork}}).ok());
  auto listing = directory_->GetListing("open@a.example");
  ASSERT_FALSE(listing.ok());
  EXPECT_EQ(listing.error().code, ErrorCode::kNotFound);
  (void)scoped;
}

}  // namespace
}  // namespace kith::federation
