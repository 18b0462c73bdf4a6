#include "federation/http_signature.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <fstream>
#include <nlohmann/json.hpp>

namespace kith::federation {
namespace {

using nlohmann::json;

json LoadB26() {
  std::ifstream in(std::string(KITH_VECTORS_DIR) + "/rfc9421/ed25519-request-b26.json");
  return json::parse(in);
}

std::vector<uint8_t> FromHex(const std::string& hex) {
  std::vector<uint8_t> out(hex.size() / 2);
  size_t len = 0;
  EXPECT_EQ(sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &len, nullptr),
            0);
  out.resize(len);
  return out;
}

HttpMessage B26Request(const json& v) {
  HttpMessage m;
  m.method = v.at("request").at("method").get<std::string>();
  m.target_uri = v.at("request").at("target_uri").get<std::string>();
  for (const auto& h : v.at("request").at("headers")) {
    m.headers.emplace_back(h.at(0).get<std::string>(), h.at(1).get<std::string>());
  }
  return m;
}

sf::InnerList ParseInput(const std::string& field, const std::string& label) {
  auto dict = sf::ParseDictionary(field);
  EXPECT_TRUE(dict.ok());
  const auto* member = sf::FindMember(*dict, label);
  EXPECT_NE(member, nullptr);
  return std::get<sf::InnerList>(*member);
}

TEST(HttpSignatureVector, ReproducesRfc9421B26Exactly) {
  ASSERT_EQ(sodium_init() >= 0, true);
  const json v = LoadB26();
  HttpMessage request = B26Request(v);
  const std::string label = v.at("label").get<std::string>();
  const std::string input_field = v.at("signature_input").get<std::string>();
  const sf::InnerList input = ParseInput(input_field, label);

  auto base = SignatureBase(input, request, nullptr);
  ASSERT_TRUE(base.ok()) << base.error().message;
  EXPECT_EQ(*base, v.at("signature_base").get<std::string>());
  EXPECT_EQ(base->size(), 284u);

  // Same signature from the same key (Ed25519 is deterministic).
  const auto seed = FromHex(v.at("key").at("seed_hex").get<std::string>());
  ASSERT_EQ(seed.size(), 32u);
  std::array<uint8_t, 64> secret{};
  identity::Ed25519PublicKey public_key{};
  crypto_sign_seed_keypair(public_key.data(), secret.data(), seed.data());
  EXPECT_EQ(std::vector<uint8_t>(public_key.begin(), public_key.end()),
            FromHex(v.at("key").at("public_hex").get<std::string>()));
  const auto signature = SignEd25519(*base, secret);
  sodium_memzero(secret.data(), secret.size());

  HttpMessage signed_request = request;
  ASSERT_TRUE(AttachSignature(signed_request, label, input, signature).ok());
  EXPECT_EQ(signed_request.FieldValues("signature-input").at(0), input_field);
  EXPECT_EQ(signed_request.FieldValues("signature").at(0), v.at("signature").get<std::string>());

  // And the published signature verifies; a tampered request does not.
  HttpMessage published = request;
  published.headers.emplace_back("Signature-Input", input_field);
  published.headers.emplace_back("Signature", v.at("signature").get<std::string>());
  auto entry = FindSignature(published, label);
  ASSERT_TRUE(entry.ok()) << entry.error().message;
  auto verify_base = SignatureBase(entry->input, published, nullptr);
  ASSERT_TRUE(verify_base.ok());
  EXPECT_TRUE(VerifyEd25519(*verify_base, entry->signature, public_key));

  published.method = "PUT";
  auto tampered = SignatureBase(entry->input, published, nullptr);
  ASSERT_TRUE(tampered.ok());
  EXPECT_FALSE(VerifyEd25519(*tampered, entry->signature, public_key));
}

sf::Item C(std::string name, sf::Parameters params = {}) {
  return sf::Item{std::move(name), std::move(params)};
}

std::string Value(const sf::Item& c, const HttpMessage& m, const HttpMessage* req = nullptr) {
  auto v = ComponentValue(c, m, req);
  EXPECT_TRUE(v.ok()) << (v.ok() ? "" : v.error().message);
  return v.ok() ? *v : "<error>";
}

// Examples from RFC 9421 section 2.2.
TEST(HttpSignatureComponents, DerivedComponentsMatchRfcExamples) {
  HttpMessage m;
  m.method = "POST";
  m.target_uri = "https://www.example.com/path?param=value";
  EXPECT_EQ(Value(C("@method"), m), "POST");
  EXPECT_EQ(Value(C("@target-uri"), m), "https://www.example.com/path?param=value");
  EXPECT_EQ(Value(C("@authority"), m), "www.example.com");
  EXPECT_EQ(Value(C("@scheme"), m), "https");
  EXPECT_EQ(Value(C("@request-target"), m), "/path?param=value");
  EXPECT_EQ(Value(C("@path"), m), "/path");
  EXPECT_EQ(Value(C("@query"), m), "?param=value");

  m.target_uri = "HTTP://WWW.Example.com:8080/";
  EXPECT_EQ(Value(C("@authority"), m), "www.example.com:8080");
  EXPECT_EQ(Value(C("@scheme"), m), "http");
  EXPECT_EQ(Value(C("@query"), m), "?");
  m.target_uri = "https://example.com:443";
  EXPECT_EQ(Value(C("@authority"), m), "example.com");
  EXPECT_EQ(Value(C("@path"), m), "/");

  m.target_uri =
      "https://example.com/path?var=this%20is%20a%20big%0Avalue&bar=with+plus+whitespace"
      "&fa%C3%A7ade%22%3A%20=something&qux=";
  EXPECT_EQ(Value(C("@query-param", {{"name", std::string("var")}}), m),
            "this%20is%20a%20big%0Avalue");
  EXPECT_EQ(Value(C("@query-param", {{"name", std::string("bar")}}), m),
            "with%20plus%20whitespace");
  EXPECT_EQ(Value(C("@query-param", {{"name", std::string("fa%C3%A7ade%22%3A%20")}}), m),
            "something");
  EXPECT_EQ(Value(C("@query-param", {{"name", std::string("qux")}}), m), "");
  auto missing = ComponentValue(C("@query-param", {{"name", std::string("nope")}}), m, nullptr);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().reason, "component_missing");

