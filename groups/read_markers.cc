// ReadMarkers (groups/read_markers.h): the SQL of table read_markers.
#include "groups/read_markers.h"

#include <functional>
#include <utility>

namespace kith::groups {

Result<std::map<int64_t, int64_t>> ReadMarkers::Get(std::string_view member,
                                                    std::string_view stream) {
  return store_.Read([&](storage::Database& db) -> Result<std::map<int64_t, int64_t>> {
    auto stmt =
        db.Cached("SELECT thread_id, read_at FROM read_markers WHERE member = ?1 AND stream = ?2");
    if (!stmt.ok()) return std::move(stmt).error();
    storage::StatementReset reset{*stmt};
    (*stmt)->Bind(1, member).Bind(2, stream);
    std::map<int64_t, int64_t> out;
    while (true) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return std::move(row).error();
      if (!*row) break;
      out[(*stmt)->ColumnInt(0)] = (*stmt)->ColumnInt(1);
    }
    return out;
  });
}

void ReadMarkers::Mark(std::string member, std::string stream, int64_t thread_id, int64_t read_at,
                       identity::Done<void> done) {
  identity::SubmitWrite(
      store_.writer(),
      std::function<Status(storage::Database&)>([member, stream, thread_id,
                                                 read_at](storage::Database& db) -> Status {
        auto stmt = db.Cached(
            "INSERT INTO read_markers (member, stream, thread_id, read_at) "
            "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (member, stream, thread_id) "
            "DO UPDATE SET read_at = max(read_at, excluded.read_at)");
        if (!stmt.ok()) return std::move(stmt).error();
        storage::StatementReset reset{*stmt};
        return (*stmt)->Bind(1, member).Bind(2, stream).Bind(3, thread_id).Bind(4, read_at).Run();
      }),
      std::move(done));
}

}  // namespace kith::groups
