#include "identity/oidc_keys.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace kith::identity {
namespace {

namespace fs = std::filesystem;
using storage::Database;
using storage::Statement;

using storage::StatementReset;

OidcKeyInfo ReadInfo(const Statement& s) {
  OidcKeyInfo info;
  info.id = s.ColumnInt(0);
  info.kid = s.ColumnText(1);
  info.created_at = s.ColumnInt(2);
  if (!s.ColumnIsNull(3)) info.not_after = s.ColumnInt(3);
  info.status = s.ColumnText(4);
  return info;
}

constexpr std::string_view kColumns = "id, kid, created_at, not_after, status";

Result<std::vector<OidcKeyInfo>> Query(Database& db, std::string_view sql,
                                       std::optional<int64_t> param) {
  auto stmt = db.Cached(sql);
  if (!stmt.ok()) return stmt.error();
  StatementReset reset{*stmt};
  if (param) (*stmt)->Bind(1, *param);
  std::vector<OidcKeyInfo> out;
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.error();
    if (!*row) break;
    out.push_back(ReadInfo(**stmt));
  }
  return out;
}

Error FileError(const fs::path& path, std::string what) {
  return MakeError(ErrorCode::kInternal, path.string() + ": " + what);
}

// Writes `text` to a new file with mode 0600 (refusing to overwrite) and fsyncs it.
Status WriteSecretFile(const fs::path& path, std::string_view text) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return FileError(path.parent_path(), "cannot create directory: " + ec.message());
  ::chmod(path.parent_path().c_str(), 0700);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return FileError(path, std::string("cannot create: ") + std::strerror(errno));
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string err = std::strerror(errno);
      ::close(fd);
      ::unlink(path.c_str());
      return FileError(path, "cannot write: " + err);
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(path.c_str());
    return FileError(path, "cannot sync");
  }
  return OkStatus();
}

// Reads a PEM key file, insisting on mode 0600 (no group/other access).
Result<std::unique_ptr<RsaSigningKey>> ReadKeyFile(const fs::path& path, std::string_view kid) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return FileError(path,
                     std::string("cannot read the OIDC signing key: ") + std::strerror(errno));
  if ((st.st_mode & 077) != 0)
    return FileError(path, "the OIDC signing key must have mode 0600 (chmod 600 it)");
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (!in) return FileError(path, "cannot read the OIDC signing key");
  std::string pem = buffer.str();
  auto key = RsaSigningKey::FromPem(pem);
  sodium_memzero(pem.data(), pem.size());
  if (!key.ok()) return FileError(path, key.error().message);
  if ((*key)->kid() != kid)
    return FileError(
        path, "holds key " + (*key)->kid() + ", but the database expects " + std::string(kid));
  return key;
}

struct NewKey {
  std::unique_ptr<RsaSigningKey> key;
  fs::path path;
};

// Generates an RSA key and writes its PEM file.
Result<NewKey> GenerateAndWrite(const fs::path& data_dir) {
  auto key = RsaSigningKey::Generate(2048);
  if (!key.ok()) return key.error();
  auto pem = (*key)->ToPem();
  if (!pem.ok()) return pem.error();
  NewKey out{std::move(key).value(), {}};
  out.path = OidcKeys::PemPath(data_dir, out.key->kid());
  Status written = WriteSecretFile(out.path, *pem);
  sodium_memzero(pem->data(), pem->size());
  if (!written.ok()) return std::move(written).error();
  return out;
}

Status InsertCurrent(Database& db, const std::string& kid, int64_t now) {
  auto stmt = db.Cached(
      "INSERT INTO oidc_keys (kid, algorithm, created_at, not_after, status) "
      "VALUES (?1, 'RS256', ?2, NULL, 'current')");
  if (!stmt.ok()) return stmt.error();
  (*stmt)->Bind(1, std::string_view(kid)).Bind(2, now);
  return (*stmt)->Run();
}

}  // namespace

fs::path OidcKeys::PemPath(const fs::path& data_dir, std::string_view kid) {
  return data_dir / "keys" / ("oidc-rsa-" + std::string(kid) + ".pem");
}

Result<std::vector<OidcKeyInfo>> OidcKeys::List(storage::Store& store) {
  return store.Read([](Database& db) {
    return Query(db,
                 "SELECT id, kid, created_at, not_after, status FROM oidc_keys ORDER BY id DESC",
                 std::nullopt);
  });
}

Result<OidcKeyInfo> OidcKeys::EnsureRsaKey(const fs::path& data_dir, storage::Store& store,
                                           const Clock& clock) {
  auto keys = List(store);
  if (!keys.ok()) return keys.error();
  for (const auto& info : *keys)
    if (info.status == "current") return info;
  auto created = GenerateAndWrite(data_dir);
  if (!created.ok()) return created.error();
  OidcKeyInfo info;
  info.kid = created->key->kid();
  info.created_at = clock.UnixSeconds();
  Status status = store.writer().SubmitAndWait([&](Database& db) -> Status {
    KITH_RETURN_IF_ERROR(InsertCurrent(db, info.kid, info.created_at));
    info.id = db.LastInsertRowId();
    return OkStatus();
  });
  if (!status.ok()) {
    std::error_code ec;
    fs::remove(created->path, ec);
    return std::move(status).error();
  }
  return info;
}

