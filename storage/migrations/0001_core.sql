-- The node's own facts and keys.

-- Small key/value facts about this node (node id, creation time, ...).
CREATE TABLE node_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- The node's Ed25519 signing keys. The secret half lives in DATA_DIR/keys/<kid>.key (0600);
-- the database holds what the node document publishes.
CREATE TABLE node_keys (
  id          INTEGER PRIMARY KEY,
  kid         TEXT NOT NULL UNIQUE,
  algorithm   TEXT NOT NULL DEFAULT 'ed25519',
  public_key  BLOB NOT NULL,
  created_at  INTEGER NOT NULL,          -- unix seconds
  not_after   INTEGER,                   -- NULL: current key; else valid until this time
  status      TEXT NOT NULL DEFAULT 'current' CHECK (status IN ('current', 'retiring', 'retired'))
);

-- A scratch row /readyz rewrites to prove the database takes writes.
CREATE TABLE health_probe (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  checked_at INTEGER NOT NULL
);
