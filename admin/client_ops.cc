#include "admin/client_ops.h"

#include <sodium.h>

#include <algorithm>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "admin/member_ops.h"

namespace kith::admin {

using nlohmann::json;

namespace {

Error Invalid(std::string_view field, std::string_view message) {
  return MakeError(ErrorCode::kInvalidArgument, std::string(field) + ": " + std::string(message),
                   "invalid_" + std::string(field));
}

Error NotRunning() {
  return MakeError(ErrorCode::kUnavailable, "the OpenID Connect provider is not running");
}

json ClientJson(const identity::OidcClient& c) {
  json jwks = nullptr;
  if (!c.jwks_json.empty()) {
    jwks = json::parse(c.jwks_json, nullptr, false);
    if (jwks.is_discarded()) jwks = c.jwks_json;
  }
  return json{{"client_id", c.client_id},
              {"name", c.name},
              {"public", c.is_public},
              {"first_party", c.first_party},
              {"id_token_alg", std::string(identity::JwsAlgorithmName(c.id_token_alg))},
              {"auth_method", std::string(identity::ClientAuthMethodName(c.auth_method))},
              {"redirect_uris", c.redirect_uris},
              {"post_logout_redirect_uris", c.post_logout_redirect_uris},
              {"has_secret", c.has_secret},
              {"jwks", std::move(jwks)},
              {"created_at", c.created_at}};
}

Result<std::vector<std::string>> StringList(const json& body, const char* name) {
  std::vector<std::string> out;
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return out;
  if (!it->is_array()) return Invalid(name, "must be an array of strings");
  for (const auto& item : *it) {
    if (!item.is_string()) return Invalid(name, "must be an array of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

Result<bool> OptionalBool(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return false;
  if (!it->is_boolean()) return Invalid(name, "must be true or false");
  return it->get<bool>();
}

Result<std::string> OptionalString(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::string();
  if (!it->is_string()) return Invalid(name, "must be a string");
  return it->get<std::string>();
}

Result<identity::NewOidcClient> ParseNewClient(const json& body) {
  static constexpr std::string_view kFields[] = {
      "client_id", "name",        "redirect_uris", "post_logout_redirect_uris",
      "public",    "first_party", "id_token_alg",  "auth_method",
      "jwks"};
  for (const auto& [key, value] : body.items()) {
    if (std::find(std::begin(kFields), std::end(kFields), key) == std::end(kFields)) {
      return MakeError(ErrorCode::kInvalidArgument, "unknown field \"" + key.substr(0, 64) + "\"",
                       "unknown_field");
    }
  }
  identity::NewOidcClient client;
  auto client_id = OptionalString(body, "client_id");
  if (!client_id.ok()) return std::move(client_id).error();
  client.client_id = std::move(client_id).value();
  auto name = OptionalString(body, "name");
  if (!name.ok()) return std::move(name).error();
  if (name->empty()) return Invalid("name", "is required");
  client.name = std::move(name).value();
  auto redirects = StringList(body, "redirect_uris");
  if (!redirects.ok()) return std::move(redirects).error();
  if (redirects->empty()) return Invalid("redirect_uris", "at least one is required");
  client.redirect_uris = std::move(redirects).value();
  auto logouts = StringList(body, "post_logout_redirect_uris");
  if (!logouts.ok()) return std::move(logouts).error();
  client.post_logout_redirect_uris = std::move(logouts).value();
  auto is_public = OptionalBool(body, "public");
  if (!is_public.ok()) return std::move(is_public).error();
  client.is_public = *is_public;
  auto first_party = OptionalBool(body, "first_party");
  if (!first_party.ok()) return std::move(first_party).error();
  client.first_party = *first_party;
  auto alg = OptionalString(body, "id_token_alg");
  if (!alg.ok()) return std::move(alg).error();
  if (!alg->empty()) {
    auto parsed = identity::ParseJwsAlgorithm(*alg);
    if (!parsed.ok() ||
        (*parsed != identity::JwsAlgorithm::kRS256 && *parsed != identity::JwsAlgorithm::kEdDSA)) {
      return Invalid("id_token_alg", "must be RS256 or EdDSA");
    }
    client.id_token_alg = *parsed;
  }
  auto method = OptionalString(body, "auth_method");
  if (!method.ok()) return std::move(method).error();
  if (!method->empty()) {
    auto parsed = identity::ParseClientAuthMethod(*method);
    if (!parsed.ok()) {
      return Invalid("auth_method",
                     "must be client_secret_basic, client_secret_post, private_key_jwt or none");
    }
    client.auth_method = *parsed;
  }
  if (auto it = body.find("jwks"); it != body.end() && !it->is_null()) {
    if (it->is_object()) {
      client.jwks_json = it->dump();
    } else if (it->is_string()) {
      client.jwks_json = it->get<std::string>();
    } else {
      return Invalid("jwks", "must be a JWK Set object or its JSON text");
    }
  }
  // The store names its fields after the registration metadata; answer with ours.
  if (auto status = identity::ValidateNewOidcClient(client); !status.ok()) {
    Error error = std::move(status).error();
    const std::pair<std::string_view, std::string_view> renames[] = {
        {"id_token_signed_response_alg", "id_token_alg"},
        {"token_endpoint_auth_method", "auth_method"}};
    for (const auto& [from, to] : renames) {
      if (error.message.rfind(from, 0) == 0) {
        error.message = std::string(to) + error.message.substr(from.size());
      }
    }
    return error;
  }
  return client;
}

}  // namespace

void AddClientRoutes(AdminRouter& router, identity::OidcClientStore* clients) {
  router.Add("GET", "/v1/clients", [clients](const AdminRequest&) -> Result<json> {
    if (!clients) return NotRunning();
    auto list = clients->List();
    if (!list.ok()) return std::move(list).error();
    json out = json::array();
    for (const auto& c : *list) out.push_back(ClientJson(c));
    return json{{"clients", std::move(out)}};
  });

  router.Add("POST", "/v1/clients", [clients](const AdminRequest& request) -> Result<json> {
    if (!clients) return NotRunning();
    auto body = request.JsonBody();
    if (!body.ok()) return std::move(body).error();
    auto client = ParseNewClient(*body);
    if (!client.ok()) return std::move(client).error();
    auto registered =
        WaitDone<identity::RegisteredClient>([&](identity::Done<identity::RegisteredClient> done) {
          clients->Add(std::move(client).value(), std::move(done));
        });
    if (!registered.ok()) return std::move(registered).error();
    json out{{"client", ClientJson(registered->client)}};
    if (!registered->secret.empty()) out["client_secret"] = registered->secret;
    sodium_memzero(registered->secret.data(), registered->secret.size());
    return out;
  });

  router.Add(
      "DELETE", "/v1/clients/{client_id}", [clients](const AdminRequest& request) -> Result<json> {
        if (!clients) return NotRunning();
        auto client_id = DecodeComponent(request.params.at("client_id"), "client_id");
        if (!client_id.ok()) return std::move(client_id).error();
        Status removed = WaitDone<void>(
            [&](identity::Done<void> done) { clients->Remove(*client_id, std::move(done)); });
        if (!removed.ok()) return std::move(removed).error();
        return json{{"removed", *client_id}};
      });
}

}  // namespace kith::admin
