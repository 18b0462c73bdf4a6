// Two Replicators talking over real HTTP on loopback: each node's stream routes are served by
// a tiny Beast server in this test (federation must not depend on node/, whose HttpServer the
// real daemon uses), so that the delivery and outbox loops, pulls and file downloads run end to
// end: commands from a mirror's member reach the owner through the outbox, events reach the
// mirror through pushes, and library bytes move in both directions.
#include "federation/replication.h"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "groups/directory.h"
#include "identity/node_keys.h"
#include "storage/database.h"
#include "storage/store.h"
#include "tests/support/temp_dir.h"

namespace kith::federation {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using nlohmann::json;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

template <class T>
asio::awaitable<void> Fulfil(asio::awaitable<T> work, std::promise<T>* promise) {
  promise->set_value(co_await std::move(work));
}

// One node: its database, stores, keys, replicator, and a server for its stream routes.
struct TestNode {
  explicit TestNode(asio::io_context& ioc, std::string name)
      : dir(name), acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0}) {
    base = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
    domain = "127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
  }

  void Open(asio::io_context& ioc) {
    auto opened = storage::Store::Open({.path = dir / "kith.db"});
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store = std::move(opened).value();
    {
      auto db = storage::Database::Open({.path = dir / "kith.db"});
      ASSERT_TRUE(db.ok());
      ASSERT_TRUE(identity::NodeKeyring::CreateInitial(dir.path(), *db, clock).ok());
      auto ring = identity::NodeKeyring::Load(dir.path(), *db);
      ASSERT_TRUE(ring.ok()) << ring.error().message;
      keys = *ring;
    }
    auto opened_files = groups::FileStore::Open(dir / "files");
    ASSERT_TRUE(opened_files.ok());
    files = std::move(opened_files).value();
    groups = std::make_unique<groups::GroupStore>(*store, clock, domain);
    directory = std::make_unique<groups::DirectoryStore>(*store, clock, domain);
    peers = std::make_unique<PeerStore>(*store, clock);
    HttpClientOptions options;
    options.allow_private_addresses = true;
    options.connect_timeout = std::chrono::milliseconds(500);
    options.max_response_body = 8 * 1024 * 1024;
    auto made = HttpClient::Create(ioc.get_executor(), options);
    ASSERT_TRUE(made.ok());
    client = std::move(made).value();
    ReplicationContext context;
    context.base_url = base;
    context.domain = domain;
    context.keys = [this] { return keys; };
    context.executor = ioc.get_executor();
    context.min_backoff = std::chrono::milliseconds(20);
    context.max_backoff = std::chrono::seconds(1);
    context.max_batch_events = 7;  // several batches per stream
    context.submit_wait = std::chrono::seconds(5);
    replicator = std::make_unique<Replicator>(context, *store, *groups, *files, *peers, *client,
                                              replay, clock);
    replicator->SetDirectory(directory.get());
    asio::co_spawn(ioc, Accept(), asio::detached);
  }

  void Peer(const TestNode& other) {
    NodeDocument doc;
    doc.id = other.base;
    doc.name = other.base;
    doc.organisation = other.base;
    doc.base_url = other.base;
    doc.version = 1;
    const identity::NodeKey& key = other.keys->current();
    doc.keys.push_back(NodeDocumentKey{key.kid, "ed25519", key.public_key, key.created_at,
                                       std::nullopt, "current"});
    PeerChange request;
    request.node_id = other.base;
    request.event = PeerEvent::kWeRequest;
    request.document = doc;
    request.audit = AuditRecord{"kithctl", "admin.sock", "{}"};
    ASSERT_TRUE(peers->ApplyEvent(request).ok());
    PeerChange accept = request;
    accept.event = PeerEvent::kTheyAccept;
    accept.document.reset();
    ASSERT_TRUE(peers->ApplyEvent(accept).ok());
  }

  asio::awaitable<void> Accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(kTuple);
      if (ec) co_return;
      asio::co_spawn(acceptor.get_executor(), Serve(this, std::move(socket)), asio::detached);
    }
  }

  // The same work as node/federation_routes.cc's stream handler.
  static asio::awaitable<void> Serve(TestNode* node, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(kMaxEventsBody + 1024);
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, kTuple);
      if (ec) co_return;
      http::request<http::string_body> req = parser.release();
      StreamRequest request;
      request.inbound.message.method = std::string(req.method_string());
      request.inbound.message.target_uri = node->base + std::string(req.target());
      request.inbound.message.AppendFields(req.base());
      request.inbound.body = req.body();
      const HttpMessage signed_request = request.inbound.message;
      StreamResponse answer = co_await node->replicator->HandleInbound(std::move(request));
      HttpMessage signed_response;
      signed_response.status = answer.status;
      signed_response.headers.emplace_back(
          "Content-Type", answer.file ? "application/octet-stream" : "application/json");
      EXPECT_TRUE(
          node->replicator->SignResponse(signed_response, signed_request, answer.body, answer)
              .ok());
      http::response<http::string_body> res{static_cast<http::status>(answer.status), 11};
      for (const auto& [name, value] : signed_response.headers) res.set(name, value);
      if (answer.file) {
        std::ifstream in(*answer.file, std::ios::binary);
        std::stringstream bytes;
        bytes << in.rdbuf();
        res.body() = bytes.str();
      } else {
        res.body() = std::move(answer.body);
      }
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      auto [write_ec, written] = co_await http::async_write(stream, res, kTuple);
      if (write_ec || !req.keep_alive()) co_return;
    }
  }

  void Close() {
    if (replicator) replicator->Stop();
    beast::error_code ec;
    acceptor.close(ec);
  }

  testing::TempDir dir;
  tcp::acceptor acceptor;
  std::string base;
  std::string domain;
  SystemClock clock;
  std::unique_ptr<storage::Store> store;
  std::shared_ptr<const identity::NodeKeyring> keys;
  std::unique_ptr<groups::FileStore> files;
  std::unique_ptr<groups::GroupStore> groups;
  std::unique_ptr<groups::DirectoryStore> directory;
  std::unique_ptr<PeerStore> peers;
  std::unique_ptr<HttpClient> client;
  ReplayCache replay;
  std::unique_ptr<Replicator> replicator;
};

class ReplicationLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = std::make_unique<TestNode>(ioc_, "loop-a");
    b_ = std::make_unique<TestNode>(ioc_, "loop-b");
    a_->Open(ioc_);
    b_->Open(ioc_);
    a_->Peer(*b_);
    b_->Peer(*a_);
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { ioc_.run(); });
    a_->replicator->Start();
    b_->replicator->Start();
  }

  void TearDown() override {
    a_->Close();
    b_->Close();
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
    a_.reset();
    b_.reset();
  }

  template <class T>
  T Run(asio::awaitable<T> work) {
    std::promise<T> promise;
    auto future = promise.get_future();
    asio::co_spawn(ioc_, Fulfil(std::move(work), &promise), asio::detached);
    return future.get();
  }

  Result<SubmitResult> Submit(TestNode& node, const std::string& stream, const std::string& type,
                              const std::string& actor, json data) {
    groups::Command command;
    command.stream = stream;
    command.type = type;
    command.actor = actor;
    command.data = std::move(data);
    return Run(node.replicator->Submit(command));
  }

  // Polls until `done` holds, for at most 20 s.
  static bool Eventually(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return done();
  }

  bool Converged(const std::string& stream) {
    auto a = a_->groups->Head(stream);
    auto b = b_->groups->Head(stream);
    return a.ok() && b.ok() && *a > 0 && *a == *b;
  }

  asio::io_context ioc_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      asio::make_work_guard(ioc_)};
  std::vector<std::thread> threads_;
  std::unique_ptr<TestNode> a_;
  std::unique_ptr<TestNode> b_;
};

