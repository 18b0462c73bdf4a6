// Sign-in across nodes (issue 6): two real kithd on loopback, peered. alice signs in at her home
// node A with her password, then at B through "Sign in with your organisation" — B's page, A's
// authorize endpoint (prompt=none once B knows her home node), B's callback — and ends signed in
// at B as alice@A without a password prompt, and posts into a group B owns. Bad state, a
// replayed code, login_required and a suspended peering are refused. "Sign out everywhere" at A
// ends her session at B too (back-channel logout); forged logout tokens change nothing.
#include <gtest/gtest.h>

#include <boost/url/parse.hpp>
#include <map>
#include <string>

#include "identity/jwk.h"
#include "identity/oidc_logout.h"
#include "storage/clock.h"
#include "tests/support/group_network.h"
#include "tests/support/http_client.h"
#include "tests/support/remote_session.h"

namespace kith::testing {
namespace {

using nlohmann::json;

std::map<std::string, std::string> Query(const std::string& url) {
  std::map<std::string, std::string> out;
  auto parsed = boost::urls::parse_uri_reference(url);
  if (!parsed) return out;
  for (auto p : parsed->params()) out[std::string(p.key)] = std::string(p.value);
  return out;
}

Result<HttpResponse> Get(const PeerNode& node, const std::string& target,
                         const std::string& cookie = "") {
  HttpRequestOptions options;
  if (!cookie.empty()) options.headers = {{"Cookie", cookie}};
  return HttpRequest("127.0.0.1", node.port, "GET", target, "", options);
}

class SsoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(net_.Start({"Council A", "Improvement Service"}));
    auto alice = A().AddMember("alice");
    ASSERT_TRUE(alice);
    alice_ = *alice;
    auto bob = B().AddMember("bob");
    ASSERT_TRUE(bob);
    bob_ = *bob;
    home_session_ = PasswordSignIn(A(), alice_);
    ASSERT_FALSE(home_session_.empty());
  }

  PeerNode& A() { return net_.node(0); }
  PeerNode& B() { return net_.node(1); }

  // Signs in with the password form; answers the kith_session cookie.
  std::string PasswordSignIn(const PeerNode& node, const TestMember& member) {
    auto session = PasswordSession(node, member);
    EXPECT_TRUE(session.ok()) << session.error().message;
    return session.ok() ? session->cookie : "";
  }

  // B's "sign in with your organisation" for `who`: answers the 302 to A's authorize endpoint.
  Result<HttpResponse> StartAtB(const std::string& who, const std::string& b_cookie = "") {
    return Get(B(), "/sign-in/organisation?node=" + FormValue(who) + "&next=%2Fgroups", b_cookie);
  }

  // Follows a sign-in from B's start to A's answer (a redirect to B's callback), with the
  // browser's cookie at A (`a_cookie`, may be empty).
  Result<HttpResponse> ThroughA(const HttpResponse& start, const std::string& a_cookie) {
    const std::string target = TargetAt(A(), start.Header("location"));
    if (start.status != 302 || target.empty())
      return MakeError(ErrorCode::kInternal, "B did not send us to A: " + Describe(start));
    return Get(A(), target, a_cookie);
  }

  // Signs alice in at B through A (waiting until peering registered B at A); answers B's
  // kith_session cookie.
  std::string SignInAtBThroughA() {
    BrowserSession home;
    home.port = A().port;
    home.cookie = home_session_;
    auto at_b = RemoteSession(A(), B(), alice_, home);
    EXPECT_TRUE(at_b.ok()) << at_b.error().message << "\n" << net_.Logs();
    return at_b.ok() ? at_b->cookie : "";
  }

  Result<HttpResponse> PostForm(
      const PeerNode& node, const std::string& target, const std::string& body,
      const std::string& cookie = "",
      const std::string& content_type = "application/x-www-form-urlencoded") {
    HttpRequestOptions options;
    options.headers = {{"Content-Type", content_type}};
    if (!cookie.empty()) options.headers.push_back({"Cookie", cookie});
    return HttpRequest("127.0.0.1", node.port, "POST", target, body, options);
  }

  GroupNetwork net_;
  TestMember alice_;
  TestMember bob_;
  std::string home_session_;
};

