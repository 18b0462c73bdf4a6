-- Replication of streams between nodes (issue 5). docs/federation.md, "Streams".

-- Owner side: the nodes that receive a stream and how far each acknowledged. A node is a
-- subscriber while it has a member in the group or follows it (public groups); when it stops
-- being one at event N, until_seq = N: it still gets events up to N (so that it learns it
-- left), then the row goes.
CREATE TABLE subscriptions (
  stream_id INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
  node      TEXT NOT NULL,                     -- peer node id (its base URL)
  acked     INTEGER NOT NULL DEFAULT 0,        -- last seq the node acknowledged
  until_seq INTEGER,                           -- NULL: subscribed
  following INTEGER NOT NULL DEFAULT 0,        -- the node follows the (public) group
  PRIMARY KEY (stream_id, node)
) WITHOUT ROWID;
CREATE INDEX subscriptions_by_node ON subscriptions (node);

-- Owner side: commands accepted from peers, by the sender's command id, so that a command
-- sent twice is applied once and answered with the same seq.
CREATE TABLE accepted_commands (
  id          INTEGER PRIMARY KEY,
  node        TEXT NOT NULL,                   -- the sending node's id
  command_id  TEXT NOT NULL,
  stream_id   INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
  seq         INTEGER NOT NULL,
  accepted_at INTEGER NOT NULL,
  UNIQUE (node, command_id)
);

-- Sender side: commands for streams other nodes own, kept until the owner answered.
CREATE TABLE outbox (
  id              INTEGER PRIMARY KEY,
  command_id      TEXT NOT NULL UNIQUE,        -- random, the idempotency key
  stream          TEXT NOT NULL,               -- 'group:<slug>@<domain>'
  owner           TEXT NOT NULL,               -- the owner's node id (base URL)
  actor           TEXT NOT NULL,               -- 'handle@domain' (one of ours)
  type            TEXT NOT NULL,
  data            TEXT NOT NULL,               -- JSON object
  state           TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'accepted', 'refused')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT NOT NULL DEFAULT '',    -- why the last attempt failed (pending)
  seq             INTEGER,                     -- accepted: the event's seq at the owner
  error           TEXT,                        -- refused: the owner's JSON error
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX outbox_pending ON outbox (state, owner, id);
CREATE INDEX outbox_by_actor ON outbox (actor, id);
