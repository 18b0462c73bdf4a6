// Replicator: group streams between nodes (DESIGN.md, "The shape of the data"; wire format in
// docs/federation.md, "Streams").
//
// Commands (a member of this node acts in a group another node owns):
//   Submit → checked against our mirror of the group when we have one (a refusal there is the
//   same error the owner would give) → stored durably in the outbox (table `outbox`) → sent,
//   signed, as POST {owner}/federation/v1/streams/{stream}/commands with the command id as the
//   idempotency key. The owner verifies the signature, that the actor's domain is the sending
//   node's domain, decides and appends (recording (node, command id) in the same commit, so a
//   command sent twice is applied once and answered with the same seq), and answers
//   {"seq":N,"event":{...}} or a JSON error. Unreachable owner: the command stays pending and
//   is retried with backoff; it is delivered when the owner is back.
//   A stream this node owns: Submit appends at once (no outbox).
//
// Delivery (owner → subscribers): a subscriber is a node with at least one member in the
//   group, or (public groups) a node that follows it. Per subscriber and stream a durable
//   cursor (subscriptions.acked). A delivery loop per peer sends batches
//   (POST {peer}/federation/v1/streams/{stream}/events, at most max_batch_events events and
//   max_batch_bytes of JSON), with at most max_in_flight requests per peer, exponential backoff
//   with jitter capped at max_backoff after failures, reset when the peer contacts us (any
//   verified request from it). The receiver answers {"head":N}; the cursor moves to N.
//
// Receiving (mirror): a pushed batch is verified (signature by the stream owner's key: the
//   stream's domain must be the signing peer's domain), applied idempotently by (stream, seq)
//   through GroupStore::ApplyRemote; on a gap the receiver pulls
//   GET {owner}/federation/v1/streams/{stream}/events?after=N&limit=M until it reaches the
//   pushed events. Refused batches (forged owner, unknown type, oversized, bad data) get a
//   4xx with the reason and are logged; nothing of them is applied.
//
// Directory streams (groups/directory.h): `directory@<domain>` of this node goes to every
//   active peer (a subscription row per active peer, acked 0 at first, made on Start and when
//   NotePeerChanged learns that a peer became active; kept while a peer is suspended — nothing
//   is delivered then — and deleted when it is revoked), by the same delivery loops, batches,
//   cursors and backoff as group streams. When a group owned here is created, updated,
//   archived/unarchived or its member count changes, its listing (DirectoryEventsForGroup) is
//   appended to the directory stream in the same writer job as the group event, so that a
//   crash never leaves listing and group apart. A pushed `directory@X` is accepted only from
//   the active peer whose domain is X (403 not_stream_owner otherwise), parsed with
//   DirectoryEventFromJson (400 for a malformed event, 413 beyond kMaxEventsBody; nothing of
//   a refused batch is applied) and applied through DirectoryStore::ApplyRemote; a gap is
//   pulled from X (GET .../streams/directory@X/events?after=N, which this node serves for its
//   own directory to any active peer). Profiles and listings of a suspended peer stay (they
//   are public listings) but stop updating; when a peer is revoked its directory mirror is
//   deleted here, with its rows in the search index. Commands and follows on directory streams
//   are refused.
//
// Network scope: a group may name one network (groups::Group::network). Its stream goes only
//   to active peers that reach the network through a chain valid now (peer_networks, kept by
//   the network peering): subscriptions are made only for them and deleted when a peer leaves
//   (UpdateSubscribersIn; NotePeerChanged / NotePeerNetworksChanged recompute every scoped
//   group), and the delivery loop skips such streams for a peer outside even before that.
//   Commands (single or batched, and Submit by a remote member signed in here) whose actor's
//   node — or, for an invitation, the invitee's — is outside the network, follows and pulls
//   from such nodes are refused: 403 "not_in_network", nothing written. A scoped group's
//   listing stays out of the directory stream (groups::DirectoryEventsForGroup).
//
// Files: the bytes of library documents move on demand: a file.added / file.version_added
//   command makes the owner fetch the bytes from the sending node
//   (GET {sender}/federation/v1/files/{sha256}, signed) before it accepts the command; a mirror
//   fetches them from the owner on first download (EnsureFile). Bytes are checked against the
//   hash, streamed to disk, and cached in the FileStore.
//
// Threading: coroutines on `context.executor`; database writes through the Writer; blocking
// reads are short SQLite reads. Thread-safe.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "federation/http_client.h"
#include "federation/peer_store.h"
#include "federation/peering_service.h"
#include "federation/replay_cache.h"
#include "groups/directory.h"
#include "groups/event.h"
#include "groups/file_store.h"
#include "groups/group_store.h"
#include "identity/node_keys.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace kith::federation {

