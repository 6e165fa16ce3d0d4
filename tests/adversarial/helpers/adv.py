#!/usr/bin/env python3
"""Clients and tiny upstreams for the adversarial suite (tests/adversarial/*.sh). Stdlib only.

Every client here records what happened to each request (complete, truncated, refused,
closed before answering, timed out) instead of trusting a load generator's error counters, and
prints one JSON object on stdout for the calling script to judge. Every loop is bounded in
count and time; every address is on the loopback interface.

Subcommands (see --help of each):
  probe       a normal client: one request per interval on a new connection
  trickle     many slow connections (slow headers or slow body); when did the server close each?
  hold        opens N connections and keeps them open, for descriptor exhaustion
  shutdown    keep-alive and new-connection clients, SIGTERM at a set time, per-request outcomes
  stream      large downloads/uploads in flight while the server is told to stop
  cut         starts a large response, lets the caller kill the upstream, classifies the end
  steady      requests at a steady pace on keep-alive connections, one record per request
  idle        opens N keep-alive connections (one request each), holds them idle
  rss         samples VmRSS of a process until it exits or a file appears
  sink        upstream: reads whole request bodies (length or chunked), answers with their size
  chunked     upstream: answers /stream with a slow chunked body
"""

import argparse
import errno
import hashlib
import json
import os
import selectors
import signal
import socket
import statistics
import sys
import threading
import time

MONO = time.monotonic


def parse_addr(s):
    """'127.0.0.1:80' or '[::1]:80' -> (family, host, port)."""
    if s.startswith("["):
        host, _, port = s[1:].partition("]:")
        return socket.AF_INET6, host, int(port)
    host, _, port = s.rpartition(":")
    return socket.AF_INET, host, int(port)


