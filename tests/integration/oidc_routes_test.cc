// The OpenID Connect endpoints of a real kithd (node/oidc_routes.cc), driven over HTTP the way a
// browser and a relying party drive them: sign-in form, consent page, code exchange, UserInfo,
// and the error answers each spec asks for. (tests/oidc/ runs the certified npm openid-client
// against the same endpoints.)
#include <gtest/gtest.h>
#include <sodium.h>

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "tests/support/http_client.h"
#include "tests/support/test_node.h"

namespace kith::testing {
namespace {

using json = nlohmann::json;

constexpr char kRedirect[] = "http://127.0.0.1:9/cb";
constexpr char kRedirectEncoded[] = "http%3A%2F%2F127.0.0.1%3A9%2Fcb";
constexpr char kVerifier[] = "pkce-verifier-0123456789-0123456789-0123456789-abcdef";

std::string Base64Url(const unsigned char* data, size_t size) {
  std::string out(sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), data, size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.find('\0'));
  return out;
}

std::string Challenge(const std::string& verifier) {
  unsigned char hash[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(hash, reinterpret_cast<const unsigned char*>(verifier.data()),
                     verifier.size());
  return Base64Url(hash, sizeof hash);
}

std::string FormEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string HtmlUnescape(std::string s) {
  const std::pair<const char*, const char*> entities[] = {
      {"&lt;", "<"},  {"&gt;", ">"},   {"&quot;", "\""}, {"&#39;", "'"},  {"&#61;", "="},
      {"&#96;", "`"}, {"&#x27;", "'"}, {"&#x3D;", "="},  {"&#x60;", "`"}, {"&amp;", "&"}};
  for (const auto& [from, to] : entities) {
    size_t pos = 0;
    while ((pos = s.find(from, pos)) != std::string::npos) {
      s.replace(pos, std::strlen(from), to);
      pos += std::strlen(to);
    }
  }
  return s;
}

// The value of the first input named `name` in a page.
std::string InputValue(const std::string& html, const std::string& name) {
  const std::string marker = "name=\"" + name + "\" value=\"";
  size_t pos = html.find(marker);
  if (pos == std::string::npos) return "";
  pos += marker.size();
  return HtmlUnescape(html.substr(pos, html.find('"', pos) - pos));
}

// The query parameter `name` of a URL (not decoded: the tests compare plain tokens).
std::string QueryValue(const std::string& url, const std::string& name) {
  size_t q = url.find('?');
  if (q == std::string::npos) return "";
  std::string query = url.substr(q + 1);
  size_t pos = 0;
  while (pos < query.size()) {
    size_t amp = query.find('&', pos);
    std::string pair = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    pos = amp == std::string::npos ? query.size() : amp + 1;
    if (pair.rfind(name + "=", 0) == 0) return pair.substr(name.size() + 1);
  }
  return "";
}

// A browser: remembers cookies from Set-Cookie.
class Browser {
 public:
  explicit Browser(uint16_t port) : port_(port) {}

  Result<HttpResponse> Get(const std::string& target) { return Send("GET", target, ""); }
  Result<HttpResponse> Post(const std::string& target, const std::string& form) {
    return Send("POST", target, form);
  }
  bool Has(const std::string& cookie) const { return cookies_.count(cookie) > 0; }

 private:
  Result<HttpResponse> Send(const std::string& method, const std::string& target,
                            const std::string& body) {
    HttpRequestOptions options;
    std::string header;
    for (const auto& [name, value] : cookies_) {
      header += (header.empty() ? "" : "; ") + name + "=" + value;
    }
    if (!header.empty()) options.headers.emplace_back("Cookie", header);
    if (method == "POST") {
      options.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    }
    auto res = HttpRequest("127.0.0.1", port_, method, target, body, options);
    if (res.ok()) Remember(res->Header("set-cookie"));
    return res;
  }

  void Remember(const std::string& all) {
    size_t start = 0;
    while (start < all.size()) {
      size_t end = all.find(", ", start);
      std::string one =
          all.substr(start, end == std::string::npos ? std::string::npos : end - start);
      start = end == std::string::npos ? all.size() : end + 2;
      std::string pair = one.substr(0, one.find(';'));
      size_t eq = pair.find('=');
      if (eq == std::string::npos) continue;
      std::string name = pair.substr(0, eq), value = pair.substr(eq + 1);
      if (value.empty() || one.find("Max-Age=0") != std::string::npos) {
        cookies_.erase(name);
      } else {
        cookies_[name] = value;
      }
    }
  }

  uint16_t port_;
  std::map<std::string, std::string> cookies_;
};

class OidcRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    TestNodeOptions options;
    options.env = {{"KITH_IDENTITY_PASSWORD_COST", "minimum"}};
    node_ = TestNode::Start(options);
    ASSERT_TRUE(node_);
    auto member = node_->Kithctl({"member", "add", "alice", "--email", "alice@council-a.example",
                                  "--name", "Alice Smith", "--json"});
    ASSERT_EQ(member.status.code, 0) << member.out << member.err;
    password_ = json::parse(member.out)["password"].get<std::string>();
    client_ = AddClient({"--name", "Intranet", "--redirect-uri", kRedirect, "--first-party"});
    third_party_ = AddClient({"--name", "Survey tool", "--redirect-uri", kRedirect});
  }

