#include "tests/support/group_api.h"

#include <sqlite3.h>

#include <memory>
#include <random>

namespace kith::testing {

using nlohmann::json;

std::optional<json> AwaitCommand(const ApiClient& api, const std::string& command_id,
                                 std::chrono::milliseconds wait) {
  std::optional<json> entry;
  WaitFor(
      [&] {
        auto got = api.GetJson("/api/v1/commands/" + command_id);
        if (!got) return false;
        // Accept both {"command":{...}} and the bare entry.
        json e = got->contains("command") ? (*got)["command"] : *got;
        if (e.value("state", "pending") == "pending") return false;
        entry = e;
        return true;
      },
      wait, std::chrono::milliseconds(100));
  return entry;
}

Result<WriteOutcome> Write(const ApiClient& api, const std::string& method,
                           const std::string& target, const json& body,
                           std::chrono::milliseconds wait) {
  auto res = method == "DELETE" ? api.Delete(target)
                                : api.Send(method, target, body.dump(), "application/json");
  if (!res.ok()) return res.error();
  WriteOutcome out;
  out.status = res->status;
  out.body = JsonBody(*res);
  if (!out.body.is_object()) return out;
  out.state = out.body.value("state", "");
  out.command_id = out.body.value("command_id", "");
  if (out.state == "accepted") {
    out.seq = out.body.value("seq", int64_t{0});
    out.event = out.body.value("event", json());
  } else if (out.state == "pending" && !out.command_id.empty()) {
    if (auto entry = AwaitCommand(api, out.command_id, wait)) {
      out.state = entry->value("state", "");
      if (entry->contains("seq") && (*entry)["seq"].is_number_integer()) {
        out.seq = (*entry)["seq"].get<int64_t>();
      }
    }
  }
  return out;
}

Multipart MakeMultipart(const std::vector<std::pair<std::string, std::string>>& fields,
                        const std::string& filename, const std::string& media_type,
                        const std::string& bytes) {
  Multipart m;
  const std::string boundary = "----kith-test-boundary-7d3f9a1c";
  m.content_type = "multipart/form-data; boundary=" + boundary;
  for (const auto& [name, value] : fields) {
    m.body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name +
              "\"\r\n\r\n" + value + "\r\n";
  }
  m.body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" +
            filename + "\"\r\nContent-Type: " + media_type + "\r\n\r\n" + bytes + "\r\n";
  m.body += "--" + boundary + "--\r\n";
  return m;
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(gen() & 0xff);
  return out;
}

std::optional<json> GroupDigest(const ApiClient& api, const std::string& group_id) {
  return api.GetJson(GroupPath(group_id, "/digest"));
}

namespace {

int64_t CountRows(const std::filesystem::path& data_dir, const char* sql,
                  const std::string& stream) {
  sqlite3* raw = nullptr;
  const std::string path = (data_dir / "kith.db").string();
  if (sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(raw);
    return -1;
  }
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(raw, sqlite3_close);
  sqlite3_busy_timeout(db.get(), 5000);
  sqlite3_stmt* stmt_raw = nullptr;
  if (sqlite3_prepare_v2(db.get(), sql, -1, &stmt_raw, nullptr) != SQLITE_OK) return -1;
  std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> stmt(stmt_raw, sqlite3_finalize);
  sqlite3_bind_text(stmt.get(), 1, stream.c_str(), static_cast<int>(stream.size()),
                    SQLITE_TRANSIENT);
  if (sqlite3_step(stmt.get()) != SQLITE_ROW) return -1;
  return sqlite3_column_int64(stmt.get(), 0);
}

}  // namespace

int64_t CountStreamRows(const std::filesystem::path& data_dir, const std::string& stream) {
  return CountRows(data_dir, "SELECT count(*) FROM streams WHERE name = ?1", stream);
}

int64_t CountEventRows(const std::filesystem::path& data_dir, const std::string& stream) {
  return CountRows(data_dir,
                   "SELECT count(*) FROM events JOIN streams ON streams.id = events.stream_id "
                   "WHERE streams.name = ?1",
                   stream);
}

}  // namespace kith::testing
