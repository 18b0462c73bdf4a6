// Entity statements of OpenID Federation 1.0: signed JWTs (`typ: entity-statement+jwt`) that
// say who an entity is, which keys it holds and, for networks, which nodes belong to them.
//
//  * An entity configuration is a statement an entity makes about itself (iss == sub), served
//    at <entity id>/.well-known/openid-federation. It carries `authority_hints`: the networks
//    (superiors) the entity belongs to.
//  * A subordinate statement is what a superior (a network: trust anchor or intermediate) says
//    about one of its members (iss = the superior, sub = the member): the member's keys, and
//    `constraints` that limit what may hang below the member.
//  * The withdrawn list (kith's addition, `typ: kith-withdrawn+jwt`) is a short-lived signed
//    list of the members a network removed, so that removal takes effect before the removed
//    member's last subordinate statement expires.
//
// Entity identifiers are absolute URLs without query, fragment or trailing slash: a node's
// base URL ("https://council.example"), or a network run by a node
// ("https://is.example/networks/spsn"). https only, unless `allow_http` (loopback tests and the
// example network).
//
// Statements come from the network: parsing never throws and never trusts shapes; every
// problem is an error with a message naming what was wrong. Pure functions, thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "identity/jwk.h"
#include "identity/jws.h"
#include "storage/clock.h"
#include "storage/result.h"

namespace kith::federation {

inline constexpr std::string_view kEntityStatementTyp = "entity-statement+jwt";
inline constexpr std::string_view kWithdrawnListTyp = "kith-withdrawn+jwt";
inline constexpr std::string_view kEntityStatementContentType = "application/entity-statement+jwt";
inline constexpr std::string_view kWithdrawnListContentType = "application/kith-withdrawn+jwt";
// Where an entity publishes its configuration, relative to its entity identifier.
inline constexpr std::string_view kEntityConfigurationPath = "/.well-known/openid-federation";

// Bounds applied while parsing; anything beyond is refused (kTooLarge / kInvalidArgument).
inline constexpr size_t kMaxEntityStatementBytes = 64 * 1024;
inline constexpr size_t kMaxEntityIdBytes = 2048;
inline constexpr size_t kMaxStatementKeys = 16;
inline constexpr size_t kMaxAuthorityHints = 8;
inline constexpr size_t kMaxNamingConstraints = 64;
inline constexpr size_t kMaxWithdrawnEntries = 100000;
inline constexpr size_t kMaxWithdrawnListBytes = 8 * 1024 * 1024;

// OpenID Federation naming constraints (RFC 5280 style, on the host of entity identifiers):
// ".example.gov.uk" matches any host ending in ".example.gov.uk"; "example.gov.uk" matches
// that host exactly. An entity id satisfies them when its host matches no `excluded` entry
// and, if `permitted` is not empty, at least one `permitted` entry.
struct NamingConstraints {
  std::vector<std::string> permitted;
  std::vector<std::string> excluded;
};

// `constraints` of a subordinate statement (OpenID Federation 1.0, "Constraints"): they limit
// the part of a trust chain below the statement's subject.
struct Constraints {
  // At most this many intermediates between the statement's subject and the leaf.
  std::optional<int> max_path_length;
  std::optional<NamingConstraints> naming_constraints;
};

// An entity statement's claims.
struct EntityStatement {
  std::string iss;
  std::string sub;
  int64_t iat = 0;  // unix seconds
  int64_t exp = 0;
  std::vector<identity::PublicJwk> jwks;  // at least one key, at most kMaxStatementKeys
  // {"federation_entity": {...}, "kith_node": {...}, "openid_provider": {...},
  //  "openid_relying_party": {...}}; an object, members kept as given.
  nlohmann::json metadata = nlohmann::json::object();
  std::vector<std::string> authority_hints;  // entity configurations only
  std::optional<Constraints> constraints;    // subordinate statements only

