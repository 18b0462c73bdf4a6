// Fuzzes kith-profile verification with arbitrary Signature-Input, Signature and
// Content-Digest fields (and body): the input is split on NUL bytes into those four parts.
// Verification must fail or succeed cleanly; it can only succeed with a real signature.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "federation/content_digest.h"
#include "federation/signature_profile.h"

namespace fed = kith::federation;

namespace {

class OneKeyResolver final : public fed::KeyResolver {
 public:
  std::optional<fed::ResolvedKey> Resolve(std::string_view kid) const override {
    if (kid != "k") return std::nullopt;
    fed::ResolvedKey key;
    key.public_key.fill(0x26);
    key.node_id = "a.example";
    key.peer_active = true;
    return key;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16 * 1024) return 0;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  while (parts.size() < 3) {
    size_t nul = input.find('\0');
    if (nul == std::string_view::npos) break;
    parts.push_back(input.substr(0, nul));
    input.remove_prefix(nul + 1);
  }
  parts.push_back(input);
  while (parts.size() < 4) parts.emplace_back();

  static kith::FakeClock clock(1'700'000'000);
  static OneKeyResolver resolver;
  static fed::ReplayCache cache(1024);
  static fed::KithVerifier verifier(resolver, cache, clock);

  fed::HttpMessage request;
  request.method = "POST";
  request.target_uri = "https://b.example/federation/v1/x?a=b";
  request.headers = {{"Content-Type", "application/json"},
                     {"Signature-Input", std::string(parts[0])},
                     {"Signature", std::string(parts[1])},
                     {"Content-Digest", std::string(parts[2])}};
  (void)verifier.VerifyRequest(request, parts[3]);
  (void)fed::VerifyContentDigest(parts[2], parts[3]);

  fed::HttpMessage response;
  response.status = 200;
  response.headers = request.headers;
  (void)verifier.VerifyResponse(response, request, parts[3]);

  // The generic core on its own, with every component the input names.
  auto entry = fed::FindSignature(request, "kith");
  if (entry.ok()) (void)fed::SignatureBase(entry->input, request, nullptr);
  return 0;
}
