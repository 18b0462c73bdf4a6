// InitDataDir: what `kithctl init` does — makes a new node's data directory with a working
// config (kith.toml), a migrated database (kith.db) and the node's first Ed25519 key.
//
// All or nothing: on any failure the directory is removed again (or emptied again, when it
// existed and was empty before), so a failed init never leaves a half-made node behind.
// Not thread-safe with respect to the same data directory (it takes the data-dir lock).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "identity/node_keys.h"
#include "storage/clock.h"
#include "storage/result.h"

namespace kith::admin {

struct InitOptions {
  std::filesystem::path data_dir;
  std::string base_url;                       // http(s)://host[:port], no path, query or fragment
  std::string name;                           // the node's display name
  std::string organisation;                   // the organisation that runs it
  std::optional<std::string> listen_address;  // default 127.0.0.1
  std::optional<int> port;                    // default: the base URL's port
};

struct InitReport {
  std::filesystem::path data_dir;  // absolute
  std::filesystem::path config_path;
  std::filesystem::path database_path;
  std::string base_url;  // normalised (no trailing slash)
  std::string listen_address;
  int port = 0;
  identity::NodeKey key;
  std::string fingerprint;
};

// A base URL checked and normalised: scheme http or https, a host, no user info, path empty
// or "/", no query or fragment. kInvalidArgument with a message saying what is wrong.
struct BaseUrl {
  std::string url;  // normalised, without trailing slash
  std::string scheme;
  std::string host;
  int port = 0;  // explicit or the scheme's default
};
Result<BaseUrl> ParseBaseUrl(std::string_view url);

// kith.toml text for the given values (strings are TOML-escaped).
std::string RenderConfig(const InitReport& values, std::string_view name,
                         std::string_view organisation);

// Creates the node. Errors: kInvalidArgument for bad options (usage errors); kConflict when
// the directory exists and is not empty, or is in use by a running kithd; kInternal for I/O.
Result<InitReport> InitDataDir(const InitOptions& options, const Clock& clock);

}  // namespace kith::admin
