// kithctl subcommands for members, talking to kithd's admin API (admin/member_ops.h):
//   kithctl member add HANDLE --email E --name N [--organisation O] [--job-title T] [--bio B]
//                  [--visibility network|node|hidden] [--password-stdin]
//                                   without --password-stdin a strong password is generated
//                                   and printed once
//   kithctl member list [--limit N] [--after ID] [--search TEXT]
//                                   a table of members (every member unless --limit)
//   kithctl member show HANDLE
//   kithctl member disable|enable HANDLE          (disabling signs the member out everywhere)
//   kithctl member admin HANDLE --grant|--revoke  node administrator (the operator page)
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

}  // namespace kith::admin
