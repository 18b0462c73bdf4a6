-- Groups as streams of events (issue 5). DESIGN.md, "The shape of the data".
--
-- A stream is an append-only log owned by one node; events are numbered 1, 2, 3, ... by the
-- owner. `events` is the log; every other groups table is a projection of it, written only by
-- the reducers in groups/reducer.cc, identically on the owner and on every mirror.
-- Thread, post and document ids are the seq of the event that created them, so they are the
-- same on every node.

-- Streams this node owns (owner = this node's domain) or mirrors.
CREATE TABLE streams (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,             -- 'group:<slug>@<domain>'
  owner      TEXT NOT NULL,                    -- the owner's domain, e.g. 'council-a.example'
  head       INTEGER NOT NULL DEFAULT 0,       -- last seq appended (owner) or applied (mirror)
  created_at INTEGER NOT NULL
);

-- The log. Bodies are the event's JSON `data` object, as the owner wrote it.
CREATE TABLE events (
  stream_id  INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
  seq        INTEGER NOT NULL,
  type       TEXT NOT NULL,
  actor      TEXT NOT NULL,                    -- 'handle@domain'
  at         INTEGER NOT NULL,                 -- unix seconds, set by the owner
  data       TEXT NOT NULL,                    -- JSON object
  PRIMARY KEY (stream_id, seq)
) WITHOUT ROWID;

-- One row per group (projection).
CREATE TABLE groups (
  stream_id   INTEGER PRIMARY KEY REFERENCES streams(id) ON DELETE CASCADE,
  slug        TEXT NOT NULL,
  domain      TEXT NOT NULL,
  name        TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  tags        TEXT NOT NULL DEFAULT '[]',      -- JSON array of strings, sorted
  visibility  TEXT NOT NULL CHECK (visibility IN ('public', 'restricted', 'private')),
  join_policy TEXT NOT NULL CHECK (join_policy IN ('open', 'request', 'invite')),
  status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
  created_by  TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  UNIQUE (slug, domain)
);

CREATE TABLE group_members (
  stream_id INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
  member    TEXT NOT NULL,                     -- 'handle@domain'
  role      TEXT NOT NULL CHECK (role IN ('owner', 'facilitator', 'member')),
  joined_at INTEGER NOT NULL,
  PRIMARY KEY (stream_id, member)
) WITHOUT ROWID;
CREATE INDEX group_members_by_member ON group_members (member);

CREATE TABLE group_requests (
  stream_id    INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
  member       TEXT NOT NULL,
  message      TEXT NOT NULL DEFAULT '',
  requested_at INTEGER NOT NULL,
  PRIMARY KEY (stream_id, member)
) WITHOUT ROWID;

CREATE TABLE group_invites (
  stream_id  INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
  member     TEXT NOT NULL,
  invited_by TEXT NOT NULL,
  invited_at INTEGER NOT NULL,
  PRIMARY KEY (stream_id, member)
) WITHOUT ROWID;

CREATE TABLE threads (
  stream_id    INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
  id           INTEGER NOT NULL,               -- seq of thread.created (also its first post)
  title        TEXT NOT NULL,
  author       TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  last_post_at INTEGER NOT NULL,
  reply_count  INTEGER NOT NULL DEFAULT 0,     -- posts after the first, not deleted
  pinned       INTEGER NOT NULL DEFAULT 0,
  locked       INTEGER NOT NULL DEFAULT 0,
  deleted      INTEGER NOT NULL DEFAULT 0,     -- its first post was deleted
  PRIMARY KEY (stream_id, id)
) WITHOUT ROWID;

CREATE TABLE posts (
  stream_id  INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
  id         INTEGER NOT NULL,                 -- seq of thread.created / post.created
  thread_id  INTEGER NOT NULL,
  author     TEXT NOT NULL,
  body       TEXT NOT NULL,                    -- Markdown; '' once deleted
  created_at INTEGER NOT NULL,
  edited_at  INTEGER,                          -- NULL: never edited
  edited_by  TEXT,
  deleted    INTEGER NOT NULL DEFAULT 0,       -- tombstone: body gone
  PRIMARY KEY (stream_id, id)
) WITHOUT ROWID;
CREATE INDEX posts_by_thread ON posts (stream_id, thread_id, id);

CREATE TABLE documents (
  stream_id   INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
  id          INTEGER NOT NULL,                -- seq of file.added
  title       TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  tags        TEXT NOT NULL DEFAULT '[]',
  author      TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  version     INTEGER NOT NULL DEFAULT 1,      -- current version number
  deleted     INTEGER NOT NULL DEFAULT 0,      -- tombstone
  PRIMARY KEY (stream_id, id)
) WITHOUT ROWID;

CREATE TABLE document_versions (
  stream_id   INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
  document_id INTEGER NOT NULL,
  version     INTEGER NOT NULL,
  sha256      TEXT NOT NULL,                   -- lower-case hex of the content
  size        INTEGER NOT NULL,
  media_type  TEXT NOT NULL,
  filename    TEXT NOT NULL,
  author      TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (stream_id, document_id, version)
) WITHOUT ROWID;
CREATE INDEX document_versions_by_hash ON document_versions (sha256);
