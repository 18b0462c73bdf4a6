// kithd as a real process on loopback: endpoints, bad input, config errors, the data-dir lock
// and graceful shutdown.
#include <gtest/gtest.h>
#include <signal.h>
#include <sodium.h>

#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <regex>

#include "federation/node_document.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_node.h"

namespace kith::testing {
namespace {

class KithdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    TestNodeOptions options;
    options.name = "Improvement Service";
    options.organisation = "Improvement Service";
    node_ = TestNode::Start(options).release();
  }
  static void TearDownTestSuite() {
    if (node_) {
      EXPECT_EQ(node_->Stop().code, 0);
    }
    delete node_;
    node_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(node_, nullptr) << "kithd did not start"; }
  static uint16_t port() { return node_->port(); }
  static TestNode* node_;
};
TestNode* KithdTest::node_ = nullptr;

TEST_F(KithdTest, Healthz) {
  auto res = HttpGet(port(), "/healthz");
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->status, 200);
}

TEST_F(KithdTest, Readyz) {
  auto res = HttpGet(port(), "/readyz");
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->status, 200) << res->body;
}

TEST_F(KithdTest, KeepAliveServesManyRequestsOnOneConnection) {
  auto res = HttpGetMany(port(), "/healthz", 20);
  ASSERT_TRUE(res.ok()) << res.error().message;
  ASSERT_EQ(res->size(), 20u);
  for (const auto& r : *res) EXPECT_EQ(r.status, 200);
}

TEST_F(KithdTest, MetricsCountRequestsAndLatency) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(HttpGet(port(), "/healthz").ok());
  auto res = HttpGet(port(), "/metrics");
  ASSERT_TRUE(res.ok()) << res.error().message;
  ASSERT_EQ(res->status, 200);
  EXPECT_NE(res->Header("content-type").find("text/plain"), std::string::npos);
  const std::string& m = res->body;
  // Prometheus text: a request counter labelled with the route and status, with a value >= 3,
  // and a latency histogram with buckets, sum and count.
  std::smatch match;
  const std::regex counter(R"((\w*requests\w*)\{[^}]*/healthz[^}]*\} ([0-9.e+]+))");
  ASSERT_TRUE(std::regex_search(m, match, counter)) << m;
  EXPECT_GE(std::stod(match[2]), 3.0) << match[0];
  EXPECT_TRUE(std::regex_search(m, std::regex(R"(# TYPE \w+ histogram)"))) << m;
  EXPECT_TRUE(std::regex_search(m, std::regex(R"(\w+_bucket\{[^}]*le="\+Inf"[^}]*\} [0-9]+)")))
      << m;
  EXPECT_TRUE(std::regex_search(m, std::regex(R"(\w+_sum(\{[^}]*\})? [0-9.e+-]+)"))) << m;
  EXPECT_TRUE(std::regex_search(m, std::regex(R"(\w+_count(\{[^}]*\})? [0-9]+)"))) << m;
}

TEST_F(KithdTest, NodeDocumentPublishesTheKeyMadeAtInit) {
  auto status = node_->Kithctl({"status", "--json"});
  auto res = HttpGet(port(), "/.well-known/kith-node");
  ASSERT_TRUE(res.ok()) << res.error().message;
  ASSERT_EQ(res->status, 200);
  EXPECT_NE(res->Header("content-type").find("application/json"), std::string::npos);
  auto doc = nlohmann::json::parse(res->body, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << res->body;
  // Peers read it with the federation parser: what we serve must be what they accept.
  auto parsed = kith::federation::ParseNodeDocument(res->body);
  EXPECT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(doc["version"], 1);
  EXPECT_EQ(doc["name"], "Improvement Service");
  EXPECT_EQ(doc["organisation"], "Improvement Service");
  EXPECT_TRUE(doc["id"].is_string());
  EXPECT_TRUE(doc["base_url"].is_string());
  ASSERT_TRUE(doc["keys"].is_array());
  ASSERT_EQ(doc["keys"].size(), 1u);
  const auto& key = doc["keys"][0];
  // init printed "key id:    <kid>"
  std::smatch match;
  const std::string& init = node_->init_output();
  ASSERT_TRUE(std::regex_search(init, match, std::regex(R"(key id:\s+(\S+))"))) << init;
  EXPECT_EQ(key["kid"], match[1].str());
  EXPECT_EQ(key["alg"], "ed25519");
  EXPECT_EQ(key["status"], "current");
  EXPECT_TRUE(key["created_at"].is_number() || key["created_at"].is_string());
  // The public key is the one in the key file: derive it from the stored seed.
  ASSERT_GE(sodium_init(), 0);
  std::ifstream in(node_->data_dir() / "keys" / (match[1].str() + ".key"), std::ios::binary);
  std::string seed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(seed.size(), 32u);
  unsigned char pk[32], sk[64];
  crypto_sign_seed_keypair(pk, sk, reinterpret_cast<const unsigned char*>(seed.data()));
  char b64[64];
  sodium_bin2base64(b64, sizeof b64, pk, sizeof pk, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  EXPECT_EQ(key["public_key"], std::string(b64));
  sodium_memzero(sk, sizeof sk);
}

TEST_F(KithdTest, UnknownRouteIs404Json) {
  auto res = HttpGet(port(), "/no/such/route");
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->status, 404);
  auto body = nlohmann::json::parse(res->body, nullptr, false);
  ASSERT_TRUE(body.is_object()) << res->body;
  EXPECT_TRUE(body["error"].is_string());
  EXPECT_TRUE(body["message"].is_string());
}

TEST_F(KithdTest, WrongMethodIs405WithAllow) {
  auto res = HttpRequest("127.0.0.1", port(), "POST", "/healthz", "{}");
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->status, 405);
  EXPECT_NE(res->Header("allow").find("GET"), std::string::npos) << res->Header("allow");
}

