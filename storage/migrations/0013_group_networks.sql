-- Groups scoped to one network (issue 7): `network` is the entity id of a network (OpenID
-- Federation, federation/entity_statement.h) set by group.created / group.updated; NULL for a
-- group open to every peer. Only this node's members and members of peers that reach the
-- network (peer_networks) may see or join a scoped group; its stream goes only to such peers
-- and its listing stays out of the directory stream. Written by the reducers (groups/reducer.cc).
ALTER TABLE groups ADD COLUMN network TEXT;
