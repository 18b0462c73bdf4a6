// The /api/v1 JSON API of one real kithd (node/api_*.cc, docs/api.md): groups of each
// visibility and join policy, membership flows, the forum, the library with streamed uploads
// and Range downloads, and authentication by session cookie + CSRF token or bearer token.
#include <gtest/gtest.h>
#include <sodium.h>

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "tests/support/http_client.h"
#include "tests/support/remote_session.h"
#include "tests/support/test_node.h"

namespace kith::testing {
namespace {

using json = nlohmann::json;

constexpr char kDomain[] = "council-a.example";
constexpr int64_t kMaxUpload = 6 * 1024 * 1024;
constexpr char kRedirect[] = "http://127.0.0.1:9/cb";
constexpr char kRedirectEncoded[] = "http%3A%2F%2F127.0.0.1%3A9%2Fcb";
constexpr char kVerifier[] = "pkce-verifier-0123456789-0123456789-0123456789-abcdef";

std::string Base64(std::string_view s, int variant) {
  std::string out(sodium_base64_ENCODED_LEN(s.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(s.data()),
                    s.size(), variant);
  out.resize(out.find('\0'));
  return out;
}

std::string QueryValue(const std::string& url, const std::string& name) {
  size_t at = url.find(name + "=");
  if (at == std::string::npos) return "";
  at += name.size() + 1;
  return url.substr(at, url.find('&', at) - at);
}

struct Answer {
  int status = 0;
  json body;
  HttpResponse raw;
};

// A member's API client: a session cookie + CSRF token, or a bearer token.
class Member {
 public:
  Member(uint16_t port, std::string handle) : port_(port), handle_(std::move(handle)) {}

  std::string address() const { return handle_ + "@" + kDomain; }

  // Signs in through the sign-in page; then reads the CSRF token from /api/v1/me.
  bool SignIn(const std::string& password) {
    auto page = HttpGet(port_, "/sign-in");
    if (!page.ok() || page->status != 200) return false;
    std::string csrf_cookie = Cookie(page->Header("set-cookie"), "kith_csrf");
    HttpRequestOptions options;
    options.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                       {"Cookie", "kith_csrf=" + csrf_cookie}};
    auto signed_in =
        HttpRequest("127.0.0.1", port_, "POST", "/sign-in",
                    "username=" + handle_ + "&password=" + FormValue(password) +
                        "&csrf_token=" + FormValue(InputValue(page->body, "csrf_token")),
                    options);
    if (!signed_in.ok() || signed_in->status != 303) return false;
    session_ = Cookie(signed_in->Header("set-cookie"), "kith_session");
    if (session_.empty()) return false;
    Answer me = Call("GET", "/api/v1/me");
    if (me.status != 200 || !me.body.contains("csrf_token")) return false;
    csrf_ = me.body["csrf_token"].get<std::string>();
    return true;
  }

  void UseBearer(std::string token) { bearer_ = std::move(token); }
  void DropCsrf() { csrf_.clear(); }
  const std::string& session() const { return session_; }

  Answer Call(const std::string& method, const std::string& target, const json& body = nullptr,
              std::vector<std::pair<std::string, std::string>> extra = {}) {
    std::string text = body.is_null() ? std::string() : body.dump();
    if (!body.is_null()) extra.emplace_back("Content-Type", "application/json");
    return Raw(method, target, text, std::move(extra));
  }

  Answer Raw(const std::string& method, const std::string& target, const std::string& body,
             std::vector<std::pair<std::string, std::string>> extra) {
    HttpRequestOptions options;
    options.timeout = std::chrono::seconds(60);
    options.headers = std::move(extra);
    if (!bearer_.empty()) {
      options.headers.emplace_back("Authorization", "Bearer " + bearer_);
    } else if (!session_.empty()) {
      options.headers.emplace_back("Cookie", "kith_session=" + session_);
      if (!csrf_.empty()) options.headers.emplace_back("X-CSRF-Token", csrf_);
    }
    Answer a;
    auto res = HttpRequest("127.0.0.1", port_, method, target, body, options);
    if (!res.ok()) {
      ADD_FAILURE() << method << " " << target << ": " << res.error().message;
      return a;
    }
    a.status = res->status;
    a.raw = *res;
    a.body = json::parse(res->body, nullptr, false);
    return a;
  }

  static std::string Cookie(const std::string& set_cookie, const std::string& name) {
    size_t at = set_cookie.find(name + "=");
    if (at == std::string::npos) return "";
    at += name.size() + 1;
    return set_cookie.substr(at, set_cookie.find(';', at) - at);
  }

 private:
  uint16_t port_;
  std::string handle_;
  std::string session_;
  std::string csrf_;
  std::string bearer_;
};

std::string G(const std::string& slug) { return "/api/v1/groups/" + slug + "%40" + kDomain; }

std::string Multipart(const std::string& boundary, const std::map<std::string, std::string>& fields,
                      const std::string& filename, const std::string& type,
                      const std::string& content) {
  std::string body;
  for (const auto& [name, value] : fields) {
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" +
            value + "\r\n";
  }
  body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" +
          filename + "\"\r\nContent-Type: " + type + "\r\n\r\n" + content + "\r\n--" + boundary +
          "--\r\n";
  return body;
}

class GroupsApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_GE(sodium_init(), 0);
    TestNodeOptions options;
    options.name = kDomain;
    options.env = {{"KITH_IDENTITY_PASSWORD_COST", "minimum"},
                   {"KITH_NODE_BASE_URL", std::string("https://") + kDomain},
                   {"KITH_GROUPS_MAX_UPLOAD_BYTES", std::to_string(kMaxUpload)}};
    node_ = TestNode::Start(options).release();
    ASSERT_NE(node_, nullptr);
    for (const char* handle : {"alice", "bob", "carol", "dave"}) {
      auto added =
          node_->Kithctl({"member", "add", handle, "--email", std::string(handle) + "@" + kDomain,
                          "--name", handle, "--json"});
      ASSERT_EQ(added.status.code, 0) << added.out << added.err;
      (*passwords_)[handle] = json::parse(added.out)["password"].get<std::string>();
    }
  }
  static void TearDownTestSuite() {
    if (node_) node_->Stop();
    delete node_;
    node_ = nullptr;
  }