TEST_F(ReplicationLoopTest, CommandsEventsAndFilesFlowBetweenTwoNodes) {
  const std::string alice = "alice@" + a_->domain;
  const std::string bob = "bob@" + b_->domain;
  const std::string stream = "group:planning@" + a_->domain;
  auto created = Submit(*a_, stream, "group.created", alice,
                        {{"name", "Planning"}, {"visibility", "public"}, {"join_policy", "open"}});
  ASSERT_TRUE(created.ok()) << created.error().message;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(Submit(*a_, stream, "thread.created", alice,
                       {{"title", "Thread " + std::to_string(i)}, {"body", "Body"}})
                    .ok());
  }

  // Bob (on B) joins: a command through B's outbox to A, accepted within submit_wait.
  auto joined = Submit(*b_, stream, "member.joined", bob, {{"member", bob}});
  ASSERT_TRUE(joined.ok()) << joined.error().message;
  ASSERT_EQ(joined->state, SubmitResult::State::kAccepted);
  ASSERT_TRUE(joined->event.has_value());
  EXPECT_EQ(joined->event->seq, 22);
  auto entry = b_->replicator->GetOutboxEntry(joined->command_id);
  ASSERT_TRUE(entry.ok());
  EXPECT_EQ(entry->state, "accepted");
  EXPECT_EQ(entry->seq, 22);

  // A pushes the whole stream to B in batches of 7.
  ASSERT_TRUE(Eventually([&] { return Converged(stream); }));
  EXPECT_EQ(*a_->groups->Digest(stream), *b_->groups->Digest(stream));
  // 22 events in batches of 7 (the counter moves once A has B's answer).
  EXPECT_TRUE(Eventually([&] { return a_->replicator->stats().batches_pushed >= 4u; }));

  // Bob posts; B's mirror checks first, then A decides; the event comes back to B.
  auto posted = Submit(*b_, stream, "post.created", bob, {{"thread", 2}, {"body", "Count me in"}});
  ASSERT_TRUE(posted.ok()) << posted.error().message;
  ASSERT_EQ(posted->state, SubmitResult::State::kAccepted);
  ASSERT_TRUE(Eventually([&] { return *b_->groups->Head(stream) == posted->event->seq; }));
  // A refusal on the mirror never reaches the outbox: a post into a thread that does not exist.
  auto refused = Submit(*b_, stream, "post.created", bob, {{"thread", 999}, {"body", "x"}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kNotFound);

  // Bob uploads a document on B: A fetches the bytes from B before accepting.
  auto upload = b_->files->Begin(1 << 20);
  ASSERT_TRUE(upload.ok());
  const std::string content(300 * 1024, 'k');  // several chunks
  ASSERT_TRUE((*upload)->Write(std::string_view(content)).ok());
  auto stored = (*upload)->Commit();
  ASSERT_TRUE(stored.ok());
  auto added = Submit(*b_, stream, "file.added", bob,
                      {{"title", "Budget"},
                       {"description", ""},
                       {"tags", json::array()},
                       {"sha256", stored->sha256},
                       {"size", stored->size},
                       {"media_type", "text/plain"},
                       {"filename", "budget.txt"}});
  ASSERT_TRUE(added.ok()) << added.error().message;
  ASSERT_EQ(added->state, SubmitResult::State::kAccepted);
  EXPECT_TRUE(*a_->files->Has(stored->sha256));

  // Alice adds one on A: B downloads it from A on first use.
  auto upload_a = a_->files->Begin(1 << 20);
  ASSERT_TRUE(upload_a.ok());
  ASSERT_TRUE((*upload_a)->Write(std::string_view("minutes")).ok());
  auto stored_a = (*upload_a)->Commit();
  ASSERT_TRUE(stored_a.ok());
  ASSERT_TRUE(Submit(*a_, stream, "file.added", alice,
                     {{"title", "Minutes"},
                      {"description", ""},
                      {"tags", json::array()},
                      {"sha256", stored_a->sha256},
                      {"size", stored_a->size},
                      {"media_type", "text/plain"},
                      {"filename", "minutes.txt"}})
                  .ok());
  ASSERT_TRUE(Eventually([&] { return Converged(stream); }));
  EXPECT_FALSE(*b_->files->Has(stored_a->sha256));
  auto path = Run(b_->replicator->EnsureFile(stream, stored_a->sha256));
  ASSERT_TRUE(path.ok()) << path.error().message;
  std::ifstream in(*path);
  std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, "minutes");
  // A hash no document references is not served.
  auto unknown = Run(b_->replicator->EnsureFile(stream, std::string(64, 'a')));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);

  EXPECT_EQ(*a_->groups->Digest(stream), *b_->groups->Digest(stream));

  // B loses its copy (say, restored from an old backup): the next push meets a gap, and B
  // pulls the whole stream from A before applying it.
  ASSERT_TRUE(b_->store->writer()
                  .SubmitAndWait([&](storage::Database& db) -> Status {
                    auto stmt = db.Prepare("DELETE FROM streams WHERE name = ?");
                    if (!stmt.ok()) return stmt.error();
                    stmt->Bind(1, stream);
                    return stmt->Run();
                  })
                  .ok());
  EXPECT_EQ(*b_->groups->Head(stream), 0);
  ASSERT_TRUE(
      Submit(*a_, stream, "thread.created", alice, {{"title", "After"}, {"body", "the gap"}}).ok());
  ASSERT_TRUE(Eventually([&] { return Converged(stream); }));
  EXPECT_EQ(*a_->groups->Digest(stream), *b_->groups->Digest(stream));
  EXPECT_GE(b_->replicator->stats().pulls, 1u);
}

