// FileStore: the library's content-addressed store, DATA_DIR/files/sha256/ab/cd/<hex>.
//
// Bytes are streamed in (never held whole in memory): an Upload writes to a temporary file
// under DATA_DIR/files/tmp while hashing (SHA-256), refuses to grow beyond its size limit,
// and Commit fsyncs it, renames it to its content address (atomic; a file that is already
// there is kept and the temporary one removed) and fsyncs the directory. An Upload that is
// destroyed without Commit removes its temporary file. A committed file is never modified.
//
// Thread-safety: FileStore is thread-safe; one Upload is used by one thread at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "storage/result.h"

namespace kith::groups {

struct StoredFile {
  std::string sha256;  // lower-case hex
  int64_t size = 0;
};

class FileStore;

class Upload {
 public:
  ~Upload();  // removes the temporary file unless committed
  Upload(const Upload&) = delete;
  Upload& operator=(const Upload&) = delete;

  // Appends bytes. kTooLarge once more than the limit was written (the upload is then
  // unusable), kInternal on a write error (message names the file).
  Status Write(std::span<const uint8_t> bytes);
  Status Write(std::string_view bytes);
  int64_t size() const { return size_; }

  // Finishes: checks `expected_sha256` when given (kInvalidArgument "content does not match
  // sha256 ..." on a mismatch, and nothing is stored), fsyncs and moves the file into place.
  Result<StoredFile> Commit(std::optional<std::string_view> expected_sha256 = std::nullopt);

 private:
  friend class FileStore;
  Upload() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int64_t size_ = 0;
};

class FileStore {
 public:
  // `root` is DATA_DIR/files (created with its subdirectories when missing). Stale temporary
  // files from a crash are removed at open. Errors name the directory.
  static Result<std::unique_ptr<FileStore>> Open(const std::filesystem::path& root);

  // Starts an upload of at most `max_bytes`.
  Result<std::unique_ptr<Upload>> Begin(int64_t max_bytes);

  // Whether the content with this hash is stored; its path. kInvalidArgument for a string
  // that is not 64 lower-case hex digits.
  Result<bool> Has(std::string_view sha256) const;
  Result<std::filesystem::path> PathOf(std::string_view sha256) const;

  const std::filesystem::path& root() const { return root_; }

 private:
  explicit FileStore(std::filesystem::path root) : root_(std::move(root)) {}
  std::filesystem::path root_;
};

// Whether `s` is 64 lower-case hex digits.
bool IsSha256Hex(std::string_view s);

}  // namespace kith::groups
