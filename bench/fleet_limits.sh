#!/usr/bin/env bash
# The cost of shared limits per request: one Sightline in front of a trivial loopback upstream,
# measured with wrk at c=50, first with local limits (no fleet), then with the same limits shared
# through a redis-server on loopback (fleet.redis). Prints req/s, p50 and p99 of each, the
# latency the shared limits add, and Redis commands per proxied request
# (sightline_fleet_redis_ops_total over the requests served). All traffic stays on 127.0.0.1;
# redis-server runs from a temporary directory, without persistence, and is stopped at the end.
#
#   bash bench/fleet_limits.sh
#   SECONDS_PER=20 CONNS=50 bash bench/fleet_limits.sh
#   BIN=target/debug/sightline bash bench/fleet_limits.sh    # an existing build
#
# The limits (defaults below) are far above the load, so every call passes and what is
# measured is the bookkeeping: a per-client rate (wrk is one client) and a global rate.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER=${SECONDS_PER:-10}
CONNS=${CONNS:-50}
PER_CLIENT=${PER_CLIENT:-200000/s}
PER_CLIENT_BURST=${PER_CLIENT_BURST:-2000}
GLOBAL=${GLOBAL:-400000/s}
GLOBAL_BURST=${GLOBAL_BURST:-4000}
BASE=${BASE:-21310}
IN=127.0.0.1:$BASE ADMIN=127.0.0.1:$((BASE + 1)) UP=127.0.0.1:$((BASE + 2)) REDIS_PORT=$((BASE + 3))
for tool in wrk redis-server curl python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install wrk redis-server curl python3)" >&2; exit 1; }
done
if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p sightline --bin sightline
  BIN=target/release/sightline
fi
work=$(mktemp -d /tmp/sightline-fleet-bench.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

cat > "$work/upstream.py" <<'PY'
import asyncio, sys
host, port = sys.argv[1].rsplit(":", 1)
REPLY = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"
async def serve(reader, writer):
    try:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(REPLY)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    writer.close()
async def main():
    server = await asyncio.start_server(serve, host, int(port), backlog=1024)
    async with server:
        await server.serve_forever()
asyncio.run(main())
PY
python3 "$work/upstream.py" "$UP" & pids+=($!)
for _ in $(seq 1 100); do curl -fsS "http://$UP/" >/dev/null 2>&1 && break; sleep 0.1; done
mkdir -p "$work/redis"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --dir "$work/redis" \
  --loglevel warning >"$work/redis.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do [ "$(printf 'PING\r\n' | timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$REDIS_PORT; cat >&3; head -c5 <&3" 2>/dev/null)" = "+PONG" ] && break; sleep 0.1; done

config() { # $1: extra YAML (the fleet section or nothing)
  cat <<YAML
version: 1
admin: { listen: "$ADMIN" }
inbound:
  listen: "$IN"
  routes: [ { path_prefix: /, service: app } ]
services:
  app: { upstreams: ["$UP"] }
recording: { access_log: false }
clients:
  rate: { per_client: $PER_CLIENT, burst: $PER_CLIENT_BURST, global: $GLOBAL, global_burst: $GLOBAL_BURST }
$1
YAML
}

metric() { curl -fsS "http://$ADMIN/metrics" | awk -v m="$1" '$1 == m { print $2 }' | head -1; }
requests() { curl -fsS "http://$ADMIN/metrics" | awk '/^sightline_requests_total\{direction="inbound"/ { s += $2 } END { print s + 0 }'; }

declare -A rps p50 p99 opr
run() { # $1: name, $2: extra YAML
  config "$2" > "$work/$1.yaml"
  "$BIN" run --config "$work/$1.yaml" >"$work/$1.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -fsS "http://$ADMIN/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  if [ -n "$2" ]; then
    for _ in $(seq 1 100); do curl -fsS "http://$ADMIN/api/status" | grep -q '"state":"up"' && break; sleep 0.1; done
  fi
  # Warm-up (connections, leases), then the measured run.
  wrk -t2 -c"$CONNS" -d2s "http://$IN/" >/dev/null 2>&1 || true
  local ops0 req0 out
  ops0=$(metric sightline_fleet_redis_ops_total); ops0=${ops0:-0}
  req0=$(requests)
  out=$(wrk -t2 -c"$CONNS" -d"${SECONDS_PER}s" --latency "http://$IN/" 2>&1 || true)
  local ops1 req1
  ops1=$(metric sightline_fleet_redis_ops_total); ops1=${ops1:-0}
  req1=$(requests)
  rps[$1]=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
  p50[$1]=$(awk '$1 == "50%" { print $2 }' <<<"$out")
  p99[$1]=$(awk '$1 == "99%" { print $2 }' <<<"$out")
  opr[$1]=$(python3 -c "print(f'{($ops1 - $ops0) / max(1, $req1 - $req0):.4f}')")
  non2xx=$(awk '/Non-2xx/ { print $5 }' <<<"$out")
  [ -z "$non2xx" ] || echo "warning: $1: $non2xx non-2xx answers" >&2
  [ -z "${DEBUG_BENCH:-}" ] || { echo "$out" >&2; curl -fsS "http://$ADMIN/metrics" | grep -E "^sightline_(requests_total|fleet|client_actions)" >&2; }
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

run local ""
run redis "fleet: { instance: bench-1, redis: \"redis://127.0.0.1:$REDIS_PORT/0\", fail: open }"

to_us() { python3 -c "
import re,sys
v=sys.argv[1]; m=re.match(r'([0-9.]+)(us|ms|s)$', v)
print('?' if not m else round(float(m[1]) * {'us':1,'ms':1000,'s':1e6}[m[2]]))" "$1"; }
echo
echo "| limits | conns | req/s | p50 µs | p99 µs | Redis ops / request |"
echo "|---|---|---|---|---|---|"
for n in local redis; do
  echo "| $n | $CONNS | ${rps[$n]} | $(to_us "${p50[$n]}") | $(to_us "${p99[$n]}") | ${opr[$n]} |"
done
a50=$(( $(to_us "${p50[redis]}") - $(to_us "${p50[local]}") ))
a99=$(( $(to_us "${p99[redis]}") - $(to_us "${p99[local]}") ))
echo
echo "shared limits add p50 ${a50} µs, p99 ${a99} µs at c=$CONNS; ${opr[redis]} Redis commands per request"
