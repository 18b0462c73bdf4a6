// Decide: the rules of who may do what in a group (groups/group_store.h, "Decision rules").
//
// The owner decides every command against its projection before appending it; a mirror
// decides against its copy to refuse at once what the owner would refuse.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "groups/event.h"
#include "storage/database.h"
#include "storage/result.h"

namespace kith::groups {

// Decides `command` against the projection of the stream whose `streams` row id is
// `stream_id` (0: the stream is not known here, which only group.created accepts). Checks the
// command's shape (stream name, type, actor, data, command id) first. Returns the data of the
// event to append: the command's data restricted to the fields its type defines.
// Errors: kInvalidArgument (bad data), kNotFound (no group/thread/post/document),
// kPermissionDenied (the actor's role or identity does not allow it; the message names the
// rule), kConflict (duplicate, or reason "failed_precondition" for state: archived, locked,
// deleted, last owner). Reads only; any connection.
Result<nlohmann::json> Decide(storage::Database& db, int64_t stream_id, const Command& command);

// Checks a command id: 1-100 characters of [A-Za-z0-9_-]. kInvalidArgument.
Status ValidateCommandId(std::string_view command_id);

}  // namespace kith::groups
