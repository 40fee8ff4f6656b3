#!/usr/bin/env bash
# Cost per request of Sightline and of nginx as a reverse proxy, measured the same way:
#
# - instructions per request: the proxy runs under callgrind; after WARMUP keep-alive requests
#   its counters are zeroed, then exactly REQUESTS keep-alive requests for `/` are sent by
#   `h2load --h1 -c 10` and the counters dumped; the dump's total over REQUESTS is the proxy's
#   user-space instructions per request (the client, the upstream and the kernel are not
#   counted; the proxy's background tasks during the run are).
# - heap allocations per request (with the C library's malloc, see below): the proxy runs
#   under valgrind's DHAT twice, once with the warm-up alone and once with the warm-up and
#   REQUESTS more; the difference in blocks (and bytes) allocated over REQUESTS is the
#   allocations per request, start-up excluded.
#
# Both proxies have one worker (Sightline `--workers 1`, default config: recording, analysis
# and metrics on, access log off; nginx `worker_processes 1`, `master_process off`, access log
# off) in front of the same upstream (nginx answering `ok\n`, not under valgrind). Prints a
# Markdown table and the top functions of Sightline's profile (inclusive and self).
# All traffic stays on 127.0.0.1; every load step is bounded by its request count and `timeout`.
#
#   bash bench/profile.sh
#   REQUESTS=50000 TOP=25 KEEP=/tmp/sightline.callgrind bash bench/profile.sh
#   HTTP1=hyper bash bench/profile.sh   # hyper's HTTP/1.1 server instead of the native one
#   UPSTREAM_HTTP1=hyper bash bench/profile.sh   # hyper's HTTP/1.1 upstream client instead of the native one
#   H2=1 bash bench/profile.sh   # HTTP/2 clients (h2c by prior knowledge, `h2load -c 10 -m 10`, as
#                                # bench/run.sh's HTTP/2 cell), haproxy (`nbthread 1`) and nginx as references
#   BODY=16k bash bench/profile.sh   # the requests ask for a 16 KiB body (`/16k`) instead of `ok\n`
#   ALLOCS=0 bash bench/profile.sh   # instructions only, without the DHAT runs
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-20000}
WARMUP=${WARMUP:-2000}
TOP=${TOP:-15}
H2=${H2:-}
# BODY=16k: every measured request is for the upstream's 16 KiB file, as the benchmark's 16 KiB
# cell; default `ok\n` at `/`.
case ${BODY:-} in
  "") path=/ ;;
  16k) path=/16k ;;
  *) echo "BODY is 16k or unset" >&2; exit 64 ;;
esac
need=(valgrind callgrind_control callgrind_annotate nginx h2load curl)
refs=(nginx)
if [ -n "$H2" ]; then need+=(haproxy); refs=(haproxy nginx); fi
for b in "${need[@]}"; do
  command -v "$b" >/dev/null || { echo "needs $b (apt-get install valgrind nginx-light nghttp2-client curl haproxy)" >&2; exit 1; }
done
# HTTP/1.1 keep-alive connections, or HTTP/2 connections with 10 streams in flight each.
if [ -n "$H2" ]; then
  load_flags=(-c 10 -m 10); curl_flags=(--http2-prior-knowledge); listen_h2=" http2"
  shape="HTTP/2 \`GET $path\`, one worker, $REQUESTS requests on 10 connections × 10 streams"
else
  load_flags=(--h1 -c 10); curl_flags=(); listen_h2=""
  shape="keep-alive \`GET $path\`, one worker, $REQUESTS requests at c=10"
