// kith_sign_tool: a test helper for interoperability checks (tests/interop/interop.mjs).
//
//   kith_sign_tool sign SEED_HEX
//       Prints one JSON object with a kith-signed POST request and a signed response to it,
//       made with the Ed25519 key derived from the 32-byte seed: {"keyid", "public_key_hex",
//       "request": {"method","url","headers":[[n,v]...],"body"}, "response": {...}}.
//   kith_sign_tool verify-request PUBLIC_KEY_HEX KEYID < message.json
//       Reads {"method","url","headers":[[n,v]...],"body"} and verifies it under the kith
//       profile with the system clock. Prints {"ok":true} or {"ok":false,"error":reason,
//       "message":...}; exit status 0 when valid, 1 when refused, 2 on usage errors.
#include <sodium.h>

#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "federation/signature_profile.h"

namespace fed = kith::federation;
using nlohmann::json;

namespace {

bool FromHex(const std::string& hex, std::span<uint8_t> out) {
  size_t len = 0;
  return sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &len, nullptr) ==
             0 &&
         len == out.size();
}

std::string ToHex(std::span<const uint8_t> bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
  out.pop_back();
  return out;
}

json Headers(const fed::HttpMessage& m) {
  json out = json::array();
  for (const auto& [n, v] : m.headers) out.push_back({n, v});
  return out;
}

class OneKey final : public fed::KeyResolver {
 public:
  std::optional<fed::ResolvedKey> Resolve(std::string_view kid) const override {
    if (kid != kid_) return std::nullopt;
    return key_;
  }
  std::string kid_;
  fed::ResolvedKey key_;
};

int Sign(const std::string& seed_hex) {
  std::array<uint8_t, 32> seed{};
  if (!FromHex(seed_hex, seed)) {
    std::cerr << "seed must be 64 hex digits\n";
    return 2;
  }
  fed::Ed25519SecretKey key(seed);
  sodium_memzero(seed.data(), seed.size());
  const std::string kid = "kith-interop-key";
  fed::KithSigner signer(kid, key.AsSignFunction(), kith::SystemClock::Instance());

  fed::HttpMessage request;
  request.method = "POST";
  request.target_uri =
      "https://b.example/federation/v1/streams/group%3Aplanning%40a.example/commands?x=1";
  request.headers = {{"Host", "b.example"}, {"Content-Type", "application/json"}};
  const std::string body = R"({"command_id":"c-1","type":"post.create","body":"hello"})";
  if (auto s = signer.SignRequest(request, body); !s.ok()) {
    std::cerr << s.error().message << "\n";
    return 1;
  }
  fed::HttpMessage response;
  response.status = 202;
  response.headers = {{"Content-Type", "application/json"}};
  const std::string response_body = R"({"seq":42})";
  if (auto s = signer.SignResponse(response, request, response_body); !s.ok()) {
    std::cerr << s.error().message << "\n";
    return 1;
  }
  json out = {
      {"keyid", kid},
      {"public_key_hex", ToHex(key.public_key())},
      {"request",
       {{"method", request.method},
        {"url", request.target_uri},
        {"headers", Headers(request)},
        {"body", body}}},
      {"response",
       {{"status", response.status}, {"headers", Headers(response)}, {"body", response_body}}}};
  std::cout << out.dump(2) << "\n";
  return 0;
}

int VerifyRequest(const std::string& public_hex, const std::string& kid) {
  OneKey resolver;
  resolver.kid_ = kid;
  resolver.key_.node_id = "npm-signer";
  resolver.key_.peer_active = true;
  if (!FromHex(public_hex, resolver.key_.public_key)) {
    std::cerr << "public key must be 64 hex digits\n";
    return 2;
  }
  const std::string text{std::istreambuf_iterator<char>(std::cin),
                         std::istreambuf_iterator<char>()};
  json in = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (in.is_discarded() || !in.is_object()) {
    std::cerr << "stdin must be a JSON object\n";
    return 2;
  }
  try {
    fed::HttpMessage request;
    request.method = in.at("method").get<std::string>();
    request.target_uri = in.at("url").get<std::string>();
    for (const auto& h : in.at("headers")) {
      request.headers.emplace_back(h.at(0).get<std::string>(), h.at(1).get<std::string>());
    }
    const std::string body = in.value("body", std::string());
    fed::ReplayCache cache;
    fed::KithVerifier verifier(resolver, cache, kith::SystemClock::Instance());
    auto r = verifier.VerifyRequest(request, body);
    if (!r.ok()) {
      std::cout << json{{"ok", false}, {"error", r.error().reason}, {"message", r.error().message}}
                << "\n";
      return 1;
    }
    std::cout << json{{"ok", true}, {"keyid", r->key_id}} << "\n";
    return 0;
  } catch (const json::exception& e) {
    std::cerr << "bad message JSON: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (sodium_init() < 0) return 2;
  const std::string command = argc > 1 ? argv[1] : "";
  if (command == "sign" && argc == 3) return Sign(argv[2]);
  if (command == "verify-request" && argc == 4) return VerifyRequest(argv[2], argv[3]);
  std::cerr << "usage: kith_sign_tool sign SEED_HEX\n"
               "       kith_sign_tool verify-request PUBLIC_KEY_HEX KEYID < message.json\n";
  return 2;
}
