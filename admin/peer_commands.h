// kithctl subcommands for peering, talking to kithd's admin API (admin/peer_ops.h):
//   kithctl peer add URL [--yes]     fetch URL's node document, show name, organisation and
//                                    key fingerprints, confirm on stdin (unless --yes), request
//   kithctl peer list                state, last contact and failures of every peer
//   kithctl peer approve|reject|suspend|resume|revoke NODE   (NODE = base URL or name)
//   kithctl peer ping NODE           signed no-op request, signed answer verified
//   kithctl audit [--limit N]        the audit log, newest first
// Each takes --data-dir and --json. Exit codes: 0 ok, 1 failed, 2 usage, 3 declined by the
// operator at the confirmation prompt.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>

namespace kith::admin {

struct PeerCommands;

// Adds the subcommands above to `app`. The returned object holds their parsed options and must
// outlive app.parse().
std::shared_ptr<PeerCommands> AddPeerCommands(CLI::App& app, std::string default_data_dir);

// Runs the parsed peer/audit subcommand and returns its exit code; nullopt when none of them
// was given on the command line.
std::optional<int> RunPeerCommands(const PeerCommands& commands);

}  // namespace kith::admin
