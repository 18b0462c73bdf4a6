-- Search (issue 6): tags are indexed as words, not as JSON text, so that a snippet shows
-- "climate waste" rather than ["climate","waste"] (the tags themselves reach a hit as a list,
-- read from the group or document at query time; groups/search.cc). The triggers of 0007 that
-- index tags are replaced with the same triggers indexing the tag words; the index rows of
-- groups, listings and documents are rewritten (search_docs_au re-indexes them).
--
-- Tag words of a JSON array `tags`:
--   (SELECT IFNULL(group_concat(value, ' '), '') FROM json_each(<tags if valid, else '[]'>))
-- A malformed value indexes no tags instead of failing the projection's write.

DROP TRIGGER search_groups_ai;
DROP TRIGGER search_groups_au;
DROP TRIGGER search_groups_ad;
DROP TRIGGER search_dgroups_ai;
DROP TRIGGER search_dgroups_au;
DROP TRIGGER search_documents_ai;
DROP TRIGGER search_documents_au;

-- Groups known here (owned or mirrored): a group row replaces a listing of the same group.
CREATE TRIGGER search_groups_ai AFTER INSERT ON groups BEGIN
  DELETE FROM search_docs WHERE kind = 'group' AND address = new.slug || '@' || new.domain;
  INSERT INTO search_docs (kind, stream_id, address, domain, visibility, title, body)
    VALUES ('group', new.stream_id, new.slug || '@' || new.domain, new.domain, new.visibility,
            new.name, new.description || ' ' || (SELECT IFNULL(group_concat(value, ' '), '') FROM json_each(CASE WHEN json_valid(new.tags) THEN new.tags ELSE '[]' END)));
END;
CREATE TRIGGER search_groups_au AFTER UPDATE ON groups BEGIN
  DELETE FROM search_docs WHERE kind = 'group' AND stream_id = old.stream_id;
  INSERT INTO search_docs (kind, stream_id, address, domain, visibility, title, body)
    VALUES ('group', new.stream_id, new.slug || '@' || new.domain, new.domain, new.visibility,
            new.name, new.description || ' ' || (SELECT IFNULL(group_concat(value, ' '), '') FROM json_each(CASE WHEN json_valid(new.tags) THEN new.tags ELSE '[]' END)));
  UPDATE search_docs SET visibility = new.visibility
    WHERE stream_id = new.stream_id AND kind IN ('thread', 'post', 'document')
      AND new.visibility <> old.visibility;
END;
CREATE TRIGGER search_groups_ad AFTER DELETE ON groups BEGIN
  DELETE FROM search_docs WHERE kind = 'group' AND stream_id = old.stream_id;
  INSERT INTO search_docs (kind, stream_id, address, domain, visibility, title, body)
    SELECT 'group', g.stream_id, g.ref, substr(g.ref, instr(g.ref, '@') + 1), g.visibility,
           g.name, g.description || ' ' || (SELECT IFNULL(group_concat(value, ' '), '') FROM json_each(CASE WHEN json_valid(g.tags) THEN g.tags ELSE '[]' END))
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
            new.visibility, new.name, new.description || ' ' || (SELECT IFNULL(group_concat(value, ' '), '') FROM json_each(CASE WHEN json_valid(new.tags) THEN new.tags ELSE '[]' END)));
END;
CREATE TRIGGER search_dgroups_au AFTER UPDATE ON directory_groups BEGIN
  DELETE FROM search_docs
    WHERE kind = 'group' AND address = old.ref AND stream_id = old.stream_id;
  INSERT INTO search_docs (kind, stream_id, address, domain, visibility, title, body)
    SELECT 'group', new.stream_id, new.ref, substr(new.ref, instr(new.ref, '@') + 1),
           new.visibility, new.name, new.description || ' ' || (SELECT IFNULL(group_concat(value, ' '), '') FROM json_each(CASE WHEN json_valid(new.tags) THEN new.tags ELSE '[]' END))
    WHERE new.local = 0 AND NOT EXISTS (
      SELECT 1 FROM groups
    WHERE slug = substr(new.ref, 1, instr(new.ref, '@') - 1)
      AND domain = substr(new.ref, instr(new.ref, '@') + 1));
END;

CREATE TRIGGER search_documents_ai AFTER INSERT ON documents BEGIN
  INSERT INTO search_docs (kind, stream_id, item_id, address, domain, visibility, title, body)
    SELECT 'document', new.stream_id, new.id, g.slug || '@' || g.domain, g.domain,
           g.visibility, new.title, new.description || ' ' || (SELECT IFNULL(group_concat(value, ' '), '') FROM json_each(CASE WHEN json_valid(new.tags) THEN new.tags ELSE '[]' END))
    FROM groups g WHERE g.stream_id = new.stream_id AND new.deleted = 0;
END;
CREATE TRIGGER search_documents_au
AFTER UPDATE OF title, description, tags, deleted ON documents BEGIN
  DELETE FROM search_docs
    WHERE stream_id = old.stream_id AND kind = 'document' AND item_id = old.id;
  INSERT INTO search_docs (kind, stream_id, item_id, address, domain, visibility, title, body)
    SELECT 'document', new.stream_id, new.id, g.slug || '@' || g.domain, g.domain,
           g.visibility, new.title, new.description || ' ' || (SELECT IFNULL(group_concat(value, ' '), '') FROM json_each(CASE WHEN json_valid(new.tags) THEN new.tags ELSE '[]' END))
    FROM groups g WHERE g.stream_id = new.stream_id AND new.deleted = 0;
END;

-- The rows indexed before this migration.
UPDATE search_docs
  SET body = (SELECT g.description || ' ' || (SELECT IFNULL(group_concat(value, ' '), '') FROM json_each(CASE WHEN json_valid(g.tags) THEN g.tags ELSE '[]' END))
              FROM groups g WHERE g.stream_id = search_docs.stream_id)
  WHERE kind = 'group'
    AND EXISTS (SELECT 1 FROM groups g WHERE g.stream_id = search_docs.stream_id);
UPDATE search_docs
  SET body = (SELECT l.description || ' ' || (SELECT IFNULL(group_concat(value, ' '), '') FROM json_each(CASE WHEN json_valid(l.tags) THEN l.tags ELSE '[]' END))
              FROM directory_groups l
              WHERE l.stream_id = search_docs.stream_id AND l.ref = search_docs.address)
  WHERE kind = 'group'
    AND EXISTS (SELECT 1 FROM directory_groups l
                WHERE l.stream_id = search_docs.stream_id AND l.ref = search_docs.address);
UPDATE search_docs
  SET body = (SELECT c.description || ' ' || (SELECT IFNULL(group_concat(value, ' '), '') FROM json_each(CASE WHEN json_valid(c.tags) THEN c.tags ELSE '[]' END))
              FROM documents c
              WHERE c.stream_id = search_docs.stream_id AND c.id = search_docs.item_id)
  WHERE kind = 'document'
    AND EXISTS (SELECT 1 FROM documents c
                WHERE c.stream_id = search_docs.stream_id AND c.id = search_docs.item_id);
