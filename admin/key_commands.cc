#include "admin/key_commands.h"

#include <charconv>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

#include "admin/admin_client.h"
#include "admin/command_output.h"

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

constexpr int64_t kMaxOverlapSeconds = 366 * 24 * 3600;

int RunList(const KeyCommands& c, const AdminClient& client) {
  auto reply = client.CallOk("GET", "/v1/keys");
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) {
    std::cout << reply->dump() << "\n";
    return kExitOk;
  }
  std::cout << "Node keys (Ed25519, sign federation messages):\n";
  std::cout << "  " << std::left << std::setw(10) << "STATUS" << std::setw(22) << "CREATED"
            << std::setw(22) << "VALID UNTIL"
            << "KID / FINGERPRINT\n";
  for (const auto& k : (*reply)["node"]) {
    std::cout << "  " << std::left << std::setw(10) << JsonText(k, "status") << std::setw(22)
              << FormatUnixTime(k["created_at"]) << std::setw(22) << FormatUnixTime(k["not_after"])
              << JsonText(k, "kid") << "\n  " << std::setw(54) << "" << JsonText(k, "fingerprint")
              << "\n";
  }
  std::cout << "OIDC keys (RS256, sign ID tokens):\n";
  for (const auto& k : (*reply)["oidc"]) {
    std::cout << "  " << std::left << std::setw(10) << JsonText(k, "status") << std::setw(22)
              << FormatUnixTime(k["created_at"]) << std::setw(22) << FormatUnixTime(k["not_after"])
              << JsonText(k, "kid") << "\n";
  }
  return kExitOk;
}

int RunRotate(const KeyCommands& c, const AdminClient& client) {
  auto overlap = ParseKeyOverlap(c.overlap);
  if (!overlap.ok()) return CommandFail(overlap.error(), c.json_output);
  const json body{{"kind", c.oidc ? "oidc" : "node"}, {"overlap_seconds", overlap->count()}};
  // Generous: an RSA key takes a moment, and each peer gets the announcement in turn.
  auto reply = client.CallOk("POST", "/v1/keys/rotate", body.dump(), std::chrono::minutes(10));
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  int failed = 0;
  for (const auto& a : reply->value("announced", json::array())) {
    if (!a.value("ok", false)) ++failed;
  }
  if (c.json_output) {
    std::cout << reply->dump() << "\n";
    return failed ? kExitFailed : kExitOk;
  }
  std::cout << (c.oidc ? "OIDC signing key" : "Node key") << " rotated.\n"
            << "  new key:     " << JsonText(*reply, "kid") << "\n";
  if (!JsonText(*reply, "fingerprint").empty()) {
    std::cout << "  fingerprint: " << JsonText(*reply, "fingerprint") << "\n";
  }
  if (!JsonText(*reply, "old_kid").empty()) {
    std::cout << "  old key:     " << JsonText(*reply, "old_kid") << ", valid until "
              << FormatUnixTime((*reply)["old_not_after"]) << "\n";
  }
  for (const auto& a : reply->value("announced", json::array())) {
    std::cout << "  peer " << JsonText(a, "node_id") << ": "
              << (a.value("ok", false) ? "told" : "NOT told: " + JsonText(a, "error")) << "\n";
  }
  if (failed) {
    std::cout << "warning: " << failed
              << " peer(s) could not be told; they learn the new key from this node's document "
                 "when its first signature reaches them\n";
  }
  return failed ? kExitFailed : kExitOk;
}

int RunPurge(const KeyCommands& c, const AdminClient& client) {
  auto reply = client.CallOk("POST", "/v1/keys/purge", "{}");
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) {
    std::cout << reply->dump() << "\n";
    return kExitOk;
  }
  std::cout << "Retired " << (*reply)["node"].size() << " node key(s) and deleted "
            << reply->value("oidc", 0) << " OIDC key(s) whose overlap was over.\n";
  return kExitOk;
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
  return kExitUsage;
}

}  // namespace kith::admin
