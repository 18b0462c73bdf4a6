// NetworkStore: the SQL and keys of networks. See network_store.h.
#include "federation/network_store.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <set>
#include <system_error>
#include <utility>

#include "identity/member.h"
#include "identity/node_keys.h"

namespace kith::federation {
namespace {

using nlohmann::json;

constexpr size_t kSeedBytes = crypto_sign_SEEDBYTES;
constexpr size_t kMaxNetworkName = 63;
constexpr size_t kMaxDisplayName = 200;
constexpr int64_t kMinStatementLifetime = 60;
constexpr int64_t kMaxStatementLifetime = 366 * 86400;
constexpr int kMaxPathLengthLimit = 16;

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

// DATA_DIR/keys (0700), as identity/node_keys.cc makes it.
Status EnsureKeysDir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir.parent_path(), ec);
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

// Writes `bytes` to the new file `path` (0600, must not exist), fsynced. Removed on failure.
Status WriteNewFile(const std::filesystem::path& path, std::span<const uint8_t> bytes) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    return MakeError(ErrorCode::kInternal,
                     "cannot create " + path.string() + ": " + ErrnoText(errno));
  }
  auto fail = [&](std::string what) {
    int err = errno;
    ::unlink(path.c_str());
    return MakeError(ErrorCode::kInternal, what + " " + path.string() + ": " + ErrnoText(err));
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
  return OkStatus();
}

void FsyncDir(const std::filesystem::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() >= 0) ::fsync(fd.get());
}

// Overwrites a file with zeros and removes it (a missing file is fine).
void WipeAndRemove(const std::filesystem::path& path) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() >= 0) {
    const std::array<uint8_t, kSeedBytes> zeros{};
    if (::write(fd.get(), zeros.data(), zeros.size()) > 0) ::fsync(fd.get());
  }
  ::unlink(path.c_str());
}

// Reads a 32-byte seed, refusing files readable by group or others.
Status ReadSeed(const std::filesystem::path& path, std::array<uint8_t, kSeedBytes>& seed) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    return MakeError(ErrorCode::kInternal,
                     "cannot open network key file " + path.string() + ": " + ErrnoText(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return MakeError(ErrorCode::kInternal,
                     "network key file " + path.string() + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    return MakeError(ErrorCode::kPermissionDenied,
                     "network key file " + path.string() +
                         " must be readable by its owner only (chmod 600 " + path.string() + ")");
  }
  if (st.st_size != static_cast<off_t>(kSeedBytes)) {
    return MakeError(ErrorCode::kInternal, "network key file " + path.string() + " has " +
                                               std::to_string(st.st_size) + " bytes, expected " +
                                               std::to_string(kSeedBytes));
  }
  size_t got = 0;
  while (got < kSeedBytes) {
    ssize_t n = ::read(fd.get(), seed.data() + got, kSeedBytes - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return MakeError(ErrorCode::kInternal, "cannot read network key file " + path.string());
    }
    got += static_cast<size_t>(n);
  }
  return OkStatus();
}

std::filesystem::path KeyPath(const std::filesystem::path& data_dir, std::string_view name) {
  return data_dir / "keys" / ("network-" + std::string(name) + ".key");
}

Status ValidateNetworkName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNetworkName) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "a network name must have 1 to 63 characters of a-z, 0-9 and '-'");
  }
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return MakeError(ErrorCode::kInvalidArgument, "network name \"" + std::string(name) +
                                                        "\" may contain only a-z, 0-9 and '-'");
    }
  }
  return OkStatus();
}

// A networks row with its public key.
struct NetworkRow {
  Network network;
  identity::Ed25519PublicKey public_key{};
};

constexpr std::string_view kNetworkColumns =
    "id, name, entity_id, display_name, superior, kid, public_key, statement_lifetime, "
    "created_at";

NetworkRow NetworkFromRow(const storage::Statement& row) {
  NetworkRow out;
  Network& n = out.network;
  n.id = row.ColumnInt(0);
  n.name = row.ColumnText(1);
  n.entity_id = row.ColumnText(2);
  n.display_name = row.ColumnText(3);
  n.superior = row.ColumnIsNull(4) ? "" : row.ColumnText(4);
  n.kid = row.ColumnText(5);
  std::vector<uint8_t> pk = row.ColumnBlob(6);
  if (pk.size() == out.public_key.size()) std::memcpy(out.public_key.data(), pk.data(), pk.size());
  n.fingerprint = identity::Fingerprint(out.public_key);
  n.statement_lifetime = row.ColumnInt(7);
  n.created_at = row.ColumnInt(8);
  return out;
}

Result<std::optional<NetworkRow>> FindNetworkRow(storage::Database& db, std::string_view key) {
  auto stmt = db.Cached("SELECT " + std::string(kNetworkColumns) +
                        " FROM networks WHERE name = ?1 OR entity_id = ?1");
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, key);
  auto row = (*stmt)->Step();
  if (!row.ok()) return std::move(row).error();
  if (!*row) return std::optional<NetworkRow>();
  return std::optional<NetworkRow>(NetworkFromRow(**stmt));
}

Result<NetworkRow> RequireNetworkRow(storage::Database& db, std::string_view key) {
  auto row = FindNetworkRow(db, key);
  if (!row.ok()) return std::move(row).error();
  if (!*row) {
    return MakeError(ErrorCode::kNotFound, "no network \"" + std::string(key) + "\" on this node");
  }
  return std::move(**row);
}