  bool IsConfiguration() const { return iss == sub; }
};

// A statement as parsed from its compact form, signature not yet checked.
struct ParsedStatement {
  EntityStatement statement;
  identity::Jws jws;  // header (typ, alg, kid), signing input and signature
};

struct StatementCheckOptions {
  bool allow_http = false;          // accept http:// entity identifiers
  std::chrono::seconds leeway{60};  // clock skew allowed on iat and exp
};

// Checks an entity identifier (see the file comment). kInvalidArgument naming the problem.
Status ValidateEntityId(std::string_view entity_id, bool allow_http);

// The host of a valid entity identifier, lower-case, without port ("is.example").
std::string EntityHost(std::string_view entity_id);

// Whether `entity_id`'s host satisfies `constraints`.
bool SatisfiesNamingConstraints(std::string_view entity_id, const NamingConstraints& constraints);

// Signs `statement` with `key`: protected header {"alg","kid","typ":"entity-statement+jwt"},
// payload {iss, sub, iat, exp, jwks:{keys:[...]}, metadata, authority_hints (when not empty),
// constraints (when set)}. kInvalidArgument when the statement would not parse back (bad
// entity ids, no key, exp <= iat, too many keys or hints).
Result<std::string> SignEntityStatement(const EntityStatement& statement,
                                        const identity::SigningKey& key);

// Parses a compact entity statement and checks everything but the signature: size, JWS shape,
// header typ == "entity-statement+jwt" (kInvalidArgument "wrong typ" otherwise), iss/sub valid
// entity ids, iat/exp integers with iat <= now + leeway and exp > now - leeway (kUnauthenticated
// "expired" / "issued in the future"), jwks a JWKS of 1..kMaxStatementKeys keys, metadata an
// object when present, authority_hints an array of valid entity ids (only in configurations),
// constraints well-formed (max_path_length >= 0, naming lists of strings). Unknown claims are
// ignored.
Result<ParsedStatement> ParseEntityStatement(std::string_view compact, const Clock& clock,
                                             const StatementCheckOptions& options = {});

// Verifies the statement's signature with one of `keys` (by the header's kid).
// kUnauthenticated ("unknown_key" / "invalid_signature") otherwise.
Status VerifyStatementSignature(const ParsedStatement& parsed,
                                const std::vector<identity::PublicJwk>& keys);

// One member a network removed.
struct WithdrawnEntry {
  std::string sub;
  int64_t at = 0;  // unix seconds
};

// The withdrawn list of a network: {iss, iat, exp, withdrawn:[{sub, at}]}.
struct WithdrawnList {
  std::string iss;
  int64_t iat = 0;
  int64_t exp = 0;
  std::vector<WithdrawnEntry> withdrawn;
};

// Signs a withdrawn list (header typ "kith-withdrawn+jwt").
Result<std::string> SignWithdrawnList(const WithdrawnList& list, const identity::SigningKey& key);

// Parses and verifies a withdrawn list: typ, signature with one of `keys`, iss == `issuer`,
// iat/exp as for statements, entries with valid entity ids. Errors as above.
Result<WithdrawnList> ParseWithdrawnList(std::string_view compact, std::string_view issuer,
                                         const std::vector<identity::PublicJwk>& keys,
                                         const Clock& clock,
                                         const StatementCheckOptions& options = {});

// The metadata members kith reads (all optional when parsing; a node publishes all of them):
//   metadata.federation_entity.federation_fetch_endpoint   (networks)
//   metadata.federation_entity.federation_list_endpoint    (networks)
//   metadata.federation_entity.kith_withdrawn_endpoint     (networks)
//   metadata.federation_entity.organization_name
//   metadata.kith_node.{name, organisation, node_document} (nodes)
// Each returns the string, or "" when missing or not a string.
std::string FetchEndpointOf(const EntityStatement& configuration);
std::string ListEndpointOf(const EntityStatement& configuration);
std::string WithdrawnEndpointOf(const EntityStatement& configuration);

}  // namespace kith::federation
