// Resolving and verifying OpenID Federation trust chains for a network of 1,000 members, on one
// node, against the raw Ed25519 verifications those chains need.
//
//   build/bench/bench_trust_chain --benchmark_min_time=2
//
// BM_Resolve1000Chains: a fresh TrustChainResolver per iteration (so the anchor's and the
// intermediate's configurations are fetched once per 1,000 chains) resolves and verifies 700
// chains leaf -> anchor and 300 chains leaf -> intermediate -> anchor from an in-memory fetcher
// (tests/support/statement_fixture.h): fetching, parsing, typ/iat/exp/entity-id checks, JWKS
// parsing, constraints, anchor fingerprint, and one Ed25519 verification per statement.
// BM_RawEd25519Verify3300: the 3,300 crypto_sign_verify_detached calls over the same signing
// inputs (700 x 3 + 300 x 4 statements). Both report items_per_second in chains per second.
// Target: 1,000 chains in under 1 s.
#include <benchmark/benchmark.h>
#include <sodium.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "federation/trust_chain.h"
#include "identity/jws.h"
#include "tests/support/statement_fixture.h"

namespace fed = kith::federation;

namespace {

constexpr int kDirect = 700;
constexpr int kViaIntermediate = 300;
constexpr int kChains = kDirect + kViaIntermediate;

const std::string kAnchor = "https://is.example/networks/uk";
const std::string kIntermediate = "https://scot.example/networks/scot";

struct RawSignature {
  std::string input;
  std::vector<uint8_t> signature;
  std::array<uint8_t, 32> key{};
};

struct Setup {
  Setup() : fed(clock) {
    if (sodium_init() < 0) std::abort();
    fed.AddNetwork(kAnchor);
    fed.AddNetwork(kIntermediate, {kAnchor});
    fed.Enrol(kAnchor, kIntermediate);
    for (int i = 0; i < kChains; ++i) {
      const bool direct = i < kDirect;
      const std::string id = "https://node-" + std::to_string(i) + ".example";
      const std::string& superior = direct ? kAnchor : kIntermediate;
      fed.AddLeaf(id, {superior});
      fed.Enrol(superior, id);
      leaves.push_back(id);
    }
    anchors = {fed.Anchor(kAnchor)};
    // The reference: every statement of every chain, verified once.
    fed::TrustChainResolver resolver(fed.fetcher(), anchors, clock);
    for (const auto& leaf : leaves) {
      auto chain = resolver.Resolve(leaf);
      if (!chain.ok()) {
        std::cerr << chain.error().message << "\n";
        std::abort();
      }
      for (const auto& compact : chain->statements) {
        auto jws = kith::identity::ParseJws(compact);
        auto parsed = fed::ParseEntityStatement(compact, clock);
        if (!jws.ok() || !parsed.ok()) std::abort();
        RawSignature raw{jws->signing_input, jws->signature, {}};
        // The signer: the next statement's jwks (or the anchor's own), found by kid.
        bool found = false;
        for (const auto& other : chain->statements) {
          auto p = fed::ParseEntityStatement(other, clock);
          for (const auto& k : p->statement.jwks)
            if (k.kid() == jws->kid && k.ed25519()) {
              raw.key = *k.ed25519();
              found = true;
            }
        }
        if (!found) std::abort();
        raw_signatures.push_back(std::move(raw));
      }
    }
    if (raw_signatures.size() != 3 * kDirect + 4 * kViaIntermediate) std::abort();
  }

  kith::FakeClock clock{1'700'000'000};
  kith::testing::FederationFixture fed;
  std::vector<std::string> leaves;
  std::vector<fed::TrustAnchor> anchors;
  std::vector<RawSignature> raw_signatures;
};

Setup& GetSetup() {
  static Setup setup;
  return setup;
}

void BM_Resolve1000Chains(benchmark::State& state) {
  Setup& s = GetSetup();
  uint64_t fetches = 0;
  for (auto _ : state) {
    fed::TrustChainResolver resolver(s.fed.fetcher(), s.anchors, s.clock);
    for (const auto& leaf : s.leaves) {
      auto chain = resolver.Resolve(leaf);
      if (!chain.ok()) state.SkipWithError(chain.error().message.c_str());
      benchmark::DoNotOptimize(chain);
    }
    fetches = resolver.fetches();
  }
  state.SetItemsProcessed(state.iterations() * kChains);
  state.counters["fetches_per_1000"] = static_cast<double>(fetches);
}
BENCHMARK(BM_Resolve1000Chains)->Unit(benchmark::kMillisecond);

void BM_RawEd25519Verify3300(benchmark::State& state) {
  Setup& s = GetSetup();
  for (auto _ : state) {
    for (const auto& raw : s.raw_signatures) {
      const int rc = crypto_sign_verify_detached(
          raw.signature.data(), reinterpret_cast<const unsigned char*>(raw.input.data()),
          raw.input.size(), raw.key.data());
      if (rc != 0) state.SkipWithError("signature does not verify");
      benchmark::DoNotOptimize(rc);
    }
  }
  state.SetItemsProcessed(state.iterations() * kChains);
  state.counters["verifications_per_1000"] = static_cast<double>(s.raw_signatures.size());
}
BENCHMARK(BM_RawEd25519Verify3300)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
