#include "federation/peer_sign_in.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <nlohmann/json.hpp>
#include <utility>

#include "identity/oidc_keys.h"

namespace kith::federation {
namespace {

using nlohmann::json;

constexpr size_t kMaxDocumentBytes = 64 * 1024;

// Waits for a callback-style write (blocking pool only).
template <class T>
Result<T> Wait(const std::function<void(identity::Done<T>)>& start) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  start([promise](Result<T> r) { promise->set_value(std::move(r)); });
  return future.get();
}

Status WaitStatus(const std::function<void(identity::Done<void>)>& start) {
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  start([promise](Status s) { promise->set_value(std::move(s)); });
  return future.get();
}

Error Unavailable(std::string_view issuer, std::string message) {
  return MakeError(ErrorCode::kUnavailable,
                   "the sign-in service of " + std::string(issuer) + " " + std::move(message),
                   "peer_unavailable");
}

std::optional<std::string> JsonString(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// Whether two registrations agree on everything PeerClientRegistration sets.
bool SameRegistration(const identity::OidcClient& have, const identity::NewOidcClient& want) {
  auto same_jwks = [&] {
    json a = json::parse(have.jwks_json, nullptr, false);
    json b = json::parse(want.jwks_json, nullptr, false);
    return !a.is_discarded() && a == b;
  };
  return have.auth_method == identity::ClientAuthMethod::kPrivateKeyJwt && have.first_party &&
         have.id_token_alg == want.id_token_alg && have.redirect_uris == want.redirect_uris &&
         have.post_logout_redirect_uris == want.post_logout_redirect_uris &&
         have.backchannel_logout_uri == want.backchannel_logout_uri && same_jwks();
}

}  // namespace

identity::NewOidcClient PeerClientRegistration(const Peer& peer, const std::vector<PeerKey>& keys) {
  identity::NewOidcClient c;
  c.client_id = peer.node_id;
  c.name = peer.name.empty() ? peer.node_id : peer.name;
  c.redirect_uris = {peer.node_id + std::string(kSignInCallbackPath)};
  c.post_logout_redirect_uris = {peer.node_id + std::string(kSignedOutPath)};
  c.backchannel_logout_uri = peer.node_id + std::string(kBackchannelLogoutPath);
  c.first_party = true;
  c.id_token_alg = identity::JwsAlgorithm::kEdDSA;
  c.auth_method = identity::ClientAuthMethod::kPrivateKeyJwt;
  std::vector<identity::PublicJwk> jwks;
  for (const PeerKey& k : keys) {
    if (k.status == "retired") continue;
    jwks.push_back(identity::PublicJwk::FromEd25519(k.public_key, k.kid));
  }
  c.jwks_json = identity::JwksDocument(jwks).dump();
  return c;
}

PeerSignIn::PeerSignIn(PeerSignInContext context, PeerStore& peers, HttpClient& client,
                       identity::OidcClientStore& clients, identity::SessionStore& sessions,
                       const Clock& clock)
    : context_(std::move(context)),
      peers_(peers),
      client_(client),
      clients_(clients),
      sessions_(sessions),
      clock_(clock),
      pending_(clock) {}

Result<ClientSyncReport> PeerSignIn::SyncClients() {
  std::lock_guard sync_lock(sync_mu_);
  ClientSyncReport report;
  auto all = peers_.List();
  if (!all.ok()) return std::move(all).error();
  for (const Peer& peer : *all) {
    auto existing = clients_.Get(peer.node_id);
    if (!existing.ok() && existing.error().code != ErrorCode::kNotFound)
      return std::move(existing).error();
    if (peer.state == PeerState::kActive) {
      auto keys = peers_.Keys(peer.id);
      if (!keys.ok()) return std::move(keys).error();
      identity::NewOidcClient want = PeerClientRegistration(peer, *keys);
      if (existing.ok() && SameRegistration(*existing, want)) continue;
      if (existing.ok()) {
        Status removed = WaitStatus(
            [&](identity::Done<void> done) { clients_.Remove(peer.node_id, std::move(done)); });
        if (!removed.ok() && removed.error().code != ErrorCode::kNotFound) return removed.error();
      }
      auto added =
          Wait<identity::RegisteredClient>([&](identity::Done<identity::RegisteredClient> done) {
            clients_.Add(want, std::move(done));
          });
      if (!added.ok()) {
        spdlog::warn("sign-in: cannot register peer {} as a client: {}", peer.node_id,
                     added.error().message);
        continue;
      }
      report.registered.push_back(peer.node_id);
      continue;
    }
    // Not active: no client, and no sessions of its members here.
    if (existing.ok() && existing->auth_method == identity::ClientAuthMethod::kPrivateKeyJwt) {
      Status removed = WaitStatus(
          [&](identity::Done<void> done) { clients_.Remove(peer.node_id, std::move(done)); });
      if (!removed.ok() && removed.error().code != ErrorCode::kNotFound) return removed.error();
      report.removed.push_back(peer.node_id);
    }
    auto ended = Wait<int64_t>([&](identity::Done<int64_t> done) {
      sessions_.RevokeRemoteByHome(peer.node_id, std::move(done));
    });
    if (!ended.ok()) return std::move(ended).error();
    report.sessions_ended += *ended;
  }
  if (!report.registered.empty() || !report.removed.empty() || report.sessions_ended > 0) {
    spdlog::info("sign-in: {} peer client(s) registered, {} removed, {} remote session(s) ended",
                 report.registered.size(), report.removed.size(), report.sessions_ended);
  }
  return report;
}

Result<std::vector<Peer>> PeerSignIn::ActivePeers() {
  auto all = peers_.List();
  if (!all.ok()) return std::move(all).error();
  std::vector<Peer> out;
  for (Peer& p : *all)
    if (p.state == PeerState::kActive) out.push_back(std::move(p));
  return out;
}

Result<Peer> PeerSignIn::FindActivePeer(std::string_view what) {
  std::string key(what);
  while (!key.empty() && (key.back() == ' ' || key.back() == '/')) key.pop_back();
  while (!key.empty() && key.front() == ' ') key.erase(key.begin());
  auto peers = ActivePeers();
  if (!peers.ok()) return std::move(peers).error();
  std::string domain = key;
  if (auto at = key.rfind('@'); at != std::string::npos) domain = key.substr(at + 1);
  for (char& c : domain) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const Peer& p : *peers) {
    if (p.node_id == key || (!p.name.empty() && p.name == key)) return p;
    auto d = identity::DomainOfBaseUrl(p.node_id);
    if (d.ok() && *d == domain) return p;
  }
  return MakeError(ErrorCode::kNotFound,
                   "no organisation this node works with is known as " + std::string(what),
                   "unknown_peer");
}

