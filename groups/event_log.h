// Reading the `events` table (storage/migrations/0005_groups.sql), internal to groups/: the log
// that group streams (GroupStore) and directory streams (DirectoryStore) share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "groups/event.h"
#include "storage/database.h"
#include "storage/result.h"

namespace kith::groups {

// The events of the stream whose `streams` row id is `stream_id` (named `stream`, which each
// event's `stream` is set to) with seq > `after`, ascending, at most `limit` and about
// `max_bytes` of JSON (at least one event when there is one). kInternal naming the seq when a
// stored event's data does not parse. The caller checks `limit` and `after`. Reads only; any
// connection.
Result<std::vector<Event>> ReadEventsAfterIn(storage::Database& db, int64_t stream_id,
                                             std::string_view stream, int64_t after, size_t limit,
                                             size_t max_bytes);

}  // namespace kith::groups