  json AddClient(std::vector<std::string> args) {
    args.insert(args.begin(), {"client", "add"});
    args.push_back("--json");
    auto added = node_->Kithctl(args);
    EXPECT_EQ(added.status.code, 0) << added.out << added.err;
    return json::parse(added.out, nullptr, false);
  }

  std::string AuthorizeTarget(const json& client, const std::string& extra = "") {
    return "/oidc/authorize?response_type=code&client_id=" +
           client["client"]["client_id"].get<std::string>() + "&redirect_uri=" + kRedirectEncoded +
           "&scope=openid%20profile%20email&state=st-1&nonce=n-1" +
           "&code_challenge=" + Challenge(kVerifier) + "&code_challenge_method=S256" + extra;
  }

  // Signs in through the page the authorization endpoint shows; answers the final response.
  HttpResponse SignInThroughAuthorize(Browser& browser, const json& client,
                                      const std::string& extra = "") {
    auto page = browser.Get(AuthorizeTarget(client, extra));
    EXPECT_TRUE(page.ok());
    EXPECT_EQ(page->status, 200) << page->body;
    const std::string authz = InputValue(page->body, "authz");
    EXPECT_FALSE(authz.empty()) << page->body;
    auto signed_in =
        browser.Post("/sign-in", "username=alice&password=" + FormEncode(password_) +
                                     "&csrf_token=" + InputValue(page->body, "csrf_token") +
                                     "&authz=" + FormEncode(authz));
    EXPECT_TRUE(signed_in.ok());
    return *signed_in;
  }

  Result<HttpResponse> Token(const json& client, const std::string& form) {
    HttpRequestOptions options;
    options.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
    std::string credentials = client["client"]["client_id"].get<std::string>() + ":" +
                              client["client_secret"].get<std::string>();
    options.headers.emplace_back("Authorization", "Basic " + std::string(Base64Std(credentials)));
    return HttpRequest("127.0.0.1", node_->port(), "POST", "/oidc/token", form, options);
  }

  static std::string Base64Std(const std::string& s) {
    std::string out(sodium_base64_ENCODED_LEN(s.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(s.data()),
                      s.size(), sodium_base64_VARIANT_ORIGINAL);
    out.resize(out.find('\0'));
    return out;
  }

  std::string CodeForm(const std::string& code, const std::string& verifier = kVerifier) {
    return "grant_type=authorization_code&code=" + code + "&redirect_uri=" + kRedirectEncoded +
           "&code_verifier=" + verifier;
  }

  std::unique_ptr<TestNode> node_;
  std::string password_;
  json client_, third_party_;
};

TEST_F(OidcRoutesTest, DiscoveryAndJwks) {
  auto doc = HttpGet(node_->port(), "/.well-known/openid-configuration");
  ASSERT_TRUE(doc.ok());
  ASSERT_EQ(doc->status, 200);
  json d = json::parse(doc->body);
  for (const char* field : {"issuer", "authorization_endpoint", "token_endpoint", "jwks_uri",
                            "userinfo_endpoint", "end_session_endpoint", "response_types_supported",
                            "subject_types_supported", "id_token_signing_alg_values_supported"}) {
    EXPECT_TRUE(d.contains(field)) << field;
  }
  EXPECT_EQ(d["code_challenge_methods_supported"], json::array({"S256"}));
  EXPECT_EQ(d["authorization_response_iss_parameter_supported"], true);

  auto jwks = HttpGet(node_->port(), "/oidc/jwks");
  ASSERT_TRUE(jwks.ok());
  json keys = json::parse(jwks->body)["keys"];
  std::set<std::string> algs;
  for (const auto& k : keys) {
    algs.insert(k["alg"].get<std::string>());
    EXPECT_FALSE(k.contains("d")) << "a private key is published";
  }
  EXPECT_TRUE(algs.count("RS256"));
  EXPECT_TRUE(algs.count("EdDSA"));
}

TEST_F(OidcRoutesTest, CodeFlowThroughTheSignInPage) {
  Browser browser(node_->port());
  HttpResponse redirect = SignInThroughAuthorize(browser, client_);
  ASSERT_EQ(redirect.status, 302) << redirect.body;
  const std::string location = redirect.Header("location");
  ASSERT_EQ(location.rfind(kRedirect, 0), 0u) << location;
  EXPECT_EQ(QueryValue(location, "state"), "st-1");
  EXPECT_FALSE(QueryValue(location, "iss").empty());
  EXPECT_TRUE(browser.Has("kith_session"));
  const std::string code = QueryValue(location, "code");

  // A wrong verifier fails; the right one works once; the code cannot be used again.
  auto wrong = Token(client_, CodeForm(code, std::string(kVerifier) + "x"));
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->status, 400);
  EXPECT_EQ(json::parse(wrong->body)["error"], "invalid_grant");

