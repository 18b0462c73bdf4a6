// What every kithctl subcommand family (peer, keys, member, client) prints and returns the
// same way: exit codes, failures, tables, times, and path segments for admin API URLs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "storage/result.h"

namespace kith::admin {

// kithctl's exit codes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;     // the input was wrong
inline constexpr int kExitDeclined = 3;  // the operator said no at a prompt

// Prints `error` (as {"error","message"} on stdout with --json, else on stderr) and returns the
// exit code: kExitUsage for kInvalidArgument, else kExitFailed.
int CommandFail(const Error& error, bool as_json);

// Prints `rows` under `header` as a table whose columns are as wide as their widest cell.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

// `text` percent-encoded for use as one path segment (everything but RFC 3986 unreserved).
std::string EncodePathSegment(std::string_view text);

// The string at `key` of a JSON object; other values as JSON text; "" when missing or null.
std::string JsonText(const nlohmann::json& object, const char* key);

// A Unix time (seconds) as "YYYY-MM-DD HH:MM:SSZ"; `none` when the value is not an integer.
std::string FormatUnixTime(const nlohmann::json& value, std::string_view none = "-");

}  // namespace kith::admin