fi
work=$(mktemp -d /tmp/sightline-profile.XXXX)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
head -c 16384 /dev/zero | tr '\0' 'x' > "$work/16k"
# DHAT sees the C library's malloc, not the jemalloc the binary allocates with by default: the
# allocation runs use a build without the `jemalloc` feature (same code, same allocations).
# SIGHTLINE_BIN measures a given build instead of building this checkout (and SIGHTLINE_DHAT_BIN
# the build whose allocations are counted; default SIGHTLINE_BIN).
BIN=${SIGHTLINE_BIN:-${CARGO_TARGET_DIR:-target}/release/sightline}
DHAT_BIN=${SIGHTLINE_DHAT_BIN:-${SIGHTLINE_BIN:-$work/sightline-malloc}}
if [ -z "${SIGHTLINE_BIN:-}" ]; then
  if [ -z "${SIGHTLINE_DHAT_BIN:-}" ]; then
    cargo build --release -q -p sightline --bin sightline --no-default-features
    cp "$BIN" "$DHAT_BIN"
  fi
  cargo build --release -q -p sightline --bin sightline
fi

UP=127.0.0.1:18201 PX=127.0.0.1:18202 ADMIN=127.0.0.1:18203
cat > "$work/upstream.conf" <<NGX
worker_processes 1;
daemon off;
pid $work/upstream.pid;
error_log $work/upstream-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen $UP; keepalive_requests 1000000;
    location = / { return 200 "ok\n"; }
    location = /16k { alias $work/16k; }
  }
}
NGX
cat > "$work/nginx.conf" <<NGX
worker_processes 1;
master_process off;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream backend { server $UP; keepalive 128; }
  server {
    listen $PX$listen_h2;
    keepalive_requests 1000000;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGX
# haproxy (HTTP/2 only): one thread, as bench/run.sh runs it (its HTTP/1.1 listener unused).
# shellcheck source=bench/haproxy.sh
source bench/haproxy.sh
haproxy_conf 1 127.0.0.1:18204 "$PX" "$UP" > "$work/haproxy.cfg"
nginx -c "$work/upstream.conf" & pids+=($!)

proxy_cmd() { # name [binary]
  case $1 in
    sightline) echo "${2:-$BIN} --log warn proxy --workers 1${HTTP1:+ --http1 $HTTP1}${UPSTREAM_HTTP1:+ --upstream-http1 $UPSTREAM_HTTP1} --listen $PX --to $UP --admin $ADMIN --no-access-log" ;;
    nginx) echo "nginx -c $work/nginx.conf" ;;
    haproxy) echo "haproxy -f $work/haproxy.cfg" ;;
  esac
}
wait_ready() { # pid
  for _ in $(seq 1200); do
    curl -fsS "${curl_flags[@]}" -o /dev/null "http://$PX/" 2>/dev/null && return 0
    kill -0 "$1" 2>/dev/null || { echo "the proxy under valgrind exited" >&2; return 1; }
    sleep 0.1
  done
  echo "the proxy under valgrind did not answer in 120 s" >&2
  return 1
}
load() { # requests
  local out
  out=$(timeout 900 h2load "${load_flags[@]}" -n "$1" "http://$PX$path")
  grep -q "^requests: $1 total, $1 started, $1 done, $1 succeeded" <<< "$out" || {
    echo "load did not complete: $(grep -E '^requests|^status' <<< "$out")" >&2
    return 1
  }
}
stop() { # pid
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 600); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}

