// kithctl subcommands for the node's keys, talking to kithd's admin API (admin/key_ops.h):
//   kithctl keys list                          node keys and OIDC keys: kid, fingerprint,
//                                              status, created, valid until
//   kithctl keys rotate [--overlap 7d] [--oidc]
//                                              a new node key (default) or OIDC RSA key; the
//                                              old one stays valid for the overlap (30s, 15m,
//                                              12h, 7d; at most 366d); a node key rotation is
//                                              announced to every active peer
//   kithctl keys purge                         retire keys whose overlap is over now
// Each takes --data-dir and --json. Exit codes: 0 ok, 1 failed (also: rotated but some peers
// could not be told — they learn the key later from the node document), 2 usage.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "storage/result.h"

namespace kith::admin {

struct KeyCommands;

// Parses an overlap such as "30s", "15m", "12h" or "7d" (digits then exactly one unit) into
// seconds, from 0 up to 366 days. kInvalidArgument naming the accepted forms otherwise.
Result<std::chrono::seconds> ParseKeyOverlap(std::string_view text);

// Adds the `keys` subcommand to `app`. The returned object holds the parsed options and must
// outlive app.parse().
std::shared_ptr<KeyCommands> AddKeyCommands(CLI::App& app, std::string default_data_dir);

// Runs the parsed keys subcommand and returns its exit code; nullopt when it was not given.
std::optional<int> RunKeyCommands(const KeyCommands& commands);

}  // namespace kith::admin
