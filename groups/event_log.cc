#include "groups/event_log.h"

#include <string>

namespace kith::groups {

Result<std::vector<Event>> ReadEventsAfterIn(storage::Database& db, int64_t stream_id,
                                             std::string_view stream, int64_t after, size_t limit,
                                             size_t max_bytes) {
  auto stmt = db.Cached(
      "SELECT seq, type, actor, at, data FROM events WHERE stream_id = ?1 AND seq > ?2 "
      "ORDER BY seq LIMIT ?3");
  if (!stmt.ok()) return stmt.error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, stream_id).Bind(2, after).Bind(3, static_cast<int64_t>(limit));
  std::vector<Event> out;
  size_t bytes = 0;
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    if (!*row) break;
    Event e;
    e.stream = std::string(stream);
    e.seq = (*stmt)->ColumnInt(0);
    e.type = (*stmt)->ColumnText(1);
    e.actor = (*stmt)->ColumnText(2);
    e.at = (*stmt)->ColumnInt(3);
    const std::string data = (*stmt)->ColumnText(4);
    const size_t size = data.size() + e.type.size() + e.actor.size() + 64;
    if (!out.empty() && bytes + size > max_bytes) break;
    e.data = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
    if (e.data.is_discarded())
      return MakeError(ErrorCode::kInternal, "event " + std::to_string(e.seq) + " of " +
                                                 std::string(stream) + " has unreadable data");
    bytes += size;
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace kith::groups