  HttpMessage response;
  response.status = 200;
  EXPECT_EQ(Value(C("@status"), response), "200");
  EXPECT_FALSE(ComponentValue(C("@status"), m, nullptr).ok());
  EXPECT_FALSE(ComponentValue(C("@method"), response, nullptr).ok());
  EXPECT_EQ(Value(C("@method", {{"req", true}}), response, &m), "POST");
  EXPECT_EQ(ComponentValue(C("@unknown"), m, nullptr).error().reason, "unsupported_component");
}

// Examples from RFC 9421 section 2.1.
TEST(HttpSignatureComponents, HeaderFieldsMatchRfcExamples) {
  HttpMessage m;
  m.method = "GET";
  m.target_uri = "https://www.example.com/";
  m.headers = {{"X-OWS-Header", "   Leading and trailing whitespace.   "},
               {"Cache-Control", "max-age=60"},
               {"Cache-Control", "   must-revalidate"},
               {"Example-Dict", " a=1,    b=2;x=1;y=2,   c=(a   b   c)"},
               {"Example-Header", "value, with, lots"},
               {"Example-Header", "of, commas"}};
  EXPECT_EQ(Value(C("x-ows-header"), m), "Leading and trailing whitespace.");
  EXPECT_EQ(Value(C("cache-control"), m), "max-age=60, must-revalidate");
  EXPECT_EQ(Value(C("example-dict"), m), "a=1,    b=2;x=1;y=2,   c=(a   b   c)");
  EXPECT_EQ(Value(C("example-dict", {{"sf", true}}), m), "a=1, b=2;x=1;y=2, c=(a b c)");
  EXPECT_EQ(Value(C("example-header", {{"bs", true}}), m),
            ":dmFsdWUsIHdpdGgsIGxvdHM=:, :b2YsIGNvbW1hcw==:");

  m.SetField("Example-Dict", "a=1, b=2;x=1;y=2, c=(a b c), d");
  EXPECT_EQ(Value(C("example-dict", {{"key", std::string("a")}}), m), "1");
  EXPECT_EQ(Value(C("example-dict", {{"key", std::string("d")}}), m), "?1");
  EXPECT_EQ(Value(C("example-dict", {{"key", std::string("b")}}), m), "2;x=1;y=2");
  EXPECT_EQ(Value(C("example-dict", {{"key", std::string("c")}}), m), "(a b c)");
  EXPECT_EQ(
      ComponentValue(C("example-dict", {{"key", std::string("zz")}}), m, nullptr).error().reason,
      "component_missing");
  EXPECT_EQ(ComponentValue(C("absent"), m, nullptr).error().reason, "component_missing");
  EXPECT_EQ(ComponentValue(C("Cache-Control"), m, nullptr).error().reason, "malformed_signature");
  EXPECT_EQ(ComponentValue(C("cache-control", {{"sf", true}}), m, nullptr).error().reason,
            "unsupported_component");
}

