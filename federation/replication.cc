#include "federation/replication.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "federation/backoff.h"
#include "federation/content_digest.h"
#include "federation/outbox.h"
#include "federation/peer_key_resolver.h"
#include "federation/stream_wire.h"
#include "federation/subscriptions.h"
#include "groups/directory.h"
#include "identity/write_result.h"

namespace kith::federation {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using nlohmann::json;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kPost = "POST";
constexpr std::string_view kGet = "GET";
// Waits longer than this are cut into slices, so that a wake-up (new events, peer contact,
// Stop) is noticed without cancelling a timer from another thread.
constexpr std::chrono::milliseconds kWaitSlice{100};
// A contact from an idle peer makes us look for work left for it at most this often.
constexpr std::chrono::seconds kIdleContactCheck{10};
// Pending subscriptions / outbox entries (or actors) read at once.
constexpr size_t kRoundLimit = 100;
// Command batches in flight to one owner at once, the pending commands read per dispatch, and
// the bytes of commands per batch (the answer, with the events, stays under the client's
// response limit).
constexpr size_t kMaxBatchesInFlight = 4;
constexpr size_t kOutboxScanLimit = 1000;
constexpr size_t kOutboxBatchBytes = 256 * 1024;
// Pull pages per gap at most (each up to kMaxPullLimit events).
constexpr int kMaxPullPages = 100000;

// Runs `job` on the writer and resumes the awaiting coroutine on its own executor with the
// job's value once durable (node/await.h does the same for the node; federation may not use it).
template <class T>
asio::awaitable<Result<T>> AwaitWrite(storage::Writer& writer,
                                      std::function<Result<T>(storage::Database&)> job) {
  auto initiate = [&writer, job = std::move(job)](auto handler) mutable {
    auto slot = std::make_shared<decltype(handler)>(std::move(handler));
    identity::SubmitWrite<T>(writer, std::move(job), [slot](Result<T> result) mutable {
      auto ex = asio::get_associated_executor(*slot);
      asio::post(ex, [slot, result = std::move(result)]() mutable { (*slot)(std::move(result)); });
    });
  };
  return asio::async_initiate<const asio::use_awaitable_t<>, void(Result<T>)>(std::move(initiate),
                                                                              asio::use_awaitable);
}

// A path segment, percent-encoded (unreserved characters kept).
std::string EncodeSegment(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::optional<std::string> DecodeSegment(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return std::nullopt;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    const int hi = hex(in[i + 1]);
    const int lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// The integer query parameter `name` of `query` ("a=1&b=2"); nullopt when absent or not a
// non-negative integer.
std::optional<int64_t> QueryInt(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
    std::string_view value = pair.substr(eq + 1);
    if (value.empty() || value.size() > 18) return std::nullopt;
    int64_t n = 0;
    for (char c : value) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + (c - '0');
    }
    return n;
  }
  return std::nullopt;
}

StreamResponse Answer(int status, std::string body) {
  StreamResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

StreamResponse ErrorAnswer(const Error& error) {
  return Answer(HttpStatusFor(error.code), ErrorJson(error));
}

// "sha-256=:<base64 of the hash bytes>:" for a hex SHA-256.
std::string DigestFieldOfHash(std::string_view sha256_hex) {
  unsigned char bytes[32];
  size_t len = 0;
  if (sha256_hex.size() != 64 ||
      sodium_hex2bin(bytes, sizeof(bytes), sha256_hex.data(), sha256_hex.size(), nullptr, &len,
                     nullptr) != 0 ||
      len != 32) {
    return "";
  }
  char out[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(out, sizeof(out), bytes, sizeof(bytes), sodium_base64_VARIANT_ORIGINAL);
  return "sha-256=:" + std::string(out) + ":";
}

sf::Item Component(std::string name, bool req = false) {
  sf::Item item{std::move(name), {}};
  if (req) item.params.emplace_back("req", true);
  return item;
}

std::vector<NodeDocumentKey> ToDocumentKeys(const std::vector<PeerKey>& keys) {
  std::vector<NodeDocumentKey> out;
  for (const PeerKey& key : keys) {
    out.push_back(NodeDocumentKey{key.kid, "ed25519", key.public_key, key.created_at, key.not_after,
                                  key.status});
  }
  return out;
}

// A wake-up call that survives until it is awaited: a channel holding at most one token.
// Thread-safe; waking an already woken signal does nothing.
class Signal {
 public:
  explicit Signal(const asio::any_io_executor& executor) : channel_(executor, 1) {}
  void Wake() { (void)channel_.try_send(boost::system::error_code{}); }
  // Returns when woken (now, if a wake-up is pending) or after `most`.
  asio::awaitable<void> Wait(std::chrono::steady_clock::duration most) {
    asio::steady_timer timer(channel_.get_executor());
    timer.expires_after(most);
    co_await (channel_.async_receive(kTuple) || timer.async_wait(kTuple));
  }

 private:
  asio::experimental::concurrent_channel<void(boost::system::error_code)> channel_;
};

// A peer's answer as the exchange saw it.
struct Outcome {
  int status = 0;
  std::string body;
};

}  // namespace

struct Replicator::Impl : std::enable_shared_from_this<Replicator::Impl> {
  ReplicationContext ctx;
  storage::Store& store;
  groups::GroupStore& groups;
  groups::FileStore& files;
  PeerStore& peers;
  HttpClient& client;
  ReplayCache& replay;
  const Clock& clock;
  // This node's directory stream and the mirrors of its peers' (SetDirectory, before Start);
  // null: directory streams are refused.
  groups::DirectoryStore* directory = nullptr;

  struct Loop {
    bool running = false;
    bool wake = false;
    Backoff backoff;
    std::chrono::steady_clock::time_point last_idle_check{};
    // Outbox loops: the actors with a batch in flight, how many batches are, whether one
    // failed (the loop backs off once none is in flight), and the loop's wake-up call.
    std::set<std::string, std::less<>> busy;
    size_t in_flight = 0;  // batches
    bool batch_failed = false;
    std::shared_ptr<Signal> signal;
  };
  struct Waiter {
    explicit Waiter(const asio::any_io_executor& executor) : signal(executor) {}
    bool done = false;  // guarded by mu
    std::optional<groups::Event> event;
    Signal signal;
  };
  mutable std::mutex mu;
  bool started = false;                               // guarded by mu
  bool stopped = false;                               // guarded by mu
  std::map<std::string, Loop, std::less<>> delivery;  // by subscriber node; guarded
  std::map<std::string, Loop, std::less<>> outbox;    // by owner node; guarded
  std::map<std::string, std::shared_ptr<Waiter>, std::less<>> waiters;  // by command id

  std::atomic<uint64_t> events_pushed{0}, batches_pushed{0}, push_failures{0}, events_applied{0},
      pulls{0}, commands_sent{0}, commands_accepted{0}, refused_inbound{0};

  Impl(ReplicationContext c, storage::Store& s, groups::GroupStore& g, groups::FileStore& f,
       PeerStore& p, HttpClient& h, ReplayCache& r, const Clock& k)
      : ctx(std::move(c)),
        store(s),
        groups(g),
        files(f),
        peers(p),
        client(h),
        replay(r),
        clock(k) {}

  bool Stopped() const {
    std::lock_guard lock(mu);
    return stopped;
  }

  // --- Peers --------------------------------------------------------------------------------

  // The active peer whose domain is `domain`.
  Result<Peer> PeerForDomain(std::string_view domain) {
    auto all = peers.List();
    if (!all.ok()) return std::move(all).error();
    for (const Peer& peer : *all) {
      if (peer.state != PeerState::kActive) continue;
      auto d = DomainOfNode(peer.node_id);
      if (d.ok() && *d == domain) return peer;
    }
    return MakeError(ErrorCode::kInvalidArgument,
                     "no active peer node serves the domain " + std::string(domain));
  }

  Result<Peer> ActivePeer(std::string_view node) {
    auto found = peers.Find(node);
    if (!found.ok()) return std::move(found).error();
    if (!found->has_value() || (*found)->node_id != node || (*found)->state != PeerState::kActive) {
      return MakeError(ErrorCode::kUnavailable, std::string(node) + " is not an active peer");
    }
    return **found;
  }

  // --- Signed exchanges ---------------------------------------------------------------------

  HttpMessage SignedRequest(const std::string& method, const std::string& url,
                            const std::string& body, Status& signed_ok) {
    std::shared_ptr<const identity::NodeKeyring> keys = ctx.keys();
    KithSigner signer(
        keys->current().kid, [keys](std::span<const uint8_t> m) { return keys->Sign(m); }, clock);
    HttpMessage request;
    request.method = method;
    request.target_uri = url;
    if (!body.empty()) request.headers.emplace_back("Content-Type", "application/json");
    signed_ok = signer.SignRequest(request, body);
    return request;
  }

  // Sends a signed request to an active peer and verifies its signed answer.
  asio::awaitable<Result<Outcome>> Exchange(Peer peer, std::string method, std::string url,
                                            std::string body) {
    auto keys = peers.Keys(peer.id);
    if (!keys.ok()) co_return std::move(keys).error();
    Status signed_ok;
    HttpMessage request = SignedRequest(method, url, body, signed_ok);
    if (!signed_ok.ok()) co_return std::move(signed_ok).error();
    auto response = co_await client.Send(request, body);
    if (!response.ok()) co_return std::move(response).error();
    NodeDocument owner;
    owner.base_url = peer.node_id;
    owner.keys = ToDocumentKeys(*keys);
    DocumentKeyResolver resolver(owner);
    KithVerifier verifier(resolver, replay, clock);
    auto verified = verifier.VerifyResponse(response->message, request, response->body);
    if (!verified.ok()) {
      co_return MakeError(ErrorCode::kUnavailable,
                          "the answer to " + method + " " + url + " (status " +
                              std::to_string(response->message.status) +
                              ") is not validly signed: " + verified.error().message,
                          verified.error().reason);
    }
    co_return Outcome{response->message.status, std::move(response->body)};
  }

  // --- Owner: appending ---------------------------------------------------------------------

  struct Appended {
    groups::Event event;
    bool duplicate = false;
    bool listing = false;  // the directory stream got an event in the same job
  };

  // Whether an event of this type can change the group's directory listing (its fields,
  // status or member count).
  static bool ChangesListing(std::string_view type) {
    namespace t = groups::event_type;
    return type == t::kGroupCreated || type == t::kGroupUpdated || type == t::kGroupArchived ||
           type == t::kGroupUnarchived || type == t::kMemberJoined || type == t::kMemberApproved ||
           type == t::kMemberLeft || type == t::kMemberRemoved;
  }

  // Appends the listing of the group of `event` to this node's directory stream when it
  // changed (inside the job that appended `event`, so that listing and group never disagree).
  Result<bool> PublishListingIn(storage::Database& db, const groups::Event& event) {
    if (directory == nullptr || !ChangesListing(event.type)) return false;
    auto group = groups.GetGroupIn(db, event.stream);
    if (!group.ok()) return std::move(group).error();
    auto actor_domain = groups::AddressDomain(event.actor);
    // The actor of a directory event is one of ours; a remote actor's change is the group's.
    const std::string actor =
        actor_domain.ok() && *actor_domain == ctx.domain ? event.actor : std::string();
    auto published = directory->PublishIn(db, groups::DirectoryEventsForGroup(*group, actor));
    if (!published.ok()) return std::move(published).error();
    return published->has_value();
  }

  void NoteDirectoryAppended() {
    if (directory != nullptr) NoteAppendedNow(directory->stream());
  }

  // Appends `command` (a stream owned here) in one writer job with the command id record and
  // the subscription update; resumes after the commit.
  asio::awaitable<Result<Appended>> AppendOwned(groups::Command command, std::string sender) {
    const std::string stream = command.stream;
    auto result = co_await AwaitWrite<Appended>(
        store.writer(), AppendJob(std::move(command), std::move(sender), clock.UnixSeconds()));
    if (result.ok() && !result->duplicate) NoteAppendedNow(stream);
    if (result.ok() && result->listing) NoteDirectoryAppended();
    co_return result;
  }

  // The write jobs are built by plain functions, never by lambdas inside a coroutine: GCC 12
  // destroys a coroutine's by-value captures twice (see the preamble's pitfalls).
  std::function<Result<Appended>(storage::Database&)> AppendJob(groups::Command command,
                                                                std::string sender, int64_t now) {
    return [this, command = std::move(command), sender = std::move(sender),
            now](storage::Database& db) -> Result<Appended> {
      auto seen = FindAcceptedIn(db, sender, command.command_id);
      if (!seen.ok()) return std::move(seen).error();
      if (seen->has_value()) {
        if ((*seen)->stream != command.stream) {
          return MakeError(ErrorCode::kConflict,
                           "command id " + command.command_id + " was used for another stream");
        }
        return Appended{std::move(**seen), true};
      }
      // A group scoped to a network takes commands only from members of nodes in it.
      KITH_RETURN_IF_ERROR(CheckNetworkScopeIn(db, command, ctx.domain, now));
      auto event = groups.AppendIn(db, command);
      if (!event.ok()) return std::move(event).error();
      KITH_RETURN_IF_ERROR(
          RecordAcceptedIn(db, sender, command.command_id, command.stream, event->seq, now));
      if (ChangesSubscribers(event->type)) {
        auto changed = UpdateSubscribersIn(db, command.stream, event->seq, ctx.domain, now);
        if (!changed.ok()) return std::move(changed).error();
      }
      auto listing = PublishListingIn(db, *event);
      if (!listing.ok()) return std::move(listing).error();
      return Appended{std::move(event).value(), false, *listing};
    };
  }

  static std::function<Result<bool>(storage::Database&)> AckJob(std::string stream,
                                                                std::string node, int64_t head) {
    return [stream = std::move(stream), node = std::move(node),
            head](storage::Database& db) -> Result<bool> {
      KITH_RETURN_IF_ERROR(AckIn(db, stream, node, head));
      return true;
    };
  }

  enum class Verdict { kRetry, kAccepted, kRefused };
  struct OutboxVerdict {
    Verdict verdict;
    int64_t id;
    std::string text;  // retry: why; refused: the owner's JSON error
    int64_t seq;       // accepted
  };
  static std::function<Result<bool>(storage::Database&)> OutboxVerdictsJob(
      std::vector<OutboxVerdict> verdicts, int64_t now) {
    return [verdicts = std::move(verdicts), now](storage::Database& db) -> Result<bool> {
      for (const OutboxVerdict& v : verdicts) {
        KITH_RETURN_IF_ERROR(OutboxJob(v.verdict, v.id, v.text, v.seq, now)(db));
      }
      return true;
    };
  }
  static std::function<Result<bool>(storage::Database&)> OutboxJob(Verdict verdict, int64_t id,
                                                                   std::string text, int64_t seq,
                                                                   int64_t now) {
    return [verdict, id, text = std::move(text), seq, now](storage::Database& db) -> Result<bool> {
      switch (verdict) {
        case Verdict::kRetry:
          KITH_RETURN_IF_ERROR(MarkRetryIn(db, id, text, now, now));
          break;
        case Verdict::kAccepted:
          KITH_RETURN_IF_ERROR(MarkAcceptedIn(db, id, seq, now));
          break;
        case Verdict::kRefused:
          KITH_RETURN_IF_ERROR(MarkRefusedIn(db, id, text, now));
          break;
      }
      return true;
    };
  }

  std::function<Result<groups::ApplyReport>(storage::Database&)> ApplyJob(
      std::string stream, std::string owner_domain, std::vector<groups::Event> events) {
    return [this, stream = std::move(stream), owner_domain = std::move(owner_domain),
            events = std::move(events)](storage::Database& db) -> Result<groups::ApplyReport> {
      auto name = ParseStreamName(stream);
      if (!name.ok()) return std::move(name).error();
      if (name->kind == StreamKind::kGroup) {
        return groups.ApplyRemoteIn(db, stream, owner_domain, events);
      }
      if (directory == nullptr) {
        return MakeError(ErrorCode::kNotFound, "this node takes no directory streams");
      }
      return directory->ApplyRemoteIn(db, stream, events);
    };
  }

  std::function<Result<bool>(storage::Database&)> FollowJob(std::string stream, std::string node,
                                                            bool follow) {
    return [this, stream = std::move(stream), node = std::move(node), follow,
            now = clock.UnixSeconds()](storage::Database& db) -> Result<bool> {
      KITH_RETURN_IF_ERROR(SetFollowingIn(db, stream, node, follow, ctx.domain, now));
      return true;
    };
  }

  static std::function<Result<int64_t>(storage::Database&)> InsertJob(groups::Command command,
                                                                      std::string owner,
                                                                      int64_t now) {
    return [command = std::move(command), owner = std::move(owner),
            now](storage::Database& db) -> Result<int64_t> {
      return InsertOutboxIn(db, command, owner, now);
    };
  }

  // --- Delivery (owner → subscribers) -------------------------------------------------------

  void Kick(std::map<std::string, Loop, std::less<>>& loops, std::string_view node, bool outbound,
            bool reset_backoff) {
    {
      std::lock_guard lock(mu);
      if (!started || stopped) return;
      auto it = loops.find(node);
      if (it == loops.end()) it = loops.emplace(std::string(node), Loop{}).first;
      it->second.wake = true;
      if (reset_backoff) it->second.backoff.Reset();
      if (it->second.signal) it->second.signal->Wake();
      if (it->second.running) return;
      it->second.running = true;
    }
    // Spawned outside the lock: co_spawn may start the loop inline, and the loop locks `mu`.
    if (outbound) {
      asio::co_spawn(ctx.executor, OutboxLoop(shared_from_this(), std::string(node)),
                     asio::detached);
    } else {
      asio::co_spawn(ctx.executor, DeliveryLoop(shared_from_this(), std::string(node)),
                     asio::detached);
    }
  }

  void NoteAppendedNow(std::string_view stream) {
    auto subscribers = store.Read([&](storage::Database& db) { return SubscribersOf(db, stream); });
    if (!subscribers.ok()) {
      spdlog::error("replication: cannot read the subscribers of {}: {}", stream,
                    subscribers.error().message);
      return;
    }
    for (const Subscription& s : *subscribers) {
      if (s.acked < s.head && (!s.until_seq || s.acked < *s.until_seq)) {
        Kick(delivery, s.node, false, false);
      }
    }
  }

  // Waits until `loop`'s backoff has passed, in slices; false when stopped.
  asio::awaitable<bool> WaitBackoff(std::map<std::string, Loop, std::less<>>& loops,
                                    std::string node) {
    asio::steady_timer timer(ctx.executor);
    for (;;) {
      std::chrono::steady_clock::duration wait{};
      {
        std::lock_guard lock(mu);
        if (stopped) co_return false;
        Loop& loop = loops[node];
        wait = loop.backoff.next_attempt - std::chrono::steady_clock::now();
      }
      if (wait <= std::chrono::steady_clock::duration::zero()) co_return true;
      timer.expires_after(std::min<std::chrono::steady_clock::duration>(wait, kWaitSlice));
      co_await timer.async_wait(kTuple);
    }
  }

  // Ends a loop when it has nothing to do and nobody woke it meanwhile.
  bool FinishIfIdle(std::map<std::string, Loop, std::less<>>& loops, const std::string& node) {
    std::lock_guard lock(mu);
    Loop& loop = loops[node];
    if (stopped || !loop.wake) {
      loop.running = false;
      return true;
    }
    loop.wake = false;
    return false;
  }

  void Failed(std::map<std::string, Loop, std::less<>>& loops, const std::string& node) {
    std::lock_guard lock(mu);
    const auto wait = loops[node].backoff.Fail(std::chrono::steady_clock::now(), ctx.min_backoff,
                                               ctx.max_backoff, RandomBits());
    spdlog::debug("replication: next attempt to {} in {} ms", node, wait.count());
  }

  void Succeeded(std::map<std::string, Loop, std::less<>>& loops, const std::string& node) {
    std::lock_guard lock(mu);
    loops[node].backoff.Reset();
  }

  enum class Round { kIdle, kProgress, kFailed };

  // `self` keeps the state alive while the loop runs (it may outlive the Replicator briefly).
  asio::awaitable<void> DeliveryLoop(std::shared_ptr<Impl> self, std::string node) {
    (void)self;
    for (;;) {
      {
        std::lock_guard lock(mu);
        if (stopped) {
          delivery[node].running = false;
          co_return;
        }
        delivery[node].wake = false;
      }
      if (!co_await WaitBackoff(delivery, node)) {
        std::lock_guard lock(mu);
        delivery[node].running = false;
        co_return;
      }
      Round round = Round::kFailed;
      try {
        round = co_await DeliverRound(node);
      } catch (const std::exception& e) {
        spdlog::error("replication: delivery to {} failed: {}", node, e.what());
      }
      if (round == Round::kFailed) {
        Failed(delivery, node);
        continue;
      }
      if (round == Round::kProgress) {
        Succeeded(delivery, node);
        continue;
      }
      if (FinishIfIdle(delivery, node)) co_return;
    }
  }

  // One round: every pending subscription of `node` gets one batch, with at most
  // max_in_flight pushes to the node at a time.
  asio::awaitable<Round> DeliverRound(std::string node) {
    // Streams of groups scoped to a network the node left are not sent, even before their
    // subscriptions are recomputed.
    const int64_t now = clock.UnixSeconds();
    auto pending =
        store.Read([&](storage::Database& db) { return PendingFor(db, node, kRoundLimit, now); });
    if (!pending.ok()) {
      spdlog::error("replication: cannot read the subscriptions of {}: {}", node,
                    pending.error().message);
      co_return Round::kFailed;
    }
    if (pending->empty()) co_return Round::kIdle;
    auto peer = ActivePeer(node);
    if (!peer.ok()) co_return Round::kIdle;  // delivered once the peer is active again
    const size_t workers = std::min(std::max<size_t>(ctx.max_in_flight, 1), pending->size());
    if (workers == 1) {
      for (const Subscription& sub : *pending) {
        if (Stopped()) co_return Round::kIdle;
        if (co_await PushOne(*peer, sub) == Round::kFailed) co_return Round::kFailed;
      }
      co_return Round::kProgress;
    }
    auto state = std::make_shared<RoundState>();
    state->subs = std::move(pending).value();
    state->running = workers;
    for (size_t i = 0; i < workers; ++i) {
      asio::co_spawn(ctx.executor, PushWorker(shared_from_this(), state, *peer), asio::detached);
    }
    // The workers end on their own (each push is bounded by the client's timeouts).
    asio::steady_timer timer(ctx.executor);
    for (;;) {
      {
        std::lock_guard lock(state->mu);
        if (state->running == 0) break;
      }
      timer.expires_after(std::chrono::milliseconds(2));
      co_await timer.async_wait(kTuple);
    }
    co_return state->failed ? Round::kFailed : Round::kProgress;
  }

  struct RoundState {
    std::mutex mu;
    std::vector<Subscription> subs;  // fixed before the workers start
    size_t next = 0;                 // guarded by mu
    size_t running = 0;              // guarded by mu
    bool failed = false;             // guarded by mu
  };

  asio::awaitable<void> PushWorker(std::shared_ptr<Impl> self, std::shared_ptr<RoundState> state,
                                   Peer peer) {
    (void)self;
    for (;;) {
      const Subscription* sub = nullptr;
      {
        std::lock_guard lock(state->mu);
        if (!state->failed && state->next < state->subs.size() && !Stopped()) {
          sub = &state->subs[state->next++];
        }
      }
      Round round = Round::kIdle;
      if (sub != nullptr) {
        try {
          round = co_await PushOne(peer, *sub);
        } catch (const std::exception& e) {
          spdlog::error("replication: pushing to {} failed: {}", peer.node_id, e.what());
          round = Round::kFailed;
        }
      }
      std::lock_guard lock(state->mu);
      if (round == Round::kFailed) state->failed = true;
      if (sub == nullptr) {
        --state->running;
        co_return;
      }
    }
  }

  // Pushes one batch of `sub` (kIdle when there was nothing to send).
  asio::awaitable<Round> PushOne(Peer peer, Subscription sub) {
    const std::string& node = peer.node_id;
    auto events = groups.EventsAfter(sub.stream, sub.acked,
                                     std::clamp<size_t>(ctx.max_batch_events, 1, kMaxPullLimit),
                                     ctx.max_batch_bytes);
    if (!events.ok()) {
      spdlog::error("replication: cannot read {} after {}: {}", sub.stream, sub.acked,
                    events.error().message);
      co_return Round::kFailed;
    }
    if (sub.until_seq) {
      while (!events->empty() && events->back().seq > *sub.until_seq) events->pop_back();
    }
    if (events->empty()) co_return Round::kIdle;
    const int64_t last = events->back().seq;
    const size_t count = events->size();
    const std::string url =
        node + std::string(kStreamsPathPrefix) + EncodeSegment(sub.stream) + "/events";
    const std::string body = EventBatchJson(sub.stream, *events);
    auto outcome = co_await Exchange(peer, std::string(kPost), url, body);
    if (!outcome.ok() || outcome->status != 200) {
      ++push_failures;
      const std::string why = outcome.ok() ? "status " + std::to_string(outcome->status) + ": " +
                                                 outcome->body.substr(0, 300)
                                           : outcome.error().message;
      spdlog::warn("replication: pushing {} (after {}) to {} failed: {}", sub.stream, sub.acked,
                   node, why);
      (void)peers.RecordFailure(node, why);
      co_return Round::kFailed;
    }
    json answer = json::parse(outcome->body, nullptr, false);
    int64_t head = last;
    if (answer.is_object() && answer.contains("head") && answer["head"].is_number_integer()) {
      head = std::min(answer["head"].get<int64_t>(), last);
    }
    if (head <= sub.acked) {
      // The receiver took nothing (it answers its head): retry later, never spin.
      spdlog::warn("replication: {} answered head {} to a batch of {} after {}", node, head,
                   sub.stream, sub.acked);
      co_return Round::kFailed;
    }
    ++batches_pushed;
    events_pushed += count;
    auto acked = co_await AwaitWrite<bool>(store.writer(), AckJob(sub.stream, node, head));
    if (!acked.ok()) {
      spdlog::error("replication: cannot record the ack of {} by {}: {}", sub.stream, node,
                    acked.error().message);
      co_return Round::kFailed;
    }
    co_return Round::kProgress;
  }

  // --- Outbox (commands to other owners) ----------------------------------------------------

  void Notify(const std::string& command_id, std::optional<groups::Event> event) {
    std::lock_guard lock(mu);
    auto it = waiters.find(command_id);
    if (it == waiters.end()) return;
    it->second->done = true;
    it->second->event = std::move(event);
    it->second->signal.Wake();
  }

  // The outbox loop of `owner` dispatches batches: it takes the pending commands in id order,
  // skipping actors that have a batch in flight, into batches of at most kMaxBatchCommands
  // commands / kOutboxBatchBytes bytes, sends up to kMaxBatchesInFlight at once
  // (POST /federation/v1/commands; the owner group-commits each), and sleeps until a command is
  // added or a batch is answered. An actor's commands are in one batch at a time and in the
  // order they were made, so they reach the owner in that order. A batch with a command to
  // retry marks the owner failed: the loop lets the other batches end, then backs off.
  asio::awaitable<void> OutboxLoop(std::shared_ptr<Impl> self, std::string owner) {
    (void)self;
    std::shared_ptr<Signal> signal;
    {
      std::lock_guard lock(mu);
      Loop& loop = outbox[owner];
      if (!loop.signal) loop.signal = std::make_shared<Signal>(ctx.executor);
      signal = loop.signal;
    }
    for (;;) {
      {
        std::lock_guard lock(mu);
        if (stopped) {
          outbox[owner].running = false;
          co_return;
        }
        outbox[owner].wake = false;
      }
      if (!co_await WaitBackoff(outbox, owner)) {
        std::lock_guard lock(mu);
        outbox[owner].running = false;
        co_return;
      }
      Dispatch dispatch = Dispatch::kFailed;
      try {
        dispatch = co_await DispatchOutbox(owner);
      } catch (const std::exception& e) {
        spdlog::error("replication: sending commands to {} failed: {}", owner, e.what());
      }
      if (dispatch == Dispatch::kFailed) {
        Failed(outbox, owner);
        continue;
      }
      if (dispatch == Dispatch::kIdle) {
        if (FinishIfIdle(outbox, owner)) co_return;
        continue;
      }
      co_await signal->Wait(kWaitSlice);  // kBusy: until a command is added or a batch ends
    }
  }

  enum class Dispatch { kIdle, kBusy, kFailed };

  // Starts batches of `owner`'s pending commands whose actors have none in flight. kIdle when
  // nothing is pending or in flight; kFailed when a batch failed and none is in flight.
  asio::awaitable<Dispatch> DispatchOutbox(std::string owner) {
    {
      std::lock_guard lock(mu);
      Loop& loop = outbox[owner];
      if (loop.batch_failed) {
        if (loop.in_flight > 0) co_return Dispatch::kBusy;
        loop.batch_failed = false;
        co_return Dispatch::kFailed;
      }
      if (loop.in_flight >= kMaxBatchesInFlight) co_return Dispatch::kBusy;
    }
    auto pending = store.Read(
        [&](storage::Database& db) { return PendingForOwner(db, owner, kOutboxScanLimit); });
    if (!pending.ok()) {
      spdlog::error("replication: cannot read the outbox for {}: {}", owner,
                    pending.error().message);
      co_return Dispatch::kFailed;
    }
    if (pending->empty()) {
      std::lock_guard lock(mu);
      co_return outbox[owner].in_flight == 0 ? Dispatch::kIdle : Dispatch::kBusy;
    }
    auto peer = ActivePeer(owner);
    if (!peer.ok()) {
      {
        std::lock_guard lock(mu);
        if (outbox[owner].in_flight > 0) co_return Dispatch::kBusy;
      }
      // Tried again after the backoff; the oldest entry shows why it is still pending.
      (void)co_await AwaitWrite<bool>(
          store.writer(), OutboxJob(Verdict::kRetry, pending->front().id, peer.error().message, 0,
                                    clock.UnixSeconds()));
      co_return Dispatch::kFailed;
    }
    std::vector<std::vector<OutboxEntry>> batches;
    {
      std::lock_guard lock(mu);
      Loop& loop = outbox[owner];
      std::set<std::string, std::less<>> taken;  // actors put in this round's batches
      std::vector<OutboxEntry> batch;
      size_t bytes = 0;
      auto close = [&] {
        if (batch.empty()) return;
        for (const OutboxEntry& e : batch) loop.busy.insert(e.actor);
        batches.push_back(std::move(batch));
        batch.clear();
        bytes = 0;
        ++loop.in_flight;
      };
      for (OutboxEntry& entry : *pending) {
        if (loop.in_flight >= kMaxBatchesInFlight) break;
        if (loop.busy.contains(entry.actor)) continue;  // its earlier commands are in flight
        // An actor whose commands were cut off by a full batch waits for that batch.
        if (taken.contains(entry.actor) &&
            std::none_of(batch.begin(), batch.end(),
                         [&](const OutboxEntry& e) { return e.actor == entry.actor; })) {
          continue;
        }
        const size_t size = entry.data.dump().size() + 256;
        if (batch.size() >= kMaxBatchCommands ||
            (bytes + size > kOutboxBatchBytes && !batch.empty())) {
          close();
          if (loop.in_flight >= kMaxBatchesInFlight) break;
          if (taken.contains(entry.actor)) continue;  // its earlier ones are in the closed batch
        }
        taken.insert(entry.actor);
        bytes += size;
        batch.push_back(std::move(entry));
      }
      close();
    }
    // Spawned outside the lock: a batch may start inline, and it locks `mu`.
    for (std::vector<OutboxEntry>& batch : batches) {
      asio::co_spawn(ctx.executor, OutboxBatch(shared_from_this(), *peer, owner, std::move(batch)),
                     asio::detached);
    }
    co_return Dispatch::kBusy;
  }

  asio::awaitable<void> OutboxBatch(std::shared_ptr<Impl> self, Peer peer, std::string owner,
                                    std::vector<OutboxEntry> entries) {
    (void)self;
    bool ok = false;
    try {
      ok = co_await SendBatch(peer, owner, entries);
    } catch (const std::exception& e) {
      spdlog::error("replication: sending commands to {} failed: {}", owner, e.what());
    }
    if (ok) Succeeded(outbox, owner);  // the owner answered: contact resets the backoff
    std::lock_guard lock(mu);
    Loop& loop = outbox[owner];
    for (const OutboxEntry& entry : entries) loop.busy.erase(entry.actor);
    --loop.in_flight;
    if (!ok) loop.batch_failed = true;
    if (loop.signal) loop.signal->Wake();
  }

  // Sends one batch and records the owner's verdicts in one writer job. False when a command
  // (or the whole batch) must be retried later.
  asio::awaitable<bool> SendBatch(const Peer& peer, const std::string& owner,
                                  const std::vector<OutboxEntry>& entries) {
    const int64_t now = clock.UnixSeconds();
    std::vector<groups::Command> commands;
    commands.reserve(entries.size());
    for (const OutboxEntry& entry : entries) {
      groups::Command command;
      command.stream = entry.stream;
      command.type = entry.type;
      command.actor = entry.actor;
      command.data = entry.data;
      command.command_id = entry.command_id;
      commands.push_back(std::move(command));
    }
    commands_sent += commands.size();
    auto outcome = co_await Exchange(peer, std::string(kPost), owner + std::string(kCommandsPath),
                                     CommandBatchJson(commands));
    Result<std::vector<CommandResult>> results = MakeError(ErrorCode::kUnavailable, "no answer");
    if (!outcome.ok()) {
      results = std::move(outcome).error();
    } else if (outcome->status != 200) {
      results = ErrorFromAnswer(outcome->status, outcome->body);
    } else {
      results = ParseCommandResults(commands, outcome->body);
      if (!results.ok()) {
        results = MakeError(ErrorCode::kUnavailable,
                            "the owner's answer is malformed: " + results.error().message);
      }
    }
    if (!results.ok()) {
      // Not the owner's verdict on the commands: retry them all later.
      const std::string why = results.error().message.substr(0, 300);
      spdlog::warn("replication: {} commands to {} not delivered: {}", entries.size(), owner, why);
      (void)peers.RecordFailure(owner, why);
      std::vector<OutboxVerdict> verdicts;
      for (const OutboxEntry& entry : entries) {
        verdicts.push_back({Verdict::kRetry, entry.id, why, 0});
      }
      (void)co_await AwaitWrite<bool>(store.writer(), OutboxVerdictsJob(std::move(verdicts), now));
      co_return false;
    }
    std::vector<OutboxVerdict> verdicts;
    bool all_final = true;
    for (size_t i = 0; i < entries.size(); ++i) {
      const CommandResult& r = (*results)[i];
      if (r.event) {
        verdicts.push_back({Verdict::kAccepted, entries[i].id, std::string(), r.event->seq});
      } else if (r.status >= 500 || r.status == 401 || r.status == 429) {
        all_final = false;
        spdlog::warn("replication: command {} to {} not delivered: {}", entries[i].command_id,
                     owner, r.error.substr(0, 300));
        verdicts.push_back({Verdict::kRetry, entries[i].id, r.error.substr(0, 300), 0});
      } else {
        spdlog::info("replication: {} refused command {}: {}", owner, entries[i].command_id,
                     r.error.substr(0, 300));
        verdicts.push_back({Verdict::kRefused, entries[i].id, r.error, 0});
      }
    }
    auto marked =
        co_await AwaitWrite<bool>(store.writer(), OutboxVerdictsJob(std::move(verdicts), now));
    if (!marked.ok()) co_return false;
    for (size_t i = 0; i < entries.size(); ++i) {
      CommandResult& r = (*results)[i];
      if (r.event) {
        ++commands_accepted;
        Notify(entries[i].command_id, std::move(r.event));
      } else if (!(r.status >= 500 || r.status == 401 || r.status == 429)) {
        Notify(entries[i].command_id, std::nullopt);
      }
    }
    co_return all_final;
  }

  // --- Mirror: applying and pulling ---------------------------------------------------------

  asio::awaitable<Result<groups::ApplyReport>> Apply(std::string stream, std::string owner_domain,
                                                     std::vector<groups::Event> events) {
    auto report = co_await AwaitWrite<groups::ApplyReport>(
        store.writer(), ApplyJob(std::move(stream), std::move(owner_domain), std::move(events)));
    if (report.ok()) events_applied += report->applied;
    co_return report;
  }

  // Pulls `stream` from its owner after our head until we have `until` (or the owner's head).
  asio::awaitable<Result<int64_t>> Pull(Peer owner, std::string stream, std::string owner_domain,
                                        int64_t until) {
    auto head = groups.Head(stream);
    if (!head.ok()) co_return std::move(head).error();
    int64_t at = *head;
    for (int page = 0; page < kMaxPullPages && at < until; ++page) {
      ++pulls;
      const std::string url = owner.node_id + std::string(kStreamsPathPrefix) +
                              EncodeSegment(stream) + "/events?after=" + std::to_string(at) +
                              "&limit=" + std::to_string(kMaxPullLimit);
      auto outcome = co_await Exchange(owner, std::string(kGet), url, std::string());
      if (!outcome.ok()) co_return std::move(outcome).error();
      if (outcome->status != 200) co_return ErrorFromAnswer(outcome->status, outcome->body);
      auto parsed = ParseEventsPage(stream, outcome->body, at, kMaxEventsBody);
      if (!parsed.ok()) co_return std::move(parsed).error();
      if (parsed->events.empty()) break;
      auto report = co_await Apply(stream, owner_domain, std::move(parsed->events));
      if (!report.ok()) co_return std::move(report).error();
      if (report->dropped || report->head <= at) break;
      at = report->head;
    }
    co_return at;
  }

  // --- Files --------------------------------------------------------------------------------

  // Verifies the signature of a file answer (its body was streamed to disk, so the digest is
  // checked against the expected hash instead of the bytes; the upload checks the bytes).
  Status VerifyFileAnswer(const HttpMessage& response, const HttpMessage& request,
                          const std::vector<PeerKey>& keys, const std::string& sha256) {
    auto entry = FindSignature(response, kSignatureLabel);
    if (!entry.ok()) return std::move(entry).error();
    const sf::Parameters& params = entry->input.params;
    auto int_param = [&](std::string_view key) -> std::optional<int64_t> {
      const sf::BareItem* v = sf::FindParam(params, key);
      const int64_t* i = v ? std::get_if<int64_t>(v) : nullptr;
      return i ? std::optional<int64_t>(*i) : std::nullopt;
    };
    auto string_param = [&](std::string_view key) -> std::string {
      const sf::BareItem* v = sf::FindParam(params, key);
      const std::string* s = v ? std::get_if<std::string>(v) : nullptr;
      return s ? *s : std::string();
    };
    const auto created = int_param("created");
    const auto expires = int_param("expires");
    const int64_t now = clock.UnixSeconds();
    if (string_param("tag") != kSignatureTag || string_param("alg") != "ed25519" || !created ||
        !expires || *expires <= *created || *expires - *created > kMaxSignatureValidity.count() ||
        *created > now + 60 || *expires < now) {
      return MakeError(ErrorCode::kUnauthenticated, "the file answer's signature is not valid now",
                       std::string(reason::kMalformedSignature));
    }
    const std::string kid = string_param("keyid");
    const PeerKey* key = nullptr;
    for (const PeerKey& k : keys) {
      if (k.kid == kid) key = &k;
    }
    if (key == nullptr || (key->not_after && now > *key->not_after)) {
      return MakeError(ErrorCode::kUnauthenticated, "the file answer is signed by an unknown key",
                       std::string(reason::kUnknownKey));
    }
    for (const sf::Item& wanted : {Component("@status"), Component("content-digest"),
                                   Component("@method", true), Component("@target-uri", true)}) {
      bool covered = false;
      for (const sf::Item& item : entry->input.items) covered = covered || item == wanted;
      if (!covered) {
        return MakeError(ErrorCode::kUnauthenticated, "the file answer's signature is incomplete",
                         std::string(reason::kComponentNotCovered));
      }
    }
    auto base = SignatureBase(entry->input, response, &request);
    if (!base.ok()) return std::move(base).error();
    if (!VerifyEd25519(*base, entry->signature, key->public_key)) {
      return MakeError(ErrorCode::kUnauthenticated, "the file answer's signature does not verify",
                       std::string(reason::kInvalidSignature));
    }
    auto digest = response.FieldValues("content-digest");
    if (digest.size() != 1 || digest.front() != DigestFieldOfHash(sha256)) {
      return MakeError(ErrorCode::kUnauthenticated,
                       "the file answer's Content-Digest is not the requested hash",
                       std::string(reason::kDigestMismatch));
    }
    return OkStatus();
  }

  // Fetches the bytes `sha256` from `node` into the FileStore.
  asio::awaitable<Result<std::filesystem::path>> FetchFile(Peer peer, std::string sha256) {
    auto have = files.Has(sha256);
    if (!have.ok()) co_return std::move(have).error();
    if (*have) co_return files.PathOf(sha256);
    auto keys = peers.Keys(peer.id);
    if (!keys.ok()) co_return std::move(keys).error();
    Status signed_ok;
    HttpMessage request =
        SignedRequest("GET", peer.node_id + std::string(kFilesPathPrefix) + sha256, "", signed_ok);
    if (!signed_ok.ok()) co_return std::move(signed_ok).error();
    auto upload = files.Begin(ctx.max_upload_bytes);
    if (!upload.ok()) co_return std::move(upload).error();
    groups::Upload& sink = **upload;
    auto response = co_await client.Download(
        request, [&sink](std::string_view chunk) { return sink.Write(chunk); },
        static_cast<uint64_t>(ctx.max_upload_bytes));
    if (!response.ok()) co_return std::move(response).error();
    if (response->message.status != 200) {
      NodeDocument owner;
      owner.base_url = peer.node_id;
      owner.keys = ToDocumentKeys(*keys);
      DocumentKeyResolver resolver(owner);
      KithVerifier verifier(resolver, replay, clock);
      auto verified = verifier.VerifyResponse(response->message, request, response->body);
      if (!verified.ok()) co_return std::move(verified).error();
      co_return ErrorFromAnswer(response->message.status, response->body);
    }
    Status verified = VerifyFileAnswer(response->message, request, *keys, sha256);
    if (!verified.ok()) co_return std::move(verified).error();
    auto stored = sink.Commit(sha256);
    if (!stored.ok()) co_return std::move(stored).error();
    co_return files.PathOf(sha256);
  }

  // --- Inbound ------------------------------------------------------------------------------

  asio::awaitable<StreamResponse> Handle(StreamRequest request) {
    const InboundRequest& in = request.inbound;
    std::string_view target = in.message.target_uri;
    if (target.substr(0, ctx.base_url.size()) != ctx.base_url) {
      co_return ErrorAnswer(MakeError(ErrorCode::kInvalidArgument, "target outside this node"));
    }
    std::string_view path = target.substr(ctx.base_url.size());
    std::string_view query;
    if (const size_t q = path.find('?'); q != std::string_view::npos) {
      query = path.substr(q + 1);
      path = path.substr(0, q);
    }
    const bool is_file = path.substr(0, kFilesPathPrefix.size()) == kFilesPathPrefix;
    const bool is_stream = path.substr(0, kStreamsPathPrefix.size()) == kStreamsPathPrefix;
    const bool is_batch = path == kCommandsPath;
    if (!is_file && !is_stream && !is_batch) {
      co_return ErrorAnswer(MakeError(ErrorCode::kNotFound, "no such federation endpoint"));
    }
    std::string action;
    std::string stream;
    if (is_stream) {
      std::string_view rest = path.substr(kStreamsPathPrefix.size());
      const size_t slash = rest.find('/');
      if (slash == std::string_view::npos) {
        co_return ErrorAnswer(MakeError(ErrorCode::kNotFound, "no such federation endpoint"));
      }
      auto decoded = DecodeSegment(rest.substr(0, slash));
      action = std::string(rest.substr(slash + 1));
      if (!decoded || !ParseStreamName(*decoded).ok()) {
        co_return ErrorAnswer(MakeError(ErrorCode::kInvalidArgument, "not a stream name"));
      }
      stream = std::move(decoded).value();
    }
    const size_t limit = is_batch                                            ? kMaxCommandBatchBody
                         : action == "events" && in.message.method == "POST" ? kMaxEventsBody
                         : action == "commands"                              ? kMaxCommandBody
                                                                             : kMaxFederationBody;
    if (in.body.size() > limit) {
      ++refused_inbound;
      co_return ErrorAnswer(MakeError(ErrorCode::kTooLarge, "message body too large"));
    }

    // Who sent it: an active peer (401 otherwise).
    PeerKeyResolver resolver(peers);
    KithVerifier verifier(resolver, replay, clock);
    auto verified = verifier.VerifyRequest(in.message, in.body);
    if (!verified.ok()) {
      ++refused_inbound;
      co_return Answer(HttpStatusFor(verified.error().code), SignatureErrorJson(verified.error()));
    }
    const std::string sender = verified->node_id;
    auto sender_domain = DomainOfNode(sender);
    if (!sender_domain.ok()) co_return ErrorAnswer(sender_domain.error());
    NotePeerContactNow(sender);

    StreamResponse answer;
    if (is_file && in.message.method == "GET") {
      answer = ServeFile(sender, std::string(path.substr(kFilesPathPrefix.size())));
    } else if (is_batch && in.message.method == "POST") {
      answer = co_await HandleCommandBatch(sender, *sender_domain, in.body);
    } else if (is_batch) {
      answer = ErrorAnswer(MakeError(ErrorCode::kNotFound, "no such federation endpoint"));
    } else if (action == "commands" && in.message.method == "POST") {
      answer = co_await HandleCommand(sender, *sender_domain, stream, in.body);
    } else if (action == "events" && in.message.method == "POST") {
      answer = co_await HandlePush(sender, *sender_domain, stream, in.body);
    } else if (action == "events" && in.message.method == "GET") {
      answer = ServePull(sender, stream, query);
    } else if (action == "follow" && in.message.method == "POST") {
      answer = co_await HandleFollow(sender, stream, in.body);
    } else {
      answer = ErrorAnswer(MakeError(ErrorCode::kNotFound, "no such federation endpoint"));
    }
    if (answer.status >= 400) {
      ++refused_inbound;
      spdlog::warn("federation: {} {} from {} refused ({}): {}", in.message.method,
                   path.substr(0, 200), sender, answer.status, answer.body.substr(0, 300));
    }
    co_return answer;
  }

  asio::awaitable<StreamResponse> HandleCommand(std::string sender, std::string sender_domain,
                                                std::string stream, std::string body) {
    auto command = ParseCommand(stream, body);
    if (!command.ok()) co_return ErrorAnswer(command.error());
    Status from = CheckActorFromSender(*command, sender_domain);
    if (!from.ok()) co_return ErrorAnswer(from.error());
    auto ref = groups::ParseGroupStream(stream);
    if (!ref.ok()) co_return ErrorAnswer(ref.error());
    if (ref->domain != ctx.domain) {
      co_return ErrorAnswer(MakeError(ErrorCode::kNotFound, "this node does not own " + stream,
                                      std::string(stream_reason::kNotOwnedHere)));
    }
    Status file = co_await FetchCommandFile(sender, *command);
    if (!file.ok()) co_return ErrorAnswer(file.error());
    auto appended = co_await AppendOwned(std::move(command).value(), sender);
    if (!appended.ok()) co_return ErrorAnswer(appended.error());
    co_return Answer(200, CommandAnswerJson(appended->event));
  }

  // A batch of commands: each checked like a single one, then all appended in one group
  // commit (one writer job each, queued together, in order). A command that must be retried
  // (5xx) makes the later commands of its actor in the batch fail with 503 unapplied, so
  // that an actor's commands never apply out of order.
  asio::awaitable<StreamResponse> HandleCommandBatch(std::string sender, std::string sender_domain,
                                                     std::string body) {
    auto items = ParseCommandBatch(body);
    if (!items.ok()) co_return ErrorAnswer(items.error());
    const size_t n = items->size();
    auto batch = std::make_shared<BatchAppend>();
    batch->results.resize(n);
    std::vector<std::optional<groups::Command>> ready(n);
    for (size_t i = 0; i < n; ++i) {
      BatchItem& item = (*items)[i];
      batch->results[i].command_id = item.command_id;
      Status checked = item.command.ok() ? CheckBatchCommand(*item.command, sender_domain)
                                         : Status(item.command.error());
      if (checked.ok() && batch->Blocked(item.command->actor, i)) {
        checked = MakeError(ErrorCode::kUnavailable,
                            "an earlier command of this actor in the batch must be retried first");
      }
      if (checked.ok()) checked = co_await FetchCommandFile(sender, *item.command);
      if (!checked.ok()) {
        SetFailure(*batch, i, checked.error(), item.command.ok() ? item.command->actor : "");
        continue;
      }
      ready[i] = std::move(item.command).value();
    }
    co_await AppendBatch(batch, std::move(ready), sender);
    std::set<std::string> appended_streams;
    for (const CommandResult& r : batch->results) {
      if (r.event && batch->fresh.contains(r.command_id)) appended_streams.insert(r.event->stream);
    }
    for (const std::string& stream : appended_streams) NoteAppendedNow(stream);
    if (batch->listing) NoteDirectoryAppended();
    co_return Answer(200, CommandResultsJson(batch->results));
  }

  // What a batch's appends share; touched by the writer thread while the jobs run (in order),
  // and by the handler before they are queued and after the last one finished.
  struct BatchAppend {
    std::vector<CommandResult> results;
    // Actors with a command to retry: the index of their first such command.
    std::map<std::string, size_t, std::less<>> blocked;

    bool Blocked(const std::string& actor, size_t i) const {
      auto it = blocked.find(actor);
      return it != blocked.end() && it->second < i;
    }
    std::set<std::string, std::less<>> fresh;  // command ids appended now (not duplicates)
    bool listing = false;  // a command changed a listing of this node's directory stream
  };

  static void SetFailure(BatchAppend& batch, size_t i, const Error& error,
                         const std::string& actor) {
    CommandResult& r = batch.results[i];
    r.status = HttpStatusFor(error.code);
    r.error = ErrorJson(error);
    if (r.status >= 500 || r.status == 401 || r.status == 429) {
      auto [it, added] = batch.blocked.emplace(actor, i);
      if (!added) it->second = std::min(it->second, i);
    }
  }

  Status CheckBatchCommand(const groups::Command& command, std::string_view sender_domain) {
    KITH_RETURN_IF_ERROR(CheckActorFromSender(command, sender_domain));
    auto ref = groups::ParseGroupStream(command.stream);
    if (!ref.ok()) return std::move(ref).error();
    if (ref->domain != ctx.domain) {
      return MakeError(ErrorCode::kNotFound, "this node does not own " + command.stream,
                       std::string(stream_reason::kNotOwnedHere));
    }
    return OkStatus();
  }

  // Appends the ready commands, one writer job each, queued together so that they commit
  // together; resumes when all are durable.
  asio::awaitable<void> AppendBatch(std::shared_ptr<BatchAppend> batch,
                                    std::vector<std::optional<groups::Command>> ready,
                                    std::string sender) {
    auto initiate = [this, batch, ready = std::move(ready),
                     sender = std::move(sender)](auto handler) mutable {
      auto slot = std::make_shared<decltype(handler)>(std::move(handler));
      auto left = std::make_shared<std::atomic<size_t>>(1);  // +1 until all are queued
      auto finish = [slot, left] {
        if (left->fetch_sub(1) != 1) return;
        auto ex = asio::get_associated_executor(*slot);
        asio::post(ex, [slot]() mutable { (*slot)(); });
      };
      const int64_t now = clock.UnixSeconds();
      for (size_t i = 0; i < ready.size(); ++i) {
        if (!ready[i]) continue;
        left->fetch_add(1);
        identity::SubmitWrite<Appended>(store.writer(),
                                        BatchAppendJob(batch, i, std::move(*ready[i]), sender, now),
                                        [batch, i, finish](Result<Appended> result) {
                                          // Runs after the commit (or the job's failure); the jobs
                                          // before it are done.
                                          if (result.ok()) {
                                            batch->results[i].status = 200;
                                            batch->results[i].event = std::move(result->event);
                                            if (!result->duplicate)
                                              batch->fresh.insert(batch->results[i].command_id);
                                            if (result->listing) batch->listing = true;
                                          } else if (batch->results[i].status == 0) {
                                            SetFailure(*batch, i, result.error(), std::string());
                                          }
                                          finish();
                                        });
      }
      finish();
    };
    co_await asio::async_initiate<const asio::use_awaitable_t<>, void()>(std::move(initiate),
                                                                         asio::use_awaitable);
  }

  // One command of a batch as a writer job: refused unapplied when an earlier command of its
  // actor in the batch failed in a way the sender retries.
  std::function<Result<Appended>(storage::Database&)> BatchAppendJob(
      std::shared_ptr<BatchAppend> batch, size_t i, groups::Command command, std::string sender,
      int64_t now) {
    auto append = AppendJob(command, std::move(sender), now);
    return [batch, i, actor = command.actor,
            append = std::move(append)](storage::Database& db) -> Result<Appended> {
      if (batch->Blocked(actor, i)) {
        Error error = MakeError(ErrorCode::kUnavailable,
                                "an earlier command of this actor in the batch must be retried "
                                "first");
        SetFailure(*batch, i, error, actor);
        return error;
      }
      auto appended = append(db);
      if (!appended.ok()) SetFailure(*batch, i, appended.error(), actor);
      return appended;
    };
  }

  // The bytes of a file command come from the sender before the command is accepted.
  asio::awaitable<Status> FetchCommandFile(std::string sender, groups::Command command) {
    namespace t = groups::event_type;
    if (command.type != t::kFileAdded && command.type != t::kFileVersionAdded) {
      co_return OkStatus();
    }
    const std::string sha = command.data.value("sha256", "");
    auto peer = ActivePeer(sender);
    if (!peer.ok()) co_return std::move(peer).error();
    auto fetched = co_await FetchFile(*peer, sha);
    if (fetched.ok()) co_return OkStatus();
    Error error = fetched.error();
    if (error.code != ErrorCode::kTooLarge && error.code != ErrorCode::kInvalidArgument) {
      error.code = ErrorCode::kUnavailable;  // the sender retries
    }
    error.message = "cannot fetch file " + sha + " from " + sender + ": " + error.message;
    co_return error;
  }

  asio::awaitable<StreamResponse> HandlePush(std::string sender, std::string sender_domain,
                                             std::string stream, std::string body) {
    Status owner_ok = CheckStreamOwner(stream, sender_domain);
    if (!owner_ok.ok()) co_return ErrorAnswer(owner_ok.error());
    auto batch = ParseEventBatch(stream, body, kMaxEventsBody);
    if (!batch.ok()) co_return ErrorAnswer(batch.error());
    const int64_t first = batch->events.front().seq;
    const int64_t last = batch->events.back().seq;
    auto report = co_await Apply(stream, sender_domain, batch->events);
    if (!report.ok()) co_return ErrorAnswer(report.error());
    if (report->gap) {
      auto peer = ActivePeer(sender);
      if (!peer.ok()) co_return ErrorAnswer(peer.error());
      auto pulled = co_await Pull(*peer, stream, sender_domain, first - 1);
      if (!pulled.ok()) {
        spdlog::warn("replication: pulling {} from {} failed: {}", stream, sender,
                     pulled.error().message);
        co_return ErrorAnswer(
            MakeError(ErrorCode::kUnavailable,
                      "gap before seq " + std::to_string(first) +
                          "; pulling the missing events failed: " + pulled.error().message));
      }
      report = co_await Apply(stream, sender_domain, std::move(batch->events));
      if (!report.ok()) co_return ErrorAnswer(report.error());
    }
    // A private group whose last local member left was dropped: its events were consumed.
    const int64_t head = report->dropped ? std::max(report->head, last) : report->head;
    co_return Answer(200, json{{"head", head}}.dump());
  }

  StreamResponse ServePull(const std::string& sender, const std::string& stream,
                           std::string_view query) {
    const int64_t after = QueryInt(query, "after").value_or(0);
    const int64_t limit =
        std::clamp<int64_t>(QueryInt(query, "limit").value_or(500), 1, kMaxPullLimit);
    auto name = ParseStreamName(stream);
    if (!name.ok()) return ErrorAnswer(name.error());
    if (name->kind == StreamKind::kDirectory) {
      return ServeDirectoryPull(stream, name->owner_domain, after, limit);
    }
    auto group = groups.GetGroup(stream);
    if (!group.ok()) return ErrorAnswer(group.error());
    if (!group->network.empty()) {
      // A group scoped to a network is served only to peers in it (public or not).
      const int64_t now = clock.UnixSeconds();
      auto in = store.Read(
          [&](storage::Database& db) { return NodeInNetworkIn(db, sender, group->network, now); });
      if (!in.ok()) return ErrorAnswer(in.error());
      if (!*in) {
        return ErrorAnswer(MakeError(ErrorCode::kPermissionDenied,
                                     sender + " is not in the network " + group->network +
                                         ", to which " + stream + " is limited",
                                     std::string(kNotInNetworkReason)));
      }
    }
    auto sub =
        store.Read([&](storage::Database& db) { return FindSubscription(db, stream, sender); });
    if (!sub.ok()) return ErrorAnswer(sub.error());
    if (!sub->has_value() && group->visibility != groups::Visibility::kPublic) {
      return ErrorAnswer(MakeError(ErrorCode::kPermissionDenied,
                                   sender + " does not receive " + stream,
                                   std::string(stream_reason::kNotSubscribed)));
    }
    auto events =
        groups.EventsAfter(stream, after, static_cast<size_t>(limit), ctx.max_batch_bytes);
    if (!events.ok()) return ErrorAnswer(events.error());
    if (sub->has_value() && (*sub)->until_seq) {
      while (!events->empty() && events->back().seq > *(*sub)->until_seq) events->pop_back();
    }
    return Answer(200, EventsPageJson(stream, *events, group->head));
  }

  // This node's directory stream is public to every active peer (the sender was verified as
  // one); mirrors of other nodes' directories are not served.
  StreamResponse ServeDirectoryPull(const std::string& stream, const std::string& owner_domain,
                                    int64_t after, int64_t limit) {
    if (directory == nullptr || owner_domain != ctx.domain) {
      return ErrorAnswer(MakeError(ErrorCode::kNotFound, "this node does not own " + stream,
                                   std::string(stream_reason::kNotOwnedHere)));
    }
    auto head = directory->Head(stream);
    if (!head.ok()) return ErrorAnswer(head.error());
    auto events =
        directory->EventsAfter(stream, after, static_cast<size_t>(limit), ctx.max_batch_bytes);
    if (!events.ok()) return ErrorAnswer(events.error());
    return Answer(200, EventsPageJson(stream, *events, *head));
  }

  // --- Directory subscriptions ----------------------------------------------------------------

  // Every active peer receives this node's directory stream; a revoked peer's directory
  // mirror is deleted here (its profiles and listings leave the search index with it).
  std::function<Result<std::vector<std::string>>(storage::Database&)> DirectoryPeersJob(
      std::string changed_node) {
    return [this, changed_node = std::move(changed_node)](
               storage::Database& db) -> Result<std::vector<std::string>> {
      if (!changed_node.empty()) {
        auto domain = DomainOfNode(changed_node);
        auto state = db.Cached("SELECT state FROM peers WHERE node_id = ?");
        if (!state.ok()) return std::move(state).error();
        std::string peer_state;
        {
          storage::StatementReset reset{*state};
          (*state)->Bind(1, std::string_view(changed_node));
          auto row = (*state)->Step();
          if (!row.ok()) return std::move(row).error();
          if (*row) peer_state = (*state)->ColumnText(0);
        }
        if (domain.ok() && *domain != ctx.domain &&
            (peer_state == "revoked" || peer_state == "rejected" || peer_state.empty())) {
          auto stmt = db.Cached("DELETE FROM streams WHERE name = ? AND owner = ?");
          if (!stmt.ok()) return std::move(stmt).error();
          storage::StatementReset reset{*stmt};
          (*stmt)->Bind(1, groups::DirectoryStream(*domain)).Bind(2, std::string_view(*domain));
          KITH_RETURN_IF_ERROR((*stmt)->Run());
        }
      }
      return SyncDirectorySubscribersIn(db, directory->stream(), ctx.domain, clock.UnixSeconds());
    };
  }

  // Runs DirectoryPeersJob, then wakes the delivery loops of the directory's subscribers.
  void SyncDirectoryPeers(std::string changed_node) {
    if (directory == nullptr) return;
    auto self = shared_from_this();
    identity::SubmitWrite<std::vector<std::string>>(
        store.writer(), DirectoryPeersJob(std::move(changed_node)),
        [self](Result<std::vector<std::string>> added) {
          if (!added.ok()) {
            spdlog::error("replication: cannot update the directory's subscribers: {}",
                          added.error().message);
            return;
          }
          asio::post(self->ctx.executor, [self] { self->NoteDirectoryAppended(); });
        });
  }

  // --- Network scope -------------------------------------------------------------------------

  // The subscribers of the groups owned here that are scoped to a network follow the peers'
  // networks and states: recomputed in a writer job, then the delivery loops of the changed
  // streams are woken (a peer that joined gets the stream from seq 1).
  std::function<Result<std::vector<std::string>>(storage::Database&)> ScopedSubscribersJob() {
    return [this,
            now = clock.UnixSeconds()](storage::Database& db) -> Result<std::vector<std::string>> {
      return UpdateScopedSubscribersIn(db, ctx.domain, now);
    };
  }

  void SyncScopedSubscribers() {
    auto self = shared_from_this();
    identity::SubmitWrite<std::vector<std::string>>(
        store.writer(), ScopedSubscribersJob(), [self](Result<std::vector<std::string>> changed) {
          if (!changed.ok()) {
            spdlog::error("replication: cannot update the subscribers of network-scoped groups: {}",
                          changed.error().message);
            return;
          }
          if (changed->empty()) return;
          asio::post(self->ctx.executor, [self, streams = std::move(changed).value()] {
            for (const std::string& stream : streams) self->NoteAppendedNow(stream);
          });
        });
  }

  asio::awaitable<StreamResponse> HandleFollow(std::string sender, std::string stream,
                                               std::string body) {
    json parsed = json::parse(body, nullptr, false);
    if (!parsed.is_object() || !parsed.contains("follow") || !parsed["follow"].is_boolean()) {
      co_return ErrorAnswer(
          MakeError(ErrorCode::kInvalidArgument, "a follow message is {\"follow\":true|false}"));
    }
    const bool follow = parsed["follow"].get<bool>();
    auto ref = groups::ParseGroupStream(stream);
    if (!ref.ok() || ref->domain != ctx.domain) {
      co_return ErrorAnswer(MakeError(ErrorCode::kNotFound, "this node does not own " + stream,
                                      std::string(stream_reason::kNotOwnedHere)));
    }
    auto done = co_await AwaitWrite<bool>(store.writer(), FollowJob(stream, sender, follow));
    if (!done.ok()) co_return ErrorAnswer(done.error());
    NoteAppendedNow(stream);
    co_return Answer(200, json{{"stream", stream}, {"following", follow}}.dump());
  }

  StreamResponse ServeFile(const std::string& sender, const std::string& sha256) {
    if (!groups::IsSha256Hex(sha256)) {
      return ErrorAnswer(MakeError(ErrorCode::kInvalidArgument, "not a sha256 (64 hex digits)"));
    }
    const int64_t now = clock.UnixSeconds();
    auto allowed = store.Read([&](storage::Database& db) -> Result<bool> {
      auto seen = MaySeeFile(db, sender, sha256, now);
      if (!seen.ok() || *seen) return seen;
      return OutboxReferencesFile(db, sender, sha256);
    });
    if (!allowed.ok()) return ErrorAnswer(allowed.error());
    auto have = files.Has(sha256);
    if (!*allowed || !have.ok() || !*have) {
      return ErrorAnswer(MakeError(ErrorCode::kNotFound, "no file " + sha256 + " for you here"));
    }
    auto path = files.PathOf(sha256);
    if (!path.ok()) return ErrorAnswer(path.error());
    std::error_code ec;
    const auto size = std::filesystem::file_size(*path, ec);
    if (ec) return ErrorAnswer(MakeError(ErrorCode::kNotFound, "no file " + sha256 + " here"));
    StreamResponse r;
    r.status = 200;
    r.file = *path;
    r.file_sha256 = sha256;
    r.file_size = static_cast<int64_t>(size);
    return r;
  }

  // A verified request from `node`: it is up. Loops in backoff retry at once; an idle node is
  // also looked at (at most every kIdleContactCheck), so that work left behind while it was
  // unreachable or not active is picked up without waiting for the next event.
  void NotePeerContactNow(std::string_view node) {
    bool kick_delivery = false;
    bool kick_outbox = false;
    const auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(mu);
      auto check = [&](std::map<std::string, Loop, std::less<>>& loops) {
        auto it = loops.find(node);
        if (it == loops.end()) it = loops.emplace(std::string(node), Loop{}).first;
        Loop& loop = it->second;
        if (loop.backoff.failures > 0) return true;
        if (loop.running || now < loop.last_idle_check + kIdleContactCheck) return false;
        loop.last_idle_check = now;
        return true;
      };
      kick_delivery = check(delivery);
      kick_outbox = check(outbox);
    }
    if (kick_delivery) Kick(delivery, node, false, true);
    if (kick_outbox) Kick(outbox, node, true, true);
  }
};

Replicator::Replicator(ReplicationContext context, storage::Store& store,
                       groups::GroupStore& groups, groups::FileStore& files, PeerStore& peers,
                       HttpClient& client, ReplayCache& replay_cache, const Clock& clock)
    : impl_(std::make_shared<Impl>(std::move(context), store, groups, files, peers, client,
                                   replay_cache, clock)) {}

Replicator::~Replicator() { Stop(); }

void Replicator::Start() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->started) return;
    impl_->started = true;
  }
  auto nodes = impl_->store.Read([](storage::Database& db) { return NodesWithPending(db); });
  if (nodes.ok()) {
    for (const std::string& node : *nodes) impl_->Kick(impl_->delivery, node, false, false);
  } else {
    spdlog::error("replication: cannot read pending deliveries: {}", nodes.error().message);
  }
  impl_->SyncDirectoryPeers(std::string());
  impl_->SyncScopedSubscribers();
  auto owners = impl_->store.Read([](storage::Database& db) { return OwnersWithPending(db); });
  if (owners.ok()) {
    for (const std::string& owner : *owners) impl_->Kick(impl_->outbox, owner, true, false);
  } else {
    spdlog::error("replication: cannot read the outbox: {}", owners.error().message);
  }
}

