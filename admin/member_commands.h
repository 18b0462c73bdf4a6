// kithctl subcommands for members, talking to kithd's admin API (admin/member_ops.h):
//   kithctl member add HANDLE --email E --name N [--organisation O] [--job-title T] [--bio B]
//                  [--visibility network|node|hidden] [--password-stdin]
//                                   without --password-stdin a strong password is generated
//                                   and printed once
//   kithctl member list [--limit N] [--after ID] [--search TEXT]
//                                   a table of members (every member unless --limit)
//   kithctl member show HANDLE
//   kithctl member disable|enable HANDLE          (disabling signs the member out everywhere)
//   kithctl member reset-password HANDLE [--password-stdin]
//                                   sets a new password (generated unless given) and ends
//                                   every session of the member
//   kithctl member remove HANDLE [--yes]          asks for confirmation unless --yes
//   kithctl member import FILE.csv  all rows or none; prints each rejected row's line and reason
// Each takes --data-dir and --json (prints the admin API's JSON answer on one line). Exit
// codes: 0 ok, 1 failed (including an import with rejected rows), 2 usage, 3 declined at the
// confirmation prompt.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/result.h"

namespace kith::admin {

struct MemberCommands;

// Adds the `member` subcommand tree to `app`. The returned object holds the parsed options and
// must outlive app.parse().
std::shared_ptr<MemberCommands> AddMemberCommands(CLI::App& app, std::string default_data_dir);

// Runs the parsed member subcommand and returns its exit code; nullopt when `member` was not
// given on the command line. Reads stdin for --password-stdin and for the remove prompt.
std::optional<int> RunMemberCommands(const MemberCommands& commands);

// Helpers shared by the member and client commands.

// Prints `error` (as {"error","message"} on stdout with --json, else on stderr) and returns the
// exit code: 2 for kInvalidArgument (the input was wrong), else 1.
int CommandFail(const Error& error, bool as_json);

// Prints `rows` under `header` as a table whose columns are as wide as their widest cell.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

// `text` percent-encoded for use as one path segment (everything but RFC 3986 unreserved).
std::string EncodePathSegment(std::string_view text);

}  // namespace kith::admin
