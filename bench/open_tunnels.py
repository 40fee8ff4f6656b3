"""Holds N CONNECT tunnels open through an HTTP proxy to TARGET, each after one GET of PATH, so
a proxy's resident memory and open descriptors with many tunnels can be read. With READ=0 the
responses are left unread (every tunnel has bytes in flight that its client does not take).
Writes "opened answered" to READY once they are open, then holds them for 20 s. Opening stops
after 60 s, whatever N.

    python3 bench/open_tunnels.py PROXY TARGET PATH N READY
"""
import os
import socket
import sys
import time

proxy, target, path, n, ready = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
read = os.environ.get("READ", "1") == "1"
phost, pport = proxy.split(":")
socks = []
deadline = time.monotonic() + 60
for i in range(n):
    if time.monotonic() > deadline:
        break
    s = socket.create_connection((phost, int(pport)), timeout=10)
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    socks.append(s)
answered = 0
for s in socks:
    try:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(1)
            if not chunk:
                break
            head += chunk
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        if read:
            answered += bool(s.recv(65536))
        else:
            answered += head.startswith(b"HTTP/1.1 200")
    except OSError:
        pass
with open(ready, "w") as f:
    f.write(f"{len(socks)} {answered}\n")
time.sleep(20)
