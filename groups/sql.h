// Small helpers for the groups module's SQL (internal to groups/): run a cached statement with
// bound parameters, read one integer or text, and the lookups every part needs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/database.h"
#include "storage/result.h"

namespace kith::groups::sql {

inline void BindOne(storage::Statement& s, int index, int64_t v) { s.Bind(index, v); }
inline void BindOne(storage::Statement& s, int index, std::string_view v) { s.Bind(index, v); }

template <class... Args>
void BindAll(storage::Statement& s, const Args&... args) {
  int index = 0;
  (BindOne(s, ++index, args), ...);
}

// Runs an INSERT/UPDATE/DELETE (cached); returns the number of rows it changed.
template <class... Args>
Result<int64_t> Run(storage::Database& db, std::string_view sql, const Args&... args) {
  auto stmt = db.Cached(sql);
  if (!stmt.ok()) return stmt.error();
  storage::StatementReset reset{*stmt};
  BindAll(**stmt, args...);
  KITH_RETURN_IF_ERROR((*stmt)->Run());
  return db.Changes();
}

// Runs a query (cached) and returns column 0 of the first row as an integer, nullopt when no
// row.
template <class... Args>
Result<std::optional<int64_t>> Int(storage::Database& db, std::string_view sql,
                                   const Args&... args) {
  auto stmt = db.Cached(sql);
  if (!stmt.ok()) return stmt.error();
  storage::StatementReset reset{*stmt};
  BindAll(**stmt, args...);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.error();
  if (!*row || (*stmt)->ColumnIsNull(0)) return std::optional<int64_t>();
  return std::optional<int64_t>((*stmt)->ColumnInt(0));
}

// Like Int, for a text column.
template <class... Args>
Result<std::optional<std::string>> Text(storage::Database& db, std::string_view sql,
                                        const Args&... args) {
  auto stmt = db.Cached(sql);
  if (!stmt.ok()) return stmt.error();
  storage::StatementReset reset{*stmt};
  BindAll(**stmt, args...);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.error();
  if (!*row || (*stmt)->ColumnIsNull(0)) return std::optional<std::string>();
  return std::optional<std::string>((*stmt)->ColumnText(0));
}

}  // namespace kith::groups::sql
