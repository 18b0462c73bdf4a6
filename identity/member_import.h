// Bulk import of members from CSV (RFC 4180: quoted fields, "" escapes, embedded commas and
// newlines, CRLF or LF line ends, an optional UTF-8 BOM).
//
// The header row names the columns, in any order: handle, display_name, email, organisation,
// job_title are required; password is optional (an empty cell means "no password yet").
// Unknown columns are refused. Every row is validated (member rules, password rules,
// duplicates inside the file and against the database); if any row is rejected NOTHING is
// imported and the report lists each rejected row with its line number and reason.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "identity/member.h"
#include "identity/member_store.h"
#include "identity/password.h"
#include "identity/write_result.h"

namespace kith::identity {

inline constexpr size_t kMaxImportBytes = 64 * 1024 * 1024;
inline constexpr size_t kMaxImportRows = 200'000;

// One CSV record and the physical line (1-based) it starts on.
struct CsvRecord {
  size_t line = 0;
  std::vector<std::string> fields;
};

// Splits CSV text into records. kInvalidArgument naming the line for an unterminated quote,
// a character after a closing quote, or text over kMaxImportBytes. Blank lines are skipped.
Result<std::vector<CsvRecord>> ParseCsv(std::string_view text);

// A member row ready for import, its line and its password (empty: none).
struct ImportRow {
  size_t line = 0;
  NewMember member;
  SecretString password;
};

// The rows of a member CSV, and the rows rejected on their own (validation, duplicates inside
// the file). kInvalidArgument when the CSV or its header is unusable as a whole.
struct ParsedImport {
  std::vector<ImportRow> rows;
  std::vector<RejectedRow> rejected;
  size_t total_rows = 0;
};
Result<ParsedImport> ParseMemberCsv(std::string_view text);

// Parses, validates, hashes the passwords on `hasher` (a few at a time, never on the caller's
// thread) and inserts everything in ONE writer job via MemberStore::InsertAll. `done` gets the
// report (committed or not) or an Error when the CSV is unusable or the database fails; it
// runs on a hasher or writer thread. `store` and `hasher` must outlive the import.
void ImportMembersCsv(MemberStore& store, PasswordHasher& hasher, std::string_view csv,
                      Done<ImportReport> done);

}  // namespace kith::identity
