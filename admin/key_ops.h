// Admin routes for the node's keys (served on DATA_DIR/admin.sock, used by `kithctl keys`):
//   GET  /v1/keys     -> {"node":[{kid,algorithm,fingerprint,status,created_at,not_after}],
//                         "oidc":[{kid,algorithm:"RS256",status,created_at,not_after}]}
//                        newest first; not_after is null for a current key.
//   POST /v1/keys/rotate {"kind":"node"|"oidc" (default "node"),
//                         "overlap_seconds":N (default 604800 = 7 days, 0..31622400)}
//     node: purges node keys whose overlap is over, makes a new Ed25519 key
//           (NodeKeyring::Rotate), reloads the daemon's keys (NodeContext::reload_keys) so that
//           it signs with the new key at once, then announces the rotation to every active
//           peer, signed with the OLD key -> {"kind":"node","kid","fingerprint","old_kid",
//           "old_not_after","announced":[{"node_id","ok","error"}]}
//     oidc: a new RSA key (OidcKeys::Rotate, slow: RSA-2048), then reload_keys
//           -> {"kind":"oidc","kid","old_kid","old_not_after"}
//   POST /v1/keys/purge -> {"node":[kids retired],"oidc":N deleted}
// Errors: 400 for a bad kind or overlap, 503 when the daemon lent no store/keys, 500 when the
// rotation committed but the reload failed (the message says so: restart kithd).
// Handlers block (key generation, SQLite, the announcements): the admin socket runs them on
// its blocking pool. Rotations are serialised by a mutex (one at a time per node).
#pragma once

#include "admin/admin_api.h"
#include "admin/admin_router.h"
#include "storage/clock.h"

namespace kith::admin {

// Default overlap of a rotation: the old key stays valid (and published) for 7 days.
inline constexpr int64_t kDefaultKeyOverlapSeconds = 7 * 24 * 3600;

// Registers the routes above on `router`. `context` (its store, key snapshots, reload_keys and
// peering; peering may be null: then nobody is told) and `clock` must outlive the router.
void AddKeyRoutes(AdminRouter& router, const NodeContext* context, const Clock& clock);

}  // namespace kith::admin
