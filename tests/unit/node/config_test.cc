#include "node/config.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <map>

namespace kith::node {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMinimal = R"(
[node]
name = "Improvement Service"
organisation = "Improvement Service"
base_url = "http://127.0.0.1:8401"
)";

EnvLookup Env(std::map<std::string, std::string> vars = {}) {
  return [vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

Result<Config> Parse(std::string_view text, std::map<std::string, std::string> env = {}) {
  return ParseConfig(text, "kith.toml", "/srv/kith", Env(std::move(env)));
}

std::string ErrorOf(std::string_view text, std::map<std::string, std::string> env = {}) {
  auto c = Parse(text, std::move(env));
  if (c.ok()) return "<ok>";
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
  return c.error().message;
}

std::string With(std::string_view extra) { return std::string(kMinimal) + std::string(extra); }

TEST(ConfigTest, Defaults) {
  auto c = Parse(kMinimal);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->node.name, "Improvement Service");
  EXPECT_EQ(c->node.data_dir, fs::path("/srv/kith"));
  EXPECT_EQ(c->http.listen_address, "127.0.0.1");
  EXPECT_EQ(c->http.port, 8401);
  EXPECT_EQ(c->http.io_threads, 1);
  EXPECT_FALSE(c->http.tls());
  EXPECT_EQ(c->limits.max_body_bytes, 1048576u);
  EXPECT_EQ(c->limits.max_header_bytes, 16384u);
  EXPECT_EQ(c->limits.max_connections, 10000u);
  EXPECT_EQ(c->limits.read_timeout_seconds, 30);
  EXPECT_EQ(c->limits.idle_timeout_seconds, 60);
  EXPECT_EQ(c->limits.write_timeout_seconds, 30);
  EXPECT_EQ(c->limits.shutdown_grace_seconds, 20);
  EXPECT_EQ(c->log.level, "info");
  EXPECT_TRUE(c->log.access_log);
  EXPECT_FALSE(c->federation.allow_private_addresses);
}

TEST(ConfigTest, FullFileAsKithctlWritesIt) {
  auto c = Parse(R"(
[node]
name = "Improvement Service"
organisation = "Improvement Service"
base_url = "https://is.example/"
data_dir = "data"

[http]
listen_address = "::1"
port = 0
io_threads = 0
tls_certificate = ""
tls_private_key = ""

[limits]
max_body_bytes = 2048
max_header_bytes = 4096
max_connections = 5
read_timeout_seconds = 2
idle_timeout_seconds = 3
write_timeout_seconds = 4
shutdown_grace_seconds = 0

[log]
level = "debug"
access_log = false

[federation]
allow_private_addresses = true
)");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->node.base_url, "https://is.example");  // trailing slash removed
  EXPECT_EQ(c->node.data_dir, fs::path("/srv/kith/data"));
  EXPECT_EQ(c->http.listen_address, "::1");
  EXPECT_EQ(c->http.port, 0);
  EXPECT_EQ(c->http.io_threads, 0);
  EXPECT_EQ(c->limits.max_body_bytes, 2048u);
  EXPECT_EQ(c->limits.shutdown_grace_seconds, 0);
  EXPECT_EQ(c->log.level, "debug");
  EXPECT_FALSE(c->log.access_log);
  EXPECT_TRUE(c->federation.allow_private_addresses);
}

TEST(ConfigTest, OutOfRangeNamesFileKeyAndValue) {
  EXPECT_EQ(ErrorOf(With("[http]\nport = 70000\n")),
            "kith.toml: http.port: must be 0..65535, got 70000");
  EXPECT_EQ(ErrorOf(With("[http]\nport = -1\n")), "kith.toml: http.port: must be 0..65535, got -1");
  EXPECT_EQ(ErrorOf(With("[limits]\nmax_header_bytes = 10\n")),
            "kith.toml: limits.max_header_bytes: must be 1024..1048576, got 10");
  EXPECT_EQ(ErrorOf(With("[limits]\nread_timeout_seconds = 0\n")),
            "kith.toml: limits.read_timeout_seconds: must be 1..3600, got 0");
}

TEST(ConfigTest, WrongType) {
  EXPECT_EQ(ErrorOf(With("[http]\nport = \"8401\"\n")),
            "kith.toml: http.port: must be an integer, got a string");
  EXPECT_EQ(ErrorOf(With("[http]\nport = 1.5\n")),
            "kith.toml: http.port: must be an integer, got a float");
  EXPECT_EQ(ErrorOf(With("[log]\naccess_log = \"yes\"\n")),
            "kith.toml: log.access_log: must be a boolean (true or false), got a string");
  const std::string not_a_table = "http = 3\n[node]\nname = \"n\"\norganisation = \"o\"\n";
  EXPECT_EQ(ErrorOf(not_a_table).rfind("kith.toml: http: must be a table", 0), 0u);
}

TEST(ConfigTest, UnknownKeysAndSections) {
  EXPECT_EQ(ErrorOf(With("[http]\nprot = 1\n")), "kith.toml: http.prot: unknown key");
  EXPECT_EQ(ErrorOf(With("[htp]\nport = 1\n")).rfind("kith.toml: htp: unknown section", 0), 0u);
  EXPECT_EQ(ErrorOf(With("[http.extra]\nx = 1\n")), "kith.toml: http.extra: unknown key");
}

TEST(ConfigTest, SyntaxErrorHasLine) {
  std::string err = ErrorOf("[node\nname = 1\n");
  EXPECT_EQ(err.rfind("kith.toml:1:", 0), 0u) << err;
}

TEST(ConfigTest, BadBaseUrl) {
  for (std::string_view url :
       {"ftp://x.example", "x.example", "https://", "https://x.example/path", "https://u@x.example",
        "https://x.example?q=1", "https://x.example:0", ""}) {
    std::string text = R"([node]
name = "n"
organisation = "o"
base_url = ")" + std::string(url) +
                       "\"\n";
    std::string err = ErrorOf(text);
    EXPECT_EQ(err.rfind("kith.toml: node.base_url: must be an http(s) URL", 0), 0u)
        << url << " -> " << err;
  }
}

TEST(ConfigTest, OtherValueChecks) {
  EXPECT_EQ(ErrorOf(With("[http]\nlisten_address = \"localhost\"\n")),
            "kith.toml: http.listen_address: must be an IPv4 or IPv6 address, got \"localhost\"");
  EXPECT_EQ(ErrorOf(With("[log]\nlevel = \"loud\"\n")),
            "kith.toml: log.level: must be one of trace|debug|info|warn|error, got \"loud\"");
  EXPECT_EQ(ErrorOf("[node]\norganisation = \"o\"\n"), "kith.toml: node.name: must be set");
  EXPECT_EQ(ErrorOf("[node]\nname = \"\"\norganisation = \"o\"\n"),
            "kith.toml: node.name: must not be empty");
}

TEST(ConfigTest, OneTlsFileOnlyIsAnError) {
  EXPECT_EQ(ErrorOf(With("[http]\ntls_certificate = \"/etc/cert.pem\"\n")),
            "kith.toml: http.tls_private_key: must be set when http.tls_certificate is set "
            "(HTTPS needs both, plain HTTP neither)");
  EXPECT_EQ(ErrorOf(With("[http]\ntls_private_key = \"/etc/key.pem\"\n")),
            "kith.toml: http.tls_certificate: must be set when http.tls_private_key is set "
            "(HTTPS needs both, plain HTTP neither)");
  EXPECT_EQ(ErrorOf(With("[http]\ntls_certificate = \"/nonexistent/c.pem\"\n"
                         "tls_private_key = \"/nonexistent/k.pem\"\n")),
            "kith.toml: http.tls_certificate: no such file: /nonexistent/c.pem");
}

TEST(ConfigTest, EnvironmentOverrides) {
  auto c = Parse(kMinimal, {{"KITH_HTTP_PORT", "0"},
                            {"KITH_NODE_BASE_URL", "https://council.example"},
                            {"KITH_LOG_ACCESS_LOG", "false"},
                            {"KITH_NODE_DATA_DIR", "/var/lib/kith/c"},
                            {"KITH_LIMITS_MAX_BODY_BYTES", "4096"}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->http.port, 0);
  EXPECT_EQ(c->node.base_url, "https://council.example");
  EXPECT_FALSE(c->log.access_log);
  EXPECT_EQ(c->node.data_dir, fs::path("/var/lib/kith/c"));
  EXPECT_EQ(c->limits.max_body_bytes, 4096u);
  EXPECT_EQ(EnvNameFor("federation", "allow_private_addresses"),
            "KITH_FEDERATION_ALLOW_PRIVATE_ADDRESSES");
}

TEST(ConfigTest, ReplicationAndUploadKeys) {
  auto d = Parse(kMinimal);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->federation.push_batch_events, 500);
  EXPECT_EQ(d->federation.push_batch_bytes, 1048576);
  EXPECT_EQ(d->federation.max_in_flight, 2);
  EXPECT_EQ(d->federation.min_backoff_ms, 500);
  EXPECT_EQ(d->federation.max_backoff_seconds, 3600);
  EXPECT_EQ(d->groups.max_upload_bytes, 52428800);

  auto c =
      Parse(With(R"(
[federation]
push_batch_events = 100
push_batch_bytes = 65536
max_in_flight = 4
min_backoff_ms = 10
max_backoff_seconds = 2

[groups]
max_upload_bytes = 1024
)"),
            {{"KITH_FEDERATION_MAX_IN_FLIGHT", "8"}, {"KITH_GROUPS_MAX_UPLOAD_BYTES", "2048"}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->federation.push_batch_events, 100);
  EXPECT_EQ(c->federation.push_batch_bytes, 65536);
  EXPECT_EQ(c->federation.max_in_flight, 8);  // the environment wins over the file
  EXPECT_EQ(c->federation.min_backoff_ms, 10);
  EXPECT_EQ(c->federation.max_backoff_seconds, 2);
  EXPECT_EQ(c->groups.max_upload_bytes, 2048);

  EXPECT_EQ(ErrorOf(With("[federation]\npush_batch_events = 0\n")),
            "kith.toml: federation.push_batch_events: must be 1..10000, got 0");
  EXPECT_EQ(ErrorOf(With("[federation]\npush_batch_bytes = 1024\n")),
            "kith.toml: federation.push_batch_bytes: must be 65536..4194304, got 1024");
  EXPECT_EQ(ErrorOf(With("[federation]\nmax_in_flight = 65\n")),
            "kith.toml: federation.max_in_flight: must be 1..64, got 65");
  EXPECT_EQ(ErrorOf(With("[federation]\nmin_backoff_ms = 5\n")),
            "kith.toml: federation.min_backoff_ms: must be 10..60000, got 5");
  EXPECT_EQ(ErrorOf(With("[federation]\nmax_backoff_seconds = 0\n")),
            "kith.toml: federation.max_backoff_seconds: must be 1..3600, got 0");
  EXPECT_EQ(ErrorOf(With("[groups]\nmax_upload_bytes = 0\n")),
            "kith.toml: groups.max_upload_bytes: must be 1..1099511627776, got 0");
  EXPECT_EQ(
      ErrorOf(kMinimal, {{"KITH_GROUPS_MAX_UPLOAD_BYTES", "big"}}),
      "KITH_GROUPS_MAX_UPLOAD_BYTES: groups.max_upload_bytes: must be an integer, got \"big\"");
}

TEST(ConfigTest, EnvironmentErrors) {
  EXPECT_EQ(ErrorOf(kMinimal, {{"KITH_HTTP_PORT", "abc"}}),
            "KITH_HTTP_PORT: http.port: must be an integer, got \"abc\"");
  EXPECT_EQ(ErrorOf(kMinimal, {{"KITH_HTTP_PORT", "80x"}}),
            "KITH_HTTP_PORT: http.port: must be an integer, got \"80x\"");
  EXPECT_EQ(ErrorOf(kMinimal, {{"KITH_HTTP_PORT", "70000"}}),
            "KITH_HTTP_PORT: http.port: must be 0..65535, got 70000");
  EXPECT_EQ(
      ErrorOf(kMinimal, {{"KITH_LOG_ACCESS_LOG", "maybe"}}),
      "KITH_LOG_ACCESS_LOG: log.access_log: must be a boolean (true or false), got \"maybe\"");
  EXPECT_EQ(ErrorOf(kMinimal, {{"KITH_NODE_BASE_URL", "nope"}})
                .rfind("KITH_NODE_BASE_URL: node.base_url: must be an http(s) URL", 0),
            0u);
}

TEST(ConfigTest, NetworksDefaultsFileAndEnvironment) {
  auto d = Parse(kMinimal);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->networks.refresh_interval, 300);
  EXPECT_EQ(d->networks.withdrawn_refresh_interval, 60);
  EXPECT_EQ(d->networks.statement_lifetime, 86400);
  EXPECT_FALSE(d->networks.allow_http_entities.has_value());
  EXPECT_FALSE(d->AllowHttpEntities());

  // Unset: follows federation.allow_private_addresses; set: wins.
  auto p = Parse(With("[federation]\nallow_private_addresses = true\n"));
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_TRUE(p->AllowHttpEntities());
  auto off =
      Parse(With("[federation]\nallow_private_addresses = true\n"
                 "[networks]\nallow_http_entities = false\n"));
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_FALSE(off->AllowHttpEntities());

  auto c =
      Parse(With("[networks]\nrefresh_interval = 30\nwithdrawn_refresh_interval = 5\n"
                 "statement_lifetime = 3600\nallow_http_entities = true\n"));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->networks.refresh_interval, 30);
  EXPECT_EQ(c->networks.withdrawn_refresh_interval, 5);
  EXPECT_EQ(c->networks.statement_lifetime, 3600);
  EXPECT_TRUE(c->AllowHttpEntities());

  auto e = Parse(kMinimal, {{"KITH_NETWORKS_REFRESH_INTERVAL", "1"},
                            {"KITH_NETWORKS_WITHDRAWN_REFRESH_INTERVAL", "1"},
                            {"KITH_NETWORKS_STATEMENT_LIFETIME", "120"},
                            {"KITH_NETWORKS_ALLOW_HTTP_ENTITIES", "1"}});
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->networks.refresh_interval, 1);
  EXPECT_EQ(e->networks.withdrawn_refresh_interval, 1);
  EXPECT_EQ(e->networks.statement_lifetime, 120);
  EXPECT_TRUE(e->AllowHttpEntities());
}

