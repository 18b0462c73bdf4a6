// OIDC relying parties registered at this node (the oidc_clients table) and the rules their
// registration must meet. All client SQL lives here.
//
// Client secrets: 256 random bits, base64url, shown once by Add and stored as SHA-256. A hash
// that is slow to compute (Argon2id) protects low-entropy secrets that people choose; these
// are machine-made with full entropy, so SHA-256 is as safe against brute force, and it keeps
// the token endpoint fast (no Argon2 run per code exchange). CheckSecret compares in constant
// time.
//
// Writes follow identity/write_result.h; reads are synchronous. Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "identity/jwk.h"
#include "identity/write_result.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace kith::identity {

enum class ClientAuthMethod { kClientSecretBasic, kClientSecretPost, kPrivateKeyJwt, kNone };

// "client_secret_basic", "client_secret_post", "private_key_jwt", "none".
std::string_view ClientAuthMethodName(ClientAuthMethod method);
Result<ClientAuthMethod> ParseClientAuthMethod(std::string_view name);

// A registered client. A plain value.
struct OidcClient {
  int64_t id = 0;
  std::string client_id;
  std::string name;
  bool is_public = false;                            // no secret; PKCE required
  bool first_party = false;                          // skips the consent page
  JwsAlgorithm id_token_alg = JwsAlgorithm::kRS256;  // RS256 or EdDSA
  ClientAuthMethod auth_method = ClientAuthMethod::kClientSecretBasic;
  std::vector<std::string> redirect_uris;
  std::vector<std::string> post_logout_redirect_uris;
  // OpenID Connect Back-Channel Logout 1.0 endpoint; empty when the client takes none.
  std::string backchannel_logout_uri;
  std::string jwks_json;  // private_key_jwt keys, empty otherwise
  std::array<uint8_t, 32> secret_hash{};
  bool has_secret = false;
  int64_t created_at = 0;

  // Exact string match against a registered redirect URI.
  bool HasRedirectUri(std::string_view uri) const;
  bool HasPostLogoutRedirectUri(std::string_view uri) const;
};

// What a client is registered from.
struct NewOidcClient {
  std::string client_id;  // empty: a random one; else 1-255 printable ASCII (e.g. a node URL)
  std::string name;
  std::vector<std::string> redirect_uris;  // at least one
  std::vector<std::string> post_logout_redirect_uris;
  std::string backchannel_logout_uri;  // empty: none; else the rules of a redirect URI
  bool is_public = false;
  bool first_party = false;
  JwsAlgorithm id_token_alg = JwsAlgorithm::kRS256;
  // Default: none for public clients, client_secret_basic for confidential ones.
  std::optional<ClientAuthMethod> auth_method;
  std::string jwks_json;  // required for private_key_jwt
};

// A newly registered client and its secret (empty when it has none). The secret exists only
// here: show it once.
struct RegisteredClient {
  OidcClient client;
  std::string secret;
};

// A redirect URI must be absolute, without fragment or user info, https — or http for a
// loopback host (localhost, 127.0.0.1, [::1]) — at most 2000 characters of valid URI syntax.
// kInvalidArgument naming `field` ("redirect_uri" or "post_logout_redirect_uri").
Status ValidateRedirectUri(std::string_view uri, std::string_view field = "redirect_uri");

// Validates and normalises a registration (fills the default auth method). kInvalidArgument
// naming the field: public clients use "none"; confidential ones must not; private_key_jwt
// needs a JWKS that parses; id_token_alg must be RS256 or EdDSA; at most 20 URIs each; a
// backchannel_logout_uri follows ValidateRedirectUri.
Status ValidateNewOidcClient(NewOidcClient& client);

// The keys of a private_key_jwt client. kInvalidArgument if it has none.
Result<std::vector<PublicJwk>> ClientKeys(const OidcClient& client);

// Constant-time check of a presented client secret.
bool CheckClientSecret(const OidcClient& client, std::string_view secret);

class OidcClientStore {
 public:
  OidcClientStore(storage::Store& store, const Clock& clock);

  // Registers a client. kInvalidArgument (validation), kConflict when client_id exists.
  void Add(NewOidcClient client, Done<RegisteredClient> done);

  // Removes a client. kNotFound.
  void Remove(std::string client_id, Done<void> done);

  // kNotFound for an unknown client id.
  Result<OidcClient> Get(std::string_view client_id);

  // Every client, ordered by name then id.
  Result<std::vector<OidcClient>> List();

 private:
  storage::Store& store_;
  const Clock& clock_;
};

}  // namespace kith::identity
