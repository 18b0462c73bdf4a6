-- OpenID Connect provider state (issue 4): authorization codes, token families with their
-- refresh and access tokens, consents, and client-assertion jtis already used.
-- Every token and code is stored only as the SHA-256 of its random bytes' text.

-- Authorization codes: single use, short-lived. used_at is set on the first exchange; a second
-- exchange finds it set and revokes the family issued from the code.
CREATE TABLE oidc_codes (
  id             INTEGER PRIMARY KEY,
  code_hash      BLOB NOT NULL UNIQUE,
  client_id      TEXT NOT NULL REFERENCES oidc_clients(client_id) ON DELETE CASCADE,
  member_id      INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
  redirect_uri   TEXT NOT NULL,
  scope          TEXT NOT NULL,
  nonce          TEXT,                          -- NULL when the request had none
  code_challenge TEXT,                          -- S256 challenge; NULL without PKCE
  auth_time      INTEGER NOT NULL,
  created_at     INTEGER NOT NULL,
  expires_at     INTEGER NOT NULL,
  used_at        INTEGER
);
CREATE INDEX oidc_codes_expires ON oidc_codes(expires_at);

-- One family per successful code exchange: every access and refresh token descending from it.
-- Revoking the family (revoked_at) ends all of them.
CREATE TABLE oidc_token_families (
  id         INTEGER PRIMARY KEY,
  client_id  TEXT NOT NULL REFERENCES oidc_clients(client_id) ON DELETE CASCADE,
  member_id  INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
  code_id    INTEGER REFERENCES oidc_codes(id) ON DELETE SET NULL,
  scope      TEXT NOT NULL,
  auth_time  INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX oidc_token_families_code ON oidc_token_families(code_id);
CREATE INDEX oidc_token_families_member ON oidc_token_families(member_id);

-- Refresh tokens, rotated on use: used_at set means a later presentation is a reuse.
CREATE TABLE oidc_refresh_tokens (
  id         INTEGER PRIMARY KEY,
  token_hash BLOB NOT NULL UNIQUE,
  family_id  INTEGER NOT NULL REFERENCES oidc_token_families(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER
);
CREATE INDEX oidc_refresh_tokens_family ON oidc_refresh_tokens(family_id);

-- Opaque bearer access tokens.
CREATE TABLE oidc_access_tokens (
  id         INTEGER PRIMARY KEY,
  token_hash BLOB NOT NULL UNIQUE,
  family_id  INTEGER NOT NULL REFERENCES oidc_token_families(id) ON DELETE CASCADE,
  scope      TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX oidc_access_tokens_family ON oidc_access_tokens(family_id);
CREATE INDEX oidc_access_tokens_expires ON oidc_access_tokens(expires_at);

-- Consent of a member to a third-party client, for the scopes listed (space-separated).
CREATE TABLE oidc_consents (
  id         INTEGER PRIMARY KEY,
  member_id  INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
  client_id  TEXT NOT NULL REFERENCES oidc_clients(client_id) ON DELETE CASCADE,
  scope      TEXT NOT NULL,
  granted_at INTEGER NOT NULL,
  UNIQUE (member_id, client_id)
);

-- jti values of private_key_jwt client assertions, kept until the assertion expires, so that
-- a replayed assertion is refused.
CREATE TABLE oidc_used_jtis (
  id         INTEGER PRIMARY KEY,
  client_id  TEXT NOT NULL,
  jti        TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  UNIQUE (client_id, jti)
);
CREATE INDEX oidc_used_jtis_expires ON oidc_used_jtis(expires_at);