  Member SignedIn(const std::string& handle) {
    Member m(node_->port(), handle);
    EXPECT_TRUE(m.SignIn((*passwords_)[handle])) << handle << " could not sign in";
    return m;
  }

  // Creates a group as `owner`; expects 201.
  void Create(Member& owner, const std::string& slug, const std::string& visibility,
              const std::string& policy) {
    Answer a = owner.Call("POST", "/api/v1/groups",
                          json{{"slug", slug},
                               {"name", "Group " + slug},
                               {"description", "about " + slug},
                               {"tags", "one, two"},
                               {"visibility", visibility},
                               {"join_policy", policy}});
    ASSERT_EQ(a.status, 201) << a.raw.body;
    EXPECT_EQ(a.body["state"], "accepted");
    EXPECT_EQ(a.body["seq"], 1);
    EXPECT_EQ(a.body["event"]["type"], "group.created");
  }

  static TestNode* node_;
  static std::map<std::string, std::string>* passwords_;
};

TestNode* GroupsApiTest::node_ = nullptr;
std::map<std::string, std::string>* GroupsApiTest::passwords_ =
    new std::map<std::string, std::string>();

TEST_F(GroupsApiTest, AuthenticationSessionCsrfAndBearer) {
  Member anonymous(node_->port(), "nobody");
  Answer a = anonymous.Call("GET", "/api/v1/me");
  EXPECT_EQ(a.status, 401);
  EXPECT_EQ(a.body["error"], "unauthenticated");
  EXPECT_EQ(anonymous.Call("GET", "/api/v1/groups").status, 401);

  Member alice = SignedIn("alice");
  Answer me = alice.Call("GET", "/api/v1/me");
  ASSERT_EQ(me.status, 200);
  EXPECT_EQ(me.body["member"], std::string("alice@") + kDomain);

  // A cookie without the CSRF header may read but not write.
  Member no_csrf = alice;
  no_csrf.DropCsrf();
  EXPECT_EQ(no_csrf.Call("GET", "/api/v1/groups").status, 200);
  Answer refused = no_csrf.Call("POST", "/api/v1/groups", json{{"slug", "x1"}, {"name", "X"}});
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(refused.body["error"], "csrf");

  // A bearer token from this node's OpenID Connect provider.
  auto client = node_->Kithctl({"client", "add", "--name", "API script", "--redirect-uri",
                                kRedirect, "--first-party", "--json"});
  ASSERT_EQ(client.status.code, 0) << client.out << client.err;
  json c = json::parse(client.out);
  const std::string client_id = c["client"]["client_id"].get<std::string>();
  unsigned char hash[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(hash, reinterpret_cast<const unsigned char*>(kVerifier), strlen(kVerifier));
  std::string challenge = Base64(std::string_view(reinterpret_cast<char*>(hash), sizeof hash),
                                 sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  HttpRequestOptions cookie;
  cookie.headers = {{"Cookie", "kith_session=" + alice.session()}};
  auto authorized = HttpRequest(
      "127.0.0.1", node_->port(), "GET",
      "/oidc/authorize?response_type=code&client_id=" + FormValue(client_id) +
          "&redirect_uri=" + kRedirectEncoded + "&scope=openid%20profile&state=s&nonce=n" +
          "&code_challenge=" + challenge + "&code_challenge_method=S256",
      "", cookie);
  ASSERT_TRUE(authorized.ok());
  ASSERT_EQ(authorized->status, 302) << authorized->body;
  const std::string code = QueryValue(authorized->Header("location"), "code");
  HttpRequestOptions basic;
  basic.headers = {
      {"Content-Type", "application/x-www-form-urlencoded"},
      {"Authorization", "Basic " + Base64(client_id + ":" + c["client_secret"].get<std::string>(),
                                          sodium_base64_VARIANT_ORIGINAL)}};
  auto tokens = HttpRequest("127.0.0.1", node_->port(), "POST", "/oidc/token",
                            "grant_type=authorization_code&code=" + code +
                                "&redirect_uri=" + kRedirectEncoded + "&code_verifier=" + kVerifier,
                            basic);
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->status, 200) << tokens->body;
  Member script(node_->port(), "alice");
  script.UseBearer(json::parse(tokens->body)["access_token"].get<std::string>());
  Answer via_token = script.Call("GET", "/api/v1/me");
  ASSERT_EQ(via_token.status, 200);
  EXPECT_EQ(via_token.body["member"], std::string("alice@") + kDomain);
  EXPECT_FALSE(via_token.body.contains("csrf_token"));
  // Writes need no CSRF token with a bearer token.
  Answer created = script.Call("POST", "/api/v1/groups",
                               json{{"slug", "bearer-made"}, {"name", "Made by a script"}});
  EXPECT_EQ(created.status, 201) << created.raw.body;
  Member forged(node_->port(), "alice");
  forged.UseBearer("not-a-token");
  Answer bad = forged.Call("GET", "/api/v1/me");
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.body["error"], "invalid_token");
}

