#!/usr/bin/env bash
# The admin API's contract: starts a real `sightline demo` on loopback ports and runs
# schemathesis with every check against the OpenAPI document the demo serves. Any failure
# (an answer outside its schema, an undocumented status or content type, a schema-valid
# request refused, a schema-invalid one accepted, a 405 without Allow, a 5xx) fails the script.
#
# Usage: tests/schemathesis.sh [path/to/sightline]
# SCHEMATHESIS_BASE picks the three loopback ports (admin, inbound, egress); the run is bounded
# by SCHEMATHESIS_MAX_TIME seconds and SCHEMATHESIS_MAX_EXAMPLES cases per operation.
#
# Only the admin listener's loopback URL is handed to schemathesis: the document names no
# servers, so every request goes to that origin. The demo is thrown away afterwards, so the
# state-changing operations (acknowledge, resolve and reopen alerts, lift bans, log in and out) are
# exercised too: each request carries the `x-sightline-request` header that POSTs need.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-${CARGO_TARGET_DIR:-target}/debug/sightline}
base=${SCHEMATHESIS_BASE:-19980}
max_time=${SCHEMATHESIS_MAX_TIME:-60}
max_examples=${SCHEMATHESIS_MAX_EXAMPLES:-25}
seed=${SCHEMATHESIS_SEED:-20261204}
admin=127.0.0.1:$base inbound=127.0.0.1:$((base+1)) egress=127.0.0.1:$((base+2))
command -v schemathesis >/dev/null || { echo "schemathesis is not installed"; exit 1; }

work=$(mktemp -d)
"$bin" demo --admin "$admin" --inbound "$inbound" --egress "$egress" >"$work/demo.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
ok=""
for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null --max-time 1 "http://$admin/healthz" 2>/dev/null; then ok=1; break; fi
  sleep 0.2
done
[ -n "$ok" ] || { cat "$work/demo.log"; echo "demo did not become healthy"; exit 1; }

# No token is set on the demo's loopback admin listener, so the auth-bypass check has nothing
# to test. No proxy from the environment: requests go straight to the loopback listener.
start=$(date +%s)
rc=0
(cd "$work" && env -u http_proxy -u HTTP_PROXY -u https_proxy -u HTTPS_PROXY -u ALL_PROXY \
  -u all_proxy NO_PROXY='*' timeout $((max_time + 120)) schemathesis run \
  "http://$admin/api/openapi.json" \
  --checks all --exclude-checks ignored_auth \
  --header 'x-sightline-request: 1' \
  --max-examples "$max_examples" --max-time "$max_time" --seed "$seed" \
  --max-redirects 0 --request-timeout 10 --workers 2 \
  --generation-database none --no-color) || rc=$?
echo "schemathesis finished in $(( $(date +%s) - start ))s with exit code $rc"
kill -0 $pid 2>/dev/null || { cat "$work/demo.log"; echo "the demo died during the run"; exit 1; }
exit $rc
