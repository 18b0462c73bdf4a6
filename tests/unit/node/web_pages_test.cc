// The member-facing pages (node/web_pages.cc) served by a real HttpServer on loopback, over
// real stores in a temp directory, with a FakeClock for the sign-in throttle.
#include <gtest/gtest.h>
#include <sodium.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "identity/member_store.h"
#include "identity/password.h"
#include "identity/session_store.h"
#include "identity/throttle.h"
#include "node/config.h"
#include "node/http_server.h"
#include "node/templates.h"
#include "node/web.h"
#include "node/web_util.h"
#include "storage/clock.h"
#include "storage/store.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace kith::node {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using kith::testing::HttpRequestOptions;
using kith::testing::HttpResponse;

constexpr char kPassword[] = "correct horse battery";

// Waits for a Done<T> callback (from the writer or hasher thread), with a deadline.
template <class T>
Result<T> Wait(std::function<void(identity::Done<T>)> start) {
  std::promise<Result<T>> p;
  auto f = p.get_future();
  start([&p](Result<T> r) { p.set_value(std::move(r)); });
  if (f.wait_for(10s) != std::future_status::ready) {
    return MakeError(ErrorCode::kUnavailable, "timed out");
  }
  return f.get();
}

// A browser's cookie jar, enough for these pages: name -> value, from Set-Cookie headers.
struct Cookies {
  std::map<std::string, std::string> values;

  void Update(const HttpResponse& res) {
    // The test client joins repeated headers with ", "; kith's cookies hold no ", ".
    std::string all = res.Header("set-cookie");
    size_t start = 0;
    while (start < all.size()) {
      size_t end = all.find(", ", start);
      std::string one =
          all.substr(start, end == std::string::npos ? std::string::npos : end - start);
      start = end == std::string::npos ? all.size() : end + 2;
      const std::string pair = one.substr(0, one.find(';'));
      const size_t eq = pair.find('=');
      if (eq == std::string::npos) continue;
      const std::string name = pair.substr(0, eq), value = pair.substr(eq + 1);
      if (value.empty() || one.find("Max-Age=0") != std::string::npos) {
        values.erase(name);
      } else {
        values[name] = value;
      }
    }
  }

  std::string Header() const {
    std::string out;
    for (const auto& [name, value] : values) {
      if (!out.empty()) out += "; ";
      out += name + "=" + value;
    }
    return out;
  }
};

// The value of the first hidden input `name` in a page.
std::string FormValue(const std::string& html, const std::string& name) {
  const std::string marker = "name=\"" + name + "\" value=\"";
  size_t pos = html.find(marker);
  if (pos == std::string::npos) return "";
  pos += marker.size();
  return html.substr(pos, html.find('"', pos) - pos);
}

// The Set-Cookie line for cookie `name`.
std::string SetCookieLine(const HttpResponse& res, const std::string& name) {
  std::string all = res.Header("set-cookie");
  size_t pos = all.find(name + "=");
  if (pos == std::string::npos) return "";
  size_t end = all.find(", ", pos);
  return all.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
}

class WebPagesTest : public ::testing::Test {
 protected:
  struct AuthzCall {
    std::string authz;
    int64_t member_id = 0;
    bool just_signed_in = false;
  };

  void Start(std::string base_url = "http://127.0.0.1:8401") {
    ASSERT_EQ(sodium_init() >= 0, true);
    config_.node.name = "council-a.example";
    config_.node.organisation = "Council A";
    config_.node.base_url = base_url;
    MakeAssets();
    config_.web.assets_dir = temp_ / "assets";

    storage::Store::Options store_options;
    store_options.path = temp_ / "kith.db";
    auto store = storage::Store::Open(store_options);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store.value());
    identity::PasswordHasher::Options hash_options;
    hash_options.params = identity::PasswordHashParams::Minimum();
    hasher_ = std::make_unique<identity::PasswordHasher>(hash_options);
    members_ = std::make_unique<identity::MemberStore>(*store_, clock_);
    sessions_ = std::make_unique<identity::SessionStore>(*store_, clock_);
    throttle_ = std::make_unique<identity::LoginThrottle>(clock_);
    auto templates = Templates::Load("");
    ASSERT_TRUE(templates.ok()) << templates.error().message;
    templates_ = std::move(templates.value());

