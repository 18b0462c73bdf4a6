// NetworkOperator: the periodic job of a node that runs networks (kithd calls Sweep every
// networks.refresh_interval), and the check of a member's entity configuration that
// `kithctl network add-member` and the sweep share.
//
// Sweep(fetcher):
//   1. NetworkStore::ReissueDue — statements with less than half their lifetime left are
//      signed again, so the fetch endpoint always has a fresh one;
//   2. for every current member of every network this node operates, GET
//      <member>/.well-known/openid-federation, parse it, require iss == sub == the member, and
//      verify its signature with the member's *registered* keys. Success records the contact
//      (last_contact_at, "last contact" in `kithctl network status`); when the configuration
//      lists keys that differ from the register (a member's key rotation), the register takes
//      them (NetworkStore::UpdateMemberKeys, statement reissued). A configuration signed by a
//      key that is not registered changes nothing: it is logged and recorded as the member's
//      last_error. Unreachable members get last_error too.
//
// Blocks (HTTP through the fetcher, SQLite): run it on the blocking pool. Thread-safe, but
// sweeps are not meant to overlap (two at once do the same work twice, harmlessly).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "federation/entity_statement.h"
#include "federation/network_store.h"
#include "federation/trust_chain.h"
#include "identity/jwk.h"
#include "storage/clock.h"
#include "storage/result.h"

namespace kith::federation {

// A member's entity configuration, fetched and checked as self-signed.
struct MemberConfiguration {
  EntityStatement statement;  // iss == sub == the entity id asked for
  std::string compact;        // as fetched
  // metadata.kith_node.organisation, else metadata.federation_entity.organization_name.
  std::string organisation;
  std::string kid;         // the kid that signed it
  ParsedStatement parsed;  // for verifying with other keys (VerifyStatementSignature)
};

// GETs `entity_id` + kEntityConfigurationPath through `fetcher` and checks it: parses
// (ParseEntityStatement), iss == sub == entity_id, and the signature verifies with one of the
// statement's own keys. kInvalidArgument for a bad entity id, kUnavailable when the fetch
// fails (the fetcher's message; kPermissionDenied / kTooLarge when the fetcher refused the URL
// or the answer), kUnauthenticated / kInvalidArgument naming what is wrong with the statement
// otherwise.
Result<MemberConfiguration> FetchMemberConfiguration(EntityFetcher& fetcher,
                                                     const std::string& entity_id,
                                                     const Clock& clock, bool allow_http);

// Whether two key sets hold the same keys (by RFC 7638 thumbprint, order ignored).
bool SameKeys(const std::vector<identity::PublicJwk>& a, const std::vector<identity::PublicJwk>& b);

class NetworkOperator {
 public:
  // What one sweep did.
  struct Report {
    int reissued = 0;                 // statements signed again
    int contacted = 0;                // members whose configuration verified
    int failed = 0;                   // unreachable, invalid, or signed by an unregistered key
    int keys_updated = 0;             // members whose registered keys changed
    std::vector<std::string> errors;  // "<network> <member>: <why>", at most 100
  };

  // `networks` and `clock` must outlive the operator.
  NetworkOperator(NetworkStore& networks, const Clock& clock, bool allow_http);

  // One sweep (see the file comment). An error only when the database fails; per-member
  // problems are in the report and in the register.
  Result<Report> Sweep(EntityFetcher& fetcher);

 private:
  NetworkStore& networks_;
  const Clock& clock_;
  bool allow_http_;
};

}  // namespace kith::federation
