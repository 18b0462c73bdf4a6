// TestNode: one real kith node for integration tests — a temp data directory made by
// `kithctl init`, and a kithd child process listening on a kernel-chosen loopback port.
//
// Usage:
//   auto node = kith::testing::TestNode::Start();
//   ASSERT_TRUE(node);
//   auto res = kith::testing::HttpGet(node->port(), "/healthz");
//   EXPECT_EQ(node->Stop().code, 0);
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace kith::testing {

struct TestNodeOptions {
  std::string name = "Test Node";
  std::string organisation = "Test Organisation";
  // Extra environment for kithd (e.g. {"KITH_TEST_ROUTES", "1"}, {"KITH_HTTP_IO_THREADS", "1"}).
  std::vector<std::pair<std::string, std::string>> env;
  std::chrono::milliseconds start_timeout = std::chrono::seconds(20);
};

class TestNode {
 public:
  // Runs `kithctl init` in a fresh temp dir, then Launch(). nullptr (with a gtest failure that
  // shows kithctl's/kithd's output) when either fails.
  static std::unique_ptr<TestNode> Start(const TestNodeOptions& options = {});

  // Only `kithctl init`, no kithd. nullptr (with a gtest failure) when init fails.
  static std::unique_ptr<TestNode> Init(const TestNodeOptions& options = {});

  ~TestNode();  // SIGKILLs a kithd that is still running

  // Starts kithd on the data directory with KITH_HTTP_PORT=0 and waits until kithd.addr names
  // its port and /healthz answers 200. False (with a gtest failure) otherwise.
  bool Launch();

  // SIGTERM, then waits up to `timeout` for kithd to exit.
  ExitStatus Stop(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Runs kithctl with `args` followed by --data-dir <this node's data dir>.
  ProcessResult Kithctl(std::vector<std::string> args,
                        std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;

  uint16_t port() const { return port_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  const std::filesystem::path& temp_dir() const { return temp_.path(); }
  const std::string& init_output() const { return init_output_; }
  ChildProcess* kithd() { return kithd_ ? &*kithd_ : nullptr; }

 private:
  explicit TestNode(TestNodeOptions options) : options_(std::move(options)) {}
  TestNodeOptions options_;
  TempDir temp_{"node"};
  std::filesystem::path data_dir_;
  std::string init_output_;
  std::optional<ChildProcess> kithd_;
  uint16_t port_ = 0;
};

}  // namespace kith::testing
