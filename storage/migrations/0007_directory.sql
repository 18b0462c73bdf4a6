-- The directory stream and the search index (issue 6). groups/directory.h, groups/search.h.

-- Projection of `directory@<domain>` streams (this node's own and its peers'). `local` is 1 for
-- rows of this node's own stream (set by the writer; local people and groups are indexed from
-- `members` and `groups` instead).
CREATE TABLE directory_people (
  stream_id    INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
  address      TEXT NOT NULL,                  -- 'handle@domain'
  display_name TEXT NOT NULL,
  organisation TEXT NOT NULL DEFAULT '',
  job_title    TEXT NOT NULL DEFAULT '',
  bio          TEXT NOT NULL DEFAULT '',
  updated_at   INTEGER NOT NULL,               -- the event's time
  local        INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (stream_id, address)
) WITHOUT ROWID;
CREATE INDEX directory_people_by_address ON directory_people (address);

CREATE TABLE directory_groups (
  stream_id    INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
  ref          TEXT NOT NULL,                  -- 'slug@domain'
  name         TEXT NOT NULL,
  description  TEXT NOT NULL DEFAULT '',
  tags         TEXT NOT NULL DEFAULT '[]',     -- JSON array, sorted
  visibility   TEXT NOT NULL CHECK (visibility IN ('public', 'restricted')),
  join_policy  TEXT NOT NULL CHECK (join_policy IN ('open', 'request', 'invite')),
  status       TEXT NOT NULL CHECK (status IN ('active', 'archived')),
  member_count INTEGER NOT NULL DEFAULT 0,
  updated_at   INTEGER NOT NULL,
  local        INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (stream_id, ref)
) WITHOUT ROWID;
CREATE INDEX directory_groups_by_ref ON directory_groups (ref);

