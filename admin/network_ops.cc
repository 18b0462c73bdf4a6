#include "admin/network_ops.h"

#include <boost/url/parse.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "admin/member_ops.h"
#include "federation/network_operator.h"
#include "federation/peer_store.h"
#include "identity/node_keys.h"

namespace kith::admin {

using nlohmann::json;

namespace {

Error NotRunning() {
  return MakeError(ErrorCode::kUnavailable, "networks are not running on this node");
}

json Nullable(const std::optional<int64_t>& value) { return value ? json(*value) : json(nullptr); }

json KeysJson(const std::vector<identity::PublicJwk>& keys) {
  json out = json::array();
  for (const auto& key : keys)
    out.push_back({{"kid", key.kid()}, {"fingerprint", KeyFingerprint(key)}});
  return out;
}

// A required non-empty string member of the body.
Result<std::string> StringMember(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || !it->is_string() || it->get<std::string>().empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string("the request needs a non-empty string \"") + name + "\"");
  }
  return it->get<std::string>();
}

// An optional string member ("" when absent).
Result<std::string> OptionalString(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return MakeError(ErrorCode::kInvalidArgument, std::string("\"") + name + "\" must be a string");
  }
  return it->get<std::string>();
}

// An entity id as an operator types it: trailing slashes dropped, then validated.
Result<std::string> EntityIdMember(const json& body, const char* name, bool allow_http) {
  auto url = StringMember(body, name);
  if (!url.ok()) return std::move(url).error();
  std::string id = std::move(url).value();
  while (id.size() > 1 && id.back() == '/') id.pop_back();
  Status valid = federation::ValidateEntityId(id, allow_http);
  if (!valid.ok()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string("\"") + name + "\": " + valid.error().message);
  }
  return id;
}

Result<federation::Network> RequireNetwork(federation::NetworkStore& networks,
                                           std::string_view name) {
  auto found = networks.FindNetwork(name);
  if (!found.ok()) return std::move(found).error();
  if (!*found) {
    return MakeError(ErrorCode::kNotFound, "no network \"" + std::string(name) + "\" on this node",
                     "network_not_found");
  }
  return std::move(**found);
}

json MemberJson(const federation::NetworkMember& m, federation::PeerStore* peers) {
  json j{{"entity_id", m.entity_id},
         {"organisation", m.organisation},
         {"intermediate", m.intermediate},
         {"keys", KeysJson(m.keys)},
         {"added_at", m.added_at},
         {"withdrawn_at", Nullable(m.withdrawn_at)},
         {"statement_exp", Nullable(m.statement_exp)},
         {"last_contact_at", Nullable(m.last_contact_at)},
         {"last_error", m.last_error}};
  j["max_path_length"] = m.max_path_length ? json(*m.max_path_length) : json(nullptr);
  j["peer_state"] = nullptr;
  if (peers != nullptr && !m.intermediate) {
    auto peer = peers->Find(m.entity_id);
    if (peer.ok() && *peer) {
      j["peer_state"] = std::string(federation::PeerStateName((*peer)->state));
    }
  }
  return j;
}

// The network's JSON with the counts of current and withdrawn members.
Result<json> NetworkWithCounts(federation::NetworkStore& networks,
                               const federation::Network& network) {
  auto members = networks.Members(network.name);
  if (!members.ok()) return std::move(members).error();
  int64_t current = 0, withdrawn = 0;
  for (const auto& m : *members) (m.withdrawn_at ? withdrawn : current)++;
  json j = NetworkJson(network);
  j["members"] = current;
  j["withdrawn"] = withdrawn;
  return j;
}