TEST_F(KithdTest, MalformedRequestIs400AndClosed) {
  auto res = SendRaw(port(), "THIS IS NOT HTTP\r\n\r\n");
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->received.rfind("HTTP/1.1 400", 0), 0u) << res->received;
  EXPECT_TRUE(res->closed_by_peer);
  auto bad_header = SendRaw(port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n");
  ASSERT_TRUE(bad_header.ok());
  EXPECT_EQ(bad_header->received.rfind("HTTP/1.1 400", 0), 0u) << bad_header->received;
  EXPECT_TRUE(bad_header->closed_by_peer);
  // The server is still fine afterwards.
  EXPECT_TRUE(WaitForHttpOk(port(), "/healthz", std::chrono::seconds(5)));
}

TEST_F(KithdTest, OversizedBodyIs413) {
  // The default body limit is 1 MiB: announce 2 MiB and send only the headers.
  auto res = SendRaw(port(),
                     "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: 2097152\r\n\r\n");
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->received.rfind("HTTP/1.1 413", 0), 0u) << res->received;
  EXPECT_TRUE(WaitForHttpOk(port(), "/healthz", std::chrono::seconds(5)));
}

TEST_F(KithdTest, OversizedHeadersAreRefused) {
  const std::string big(64 * 1024, 'a');
  auto res = SendRaw(port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n");
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_TRUE(res->received.rfind("HTTP/1.1 431", 0) == 0 ||
              res->received.rfind("HTTP/1.1 400", 0) == 0)
      << res->received.substr(0, 200);
  EXPECT_TRUE(res->closed_by_peer);
}

TEST_F(KithdTest, SecondKithdOnTheSameDataDirIsRefused) {
  ProcessOptions options;
  options.env = {{"KITH_HTTP_PORT", "0"}};
  auto r = RunProcess({KithdPath(), "--config", (node_->data_dir() / "kith.toml").string()},
                      options, std::chrono::seconds(20));
  EXPECT_EQ(r.status.code, 2) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find(node_->data_dir().string()), std::string::npos) << r.out << r.err;
  // The first one is unharmed.
  EXPECT_TRUE(WaitForHttpOk(port(), "/healthz", std::chrono::seconds(5)));
}

TEST(KithdConfig, ErrorNamesFileAndKeyAndExits2) {
  auto node = TestNode::Init();
  ASSERT_TRUE(node);
  const auto config = node->data_dir() / "kith.toml";
  std::string text;
  {
    std::ifstream in(config);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const auto pos = text.find("max_body_bytes = 1048576");
  ASSERT_NE(pos, std::string::npos);
  text.replace(pos, std::string("max_body_bytes = 1048576").size(), "max_body_bytes = \"lots\"");
  std::ofstream(config, std::ios::trunc) << text;
  auto r = RunProcess({KithdPath(), "--config", config.string()}, {}, std::chrono::seconds(20));
  EXPECT_EQ(r.status.code, 2) << r.out << r.err;
  const std::string said = r.out + r.err;
  EXPECT_NE(said.find(config.string()), std::string::npos) << said;
  EXPECT_NE(said.find("max_body_bytes"), std::string::npos) << said;
}

TEST(KithdConfig, UnknownKeyIsRefused) {
  auto node = TestNode::Init();
  ASSERT_TRUE(node);
  const auto config = node->data_dir() / "kith.toml";
  std::ofstream(config, std::ios::app) << "\n[http]\nfavourite_colour = \"blue\"\n";
  auto r = RunProcess({KithdPath(), "--config", config.string()}, {}, std::chrono::seconds(20));
  EXPECT_EQ(r.status.code, 2) << r.out << r.err;
}

TEST(KithdShutdown, SigtermLetsAnInFlightRequestFinish) {
  TestNodeOptions options;
  options.env = {{"KITH_TEST_ROUTES", "1"}};
  auto node = TestNode::Start(options);
  ASSERT_TRUE(node);
  auto slow = std::async(std::launch::async, [&] {
    return HttpGet(node->port(), "/_test/sleep?ms=1500", std::chrono::seconds(20));
  });
  // Wait until the request is being served (the server counts it as open) before SIGTERM:
  // poll /metrics-free: give the request a head start by waiting for the connection to appear.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  bool in_flight = false;
  while (!in_flight && std::chrono::steady_clock::now() < deadline) {
    auto status = node->Kithctl({"status", "--json"}, std::chrono::seconds(5));
    auto j = nlohmann::json::parse(status.out, nullptr, false);
    if (j.is_object() && j["server"].is_object()) {
      for (const char* key : {"requests_in_flight", "in_flight", "open_connections"}) {
        if (j["server"].contains(key) && j["server"][key].is_number() &&
            j["server"][key].get<double>() >= 1) {
          in_flight = true;
        }
      }
    }
  }
  if (!in_flight) {
    // The server does not report it; the request was sent at least this long ago.
    ASSERT_EQ(slow.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  }
  node->kithd()->Signal(SIGTERM);
  auto res = slow.get();
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->status, 200);
  auto exit = node->kithd()->Wait(std::chrono::seconds(30));
  EXPECT_TRUE(exit.exited()) << "signal " << exit.signal << " timed_out " << exit.timed_out;
  EXPECT_EQ(exit.code, 0) << node->kithd()->Stderr();
  // After shutdown nothing answers.
  EXPECT_FALSE(HttpGet(node->port(), "/healthz", std::chrono::seconds(1)).ok());
}

}  // namespace
}  // namespace kith::testing