std::string JwksText(const std::vector<identity::PublicJwk>& keys) {
  return identity::JwksDocument(keys).dump();
}

std::vector<identity::PublicJwk> KeysFromText(const std::string& text) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) return {};
  auto keys = identity::ParseJwks(doc);
  if (!keys.ok()) return {};
  return std::move(keys).value();
}

// A network_members row with what is needed to (re)issue its statement.
struct MemberRow {
  int64_t id = 0;
  NetworkMember member;
  std::string statement;
  int64_t statement_iat = 0;
};

constexpr std::string_view kMemberColumns =
    "id, entity_id, organisation, jwks, intermediate, max_path_length, added_at, withdrawn_at, "
    "statement, statement_iat, statement_exp, last_contact_at, last_error";

MemberRow MemberFromRow(const storage::Statement& row) {
  MemberRow out;
  out.id = row.ColumnInt(0);
  NetworkMember& m = out.member;
  m.entity_id = row.ColumnText(1);
  m.organisation = row.ColumnText(2);
  m.keys = KeysFromText(row.ColumnText(3));
  m.intermediate = row.ColumnInt(4) != 0;
  if (!row.ColumnIsNull(5)) m.max_path_length = static_cast<int>(row.ColumnInt(5));
  m.added_at = row.ColumnInt(6);
  if (!row.ColumnIsNull(7)) m.withdrawn_at = row.ColumnInt(7);
  if (!row.ColumnIsNull(8)) out.statement = row.ColumnText(8);
  if (!row.ColumnIsNull(9)) out.statement_iat = row.ColumnInt(9);
  if (!row.ColumnIsNull(10)) m.statement_exp = row.ColumnInt(10);
  if (!row.ColumnIsNull(11)) m.last_contact_at = row.ColumnInt(11);
  if (!row.ColumnIsNull(12)) m.last_error = row.ColumnText(12);
  return out;
}

Result<std::optional<MemberRow>> FindMemberRow(storage::Database& db, int64_t network,
                                               std::string_view entity_id) {
  auto stmt = db.Cached("SELECT " + std::string(kMemberColumns) +
                        " FROM network_members WHERE network = ?1 AND entity_id = ?2");
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  (*stmt)->Bind(1, network).Bind(2, entity_id);
  auto row = (*stmt)->Step();
  if (!row.ok()) return std::move(row).error();
  if (!*row) return std::optional<MemberRow>();
  return std::optional<MemberRow>(MemberFromRow(**stmt));
}

// Whether a stored statement has at most half its lifetime left (or none at all).
bool StatementDue(const MemberRow& row, int64_t now) {
  if (row.statement.empty() || !row.member.statement_exp) return true;
  const int64_t exp = *row.member.statement_exp;
  return 2 * (exp - now) <= exp - row.statement_iat;
}

// A subordinate statement about `member` by `network`, issued now.
Result<std::string> SignSubordinate(const Network& network, const NetworkMember& member,
                                    const identity::SigningKey& key, int64_t now) {
  EntityStatement statement;
  statement.iss = network.entity_id;
  statement.sub = member.entity_id;
  statement.iat = now;
  statement.exp = now + network.statement_lifetime;
  statement.jwks = member.keys;
  if (!member.organisation.empty()) {
    statement.metadata = json{{"federation_entity", {{"organization_name", member.organisation}}}};
  }
  if (member.intermediate && member.max_path_length) {
    Constraints constraints;
    constraints.max_path_length = member.max_path_length;
    statement.constraints = constraints;
  }
  return SignEntityStatement(statement, key);
}

Status StoreStatement(storage::Database& db, int64_t member_row, const std::string& statement,
                      int64_t iat, int64_t exp) {
  auto stmt = db.Cached(
      "UPDATE network_members SET statement = ?2, statement_iat = ?3, statement_exp = ?4 "
      "WHERE id = ?1 AND withdrawn_at IS NULL");
  if (!stmt.ok()) return std::move(stmt).error();
  storage::StatementReset reset{*stmt};
  KITH_RETURN_IF_ERROR(
      (*stmt)->Bind(1, member_row).Bind(2, statement).Bind(3, iat).Bind(4, exp).Run());
  if (db.Changes() == 0) {
    return MakeError(ErrorCode::kNotFound, "the member was withdrawn meanwhile");
  }
  return OkStatus();
}

Status ValidateKeys(const std::vector<identity::PublicJwk>& keys) {
  if (keys.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "a network member needs at least one key");
  }
  if (keys.size() > kMaxStatementKeys) {
    return MakeError(ErrorCode::kInvalidArgument, "a network member may have at most " +
                                                      std::to_string(kMaxStatementKeys) + " keys");
  }
  return OkStatus();
}

}  // namespace

NetworkStore::NetworkStore(storage::Store& store, const Clock& clock,
                           std::filesystem::path data_dir, std::string base_url, bool allow_http)
    : store_(store),
      clock_(clock),
      data_dir_(std::move(data_dir)),
      base_url_(std::move(base_url)),
      allow_http_(allow_http) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
}

// --- Operator side -----------------------------------------------------------------------

