#include "node/network_pages.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "node/await.h"
#include "node/group_pages.h"
#include "node/web_util.h"

namespace kith::node {
namespace {

namespace asio = boost::asio;

// Exactly what the server answers for a path no route matches, so that the page is not
// discoverable by anyone who may not see it.
Response NotFound(const RequestContext& ctx) {
  return ErrorResponse(
      MakeError(ErrorCode::kNotFound, "no such resource: " + std::string(ctx.path), "not_found"),
      ctx.request.version());
}

asio::awaitable<Response> Ready(Response res) { co_return res; }

std::string When(std::optional<int64_t> at) { return at ? pages::FormatTime(*at) : ""; }

struct PageShared {
  WebContext web;
  NetworkPagesContext context;
};

// What the pool thread hands back: the page data, or why not.
struct PageRead {
  bool allowed = false;
  nlohmann::json data;
};

asio::awaitable<Response> ServeNetworkPage(std::shared_ptr<PageShared> shared,
                                           std::optional<identity::Session> session,
                                           std::string path, unsigned version) {
  // A named std::function, not a temporary lambda inside the co_await expression: GCC 12
  // destroys such temporaries' captures twice.
  std::function<void(std::function<void(Result<PageRead>)>)> start =
      [shared, session](std::function<void(Result<PageRead>)> done) {
        asio::post(*shared->web.blocking_pool, [shared, session, done = std::move(done)] {
          PageRead out;
          auto member = shared->web.members->GetById(session->member_id);
          if (!member.ok() || !member->node_admin ||
              member->status != identity::MemberStatus::kActive) {
            done(std::move(out));
            return;
          }
          out.allowed = true;
          auto data = NetworkPageData(*shared->context.networks, shared->context.peers,
                                      shared->web.clock->UnixSeconds());
          if (!data.ok()) {
            done(std::move(data).error());
            return;
          }
          out.data = std::move(data.value());
          done(std::move(out));
        });
      };
  auto read = co_await AwaitDone<PageRead>(std::move(start));
  if (read.ok() && !read->allowed) {
    co_return ErrorResponse(
        MakeError(ErrorCode::kNotFound, "no such resource: " + path, "not_found"), version);
  }
  if (!read.ok()) {
    spdlog::error("/admin/network: {}", read.error().message);
    co_return ErrorPage(shared->web, http::status::internal_server_error,
                        "Sorry, there is a problem with the service",
                        "The network overview could not be read. Try again later.", &*session);
  }
  nlohmann::json data = std::move(read->data);
  data["page_title"] = "Networks";
  co_return HtmlPage(shared->web, http::status::ok, "admin-network", std::move(data), &*session);
}

}  // namespace

Result<nlohmann::json> NetworkPageData(federation::NetworkStore& networks,
                                       federation::PeerStore* peers, int64_t now) {
  nlohmann::json data = nlohmann::json::object();
  std::map<std::string, std::string> peer_states;
  if (peers != nullptr) {
    auto list = peers->List();
    if (!list.ok()) return std::move(list).error();
    for (const auto& peer : *list) {
      std::string state(federation::PeerStateName(peer.state));
      if (peer.admitted_by == "network") state += " (through a network)";
      if (!peer.suspended_by.empty()) state += " by " + peer.suspended_by;
      peer_states[peer.node_id] = std::move(state);
    }
  }
  auto operated = networks.Networks();
  if (!operated.ok()) return std::move(operated).error();
  nlohmann::json list = nlohmann::json::array();
  for (const auto& network : *operated) {
    nlohmann::json n{
        {"name", network.name},
        {"entity_id", network.entity_id},
        {"display_name", network.display_name},
        {"role", network.IsAnchor() ? "Trust anchor" : "Intermediate of " + network.superior},
        {"fingerprint", network.fingerprint},
        {"kid", network.kid},
        {"created", pages::FormatTime(network.created_at)}};
    auto members = networks.Members(network.name);
    if (!members.ok()) return std::move(members).error();
    nlohmann::json rows = nlohmann::json::array();
    int current = 0;
    for (const auto& m : *members) {
      nlohmann::json row{{"entity_id", m.entity_id},
                         {"organisation", m.organisation},
                         {"kind", m.intermediate ? "network" : "node"},
                         {"added", pages::FormatTime(m.added_at)},
                         {"statement_expires", When(m.statement_exp)},
                         {"statement_expired", m.statement_exp && *m.statement_exp <= now},
                         {"last_contact", When(m.last_contact_at)},
                         {"last_error", m.last_error}};
      if (m.withdrawn_at) {
        row["withdrawn"] = pages::FormatTime(*m.withdrawn_at);
      } else {
        ++current;
      }
      if (auto it = peer_states.find(m.entity_id); it != peer_states.end()) {
        row["peer_state"] = it->second;
      } else {
        row["peer_state"] = m.intermediate ? "" : "not peered";
      }
      rows.push_back(std::move(row));
    }
    n["members"] = std::move(rows);
    n["member_count"] = current;
    list.push_back(std::move(n));
  }
  data["networks"] = std::move(list);

  auto anchors = networks.TrustedAnchorRecords();
  if (!anchors.ok()) return std::move(anchors).error();
  nlohmann::json trusted = nlohmann::json::array();
  for (const auto& a : *anchors) {
    trusted.push_back({{"entity_id", a.entity_id},
                       {"fingerprint", a.fingerprint},
                       {"added", pages::FormatTime(a.added_at)}});
  }
  data["trusted"] = std::move(trusted);

  auto hints = networks.AuthorityHints();
  if (!hints.ok()) return std::move(hints).error();
  data["authority_hints"] = *hints;
  data["base_url"] = networks.base_url();
  return data;
}

void AddNetworkPages(Router& router, const WebContext& web, NetworkPagesContext context) {
  auto shared = std::make_shared<PageShared>(PageShared{web, context});
  router.AddOrDie(http::verb::get, "/admin/network",
                  [shared](RequestContext& ctx) -> asio::awaitable<Response> {
                    std::optional<identity::Session> session;
                    if (shared->context.networks != nullptr && shared->web.members != nullptr &&
                        shared->web.blocking_pool != nullptr) {
                      session = CurrentSession(shared->web, ctx);  // members of this node only
                    }
                    if (!session) {
                      return Ready(NotFound(ctx));
                    }
                    return ServeNetworkPage(shared, std::move(session), std::string(ctx.path),
                                            ctx.request.version());
                  });
}

}  // namespace kith::node
