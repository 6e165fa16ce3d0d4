#!/usr/bin/env python3
"""Large-body HTTP/1.1 GET load: CONNS keep-alive connections, each asking for URL again as
soon as the previous body is complete, for DURATION seconds, reading with 1 MiB recv_into.

wrk reads 8 KiB per read(2), so on one core it tops out well below what a server can push
over loopback with sendfile; this client's per-byte cost is only the kernel's copy, which
keeps the server the limit for the large-file figure. Standard library only.

    bulk.py URL CONNS DURATION_SECONDS

Prints: BULK requests=N bytes=N duration_us=N p50_us=N p99_us=N errors=N
(latency: request sent -> last body byte received, per response).
"""

import selectors
import socket
import sys
import time
from urllib.parse import urlsplit

CHUNK = 1 << 20


class Conn:
    def __init__(self, addr, request):
        self.sock = socket.create_connection(addr)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.request = request
        self.send()

    def send(self):
        self.sock.sendall(self.request)  # tiny: fits the empty send buffer at once
        self.started = time.perf_counter()
        self.head = b""
        self.remaining = None  # body bytes still expected, once the head is parsed


def main():
    url, conns, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    parts = urlsplit(url)
    if parts.scheme != "http":
        sys.exit("bulk.py: only http:// URLs")
    host, port = parts.hostname, parts.port or 80
    path = (parts.path or "/") + (("?" + parts.query) if parts.query else "")
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    latencies, total_bytes, errors = [], 0, 0
    start = time.perf_counter()
    deadline = start + duration
    for _ in range(conns):
        c = Conn((host, port), request)
        sel.register(c.sock, selectors.EVENT_READ, c)
    while True:
        now = time.perf_counter()
        if now >= deadline:
            break
        for key, _ in sel.select(timeout=deadline - now):
            c = key.data
            try:
                n = c.sock.recv_into(view)
            except BlockingIOError:
                continue
            except OSError:
                n = 0
            if n == 0:
                errors += 1
                sel.unregister(c.sock)
                c.sock.close()
                continue
            total_bytes += n
            data_start = 0
            if c.remaining is None:
                c.head += bytes(view[:n])
                end = c.head.find(b"\r\n\r\n")
                if end < 0:
                    continue
                head = c.head[:end].decode("latin-1").lower()
                status = head.split(" ", 2)[1] if " " in head else "000"
                if not status.startswith("2"):
                    errors += 1
                length = 0
                for line in head.split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.strip() == "content-length":
                        length = int(value.strip())
                body_seen = len(c.head) - (end + 4)
                c.remaining = length - body_seen
            else:
                c.remaining -= n
            if c.remaining <= 0:
                latencies.append(time.perf_counter() - c.started)
                c.send()
    elapsed = time.perf_counter() - start
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    latencies.sort()

    def pct(p):
        if not latencies:
            return 0
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1e6

    print(
        f"BULK requests={len(latencies)} bytes={total_bytes} duration_us={elapsed * 1e6:.0f} "
        f"p50_us={pct(50):.0f} p99_us={pct(99):.0f} errors={errors}"
    )


if __name__ == "__main__":
    main()
