#!/usr/bin/env bash
# The OpenID Connect figures of docs/benchmarks.md (issue 4):
#   1. the token endpoint's code-exchange rate (RS256 ID token signed) for kith and for npm
#      oidc-provider, beside OpenSSL's RSA-2048 signing rate on one core (token_bench.mjs);
#   2. /healthz latency while 50 members sign in at once at the default Argon2id cost
#      (signin_storm.mjs).
#
#   bench/oidc/run.sh [BUILD_DIR]       (default: build; needs BUILD_DIR/bin/kithd and kithctl,
#                                        wrk, openssl, node and the npm packages of scripts/setup)
#
# Environment: BENCH_SECONDS, BENCH_CONNECTIONS, BENCH_KITH_CODES (token_bench.mjs),
# STORM_SIGNINS (signin_storm.mjs). Run it on an otherwise idle machine: the figures compare
# processes sharing the same cores.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${1:-$root/build}"
bin="$(cd "$build/bin" && pwd)"

for tool in node wrk openssl; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing (scripts/setup)" >&2; exit 1; }
done
[ -d "$root/node_modules/oidc-provider" ] ||
  { echo "run.sh: npm packages missing: run scripts/setup" >&2; exit 1; }

echo "== token endpoint: kith vs oidc-provider, RSA-2048 sign rate"
node "$here/token_bench.mjs" "$bin"
echo
echo "== /healthz during a storm of sign-ins (Argon2id INTERACTIVE)"
node "$here/signin_storm.mjs" "$bin"
