#include "node/router.h"

#include <gtest/gtest.h>

namespace kith::node {
namespace {

namespace asio = boost::asio;

Handler Named(std::string name) {
  return [name](RequestContext&) -> asio::awaitable<Response> {
    co_return TextResponse(http::status::ok, name);
  };
}

// Which handler a match points at: runs it synchronously on a private io_context.
std::string CallHandler(const RouteMatch& m) {
  if (m.route == nullptr) return "<none>";
  Request req;
  RequestContext ctx{req, "", "", m.params, "test", "id"};
  asio::io_context ioc;
  std::string out;
  asio::co_spawn(ioc, m.route->handler(ctx),
                 [&](std::exception_ptr, Response r) { out = r.body(); });
  ioc.run();
  return out;
}

TEST(RouterTest, MatchesLiteralsAndParams) {
  Router r;
  ASSERT_TRUE(r.Add(http::verb::get, "/healthz", Named("health")).ok());
  ASSERT_TRUE(r.Add(http::verb::get, "/api/v1/groups/{slug}/threads/{id}", Named("thread")).ok());
  ASSERT_TRUE(r.Add(http::verb::get, "/", Named("root")).ok());

  auto m = r.Find(http::verb::get, "/healthz");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(CallHandler(m), "health");
  EXPECT_TRUE(m.params.empty());

  m = r.Find(http::verb::get, "/api/v1/groups/planning/threads/42");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(CallHandler(m), "thread");
  ASSERT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.params[0].name, "slug");
  EXPECT_EQ(m.params[0].value, "planning");
  EXPECT_EQ(m.params[1].name, "id");
  EXPECT_EQ(m.params[1].value, "42");

  EXPECT_EQ(CallHandler(r.Find(http::verb::get, "/")), "root");
}

TEST(RouterTest, NotFoundCases) {
  Router r;
  ASSERT_TRUE(r.Add(http::verb::get, "/a/{x}", Named("a")).ok());
  EXPECT_EQ(r.Find(http::verb::get, "/b").kind, RouteMatch::Kind::kNotFound);
  EXPECT_EQ(r.Find(http::verb::get, "/a").kind, RouteMatch::Kind::kNotFound);
  EXPECT_EQ(r.Find(http::verb::get, "/a/").kind, RouteMatch::Kind::kNotFound);  // empty param
  EXPECT_EQ(r.Find(http::verb::get, "/a/1/").kind, RouteMatch::Kind::kNotFound);
  EXPECT_EQ(r.Find(http::verb::get, "/a/1/2").kind, RouteMatch::Kind::kNotFound);
  EXPECT_EQ(r.Find(http::verb::get, "//a/1").kind, RouteMatch::Kind::kNotFound);
  EXPECT_EQ(r.Find(http::verb::get, "").kind, RouteMatch::Kind::kBadPath);
  EXPECT_EQ(r.Find(http::verb::get, "a/1").kind, RouteMatch::Kind::kBadPath);
}

TEST(RouterTest, MethodNotAllowedListsAllow) {
  Router r;
  ASSERT_TRUE(r.Add(http::verb::get, "/g/{slug}", Named("get")).ok());
  ASSERT_TRUE(r.Add(http::verb::delete_, "/g/{slug}", Named("del")).ok());
  ASSERT_TRUE(r.Add(http::verb::post, "/g", Named("post")).ok());
  auto m = r.Find(http::verb::put, "/g/x");
  EXPECT_EQ(m.kind, RouteMatch::Kind::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "DELETE, GET, HEAD");
  m = r.Find(http::verb::get, "/g");
  EXPECT_EQ(m.kind, RouteMatch::Kind::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "POST");
  // HEAD is served by GET.
  EXPECT_EQ(CallHandler(r.Find(http::verb::head, "/g/x")), "get");
}

TEST(RouterTest, LiteralBeatsParamAndBacktracks) {
  Router r;
  ASSERT_TRUE(r.Add(http::verb::get, "/g/{slug}", Named("param")).ok());
  ASSERT_TRUE(r.Add(http::verb::get, "/g/new", Named("literal")).ok());
  ASSERT_TRUE(r.Add(http::verb::get, "/g/{slug}/members", Named("members")).ok());
  EXPECT_EQ(CallHandler(r.Find(http::verb::get, "/g/new")), "literal");
  EXPECT_EQ(CallHandler(r.Find(http::verb::get, "/g/old")), "param");
  // "/g/new/members": the literal branch has no "members"; the param branch does.
  auto m = r.Find(http::verb::get, "/g/new/members");
  EXPECT_EQ(CallHandler(m), "members");
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0].value, "new");
  // A method only on the param route is found through backtracking too.
  ASSERT_TRUE(r.Add(http::verb::delete_, "/g/{slug}", Named("delete")).ok());
  EXPECT_EQ(CallHandler(r.Find(http::verb::delete_, "/g/new")), "delete");
}

