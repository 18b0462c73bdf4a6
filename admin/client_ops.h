// Admin routes for the OpenID Connect clients registered at this node (served on
// DATA_DIR/admin.sock, used by `kithctl client`):
//   GET    /v1/clients              -> {"clients":[client...]}   (ordered by name)
//   POST   /v1/clients {name, redirect_uris[], post_logout_redirect_uris[]?, public?,
//                       first_party?, id_token_alg? ("RS256"|"EdDSA"), auth_method?, jwks?,
//                       client_id?}
//                 -> {"client":{...}} plus "client_secret" for a client that has one (shown
//                    this once; the node keeps only its SHA-256)
//   DELETE /v1/clients/{client_id}  -> {"removed":client_id}   (client_id percent-encoded)
// A client is {"client_id","name","public","first_party","id_token_alg","auth_method",
// "redirect_uris","post_logout_redirect_uris","has_secret","jwks" (private_key_jwt keys, or
// null),"created_at"}; secret hashes never leave the node. `jwks` may be sent as a JWK Set
// object or as its JSON text. Errors: 400 naming the field, 404 for an unknown client, 409
// when the client_id exists, 503 when the client store is not running. Handlers block on the
// database writer: the admin socket runs them on its pool.
#pragma once

#include "admin/admin_router.h"
#include "identity/oidc_client.h"

namespace kith::admin {

// Registers the routes above on `router`. `clients` must outlive the router; when it is null
// the routes answer 503.
void AddClientRoutes(AdminRouter& router, identity::OidcClientStore* clients);

}  // namespace kith::admin
