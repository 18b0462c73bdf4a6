-- Networks (issue 7): OpenID Federation 1.0 trust anchors and intermediates run by this node,
-- the anchors this node trusts, and the peers admitted automatically through a network.
-- SQL for these tables lives in federation/network_store.cc (and peer_store.cc for peers).

-- Networks this node operates. entity_id is <base url>/networks/<name>; the network signs
-- its statements with its own Ed25519 key (seed in DATA_DIR/keys/network-<name>.key, 0600),
-- whose fingerprint members configure with `kithctl network trust`.
CREATE TABLE networks (
  id                  INTEGER PRIMARY KEY,
  name                TEXT NOT NULL UNIQUE,     -- [a-z0-9-], 1..63
  entity_id           TEXT NOT NULL UNIQUE,
  display_name        TEXT NOT NULL DEFAULT '',
  superior            TEXT,                     -- NULL: a trust anchor; else an intermediate of it
  kid                 TEXT NOT NULL,
  public_key          BLOB NOT NULL CHECK (length(public_key) = 32),
  statement_lifetime  INTEGER NOT NULL DEFAULT 86400,  -- seconds
  created_at          INTEGER NOT NULL
);

-- The members of a network: nodes (leaves) or other networks (intermediates).
CREATE TABLE network_members (
  id               INTEGER PRIMARY KEY,
  network          INTEGER NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
  entity_id        TEXT NOT NULL,
  organisation     TEXT NOT NULL DEFAULT '',
  jwks             TEXT NOT NULL,               -- {"keys":[...]}: the member's keys, as registered
  intermediate     INTEGER NOT NULL DEFAULT 0,  -- 1: the member is itself a network
  max_path_length  INTEGER,                     -- constraint put in statements about it
  added_at         INTEGER NOT NULL,
  withdrawn_at     INTEGER,                     -- NULL while a member
  statement        TEXT,                        -- current subordinate statement (compact JWS)
  statement_iat    INTEGER,
  statement_exp    INTEGER,
  last_contact_at  INTEGER,                     -- last good fetch of the member's configuration
  last_error       TEXT,
  UNIQUE (network, entity_id)
);

-- Trust anchors this node trusts: it peers automatically with nodes holding a valid chain.
CREATE TABLE trusted_anchors (
  id           INTEGER PRIMARY KEY,
  entity_id    TEXT NOT NULL UNIQUE,
  fingerprint  TEXT NOT NULL,
  added_at     INTEGER NOT NULL
);

-- The networks this node belongs to (its entity configuration's authority_hints), as found
-- in the member lists of trusted networks.
CREATE TABLE authority_hints (
  entity_id      TEXT PRIMARY KEY,
  discovered_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- Which networks each peer reaches through a valid chain (every entity on the chain above
-- the peer), until when. Used for network-scoped groups and the operator's view.
CREATE TABLE peer_networks (
  peer_node_id  TEXT NOT NULL,
  network       TEXT NOT NULL,
  anchor        TEXT NOT NULL,
  expires_at    INTEGER NOT NULL,
  PRIMARY KEY (peer_node_id, network)
) WITHOUT ROWID;

-- How a peering came about: 'operator' (pairwise, kithctl) or 'network' (a trust chain).
-- A peering suspended or revoked by an operator is never resumed by a network.
ALTER TABLE peers ADD COLUMN admitted_by TEXT NOT NULL DEFAULT 'operator';
ALTER TABLE peers ADD COLUMN suspended_by TEXT;  -- 'operator' | 'network' while suspended

-- Node administrators (the operator page, /admin/network).
ALTER TABLE members ADD COLUMN node_admin INTEGER NOT NULL DEFAULT 0;