TEST(ConfigTest, NetworksBounds) {
  EXPECT_EQ(ErrorOf(With("[networks]\nrefresh_interval = 0\n")),
            "kith.toml: networks.refresh_interval: must be 1..86400, got 0");
  EXPECT_EQ(ErrorOf(With("[networks]\nwithdrawn_refresh_interval = -5\n")),
            "kith.toml: networks.withdrawn_refresh_interval: must be 1..86400, got -5");
  EXPECT_EQ(ErrorOf(With("[networks]\nstatement_lifetime = 10\n")),
            "kith.toml: networks.statement_lifetime: must be 60..2678400, got 10");
  EXPECT_EQ(ErrorOf(kMinimal, {{"KITH_NETWORKS_REFRESH_INTERVAL", "soon"}}),
            "KITH_NETWORKS_REFRESH_INTERVAL: networks.refresh_interval: must be an integer, got "
            "\"soon\"");
  EXPECT_EQ(ErrorOf(With("[networks]\nallow_http_entities = \"yes\"\n")),
            "kith.toml: networks.allow_http_entities: must be a boolean (true or false), got a "
            "string");
  EXPECT_EQ(ErrorOf(With("[networks]\nrefresh = 1\n")), "kith.toml: networks.refresh: unknown key");
}

TEST(ConfigTest, LoadConfigReadsFileAndDefaultsDataDirToItsFolder) {
  fs::path dir = fs::temp_directory_path() / ("kith-config-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path file = dir / "kith.toml";
  { std::ofstream(file) << kMinimal; }
  auto c = LoadConfig(file, Env());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->node.data_dir, fs::absolute(dir).lexically_normal());
  EXPECT_EQ(c->file, file);

  auto missing = LoadConfig(dir / "nope.toml", Env());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("nope.toml: cannot read"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kith::node
