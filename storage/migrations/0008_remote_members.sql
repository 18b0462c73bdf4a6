-- Members of peer nodes who signed in here through their home node's OpenID Connect provider
-- (issue 6, "One login across nodes"), and their sessions at this node. A remote member never
-- has a password here; they are known by address (handle@home-domain) and by the home node's
-- (issuer, sub) pair.

CREATE TABLE remote_members (
  id           INTEGER PRIMARY KEY,
  address      TEXT NOT NULL UNIQUE,            -- handle@home-domain, as actors are written
  handle       TEXT NOT NULL,
  home_node    TEXT NOT NULL,                   -- the home node's base URL (= OIDC issuer)
  sub          TEXT NOT NULL,                   -- the subject at the home node
  display_name TEXT NOT NULL DEFAULT '',
  organisation TEXT NOT NULL DEFAULT '',
  first_seen   INTEGER NOT NULL,                -- unix seconds
  last_seen    INTEGER NOT NULL,
  UNIQUE (home_node, sub)
);
CREATE INDEX remote_members_home ON remote_members(home_node);

-- Sessions of remote members: the same token scheme as `sessions` (only SHA-256 of the token
-- is stored), kept apart so that a remote session can never pass for a local member's (the
-- OIDC provider and the account pages read `sessions` only).
CREATE TABLE remote_sessions (
  id               INTEGER PRIMARY KEY,
  token_hash       BLOB NOT NULL UNIQUE,
  remote_member_id INTEGER NOT NULL REFERENCES remote_members(id) ON DELETE CASCADE,
  home_node        TEXT NOT NULL,               -- copied for "end every session of a peer"
  csrf_token       TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  auth_time        INTEGER NOT NULL,            -- auth_time claimed by the home node
  last_seen        INTEGER NOT NULL,
  expires_at       INTEGER NOT NULL,
  client_address   TEXT NOT NULL DEFAULT '',
  user_agent       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX remote_sessions_member ON remote_sessions(remote_member_id);
CREATE INDEX remote_sessions_home ON remote_sessions(home_node);
CREATE INDEX remote_sessions_expires ON remote_sessions(expires_at);
