#include "admin/peer_ops.h"

#include <charconv>
#include <string>

#include "identity/node_keys.h"

namespace kith::admin {

using nlohmann::json;

namespace {

json PeerJson(const federation::Peer& peer) {
  json j{{"node_id", peer.node_id},
         {"name", peer.name},
         {"organisation", peer.organisation},
         {"state", std::string(federation::PeerStateName(peer.state))},
         {"created_at", peer.created_at},
         {"updated_at", peer.updated_at},
         {"failures", peer.failures},
         {"last_error", peer.last_error},
         {"admitted_by", peer.admitted_by}};
  j["suspended_by"] = peer.suspended_by.empty() ? json(nullptr) : json(peer.suspended_by);
  j["last_contact_at"] = peer.last_contact_at ? json(*peer.last_contact_at) : json(nullptr);
  return j;
}

Result<std::string> StringMember(const AdminRequest& request, const char* name) {
  auto body = request.JsonBody();
  if (!body.ok()) return std::move(body).error();
  auto it = body->find(name);
  if (it == body->end() || !it->is_string() || it->get<std::string>().empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string("the request needs a non-empty string \"") + name + "\"");
  }
  return it->get<std::string>();
}

Error NotRunning() {
  return MakeError(ErrorCode::kUnavailable, "federation is not running on this node");
}

const federation::AuditRecord kKithctl{"kithctl", "admin.sock", "{}"};

}  // namespace

void AddPeerRoutes(AdminRouter& router, federation::PeeringService* peering,
                   federation::PeerStore* peers) {
  router.Add("GET", "/v1/peers", [peers](const AdminRequest&) -> Result<json> {
    if (!peers) return NotRunning();
    auto list = peers->List();
    if (!list.ok()) return std::move(list).error();
    json out = json::array();
    for (const auto& peer : *list) out.push_back(PeerJson(peer));
    return json{{"peers", out}};
  });

  router.Add("POST", "/v1/peers/fetch", [peering](const AdminRequest& request) -> Result<json> {
    if (!peering) return NotRunning();
    auto url = StringMember(request, "url");
    if (!url.ok()) return std::move(url).error();
    auto doc = peering->FetchDocument(*url);
    if (!doc.ok()) return std::move(doc).error();
    json keys = json::array();
    for (const auto& key : doc->keys) {
      keys.push_back({{"kid", key.kid},
                      {"fingerprint", identity::Fingerprint(key.public_key)},
                      {"status", key.status}});
    }
    return json{{"node_id", doc->base_url},
                {"name", doc->name},
                {"organisation", doc->organisation},
                {"keys", keys}};
  });

  router.Add("POST", "/v1/peers", [peering](const AdminRequest& request) -> Result<json> {
    if (!peering) return NotRunning();
    auto url = StringMember(request, "url");
    if (!url.ok()) return std::move(url).error();
    auto doc = peering->FetchDocument(*url);
    if (!doc.ok()) return std::move(doc).error();
    auto peer = peering->Add(
        *doc, federation::AuditRecord{"kithctl", "admin.sock", json{{"url", *url}}.dump()});
    if (!peer.ok()) return std::move(peer).error();
    return json{{"peer", PeerJson(*peer)}};
  });

  const std::pair<const char*, federation::PeerEvent> actions[] = {
      {"approve", federation::PeerEvent::kWeApprove}, {"reject", federation::PeerEvent::kWeReject},
      {"suspend", federation::PeerEvent::kSuspend},   {"resume", federation::PeerEvent::kResume},
      {"revoke", federation::PeerEvent::kRevoke},
  };
  for (const auto& [name, event] : actions) {
    router.Add("POST", std::string("/v1/peers/") + name,
               [peering, event = event](const AdminRequest& request) -> Result<json> {
                 if (!peering) return NotRunning();
                 auto node = StringMember(request, "node");
                 if (!node.ok()) return std::move(node).error();
                 std::string notify_error;
                 auto peer = peering->Operate(*node, event, kKithctl, &notify_error);
                 if (!peer.ok()) return std::move(peer).error();
                 return json{{"peer", PeerJson(*peer)},
                             {"notified", notify_error.empty()},
                             {"notify_error", notify_error}};
               });
  }

  router.Add("POST", "/v1/peers/ping", [peering](const AdminRequest& request) -> Result<json> {
    if (!peering) return NotRunning();
    auto node = StringMember(request, "node");
    if (!node.ok()) return std::move(node).error();
    auto answer = peering->Ping(*node);
    if (!answer.ok()) return std::move(answer).error();
    json parsed = json::parse(*answer, nullptr, false);
    return json{{"answer", parsed.is_discarded() ? json(*answer) : parsed}};
  });

  router.Add("GET", "/v1/audit", [peers](const AdminRequest& request) -> Result<json> {
    if (!peers) return NotRunning();
    int64_t limit = 100;
    const auto q = request.path.find("limit=");
    if (q != std::string_view::npos) {
      std::string_view raw = request.path.substr(q + 6);
      raw = raw.substr(0, raw.find('&'));
      auto [ptr, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), limit);
      if (ec != std::errc() || ptr != raw.data() + raw.size() || limit <= 0 || limit > 10000) {
        return MakeError(ErrorCode::kInvalidArgument, "limit must be an integer 1..10000");
      }
    }
    auto entries = peers->Audit(limit);
    if (!entries.ok()) return std::move(entries).error();
    json out = json::array();
    for (const auto& e : *entries) {
      json detail = json::parse(e.detail, nullptr, false);
      out.push_back({{"id", e.id},
                     {"at", e.at},
                     {"actor", e.actor},
                     {"action", e.action},
                     {"peer", e.peer},
                     {"detail", detail.is_discarded() ? json(e.detail) : detail},
                     {"source", e.source}});
    }
    return json{{"entries", out}};
  });
}

}  // namespace kith::admin