inline constexpr std::string_view kStreamsPathPrefix = "/federation/v1/streams/";
inline constexpr std::string_view kFilesPathPrefix = "/federation/v1/files/";
inline constexpr std::string_view kCommandsPath = "/federation/v1/commands";  // batches
inline constexpr size_t kMaxEventsBody = 4 * 1024 * 1024;  // a pushed batch at most

struct ReplicationContext {
  std::string base_url;  // this node's id (no trailing slash)
  std::string domain;    // this node's domain (base URL host[:port])
  std::function<std::shared_ptr<const identity::NodeKeyring>()> keys;
  boost::asio::any_io_executor executor;
  size_t max_batch_events = 500;
  size_t max_batch_bytes = 1024 * 1024;
  size_t max_in_flight = 2;  // per peer
  std::chrono::milliseconds min_backoff{500};
  std::chrono::seconds max_backoff{3600};
  std::chrono::milliseconds submit_wait{3000};  // Submit waits this long for the owner
  int64_t max_upload_bytes = 50 * 1024 * 1024;  // library file size limit
};

// What Submit did.
struct SubmitResult {
  enum class State { kAccepted, kPending };
  State state = State::kPending;
  std::string command_id;
  std::optional<groups::Event> event;  // kAccepted: the appended event (seq, at, ...)
};

// A command in this node's outbox.
struct OutboxEntry {
  int64_t id = 0;
  std::string command_id;
  std::string stream;
  std::string owner;
  std::string actor;
  std::string type;
  nlohmann::json data;
  std::string state;  // "pending" | "accepted" | "refused"
  int64_t attempts = 0;
  std::string last_error;
  std::optional<int64_t> seq;
  std::string error;  // refused: the owner's message
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

// An inbound federation request on one of the stream or file paths.
struct StreamRequest {
  InboundRequest inbound;  // as for peering (target URI = base_url + request target)
};

// Its answer: JSON, or a file to send (status 200, body = the file's bytes).
struct StreamResponse {
  int status = 200;
  std::string body;                           // JSON unless `file` is set
  std::optional<std::filesystem::path> file;  // send these bytes instead (Content-Type
                                              // application/octet-stream)
  std::string file_sha256;                    // hex, for the Content-Digest of `file`
  int64_t file_size = 0;
};

class Replicator {
 public:
  Replicator(ReplicationContext context, storage::Store& store, groups::GroupStore& groups,
             groups::FileStore& files, PeerStore& peers, HttpClient& client,
             ReplayCache& replay_cache, const Clock& clock);
  ~Replicator();

  // Makes this Replicator carry directory streams (see above): this node's (`directory`'s
  // stream) and the mirrors of its peers'. Call once before Start; `directory` must outlive
  // the Replicator. Without it, directory streams are refused (404).
  void SetDirectory(groups::DirectoryStore* directory);

  // Starts the delivery and outbox loops (also picks up what a previous run left pending, and
  // brings the directory stream's subscribers in line with the active peers).
  void Start();

