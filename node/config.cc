#include "node/config.h"

#include <toml++/toml.h>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>
#include <tuple>
#include <variant>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/url/parse.hpp>

namespace kith::node {
namespace {

namespace fs = std::filesystem;

// A value from either source, before it is checked against the field's type.
using Value = std::variant<std::string, int64_t, bool>;

enum class Kind { kString, kInteger, kBoolean };

// One configuration key: where it lives and how a value is checked and stored.
// `apply` returns an error text (without the source/key prefix) or nullopt.
struct Field {
  std::string_view section;
  std::string_view key;
  Kind kind;
  std::function<std::optional<std::string>(Config&, const Value&, const fs::path& config_dir)>
      apply;
};

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += '?';
      continue;
    }
    out += c;
  }
  out += '"';
  return out;
}

template <class Get>
Field StringField(std::string_view section, std::string_view key, Get get,
                  std::function<std::optional<std::string>(std::string_view)> check = nullptr) {
  return Field{
      section, key, Kind::kString,
      [get, check](Config& c, const Value& v, const fs::path&) -> std::optional<std::string> {
        const auto& s = std::get<std::string>(v);
        if (check) {
          if (auto err = check(s)) return err;
        }
        get(c) = s;
        return std::nullopt;
      }};
}

template <class T, class Get>
Field IntField(std::string_view section, std::string_view key, Get get, int64_t min, int64_t max) {
  return Field{
      section, key, Kind::kInteger,
      [get, min, max](Config& c, const Value& v, const fs::path&) -> std::optional<std::string> {
        int64_t n = std::get<int64_t>(v);
        if (n < min || n > max) {
          return "must be " + std::to_string(min) + ".." + std::to_string(max) + ", got " +
                 std::to_string(n);
        }
        get(c) = static_cast<T>(n);
        return std::nullopt;
      }};
}

template <class Get>
Field BoolField(std::string_view section, std::string_view key, Get get) {
  return Field{section, key, Kind::kBoolean,
               [get](Config& c, const Value& v, const fs::path&) -> std::optional<std::string> {
                 get(c) = std::get<bool>(v);
                 return std::nullopt;
               }};
}

// A path; relative paths are resolved against the config file's folder. Empty stays empty.
template <class Get>
Field PathField(std::string_view section, std::string_view key, Get get) {
  return Field{section, key, Kind::kString,
               [get](Config& c, const Value& v, const fs::path& dir) -> std::optional<std::string> {
                 const auto& s = std::get<std::string>(v);
                 if (s.find('\0') != std::string::npos) return "must not contain NUL";
                 if (s.empty()) {
                   get(c).clear();
                 } else {
                   fs::path p(s);
                   get(c) = (p.is_absolute() ? p : dir / p).lexically_normal();
                 }
                 return std::nullopt;
               }};
}

std::optional<std::string> CheckNonEmptyText(std::string_view s) {
  if (s.empty()) return "must not be empty";
  if (s.size() > 200) return "must be at most 200 bytes, got " + std::to_string(s.size());
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return "must not contain control characters";
  }
  return std::nullopt;
}

// Public base URL: http or https, a host, an optional port, no path/query/fragment/userinfo.
std::optional<std::string> CheckBaseUrl(std::string_view s) {
  auto bad = [&](std::string_view why) {
    return std::string("must be an http(s) URL with a host and no path (") + std::string(why) +
           "), got " + Quote(s);
  };
  auto parsed = boost::urls::parse_absolute_uri(s);
  if (!parsed) return bad("not a URL");
  const auto& u = *parsed;
  if (u.scheme() != "http" && u.scheme() != "https") return bad("scheme must be http or https");
  if (!u.has_authority() || u.encoded_host().empty()) return bad("no host");
  if (u.has_userinfo()) return bad("user info is not allowed");
  if (u.has_port() && (u.port().empty() || u.port_number() == 0)) return bad("bad port");
  if (!u.encoded_path().empty() && u.encoded_path() != "/") return bad("a path is not allowed");
  if (u.has_query() || u.has_fragment()) return bad("query and fragment are not allowed");
  return std::nullopt;
}

std::optional<std::string> CheckAddress(std::string_view s) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(std::string(s), ec);
  if (ec) return "must be an IPv4 or IPv6 address, got " + Quote(s);
  return std::nullopt;
}

