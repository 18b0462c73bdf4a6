// Synthetic OpenID Federation entities for tests and benchmarks: an in-memory EntityFetcher and
// a FederationFixture that makes anchors, intermediates and leaves (each with its own Ed25519
// key), signs their entity configurations and subordinate statements on demand (any lifetime,
// constraints, signing key or claim edit, so that tests can forge, expire and alter them), and
// publishes them at the URLs a TrustChainResolver fetches:
//   <id>/.well-known/openid-federation             every entity's configuration
//   <network>/fetch?sub=<percent-encoded member>   subordinate statements
//   <network>/list                                 JSON array of current members
//   <network>/withdrawn                            the signed withdrawn list
//
// Typical use:
//   FakeClock clock;
//   FederationFixture fed(clock);
//   fed.AddNetwork("https://is.example/networks/uk");
//   fed.AddLeaf("https://council.example");
//   fed.Enrol("https://is.example/networks/uk", "https://council.example");
//   TrustChainResolver resolver(fed.fetcher(), {fed.Anchor("https://is.example/networks/uk")},
//                               clock);
//
// Thread-safety: MemoryFetcher is thread-safe. FederationFixture is not: set it up on one
// thread, then resolve from many (the fetcher it publishes into is).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "federation/entity_statement.h"
#include "federation/trust_chain.h"
#include "identity/jwk.h"
#include "storage/clock.h"
#include "storage/result.h"

namespace kith::testing {

// URL -> body, in memory. Unknown URLs answer kNotFound, as a 404 would.
class MemoryFetcher final : public federation::EntityFetcher {
 public:
  Result<std::string> Get(const std::string& url) override;

  // Serves `body` at `url` (replacing what was there).
  void Put(const std::string& url, std::string body);
  // Serves `error` at `url` (e.g. kUnavailable to simulate a node that is down).
  void PutError(const std::string& url, Error error);
  void Remove(const std::string& url);

  // GETs answered so far: all of them, or those of one URL.
  uint64_t gets() const;
  uint64_t gets(const std::string& url) const;
  void ResetCounts();

 private:
  struct Answer {
    std::optional<std::string> body;
    Error error;
  };
  mutable std::mutex mu_;
  std::map<std::string, Answer> answers_;
  std::map<std::string, uint64_t> counts_;
  uint64_t total_ = 0;
};

// How to make one statement. Defaults: iat = now, lifetime 24 h, the issuer's own key, the
// keys the federation holds for the subject.
struct StatementOptions {
  int64_t iat_offset = 0;                              // seconds added to the clock's now for "iat"
  int64_t lifetime = 86400;                            // exp = iat + lifetime
  std::optional<federation::Constraints> constraints;  // subordinate statements only
  // Sign with this key instead of the issuer's (forgeries). Not owned; must outlive the call.
  const identity::SigningKey* sign_with = nullptr;
  // List these keys instead of the subject's (a superior vouching for the wrong key).
  std::optional<std::vector<identity::PublicJwk>> jwks;
  // Last change to the claims before signing (anything: authority_hints, metadata, sub, ...).
  std::function<void(federation::EntityStatement&)> edit;
};

class FederationFixture {
 public:
  struct Entity {
    std::string id;
    std::unique_ptr<identity::Ed25519SigningKey> key;
    std::vector<std::string> authority_hints;
    nlohmann::json metadata = nlohmann::json::object();
    bool network = false;  // has fetch, list and withdrawn endpoints
  };

  // `clock` must outlive the fixture.
  explicit FederationFixture(const Clock& clock);

  // A network (anchor when `authority_hints` is empty, else an intermediate): a fresh key,
  // metadata with its endpoints; its configuration is published at once.
  Entity& AddNetwork(const std::string& id, std::vector<std::string> authority_hints = {});
  // A node; metadata kith_node {name, organisation, node_document}; configuration published.
  Entity& AddLeaf(const std::string& id, std::vector<std::string> authority_hints = {});
  Entity& entity(const std::string& id);  // must exist

  // The trust anchor entry (entity id, fingerprint of its key) for a network.
  federation::TrustAnchor Anchor(const std::string& id) const;

  // Statements on demand (not published). Configuration: iss == sub == id, jwks = the entity's
  // key, its hints and metadata. Subordinate: iss = superior, sub = subject, jwks = the
  // subject's key, constraints from `options`.
  std::string Configuration(const std::string& id, const StatementOptions& options = {}) const;
  std::string Subordinate(const std::string& superior, const std::string& subject,
                          const StatementOptions& options = {}) const;
  // The claims before signing, and signing any claims with any key (for refusal tests).
  federation::EntityStatement ConfigurationClaims(const std::string& id) const;
  static std::string SignClaims(const federation::EntityStatement& claims,
                                const identity::SigningKey& key);

  // Publishing into fetcher().
  void PublishConfiguration(const std::string& id, const StatementOptions& options = {});
  void PublishSubordinate(const std::string& superior, const std::string& subject,
                          const StatementOptions& options = {});
  // Makes `subject` a member of `superior`: publishes the statement (with `options`, kept for
  // PublishAll) and adds it to the list.
  void Enrol(const std::string& superior, const std::string& subject,
             const StatementOptions& options = {});
  // Removes the member: statement gone (404), off the list, on the withdrawn list (published).
  void Withdraw(const std::string& superior, const std::string& subject);
  // Signs and publishes a network's withdrawn list (lifetime in seconds).
  void PublishWithdrawn(const std::string& network, int64_t lifetime = 600);
  // Re-signs everything at the clock's current time: every configuration, every enrolment's
  // statement, every list and withdrawn list.
  void PublishAll();
  // Gives the entity a fresh key (and republishes its configuration; statements about it are
  // not changed: call PublishAll or Enrol again to have its superiors vouch for the new key).
  void RotateKey(const std::string& id);

  MemoryFetcher& fetcher() { return fetcher_; }
  const Clock& clock() const { return clock_; }

  static std::string ConfigurationUrl(const std::string& id);
  static std::string FetchEndpoint(const std::string& network);
  static std::string ListEndpoint(const std::string& network);
  static std::string WithdrawnEndpoint(const std::string& network);
  // The member ids currently on a network's list, in enrolment order.
  std::vector<std::string> Members(const std::string& network) const;

 private:
  const Entity& Get(const std::string& id) const;
  std::string Sign(federation::EntityStatement claims, const Entity& issuer,
                   const StatementOptions& options) const;
  void PublishList(const std::string& network);

  const Clock& clock_;
  MemoryFetcher fetcher_;
  std::map<std::string, Entity> entities_;
  std::map<std::string, std::vector<std::string>> members_;  // network -> members
  std::map<std::pair<std::string, std::string>, StatementOptions> enrolments_;
  std::map<std::string, std::vector<federation::WithdrawnEntry>> withdrawn_;
};

}  // namespace kith::testing
