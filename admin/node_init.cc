#include "admin/node_init.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <boost/asio/ip/address.hpp>
#include <boost/url/parse.hpp>
#include <cerrno>
#include <system_error>

#include "storage/data_dir_lock.h"
#include "storage/database.h"
#include "storage/store.h"

namespace kith::admin {
namespace {

std::string ErrnoText(int err) { return std::generic_category().message(err); }

// True when `s` is well-formed UTF-8 without control characters.
bool IsCleanText(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return false;
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xe  ? 3
                 : (c >> 3) == 0x1e ? 4
                                    : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

Status CheckText(std::string_view what, std::string_view value) {
  if (value.find_first_not_of(' ') == std::string_view::npos) {
    return MakeError(ErrorCode::kInvalidArgument, std::string(what) + " must not be empty");
  }
  if (value.size() > 200) {
    return MakeError(ErrorCode::kInvalidArgument, std::string(what) + " is longer than 200 bytes");
  }
  if (!IsCleanText(value)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string(what) + " must be UTF-8 text without control characters");
  }
  return OkStatus();
}

// A TOML basic string, quoted.
std::string TomlString(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(ch));
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

Status WriteFileAtomically(const std::filesystem::path& path, std::string_view text) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return MakeError(ErrorCode::kInternal,
                     "cannot create " + tmp.string() + ": " + ErrnoText(errno));
  }
  size_t written = 0;
  bool ok = true;
  while (ok && written < text.size()) {
    ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) written += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  const int err = errno;
  ok = (::close(fd) == 0) && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = ok ? errno : err;
    ::unlink(tmp.c_str());
    return MakeError(ErrorCode::kInternal, "cannot write " + path.string() + ": " + ErrnoText(e));
  }
  return OkStatus();
}

// Undoes a partly made data directory unless dismissed.
class Cleanup {
 public:
  Cleanup(std::filesystem::path dir, bool created) : dir_(std::move(dir)), created_(created) {}
  ~Cleanup() {
    if (dismissed_) return;
    std::error_code ignored;
    if (created_) {
      std::filesystem::remove_all(dir_, ignored);
      return;
    }
    // The directory existed and was empty: empty it again.
    for (const auto& entry : std::filesystem::directory_iterator(dir_, ignored)) {
      std::filesystem::remove_all(entry.path(), ignored);
    }
  }
  void Dismiss() { dismissed_ = true; }

 private:
  std::filesystem::path dir_;
  bool created_;
  bool dismissed_ = false;
};

}  // namespace

Result<BaseUrl> ParseBaseUrl(std::string_view text) {
  auto bad = [&](std::string why) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "invalid --base-url \"" + std::string(text) + "\": " + why);
  };
  auto parsed = boost::urls::parse_absolute_uri(text);
  if (!parsed) return bad("not an absolute URL (expected e.g. https://kith.example.org)");
  const auto& u = *parsed;
  BaseUrl out;
  out.scheme = u.scheme();
  if (u.scheme_id() != boost::urls::scheme::http && u.scheme_id() != boost::urls::scheme::https) {
    return bad("the scheme must be http or https");
  }
  if (!u.has_authority() || u.encoded_host().empty()) return bad("it has no host");
  if (u.has_userinfo()) return bad("it must not contain a user name or password");
  if (!u.encoded_path().empty() && u.encoded_path() != "/") {
    return bad("it must not have a path (kith serves from the root of its host)");
  }
  if (u.has_query()) return bad("it must not have a query");
  if (u.has_fragment()) return bad("it must not have a fragment");
  out.host = std::string(u.encoded_host());
  if (u.has_port()) {
    // port_number() wraps values above 65535, so check the digits themselves.
    const std::string digits(u.port());
    if (digits.empty() || digits.size() > 5 || std::stoul(digits) == 0 ||
        std::stoul(digits) > 65535) {
      return bad("the port must be 1-65535");
    }
    out.port = static_cast<int>(std::stoul(digits));
  } else {
    out.port = u.scheme_id() == boost::urls::scheme::https ? 443 : 80;
  }
  out.url = out.scheme + "://" + std::string(u.encoded_host_and_port());
  return out;
}

std::string RenderConfig(const InitReport& v, std::string_view name,
                         std::string_view organisation) {
  std::string s;
  s += "# kith node configuration, written by `kithctl init`.\n";
  s += "# Every key is described in docs/operators.md; KITH_<SECTION>_<KEY> environment\n";
  s += "# variables override it (for example KITH_HTTP_PORT=8080).\n\n";
  s += "[node]\n";
  s += "name = " + TomlString(name) + "\n";
  s += "organisation = " + TomlString(organisation) + "\n";
  s += "base_url = " + TomlString(v.base_url) + "\n";
  s += "data_dir = " + TomlString(v.data_dir.string()) + "\n\n";
  s += "[http]\n";
  s += "listen_address = " + TomlString(v.listen_address) + "\n";
  s += "port = " + std::to_string(v.port) + "\n";
  s += "io_threads = 0             # 0: one per CPU core\n";
  s += "tls_certificate = \"\"       # PEM files; both empty: plain HTTP (behind a proxy)\n";
  s += "tls_private_key = \"\"\n\n";
  s += "[limits]\n";
  s += "max_body_bytes = 1048576\n";
  s += "max_header_bytes = 16384\n";
  s += "max_connections = 10000\n";
  s += "read_timeout_seconds = 30\n";
  s += "idle_timeout_seconds = 60\n";
  s += "write_timeout_seconds = 30\n";
  s += "shutdown_grace_seconds = 20\n\n";
  s += "[log]\n";
  s += "level = \"info\"\n";
  s += "access_log = true\n\n";
  s += "[federation]\n";
  s += "allow_private_addresses = false\n";
  return s;
}