TEST_F(GroupsApiTest, VisibilityJoinPoliciesAndMembershipFlows) {
  Member alice = SignedIn("alice");
  Member bob = SignedIn("bob");
  Member carol = SignedIn("carol");
  Member dave = SignedIn("dave");
  for (const char* v : {"public", "restricted", "private"}) {
    for (const char* p : {"open", "request", "invite"}) {
      Create(alice, std::string("v-") + v + "-" + p, v, p);
    }
  }
  // A taken slug and a bad one.
  EXPECT_EQ(
      alice.Call("POST", "/api/v1/groups", json{{"slug", "v-public-open"}, {"name", "X"}}).status,
      409);
  EXPECT_EQ(alice.Call("POST", "/api/v1/groups", json{{"slug", "Bad Slug"}, {"name", "X"}}).status,
            400);
  EXPECT_EQ(alice.Call("POST", "/api/v1/groups", json{{"name", "no slug"}}).status, 400);
  EXPECT_EQ(alice.Raw("POST", "/api/v1/groups", "{not json", {}).status, 400);

  // Listing: bob sees public and restricted groups, never private ones.
  Answer list = bob.Call("GET", "/api/v1/groups");
  ASSERT_EQ(list.status, 200);
  std::set<std::string> seen;
  for (const auto& g : list.body["groups"]) seen.insert(g["slug"].get<std::string>());
  EXPECT_TRUE(seen.count("v-public-open"));
  EXPECT_TRUE(seen.count("v-restricted-request"));
  EXPECT_FALSE(seen.count("v-private-invite"));

  Answer group = bob.Call("GET", G("v-restricted-request"));
  ASSERT_EQ(group.status, 200);
  EXPECT_TRUE(group.body["my_role"].is_null());
  EXPECT_EQ(group.body["tags"], json::array({"one", "two"}));
  EXPECT_EQ(alice.Call("GET", G("v-restricted-request")).body["my_role"], "owner");
  // Content: public readable, restricted 403, private 404.
  EXPECT_EQ(bob.Call("GET", G("v-public-request") + "/threads").status, 200);
  EXPECT_EQ(bob.Call("GET", G("v-restricted-request") + "/threads").status, 403);
  EXPECT_EQ(bob.Call("GET", G("v-private-invite")).status, 404);
  EXPECT_EQ(bob.Call("GET", G("v-private-invite") + "/threads").status, 404);
  EXPECT_EQ(bob.Call("GET", G("no-such-group")).status, 404);

  // Open: join at once.
  Answer joined = bob.Call("POST", G("v-public-open") + "/join");
  ASSERT_EQ(joined.status, 200) << joined.raw.body;
  EXPECT_EQ(joined.body["event"]["type"], "member.joined");
  EXPECT_EQ(bob.Call("GET", G("v-public-open")).body["my_role"], "member");

  // Request: a request, seen by facilitators only, approved by the owner.
  Answer requested =
      bob.Call("POST", G("v-restricted-request") + "/join", json{{"message", "let me in"}});
  ASSERT_EQ(requested.status, 200) << requested.raw.body;
  EXPECT_EQ(requested.body["event"]["type"], "member.requested");
  EXPECT_EQ(bob.Call("GET", G("v-restricted-request") + "/requests").status, 403);
  Answer requests = alice.Call("GET", G("v-restricted-request") + "/requests");
  ASSERT_EQ(requests.status, 200);
  ASSERT_EQ(requests.body["requests"].size(), 1u);
  EXPECT_EQ(requests.body["requests"][0]["member"], bob.address());
  EXPECT_EQ(requests.body["requests"][0]["message"], "let me in");
  EXPECT_EQ(bob.Call("POST", G("v-restricted-request") + "/requests/" + bob.address() + "/approve")
                .status,
            403);
  Answer approved =
      alice.Call("POST", G("v-restricted-request") + "/requests/" + bob.address() + "/approve");
  ASSERT_EQ(approved.status, 200) << approved.raw.body;
  EXPECT_EQ(bob.Call("GET", G("v-restricted-request") + "/threads").status, 200);
  // Declining.
  ASSERT_EQ(dave.Call("POST", G("v-restricted-request") + "/join").status, 200);
  EXPECT_EQ(
      alice.Call("POST", G("v-restricted-request") + "/requests/" + dave.address() + "/decline")
          .status,
      200);
  EXPECT_EQ(dave.Call("GET", G("v-restricted-request")).body["my_role"], nullptr);

  // Invite: without an invitation 403; invited, then joined; the group becomes visible.
  EXPECT_EQ(dave.Call("POST", G("v-public-invite") + "/join").status, 403);
  // bob is not in the private group: refused (403 by the rules, or 404 as unknown to him).
  int outsider =
      bob.Call("POST", G("v-private-invite") + "/invites", json{{"member", carol.address()}})
          .status;
  EXPECT_TRUE(outsider == 403 || outsider == 404) << outsider;
  Answer invited =
      alice.Call("POST", G("v-private-invite") + "/invites", json{{"member", carol.address()}});
  ASSERT_EQ(invited.status, 201) << invited.raw.body;
  Answer invites = alice.Call("GET", G("v-private-invite") + "/invites");
  ASSERT_EQ(invites.status, 200);
  EXPECT_EQ(invites.body["invites"][0]["member"], carol.address());
  ASSERT_EQ(carol.Call("POST", G("v-private-invite") + "/join").status, 200);
  EXPECT_EQ(carol.Call("GET", G("v-private-invite")).body["my_role"], "member");
  EXPECT_EQ(carol.Call("GET", "/api/v1/groups?mine=1").body["groups"].size(), 1u);

  // Roles: a member cannot change roles; the owner makes carol a facilitator.
  EXPECT_EQ(carol
                .Call("PATCH", G("v-private-invite") + "/members/" + carol.address(),
                      json{{"role", "owner"}})
                .status,
            403);
  ASSERT_EQ(alice
                .Call("PATCH", G("v-private-invite") + "/members/" + carol.address(),
                      json{{"role", "facilitator"}})
                .status,
            200);
  Answer members = carol.Call("GET", G("v-private-invite") + "/members");
  ASSERT_EQ(members.status, 200);
  EXPECT_EQ(members.body["members"].size(), 2u);
  // Settings by a facilitator; leave; removal.
  EXPECT_EQ(carol.Call("PATCH", G("v-private-invite"), json{{"description", "new"}}).status, 200);
  EXPECT_EQ(alice.Call("GET", G("v-private-invite")).body["description"], "new");
  EXPECT_EQ(bob.Call("POST", G("v-public-open") + "/leave").status, 200);
  EXPECT_EQ(bob.Call("GET", G("v-public-open")).body["my_role"], nullptr);
  ASSERT_EQ(bob.Call("POST", G("v-public-open") + "/join").status, 200);
  EXPECT_EQ(alice.Call("DELETE", G("v-public-open") + "/members/" + bob.address()).status, 200);
  EXPECT_EQ(bob.Call("GET", G("v-public-open")).body["my_role"], nullptr);
  // Digest.
  Answer digest = alice.Call("GET", G("v-public-open") + "/digest");
  ASSERT_EQ(digest.status, 200);
  EXPECT_EQ(digest.body["digest"].get<std::string>().size(), 64u);
}