    WebContext web;
    web.config = &config_;
    web.clock = &clock_;
    web.members = members_.get();
    web.sessions = sessions_.get();
    web.hasher = hasher_.get();
    web.throttle = throttle_.get();
    web.templates = templates_.get();
    web.blocking_pool = &pool_;
    web.continue_authorization = [this](RequestContext&, std::string authz,
                                        const identity::Session& session,
                                        bool just_signed_in) -> asio::awaitable<Response> {
      authz_calls_.push_back({authz, session.member_id, just_signed_in});
      co_return Found("https://rp.example/callback?code=abc");
    };
    AddWebRoutes(router_, web);

    HttpServerOptions options;
    options.listen_address = "127.0.0.1";
    options.port = 0;
    options.access_log = false;
    auto server = HttpServer::Start(ioc_, options, router_, nullptr);
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(server.value());
    thread_ = std::thread([this] { ioc_.run(); });
  }

  void TearDown() override {
    if (server_) server_->Shutdown(1s);
    work_.reset();
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
    pool_.join();
  }

  void MakeAssets() {
    namespace fs = std::filesystem;
    fs::create_directories(temp_ / "assets/assets/images");
    fs::create_directories(temp_ / "assets/assets/fonts");
    std::ofstream(temp_ / "assets/govuk-frontend.min.css") << "body{color:#0b0c0c}";
    std::ofstream(temp_ / "assets/assets/images/favicon.svg") << "<svg/>";
    std::ofstream(temp_ / "assets/assets/fonts/bold.woff2") << "font";
    std::ofstream(temp_ / "assets/.hidden.css") << "hidden";
    std::ofstream(temp_ / "assets/notes.txt") << "text";
    std::ofstream(temp_ / "secret.css") << "secret";
    fs::create_symlink(temp_ / "secret.css", temp_ / "assets/link.css");
  }

  // Adds a member with `password` hashed at the given cost (default: the hasher's).
  identity::Member AddMember(const std::string& handle, const std::string& password = kPassword,
                             std::optional<identity::PasswordHashParams> params = std::nullopt) {
    std::string hash;
    if (params) {
      identity::PasswordHasher::Options o;
      o.params = *params;
      identity::PasswordHasher other(o);
      auto h = Wait<std::string>(
          [&](auto done) { other.Hash(identity::SecretString(password), std::move(done)); });
      EXPECT_TRUE(h.ok());
      hash = h.value();
    } else {
      auto h = Wait<std::string>(
          [&](auto done) { hasher_->Hash(identity::SecretString(password), std::move(done)); });
      EXPECT_TRUE(h.ok());
      hash = h.value();
    }
    identity::NewMember m;
    m.handle = handle;
    m.display_name = "Member " + handle;
    m.email = handle + "@council-a.example.org";
    m.organisation = "Council A";
    m.password_hash = hash;
    auto added =
        Wait<identity::Member>([&](auto done) { members_->Add(std::move(m), std::move(done)); });
    EXPECT_TRUE(added.ok()) << added.error().message;
    return added.ok() ? added.value() : identity::Member{};
  }

  HttpResponse Get(const std::string& target, Cookies* jar = nullptr) {
    HttpRequestOptions o;
    if (jar != nullptr && !jar->values.empty()) o.headers.push_back({"Cookie", jar->Header()});
    auto res = kith::testing::HttpRequest("127.0.0.1", server_->port(), "GET", target, "", o);
    EXPECT_TRUE(res.ok()) << res.error().message;
    if (!res.ok()) return {};
    if (jar != nullptr) jar->Update(res.value());
    return res.value();
  }

  HttpResponse Post(const std::string& target, const std::map<std::string, std::string>& fields,
                    Cookies* jar = nullptr) {
    std::string body;
    for (const auto& [name, value] : fields) {
      if (!body.empty()) body += "&";
      body += FormEncode(name) + "=" + FormEncode(value);
    }
    HttpRequestOptions o;
    o.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
    o.headers.push_back({"User-Agent", "web-pages-test"});
    if (jar != nullptr && !jar->values.empty()) o.headers.push_back({"Cookie", jar->Header()});
    auto res = kith::testing::HttpRequest("127.0.0.1", server_->port(), "POST", target, body, o);
    EXPECT_TRUE(res.ok()) << res.error().message;
    if (!res.ok()) return {};
    if (jar != nullptr) jar->Update(res.value());
    return res.value();
  }

  // Opens the sign-in page (for its CSRF cookie) and posts the form.
  HttpResponse SignIn(Cookies& jar, const std::string& username,
                      const std::string& password = kPassword,
                      std::map<std::string, std::string> extra = {}) {
    HttpResponse page = Get("/sign-in", &jar);
    EXPECT_EQ(page.status, 200);
    extra["csrf_token"] = FormValue(page.body, "csrf_token");
    extra["username"] = username;
    extra["password"] = password;
    return Post("/sign-in", extra, &jar);
  }

  // The CSRF token of the signed-in session, from the account page.
  std::string SessionCsrf(Cookies& jar) {
    HttpResponse page = Get("/account", &jar);
    EXPECT_EQ(page.status, 200);
    return FormValue(page.body, "csrf_token");
  }

  testing::TempDir temp_{"web"};
  FakeClock clock_;
  Config config_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<identity::PasswordHasher> hasher_;
  std::unique_ptr<identity::MemberStore> members_;
  std::unique_ptr<identity::SessionStore> sessions_;
  std::unique_ptr<identity::LoginThrottle> throttle_;
  std::unique_ptr<Templates> templates_;
  std::vector<AuthzCall> authz_calls_;
  asio::thread_pool pool_{1};
  asio::io_context ioc_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      asio::make_work_guard(ioc_)};
  Router router_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

