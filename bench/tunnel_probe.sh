# The load side of a CONNECT cell, read while it runs (sourced by bench/tunnel.sh with PROBE
# set): over WINDOW seconds (2.5) from 1 s into the cell, the CPU ticks of the proxy, the nginx
# upstream and the client, the client's context switches and minor page faults, and per
# PROBE mode:
#   stat:   the client's recvfrom sizes (and the first one after each request), the system
#           calls of the proxy with their sizes, nginx's writev calls, `ss -tmi` of the client's
#           sockets (perf tracepoints);
#   record: `perf record` of the load CPU (cpu-clock samples, every process on it).
# Writes OUT.probe (one line, read by bench/tunnel_probe.py) and OUT.* data files.

probe_ticks() { # pid...: user+system ticks of these processes and their descendants
  local t=0 p v
  for p in $(for q in "$@"; do tree "$q"; done); do
    v=$(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$p/stat" 2>/dev/null || true)
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
probe_field() { # pid n: the nth field of /proc/PID/stat after the name (minor faults: 8)
  awk -v f="$2" '{sub(/^.*\) /, ""); print $f}' "/proc/$1/stat" 2>/dev/null || echo 0
}
probe_ctxsw() { awk '/voluntary_ctxt_switches/ {s += $2} END {print s + 0}' /proc/"$1"/task/*/status 2>/dev/null || echo 0; }

# probe OUT PROXY_PID NGINX_PID PROXY_PORT CLIENT_SCRIPT: finds this cell's client, then reads.
probe() {
  local out=$1 proxy=$2 ngx=$3 port=$4 script=$5 cl="" w=${WINDOW:-2.5}
  # The client itself (python3), not the `timeout` or `taskset` that start it.
  for _ in $(seq 100); do
    cl=$(pgrep -n -f "python3 $script" || true)
    [ -n "$cl" ] && [ "$(cat "/proc/$cl/comm" 2>/dev/null)" = python3 ] && break
    cl=""; sleep 0.05
  done
  [ -n "$cl" ] || return 0
  sleep 1
  local t0 p0 g0 k0 x0 f0 t1 p1 g1 k1 x1 f1 waits=()
  t0=$(date +%s.%N); p0=$(probe_ticks "$proxy"); g0=$(probe_ticks "$ngx"); k0=$(probe_ticks "$cl")
  x0=$(probe_ctxsw "$cl"); f0=$(probe_field "$cl" 8)
  case $PROBE in
    stat)
      perf record -q -o "$out.client" -e syscalls:sys_exit_recvfrom,syscalls:sys_enter_sendto -p "$cl" -- sleep "$w" > /dev/null 2>&1 & waits+=($!)
      perf record -q -o "$out.proxy" -e 'syscalls:sys_exit_splice,syscalls:sys_exit_read,syscalls:sys_exit_write,syscalls:sys_exit_recvfrom,syscalls:sys_exit_sendto,syscalls:sys_exit_epoll_wait' -p "$(tree "$proxy" | paste -sd,)" -- sleep "$w" > /dev/null 2>&1 & waits+=($!)
      perf stat -x, -o "$out.nginx" -e syscalls:sys_enter_writev -p "$(tree "$ngx" | paste -sd,)" -- sleep "$w" & waits+=($!)
      sleep 1; ss -tmin state established "( dport = :$port )" > "$out.ss" 2>&1 || true
      wait "${waits[@]}" 2> /dev/null || true ;;
    record) perf record -q -C "$LOAD_CPU" -F 1999 -o "$out.perf" -- sleep "$w" > /dev/null 2>&1 || true ;;
    *) sleep "$w" ;;
  esac
  t1=$(date +%s.%N); p1=$(probe_ticks "$proxy"); g1=$(probe_ticks "$ngx"); k1=$(probe_ticks "$cl")
  x1=$(probe_ctxsw "$cl"); f1=$(probe_field "$cl" 8)
  # A client that ended within the window took its readings with it.
  [ -d "/proc/$cl" ] || return 0
  echo "$t0 $t1 $((p1 - p0)) $((g1 - g0)) $((k1 - k0)) $((x1 - x0)) $((f1 - f0))" > "$out.probe"
}
