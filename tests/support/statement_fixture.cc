#include "tests/support/statement_fixture.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "identity/jws.h"
#include "identity/node_keys.h"

namespace kith::testing {

namespace fed = kith::federation;

Result<std::string> MemoryFetcher::Get(const std::string& url) {
  std::lock_guard lock(mu_);
  ++total_;
  ++counts_[url];
  auto it = answers_.find(url);
  if (it == answers_.end())
    return MakeError(ErrorCode::kNotFound, "GET " + url + ": 404 Not Found", "not_found");
  if (!it->second.body) return it->second.error;
  return *it->second.body;
}

void MemoryFetcher::Put(const std::string& url, std::string body) {
  std::lock_guard lock(mu_);
  answers_[url] = Answer{std::move(body), {}};
}

void MemoryFetcher::PutError(const std::string& url, Error error) {
  std::lock_guard lock(mu_);
  answers_[url] = Answer{std::nullopt, std::move(error)};
}

void MemoryFetcher::Remove(const std::string& url) {
  std::lock_guard lock(mu_);
  answers_.erase(url);
}

uint64_t MemoryFetcher::gets() const {
  std::lock_guard lock(mu_);
  return total_;
}

uint64_t MemoryFetcher::gets(const std::string& url) const {
  std::lock_guard lock(mu_);
  auto it = counts_.find(url);
  return it == counts_.end() ? 0 : it->second;
}

void MemoryFetcher::ResetCounts() {
  std::lock_guard lock(mu_);
  counts_.clear();
  total_ = 0;
}

FederationFixture::FederationFixture(const Clock& clock) : clock_(clock) {}

std::string FederationFixture::ConfigurationUrl(const std::string& id) {
  return id + std::string(fed::kEntityConfigurationPath);
}
std::string FederationFixture::FetchEndpoint(const std::string& network) {
  return network + "/fetch";
}
std::string FederationFixture::ListEndpoint(const std::string& network) {
  return network + "/list";
}
std::string FederationFixture::WithdrawnEndpoint(const std::string& network) {
  return network + "/withdrawn";
}

FederationFixture::Entity& FederationFixture::AddNetwork(const std::string& id,
                                                         std::vector<std::string> hints) {
  Entity& e = entities_[id];
  e.id = id;
  e.key = identity::Ed25519SigningKey::Generate();
  e.authority_hints = std::move(hints);
  e.network = true;
  e.metadata = {{"federation_entity",
                 {{"organization_name", "Network " + id},
                  {"federation_fetch_endpoint", FetchEndpoint(id)},
                  {"federation_list_endpoint", ListEndpoint(id)},
                  {"kith_withdrawn_endpoint", WithdrawnEndpoint(id)}}}};
  PublishConfiguration(id);
  PublishList(id);
  PublishWithdrawn(id);
  return e;
}

FederationFixture::Entity& FederationFixture::AddLeaf(const std::string& id,
                                                      std::vector<std::string> hints) {
  Entity& e = entities_[id];
  e.id = id;
  e.key = identity::Ed25519SigningKey::Generate();
  e.authority_hints = std::move(hints);
  e.metadata = {{"federation_entity", {{"organization_name", "Organisation " + id}}},
                {"kith_node",
                 {{"name", id},
                  {"organisation", "Organisation " + id},
                  {"node_document", id + "/.well-known/kith-node"}}}};
  PublishConfiguration(id);
  return e;
}

FederationFixture::Entity& FederationFixture::entity(const std::string& id) {
  return const_cast<Entity&>(Get(id));
}

const FederationFixture::Entity& FederationFixture::Get(const std::string& id) const {
  auto it = entities_.find(id);
  if (it == entities_.end()) {
    std::cerr << "FederationFixture: no entity " << id << "\n";
    std::abort();
  }
  return it->second;
}

fed::TrustAnchor FederationFixture::Anchor(const std::string& id) const {
  const auto raw = Get(id).key->public_jwk().ed25519();
  return {id, identity::Fingerprint(*raw)};
}

fed::EntityStatement FederationFixture::ConfigurationClaims(const std::string& id) const {
  const Entity& e = Get(id);
  fed::EntityStatement s;
  s.iss = s.sub = id;
  s.iat = clock_.UnixSeconds();
  s.exp = s.iat + 86400;
  s.jwks = {e.key->public_jwk()};
  s.metadata = e.metadata;
  s.authority_hints = e.authority_hints;
  return s;
}

std::string FederationFixture::SignClaims(const fed::EntityStatement& s,
                                          const identity::SigningKey& key) {
  // Built here rather than with SignEntityStatement so that tests can sign what it refuses.
  nlohmann::json payload{{"iss", s.iss},
                         {"sub", s.sub},
                         {"iat", s.iat},
                         {"exp", s.exp},
                         {"jwks", identity::JwksDocument(s.jwks)},
                         {"metadata", s.metadata}};
  if (!s.authority_hints.empty()) payload["authority_hints"] = s.authority_hints;
  if (s.constraints) {
    nlohmann::json c = nlohmann::json::object();
    if (s.constraints->max_path_length) c["max_path_length"] = *s.constraints->max_path_length;
    if (s.constraints->naming_constraints)
      c["naming_constraints"] = {{"permitted", s.constraints->naming_constraints->permitted},
                                 {"excluded", s.constraints->naming_constraints->excluded}};
    payload["constraints"] = std::move(c);
  }
  auto compact = identity::SignJws(key, payload.dump(), fed::kEntityStatementTyp);
  if (!compact.ok()) {
    std::cerr << "FederationFixture: signing failed: " << compact.error().message << "\n";
    std::abort();
  }
  return std::move(compact).value();
}

std::string FederationFixture::Sign(fed::EntityStatement claims, const Entity& issuer,
                                    const StatementOptions& options) const {
  claims.iat = clock_.UnixSeconds() + options.iat_offset;
  claims.exp = claims.iat + options.lifetime;
  if (options.jwks) claims.jwks = *options.jwks;
  if (options.edit) options.edit(claims);
  return SignClaims(claims, options.sign_with ? *options.sign_with : *issuer.key);
}

std::string FederationFixture::Configuration(const std::string& id,
                                             const StatementOptions& options) const {
  return Sign(ConfigurationClaims(id), Get(id), options);
}

std::string FederationFixture::Subordinate(const std::string& superior, const std::string& subject,
                                           const StatementOptions& options) const {
  fed::EntityStatement s;
  s.iss = superior;
  s.sub = subject;
  s.jwks = {Get(subject).key->public_jwk()};
  s.constraints = options.constraints;
  return Sign(std::move(s), Get(superior), options);
}

void FederationFixture::PublishConfiguration(const std::string& id,
                                             const StatementOptions& options) {
  fetcher_.Put(ConfigurationUrl(id), Configuration(id, options));
}

void FederationFixture::PublishSubordinate(const std::string& superior, const std::string& subject,
                                           const StatementOptions& options) {
  fetcher_.Put(fed::SubordinateStatementUrl(FetchEndpoint(superior), subject),
               Subordinate(superior, subject, options));
}

void FederationFixture::Enrol(const std::string& superior, const std::string& subject,
                              const StatementOptions& options) {
  enrolments_[{superior, subject}] = options;
  auto& list = members_[superior];
  if (std::find(list.begin(), list.end(), subject) == list.end()) list.push_back(subject);
  auto& withdrawn = withdrawn_[superior];
  std::erase_if(withdrawn, [&](const fed::WithdrawnEntry& w) { return w.sub == subject; });
  PublishSubordinate(superior, subject, options);
  PublishList(superior);
}

void FederationFixture::Withdraw(const std::string& superior, const std::string& subject) {
  enrolments_.erase({superior, subject});
  std::erase(members_[superior], subject);
  withdrawn_[superior].push_back({subject, clock_.UnixSeconds()});
  fetcher_.Remove(fed::SubordinateStatementUrl(FetchEndpoint(superior), subject));
  PublishList(superior);
  PublishWithdrawn(superior);
}

void FederationFixture::PublishList(const std::string& network) {
  fetcher_.Put(ListEndpoint(network), nlohmann::json(members_[network]).dump());
}

void FederationFixture::PublishWithdrawn(const std::string& network, int64_t lifetime) {
  fed::WithdrawnList list;
  list.iss = network;
  list.iat = clock_.UnixSeconds();
  list.exp = list.iat + lifetime;
  list.withdrawn = withdrawn_[network];
  auto compact = fed::SignWithdrawnList(list, *Get(network).key);
  if (!compact.ok()) {
    std::cerr << "FederationFixture: withdrawn list: " << compact.error().message << "\n";
    std::abort();
  }
  fetcher_.Put(WithdrawnEndpoint(network), std::move(compact).value());
}

void FederationFixture::PublishAll() {
  for (const auto& [id, e] : entities_) {
    PublishConfiguration(id);
    if (e.network) {
      PublishList(id);
      PublishWithdrawn(id);
    }
  }
  for (const auto& [key, options] : enrolments_) PublishSubordinate(key.first, key.second, options);
}

void FederationFixture::RotateKey(const std::string& id) {
  entity(id).key = identity::Ed25519SigningKey::Generate();
  PublishConfiguration(id);
}

std::vector<std::string> FederationFixture::Members(const std::string& network) const {
  auto it = members_.find(network);
  return it == members_.end() ? std::vector<std::string>{} : it->second;
}

}  // namespace kith::testing
