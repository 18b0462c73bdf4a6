// NodeKeyring: the node's Ed25519 keys. See node_keys.h.
#include "identity/node_keys.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <optional>
#include <string_view>
#include <system_error>

namespace kith::identity {
namespace {

constexpr size_t kSeedBytes = crypto_sign_SEEDBYTES;
// A rotation keeps the old key for at most a year (and now + overlap cannot overflow).
constexpr std::chrono::seconds kMaxRotationOverlap{366 * 24 * 3600};

Status EnsureSodium() {
  if (sodium_init() < 0) return MakeError(ErrorCode::kInternal, "libsodium failed to initialise");
  return OkStatus();
}

std::string Base64(std::span<const uint8_t> bytes, int variant) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), variant);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::array<uint8_t, crypto_hash_sha256_BYTES> Sha256(std::string_view data) {
  std::array<uint8_t, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(data.data()),
                     data.size());
  return digest;
}

std::string ErrnoText(int err) { return std::generic_category().message(err); }

// Closes a file descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

// Makes DATA_DIR/keys (0700), or checks an existing one is a directory and tightens its mode.
Status EnsureKeysDir(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return MakeError(ErrorCode::kInternal,
                     "cannot create key directory " + dir.string() + ": " + ErrnoText(errno));
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return MakeError(ErrorCode::kInternal, "key directory " + dir.string() + " is not a directory");
  }
  if ((st.st_mode & 0777) != 0700 && ::chmod(dir.c_str(), 0700) != 0) {
    return MakeError(ErrorCode::kInternal,
                     "cannot set mode 0700 on " + dir.string() + ": " + ErrnoText(errno));
  }
  return OkStatus();
}

// Writes `bytes` to `path` atomically: a temporary file (0600) in the same directory, fsync,
// rename, fsync of the directory. Nothing is left behind on failure.
Status WriteFileAtomically(const std::filesystem::path& path, std::span<const uint8_t> bytes) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    return MakeError(ErrorCode::kInternal,
                     "cannot create " + tmp.string() + ": " + ErrnoText(errno));
  }
  auto fail = [&](std::string what) {
    int err = errno;
    ::unlink(tmp.c_str());
    return MakeError(ErrorCode::kInternal, what + " " + tmp.string() + ": " + ErrnoText(err));
  };
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd.get(), bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("cannot write");
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail("cannot fsync");
  if (::close(fd.release()) != 0) return fail("cannot close");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("cannot rename into place");
  Fd dir(::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() >= 0) ::fsync(dir.get());
  return OkStatus();
}

