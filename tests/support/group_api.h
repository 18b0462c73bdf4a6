// Helpers for tests of the groups API (/api/v1, docs/api.md) across federated nodes: writes
// that may be accepted at once or go pending, multipart bodies, digests, a read-only look into
// a node's database.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "storage/result.h"
#include "tests/support/group_network.h"

namespace kith::testing {

// What a write answered, once decided.
struct WriteOutcome {
  int status = 0;          // the HTTP status of the first answer (201/200/202 or an error)
  std::string state;       // "accepted", "pending" (never decided in time), "refused", or ""
  std::string command_id;  // "" when the answer carried none
  int64_t seq = 0;         // accepted: the event's seq (= the new object's id)
  nlohmann::json event;    // accepted at once: the event (wire form); else null
  nlohmann::json body;     // the first answer's JSON body
};

// Sends a write (`method` target with a JSON body; no body for DELETE). When the answer is 202
// pending, polls GET /api/v1/commands/{id} on the same node until the command is accepted or
// refused, at most `wait`. Errors only for a transport failure.
Result<WriteOutcome> Write(const ApiClient& api, const std::string& method,
                           const std::string& target,
                           const nlohmann::json& body = nlohmann::json::object(),
                           std::chrono::milliseconds wait = std::chrono::seconds(30));

// Polls GET /api/v1/commands/{command_id} until its state is not "pending"; returns the entry
// (nullopt when the deadline passes or the call keeps failing).
std::optional<nlohmann::json> AwaitCommand(const ApiClient& api, const std::string& command_id,
                                           std::chrono::milliseconds wait);

// A multipart/form-data body with text `fields` and one file part named "file".
struct Multipart {
  std::string content_type;  // "multipart/form-data; boundary=..."
  std::string body;
};
Multipart MakeMultipart(const std::vector<std::pair<std::string, std::string>>& fields,
                        const std::string& filename, const std::string& media_type,
                        const std::string& bytes);

// `n` pseudo-random bytes (deterministic for a seed).
std::string RandomBytes(size_t n, uint32_t seed);

// GET /api/v1/groups/{group}/digest through `api`: {"stream","head","digest"}; nullopt unless
// 200.
std::optional<nlohmann::json> GroupDigest(const ApiClient& api, const std::string& group_id);

// Read-only counts in a node's database (DATA_DIR/kith.db, WAL, opened read-only while kithd
// runs): rows of `streams` named `stream`, and rows of `events` of that stream. -1 on error.
int64_t CountStreamRows(const std::filesystem::path& data_dir, const std::string& stream);
int64_t CountEventRows(const std::filesystem::path& data_dir, const std::string& stream);

}  // namespace kith::testing