Result<Network> NetworkStore::Create(std::string_view name, std::string_view display_name,
                                     std::string_view superior, int64_t statement_lifetime) {
  KITH_RETURN_IF_ERROR(ValidateNetworkName(name));
  KITH_RETURN_IF_ERROR(
      identity::ValidateText("display_name", display_name, kMaxDisplayName, false));
  if (statement_lifetime < kMinStatementLifetime || statement_lifetime > kMaxStatementLifetime) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "statement_lifetime must be between " + std::to_string(kMinStatementLifetime) +
                         " and " + std::to_string(kMaxStatementLifetime) + " seconds");
  }
  Network network;
  network.name = std::string(name);
  network.entity_id = base_url_ + std::string(kNetworksPathPrefix) + network.name;
  network.display_name = std::string(display_name);
  network.superior = std::string(superior);
  network.statement_lifetime = statement_lifetime;
  network.created_at = clock_.UnixSeconds();
  KITH_RETURN_IF_ERROR(ValidateEntityId(network.entity_id, allow_http_));
  if (!network.superior.empty()) {
    auto valid = ValidateEntityId(network.superior, allow_http_);
    if (!valid.ok()) {
      return MakeError(ErrorCode::kInvalidArgument, "superior: " + valid.error().message);
    }
    if (network.superior == network.entity_id) {
      return MakeError(ErrorCode::kInvalidArgument, "a network cannot be its own superior");
    }
  }
  if (sodium_init() < 0) return MakeError(ErrorCode::kInternal, "libsodium failed to initialise");
  const std::filesystem::path keys_dir = data_dir_ / "keys";
  KITH_RETURN_IF_ERROR(EnsureKeysDir(keys_dir));

  // The seed goes to a fresh temporary file first; inside the write job (which the writer
  // serialises with every other Create) it is renamed into place only once the name is known
  // to be free, so a concurrent or repeated Create never replaces a live network's key. A
  // file left behind by a job whose commit then failed has no row: harmless, and replaced by
  // the next Create of that name.
  identity::Ed25519PublicKey public_key{};
  std::array<uint8_t, crypto_sign_SECRETKEYBYTES> secret{};
  crypto_sign_keypair(public_key.data(), secret.data());
  const std::filesystem::path path = KeyPath(data_dir_, network.name);
  const std::filesystem::path tmp =
      keys_dir / ("network-" + network.name + "." + identity::RandomBase64Url(9) + ".tmp");
  Status written = WriteNewFile(tmp, std::span(secret.data(), kSeedBytes));
  sodium_memzero(secret.data(), secret.size());
  KITH_RETURN_IF_ERROR(written);
  network.kid = identity::KeyIdFor(public_key);
  network.fingerprint = identity::Fingerprint(public_key);

  bool renamed = false;
  Status committed = store_.writer().SubmitAndWait([&](storage::Database& db) -> Status {
    auto existing = FindNetworkRow(db, network.name);
    if (!existing.ok()) return std::move(existing).error();
    if (*existing) {
      return MakeError(ErrorCode::kConflict,
                       "a network \"" + network.name + "\" already exists on this node");
    }
    if (!renamed) {
      if (::rename(tmp.c_str(), path.c_str()) != 0) {
        return MakeError(ErrorCode::kInternal, "cannot move the network key into place at " +
                                                   path.string() + ": " + ErrnoText(errno));
      }
      renamed = true;
      FsyncDir(keys_dir);
    }
    auto insert = db.Prepare(
        "INSERT INTO networks (name, entity_id, display_name, superior, kid, public_key, "
        "statement_lifetime, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!insert.ok()) return std::move(insert).error();
    KITH_RETURN_IF_ERROR(insert->Bind(1, network.name)
                             .Bind(2, network.entity_id)
                             .Bind(3, network.display_name)
                             .Bind(4, network.superior.empty()
                                          ? std::optional<std::string>()
                                          : std::optional<std::string>(network.superior))
                             .Bind(5, network.kid)
                             .BindBlob(6, public_key)
                             .Bind(7, network.statement_lifetime)
                             .Bind(8, network.created_at)
                             .Run());
    network.id = db.LastInsertRowId();
    return OkStatus();
  });
  if (!renamed) WipeAndRemove(tmp);
  if (!committed.ok()) return std::move(committed).error();
  std::lock_guard lock(keys_mu_);
  keys_.erase(network.name);  // a stale key of an earlier network of that name
  return network;
}

Result<std::vector<Network>> NetworkStore::Networks() {
  return store_.Read([&](storage::Database& db) -> Result<std::vector<Network>> {
    auto stmt =
        db.Prepare("SELECT " + std::string(kNetworkColumns) + " FROM networks ORDER BY name");
    if (!stmt.ok()) return std::move(stmt).error();
    std::vector<Network> out;
    while (true) {
      auto row = stmt->Step();
      if (!row.ok()) return std::move(row).error();
      if (!*row) break;
      out.push_back(NetworkFromRow(*stmt).network);
    }
    return out;
  });
}

Result<std::optional<Network>> NetworkStore::FindNetwork(std::string_view name_or_entity_id) {
  return store_.Read([&](storage::Database& db) -> Result<std::optional<Network>> {
    auto row = FindNetworkRow(db, name_or_entity_id);
    if (!row.ok()) return std::move(row).error();
    if (!*row) return std::optional<Network>();
    return std::optional<Network>((*row)->network);
  });
}