// Reads the 32-byte seed of key `kid`, refusing files readable by group or others.
Status ReadSeed(const std::filesystem::path& path, std::array<uint8_t, kSeedBytes>& seed) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    return MakeError(ErrorCode::kInternal,
                     "cannot open node key file " + path.string() + ": " + ErrnoText(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return MakeError(ErrorCode::kInternal,
                     "node key file " + path.string() + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return MakeError(ErrorCode::kPermissionDenied,
                     "node key file " + path.string() + " has mode " + mode +
                         "; it must be readable by its owner only (chmod 600 " + path.string() +
                         ")");
  }
  if (st.st_size != static_cast<off_t>(kSeedBytes)) {
    return MakeError(ErrorCode::kInternal, "node key file " + path.string() + " has " +
                                               std::to_string(st.st_size) + " bytes, expected " +
                                               std::to_string(kSeedBytes));
  }
  size_t got = 0;
  while (got < kSeedBytes) {
    ssize_t n = ::read(fd.get(), seed.data() + got, kSeedBytes - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return MakeError(ErrorCode::kInternal, "cannot read node key file " + path.string());
    }
    got += static_cast<size_t>(n);
  }
  return OkStatus();
}

std::filesystem::path KeyPath(const std::filesystem::path& data_dir, const std::string& kid) {
  return data_dir / "keys" / (kid + ".key");
}

// Overwrites a key file with zeros, fsyncs it and removes it. A missing file is fine.
Status WipeAndRemove(const std::filesystem::path& path) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    if (errno == ENOENT) return OkStatus();
    return MakeError(ErrorCode::kInternal,
                     "cannot open node key file " + path.string() + ": " + ErrnoText(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    const std::vector<uint8_t> zeros(static_cast<size_t>(st.st_size), 0);
    size_t written = 0;
    while (written < zeros.size()) {
      ssize_t n = ::write(fd.get(), zeros.data() + written, zeros.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // still remove it below
      written += static_cast<size_t>(n);
    }
    ::fsync(fd.get());
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return MakeError(ErrorCode::kInternal,
                     "cannot remove node key file " + path.string() + ": " + ErrnoText(errno));
  }
  Fd dir(::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() >= 0) ::fsync(dir.get());
  return OkStatus();
}

// The kids of the rows of node_keys matching `where` (a constant SQL condition), oldest first.
Result<std::vector<std::string>> KidsWhere(storage::Database& db, std::string_view where,
                                           std::optional<int64_t> param) {
  auto stmt = db.Prepare("SELECT kid FROM node_keys WHERE " + std::string(where) + " ORDER BY id");
  if (!stmt.ok()) return std::move(stmt).error();
  if (param) stmt->Bind(1, *param);
  std::vector<std::string> kids;
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return std::move(row).error();
    if (!*row) break;
    kids.push_back(stmt->ColumnText(0));
  }
  return kids;
}

NodeKey KeyFromRow(const storage::Statement& row) {
  NodeKey key;
  key.kid = row.ColumnText(0);
  key.algorithm = row.ColumnText(1);
  std::vector<uint8_t> pk = row.ColumnBlob(2);
  if (pk.size() == key.public_key.size()) std::memcpy(key.public_key.data(), pk.data(), pk.size());
  key.created_at = row.ColumnInt(3);
  if (!row.ColumnIsNull(4)) key.not_after = row.ColumnInt(4);
  key.status = row.ColumnText(5);
  return key;
}

}  // namespace