TEST_F(SsoTest, SignInAtBThroughHomeNodeAndPostAsRemoteMember) {
  // B's page lists A.
  auto page = Get(B(), "/sign-in/organisation");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("Council A"), std::string::npos) << page->body;
  EXPECT_NE(page->body.find("name=\"node\""), std::string::npos);

  // Peering registered B at A (asynchronously, just after it became active): poll until A
  // answers the authorization request with a redirect to B's callback.
  std::string callback, last;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto start = StartAtB(alice_.address);
        last = "start: " + Describe(start);
        if (!start.ok()) return false;
        auto at_a = ThroughA(*start, "kith_session=" + home_session_);
        last += "\nat A: " + Describe(at_a);
        if (!at_a.ok() || at_a->status != 302) return false;
        callback = TargetAt(B(), at_a->Header("location"));
        return !callback.empty();
      },
      std::chrono::seconds(20)))
      << last << "\n"
      << net_.Logs();
  EXPECT_EQ(callback.rfind("/sign-in/callback?", 0), 0u) << callback;
  auto q = Query(callback);
  EXPECT_FALSE(q["code"].empty());
  EXPECT_EQ(q["iss"], A().url);

  // B's callback: signed in at B as alice@A, no password asked anywhere.
  auto done = Get(B(), callback);
  ASSERT_TRUE(done.ok());
  ASSERT_EQ(done->status, 303) << done->body;
  EXPECT_EQ(done->Header("location"), "/groups");
  const std::string set_cookie = done->Header("set-cookie");
  const std::string b_session = CookieValue(set_cookie, "kith_session");
  ASSERT_FALSE(b_session.empty()) << set_cookie;
  EXPECT_FALSE(CookieValue(set_cookie, "kith_home").empty()) << set_cookie;

  auto me = Get(B(), "/api/v1/me", "kith_session=" + b_session);
  ASSERT_TRUE(me.ok());
  ASSERT_EQ(me->status, 200) << me->body;
  json who = json::parse(me->body);
  EXPECT_EQ(who["member"], alice_.address);
  EXPECT_EQ(who["handle"], "alice");
  const std::string csrf = who.value("csrf_token", "");
  ASSERT_FALSE(csrf.empty());
  // The remote session is no session at B's own provider or account pages.
  auto account = Get(B(), "/account", "kith_session=" + b_session);
  ASSERT_TRUE(account.ok());
  EXPECT_EQ(account->status, 303);

  // The same callback again (state used) is refused.
  auto replay = Get(B(), callback);
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(replay->status, 400);
  EXPECT_NE(replay->body.find("expired"), std::string::npos);
  // A made-up state is refused.
  auto forged = Get(B(), "/sign-in/callback?code=abc&state=made-up");
  ASSERT_TRUE(forged.ok());
  EXPECT_EQ(forged->status, 400);
  // The old code under a fresh state: A refuses the used code, B shows an error page.
  auto start = StartAtB(alice_.address);
  ASSERT_TRUE(start.ok());
  const std::string fresh_state = Query(start->Header("location"))["state"];
  auto reused = Get(B(), "/sign-in/callback?code=" + FormValue(q["code"]) +
                             "&state=" + FormValue(fresh_state) + "&iss=" + FormValue(A().url));
  ASSERT_TRUE(reused.ok());
  EXPECT_EQ(reused->status, 401) << reused->body;

  // Next time B knows her home node (kith_home): prompt=none, and A answers at once.
  const std::string home_cookie = "kith_home=" + CookieValue(set_cookie, "kith_home");
  auto silent = StartAtB(A().domain(), home_cookie);
  ASSERT_TRUE(silent.ok());
  ASSERT_EQ(silent->status, 302);
  EXPECT_EQ(Query(silent->Header("location"))["prompt"], "none");
  auto at_a = ThroughA(*silent, "kith_session=" + home_session_);
  ASSERT_TRUE(at_a.ok());
  ASSERT_EQ(at_a->status, 302);
  auto again = Get(B(), TargetAt(B(), at_a->Header("location")));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, 303) << again->body;

  // Signing out at B ends B's session.
  auto out = HttpRequest(
      "127.0.0.1", B().port, "POST", "/sign-in/remote/sign-out", "csrf_token=" + FormValue(csrf),
      HttpRequestOptions{{{"Cookie", "kith_session=" + b_session},
                          {"Content-Type", "application/x-www-form-urlencoded"}}});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->status, 303);
  auto gone = Get(B(), "/api/v1/me", "kith_session=" + b_session);
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->status, 401);

  // bob (B) makes an open group at B; alice@A joins and posts there through B's API, with
  // the session of her second sign-in. (Needs federation/replication.cc to accept a remote
  // actor for a stream this node owns.)
  const std::string session2 = CookieValue(again->Header("set-cookie"), "kith_session");
  auto me2 = Get(B(), "/api/v1/me", "kith_session=" + session2);
  ASSERT_TRUE(me2.ok() && me2->status == 200) << Describe(me2);
  const std::string csrf2 = JsonBody(*me2).value("csrf_token", "");
  auto bob_api = ApiClient::SignIn(B(), bob_);
  ASSERT_TRUE(bob_api.ok()) << bob_api.error().message;
  auto created = bob_api->Post("/api/v1/groups", {{"slug", "roads"},
                                                  {"name", "Roads"},
                                                  {"description", "Roads across councils"},
                                                  {"visibility", "public"},
                                                  {"join_policy", "open"}});
  ASSERT_TRUE(created.ok() && created->status == 201) << Describe(created);
  const std::string group = "roads@" + B().domain();
  HttpRequestOptions as_alice;
  as_alice.headers = {{"Cookie", "kith_session=" + session2},
                      {"X-CSRF-Token", csrf2},
                      {"Content-Type", "application/json"}};
  // Without the CSRF header the remote session cannot write.
  HttpRequestOptions no_csrf;
  no_csrf.headers = {{"Cookie", "kith_session=" + session2}, {"Content-Type", "application/json"}};
  auto refused =
      HttpRequest("127.0.0.1", B().port, "POST", GroupPath(group, "/join"), "{}", no_csrf);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, 403);
  auto joined =
      HttpRequest("127.0.0.1", B().port, "POST", GroupPath(group, "/join"), "{}", as_alice);
  ASSERT_TRUE(joined.ok());
  EXPECT_TRUE(joined->status == 200 || joined->status == 201) << joined->body;
  EXPECT_EQ(JsonBody(*joined).value("state", ""), "accepted") << joined->body;
  auto posted =
      HttpRequest("127.0.0.1", B().port, "POST", GroupPath(group, "/threads"),
                  json{{"title", "Hello from A"}, {"body", "Signed in once."}}.dump(), as_alice);
  ASSERT_TRUE(posted.ok());
  ASSERT_EQ(posted->status, 201) << posted->body;
  EXPECT_EQ(JsonBody(*posted)["event"].value("actor", ""), alice_.address) << posted->body;
}