TEST_F(WebPagesTest, SignInPageHasTheFormAndSetsTheCsrfCookie) {
  Start();
  Cookies jar;
  HttpResponse res = Get("/sign-in?next=/account", &jar);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.Header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(res.Header("content-security-policy").find("default-src 'none'"), std::string::npos);
  const std::string token = FormValue(res.body, "csrf_token");
  EXPECT_EQ(token.size(), 43u);
  EXPECT_EQ(jar.values["kith_csrf"], token);
  EXPECT_EQ(FormValue(res.body, "next"), "/account");
  EXPECT_NE(res.body.find("<h1 class=\"govuk-heading-l\">Sign in</h1>"), std::string::npos);
  // A second visit keeps the same token (several tabs keep working).
  HttpResponse again = Get("/sign-in", &jar);
  EXPECT_EQ(FormValue(again.body, "csrf_token"), token);
  EXPECT_EQ(again.Header("set-cookie"), "");
  // A foreign `next` is dropped.
  EXPECT_EQ(FormValue(Get("/sign-in?next=//evil.example/").body, "next"), "");
}

TEST_F(WebPagesTest, SignInWithTheRightPasswordStartsASession) {
  Start();
  AddMember("ann");
  Cookies jar;
  HttpResponse res = SignIn(jar, "ann");
  ASSERT_EQ(res.status, 303) << res.body;
  EXPECT_EQ(res.Header("location"), "/account");
  const std::string cookie = SetCookieLine(res, "kith_session");
  EXPECT_NE(cookie.find("; Path=/"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("; HttpOnly"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("; SameSite=Lax"), std::string::npos) << cookie;
  EXPECT_EQ(cookie.find("Secure"), std::string::npos) << cookie;  // http base URL
  EXPECT_EQ(jar.values["kith_session"].size(), 43u);

  HttpResponse account = Get("/account", &jar);
  EXPECT_EQ(account.status, 200);
  EXPECT_NE(account.body.find("Member ann"), std::string::npos);
  EXPECT_NE(account.body.find("ann@council-a.example"), std::string::npos);
  EXPECT_NE(account.body.find("web-pages-test"), std::string::npos);  // the session's browser
  EXPECT_NE(account.body.find("This browser"), std::string::npos);
  // Signed in, the sign-in page sends the member on.
  HttpResponse again = Get("/sign-in", &jar);
  EXPECT_EQ(again.status, 303);
  EXPECT_EQ(again.Header("location"), "/account");
}

TEST_F(WebPagesTest, SessionCookieIsSecureForAnHttpsNode) {
  Start("https://council-a.example");
  AddMember("ann");
  Cookies jar;
  HttpResponse res = SignIn(jar, "ann");
  ASSERT_EQ(res.status, 303);
  EXPECT_NE(SetCookieLine(res, "kith_session").find("; Secure"), std::string::npos);
}

TEST_F(WebPagesTest, SignInByEmailOrAddress) {
  Start("https://council-a.example");  // addresses are handle@<the base URL's host>
  AddMember("ann");
  Cookies a, b, c;
  EXPECT_EQ(SignIn(a, "ANN@council-a.example.org").status, 303);
  EXPECT_EQ(SignIn(b, "ann@council-a.example").status, 303);
  EXPECT_EQ(SignIn(c, " Ann ").status, 303);
}

TEST_F(WebPagesTest, WrongPasswordUnknownAndDisabledMembersGetTheSameAnswer) {
  Start();
  AddMember("ann");
  auto bob = AddMember("bob");
  ASSERT_TRUE(Wait<identity::Member>([&](auto done) {
                members_->SetStatus(bob.id, identity::MemberStatus::kDisabled, std::move(done));
              }).ok());
  for (const auto& [user, password] : std::vector<std::pair<std::string, std::string>>{
           {"ann", "wrong password here"}, {"nobody", kPassword}, {"bob", kPassword}}) {
    Cookies jar;
    HttpResponse res = SignIn(jar, user, password);
    EXPECT_EQ(res.status, 401) << user;
    EXPECT_EQ(jar.values.count("kith_session"), 0u) << user;
    EXPECT_NE(res.body.find("Enter a correct username (or email address) and password"),
              std::string::npos)
        << user;
    EXPECT_NE(res.body.find("govuk-error-summary"), std::string::npos);
    EXPECT_NE(res.body.find("<a href=\"#username\">"), std::string::npos);
    EXPECT_NE(res.body.find("<title>Error: Sign in</title>"), std::string::npos);
    // The username is kept; the password is never sent back.
    EXPECT_NE(res.body.find("value=\"" + user + "\""), std::string::npos);
    EXPECT_EQ(res.body.find(password), std::string::npos);
  }
}

TEST_F(WebPagesTest, EmptyFieldsAreReportedSeparately) {
  Start();
  Cookies jar;
  HttpResponse res = SignIn(jar, "", "");
  EXPECT_EQ(res.status, 400);
  EXPECT_NE(res.body.find("<a href=\"#username\">Enter your username or email address</a>"),
            std::string::npos);
  EXPECT_NE(res.body.find("<a href=\"#password\">Enter your password</a>"), std::string::npos);
}

TEST_F(WebPagesTest, SignInWithoutTheCsrfCookieIsRefused) {
  Start();
  AddMember("ann");
  Cookies jar;
  HttpResponse page = Get("/sign-in", &jar);
  const std::string token = FormValue(page.body, "csrf_token");
  // No cookie: a cross-site post.
  HttpResponse res =
      Post("/sign-in", {{"username", "ann"}, {"password", kPassword}, {"csrf_token", token}});
  EXPECT_EQ(res.status, 403);
  EXPECT_EQ(SetCookieLine(res, "kith_session"), "");
  // Cookie but a different token.
  res = Post("/sign-in",
             {{"username", "ann"}, {"password", kPassword}, {"csrf_token", std::string(43, 'A')}},
             &jar);
  EXPECT_EQ(res.status, 403);
  EXPECT_EQ(jar.values.count("kith_session"), 0u);
  // Not a form at all.
  HttpRequestOptions o;
  o.headers.push_back({"Content-Type", "application/json"});
  auto json_post =
      kith::testing::HttpRequest("127.0.0.1", server_->port(), "POST", "/sign-in", "{}", o);
  ASSERT_TRUE(json_post.ok());
  EXPECT_EQ(json_post->status, 400);
}

TEST_F(WebPagesTest, ThrottlingSaysWhenToTryAgain) {
  Start();
  AddMember("ann");
  Cookies jar;
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(SignIn(jar, "ann", "wrong password " + std::to_string(i)).status, 401);
  // Now even the right password is not checked.
  HttpResponse res = SignIn(jar, "ann");
  EXPECT_EQ(res.status, 429);
  EXPECT_NE(res.body.find("Try again in 1 second"), std::string::npos) << res.body;
  EXPECT_EQ(res.Header("retry-after"), "1");
  EXPECT_EQ(jar.values.count("kith_session"), 0u);
  // The same account by email is the same account.
  EXPECT_EQ(SignIn(jar, "ann@council-a.example.org").status, 429);
  clock_.Advance(2s);
  EXPECT_EQ(SignIn(jar, "ann").status, 303);
}

TEST_F(WebPagesTest, NextIsFollowedOnlyWhenLocal) {
  Start();
  AddMember("ann");
  Cookies a, b;
  HttpResponse res = SignIn(a, "ann", kPassword, {{"next", "/account?x=1"}});
  EXPECT_EQ(res.Header("location"), "/account?x=1");
  res = SignIn(b, "ann", kPassword, {{"next", "https://evil.example/"}});
  EXPECT_EQ(res.Header("location"), "/account");
}

TEST_F(WebPagesTest, SignInWithAuthzContinuesTheAuthorization) {
  Start();
  auto ann = AddMember("ann");
  Cookies jar;
  HttpResponse res = SignIn(jar, "ann", kPassword, {{"authz", "client_id=c1&state=s"}});
  EXPECT_EQ(res.status, 302);
  EXPECT_EQ(res.Header("location"), "https://rp.example/callback?code=abc");
  EXPECT_EQ(jar.values["kith_session"].size(), 43u);  // the new session's cookie is set too
  ASSERT_EQ(authz_calls_.size(), 1u);
  EXPECT_EQ(authz_calls_[0].authz, "client_id=c1&state=s");
  EXPECT_EQ(authz_calls_[0].member_id, ann.id);
  EXPECT_TRUE(authz_calls_[0].just_signed_in);
  // A failed sign-in keeps the request in the form.
  Cookies other;
  res = SignIn(other, "ann", "not the password", {{"authz", "client_id=c1&state=s"}});
  EXPECT_EQ(res.status, 401);
  EXPECT_EQ(FormValue(res.body, "authz"), "client_id&#61;c1&amp;state&#61;s");
  EXPECT_EQ(authz_calls_.size(), 1u);
}

TEST_F(WebPagesTest, SignInUpgradesAnOldHash) {
  Start();
  identity::PasswordHashParams old = identity::PasswordHashParams::Minimum();
  old.opslimit += 1;
  auto ann = AddMember("ann", kPassword, old);
  auto before = members_->PasswordHash(ann.id);
  ASSERT_TRUE(before.ok());
  Cookies jar;
  ASSERT_EQ(SignIn(jar, "ann").status, 303);
  auto after = members_->PasswordHash(ann.id);
  ASSERT_TRUE(after.ok());
  EXPECT_NE(after.value(), before.value());
  const auto current = identity::PasswordHashParams::Minimum();
  EXPECT_EQ(
      crypto_pwhash_str_needs_rehash(after.value().c_str(), current.opslimit, current.memlimit), 0);
  // And the new hash still verifies.
  Cookies again;
  EXPECT_EQ(SignIn(again, "ann").status, 303);
}

TEST_F(WebPagesTest, AccountNeedsASession) {
  Start();
  HttpResponse res = Get("/account");
  EXPECT_EQ(res.status, 303);
  EXPECT_EQ(res.Header("location"), "/sign-in?next=/account");
  Cookies bogus;
  bogus.values["kith_session"] = std::string(43, 'x');
  EXPECT_EQ(Get("/account", &bogus).status, 303);
  EXPECT_EQ(Post("/account/profile", {{"display_name", "x"}}).status, 303);
}

TEST_F(WebPagesTest, SignOutNeedsTheCsrfTokenAndEndsTheSession) {
  Start();
  AddMember("ann");
  Cookies jar;
  ASSERT_EQ(SignIn(jar, "ann").status, 303);
  const std::string csrf = SessionCsrf(jar);
  ASSERT_EQ(csrf.size(), 43u);
  HttpResponse res = Post("/sign-out", {{"csrf_token", "wrong"}}, &jar);
  EXPECT_EQ(res.status, 403);
  EXPECT_EQ(Get("/account", &jar).status, 200);  // still signed in
  const std::string token = jar.values["kith_session"];
  res = Post("/sign-out", {{"csrf_token", csrf}}, &jar);
  EXPECT_EQ(res.status, 303);
  EXPECT_EQ(res.Header("location"), "/signed-out");
  EXPECT_NE(SetCookieLine(res, "kith_session").find("Max-Age=0"), std::string::npos);
  EXPECT_FALSE(sessions_->Authenticate(token).ok());
  HttpResponse page = Get("/signed-out", &jar);
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("You have signed out"), std::string::npos);
  EXPECT_EQ(Get("/account", &jar).status, 303);
}

TEST_F(WebPagesTest, ProfileChangesAreValidatedAndSaved) {
  Start();
  auto ann = AddMember("ann");
  AddMember("bob");
  Cookies jar;
  ASSERT_EQ(SignIn(jar, "ann").status, 303);
  const std::string csrf = SessionCsrf(jar);
  std::map<std::string, std::string> form = {
      {"csrf_token", csrf},         {"display_name", "Ann <Example>"},
      {"email", "ann@new.example"}, {"organisation", "Council A"},
      {"job_title", "Officer"},     {"bio", "Housing\nPlanning"}};
  // Bad CSRF: nothing changes.
  auto bad = form;
  bad["csrf_token"] = "x";
  EXPECT_EQ(Post("/account/profile", bad, &jar).status, 403);
  EXPECT_EQ(members_->GetById(ann.id)->display_name, "Member ann");

  HttpResponse res = Post("/account/profile", form, &jar);
  EXPECT_EQ(res.status, 303);
  EXPECT_EQ(res.Header("location"), "/account?saved=profile");
  auto m = members_->GetById(ann.id);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->display_name, "Ann <Example>");
  EXPECT_EQ(m->email, "ann@new.example");
  EXPECT_EQ(m->job_title, "Officer");
  EXPECT_EQ(m->bio, "Housing\nPlanning");
  HttpResponse page = Get("/account?saved=profile", &jar);
  EXPECT_NE(page.body.find("Your profile has been saved."), std::string::npos);
  EXPECT_NE(page.body.find("Ann &lt;Example&gt;"), std::string::npos);
  EXPECT_EQ(page.body.find("Ann <Example>"), std::string::npos);

  // Errors: every field reported, entered values kept, nothing saved.
  auto wrong = form;
  wrong["display_name"] = "";
  wrong["email"] = "not an email";
  wrong["job_title"] = std::string(201, 'j');
  res = Post("/account/profile", wrong, &jar);
  EXPECT_EQ(res.status, 400);
  EXPECT_NE(res.body.find("<a href=\"#display_name\">Enter your full name</a>"), std::string::npos);
  EXPECT_NE(res.body.find("<a href=\"#email\">Enter an email address in the correct format"),
            std::string::npos);
  EXPECT_NE(res.body.find("<a href=\"#job_title\">Job title must be at most 200 characters"),
            std::string::npos);
  EXPECT_NE(res.body.find("value=\"not an email\""), std::string::npos);
  EXPECT_EQ(members_->GetById(ann.id)->email, "ann@new.example");

  // Someone else's email.
  auto taken = form;
  taken["email"] = "bob@council-a.example.org";
  res = Post("/account/profile", taken, &jar);
  EXPECT_EQ(res.status, 400);
  EXPECT_NE(res.body.find("already used by another member"), std::string::npos);
}