void Replicator::SetDirectory(groups::DirectoryStore* directory) { impl_->directory = directory; }

void Replicator::NotePeerChanged(std::string_view node) {
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->started || impl_->stopped) return;
  }
  impl_->SyncDirectoryPeers(std::string(node));
  impl_->SyncScopedSubscribers();
}

void Replicator::NotePeerNetworksChanged(std::string_view node) {
  (void)node;  // every scoped group is recomputed: there are few, and each is one query
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->started || impl_->stopped) return;
  }
  impl_->SyncScopedSubscribers();
}

Result<bool> Replicator::DomainInNetwork(std::string_view domain, std::string_view network) {
  const int64_t now = impl_->clock.UnixSeconds();
  return impl_->store.Read([&](storage::Database& db) {
    return DomainInNetworkIn(db, domain, network, impl_->ctx.domain, now);
  });
}

Status Replicator::CheckGroupNetwork(std::string_view network, bool allow_http) {
  KITH_RETURN_IF_ERROR(groups::ValidateNetworkId(network));
  if (!allow_http && network.starts_with("http://")) {
    return MakeError(ErrorCode::kInvalidArgument, "network: must be an https:// entity identifier",
                     "invalid_argument");
  }
  auto known = IsKnownNetwork(network);
  if (!known.ok()) return std::move(known).error();
  if (!*known) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "network: " + std::string(network) +
                         " is not a network this node runs, belongs to or trusts",
                     "invalid_argument");
  }
  return OkStatus();
}