Result<json> ListNetworks(federation::NetworkStore& networks) {
  auto list = networks.Networks();
  if (!list.ok()) return std::move(list).error();
  json out = json::array();
  for (const auto& network : *list) {
    auto j = NetworkWithCounts(networks, network);
    if (!j.ok()) return std::move(j).error();
    out.push_back(std::move(j).value());
  }
  auto trusted = networks.TrustedAnchorRecords();
  if (!trusted.ok()) return std::move(trusted).error();
  json anchors = json::array();
  for (const auto& a : *trusted) {
    anchors.push_back(
        {{"entity_id", a.entity_id}, {"fingerprint", a.fingerprint}, {"added_at", a.added_at}});
  }
  auto hints = networks.AuthorityHints();
  if (!hints.ok()) return std::move(hints).error();
  return json{{"networks", out}, {"trusted", anchors}, {"authority_hints", *hints}};
}

Result<json> CreateNetwork(federation::NetworkStore& networks, const AdminRequest& request,
                           int64_t default_lifetime) {
  auto body = request.JsonBody();
  if (!body.ok()) return std::move(body).error();
  auto name = StringMember(*body, "name");
  if (!name.ok()) return std::move(name).error();
  auto display_name = OptionalString(*body, "display_name");
  if (!display_name.ok()) return std::move(display_name).error();
  std::string superior;
  if (auto it = body->find("superior");
      it != body->end() && !it->is_null() && !(it->is_string() && it->get<std::string>().empty())) {
    auto id = EntityIdMember(*body, "superior", networks.allow_http());
    if (!id.ok()) return std::move(id).error();
    superior = std::move(id).value();
  }
  int64_t lifetime = default_lifetime;
  if (auto it = body->find("statement_lifetime"); it != body->end() && !it->is_null()) {
    if (!it->is_number_integer()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "\"statement_lifetime\" must be an integer (seconds)");
    }
    lifetime = it->get<int64_t>();
  }
  auto network = networks.Create(*name, *display_name, superior, lifetime);
  if (!network.ok()) return std::move(network).error();
  auto j = NetworkWithCounts(networks, *network);
  if (!j.ok()) return std::move(j).error();
  return json{{"network", *j}};
}

Result<std::string> NetworkQuery(std::string_view target) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return MakeError(ErrorCode::kInvalidArgument, "the query string is malformed");
  std::optional<std::string> network;
  for (const auto& param : url->params()) {
    if (param.key == "network" && !network) {
      network = param.value;
    } else {
      return MakeError(ErrorCode::kInvalidArgument, "unexpected query parameter \"" +
                                                        param.key.substr(0, 64) +
                                                        "\" (expected network=NAME once)");
    }
  }
  if (!network || network->empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "the query needs network=NAME");
  }
  return *network;
}

Result<json> NetworkStatus(const NodeContext& ctx, const AdminRequest& request) {
  auto name = NetworkQuery(request.path);
  if (!name.ok()) return std::move(name).error();
  auto network = RequireNetwork(*ctx.networks, *name);
  if (!network.ok()) return std::move(network).error();
  auto members = ctx.networks->Members(network->name);
  if (!members.ok()) return std::move(members).error();
  auto j = NetworkWithCounts(*ctx.networks, *network);
  if (!j.ok()) return std::move(j).error();
  json out = json::array();
  for (const auto& m : *members) out.push_back(MemberJson(m, ctx.peers));
  return json{{"network", *j}, {"members", out}};
}

Result<federation::MemberConfiguration> FetchMember(const NodeContext& ctx, const Clock& clock,
                                                    const std::string& url) {
  if (ctx.entity_fetcher == nullptr) {
    return MakeError(ErrorCode::kUnavailable, "this node cannot fetch entity configurations");
  }
  return federation::FetchMemberConfiguration(*ctx.entity_fetcher, url, clock,
                                              ctx.networks->allow_http());
}

bool IsNetwork(const federation::EntityStatement& configuration) {
  return !federation::FetchEndpointOf(configuration).empty() &&
         !federation::ListEndpointOf(configuration).empty();
}

Result<json> FetchMemberRoute(const NodeContext& ctx, const Clock& clock,
                              const AdminRequest& request) {
  auto body = request.JsonBody();
  if (!body.ok()) return std::move(body).error();
  auto url = EntityIdMember(*body, "url", ctx.networks->allow_http());
  if (!url.ok()) return std::move(url).error();
  auto config = FetchMember(ctx, clock, *url);
  if (!config.ok()) return std::move(config).error();
  return json{{"entity_id", config->statement.sub},
              {"organisation", config->organisation},
              {"is_network", IsNetwork(config->statement)},
              {"keys", KeysJson(config->statement.jwks)}};
}

