// kithctl subcommands for networks, talking to kithd's admin API (admin/network_ops.h):
//   kithctl network create NAME [--display-name T] [--superior URL] [--statement-lifetime S]
//                                    a trust anchor (or, with --superior, an intermediate); prints
//                                    its entity id and key fingerprint
//   kithctl network add-member NETWORK URL [--intermediate] [--max-path-length N] [--yes]
//                                    fetch URL's entity configuration, show organisation and key
//                                    fingerprints, confirm on stdin (unless --yes), register
//   kithctl network remove-member NETWORK URL
//   kithctl network list             networks run here, anchors trusted, networks belonged to
//   kithctl network status NETWORK   members with statement expiry and last contact, and the
//                                    `kithctl network trust ...` line members should run
//   kithctl network trust URL --fingerprint F
//   kithctl network untrust URL
//   kithctl network refresh          list members and resolve chains now
// NETWORK is a network's name or entity id. Each takes --data-dir and --json. Exit codes: 0 ok,
// 1 failed, 2 usage, 3 declined by the operator at the confirmation prompt.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>

namespace kith::admin {

struct NetworkCommands;

// Adds the subcommands above to `app`. The returned object holds their parsed options and must
// outlive app.parse().
std::shared_ptr<NetworkCommands> AddNetworkCommands(CLI::App& app, std::string default_data_dir);

// Runs the parsed network subcommand and returns its exit code; nullopt when none was given.
std::optional<int> RunNetworkCommands(const NetworkCommands& commands);

}  // namespace kith::admin