Result<bool> Replicator::IsKnownNetwork(std::string_view network) {
  return impl_->store.Read([&](storage::Database& db) { return IsKnownNetworkIn(db, network); });
}

void Replicator::Stop() {
  std::lock_guard lock(impl_->mu);
  impl_->stopped = true;
  for (auto& [id, waiter] : impl_->waiters) waiter->signal.Wake();
  for (auto& [owner, loop] : impl_->outbox) {
    if (loop.signal) loop.signal->Wake();
  }
}

asio::awaitable<Result<SubmitResult>> Replicator::Submit(groups::Command command) {
  Impl& impl = *impl_;
  auto actor_domain = groups::AddressDomain(command.actor);
  if (!actor_domain.ok()) co_return std::move(actor_domain).error();
  if (*actor_domain != impl.ctx.domain) {
    // A member of an active peer signed in here (node/sso_routes.h) acts in streams this node
    // owns; for streams owned elsewhere only the member's home node sends their commands.
    auto stream_ref = groups::ParseGroupStream(command.stream);
    const bool owned_here = stream_ref.ok() && stream_ref->domain == impl.ctx.domain;
    if (!owned_here || !impl.PeerForDomain(*actor_domain).ok()) {
      co_return MakeError(ErrorCode::kInvalidArgument,
                          "only members of this node can act through it: " + command.actor);
    }
  }
  if (!groups::IsKnownEventType(command.type)) {
    co_return MakeError(ErrorCode::kInvalidArgument, "unknown command type " + command.type);
  }
  Status valid = groups::ValidateEventData(command.type, command.data);
  if (!valid.ok()) co_return std::move(valid).error();
  auto ref = groups::ParseGroupStream(command.stream);
  if (!ref.ok()) co_return std::move(ref).error();
  if (command.command_id.empty()) {
    command.command_id = NewCommandId();
  } else if (!IsValidCommandId(command.command_id)) {
    co_return MakeError(ErrorCode::kInvalidArgument,
                        "a command id is 1-100 characters of [A-Za-z0-9_-]");
  }

  SubmitResult result;
  result.command_id = command.command_id;
  if (ref->domain == impl.ctx.domain) {
    auto appended = co_await impl.AppendOwned(std::move(command), impl.ctx.base_url);
    if (!appended.ok()) co_return std::move(appended).error();
    result.state = SubmitResult::State::kAccepted;
    result.event = std::move(appended->event);
    co_return result;
  }

  auto owner = impl.PeerForDomain(ref->domain);
  if (!owner.ok()) co_return std::move(owner).error();
  auto head = impl.groups.Head(command.stream);
  if (head.ok() && *head > 0) {
    Status checked = impl.groups.Check(command);
    if (!checked.ok()) co_return std::move(checked).error();
  }
  auto waiter = std::make_shared<Impl::Waiter>(impl.ctx.executor);
  {
    std::lock_guard lock(impl.mu);
    impl.waiters[command.command_id] = waiter;
  }
  const int64_t now = impl.clock.UnixSeconds();
  const std::string owner_node = owner->node_id;
  auto inserted =
      co_await AwaitWrite<int64_t>(impl.store.writer(), Impl::InsertJob(command, owner_node, now));
  if (!inserted.ok() && inserted.error().code != ErrorCode::kConflict) {
    std::lock_guard lock(impl.mu);
    impl.waiters.erase(command.command_id);
    co_return std::move(inserted).error();
  }
  impl.Kick(impl.outbox, owner_node, true, false);

  // Wait for the owner's verdict, at most submit_wait (Notify and Stop wake the waiter).
  const auto deadline = std::chrono::steady_clock::now() + impl.ctx.submit_wait;
  for (;;) {
    {
      std::lock_guard lock(impl.mu);
      if (waiter->done || impl.stopped) break;
    }
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) break;
    co_await waiter->signal.Wait(left);
  }
  {
    std::lock_guard lock(impl.mu);
    impl.waiters.erase(command.command_id);
  }
  std::optional<groups::Event> answered;
  {
    std::lock_guard lock(impl.mu);
    if (waiter->done) answered = std::move(waiter->event);
  }
  if (answered) {  // accepted: the owner's answer is all we need
    result.state = SubmitResult::State::kAccepted;
    result.event = std::move(answered);
    co_return result;
  }
  auto entry = GetOutboxEntry(command.command_id);
  if (!entry.ok()) co_return std::move(entry).error();
  if (entry->state == "refused") {
    json error = json::parse(entry->error, nullptr, false);
    const int status = error.is_object() ? error.value("status", 400) : 400;
    co_return ErrorFromAnswer(status, entry->error);
  }
  if (entry->state == "accepted") {
    result.state = SubmitResult::State::kAccepted;
    if (entry->seq) {
      groups::Event event;
      event.stream = entry->stream;
      event.seq = *entry->seq;
      event.type = entry->type;
      event.actor = entry->actor;
      event.data = entry->data;
      result.event = std::move(event);
    }
  }
  co_return result;
}

