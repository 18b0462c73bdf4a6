// Verify throughput of the kith signature profile against raw Ed25519.
//
//   bench_signature --benchmark_min_time=2
//
// BM_RawEd25519Verify: crypto_sign_verify_detached over a typical signature base.
// BM_KithVerifyRequest: full kith-profile verification of a signed POST with a JSON body —
// parse Signature-Input/Signature/Content-Digest, check the policy, build the base, Ed25519
// verify, sha-256 the body, record the nonce in the replay cache.
// The ratio of the two items_per_second figures is the overhead of the profile (target >= 0.8).
#include <benchmark/benchmark.h>
#include <sodium.h>

#include <map>
#include <string>
#include <vector>

#include "federation/signature_profile.h"

namespace fed = kith::federation;

namespace {

class Resolver final : public fed::KeyResolver {
 public:
  std::optional<fed::ResolvedKey> Resolve(std::string_view kid) const override {
    if (kid != "kid-a") return std::nullopt;
    return key;
  }
  fed::ResolvedKey key;
};

const std::string kBody =
    R"({"command_id":"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0","type":"post.create",)"
    R"("actor":"alice@council-a.example","thread":"t-1234","body":"Hello from council A"})";

struct Fixture {
  Fixture() : key(fed::Ed25519SecretKey::Generate()) {
    resolver.key = fed::ResolvedKey{key.public_key(), "a.example", true, "active", 0, {}};
    fed::KithSigner signer("kid-a", key.AsSignFunction(), clock);
    // Many distinct signed requests (distinct nonces), so replay checks do not fail.
    for (int i = 0; i < 4096; ++i) {
      fed::HttpMessage m;
      m.method = "POST";
      m.target_uri =
          "https://b.example/federation/v1/streams/group%3Aplanning%40a.example/commands";
      m.headers = {{"Host", "b.example"},
                   {"Content-Type", "application/json"},
                   {"Content-Length", std::to_string(kBody.size())}};
      if (!signer.SignRequest(m, kBody).ok()) std::abort();
      requests.push_back(std::move(m));
    }
  }
  kith::FakeClock clock{1'700'000'000};
  fed::Ed25519SecretKey key;
  Resolver resolver;
  std::vector<fed::HttpMessage> requests;
};

Fixture& GetFixture() {
  static Fixture f;
  return f;
}

void BM_RawEd25519Verify(benchmark::State& state) {
  Fixture& f = GetFixture();
  auto entry = fed::FindSignature(f.requests[0], "kith");
  auto base = fed::SignatureBase(entry->input, f.requests[0], nullptr);
  for (auto _ : state) {
    int rc =
        crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(entry->signature.data()),
                                    reinterpret_cast<const unsigned char*>(base->data()),
                                    base->size(), f.resolver.key.public_key.data());
    if (rc != 0) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(rc);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawEd25519Verify);

void BM_KithVerifyRequest(benchmark::State& state) {
  Fixture& f = GetFixture();
  size_t i = 0;
  auto cache = std::make_unique<fed::ReplayCache>(1 << 16);
  for (auto _ : state) {
    if (i == f.requests.size()) {
      // Every nonce was seen; start a fresh cache outside the timed region.
      state.PauseTiming();
      cache = std::make_unique<fed::ReplayCache>(1 << 16);
      i = 0;
      state.ResumeTiming();
    }
    fed::KithVerifier verifier(f.resolver, *cache, f.clock);
    auto r = verifier.VerifyRequest(f.requests[i++], kBody);
    if (!r.ok()) state.SkipWithError(r.error().message.c_str());
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KithVerifyRequest);

}  // namespace

BENCHMARK_MAIN();
