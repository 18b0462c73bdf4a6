// PeerSignIn: the federation side of "one login across nodes" (issue 6; docs/federation.md
// "Sign-in across nodes", docs/operators.md).
//
// Client registration. Every active peer is an OpenID Connect client of this node's provider,
// registered automatically (SyncClients): client id = the peer's base URL, private_key_jwt with
// the peer's node keys (the Ed25519 keys exchanged at peering, as an OKP JWKS), redirect URI
// <peer>/sign-in/callback, post-logout redirect <peer>/signed-out, first party (no consent
// page), ID tokens signed EdDSA. SyncClients runs at start, after every change of a peer
// (PeeringContext::on_peer_changed: state change, key rotation or refresh) and with the
// housekeeping: a peer whose keys changed is registered again with the new keys; a peer that
// is no longer active loses its client (which deletes its codes and token families) and the
// sessions its members hold here end.
//
// Relying party. When a visitor of this node signs in with their organisation (node A), this
// node fetches A's discovery document and JWKS (cached for discovery_ttl, refetched once on an
// unknown kid), redeems the code at A's token endpoint with a client assertion signed by this
// node's key, verifies the ID token and reads A's UserInfo for the member's handle and name.
//
// Back-channel logout ("sign out everywhere", OpenID Connect Back-Channel Logout 1.0). As
// provider, DeliverLogouts POSTs the logout tokens identity::OidcProvider signed to each peer's
// <peer>/sign-in/backchannel-logout (form-encoded `logout_token=...`) in the background, with a
// few retries (logout_retry_delays) when the peer cannot be reached or answers 5xx; a peer
// still down after that is logged, and its sessions end at their expiry (or when the peer
// suspends the peering). As relying party, LogoutTokenPeer + CheckLogoutToken check a logout
// token from an active peer with that peer's JWKS (cached; refetched once on an unknown kid).
//
// Blocking: SyncClients, ActivePeers and FindActivePeer read or write SQLite and wait for the
// writer: call them from a blocking pool. The coroutines do only network I/O (plus the short
// cache lock). Thread-safe; everything passed in must outlive the object.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "federation/http_client.h"
#include "federation/peer_store.h"
#include "identity/jwk.h"
#include "identity/node_keys.h"
#include "identity/oidc_client.h"
#include "identity/oidc_logout.h"
#include "identity/oidc_provider.h"
#include "identity/oidc_relying_party.h"
#include "identity/session_store.h"
#include "storage/clock.h"

namespace kith::federation {

// The paths at a node that takes part (the RP side of this node).
inline constexpr std::string_view kSignInCallbackPath = "/sign-in/callback";
inline constexpr std::string_view kSignedOutPath = "/signed-out";
inline constexpr std::string_view kBackchannelLogoutPath = "/sign-in/backchannel-logout";

struct PeerSignInContext {
  std::string base_url;  // this node's base URL: its client id at every peer
  std::function<std::shared_ptr<const identity::NodeKeyring>()> keys;
  std::chrono::seconds discovery_ttl{600};
  std::chrono::seconds assertion_lifetime{60};
  // Where logout deliveries run (the node's io_context); none: DeliverLogouts drops them.
  boost::asio::any_io_executor executor;
  // Waits before each delivery attempt of a logout token (the first is normally 0).
  std::vector<std::chrono::milliseconds> logout_retry_delays{
      std::chrono::milliseconds(0), std::chrono::seconds(2), std::chrono::seconds(10),
      std::chrono::seconds(60)};
};

// Counters of back-channel logout deliveries (for tests and logs).
struct LogoutDeliveryStats {
  uint64_t delivered = 0;  // answered 2xx
  uint64_t refused = 0;    // answered 4xx: not retried
  uint64_t gave_up = 0;    // unreachable or 5xx after every retry
};

// A peer's OpenID Connect provider, as its discovery document and JWKS described it.
struct PeerProvider {
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string userinfo_endpoint;
  std::string jwks_uri;
  std::string end_session_endpoint;
  std::vector<identity::PublicJwk> keys;
  int64_t fetched_at = 0;
};

// What SyncClients did.
struct ClientSyncReport {
  std::vector<std::string> registered;  // added or re-registered (keys changed)
  std::vector<std::string> removed;     // peers no longer active
  int64_t sessions_ended = 0;           // remote sessions of peers no longer active
};

// The registration a peer gets: see the file comment. `keys` are the peer's keys (retired
// ones are left out). Pure.
identity::NewOidcClient PeerClientRegistration(const Peer& peer, const std::vector<PeerKey>& keys);

class PeerSignIn {
 public:
  PeerSignIn(PeerSignInContext context, PeerStore& peers, HttpClient& client,
             identity::OidcClientStore& clients, identity::SessionStore& sessions,
             const Clock& clock);