TEST_F(SsoTest, LoginRequiredRetriesWithPagesAndSuspensionEndsSessions) {
  // Make sure B is registered at A, and sign alice in at B.
  std::string b_session, home;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto start = StartAtB(alice_.address);
        if (!start.ok()) return false;
        auto at_a = ThroughA(*start, "kith_session=" + home_session_);
        if (!at_a.ok() || at_a->status != 302) return false;
        const std::string cb = TargetAt(B(), at_a->Header("location"));
        if (cb.empty()) return false;
        auto done = Get(B(), cb);
        if (!done.ok() || done->status != 303) return false;
        b_session = CookieValue(done->Header("set-cookie"), "kith_session");
        home = CookieValue(done->Header("set-cookie"), "kith_home");
        return !b_session.empty();
      },
      std::chrono::seconds(20)))
      << net_.Logs();

  // prompt=none without a session at A: A answers login_required, B goes again without it.
  auto silent = StartAtB(alice_.address, "kith_home=" + home);
  ASSERT_TRUE(silent.ok());
  ASSERT_EQ(Query(silent->Header("location"))["prompt"], "none");
  auto at_a = ThroughA(*silent, "");
  ASSERT_TRUE(at_a.ok());
  ASSERT_EQ(at_a->status, 302);
  const std::string cb = TargetAt(B(), at_a->Header("location"));
  EXPECT_EQ(Query(cb)["error"], "login_required");
  auto retry = Get(B(), cb);
  ASSERT_TRUE(retry.ok());
  ASSERT_EQ(retry->status, 302);
  const std::string again = retry->Header("location");
  EXPECT_FALSE(TargetAt(A(), again).empty()) << again;
  EXPECT_EQ(Query(again).count("prompt"), 0u) << again;
  // A shows its sign-in page (the password is asked at A, never at B).
  auto sign_in_page = Get(A(), TargetAt(A(), again));
  ASSERT_TRUE(sign_in_page.ok());
  EXPECT_EQ(sign_in_page->status, 200);
  EXPECT_NE(sign_in_page->body.find("name=\"password\""), std::string::npos);

  // An unknown organisation is a form error, not a crash.
  auto unknown = StartAtB("someone@nowhere.example");
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 400);
  EXPECT_NE(unknown->body.find("govuk-error-summary"), std::string::npos);

  // B suspends the peering: alice@A's session at B ends, and A is no longer offered.
  ProcessResult suspended = B().Ctl({"peer", "suspend", A().url});
  ASSERT_EQ(suspended.status.code, 0) << suspended.out << suspended.err;
  EXPECT_TRUE(WaitFor(
      [&] {
        auto me = Get(B(), "/api/v1/me", "kith_session=" + b_session);
        return me.ok() && me->status == 401;
      },
      std::chrono::seconds(10)));
  auto refused = StartAtB(alice_.address);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, 400);
  // And A no longer knows B as a client (A got the suspension too).
  EXPECT_TRUE(WaitFor(
      [&] {
        auto r = Get(A(), "/oidc/authorize?client_id=" + FormValue(B().url) +
                              "&redirect_uri=" + FormValue(B().url + "/sign-in/callback") +
                              "&response_type=code&scope=openid");
        return r.ok() && r->status == 400;
      },
      std::chrono::seconds(10)));
}

