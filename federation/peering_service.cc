#include "federation/peering_service.h"

#include <spdlog/spdlog.h>

#include <strings.h>
#include <boost/asio/co_spawn.hpp>

#include <algorithm>
#include <boost/asio/detached.hpp>
#include <future>
#include <nlohmann/json.hpp>
#include <utility>

#include "federation/peer_key_resolver.h"
#include "identity/jwk.h"

namespace kith::federation {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

InboundResponse ErrorAnswer(const Error& error) {
  return InboundResponse{
      HttpStatusFor(error.code),
      json{{"error", std::string(error.Name())}, {"message", error.message}}.dump()};
}

// How far in the future a peer may put the end of its old key's validity (a year, plus a
// day of clock skew).
constexpr int64_t kMaxAnnouncedOverlap = 367 * 24 * 3600;

// PeerKeyResolver in kAnyState mode that also keeps the owner it found, so that the handler
// needs no second query for the peer. One per request; not thread-safe.
class OwnerResolver final : public KeyResolver {
 public:
  explicit OwnerResolver(PeerStore& peers) : peers_(peers) {}
  std::optional<ResolvedKey> Resolve(std::string_view kid) const override {
    owner_.reset();
    auto found = peers_.FindKey(kid);
    if (!found.ok()) {
      spdlog::error("peer key lookup for kid {} failed: {}", kid.substr(0, 64),
                    found.error().message);
      return std::nullopt;
    }
    if (!found->has_value()) return std::nullopt;
    const PeerKeyOwner& owner = **found;
    owner_ = owner.peer;
    ResolvedKey resolved;
    resolved.public_key = owner.key.public_key;
    resolved.node_id = owner.peer.node_id;
    resolved.peer_active = true;  // the handler decides by the peering state itself
    resolved.peer_state = std::string(PeerStateName(owner.peer.state));
    resolved.valid_from = owner.key.created_at;
    resolved.valid_until = owner.key.not_after;
    return resolved;
  }
  const std::optional<Peer>& owner() const { return owner_; }

 private:
  PeerStore& peers_;
  mutable std::optional<Peer> owner_;
};

// Inbound pings refresh a peer's last_contact_at at most this often (seconds).
constexpr int64_t kContactResolution = 10;

// The keyid parameter of a request's kith signature, for logs (empty when there is none).
std::string KeyIdOf(const HttpMessage& message) {
  for (const auto& [name, value] : message.headers) {
    if (name.size() != 15 || strncasecmp(name.c_str(), "signature-input", 15) != 0) continue;
    const size_t at = value.find("keyid=\"");
    if (at == std::string::npos) return "";
    const size_t start = at + 7;
    const size_t end = value.find('"', start);
    return end == std::string::npos ? "" : value.substr(start, std::min<size_t>(end - start, 64));
  }
  return "";
}

std::string TrimSlash(std::string_view url) {
  std::string out(url);
  while (!out.empty() && out.back() == '/') out.pop_back();
  return out;
}

// Parses a JSON object body; kInvalidArgument otherwise.
Result<json> ObjectBody(std::string_view body) {
  if (body.size() > kMaxFederationBody) {
    return MakeError(ErrorCode::kTooLarge, "message body too large");
  }
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return MakeError(ErrorCode::kInvalidArgument, "message body must be a JSON object");
  }
  return parsed;
}

// Parses a peer's node document.
Result<NodeDocument> ParsePeerDocument(const json& document) {
  return ParseNodeDocument(document.dump());
}

// The node document carried in member "node" of a message.
Result<NodeDocument> DocumentMember(const json& body) {
  auto it = body.find("node");
  if (it == body.end() || !it->is_object()) {
    return MakeError(ErrorCode::kInvalidArgument, "message needs a \"node\" object");
  }
  return ParsePeerDocument(*it);
}