  // Tells the Replicator that the peer `node` changed state (PeeringContext::on_peer_changed):
  // the directory's subscribers are updated in a writer job (a newly active peer gets its
  // rows and is pushed to; a revoked one loses them and its directory mirror). Thread-safe,
  // non-blocking; does nothing before Start or after Stop.
  void NotePeerChanged(std::string_view node);
  // Network scope (groups naming a network, groups::Group::network): a scoped group's stream
  // goes only to active peers that reach its network (peer_networks), commands and follows
  // from other nodes are refused (403 "not_in_network"), pulls likewise. NotePeerChanged and
  // NotePeerNetworksChanged recompute the scoped groups' subscribers in a writer job (call the
  // latter after NetworkStore::ReplacePeerNetworks). Thread-safe, non-blocking; nothing before
  // Start or after Stop.
  void NotePeerNetworksChanged(std::string_view node);
  // Whether members of the node whose domain is `domain` may see a group scoped to `network`:
  // this node's own members always (and anyone when `network` is empty); a peer's members while
  // the peer is active and reaches `network` now. A short SQLite read (blocks briefly).
  Result<bool> DomainInNetwork(std::string_view domain, std::string_view network);
  // Whether `network` is known here: a network this node operates, belongs to, trusts, or one
  // a peer reaches (the networks a group may be scoped to). A short SQLite read.
  Result<bool> IsKnownNetwork(std::string_view network);
  // Checks a network a group is to be scoped to (a create or settings form): the form of an
  // entity id (groups::ValidateNetworkId), http:// only when `allow_http`, and a network known
  // here (IsKnownNetwork). kInvalidArgument naming "network" otherwise.
  Status CheckGroupNetwork(std::string_view network, bool allow_http);

  // Stops the loops; requests in flight are abandoned (their state stays durable). A loop
  // that is waiting for the network ends when its exchange ends (it holds the internal state
  // alive meanwhile); the stores, client and executor passed to the constructor must outlive
  // that, i.e. stop the io_context before destroying them.
  void Stop();

  // Submits a command by one of this node's members (command.actor's domain must be ours;
  // command_id is generated when empty). See above. Errors: the decision's error (403, 404,
  // 409, 400), kInvalidArgument for a stream whose owner is not an active peer.
  boost::asio::awaitable<Result<SubmitResult>> Submit(groups::Command command);

  // The outbox entries of `actor` (newest first, at most `limit`); pending only when asked.
  Result<std::vector<OutboxEntry>> Outbox(std::string_view actor, bool pending_only,
                                          size_t limit = 100);
  Result<OutboxEntry> GetOutboxEntry(std::string_view command_id);

  // Follows (or unfollows) a public group another node owns: its events come here even
  // without members of this node. kFailedPrecondition for a group that is not public.
  boost::asio::awaitable<Status> Follow(std::string stream, bool follow);

  // Makes sure the bytes with `sha256` (referenced by a document of `stream`) are in the
  // FileStore, fetching them from the stream's owner when missing. Returns the file's path.
  boost::asio::awaitable<Result<std::filesystem::path>> EnsureFile(std::string stream,
                                                                   std::string sha256);

  // Handles a verified-or-not inbound request on a stream or file path (the routes call it):
  //   POST /federation/v1/streams/{stream}/commands
  //   POST /federation/v1/streams/{stream}/events
  //   GET  /federation/v1/streams/{stream}/events?after=N&limit=M
  //   POST /federation/v1/streams/{stream}/follow   {"follow":true|false}
  //   GET  /federation/v1/files/{sha256}
  boost::asio::awaitable<StreamResponse> HandleInbound(StreamRequest request);

  // Signs a response (as PeeringService::SignResponse). For a file response, the
  // Content-Digest is sha-256 of the file's bytes (known from its name).
  Status SignResponse(HttpMessage& response, const HttpMessage& request,
                      std::string_view body_or_empty, const StreamResponse& answer) const;

  // Tells the delivery loop of `node` that it contacted us (resets its backoff), or that new
  // events were appended to `stream` (wakes the loops). Thread-safe, non-blocking.
  void NotePeerContact(std::string_view node);
  void NoteAppended(std::string_view stream);

  struct Stats {
    uint64_t events_pushed = 0;
    uint64_t batches_pushed = 0;
    uint64_t push_failures = 0;
    uint64_t events_applied = 0;
    uint64_t pulls = 0;
    uint64_t commands_sent = 0;
    uint64_t commands_accepted = 0;
    uint64_t refused_inbound = 0;
  };
  Stats stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with the running loops, which may outlive Stop()
};

}  // namespace kith::federation