def connect(addr, timeout):
    fam, host, port = parse_addr(addr)
    sock = socket.socket(fam, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.connect((host, port))
    return sock


def request_bytes(path, host="localhost", close=False, http10=False, extra=b"", method="GET"):
    version = b"HTTP/1.0" if http10 else b"HTTP/1.1"
    head = b"%s %s %s\r\nHost: %s\r\nUser-Agent: adv\r\n" % (
        method.encode(), path.encode(), version, host.encode())
    if close:
        head += b"Connection: close\r\n"
    elif http10:
        pass
    return head + extra + b"\r\n"


class Reader:
    """Reads one HTTP/1.x response from a blocking socket and says how it ended.

    end: 'complete' (framing satisfied), 'eof' (FIN before the end), 'reset', 'timeout';
    complete_looking: what a client would believe: a close-delimited body ended by FIN looks
    complete, a short Content-Length or a chunked body without its last chunk does not.
    """

    def __init__(self, sock, deadline, head_only=False, digest=False, read_size=65536,
                 rate=None, keep=0):
        self.sock = sock
        self.deadline = deadline
        self.head_only = head_only
        self.buf = b""
        self.got_bytes = 0
        self.digest = hashlib.sha256() if digest else None
        self.read_size = read_size
        self.rate = rate  # bytes per second, to read slowly
        self.keep = keep  # keep this many body bytes in out["text"]
        self.kept = b""
        self.started = MONO()

    def _recv(self):
        left = self.deadline - MONO()
        if left <= 0:
            raise socket.timeout()
        if self.rate:
            # Throttle: never be ahead of rate * elapsed.
            ahead = self.got_bytes / self.rate - (MONO() - self.started)
            if ahead > 0:
                time.sleep(min(ahead, left))
        self.sock.settimeout(max(0.001, self.deadline - MONO()))
        data = self.sock.recv(self.read_size)
        self.got_bytes += len(data)
        return data

    def read(self):
        out = {"status": None, "framing": None, "body": 0, "end": None,
               "complete_looking": False, "bytes": 0, "keep_alive": False, "headers": {}}
        try:
            while b"\r\n\r\n" not in self.buf:
                data = self._recv()
                if not data:
                    out["end"] = "eof"
                    return self._done(out)
                self.buf += data
                if len(self.buf) > 65536:
                    out["end"] = "bad_head"
                    return self._done(out)
            head, _, rest = self.buf.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            parts = lines[0].split(b" ", 2)
            out["status"] = int(parts[1])
            version = parts[0]
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(b":")
                headers.setdefault(k.strip().lower().decode(), v.strip().decode("latin-1"))
            out["headers"] = headers
            conn = headers.get("connection", "").lower()
            out["keep_alive"] = ("close" not in conn) and (
                version == b"HTTP/1.1" or "keep-alive" in conn)
            status = out["status"]
            if self.head_only or status in (204, 304) or 100 <= status < 200:
                out["framing"] = "none"
                out["end"] = "complete"
                out["complete_looking"] = True
                self.buf = rest
                return self._done(out)
            if "chunked" in headers.get("transfer-encoding", "").lower():
                out["framing"] = "chunked"
                return self._chunked(out, rest)
            if "content-length" in headers:
                out["framing"] = "length"
                return self._length(out, rest, int(headers["content-length"]))
            out["framing"] = "close"
            out["keep_alive"] = False
            return self._until_close(out, rest)
        except socket.timeout:
            out["end"] = "timeout"
        except ConnectionResetError:
            out["end"] = "reset"
        except OSError as e:
            out["end"] = "reset" if e.errno in (errno.ECONNRESET, errno.EPIPE) else "error"
        return self._done(out)

    def _done(self, out):
        out["bytes"] = self.got_bytes
        if self.keep:
            out["text"] = self.kept.decode("latin-1")
        if self.digest is not None:
            out["sha256"] = self.digest.hexdigest()
        return out

    def _body(self, out, data):
        out["body"] += len(data)
        if len(self.kept) < self.keep:
            self.kept += data[:self.keep - len(self.kept)]
        if self.digest is not None:
            self.digest.update(data)

    def _length(self, out, rest, n):
        take = rest[:n]
        self._body(out, take)
        self.buf = rest[n:]
        while out["body"] < n:
            data = self._recv()
            if not data:
                out["end"] = "eof"
                return self._done(out)
            need = n - out["body"]
            self._body(out, data[:need])
            self.buf = data[need:]
        out["end"] = "complete"
        out["complete_looking"] = True
        return self._done(out)

    def _until_close(self, out, rest):
        self._body(out, rest)
        self.buf = b""
        while True:
            data = self._recv()
            if not data:
                # FIN: indistinguishable from a complete body for the client.
                out["end"] = "eof"
                out["complete_looking"] = True
                return self._done(out)
            self._body(out, data)

    def _chunked(self, out, rest):
        buf = rest
        while True:
            while b"\r\n" not in buf:
                data = self._recv()
                if not data:
                    out["end"] = "eof"
                    return self._done(out)
                buf += data
            line, _, buf = buf.partition(b"\r\n")
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                # Trailers end with an empty line.
                while True:
                    while b"\r\n" not in buf:
                        data = self._recv()
                        if not data:
                            out["end"] = "eof"
                            return self._done(out)
                        buf += data
                    line, _, buf = buf.partition(b"\r\n")
                    if line == b"":
                        out["end"] = "complete"
                        out["complete_looking"] = True
                        self.buf = buf
                        return self._done(out)
            while len(buf) < size + 2:
                data = self._recv()
                if not data:
                    self._body(out, buf[:size])
                    out["end"] = "eof"
                    return self._done(out)
                buf += data
            self._body(out, buf[:size])
            buf = buf[size + 2:]


def fetch(addr, path, timeout=5.0, close=True, http10=False):
    """One request on a new connection; returns (outcome dict, elapsed seconds)."""
    t0 = MONO()
    try:
        sock = connect(addr, timeout)
    except OSError as e:
        return {"end": "connect_" + (errno.errorcode.get(e.errno, "timeout") if e.errno else "timeout"),
                "status": None, "complete_looking": False}, MONO() - t0
    try:
        sock.sendall(request_bytes(path, close=close, http10=http10))
        out = Reader(sock, t0 + timeout).read()
    except OSError as e:
        out = {"end": "send_" + errno.errorcode.get(e.errno or 0, "error"), "status": None,
               "complete_looking": False}
    finally:
        sock.close()
    return out, MONO() - t0


def pct(values, p):
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100.0 * (len(values) - 1)))))
    return values[k]


def emit(obj):
    print(json.dumps(obj, sort_keys=True))
    sys.stdout.flush()


# --- probe ---------------------------------------------------------------------------------


def cmd_probe(a):
    """One GET per interval on a new connection, for `duration` seconds."""
    results = []
    start = MONO()
    n = 0
    while True:
        due = start + n * a.interval
        if due - start >= a.duration:
            break
        now = MONO()
        if due > now:
            time.sleep(due - now)
        out, dt = fetch(a.addr, a.path, timeout=a.timeout)
        ok = out.get("status") == 200 and out.get("end") == "complete"
        results.append({"t": round(due - start, 2), "ok": ok, "status": out.get("status"),
                        "end": out.get("end"), "ms": round(dt * 1000, 1)})
        n += 1
    lat = [r["ms"] for r in results if r["ok"]]
    emit({"total": len(results), "ok": sum(r["ok"] for r in results),
          "failed": [r for r in results if not r["ok"]],
          "p50_ms": pct(lat, 50), "max_ms": max(lat) if lat else None})


# --- trickle -------------------------------------------------------------------------------


