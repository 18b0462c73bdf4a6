// kithctl: the operator's command line for a kith node.
//
//   kithctl init --data-dir D --base-url URL --name NAME --organisation ORG [--listen A] [--port N]
//   kithctl status [--data-dir D] [--json]
//   kithctl backup PATH [--data-dir D] [--json]
//   kithctl member ... / kithctl client ...   (admin/member_commands.h, admin/client_commands.h)
//   kithctl keys list|rotate|purge           (admin/key_commands.h)
//   kithctl network ...                      (admin/network_commands.h)
//
// Exit codes: 0 ok, 1 the operation failed, 2 usage error.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "admin/admin_client.h"
#include "admin/client_commands.h"
#include "admin/command_output.h"
#include "admin/key_commands.h"
#include "admin/member_commands.h"
#include "admin/network_commands.h"
#include "admin/node_init.h"
#include "admin/peer_commands.h"
#include "storage/clock.h"

namespace {

using kith::ErrorCode;

using kith::admin::kExitFailed;
using kith::admin::kExitOk;
using kith::admin::kExitUsage;

std::string DefaultDataDir() {
  const char* env = std::getenv("KITH_DATA_DIR");
  return env && *env ? env : "/var/lib/kith";
}

int Fail(const kith::Error& error, bool json) { return kith::admin::CommandFail(error, json); }

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return buf;
}

std::string HumanDuration(int64_t seconds) {
  const int64_t d = seconds / 86400, h = seconds / 3600 % 24, m = seconds / 60 % 60,
                s = seconds % 60;
  std::string out;
  if (d) out += std::to_string(d) + "d ";
  if (d || h) out += std::to_string(h) + "h ";
  if (d || h || m) out += std::to_string(m) + "m ";
  return out + std::to_string(s) + "s";
}

