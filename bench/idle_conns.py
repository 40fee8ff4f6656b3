"""Holds N idle keep-alive connections to HOST:PORT, each with one request answered, so a
proxy's resident memory with idle connections can be read. Writes "opened answered" to READY
once they are open, then holds them for 30 s. Opening stops after 60 s, whatever N.

    python3 bench/idle_conns.py HOST:PORT N READY
"""
import socket
import sys
import time

host, port = sys.argv[1].split(":")
n = int(sys.argv[2])
socks = []
deadline = time.monotonic() + 60
for i in range(n):
    if time.monotonic() > deadline:
        break
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
    socks.append(s)
answered = 0
for s in socks:
    try:
        answered += bool(s.recv(4096))
    except OSError:
        pass
with open(sys.argv[3], "w") as ready:
    ready.write(f"{len(socks)} {answered}\n")
time.sleep(30)
