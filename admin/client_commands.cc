#include "admin/client_commands.h"

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

#include "admin/admin_client.h"
#include "admin/command_output.h"

namespace kith::admin {

using nlohmann::json;

struct ClientCommands {
  std::string data_dir;
  bool json_output = false;
  std::string name;
  std::vector<std::string> redirect_uris;
  std::vector<std::string> post_logout_redirect_uris;
  bool is_public = false;
  bool first_party = false;
  std::string id_token_alg;
  std::string auth_method;
  std::string jwks_file;
  std::string client_id;
  CLI::App* client = nullptr;
  CLI::App* add = nullptr;
  CLI::App* list = nullptr;
  CLI::App* remove = nullptr;
};

namespace {

// A JWK Set of a few keys is a few KiB; the node refuses more than 64 KiB.
constexpr std::streamsize kMaxJwksFile = 64 * 1024;

std::string Join(const json& list) {
  std::string out;
  if (!list.is_array()) return out;
  for (const auto& item : list) {
    if (!out.empty()) out += " ";
    out += item.is_string() ? item.get<std::string>() : item.dump();
  }
  return out;
}

// The JWK Set in `path`, parsed. kInvalidArgument naming the file when it is not JSON.
Result<json> ReadJwks(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(ErrorCode::kInvalidArgument, "--jwks: cannot open " + path);
  std::string text(static_cast<size_t>(kMaxJwksFile) + 1, '\0');
  in.read(text.data(), kMaxJwksFile + 1);
  if (in.bad()) return MakeError(ErrorCode::kInvalidArgument, "--jwks: cannot read " + path);
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > static_cast<size_t>(kMaxJwksFile)) {
    return MakeError(ErrorCode::kInvalidArgument, "--jwks: " + path + " is larger than 64 KiB");
  }
  json parsed = json::parse(text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--jwks: " + path + " is not a JSON object (a JWK Set: {\"keys\":[...]})");
  }
  return parsed;
}

int RunAdd(const ClientCommands& c, const AdminClient& client) {
  json body{{"name", c.name},
            {"redirect_uris", c.redirect_uris},
            {"post_logout_redirect_uris", c.post_logout_redirect_uris},
            {"public", c.is_public},
            {"first_party", c.first_party}};
  if (!c.id_token_alg.empty()) body["id_token_alg"] = c.id_token_alg;
  if (!c.auth_method.empty()) body["auth_method"] = c.auth_method;
  if (!c.client_id.empty()) body["client_id"] = c.client_id;
  if (!c.jwks_file.empty()) {
    auto jwks = ReadJwks(c.jwks_file);
    if (!jwks.ok()) return CommandFail(jwks.error(), c.json_output);
    body["jwks"] = std::move(jwks).value();
  }
  std::string text;
  try {
    text = body.dump(-1, ' ', false, json::error_handler_t::strict);
  } catch (const json::exception&) {
    return CommandFail(MakeError(ErrorCode::kInvalidArgument, "the options are not valid UTF-8"),
                       c.json_output);
  }
  auto reply = client.CallOk("POST", "/v1/clients", text);
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) {
    std::cout << reply->dump() << "\n";
    return kExitOk;
  }
  const json& registered = (*reply)["client"];
  std::cout << "Registered client \"" << JsonText(registered, "name") << "\"\n"
            << "  client_id:     " << JsonText(registered, "client_id") << "\n"
            << "  auth method:   " << JsonText(registered, "auth_method") << "\n"
            << "  ID token alg:  " << JsonText(registered, "id_token_alg") << "\n";
  if (reply->contains("client_secret")) {
    std::cout << "  client_secret: " << JsonText(*reply, "client_secret") << "\n"
              << "The secret is shown only now: store it in the relying party's configuration.\n";
  }
  return kExitOk;
}

int RunList(const ClientCommands& c, const AdminClient& client) {
  auto reply = client.CallOk("GET", "/v1/clients");
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) {
    std::cout << reply->dump() << "\n";
    return kExitOk;
  }
  const json& clients = (*reply)["clients"];
  if (clients.empty()) {
    std::cout << "No clients.\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& cl : clients) {
    std::string kind = cl.value("public", false) ? "public" : "confidential";
    if (cl.value("first_party", false)) kind += ",first-party";
    rows.push_back({JsonText(cl, "client_id"), JsonText(cl, "name"), kind,
                    JsonText(cl, "auth_method"), JsonText(cl, "id_token_alg"),
                    Join(cl.value("redirect_uris", json::array()))});
  }
  PrintTable({"CLIENT ID", "NAME", "TYPE", "AUTH", "ALG", "REDIRECT URIS"}, rows);
  return kExitOk;
}