// A JSON value as display text, "-" when absent.
std::string Text(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return "-";
  const auto& v = j[key];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

int RunInit(const kith::admin::InitOptions& options, bool json) {
  auto report = kith::admin::InitDataDir(options, kith::SystemClock::Instance());
  if (!report.ok()) return Fail(report.error(), json);
  const auto& r = *report;
  if (json) {
    std::cout << nlohmann::json{{"data_dir", r.data_dir.string()},
                                {"config", r.config_path.string()},
                                {"database", r.database_path.string()},
                                {"base_url", r.base_url},
                                {"listen", r.listen_address + ":" + std::to_string(r.port)},
                                {"key",
                                 {{"kid", r.key.kid},
                                  {"algorithm", r.key.algorithm},
                                  {"fingerprint", r.fingerprint},
                                  {"file", (r.data_dir / "keys" / (r.key.kid + ".key")).string()}}}}
                     .dump(2)
              << "\n";
    return kExitOk;
  }
  std::cout << "Initialised kith node \"" << options.name << "\" (" << options.organisation
            << ") in " << r.data_dir.string() << "\n"
            << "  config:    " << r.config_path.string() << "\n"
            << "  database:  " << r.database_path.string() << "\n"
            << "  node key:  " << (r.data_dir / "keys" / (r.key.kid + ".key")).string() << "\n"
            << "  key id:    " << r.key.kid << "\n"
            << "  fingerprint: " << r.fingerprint << "\n"
            << "  base URL:  " << r.base_url << "\n"
            << "  listens on " << r.listen_address << ":" << r.port << "\n"
            << "Start it with: kithd --config " << r.config_path.string() << "\n";
  return kExitOk;
}

int RunStatus(const std::string& data_dir, bool json) {
  kith::admin::AdminClient client(kith::admin::AdminClient::SocketFor(data_dir));
  auto status = client.CallOk("GET", "/v1/status");
  if (!status.ok()) return Fail(status.error(), json);
  const auto& s = *status;
  if (json) {
    std::cout << s.dump(2) << "\n";
    return kExitOk;
  }
  const auto node = s.value("node", nlohmann::json::object());
  std::cout << "kithd " << Text(s, "version") << " running\n"
            << "  node:         " << Text(node, "name") << " (" << Text(node, "organisation")
            << ")\n"
            << "  base URL:     " << Text(node, "base_url") << "\n"
            << "  data dir:     " << Text(node, "data_dir") << "\n";
  if (node.contains("key")) {
    std::cout << "  key:          " << Text(node["key"], "kid") << " ("
              << Text(node["key"], "fingerprint") << ")\n";
  }
  if (s.contains("uptime_seconds") && s["uptime_seconds"].is_number_integer()) {
    std::cout << "  uptime:       " << HumanDuration(s["uptime_seconds"].get<int64_t>()) << "\n";
  }
  if (s.contains("database_bytes") && s["database_bytes"].is_number_unsigned()) {
    std::cout << "  database:     " << HumanBytes(s["database_bytes"].get<uint64_t>()) << "\n";
  }
  std::cout << "  write queue:  " << Text(s, "write_queue_depth") << "\n";
  if (s.contains("server") && s["server"].is_object()) {
    for (const auto& [key, value] : s["server"].items()) {
      std::cout << "  " << key << ": "
                << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
    }
  }
  return kExitOk;
}

int RunBackup(const std::string& data_dir, const std::string& path, bool json) {
  std::error_code ec;
  // kithd resolves the path itself, so send it absolute (relative to where kithctl runs).
  const auto absolute = std::filesystem::absolute(path, ec).lexically_normal();
  if (ec || path.empty()) {
    return Fail(kith::MakeError(ErrorCode::kInvalidArgument, "invalid backup path " + path), json);
  }
  kith::admin::AdminClient client(kith::admin::AdminClient::SocketFor(data_dir));
  auto reply =
      client.CallOk("POST", "/v1/backup", nlohmann::json{{"path", absolute.string()}}.dump(),
                    std::chrono::minutes(30));
  if (!reply.ok()) {
    // The server's refusals of the path are failures of the operation, not usage errors.
    kith::Error error = std::move(reply).error();
    if (error.code == ErrorCode::kInvalidArgument) error.code = ErrorCode::kConflict;
    return Fail(error, json);
  }
  if (json) {
    std::cout << reply->dump(2) << "\n";
  } else {
    std::cout << "Backup written to " << Text(*reply, "path");
    if (reply->contains("bytes") && (*reply)["bytes"].is_number_unsigned()) {
      std::cout << " (" << HumanBytes((*reply)["bytes"].get<uint64_t>()) << ")";
    }
    std::cout << "\n";
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kithctl: set up and administer a kith node"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(KITH_VERSION));

  kith::admin::InitOptions init;
  std::string listen;
  int port = -1;
  bool json = false;
  std::string data_dir = DefaultDataDir();
  std::string backup_path;

  auto* init_cmd = app.add_subcommand("init", "Create a new node's data directory");
  init_cmd->add_option("--data-dir", init.data_dir, "Data directory to create")->required();
  init_cmd->add_option("--base-url", init.base_url, "Public URL, e.g. https://kith.example.org")
      ->required();
  init_cmd->add_option("--name", init.name, "The node's display name")->required();
  init_cmd->add_option("--organisation", init.organisation, "The organisation that runs it")
      ->required();
  init_cmd->add_option("--listen", listen, "Listen address (default 127.0.0.1)");
  init_cmd->add_option("--port", port, "Listen port (default: the base URL's port)");
  init_cmd->add_flag("--json", json, "Print the result as JSON");

  auto* status_cmd = app.add_subcommand("status", "Show the running kithd's status");
  auto* backup_cmd =
      app.add_subcommand("backup", "Copy the live database to PATH (which must not exist)");
  backup_cmd->add_option("path", backup_path, "Where to write the copy")->required();
  for (auto* cmd : {status_cmd, backup_cmd}) {
    cmd->add_option("--data-dir", data_dir,
                    "The node's data directory (default $KITH_DATA_DIR, else /var/lib/kith)");
    cmd->add_flag("--json", json, "Print the result as JSON");
  }

  auto peer_commands = kith::admin::AddPeerCommands(app, data_dir);
  auto key_commands = kith::admin::AddKeyCommands(app, data_dir);
  auto member_commands = kith::admin::AddMemberCommands(app, data_dir);
  auto client_commands = kith::admin::AddClientCommands(app, data_dir);
  auto network_commands = kith::admin::AddNetworkCommands(app, data_dir);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }

  try {
    if (init_cmd->parsed()) {
      if (!listen.empty()) init.listen_address = listen;
      if (port != -1) init.port = port;
      return RunInit(init, json);
    }
    if (status_cmd->parsed()) return RunStatus(data_dir, json);
    if (backup_cmd->parsed()) return RunBackup(data_dir, backup_path, json);
    if (auto code = kith::admin::RunPeerCommands(*peer_commands)) return *code;
    if (auto code = kith::admin::RunKeyCommands(*key_commands)) return *code;
    if (auto code = kith::admin::RunMemberCommands(*member_commands)) return *code;
    if (auto code = kith::admin::RunClientCommands(*client_commands)) return *code;
    if (auto code = kith::admin::RunNetworkCommands(*network_commands)) return *code;
  } catch (const std::exception& e) {
    std::cerr << "kithctl: unexpected error: " << e.what() << "\n";
    return kExitFailed;
  }
  return kExitUsage;
}
