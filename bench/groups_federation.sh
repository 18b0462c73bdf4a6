#!/usr/bin/env bash
# Federated groups under load (issue 5, "Figures"), with real kithd processes on loopback and
# bench_groups_load (bench/groups_load_bench.cc) as the client:
#
#  1. owner accepting posts from another node's members, durable end to end: A owns a public
#     group; B's members post replies through B's /api/v1 (B → signed command → A appends and
#     commits → answers → B answers 201). Counts 201 answers per second over DURATION seconds.
#  2. catch-up after downtime: B is SIGKILLed, CATCHUP_EVENTS posts happen on A, B restarts;
#     the time from B's restart until B's head equals A's (events/s, includes kithd start-up).
#  3. fan-out: NODES-1 more nodes each with one member in the group (NODES kithd in all); one
#     post at a time on A (POSTS posts), each mirror polled until it has applied the post;
#     p50/p99/max of the time until the post is applied on ALL mirrors.
#
#   bench/groups_federation.sh                 # uses ./build (KITH_BUILD_DIR to change)
#   NODES=20 POSTS=200 DURATION=10 CONNECTIONS=32 MEMBERS=32 CATCHUP_EVENTS=10000 bench/groups_federation.sh
#   PHASES="posts catchup" bench/groups_federation.sh
#
# Targets (issue 5): posts ≥ 2,000/s; catch-up ≥ 10,000 events/s; fan-out p99 ≤ 1,000 ms.
# Exit status: 0 when every phase run meets its target, 1 when one does not, 2 when something
# could not start. Everything is bounded (each client call has a deadline; waits time out).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KITH_BUILD_DIR:-$root/build}"
nodes="${NODES:-20}"
posts="${POSTS:-200}"
duration="${DURATION:-10}"
connections="${CONNECTIONS:-32}"
# B's members posting (the commands of one member reach the owner in order, one at a time; of
# different members, in parallel): by default one member per connection.
members="${MEMBERS:-$connections}"
catchup_events="${CATCHUP_EVENTS:-10000}"
phases="${PHASES:-posts catchup fanout}"
for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
for bin in kithd kithctl bench_groups_load; do
  [ -x "$build/bin/$bin" ] || {
    echo "build it first: cmake --build $build --target kithd kithctl bench_groups_load" >&2
    exit 2
  }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/kith-groupsfed-XXXXXX")"
declare -A pid port
cleanup() {
  for p in "${pid[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pid[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_http() {  # url, seconds
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
launch() {  # name
  env -u KITH_DATA_DIR -u KITH_HTTP_PORT KITH_LOG_ACCESS_LOG=false KITH_LOG_LEVEL=warn \
    KITH_FEDERATION_ALLOW_PRIVATE_ADDRESSES=true KITH_IDENTITY_PASSWORD_COST=minimum \
    KITH_FEDERATION_MIN_BACKOFF_MS=100 KITH_FEDERATION_MAX_BACKOFF_SECONDS=2 \
    "$build/bin/kithd" --config "$work/$1/kith.toml" >>"$work/$1.log" 2>&1 &
  pid[$1]=$!
  wait_http "http://127.0.0.1:${port[$1]}/healthz" 30 ||
    { echo "kithd $1 did not start:"; tail -50 "$work/$1.log"; exit 2; } >&2
}
start_node() {  # name
  port[$1]="$(free_port)"
  "$build/bin/kithctl" init --data-dir "$work/$1" --base-url "http://127.0.0.1:${port[$1]}" \
    --name "$1" --organisation "$1 Council" --port "${port[$1]}" >/dev/null
  launch "$1"
}
ctl() { "$build/bin/kithctl" "$@"; }
peer() {  # a, b
  ctl peer add "http://127.0.0.1:${port[$2]}" --yes --data-dir "$work/$1" >/dev/null
  ctl peer approve "http://127.0.0.1:${port[$1]}" --data-dir "$work/$2" >/dev/null
}
# Adds member HANDLE on node NAME, signs in, prints PORT:SESSION:CSRF.
member() {  # name, handle
  local password
  password="$(ctl member add "$2" --email "$2@example.org" --name "$2" --json --data-dir "$work/$1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])')"
  python3 - "${port[$1]}" "$2" "$password" <<'EOF'
import http.client, re, sys, urllib.parse
port, handle, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def req(method, path, body=None, headers={}):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body, headers)
    r = c.getresponse()
    return r, r.read().decode("utf-8", "replace")
def cookie(r, name):
    for k, v in r.getheaders():
        if k.lower() == "set-cookie" and v.startswith(name + "="):
            return v.split(";")[0].split("=", 1)[1]
    return ""
r, page = req("GET", "/sign-in")
pre = cookie(r, "kith_csrf")
token = re.search(r'name="csrf_token" value="([^"]*)"', page).group(1)
form = urllib.parse.urlencode({"username": handle, "password": password, "csrf_token": token})
r, _ = req("POST", "/sign-in", form, {"Content-Type": "application/x-www-form-urlencoded",
                                      "Cookie": "kith_csrf=" + pre})