Result<std::shared_ptr<const identity::SigningKey>> NetworkStore::KeyFor(const Network& network) {
  {
    std::lock_guard lock(keys_mu_);
    auto it = keys_.find(network.name);
    if (it != keys_.end() && it->second->kid() == network.kid) return it->second;
  }
  std::array<uint8_t, kSeedBytes> seed{};
  Status read = ReadSeed(KeyPath(data_dir_, network.name), seed);
  if (!read.ok()) {
    sodium_memzero(seed.data(), seed.size());
    return std::move(read).error();
  }
  auto key = identity::Ed25519SigningKey::FromSeed(seed, network.kid);
  sodium_memzero(seed.data(), seed.size());
  if (!key.ok()) return std::move(key).error();
  // The file must hold the key whose public half the row records.
  if ((*key)->public_jwk().Thumbprint() != network.kid) {
    return MakeError(ErrorCode::kInternal, "network key file " +
                                               KeyPath(data_dir_, network.name).string() +
                                               " does not hold the key of network " + network.name +
                                               " (kid " + network.kid + ")");
  }
  std::shared_ptr<const identity::SigningKey> shared = std::move(key).value();
  std::lock_guard lock(keys_mu_);
  keys_[network.name] = shared;
  return shared;
}

Result<NetworkMember> NetworkStore::AddMember(std::string_view network,
                                              const NewNetworkMember& member) {
  auto valid = ValidateEntityId(member.entity_id, allow_http_);
  if (!valid.ok()) return MakeError(ErrorCode::kInvalidArgument, valid.error().message);
  KITH_RETURN_IF_ERROR(ValidateKeys(member.keys));
  KITH_RETURN_IF_ERROR(identity::ValidateText("organisation", member.organisation,
                                              identity::kMaxOrganisation, false));
  if (member.max_path_length &&
      (*member.max_path_length < 0 || *member.max_path_length > kMaxPathLengthLimit)) {
    return MakeError(ErrorCode::kInvalidArgument, "max_path_length must be between 0 and " +
                                                      std::to_string(kMaxPathLengthLimit));
  }
  if (member.max_path_length && !member.intermediate) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "max_path_length applies to intermediates only (add --intermediate)");
  }
  auto found = FindNetwork(network);
  if (!found.ok()) return std::move(found).error();
  if (!*found) {
    return MakeError(ErrorCode::kNotFound,
                     "no network \"" + std::string(network) + "\" on this node");
  }
  const Network net = **found;
  if (member.entity_id == net.entity_id) {
    return MakeError(ErrorCode::kInvalidArgument, "a network cannot be a member of itself");
  }
  auto key = KeyFor(net);
  if (!key.ok()) return std::move(key).error();

  const int64_t now = clock_.UnixSeconds();
  NetworkMember stored;
  stored.entity_id = member.entity_id;
  stored.organisation = member.organisation;
  stored.keys = member.keys;
  stored.intermediate = member.intermediate;
  stored.max_path_length = member.max_path_length;
  auto statement = SignSubordinate(net, stored, **key, now);
  if (!statement.ok()) return std::move(statement).error();

  Status committed = store_.writer().SubmitAndWait([&](storage::Database& db) -> Status {
    // A re-added member (after a withdrawal) starts afresh; a current one keeps added_at.
    auto upsert = db.Prepare(
        "INSERT INTO network_members (network, entity_id, organisation, jwks, intermediate, "
        "max_path_length, added_at, statement, statement_iat, statement_exp) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7, ?9) "
        "ON CONFLICT (network, entity_id) DO UPDATE SET organisation = excluded.organisation, "
        "jwks = excluded.jwks, intermediate = excluded.intermediate, "
        "max_path_length = excluded.max_path_length, "
        "added_at = CASE WHEN withdrawn_at IS NULL THEN added_at ELSE excluded.added_at END, "
        "withdrawn_at = NULL, statement = excluded.statement, "
        "statement_iat = excluded.statement_iat, statement_exp = excluded.statement_exp");
    if (!upsert.ok()) return std::move(upsert).error();
    upsert->Bind(1, net.id)
        .Bind(2, member.entity_id)
        .Bind(3, member.organisation)
        .Bind(4, JwksText(member.keys))
        .Bind(5, int64_t{member.intermediate ? 1 : 0})
        .Bind(7, now)
        .Bind(8, *statement)
        .Bind(9, now + net.statement_lifetime);
    if (member.max_path_length) {
      upsert->Bind(6, int64_t{*member.max_path_length});
    } else {
      upsert->BindNull(6);
    }
    KITH_RETURN_IF_ERROR(upsert->Run());
    auto row = FindMemberRow(db, net.id, member.entity_id);
    if (!row.ok()) return std::move(row).error();
    if (!*row) return MakeError(ErrorCode::kInternal, "the member row vanished");
    stored = (*row)->member;
    return OkStatus();
  });
  if (!committed.ok()) return std::move(committed).error();
  return stored;
}

