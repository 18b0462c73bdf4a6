// Config: kithd's configuration — one TOML file plus KITH_<SECTION>_<KEY> environment
// overrides (for example KITH_HTTP_PORT=0 or KITH_NODE_BASE_URL=https://x.example).
//
// Every key has a default, a type and a range. Unknown keys and sections are errors, so a
// typo is never silently ignored. Errors name the source, the key and what is wrong:
//   kith.toml: http.port: must be 0..65535, got 70000
//   KITH_HTTP_PORT: http.port: must be an integer, got "abc"
//
// To add a key: add a member to the section struct below (with its default), then one line to
// the field table in config.cc (the TOML name, the environment name follows from it).
//
// Thread-safety: Config is a plain value; the functions are pure apart from reading the file
// and checking that TLS files are readable.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "storage/result.h"

namespace kith::node {

struct NodeSection {
  std::string name;
  std::string organisation;
  std::string base_url = "http://127.0.0.1:8401";  // normalised: no trailing slash
  std::filesystem::path data_dir;                  // absolute; default: the config's folder

  // The domain of members' addresses (`handle@domain`): the base URL's host, with its port
  // when it has one, e.g. "council-a.example" or "127.0.0.1:8402".
  std::string domain() const {
    std::string_view rest = base_url;
    if (auto scheme = rest.find("://"); scheme != std::string_view::npos) {
      rest.remove_prefix(scheme + 3);
    }
    return std::string(rest.substr(0, rest.find('/')));
  }
};

struct HttpSection {
  std::string listen_address = "127.0.0.1";
  uint16_t port = 8401;                   // 0 = any free port
  int io_threads = 1;                     // 0 = one per core
  std::filesystem::path tls_certificate;  // both set -> HTTPS
  std::filesystem::path tls_private_key;

  bool tls() const { return !tls_certificate.empty(); }
};

struct LimitsSection {
  uint64_t max_body_bytes = 1048576;
  uint32_t max_header_bytes = 16384;
  uint32_t max_connections = 10000;
  int read_timeout_seconds = 30;  // whole request (headers + body)
  int idle_timeout_seconds = 60;  // keep-alive connection without a request
  int write_timeout_seconds = 30;
  int shutdown_grace_seconds = 20;
};

struct LogSection {
  std::string level = "info";  // trace|debug|info|warn|error
  bool access_log = true;
};

struct FederationSection {
  bool allow_private_addresses = false;
  // PEM bundle of the certificate authorities trusted for peers' HTTPS; empty = the system's.
  std::filesystem::path ca_file;
  // Group stream delivery to subscribers (federation/replication.h): events and bytes of JSON
  // per pushed batch, and requests in flight per peer.
  int push_batch_events = 500;
  int push_batch_bytes = 1048576;
  int max_in_flight = 2;
  // Retries of pushes and outbox commands to an unreachable peer: exponential backoff with
  // full jitter from min_backoff_ms, capped at max_backoff_seconds.
  int min_backoff_ms = 500;
  int max_backoff_seconds = 3600;
};

struct GroupsSection {
  // Largest library file (upload or a peer's file); streamed to disk, never held in memory.
  int64_t max_upload_bytes = 52428800;
};

struct IdentitySection {
  int session_idle_timeout_seconds = 8 * 3600;
  int session_absolute_timeout_seconds = 30 * 24 * 3600;
  // Argon2id cost: interactive (default) | moderate | minimum (tests only: far too cheap).
  std::string password_cost = "interactive";
  int password_threads = 1;  // Argon2id INTERACTIVE needs 64 MiB per running hash
};

struct WebSection {
  // The GOV.UK Frontend `dist/govuk` folder served under /assets/. Empty: the copy installed by
  // scripts/setup (node_modules/govuk-frontend/dist/govuk in the source tree), when present.
  std::filesystem::path assets_dir;
  // A folder whose *.html files replace the built-in page templates of the same name.
  std::filesystem::path templates_dir;
};

// Networks (OpenID Federation trust anchors; federation/network_peering.h): how often this node
// refreshes member lists, chains and withdrawn lists, and the statements it issues.
struct NetworksSection {
  int refresh_interval = 300;           // seconds: member lists and trust chains, 1..86400
  int withdrawn_refresh_interval = 60;  // seconds: withdrawn lists, 1..86400
  int64_t statement_lifetime = 86400;   // seconds: subordinate statements issued, 60..31 days
  // Accept http:// entity identifiers (loopback tests, the example network). Unset: the value
  // of federation.allow_private_addresses.
  std::optional<bool> allow_http_entities;
};

struct Config {
  std::filesystem::path file;  // the file it was read from (as given)
  NodeSection node;
  HttpSection http;
  LimitsSection limits;
  LogSection log;
  FederationSection federation;
  IdentitySection identity;
  WebSection web;
  GroupsSection groups;
  NetworksSection networks;

  // networks.allow_http_entities, defaulting to federation.allow_private_addresses.
  bool AllowHttpEntities() const {
    return networks.allow_http_entities.value_or(federation.allow_private_addresses);
  }
};

// Looks up an environment variable; returns nullopt when unset. Injected so tests need not
// touch the process environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The process environment (getenv).
EnvLookup ProcessEnvironment();

// Parses `toml_text` (named `source_name` in errors), then applies environment overrides from
// `env`, then validates. Relative paths (data_dir, TLS files) are resolved against
// `config_dir`, which is also the default data_dir. kInvalidArgument with a message naming the
// source, the key and the problem.
Result<Config> ParseConfig(std::string_view toml_text, std::string_view source_name,
                           const std::filesystem::path& config_dir, const EnvLookup& env);

// Reads and parses the file at `path` (see ParseConfig). An unreadable file is an error that
// names it.
Result<Config> LoadConfig(const std::filesystem::path& path, const EnvLookup& env);

// The environment variable that overrides `section.key`, e.g. KITH_HTTP_PORT.
std::string EnvNameFor(std::string_view section, std::string_view key);

}  // namespace kith::node