TEST_F(ReplicationLoopTest, SeveralStreamsToOnePeerAreDeliveredInParallel) {
  const std::string alice = "alice@" + a_->domain;
  const std::string bob = "bob@" + b_->domain;
  std::vector<std::string> streams;
  for (int g = 0; g < 4; ++g) {
    const std::string stream = "group:g" + std::to_string(g) + "@" + a_->domain;
    streams.push_back(stream);
    ASSERT_TRUE(Submit(*a_, stream, "group.created", alice,
                       {{"name", "G"}, {"visibility", "private"}, {"join_policy", "open"}})
                    .ok());
    for (int i = 0; i < 15; ++i) {
      ASSERT_TRUE(Submit(*a_, stream, "thread.created", alice,
                         {{"title", "T" + std::to_string(i)}, {"body", "B"}})
                      .ok());
    }
    auto joined = Submit(*b_, stream, "member.joined", bob, {{"member", bob}});
    ASSERT_TRUE(joined.ok()) << joined.error().message;
  }
  for (const std::string& stream : streams) {
    ASSERT_TRUE(Eventually([&] { return Converged(stream); })) << stream;
    EXPECT_EQ(*a_->groups->Digest(stream), *b_->groups->Digest(stream));
  }
  // Bob leaves one private group: B drops its copy; A stops after the leave.
  auto left = Submit(*b_, streams[0], "member.left", bob, {{"member", bob}});
  ASSERT_TRUE(left.ok()) << left.error().message;
  ASSERT_EQ(left->state, SubmitResult::State::kAccepted);
  ASSERT_TRUE(Eventually([&] { return *b_->groups->Head(streams[0]) == 0; }));
  ASSERT_TRUE(
      Submit(*a_, streams[0], "thread.created", alice, {{"title", "Later"}, {"body", "B"}}).ok());
  EXPECT_EQ(*b_->groups->Head(streams[0]), 0);
}

