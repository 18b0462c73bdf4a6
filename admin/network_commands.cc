#include "admin/network_commands.h"

#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

#include "admin/admin_client.h"
#include "admin/command_output.h"

namespace kith::admin {

using nlohmann::json;

struct NetworkCommands {
  std::string data_dir;
  bool json_output = false;
  bool yes = false;
  bool intermediate = false;
  std::string name;
  std::string network;
  std::string url;
  std::string display_name;
  std::string superior;
  std::string fingerprint;
  int max_path_length = -1;
  int64_t statement_lifetime = 0;
  CLI::App* root = nullptr;
  CLI::App* create = nullptr;
  CLI::App* add_member = nullptr;
  CLI::App* remove_member = nullptr;
  CLI::App* list = nullptr;
  CLI::App* status = nullptr;
  CLI::App* trust = nullptr;
  CLI::App* untrust = nullptr;
  CLI::App* refresh = nullptr;
};

namespace {

constexpr auto kFetchTimeout = std::chrono::seconds(60);

// The line a member node's operator runs to trust `network` (a network JSON object).
std::string TrustLine(const json& network) {
  return "kithctl network trust " + JsonText(network, "entity_id") + " --fingerprint " +
         JsonText(network, "fingerprint");
}

void PrintNetwork(const json& n) {
  std::cout << "Network:      " << JsonText(n, "name") << "\n"
            << "Entity id:    " << JsonText(n, "entity_id") << "\n";
  if (!JsonText(n, "display_name").empty()) {
    std::cout << "Display name: " << JsonText(n, "display_name") << "\n";
  }
  std::cout << "Role:         "
            << (JsonText(n, "superior").empty() ? "trust anchor"
                                                : "intermediate of " + JsonText(n, "superior"))
            << "\n"
            << "Key:          " << JsonText(n, "fingerprint") << " (kid " << JsonText(n, "kid")
            << ")\n"
            << "Statements:   valid " << JsonText(n, "statement_lifetime") << " s\n";
}

int Print(const json& reply, bool json_output) {
  if (json_output) std::cout << reply.dump() << "\n";
  return kExitOk;
}

int RunCreate(const NetworkCommands& c, const AdminClient& client) {
  json body{{"name", c.name}, {"display_name", c.display_name}};
  if (!c.superior.empty()) body["superior"] = c.superior;
  if (c.statement_lifetime != 0) body["statement_lifetime"] = c.statement_lifetime;
  auto reply = client.CallOk("POST", "/v1/networks", body.dump());
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) return Print(*reply, true);
  const json& n = (*reply)["network"];
  std::cout << "Created network " << JsonText(n, "name") << "\n";
  PrintNetwork(n);
  if (JsonText(n, "superior").empty()) {
    std::cout << "\nGive each member organisation this line, out of band:\n  " << TrustLine(n)
              << "\nthen add its node with\n  kithctl network add-member " << JsonText(n, "name")
              << " <node base URL>\n";
  } else {
    std::cout << "\nAsk the operator of " << JsonText(n, "superior") << " to run\n"
              << "  kithctl network add-member " << JsonText(n, "superior") << " "
              << JsonText(n, "entity_id") << " --intermediate\n";
  }
  return kExitOk;
}

int RunAddMember(const NetworkCommands& c, const AdminClient& client) {
  auto doc = client.CallOk("POST", "/v1/networks/fetch-member", json{{"url", c.url}}.dump(),
                           kFetchTimeout);
  if (!doc.ok()) return CommandFail(doc.error(), c.json_output);
  if (!c.json_output || !c.yes) {
    std::ostream& out = c.json_output ? std::cerr : std::cout;
    out << "Entity:       " << JsonText(*doc, "entity_id") << "\n"
        << "Kind:         " << ((*doc).value("is_network", false) ? "network" : "node") << "\n"
        << "Organisation: " << JsonText(*doc, "organisation") << "\n";
    for (const auto& key : (*doc)["keys"]) {
      out << "Key:          " << JsonText(key, "fingerprint") << " (kid " << JsonText(key, "kid")
          << ")\n";
    }
  }
  if (!c.yes) {
    std::cout << "Check the fingerprints with the member's operator. Add it to network "
              << c.network << "? [y/N] " << std::flush;
    std::string answer;
    if (!std::getline(std::cin, answer) || (answer != "y" && answer != "Y" && answer != "yes")) {
      std::cerr << "kithctl: not added\n";
      return kExitDeclined;
    }
  }
  json body{{"network", c.network}, {"url", c.url}, {"intermediate", c.intermediate}};
  if (c.max_path_length >= 0) body["max_path_length"] = c.max_path_length;
  auto reply = client.CallOk("POST", "/v1/networks/add-member", body.dump(), kFetchTimeout);
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) return Print(*reply, true);
  const json& m = (*reply)["member"];
  std::cout << "Added " << JsonText(m, "entity_id") << " (" << JsonText(m, "organisation")
            << ") to network " << JsonText(*reply, "network") << "; its statement is valid until "
            << FormatUnixTime(m["statement_exp"]) << "\n"
            << "Nodes that trust the network peer with it at their next refresh.\n";
  return kExitOk;
}

