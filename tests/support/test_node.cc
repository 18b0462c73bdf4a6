#include "tests/support/test_node.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/http_client.h"

namespace kith::testing {
namespace {

std::optional<uint16_t> ReadAddrPort(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string addr;
  if (!(in >> addr)) return std::nullopt;
  auto colon = addr.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  try {
    int port = std::stoi(addr.substr(colon + 1));
    if (port <= 0 || port > 65535) return std::nullopt;
    return static_cast<uint16_t>(port);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::unique_ptr<TestNode> TestNode::Init(const TestNodeOptions& options) {
  std::unique_ptr<TestNode> node(new TestNode(options));  // private constructor
  node->data_dir_ = node->temp_.path() / "data";
  // The port in base_url is only what the node advertises; kithd listens where
  // KITH_HTTP_PORT=0 puts it (see Launch).
  const uint16_t advertised = FreePort();
  ProcessResult init =
      RunProcess({KithctlPath(), "init", "--data-dir", node->data_dir_.string(), "--base-url",
                  "http://127.0.0.1:" + std::to_string(advertised), "--name", options.name,
                  "--organisation", options.organisation, "--port", std::to_string(advertised)});
  node->init_output_ = init.out;
  if (init.status.code != 0) {
    ADD_FAILURE() << "kithctl init failed (exit " << init.status.code << "):\n"
                  << init.out << init.err;
    return nullptr;
  }
  return node;
}

std::unique_ptr<TestNode> TestNode::Start(const TestNodeOptions& options) {
  auto node = Init(options);
  if (!node || !node->Launch()) return nullptr;
  return node;
}

TestNode::~TestNode() = default;  // ChildProcess kills and reaps a running kithd

bool TestNode::Launch() {
  const auto addr_file = data_dir_ / "kithd.addr";
  std::error_code ignored;
  std::filesystem::remove(addr_file, ignored);
  ProcessOptions process_options;
  process_options.env = options_.env;
  process_options.env.emplace_back("KITH_HTTP_PORT", "0");
  process_options.unset_env = {"KITH_DATA_DIR"};
  kithd_ = ChildProcess::Start({KithdPath(), "--config", (data_dir_ / "kith.toml").string()},
                               process_options);
  if (!kithd_) return false;

  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  auto pause = std::chrono::milliseconds(5);
  while (true) {
    if (!kithd_->Running()) {
      ADD_FAILURE() << "kithd exited during start-up:\n" << kithd_->Stdout() << kithd_->Stderr();
      return false;
    }
    if (auto port = ReadAddrPort(addr_file)) {
      port_ = *port;
      auto res = HttpGet(port_, "/healthz", std::chrono::seconds(2));
      if (res.ok() && res->status == 200) return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ADD_FAILURE() << "kithd did not become healthy within the deadline:\n"
                    << kithd_->Stdout() << kithd_->Stderr();
      return false;
    }
    // Polling a starting server: back off up to 100 ms between attempts.
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
}

ExitStatus TestNode::Stop(std::chrono::milliseconds timeout) {
  if (!kithd_) return ExitStatus{};
  kithd_->Signal(SIGTERM);
  return kithd_->Wait(timeout);
}

ProcessResult TestNode::Kithctl(std::vector<std::string> args,
                                std::chrono::milliseconds timeout) const {
  std::vector<std::string> argv{KithctlPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--data-dir");
  argv.push_back(data_dir_.string());
  return RunProcess(argv, {}, timeout);
}

}  // namespace kith::testing
