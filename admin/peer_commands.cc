#include "admin/peer_commands.h"

#include <ctime>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

#include "admin/admin_client.h"
#include "admin/command_output.h"

namespace kith::admin {

using nlohmann::json;

struct PeerCommands {
  std::string data_dir;
  bool json_output = false;
  bool yes = false;
  std::string url;
  std::string node;
  int64_t limit = 50;
  CLI::App* peer = nullptr;
  CLI::App* add = nullptr;
  CLI::App* list = nullptr;
  CLI::App* ping = nullptr;
  CLI::App* audit = nullptr;
  std::vector<std::pair<std::string, CLI::App*>> actions;
};

namespace {

void PrintPeer(const json& p) {
  std::cout << JsonText(p, "node_id") << "  " << JsonText(p, "state") << "  " << JsonText(p, "name")
            << " (" << JsonText(p, "organisation") << ")\n";
}

int RunAdd(const PeerCommands& c, const AdminClient& client) {
  const std::string body = json{{"url", c.url}}.dump();
  auto doc = client.CallOk("POST", "/v1/peers/fetch", body);
  if (!doc.ok()) return CommandFail(doc.error(), c.json_output);
  if (!c.json_output || !c.yes) {
    std::ostream& out = c.json_output ? std::cerr : std::cout;
    out << "Node:         " << JsonText(*doc, "node_id") << "\n"
        << "Name:         " << JsonText(*doc, "name") << "\n"
        << "Organisation: " << JsonText(*doc, "organisation") << "\n";
    for (const auto& key : (*doc)["keys"]) {
      out << "Key:          " << JsonText(key, "fingerprint") << " (" << JsonText(key, "status")
          << ", kid " << JsonText(key, "kid") << ")\n";
    }
  }
  if (!c.yes) {
    std::cout << "Check the fingerprints with the other node's operator. Send a peering request? "
                 "[y/N] "
              << std::flush;
    std::string answer;
    if (!std::getline(std::cin, answer) || (answer != "y" && answer != "Y" && answer != "yes")) {
      std::cerr << "kithctl: not requested\n";
      return kExitDeclined;
    }
  }
  auto reply = client.CallOk("POST", "/v1/peers", body, std::chrono::seconds(60));
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) {
    std::cout << reply->dump() << "\n";
  } else {
    std::cout << "Peering requested; the other node's operator must now run\n"
              << "  kithctl peer approve " << c.url << "\n";
  }
  return kExitOk;
}

int RunList(const PeerCommands& c, const AdminClient& client) {
  auto reply = client.CallOk("GET", "/v1/peers");
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) {
    std::cout << reply->dump() << "\n";
    return kExitOk;
  }
  const json& peers = (*reply)["peers"];
  if (peers.empty()) {
    std::cout << "No peers.\n";
    return kExitOk;
  }
  std::cout << std::left << std::setw(40) << "NODE" << std::setw(11) << "STATE" << std::setw(22)
            << "LAST CONTACT"
            << "FAILURES  NAME\n";
  for (const auto& p : peers) {
    std::cout << std::left << std::setw(40) << JsonText(p, "node_id") << std::setw(11)
              << JsonText(p, "state") << std::setw(22)
              << FormatUnixTime(p["last_contact_at"], "never") << std::setw(10)
              << p.value("failures", 0) << JsonText(p, "name") << "\n";
    if (!JsonText(p, "last_error").empty())
      std::cout << "    last error: " << JsonText(p, "last_error") << "\n";
  }
  return kExitOk;
}

int RunAction(const PeerCommands& c, const AdminClient& client, const std::string& action) {
  auto reply = client.CallOk("POST", "/v1/peers/" + action, json{{"node", c.node}}.dump(),
                             std::chrono::seconds(60));
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) {
    std::cout << reply->dump() << "\n";
    return kExitOk;
  }
  PrintPeer((*reply)["peer"]);
  if (!reply->value("notified", false)) {
    std::cout << "warning: the peer could not be told: " << JsonText(*reply, "notify_error")
              << "\n";
  }
  return kExitOk;
}

int RunPing(const PeerCommands& c, const AdminClient& client) {
  auto reply = client.CallOk("POST", "/v1/peers/ping", json{{"node", c.node}}.dump());
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) {
    std::cout << reply->dump() << "\n";
  } else {
    std::cout << "signed answer from " << c.node << ": " << (*reply)["answer"].dump() << "\n";
  }
  return kExitOk;
}

int RunAudit(const PeerCommands& c, const AdminClient& client) {
  auto reply = client.CallOk("GET", "/v1/audit?limit=" + std::to_string(c.limit));
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) {
    std::cout << reply->dump() << "\n";
    return kExitOk;
  }
  for (const auto& e : (*reply)["entries"]) {
    std::cout << FormatUnixTime(e["at"], "never") << "  " << std::left << std::setw(20)
              << JsonText(e, "action") << JsonText(e, "peer") << "  by " << JsonText(e, "actor")
              << " from " << JsonText(e, "source") << "  " << e["detail"].dump() << "\n";
  }
  return kExitOk;
}

}  // namespace

std::shared_ptr<PeerCommands> AddPeerCommands(CLI::App& app, std::string default_data_dir) {
  auto c = std::make_shared<PeerCommands>();
  c->data_dir = std::move(default_data_dir);
  c->peer = app.add_subcommand("peer", "Manage peer nodes");
  c->peer->require_subcommand(1);
  c->add = c->peer->add_subcommand("add", "Request peering with the node at URL");
  c->add->add_option("url", c->url, "The other node's base URL")->required();
  c->add->add_flag("--yes,-y", c->yes, "Do not ask for confirmation");
  c->list = c->peer->add_subcommand("list", "List peers: state, last contact, failures");
  c->ping = c->peer->add_subcommand("ping", "Send a signed no-op request to a peer");
  c->ping->add_option("node", c->node, "Peer base URL or name")->required();
  for (const char* action : {"approve", "reject", "suspend", "resume", "revoke"}) {
    CLI::App* sub = c->peer->add_subcommand(action, std::string(action) + " a peer");
    sub->add_option("node", c->node, "Peer base URL or name")->required();
    c->actions.emplace_back(action, sub);
  }
  c->audit = app.add_subcommand("audit", "Show the audit log of peering changes");
  c->audit->add_option("--limit", c->limit, "How many entries (newest first)")
      ->check(CLI::Range(int64_t{1}, int64_t{10000}));
  std::vector<CLI::App*> all{c->add, c->list, c->ping, c->audit};
  for (const auto& [name, sub] : c->actions) all.push_back(sub);
  for (CLI::App* sub : all) {
    sub->add_option("--data-dir", c->data_dir,
                    "The node's data directory (default $KITH_DATA_DIR, else /var/lib/kith)");
    sub->add_flag("--json", c->json_output, "Print the result as JSON");
  }
  return c;
}

std::optional<int> RunPeerCommands(const PeerCommands& c) {
  if (!c.peer->parsed() && !c.audit->parsed()) return std::nullopt;
  AdminClient client(AdminClient::SocketFor(c.data_dir));
  if (c.audit->parsed()) return RunAudit(c, client);
  if (c.add->parsed()) return RunAdd(c, client);
  if (c.list->parsed()) return RunList(c, client);
  if (c.ping->parsed()) return RunPing(c, client);
  for (const auto& [name, sub] : c.actions) {
    if (sub->parsed()) return RunAction(c, client, name);
  }
  return kExitUsage;
}

}  // namespace kith::admin
