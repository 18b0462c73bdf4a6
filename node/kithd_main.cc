// kithd: the kith node daemon.
//
//   kithd --config PATH        run with the config file PATH
//   kithd --data-dir D         run with D/kith.toml
//   kithd ... --check-config   validate the config (and KITH_* overrides), print it, exit
//
// Exit status: 0 after a clean stop (SIGTERM/SIGINT), 2 for a config error, a data directory
// in use or another start-up failure that the operator must fix, 1 for anything else.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "node/config.h"
#include "node/daemon.h"

namespace {

int Main(int argc, char** argv) {
  CLI::App app{"kithd — the kith node daemon"};
  std::string config_path;
  std::string data_dir;
  bool check_config = false;
  auto* config_opt = app.add_option("--config,-c", config_path, "Config file (TOML)");
  auto* dir_opt =
      app.add_option("--data-dir,-d", data_dir, "Data directory; the config is DATA_DIR/kith.toml");
  config_opt->excludes(dir_opt);
  app.add_flag("--check-config", check_config, "Validate the configuration and exit");
  app.set_version_flag("--version", std::string("kithd ") + KITH_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (config_path.empty() && data_dir.empty()) {
    std::cerr << "kithd: give --config PATH or --data-dir DIR\n";
    return 2;
  }
  std::filesystem::path file = config_path.empty() ? std::filesystem::path(data_dir) / "kith.toml"
                                                   : std::filesystem::path(config_path);
  auto config = kith::node::LoadConfig(file, kith::node::ProcessEnvironment());
  if (!config.ok()) {
    std::cerr << "kithd: config error: " << config.error().message << "\n";
    return 2;
  }
  if (!data_dir.empty()) {
    // --data-dir D means D, whatever the file says.
    config->node.data_dir = std::filesystem::absolute(data_dir).lexically_normal();
  }
  if (check_config) {
    std::cout << "config OK: " << file.string() << "\n"
              << "  base_url " << config->node.base_url << "\n"
              << "  data_dir " << config->node.data_dir.string() << "\n"
              << "  listen   " << config->http.listen_address << ":" << config->http.port
              << (config->http.tls() ? " (TLS)" : "") << "\n";
    return 0;
  }

  auto logger = spdlog::stderr_color_mt("kithd");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(config->log.level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  spdlog::flush_on(spdlog::level::info);

  kith::node::Daemon::Options options;
  const char* test_routes = std::getenv("KITH_TEST_ROUTES");
  options.test_routes = test_routes != nullptr && std::string_view(test_routes) == "1";
  auto daemon = kith::node::Daemon::Start(std::move(config.value()), options);
  if (!daemon.ok()) {
    spdlog::error("cannot start: {}", daemon.error().message);
    std::cerr << "kithd: " << daemon.error().message << "\n";
    return 2;
  }
  daemon.value()->Wait();
  daemon.value().reset();
  spdlog::shutdown();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "kithd: fatal: " << e.what() << "\n";
    return 1;
  }
}