std::string KeyIdFor(const Ed25519PublicKey& public_key) {
  // RFC 7638: the required members in lexicographic order, no whitespace.
  const std::string x = Base64(public_key, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  const std::string jwk = R"({"crv":"Ed25519","kty":"OKP","x":")" + x + R"("})";
  return Base64(Sha256(jwk), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

std::string Fingerprint(const Ed25519PublicKey& public_key) {
  const std::string_view raw(reinterpret_cast<const char*>(public_key.data()), public_key.size());
  return "SHA256:" + Base64(Sha256(raw), sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}

Result<NodeKey> NodeKeyring::CreateInitial(const std::filesystem::path& data_dir,
                                           storage::Database& db, const Clock& clock) {
  KITH_RETURN_IF_ERROR(EnsureSodium());
  {
    auto count = db.Prepare("SELECT count(*) FROM node_keys");
    if (!count.ok()) return std::move(count).error();
    auto row = count->Step();
    if (!row.ok()) return std::move(row).error();
    if (*row && count->ColumnInt(0) > 0) {
      return MakeError(ErrorCode::kConflict,
                       "the node in " + data_dir.string() + " already has a key");
    }
  }
  KITH_RETURN_IF_ERROR(EnsureKeysDir(data_dir / "keys"));

  NodeKey key;
  std::array<uint8_t, crypto_sign_SECRETKEYBYTES> secret{};
  crypto_sign_keypair(key.public_key.data(), secret.data());
  key.kid = KeyIdFor(key.public_key);
  key.created_at = clock.UnixSeconds();
  // libsodium's secret key is seed || public key; only the seed is stored.
  const std::filesystem::path path = KeyPath(data_dir, key.kid);
  Status written = WriteFileAtomically(path, std::span(secret.data(), kSeedBytes));
  sodium_memzero(secret.data(), secret.size());
  KITH_RETURN_IF_ERROR(written);

  auto insert = db.Prepare(
      "INSERT INTO node_keys (kid, algorithm, public_key, created_at, status) "
      "VALUES (?1, ?2, ?3, ?4, 'current')");
  Status inserted = insert.ok() ? insert->Bind(1, std::string_view(key.kid))
                                      .Bind(2, std::string_view(key.algorithm))
                                      .BindBlob(3, key.public_key)
                                      .Bind(4, key.created_at)
                                      .Run()
                                : Status(insert.error());
  if (!inserted.ok()) {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
    return std::move(inserted).error();
  }
  return key;
}

Result<NodeKeyring::Rotation> NodeKeyring::Rotate(const std::filesystem::path& data_dir,
                                                  storage::Store& store, const Clock& clock,
                                                  std::chrono::seconds overlap) {
  KITH_RETURN_IF_ERROR(EnsureSodium());
  if (overlap.count() < 0 || overlap > kMaxRotationOverlap) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "the overlap of a key rotation must be between 0 and " +
                         std::to_string(kMaxRotationOverlap.count()) + " seconds");
  }
  KITH_RETURN_IF_ERROR(EnsureKeysDir(data_dir / "keys"));

  Rotation rotation;
  NodeKey& key = rotation.new_key;
  std::array<uint8_t, crypto_sign_SECRETKEYBYTES> secret{};
  crypto_sign_keypair(key.public_key.data(), secret.data());
  key.kid = KeyIdFor(key.public_key);
  key.created_at = clock.UnixSeconds();
  const std::filesystem::path path = KeyPath(data_dir, key.kid);
  Status written = WriteFileAtomically(path, std::span(secret.data(), kSeedBytes));
  sodium_memzero(secret.data(), secret.size());
  KITH_RETURN_IF_ERROR(written);

  const int64_t not_after = key.created_at + overlap.count();
  Status committed = store.writer().SubmitAndWait([&](storage::Database& db) -> Status {
    rotation.superseded.clear();
    auto rows = db.Prepare(
        "SELECT kid, algorithm, public_key, created_at, not_after, status FROM node_keys "
        "WHERE status = 'current' ORDER BY id");
    if (!rows.ok()) return std::move(rows).error();
    while (true) {
      auto step = rows->Step();
      if (!step.ok()) return std::move(step).error();
      if (!*step) break;
      NodeKey old = KeyFromRow(*rows);
      old.status = "retiring";
      old.not_after = not_after;
      rotation.superseded.push_back(std::move(old));
    }
    if (rotation.superseded.empty()) {
      return MakeError(ErrorCode::kNotFound, "the node in " + data_dir.string() +
                                                 " has no current key to rotate (run `kithctl "
                                                 "init`)");
    }
    auto retire = db.Prepare(
        "UPDATE node_keys SET status = 'retiring', not_after = ?1 WHERE status = 'current'");
    if (!retire.ok()) return std::move(retire).error();
    KITH_RETURN_IF_ERROR(retire->Bind(1, not_after).Run());
    auto insert = db.Prepare(
        "INSERT INTO node_keys (kid, algorithm, public_key, created_at, status) "
        "VALUES (?1, ?2, ?3, ?4, 'current')");
    if (!insert.ok()) return std::move(insert).error();
    return insert->Bind(1, std::string_view(key.kid))
        .Bind(2, std::string_view(key.algorithm))
        .BindBlob(3, key.public_key)
        .Bind(4, key.created_at)
        .Run();
  });
  if (!committed.ok()) {
    (void)WipeAndRemove(path);
    return std::move(committed).error();
  }
  return rotation;
}

Result<std::vector<std::string>> NodeKeyring::PurgeExpired(const std::filesystem::path& data_dir,
                                                           storage::Store& store,
                                                           const Clock& clock) {
  const int64_t now = clock.UnixSeconds();
  std::vector<std::string> purged;
  std::vector<std::string> retired;
  Status committed = store.writer().SubmitAndWait([&](storage::Database& db) -> Status {
    constexpr std::string_view kExpired = "status = 'retiring' AND not_after <= ?1";
    auto expired = KidsWhere(db, kExpired, now);
    if (!expired.ok()) return std::move(expired).error();
    purged = std::move(expired).value();
    if (!purged.empty()) {
      auto update =
          db.Prepare("UPDATE node_keys SET status = 'retired' WHERE " + std::string(kExpired));
      if (!update.ok()) return std::move(update).error();
      KITH_RETURN_IF_ERROR(update->Bind(1, now).Run());
    }
    // Every retired key, so that a file left behind by an earlier failed removal goes too.
    auto all_retired = KidsWhere(db, "status = 'retired'", std::nullopt);
    if (!all_retired.ok()) return std::move(all_retired).error();
    retired = std::move(all_retired).value();
    return OkStatus();
  });
  if (!committed.ok()) return std::move(committed).error();
  for (const std::string& kid : retired)
    KITH_RETURN_IF_ERROR(WipeAndRemove(KeyPath(data_dir, kid)));
  return purged;
}

Result<std::vector<NodeKey>> NodeKeyring::List(storage::Database& db) {
  auto rows = db.Prepare(
      "SELECT kid, algorithm, public_key, created_at, not_after, status FROM node_keys "
      "ORDER BY id DESC");
  if (!rows.ok()) return std::move(rows).error();
  std::vector<NodeKey> keys;
  while (true) {
    auto step = rows->Step();
    if (!step.ok()) return std::move(step).error();
    if (!*step) break;
    keys.push_back(KeyFromRow(*rows));
  }
  return keys;
}

std::filesystem::path NodeKeyring::KeyFile(const std::filesystem::path& data_dir,
                                           std::string_view kid) {
  return KeyPath(data_dir, std::string(kid));
}

Result<std::shared_ptr<const NodeKeyring>> NodeKeyring::Load(const std::filesystem::path& data_dir,
                                                             storage::Database& db) {
  KITH_RETURN_IF_ERROR(EnsureSodium());
  // new: the constructor is private to keep keyrings immutable once loaded.
  std::shared_ptr<NodeKeyring> ring(new NodeKeyring());
  {
    auto rows = db.Prepare(
        "SELECT kid, algorithm, public_key, created_at, not_after, status FROM node_keys "
        "ORDER BY id");
    if (!rows.ok()) return std::move(rows).error();
    bool have_current = false;
    while (true) {
      auto step = rows->Step();
      if (!step.ok()) return std::move(step).error();
      if (!*step) break;
      NodeKey key = KeyFromRow(*rows);
      if (key.algorithm != "ed25519" || rows->ColumnBlob(2).size() != key.public_key.size()) {
        return MakeError(ErrorCode::kInternal,
                         "node key " + key.kid + " in the database is not a valid Ed25519 key");
      }
      if (key.status == "current") {
        ring->current_ = key;  // the newest current key wins
        have_current = true;
      }
      ring->all_.push_back(std::move(key));
    }
    if (!have_current) {
      return MakeError(ErrorCode::kNotFound, "the node in " + data_dir.string() +
                                                 " has no current key (run `kithctl init`)");
    }
  }

  std::array<uint8_t, kSeedBytes> seed{};
  Status read = ReadSeed(KeyPath(data_dir, ring->current_.kid), seed);
  if (!read.ok()) {
    sodium_memzero(seed.data(), seed.size());
    return std::move(read).error();
  }
  Ed25519PublicKey derived{};
  crypto_sign_seed_keypair(derived.data(), ring->secret_.data(), seed.data());
  sodium_memzero(seed.data(), seed.size());
  if (sodium_memcmp(derived.data(), ring->current_.public_key.data(), derived.size()) != 0) {
    return MakeError(ErrorCode::kInternal,
                     "node key file " + KeyPath(data_dir, ring->current_.kid).string() +
                         " does not match the public key recorded in the database");
  }
  return std::shared_ptr<const NodeKeyring>(std::move(ring));
}

NodeKeyring::~NodeKeyring() { sodium_memzero(secret_.data(), secret_.size()); }

std::vector<NodeKey> NodeKeyring::Published(int64_t now_unix) const {
  std::vector<NodeKey> out;
  for (const NodeKey& key : all_) {
    if (key.status == "retired") continue;
    if (key.kid != current_.kid && key.not_after && *key.not_after <= now_unix) continue;
    out.push_back(key);
  }
  return out;
}

Ed25519Signature NodeKeyring::Sign(std::span<const uint8_t> message) const {
  Ed25519Signature signature{};
  crypto_sign_detached(signature.data(), nullptr, message.data(), message.size(), secret_.data());
  return signature;
}

}  // namespace kith::identity
