#include "identity/member_import.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include <sodium.h>

namespace kith::identity {
namespace {

Error CsvError(size_t line, std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, "CSV line " + std::to_string(line) + ": " + message,
                   "invalid_csv");
}

// How many passwords are hashed at once during an import; the hasher's queue stays short so
// that sign-ins are not starved behind thousands of import rows.
constexpr size_t kHashesInFlight = 2;

// Shared state of one running import.
struct ImportJob {
  MemberStore* store = nullptr;
  PasswordHasher* hasher = nullptr;
  ParsedImport parsed;
  Done<ImportReport> done;
  std::mutex mu;
  size_t next = 0;      // next row to hash
  size_t finished = 0;  // rows hashed (or without a password)
  size_t in_flight = 0;
  std::optional<Error> failure;
  bool submitted = false;
};

void Finish(const std::shared_ptr<ImportJob>& job) {
  std::vector<NewMember> members;
  std::vector<size_t> lines;
  members.reserve(job->parsed.rows.size());
  for (auto& row : job->parsed.rows) {
    members.push_back(std::move(row.member));
    lines.push_back(row.line);
  }
  job->store->InsertAll(std::move(members), std::move(lines), std::move(job->done));
}

// Records one finished row (hashed, failed, or without a password) under the lock and says
// what the caller must do next.
enum class Next { kPump, kFinish, kFail, kNothing };

Next RowDone(ImportJob& job, size_t index, Result<std::string> hash, bool was_in_flight) {
  std::lock_guard lock(job.mu);
  if (was_in_flight) --job.in_flight;
  ++job.finished;
  if (!hash.ok()) {
    if (!job.failure) job.failure = hash.error();
  } else if (!hash->empty()) {
    job.parsed.rows[index].member.password_hash = std::move(hash).value();
  }
  if (job.submitted) return Next::kNothing;
  if (job.failure && job.in_flight == 0) {
    job.submitted = true;
    return Next::kFail;
  }
  if (job.finished == job.parsed.rows.size()) {
    job.submitted = true;
    return job.failure ? Next::kFail : Next::kFinish;
  }
  return Next::kPump;
}

void Act(const std::shared_ptr<ImportJob>& job, Next next);

// Starts hashes until kHashesInFlight are running; rows without a password finish inline
// (iteratively, not recursively, so thousands of them do not grow the stack).
void Pump(const std::shared_ptr<ImportJob>& job) {
  for (;;) {
    size_t index = 0;
    {
      std::lock_guard lock(job->mu);
      if (job->failure || job->submitted || job->in_flight >= kHashesInFlight ||
          job->next >= job->parsed.rows.size())
        return;
      index = job->next++;
      if (!job->parsed.rows[index].password.empty()) ++job->in_flight;
    }
    auto& row = job->parsed.rows[index];
    if (row.password.empty()) {
      const Next next = RowDone(*job, index, std::string(), false);
      if (next != Next::kPump) return Act(job, next);
      continue;
    }
    job->hasher->Hash(std::move(row.password), [job, index](Result<std::string> hash) {
      Act(job, RowDone(*job, index, std::move(hash), true));
    });
  }
}

void Act(const std::shared_ptr<ImportJob>& job, Next next) {
  switch (next) {
    case Next::kPump:
      return Pump(job);
    case Next::kFinish:
      return Finish(job);
    case Next::kFail:
      return job->done(*job->failure);
    case Next::kNothing:
      return;
  }
}

}  // namespace

Result<std::vector<CsvRecord>> ParseCsv(std::string_view text) {
  if (text.size() > kMaxImportBytes)
    return MakeError(ErrorCode::kTooLarge, "the CSV is larger than 64 MiB");
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::vector<CsvRecord> records;
  CsvRecord record;
  std::string field;
  size_t line = 1;
  record.line = 1;
  bool in_quotes = false;
  bool after_quote = false;  // just closed a quoted field: only , or end of line may follow
  bool record_has_content = false;
  auto end_field = [&] {
    record.fields.push_back(std::move(field));
    field.clear();
    after_quote = false;
  };
  auto end_record = [&] {
    end_field();
    if (record_has_content || record.fields.size() > 1) records.push_back(std::move(record));
    record = CsvRecord{};
    record_has_content = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
          after_quote = true;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == ',') {
      end_field();
      record_has_content = true;
    } else if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_record();
      ++line;
      record.line = line;
      if (records.size() > kMaxImportRows + 1)
        return MakeError(ErrorCode::kTooLarge,
                         "the CSV has more than " + std::to_string(kMaxImportRows) + " rows");
    } else if (after_quote) {
      return CsvError(line, "unexpected character after a closing quote");
    } else if (c == '"') {
      if (!field.empty()) return CsvError(line, "a quote inside an unquoted field");
      in_quotes = true;
      record_has_content = true;
    } else {
      field += c;
      record_has_content = true;
    }
  }
  if (in_quotes) return CsvError(record.line, "a quoted field is not closed");
  if (record_has_content || !record.fields.empty()) end_record();
  return records;
}