Status NetworkStore::RemoveMember(std::string_view network, std::string_view entity_id) {
  const int64_t now = clock_.UnixSeconds();
  return store_.writer().SubmitAndWait([&](storage::Database& db) -> Status {
    auto net = RequireNetworkRow(db, network);
    if (!net.ok()) return std::move(net).error();
    auto stmt = db.Prepare(
        "UPDATE network_members SET withdrawn_at = ?3, statement = NULL, statement_iat = NULL, "
        "statement_exp = NULL WHERE network = ?1 AND entity_id = ?2 AND withdrawn_at IS NULL");
    if (!stmt.ok()) return std::move(stmt).error();
    KITH_RETURN_IF_ERROR(stmt->Bind(1, net->network.id).Bind(2, entity_id).Bind(3, now).Run());
    if (db.Changes() == 0) {
      return MakeError(
          ErrorCode::kNotFound,
          std::string(entity_id) + " is not a current member of network " + net->network.name);
    }
    return OkStatus();
  });
}

Result<std::vector<NetworkMember>> NetworkStore::Members(std::string_view network) {
  return store_.Read([&](storage::Database& db) -> Result<std::vector<NetworkMember>> {
    auto net = RequireNetworkRow(db, network);
    if (!net.ok()) return std::move(net).error();
    auto stmt = db.Prepare("SELECT " + std::string(kMemberColumns) +
                           " FROM network_members WHERE network = ?1 ORDER BY entity_id");
    if (!stmt.ok()) return std::move(stmt).error();
    stmt->Bind(1, net->network.id);
    std::vector<NetworkMember> out;
    while (true) {
      auto row = stmt->Step();
      if (!row.ok()) return std::move(row).error();
      if (!*row) break;
      out.push_back(MemberFromRow(*stmt).member);
    }
    return out;
  });
}

Result<std::optional<NetworkMember>> NetworkStore::FindMember(std::string_view network,
                                                              std::string_view entity_id) {
  return store_.Read([&](storage::Database& db) -> Result<std::optional<NetworkMember>> {
    auto net = RequireNetworkRow(db, network);
    if (!net.ok()) return std::move(net).error();
    auto row = FindMemberRow(db, net->network.id, entity_id);
    if (!row.ok()) return std::move(row).error();
    if (!*row) return std::optional<NetworkMember>();
    return std::optional<NetworkMember>((*row)->member);
  });
}

Status NetworkStore::UpdateMemberKeys(std::string_view network, std::string_view entity_id,
                                      const std::vector<identity::PublicJwk>& keys) {
  KITH_RETURN_IF_ERROR(ValidateKeys(keys));
  auto found = FindNetwork(network);
  if (!found.ok()) return std::move(found).error();
  if (!*found) {
    return MakeError(ErrorCode::kNotFound,
                     "no network \"" + std::string(network) + "\" on this node");
  }
  const Network net = **found;
  auto key = KeyFor(net);
  if (!key.ok()) return std::move(key).error();
  const int64_t now = clock_.UnixSeconds();
  return store_.writer().SubmitAndWait([&](storage::Database& db) -> Status {
    auto row = FindMemberRow(db, net.id, entity_id);
    if (!row.ok()) return std::move(row).error();
    if (!*row || (*row)->member.withdrawn_at) {
      return MakeError(ErrorCode::kNotFound,
                       std::string(entity_id) + " is not a current member of network " + net.name);
    }
    NetworkMember member = (*row)->member;
    member.keys = keys;
    auto statement = SignSubordinate(net, member, **key, now);
    if (!statement.ok()) return std::move(statement).error();
    auto stmt = db.Prepare("UPDATE network_members SET jwks = ?2 WHERE id = ?1");
    if (!stmt.ok()) return std::move(stmt).error();
    KITH_RETURN_IF_ERROR(stmt->Bind(1, (*row)->id).Bind(2, JwksText(keys)).Run());
    return StoreStatement(db, (*row)->id, *statement, now, now + net.statement_lifetime);
  });
}

Status NetworkStore::RecordMemberContact(std::string_view network, std::string_view entity_id,
                                         bool ok, std::string_view error) {
  const int64_t now = clock_.UnixSeconds();
  // Errors come from the network; keep the column short.
  std::string text(error.substr(0, 500));
  if (!ok && text.empty()) text = "unknown error";
  return store_.writer().SubmitAndWait([&](storage::Database& db) -> Status {
    auto net = RequireNetworkRow(db, network);
    if (!net.ok()) return std::move(net).error();
    auto stmt = ok ? db.Cached(
                         "UPDATE network_members SET last_contact_at = ?3, last_error = NULL "
                         "WHERE network = ?1 AND entity_id = ?2")
                   : db.Cached(
                         "UPDATE network_members SET last_error = ?3 "
                         "WHERE network = ?1 AND entity_id = ?2");
    if (!stmt.ok()) return std::move(stmt).error();
    storage::StatementReset reset{*stmt};
    (*stmt)->Bind(1, net->network.id).Bind(2, entity_id);
    if (ok) {
      (*stmt)->Bind(3, now);
    } else {
      (*stmt)->Bind(3, text);
    }
    KITH_RETURN_IF_ERROR((*stmt)->Run());
    if (db.Changes() == 0) {
      return MakeError(ErrorCode::kNotFound,
                       std::string(entity_id) + " is not a member of network " + net->network.name);
    }
    return OkStatus();
  });
}