Result<std::vector<OutboxEntry>> Replicator::Outbox(std::string_view actor, bool pending_only,
                                                    size_t limit) {
  return impl_->store.Read([&](storage::Database& db) {
    return OutboxOf(db, actor, pending_only, std::clamp<size_t>(limit, 1, 1000));
  });
}

Result<OutboxEntry> Replicator::GetOutboxEntry(std::string_view command_id) {
  auto found =
      impl_->store.Read([&](storage::Database& db) { return FindOutboxEntry(db, command_id); });
  if (!found.ok()) return std::move(found).error();
  if (!found->has_value()) {
    return MakeError(ErrorCode::kNotFound, "no command " + std::string(command_id));
  }
  return std::move(**found);
}

asio::awaitable<Status> Replicator::Follow(std::string stream, bool follow) {
  Impl& impl = *impl_;
  auto ref = groups::ParseGroupStream(stream);
  if (!ref.ok()) co_return std::move(ref).error();
  if (ref->domain == impl.ctx.domain) {
    co_return MakeError(ErrorCode::kInvalidArgument, "this node owns " + stream);
  }
  auto owner = impl.PeerForDomain(ref->domain);
  if (!owner.ok()) co_return std::move(owner).error();
  const std::string url =
      owner->node_id + std::string(kStreamsPathPrefix) + EncodeSegment(stream) + "/follow";
  const std::string body = json{{"follow", follow}}.dump();
  auto outcome = co_await impl.Exchange(*owner, std::string(kPost), url, body);
  if (!outcome.ok()) co_return std::move(outcome).error();
  if (outcome->status != 200) co_return ErrorFromAnswer(outcome->status, outcome->body);
  co_return OkStatus();
}

