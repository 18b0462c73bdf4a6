// Admin routes for networks (served on DATA_DIR/admin.sock, used by `kithctl network`):
//   GET  /v1/networks
//        -> {"networks":[network...],"trusted":[{entity_id,fingerprint,added_at}],
//            "authority_hints":[entity id...]}
//   POST /v1/networks {"name","display_name"?,"superior"?,"statement_lifetime"?}
//        -> {"network":{...}}                       (409 when the name is taken)
//   GET  /v1/networks/status?network=NAME
//        -> {"network":{...},"members":[{entity_id,organisation,intermediate,max_path_length,
//            keys:[{kid,fingerprint}],added_at,withdrawn_at,statement_exp,last_contact_at,
//            last_error,peer_state}]}                (peer_state null when not a peer)
//   POST /v1/networks/fetch-member {"url"}
//        -> {"entity_id","organisation","is_network",keys:[{kid,fingerprint}]}  (nothing stored)
//   POST /v1/networks/add-member {"network","url","intermediate"?,"max_path_length"?}
//        -> {"member":{...}}   fetches the member's entity configuration again, checks it is
//           self-signed, registers its keys and organisation, issues its statement
//   POST /v1/networks/remove-member {"network","url"}   -> {"removed":url,"network":name}
//   POST /v1/networks/trust {"url","fingerprint"}
//        -> {"trusted":{entity_id,fingerprint},"checked":bool,"warning"?}
//           (when the anchor is reachable, a fingerprint matching none of its keys is refused)
//   POST /v1/networks/untrust {"url"}                  -> {"untrusted":url}
//   POST /v1/networks/refresh -> NodeContext::refresh_networks' report (503 when not running)
// A network is {name,entity_id,display_name,superior,fingerprint,kid,statement_lifetime,
// created_at,members,withdrawn} (members/withdrawn are counts; superior "" for an anchor).
// Errors are the admin API's JSON errors: 400 bad input, 404 unknown network or member, 409 a
// network that exists, 503 a member that cannot be reached or networks not running.
// Handlers block (SQLite, HTTP): the admin socket runs them on its blocking pool.
#pragma once

#include <nlohmann/json.hpp>

#include "admin/admin_router.h"
#include "federation/network_store.h"
#include "storage/clock.h"

namespace kith::admin {

// Registers the routes above on `router`. `context` (networks, entity_fetcher, peers,
// refresh_networks) must outlive the router; routes answer 503 while context->networks is null.
// http:// entity ids are accepted when context->networks->allow_http().
void AddNetworkRoutes(AdminRouter& router, const NodeContext* context, const Clock& clock);

// The JSON of a network as the routes return it (member counts not included).
nlohmann::json NetworkJson(const federation::Network& network);

// "SHA256:..." of an Ed25519 JWK (identity::Fingerprint), else "jwk-thumbprint:<RFC 7638>".
std::string KeyFingerprint(const identity::PublicJwk& key);

}  // namespace kith::admin