Result<std::string> NetworkStore::EntityConfiguration(std::string_view network, int64_t lifetime) {
  auto found = FindNetwork(network);
  if (!found.ok()) return std::move(found).error();
  if (!*found) {
    return MakeError(ErrorCode::kNotFound,
                     "no network \"" + std::string(network) + "\" on this node");
  }
  const Network& net = **found;
  auto key = KeyFor(net);
  if (!key.ok()) return std::move(key).error();
  EntityStatement statement;
  statement.iss = net.entity_id;
  statement.sub = net.entity_id;
  statement.iat = clock_.UnixSeconds();
  statement.exp = statement.iat + std::max<int64_t>(lifetime, 1);
  statement.jwks = {(*key)->public_jwk()};
  statement.metadata =
      json{{"federation_entity",
            {{"federation_fetch_endpoint", net.FetchEndpoint()},
             {"federation_list_endpoint", net.ListEndpoint()},
             {"kith_withdrawn_endpoint", net.WithdrawnEndpoint()},
             {"organization_name", net.display_name.empty() ? net.name : net.display_name}}}};
  if (!net.IsAnchor()) statement.authority_hints = {net.superior};
  return SignEntityStatement(statement, **key);
}

Result<std::string> NetworkStore::SubordinateStatement(std::string_view network,
                                                       std::string_view sub) {
  struct Found {
    NetworkRow net;
    MemberRow row;
  };
  auto found = store_.Read([&](storage::Database& db) -> Result<Found> {
    auto net = RequireNetworkRow(db, network);
    if (!net.ok()) return std::move(net).error();
    auto row = FindMemberRow(db, net->network.id, sub);
    if (!row.ok()) return std::move(row).error();
    if (!*row || (*row)->member.withdrawn_at) {
      return MakeError(ErrorCode::kNotFound,
                       std::string(sub) + " is not a member of network " + net->network.name);
    }
    return Found{std::move(net).value(), std::move(**row)};
  });
  if (!found.ok()) return std::move(found).error();
  const int64_t now = clock_.UnixSeconds();
  if (!StatementDue(found->row, now)) return found->row.statement;

  const Network& net = found->net.network;
  auto key = KeyFor(net);
  if (!key.ok()) return std::move(key).error();
  auto statement = SignSubordinate(net, found->row.member, **key, now);
  if (!statement.ok()) return std::move(statement).error();
  Status stored = store_.writer().SubmitAndWait([&](storage::Database& db) -> Status {
    return StoreStatement(db, found->row.id, *statement, now, now + net.statement_lifetime);
  });
  if (!stored.ok()) {
    if (stored.error().code == ErrorCode::kNotFound) {
      return MakeError(ErrorCode::kNotFound,
                       std::string(sub) + " is not a member of network " + net.name);
    }
    return std::move(stored).error();
  }
  return statement;
}

Result<int> NetworkStore::ReissueDue() {
  const int64_t now = clock_.UnixSeconds();
  struct Due {
    Network net;
    MemberRow row;
  };
  auto due = store_.Read([&](storage::Database& db) -> Result<std::vector<Due>> {
    auto nets = db.Prepare("SELECT " + std::string(kNetworkColumns) + " FROM networks");
    if (!nets.ok()) return std::move(nets).error();
    std::map<int64_t, Network> by_id;
    while (true) {
      auto row = nets->Step();
      if (!row.ok()) return std::move(row).error();
      if (!*row) break;
      Network n = NetworkFromRow(*nets).network;
      by_id.emplace(n.id, std::move(n));
    }
    auto members = db.Prepare("SELECT " + std::string(kMemberColumns) +
                              ", network FROM network_members WHERE withdrawn_at IS NULL AND "
                              "(statement IS NULL OR 2 * (statement_exp - ?1) <= "
                              "statement_exp - statement_iat)");
    if (!members.ok()) return std::move(members).error();
    members->Bind(1, now);
    std::vector<Due> out;
    while (true) {
      auto row = members->Step();
      if (!row.ok()) return std::move(row).error();
      if (!*row) break;
      auto it = by_id.find(members->ColumnInt(13));
      if (it == by_id.end()) continue;
      out.push_back(Due{it->second, MemberFromRow(*members)});
    }
    return out;
  });
  if (!due.ok()) return std::move(due).error();
  if (due->empty()) return 0;

  struct Issued {
    int64_t row = 0;
    std::string statement;
    int64_t exp = 0;
  };
  std::vector<Issued> issued;
  for (const Due& d : *due) {
    auto key = KeyFor(d.net);
    if (!key.ok()) return std::move(key).error();
    auto statement = SignSubordinate(d.net, d.row.member, **key, now);
    if (!statement.ok()) return std::move(statement).error();
    issued.push_back(
        Issued{d.row.id, std::move(statement).value(), now + d.net.statement_lifetime});
  }
  int count = 0;
  Status committed = store_.writer().SubmitAndWait([&](storage::Database& db) -> Status {
    count = 0;
    for (const Issued& i : issued) {
      Status stored = StoreStatement(db, i.row, i.statement, now, i.exp);
      if (stored.ok()) {
        ++count;
      } else if (stored.error().code != ErrorCode::kNotFound) {
        return stored;  // a member withdrawn meanwhile is skipped, anything else fails
      }
    }
    return OkStatus();
  });
  if (!committed.ok()) return std::move(committed).error();
  return count;
}