TEST(HttpSignature, BaseRejectsDuplicatesAndLineBreaks) {
  HttpMessage m;
  m.method = "GET";
  m.target_uri = "https://a.example/";
  m.headers = {{"X-Evil", "a\nb"}};
  sf::InnerList dup{{C("@method"), C("@method")}, {}};
  EXPECT_EQ(SignatureBase(dup, m, nullptr).error().reason, "malformed_signature");
  sf::InnerList evil{{C("x-evil")}, {}};
  EXPECT_EQ(SignatureBase(evil, m, nullptr).error().reason, "malformed_signature");
}

TEST(HttpSignature, FindSignatureReportsMissingAndMalformed) {
  HttpMessage m;
  m.method = "GET";
  m.target_uri = "https://a.example/";
  EXPECT_EQ(FindSignature(m, "kith").error().reason, "missing_signature");
  m.headers = {{"Signature-Input", "kith=(\"@method\");created=1"}, {"Signature", "kith=:AAAA:"}};
  EXPECT_TRUE(FindSignature(m, "kith").ok());
  EXPECT_EQ(FindSignature(m, "other").error().reason, "missing_signature");
  m.headers = {{"Signature-Input", "kith=(\"@method\""}, {"Signature", "kith=:AAAA:"}};
  EXPECT_EQ(FindSignature(m, "kith").error().reason, "malformed_signature");
  m.headers = {{"Signature-Input", "kith=\"@method\""}, {"Signature", "kith=:AAAA:"}};
  EXPECT_EQ(FindSignature(m, "kith").error().reason, "malformed_signature");
  m.headers = {{"Signature-Input", "kith=(@method)"}, {"Signature", "kith=:AAAA:"}};
  EXPECT_EQ(FindSignature(m, "kith").error().reason, "malformed_signature");
  m.headers = {{"Signature-Input", "kith=(\"@method\")"}, {"Signature", "kith=abc"}};
  EXPECT_EQ(FindSignature(m, "kith").error().reason, "malformed_signature");
}

TEST(HttpSignature, AttachKeepsOtherLabels) {
  HttpMessage m;
  m.method = "GET";
  m.target_uri = "https://a.example/";
  m.headers = {{"Signature-Input", "other=(\"@method\")"}, {"Signature", "other=:AAAA:"}};
  std::array<uint8_t, 2> sig{1, 2};
  ASSERT_TRUE(AttachSignature(m, "kith", sf::InnerList{{C("@method")}, {}}, sig).ok());
  EXPECT_EQ(m.FieldValues("signature-input").at(0), "other=(\"@method\"), kith=(\"@method\")");
  EXPECT_EQ(m.FieldValues("signature").at(0), "other=:AAAA:, kith=:AQI=:");
  EXPECT_FALSE(AttachSignature(m, "Bad", sf::InnerList{}, sig).ok());
}

}  // namespace
}  // namespace kith::federation
