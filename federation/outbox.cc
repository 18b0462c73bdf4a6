#include "federation/outbox.h"

#include <nlohmann/json.hpp>
#include <utility>

namespace kith::federation {

namespace {

constexpr std::string_view kColumns =
    "SELECT id, command_id, stream, owner, actor, type, data, state, attempts, last_error, seq, "
    "error, created_at, updated_at FROM outbox ";

OutboxEntry ReadEntry(const storage::Statement& stmt) {
  OutboxEntry e;
  e.id = stmt.ColumnInt(0);
  e.command_id = stmt.ColumnText(1);
  e.stream = stmt.ColumnText(2);
  e.owner = stmt.ColumnText(3);
  e.actor = stmt.ColumnText(4);
  e.type = stmt.ColumnText(5);
  e.data = nlohmann::json::parse(stmt.ColumnText(6), nullptr, false);
  if (e.data.is_discarded()) e.data = nlohmann::json::object();
  e.state = stmt.ColumnText(7);
  e.attempts = stmt.ColumnInt(8);
  e.last_error = stmt.ColumnText(9);
  if (!stmt.ColumnIsNull(10)) e.seq = stmt.ColumnInt(10);
  if (!stmt.ColumnIsNull(11)) e.error = stmt.ColumnText(11);
  e.created_at = stmt.ColumnInt(12);
  e.updated_at = stmt.ColumnInt(13);
  return e;
}

Result<std::vector<OutboxEntry>> ReadEntries(storage::Statement& stmt) {
  std::vector<OutboxEntry> out;
  for (;;) {
    auto row = stmt.Step();
    if (!row.ok()) return std::move(row).error();
    if (!*row) break;
    out.push_back(ReadEntry(stmt));
  }
  return out;
}

template <class Bind>
Status RunCached(storage::Database& db, std::string_view sql, Bind bind) {
  auto stmt = db.Cached(sql);
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  bind(**stmt);
  return (*stmt)->Run();
}

}  // namespace

Result<int64_t> InsertOutboxIn(storage::Database& db, const groups::Command& command,
                               std::string_view owner, int64_t now) {
  Status inserted = RunCached(
      db,
      "INSERT INTO outbox (command_id, stream, owner, actor, type, data, created_at, updated_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      [&](storage::Statement& s) {
        s.Bind(1, command.command_id)
            .Bind(2, command.stream)
            .Bind(3, owner)
            .Bind(4, command.actor)
            .Bind(5, command.type)
            .Bind(6, command.data.dump())
            .Bind(7, now)
            .Bind(8, now);
      });
  if (!inserted.ok()) return std::move(inserted).error();
  return db.LastInsertRowId();
}

Status MarkRetryIn(storage::Database& db, int64_t id, std::string_view error,
                   int64_t next_attempt_at, int64_t now) {
  return RunCached(
      db,
      "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, "
      "updated_at = ? WHERE id = ? AND state = 'pending'",
      [&](storage::Statement& s) {
        s.Bind(1, error.substr(0, 1000)).Bind(2, next_attempt_at).Bind(3, now).Bind(4, id);
      });
}

Status MarkAcceptedIn(storage::Database& db, int64_t id, int64_t seq, int64_t now) {
  return RunCached(db,
                   "UPDATE outbox SET state = 'accepted', attempts = attempts + 1, seq = ?, "
                   "last_error = '', updated_at = ? WHERE id = ?",
                   [&](storage::Statement& s) { s.Bind(1, seq).Bind(2, now).Bind(3, id); });
}

Status MarkRefusedIn(storage::Database& db, int64_t id, std::string_view error, int64_t now) {
  return RunCached(
      db,
      "UPDATE outbox SET state = 'refused', attempts = attempts + 1, error = ?, "
      "last_error = '', updated_at = ? WHERE id = ?",
      [&](storage::Statement& s) { s.Bind(1, error.substr(0, 2000)).Bind(2, now).Bind(3, id); });
}

Result<std::optional<OutboxEntry>> FindOutboxEntry(storage::Database& db,
                                                   std::string_view command_id) {
  auto stmt = db.Cached(std::string(kColumns) + "WHERE command_id = ?");
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, command_id);
  auto rows = ReadEntries(**stmt);
  if (!rows.ok()) return std::move(rows).error();
  if (rows->empty()) return std::optional<OutboxEntry>();
  return std::optional<OutboxEntry>(std::move(rows->front()));
}

Result<std::vector<OutboxEntry>> OutboxOf(storage::Database& db, std::string_view actor,
                                          bool pending_only, size_t limit) {
  auto stmt =
      db.Cached(std::string(kColumns) +
                "WHERE actor = ? AND (? = 0 OR state = 'pending') ORDER BY id DESC LIMIT ?");
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  (*stmt)
      ->Bind(1, actor)
      .Bind(2, int64_t{pending_only ? 1 : 0})
      .Bind(3, static_cast<int64_t>(limit));
  return ReadEntries(**stmt);
}

Result<std::vector<OutboxEntry>> PendingForOwner(storage::Database& db, std::string_view owner,
                                                 size_t limit) {
  auto stmt = db.Cached(std::string(kColumns) +
                        "WHERE state = 'pending' AND owner = ? ORDER BY id LIMIT ?");
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, owner).Bind(2, static_cast<int64_t>(limit));
  return ReadEntries(**stmt);
}

namespace {

// The first column of every row of `stmt` (already bound).
Result<std::vector<std::string>> ReadTexts(storage::Statement& stmt) {
  std::vector<std::string> out;
  for (;;) {
    auto row = stmt.Step();
    if (!row.ok()) return std::move(row).error();
    if (!*row) break;
    out.push_back(stmt.ColumnText(0));
  }
  return out;
}

}  // namespace

Result<std::vector<std::string>> OwnersWithPending(storage::Database& db) {
  auto stmt = db.Cached("SELECT DISTINCT owner FROM outbox WHERE state = 'pending'");
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  return ReadTexts(**stmt);
}

Result<bool> OutboxReferencesFile(storage::Database& db, std::string_view owner,
                                  std::string_view sha256) {
  auto stmt = db.Cached(
      "SELECT 1 FROM outbox WHERE owner = ? AND state <> 'refused' AND "
      "type IN ('file.added', 'file.version_added') AND json_extract(data, '$.sha256') = ? "
      "LIMIT 1");
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, owner).Bind(2, sha256);
  auto row = (*stmt)->Step();
  if (!row.ok()) return std::move(row).error();
  return *row;
}

}  // namespace kith::federation