TEST_F(WebPagesTest, PasswordChangeChecksAndSignsOutOtherSessions) {
  Start();
  AddMember("annabel");
  Cookies here, elsewhere;
  ASSERT_EQ(SignIn(here, "annabel").status, 303);
  ASSERT_EQ(SignIn(elsewhere, "annabel").status, 303);
  const std::string csrf = SessionCsrf(here);
  const std::string fresh = "a much longer new secret";
  struct Case {
    std::string current, fresh, confirm, field, message;
  };
  for (const Case& c : std::vector<Case>{
           {"", fresh, fresh, "current_password", "Enter your current password"},
           {kPassword, "", "", "new_password", "Enter a new password"},
           {kPassword, "short", "short", "new_password", "at least 12"},
           {kPassword, "I am Annabel, hello", "I am Annabel, hello", "new_password",
            "must not contain"},
           {kPassword, fresh, fresh + "x", "confirm_password", "do not match"},
           {"the wrong password", fresh, fresh, "current_password", "is not right"},
       }) {
    HttpResponse res = Post("/account/password",
                            {{"csrf_token", csrf},
                             {"current_password", c.current},
                             {"new_password", c.fresh},
                             {"confirm_password", c.confirm}},
                            &here);
    EXPECT_EQ(res.status, 400) << c.message;
    EXPECT_NE(res.body.find("<a href=\"#" + c.field + "\">"), std::string::npos) << c.message;
    EXPECT_NE(res.body.find(c.message), std::string::npos) << c.message;
    if (!c.fresh.empty()) {
      EXPECT_EQ(res.body.find(c.fresh), std::string::npos);  // never echoed
    }
  }
  EXPECT_EQ(Post("/account/password",
                 {{"csrf_token", "nope"},
                  {"current_password", kPassword},
                  {"new_password", fresh},
                  {"confirm_password", fresh}},
                 &here)
                .status,
            403);

  HttpResponse res = Post("/account/password",
                          {{"csrf_token", csrf},
                           {"current_password", kPassword},
                           {"new_password", fresh},
                           {"confirm_password", fresh}},
                          &here);
  EXPECT_EQ(res.status, 303);
  EXPECT_EQ(res.Header("location"), "/account?saved=password");
  EXPECT_EQ(Get("/account", &here).status, 200);       // this session stays
  EXPECT_EQ(Get("/account", &elsewhere).status, 303);  // the other one ended
  Cookies old_password, new_password;
  EXPECT_EQ(SignIn(old_password, "annabel", kPassword).status, 401);
  EXPECT_EQ(SignIn(new_password, "annabel", fresh).status, 303);
}