std::vector<NodeDocumentKey> ToDocumentKeys(const std::vector<PeerKey>& keys) {
  std::vector<NodeDocumentKey> out;
  for (const PeerKey& key : keys) {
    out.push_back(NodeDocumentKey{key.kid, "ed25519", key.public_key, key.created_at, key.not_after,
                                  key.status});
  }
  return out;
}

std::string_view MessagePath(PeerEvent event) {
  switch (event) {
    case PeerEvent::kWeApprove:
      return "accept";
    case PeerEvent::kWeReject:
      return "reject";
    case PeerEvent::kSuspend:
      return "suspend";
    case PeerEvent::kResume:
      return "resume";
    case PeerEvent::kRevoke:
      return "revoke";
    default:
      return "";
  }
}

}  // namespace

PeeringService::PeeringService(PeeringContext context, PeerStore& peers, HttpClient& client,
                               ReplayCache& replay_cache, const Clock& clock)
    : context_(std::move(context)),
      peers_(peers),
      client_(client),
      replay_cache_(replay_cache),
      clock_(clock) {}

Result<NodeDocument> PeeringService::FetchDocument(std::string_view url) {
  const std::string base = TrimSlash(url);
  auto promise = std::make_shared<std::promise<Result<ClientResponse>>>();
  auto future = promise->get_future();
  asio::co_spawn(
      context_.executor,
      [this, promise, target = base + "/.well-known/kith-node"]() -> asio::awaitable<void> {
        promise->set_value(co_await client_.Get(target));
      },
      asio::detached);
  if (future.wait_for(context_.network_timeout) != std::future_status::ready) {
    return MakeError(ErrorCode::kUnavailable,
                     "fetching the node document of " + base + " took too long");
  }
  return ParseFetchedDocument(base, future.get());
}

Result<NodeDocument> PeeringService::ParseFetchedDocument(const std::string& base,
                                                          Result<ClientResponse> response) const {
  if (!response.ok()) return std::move(response).error();
  if (response->message.status != 200) {
    return MakeError(ErrorCode::kUnavailable, base + "/.well-known/kith-node answered " +
                                                  std::to_string(response->message.status));
  }
  if (response->body.size() > kMaxNodeDocumentBytes) {
    return MakeError(ErrorCode::kInvalidArgument, "the node document of " + base + " is too large");
  }
  json parsed = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return MakeError(ErrorCode::kInvalidArgument, "the node document of " + base + " is not JSON");
  }
  auto document = ParsePeerDocument(std::move(parsed));
  if (!document.ok()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "the node document of " + base + " is invalid: " + document.error().message);
  }
  if (TrimSlash(document->base_url) != base) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "the node document at " + base + " names another base_url: " + document->base_url);
  }
  if (base == context_.base_url) {
    return MakeError(ErrorCode::kInvalidArgument, "a node cannot peer with itself");
  }
  return document;
}

Result<PeeringService::Outcome> PeeringService::Exchange(
    const std::string& method, const std::string& url, const std::string& body,
    const std::vector<NodeDocumentKey>& peer_keys, const identity::NodeKeyring* sign_with) {
  std::shared_ptr<const identity::NodeKeyring> current = context_.keys();
  const identity::NodeKeyring& keys = sign_with ? *sign_with : *current;
  KithSigner signer(
      keys.current().kid, [&keys](std::span<const uint8_t> m) { return keys.Sign(m); }, clock_);
  HttpMessage request;
  request.method = method;
  request.target_uri = url;
  if (!body.empty()) request.headers.emplace_back("Content-Type", "application/json");
  KITH_RETURN_IF_ERROR(signer.SignRequest(request, body));

  auto promise = std::make_shared<std::promise<Result<ClientResponse>>>();
  auto future = promise->get_future();
  asio::co_spawn(
      context_.executor,
      [this, promise, request, body]() -> asio::awaitable<void> {
        promise->set_value(co_await client_.Send(request, body));
      },
      asio::detached);
  if (future.wait_for(context_.network_timeout) != std::future_status::ready) {
    return MakeError(ErrorCode::kUnavailable, method + " " + url + " took too long");
  }
  auto response = future.get();
  if (!response.ok()) return std::move(response).error();

  NodeDocument owner;
  owner.base_url = url;
  owner.keys = peer_keys;
  DocumentKeyResolver resolver(owner);
  KithVerifier verifier(resolver, replay_cache_, clock_);
  auto verified = verifier.VerifyResponse(response->message, request, response->body);
  if (!verified.ok()) {
    return MakeError(ErrorCode::kUnavailable,
                     "the answer to " + method + " " + url + " (status " +
                         std::to_string(response->message.status) +
                         ") is not validly signed: " + verified.error().message,
                     verified.error().reason);
  }
  return Outcome{response->message.status, std::move(response->body)};
}