  // Registers every active peer as a client (or again, when its keys or settings changed),
  // removes the clients of peers that are not active, and ends the remote sessions of
  // suspended, revoked or rejected peers. Blocking. Idempotent.
  Result<ClientSyncReport> SyncClients();

  // The active peers, by node id. Blocking (one read).
  Result<std::vector<Peer>> ActivePeers();

  // The active peer named by `what`: its base URL, its name, its domain, or a member address
  // "handle@domain" (the part after the last '@'). kNotFound (reason "unknown_peer") when no
  // active peer fits. Blocking (one read).
  Result<Peer> FindActivePeer(std::string_view what);

  // This node's redirect URI (<base>/sign-in/callback).
  std::string RedirectUri() const { return context_.base_url + std::string(kSignInCallbackPath); }
  const std::string& client_id() const { return context_.base_url; }

  // The provider of `issuer` (a peer's base URL): cached, else fetched (discovery, then JWKS).
  // The discovery's issuer must equal `issuer`. kUnavailable when the peer cannot be reached
  // or answers nonsense (the message says which).
  boost::asio::awaitable<Result<PeerProvider>> Provider(std::string issuer, bool refresh = false);

  // Redeems `code` for `pending` at the peer's token endpoint, verifies the ID token (one
  // JWKS refetch on an unknown key) and reads UserInfo. kUnauthenticated (reason
  // "token_error" with the provider's error, or "invalid_id_token") or kUnavailable.
  boost::asio::awaitable<Result<identity::RemoteIdentity>> Redeem(identity::RpAuthRequest pending,
                                                                  std::string code);

  // Sends each logout token to its peer in the background (returns at once): see the file
  // comment. Thread-safe.
  void DeliverLogouts(std::vector<identity::BackchannelLogout> logouts);

  // Checking a logout token POSTed to this node, in three steps (the caller awaits Provider
  // between them; see node/sso_routes.cc):
  //  1. LogoutTokenPeer: its iss (read unverified) must be an active peer, by base URL exactly.
  //     kInvalidArgument (reason "invalid_request" or "unknown_peer"). Blocking (one read).
  //  2. Provider(iss): the peer's keys, cached.
  //  3. CheckLogoutToken: identity::VerifyLogoutToken with this node's client id as audience.
  //     On reason "unknown_key", when WorthRefetching(provider) (cache older than 30 s, so that
  //     forged kids cannot make us hammer the peer), fetch with Provider(iss, true) and check
  //     once more.
  // The jti is not checked here (SessionStore::EndRemoteByLogout records it).
  Result<std::string> LogoutTokenPeer(std::string_view logout_token);
  Result<identity::VerifiedLogout> CheckLogoutToken(std::string_view logout_token,
                                                    const PeerProvider& provider) const;
  bool WorthRefetching(const PeerProvider& provider) const;

  LogoutDeliveryStats logout_stats() const;

  // Pending authorization requests (state -> request), one-time.
  identity::RpPendingRequests& pending() { return pending_; }

 private:
  boost::asio::awaitable<void> DeliverLogout(identity::BackchannelLogout logout);
  boost::asio::awaitable<Result<std::string>> FetchJson(std::string url, std::string method,
                                                        std::string body,
                                                        std::string authorization);

  PeerSignInContext context_;
  PeerStore& peers_;
  HttpClient& client_;
  identity::OidcClientStore& clients_;
  identity::SessionStore& sessions_;
  const Clock& clock_;
  identity::RpPendingRequests pending_;
  std::mutex sync_mu_;  // one SyncClients at a time
  mutable std::mutex mu_;
  std::map<std::string, PeerProvider> providers_;  // by issuer; guarded by mu_
  LogoutDeliveryStats logout_stats_;               // guarded by mu_
};

}  // namespace kith::federation
