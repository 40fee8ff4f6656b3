# squid as the reference forward proxy of bench/run.sh and bench/tunnel.sh (sourced by both),
# and the process-tree readings both take of the proxies they measure.

# Writes DIR/squid.conf for a squid on ADDR: one worker, no cache, CONNECT to any loopback
# port; its logs and pid file go to DIR/squid.
squid_conf() { # addr dir
  mkdir -p "$2/squid" && chmod 777 "$2/squid"
  cat > "$2/squid.conf" <<SQ
http_port $1
workers 1
http_access allow all
cache deny all
cache_mem 8 MB
access_log none
cache_log $2/squid/cache.log
pid_filename $2/squid/squid.pid
coredump_dir $2/squid
shutdown_lifetime 1 seconds
SQ
}

# The pids of a process and its descendants (nginx's workers, squid's kids).
tree() { echo "$1"; local c; for c in $(pgrep -P "$1" || true); do tree "$c"; done; }
# Sum of one number per process over a process tree: $2 is an awk program reading one file,
# $3 the file's name under /proc/<pid>/.
tree_sum() {
  local t=0 p v
  for p in $(tree "$1"); do
    v=$(awk "$2" "/proc/$p/$3" 2>/dev/null || echo 0)
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
# CPU ticks (user + system) of a process tree; RSS in KiB of a process tree.
cpu_ticks() { tree_sum "$1" '{sub(/^.*\) /, ""); print $12 + $13}' stat; }
rss_kib() { tree_sum "$1" '/^VmRSS/ {print $2}' status; }