asio::awaitable<Result<std::filesystem::path>> Replicator::EnsureFile(std::string stream,
                                                                      std::string sha256) {
  Impl& impl = *impl_;
  if (!groups::IsSha256Hex(sha256)) {
    co_return MakeError(ErrorCode::kInvalidArgument, "not a sha256 (64 hex digits)");
  }
  auto have = impl.files.Has(sha256);
  if (!have.ok()) co_return std::move(have).error();
  if (*have) co_return impl.files.PathOf(sha256);
  auto ref = groups::ParseGroupStream(stream);
  if (!ref.ok()) co_return std::move(ref).error();
  if (ref->domain == impl.ctx.domain) {
    co_return MakeError(ErrorCode::kNotFound, "file " + sha256 + " is missing from this node");
  }
  auto owner = impl.PeerForDomain(ref->domain);
  if (!owner.ok()) co_return std::move(owner).error();
  co_return co_await impl.FetchFile(*owner, sha256);
}

asio::awaitable<StreamResponse> Replicator::HandleInbound(StreamRequest request) {
  const std::string target = request.inbound.message.target_uri.substr(0, 300);
  try {
    co_return co_await impl_->Handle(std::move(request));
  } catch (const std::exception& e) {
    spdlog::error("federation stream request {} failed: {}", target, e.what());
    co_return ErrorAnswer(MakeError(ErrorCode::kInternal, "internal error"));
  }
}