def cmd_trickle(a):
    """Slow connections that never finish their request; records when the server ends each."""
    sel = selectors.DefaultSelector()
    conns = []
    start = MONO()
    fam, host, port = parse_addr(a.addr)
    deadline = start + a.max_time
    opened = 0
    next_open = start
    while opened < a.count and MONO() < deadline:
        now = MONO()
        if now < next_open:
            time.sleep(next_open - now)
        s = socket.socket(fam, socket.SOCK_STREAM)
        try:
            s.connect((host, port))
        except OSError as e:
            conns.append({"open": MONO() - start, "closed": MONO() - start, "how": "connect_failed:%s" % e})
            opened += 1
            continue
        s.setblocking(False)
        c = {"sock": s, "open": MONO() - start, "closed": None, "how": None, "sent": 0,
             "resp": b"", "next": MONO() + a.interval, "i": 0}
        if a.mode == "header":
            first = b"GET %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: adv-trickle\r\n" % a.path.encode()
        else:
            first = (b"POST %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: adv-trickle\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: %d\r\n\r\na=b" % (a.path.encode(), a.length))
        try:
            s.send(first)
        except OSError:
            pass
        sel.register(s, selectors.EVENT_READ, c)
        conns.append(c)
        opened += 1
        next_open = start + opened / a.rate
    # Feed every open connection a little at each interval; note when the server ends it.
    while MONO() < deadline:
        live = [c for c in conns if c.get("sock") is not None and c["closed"] is None]
        if not live:
            break
        for key, _ in sel.select(timeout=0.05):
            c = key.data
            try:
                data = c["sock"].recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = None
                c["how"] = "reset"
            if data:
                c["resp"] = (c["resp"] + data)[:200]
                continue
            c["how"] = c["how"] or "eof"
            c["closed"] = MONO() - start
            sel.unregister(c["sock"])
            c["sock"].close()
        now = MONO()
        for c in live:
            if c["closed"] is None and now >= c["next"]:
                c["i"] += 1
                c["next"] = now + a.interval
                chunk = (b"X-Slow-%d: x\r\n" % c["i"]) if a.mode == "header" else b"&c=d"
                try:
                    c["sock"].send(chunk)
                except BlockingIOError:
                    pass
                except OSError:
                    c["how"] = "send_failed"
                    c["closed"] = now - start
                    sel.unregister(c["sock"])
                    c["sock"].close()
    still_open = 0
    for c in conns:
        if c.get("sock") is not None and c["closed"] is None:
            still_open += 1
            c["sock"].close()
    lifetimes = [c["closed"] - c["open"] for c in conns if c["closed"] is not None]
    statuses = {}
    for c in conns:
        line = c.get("resp", b"").split(b"\r\n", 1)[0]
        key = line.decode("latin-1")[:40] or "(no response)"
        statuses[key] = statuses.get(key, 0) + 1
    hows = {}
    for c in conns:
        hows[str(c["how"])] = hows.get(str(c["how"]), 0) + 1
    emit({"mode": a.mode, "count": len(conns), "closed_by_server": len(lifetimes),
          "still_open": still_open,
          "lifetime_max_s": round(max(lifetimes), 2) if lifetimes else None,
          "lifetime_p50_s": round(pct(lifetimes, 50), 2) if lifetimes else None,
          "lifetime_min_s": round(min(lifetimes), 2) if lifetimes else None,
          "responses": statuses, "ends": hows})


# --- hold ----------------------------------------------------------------------------------


def cmd_hold(a):
    """Opens `count` connections (optionally sending a request on each and reading nothing),
    keeps them for `hold` seconds or until `release_file` exists, then closes them all."""
    fam, host, port = parse_addr(a.addr)
    socks = []
    failed = 0
    t0 = MONO()
    for _ in range(a.count):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect((host, port))
            if a.path:
                s.sendall(request_bytes(a.path))
            socks.append(s)
        except OSError:
            failed += 1
            s.close()
    connected = MONO() - t0
    if a.ready_file:
        with open(a.ready_file, "w") as f:
            f.write("%d\n" % len(socks))
    end = MONO() + a.hold
    while MONO() < end:
        if a.release_file and os.path.exists(a.release_file):
            break
        time.sleep(0.05)
    # How many are still open from the server's point of view (not closed by a timeout), and
    # what did those that sent a request get so far?
    alive = 0
    statuses = {}
    for s in socks:
        s.setblocking(False)
        try:
            data = s.recv(65536)
            if data:
                alive += 1
                code = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "?"
                statuses[code] = statuses.get(code, 0) + 1
            else:
                statuses["closed"] = statuses.get("closed", 0) + 1
        except BlockingIOError:
            alive += 1
            statuses["none"] = statuses.get("none", 0) + 1
        except OSError:
            statuses["reset"] = statuses.get("reset", 0) + 1
    for s in socks:
        s.close()
    emit({"opened": len(socks), "connect_failed": failed, "connect_s": round(connected, 2),
          "alive_at_release": alive, "responses": statuses})


