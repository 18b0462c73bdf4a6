// PeeringService: the peering protocol of a running node — outbound signed messages (peering
// request, accept, reject, suspend, resume, revoke, key rotation, ping) and the handling of the
// same messages when they arrive. Wire format: docs/federation.md ("Peering messages").
//
// Outbound messages are signed with the node's current key (KithSigner); their responses must
// be signed by a key the peer published (KithVerifier), else the exchange counts as failed.
// Inbound messages are verified (401 + reason), then checked against the sender's peering
// state (403 when the sender is not an active peer, except for the peering flow itself),
// then applied through PeerStore (409 for an illegal transition).
//
// Blocking: the public functions without "Async" block (SQLite, and waiting for the network
// on the io_context): call them from a blocking pool, never from an I/O thread.
// Thread-safe. Everything passed to the constructor must outlive the service.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "federation/http_client.h"
#include "federation/http_signature.h"
#include "federation/node_document.h"
#include "federation/peer_store.h"
#include "federation/replay_cache.h"
#include "federation/signature_profile.h"
#include "identity/node_keys.h"
#include "storage/clock.h"

namespace kith::federation {

// The federation endpoints (paths under the base URL).
inline constexpr std::string_view kPeeringRequestPath = "/federation/v1/peering/request";
inline constexpr std::string_view kPeeringPathPrefix = "/federation/v1/peering/";
inline constexpr std::string_view kKeysRotatedPath = "/federation/v1/keys/rotated";
inline constexpr std::string_view kPingPath = "/federation/v1/ping";
inline constexpr size_t kMaxFederationBody = 64 * 1024;

// What the service needs from the node.
struct PeeringContext {
  std::string base_url;  // this node's base URL (no trailing slash): our node id
  // The node's current keyring (may change after a rotation).
  std::function<std::shared_ptr<const identity::NodeKeyring>()> keys;
  // This node's document, as JSON text (what /.well-known/kith-node serves).
  std::function<std::string()> self_document;
  boost::asio::any_io_executor executor;     // where outbound requests run
  std::chrono::seconds network_timeout{30};  // bound on one outbound exchange, overall
  // At most one key refresh sweep (see NoteUnknownKey) per this interval.
  std::chrono::seconds key_refresh_interval{60};
  // Called after a peer's state or keys changed here (any event, a key rotation or refresh),
  // with its node id, on the thread that made the change (a blocking-pool or writer thread):
  // must not block long. Used for sign-in across nodes (federation/peer_sign_in.h). Optional.
  std::function<void(const std::string& node_id)> on_peer_changed;
};

// How telling one peer about a key rotation went.
struct AnnounceResult {
  std::string node_id;
  bool ok = false;
  std::string error;  // why it failed (empty when ok)
};

// An inbound federation request, as the HTTP layer saw it.
struct InboundRequest {
  HttpMessage message;  // method, target URI = base_url + request target, headers
  std::string body;
  std::string remote_address;
};

// The answer to send (the HTTP layer signs it).
struct InboundResponse {
  int status = 200;
  std::string body;  // JSON
};

class PeeringService {
 public:
  PeeringService(PeeringContext context, PeerStore& peers, HttpClient& client,
                 ReplayCache& replay_cache, const Clock& clock);

  // Fetches `url`/.well-known/kith-node through the HTTP client (SSRF guard applies) and
  // parses it. The document's base_url must equal `url` (without trailing slash).
  Result<NodeDocument> FetchDocument(std::string_view url);

  // `kithctl peer add`: records the peer as requested (with the document's keys) and sends it
  // the signed peering request. A send failure is recorded on the peer and returned.
  Result<Peer> Add(const NodeDocument& document, const AuditRecord& audit);

  // `kithctl peer approve|reject|suspend|resume|revoke NODE` (event kWeApprove, kWeReject,
  // kSuspend, kResume, kRevoke): the local change happens first and stays even when the peer
  // cannot be told; the failure is recorded on the peer (failures, last_error). Returns the
  // peer and, in `notify_error`, why notifying failed (empty on success).
  Result<Peer> Operate(std::string_view node, PeerEvent event, const AuditRecord& audit,
                       std::string* notify_error = nullptr);

  // Sends a signed ping to an active peer and verifies its signed answer; returns the body.
  Result<std::string> Ping(std::string_view node);

  // Announces a key rotation (POST /federation/v1/keys/rotated) to every active peer, one
  // after the other, signed with `old_keys` (the keyring before the rotation: its current key
  // is the old key). Returns one result per active peer; a failure is also recorded on the
  // peer (failures, last_error). A peer that missed it learns the new key later from our node
  // document (NoteUnknownKey on its side).
  std::vector<AnnounceResult> AnnounceRotation(const identity::NodeKeyring& old_keys,
                                               const identity::NodeKey& new_key,
                                               int64_t old_not_after);

  // Called when a federation request was refused for an unknown key id: a peer may have
  // rotated its key while we could not be told. Starts, at most once per
  // key_refresh_interval, a background re-fetch of every active peer's node document and
  // adds the keys listed there (PeerStore::MergeKeys); the refused request itself stays
  // refused, its sender's retry then succeeds. Does not block (one SQLite read); thread-safe.
  void NoteUnknownKey(std::string_view kid);

  // Refresh sweeps started so far (for tests and metrics).
  uint64_t key_refresh_sweeps() const { return key_refresh_sweeps_.load(); }

  // Verifies and applies one inbound federation request (any of the paths above).
  InboundResponse HandleInbound(const InboundRequest& request);

  // Signs a response to `request` with the current key (for the HTTP layer).
  Status SignResponse(HttpMessage& response, const HttpMessage& request,
                      std::string_view body) const;

 private:
  struct Outcome {
    int status = 0;
    std::string body;
  };
  // Sends a signed request and verifies the signed response against `peer_keys`.
  Result<Outcome> Exchange(const std::string& method, const std::string& url,
                           const std::string& body, const std::vector<NodeDocumentKey>& peer_keys,
                           const identity::NodeKeyring* sign_with);
  Result<std::vector<NodeDocumentKey>> KeysOf(const Peer& peer);
  // Checks a fetched /.well-known/kith-node of `base` (status, size, JSON, base_url).
  Result<NodeDocument> ParseFetchedDocument(const std::string& base,
                                            Result<ClientResponse> response) const;
  InboundResponse HandlePeerMessage(const InboundRequest& request, std::string_view action);
  InboundResponse HandleRequestMessage(const InboundRequest& request);

  boost::asio::awaitable<void> RefreshPeerKeys(std::string node_id);
  void NotifyChanged(const std::string& node_id) const {
    if (context_.on_peer_changed) context_.on_peer_changed(node_id);
  }

  PeeringContext context_;
  PeerStore& peers_;
  HttpClient& client_;
  ReplayCache& replay_cache_;
  const Clock& clock_;
  std::mutex refresh_mu_;
  std::optional<int64_t> last_refresh_at_;  // guarded by refresh_mu_
  std::atomic<uint64_t> key_refresh_sweeps_{0};
};

}  // namespace kith::federation
