// DataDirLock: an exclusive advisory lock (flock) on DATA_DIR/kithd.lock, held by a running
// kithd for its whole life, so that a second kithd, or `kithctl init`, refuses a data
// directory that is in use. The lock dies with the process (also on SIGKILL).
#pragma once

#include <filesystem>
#include <memory>

#include "storage/result.h"

namespace kith::storage {

class DataDirLock {
 public:
  // Takes the lock without waiting. kConflict (message names the directory and says a kithd
  // is running there) when another process holds it; kInternal on I/O errors.
  static Result<std::unique_ptr<DataDirLock>> Acquire(const std::filesystem::path& data_dir);

  // Whether some process holds the lock now (for tools that only need to check).
  static bool IsHeld(const std::filesystem::path& data_dir);

  ~DataDirLock();  // releases

  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace kith::storage
