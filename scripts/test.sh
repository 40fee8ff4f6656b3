#!/usr/bin/env bash
# Runs every check and test Sightline has: formatting, lints, unit and integration tests.
# Installs what a fresh Debian machine lacks for them (run as root, or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests use: curl for the smoke check below, dnsmasq as the real DNS
# server of the egress tests, rsyslog (with its TLS driver) and Alertmanager as the real alert
# receivers, Prometheus scraping /metrics in the telemetry tests, chromium for the dashboard's
# browser tests.
packages=(curl dnsmasq-base)
packages+=(rsyslog rsyslog-openssl prometheus-alertmanager)
packages+=(prometheus)
packages+=(chromium)
# podman (with runc, which works in unprivileged CI containers) runs the container image test;
# python3-venv holds kubernetes-validate for the Kubernetes manifest test.
packages+=(podman runc python3-venv)
# iproute2 brings up loopback in the network namespaces of the egress metadata tests (unshare is
# in util-linux, always installed).
packages+=(iproute2)
# systemd-analyze verifies the systemd unit; wrk drives the load across a SIGTERM drain.
packages+=(systemd wrk)
# The inspection tests drive curl (HTTP/1.1 and HTTP/2 through the egress proxy) and Python's
# urllib as clients of inspected tunnels.
packages+=(curl python3)
# PostgreSQL: the fleet tests start their own throwaway cluster on loopback.
packages+=(postgresql)  # fleet tests
# redis-server is the real shared back-end of the fleet tests (started by each test on a
# loopback port, never as a service).
packages+=(redis-server)  # fleet tests
# nftables redirects a client's connections to the transparent egress listener inside the
# test's network namespace.
packages+=(nftables)  # transparent egress test
# haproxy sends PROXY protocol v2 in front of the inbound listener.
packages+=(haproxy)  # proxy_protocol test
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# Node and npm drive Chromium in the dashboard tests (Debian's, unless some node is installed).
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# OTLP receivers of the telemetry tests (PyPI): oteltap (HTTP/protobuf, prints what it gets)
# and rotel (a collector receiving gRPC).
python3 -c 'import oteltap, rotel' 2>/dev/null ||
  python3 -m pip install -q oteltap==1.0.0 rotel==0.0.1a15 2>/dev/null ||
  python3 -m pip install -q --break-system-packages oteltap==1.0.0 rotel==0.0.1a15
# schemathesis (PyPI) checks the admin API against its OpenAPI document.
schemathesis_version=4.32.5
[ "$(schemathesis --version 2>/dev/null)" = "schemathesis, version $schemathesis_version" ] ||
  python3 -m pip install -q "schemathesis==$schemathesis_version" 2>/dev/null ||
  python3 -m pip install -q --break-system-packages "schemathesis==$schemathesis_version"

echo "== rustfmt"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== fuzz targets build (they run from fuzz/run.sh, not here)"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}" cargo check --manifest-path fuzz/Cargo.toml --bins --locked
echo "== tests"
cargo test --workspace --locked

echo "== Kubernetes manifests (kubernetes-validate)"
bash tests/kubernetes.sh

echo "== container image (scripts/image.sh, podman)"
bash tests/container.sh

echo "== dashboard in headless Chromium"
# playwright-core from the committed lock file, driving Debian's /usr/bin/chromium (no browser
# download); the tests start the debug binary the cargo tests just built.
(cd dashboard/e2e && npm ci --no-audit --no-fund --loglevel=error && npm test)

echo "== smoke: sightline demo"
bin=${CARGO_TARGET_DIR:-target}/debug/sightline
log=$(mktemp)
# SMOKE_BASE picks the three ports (admin, inbound, egress) so parallel checkouts do not collide.
base=${SMOKE_BASE:-19990}
admin=127.0.0.1:$base inbound=127.0.0.1:$((base+1)) egress=127.0.0.1:$((base+2))
"$bin" demo --admin "$admin" --inbound "$inbound" --egress "$egress" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
ok=""
for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null --max-time 1 http://$admin/healthz; then ok=1; break; fi
  sleep 0.2
done
[ -n "$ok" ] || { cat "$log"; echo "demo did not become healthy"; exit 1; }
curl -fsS --max-time 2 -H 'Host: shop.demo.internal' http://$inbound/products >/dev/null
# Read the whole page first: grep -q stops reading at the first match.
metrics=$(curl -fsS --max-time 2 http://$admin/metrics)
grep -q '^sightline_requests_total' <<<"$metrics"
kill -TERM $pid
for _ in $(seq 1 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then echo "demo did not stop on SIGTERM"; exit 1; fi
trap - EXIT
echo "1 passed, 0 failed: demo smoke"

echo "== admin API contract: schemathesis against a demo"
# Ports above the smoke test's three; bounded to about a minute.
SCHEMATHESIS_BASE=${SCHEMATHESIS_BASE:-$((base+10))} tests/schemathesis.sh "$bin"
echo "1 passed, 0 failed: admin API contract"
