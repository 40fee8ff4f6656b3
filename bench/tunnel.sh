#!/usr/bin/env bash
# CONNECT tunnels only, in the pinned layout of bench/run.sh: each proxy alone on CPU 0 (squid
# `workers 1`; each Sightline build `runtime.workers: 1`), the CONNECT client and the nginx
# upstream on CPU 1. Cells as run.sh's: 4 kept tunnels with keep-alive GETs of `ok\n` (req/s)
# and of 1 MiB (bytes/s), each with the proxy's own CPU time. Then, per proxy, RSS and open
# descriptors with OPEN_TUNNELS tunnels open, each after one GET answered and read, and again
# with the 1 MiB answer left unread (bytes in flight in every tunnel).
#
#   SIGHTLINE_BINS="before=/path/a after=/path/b" flock /work/helpers/bench.lock bash bench/tunnel.sh
#
# PROBE=stat|record|ticks also reads the load side of each 1 MiB cell (bench/tunnel_probe.sh)
# and prints it per CPU-second and GB after the tables; PROBE_DIR keeps its data files.
# CONNECT_PY runs another client script in place of bench/connect.py (same arguments).
#
# Bounded: every cell by SECONDS_PER and a hard `timeout`; all traffic on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-1}
SECONDS_PER=${SECONDS_PER:-5}
OPEN_TUNNELS=${OPEN_TUNNELS:-1000}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PROBE=${PROBE:-}
CONNECT_PY=${CONNECT_PY:-bench/connect.py}
read -r -a bins <<< "${SIGHTLINE_BINS:?SIGHTLINE_BINS=\"name=path ...\"}"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
HZ=$(getconf CLK_TCK)
work=$(mktemp -d /tmp/sightline-tunnel.XXXX)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
on_proxy=(taskset -c "$PROXY_CPU")
on_load=(taskset -c "$LOAD_CPU")
UP=127.0.0.1:18081 SQUID=127.0.0.1:18094
head -c 1048576 /dev/zero > "$work/1m"
cat > "$work/upstream.conf" <<NGX
worker_processes 1;
daemon off;
pid $work/upstream.pid;
error_log $work/upstream-error.log warn;
events { worker_connections 20000; }
http {
  access_log off;
  server {
    listen $UP backlog=4096;
    keepalive_requests 1000000;
    location = / { return 200 "ok\n"; }
    location = /1m { alias $work/1m; }
  }
}
NGX
# shellcheck source=bench/squid.sh
source bench/squid.sh
# shellcheck source=bench/tunnel_probe.sh
source bench/tunnel_probe.sh
PROBE_DIR=${PROBE_DIR:-$work/probe}
mkdir -p "$PROBE_DIR"
squid_conf "$SQUID" "$work"
declare -A PID ADDR
"${on_load[@]}" nginx -c "$work/upstream.conf" & NGINX=$!; pids+=($!)
"${on_proxy[@]}" squid -f "$work/squid.conf" -N > "$work/squid/out.log" 2>&1 & PID[squid]=$!; pids+=($!)
ADDR[squid]=$SQUID
names=(squid)
port=18096
for b in "${bins[@]}"; do
  name=${b%%=*} bin=${b#*=}
  cat > "$work/$name.yaml" <<EGY
version: 1
admin: { listen: "127.0.0.1:$((port + 2))" }
inbound:
  listen: "127.0.0.1:$((port + 1))"
  routes: [ { path_prefix: /, service: upstream } ]
services:
  upstream: { upstreams: [ "$UP" ] }
egress:
  listen: "127.0.0.1:$port"
  sources: [ { cidr: 127.0.0.0/8, service: bench } ]
enclave: { mode: enforce, networks: [127.0.0.0/8] }
recording: { access_log: false }
runtime: { workers: 1 }
EGY
  "${on_proxy[@]}" "$bin" --log warn run --config "$work/$name.yaml" > "$work/$name.log" 2>&1 & PID[$name]=$!; pids+=($!)
  ADDR[$name]=127.0.0.1:$port
  names+=("$name")
  port=$((port + 10))
done
for n in "${names[@]}"; do
  for _ in $(seq 100); do curl -fsS -o /dev/null -x "http://${ADDR[$n]}" "http://$UP/" 2>/dev/null && break; sleep 0.1; done
done

fds() { local t=0 p; for p in $(tree "$1"); do t=$((t + $(ls "/proc/$p/fd" 2>/dev/null | wc -l))); done; echo "$t"; }

echo "| proxy | cell | req/s | MiB/s | proxy CPU-s | req per proxy CPU-s | MiB per proxy CPU-s |"
echo "|---|---|---|---|---|---|---|"
for round in $(seq "$ROUNDS"); do
  for i in "${!names[@]}"; do
    n=${names[$(( (i + round) % ${#names[@]} ))]}
    for cell in "/ 2000000" "/1m 20000"; do
      read -r path budget <<< "$cell"
      prober=""
      if [ -n "$PROBE" ] && [ "$path" = /1m ]; then
        probe "$PROBE_DIR/$n.$round" "${PID[$n]}" "$NGINX" "${ADDR[$n]##*:}" "$CONNECT_PY" & prober=$!
      fi
      before=$(cpu_ticks "${PID[$n]}")
      read -r b r k < <(timeout $((SECONDS_PER + 40)) "${on_load[@]}" python3 "$CONNECT_PY" "${ADDR[$n]}" "$UP" "$path" 4 "$SECONDS_PER" "$budget" || echo "0 0 0")
      after=$(cpu_ticks "${PID[$n]}")
      if [ -n "$prober" ]; then wait "$prober" || true; echo "$b" > "$PROBE_DIR/$n.$round.rate"; fi
      python3 -c "
b,r,k,t,hz=float('$b'),float('$r'),float('$k'),$((after - before)),$HZ
s=t/hz; mib=b*$SECONDS_PER/1048576
print(f'| $n | $path | {r:,.0f} | {b/1048576:,.0f} | {s:.2f} | {(k/s if s else 0):,.0f} | {(mib/s if s else 0):,.0f} |')"
    done
  done
done
if [ -n "$PROBE" ]; then
  echo
  python3 bench/tunnel_probe.py "$PROBE_DIR" "$HZ"
fi
echo
echo "| proxy | RSS before | fds before | $OPEN_TUNNELS tunnels open, answered: RSS | fds | same, 1 MiB answers unread: RSS | fds |"
echo "|---|---|---|---|---|---|---|"
for n in "${names[@]}"; do
  row="| $n | $(( $(rss_kib "${PID[$n]}") / 1024 )) MB | $(fds "${PID[$n]}")"
  for mode in "1 /" "0 /1m"; do
    read -r rd path <<< "$mode"
    rm -f "$work/ready"
    READ=$rd "${on_load[@]}" python3 bench/open_tunnels.py "${ADDR[$n]}" "$UP" "$path" "$OPEN_TUNNELS" "$work/ready" &
    holder=$!; pids+=($holder)
    for _ in $(seq 900); do [ -f "$work/ready" ] && break; sleep 0.1; done
    sleep 2
    row+=" | $(( $(rss_kib "${PID[$n]}") / 1024 )) MB ($(tr ' ' '/' < "$work/ready" 2>/dev/null || echo 0/0)) | $(fds "${PID[$n]}")"
    kill $holder 2>/dev/null || true
    wait $holder 2>/dev/null || true
    sleep 1
  done
  echo "$row |"
done