int RunRemoveMember(const NetworkCommands& c, const AdminClient& client) {
  auto reply = client.CallOk("POST", "/v1/networks/remove-member",
                             json{{"network", c.network}, {"url", c.url}}.dump());
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) return Print(*reply, true);
  std::cout << "Withdrew " << JsonText(*reply, "removed") << " from network "
            << JsonText(*reply, "network")
            << "; it is on the withdrawn list and its statement is no longer served.\n";
  return kExitOk;
}

int RunList(const NetworkCommands& c, const AdminClient& client) {
  auto reply = client.CallOk("GET", "/v1/networks");
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) return Print(*reply, true);
  const json& networks = (*reply)["networks"];
  if (networks.empty()) {
    std::cout << "This node runs no networks.\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const auto& n : networks) {
      rows.push_back({JsonText(n, "name"), JsonText(n, "entity_id"),
                      JsonText(n, "superior").empty() ? "anchor" : "intermediate",
                      JsonText(n, "members"), JsonText(n, "withdrawn"),
                      JsonText(n, "fingerprint")});
    }
    PrintTable({"NAME", "ENTITY ID", "ROLE", "MEMBERS", "WITHDRAWN", "FINGERPRINT"}, rows);
  }
  const json& trusted = (*reply)["trusted"];
  std::cout << "\n";
  if (trusted.empty()) {
    std::cout << "No trusted anchors.\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const auto& a : trusted) {
      rows.push_back(
          {JsonText(a, "entity_id"), JsonText(a, "fingerprint"), FormatUnixTime(a["added_at"])});
    }
    PrintTable({"TRUSTED ANCHOR", "FINGERPRINT", "SINCE"}, rows);
  }
  const json& hints = (*reply)["authority_hints"];
  if (!hints.empty()) {
    std::cout << "\nThis node is a member of:\n";
    for (const auto& h : hints)
      std::cout << "  " << (h.is_string() ? h.get<std::string>() : "") << "\n";
  }
  return kExitOk;
}

int RunStatus(const NetworkCommands& c, const AdminClient& client) {
  auto reply = client.CallOk("GET", "/v1/networks/status?network=" + EncodePathSegment(c.network));
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) return Print(*reply, true);
  const json& n = (*reply)["network"];
  PrintNetwork(n);
  std::cout << "Members:      " << JsonText(n, "members") << " current, "
            << JsonText(n, "withdrawn") << " withdrawn\n\n";
  const json& members = (*reply)["members"];
  if (members.empty()) {
    std::cout << "No members yet: kithctl network add-member " << JsonText(n, "name")
              << " <node base URL>\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::pair<std::string, std::string>> errors;
    for (const auto& m : members) {
      const bool withdrawn = m["withdrawn_at"].is_number_integer();
      std::string kind = m.value("intermediate", false) ? "network" : "node";
      rows.push_back({JsonText(m, "entity_id"), JsonText(m, "organisation"), kind,
                      withdrawn ? "withdrawn " + FormatUnixTime(m["withdrawn_at"])
                                : FormatUnixTime(m["statement_exp"], "not issued"),
                      FormatUnixTime(m["last_contact_at"], "never"),
                      JsonText(m, "peer_state").empty() ? "-" : JsonText(m, "peer_state")});
      if (!JsonText(m, "last_error").empty()) {
        errors.emplace_back(JsonText(m, "entity_id"), JsonText(m, "last_error"));
      }
    }
    PrintTable({"MEMBER", "ORGANISATION", "KIND", "STATEMENT EXPIRES", "LAST CONTACT", "PEER"},
               rows);
    for (const auto& [id, error] : errors) {
      std::cout << "  " << id << ": last error: " << error << "\n";
    }
  }
  std::cout << "\nMember nodes trust this network with:\n  " << TrustLine(n) << "\n";
  return kExitOk;
}

int RunTrust(const NetworkCommands& c, const AdminClient& client) {
  auto reply =
      client.CallOk("POST", "/v1/networks/trust",
                    json{{"url", c.url}, {"fingerprint", c.fingerprint}}.dump(), kFetchTimeout);
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) return Print(*reply, true);
  std::cout << "Trusting " << c.url << " (" << c.fingerprint << ")";
  if (reply->value("checked", false)) {
    std::cout << "; the fingerprint matches the anchor's key.\n";
  } else {
    std::cout << ".\nwarning: " << JsonText(*reply, "warning") << "\n";
  }
  std::cout << "This node peers automatically with the network's members at its next refresh "
               "(or now: kithctl network refresh).\n";
  return kExitOk;
}

