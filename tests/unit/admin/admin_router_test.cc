#include "admin/admin_router.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace kith::admin {
namespace {

AdminRouter MakeRouter() {
  AdminRouter router;
  router.Add("GET", "/v1/status", [](const AdminRequest&) -> Result<nlohmann::json> {
    return nlohmann::json{{"ok", true}};
  });
  router.Add("GET", "/v1/peers/{id}", [](const AdminRequest& r) -> Result<nlohmann::json> {
    return nlohmann::json{{"id", r.params.at("id")}};
  });
  router.Add("DELETE", "/v1/peers/{id}", [](const AdminRequest&) -> Result<nlohmann::json> {
    return MakeError(ErrorCode::kConflict, "peer is active", "peer_active");
  });
  router.Add("POST", "/v1/echo", [](const AdminRequest& r) -> Result<nlohmann::json> {
    auto body = r.JsonBody();
    if (!body.ok()) return std::move(body).error();
    return *body;
  });
  router.Add("GET", "/v1/boom", [](const AdminRequest&) -> Result<nlohmann::json> {
    throw std::runtime_error("kaput");
  });
  return router;
}

TEST(AdminRouterTest, RoutesByMethodAndPath) {
  auto router = MakeRouter();
  auto res = router.Dispatch("GET", "/v1/status", "");
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body["ok"], true);
}

TEST(AdminRouterTest, IgnoresTheQueryString) {
  EXPECT_EQ(MakeRouter().Dispatch("GET", "/v1/status?verbose=1", "").status, 200);
}

TEST(AdminRouterTest, CapturesParameters) {
  auto res = MakeRouter().Dispatch("GET", "/v1/peers/b.example", "");
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body["id"], "b.example");
}

TEST(AdminRouterTest, UnknownPathIs404) {
  auto res = MakeRouter().Dispatch("GET", "/v1/nope", "");
  EXPECT_EQ(res.status, 404);
  EXPECT_EQ(res.body["error"], "not_found");
  EXPECT_TRUE(res.body["message"].is_string());
  EXPECT_EQ(MakeRouter().Dispatch("GET", "/v1/peers", "").status, 404);
  EXPECT_EQ(MakeRouter().Dispatch("GET", "/v1/peers/a/b", "").status, 404);
}

TEST(AdminRouterTest, WrongMethodIs405WithAllow) {
  auto res = MakeRouter().Dispatch("POST", "/v1/peers/x", "");
  EXPECT_EQ(res.status, 405);
  EXPECT_EQ(res.allow, "GET, DELETE");
  EXPECT_EQ(res.body["error"], "method_not_allowed");
}

TEST(AdminRouterTest, HandlerErrorsKeepTheirReason) {
  auto res = MakeRouter().Dispatch("DELETE", "/v1/peers/x", "");
  EXPECT_EQ(res.status, 409);
  EXPECT_EQ(res.body["error"], "peer_active");
  EXPECT_EQ(res.body["message"], "peer is active");
}

TEST(AdminRouterTest, BadJsonBodiesAre400) {
  auto router = MakeRouter();
  EXPECT_EQ(router.Dispatch("POST", "/v1/echo", "").status, 400);
  EXPECT_EQ(router.Dispatch("POST", "/v1/echo", "{not json").status, 400);
  EXPECT_EQ(router.Dispatch("POST", "/v1/echo", "[1,2]").status, 400);
  auto ok = router.Dispatch("POST", "/v1/echo", R"({"a":1})");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body["a"], 1);
}

TEST(AdminRouterTest, ExceptionsBecome500) {
  auto res = MakeRouter().Dispatch("GET", "/v1/boom", "");
  EXPECT_EQ(res.status, 500);
  EXPECT_NE(res.body["message"].get<std::string>().find("kaput"), std::string::npos);
}

TEST(AdminRouterTest, RelativePathIs400) {
  EXPECT_EQ(MakeRouter().Dispatch("GET", "v1/status", "").status, 400);
}

}  // namespace
}  // namespace kith::admin