Result<ParsedImport> ParseMemberCsv(std::string_view text) {
  auto records = ParseCsv(text);
  if (!records.ok()) return records.error();
  if (records->empty()) return CsvError(1, "the file is empty; a header row is required");

  static const std::vector<std::string> kRequired = {"handle", "display_name", "email",
                                                     "organisation", "job_title"};
  const CsvRecord& header = records->front();
  std::map<std::string, size_t> column;
  for (size_t i = 0; i < header.fields.size(); ++i) {
    std::string name = header.fields[i];
    name.erase(0, name.find_first_not_of(" \t"));
    name.erase(name.find_last_not_of(" \t") + 1);
    if (std::find(kRequired.begin(), kRequired.end(), name) == kRequired.end() &&
        name != "password")
      return CsvError(header.line, "unknown column \"" + name.substr(0, 40) +
                                       "\" (expected handle,display_name,email,organisation,"
                                       "job_title[,password])");
    if (!column.emplace(name, i).second)
      return CsvError(header.line, "column \"" + name + "\" appears twice");
  }
  for (const auto& name : kRequired)
    if (!column.contains(name)) return CsvError(header.line, "missing column \"" + name + "\"");

  ParsedImport out;
  std::unordered_map<std::string, size_t> handles;  // -> line
  std::unordered_map<std::string, size_t> emails;
  for (size_t r = 1; r < records->size(); ++r) {
    CsvRecord& rec = (*records)[r];
    ++out.total_rows;
    auto cell = [&](const std::string& name) -> std::string {
      auto it = column.find(name);
      if (it == column.end() || it->second >= rec.fields.size()) return {};
      return rec.fields[it->second];
    };
    const std::string raw_handle = cell("handle");
    if (rec.fields.size() != header.fields.size()) {
      out.rejected.push_back({rec.line, raw_handle,
                              "has " + std::to_string(rec.fields.size()) + " fields, the header " +
                                  std::to_string(header.fields.size())});
      continue;
    }
    ImportRow row;
    row.line = rec.line;
    row.member.handle = raw_handle;
    row.member.display_name = cell("display_name");
    row.member.email = cell("email");
    row.member.organisation = cell("organisation");
    row.member.job_title = cell("job_title");
    if (auto status = ValidateNewMember(row.member); !status.ok()) {
      out.rejected.push_back({rec.line, raw_handle, status.error().message});
      continue;
    }
    if (auto it = handles.find(row.member.handle); it != handles.end()) {
      out.rejected.push_back(
          {rec.line, raw_handle, "handle: repeats line " + std::to_string(it->second)});
      continue;
    }
    std::string email_key = row.member.email;
    std::transform(email_key.begin(), email_key.end(), email_key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (auto it = emails.find(email_key); it != emails.end()) {
      out.rejected.push_back(
          {rec.line, raw_handle, "email: repeats line " + std::to_string(it->second)});
      continue;
    }
    if (column.contains("password")) {
      std::string& pw = rec.fields[column["password"]];
      if (!pw.empty()) {
        if (auto status = CheckPasswordRules(pw, row.member.handle, row.member.email);
            !status.ok()) {
          out.rejected.push_back({rec.line, raw_handle, "password: " + status.error().message});
        } else {
          row.password = SecretString(pw);
        }
        sodium_memzero(pw.data(), pw.size());
        if (!out.rejected.empty() && out.rejected.back().line == rec.line) continue;
      }
    }
    handles.emplace(row.member.handle, rec.line);
    emails.emplace(std::move(email_key), rec.line);
    out.rows.push_back(std::move(row));
  }
  return out;
}

void ImportMembersCsv(MemberStore& store, PasswordHasher& hasher, std::string_view csv,
                      Done<ImportReport> done) {
  auto parsed = ParseMemberCsv(csv);
  if (!parsed.ok()) {
    done(std::move(parsed).error());
    return;
  }
  if (!parsed->rejected.empty()) {
    ImportReport report;
    report.rows = parsed->total_rows;
    report.rejected = std::move(parsed->rejected);
    done(std::move(report));
    return;
  }
  if (parsed->rows.empty()) {
    done(ImportReport{0, 0, true, {}});
    return;
  }
  auto job = std::make_shared<ImportJob>();
  job->store = &store;
  job->hasher = &hasher;
  job->parsed = std::move(parsed).value();
  job->done = std::move(done);
  Pump(job);
}

}  // namespace kith::identity