TEST_F(WebPagesTest, SignOutEverywhereEndsEverySession) {
  Start();
  AddMember("ann");
  Cookies here, elsewhere;
  ASSERT_EQ(SignIn(here, "ann").status, 303);
  ASSERT_EQ(SignIn(elsewhere, "ann").status, 303);
  const std::string csrf = SessionCsrf(here);
  EXPECT_EQ(Post("/account/sign-out-everywhere", {{"csrf_token", ""}}, &here).status, 403);
  EXPECT_EQ(Get("/account", &elsewhere).status, 200);
  HttpResponse res = Post("/account/sign-out-everywhere", {{"csrf_token", csrf}}, &here);
  EXPECT_EQ(res.status, 303);
  EXPECT_EQ(res.Header("location"), "/signed-out");
  EXPECT_EQ(Get("/account", &here).status, 303);
  EXPECT_EQ(Get("/account", &elsewhere).status, 303);
}

TEST_F(WebPagesTest, AssetsAreServedFromTheFolderOnly) {
  Start();
  HttpResponse css = Get("/assets/govuk-frontend.min.css");
  EXPECT_EQ(css.status, 200);
  EXPECT_EQ(css.body, "body{color:#0b0c0c}");
  EXPECT_EQ(css.Header("content-type"), "text/css; charset=utf-8");
  EXPECT_EQ(css.Header("cache-control"), "public, max-age=86400");
  EXPECT_EQ(css.Header("x-content-type-options"), "nosniff");
  HttpResponse svg = Get("/assets/assets/images/favicon.svg");
  EXPECT_EQ(svg.status, 200);
  EXPECT_EQ(svg.Header("content-type"), "image/svg+xml");

  for (const char* refused : {
           "/assets/../secret.css",
           "/assets/assets/../../secret.css",
           "/assets/%2E%2E/secret.css",
           "/assets/..%2Fsecret.css",
           "/assets/assets%2F..%2F..%2Fsecret.css",
           "/assets/.hidden.css",
           "/assets/link.css",                 // a symbolic link out of the folder
           "/assets/assets/fonts/bold.woff2",  // GDS Transport is reserved for GOV.UK
           "/assets/notes.txt",                // not a served type
           "/assets/missing.css",
           "/assets/assets/images",
           "/assets/a/b/c/d/e.css",
       }) {
    HttpResponse res = Get(refused);
    EXPECT_EQ(res.status, 404) << refused;
    EXPECT_EQ(res.body.find("secret"), std::string::npos) << refused;
  }
}

TEST_F(WebPagesTest, PagesEscapeWhatMembersEntered) {
  Start();
  auto ann = AddMember("ann");
  identity::ProfileUpdate update;
  update.display_name = "<script>alert(1)</script>";
  ASSERT_TRUE(Wait<identity::Member>([&](auto done) {
                members_->UpdateProfile(ann.id, std::move(update), std::move(done));
              }).ok());
  Cookies jar;
  ASSERT_EQ(SignIn(jar, "ann").status, 303);
  HttpResponse page = Get("/account", &jar);
  EXPECT_EQ(page.body.find("<script>"), std::string::npos);
  EXPECT_NE(page.body.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
}

}  // namespace
}  // namespace kith::node