TEST_F(GroupsApiTest, ForumThreadsRepliesModerationAndArchive) {
  Member alice = SignedIn("alice");
  Member bob = SignedIn("bob");
  Member carol = SignedIn("carol");
  Create(alice, "forum", "public", "open");
  ASSERT_EQ(bob.Call("POST", G("forum") + "/join").status, 200);
  ASSERT_EQ(carol.Call("POST", G("forum") + "/join").status, 200);

  Answer thread =
      bob.Call("POST", G("forum") + "/threads",
               json{{"title", "Winter pressures"}, {"body", "What are you **seeing**?"}});
  ASSERT_EQ(thread.status, 201) << thread.raw.body;
  const int64_t tid = thread.body["seq"].get<int64_t>();
  const std::string t = G("forum") + "/threads/" + std::to_string(tid);
  std::vector<int64_t> replies;
  for (int i = 0; i < 5; ++i) {
    Answer r = carol.Call("POST", t + "/posts", json{{"body", "reply " + std::to_string(i)}});
    ASSERT_EQ(r.status, 201) << r.raw.body;
    replies.push_back(r.body["seq"].get<int64_t>());
  }
  // Pages of posts.
  Answer page1 = bob.Call("GET", t + "?limit=4");
  ASSERT_EQ(page1.status, 200) << page1.raw.body;
  EXPECT_EQ(page1.body["thread"]["title"], "Winter pressures");
  ASSERT_EQ(page1.body["posts"].size(), 4u);
  EXPECT_NE(page1.body["posts"][0]["body_html"].get<std::string>().find("<strong>seeing</strong>"),
            std::string::npos);
  ASSERT_FALSE(page1.body["next_after"].is_null());
  Answer page2 = bob.Call(
      "GET", t + "?limit=4&after=" + std::to_string(page1.body["next_after"].get<int64_t>()));
  EXPECT_EQ(page2.body["posts"].size(), 2u);
  EXPECT_TRUE(page2.body["next_after"].is_null());
  Answer threads = carol.Call("GET", G("forum") + "/threads");
  ASSERT_EQ(threads.status, 200);
  EXPECT_EQ(threads.body["threads"].size(), 1u);
  EXPECT_EQ(bob.Call("GET", G("forum") + "/threads?limit=0").status, 400);

  // Edit: the author yes, another member no, a facilitator yes.
  const std::string p0 = G("forum") + "/posts/" + std::to_string(replies[0]);
  EXPECT_EQ(carol.Call("PATCH", p0, json{{"body", "reply 0, edited"}}).status, 200);
  EXPECT_EQ(bob.Call("PATCH", p0, json{{"body", "hijack"}}).status, 403);
  EXPECT_EQ(alice.Call("PATCH", p0, json{{"body", "moderated"}}).status, 200);
  EXPECT_EQ(bob.Call("PATCH", G("forum") + "/posts/" + std::to_string(tid),
                     json{{"body", "new body"}, {"title", "Winter pressures 2026"}})
                .status,
            200);
  // Delete: a tombstone without body.
  EXPECT_EQ(bob.Call("DELETE", G("forum") + "/posts/" + std::to_string(replies[1])).status, 403);
  EXPECT_EQ(carol.Call("DELETE", G("forum") + "/posts/" + std::to_string(replies[1])).status, 200);
  Answer after = bob.Call("GET", t);
  ASSERT_EQ(after.status, 200);
  EXPECT_EQ(after.body["thread"]["title"], "Winter pressures 2026");
  for (const auto& p : after.body["posts"]) {
    if (p["id"] == replies[0]) {
      EXPECT_EQ(p["body"], "moderated");
      EXPECT_FALSE(p["edited_at"].is_null());
    }
    if (p["id"] == replies[1]) {
      EXPECT_TRUE(p["deleted"].get<bool>());
      EXPECT_EQ(p["body"], "");
    }
  }
  // Pin and lock: facilitators only; a locked thread refuses members' replies.
  EXPECT_EQ(bob.Call("POST", t + "/pin", json{{"pinned", true}}).status, 403);
  EXPECT_EQ(alice.Call("POST", t + "/pin", json{{"pinned", true}}).status, 200);
  EXPECT_EQ(alice.Call("POST", t + "/lock", json{{"locked", true}}).status, 200);
  Answer locked = carol.Call("POST", t + "/posts", json{{"body", "late"}});
  EXPECT_EQ(locked.status, 409) << locked.raw.body;
  Answer listed = bob.Call("GET", G("forum") + "/threads");
  EXPECT_TRUE(listed.body["threads"][0]["pinned"].get<bool>());
  EXPECT_TRUE(listed.body["threads"][0]["locked"].get<bool>());
  // Bad input.
  EXPECT_EQ(bob.Call("POST", G("forum") + "/threads", json{{"title", "no body"}}).status, 400);
  EXPECT_EQ(bob.Call("POST", G("forum") + "/threads/abc/posts", json{{"body", "x"}}).status, 400);
  EXPECT_EQ(bob.Call("GET", G("forum") + "/threads/999999").status, 404);

  // Archive: members cannot; the owner can; then every write is 409, reads still work.
  EXPECT_EQ(bob.Call("POST", G("forum") + "/archive").status, 403);
  ASSERT_EQ(alice.Call("POST", G("forum") + "/archive").status, 200);
  EXPECT_EQ(alice.Call("GET", G("forum")).body["status"], "archived");
  EXPECT_EQ(bob.Call("POST", G("forum") + "/threads", json{{"title", "x"}, {"body", "y"}}).status,
            409);
  EXPECT_EQ(alice.Call("PATCH", G("forum"), json{{"name", "renamed"}}).status, 409);
  EXPECT_EQ(bob.Call("GET", t).status, 200);
  ASSERT_EQ(alice.Call("POST", G("forum") + "/unarchive").status, 200);
  EXPECT_EQ(bob.Call("POST", G("forum") + "/threads", json{{"title", "x"}, {"body", "y"}}).status,
            201);
}

