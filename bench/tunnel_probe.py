"""Summary of bench/tunnel_probe.sh's readings: per proxy (medians over rounds), the 1 MiB
cell's MiB/s and, per GB moved during the window, the CPU time of the proxy, the nginx
upstream and the client (the last two share the load CPU), the client's context switches and
minor faults; with PROBE=stat the sizes of the client's reads and the proxy's system calls per
MiB; with PROBE=record the load CPU's largest symbols of the client and nginx, in samples
per GB.

    python3 bench/tunnel_probe.py PROBE_DIR HZ
"""
import glob
import os
import re
import statistics
import subprocess
import sys


def perf_lines(path, fields):
    out = subprocess.run(
        ["perf", "script", "-i", path, "-F", fields], capture_output=True, text=True
    )
    return out.stdout.splitlines()


def returned(line):
    """The return value at the end of a sys_exit line, None for an error."""
    m = re.search(r"(0x[0-9a-f]+)\s*$", line)
    if not m:
        return None
    v = int(m.group(1), 16)
    return None if v >= 1 << 40 else v


def client_reads(path):
    reads, first, asked = [], [], {}
    for line in perf_lines(path, "tid,event,trace"):
        parts = line.split()
        if not parts:
            continue
        tid = parts[0]
        if "sys_enter_sendto" in line:
            asked[tid] = True
            continue
        v = returned(line)
        if v is None:
            continue
        reads.append(v)
        if asked.get(tid):
            first.append(v)
            asked[tid] = False
    return reads, first


def proxy_calls(path):
    calls = {}
    for line in perf_lines(path, "event,trace"):
        m = re.match(r"\s*syscalls:sys_exit_(\w+):", line)
        if m:
            calls.setdefault(m.group(1), []).append(returned(line))
    return calls


def symbols(path, gb):
    out = subprocess.run(
        ["perf", "report", "-i", path, "--comms", "python3,nginx", "--sort", "comm,sym",
         "-n", "--stdio"],
        capture_output=True, text=True,
    ).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("#") or len(parts) < 5 or not parts[1].isdigit():
            continue
        found[(parts[2], " ".join(parts[4:]))] = int(parts[1]) / gb
    return found


def main():
    d, hz = sys.argv[1], int(sys.argv[2])
    rows, extra, syms = {}, {}, {}
    for probe in sorted(glob.glob(f"{d}/*.probe")):
        base = probe[: -len(".probe")]
        name = os.path.basename(base).rsplit(".", 1)[0]
        try:
            rate = float(open(base + ".rate").read())
            t0, t1, proxy, ngx, client, ctxsw, minflt = map(float, open(probe).read().split())
        except (OSError, ValueError):
            continue
        if rate <= 0:
            continue
        gb = rate * (t1 - t0) / 1e9
        ms = 1000 / hz / gb
        rows.setdefault(name, []).append(
            (rate / 1048576, proxy * ms, ngx * ms, client * ms, (ngx + client) * ms,
             ctxsw / gb, minflt / gb)
        )
        mib = gb * 1e9 / 1048576
        e = extra.setdefault(name, {})
        if os.path.exists(base + ".client"):
            reads, first = client_reads(base + ".client")
            if reads:
                e.setdefault("client read, bytes", []).append(sum(reads) / len(reads))
            if first:
                e.setdefault("client first read after a request, bytes", []).append(sum(first) / len(first))
        if os.path.exists(base + ".proxy"):
            calls = proxy_calls(base + ".proxy")
            # Every relayed byte is taken in once and given out once.
            relayed = sum(v for c, vals in calls.items() if c != "epoll_wait"
                          for v in vals if v) / 2 / 1048576
            for call, vals in calls.items():
                moved = [v for v in vals if v]
                e.setdefault(f"proxy {call} per MiB", []).append(len(vals) / max(relayed, 1e-9))
                if call != "epoll_wait" and moved:
                    e.setdefault(f"proxy {call} bytes", []).append(sum(moved) / len(moved))
        if os.path.exists(base + ".nginx"):
            for line in open(base + ".nginx"):
                parts = line.strip().split(",")
                if len(parts) > 2 and parts[0].isdigit():
                    e.setdefault("nginx writev per MiB", []).append(int(parts[0]) / mib)
        if os.path.exists(base + ".perf"):
            for key, v in symbols(base + ".perf", gb).items():
                syms.setdefault(key, {}).setdefault(name, []).append(v)
    names = sorted(rows)
    print("| 1 MiB cell, per GB moved | MiB/s (rounds) | proxy CPU ms | nginx CPU ms | client CPU ms "
          "| load CPU ms (nginx + client) | client context switches | client minor faults |")
    print("|---|---|---|---|---|---|---|---|")
    for n in names:
        v = rows[n]
        med = [statistics.median(x[i] for x in v) for i in range(7)]
        print(f"| {n} | {' / '.join(f'{x[0]:,.0f}' for x in v)} | {med[1]:.0f} | {med[2]:.0f} "
              f"| {med[3]:.0f} | {med[4]:.0f} | {med[5]:,.0f} | {med[6]:,.0f} |")
    keys = sorted({k for n in names for k in extra.get(n, {})})
    if keys:
        print()
        print("| medians | " + " | ".join(names) + " |")
        print("|---|" + "---|" * len(names))
        for k in keys:
            cells = [extra.get(n, {}).get(k) for n in names]
            print(f"| {k} | " + " | ".join(
                f"{statistics.median(c):,.0f}" if c else "" for c in cells) + " |")
    if syms:
        print()
        print("| load CPU samples per GB (medians) | " + " | ".join(names) + " |")
        print("|---|" + "---|" * len(names))
        totals = {(c, n): 0 for c in ("python3", "nginx") for n in names}
        for (comm, _), per in syms.items():
            for n in names:
                totals[(comm, n)] += statistics.median(per[n]) if n in per else 0
        for comm in ("python3", "nginx"):
            print(f"| {comm}, all | " + " | ".join(f"{totals[(comm, n)]:,.0f}" for n in names) + " |")
        top = sorted(syms, key=lambda k: -max(statistics.median(v) for v in syms[k].values()))
        for key in top[:24]:
            print(f"| {key[0]} `{key[1]}` | " + " | ".join(
                f"{statistics.median(syms[key][n]):,.0f}" if n in syms[key] else "0"
                for n in names) + " |")


if __name__ == "__main__":
    main()