session = cookie(r, "kith_session")
r, page = req("GET", "/account", None, {"Cookie": "kith_session=" + session})
csrf = re.search(r'name="csrf_token" value="([^"]*)"', page).group(1)
print(f"{port}:{session}:{csrf}")
EOF
}
# api CREDS METHOD PATH [JSON] → prints the response body; fails unless 2xx.
api() {
  python3 - "$@" <<'EOF'
import http.client, sys
port, session, csrf = sys.argv[1].split(":", 2)
method, path = sys.argv[2], sys.argv[3]
body = sys.argv[4] if len(sys.argv) > 4 else None
c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
h = {"Cookie": "kith_session=" + session, "X-CSRF-Token": csrf}
if body is not None:
    h["Content-Type"] = "application/json"
c.request(method, path, body, h)
r = c.getresponse()
text = r.read().decode()
print(text)
sys.exit(0 if 200 <= r.status < 300 else 1)
EOF
}
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
head_of() { api "$1" GET "/api/v1/groups/$group" | json_field '["head"]'; }

status=0
start_node A
start_node B
peer A B
alice="$(member A alice)"
api "$alice" POST /api/v1/groups \
  '{"slug":"load","name":"Load","description":"","tags":[],"visibility":"public","join_policy":"open"}' >/dev/null
group="load@127.0.0.1:${port[A]}"
bclients=()
for i in $(seq 1 "$members"); do
  c="$(member B "b$i")"
  api "$c" POST "/api/v1/groups/$group/join" >/dev/null
  bclients+=(--client "$c")
done
thread="$(api "$alice" POST "/api/v1/groups/$group/threads" '{"title":"Load","body":"go"}' |
  json_field '["seq"]')"
bob="${bclients[1]}"

if [[ " $phases " == *" posts "* ]]; then
  echo "== posts through B's API into A's group (${connections} connections, ${duration} s)" >&2
  before="$(head_of "$alice")"
  out="$("$build/bin/bench_groups_load" posts "${bclients[@]}" --group "$group" --thread "$thread" \
    --connections "$connections" --duration "$duration")"
  echo "$out"
  rate="$(echo "$out" | json_field '["accepted_per_s"]')"
  after="$(head_of "$alice")"
  echo "owner head moved by $((after - before))" >&2
  python3 -c "import sys; sys.exit(0 if $rate >= 2000 else 1)" || { echo "posts: below 2,000/s" >&2; status=1; }
fi

if [[ " $phases " == *" catchup "* ]]; then
  echo "== catch-up: B down for ${catchup_events} events" >&2
  target="$(head_of "$alice")"
  "$build/bin/bench_groups_load" wait-head --client "$bob" --group "$group" --head "$target" \
    --timeout 120 >/dev/null || { echo "B did not converge before the catch-up phase" >&2; exit 2; }
  kill -KILL "${pid[B]}"; wait "${pid[B]}" 2>/dev/null || true
  aclients=(--client "$alice")
  for i in 1 2 3; do
    c="$(member A "a$i")"; api "$c" POST "/api/v1/groups/$group/join" >/dev/null; aclients+=(--client "$c")
  done
  "$build/bin/bench_groups_load" posts "${aclients[@]}" --group "$group" --thread "$thread" \
    --connections 16 --count "$catchup_events" >/dev/null
  target="$(head_of "$alice")"
  launch B
  out="$("$build/bin/bench_groups_load" wait-head --client "$bob" --group "$group" --head "$target" --timeout 300)" ||
    { echo "catch-up: B did not reach $target" >&2; status=1; }
  echo "$out"
  secs="$(echo "$out" | json_field '["seconds"]')"
  applying="$(echo "$out" | json_field '["applying_seconds"]')"
  first="$(echo "$out" | json_field '["first_head"]')"
  rate="$(python3 -c "print(($target - $first) / max($applying, 1e-6))")"
  echo "catch-up: $((target - first)) events; $secs s from restart, $applying s applying = $rate events/s" >&2
  python3 -c "import sys; sys.exit(0 if $rate >= 10000 else 1)" || { echo "catch-up: below 10,000/s" >&2; status=1; }
fi

if [[ " $phases " == *" fanout "* ]]; then
  echo "== fan-out to $((nodes - 1)) mirrors, $posts posts" >&2
  mirrors=(--mirror "$bob")
  for i in $(seq 3 "$nodes"); do
    start_node "N$i"
    peer A "N$i"
    c="$(member "N$i" "m$i")"
    api "$c" POST "/api/v1/groups/$group/join" >/dev/null
    mirrors+=(--mirror "$c")
  done
  target="$(head_of "$alice")"
  for ((k = 1; k < ${#mirrors[@]}; k += 2)); do
    "$build/bin/bench_groups_load" wait-head --client "${mirrors[k]}" --group "$group" \
      --head "$target" --timeout 120 >/dev/null || { echo "a mirror never converged" >&2; exit 2; }
  done
  out="$("$build/bin/bench_groups_load" fanout --client "$alice" "${mirrors[@]}" --group "$group" \
    --thread "$thread" --posts "$posts")" || status=1
  echo "$out"
  p99="$(echo "$out" | json_field '["p99_ms"]')"
  [ "$p99" -le 1000 ] || { echo "fan-out: p99 $p99 ms over 1 s" >&2; status=1; }
fi
exit "$status"
