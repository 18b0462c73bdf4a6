#include "storage/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace kith::storage {

namespace {

std::filesystem::path LockFile(const std::filesystem::path& data_dir) {
  return data_dir / "kithd.lock";
}

// flock retried when a signal interrupts it (LOCK_NB never waits, but EINTR is still allowed).
int FlockNoWait(int fd, int operation) {
  int rc;
  do {
    rc = ::flock(fd, operation | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  return rc;
}

}  // namespace

Result<std::unique_ptr<DataDirLock>> DataDirLock::Acquire(const std::filesystem::path& data_dir) {
  const std::filesystem::path file = LockFile(data_dir);
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    const int err = errno;
    return MakeError(ErrorCode::kInternal,
                     "cannot open lock file " + file.string() + ": " + std::strerror(err));
  }
  // Owns fd from here on; the destructor releases the lock by closing it.
  std::unique_ptr<DataDirLock> lock(new DataDirLock(fd));
  if (FlockNoWait(fd, LOCK_EX) != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK) {
      return MakeError(ErrorCode::kConflict,
                       "data directory " + data_dir.string() +
                           " is in use: a kithd is running there (lock " + file.string() +
                           " is held)",
                       "data_dir_locked");
    }
    return MakeError(ErrorCode::kInternal,
                     "cannot lock " + file.string() + ": " + std::strerror(err));
  }
  return lock;
}

bool DataDirLock::IsHeld(const std::filesystem::path& data_dir) {
  const std::filesystem::path file = LockFile(data_dir);
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;  // no lock file: nobody has ever locked this directory
  // A shared probe conflicts with any exclusive holder; released again at once by close().
  const bool held = FlockNoWait(fd, LOCK_SH) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return held;
}

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace kith::storage