Status Replicator::SignResponse(HttpMessage& response, const HttpMessage& request,
                                std::string_view body_or_empty,
                                const StreamResponse& answer) const {
  std::shared_ptr<const identity::NodeKeyring> keys = impl_->ctx.keys();
  if (!answer.file) {
    KithSigner signer(
        keys->current().kid, [keys](std::span<const uint8_t> m) { return keys->Sign(m); },
        impl_->clock);
    return signer.SignResponse(response, request, body_or_empty);
  }
  // A file answer: the digest of the bytes is their name; the same components and parameters
  // as KithSigner::SignResponse.
  const std::string digest = DigestFieldOfHash(answer.file_sha256);
  if (digest.empty()) return MakeError(ErrorCode::kInternal, "file answer without a sha256");
  response.SetField("Content-Digest", digest);
  sf::InnerList input;
  input.items = {Component("@status"), Component("content-digest"), Component("@method", true),
                 Component("@target-uri", true)};
  const int64_t created = impl_->clock.UnixSeconds();
  input.params = {
      {"created", created},           {"expires", created + kMaxSignatureValidity.count()},
      {"keyid", keys->current().kid}, {"alg", std::string("ed25519")},
      {"nonce", NewNonce()},          {"tag", std::string(kSignatureTag)},
  };
  auto base = SignatureBase(input, response, &request);
  if (!base.ok()) return MakeError(ErrorCode::kInternal, "cannot sign: " + base.error().message);
  const auto signature = keys->Sign(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(base->data()), base->size()));
  return AttachSignature(response, kSignatureLabel, input, signature);
}

void Replicator::NotePeerContact(std::string_view node) { impl_->NotePeerContactNow(node); }

void Replicator::NoteAppended(std::string_view stream) {
  // The subscriber read is short, but callers may be on an I/O thread: do it on the executor.
  asio::post(impl_->ctx.executor,
             [impl = impl_, stream = std::string(stream)] { impl->NoteAppendedNow(stream); });
}

Replicator::Stats Replicator::stats() const {
  Stats s;
  s.events_pushed = impl_->events_pushed.load();
  s.batches_pushed = impl_->batches_pushed.load();
  s.push_failures = impl_->push_failures.load();
  s.events_applied = impl_->events_applied.load();
  s.pulls = impl_->pulls.load();
  s.commands_sent = impl_->commands_sent.load();
  s.commands_accepted = impl_->commands_accepted.load();
  s.refused_inbound = impl_->refused_inbound.load();
  return s;
}

}  // namespace kith::federation