# --- shutdown ------------------------------------------------------------------------------


def wait_exit(pid, limit):
    """Seconds until `pid` exits (or becomes a zombie), None if it outlives `limit`."""
    t0 = MONO()
    while MONO() - t0 < limit:
        try:
            with open("/proc/%d/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            if state in ("Z", "X"):
                return MONO() - t0
        except (FileNotFoundError, ProcessLookupError):
            # Gone (and reaped) between open and read: reading a dead process's stat is ESRCH.
            return MONO() - t0
        time.sleep(0.005)
    return None


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.records = []

    def add(self, r):
        with self.lock:
            self.records.append(r)


def shutdown_worker(a, rec, stop_at, keep_alive, expect_len, wid):
    sock = None
    path = a.path
    while MONO() < stop_at:
        r = {"w": wid, "ka": keep_alive, "t_start": MONO(), "t_sent": None, "new_conn": False}
        try:
            if sock is None:
                r["new_conn"] = True
                try:
                    sock = connect(a.addr, a.timeout)
                except OSError as e:
                    r["end"] = "refused" if e.errno == errno.ECONNREFUSED else "connect_error"
                    r["t_end"] = MONO()
                    rec.add(r)
                    time.sleep(0.01)
                    continue
            try:
                sock.sendall(request_bytes(path, close=not keep_alive))
            except OSError:
                r["end"] = "send_failed"
                r["t_end"] = MONO()
                rec.add(r)
                sock.close()
                sock = None
                continue
            r["t_sent"] = MONO()
            out = Reader(sock, MONO() + a.timeout).read()
            r["t_end"] = MONO()
            r["status"] = out["status"]
            r["body"] = out["body"]
            if out["end"] == "complete" and out["status"] == 200 and out["body"] == expect_len:
                r["end"] = "ok"
            elif out["end"] == "complete":
                r["end"] = "bad_status" if out["status"] != 200 else "bad_length"
            elif out["bytes"] == 0 and out["end"] in ("eof", "reset"):
                r["end"] = "closed_unanswered"
            elif out["end"] == "timeout" and out["bytes"] == 0:
                r["end"] = "timeout"
            else:
                r["end"] = "truncated"
            rec.add(r)
            if not (keep_alive and out["end"] == "complete" and out["keep_alive"]):
                sock.close()
                sock = None
        except Exception as e:  # a bug in this client must show, not hide as a server failure
            r["end"] = "client_error:%r" % e
            r["t_end"] = MONO()
            rec.add(r)
            if sock is not None:
                sock.close()
                sock = None
    if sock is not None:
        sock.close()


def cmd_shutdown(a):
    """Requests from keep-alive and new-connection workers; SIGTERM to `pid` after `kill_after`
    seconds; every request's outcome classified against the moment of the signal.

    A request counts as accepted when the client had written all of it before kill(2) was
    called (monotonic clock, taken just before the call). Each accepted request must get a
    complete 200 with the expected body. Requests written later may be refused (connection
    refused, or closed before any byte of a response), never truncated."""
    out, _ = fetch(a.addr, a.path, timeout=5)
    if out.get("status") != 200:
        emit({"error": "warm-up request failed: %r" % out})
        return 1
    expect_len = out["body"]
    rec = Recorder()
    t0 = MONO()
    kill_at = t0 + a.kill_after
    stop_at = kill_at + a.after
    threads = []
    for i in range(a.keepalive):
        threads.append(threading.Thread(target=shutdown_worker,
                                        args=(a, rec, stop_at, True, expect_len, i), daemon=True))
    for i in range(a.newconn):
        threads.append(threading.Thread(target=shutdown_worker,
                                        args=(a, rec, stop_at, False, expect_len, 1000 + i),
                                        daemon=True))
    for t in threads:
        t.start()
    while MONO() < kill_at:
        time.sleep(max(0.0, min(0.01, kill_at - MONO())))
    t_kill = MONO()
    os.kill(a.pid, signal.SIGTERM)
    exit_s = wait_exit(a.pid, a.grace + 5)
    for t in threads:
        t.join(timeout=a.timeout + 2)
    recs = rec.records
    accepted = [r for r in recs if r["t_sent"] is not None and r["t_sent"] <= t_kill]
    late = [r for r in recs if not (r["t_sent"] is not None and r["t_sent"] <= t_kill)]
    count = lambda rs: {k: sum(1 for r in rs if r["end"] == k) for k in sorted({r["end"] for r in rs})}
    bad_accepted = [r for r in accepted if r["end"] != "ok"]
    bad_late = [r for r in late if r["end"] not in ("ok", "refused", "closed_unanswered", "send_failed")]
    # In flight at the signal: written before it, answered after it.
    in_flight = [r for r in accepted if r.get("t_end", 0) > t_kill]

    def brief(r):
        return {k: (round(v - t_kill, 4) if k.startswith("t_") and v is not None else v)
                for k, v in r.items()}
    emit({"requests": len(recs), "accepted": len(accepted), "accepted_ok": len(accepted) - len(bad_accepted),
          "in_flight_at_signal": len(in_flight),
          "accepted_outcomes": count(accepted), "after_signal_outcomes": count(late),
          "bad_accepted": [brief(r) for r in bad_accepted[:10]],
          "bad_after_signal": [brief(r) for r in bad_late[:10]],
          "exit_after_s": round(exit_s, 3) if exit_s is not None else None,
          "expect_len": expect_len})
    return 0


# --- stream --------------------------------------------------------------------------------


def cmd_stream(a):
    """A large download (and optionally upload) in flight when SIGTERM is sent to `pid`."""
    results = {}
    t0 = MONO()

    def download():
        r = {"t_start": 0}
        try:
            sock = connect(a.addr, 10)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
            sock.sendall(request_bytes(a.download, close=True))
            out = Reader(sock, MONO() + a.timeout, digest=True, rate=a.rate).read()
            sock.close()
            r.update({"status": out["status"], "end": out["end"], "body": out["body"],
                      "sha256": out.get("sha256"), "t_end": round(MONO() - t0, 3)})
        except OSError as e:
            r["error"] = str(e)
        results["download"] = r

    def upload():
        r = {}
        try:
            sock = connect(a.addr, 10)
            size = a.upload_size
            sock.sendall(b"POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n"
                         b"Content-Type: application/octet-stream\r\n\r\n" % (a.upload.encode(), size))
            h = hashlib.sha256()
            block = bytes(range(256)) * 256  # 64 KiB
            sent = 0
            started = MONO()
            while sent < size:
                n = min(len(block), size - sent)
                chunk = block[:n]
                sock.sendall(chunk)
                h.update(chunk)
                sent += n
                ahead = sent / a.rate - (MONO() - started)
                if ahead > 0:
                    time.sleep(ahead)
            out = Reader(sock, MONO() + a.timeout, keep=400).read()
            r.update({"status": out["status"], "end": out["end"], "sent": sent,
                      "sha256": h.hexdigest(), "t_end": round(MONO() - t0, 3),
                      "answer": out.get("text", "").strip()})
            sock.close()
        except OSError as e:
            r["error"] = str(e)
        results["upload"] = r

    threads = [threading.Thread(target=download, daemon=True)]
    if a.upload:
        threads.append(threading.Thread(target=upload, daemon=True))
    for t in threads:
        t.start()
    time.sleep(a.kill_after)
    t_kill = MONO()
    os.kill(a.pid, signal.SIGTERM)
    exit_s = wait_exit(a.pid, a.grace + 5)
    for t in threads:
        t.join(timeout=a.timeout)
    results["signal_at_s"] = round(t_kill - t0, 3)
    results["exit_after_s"] = round(exit_s, 3) if exit_s is not None else None
    emit(results)


# --- cut -----------------------------------------------------------------------------------


def cmd_cut(a):
    """Starts a response, waits until `min_bytes` of body arrived, touches `ready_file` (the
    caller then kills the upstream), reads to the end and reports how the response ended."""
    sock = connect(a.addr, 10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.sendall(request_bytes(a.path, http10=a.http10))
    rd = Reader(sock, MONO() + a.timeout, read_size=16384)
    signalled = [False]
    orig = rd._body

    def body(out, data):
        orig(out, data)
        if not signalled[0] and out["body"] >= a.min_bytes:
            signalled[0] = True
            with open(a.ready_file, "w") as f:
                f.write("ready\n")
            # Let the kill land before reading on, so the proxy sees the upstream die while
            # the response is still far from complete.
            time.sleep(a.pause)
    rd._body = body
    out = rd.read()
    sock.close()
    out.pop("headers", None)
    out["signalled"] = signalled[0]
    emit(out)


# --- steady --------------------------------------------------------------------------------


def cmd_steady(a):
    """`workers` keep-alive clients, each one request every `interval` seconds, for `duration`
    seconds; prints every request as [t_start, t_end, status, end] relative to the start."""
    rec = Recorder()
    t0 = MONO()
    stop = t0 + a.duration

    def worker(i):
        sock = None
        n = 0
        while True:
            due = t0 + i * a.interval / max(1, a.workers) + n * a.interval
            if due >= stop:
                break
            now = MONO()
            if due > now:
                time.sleep(due - now)
            n += 1
            ts = MONO()
            try:
                if sock is None:
                    sock = connect(a.addr, a.timeout)
                sock.sendall(request_bytes(a.path))
                out = Reader(sock, MONO() + a.timeout).read()
                end = out["end"]
                status = out["status"]
                if not (end == "complete" and out["keep_alive"]):
                    sock.close()
                    sock = None
            except OSError as e:
                end = "connect_error:%s" % errno.errorcode.get(e.errno or 0, "timeout")
                status = None
                if sock is not None:
                    sock.close()
                    sock = None
            rec.add([round(ts - t0, 3), round(MONO() - t0, 3), status, end])
        if sock is not None:
            sock.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(a.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=a.duration + a.timeout + 5)
    recs = sorted(rec.records)
    with open(a.out, "w") as f:
        json.dump({"t0_unix": time.time() - (MONO() - t0), "records": recs}, f)
    emit({"requests": len(recs), "ok": sum(1 for r in recs if r[2] == 200 and r[3] == "complete")})


def cmd_window(a):
    """Summarises the records of a `steady` run whose start lies in [from, to) (Unix times):
    outcomes, latencies, and when the first success after `from` started."""
    data = json.load(open(a.file))
    t0 = data["t0_unix"]
    lo = (a.start - t0) if a.start is not None else float("-inf")
    hi = (a.end - t0) if a.end is not None else float("inf")
    recs = [r for r in data["records"] if lo <= r[0] < hi]
    outcomes = {}
    for r in recs:
        key = "%s/%s" % (r[2], r[3])
        outcomes[key] = outcomes.get(key, 0) + 1
    ok = [r for r in recs if r[2] == 200 and r[3] == "complete"]
    lat = [(r[1] - r[0]) * 1000 for r in recs]
    first_ok = min((r[0] for r in ok), default=None)
    # The first success after which every request succeeded.
    stable = None
    for r in reversed(recs):
        if not (r[2] == 200 and r[3] == "complete"):
            break
        stable = r[0]
    emit({"n": len(recs), "ok": len(ok), "outcomes": outcomes,
          "min_ms": round(min(lat), 1) if lat else None,
          "max_ms": round(max(lat), 1) if lat else None,
          "first_ok_s": round(first_ok - lo, 3) if first_ok is not None and lo != float("-inf") else None,
          "stable_from_s": round(stable - lo, 3) if stable is not None and lo != float("-inf") else None,
          "bad": [[round(r[0] - lo, 3), round(r[1] - lo, 3), r[2], r[3]] for r in recs
                  if not (r[2] == 200 and r[3] == "complete")][:8]})


# --- idle ----------------------------------------------------------------------------------


def cmd_idle(a):
    """Opens `count` keep-alive connections, one complete request on each, then holds them
    idle; writes `ready_file` once all are idle and waits for `release_file` (or `hold`)."""
    fam, host, port = parse_addr(a.addr)
    req = request_bytes(a.path)
    sel = selectors.DefaultSelector()
    socks = []
    ok = 0
    failed = 0
    t0 = MONO()
    pending = {}
    batch = a.batch
    i = 0
    while i < a.count or pending:
        while i < a.count and len(pending) < batch:
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect((host, port))
            except BlockingIOError:
                pass
            except OSError:
                failed += 1
                s.close()
                i += 1
                continue
            st = {"sock": s, "sent": False, "buf": b"", "t": MONO()}
            pending[s.fileno()] = st
            sel.register(s, selectors.EVENT_WRITE | selectors.EVENT_READ, st)
            i += 1
        for key, ev in sel.select(timeout=0.2):
            st = key.data
            s = st["sock"]
            if not st["sent"] and ev & selectors.EVENT_WRITE:
                try:
                    s.send(req)
                    st["sent"] = True
                    sel.modify(s, selectors.EVENT_READ, st)
                except OSError:
                    sel.unregister(s)
                    del pending[s.fileno()]
                    s.close()
                    failed += 1
                continue
            if ev & selectors.EVENT_READ:
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(s)
                    del pending[s.fileno()]
                    s.close()
                    failed += 1
                    continue
                st["buf"] += data
                head, sep, body = st["buf"].partition(b"\r\n\r\n")
                if sep:
                    cl = 0
                    for line in head.split(b"\r\n")[1:]:
                        k, _, v = line.partition(b":")
                        if k.strip().lower() == b"content-length":
                            cl = int(v)
                    if len(body) >= cl:
                        sel.unregister(s)
                        del pending[s.fileno()]
                        if head.startswith(b"HTTP/1.1 200"):
                            ok += 1
                        socks.append(s)
        now = MONO()
        for fd, st in list(pending.items()):
            if now - st["t"] > a.timeout:
                sel.unregister(st["sock"])
                st["sock"].close()
                del pending[fd]
                failed += 1
        if MONO() - t0 > a.max_time:
            break
    opened_s = MONO() - t0
    if a.ready_file:
        with open(a.ready_file, "w") as f:
            f.write("%d\n" % len(socks))
    end = MONO() + a.hold
    while MONO() < end:
        if a.release_file and os.path.exists(a.release_file):
            break
        time.sleep(0.05)
    alive = 0
    for s in socks:
        try:
            data = s.recv(1, socket.MSG_PEEK)
            alive += 1 if data else 0
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
        s.close()
    emit({"idle": len(socks), "ok": ok, "failed": failed, "open_s": round(opened_s, 2),
          "alive_at_release": alive})


# --- rss -----------------------------------------------------------------------------------


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def cmd_rss(a):
    """Samples VmRSS of `pid` every `interval` seconds until `stop_file` exists; writes
    [seconds, kib] pairs to `out`."""
    t0 = MONO()
    samples = []
    while MONO() - t0 < a.max_time:
        try:
            samples.append([round(MONO() - t0, 3), vm_rss_kib(a.pid)])
        except (FileNotFoundError, ProcessLookupError):
            break
        if a.stop_file and os.path.exists(a.stop_file):
            break
        time.sleep(a.interval)
    with open(a.out, "w") as f:
        json.dump(samples, f)


# --- upstreams -----------------------------------------------------------------------------


class Upstream:
    """A threaded HTTP/1.1 upstream for the proxy: keep-alive, one thread per connection."""

    def __init__(self, addr, handler):
        fam, host, port = parse_addr(addr)
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(4096)
        self.handler = handler

    def serve(self, name):
        h = self.sock.getsockname()
        where = "[%s]:%d" % (h[0], h[1]) if self.sock.family == socket.AF_INET6 else "%s:%d" % h[:2]
        print("%s: listening on http://%s" % (name, where), file=sys.stderr, flush=True)
        while True:
            c, _ = self.sock.accept()
            threading.Thread(target=self.conn, args=(c,), daemon=True).start()

    def conn(self, c):
        c.settimeout(120)
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                method, target, _ = lines[0].split(b" ", 2)
                headers = {}
                for line in lines[1:]:
                    k, _, v = line.partition(b":")
                    headers[k.strip().lower()] = v.strip()
                buf = self.handler(c, method, target, headers, buf)
                if buf is None:
                    return
        except OSError:
            return
        finally:
            c.close()


def read_body(c, headers, buf):
    """Reads a request body (length or chunked); returns (size, sha256, leftover)."""
    h = hashlib.sha256()
    size = 0
    if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
        while True:
            while b"\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    raise OSError("eof in chunked body")
                buf += d
            line, _, buf = buf.partition(b"\r\n")
            n = int(line.split(b";")[0], 16)
            if n == 0:
                while b"\r\n" not in buf:
                    buf += c.recv(65536)
                _, _, buf = buf.partition(b"\r\n")
                return size, h.hexdigest(), buf
            while len(buf) < n + 2:
                d = c.recv(65536)
                if not d:
                    raise OSError("eof in chunk")
                buf += d
            h.update(buf[:n])
            size += n
            buf = buf[n + 2:]
    n = int(headers.get(b"content-length", b"0"))
    while size < n:
        if not buf:
            buf = c.recv(min(1 << 20, n - size))
            if not buf:
                raise OSError("eof in body")
        take = buf[:n - size]
        h.update(take)
        size += len(take)
        buf = buf[len(take):]
    return size, h.hexdigest(), buf


def sink_handler(c, method, target, headers, buf):
    size, digest, buf = read_body(c, headers, buf)
    body = b"received %d sha256 %s\n" % (size, digest.encode())
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
              % (len(body), body))
    return buf


def chunked_handler(c, method, target, headers, buf):
    """GET /...?chunks=N&size=B&delay_ms=D: N chunks of B bytes, D ms apart.
    GET /close?chunks=N&size=B&reset=1: a body delimited by the close of the connection, N
    pieces of B bytes, then a reset (SO_LINGER 0) instead of a FIN when reset=1."""
    q = {}
    if b"?" in target:
        for kv in target.split(b"?", 1)[1].split(b"&"):
            k, _, v = kv.partition(b"=")
            q[k.decode()] = int(v or b"0")
    n, size, delay = q.get("chunks", 1000), q.get("size", 16384), q.get("delay_ms", 10)
    if target.startswith(b"/close"):
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                  b"Connection: close\r\n\r\n")
        for _ in range(n):
            c.sendall(b"x" * size)
            if delay:
                time.sleep(delay / 1000.0)
        if q.get("reset"):
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        return None
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (size, b"x" * size)
    for _ in range(n):
        c.sendall(chunk)
        if delay:
            time.sleep(delay / 1000.0)
    c.sendall(b"0\r\n\r\n")
    return buf