  // A new code, silently: the member has a session now.
  auto again = browser.Get(AuthorizeTarget(client_, "&prompt=none"));
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->status, 302);
  const std::string code2 = QueryValue(again->Header("location"), "code");
  auto tokens = Token(client_, CodeForm(code2));
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->status, 200) << tokens->body;
  EXPECT_EQ(tokens->Header("cache-control"), "no-store");
  json t = json::parse(tokens->body);
  EXPECT_EQ(t["token_type"], "Bearer");
  EXPECT_TRUE(t["id_token"].is_string());

  auto reused = Token(client_, CodeForm(code2));
  ASSERT_TRUE(reused.ok());
  EXPECT_EQ(reused->status, 400);
  EXPECT_EQ(json::parse(reused->body)["error"], "invalid_grant");

  // The token of the reused code's family is revoked with it.
  HttpRequestOptions bearer;
  bearer.headers = {{"Authorization", "Bearer " + t["access_token"].get<std::string>()}};
  auto info = HttpRequest("127.0.0.1", node_->port(), "GET", "/oidc/userinfo", "", bearer);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->status, 401);
  EXPECT_NE(info->Header("www-authenticate").find("invalid_token"), std::string::npos);
}

TEST_F(OidcRoutesTest, UserInfoWithAFreshToken) {
  Browser browser(node_->port());
  HttpResponse redirect = SignInThroughAuthorize(browser, client_);
  ASSERT_EQ(redirect.status, 302);
  auto tokens = Token(client_, CodeForm(QueryValue(redirect.Header("location"), "code")));
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->status, 200) << tokens->body;
  HttpRequestOptions bearer;
  bearer.headers = {
      {"Authorization", "Bearer " + json::parse(tokens->body)["access_token"].get<std::string>()}};
  auto info = HttpRequest("127.0.0.1", node_->port(), "GET", "/oidc/userinfo", "", bearer);
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->status, 200) << info->body;
  json claims = json::parse(info->body);
  EXPECT_EQ(claims["email"], "alice@council-a.example");
  EXPECT_EQ(claims["name"], "Alice Smith");

  auto none = HttpGet(node_->port(), "/oidc/userinfo");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->status, 401);
  EXPECT_NE(none->Header("www-authenticate").find("Bearer"), std::string::npos);
}

TEST_F(OidcRoutesTest, BadClientOrRedirectShowsAPageAndNeverRedirects) {
  auto unknown =
      HttpGet(node_->port(), "/oidc/authorize?response_type=code&client_id=nobody&redirect_uri=" +
                                 std::string(kRedirectEncoded) + "&scope=openid");
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 400);
  EXPECT_EQ(unknown->Header("location"), "");
  EXPECT_NE(unknown->Header("content-type").find("text/html"), std::string::npos);

  auto mismatch =
      HttpGet(node_->port(), "/oidc/authorize?response_type=code&client_id=" +
                                 client_["client"]["client_id"].get<std::string>() +
                                 "&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&scope=openid");
  ASSERT_TRUE(mismatch.ok());
  EXPECT_EQ(mismatch->status, 400);
  EXPECT_EQ(mismatch->Header("location"), "");
}

