// Outbox: the sender side of remote commands in SQL (table `outbox`, storage/migrations/
// 0006_replication.sql). A command for a stream another node owns is stored here before it is
// sent, so that nothing is lost while the owner is unreachable; the Replicator's outbox loop
// delivers pending entries per owner in id order and records the owner's verdict.
//
// Writes run as writer jobs (the *In functions inside one); reads use a pooled connection.
// Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "federation/replication.h"
#include "groups/event.h"
#include "storage/database.h"
#include "storage/result.h"

namespace kith::federation {

// Inserts a pending entry. kConflict when the command id exists (a second Submit of the same
// command: the caller reads the existing entry).
Result<int64_t> InsertOutboxIn(storage::Database& db, const groups::Command& command,
                               std::string_view owner, int64_t now);

// Records a delivery attempt that failed: attempts + 1, last_error, next_attempt_at.
Status MarkRetryIn(storage::Database& db, int64_t id, std::string_view error,
                   int64_t next_attempt_at, int64_t now);
// The owner accepted it with `seq`.
Status MarkAcceptedIn(storage::Database& db, int64_t id, int64_t seq, int64_t now);
// The owner refused it (final): `error` is the owner's JSON error.
Status MarkRefusedIn(storage::Database& db, int64_t id, std::string_view error, int64_t now);

Result<std::optional<OutboxEntry>> FindOutboxEntry(storage::Database& db,
                                                   std::string_view command_id);
Result<std::vector<OutboxEntry>> OutboxOf(storage::Database& db, std::string_view actor,
                                          bool pending_only, size_t limit);
// The oldest pending entries for `owner` (id order), at most `limit`.
Result<std::vector<OutboxEntry>> PendingForOwner(storage::Database& db, std::string_view owner,
                                                 size_t limit);
// The owners with pending entries.
Result<std::vector<std::string>> OwnersWithPending(storage::Database& db);
// Whether a pending entry for `owner` references the file `sha256` in its data (the owner then
// may fetch those bytes from us).
Result<bool> OutboxReferencesFile(storage::Database& db, std::string_view owner,
                                  std::string_view sha256);

}  // namespace kith::federation