std::optional<std::string> CheckLogLevel(std::string_view s) {
  static constexpr std::string_view kLevels[] = {"trace", "debug", "info", "warn", "error"};
  if (std::find(std::begin(kLevels), std::end(kLevels), s) == std::end(kLevels)) {
    return "must be one of trace|debug|info|warn|error, got " + Quote(s);
  }
  return std::nullopt;
}

std::optional<std::string> CheckPasswordCost(std::string_view s) {
  if (s != "interactive" && s != "moderate" && s != "minimum") {
    return "must be one of interactive|moderate|minimum, got " + Quote(s);
  }
  return std::nullopt;
}

const std::vector<Field>& Fields() {
  static const std::vector<Field> fields = [] {
    std::vector<Field> f;
    // [node]
    f.push_back(StringField(
        "node", "name", [](Config& c) -> std::string& { return c.node.name; }, CheckNonEmptyText));
    f.push_back(StringField(
        "node", "organisation", [](Config& c) -> std::string& { return c.node.organisation; },
        CheckNonEmptyText));
    f.push_back(StringField(
        "node", "base_url", [](Config& c) -> std::string& { return c.node.base_url; },
        CheckBaseUrl));
    f.push_back(
        PathField("node", "data_dir", [](Config& c) -> fs::path& { return c.node.data_dir; }));
    // [http]
    f.push_back(StringField(
        "http", "listen_address", [](Config& c) -> std::string& { return c.http.listen_address; },
        CheckAddress));
    f.push_back(IntField<uint16_t>(
        "http", "port", [](Config& c) -> uint16_t& { return c.http.port; }, 0, 65535));
    f.push_back(IntField<int>(
        "http", "io_threads", [](Config& c) -> int& { return c.http.io_threads; }, 0, 256));
    f.push_back(PathField("http", "tls_certificate",
                          [](Config& c) -> fs::path& { return c.http.tls_certificate; }));
    f.push_back(PathField("http", "tls_private_key",
                          [](Config& c) -> fs::path& { return c.http.tls_private_key; }));
    // [limits]
    f.push_back(IntField<uint64_t>(
        "limits", "max_body_bytes", [](Config& c) -> uint64_t& { return c.limits.max_body_bytes; },
        1, int64_t{1} << 34));
    f.push_back(IntField<uint32_t>(
        "limits", "max_header_bytes",
        [](Config& c) -> uint32_t& { return c.limits.max_header_bytes; }, 1024, 1048576));
    f.push_back(IntField<uint32_t>(
        "limits", "max_connections",
        [](Config& c) -> uint32_t& { return c.limits.max_connections; }, 1, 1000000));
    f.push_back(IntField<int>(
        "limits", "read_timeout_seconds",
        [](Config& c) -> int& { return c.limits.read_timeout_seconds; }, 1, 3600));
    f.push_back(IntField<int>(
        "limits", "idle_timeout_seconds",
        [](Config& c) -> int& { return c.limits.idle_timeout_seconds; }, 1, 86400));
    f.push_back(IntField<int>(
        "limits", "write_timeout_seconds",
        [](Config& c) -> int& { return c.limits.write_timeout_seconds; }, 1, 3600));
    f.push_back(IntField<int>(
        "limits", "shutdown_grace_seconds",
        [](Config& c) -> int& { return c.limits.shutdown_grace_seconds; }, 0, 3600));
    // [log]
    f.push_back(StringField(
        "log", "level", [](Config& c) -> std::string& { return c.log.level; }, CheckLogLevel));
    f.push_back(
        BoolField("log", "access_log", [](Config& c) -> bool& { return c.log.access_log; }));
    // [federation]
    f.push_back(BoolField("federation", "allow_private_addresses",
                          [](Config& c) -> bool& { return c.federation.allow_private_addresses; }));
    f.push_back(PathField("federation", "ca_file",
                          [](Config& c) -> fs::path& { return c.federation.ca_file; }));
    f.push_back(IntField<int>(
        "federation", "push_batch_events",
        [](Config& c) -> int& { return c.federation.push_batch_events; }, 1, 10000));
    f.push_back(IntField<int>(
        "federation", "push_batch_bytes",
        [](Config& c) -> int& { return c.federation.push_batch_bytes; }, 65536, 4 * 1024 * 1024));
    f.push_back(IntField<int>(
        "federation", "max_in_flight", [](Config& c) -> int& { return c.federation.max_in_flight; },
        1, 64));
    f.push_back(IntField<int>(
        "federation", "min_backoff_ms",
        [](Config& c) -> int& { return c.federation.min_backoff_ms; }, 10, 60000));
    f.push_back(IntField<int>(
        "federation", "max_backoff_seconds",
        [](Config& c) -> int& { return c.federation.max_backoff_seconds; }, 1, 3600));
    // [identity]
    f.push_back(IntField<int>(
        "identity", "session_idle_timeout_seconds",
        [](Config& c) -> int& { return c.identity.session_idle_timeout_seconds; }, 60, 30 * 86400));
    f.push_back(IntField<int>(
        "identity", "session_absolute_timeout_seconds",
        [](Config& c) -> int& { return c.identity.session_absolute_timeout_seconds; }, 60,
        365 * 86400));
    f.push_back(StringField(
        "identity", "password_cost",
        [](Config& c) -> std::string& { return c.identity.password_cost; }, CheckPasswordCost));
    f.push_back(IntField<int>(
        "identity", "password_threads",
        [](Config& c) -> int& { return c.identity.password_threads; }, 1, 64));
    // [web]
    f.push_back(
        PathField("web", "assets_dir", [](Config& c) -> fs::path& { return c.web.assets_dir; }));
    f.push_back(PathField("web", "templates_dir",
                          [](Config& c) -> fs::path& { return c.web.templates_dir; }));
    // [groups]
    f.push_back(IntField<int64_t>(
        "groups", "max_upload_bytes",
        [](Config& c) -> int64_t& { return c.groups.max_upload_bytes; }, 1, int64_t{1} << 40));
    // [networks]
    f.push_back(IntField<int>(
        "networks", "refresh_interval",
        [](Config& c) -> int& { return c.networks.refresh_interval; }, 1, 86400));
    f.push_back(IntField<int>(
        "networks", "withdrawn_refresh_interval",
        [](Config& c) -> int& { return c.networks.withdrawn_refresh_interval; }, 1, 86400));
    f.push_back(IntField<int64_t>(
        "networks", "statement_lifetime",
        [](Config& c) -> int64_t& { return c.networks.statement_lifetime; }, 60, 31 * 86400));
    f.push_back(BoolField("networks", "allow_http_entities", [](Config& c) -> std::optional<bool>& {
      return c.networks.allow_http_entities;
    }));
    return f;
  }();
  return fields;
}

