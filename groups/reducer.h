// The reducers of group streams: one function per event type that updates the projection
// tables (groups, group_members, group_requests, group_invites, threads, posts, documents,
// document_versions) from one event. They use only the event and the current projection —
// never the clock or anything node-local — so that the owner and every mirror that apply the
// same events reach the same state (GroupStore::Digest compares it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "groups/event.h"
#include "storage/database.h"
#include "storage/result.h"

namespace kith::groups {

// Applies `event` to the projection of the stream whose `streams` row id is `stream_id`.
// The event's data is validated (ValidateEventData) first. An impossible event (anything
// before group.created, a second group.created, a post into an unknown thread, an edit of an
// unknown or deleted post, a role change of a non-member, ...) returns kInvalidArgument
// naming the seq and why; the caller must then discard the job (the writer's savepoint does).
// Does not touch `events` or `streams.head`. Runs on the writer's connection.
Status Apply(storage::Database& db, int64_t stream_id, const Event& event);

// Tags as stored: sorted, duplicates removed, as a JSON array text.
std::string CanonicalTags(const nlohmann::json& tags);

}  // namespace kith::groups