TEST(RouterTest, PercentDecodingRules) {
  Router r;
  ASSERT_TRUE(r.Add(http::verb::get, "/files/{name}", Named("file")).ok());
  ASSERT_TRUE(r.Add(http::verb::get, "/healthz", Named("health")).ok());
  auto m = r.Find(http::verb::get, "/files/a%2Fb%20c+d");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0].value, "a/b c+d");  // %2F does not split; '+' stays '+'
  EXPECT_EQ(CallHandler(r.Find(http::verb::get, "/health%7A")), "health");
  EXPECT_EQ(r.Find(http::verb::get, "/files/%zz").kind, RouteMatch::Kind::kBadPath);
  EXPECT_EQ(r.Find(http::verb::get, "/files/%4").kind, RouteMatch::Kind::kBadPath);
  EXPECT_EQ(r.Find(http::verb::get, "/files/a%00").kind, RouteMatch::Kind::kBadPath);
  EXPECT_EQ(PercentDecode("a+b%41", true), std::optional<std::string>("a bA"));
}

TEST(RouterTest, RejectsBadPatterns) {
  Router r;
  EXPECT_FALSE(r.Add(http::verb::get, "", Named("x")).ok());
  EXPECT_FALSE(r.Add(http::verb::get, "nope", Named("x")).ok());
  EXPECT_FALSE(r.Add(http::verb::get, "/a//b", Named("x")).ok());
  EXPECT_FALSE(r.Add(http::verb::get, "/a/{}", Named("x")).ok());
  EXPECT_FALSE(r.Add(http::verb::get, "/a/{x", Named("x")).ok());
  EXPECT_FALSE(r.Add(http::verb::get, "/a/x{y}", Named("x")).ok());
  EXPECT_FALSE(r.Add(http::verb::get, "/a/{x}/{x}", Named("x")).ok());
  EXPECT_FALSE(r.Add(http::verb::get, "/a", nullptr).ok());
  ASSERT_TRUE(r.Add(http::verb::get, "/a/{x}", Named("x")).ok());
  EXPECT_FALSE(r.Add(http::verb::get, "/a/{y}/z", Named("x")).ok());  // conflicting name
  auto dup = r.Add(http::verb::get, "/a/{x}", Named("x"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kConflict);
}

TEST(RouterTest, FallbackCatchesUnmatched) {
  Router r;
  ASSERT_TRUE(r.Add(http::verb::get, "/x", Named("x")).ok());
  r.SetFallback(Named("fallback"));
  EXPECT_EQ(CallHandler(r.Find(http::verb::post, "/anything/at/all")), "fallback");
  EXPECT_EQ(CallHandler(r.Find(http::verb::get, "/x")), "x");
}

TEST(RouterTest, QueryParams) {
  Request req;
  RequestContext ctx{req, "/p", "ms=250&name=a+b%21&flag", {}, "", ""};
  EXPECT_EQ(ctx.QueryParam("ms"), std::optional<std::string>("250"));
  EXPECT_EQ(ctx.QueryParam("name"), std::optional<std::string>("a b!"));
  EXPECT_EQ(ctx.QueryParam("flag"), std::optional<std::string>(""));
  EXPECT_EQ(ctx.QueryParam("missing"), std::nullopt);
}

TEST(RouterTest, ErrorResponseIsJson) {
  auto res = ErrorResponse(MakeError(ErrorCode::kNotFound, "no \"such\" thing"));
  EXPECT_EQ(res.result_int(), 404u);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(res.body(), R"({"error":"not_found","message":"no \"such\" thing"})");
}

}  // namespace
}  // namespace kith::node
