-- "Sign out everywhere" (issue 6) with OpenID Connect Back-Channel Logout 1.0: the provider
-- remembers where it started sessions at relying parties, and the relying-party side of a
-- node ends remote sessions when the home node says so.

-- Provider side. A client's back-channel logout endpoint (NULL: it takes none). Peers are
-- registered with <peer>/sign-in/backchannel-logout.
ALTER TABLE oidc_clients ADD COLUMN backchannel_logout_uri TEXT;

-- The provider session (sid) an authorization code was issued in; copied into the ID token.
ALTER TABLE oidc_codes ADD COLUMN sid TEXT;

-- Sessions this provider started at relying parties: one row per (member, client, sid) that
-- received an ID token. "Sign out everywhere" sends a logout token to each client listed for
-- the member and deletes the rows. No foreign key on client_id: a peer's client is
-- registered again (deleted and added) when its keys change, and its sessions stay.
CREATE TABLE oidc_rp_sessions (
  id         INTEGER PRIMARY KEY,
  member_id  INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
  client_id  TEXT NOT NULL,
  sid        TEXT NOT NULL,
  created_at INTEGER NOT NULL,                 -- unix seconds
  expires_at INTEGER NOT NULL,                 -- forgotten after this (the RP's session is over)
  UNIQUE (member_id, client_id, sid)
);
CREATE INDEX oidc_rp_sessions_expires ON oidc_rp_sessions(expires_at);

-- Relying-party side. The home node's sid of a remote member's session (NULL: none given).
ALTER TABLE remote_sessions ADD COLUMN sid TEXT;
CREATE INDEX remote_sessions_sid ON remote_sessions(home_node, sid);

-- jti values of logout tokens already accepted, kept until the token expires, so that a
-- replayed logout token is refused.
CREATE TABLE logout_token_jtis (
  id         INTEGER PRIMARY KEY,
  issuer     TEXT NOT NULL,
  jti        TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  UNIQUE (issuer, jti)
);
CREATE INDEX logout_token_jtis_expires ON logout_token_jtis(expires_at);
