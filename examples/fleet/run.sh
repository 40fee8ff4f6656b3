#!/usr/bin/env bash
# A fleet of three Sightline instances on loopback sharing one PostgreSQL (and Redis, when
# installed), behind one port (haproxy), with demo traffic. Usage:
#   examples/fleet/run.sh [path/to/sightline] [--once]
# Needs Debian's postgresql and haproxy (redis-server optional). Ctrl-C stops everything.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$(command -v sightline || echo "${CARGO_TARGET_DIR:-$here/../../target}/debug/sightline")}
once=${2:-}
[ -x "$bin" ] || { echo "no sightline binary at $bin (cargo build first, or pass its path)"; exit 1; }
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$pgbin" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)"; exit 1; }
command -v haproxy >/dev/null || { echo "haproxy is not installed (apt-get install haproxy)"; exit 1; }

work=$(mktemp -d /tmp/sightline-fleet.XXXXXX)
pids=()
instances=()
as_pg=()
if [ "$(id -u)" -eq 0 ]; then chown nobody "$work"; as_pg=(runuser -u nobody --); fi
cleanup() {
  # The instances first, while the database still takes their last writes.
  for p in "${instances[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${instances[@]}"; do wait "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/pg" -m fast -w stop >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== PostgreSQL on 127.0.0.1:15432"
"${as_pg[@]}" "$pgbin/initdb" -D "$work/pg" -U sightline --auth=trust -E UTF8 >/dev/null
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w -t 30 \
  -o "-p 15432 -k $work -c listen_addresses=127.0.0.1" start >/dev/null
"$pgbin/createdb" -h 127.0.0.1 -p 15432 -U sightline sightline

if command -v redis-server >/dev/null; then
  echo "== Redis on 127.0.0.1:16379"
  redis-server --port 16379 --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
  pids+=($!)
else
  echo "(redis-server not installed: the instances run without shared limits)"
fi

echo "== upstream on 127.0.0.1:18581"
mkdir -p "$work/www/products" "$work/www/orders"
echo '[{"id":1}]' >"$work/www/products/index.html"
echo '[{"id":7}]' >"$work/www/orders/index.html"
(cd "$work/www" && exec python3 -m http.server 18581 --bind 127.0.0.1) >"$work/www.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do
  [ "$(curl -fsS --max-time 1 http://127.0.0.1:18581/products/ 2>/dev/null)" = '[{"id":1}]' ] && break
  sleep 0.2
done
[ "$(curl -fsS --max-time 1 http://127.0.0.1:18581/products/ 2>/dev/null)" = '[{"id":1}]' ] ||
  { cat "$work/www.log"; echo "the upstream did not start (is port 18581 taken?)"; exit 1; }

for n in 1 2 3; do
  mkdir -p "$work/gw-$n"
  cp "$here/gw-$n.yaml" "$work/gw-$n/sightline.yaml"
  (cd "$work/gw-$n" && exec "$bin" run --config sightline.yaml) >"$work/gw-$n.log" 2>&1 &
  instances+=($!)
done
haproxy -f "$here/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
pids+=($!)

for n in 1 2 3; do
  ok=""
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:1990$n/readyz"; then ok=1; break; fi
    sleep 0.2
  done
  [ -n "$ok" ] || { cat "$work/gw-$n.log"; echo "gw-$n did not become ready"; exit 1; }
done

echo "== demo traffic through haproxy (127.0.0.1:18080): 300 calls, one blocked egress call per instance"
for i in $(seq 1 300); do
  case $((i % 3)) in
    0) path=/products/ ;; 1) path=/orders/ ;; *) path=/products/missing ;;
  esac
  curl -s -o /dev/null --max-time 2 "http://127.0.0.1:18080$path" || true
done
for n in 1 2 3; do
  curl -s -o /dev/null --max-time 2 -x "http://127.0.0.1:1970$n" http://169.254.169.254/latest/meta-data/ || true
done

echo
echo "Admin of each instance (each shows the whole fleet's graph; ?instance=gw-2 for one slice):"
for n in 1 2 3; do echo "  gw-$n: http://127.0.0.1:1990$n/   (API: http://127.0.0.1:1990$n/api/status)"; done
echo "Fleet entry point: http://127.0.0.1:18080/products/"
echo "PostgreSQL: psql -h 127.0.0.1 -p 15432 -U sightline sightline"
[ "$once" = "--once" ] && exit 0
echo "Ctrl-C stops the fleet."
wait
