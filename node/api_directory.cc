// /api/v1: search and directory profiles (node/api_routes.h, docs/api.md "Directory and
// search").
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <memory>

#include "groups/directory.h"
#include "groups/search.h"
#include "node/api_util.h"

namespace kith::node {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

Error Invalid(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message), "invalid_argument");
}

// A non-negative integer query parameter within [min, max], `fallback` when absent.
Result<size_t> SizeParam(const RequestContext& ctx, std::string_view name, size_t fallback,
                         size_t min, size_t max) {
  auto text = ctx.QueryParam(name);
  if (!text) return fallback;
  size_t value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size() || value < min || value > max) {
    return Invalid(std::string(name) + ": must be an integer " + std::to_string(min) + ".." +
                   std::to_string(max));
  }
  return value;
}

json SearchHitJson(const groups::SearchHit& h) {
  json snippet = json::array();
  for (const auto& part : h.snippet)
    snippet.push_back({{"text", part.text}, {"match", part.match}});
  json out = {{"kind", groups::SearchKindName(h.kind)},
              {"title", h.title},
              {"snippet", std::move(snippet)},
              {"node", h.node},
              {"visibility", h.visibility}};
  switch (h.kind) {
    case groups::SearchKind::kPerson:
      out["address"] = h.address;
      out["organisation"] = h.organisation;
      out["job_title"] = h.job_title;
      break;
    case groups::SearchKind::kGroup:
      out["group"] = h.group;
      break;
    case groups::SearchKind::kThread:
      out["group"] = h.group;
      out["thread"] = h.thread_id;
      break;
    case groups::SearchKind::kPost:
      out["group"] = h.group;
      out["thread"] = h.thread_id;
      out["post"] = h.post_id;
      break;
    case groups::SearchKind::kDocument:
      out["group"] = h.group;
      out["document"] = h.document_id;
      break;
  }
  if (h.kind != groups::SearchKind::kPerson) {
    out["archived"] = h.archived;
    if (h.kind == groups::SearchKind::kGroup || h.kind == groups::SearchKind::kDocument)
      out["tags"] = h.tags;
  }
  return out;
}

json ProfileJson(const groups::Profile& p) {
  return {{"address", p.address},
          {"display_name", p.display_name},
          {"organisation", p.organisation},
          {"job_title", p.job_title},
          {"bio", p.bio},
          {"node", p.node},
          {"visibility", p.visibility},
          {"local", p.local},
          {"updated_at", p.updated_at}};
}

asio::awaitable<Response> Search(const ApiContext& c, RequestContext& ctx) {
  auto viewer = api::Authenticate(c, ctx);
  if (!viewer.ok()) co_return api::Fail(viewer.error());
  const std::string query = ctx.QueryParam("q").value_or("");
  groups::SearchFilters filters;
  if (auto kinds = ctx.QueryParam("kind"); kinds && !kinds->empty()) {
    std::string_view rest = *kinds;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      auto kind = groups::ParseSearchKind(rest.substr(0, comma));
      if (!kind.ok()) co_return api::Fail(kind.error());
      filters.kinds.push_back(*kind);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  filters.organisation = ctx.QueryParam("organisation").value_or("");
  filters.node = ctx.QueryParam("node").value_or("");
  filters.visibility = ctx.QueryParam("visibility").value_or("");
  auto limit = SizeParam(ctx, "limit", 20, 1, 100);
  if (!limit.ok()) co_return api::Fail(limit.error());
  auto offset = SizeParam(ctx, "offset", 0, 0, 10000);
  if (!offset.ok()) co_return api::Fail(offset.error());
  // FTS5 queries take milliseconds: on the blocking pool, never on an I/O thread.
  groups::Searcher* searcher = c.searcher;
  const size_t lim = *limit, off = *offset;
  // Named, not a lambda temporary in the co_await expression: GCC 12 destroys such a
  // temporary with non-trivial captures twice.
  std::function<Result<groups::SearchPage>()> search = [searcher, address = viewer->address, query,
                                                        filters, lim, off]() {
    return searcher->Search(address, query, filters, lim, off);
  };
  auto page = co_await api::OnPool<groups::SearchPage>(c.blocking_pool, search);
  if (!page.ok()) co_return api::Fail(page.error());
  json hits = json::array();
  for (const auto& h : page->hits) hits.push_back(SearchHitJson(h));
  json next = page->more ? json(*offset + *limit) : json(nullptr);
  co_return api::Json(http::status::ok,
                      json{{"results", std::move(hits)}, {"next_offset", std::move(next)}});
}

asio::awaitable<Response> Person(const ApiContext& c, RequestContext& ctx) {
  auto viewer = api::Authenticate(c, ctx);
  if (!viewer.ok()) co_return api::Fail(viewer.error());
  auto profile = c.directory->GetProfile(ctx.Param("address"), viewer->address);
  if (!profile.ok()) co_return api::Fail(profile.error());
  co_return api::Json(http::status::ok, ProfileJson(*profile));
}

}  // namespace

void AddDirectoryApiRoutes(Router& router, const ApiContext& context) {
  if (context.directory == nullptr || context.searcher == nullptr) return;
  auto c = std::make_shared<ApiContext>(context);
  router.AddOrDie(http::verb::get, "/api/v1/search",
                  [c](RequestContext& ctx) { return Search(*c, ctx); });
  router.AddOrDie(http::verb::get, "/api/v1/directory/people/{address}",
                  [c](RequestContext& ctx) { return Person(*c, ctx); });
}

}  // namespace kith::node
