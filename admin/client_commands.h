// kithctl subcommands for OpenID Connect clients, talking to kithd's admin API
// (admin/client_ops.h):
//   kithctl client add --name N --redirect-uri U [--redirect-uri U2 ...]
//                  [--post-logout-redirect-uri U ...] [--public] [--first-party]
//                  [--id-token-alg RS256|EdDSA] [--auth-method M] [--jwks FILE]
//                  [--client-id ID]
//                                   prints the client id and, this once, the client secret
//   kithctl client list             a table of the registered clients
//   kithctl client remove CLIENT_ID
// Each takes --data-dir and --json (prints the admin API's JSON answer on one line, e.g.
// {"client":{"client_id":...},"client_secret":...}). Exit codes: 0 ok, 1 failed, 2 usage.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>

namespace kith::admin {

struct ClientCommands;

// Adds the `client` subcommand tree to `app`. The returned object holds the parsed options and
// must outlive app.parse().
std::shared_ptr<ClientCommands> AddClientCommands(CLI::App& app, std::string default_data_dir);

// Runs the parsed client subcommand and returns its exit code; nullopt when `client` was not
// given on the command line.
std::optional<int> RunClientCommands(const ClientCommands& commands);

}  // namespace kith::admin