boost::asio::awaitable<Result<std::string>> PeerSignIn::FetchJson(std::string url,
                                                                  std::string method,
                                                                  std::string body,
                                                                  std::string authorization) {
  HttpMessage request;
  request.method = method;
  request.target_uri = url;
  request.headers.emplace_back("Accept", "application/json");
  if (!body.empty())
    request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  if (!authorization.empty()) request.headers.emplace_back("Authorization", authorization);
  auto response = co_await client_.Send(std::move(request), std::move(body));
  if (!response.ok()) co_return std::move(response).error();
  if (response->body.size() > kMaxDocumentBytes)
    co_return MakeError(ErrorCode::kTooLarge, url + " answered too much");
  const int status = response->message.status;
  if (status < 200 || status >= 300) {
    // Keep the OAuth error for the caller (token endpoint).
    json error = json::parse(response->body, nullptr, false);
    std::string detail = "HTTP " + std::to_string(status);
    if (error.is_object()) {
      if (auto e = JsonString(error, "error")) detail += " " + *e;
      if (auto d = JsonString(error, "error_description")) detail += ": " + *d;
    }
    co_return MakeError(ErrorCode::kUnauthenticated, url + " refused: " + detail, "token_error");
  }
  co_return std::move(response->body);
}

boost::asio::awaitable<Result<PeerProvider>> PeerSignIn::Provider(std::string issuer,
                                                                  bool refresh) {
  const int64_t now = clock_.UnixSeconds();
  if (!refresh) {
    std::lock_guard lock(mu_);
    auto it = providers_.find(issuer);
    if (it != providers_.end() && now - it->second.fetched_at < context_.discovery_ttl.count())
      co_return it->second;
  }
  auto text = co_await FetchJson(issuer + "/.well-known/openid-configuration", "GET", "", "");
  if (!text.ok()) co_return Unavailable(issuer, "did not answer: " + text.error().message);
  json doc = json::parse(*text, nullptr, false);
  if (!doc.is_object()) co_return Unavailable(issuer, "sent a discovery document that is not JSON");
  PeerProvider p;
  p.issuer = JsonString(doc, "issuer").value_or("");
  if (p.issuer != issuer)
    co_return Unavailable(issuer, "names another issuer in its discovery document");
  p.authorization_endpoint = JsonString(doc, "authorization_endpoint").value_or("");
  p.token_endpoint = JsonString(doc, "token_endpoint").value_or("");
  p.userinfo_endpoint = JsonString(doc, "userinfo_endpoint").value_or("");
  p.jwks_uri = JsonString(doc, "jwks_uri").value_or("");
  p.end_session_endpoint = JsonString(doc, "end_session_endpoint").value_or("");
  // The endpoints must be on the issuer's own origin: a peer's discovery document cannot send
  // our assertion or the member elsewhere.
  for (const std::string* url :
       {&p.authorization_endpoint, &p.token_endpoint, &p.userinfo_endpoint, &p.jwks_uri}) {
    if (url->rfind(issuer + "/", 0) != 0)
      co_return Unavailable(issuer, "lists an endpoint outside its base URL: " + *url);
  }
  auto jwks_text = co_await FetchJson(p.jwks_uri, "GET", "", "");
  if (!jwks_text.ok()) co_return Unavailable(issuer, "JWKS: " + jwks_text.error().message);
  json jwks = json::parse(*jwks_text, nullptr, false);
  if (!jwks.is_object()) co_return Unavailable(issuer, "sent a JWKS that is not JSON");
  auto keys = identity::ParseJwks(jwks);
  if (!keys.ok()) co_return Unavailable(issuer, "sent a bad JWKS: " + keys.error().message);
  p.keys = std::move(keys).value();
  p.fetched_at = now;
  {
    std::lock_guard lock(mu_);
    providers_[issuer] = p;
  }
  co_return p;
}