def cmd_upstream(a):
    handler = {"sink": sink_handler, "chunked": chunked_handler}[a.cmd]
    Upstream(a.addr, handler).serve(a.cmd)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("probe")
    s.add_argument("addr")
    s.add_argument("--path", default="/")
    s.add_argument("--interval", type=float, default=1.0)
    s.add_argument("--duration", type=float, required=True)
    s.add_argument("--timeout", type=float, default=5.0)
    s.set_defaults(fn=cmd_probe)

    s = sub.add_parser("trickle")
    s.add_argument("addr")
    s.add_argument("--mode", choices=["header", "body"], required=True)
    s.add_argument("--path", default="/")
    s.add_argument("--count", type=int, default=10)
    s.add_argument("--rate", type=float, default=100.0, help="connections opened per second")
    s.add_argument("--interval", type=float, default=2.0)
    s.add_argument("--length", type=int, default=65536, help="Content-Length in body mode")
    s.add_argument("--max-time", type=float, default=60.0)
    s.set_defaults(fn=cmd_trickle)

    s = sub.add_parser("hold")
    s.add_argument("addr")
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--path", default=None, help="send this request on each connection")
    s.add_argument("--hold", type=float, default=10.0)
    s.add_argument("--ready-file")
    s.add_argument("--release-file")
    s.set_defaults(fn=cmd_hold)

    s = sub.add_parser("shutdown")
    s.add_argument("addr")
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--path", default="/")
    s.add_argument("--keepalive", type=int, default=8)
    s.add_argument("--newconn", type=int, default=4)
    s.add_argument("--kill-after", type=float, default=3.0)
    s.add_argument("--after", type=float, default=1.5, help="keep requesting this long after the signal")
    s.add_argument("--timeout", type=float, default=10.0)
    s.add_argument("--grace", type=float, default=10.0)
    s.set_defaults(fn=cmd_shutdown)

    s = sub.add_parser("stream")
    s.add_argument("addr")
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--download", required=True)
    s.add_argument("--upload")
    s.add_argument("--upload-size", type=int, default=64 << 20)
    s.add_argument("--rate", type=float, default=32e6, help="bytes per second, each direction")
    s.add_argument("--kill-after", type=float, default=1.0)
    s.add_argument("--timeout", type=float, default=30.0)
    s.add_argument("--grace", type=float, default=10.0)
    s.set_defaults(fn=cmd_stream)

    s = sub.add_parser("cut")
    s.add_argument("addr")
    s.add_argument("--path", required=True)
    s.add_argument("--http10", action="store_true")
    s.add_argument("--min-bytes", type=int, default=1 << 20)
    s.add_argument("--ready-file", required=True)
    s.add_argument("--pause", type=float, default=0.5)
    s.add_argument("--timeout", type=float, default=20.0)
    s.set_defaults(fn=cmd_cut)

    s = sub.add_parser("steady")
    s.add_argument("addr")
    s.add_argument("--path", default="/")
    s.add_argument("--workers", type=int, default=4)
    s.add_argument("--interval", type=float, default=0.05)
    s.add_argument("--duration", type=float, required=True)
    s.add_argument("--timeout", type=float, default=10.0)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_steady)

    s = sub.add_parser("window")
    s.add_argument("file")
    s.add_argument("--from", dest="start", type=float)
    s.add_argument("--to", dest="end", type=float)
    s.set_defaults(fn=cmd_window)

    s = sub.add_parser("idle")
    s.add_argument("addr")
    s.add_argument("--path", default="/")
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--batch", type=int, default=500)
    s.add_argument("--timeout", type=float, default=10.0)
    s.add_argument("--max-time", type=float, default=120.0)
    s.add_argument("--hold", type=float, default=30.0)
    s.add_argument("--ready-file")
    s.add_argument("--release-file")
    s.set_defaults(fn=cmd_idle)

    s = sub.add_parser("rss")
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--interval", type=float, default=0.25)
    s.add_argument("--max-time", type=float, default=900)
    s.add_argument("--stop-file")
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_rss)

    for name in ("sink", "chunked"):
        s = sub.add_parser(name)
        s.add_argument("addr")
        s.set_defaults(fn=cmd_upstream)

    a = p.parse_args()
    sys.exit(a.fn(a) or 0)


if __name__ == "__main__":
    main()