void OidcKeys::Rotate(const fs::path& data_dir, storage::Store& store, const Clock& clock,
                      std::chrono::seconds overlap, Done<OidcKeyInfo> done) {
  if (overlap.count() < 0) {
    done(MakeError(ErrorCode::kInvalidArgument, "overlap: must not be negative"));
    return;
  }
  auto created = GenerateAndWrite(data_dir);
  if (!created.ok()) {
    done(std::move(created).error());
    return;
  }
  const int64_t now = clock.UnixSeconds();
  OidcKeyInfo info;
  info.kid = created->key->kid();
  info.created_at = now;
  SubmitWrite<OidcKeyInfo>(
      store.writer(),
      [info, not_after = now + overlap.count()](Database& db) mutable -> Result<OidcKeyInfo> {
        auto retire = db.Cached(
            "UPDATE oidc_keys SET status = 'retiring', not_after = ?1 WHERE status = 'current'");
        if (!retire.ok()) return retire.error();
        (*retire)->Bind(1, not_after);
        KITH_RETURN_IF_ERROR((*retire)->Run());
        KITH_RETURN_IF_ERROR(InsertCurrent(db, info.kid, info.created_at));
        info.id = db.LastInsertRowId();
        return info;
      },
      [path = created->path, done = std::move(done)](Result<OidcKeyInfo> result) {
        if (!result.ok()) {
          std::error_code ec;
          fs::remove(path, ec);
        }
        done(std::move(result));
      });
}

void OidcKeys::PurgeExpired(const fs::path& data_dir, storage::Store& store, const Clock& clock,
                            Done<int64_t> done) {
  SubmitWrite<int64_t>(
      store.writer(),
      [data_dir, now = clock.UnixSeconds()](Database& db) -> Result<int64_t> {
        auto expired = Query(db,
                             "SELECT id, kid, created_at, not_after, status FROM oidc_keys "
                             "WHERE status = 'retiring' AND not_after <= ?1",
                             now);
        if (!expired.ok()) return expired.error();
        auto del = db.Cached("DELETE FROM oidc_keys WHERE status = 'retiring' AND not_after <= ?1");
        if (!del.ok()) return del.error();
        (*del)->Bind(1, now);
        KITH_RETURN_IF_ERROR((*del)->Run());
        // Deleting the files before the commit is safe: these keys are no longer published
        // and no longer used for signing.
        for (const auto& info : *expired) {
          std::error_code ec;
          fs::remove(PemPath(data_dir, info.kid), ec);
        }
        return static_cast<int64_t>(expired->size());
      },
      std::move(done));
}

Result<std::shared_ptr<const OidcKeySet>> OidcKeySet::Load(const fs::path& data_dir,
                                                           storage::Store& store,
                                                           std::shared_ptr<const SigningKey> eddsa,
                                                           const Clock& clock) {
  const int64_t now = clock.UnixSeconds();
  auto infos = store.Read([now](Database& db) {
    return Query(db,
                 "SELECT id, kid, created_at, not_after, status FROM oidc_keys "
                 "WHERE status = 'current' OR not_after > ?1 ORDER BY id DESC",
                 now);
  });
  if (!infos.ok()) return infos.error();
  auto set = std::shared_ptr<OidcKeySet>(new OidcKeySet());
  for (const auto& info : *infos) {
    auto key = ReadKeyFile(OidcKeys::PemPath(data_dir, info.kid), info.kid);
    if (!key.ok()) return key.error();
    std::shared_ptr<const SigningKey> shared = std::move(key).value();
    if (info.status == "current" && !set->rsa_current_) {
      set->rsa_current_ = shared;
    } else {
      set->rsa_retiring_.push_back(shared);
    }
  }
  if (!set->rsa_current_)
    return MakeError(ErrorCode::kNotFound, "there is no current OIDC RSA signing key");
  set->published_.push_back(set->rsa_current_->public_jwk());
  for (const auto& key : set->rsa_retiring_) set->published_.push_back(key->public_jwk());
  if (eddsa) {
    if (eddsa->algorithm() != JwsAlgorithm::kEdDSA)
      return MakeError(ErrorCode::kInvalidArgument, "the EdDSA key is not an Ed25519 key");
    set->eddsa_ = std::move(eddsa);
    set->published_.push_back(set->eddsa_->public_jwk());
  }
  return std::shared_ptr<const OidcKeySet>(std::move(set));
}

const SigningKey* OidcKeySet::SignerFor(JwsAlgorithm alg) const {
  if (alg == JwsAlgorithm::kRS256) return rsa_current_.get();
  if (alg == JwsAlgorithm::kEdDSA) return eddsa_.get();
  return nullptr;
}

}  // namespace kith::identity