int RunRemove(const ClientCommands& c, const AdminClient& client) {
  auto reply = client.CallOk("DELETE", "/v1/clients/" + EncodePathSegment(c.client_id));
  if (!reply.ok()) return CommandFail(reply.error(), c.json_output);
  if (c.json_output) {
    std::cout << reply->dump() << "\n";
  } else {
    std::cout << "Removed client " << JsonText(*reply, "removed") << ".\n";
  }
  return kExitOk;
}

}  // namespace

std::shared_ptr<ClientCommands> AddClientCommands(CLI::App& app, std::string default_data_dir) {
  auto c = std::make_shared<ClientCommands>();
  c->data_dir = std::move(default_data_dir);
  c->client = app.add_subcommand("client", "Manage the OpenID Connect clients of this node");
  c->client->require_subcommand(1);

  c->add = c->client->add_subcommand(
      "add", "Register a relying party (prints its client_id and, once, its secret)");
  c->add->add_option("--name", c->name, "The client's name, shown on the consent page")->required();
  c->add->add_option("--redirect-uri", c->redirect_uris, "A redirect URI (repeat for more)")
      ->required()
      ->allow_extra_args(false);
  c->add
      ->add_option("--post-logout-redirect-uri", c->post_logout_redirect_uris,
                   "A post-logout redirect URI (repeat for more)")
      ->allow_extra_args(false);
  c->add->add_flag("--public", c->is_public, "A public client: no secret, PKCE required");
  c->add->add_flag("--first-party", c->first_party, "Skip the consent page");
  c->add->add_option("--id-token-alg", c->id_token_alg, "ID token signature (default RS256)")
      ->check(CLI::IsMember({"RS256", "EdDSA"}));
  c->add
      ->add_option("--auth-method", c->auth_method,
                   "Token endpoint authentication (default client_secret_basic, none if public)")
      ->check(
          CLI::IsMember({"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}));
  c->add->add_option("--jwks", c->jwks_file,
                     "JWK Set file with the keys of a private_key_jwt client");
  c->add->add_option("--client-id", c->client_id, "A fixed client_id (default: a random one)");

  c->list = c->client->add_subcommand("list", "List the registered clients");
  c->remove = c->client->add_subcommand("remove", "Remove a client");
  c->remove->add_option("client_id", c->client_id, "The client's client_id")->required();

  for (CLI::App* sub : {c->add, c->list, c->remove}) {
    sub->add_option("--data-dir", c->data_dir,
                    "The node's data directory (default $KITH_DATA_DIR, else /var/lib/kith)");
    sub->add_flag("--json", c->json_output, "Print the result as JSON");
  }
  return c;
}

std::optional<int> RunClientCommands(const ClientCommands& c) {
  if (!c.client->parsed()) return std::nullopt;
  AdminClient client(AdminClient::SocketFor(c.data_dir));
  if (c.add->parsed()) return RunAdd(c, client);
  if (c.list->parsed()) return RunList(c, client);
  if (c.remove->parsed()) return RunRemove(c, client);
  return kExitUsage;
}

}  // namespace kith::admin