Result<std::vector<NodeDocumentKey>> PeeringService::KeysOf(const Peer& peer) {
  auto keys = peers_.Keys(peer.id);
  if (!keys.ok()) return std::move(keys).error();
  return ToDocumentKeys(*keys);
}

namespace {

// Turns a non-2xx answer of a peer into an error naming what it said.
Status CheckAnswer(const std::string& what, int status, const std::string& body) {
  if (status >= 200 && status < 300) return OkStatus();
  std::string said = body.substr(0, 300);
  return MakeError(ErrorCode::kUnavailable,
                   what + " was refused with status " + std::to_string(status) + ": " + said);
}

}  // namespace

Result<Peer> PeeringService::Add(const NodeDocument& document, const AuditRecord& audit) {
  PeerChange change;
  change.node_id = TrimSlash(document.base_url);
  change.event = PeerEvent::kWeRequest;
  change.document = document;
  change.audit = audit;
  auto peer = peers_.ApplyEvent(change);
  if (!peer.ok()) return peer;
  NotifyChanged(peer->node_id);

  json self = json::parse(context_.self_document(), nullptr, false);
  const std::string body = json{{"type", "peering.request"}, {"node", self}}.dump();
  auto outcome = Exchange("POST", change.node_id + std::string(kPeeringRequestPath), body,
                          document.keys, nullptr);
  Status answer = outcome.ok() ? CheckAnswer("the peering request", outcome->status, outcome->body)
                               : Status(outcome.error());
  if (!answer.ok()) {
    (void)peers_.RecordFailure(change.node_id, answer.error().message);
    return answer.error();
  }
  (void)peers_.RecordContact(change.node_id);
  auto stored = peers_.Find(change.node_id);
  if (!stored.ok()) return std::move(stored).error();
  return stored->value_or(*peer);
}

Result<Peer> PeeringService::Operate(std::string_view node, PeerEvent event,
                                     const AuditRecord& audit, std::string* notify_error) {
  const std::string_view path = MessagePath(event);
  if (path.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "not an operator action: " + std::string(PeerEventName(event)));
  }
  auto found = peers_.Find(node);
  if (!found.ok()) return std::move(found).error();
  if (!found->has_value()) {
    return MakeError(ErrorCode::kNotFound, "no peer " + std::string(node));
  }
  const Peer before = **found;
  PeerChange change;
  change.node_id = before.node_id;
  change.event = event;
  change.audit = audit;
  auto peer = peers_.ApplyEvent(change);
  if (!peer.ok()) return peer;
  NotifyChanged(peer->node_id);

  json message{{"type", "peering." + std::string(path)}, {"node_id", context_.base_url}};
  if (event == PeerEvent::kWeApprove) {
    message["node"] = json::parse(context_.self_document(), nullptr, false);
  }
  auto keys = KeysOf(*peer);
  Status answer = keys.ok() ? OkStatus() : Status(keys.error());
  if (answer.ok()) {
    auto outcome =
        Exchange("POST", peer->node_id + std::string(kPeeringPathPrefix) + std::string(path),
                 message.dump(), *keys, nullptr);
    answer = outcome.ok() ? CheckAnswer("the " + std::string(path) + " message", outcome->status,
                                        outcome->body)
                          : Status(outcome.error());
  }
  if (!answer.ok()) {
    spdlog::warn("peer {}: {} applied locally, but notifying the peer failed: {}", peer->node_id,
                 path, answer.error().message);
    (void)peers_.RecordFailure(peer->node_id, answer.error().message);
    if (notify_error) *notify_error = answer.error().message;
  } else {
    (void)peers_.RecordContact(peer->node_id);
    if (notify_error) notify_error->clear();
  }
  auto stored = peers_.Find(peer->node_id);
  if (!stored.ok()) return std::move(stored).error();
  return stored->value_or(*peer);
}