TEST_F(ReplicationLoopTest, OutboxDeliversOnceTheOwnerIsBack) {
  const std::string alice = "alice@" + a_->domain;
  const std::string bob = "bob@" + b_->domain;
  const std::string stream = "group:planning@" + a_->domain;
  ASSERT_TRUE(Submit(*a_, stream, "group.created", alice,
                     {{"name", "Planning"}, {"visibility", "public"}, {"join_policy", "open"}})
                  .ok());
  // A's server is down: B's command waits in the outbox.
  const uint16_t port = a_->acceptor.local_endpoint().port();
  beast::error_code ec;
  a_->acceptor.close(ec);
  auto joined = Submit(*b_, stream, "member.joined", bob, {{"member", bob}});
  ASSERT_TRUE(joined.ok()) << joined.error().message;
  EXPECT_EQ(joined->state, SubmitResult::State::kPending);
  auto pending = b_->replicator->Outbox(bob, true);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);

  // A is back on the same port; B's retries (backoff capped at 1 s here) deliver it once.
  a_->acceptor.open(tcp::v4());
  a_->acceptor.set_option(asio::socket_base::reuse_address(true));
  a_->acceptor.bind({asio::ip::make_address("127.0.0.1"), port});
  a_->acceptor.listen();
  asio::co_spawn(ioc_, a_->Accept(), asio::detached);
  ASSERT_TRUE(Eventually([&] {
    auto entry = b_->replicator->GetOutboxEntry(joined->command_id);
    return entry.ok() && entry->state == "accepted";
  }));
  EXPECT_EQ(*a_->groups->Head(stream), 2);
  ASSERT_TRUE(Eventually([&] { return Converged(stream); }));
  auto role = a_->groups->RoleOf(stream, bob);
  ASSERT_TRUE(role.ok());
  EXPECT_TRUE(role->has_value());
}

}  // namespace
}  // namespace kith::federation

namespace kith::federation {
namespace {

TEST_F(ReplicationLoopTest, DirectoryStreamsReachPeersAndAGapIsPulled) {
  const std::string stream = groups::DirectoryStream(a_->domain);
  const std::string alice = "alice@" + a_->domain;
  auto publish = [&](const std::string& handle, const std::string& name) {
    const std::string address = handle + "@" + a_->domain;
    Status done = a_->store->writer().SubmitAndWait([&](storage::Database& db) -> Status {
      auto r = a_->directory->PublishIn(
          db, groups::DirectoryChange{"profile.published", address,
                                      json{{"address", address}, {"display_name", name}}});
      if (!r.ok()) return r.error();
      return OkStatus();
    });
    ASSERT_TRUE(done.ok()) << done.error().message;
    a_->replicator->NoteAppended(stream);
  };
  // A group created on A is listed in A's directory, which reaches B with a profile.
  ASSERT_TRUE(Submit(*a_, "group:roads@" + a_->domain, "group.created", alice,
                     {{"name", "Roads"}, {"visibility", "public"}, {"join_policy", "open"}})
                  .ok());
  publish("alice", "Alice");
  ASSERT_TRUE(Eventually([&] {
    auto head = b_->directory->Head(stream);
    return head.ok() && *head == 2;
  }));
  EXPECT_TRUE(b_->directory->GetListing("roads@" + a_->domain).ok());
  EXPECT_TRUE(b_->directory->GetProfile(alice, "").ok());

  // B loses its mirror (as after a revocation): the next push starts after B's head, B pulls
  // the gap from A and ends with everything.
  ASSERT_TRUE(b_->store->writer()
                  .SubmitAndWait([&](storage::Database& db) -> Status {
                    auto stmt = db.Cached("DELETE FROM streams WHERE name = ?1");
                    if (!stmt.ok()) return stmt.error();
                    storage::StatementReset reset{*stmt};
                    (*stmt)->Bind(1, stream);
                    return (*stmt)->Run();
                  })
                  .ok());
  EXPECT_FALSE(b_->directory->GetProfile(alice, "").ok());
  const uint64_t pulls = b_->replicator->stats().pulls;
  publish("ann", "Ann");
  ASSERT_TRUE(Eventually([&] {
    auto head = b_->directory->Head(stream);
    return head.ok() && *head == 3;
  }));
  EXPECT_GT(b_->replicator->stats().pulls, pulls);
  EXPECT_TRUE(b_->directory->GetProfile(alice, "").ok()) << "pulled with the gap";
  EXPECT_TRUE(b_->directory->GetProfile("ann@" + a_->domain, "").ok());
  EXPECT_TRUE(b_->directory->GetListing("roads@" + a_->domain).ok());
}

}  // namespace
}  // namespace kith::federation
