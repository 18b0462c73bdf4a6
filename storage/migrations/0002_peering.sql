-- Peering: the nodes we federate with, the keys they publish, and the audit log of every
-- peering change. SQL for these tables lives in federation/peer_store.cc.

-- One row per peer node. node_id is the peer's base URL (its identity on the wire).
-- state follows the peering state machine in federation/peering.h.
CREATE TABLE peers (
  id               INTEGER PRIMARY KEY,
  node_id          TEXT NOT NULL UNIQUE,
  name             TEXT NOT NULL DEFAULT '',
  organisation     TEXT NOT NULL DEFAULT '',
  state            TEXT NOT NULL CHECK (state IN ('requested', 'pending', 'active', 'suspended',
                                                  'revoked', 'rejected')),
  created_at       INTEGER NOT NULL,          -- unix seconds
  updated_at       INTEGER NOT NULL,
  last_contact_at  INTEGER,                   -- last successful exchange, either direction
  failures         INTEGER NOT NULL DEFAULT 0, -- consecutive failed outbound deliveries
  last_error       TEXT
);

-- The public keys a peer publishes (from its node document or a rotation announcement).
CREATE TABLE peer_keys (
  id          INTEGER PRIMARY KEY,
  peer        INTEGER NOT NULL REFERENCES peers(id) ON DELETE CASCADE,
  kid         TEXT NOT NULL,
  public_key  BLOB NOT NULL CHECK (length(public_key) = 32),
  created_at  INTEGER NOT NULL,
  not_after   INTEGER,                        -- NULL: no end of validity announced
  status      TEXT NOT NULL DEFAULT 'current' CHECK (status IN ('current', 'retiring', 'retired')),
  UNIQUE (peer, kid)
);
CREATE INDEX peer_keys_kid ON peer_keys(kid);

-- Append-only record of every peering change: who, when, what, from where.
CREATE TABLE audit (
  id      INTEGER PRIMARY KEY,
  at      INTEGER NOT NULL,                   -- unix seconds
  actor   TEXT NOT NULL,                      -- "kithctl" or "peer:<base url>"
  action  TEXT NOT NULL,                      -- e.g. "peer.request", "peer.suspend", "keys.rotate"
  peer    TEXT,                               -- the peer's node id, when one is concerned
  detail  TEXT NOT NULL DEFAULT '{}',         -- JSON object
  source  TEXT NOT NULL DEFAULT ''            -- remote address, or "admin.sock"
);