Result<std::string> PeeringService::Ping(std::string_view node) {
  auto found = peers_.Find(node);
  if (!found.ok()) return std::move(found).error();
  if (!found->has_value()) return MakeError(ErrorCode::kNotFound, "no peer " + std::string(node));
  const Peer peer = **found;
  auto keys = KeysOf(peer);
  if (!keys.ok()) return std::move(keys).error();
  auto outcome = Exchange("GET", peer.node_id + std::string(kPingPath), "", *keys, nullptr);
  if (!outcome.ok()) {
    (void)peers_.RecordFailure(peer.node_id, outcome.error().message);
    return std::move(outcome).error();
  }
  if (outcome->status != 200) {
    // The answer was validly signed, so the peer is reachable: this is its verdict.
    return MakeError(
        outcome->status == 403 ? ErrorCode::kPermissionDenied : ErrorCode::kUnavailable,
        "ping refused with status " + std::to_string(outcome->status) + ": " +
            outcome->body.substr(0, 300));
  }
  (void)peers_.RecordContact(peer.node_id);
  return outcome->body;
}

std::vector<AnnounceResult> PeeringService::AnnounceRotation(const identity::NodeKeyring& old_keys,
                                                             const identity::NodeKey& new_key,
                                                             int64_t old_not_after) {
  std::vector<AnnounceResult> results;
  auto all = peers_.List();
  if (!all.ok()) {
    spdlog::error("key rotation: cannot list peers: {}", all.error().message);
    results.push_back(AnnounceResult{"", false, "cannot list peers: " + all.error().message});
    return results;
  }
  const json body{{"type", "keys.rotated"},
                  {"node_id", context_.base_url},
                  {"old_kid", old_keys.current().kid},
                  {"old_not_after", old_not_after},
                  {"key",
                   {{"kid", new_key.kid},
                    {"alg", "ed25519"},
                    {"public_key", identity::Base64UrlEncode(new_key.public_key)},
                    {"created_at", new_key.created_at}}}};
  for (const Peer& peer : *all) {
    if (peer.state != PeerState::kActive) continue;
    auto keys = KeysOf(peer);
    Status answer = keys.ok() ? OkStatus() : Status(keys.error());
    if (answer.ok()) {
      auto outcome = Exchange("POST", peer.node_id + std::string(kKeysRotatedPath), body.dump(),
                              *keys, &old_keys);
      answer = outcome.ok() ? CheckAnswer("the key rotation", outcome->status, outcome->body)
                            : Status(outcome.error());
    }
    if (answer.ok()) {
      (void)peers_.RecordContact(peer.node_id);
      results.push_back(AnnounceResult{peer.node_id, true, ""});
    } else {
      spdlog::warn("key rotation: telling {} failed: {}", peer.node_id, answer.error().message);
      (void)peers_.RecordFailure(peer.node_id, answer.error().message);
      results.push_back(AnnounceResult{peer.node_id, false, answer.error().message});
    }
  }
  return results;
}