TEST_F(SsoTest, SignOutEverywhereAtHomeEndsTheSessionAtThePeer) {
  const std::string b_session = SignInAtBThroughA();
  ASSERT_FALSE(b_session.empty());
  const std::string b_cookie = "kith_session=" + b_session;
  auto me = Get(B(), "/api/v1/me", b_cookie);
  ASSERT_TRUE(me.ok() && me->status == 200) << Describe(me);

  // Forged, malformed and misdirected logout tokens are refused and end nothing.
  auto forger = identity::Ed25519SigningKey::Generate();
  const Clock& clock = SystemClock::Instance();
  auto forged = identity::BuildLogoutToken(*forger, A().url, B().url, "any-sub", "", clock);
  ASSERT_TRUE(forged.ok());
  for (const auto& [body, content_type] : std::vector<std::pair<std::string, std::string>>{
           {"logout_token=" + *forged, "application/x-www-form-urlencoded"},
           {"logout_token=not.a.jwt", "application/x-www-form-urlencoded"},
           {"", "application/x-www-form-urlencoded"},
           {"logout_token=" + *forged, "application/json"},
       }) {
    auto refused = PostForm(B(), "/sign-in/backchannel-logout", body, "", content_type);
    ASSERT_TRUE(refused.ok());
    EXPECT_EQ(refused->status, 400) << body << "\n" << refused->body;
    EXPECT_EQ(JsonBody(*refused).value("error", ""), "invalid_request") << refused->body;
  }
  // From an issuer that is not a peer of B: refused too.
  auto not_a_peer =
      identity::BuildLogoutToken(*forger, "https://stranger.example", B().url, "s", "", clock);
  auto stranger = PostForm(B(), "/sign-in/backchannel-logout", "logout_token=" + *not_a_peer);
  ASSERT_TRUE(stranger.ok());
  EXPECT_EQ(stranger->status, 400);
  me = Get(B(), "/api/v1/me", b_cookie);
  ASSERT_TRUE(me.ok());
  EXPECT_EQ(me->status, 200) << "a refused logout token ends nothing";

  // A's account page: "Sign out here", "Sign out everywhere", and B among the places.
  auto account = Get(A(), "/account", "kith_session=" + home_session_);
  ASSERT_TRUE(account.ok());
  ASSERT_EQ(account->status, 200) << account->body;
  EXPECT_NE(account->body.find("Sign out here"), std::string::npos);
  EXPECT_NE(account->body.find("Sign out everywhere"), std::string::npos);
  EXPECT_NE(account->body.find("Improvement Service"), std::string::npos) << account->body;
  const std::string csrf = InputValue(account->body, "csrf_token");
  ASSERT_FALSE(csrf.empty());

  // Everywhere: the page answers at once; B is told in the background.
  auto out = PostForm(A(), "/account/sign-out-everywhere", "csrf_token=" + FormValue(csrf),
                      "kith_session=" + home_session_);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->status, 303) << out->body;
  EXPECT_EQ(out->Header("location"), "/signed-out");
  auto home = Get(A(), "/account", "kith_session=" + home_session_);
  ASSERT_TRUE(home.ok());
  EXPECT_EQ(home->status, 303) << "the session at A ended";
  EXPECT_TRUE(WaitFor(
      [&] {
        auto r = Get(B(), "/api/v1/me", b_cookie);
        return r.ok() && r->status == 401;
      },
      std::chrono::seconds(10)))
      << net_.Logs();
}

}  // namespace
}  // namespace kith::testing