Result<json> AddMemberRoute(const NodeContext& ctx, const Clock& clock,
                            const AdminRequest& request) {
  auto body = request.JsonBody();
  if (!body.ok()) return std::move(body).error();
  auto name = StringMember(*body, "network");
  if (!name.ok()) return std::move(name).error();
  auto url = EntityIdMember(*body, "url", ctx.networks->allow_http());
  if (!url.ok()) return std::move(url).error();
  federation::NewNetworkMember member;
  member.entity_id = *url;
  if (auto it = body->find("intermediate"); it != body->end() && !it->is_null()) {
    if (!it->is_boolean()) {
      return MakeError(ErrorCode::kInvalidArgument, "\"intermediate\" must be true or false");
    }
    member.intermediate = it->get<bool>();
  }
  if (auto it = body->find("max_path_length"); it != body->end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 16) {
      return MakeError(ErrorCode::kInvalidArgument, "\"max_path_length\" must be an integer 0..16");
    }
    member.max_path_length = static_cast<int>(it->get<int64_t>());
  }
  // An unknown network is refused before anything is fetched.
  auto network = RequireNetwork(*ctx.networks, *name);
  if (!network.ok()) return std::move(network).error();
  auto config = FetchMember(ctx, clock, *url);
  if (!config.ok()) return std::move(config).error();
  if (member.intermediate && !IsNetwork(config->statement)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     *url +
                         " is not a network (its entity configuration has no "
                         "federation_fetch_endpoint and federation_list_endpoint)");
  }
  if (!member.intermediate && IsNetwork(config->statement)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     *url + " is a network: add it with --intermediate (\"intermediate\": true)");
  }
  member.organisation = config->organisation;
  member.keys = config->statement.jwks;
  auto added = ctx.networks->AddMember(network->name, member);
  if (!added.ok()) return std::move(added).error();
  return json{{"network", network->name}, {"member", MemberJson(*added, ctx.peers)}};
}

Result<json> RemoveMemberRoute(const NodeContext& ctx, const AdminRequest& request) {
  auto body = request.JsonBody();
  if (!body.ok()) return std::move(body).error();
  auto name = StringMember(*body, "network");
  if (!name.ok()) return std::move(name).error();
  auto url = StringMember(*body, "url");
  if (!url.ok()) return std::move(url).error();
  std::string id = std::move(url).value();
  while (id.size() > 1 && id.back() == '/') id.pop_back();
  auto network = RequireNetwork(*ctx.networks, *name);
  if (!network.ok()) return std::move(network).error();
  KITH_RETURN_IF_ERROR(ctx.networks->RemoveMember(network->name, id));
  return json{{"network", network->name}, {"removed", id}};
}

Result<json> TrustRoute(const NodeContext& ctx, const Clock& clock, const AdminRequest& request) {
  auto body = request.JsonBody();
  if (!body.ok()) return std::move(body).error();
  auto url = EntityIdMember(*body, "url", ctx.networks->allow_http());
  if (!url.ok()) return std::move(url).error();
  auto fingerprint = StringMember(*body, "fingerprint");
  if (!fingerprint.ok()) return std::move(fingerprint).error();
  if (fingerprint->rfind("SHA256:", 0) != 0 || fingerprint->size() < 20) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "the fingerprint must look like SHA256:... (as `kithctl network status` "
                     "prints it on the anchor's node)");
  }
  // When the anchor can be reached, a fingerprint that matches none of its keys is a typo (or
  // the wrong anchor): refuse it now rather than fail every chain later.
  bool checked = false;
  std::string warning;
  if (ctx.entity_fetcher != nullptr) {
    auto config = FetchMember(ctx, clock, *url);
    if (config.ok()) {
      std::set<std::string> known;
      for (const auto& key : config->statement.jwks) known.insert(KeyFingerprint(key));
      if (!known.contains(*fingerprint)) {
        std::string list;
        for (const auto& f : known) list += (list.empty() ? "" : ", ") + f;
        return MakeError(ErrorCode::kInvalidArgument,
                         "the fingerprint " + *fingerprint + " matches no key of " + *url +
                             " (its keys: " + list + ")",
                         "fingerprint_mismatch");
      }
      checked = true;
    } else {
      warning = "not checked: " + config.error().message;
    }
  }
  KITH_RETURN_IF_ERROR(ctx.networks->Trust(federation::TrustAnchor{*url, *fingerprint}));
  json out{{"trusted", {{"entity_id", *url}, {"fingerprint", *fingerprint}}}, {"checked", checked}};
  if (!warning.empty()) out["warning"] = warning;
  return out;
}

