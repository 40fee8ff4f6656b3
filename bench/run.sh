#!/usr/bin/env bash
# Inbound and egress benchmark, each proxy under test alone on one CPU with one worker.
#
# Layout (the default; needs 2 CPUs): every proxy under test is pinned to CPU 0 with one worker
# (nginx `worker_processes 1`, haproxy `nbthread 1`, Sightline `--workers 1`, squid `workers 1`);
# the load generator (wrk, h2load, the CONNECT client) and the upstream (nginx, 1 worker) are
# pinned to CPU 1. Only one proxy carries load at a time. Each run reads the proxy's own CPU time
# (utime + stime in /proc/PID/stat, summed over its processes) before and after, so the report
# gives requests per proxy CPU-second beside requests per second.
#
# A second table is the scaling comparison: nothing pinned, Sightline 2 workers, nginx 2
# workers, haproxy 2 threads, against a 2-worker upstream, the load generator on the same cores.
#
# Rounds are interleaved (every cell of every target once per round, order rotated) and medians
# are reported. Every run is bounded by time (SECONDS_PER, plus a hard `timeout`) and, where the
# tool allows, by a request budget. All traffic stays on 127.0.0.1.
#
#   bash bench/run.sh                 # 3 rounds of 5 s per cell, about 12 minutes
#   ROUNDS=5 SECONDS_PER=10 bash bench/run.sh
#   OUT=/tmp/bench.md bash bench/run.sh   # write the report elsewhere than docs/BENCHMARKS.md
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SECONDS_PER=${SECONDS_PER:-5}
IDLE_CONNS=${IDLE_CONNS:-5000}
OUT=${OUT:-docs/BENCHMARKS.md}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
need=(nginx haproxy wrk h2load squid taskset)
missing=()
for b in "${need[@]}"; do command -v "$b" >/dev/null || missing+=("$b"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing nginx, haproxy, wrk, h2load, squid"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light haproxy wrk nghttp2-client squid util-linux >/dev/null
fi
if [ "$(nproc --all)" -lt 2 ]; then
  echo "the pinned layout needs 2 CPUs" >&2
  exit 1
fi
# SIGHTLINE_BIN measures a given build instead of building this checkout.
BIN=${SIGHTLINE_BIN:-${CARGO_TARGET_DIR:-target}/release/sightline}
[ -n "${SIGHTLINE_BIN:-}" ] || cargo build --release -q -p sightline --bin sightline
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
HZ=$(getconf CLK_TCK)
work=$(mktemp -d /tmp/sightline-bench.XXXX)
# nginx's workers run unprivileged: they must be able to read the files they serve.
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
# Started through `taskset` (which execs), so $! is the process itself and cleanup reaches it.
on_proxy=(taskset -c "$PROXY_CPU")
on_load=(taskset -c "$LOAD_CPU")

# Ports: upstream (pinned) 18081 and h2 18091; pinned proxies 1808x (h2 1809x); egress 18094
# (squid), 18096 (Sightline); scaling: upstream 18111, proxies 1811x (h2 1812x).
UP=127.0.0.1:18081 UPH2=127.0.0.1:18091
NGX=127.0.0.1:18082 NGXH2=127.0.0.1:18092 HAP=127.0.0.1:18083 HAPH2=127.0.0.1:18093
SL=127.0.0.1:18084 SLADMIN=127.0.0.1:18085
SQUID=127.0.0.1:18094 EG=127.0.0.1:18096
# TLS upstream (nginx, pinned with the upstream) for Sightline's CONNECT vs inspected row.
UPTLS_PORT=18088
UP2=127.0.0.1:18111 NGX2=127.0.0.1:18112 HAP2=127.0.0.1:18113 SL2=127.0.0.1:18114 SL2ADMIN=127.0.0.1:18115
head -c 16384 /dev/zero | tr '\0' 'x' > "$work/16k"
head -c 1048576 /dev/zero > "$work/1m"

upstream_conf() { # workers listen h2-listen pid-name
  cat <<NGX
worker_processes $1;
daemon off;
pid $work/$4.pid;
error_log $work/$4-error.log warn;
events { worker_connections 20000; }
http {
  access_log off;
  server {
    listen $2 backlog=4096; listen $3 http2;
    # Tunnels and forward-proxy pools keep their connection for the whole round.
    keepalive_requests 1000000;
    location = / { return 200 "ok\n"; }
    location = /16k { alias $work/16k; }
    location = /1m { alias $work/1m; }
  }
}
NGX
}
proxy_conf() { # workers listen h2-listen upstream pid-name
  cat <<NGX
worker_processes $1;
daemon off;
pid $work/$5.pid;
error_log $work/$5-error.log warn;
events { worker_connections 20000; }
http {
  access_log off;
  upstream backend { server $4; keepalive 128; }
  server {
    listen $2 backlog=4096; listen $3 http2;
    keepalive_requests 1000000;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGX
}
# shellcheck source=bench/haproxy.sh
source bench/haproxy.sh
# The TLS upstream: one certificate for the tunnelled and the inspected name, from its own CA;
# Sightline's inspection CA is another one.
"$BIN" certs init --out "$work/tls-up" --name bench-tls.test --name bench-inspected.test >/dev/null
"$BIN" certs init --out "$work/tls-inspect" --name unused.test >/dev/null
cat > "$work/upstream-tls.conf" <<NGX
worker_processes 1;
daemon off;
pid $work/upstream-tls.pid;
error_log $work/upstream-tls-error.log warn;
events { worker_connections 2000; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$UPTLS_PORT ssl;
    ssl_certificate $work/tls-up/server.pem;
    ssl_certificate_key $work/tls-up/server-key.pem;
    keepalive_requests 1000000;
    location = / { return 200 "ok\n"; }
  }
}
NGX
upstream_conf 1 $UP $UPH2 upstream > "$work/upstream.conf"
upstream_conf 2 $UP2 127.0.0.1:18121 upstream2 > "$work/upstream2.conf"
proxy_conf 1 $NGX $NGXH2 $UP nginx > "$work/nginx.conf"
proxy_conf 2 $NGX2 127.0.0.1:18122 $UP2 nginx2 > "$work/nginx2.conf"
haproxy_conf 1 $HAP $HAPH2 $UP > "$work/haproxy.cfg"
haproxy_conf 2 $HAP2 127.0.0.1:18123 $UP2 > "$work/haproxy2.cfg"
# squid as the reference forward proxy (bench/squid.sh).
# shellcheck source=bench/squid.sh
source bench/squid.sh
squid_conf "$SQUID" "$work"
# Sightline's egress listener, from a config file (the proxy command has no egress side).
cat > "$work/egress.yaml" <<EGY
version: 1
admin: { listen: "127.0.0.1:18098" }
inbound:
  listen: "127.0.0.1:18097"
  routes: [ { path_prefix: /, service: upstream } ]
services:
  upstream: { upstreams: [ "$UP" ] }
egress:
  listen: "$EG"
  sources: [ { cidr: 127.0.0.0/8, service: bench } ]
  inspect:
    ca: { cert: "$work/tls-inspect/ca.pem", key: "$work/tls-inspect/ca-key.pem" }
    hosts: [bench-inspected.test]
    upstream_ca: "$work/tls-up/ca.pem"
dns:
  hosts: { bench-tls.test: [127.0.0.1], bench-inspected.test: [127.0.0.1] }
enclave: { mode: enforce, networks: [127.0.0.0/8] }
recording: { access_log: false }
runtime: { workers: 1 }
EGY

declare -A PID
"${on_load[@]}" nginx -c "$work/upstream.conf" & pids+=($!)
"${on_load[@]}" nginx -c "$work/upstream-tls.conf" & pids+=($!)
nginx -c "$work/upstream2.conf" & pids+=($!)
"${on_proxy[@]}" nginx -c "$work/nginx.conf" & PID[nginx]=$!; pids+=($!)
"${on_proxy[@]}" haproxy -f "$work/haproxy.cfg" & PID[haproxy]=$!; pids+=($!)
"${on_proxy[@]}" "$BIN" --log warn proxy --workers 1 --listen $SL --to $UP --admin $SLADMIN --no-access-log > "$work/sightline.log" 2>&1 & PID[sightline]=$!; pids+=($!)
"${on_proxy[@]}" squid -f "$work/squid.conf" -N > "$work/squid/out.log" 2>&1 & PID[squid]=$!; pids+=($!)
"${on_proxy[@]}" "$BIN" --log warn run --config "$work/egress.yaml" > "$work/sightline-egress.log" 2>&1 & PID[sightline-egress]=$!; pids+=($!)
nginx -c "$work/nginx2.conf" & PID[nginx2]=$!; pids+=($!)
haproxy -f "$work/haproxy2.cfg" & PID[haproxy2]=$!; pids+=($!)
"$BIN" --log warn proxy --workers 2 --listen $SL2 --to $UP2 --admin $SL2ADMIN --no-access-log > "$work/sightline2.log" 2>&1 & PID[sightline2]=$!; pids+=($!)
for a in $UP $UP2 $NGX $HAP $SL $NGX2 $HAP2 $SL2; do
  for _ in $(seq 100); do curl -fsS -o /dev/null "http://$a/" 2>/dev/null && break; sleep 0.1; done
done
for p in $EG $SQUID; do
  for _ in $(seq 100); do curl -fsS -o /dev/null -x "http://$p" "http://$UP/" 2>/dev/null && break; sleep 0.1; done
done

# tree, cpu_ticks and rss_kib: bench/squid.sh.
declare -A start_rss
for n in nginx haproxy sightline squid sightline-egress; do start_rss[$n]=$(rss_kib "${PID[$n]}"); done

to_us() { python3 -c "
import re,sys
v=sys.argv[1]; m=re.match(r'([0-9.]+)(us|ms|s)',v)
print(0 if not m else round(float(m.group(1))*{'us':1,'ms':1000,'s':1e6}[m.group(2)],1))" "$1"; }
median() { python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[1:] if x]; print(round(statistics.median(v),1) if v else 0)" $1; }
per_cpu() { python3 -c "import sys; n,t,hz=map(float,sys.argv[1:]); print(round(n/(t/hz)) if t > 0 else 0)" "$1" "$2" "$HZ"; }

# One measured run. Results go into the arrays below under the key "name,cell".
declare -A rps p99 cpu bps
sent=0
: > "$work/bad"
record() { # name cell requests req/s p99-us bytes/s ticks
  rps["$1,$2"]+="$4 "; p99["$1,$2"]+="$5 "; bps["$1,$2"]+="$6 "
  [ -n "$7" ] && cpu["$1,$2"]+="$(per_cpu "$3" "$7") "
  echo "$1 $2: $4 req/s, p99 $5 us, $(python3 -c "print(round($6/1048576,1))") MiB/s${7:+, $(per_cpu "$3" "$7") req per proxy CPU-s}" >&2
}
measure() { # name pid cell command... ; the command prints "requests req/s p99-us bytes/s"
  local name=$1 pid=$2 cell=$3; shift 3
  local before after out n r l b
  before=$([ "$pid" = - ] && echo 0 || cpu_ticks "$pid")
  out=$("$@" || echo "0 0 0 0")
  after=$([ "$pid" = - ] && echo 0 || cpu_ticks "$pid")
  read -r n r l b <<< "$out"
  if [ "$name" = sightline ]; then sent=$((sent + n)); fi
  record "$name" "$cell" "$n" "$r" "$l" "$b" "$([ "$pid" = - ] || echo $((after - before)))"
}
# The load generator's CPU: pinned in the one-CPU layout, free in the scaling one.
load_prefix=(taskset -c "$LOAD_CPU")
wrk_run() { # threads conns url [script]
  local out
  out=$(timeout $((SECONDS_PER + 20)) "${load_prefix[@]}" wrk -t"$1" -c"$2" -d"${SECONDS_PER}s" --latency ${4:+-s "$4"} "$3" 2>&1 || true)
  # Every answer must be the upstream's 200: a rate of errors measures nothing.
  if grep -q "Non-2xx\|Socket errors" <<< "$out"; then
    echo "$3 c=$2: $(echo "$out" | grep -E "Non-2xx|Socket errors" | tr -s ' ' | tr '\n' ';')" >> "$work/bad"
  fi
  local n r l99 b
  n=$(echo "$out" | awk '/requests in/ {print $1}'); r=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  l99=$(to_us "$(echo "$out" | awk '$1=="99%" {print $2}')")
  b=$(echo "$out" | awk '/Transfer\/sec/ {v=$2; u=substr(v, length(v)-1); x=v+0; m=(u=="GB"?1073741824:(u=="MB"?1048576:(u=="KB"?1024:1))); print x*m}')
  echo "${n:-0} ${r:-0} ${l99:-0} ${b:-0}"
}
h2_run() { # addr threads
  local out
  out=$(timeout $((SECONDS_PER + 20)) "${load_prefix[@]}" h2load -t"$2" -c 10 -m 10 -D "$SECONDS_PER" "http://$1/" 2>&1 || true)
  local n r
  n=$(echo "$out" | awk '/^requests:/ {print $8}'); r=$(echo "$out" | awk '/^finished in/ {print $4}')
  if echo "$out" | awk '/^status codes:/ {exit !($7 + $9 > 0)}'; then echo "h2 $1: $(grep '^status codes' <<< "$out")" >> "$work/bad"; fi
  echo "${n:-0} ${r:-0} 0 0"
}
connect_run() { # proxy|direct path budget
  local b r n
  read -r b r n < <(timeout $((SECONDS_PER + 40)) "${load_prefix[@]}" python3 bench/connect.py "$1" "$UP" "$2" 4 "$SECONDS_PER" "$3" 2>> "$work/bad" || echo "0 0 0")
  echo "${n:-0} ${r:-0} 0 ${b:-0}"
}
tls_connect_run() { # proxy host: TLS inside the tunnel, to the TLS upstream by that name
  local b r n
  read -r b r n < <(CONNECT_TLS_CA="$work/${3:-tls-up}/ca.pem" timeout $((SECONDS_PER + 40)) "${load_prefix[@]}" python3 bench/connect.py "$1" "$2:$UPTLS_PORT" / 4 "$SECONDS_PER" 2000000 2>> "$work/bad" || echo "0 0 0")
  echo "${n:-0} ${r:-0} 0 ${b:-0}"
}
# wrk sends absolute-form requests (`GET http://upstream/ HTTP/1.1`) to a forward proxy.
for p in / /1m; do
  printf 'wrk.path = "http://%s%s"\nwrk.headers["Host"] = "%s"\n' "$UP" "$p" "$UP" > "$work/forward${p//\//_}.lua"
done

sl_counted() { curl -fsS "http://$SLADMIN/metrics" | awk '/^sightline_requests_total/ {s+=$2} END {print s+0}'; }
sl_dropped() { curl -fsS "http://$1/metrics" | awk '/^sightline_records_dropped_total/ {s+=$2} END {print s+0}'; }
sightline_before=$(sl_counted)

# Pinned inbound: direct (wrk to the upstream), nginx, haproxy, Sightline.
names=(direct nginx haproxy sightline)
declare -A addr=([direct]=$UP [nginx]=$NGX [haproxy]=$HAP [sightline]=$SL)
declare -A addrh2=([direct]=$UPH2 [nginx]=$NGXH2 [haproxy]=$HAPH2 [sightline]=$SL)
egress_names=(direct squid sightline)
declare -A egaddr=([direct]=direct [squid]=$SQUID [sightline]=$EG)
declare -A egpid=([direct]=- [squid]=${PID[squid]} [sightline]=${PID[sightline-egress]})
for round in $(seq "$ROUNDS"); do
  echo "== round $round of $ROUNDS (pinned)" >&2
  for i in 0 1 2 3; do
    n=${names[$(( (i + round) % 4 ))]}
    pid=$([ "$n" = direct ] && echo - || echo "${PID[$n]}")
    measure "$n" "$pid" c50 wrk_run 1 50 "http://${addr[$n]}/"
    measure "$n" "$pid" c1 wrk_run 1 1 "http://${addr[$n]}/"
    measure "$n" "$pid" 16k wrk_run 1 50 "http://${addr[$n]}/16k"
    measure "$n" "$pid" h2 h2_run "${addrh2[$n]}" 1
  done
  for i in 0 1 2; do
    n=${egress_names[$(( (i + round) % 3 ))]}
    a=${egaddr[$n]}
    if [ "$n" = direct ]; then
      measure "eg-$n" - fwd wrk_run 1 50 "http://$UP/"
      measure "eg-$n" - fwd1m wrk_run 1 4 "http://$UP/1m"
    else
      measure "eg-$n" "${egpid[$n]}" fwd wrk_run 1 50 "http://$a" "$work/forward_.lua"
      measure "eg-$n" "${egpid[$n]}" fwd1m wrk_run 1 4 "http://$a" "$work/forward_1m.lua"
    fi
    measure "eg-$n" "${egpid[$n]}" tun connect_run "$a" / 2000000
    measure "eg-$n" "${egpid[$n]}" tun1m connect_run "$a" /1m 20000
  done
  # Sightline only: TLS through a plain CONNECT tunnel, and the same TLS inspected (the client
  # trusts the inspection CA; Sightline terminates, records each GET and opens its own TLS).
  measure eg-sightline "${PID[sightline-egress]}" tlstun tls_connect_run "$EG" bench-tls.test
  measure eg-sightline "${PID[sightline-egress]}" tlsinsp tls_connect_run "$EG" bench-inspected.test tls-inspect
done

# Every request wrk and h2load completed through Sightline must be counted, none dropped.
sightline_after=$(sl_counted)
dropped=$(sl_dropped $SLADMIN)
dropped_eg=$(sl_dropped 127.0.0.1:18098)

# Scaling: nothing pinned, two workers each, wrk with two threads.
load_prefix=(env)
snames=(direct nginx haproxy sightline)
declare -A saddr=([direct]=$UP2 [nginx]=$NGX2 [haproxy]=$HAP2 [sightline]=$SL2)
declare -A spid=([direct]=- [nginx]=${PID[nginx2]} [haproxy]=${PID[haproxy2]} [sightline]=${PID[sightline2]})
for round in $(seq "$ROUNDS"); do
  echo "== round $round of $ROUNDS (scaling)" >&2
  for i in 0 1 2 3; do
    n=${snames[$(( (i + round) % 4 ))]}
    measure "s-$n" "${spid[$n]}" c50 wrk_run 2 50 "http://${saddr[$n]}/"
  done
done
load_prefix=(taskset -c "$LOAD_CPU")

# Memory: RSS after the load rounds, then with IDLE_CONNS idle keep-alive connections open,
# each with one request answered. One proxy at a time; the holder runs on the load CPU.
declare -A after_rss idle_rss idle_open
for n in nginx haproxy sightline; do
  after_rss[$n]=$(rss_kib "${PID[$n]}")
  rm -f "$work/idle-ready"
  "${on_load[@]}" python3 bench/idle_conns.py "${addr[$n]}" "$IDLE_CONNS" "$work/idle-ready" &
  holder=$!; pids+=($holder)
  for _ in $(seq 900); do [ -f "$work/idle-ready" ] && break; sleep 0.1; done
  sleep 2
  idle_rss[$n]=$(rss_kib "${PID[$n]}")
  idle_open[$n]=$(tr ' ' '/' < "$work/idle-ready" 2>/dev/null || echo "0/0")
  kill $holder 2>/dev/null || true
  wait $holder 2>/dev/null || true
done

# Report.
mib() { python3 -c "print(f'{$1/1024:.1f} MB')"; }
cellv() { median "${rps[$1,$2]}"; }
fmt() { python3 -c "
v=float('$1'); u='$2'
print('–' if v == 0 else (f'{v:,.0f}' if u == '' else (f'{v/1000:.2f} ms' if u == 'us' else f'{v/1048576:,.0f} MiB/s')))"; }
ratio() { python3 -c "a,b=float('$1'),float('$2'); print(f'{a/b:.2f}' if b else '–')"; }
{
  echo "# Benchmarks"
  echo
  echo "Produced by \`bash bench/run.sh\` on $(date -u +%Y-%m-%d): $(nproc --all) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r)."
  echo
  echo "## One CPU each"
  echo
  echo "Each proxy under test runs alone on CPU $PROXY_CPU with one worker: nginx \`worker_processes 1\`,"
  echo "haproxy \`nbthread 1\`, Sightline \`sightline proxy --workers 1 --to\` (its default config:"
  echo "recording, analysis and metrics on; access log off, as nginx's), squid \`workers 1\`. The load"
  echo "generator (wrk with one thread, h2load with one thread, the CONNECT client) and the upstream"
  echo "(nginx, one worker, answering \`ok\\n\`, a 16 KiB file and a 1 MiB file) share CPU $LOAD_CPU."
  echo "Only one proxy carries load at a time. **Medians of $ROUNDS interleaved rounds** of ${SECONDS_PER} s per"
  echo "cell (every target once per round, order rotated). \"req per proxy CPU-s\" is the requests"
  echo "completed divided by the proxy's own CPU time (user + system, all its processes and threads,"
  echo "from \`/proc/PID/stat\`) over the same run, at c=50. RSS is the proxy's processes' resident"
  echo "memory: at start, and with $IDLE_CONNS idle keep-alive connections open, each with one request"
  echo "answered (taken after the load rounds)."
  echo
  echo "| | c=50 req/s | req per proxy CPU-s | c=50 p99 | c=1 p99 | 16 KiB c=50 req/s | HTTP/2 (h2load 10×10) req/s | RSS at start | RSS with $IDLE_CONNS idle conns |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for n in direct nginx haproxy sightline; do
    if [ "$n" = direct ]; then r1="–"; r2="–"; c="–"; else
      r1=$(mib "${start_rss[$n]}"); r2="$(mib "${idle_rss[$n]}") (${idle_open[$n]})"; c=$(fmt "$(median "${cpu[$n,c50]}")" ''); fi
    echo "| $n | $(fmt "$(cellv $n c50)" '') | $c | $(fmt "$(median "${p99[$n,c50]}")" us) | $(fmt "$(median "${p99[$n,c1]}")" us) | $(fmt "$(cellv $n 16k)" '') | $(fmt "$(cellv $n h2)" '') | $r1 | $r2 |"
  done
  echo
  echo "(The idle-connection column gives, in brackets, connections opened / answered.)"
  echo
  echo "Ratios, Sightline / nginx (Sightline / haproxy):"
  echo
  for c in c50 16k h2; do
    label=$(case $c in c50) echo "c=50 req/s" ;; 16k) echo "16 KiB c=50 req/s" ;; h2) echo "HTTP/2 req/s" ;; esac)
    echo "- $label: $(ratio "$(cellv sightline $c)" "$(cellv nginx $c)") ($(ratio "$(cellv sightline $c)" "$(cellv haproxy $c)"))"
  done
  echo "- req per proxy CPU-s: $(ratio "$(median "${cpu[sightline,c50]}")" "$(median "${cpu[nginx,c50]}")") ($(ratio "$(median "${cpu[sightline,c50]}")" "$(median "${cpu[haproxy,c50]}")"))"
  echo "- c=50 p99: $(ratio "$(median "${p99[sightline,c50]}")" "$(median "${p99[nginx,c50]}")") ($(ratio "$(median "${p99[sightline,c50]}")" "$(median "${p99[haproxy,c50]}")")); c=1 p99: $(ratio "$(median "${p99[sightline,c1]}")" "$(median "${p99[nginx,c1]}")") ($(ratio "$(median "${p99[sightline,c1]}")" "$(median "${p99[haproxy,c1]}")"))"
  echo "- RSS at start: $(ratio "${start_rss[sightline]}" "${start_rss[nginx]}") ($(ratio "${start_rss[sightline]}" "${start_rss[haproxy]}")); with idle connections: $(ratio "${idle_rss[sightline]}" "${idle_rss[nginx]}") ($(ratio "${idle_rss[sightline]}" "${idle_rss[haproxy]}"))"
  echo
  echo "### Egress, one CPU each"
  echo
  echo "Sightline's egress listener (\`sightline run\` with \`runtime.workers: 1\`, enclave enforce, recording"
  echo "on) against squid (\`workers 1\`, no cache), both on CPU $PROXY_CPU; direct is the same client without"
  echo "a proxy. Forward HTTP: wrk sending absolute-form requests (\`GET http://upstream/ HTTP/1.1\`), c=50"
  echo "for \`ok\\n\`, c=4 for 1 MiB. CONNECT: 4 kept tunnels (\`bench/connect.py\`), keep-alive GETs inside."
  echo
  echo "| | forward req/s | forward req per proxy CPU-s | forward 1 MiB | CONNECT req/s | CONNECT req per proxy CPU-s | CONNECT 1 MiB |"
  echo "|---|---|---|---|---|---|---|"
  for n in direct squid sightline; do
    k="eg-$n"
    c1="–"; c2="–"
    if [ "$n" != direct ]; then c1=$(fmt "$(median "${cpu[$k,fwd]}")" ''); c2=$(fmt "$(median "${cpu[$k,tun]}")" ''); fi
    echo "| $n | $(fmt "$(cellv "$k" fwd)" '') | $c1 | $(fmt "$(median "${bps[$k,fwd1m]}")" b) | $(fmt "$(cellv "$k" tun)" '') | $c2 | $(fmt "$(median "${bps[$k,tun1m]}")" b) |"
  done
  echo
  echo "Sightline / squid: forward req/s $(ratio "$(cellv eg-sightline fwd)" "$(cellv eg-squid fwd)"), bytes/s $(ratio "$(median "${bps[eg-sightline,fwd1m]}")" "$(median "${bps[eg-squid,fwd1m]}")"); CONNECT req/s $(ratio "$(cellv eg-sightline tun)" "$(cellv eg-squid tun)"), bytes/s $(ratio "$(median "${bps[eg-sightline,tun1m]}")" "$(median "${bps[eg-squid,tun1m]}")")."
  echo
  echo "Sightline's CONNECT tunnels against its TLS inspection: 4 tunnels carrying TLS (HTTP/1.1) to an"
  echo "nginx TLS upstream (\`bench/connect.py\` with \`CONNECT_TLS_CA\`), keep-alive GETs of \`ok\\n\` inside."
  echo "Tunnelled, the client's TLS goes end to end; inspected, Sightline terminates it with a leaf from"
  echo "its inspection CA, judges and records each GET, and opens its own TLS to the upstream."
  echo
  echo "| Sightline egress, TLS inside | req/s | req per proxy CPU-s |"
  echo "|---|---|---|"
  echo "| CONNECT tunnel | $(fmt "$(cellv eg-sightline tlstun)" '') | $(fmt "$(median "${cpu[eg-sightline,tlstun]}")" '') |"
  echo "| inspected | $(fmt "$(cellv eg-sightline tlsinsp)" '') | $(fmt "$(median "${cpu[eg-sightline,tlsinsp]}")" '') |"
  echo
  echo "Inspected / tunnelled: req/s $(ratio "$(cellv eg-sightline tlsinsp)" "$(cellv eg-sightline tlstun)"), req per proxy CPU-s $(ratio "$(median "${cpu[eg-sightline,tlsinsp]}")" "$(median "${cpu[eg-sightline,tlstun]}")")."
  echo
  echo "## Scaling: two workers each"
  echo
  echo "Nothing pinned: Sightline \`--workers 2\`, nginx \`worker_processes 2\`, haproxy \`nbthread 2\`, in"
  echo "front of an upstream nginx with 2 workers, wrk with 2 threads at c=50, all on the same 2 CPUs"
  echo "(so the proxy competes with the load generator and the upstream). Medians of $ROUNDS interleaved rounds."
  echo
  echo "| | c=50 req/s | req per proxy CPU-s | c=50 p99 |"
  echo "|---|---|---|---|"
  for n in direct nginx haproxy sightline; do
    c="–"; [ "$n" != direct ] && c=$(fmt "$(median "${cpu[s-$n,c50]}")" '')
    echo "| $n | $(fmt "$(cellv "s-$n" c50)" '') | $c | $(fmt "$(median "${p99[s-$n,c50]}")" us) |"
  done
  echo
  echo "Sightline / nginx: req/s $(ratio "$(cellv s-sightline c50)" "$(cellv s-nginx c50)"), req per proxy CPU-s $(ratio "$(median "${cpu[s-sightline,c50]}")" "$(median "${cpu[s-nginx,c50]}")"); Sightline / haproxy: req/s $(ratio "$(cellv s-sightline c50)" "$(cellv s-haproxy c50)"), req per proxy CPU-s $(ratio "$(median "${cpu[s-sightline,c50]}")" "$(median "${cpu[s-haproxy,c50]}")")."
  echo
  echo "## Checks"
  echo
  echo "Answers other than 2xx/3xx, socket errors, failed tunnels: $([ -s "$work/bad" ] && tr '\n' ' ' < "$work/bad" || echo none)."
  echo
  echo "Counting (pinned Sightline): the load generators completed $sent requests through it; it counted $((sightline_after - sightline_before)) (a few more is normal: requests sent but not seen answered when a run ended); records dropped from the recorder queue: ${dropped:-0} inbound, ${dropped_eg:-0} egress."
  # Hand-written sections (the profile, findings) follow the marker and are kept.
  if grep -q '^<!-- hand-written -->' docs/BENCHMARKS.md 2>/dev/null; then
    echo
    sed -n '/^<!-- hand-written -->/,$p' docs/BENCHMARKS.md
  fi
} > "$OUT.new"
mv "$OUT.new" "$OUT"
sed -n '1,/^<!-- hand-written -->/p' "$OUT"