void PeeringService::NoteUnknownKey(std::string_view kid) {
  const int64_t now = clock_.UnixSeconds();
  {
    std::lock_guard lock(refresh_mu_);
    if (last_refresh_at_ && now < *last_refresh_at_ + context_.key_refresh_interval.count()) {
      return;
    }
    last_refresh_at_ = now;
  }
  auto all = peers_.List();
  if (!all.ok()) {
    spdlog::error("key refresh: cannot list peers: {}", all.error().message);
    return;
  }
  ++key_refresh_sweeps_;
  int started = 0;
  for (const Peer& peer : *all) {
    if (peer.state != PeerState::kActive) continue;
    asio::co_spawn(context_.executor, RefreshPeerKeys(peer.node_id), asio::detached);
    ++started;
  }
  spdlog::info("federation: unknown key id {}; re-fetching the node documents of {} active peer(s)",
               kid.substr(0, 64), started);
}

asio::awaitable<void> PeeringService::RefreshPeerKeys(std::string node_id) {
  Result<ClientResponse> fetched = co_await client_.Get(node_id + "/.well-known/kith-node");
  auto document = ParseFetchedDocument(node_id, std::move(fetched));
  if (!document.ok()) {
    spdlog::warn("key refresh: {}: {}", node_id, document.error().message);
    co_return;
  }
  peers_.MergeKeys(node_id, std::move(document->keys),
                   AuditRecord{"peer:" + node_id, "key refresh", "{}"},
                   [this, node_id](Result<std::vector<std::string>> added) {
                     if (added.ok() && !added->empty()) NotifyChanged(node_id);
                     if (!added.ok()) {
                       spdlog::warn("key refresh: {}: {}", node_id, added.error().message);
                     } else if (!added->empty()) {
                       spdlog::info(
                           "key refresh: learned {} new key(s) of {} from its node "
                           "document",
                           added->size(), node_id);
                     }
                   });
}

Status PeeringService::SignResponse(HttpMessage& response, const HttpMessage& request,
                                    std::string_view body) const {
  std::shared_ptr<const identity::NodeKeyring> keys = context_.keys();
  KithSigner signer(
      keys->current().kid, [keys](std::span<const uint8_t> m) { return keys->Sign(m); }, clock_);
  return signer.SignResponse(response, request, body);
}

InboundResponse PeeringService::HandleInbound(const InboundRequest& request) {
  try {
    std::string_view target = request.message.target_uri;
    if (target.substr(0, context_.base_url.size()) != context_.base_url) {
      return ErrorAnswer(MakeError(ErrorCode::kInvalidArgument, "target outside this node"));
    }
    std::string_view path = target.substr(context_.base_url.size());
    path = path.substr(0, path.find('?'));
    if (request.body.size() > kMaxFederationBody) {
      return ErrorAnswer(MakeError(ErrorCode::kTooLarge, "message body too large"));
    }
    if (path == kPeeringRequestPath) return HandleRequestMessage(request);
    if (path == kPingPath) return HandlePeerMessage(request, "ping");
    if (path == kKeysRotatedPath) return HandlePeerMessage(request, "keys.rotated");
    if (path.substr(0, kPeeringPathPrefix.size()) == kPeeringPathPrefix) {
      return HandlePeerMessage(request, path.substr(kPeeringPathPrefix.size()));
    }
    return ErrorAnswer(MakeError(ErrorCode::kNotFound, "no such federation endpoint"));
  } catch (const std::exception& e) {
    spdlog::error("federation request {} failed: {}", request.message.target_uri, e.what());
    return ErrorAnswer(MakeError(ErrorCode::kInternal, "internal error"));
  }
}

