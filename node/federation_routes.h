// The signed federation endpoints (docs/federation.md, "Peering messages"):
//   POST /federation/v1/peering/request   (signed by a key of the enclosed node document)
//   POST /federation/v1/peering/{accept,reject,suspend,resume,revoke}
//   POST /federation/v1/keys/rotated      (signed with the OLD key)
//   GET  /federation/v1/ping              (signed no-op)
// Each request is verified (401 + JSON reason), checked against the sender's peering state
// (403), applied by federation::PeeringService on the blocking pool, and every answer —
// errors included — is signed by this node (RFC 9421, kith profile). The target URI that is
// verified is config base_url + request target, never the Host header. Bodies are limited to
// federation::kMaxFederationBody.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include "federation/peering_service.h"
#include "federation/replication.h"
#include "node/router.h"

namespace kith::node {

// Registers the routes above. `service` and `blocking_pool` must outlive the server.
void AddFederationRoutes(Router& router, federation::PeeringService& service,
                         boost::asio::thread_pool& blocking_pool, std::string base_url);

// Registers the stream and file routes of federation/replication.h (docs/federation.md,
// "Streams"):
//   POST /federation/v1/streams/{stream}/commands   (body at most federation::kMaxCommandBody)
//   POST /federation/v1/streams/{stream}/events     (body at most federation::kMaxEventsBody)
//   GET  /federation/v1/streams/{stream}/events?after=N&limit=M
//   POST /federation/v1/streams/{stream}/follow
//   GET  /federation/v1/files/{sha256}              (the bytes, sent from the file in chunks)
// Every answer is signed (a file answer's Content-Digest is its sha256). `replicator` must
// outlive the server.
void AddStreamRoutes(Router& router, federation::Replicator& replicator, std::string base_url);

}  // namespace kith::node
