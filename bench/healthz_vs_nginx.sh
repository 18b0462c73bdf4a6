#!/usr/bin/env bash
# /healthz on kithd (1 I/O thread) against nginx (1 worker) serving a 100-byte static file,
# both on loopback, both measured with the same wrk run shape in the same invocation:
#
#   wrk -t2 -c50 -d10s (keep-alive)
#
# Prints both request rates and kithd/nginx; the target is kithd >= 0.6 x nginx.
# Exit status: 0 when the target is met, 1 when it is not, 2 when something could not start.
#   bench/healthz_vs_nginx.sh            # uses ./build (KITH_BUILD_DIR to change)
#   DURATION=30s bench/healthz_vs_nginx.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KITH_BUILD_DIR:-$root/build}"
duration="${DURATION:-10s}"
for tool in wrk nginx curl; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || {
    echo "missing $tool: run scripts/setup" >&2
    exit 2
  }
done
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
[ -x "$build/bin/kithd" ] && [ -x "$build/bin/kithctl" ] || {
  echo "build kithd and kithctl first (cmake --build $build --target kithd kithctl)" >&2
  exit 2
}

work="$(mktemp -d "${TMPDIR:-/tmp}/kith-bench-XXXXXX")"
kithd_pid=""
nginx_pid=""
cleanup() {
  [ -n "$kithd_pid" ] && kill -TERM "$kithd_pid" 2>/dev/null && wait "$kithd_pid" 2>/dev/null
  [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
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
rate() { awk '/^Requests\/sec:/ {print $2}'; }

# kithd, one I/O thread, access log off (nginx's is off too).
kport="$(free_port)"
"$build/bin/kithctl" init --data-dir "$work/node" --base-url "http://127.0.0.1:$kport" \
  --name "Bench" --organisation "Bench" --port "$kport" >/dev/null
KITH_HTTP_IO_THREADS=1 KITH_LOG_ACCESS_LOG=false KITH_LOG_LEVEL=warn \
  "$build/bin/kithd" --config "$work/node/kith.toml" >"$work/kithd.log" 2>&1 &
kithd_pid=$!
wait_http "http://127.0.0.1:$kport/healthz" 20 || { echo "kithd did not start:"; cat "$work/kithd.log"; exit 2; } >&2

# nginx, one worker, in the foreground, everything under $work.
nport="$(free_port)"
mkdir -p "$work/nginx/html"
head -c 100 /dev/zero | tr '\0' 'k' >"$work/nginx/html/healthz"
# Run as root, nginx's worker would switch to "nobody", who cannot read the private $work.
user_line=""
[ "$(id -u)" -eq 0 ] && user_line="user root;"
cat >"$work/nginx/nginx.conf" <<CONF
$user_line
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/tmp;
  proxy_temp_path $work/nginx/tmp;
  fastcgi_temp_path $work/nginx/tmp;
  uwsgi_temp_path $work/nginx/tmp;
  scgi_temp_path $work/nginx/tmp;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$nport;
    root $work/nginx/html;
    default_type text/plain;
  }
}
CONF
mkdir -p "$work/nginx/tmp"
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" \
  >"$work/nginx/stdout.log" 2>&1 &
nginx_pid=$!
wait_http "http://127.0.0.1:$nport/healthz" 10 || { echo "nginx did not start:"; cat "$work/nginx/"*.log; exit 2; } >&2

echo "wrk -t2 -c50 -d$duration against each (keep-alive), kithd first"
kithd_rps="$(timeout 120 wrk -t2 -c50 -d"$duration" "http://127.0.0.1:$kport/healthz" | tee "$work/wrk-kithd.txt" | rate)"
nginx_rps="$(timeout 120 wrk -t2 -c50 -d"$duration" "http://127.0.0.1:$nport/healthz" | tee "$work/wrk-nginx.txt" | rate)"
[ -n "$kithd_rps" ] && [ -n "$nginx_rps" ] || { echo "wrk produced no figures" >&2; cat "$work"/wrk-*.txt >&2; exit 2; }

ratio="$(awk -v k="$kithd_rps" -v n="$nginx_rps" 'BEGIN { printf "%.2f", k / n }')"
printf '\nkithd  /healthz (1 I/O thread): %12.0f req/s\n' "$kithd_rps"
printf 'nginx  static 100 B (1 worker): %12.0f req/s\n' "$nginx_rps"
printf 'ratio kithd/nginx:               %12s   (target >= 0.60)\n' "$ratio"
grep -E 'Socket errors|Non-2xx' "$work"/wrk-*.txt || true
awk -v r="$ratio" 'BEGIN { exit !(r >= 0.6) }'
