#include "admin/key_commands.h"

#include <charconv>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

#include "admin/admin_client.h"

namespace kith::admin {

using nlohmann::json;

struct KeyCommands {
  std::string data_dir;
  bool json_output = false;
  bool oidc = false;
  std::string overlap = "7d";
  CLI::App* keys = nullptr;
  CLI::App* list = nullptr;
  CLI::App* rotate = nullptr;
  CLI::App* purge = nullptr;
};

namespace {

constexpr int kOk = 0;
constexpr int kFailed = 1;
constexpr int kUsage = 2;
constexpr int64_t kMaxOverlapSeconds = 366 * 24 * 3600;

int Fail(const Error& error, bool as_json) {
  if (as_json) {
    std::cout << json{{"error", std::string(error.Name())}, {"message", error.message}}.dump()
              << "\n";
  } else {
    std::cerr << "kithctl: " << error.message << "\n";
  }
  return error.code == ErrorCode::kInvalidArgument ? kUsage : kFailed;
}

std::string When(const json& value) {
  if (!value.is_number_integer()) return "-";
  const std::time_t t = value.get<int64_t>();
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int RunList(const KeyCommands& c, const AdminClient& client) {
  auto reply = client.CallOk("GET", "/v1/keys");
  if (!reply.ok()) return Fail(reply.error(), c.json_output);
  if (c.json_output) {
    std::cout << reply->dump() << "\n";
    return kOk;
  }
  std::cout << "Node keys (Ed25519, sign federation messages):\n";
  std::cout << "  " << std::left << std::setw(10) << "STATUS" << std::setw(22) << "CREATED"
            << std::setw(22) << "VALID UNTIL"
            << "KID / FINGERPRINT\n";
  for (const auto& k : (*reply)["node"]) {
    std::cout << "  " << std::left << std::setw(10) << Str(k, "status") << std::setw(22)
              << When(k["created_at"]) << std::setw(22) << When(k["not_after"]) << Str(k, "kid")
              << "\n  " << std::setw(54) << "" << Str(k, "fingerprint") << "\n";
  }
  std::cout << "OIDC keys (RS256, sign ID tokens):\n";
  for (const auto& k : (*reply)["oidc"]) {
    std::cout << "  " << std::left << std::setw(10) << Str(k, "status") << std::setw(22)
              << When(k["created_at"]) << std::setw(22) << When(k["not_after"]) << Str(k, "kid")
              << "\n";
  }
  return kOk;
}

int RunRotate(const KeyCommands& c, const AdminClient& client) {
  auto overlap = ParseKeyOverlap(c.overlap);
  if (!overlap.ok()) return Fail(overlap.error(), c.json_output);
  const json body{{"kind", c.oidc ? "oidc" : "node"}, {"overlap_seconds", overlap->count()}};
  // Generous: an RSA key takes a moment, and each peer gets the announcement in turn.
  auto reply = client.CallOk("POST", "/v1/keys/rotate", body.dump(), std::chrono::minutes(10));
  if (!reply.ok()) return Fail(reply.error(), c.json_output);
  int failed = 0;
  for (const auto& a : reply->value("announced", json::array())) {
    if (!a.value("ok", false)) ++failed;
  }
  if (c.json_output) {
    std::cout << reply->dump() << "\n";
    return failed ? kFailed : kOk;
  }
  std::cout << (c.oidc ? "OIDC signing key" : "Node key") << " rotated.\n"
            << "  new key:     " << Str(*reply, "kid") << "\n";
  if (!Str(*reply, "fingerprint").empty()) {
    std::cout << "  fingerprint: " << Str(*reply, "fingerprint") << "\n";
  }
  if (!Str(*reply, "old_kid").empty()) {
    std::cout << "  old key:     " << Str(*reply, "old_kid") << ", valid until "
              << When((*reply)["old_not_after"]) << "\n";
  }
  for (const auto& a : reply->value("announced", json::array())) {
    std::cout << "  peer " << Str(a, "node_id") << ": "
              << (a.value("ok", false) ? "told" : "NOT told: " + Str(a, "error")) << "\n";
  }
  if (failed) {
    std::cout << "warning: " << failed
              << " peer(s) could not be told; they learn the new key from this node's document "
                 "when its first signature reaches them\n";
  }
  return failed ? kFailed : kOk;
}

int RunPurge(const KeyCommands& c, const AdminClient& client) {
  auto reply = client.CallOk("POST", "/v1/keys/purge", "{}");
  if (!reply.ok()) return Fail(reply.error(), c.json_output);
  if (c.json_output) {
    std::cout << reply->dump() << "\n";
    return kOk;
  }
  std::cout << "Retired " << (*reply)["node"].size() << " node key(s) and deleted "
            << reply->value("oidc", 0) << " OIDC key(s) whose overlap was over.\n";
  return kOk;
}

}  // namespace

Result<std::chrono::seconds> ParseKeyOverlap(std::string_view text) {
  auto invalid = [&] {
    return MakeError(ErrorCode::kInvalidArgument,
                     "invalid overlap \"" + std::string(text) +
                         "\": use a number and a unit, e.g. 30s, 15m, 12h or 7d (at most 366d)");
  };
  if (text.size() < 2) return invalid();
  int64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    default:
      return invalid();
  }
  const std::string_view digits = text.substr(0, text.size() - 1);
  if (digits.size() > 12) return invalid();
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || n < 0) return invalid();
  if (n > kMaxOverlapSeconds / unit) return invalid();
  return std::chrono::seconds(n * unit);
}

std::shared_ptr<KeyCommands> AddKeyCommands(CLI::App& app, std::string default_data_dir) {
  auto c = std::make_shared<KeyCommands>();
  c->data_dir = std::move(default_data_dir);
  c->keys = app.add_subcommand("keys", "List and rotate the node's signing keys");
  c->keys->require_subcommand(1);
  c->list = c->keys->add_subcommand("list", "List node keys and OIDC keys");
  c->rotate = c->keys->add_subcommand("rotate",
                                      "Make a new signing key; keep the old one valid "
                                      "for the overlap");
  c->rotate->add_option("--overlap", c->overlap,
                        "How long the old key stays valid: 30s, 15m, 12h, 7d (default 7d)");
  c->rotate->add_flag("--oidc", c->oidc,
                      "Rotate the OpenID Connect RS256 key instead of the node key");
  c->purge = c->keys->add_subcommand("purge", "Retire keys whose overlap is over");
  for (CLI::App* sub : {c->list, c->rotate, c->purge}) {
    sub->add_option("--data-dir", c->data_dir,
                    "The node's data directory (default $KITH_DATA_DIR, else /var/lib/kith)");
    sub->add_flag("--json", c->json_output, "Print the result as JSON");
  }
  return c;
}

std::optional<int> RunKeyCommands(const KeyCommands& c) {
  if (!c.keys->parsed()) return std::nullopt;
  AdminClient client(AdminClient::SocketFor(c.data_dir));
  if (c.list->parsed()) return RunList(c, client);
  if (c.rotate->parsed()) return RunRotate(c, client);
  if (c.purge->parsed()) return RunPurge(c, client);
  return kUsage;
}

}  // namespace kith::admin