int RunUntrust(const NetworkCommands& c, const AdminClient& client) {
  auto reply = client.CallOk("POST", "/v1/networks/untrust", json{{"url", c.url}}.dump());
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) return Print(*reply, true);
  std::cout << "No longer trusting " << JsonText(*reply, "untrusted")
            << "; peers admitted through it are suspended at the next refresh unless another "
               "trusted network vouches for them.\n";
  return kExitOk;
}

int RunRefresh(const NetworkCommands& c, const AdminClient& client) {
  auto reply = client.CallOk("POST", "/v1/networks/refresh", "{}", std::chrono::minutes(10));
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) return Print(*reply, true);
  if (reply->is_object()) {
    for (const auto& [key, value] : reply->items()) {
      std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump())
                << "\n";
    }
  } else {
    std::cout << reply->dump() << "\n";
  }
  return kExitOk;
}

}  // namespace

std::shared_ptr<NetworkCommands> AddNetworkCommands(CLI::App& app, std::string default_data_dir) {
  auto c = std::make_shared<NetworkCommands>();
  c->data_dir = std::move(default_data_dir);
  c->root = app.add_subcommand("network", "Run networks, and trust networks run elsewhere");
  c->root->require_subcommand(1);

  c->create = c->root->add_subcommand("create", "Create a network run by this node");
  c->create->add_option("name", c->name, "The network's name: a-z, 0-9 and '-'")->required();
  c->create->add_option("--display-name", c->display_name, "A name people read");
  c->create->add_option("--superior", c->superior,
                        "Entity id of the network this one is an intermediate of");
  c->create
      ->add_option("--statement-lifetime", c->statement_lifetime,
                   "Seconds the statements about members stay valid (default 86400)")
      ->check(CLI::Range(int64_t{60}, int64_t{366 * 86400}));

  c->add_member = c->root->add_subcommand("add-member", "Add a node (or a network) as a member");
  c->add_member->add_option("network", c->network, "The network's name or entity id")->required();
  c->add_member->add_option("url", c->url, "The member's base URL (or a network's entity id)")
      ->required();
  c->add_member->add_flag("--intermediate", c->intermediate,
                          "The member is itself a network (an intermediate)");
  c->add_member
      ->add_option("--max-path-length", c->max_path_length,
                   "At most N intermediates below an intermediate member")
      ->check(CLI::Range(0, 16));
  c->add_member->add_flag("--yes,-y", c->yes, "Do not ask for confirmation");

  c->remove_member = c->root->add_subcommand("remove-member", "Withdraw a member");
  c->remove_member->add_option("network", c->network, "The network's name or entity id")
      ->required();
  c->remove_member->add_option("url", c->url, "The member's entity id")->required();

  c->list = c->root->add_subcommand("list", "Networks run here, trusted anchors, memberships");
  c->status = c->root->add_subcommand("status", "A network's members and key fingerprint");
  c->status->add_option("network", c->network, "The network's name or entity id")->required();

  c->trust = c->root->add_subcommand("trust", "Trust a network as a trust anchor");
  c->trust->add_option("url", c->url, "The anchor network's entity id")->required();
  c->trust
      ->add_option("--fingerprint", c->fingerprint,
                   "SHA256:... of the anchor's key, from its operator")
      ->required();
  c->untrust = c->root->add_subcommand("untrust", "Stop trusting a trust anchor");
  c->untrust->add_option("url", c->url, "The anchor network's entity id")->required();

  c->refresh = c->root->add_subcommand("refresh", "Refresh member lists and chains now");

  for (CLI::App* sub : {c->create, c->add_member, c->remove_member, c->list, c->status, c->trust,
                        c->untrust, c->refresh}) {
    sub->add_option("--data-dir", c->data_dir,
                    "The node's data directory (default $KITH_DATA_DIR, else /var/lib/kith)");
    sub->add_flag("--json", c->json_output, "Print the result as JSON");
  }
  return c;
}

std::optional<int> RunNetworkCommands(const NetworkCommands& c) {
  if (!c.root->parsed()) return std::nullopt;
  AdminClient client(AdminClient::SocketFor(c.data_dir));
  if (c.create->parsed()) return RunCreate(c, client);
  if (c.add_member->parsed()) return RunAddMember(c, client);
  if (c.remove_member->parsed()) return RunRemoveMember(c, client);
  if (c.list->parsed()) return RunList(c, client);
  if (c.status->parsed()) return RunStatus(c, client);
  if (c.trust->parsed()) return RunTrust(c, client);
  if (c.untrust->parsed()) return RunUntrust(c, client);
  if (c.refresh->parsed()) return RunRefresh(c, client);
  return kExitUsage;
}

}  // namespace kith::admin
