#!/usr/bin/env bash
# Inbound benchmark: direct vs Sightline vs nginx vs haproxy against the same upstream, in
# interleaved rounds, with wrk (HTTP/1.1, 1 and 50 connections) and h2load (HTTP/2); egress
# CONNECT tunnels through Sightline vs squid vs direct; Sightline's memory idle and with
# 10,000 idle keep-alive connections.
# Prints ratios and writes docs/BENCHMARKS.md. All traffic stays on 127.0.0.1.
#
#   bash bench/run.sh            # 3 rounds of 5 s per cell
#   ROUNDS=5 SECONDS_PER=10 bash bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SECONDS_PER=${SECONDS_PER:-5}
IDLE_CONNS=${IDLE_CONNS:-10000}
need=(nginx haproxy wrk h2load squid)
missing=()
for b in "${need[@]}"; do command -v "$b" >/dev/null || missing+=("$b"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing nginx, haproxy, wrk, h2load, squid"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light haproxy wrk nghttp2-client squid >/dev/null
fi
cargo build --release -q
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d /tmp/sightline-bench.XXXX)
# nginx's workers run unprivileged: they must be able to read the files they serve.
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

UP=127.0.0.1:18081 NGX=127.0.0.1:18082 HAP=127.0.0.1:18083 SL=127.0.0.1:18084 SLADMIN=127.0.0.1:18085
SQUID=127.0.0.1:18094 EG=127.0.0.1:18096
head -c 16384 /dev/zero | tr '\0' 'x' > "$work/16k"
head -c 1048576 /dev/zero > "$work/1m"
cat > "$work/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 20000; }
http {
  access_log off;
  upstream backend { server $UP; keepalive 128; }
  server {
    listen $UP; listen 127.0.0.1:18091 http2;
    # Tunnels keep their connection for the whole CONNECT round.
    keepalive_requests 1000000;
    location = / { return 200 "ok\n"; }
    location = /16k { alias $work/16k; }
    location = /1m { alias $work/1m; }
  }
  server {
    listen $NGX; listen 127.0.0.1:18092 http2;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGX
cat > "$work/haproxy.cfg" <<HAP
global
  maxconn 8000
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend fe
  bind $HAP
  bind 127.0.0.1:18093 proto h2
  default_backend be
backend be
  http-reuse always
  server up $UP
HAP
# squid as the reference forward proxy: one worker, no cache, CONNECT to any loopback port.
mkdir -p "$work/squid" && chmod 777 "$work/squid"
cat > "$work/squid.conf" <<SQ
http_port $SQUID
workers 1
http_access allow all
cache deny all
cache_mem 8 MB
access_log none
cache_log $work/squid/cache.log
pid_filename $work/squid/squid.pid
coredump_dir $work/squid
shutdown_lifetime 1 seconds
SQ
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
enclave: { mode: enforce, networks: [127.0.0.0/8] }
recording: { access_log: false }
EGY
nginx -c "$work/nginx.conf" & pids+=($!)
squid -f "$work/squid.conf" -N > "$work/squid/out.log" 2>&1 & pids+=($!)
./target/release/sightline --log warn run --config "$work/egress.yaml" > "$work/sightline-egress.log" 2>&1 & pids+=($!)
haproxy -f "$work/haproxy.cfg" & pids+=($!)
./target/release/sightline --log warn proxy --listen $SL --to $UP --admin $SLADMIN --no-access-log > "$work/sightline.log" 2>&1 & SLPID=$!; pids+=($SLPID)
for a in $UP $NGX $HAP $SL; do
  for _ in $(seq 100); do curl -fsS -o /dev/null "http://$a/" 2>/dev/null && break; sleep 0.1; done
done

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
start_rss=$(rss_kib $SLPID)

declare -A rps p50 p99
run_wrk() { # name addr conns path
  local out; out=$(wrk -t$([ "$3" -gt 1 ] && echo 2 || echo 1) -c"$3" -d"${SECONDS_PER}s" --latency "http://$2$4" 2>&1 || true)
  local r l50 l99
  r=$(echo "$out" | awk '/Requests\/sec/ {print $2}'); r=${r:-0}
  l50=$(echo "$out" | awk '$1=="50%" {print $2}')
  l99=$(echo "$out" | awk '$1=="99%" {print $2}')
  echo "$1 c=$3 $4 round: ${r} req/s p50 ${l50} p99 ${l99}" >&2
  # Every answer must be the upstream's 200: a rate of errors measures nothing.
  if echo "$out" | grep -q "Non-2xx"; then
    echo "$1 c=$3 $4: $(echo "$out" | grep Non-2xx)" >&2
    bad="$bad $1:c=$3:$4"
  fi
  if [ "$1" = sightline ]; then
    sent=$((sent + $(echo "$out" | awk '/requests in/ {print $1} END {if (NR==0) print 0}' | head -1)))
  fi
  rps["$1,$3,$4"]+="$r "; p50["$1,$3,$4"]+="$(to_us "$l50") "; p99["$1,$3,$4"]+="$(to_us "$l99") "
}
to_us() { python3 -c "
import re,sys
v=sys.argv[1]; m=re.match(r'([0-9.]+)(us|ms|s)',v)
print(0 if not m else float(m.group(1))*{'us':1,'ms':1000,'s':1e6}[m.group(2)])" "$1"; }
median() { python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[1:] if x]; print(round(statistics.median(v),1) if v else 0)" $1; }

sent=0
bad=""
targets=("direct $UP" "sightline $SL" "nginx $NGX" "haproxy $HAP")
sightline_before=$(curl -fsS "http://$SLADMIN/metrics" | awk '/^sightline_requests_total/ {s+=$2} END {print s+0}')
for round in $(seq "$ROUNDS"); do
  for path in / /16k; do
    for conns in 1 50; do
      # Rotate the order each round so drift hits every target alike.
      for i in 0 1 2 3; do
        t=${targets[$(( (i + round) % 4 ))]}
        run_wrk $t $conns $path
      done
    done
  done
done

# HTTP/2 (h2c prior knowledge) with h2load.
declare -A h2
for round in $(seq "$ROUNDS"); do
  for t in "direct 127.0.0.1:18091" "sightline $SL" "nginx 127.0.0.1:18092" "haproxy 127.0.0.1:18093"; do
    set -- $t
    out=$(h2load -n 20000 -c 10 -m 10 "http://$2/" 2>&1 || true)
    r=$(echo "$out" | awk '/^finished in/ {print $4}')
    if [ "$1" = sightline ]; then
      sent=$((sent + $(echo "$out" | awk '/^requests:/ {print $8}')))
    fi
    echo "$1 h2 round: $r req/s" >&2
    h2["$1"]+="$r "
  done
done

# Every request wrk and h2load sent through Sightline must be counted.
sightline_after=$(curl -fsS "http://$SLADMIN/metrics" | awk '/^sightline_requests_total/ {s+=$2} END {print s+0}')
dropped=$(curl -fsS "http://$SLADMIN/metrics" | awk '/^sightline_records_dropped_total/ {print $2}')

# Egress CONNECT: 4 kept tunnels per run to the upstream (plain HTTP inside the tunnel),
# keep-alive GETs of a small response (req/s) and of 1 MiB (bytes/s); direct is the same
# client without a proxy. Each run is bounded by SECONDS_PER and a request budget.
declare -A tun_rps tun_bps
for _ in $(seq 100); do curl -fsS -o /dev/null -p -x "http://$EG" "http://$UP/" 2>/dev/null && break; sleep 0.1; done
for _ in $(seq 100); do curl -fsS -o /dev/null -p -x "http://$SQUID" "http://$UP/" 2>/dev/null && break; sleep 0.1; done
for round in $(seq "$ROUNDS"); do
  tunnel_targets=("direct direct" "sightline $EG" "squid $SQUID")
  for i in 0 1 2; do
    set -- ${tunnel_targets[$(( (i + round) % 3 ))]}
    read -r _ small _ < <(python3 bench/connect.py "$2" "$UP" / 4 "$SECONDS_PER" 2000000 || echo "0 0 0")
    read -r big _ _ < <(python3 bench/connect.py "$2" "$UP" /1m 4 "$SECONDS_PER" 20000 || echo "0 0 0")
    echo "$1 CONNECT round: ${small} req/s, $(python3 -c "print(round($big/1048576))") MiB/s" >&2
    tun_rps["$1"]+="$small "; tun_bps["$1"]+="$big "
  done
done

# Memory with idle keep-alive connections: RSS just before they open, and once each has had
# its one request answered and sits idle.
idle_rss=$(rss_kib $SLPID)
rm -f "$work/idle-ready"
python3 - "$SL" "$IDLE_CONNS" "$work/idle-ready" <<'PY' &
import socket, sys, time
host, port = sys.argv[1].split(":"); n = int(sys.argv[2]); socks = []
deadline = time.monotonic() + 60
for i in range(n):
    if time.monotonic() > deadline:
        break
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
    socks.append(s)
answered = 0
for s in socks:
    try:
        answered += bool(s.recv(4096))
    except OSError:
        pass
with open(sys.argv[3], "w") as ready:
    ready.write(f"{len(socks)} {answered}\n")
time.sleep(30)
PY
holder=$!; pids+=($holder)
for _ in $(seq 900); do [ -f "$work/idle-ready" ] && break; sleep 0.1; done
sleep 2
busy_rss=$(rss_kib $SLPID)
active=$(curl -fsS "http://$SLADMIN/metrics" | awk '/^sightline_connections_active/ {print $2}')
opened=0 answered=0
[ -s "$work/idle-ready" ] && read -r opened answered < "$work/idle-ready"
kill $holder 2>/dev/null || true

# Report.
{
  echo "# Benchmarks"
  echo
  echo "Produced by \`bash bench/run.sh\` on $(date -u +%Y-%m-%d): $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)."
  echo "Load generator, upstream and proxies share the machine; every proxy gets one worker thread"
  echo "or process where it has the setting (nginx 1 worker, haproxy 1 thread; Sightline uses the tokio"
  echo "multi-thread runtime over both cores). Upstream: nginx answering \`ok\\n\` (and a 16 KiB file)."
  echo "Rounds: $ROUNDS x ${SECONDS_PER}s per cell, order rotated each round; medians shown."
  echo "Sightline runs \`sightline proxy --to\` (default config: recording on, access log off; nginx access log off too)."
  echo
  echo "| path | conns | target | req/s | p50 µs | p99 µs |"
  echo "|---|---|---|---|---|---|"
  for path in / /16k; do for conns in 1 50; do for name in direct sightline nginx haproxy; do
    k="$name,$conns,$path"
    echo "| $path | $conns | $name | $(median "${rps[$k]}") | $(median "${p50[$k]}") | $(median "${p99[$k]}") |"
  done; done; done
  echo
  echo "| HTTP/2 h2load (10 conns x 10 streams) | req/s |"
  echo "|---|---|"
  for name in direct sightline nginx haproxy; do echo "| $name | $(median "${h2[$name]}") |"; done
  echo
  echo "| CONNECT, 4 kept tunnels | req/s (\`ok\\n\`) | MiB/s (1 MiB responses) |"
  echo "|---|---|---|"
  for name in direct sightline squid; do
    echo "| $name | $(median "${tun_rps[$name]}") | $(python3 -c "print(round($(median "${tun_bps[$name]}")/1048576))") |"
  done
  echo
  echo "Ratios (medians):"
  echo
  for path in / /16k; do for conns in 1 50; do
    s=$(median "${rps[sightline,$conns,$path]}"); n=$(median "${rps[nginx,$conns,$path]}"); d=$(median "${rps[direct,$conns,$path]}")
    s99=$(median "${p99[sightline,$conns,$path]}"); n99=$(median "${p99[nginx,$conns,$path]}"); d99=$(median "${p99[direct,$conns,$path]}")
    python3 -c "
s,n,d,s99,n99,d99=map(float,'$s $n $d $s99 $n99 $d99'.split())
print(f'- \`$path\` c=$conns: Sightline/nginx req/s {s/n:.2f}, Sightline/direct {s/d:.2f}; added p99 Sightline {s99-d99:.0f} µs vs nginx {n99-d99:.0f} µs')"
  done; done
  echo
  python3 -c "
s,q,d=map(float,'$(median "${tun_rps[sightline]}") $(median "${tun_rps[squid]}") $(median "${tun_rps[direct]}")'.split())
sb,qb,db=map(float,'$(median "${tun_bps[sightline]}") $(median "${tun_bps[squid]}") $(median "${tun_bps[direct]}")'.split())
print(f'- CONNECT: Sightline/squid req/s {s/q:.2f}, bytes/s {sb/qb:.2f}; Sightline/direct req/s {s/d:.2f}, bytes/s {sb/db:.2f}')"
  echo
  echo "Answers other than 2xx/3xx: ${bad:-none}."
  echo
  echo "Counting: the load generators completed $sent requests through Sightline; Sightline counted $((sightline_after - sightline_before)); records dropped from the recorder queue: ${dropped:-0}."
  echo
  echo "Memory (RSS): $start_rss KiB at start; $idle_rss KiB after the load rounds; with $active idle keep-alive connections open ($opened opened, $answered answered) $busy_rss KiB, about $(( (busy_rss - idle_rss) * 1024 / (active > 0 ? active : 1) )) bytes per connection."
  # Hand-written sections (the profile, findings) follow the marker and are kept.
  if grep -q '^<!-- hand-written -->' docs/BENCHMARKS.md 2>/dev/null; then
    echo
    sed -n '/^<!-- hand-written -->/,$p' docs/BENCHMARKS.md
  fi
} > docs/BENCHMARKS.md.new
mv docs/BENCHMARKS.md.new docs/BENCHMARKS.md
sed -n '1,/^<!-- hand-written -->/p' docs/BENCHMARKS.md