const Field* FindField(std::string_view section, std::string_view key) {
  for (const auto& f : Fields()) {
    if (f.section == section && f.key == key) return &f;
  }
  return nullptr;
}

bool KnownSection(std::string_view section) {
  return std::any_of(Fields().begin(), Fields().end(),
                     [&](const Field& f) { return f.section == section; });
}

std::string_view KindName(Kind k) {
  switch (k) {
    case Kind::kString:
      return "a string";
    case Kind::kInteger:
      return "an integer";
    case Kind::kBoolean:
      return "a boolean (true or false)";
  }
  return "?";
}

std::string_view TomlTypeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    default:
      return "a date/time";
  }
}

Error ConfigError(std::string_view source, std::string_view section, std::string_view key,
                  std::string_view what) {
  std::string msg(source);
  msg += ": ";
  msg += section;
  if (!key.empty()) {
    msg += '.';
    msg += key;
  }
  msg += ": ";
  msg += what;
  return MakeError(ErrorCode::kInvalidArgument, std::move(msg), "config_invalid");
}

std::optional<Value> FromToml(const toml::node& n, Kind kind) {
  switch (kind) {
    case Kind::kString:
      if (auto v = n.value_exact<std::string>()) return Value(*v);
      break;
    case Kind::kInteger:
      if (auto v = n.value_exact<int64_t>()) return Value(*v);
      break;
    case Kind::kBoolean:
      if (auto v = n.value_exact<bool>()) return Value(*v);
      break;
  }
  return std::nullopt;
}

std::optional<Value> FromEnv(const std::string& s, Kind kind) {
  switch (kind) {
    case Kind::kString:
      return Value(s);
    case Kind::kInteger: {
      int64_t n = 0;
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
      if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
      return Value(n);
    }
    case Kind::kBoolean:
      if (s == "true" || s == "1") return Value(true);
      if (s == "false" || s == "0") return Value(false);
      return std::nullopt;
  }
  return std::nullopt;
}