declare -A ir alloc bytes
for name in sightline "${refs[@]}"; do
  # Instructions: one run, counters zeroed after the warm-up, dumped after the measured part.
  # shellcheck disable=SC2046
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.$name" $(proxy_cmd $name) > "$work/cg.$name.log" 2>&1 &
  pid=$!; pids+=($pid)
  wait_ready $pid
  load "$WARMUP"
  callgrind_control -z $pid > /dev/null
  load "$REQUESTS"
  callgrind_control -d $pid > /dev/null
  stop $pid
  total=$(awk '/^summary:/ {print $2}' "$work/cg.$name.1")
  ir[$name]=$((total / REQUESTS))
  [ "$name" = sightline ] && cp "$work/cg.$name.1" "$work/sightline.callgrind"
  # Allocations: two runs under DHAT, the difference of their totals.
  if [ "${ALLOCS:-1}" = 0 ]; then
    alloc[$name]=-; bytes[$name]=-
    echo "$name: ${ir[$name]} instructions per request" >&2
    continue
  fi
  for n in 0 "$REQUESTS"; do
    # shellcheck disable=SC2046
    valgrind --tool=dhat --dhat-out-file=/dev/null $(proxy_cmd $name "$DHAT_BIN") > "$work/dhat.$name.$n.log" 2>&1 &
    pid=$!; pids+=($pid)
    wait_ready $pid
    load "$WARMUP"
    [ "$n" -gt 0 ] && load "$n"
    stop $pid
  done
  read -r b0 k0 < <(awk '/Total:/ {gsub(",", ""); print $3, $6; exit}' "$work/dhat.$name.0.log")
  read -r b1 k1 < <(awk '/Total:/ {gsub(",", ""); print $3, $6; exit}' "$work/dhat.$name.$REQUESTS.log")
  alloc[$name]=$(python3 -c "print(f'{($k1 - $k0) / $REQUESTS:.1f}')")
  bytes[$name]=$(python3 -c "print(f'{($b1 - $b0) / $REQUESTS:,.0f}')")
  echo "$name: ${ir[$name]} instructions, ${alloc[$name]} allocations (${bytes[$name]} bytes) per request" >&2
done

ref=${refs[0]}
row() { # label array-name [ratio]
  local -n v=$2
  local line="| $1 |" n
  for n in sightline "${refs[@]}"; do line+=" ${v[$n]} |"; done
  echo "$line ${3:-} |"
}
declare -A irf
for n in sightline "${refs[@]}"; do irf[$n]=$(python3 -c "print(f'{${ir[$n]}:,}')"); done
hdr="| per request ($shape) | Sightline |"
for n in "${refs[@]}"; do hdr+=" $n |"; done
echo "$hdr Sightline / $ref |"
echo "|---|---|$(printf -- '---|%.0s' "${refs[@]}")---|"
row "instructions (callgrind, proxy process, user space)" irf "$(python3 -c "print(f'{${ir[sightline]}/${ir[$ref]}:.1f}')")"
if [ "${ALLOCS:-1}" != 0 ]; then
  row "heap allocations (DHAT blocks)" alloc "$(python3 -c "print(f'{${alloc[sightline]}/max(${alloc[$ref]},0.01):.1f}')")"
  row "heap bytes allocated (DHAT)" bytes
fi
echo
# Generic frames (thread start, the runtime's loop) include everything; list what is below them.
annotate() { # --inclusive=yes|no
  callgrind_annotate "$1" --threshold=100 "$work/sightline.callgrind" 2>/dev/null |
    awk -v req="$REQUESTS" -v top="$TOP" '
      /file:function/ { go = 1; next }
      go && /^ *[0-9,]+ +\( *[0-9.]+%\)/ {
        v = $0; sub(/^ */, "", v); sub(/ .*/, "", v); gsub(",", "", v)
        pct = $0; sub(/^[^(]*\( */, "", pct); sub(/%\).*/, "", pct)
        if (pct + 0 > 90) next
        sub(/^[^)]*\) +/, "")
        sub(/ \[[^]]*\]$/, "")
        sub(/^\?\?\?:/, "")
        if (length($0) > 110) $0 = substr($0, 1, 107) "..."
        printf "| %d | %s%% | `%s` |\n", v / req, pct, $0
        if (++n >= top) exit
      }'
}
echo "Sightline, top $TOP functions by inclusive instructions (frames above 90% — thread start, the runtime's loop — left out):"
echo
echo "| instructions / request | share | function |"
echo "|---|---|---|"
annotate --inclusive=yes || true
echo
echo "Sightline, top $TOP functions by self instructions:"
echo
echo "| instructions / request | share | function |"
echo "|---|---|---|"
annotate --inclusive=no || true
# KEEP=FILE keeps Sightline's callgrind dump for callgrind_annotate or kcachegrind.
if [ -n "${KEEP:-}" ]; then cp "$work/sightline.callgrind" "$KEEP"; fi