InboundResponse PeeringService::HandleRequestMessage(const InboundRequest& request) {
  auto body = ObjectBody(request.body);
  if (!body.ok()) return ErrorAnswer(body.error());
  auto document = DocumentMember(*body);
  if (!document.ok()) return ErrorAnswer(document.error());
  // Proof of possession: the request is signed by a key the enclosed document lists.
  DocumentKeyResolver resolver(*document);
  KithVerifier verifier(resolver, replay_cache_, clock_);
  auto verified = verifier.VerifyRequest(request.message, request.body);
  if (!verified.ok()) {
    return InboundResponse{HttpStatusFor(verified.error().code),
                           SignatureErrorJson(verified.error())};
  }
  PeerChange change;
  change.node_id = TrimSlash(document->base_url);
  if (change.node_id == context_.base_url) {
    return ErrorAnswer(MakeError(ErrorCode::kInvalidArgument, "a node cannot peer with itself"));
  }
  change.event = PeerEvent::kTheyRequest;
  change.document = std::move(document).value();
  change.audit = AuditRecord{"peer:" + change.node_id, request.remote_address, "{}"};
  auto peer = peers_.ApplyEvent(change);
  if (!peer.ok()) return ErrorAnswer(peer.error());
  NotifyChanged(peer->node_id);
  (void)peers_.RecordContact(peer->node_id);
  spdlog::info("peering request from {} ({}), awaiting approval", peer->node_id, peer->name);
  return InboundResponse{
      202, json{{"state", std::string(PeerStateName(peer->state))}, {"node_id", context_.base_url}}
               .dump()};
}

