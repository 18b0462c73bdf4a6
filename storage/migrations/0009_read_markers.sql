-- Read markers for the members' home page (issue 6, "Web pages"): per member and thread, the
-- last_post_at the member had seen when they last opened the thread. A thread whose
-- last_post_at is newer (or that was never opened and was started by someone else) counts as
-- unread. Node-local: never replicated. SQL in node/group_pages_read_markers.cc only.
CREATE TABLE read_markers (
  member    TEXT NOT NULL,     -- "handle@domain"
  stream    TEXT NOT NULL,     -- "group:slug@domain"
  thread_id INTEGER NOT NULL,
  read_at   INTEGER NOT NULL,  -- the thread's last_post_at when it was read (unix seconds)
  PRIMARY KEY (member, stream, thread_id)
) WITHOUT ROWID;