Result<json> UntrustRoute(const NodeContext& ctx, const AdminRequest& request) {
  auto body = request.JsonBody();
  if (!body.ok()) return std::move(body).error();
  auto url = StringMember(*body, "url");
  if (!url.ok()) return std::move(url).error();
  std::string id = std::move(url).value();
  while (id.size() > 1 && id.back() == '/') id.pop_back();
  KITH_RETURN_IF_ERROR(ctx.networks->Untrust(id));
  return json{{"untrusted", id}};
}

}  // namespace

std::string KeyFingerprint(const identity::PublicJwk& key) {
  if (auto raw = key.ed25519()) return identity::Fingerprint(*raw);
  return "jwk-thumbprint:" + key.Thumbprint();
}

json NetworkJson(const federation::Network& network) {
  return json{{"name", network.name},
              {"entity_id", network.entity_id},
              {"display_name", network.display_name},
              {"superior", network.superior},
              {"fingerprint", network.fingerprint},
              {"kid", network.kid},
              {"statement_lifetime", network.statement_lifetime},
              {"created_at", network.created_at}};
}

void AddNetworkRoutes(AdminRouter& router, const NodeContext* context, const Clock& clock) {
  const Clock* clk = &clock;
  router.Add("GET", "/v1/networks", [context](const AdminRequest&) -> Result<json> {
    if (!context->networks) return NotRunning();
    return ListNetworks(*context->networks);
  });
  router.Add("POST", "/v1/networks", [context](const AdminRequest& request) -> Result<json> {
    if (!context->networks) return NotRunning();
    return CreateNetwork(*context->networks, request, context->default_statement_lifetime);
  });
  router.Add("GET", "/v1/networks/status", [context](const AdminRequest& request) -> Result<json> {
    if (!context->networks) return NotRunning();
    return NetworkStatus(*context, request);
  });
  router.Add("POST", "/v1/networks/fetch-member",
             [context, clk](const AdminRequest& request) -> Result<json> {
               if (!context->networks) return NotRunning();
               return FetchMemberRoute(*context, *clk, request);
             });
  router.Add("POST", "/v1/networks/add-member",
             [context, clk](const AdminRequest& request) -> Result<json> {
               if (!context->networks) return NotRunning();
               return AddMemberRoute(*context, *clk, request);
             });
  router.Add("POST", "/v1/networks/remove-member",
             [context](const AdminRequest& request) -> Result<json> {
               if (!context->networks) return NotRunning();
               return RemoveMemberRoute(*context, request);
             });
  router.Add("POST", "/v1/networks/trust",
             [context, clk](const AdminRequest& request) -> Result<json> {
               if (!context->networks) return NotRunning();
               return TrustRoute(*context, *clk, request);
             });
  router.Add("POST", "/v1/networks/untrust",
             [context](const AdminRequest& request) -> Result<json> {
               if (!context->networks) return NotRunning();
               return UntrustRoute(*context, request);
             });
  router.Add("POST", "/v1/networks/refresh", [context](const AdminRequest&) -> Result<json> {
    if (!context->networks || !context->refresh_networks) {
      return MakeError(ErrorCode::kUnavailable, "automatic peering is not running on this node");
    }
    return context->refresh_networks();
  });
}

}  // namespace kith::admin