Status ValidateWhole(Config& c, std::string_view source) {
  if (c.node.name.empty()) return ConfigError(source, "node", "name", "must be set");
  if (c.node.organisation.empty()) {
    return ConfigError(source, "node", "organisation", "must be set");
  }
  while (!c.node.base_url.empty() && c.node.base_url.back() == '/') c.node.base_url.pop_back();
  bool cert = !c.http.tls_certificate.empty();
  bool key = !c.http.tls_private_key.empty();
  if (cert != key) {
    return ConfigError(source, "http", cert ? "tls_private_key" : "tls_certificate",
                       std::string("must be set when http.") +
                           (cert ? "tls_certificate" : "tls_private_key") +
                           " is set (HTTPS needs both, plain HTTP neither)");
  }
  for (auto [section, name, path] : {std::tuple{"http", "tls_certificate", &c.http.tls_certificate},
                                     std::tuple{"http", "tls_private_key", &c.http.tls_private_key},
                                     std::tuple{"federation", "ca_file", &c.federation.ca_file}}) {
    if (path->empty()) continue;
    std::error_code ec;
    if (!fs::is_regular_file(*path, ec)) {
      return ConfigError(source, section, name, "no such file: " + path->string());
    }
  }
  if (c.identity.session_idle_timeout_seconds > c.identity.session_absolute_timeout_seconds) {
    return ConfigError(source, "identity", "session_idle_timeout_seconds",
                       "must not exceed identity.session_absolute_timeout_seconds");
  }
  for (auto [name, path] : {std::pair{"assets_dir", &c.web.assets_dir},
                            std::pair{"templates_dir", &c.web.templates_dir}}) {
    if (path->empty()) continue;
    std::error_code ec;
    if (!fs::is_directory(*path, ec)) {
      return ConfigError(source, "web", name, "no such directory: " + path->string());
    }
  }
  return OkStatus();
}

}  // namespace

std::string EnvNameFor(std::string_view section, std::string_view key) {
  std::string out = "KITH_";
  for (char ch : section) out += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  out += '_';
  for (char ch : key) out += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return out;
}

EnvLookup ProcessEnvironment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

Result<Config> ParseConfig(std::string_view toml_text, std::string_view source_name,
                           const fs::path& config_dir, const EnvLookup& env) {
  Config config;
  config.file = fs::path(source_name);
  config.node.data_dir = config_dir.lexically_normal();

  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << source_name << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
        << e.description();
    return MakeError(ErrorCode::kInvalidArgument, msg.str(), "config_invalid");
  }

  for (const auto& [section_key, section_node] : root) {
    std::string_view section = section_key.str();
    if (!KnownSection(section)) {
      return ConfigError(
          source_name, section, "",
          "unknown section (known: node, http, limits, log, federation, identity, web, groups, "
          "networks)");
    }
    const toml::table* table = section_node.as_table();
    if (table == nullptr) {
      return ConfigError(
          source_name, section, "",
          std::string("must be a table, got ") + std::string(TomlTypeName(section_node)));
    }
    for (const auto& [key_key, value_node] : *table) {
      std::string_view key = key_key.str();
      const Field* field = FindField(section, key);
      if (field == nullptr) return ConfigError(source_name, section, key, "unknown key");
      auto value = FromToml(value_node, field->kind);
      if (!value) {
        return ConfigError(source_name, section, key,
                           std::string("must be ") + std::string(KindName(field->kind)) + ", got " +
                               std::string(TomlTypeName(value_node)));
      }
      if (auto err = field->apply(config, *value, config_dir)) {
        return ConfigError(source_name, section, key, *err);
      }
    }
  }

  if (env) {
    for (const auto& field : Fields()) {
      std::string name = EnvNameFor(field.section, field.key);
      auto raw = env(name);
      if (!raw) continue;
      auto value = FromEnv(*raw, field.kind);
      if (!value) {
        return ConfigError(
            name, field.section, field.key,
            std::string("must be ") + std::string(KindName(field.kind)) + ", got " + Quote(*raw));
      }
      if (auto err = field.apply(config, *value, config_dir)) {
        return ConfigError(name, field.section, field.key, *err);
      }
    }
  }

  KITH_RETURN_IF_ERROR(ValidateWhole(config, source_name));
  return config;
}

Result<Config> LoadConfig(const fs::path& path, const EnvLookup& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return MakeError(ErrorCode::kInvalidArgument, path.string() + ": cannot read the config file",
                     "config_unreadable");
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return MakeError(ErrorCode::kInvalidArgument, path.string() + ": read error",
                     "config_unreadable");
  }
  std::error_code ec;
  fs::path dir = fs::absolute(path, ec).parent_path();
  if (ec) dir = path.parent_path();
  auto config = ParseConfig(text.str(), path.string(), dir, env);
  if (!config.ok()) return config;
  config->file = path;
  return config;
}

}  // namespace kith::node
