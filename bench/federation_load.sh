#!/usr/bin/env bash
# The signed federation no-op under load (issue 3): two kithd nodes A and B on loopback, peered
# through kithctl; bench_federation_load sends B signed GET /federation/v1/ping requests as A
# (pre-signed with A's node key, each with its own nonce) over keep-alive connections, and B
# answers each with a signed response. In the same invocation, against the same kithd B, the
# same client measures GET /healthz. Prints both rates, the ratio ping/healthz and p50/p99.
#
#   bench/federation_load.sh                       # uses ./build (KITH_BUILD_DIR to change)
#   DURATION=20 CONNECTIONS=64 bench/federation_load.sh
#   IO_THREADS=2 ROUNDS=3 bench/federation_load.sh # B's I/O threads; alternate the runs
#
# Environment: DURATION (seconds per run, default 10), CONNECTIONS (default 50), IO_THREADS
# (kithd B's http.io_threads, default 0 = one per core), CLIENT_THREADS (default 1), ROUNDS
# (healthz+ping pairs, default 1), TARGET (ping req/s, default 10000).
# Exit status: 0 when the best signed-ping rate meets TARGET, 1 when not, 2 when something
# could not start.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KITH_BUILD_DIR:-$root/build}"
duration="${DURATION:-10}"
connections="${CONNECTIONS:-50}"
io_threads="${IO_THREADS:-0}"
client_threads="${CLIENT_THREADS:-1}"
rounds="${ROUNDS:-1}"
target="${TARGET:-10000}"
for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
for bin in kithd kithctl bench_federation_load; do
  [ -x "$build/bin/$bin" ] || {
    echo "build it first: cmake --build $build --target kithd kithctl bench_federation_load" >&2
    exit 2
  }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/kith-fedload-XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_http() {  # url, seconds
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null --max-time 1 "$1"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
start_node() {  # name, port, io_threads
  "$build/bin/kithctl" init --data-dir "$work/$1" --base-url "http://127.0.0.1:$2" \
    --name "$1" --organisation "$1 Council" --port "$2" >/dev/null
  env -u KITH_DATA_DIR -u KITH_HTTP_PORT KITH_HTTP_IO_THREADS="$3" KITH_LOG_ACCESS_LOG=false \
    KITH_LOG_LEVEL=warn KITH_FEDERATION_ALLOW_PRIVATE_ADDRESSES=true \
    "$build/bin/kithd" --config "$work/$1/kith.toml" >"$work/$1.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$2/healthz" 30 || { echo "kithd $1 did not start:"; cat "$work/$1.log"; exit 2; } >&2
}
ctl() { "$build/bin/kithctl" "$@"; }

aport="$(free_port)"
bport="$(free_port)"
start_node A "$aport" 1
start_node B "$bport" "$io_threads"
a="http://127.0.0.1:$aport"
b="http://127.0.0.1:$bport"
ctl peer add "$b" --yes --data-dir "$work/A" >/dev/null
ctl peer approve "$a" --data-dir "$work/B" >/dev/null
ctl peer ping "$b" --data-dir "$work/A" >/dev/null || { echo "A cannot ping B" >&2; exit 2; }
kid="$(ctl keys list --json --data-dir "$work/A" |
  python3 -c 'import json,sys; print([k["kid"] for k in json.load(sys.stdin)["node"] if k["status"] == "current"][0])')"

# Enough distinct signed requests for warm-up + run at up to 25,000/s (each ~0.5 KB).
pool=$(( (duration + 2) * 25000 ))
load() {  # extra args...
  timeout $((duration + 240)) "$build/bin/bench_federation_load" --port "$bport" \
    --connections "$connections" --threads "$client_threads" --duration "$duration" "$@"
}
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['$2'])" "$1"; }

echo "B: kithd http.io_threads=$io_threads; client: $connections keep-alive connections," \
  "$client_threads thread(s), ${duration}s per run, $(nproc) cores on this machine"
best_ping=0
best_health=0
for round in $(seq 1 "$rounds"); do
  health="$(load --path /healthz)"
  ping="$(load --path /federation/v1/ping --base-url "$b" --key-file "$work/A/keys/$kid.key" \
    --kid "$kid" --pool "$pool")"
  h_rps="$(field "$health" requests_per_second)"
  p_rps="$(field "$ping" requests_per_second)"
  printf 'round %d  /healthz           %8d req/s  p50 %5d us  p99 %6d us  non-2xx %s\n' \
    "$round" "$h_rps" "$(field "$health" p50_us)" "$(field "$health" p99_us)" \
    "$(field "$health" non_2xx)"
  printf 'round %d  signed ping (GET)  %8d req/s  p50 %5d us  p99 %6d us  non-2xx %s unsigned %s\n' \
    "$round" "$p_rps" "$(field "$ping" p50_us)" "$(field "$ping" p99_us)" \
    "$(field "$ping" non_2xx)" "$(field "$ping" unsigned)"
  if [ "$p_rps" -gt "$best_ping" ]; then
    best_ping="$p_rps"
    best_health="$h_rps"
  fi
done
ratio="$(python3 -c "print(f'{$best_ping / max($best_health, 1):.2f}')")"
printf '\nbest signed ping: %d req/s; /healthz in the same round: %d req/s; ratio %s (target >= %d req/s)\n' \
  "$best_ping" "$best_health" "$ratio" "$target"
[ "$best_ping" -ge "$target" ]
