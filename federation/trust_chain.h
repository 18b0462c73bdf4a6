// Trust chains of OpenID Federation 1.0: from a node (the leaf) up through networks
// (intermediates) to a trust anchor this node trusts.
//
// A chain is the list of statements, in the order of OpenID Federation 1.0 ("Trust Chain"):
//   [ leaf's entity configuration,
//     subordinate statement about the leaf by its superior S1,
//     subordinate statement about S1 by S2, ...,
//     the trust anchor's entity configuration ]
// Verifying it (VerifyTrustChain):
//   * every statement parses (typ, sizes, iat/exp; entity_statement.h);
//   * the leaf configuration has iss == sub == leaf and is signed by a key that the subordinate
//     statement about the leaf lists (the superior vouches for the leaf's keys);
//   * statement j (a subordinate statement) has sub == iss of statement j-1 (the entity it
//     follows), and is signed by a key of its issuer: for the last one the anchor
//     configuration's jwks, else the jwks of the next subordinate statement (which is about
//     that issuer);
//   * the anchor configuration is signed by one of its own keys that has the fingerprint
//     configured for that anchor (TrustAnchor.fingerprint, identity::Fingerprint of the raw
//     Ed25519 key): the pinned key vouches for every other key the configuration lists;
//   * constraints: a subordinate statement about X with max_path_length N allows at most N
//     intermediates between X and the leaf; its naming constraints must be met by the entity
//     ids of every entity below X in the chain (not X itself);
//   * no entity appears twice (loops), at most ResolveOptions.max_superiors superiors.
// The chain expires at the smallest exp of its statements.
//
// TrustChainResolver collects the statements over an EntityFetcher (HTTP in a node, in-memory
// in tests and benchmarks): the leaf's configuration, then for each authority hint the
// superior's configuration and its fetch endpoint's statement about the entity below, up to a
// trusted anchor (depth-first over the hints, every hint tried before giving up), then
// VerifyTrustChain. Superiors' configurations are cached per resolver for `config_cache_ttl`
// (one fetch of the anchor's configuration serves a thousand leaves).
//
// Errors say which statement failed and why, e.g. "statement 2 (https://is.example/networks/
// scot about https://council.example): expired". Failures never produce a chain.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "federation/entity_statement.h"
#include "identity/jwk.h"
#include "storage/clock.h"
#include "storage/result.h"

namespace kith::federation {

// Where statements come from. Implementations must be safe to call from several threads.
class EntityFetcher {
 public:
  virtual ~EntityFetcher() = default;
  // GET `url`; the body of a 200 answer (at most kMaxWithdrawnListBytes), else an error
  // (kNotFound for 404, kUnavailable for network failures and other statuses, kTooLarge).
  virtual Result<std::string> Get(const std::string& url) = 0;
};

// A trust anchor this node trusts (kithctl network trust URL --fingerprint F).
struct TrustAnchor {
  std::string entity_id;
  std::string fingerprint;  // identity::Fingerprint of one of the anchor's Ed25519 keys
};

struct ResolveOptions {
  StatementCheckOptions check;
  int max_superiors = 5;  // longest chain: leaf + 5 superiors (anchor included)
  std::chrono::seconds config_cache_ttl{60};
};

// A verified chain.
struct TrustChain {
  std::string subject;  // the leaf's entity id
  std::string anchor;   // the trust anchor's entity id
  // Entity ids from the leaf's immediate superior up to the anchor (intermediates first).
  std::vector<std::string> superiors;
  std::vector<std::string> statements;  // compact JWS, in chain order (see file comment)
  int64_t expires_at = 0;               // smallest exp of the statements
  // The leaf's keys as its immediate superior states them, and the leaf's configuration.
  std::vector<identity::PublicJwk> subject_keys;
  EntityStatement subject_configuration;
};

// Verifies a chain of compact statements (see the file comment) against `anchors`.
Result<TrustChain> VerifyTrustChain(const std::vector<std::string>& statements,
                                    const std::vector<TrustAnchor>& anchors, const Clock& clock,
                                    const ResolveOptions& options = {});

// The URL of a superior's statement about `subject`: `fetch_endpoint` + "?sub=" + the subject
// percent-encoded (RFC 3986, everything but unreserved characters).
std::string SubordinateStatementUrl(std::string_view fetch_endpoint, std::string_view subject);

class TrustChainResolver {
 public:
  // `fetcher` and `clock` must outlive the resolver. Thread-safe: Resolve may run on several
  // threads at once (the configuration cache is guarded).
  TrustChainResolver(EntityFetcher& fetcher, std::vector<TrustAnchor> anchors, const Clock& clock,
                     ResolveOptions options = {});

  // Resolves and verifies a chain from `subject` to one of the anchors. `extra_hints` are
  // superiors to try besides the subject's own authority_hints (e.g. the network whose list
  // named the subject). The first valid chain found wins. Otherwise an error naming, for each
  // path tried, why it failed: kUnavailable when every path failed only because a fetch could
  // not be made (network down: try again later), kNotFound when the subject names no hints and
  // none were given, kUnauthenticated (reason "no_trust_chain") for anything else; errors of
  // fetching the subject's own configuration are returned as they are. Blocks on the fetcher.
  Result<TrustChain> Resolve(const std::string& subject,
                             const std::vector<std::string>& extra_hints = {});

  // Fetches and parses an entity's configuration (signature checked against its own jwks),
  // through the cache for superiors. For the list and withdrawn endpoints of a network.
  Result<EntityStatement> Configuration(const std::string& entity_id);

  // Number of GETs made through the fetcher so far (for benchmarks and tests).
  uint64_t fetches() const;

  const std::vector<TrustAnchor>& anchors() const { return anchors_; }

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  std::vector<TrustAnchor> anchors_;
};

}  // namespace kith::federation