Result<InitReport> InitDataDir(const InitOptions& options, const Clock& clock) {
  // Validate everything before touching the file system.
  auto url = ParseBaseUrl(options.base_url);
  if (!url.ok()) return std::move(url).error();
  KITH_RETURN_IF_ERROR(CheckText("--name", options.name));
  KITH_RETURN_IF_ERROR(CheckText("--organisation", options.organisation));
  InitReport report;
  report.base_url = url->url;
  report.listen_address = options.listen_address.value_or("127.0.0.1");
  boost::system::error_code addr_ec;
  boost::asio::ip::make_address(report.listen_address, addr_ec);
  if (addr_ec) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "invalid --listen \"" + report.listen_address + "\": not an IP address");
  }
  report.port = options.port.value_or(url->port);
  if (report.port < 0 || report.port > 65535) {
    return MakeError(ErrorCode::kInvalidArgument, "--port must be 0-65535");
  }
  if (options.data_dir.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "--data-dir must not be empty");
  }
  std::error_code ec;
  report.data_dir = std::filesystem::absolute(options.data_dir, ec).lexically_normal();
  if (ec) return MakeError(ErrorCode::kInvalidArgument, "invalid --data-dir: " + ec.message());
  if (report.data_dir.has_filename() == false && report.data_dir.has_parent_path()) {
    report.data_dir = report.data_dir.parent_path();  // drop a trailing slash
  }
  const std::filesystem::path& dir = report.data_dir;
  report.config_path = dir / "kith.toml";
  report.database_path = dir / "kith.db";

  // The directory: new, or existing and empty.
  bool created = false;
  const auto status = std::filesystem::symlink_status(dir, ec);
  if (status.type() == std::filesystem::file_type::not_found) {
    if (!dir.has_parent_path() || !std::filesystem::is_directory(dir.parent_path(), ec)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "cannot create " + dir.string() + ": its parent directory does not exist");
    }
    if (::mkdir(dir.c_str(), 0700) != 0) {
      return MakeError(errno == EEXIST ? ErrorCode::kConflict : ErrorCode::kInternal,
                       "cannot create " + dir.string() + ": " + ErrnoText(errno));
    }
    created = true;
  } else if (status.type() != std::filesystem::file_type::directory) {
    return MakeError(ErrorCode::kConflict, dir.string() + " exists and is not a directory");
  } else if (!std::filesystem::is_empty(dir, ec) || ec) {
    if (storage::DataDirLock::IsHeld(dir)) {
      return MakeError(ErrorCode::kConflict,
                       dir.string() + " is in use by a running kithd; refusing to initialise it");
    }
    return MakeError(ErrorCode::kConflict, dir.string() + " already exists and is not empty" +
                                               (std::filesystem::exists(report.config_path)
                                                    ? " (it holds a node already)"
                                                    : "; choose a new or empty directory"));
  } else if (::chmod(dir.c_str(), 0700) != 0) {
    return MakeError(ErrorCode::kInternal,
                     "cannot set mode 0700 on " + dir.string() + ": " + ErrnoText(errno));
  }
  Cleanup cleanup(dir, created);

  // Hold the lock while building, so that a kithd started meanwhile cannot use a half-made dir.
  auto lock = storage::DataDirLock::Acquire(dir);
  if (!lock.ok()) return std::move(lock).error();

  KITH_RETURN_IF_ERROR(WriteFileAtomically(
      report.config_path, RenderConfig(report, options.name, options.organisation)));
  try {
    (void)toml::parse_file(report.config_path.string());
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInternal,
                     "the config just written does not parse (a bug): " + std::string(e.what()));
  }

  {
    storage::Store::Options store_options;
    store_options.path = report.database_path;
    auto store = storage::Store::Open(store_options);
    if (!store.ok()) return std::move(store).error();
    (*store)->Close();
  }
  // The database holds member data: owner-only, like the rest of the directory.
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string file = report.database_path.string() + suffix;
    if (::chmod(file.c_str(), 0600) != 0 && errno != ENOENT) {
      return MakeError(ErrorCode::kInternal,
                       "cannot set mode 0600 on " + file + ": " + ErrnoText(errno));
    }
  }
  {
    storage::Database::Options db_options;
    db_options.path = report.database_path;
    auto db = storage::Database::Open(db_options);
    if (!db.ok()) return std::move(db).error();
    auto key = identity::NodeKeyring::CreateInitial(dir, *db, clock);
    if (!key.ok()) return std::move(key).error();
    report.key = std::move(key).value();
  }
  report.fingerprint = identity::Fingerprint(report.key.public_key);
  cleanup.Dismiss();
  return report;
}

}  // namespace kith::admin
