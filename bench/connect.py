"""CONNECT tunnel load: each thread opens one tunnel through an HTTP proxy (or connects
directly), then sends keep-alive GETs for `path` over it and reads each whole response, until
the time or the request budget is spent. Prints `<bytes/s> <req/s> <requests>`.

    python3 bench/connect.py PROXY|direct TARGET PATH CONNS SECONDS MAX_REQUESTS

With CONNECT_TLS_CA set (a CA file), each tunnel carries TLS to TARGET's host, verified with that
CA (HTTP/1.1 by ALPN), and the GETs go inside it.
"""
import os
import socket
import ssl
import sys
import threading
import time


def open_tunnel(proxy, target):
    host, port = target.split(":")
    if proxy == "direct":
        return socket.create_connection((host, int(port)), timeout=10)
    phost, pport = proxy.split(":")
    s = socket.create_connection((phost, int(pport)), timeout=10)
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("proxy closed before answering CONNECT")
        head += chunk
    if not head.startswith(b"HTTP/1.1 200") and not head.startswith(b"HTTP/1.0 200"):
        raise RuntimeError(f"CONNECT refused: {head[:80]!r}")
    return s


def worker(proxy, target, path, deadline, budget, totals, lock):
    try:
        run(proxy, target, path, deadline, budget, totals, lock)
    except (OSError, RuntimeError, ValueError) as e:
        with lock:
            totals[2].append(str(e))


def run(proxy, target, path, deadline, budget, totals, lock):
    s = open_tunnel(proxy, target)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ca = os.environ.get("CONNECT_TLS_CA")
    if ca:
        ctx = ssl.create_default_context(cafile=ca)
        ctx.set_alpn_protocols(["http/1.1"])
        s = ctx.wrap_socket(s, server_hostname=target.rsplit(":", 1)[0])
    request = f"GET {path} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    done = 0
    moved = 0
    while time.monotonic() < deadline and done < budget:
        s.sendall(request)
        # The head is found in the read buffer itself: only the head's bytes are copied out
        # (copying a whole first read, which may hold most of the body, would cost the client
        # more the more of the body arrived before it ran).
        filled = 0
        while True:
            n = s.recv_into(view[filled:])
            if n == 0:
                raise RuntimeError("closed mid-response")
            filled += n
            end = buf.find(b"\r\n\r\n", 0, filled)
            if end >= 0:
                break
        head = bytes(view[:end])
        rest_len = filled - end - 4
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"answer is not 200: {head[:60]!r}")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        got = rest_len
        while got < length:
            n = s.recv_into(view)
            if n == 0:
                raise RuntimeError("closed mid-body")
            got += n
        # Keep-alive responses end exactly at Content-Length; nothing is pipelined.
        moved += len(head) + 4 + length
        done += 1
    s.close()
    with lock:
        totals[0] += moved
        totals[1] += done


def main():
    proxy, target, path = sys.argv[1], sys.argv[2], sys.argv[3]
    conns, seconds, budget = int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
    totals = [0, 0, []]
    lock = threading.Lock()
    start = time.monotonic()
    deadline = start + seconds
    threads = [
        threading.Thread(
            target=worker,
            args=(proxy, target, path, deadline, budget // conns, totals, lock),
        )
        for _ in range(conns)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)
    elapsed = time.monotonic() - start
    for e in totals[2]:
        print(f"tunnel failed: {e}", file=sys.stderr)
    if totals[2]:
        sys.exit(1)
    print(f"{totals[0] / elapsed:.0f} {totals[1] / elapsed:.1f} {totals[1]}")


if __name__ == "__main__":
    main()
