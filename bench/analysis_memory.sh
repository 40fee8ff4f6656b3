#!/usr/bin/env bash
# Memory of the traffic analysis under many distinct raw paths: a release Sightline in front of
# a trivial loopback upstream, wrk sending PATHS requests whose paths are all different (one to
# eight lowercase words, so every segment is a plain word the templater must merge by
# cardinality). Prints Sightline's resident memory before and after, its peak, and the
# templater's counters from /metrics. All traffic stays on 127.0.0.1.
#
#   bash bench/analysis_memory.sh            # 1,000,000 paths
#   PATHS=200000 bash bench/analysis_memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PATHS=${PATHS:-1000000}
CONNS=${CONNS:-16}
BASE=${BASE:-21210}
IN=127.0.0.1:$BASE ADMIN=127.0.0.1:$((BASE + 1)) UP=127.0.0.1:$((BASE + 2))
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q -p sightline --bin sightline
work=$(mktemp -d /tmp/sightline-memory.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# The upstream: answers 200 "ok" to every request on keep-alive connections.
cat > "$work/upstream.py" <<'PY'
import asyncio, sys
host, port = sys.argv[1].rsplit(":", 1)
REPLY = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"
async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head:
                break
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

cat > "$work/sightline.yaml" <<YAML
version: 1
admin: { listen: "$ADMIN" }
inbound:
  listen: "$IN"
  routes: [ { path_prefix: /, service: app } ]
services:
  app: { upstreams: ["$UP"] }
recording: { access_log: false }
YAML
target/release/sightline run --config "$work/sightline.yaml" >"$work/sightline.log" 2>&1 & pids+=($!)
sl=$!
for _ in $(seq 1 100); do curl -fsS "http://$ADMIN/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

# Distinct paths: each thread numbers its requests; the number, written in base 26 letters
# and cut into words, gives a path nobody sent before.
cat > "$work/paths.lua" <<'LUA'
local counter, thread_id = 0, 0
local threads = 0
function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end
local function letters(n)
  local s = ""
  repeat
    s = s .. string.char(97 + n % 26)
    n = math.floor(n / 26)
  until n == 0
  return s
end
request = function()
  counter = counter + 1
  local n = counter * 64 + thread_id
  local depth = 1 + (n * 2654435761) % 8
  local word = letters(n)
  local path = ""
  for i = 1, depth do
    path = path .. "/" .. word .. letters(i * 7919 + n % 97)
  end
  return wrk.format("GET", path)
end
LUA

rss() { awk '/^VmRSS/ {print $2}' "/proc/$sl/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$sl/status"; }
for _ in $(seq 1 100); do curl -fsS "http://$IN/warm/up" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://$IN/warm/up" >/dev/null
before=$(rss)
# wrk has no request count limit: run long enough for PATHS at the measured rate, bounded.
probe=$(wrk -t2 -c"$CONNS" -d3s -s "$work/paths.lua" "http://$IN/" | awk '/Requests\/sec/ {print int($2)}')
need=$(( (PATHS - probe * 3) / (probe > 0 ? probe : 1) + 1 ))
[ "$need" -gt 600 ] && need=600
[ "$need" -lt 1 ] && need=1
wrk -t2 -c"$CONNS" -d"${need}s" -s "$work/paths.lua" "http://$IN/" >"$work/wrk.txt"
sleep 1
after=$(rss)
peak=$(hwm)
sent=$(( probe * 3 + $(awk '/requests in/ {print $1}' "$work/wrk.txt") ))
metrics=$(curl -fsS "http://$ADMIN/metrics")
echo "requests with distinct paths: about $sent ($(awk '/Requests\/sec/ {print int($2)}' "$work/wrk.txt") req/s)"
echo "resident memory: before ${before} KiB, after ${after} KiB, peak ${peak} KiB"
echo "$metrics" | grep -E '^sightline_(templates|template_|analysis_|graph_|records_dropped)' || true
