// Admin routes for peering (served on DATA_DIR/admin.sock, used by `kithctl peer` and
// `kithctl audit`):
//   GET  /v1/peers                      -> {"peers":[{node_id,name,organisation,state,
//                                           created_at,updated_at,last_contact_at,failures,
//                                           last_error,admitted_by,suspended_by}]}
//   POST /v1/peers/fetch {"url"}        -> {"node_id","name","organisation","keys":[{kid,
//                                           fingerprint,status}]}   (nothing stored)
//   POST /v1/peers {"url"}              -> fetches the document again, records the peer as
//                                          requested and sends the signed peering request
//   POST /v1/peers/{approve,reject,suspend,resume,revoke} {"node"}
//                                       -> {"peer":{...},"notified":bool,"notify_error":text}
//   POST /v1/peers/ping {"node"}        -> {"answer":{...}}
//   GET  /v1/audit?limit=N              -> {"entries":[{id,at,actor,action,peer,detail,source}]}
// Errors are the admin API's JSON errors (409 for an illegal state change, 404 for an unknown
// peer, 403 when the SSRF guard refuses a URL, 503 when the peer cannot be reached).
// Handlers block (network, SQLite): the admin socket runs them on its blocking pool.
#pragma once

#include "admin/admin_router.h"
#include "federation/peer_store.h"
#include "federation/peering_service.h"

namespace kith::admin {

// Registers the routes above on `router`. When `peering` or `peers` is null (a node started
// without federation) the routes answer 503. The pointers must outlive the router.
void AddPeerRoutes(AdminRouter& router, federation::PeeringService* peering,
                   federation::PeerStore* peers);

}  // namespace kith::admin