Result<std::vector<std::string>> NetworkStore::MemberIds(std::string_view network) {
  return store_.Read([&](storage::Database& db) -> Result<std::vector<std::string>> {
    auto net = RequireNetworkRow(db, network);
    if (!net.ok()) return std::move(net).error();
    auto stmt = db.Cached(
        "SELECT entity_id FROM network_members WHERE network = ?1 AND withdrawn_at IS NULL "
        "ORDER BY entity_id");
    if (!stmt.ok()) return std::move(stmt).error();
    storage::StatementReset reset{*stmt};
    (*stmt)->Bind(1, net->network.id);
    std::vector<std::string> out;
    while (true) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return std::move(row).error();
      if (!*row) break;
      out.push_back((*stmt)->ColumnText(0));
    }
    return out;
  });
}

Result<std::string> NetworkStore::WithdrawnListJwt(std::string_view network, int64_t lifetime) {
  const int64_t now = clock_.UnixSeconds();
  struct Found {
    Network net;
    std::vector<WithdrawnEntry> entries;
  };
  auto found = store_.Read([&](storage::Database& db) -> Result<Found> {
    auto net = RequireNetworkRow(db, network);
    if (!net.ok()) return std::move(net).error();
    // A member withdrawn longer ago than twice the statement lifetime holds no statement that
    // is still valid anywhere, so it need not be listed; newest first, bounded.
    auto stmt = db.Cached(
        "SELECT entity_id, withdrawn_at FROM network_members WHERE network = ?1 AND "
        "withdrawn_at IS NOT NULL AND withdrawn_at >= ?2 ORDER BY withdrawn_at DESC, entity_id "
        "LIMIT ?3");
    if (!stmt.ok()) return std::move(stmt).error();
    storage::StatementReset reset{*stmt};
    (*stmt)
        ->Bind(1, net->network.id)
        .Bind(2, now - 2 * net->network.statement_lifetime)
        .Bind(3, static_cast<int64_t>(kMaxWithdrawnEntries));
    Found out{net->network, {}};
    while (true) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return std::move(row).error();
      if (!*row) break;
      out.entries.push_back(WithdrawnEntry{(*stmt)->ColumnText(0), (*stmt)->ColumnInt(1)});
    }
    return out;
  });
  if (!found.ok()) return std::move(found).error();
  auto key = KeyFor(found->net);
  if (!key.ok()) return std::move(key).error();
  WithdrawnList list;
  list.iss = found->net.entity_id;
  list.iat = now;
  list.exp = now + std::max<int64_t>(lifetime, 1);
  list.withdrawn = std::move(found->entries);
  return SignWithdrawnList(list, **key);
}

// --- Member side --------------------------------------------------------------------------

Status NetworkStore::Trust(const TrustAnchor& anchor) {
  auto valid = ValidateEntityId(anchor.entity_id, allow_http_);
  if (!valid.ok()) return MakeError(ErrorCode::kInvalidArgument, valid.error().message);
  if (anchor.fingerprint.empty() || anchor.fingerprint.size() > 200) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "the anchor's key fingerprint is needed (SHA256:..., from `kithctl network "
                     "status` on the anchor's node)");
  }
  for (char c : anchor.fingerprint) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return MakeError(ErrorCode::kInvalidArgument, "the fingerprint has invalid characters");
    }
  }
  const int64_t now = clock_.UnixSeconds();
  return store_.writer().SubmitAndWait([&](storage::Database& db) -> Status {
    auto stmt = db.Prepare(
        "INSERT INTO trusted_anchors (entity_id, fingerprint, added_at) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (entity_id) DO UPDATE SET fingerprint = excluded.fingerprint");
    if (!stmt.ok()) return std::move(stmt).error();
    return stmt->Bind(1, anchor.entity_id).Bind(2, anchor.fingerprint).Bind(3, now).Run();
  });
}

Status NetworkStore::Untrust(std::string_view entity_id) {
  return store_.writer().SubmitAndWait([&](storage::Database& db) -> Status {
    auto stmt = db.Prepare("DELETE FROM trusted_anchors WHERE entity_id = ?1");
    if (!stmt.ok()) return std::move(stmt).error();
    KITH_RETURN_IF_ERROR(stmt->Bind(1, entity_id).Run());
    if (db.Changes() == 0) {
      return MakeError(ErrorCode::kNotFound,
                       "the anchor " + std::string(entity_id) + " is not trusted");
    }
    return OkStatus();
  });
}

Result<std::vector<TrustedAnchorRecord>> NetworkStore::TrustedAnchorRecords() {
  return store_.Read([&](storage::Database& db) -> Result<std::vector<TrustedAnchorRecord>> {
    auto stmt = db.Cached(
        "SELECT entity_id, fingerprint, added_at FROM trusted_anchors ORDER BY entity_id");
    if (!stmt.ok()) return std::move(stmt).error();
    storage::StatementReset reset{*stmt};
    std::vector<TrustedAnchorRecord> out;
    while (true) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return std::move(row).error();
      if (!*row) break;
      out.push_back(TrustedAnchorRecord{(*stmt)->ColumnText(0), (*stmt)->ColumnText(1),
                                        (*stmt)->ColumnInt(2)});
    }
    return out;
  });
}

Result<std::vector<TrustAnchor>> NetworkStore::TrustedAnchors() {
  auto records = TrustedAnchorRecords();
  if (!records.ok()) return std::move(records).error();
  std::vector<TrustAnchor> out;
  out.reserve(records->size());
  for (auto& r : *records)
    out.push_back(TrustAnchor{std::move(r.entity_id), std::move(r.fingerprint)});
  return out;
}

