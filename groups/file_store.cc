#include "groups/file_store.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace kith::groups {
namespace {

namespace fs = std::filesystem;

Error SystemError(std::string_view what, const fs::path& path, int err) {
  return MakeError(ErrorCode::kInternal,
                   std::string(what) + " " + path.string() + ": " + std::strerror(err));
}

// Creates `dir` (mode 0700) when missing; an existing directory is kept as it is.
Status MakeDir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) return OkStatus();
  if (errno == EEXIST) {
    std::error_code ec;
    if (fs::is_directory(dir, ec)) return OkStatus();
    return MakeError(ErrorCode::kInternal, dir.string() + " exists and is not a directory");
  }
  return SystemError("cannot create the directory", dir, errno);
}

Status SyncDir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return SystemError("cannot open the directory", dir, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return SystemError("cannot fsync the directory", dir, err);
  return OkStatus();
}

std::string Hex(const unsigned char* bytes, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 0xF]);
  }
  return out;
}

fs::path ContentPath(const fs::path& root, std::string_view sha256) {
  return root / "sha256" / std::string(sha256.substr(0, 2)) / std::string(sha256.substr(2, 2)) /
         std::string(sha256);
}

}  // namespace

bool IsSha256Hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

struct Upload::Impl {
  fs::path root;
  fs::path temp;
  int fd = -1;
  int64_t max_bytes = 0;
  bool failed = false;
  bool committed = false;
  crypto_hash_sha256_state hash;

  ~Impl() {
    if (fd >= 0) ::close(fd);
    if (!committed && !temp.empty()) ::unlink(temp.c_str());
  }
};

Upload::~Upload() = default;

Status Upload::Write(std::string_view bytes) {
  return Write(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

Status Upload::Write(std::span<const uint8_t> bytes) {
  Impl& u = *impl_;
  if (u.committed) return MakeError(ErrorCode::kInternal, "the upload was committed already");
  if (u.failed) return MakeError(ErrorCode::kInternal, "the upload failed before");
  if (static_cast<int64_t>(bytes.size()) > u.max_bytes - size_) {
    u.failed = true;
    return MakeError(ErrorCode::kTooLarge,
                     "the file is larger than " + std::to_string(u.max_bytes) + " bytes");
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(u.fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      u.failed = true;
      return SystemError("cannot write", u.temp, errno);
    }
    done += static_cast<size_t>(n);
  }
  crypto_hash_sha256_update(&u.hash, bytes.data(), bytes.size());
  size_ += static_cast<int64_t>(bytes.size());
  return OkStatus();
}

Result<StoredFile> Upload::Commit(std::optional<std::string_view> expected_sha256) {
  Impl& u = *impl_;
  if (u.committed) return MakeError(ErrorCode::kInternal, "the upload was committed already");
  if (u.failed) return MakeError(ErrorCode::kInternal, "the upload failed before");
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&u.hash, digest);
  StoredFile stored{Hex(digest, sizeof digest), size_};
  if (expected_sha256 && *expected_sha256 != stored.sha256) {
    u.failed = true;  // the destructor removes the temporary file
    std::string expected(expected_sha256->substr(0, 64));
    if (!IsSha256Hex(expected)) expected = "(not a sha256)";
    return MakeError(ErrorCode::kInvalidArgument,
                     "content does not match sha256 " + expected + " (it is " + stored.sha256 + ")",
                     "hash_mismatch");
  }
  if (::fsync(u.fd) != 0) {
    u.failed = true;
    return SystemError("cannot fsync", u.temp, errno);
  }
  ::fchmod(u.fd, 0400);
  ::close(u.fd);
  u.fd = -1;

  const fs::path target = ContentPath(u.root, stored.sha256);
  const fs::path level1 = target.parent_path().parent_path();
  const fs::path level2 = target.parent_path();
  KITH_RETURN_IF_ERROR(MakeDir(level1));
  KITH_RETURN_IF_ERROR(MakeDir(level2));
  // link() never replaces: a file already at the content address (the same bytes) is kept.
  if (::link(u.temp.c_str(), target.c_str()) != 0) {
    const int err = errno;
    if (err != EEXIST) {
      if (::rename(u.temp.c_str(), target.c_str()) != 0) {
        u.failed = true;
        return SystemError("cannot move the upload to", target, errno);
      }
    }
  }
  ::unlink(u.temp.c_str());
  u.committed = true;
  KITH_RETURN_IF_ERROR(SyncDir(level2));
  KITH_RETURN_IF_ERROR(SyncDir(level1));
  KITH_RETURN_IF_ERROR(SyncDir(u.root / "tmp"));
  return stored;
}

Result<std::unique_ptr<FileStore>> FileStore::Open(const fs::path& root) {
  if (sodium_init() < 0) std::abort();
  if (root.empty()) return MakeError(ErrorCode::kInvalidArgument, "the file store has no path");
  std::error_code ec;
  if (!fs::exists(root, ec)) {
    fs::create_directories(root.parent_path(), ec);
    if (ec) return SystemError("cannot create the directory", root.parent_path(), ec.value());
  }
  KITH_RETURN_IF_ERROR(MakeDir(root));
  KITH_RETURN_IF_ERROR(MakeDir(root / "sha256"));
  KITH_RETURN_IF_ERROR(MakeDir(root / "tmp"));
  // Temporary files left by a crash are never committed: remove them.
  for (auto it = fs::directory_iterator(root / "tmp", ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    std::error_code remove_ec;
    fs::remove_all(it->path(), remove_ec);
  }
  if (ec) return SystemError("cannot list the directory", root / "tmp", ec.value());
  return std::unique_ptr<FileStore>(new FileStore(root));
}

Result<std::unique_ptr<Upload>> FileStore::Begin(int64_t max_bytes) {
  if (max_bytes < 0) return MakeError(ErrorCode::kInvalidArgument, "max_bytes is negative");
  std::string pattern = (root_ / "tmp" / "upload-XXXXXX").string();
  const int fd = ::mkostemp(pattern.data(), O_CLOEXEC);
  if (fd < 0) return SystemError("cannot create a temporary file in", root_ / "tmp", errno);
  std::unique_ptr<Upload> upload(new Upload());
  upload->impl_ = std::make_unique<Upload::Impl>();
  upload->impl_->root = root_;
  upload->impl_->temp = pattern;
  upload->impl_->fd = fd;
  upload->impl_->max_bytes = max_bytes;
  crypto_hash_sha256_init(&upload->impl_->hash);
  return upload;
}

Result<bool> FileStore::Has(std::string_view sha256) const {
  auto path = PathOf(sha256);
  if (!path.ok()) return path.error();
  std::error_code ec;
  return fs::is_regular_file(*path, ec);
}

Result<fs::path> FileStore::PathOf(std::string_view sha256) const {
  if (!IsSha256Hex(sha256))
    return MakeError(ErrorCode::kInvalidArgument, "sha256: must be 64 lower-case hex digits",
                     "invalid_argument");
  return ContentPath(root_, sha256);
}

}  // namespace kith::groups
