-- Members, sessions, OpenID Connect signing keys and clients (issue 4).
-- Hot tables keep an INTEGER PRIMARY KEY; random identifiers (subs, token hashes, client ids)
-- live in secondary UNIQUE indexes.

-- A node's members. handle is stored lower-case (unique case-insensitively by construction);
-- email is unique case-insensitively. sub is the random, never reused OIDC subject.
CREATE TABLE members (
  id            INTEGER PRIMARY KEY,
  handle        TEXT NOT NULL UNIQUE,
  sub           TEXT NOT NULL UNIQUE,
  display_name  TEXT NOT NULL,
  email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
  organisation  TEXT NOT NULL DEFAULT '',
  job_title     TEXT NOT NULL DEFAULT '',
  bio           TEXT NOT NULL DEFAULT '',
  visibility    TEXT NOT NULL DEFAULT 'node' CHECK (visibility IN ('network', 'node', 'hidden')),
  status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  password_hash TEXT,                          -- Argon2id string; NULL: no password set
  created_at    INTEGER NOT NULL,              -- unix seconds
  updated_at    INTEGER NOT NULL
);

-- Subjects of removed members, so that a sub is never handed out twice.
CREATE TABLE retired_subs (
  id         INTEGER PRIMARY KEY,
  sub        TEXT NOT NULL UNIQUE,
  retired_at INTEGER NOT NULL
);

-- Signed-in sessions. Only the SHA-256 of the token is stored.
CREATE TABLE sessions (
  id             INTEGER PRIMARY KEY,
  token_hash     BLOB NOT NULL UNIQUE,
  member_id      INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
  csrf_token     TEXT NOT NULL,                -- random, per session
  created_at     INTEGER NOT NULL,
  auth_time      INTEGER NOT NULL,             -- when the member last proved a password
  last_seen      INTEGER NOT NULL,
  expires_at     INTEGER NOT NULL,             -- absolute expiry
  client_address TEXT NOT NULL DEFAULT '',
  user_agent     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_member ON sessions(member_id);
CREATE INDEX sessions_expires ON sessions(expires_at);

-- OIDC RSA signing keys; the private key is DATA_DIR/keys/oidc-rsa-<kid>.pem (0600).
CREATE TABLE oidc_keys (
  id          INTEGER PRIMARY KEY,
  kid         TEXT NOT NULL UNIQUE,
  algorithm   TEXT NOT NULL DEFAULT 'RS256' CHECK (algorithm IN ('RS256')),
  created_at  INTEGER NOT NULL,
  not_after   INTEGER,                         -- NULL: current key; else published until then
  status      TEXT NOT NULL DEFAULT 'current' CHECK (status IN ('current', 'retiring'))
);

-- Registered OIDC relying parties.
CREATE TABLE oidc_clients (
  id                        INTEGER PRIMARY KEY,
  client_id                 TEXT NOT NULL UNIQUE,
  name                      TEXT NOT NULL,
  client_type               TEXT NOT NULL CHECK (client_type IN ('public', 'confidential')),
  secret_hash               BLOB,              -- SHA-256 of the 256-bit secret; NULL if none
  first_party               INTEGER NOT NULL DEFAULT 0,
  id_token_alg              TEXT NOT NULL DEFAULT 'RS256' CHECK (id_token_alg IN ('RS256', 'EdDSA')),
  token_endpoint_auth_method TEXT NOT NULL CHECK (token_endpoint_auth_method IN
                               ('client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none')),
  redirect_uris             TEXT NOT NULL,     -- JSON array of exact strings
  post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]',
  jwks                      TEXT,              -- JSON JWKS for private_key_jwt
  created_at                INTEGER NOT NULL
);