boost::asio::awaitable<Result<identity::RemoteIdentity>> PeerSignIn::Redeem(
    identity::RpAuthRequest pending, std::string code) {
  auto provider = co_await Provider(pending.issuer);
  if (!provider.ok()) co_return std::move(provider).error();
  auto keyring = context_.keys();
  if (!keyring) co_return MakeError(ErrorCode::kUnavailable, "this node's keys are not loaded");
  identity::NodeKeyringSigningKey signer(keyring);
  auto assertion = identity::ClientAssertion(signer, context_.base_url, provider->token_endpoint,
                                             clock_, context_.assertion_lifetime);
  if (!assertion.ok()) co_return std::move(assertion).error();
  const std::string body = identity::RpTokenRequestBody(
      code, pending.redirect_uri, pending.code_verifier, context_.base_url, *assertion);
  auto answer = co_await FetchJson(provider->token_endpoint, "POST", body, "");
  if (!answer.ok()) co_return std::move(answer).error();
  json tokens = json::parse(*answer, nullptr, false);
  auto id_token = tokens.is_object() ? JsonString(tokens, "id_token") : std::nullopt;
  auto access_token = tokens.is_object() ? JsonString(tokens, "access_token") : std::nullopt;
  if (!id_token || !access_token)
    co_return MakeError(
        ErrorCode::kUnauthenticated,
        "the token response of " + pending.issuer + " lacks id_token or access_token",
        "token_error");
  auto verified = identity::VerifyIdToken(*id_token, provider->keys, pending.issuer,
                                          context_.base_url, pending.nonce, clock_);
  if (!verified.ok() && verified.error().message.find("key") != std::string::npos) {
    // Perhaps the peer rotated its keys since we cached its JWKS: fetch once more.
    auto fresh = co_await Provider(pending.issuer, true);
    if (fresh.ok())
      verified = identity::VerifyIdToken(*id_token, fresh->keys, pending.issuer, context_.base_url,
                                         pending.nonce, clock_);
  }
  if (!verified.ok()) co_return std::move(verified).error();
  if (verified->handle.empty()) {
    auto info =
        co_await FetchJson(provider->userinfo_endpoint, "GET", "", "Bearer " + *access_token);
    if (!info.ok()) co_return std::move(info).error();
    json claims = json::parse(*info, nullptr, false);
    if (!claims.is_object())
      co_return MakeError(ErrorCode::kUnauthenticated, "UserInfo is not a JSON object",
                          "invalid_id_token");
    Status merged = identity::MergeProfile(*verified, claims);
    if (!merged.ok()) co_return std::move(merged).error();
  }
  co_return verified;
}

}  // namespace kith::federation
