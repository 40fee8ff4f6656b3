#!/usr/bin/env bash
# Span-export overhead: the same Sightline proxy without and with OTLP export (gRPC to a real
# collector, rotel, that discards what it receives), in interleaved rounds with wrk against an
# nginx upstream, all on loopback. Prints requests/s per round and the medians, then the span
# pipeline counters of the exporting proxy. Ports: BENCH_BASE..BENCH_BASE+7 (default 21300).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3} SECONDS_PER=${SECONDS_PER:-5} CONNS=${CONNS:-10}
base=${BENCH_BASE:-21300}
for t in nginx wrk; do command -v $t >/dev/null || { echo "needs $t (apt-get install nginx-light wrk)"; exit 1; }; done
rotel=$(python3 -c "import rotel, os; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))")
cargo build --release -q -p sightline
work=$(mktemp -d /tmp/sightline-tbench.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
UP=127.0.0.1:$base GRPC=127.0.0.1:$((base+1)) OHTTP=127.0.0.1:$((base+2))
PLAIN=127.0.0.1:$((base+3)) PLAINADM=127.0.0.1:$((base+4))
OTEL=127.0.0.1:$((base+5)) OTELADM=127.0.0.1:$((base+6))
cat > "$work/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http { access_log off; server { listen $UP; location / { return 200 "ok\n"; } } }
NGX
nginx -c "$work/nginx.conf" & pids+=($!)
"$rotel" start --exporter blackhole --otlp-grpc-endpoint=$GRPC --otlp-http-endpoint=$OHTTP >/dev/null 2>&1 & pids+=($!)
./target/release/sightline --log warn proxy --listen $PLAIN --to $UP --admin $PLAINADM --no-access-log >/dev/null 2>&1 & pids+=($!)
OTEL_EXPORTER_OTLP_ENDPOINT=http://$GRPC OTEL_EXPORTER_OTLP_PROTOCOL=grpc \
  ./target/release/sightline --log warn proxy --listen $OTEL --to $UP --admin $OTELADM --no-access-log >/dev/null 2>&1 & pids+=($!)
for a in $UP $PLAIN $OTEL; do
  for _ in $(seq 100); do curl -fsS -o /dev/null "http://$a/" 2>/dev/null && break; sleep 0.1; done
done
rps() { wrk -t2 -c"$CONNS" -d"${SECONDS_PER}s" "http://$1/x/1" 2>/dev/null | awk '/Requests\/sec/ {print $2}'; }
plain=() otel=()
for r in $(seq "$ROUNDS"); do
  p=$(rps $PLAIN); o=$(rps $OTEL); plain+=("$p"); otel+=("$o")
  echo "round $r: without export $p req/s, with OTLP gRPC export $o req/s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "median: without $(median "${plain[@]}") req/s, with $(median "${otel[@]}") req/s (c=$CONNS, ${SECONDS_PER}s x $ROUNDS)"
sleep 2
curl -fsS "http://$OTELADM/metrics" | grep -E '^sightline_(spans_(queued|dropped|exported|failed)_total|records_(dropped|processed)_total) '
