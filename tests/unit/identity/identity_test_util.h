// Helpers for the identity unit tests: a temporary data directory with a migrated Store, and
// Await, which turns a Done<T>-style async call into a value (bounded by a deadline).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <random>
#include <string>

#include "identity/write_result.h"
#include "storage/store.h"

namespace kith::identity::testing {

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("kith-identity-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A fresh, migrated database in its own temporary directory.
class StoreFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::Store::Options options;
    options.path = dir_.path() / "kith.db";
    auto store = storage::Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
  }
  void TearDown() override {
    if (store_) store_->Close();
  }
  TempDir dir_;
  std::unique_ptr<storage::Store> store_;
};

// Calls `start(done)` and waits (at most 30 s) for the result.
template <class T, class Start>
Result<T> Await(Start&& start) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  start([promise](Result<T> result) { promise->set_value(std::move(result)); });
  if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready)
    return MakeError(ErrorCode::kInternal, "timed out waiting for an async result");
  return future.get();
}

}  // namespace kith::identity::testing