Result<std::vector<std::string>> NetworkStore::AuthorityHints() {
  return store_.Read([&](storage::Database& db) -> Result<std::vector<std::string>> {
    auto stmt = db.Cached("SELECT entity_id FROM authority_hints ORDER BY entity_id");
    if (!stmt.ok()) return std::move(stmt).error();
    storage::StatementReset reset{*stmt};
    std::vector<std::string> out;
    while (true) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return std::move(row).error();
      if (!*row) break;
      out.push_back((*stmt)->ColumnText(0));
    }
    return out;
  });
}

Status NetworkStore::SetAuthorityHints(const std::vector<std::string>& entity_ids) {
  for (const auto& id : entity_ids) {
    auto valid = ValidateEntityId(id, allow_http_);
    if (!valid.ok()) return MakeError(ErrorCode::kInvalidArgument, valid.error().message);
  }
  const std::set<std::string> wanted(entity_ids.begin(), entity_ids.end());
  const int64_t now = clock_.UnixSeconds();
  return store_.writer().SubmitAndWait([&](storage::Database& db) -> Status {
    // Hints already known keep their discovered_at.
    std::vector<std::string> stale;
    {
      auto stmt = db.Prepare("SELECT entity_id FROM authority_hints");
      if (!stmt.ok()) return std::move(stmt).error();
      while (true) {
        auto row = stmt->Step();
        if (!row.ok()) return std::move(row).error();
        if (!*row) break;
        std::string id = stmt->ColumnText(0);
        if (!wanted.contains(id)) stale.push_back(std::move(id));
      }
    }
    auto remove = db.Prepare("DELETE FROM authority_hints WHERE entity_id = ?1");
    if (!remove.ok()) return std::move(remove).error();
    for (const auto& id : stale) {
      remove->Reset();
      KITH_RETURN_IF_ERROR(remove->Bind(1, id).Run());
    }
    auto insert = db.Prepare(
        "INSERT INTO authority_hints (entity_id, discovered_at) VALUES (?1, ?2) "
        "ON CONFLICT (entity_id) DO NOTHING");
    if (!insert.ok()) return std::move(insert).error();
    for (const auto& id : wanted) {
      insert->Reset();
      KITH_RETURN_IF_ERROR(insert->Bind(1, id).Bind(2, now).Run());
    }
    return OkStatus();
  });
}

Status NetworkStore::ReplacePeerNetworks(std::string_view peer_node_id,
                                         const std::vector<PeerNetwork>& rows) {
  return store_.writer().SubmitAndWait([&](storage::Database& db) -> Status {
    auto remove = db.Cached("DELETE FROM peer_networks WHERE peer_node_id = ?1");
    if (!remove.ok()) return std::move(remove).error();
    {
      storage::StatementReset reset{*remove};
      KITH_RETURN_IF_ERROR((*remove)->Bind(1, peer_node_id).Run());
    }
    auto insert = db.Cached(
        "INSERT INTO peer_networks (peer_node_id, network, anchor, expires_at) "
        "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (peer_node_id, network) DO UPDATE SET "
        "anchor = excluded.anchor, expires_at = max(expires_at, excluded.expires_at)");
    if (!insert.ok()) return std::move(insert).error();
    for (const PeerNetwork& row : rows) {
      storage::StatementReset reset{*insert};
      KITH_RETURN_IF_ERROR((*insert)
                               ->Bind(1, peer_node_id)
                               .Bind(2, row.network)
                               .Bind(3, row.anchor)
                               .Bind(4, row.expires_at)
                               .Run());
    }
    return OkStatus();
  });
}

Result<std::vector<PeerNetwork>> NetworkStore::PeerNetworks() {
  return store_.Read([&](storage::Database& db) -> Result<std::vector<PeerNetwork>> {
    auto stmt = db.Prepare(
        "SELECT peer_node_id, network, anchor, expires_at FROM peer_networks "
        "ORDER BY peer_node_id, network");
    if (!stmt.ok()) return std::move(stmt).error();
    std::vector<PeerNetwork> out;
    while (true) {
      auto row = stmt->Step();
      if (!row.ok()) return std::move(row).error();
      if (!*row) break;
      out.push_back(PeerNetwork{stmt->ColumnText(0), stmt->ColumnText(1), stmt->ColumnText(2),
                                stmt->ColumnInt(3)});
    }
    return out;
  });
}

Result<bool> NetworkStore::PeerInNetwork(std::string_view peer_node_id, std::string_view network) {
  const int64_t now = clock_.UnixSeconds();
  return store_.Read([&](storage::Database& db) -> Result<bool> {
    auto stmt = db.Cached(
        "SELECT 1 FROM peer_networks WHERE peer_node_id = ?1 AND network = ?2 AND "
        "expires_at > ?3");
    if (!stmt.ok()) return std::move(stmt).error();
    storage::StatementReset reset{*stmt};
    (*stmt)->Bind(1, peer_node_id).Bind(2, network).Bind(3, now);
    auto row = (*stmt)->Step();
    if (!row.ok()) return std::move(row).error();
    return *row;
  });
}

}  // namespace kith::federation
