#!/usr/bin/env bash
# The container image end to end: scripts/image.sh builds it from the binary cargo built, podman
# runs it as an operator would (config mounted at the default path, the store on a named
# volume, host networking on loopback ports), and the proxy answers /healthz, /readyz, the
# image's own health check and a call proxied to an upstream on the host. Then the
# `podman run IMAGE proxy --listen … --to …` form.
#
#   bash tests/container.sh [BINARY]     # default: the debug binary of this checkout
#
# podman runs with runc and no default ulimits (a containers.conf of its own), which is what
# works inside unprivileged CI containers too. Skips, saying why, only when podman cannot run
# a container at all here.
set -euo pipefail
cd "$(dirname "$0")/.."

target=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin=${1:-$target/debug/sightline}
[ -x "$bin" ] || { echo "container test: no binary at $bin (cargo build first)"; exit 1; }
command -v podman >/dev/null || { echo "container test: podman is not installed"; exit 1; }

work=$(mktemp -d /tmp/sightline-container-test.XXXXXX)
tag=sightline-test:$$
name=sightline-test-$$
volume=sightline-test-$$
pids=()
cleanup() {
  podman rm -f -v -t 0 "$name" "$name-quick" >/dev/null 2>&1 || true
  podman volume rm -f "$volume" >/dev/null 2>&1 || true
  podman rmi -f "$tag" >/dev/null 2>&1 || true
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: container: $*" >&2; exit 1; }

cat >"$work/containers.conf" <<'CONF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF=$work/containers.conf

# Skip only when podman cannot work on this machine at all.
if ! probe=$(podman info 2>&1 >/dev/null); then
  echo "container test: skipped, podman cannot run here: $(tail -1 <<<"$probe")"
  exit 0
fi

# Four free loopback ports: upstream, inbound, admin, and the quick form's admin.
read -r up inbound admin quick_admin quick_inbound < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PY
)

mkdir -p "$work/www"
echo "served by the upstream on the host" >"$work/www/hello.txt"
python3 -m http.server "$up" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 &
pids+=($!)

IMAGE=$tag SIGHTLINE_BIN=$bin bash scripts/image.sh >"$work/image.log" 2>&1 ||
  fail "scripts/image.sh: $(tail -3 "$work/image.log")"
user=$(podman image inspect "$tag" --format '{{.Config.User}}')
[ "$user" = "65532:65532" ] || fail "the image runs as '$user', not the unprivileged user"

cat >"$work/sightline.yaml" <<YAML
version: 1
admin: { listen: 127.0.0.1:$admin }
inbound:
  listen: 127.0.0.1:$inbound
  routes: [ { path_prefix: /, service: web } ]
services:
  web: { upstreams: [ "127.0.0.1:$up" ] }
storage: { path: /var/lib/sightline }
YAML
chmod 0644 "$work/sightline.yaml"
podman volume create "$volume" >/dev/null
podman run -d --name "$name" --network host \
  -v "$work/sightline.yaml:/etc/sightline/sightline.yaml:ro" \
  -v "$volume:/var/lib/sightline" \
  -e SIGHTLINE_HEALTH_ADMIN="127.0.0.1:$admin" \
  "$tag" >"$work/run.log" 2>&1 || fail "podman run: $(tail -2 "$work/run.log")"

wait_ok() { # URL SECONDS
  local end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}
wait_ok "http://127.0.0.1:$admin/healthz" 30 ||
  fail "/healthz did not answer: $(podman logs "$name" 2>&1 | tail -3)"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin/readyz")
[ "$code" = 200 ] || fail "/readyz answered $code"
body=$(curl -fsS --max-time 5 "http://127.0.0.1:$inbound/hello.txt") || fail "proxied call failed"
[ "$body" = "served by the upstream on the host" ] || fail "proxied call returned '$body'"
podman healthcheck run "$name" >/dev/null 2>&1 || fail "the image's health check failed"
calls=$(curl -fsS --max-time 5 "http://127.0.0.1:$admin/api/calls?limit=5")
grep -q '/hello.txt' <<<"$calls" || fail "the proxied call was not recorded: $calls"

# The store lives on the volume, written by the unprivileged user; a clean stop keeps it.
podman stop -t 20 "$name" >/dev/null
mount=$(podman volume inspect "$volume" --format '{{.Mountpoint}}')
[ -s "$mount/sightline.db" ] || fail "no store in the volume: $(ls -la "$mount")"
owner=$(stat -c %u "$mount/sightline.db")
[ "$owner" = 65532 ] || fail "the store is owned by uid $owner"

# The entrypoint is the binary: any subcommand follows the image name.
podman run -d --rm --name "$name-quick" --network host "$tag" \
  proxy --listen "127.0.0.1:$quick_inbound" --to "127.0.0.1:$up" --admin "127.0.0.1:$quick_admin" \
  >"$work/run-quick.log" 2>&1 || fail "podman run … proxy: $(tail -2 "$work/run-quick.log")"
wait_ok "http://127.0.0.1:$quick_admin/healthz" 30 || fail "proxy form: /healthz did not answer"
curl -fsS --max-time 5 -o /dev/null "http://127.0.0.1:$quick_inbound/hello.txt" ||
  fail "proxy form: proxied call failed"

echo "1 passed, 0 failed: container image (build without a registry, run, health, proxy, store volume)"