TEST_F(OidcRoutesTest, ErrorsGoBackToTheClientOnceItIsTrusted) {
  // prompt=none without a session: login_required at the redirect URI, with state and iss.
  auto none = HttpGet(node_->port(), AuthorizeTarget(client_, "&prompt=none"));
  ASSERT_TRUE(none.ok());
  ASSERT_EQ(none->status, 302);
  EXPECT_EQ(QueryValue(none->Header("location"), "error"), "login_required");
  EXPECT_EQ(QueryValue(none->Header("location"), "state"), "st-1");

  // An unknown response type.
  std::string target = AuthorizeTarget(client_);
  target.replace(target.find("response_type=code"), 18, "response_type=token");
  auto token_type = HttpGet(node_->port(), target);
  ASSERT_TRUE(token_type.ok());
  ASSERT_EQ(token_type->status, 302);
  EXPECT_EQ(QueryValue(token_type->Header("location"), "error"), "unsupported_response_type");
}

TEST_F(OidcRoutesTest, TokenEndpointRefusesBadClients) {
  json wrong = client_;
  wrong["client_secret"] = "not-the-secret";
  auto refused = Token(wrong, CodeForm("whatever"));
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, 401);
  EXPECT_EQ(json::parse(refused->body)["error"], "invalid_client");
  EXPECT_NE(refused->Header("www-authenticate").find("Basic"), std::string::npos);

  HttpRequestOptions json_body;
  json_body.headers = {{"Content-Type", "application/json"}};
  auto not_a_form = HttpRequest("127.0.0.1", node_->port(), "POST", "/oidc/token", "{}", json_body);
  ASSERT_TRUE(not_a_form.ok());
  EXPECT_EQ(not_a_form->status, 400);
  EXPECT_EQ(json::parse(not_a_form->body)["error"], "invalid_request");
}

TEST_F(OidcRoutesTest, ThirdPartyClientAsksForConsentOnce) {
  Browser browser(node_->port());
  HttpResponse consent = SignInThroughAuthorize(browser, third_party_);
  ASSERT_EQ(consent.status, 200) << consent.body;
  ASSERT_NE(consent.body.find("action=\"/oidc/consent\""), std::string::npos);
  EXPECT_NE(consent.body.find("Survey tool"), std::string::npos);
  const std::string authz = InputValue(consent.body, "authz");
  const std::string csrf = InputValue(consent.body, "csrf_token");

  // Without the CSRF token nothing happens.
  auto forged = browser.Post("/oidc/consent", "decision=allow&authz=" + FormEncode(authz));
  ASSERT_TRUE(forged.ok());
  EXPECT_EQ(forged->status, 403);

  auto allowed = browser.Post("/oidc/consent",
                              "decision=allow&csrf_token=" + csrf + "&authz=" + FormEncode(authz));
  ASSERT_TRUE(allowed.ok());
  ASSERT_EQ(allowed->status, 302) << allowed->body;
  EXPECT_FALSE(QueryValue(allowed->Header("location"), "code").empty());

  // Remembered: the next authorization goes straight back with a code.
  auto next = browser.Get(AuthorizeTarget(third_party_));
  ASSERT_TRUE(next.ok());
  ASSERT_EQ(next->status, 302);
  EXPECT_FALSE(QueryValue(next->Header("location"), "code").empty());

  // prompt=login asks for the password again even with a session.
  auto login = browser.Get(AuthorizeTarget(third_party_, "&prompt=login"));
  ASSERT_TRUE(login.ok());
  EXPECT_EQ(login->status, 200);
  EXPECT_FALSE(InputValue(login->body, "authz").empty());
}

TEST_F(OidcRoutesTest, EndSessionSignsOut) {
  Browser browser(node_->port());
  ASSERT_EQ(SignInThroughAuthorize(browser, client_).status, 302);
  ASSERT_TRUE(browser.Has("kith_session"));
  auto out = browser.Get("/oidc/end-session");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->status, 303);
  EXPECT_FALSE(browser.Has("kith_session"));
  auto none = browser.Get(AuthorizeTarget(client_, "&prompt=none"));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(QueryValue(none->Header("location"), "error"), "login_required");

  auto bad = browser.Get("/oidc/end-session?post_logout_redirect_uri=https%3A%2F%2Fevil.example");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(bad->Header("location"), "");
}

}  // namespace
}  // namespace kith::testing