InboundResponse PeeringService::HandlePeerMessage(const InboundRequest& request,
                                                  std::string_view action) {
  OwnerResolver resolver(peers_);
  KithVerifier verifier(resolver, replay_cache_, clock_);
  auto verified = verifier.VerifyRequest(request.message, request.body);
  if (!verified.ok()) {
    if (verified.error().reason == reason::kUnknownKey) NoteUnknownKey(KeyIdOf(request.message));
    return InboundResponse{HttpStatusFor(verified.error().code),
                           SignatureErrorJson(verified.error())};
  }
  // The peer as read together with its key (one query for both, on the hot path).
  if (!resolver.owner() || resolver.owner()->node_id != verified->node_id) {
    return ErrorAnswer(MakeError(ErrorCode::kUnauthenticated, "unknown node", "unknown_key"));
  }
  const Peer peer = *resolver.owner();

  // Who may say what: an active peer anything; a suspended one only resume/revoke (so that the
  // other side's operator can lift or end the suspension); a peer we asked (requested) only
  // accept/reject/revoke; a pending one only revoke. Everything else is 403.
  bool allowed = false;
  switch (peer.state) {
    case PeerState::kActive:
      allowed = action != "accept" && action != "reject";
      break;
    case PeerState::kSuspended:
      allowed = action == "resume" || action == "revoke";
      break;
    case PeerState::kRequested:
      allowed = action == "accept" || action == "reject" || action == "revoke";
      break;
    case PeerState::kPending:
      allowed = action == "revoke";
      break;
    case PeerState::kRevoked:
    case PeerState::kRejected:
      allowed = false;
      break;
  }
  if (!allowed) {
    spdlog::warn("federation: refused {} from {} (peer state {}, from {})", action, peer.node_id,
                 PeerStateName(peer.state), request.remote_address);
    return ErrorAnswer(MakeError(ErrorCode::kPermissionDenied,
                                 "node " + peer.node_id + " is not an active peer (state " +
                                     std::string(PeerStateName(peer.state)) + ")",
                                 "peer_not_active"));
  }
  const AuditRecord audit{"peer:" + peer.node_id, request.remote_address, "{}"};

  if (action == "ping") {
    // A ping is the hot no-op: record the contact (a durable write) only when it changes what
    // `peer list` shows — failures to clear, or a last contact older than kContactResolution.
    const int64_t now = clock_.UnixSeconds();
    if (peer.failures > 0 || !peer.last_contact_at ||
        now - *peer.last_contact_at >= kContactResolution) {
      (void)peers_.RecordContact(peer.node_id);
    }
    return InboundResponse{
        200,
        json{{"ok", true}, {"node_id", context_.base_url}, {"at", clock_.UnixSeconds()}}.dump()};
  }

  auto body = ObjectBody(request.body);
  if (!body.ok()) return ErrorAnswer(body.error());

  if (action == "keys.rotated") {
    const json& b = *body;
    auto key = b.find("key");
    if (!b.contains("old_kid") || !b["old_kid"].is_string() || !b.contains("old_not_after") ||
        !b["old_not_after"].is_number_integer() || key == b.end() || !key->is_object()) {
      return ErrorAnswer(MakeError(ErrorCode::kInvalidArgument,
                                   "keys.rotated needs old_kid, old_not_after and key"));
    }
    if (b["old_kid"].get<std::string>() != verified->key_id) {
      return ErrorAnswer(MakeError(ErrorCode::kInvalidArgument,
                                   "a rotation must be signed with the old key (old_kid)"));
    }
    // Reuse the node-document key validation for the announced key.
    json doc{{"id", peer.node_id},
             {"name", "x"},
             {"organisation", "x"},
             {"base_url", peer.node_id},
             {"version", 1}};
    json k = *key;
    if (!k.contains("status")) k["status"] = "current";
    doc["keys"] = json::array({k});
    auto parsed = ParseNodeDocument(doc.dump());
    if (!parsed.ok()) return ErrorAnswer(parsed.error());
    const NodeDocumentKey& nk = parsed->keys.front();
    if (nk.kid != identity::KeyIdFor(nk.public_key)) {
      return ErrorAnswer(MakeError(ErrorCode::kInvalidArgument,
                                   "the new key's kid is not its RFC 7638 thumbprint"));
    }
    // The old key may stay valid for at most a year (as NodeKeyring::Rotate allows), and not
    // end before it was made.
    const int64_t now = clock_.UnixSeconds();
    const int64_t old_not_after = b["old_not_after"].get<int64_t>();
    if (old_not_after < 0 || old_not_after > now + kMaxAnnouncedOverlap) {
      return ErrorAnswer(MakeError(ErrorCode::kInvalidArgument,
                                   "old_not_after must lie between now and a year from now"));
    }
    // Valid from now: an announced created_at in the future (a fast clock) is not honoured.
    PeerKey fresh{nk.kid, nk.public_key, std::min(nk.created_at, now), std::nullopt, "current"};
    AuditRecord rotated_audit = audit;
    rotated_audit.detail =
        json{{"old_kid", verified->key_id}, {"new_kid", nk.kid}, {"old_not_after", old_not_after}}
            .dump();
    Status rotated =
        peers_.RotateKey(peer.node_id, verified->key_id, old_not_after, fresh, rotated_audit);
    if (!rotated.ok()) return ErrorAnswer(rotated.error());
    NotifyChanged(peer.node_id);
    (void)peers_.RecordContact(peer.node_id);
    return InboundResponse{200, json{{"ok", true}, {"kid", nk.kid}}.dump()};
  }

  PeerChange change;
  change.node_id = peer.node_id;
  change.audit = audit;
  if (action == "accept") {
    change.event = PeerEvent::kTheyAccept;
    if (body->contains("node")) {
      auto document = DocumentMember(*body);
      if (!document.ok()) return ErrorAnswer(document.error());
      if (TrimSlash(document->base_url) != peer.node_id) {
        return ErrorAnswer(
            MakeError(ErrorCode::kInvalidArgument, "the enclosed node document is another node's"));
      }
      change.document = std::move(document).value();
    }
  } else if (action == "reject") {
    change.event = PeerEvent::kTheyReject;
  } else if (action == "suspend") {
    change.event = PeerEvent::kSuspend;
  } else if (action == "resume") {
    change.event = PeerEvent::kResume;
  } else if (action == "revoke") {
    change.event = PeerEvent::kRevoke;
  } else {
    return ErrorAnswer(MakeError(ErrorCode::kNotFound, "no such federation endpoint"));
  }
  auto applied = peers_.ApplyEvent(change);
  if (!applied.ok()) return ErrorAnswer(applied.error());
  NotifyChanged(peer.node_id);
  (void)peers_.RecordContact(peer.node_id);
  spdlog::info("peer {}: {} → state {}", peer.node_id, action, PeerStateName(applied->state));
  return InboundResponse{200, json{{"state", std::string(PeerStateName(applied->state))}}.dump()};
}

}  // namespace kith::federation