TEST_F(GroupsApiTest, LibraryUploadsDownloadsAndRanges) {
  Member alice = SignedIn("alice");
  Member bob = SignedIn("bob");
  Member dave = SignedIn("dave");
  Create(alice, "library", "restricted", "open");
  ASSERT_EQ(bob.Call("POST", G("library") + "/join").status, 200);

  std::string content(5 * 1024 * 1024, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>((i * 131 + 7) % 256);
  const std::string boundary = "----kithBoundary7MA4YWxkTrZu0gW";
  const std::string type = "multipart/form-data; boundary=" + boundary;
  Answer up = bob.Raw("POST", G("library") + "/documents",
                      Multipart(boundary, {{"title", "Annual report"}, {"tags", "budget, 2026"}},
                                "C:\\docs\\r\xc3\xa9port 2026.pdf", "application/pdf", content),
                      {{"Content-Type", type}});
  ASSERT_EQ(up.status, 201) << up.raw.body;
  const int64_t doc = up.body["seq"].get<int64_t>();
  EXPECT_EQ(up.body["event"]["data"]["sha256"], Sha256Hex(content));
  EXPECT_EQ(up.body["event"]["data"]["size"], content.size());
  EXPECT_EQ(up.body["event"]["data"]["filename"], "r\xc3\xa9port 2026.pdf");
  const std::string d = G("library") + "/documents/" + std::to_string(doc);

  Answer download = bob.Call("GET", d + "/download");
  ASSERT_EQ(download.status, 200);
  EXPECT_EQ(download.raw.body.size(), content.size());
  EXPECT_EQ(Sha256Hex(download.raw.body), Sha256Hex(content));
  EXPECT_EQ(download.raw.Header("content-type"), "application/pdf");
  EXPECT_EQ(download.raw.Header("x-content-type-options"), "nosniff");
  EXPECT_EQ(download.raw.Header("accept-ranges"), "bytes");
  EXPECT_EQ(download.raw.Header("etag"), "\"" + Sha256Hex(content) + "\"");
  EXPECT_NE(
      download.raw.Header("content-disposition").find("filename*=UTF-8''r%C3%A9port%202026.pdf"),
      std::string::npos)
      << download.raw.Header("content-disposition");

  Answer part = bob.Call("GET", d + "/download", nullptr, {{"Range", "bytes=1000-1999"}});
  ASSERT_EQ(part.status, 206);
  EXPECT_EQ(part.raw.body, content.substr(1000, 1000));
  EXPECT_EQ(part.raw.Header("content-range"), "bytes 1000-1999/" + std::to_string(content.size()));
  Answer tail = bob.Call("GET", d + "/download", nullptr, {{"Range", "bytes=-10"}});
  ASSERT_EQ(tail.status, 206);
  EXPECT_EQ(tail.raw.body, content.substr(content.size() - 10));
  Answer unsatisfiable = bob.Call("GET", d + "/download", nullptr, {{"Range", "bytes=99999999-"}});
  EXPECT_EQ(unsatisfiable.status, 416);
  EXPECT_EQ(unsatisfiable.raw.Header("content-range"), "bytes */" + std::to_string(content.size()));
  Answer cached = bob.Call("GET", d + "/download", nullptr,
                           {{"If-None-Match", "\"" + Sha256Hex(content) + "\""}});
  EXPECT_EQ(cached.status, 304);
  // Not a member of the restricted group: 403.
  EXPECT_EQ(dave.Call("GET", d + "/download").status, 403);
  EXPECT_EQ(dave.Call("GET", G("library") + "/documents").status, 403);

  // JSON upload and a new version.
  Answer small =
      bob.Call("POST", G("library") + "/documents",
               json{{"title", "Note"},
                    {"filename", "note.txt"},
                    {"media_type", "text/plain; charset=UTF-8"},
                    {"content_base64", Base64("hello\n", sodium_base64_VARIANT_ORIGINAL)}});
  ASSERT_EQ(small.status, 201) << small.raw.body;
  EXPECT_EQ(small.body["event"]["data"]["media_type"], "text/plain; charset=utf-8");
  Answer v2 = bob.Raw("POST", d + "/versions",
                      Multipart(boundary, {}, "report-v2.pdf", "application/pdf", "version two"),
                      {{"Content-Type", type}});
  ASSERT_EQ(v2.status, 201) << v2.raw.body;
  Answer meta = bob.Call("GET", d);
  ASSERT_EQ(meta.status, 200);
  EXPECT_EQ(meta.body["versions"].size(), 2u);
  EXPECT_EQ(meta.body["document"]["title"], "Annual report");
  EXPECT_EQ(bob.Call("GET", d + "/download").raw.body, "version two");
  EXPECT_EQ(Sha256Hex(bob.Call("GET", d + "/download?version=1").raw.body), Sha256Hex(content));
  Answer listed = bob.Call("GET", G("library") + "/documents");
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(listed.body["documents"].size(), 2u);
  EXPECT_EQ(bob.Call("PATCH", d, json{{"title", "Annual report 2026"}}).status, 200);

  // Over the limit: 413 (the file part grows past groups.max_upload_bytes).
  std::string big(kMaxUpload + 100 * 1024, 'x');
  Answer too_big = bob.Raw(
      "POST", G("library") + "/documents",
      Multipart(boundary, {{"title", "Too big"}}, "big.bin", "application/octet-stream", big),
      {{"Content-Type", type}});
  EXPECT_EQ(too_big.status, 413) << too_big.raw.body;
  // Announced far over the route's limit: 413 before the body.
  auto raw = SendRaw(node_->port(), "POST " + G("library") +
                                        "/documents HTTP/1.1\r\nHost: t\r\n"
                                        "Content-Type: " +
                                        type + "\r\nContent-Length: 999999999\r\n\r\n");
  ASSERT_TRUE(raw.ok());
  EXPECT_NE(raw->received.find(" 413 "), std::string::npos) << raw->received;
  // Bad forms.
  Answer no_file =
      bob.Raw("POST", G("library") + "/documents",
              "--b\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nx\r\n--b--\r\n",
              {{"Content-Type", "multipart/form-data; boundary=b"}});
  EXPECT_EQ(no_file.status, 400);
  EXPECT_EQ(no_file.body["error"], "missing_file");
  EXPECT_EQ(
      bob.Raw("POST", G("library") + "/documents", "x", {{"Content-Type", "multipart/form-data"}})
          .status,
      400);
  // Not a member: the upload is refused by the owner's rules (403).
  Member carol = SignedIn("carol");
  EXPECT_EQ(carol
                .Raw("POST", G("library") + "/documents",
                     Multipart(boundary, {{"title", "x"}}, "x.txt", "text/plain", "x"),
                     {{"Content-Type", type}})
                .status,
            403);
  // Unauthenticated uploads are refused before the body is read.
  auto anon = SendRaw(node_->port(), "POST " + G("library") +
                                         "/documents HTTP/1.1\r\nHost: t\r\nContent-Type: " + type +
                                         "\r\nContent-Length: 10\r\n\r\n0123456789");
  ASSERT_TRUE(anon.ok());
  EXPECT_NE(anon->received.find(" 401 "), std::string::npos) << anon->received;
  // Removal: the download is gone.
  EXPECT_EQ(bob.Call("DELETE", d).status, 200);
  EXPECT_EQ(bob.Call("GET", d + "/download").status, 404);
}

}  // namespace
}  // namespace kith::testing
