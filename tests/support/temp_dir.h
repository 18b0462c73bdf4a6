// TempDir: a fresh private directory for one test, removed (recursively) when it dies.
#pragma once

#include <filesystem>
#include <string_view>

namespace kith::testing {

class TempDir {
 public:
  // Creates a new directory (mode 0700) under $TMPDIR or /tmp, named kith-<prefix>-XXXXXX.
  // Aborts the test program (via gtest ADD_FAILURE + std::abort) if it cannot, which only
  // happens when the machine's temp space is broken.
  explicit TempDir(std::string_view prefix = "test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // path() / name, a convenience for files inside the directory.
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace kith::testing