-- The search index: one row per searchable thing, with what the permission checks and filters
-- need, and an FTS5 external-content table over (title, body). Written only by the triggers
-- below, in the transaction of the projection change.
CREATE TABLE search_docs (
  id           INTEGER PRIMARY KEY,
  kind         TEXT NOT NULL CHECK (kind IN ('person', 'group', 'thread', 'post', 'document')),
  member_id    INTEGER,                        -- local person: members.id
  stream_id    INTEGER,                        -- group / content: the group's stream; remote
                                               -- person / listing: the directory stream
  item_id      INTEGER,                        -- thread, post or document id
  thread_id    INTEGER,                        -- post: its thread
  address      TEXT NOT NULL DEFAULT '',       -- person: address (local: the handle only);
                                               -- group / content: 'slug@domain'
  domain       TEXT,                           -- the person's / group's domain; NULL: this node
  organisation TEXT NOT NULL DEFAULT '',
  job_title    TEXT NOT NULL DEFAULT '',
  visibility   TEXT NOT NULL,                  -- network|node or public|restricted|private
  title        TEXT NOT NULL DEFAULT '',
  body         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX search_docs_by_member ON search_docs (member_id) WHERE member_id IS NOT NULL;
CREATE INDEX search_docs_by_stream ON search_docs (stream_id, kind, item_id);
CREATE INDEX search_docs_by_address ON search_docs (kind, address);
-- What the permission checks and filters read for every match, narrow (covering), so that a
-- query with thousands of matches does not read thousands of wide rows.
CREATE INDEX search_docs_acl ON search_docs (id, kind, visibility, stream_id, domain, organisation);

CREATE VIRTUAL TABLE search_fts USING fts5(
  title, body, content = 'search_docs', content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4');

CREATE TRIGGER search_docs_ai AFTER INSERT ON search_docs BEGIN
  INSERT INTO search_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
END;
CREATE TRIGGER search_docs_ad AFTER DELETE ON search_docs BEGIN
  INSERT INTO search_fts (search_fts, rowid, title, body)
    VALUES ('delete', old.id, old.title, old.body);
END;
CREATE TRIGGER search_docs_au AFTER UPDATE OF title, body ON search_docs BEGIN
  INSERT INTO search_fts (search_fts, rowid, title, body)
    VALUES ('delete', old.id, old.title, old.body);
  INSERT INTO search_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
END;

-- A stream that goes (a dropped private group) takes its index rows with it.
CREATE TRIGGER search_streams_bd BEFORE DELETE ON streams BEGIN
  DELETE FROM search_docs WHERE stream_id = old.id;
END;

-- Local members: active, with visibility network or node.
CREATE TRIGGER search_members_ai AFTER INSERT ON members
WHEN new.status = 'active' AND new.visibility IN ('network', 'node') BEGIN
  INSERT INTO search_docs (kind, member_id, address, domain, organisation, job_title,
                           visibility, title, body)
    VALUES ('person', new.id, new.handle, NULL, new.organisation, new.job_title, new.visibility,
            new.display_name,
            new.handle || ' ' || new.job_title || ' ' || new.organisation || ' ' || new.bio);
END;
CREATE TRIGGER search_members_au
AFTER UPDATE OF handle, display_name, organisation, job_title, bio, visibility, status ON members
BEGIN
  DELETE FROM search_docs WHERE member_id = old.id;
  INSERT INTO search_docs (kind, member_id, address, domain, organisation, job_title,
                           visibility, title, body)
    SELECT 'person', new.id, new.handle, NULL, new.organisation, new.job_title, new.visibility,
           new.display_name,
           new.handle || ' ' || new.job_title || ' ' || new.organisation || ' ' || new.bio
    WHERE new.status = 'active' AND new.visibility IN ('network', 'node');
END;
CREATE TRIGGER search_members_ad AFTER DELETE ON members BEGIN
  DELETE FROM search_docs WHERE member_id = old.id;
END;

-- Remote profiles (rows of peers' directory streams).
CREATE TRIGGER search_dpeople_ai AFTER INSERT ON directory_people WHEN new.local = 0 BEGIN
  INSERT INTO search_docs (kind, stream_id, address, domain, organisation, job_title,
                           visibility, title, body)
    VALUES ('person', new.stream_id, new.address,
            substr(new.address, instr(new.address, '@') + 1), new.organisation, new.job_title,
            'network', new.display_name,
            new.address || ' ' || new.job_title || ' ' || new.organisation || ' ' || new.bio);
END;
CREATE TRIGGER search_dpeople_au AFTER UPDATE ON directory_people BEGIN
  DELETE FROM search_docs
    WHERE kind = 'person' AND address = old.address AND stream_id = old.stream_id;
  INSERT INTO search_docs (kind, stream_id, address, domain, organisation, job_title,
                           visibility, title, body)
    SELECT 'person', new.stream_id, new.address,
           substr(new.address, instr(new.address, '@') + 1), new.organisation, new.job_title,
           'network', new.display_name,
           new.address || ' ' || new.job_title || ' ' || new.organisation || ' ' || new.bio
    WHERE new.local = 0;
END;
CREATE TRIGGER search_dpeople_ad AFTER DELETE ON directory_people BEGIN
  DELETE FROM search_docs
    WHERE kind = 'person' AND address = old.address AND stream_id = old.stream_id;
END;

-- Groups known here (owned or mirrored): a group row replaces a listing of the same group.
CREATE TRIGGER search_groups_ai AFTER INSERT ON groups BEGIN
  DELETE FROM search_docs WHERE kind = 'group' AND address = new.slug || '@' || new.domain;
  INSERT INTO search_docs (kind, stream_id, address, domain, visibility, title, body)
    VALUES ('group', new.stream_id, new.slug || '@' || new.domain, new.domain, new.visibility,
            new.name, new.description || ' ' || new.tags);
END;
CREATE TRIGGER search_groups_au AFTER UPDATE ON groups BEGIN
  DELETE FROM search_docs WHERE kind = 'group' AND stream_id = old.stream_id;
  INSERT INTO search_docs (kind, stream_id, address, domain, visibility, title, body)
    VALUES ('group', new.stream_id, new.slug || '@' || new.domain, new.domain, new.visibility,
            new.name, new.description || ' ' || new.tags);
  UPDATE search_docs SET visibility = new.visibility
    WHERE stream_id = new.stream_id AND kind IN ('thread', 'post', 'document')
      AND new.visibility <> old.visibility;
END;
CREATE TRIGGER search_groups_ad AFTER DELETE ON groups BEGIN
  DELETE FROM search_docs WHERE kind = 'group' AND stream_id = old.stream_id;
  INSERT INTO search_docs (kind, stream_id, address, domain, visibility, title, body)
    SELECT 'group', g.stream_id, g.ref, substr(g.ref, instr(g.ref, '@') + 1), g.visibility,
           g.name, g.description || ' ' || g.tags
    FROM directory_groups g
    WHERE g.ref = old.slug || '@' || old.domain AND g.local = 0
    LIMIT 1;
END;

-- Remote listings, unless the group itself is known here.
CREATE TRIGGER search_dgroups_ai AFTER INSERT ON directory_groups
WHEN new.local = 0 AND NOT EXISTS (
  SELECT 1 FROM groups
    WHERE slug = substr(new.ref, 1, instr(new.ref, '@') - 1)
      AND domain = substr(new.ref, instr(new.ref, '@') + 1)) BEGIN
  INSERT INTO search_docs (kind, stream_id, address, domain, visibility, title, body)
    VALUES ('group', new.stream_id, new.ref, substr(new.ref, instr(new.ref, '@') + 1),
            new.visibility, new.name, new.description || ' ' || new.tags);
END;
CREATE TRIGGER search_dgroups_au AFTER UPDATE ON directory_groups BEGIN
  DELETE FROM search_docs
    WHERE kind = 'group' AND address = old.ref AND stream_id = old.stream_id;
  INSERT INTO search_docs (kind, stream_id, address, domain, visibility, title, body)
    SELECT 'group', new.stream_id, new.ref, substr(new.ref, instr(new.ref, '@') + 1),
           new.visibility, new.name, new.description || ' ' || new.tags
    WHERE new.local = 0 AND NOT EXISTS (
      SELECT 1 FROM groups
    WHERE slug = substr(new.ref, 1, instr(new.ref, '@') - 1)
      AND domain = substr(new.ref, instr(new.ref, '@') + 1));
END;
CREATE TRIGGER search_dgroups_ad AFTER DELETE ON directory_groups BEGIN
  DELETE FROM search_docs
    WHERE kind = 'group' AND address = old.ref AND stream_id = old.stream_id;
END;

-- Group content. A thread's row holds its title and its first post's body; replies are
-- rows of their own; deleted posts and threads and removed documents leave the index.
CREATE TRIGGER search_threads_ai AFTER INSERT ON threads BEGIN
  INSERT INTO search_docs (kind, stream_id, item_id, thread_id, address, domain, visibility,
                           title, body)
    SELECT 'thread', new.stream_id, new.id, new.id, g.slug || '@' || g.domain, g.domain,
           g.visibility, new.title,
           COALESCE((SELECT body FROM posts WHERE stream_id = new.stream_id AND id = new.id),
                    '')
    FROM groups g WHERE g.stream_id = new.stream_id AND new.deleted = 0;
END;
CREATE TRIGGER search_threads_au AFTER UPDATE OF title, deleted ON threads BEGIN
  DELETE FROM search_docs
    WHERE stream_id = old.stream_id AND kind = 'thread' AND item_id = old.id
      AND new.deleted = 1;
  UPDATE search_docs SET title = new.title
    WHERE stream_id = new.stream_id AND kind = 'thread' AND item_id = new.id
      AND new.deleted = 0 AND title <> new.title;
END;
CREATE TRIGGER search_threads_ad AFTER DELETE ON threads BEGIN
  DELETE FROM search_docs WHERE stream_id = old.stream_id AND kind = 'thread' AND item_id = old.id;
END;

CREATE TRIGGER search_posts_ai AFTER INSERT ON posts BEGIN
  UPDATE search_docs SET body = new.body
    WHERE stream_id = new.stream_id AND kind = 'thread' AND item_id = new.id
      AND new.id = new.thread_id;
  INSERT INTO search_docs (kind, stream_id, item_id, thread_id, address, domain, visibility,
                           title, body)
    SELECT 'post', new.stream_id, new.id, new.thread_id, g.slug || '@' || g.domain, g.domain,
           g.visibility, '', new.body
    FROM groups g
    WHERE g.stream_id = new.stream_id AND new.id <> new.thread_id AND new.deleted = 0;
END;
CREATE TRIGGER search_posts_au AFTER UPDATE OF body, deleted ON posts BEGIN
  UPDATE search_docs SET body = new.body
    WHERE stream_id = new.stream_id AND kind = 'thread' AND item_id = new.id
      AND new.id = new.thread_id;
  DELETE FROM search_docs
    WHERE stream_id = old.stream_id AND kind = 'post' AND item_id = old.id
      AND (new.deleted = 1 OR new.body <> old.body);
  INSERT INTO search_docs (kind, stream_id, item_id, thread_id, address, domain, visibility,
                           title, body)
    SELECT 'post', new.stream_id, new.id, new.thread_id, g.slug || '@' || g.domain, g.domain,
           g.visibility, '', new.body
    FROM groups g
    WHERE g.stream_id = new.stream_id AND new.id <> new.thread_id AND new.deleted = 0
      AND new.body <> old.body;
END;
CREATE TRIGGER search_posts_ad AFTER DELETE ON posts BEGIN
  DELETE FROM search_docs WHERE stream_id = old.stream_id AND kind = 'post' AND item_id = old.id;
END;

CREATE TRIGGER search_documents_ai AFTER INSERT ON documents BEGIN
  INSERT INTO search_docs (kind, stream_id, item_id, address, domain, visibility, title, body)
    SELECT 'document', new.stream_id, new.id, g.slug || '@' || g.domain, g.domain,
           g.visibility, new.title, new.description || ' ' || new.tags
    FROM groups g WHERE g.stream_id = new.stream_id AND new.deleted = 0;
END;
CREATE TRIGGER search_documents_au
AFTER UPDATE OF title, description, tags, deleted ON documents BEGIN
  DELETE FROM search_docs
    WHERE stream_id = old.stream_id AND kind = 'document' AND item_id = old.id;
  INSERT INTO search_docs (kind, stream_id, item_id, address, domain, visibility, title, body)
    SELECT 'document', new.stream_id, new.id, g.slug || '@' || g.domain, g.domain,
           g.visibility, new.title, new.description || ' ' || new.tags
    FROM groups g WHERE g.stream_id = new.stream_id AND new.deleted = 0;
END;
CREATE TRIGGER search_documents_ad AFTER DELETE ON documents BEGIN
  DELETE FROM search_docs
    WHERE stream_id = old.stream_id AND kind = 'document' AND item_id = old.id;
END;

-- What existed before this migration.
INSERT INTO search_docs (kind, member_id, address, domain, organisation, job_title, visibility,
                         title, body)
  SELECT 'person', id, handle, NULL, organisation, job_title, visibility, display_name,
         handle || ' ' || job_title || ' ' || organisation || ' ' || bio
  FROM members WHERE status = 'active' AND visibility IN ('network', 'node');
INSERT INTO search_docs (kind, stream_id, address, domain, visibility, title, body)
  SELECT 'group', stream_id, slug || '@' || domain, domain, visibility, name,
         description || ' ' || tags
  FROM groups;
INSERT INTO search_docs (kind, stream_id, item_id, thread_id, address, domain, visibility,
                         title, body)
  SELECT 'thread', t.stream_id, t.id, t.id, g.slug || '@' || g.domain, g.domain, g.visibility,
         t.title, COALESCE(p.body, '')
  FROM threads t JOIN groups g ON g.stream_id = t.stream_id
  LEFT JOIN posts p ON p.stream_id = t.stream_id AND p.id = t.id
  WHERE t.deleted = 0;
INSERT INTO search_docs (kind, stream_id, item_id, thread_id, address, domain, visibility,
                         title, body)
  SELECT 'post', p.stream_id, p.id, p.thread_id, g.slug || '@' || g.domain, g.domain,
         g.visibility, '', p.body
  FROM posts p JOIN groups g ON g.stream_id = p.stream_id
  WHERE p.deleted = 0 AND p.id <> p.thread_id;
INSERT INTO search_docs (kind, stream_id, item_id, address, domain, visibility, title, body)
  SELECT 'document', d.stream_id, d.id, g.slug || '@' || g.domain, g.domain, g.visibility,
         d.title, d.description || ' ' || d.tags
  FROM documents d JOIN groups g ON g.stream_id = d.stream_id
  WHERE d.deleted = 0;
