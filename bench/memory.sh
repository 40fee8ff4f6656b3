#!/usr/bin/env bash
# Sightline's resident memory at start and with N idle keep-alive connections (each with one
# request answered), `proxy --workers 1` in front of an nginx upstream answering `ok\n`, and
# where the anonymous memory at start comes from (the largest anonymous mappings).
# All traffic stays on 127.0.0.1; the connection holder is bounded by N and by `timeout`.
#
#   bash bench/memory.sh
#   N=2000 SIGHTLINE_BIN=/path/to/sightline bash bench/memory.sh
#   HTTP1=hyper bash bench/memory.sh   # hyper's HTTP/1.1 server instead of the native one
#   UPSTREAM_HTTP1=hyper bash bench/memory.sh   # hyper's HTTP/1.1 upstream client instead of the native one
#   LOAD=5 bash bench/memory.sh   # first LOAD s of wrk -c50 and LOAD s of h2load 10x10, as bench/run.sh's
#                                 # idle cell comes after its load rounds (needs wrk and h2load)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-5000}
LOAD=${LOAD:-0}
need=(nginx curl python3)
[ "$LOAD" = 0 ] || need+=(wrk h2load)
for b in "${need[@]}"; do
  command -v "$b" >/dev/null || { echo "needs $b" >&2; exit 1; }
done
BIN=${SIGHTLINE_BIN:-${CARGO_TARGET_DIR:-target}/release/sightline}
[ -n "${SIGHTLINE_BIN:-}" ] || cargo build --release -q -p sightline --bin sightline
work=$(mktemp -d /tmp/sightline-memory.XXXX)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
UP=127.0.0.1:18401 PX=127.0.0.1:18402 ADMIN=127.0.0.1:18403
cat > "$work/upstream.conf" <<NGX
worker_processes 1;
daemon off;
pid $work/upstream.pid;
error_log $work/upstream-error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  server { listen $UP backlog=4096; keepalive_requests 1000000; location = / { return 200 "ok\n"; } }
}
NGX
nginx -c "$work/upstream.conf" & pids+=($!)
"$BIN" --log warn proxy --workers 1${HTTP1:+ --http1 $HTTP1}${UPSTREAM_HTTP1:+ --upstream-http1 $UPSTREAM_HTTP1} --listen "$PX" --to "$UP" --admin "$ADMIN" --no-access-log \
  > "$work/sightline.log" 2>&1 & px=$!; pids+=($px)
for _ in $(seq 100); do curl -fsS -o /dev/null "http://$PX/" 2>/dev/null && break; sleep 0.1; done
sleep 1
kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
echo "at start: RSS $(kib $px VmRSS) KiB (anonymous $(kib $px RssAnon), file $(kib $px RssFile))"
echo "largest anonymous mappings at start (KiB resident):"
awk '/^[0-9a-f]+-/ {name = $6} /^Rss:/ && name == "" && $2 > 256 {print "  " $2}' "/proc/$px/smaps" | sort -rn | head -5
if [ "$LOAD" != 0 ]; then
  timeout $((LOAD + 20)) wrk -t1 -c50 -d"${LOAD}s" "http://$PX/" | awk '/requests in/ {print "load: wrk -c50, " $1 " requests"}'
  timeout $((LOAD + 20)) h2load -t1 -c10 -m10 -D "$LOAD" "http://$PX/" | awk '/^requests:/ {print "load: h2load 10x10, " $6 " requests succeeded"}'
  sleep 1
  echo "after the load: RSS $(kib $px VmRSS) KiB (anonymous $(kib $px RssAnon))"
fi
timeout 120 python3 bench/idle_conns.py "$PX" "$N" "$work/ready" & holder=$!; pids+=($holder)
for _ in $(seq 900); do [ -f "$work/ready" ] && break; sleep 0.1; done
sleep 2
read -r opened answered < "$work/ready"
echo "with $opened idle connections ($answered answered): RSS $(kib $px VmRSS) KiB (anonymous $(kib $px RssAnon))"
