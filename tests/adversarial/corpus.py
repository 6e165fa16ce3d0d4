#!/usr/bin/env python3
"""Raw-socket corpus runner: malformed and hostile HTTP/1.1 requests against the real binaries.

Usage:
  corpus.py run [--bin-dir DIR] [--target T]... [--only GLOB] [-v]
  corpus.py list                      the cases, with their expectations
  corpus.py seeds DIR                 write fuzz seed files (DIR/<fuzz target>/<name>)

`run` starts everything itself on 127.0.0.1 with ephemeral ports, in a temporary directory:
  - a site root (index.html, sub/, dotfiles holding markers, symlinks pointing out of the root)
    and a `secret` file BESIDE the root, whose marker no response may ever contain;
  - static/http:  `static` serving that root;
  - an upstream `static` (same root) whose access log records every request it parses;
  - proxy/http:   `proxy` with routes `/` and `/a` to that upstream;
  - proxy/https:  a second `proxy` with a test CA and leaf certificate made with `openssl`,
                  the same routes, tested on its HTTPS listener.

Each case is sent on a fresh connection (TLS for proxy/https) with timeouts; the responses are
parsed and checked against the case's expectation (status sequence, close), no response may
carry a secret marker or an injected header, a 2xx only where the expectation names one, and a
normal request on a new connection must get a 200 afterwards. Requests smuggled with
`{smuggle}` must never be parsed as a request by the server behind the tested one: the
upstream's (and static's) access log is searched for their marker at the end.

Python 3.11 standard library only. Exit status: 0 when every case passed, 1 otherwise, 2 on a
setup error.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import fnmatch
import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CASES_DIR = HERE / "corpus"

# Markers: files outside the root or hidden inside it. No response may contain any of them.
SECRET = b"TOP-SECRET-beside-the-root-7f3a"
HIDDEN = {
    ".env": b"DOTENV-SECRET-91c2",
    ".git/config": b"GIT-CONFIG-SECRET-44d0",
    "sub/.htpasswd": b"HTPASSWD-SECRET-0b7e",
}
MARKERS = [SECRET, *HIDDEN.values()]
INDEX_MARKER = b"ADVERSARIAL-INDEX-OK"
# A header a case may try to inject through CR/LF; no response may carry it.
INJECTED = b"x-injected"

TARGETS = ("static/http", "proxy/http", "proxy/https")
HEADER_TIMEOUT = 2  # seconds, given to every server: incomplete heads end with 408 quickly
CASE_DEADLINE = 8.0  # a server that neither answers nor closes by then "hangs"
GRACE = 0.25  # after the expected responses, how long extra bytes are waited for
SMUGGLE_LEN = 44
# Request lines at the start of the data or after the end of a head (pipelined requests).
REQUEST_LINE = re.compile(rb"(?:^|\r\n\r\n)([A-Z]+) \S+ HTTP/1\.[01]\r\n")


# --- case files ------------------------------------------------------------------------------


@dataclasses.dataclass
class Case:
    id: str
    file: str
    ref: str
    desc: str
    send: str  # still with escapes and placeholders
    expect: dict  # "default" / "static" / "proxy" / "proxy/https" -> expectation text
    only: tuple[str, ...]
    transport: str  # "http" (TLS on https targets) or "raw" (never TLS)
    kind: str  # "attack" or "control"

    def expectation(self, target: str) -> str:
        for key in (target, target.split("/")[0], "default"):
            if key in self.expect:
                return self.expect[key]
        raise KeyError(f"{self.id}: no expectation for {target}")

    def applies(self, target: str) -> bool:
        return not self.only or any(target == o or target.startswith(o + "/") for o in self.only)


def load_cases(directory: Path = CASES_DIR) -> list[Case]:
    cases: list[Case] = []
    seen: set[str] = set()
    for path in sorted(directory.glob("*.txt")):
        records: list[list[tuple[int, str]]] = [[]]
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith("#"):
                continue
            if not line.strip():
                if records[-1]:
                    records.append([])
                continue
            records[-1].append((n, line))
        for rec in filter(None, records):
            fields: dict[str, str] = {}
            sends: list[str] = []
            for n, line in rec:
                key, sep, value = line.partition(":")
                if not sep:
                    raise SystemExit(f"{path.name}:{n}: expected 'key: value'")
                key, value = key.strip(), value.strip() if key.strip() != "send" else value[1:]
                if key == "send":
                    sends.append(value)
                elif key in fields:
                    raise SystemExit(f"{path.name}:{n}: '{key}' given twice")
                else:
                    fields[key] = value
            where = f"{path.name}:{rec[0][0]}"
            for required in ("id", "ref", "desc", "expect"):
                if required not in fields:
                    raise SystemExit(f"{where}: missing '{required}'")
            if not sends:
                raise SystemExit(f"{where}: missing 'send'")
            if fields["id"] in seen:
                raise SystemExit(f"{where}: duplicate id {fields['id']}")
            seen.add(fields["id"])
            expect = {"default": fields.pop("expect")}
            for key in list(fields):
                if key.startswith("expect."):
                    expect[key[len("expect."):]] = fields.pop(key)
            case = Case(
                id=fields.pop("id"),
                file=path.stem,
                ref=fields.pop("ref"),
                desc=fields.pop("desc"),
                send="".join(sends),
                expect=expect,
                only=tuple(o.strip() for o in fields.pop("only", "").split(",") if o.strip()),
                transport=fields.pop("transport", "http"),
                kind=fields.pop("kind", "attack"),
            )
            if fields:
                raise SystemExit(f"{where}: unknown keys {sorted(fields)}")
            for e in expect.values():
                parse_expectation(e)  # fail early on typos
            expand(case.send, "check", case.id)
            cases.append(case)
    return cases


def smuggle_request(target: str, case_id: str) -> bytes:
    tag = hashlib.sha256(f"{target} {case_id}".encode()).hexdigest()[:8]
    raw = f"GET /smuggled/{tag} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
    assert len(raw) == SMUGGLE_LEN
    return raw


ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\", "{": b"{", "}": b"}"}


def unescape(text: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            nxt = text[i + 1 : i + 2]
            if nxt == "x":
                out.append(int(text[i + 2 : i + 4], 16))
                i += 4
                continue
            if nxt not in ESCAPES:
                raise ValueError(f"unknown escape \\{nxt} in {text!r}")
            out += ESCAPES[nxt]
            i += 2
            continue
        out += c.encode("utf-8")
        i += 1
    return bytes(out)


PLACEHOLDER = re.compile(r"\{(smuggle|pause|rep (\d+) ((?:[^{}\\]|\\.)*))\}")


def expand(send: str, target: str, case_id: str) -> list[bytes]:
    """The bytes to send, as pieces to be sent with a pause between them."""
    pieces: list[bytes] = [b""]
    pos = 0
    for m in PLACEHOLDER.finditer(send):
        pieces[-1] += unescape(send[pos : m.start()])
        pos = m.end()
        if m.group(1) == "smuggle":
            pieces[-1] += smuggle_request(target, case_id)
        elif m.group(1) == "pause":
            pieces.append(b"")
        else:
            pieces[-1] += unescape(m.group(3)) * int(m.group(2))
    rest = send[pos:]
    if "{" in rest.replace("\\{", ""):
        raise ValueError(f"{case_id}: unknown placeholder in {rest!r}")
    pieces[-1] += unescape(rest)
    return pieces


@dataclasses.dataclass
class Expectation:
    steps: list[set[str]]  # per response: allowed statuses ("404", "4xx", "none")
    close: bool

    def allows(self, step: int, status: int | None) -> bool:
        allowed = self.steps[step]
        if status is None:
            return "none" in allowed
        return str(status) in allowed or f"{status // 100}xx" in allowed

    def names_2xx(self) -> bool:
        return any(a.startswith("2") for s in self.steps for a in s)


def parse_expectation(text: str) -> Expectation:
    words = text.replace(",", " , ").split()
    close = bool(words) and words[-1] == "close"
    if close:
        words = words[:-1]
    steps: list[set[str]] = []
    for chunk in " ".join(words).split(","):
        alts = {a.strip() for a in chunk.split("|") if a.strip()}
        if not alts:
            raise SystemExit(f"bad expectation {text!r}")
        for a in alts:
            if not re.fullmatch(r"[1-5](\d\d|xx)|none", a):
                raise SystemExit(f"bad status {a!r} in expectation {text!r}")
        steps.append(alts)
    if any("none" in s for s in steps[:-1]):
        raise SystemExit(f"'none' only fits the last step: {text!r}")
    return Expectation(steps, close)


# --- HTTP response parsing ------------------------------------------------------------------


@dataclasses.dataclass
class Response:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class Incomplete(Exception):
    pass


class Garbage(Exception):
    pass


def parse_responses(data: bytes, eof: bool, heads: list[bool]) -> tuple[list[Response], int]:
    """Complete responses at the front of `data` and the bytes they used. 1xx are skipped.
    `heads[i]` tells whether the i-th request was a HEAD (its response has no body)."""
    out: list[Response] = []
    pos = 0
    while pos < len(data):
        try:
            head = heads[len(out)] if len(out) < len(heads) else False
            resp, used = parse_one(data, pos, eof, head)
        except Incomplete:
            break
        pos = used
        if 100 <= resp.status < 200:
            continue
        out.append(resp)
    return out, pos


def parse_one(data: bytes, pos: int, eof: bool, head_request: bool) -> tuple[Response, int]:
    end = data.find(b"\r\n\r\n", pos)
    if end < 0:
        start = data[pos : pos + 7]
        if eof or b"HTTP/1."[: len(start)] != start:
            raise Garbage(data[pos : pos + 80])
        raise Incomplete
    lines = data[pos:end].split(b"\r\n")
    m = re.fullmatch(rb"HTTP/1\.[01] (\d{3}) [^\r\n]*", lines[0])
    if not m:
        raise Garbage(lines[0][:80])
    status = int(m.group(1))
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise Garbage(line[:80])
        headers.append((name.lower(), value.strip()))
    body_start = end + 4
    get = lambda n: [v for k, v in headers if k == n]  # noqa: E731
    if head_request or 100 <= status < 200 or status in (204, 304):
        return Response(status, headers, b""), body_start
    te = get(b"transfer-encoding")
    if te:
        if te[-1].lower() != b"chunked":
            raise Garbage(b"transfer-encoding " + te[-1])
        body = bytearray()
        p = body_start
        while True:
            line_end = data.find(b"\r\n", p)
            if line_end < 0:
                raise Incomplete if not eof else Garbage(b"cut chunked body")
            size = int(data[p:line_end].split(b";")[0], 16)
            p = line_end + 2
            if size == 0:
                trailer_end = data.find(b"\r\n", p)
                while trailer_end >= 0 and trailer_end != p:
                    p = trailer_end + 2
                    trailer_end = data.find(b"\r\n", p)
                if trailer_end < 0:
                    raise Incomplete if not eof else Garbage(b"cut trailers")
                return Response(status, headers, bytes(body)), p + 2
            if len(data) < p + size + 2:
                raise Incomplete if not eof else Garbage(b"cut chunk")
            body += data[p : p + size]
            p += size + 2
    cl = get(b"content-length")
    if cl:
        n = int(cl[0])
        if len(data) < body_start + n:
            raise Incomplete if not eof else Garbage(b"cut body")
        return Response(status, headers, data[body_start : body_start + n]), body_start + n
    if not eof:
        raise Incomplete
    return Response(status, headers, data[body_start:]), len(data)


# --- servers --------------------------------------------------------------------------------


class Servers:
    """The four processes, their addresses and log files."""

    def __init__(self, bin_dir: Path, work: Path):
        self.bin_dir = bin_dir
        self.work = work
        self.procs: list[subprocess.Popen] = []
        self.addr: dict[str, tuple[str, int]] = {}
        self.logs: dict[str, Path] = {}
        self.ca: Path | None = None

    def make_site(self) -> Path:
        root = self.work / "site" / "root"
        (root / "sub").mkdir(parents=True)
        (self.work / "site" / "secret").write_bytes(SECRET + b"\n")
        (root / "index.html").write_bytes(
            b"<!doctype html><title>index</title><p>" + INDEX_MARKER + b"</p>\n"
        )
        (root / "sub" / "page.html").write_bytes(b"<p>sub page</p>\n")
        (root / "big.txt").write_bytes(bytes(range(32, 127)) * 2000)
        for rel, marker in HIDDEN.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(marker + b"\n")
        # Symlinks that leave the root: the server must refuse to follow them.
        os.symlink("../secret", root / "link")
        os.symlink("..", root / "up")
        os.symlink(str(self.work / "site" / "secret"), root / "abslink")
        return root

    def make_pki(self) -> tuple[Path, Path]:
        d = self.work / "pki"
        d.mkdir()
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]

        def openssl(*args: str) -> None:
            r = subprocess.run(["openssl", *args], cwd=d, capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit(f"openssl {' '.join(args)}: {r.stderr}")

        openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                "-subj", "/CN=Adversarial Corpus Test CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        (d / "leaf.ext").write_text(
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
        openssl("req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost")
        openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", "leaf.pem", "-days", "2", "-extfile", "leaf.ext")
        self.ca = d / "ca.pem"
        return d / "leaf.pem", d / "leaf.key"

    def spawn(self, name: str, argv: list[str], ready: re.Pattern, count: int = 1) -> list[str]:
        out = self.work / f"{name}.stdout"
        err = self.work / f"{name}.stderr"
        self.logs[name] = out
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("STATIC_", "PROXY_"))}
        with open(out, "wb") as o, open(err, "wb") as e:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=o, stderr=e, env=env,
                                 preexec_fn=die_with_parent)
        self.procs.append(p)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            found = ready.findall(err.read_text(errors="replace"))
            if len(found) >= count:
                return found[:count]
            if p.poll() is not None:
                break
            time.sleep(0.05)
        raise SystemExit(f"{name} did not start: {err.read_text(errors='replace')}")

    def start(self) -> None:
        root = self.make_site()
        cert, key = self.make_pki()
        static = str(self.bin_dir / "static")
        proxy = str(self.bin_dir / "proxy")
        common = ["--workers", "2", "--header-timeout", f"{HEADER_TIMEOUT}s",
                  "--idle-timeout", "10s", "--shutdown-grace", "1s"]
        serving = re.compile(r": serving .* on http://([\d.]+:\d+)")
        for name in ("static", "upstream"):
            (a,) = self.spawn(name, [static, "--listen", "127.0.0.1:0", "--root", str(root),
                                     "--log-format", "combined", *common], serving)
            self.addr[name] = parse_addr(a)
        up = "%s:%d" % self.addr["upstream"]
        routes = ["--route", f"/=http://{up}", "--route", f"/a=http://{up}"]
        listening = re.compile(r"proxy: listening on (https?)://([\d.]+:\d+)")
        plain = self.spawn("proxy", [proxy, "--listen", "127.0.0.1:0", "--max-body", "64k",
                                     "--log-format", "off", *routes, *common], listening)
        self.addr["proxy/http"] = parse_addr(plain[0][1])
        both = self.spawn("proxy-tls", [proxy, "--listen", "127.0.0.1:0",
                                        "--tls-listen", "127.0.0.1:0", "--cert", str(cert),
                                        "--key", str(key), "--max-body", "64k",
                                        "--log-format", "off", *routes, *common],
                          listening, count=2)
        self.addr["proxy/https"] = parse_addr(dict(both)["https"])
        self.addr["static/http"] = self.addr["static"]

    def exited(self) -> list[str]:
        return [str(p.args[0]) for p in self.procs if p.poll() is not None]

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the runner dies, however it dies (Linux)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def parse_addr(text: str) -> tuple[str, int]:
    host, port = text.rsplit(":", 1)
    return host, int(port)


# --- running cases --------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    case: Case
    target: str
    ok: bool
    detail: str
    statuses: list[int]
    seconds: float


class Runner:
    def __init__(self, servers: Servers, verbose: bool):
        self.servers = servers
        self.verbose = verbose
        ctx = ssl.create_default_context(cafile=str(servers.ca))
        ctx.check_hostname = True
        self.tls = ctx

    def connect(self, target: str, transport: str) -> socket.socket:
        s = socket.create_connection(self.servers.addr[target], timeout=CASE_DEADLINE)
        if target.endswith("/https") and transport != "raw":
            s = self.tls.wrap_socket(s, server_hostname="localhost")
        return s

    def exchange(self, target: str, pieces: list[bytes], transport: str,
                 want_responses: int, want_close: bool, heads: list[bool]):
        """Sends the pieces, reads until close, deadline, or the expected responses plus a
        grace period. Returns (bytes, closed, timed_out, note)."""
        start = time.monotonic()
        s = self.connect(target, transport)
        note = ""
        data = bytearray()
        closed = False
        try:
            for i, piece in enumerate(pieces):
                if i:
                    time.sleep(0.3)
                try:
                    s.sendall(piece)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError) as e:
                    note = f"send stopped: {type(e).__name__}"
                    break
            enough_since = None
            while True:
                elapsed = time.monotonic() - start
                if elapsed >= CASE_DEADLINE:
                    return bytes(data), False, True, note
                try:
                    responses, _ = parse_responses(bytes(data), False, heads)
                except Garbage:
                    responses = []
                if not want_close and len(responses) >= want_responses:
                    enough_since = enough_since or time.monotonic()
                    wait = GRACE - (time.monotonic() - enough_since)
                    if wait <= 0:
                        return bytes(data), False, False, note
                else:
                    wait = CASE_DEADLINE - elapsed
                s.settimeout(max(wait, 0.01))
                try:
                    chunk = s.recv(65536)
                except (socket.timeout, TimeoutError):
                    continue
                except ssl.SSLZeroReturnError:
                    chunk = b""
                except (ConnectionResetError, ssl.SSLError, OSError) as e:
                    note = (note + "; " if note else "") + f"read ended: {type(e).__name__}"
                    chunk = b""
                if not chunk:
                    closed = True
                    return bytes(data), closed, False, note
                data += chunk
        finally:
            s.close()

    def run_case(self, case: Case, target: str) -> Outcome:
        t0 = time.monotonic()
        exp = parse_expectation(case.expectation(target))
        pieces = expand(case.send, target, case.id)
        wire = b"".join(pieces)
        # Which requests are HEADs (their responses have no body), for pipelined cases.
        heads = [m == b"HEAD" for m in REQUEST_LINE.findall(wire.lstrip(b"\r\n"))]
        want = len(exp.steps) - (1 if "none" in exp.steps[-1] else 0)
        problems: list[str] = []
        try:
            data, closed, timed_out, note = self.exchange(
                target, pieces, case.transport, want, exp.close, heads)
        except OSError as e:  # refused, TLS handshake refused, ...: the server is not serving
            return Outcome(case, target, False, f"could not connect: {e}", [],
                           time.monotonic() - t0)
        statuses: list[int] = []
        try:
            responses, used = parse_responses(data, closed, heads)
            statuses = [r.status for r in responses]
            if used != len(data):
                problems.append(f"{len(data) - used} unparsed bytes after the responses")
        except Garbage as g:
            responses = []
            if case.transport == "raw" and exp.allows(len(exp.steps) - 1, None):
                pass  # e.g. a TLS alert to plain text on the TLS port
            else:
                problems.append(f"not an HTTP response: {g.args[0]!r}")
        for marker in MARKERS:
            if marker in data:
                problems.append(f"LEAK: response contains {marker.decode()}")
        for r in responses:
            if any(k == INJECTED for k, _ in r.headers):
                problems.append("injected header in a response")
        if timed_out:
            problems.append(f"HANG: no answer/close within {CASE_DEADLINE}s")
        # Status sequence.
        steps = exp.steps
        for i, st in enumerate(statuses):
            if i >= len(steps):
                problems.append(f"extra response {st} (expected {len(steps)})")
                break
            if not exp.allows(i, st):
                problems.append(f"response {i + 1} is {st}, expected {'|'.join(sorted(steps[i]))}")
            if 200 <= st < 300 and not exp.names_2xx():
                problems.append(f"2xx ({st}) for an attack")
        if len(statuses) < len(steps) and not (
            len(statuses) == len(steps) - 1 and exp.allows(len(steps) - 1, None)
        ):
            problems.append(f"got {len(statuses)} responses, expected {len(steps)}")
        if exp.close and not closed and not timed_out:
            problems.append("connection left open (expected close)")
        # Still serving?
        broken = self.normal_request(target)
        if broken:
            problems.append(f"normal request afterwards: {broken}")
        detail = "; ".join(problems) if problems else "ok"
        if note and self.verbose:
            detail += f" ({note})"
        return Outcome(case, target, not problems, detail, statuses, time.monotonic() - t0)

    def normal_request(self, target: str) -> str:
        """'' when GET / gets the index with a 200, else what went wrong."""
        try:
            data, closed, timed_out, _ = self.exchange(
                target, [b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"],
                "http", 1, True, [])
            responses, _ = parse_responses(data, closed, [])
        except (OSError, Garbage) as e:
            return f"{type(e).__name__}: {e}"
        if timed_out or not responses:
            return "no response"
        if responses[0].status != 200 or INDEX_MARKER not in responses[0].body:
            return f"status {responses[0].status}"
        return ""


def smuggled_in_logs(servers: Servers, cases: list[Case]) -> dict[tuple[str, str], str]:
    """(target, case id) -> log line, for every smuggled marker a server parsed as a request."""
    tags = {}
    for case in cases:
        for target in TARGETS:
            raw = smuggle_request(target, case.id)
            tags[raw.split(b" ")[1].decode()] = (target, case.id)
    found = {}
    for name in ("static", "upstream"):
        for line in servers.logs[name].read_text(errors="replace").splitlines():
            for m in re.finditer(r"/smuggled/[0-9a-f]{8}", line):
                key = tags.get(m.group(0), ("?", m.group(0)))
                found[key] = f"{name} log: {line.strip()[:160]}"
    return found


def run(args: argparse.Namespace) -> int:
    cases = load_cases()
    if args.only:
        cases = [c for c in cases if any(fnmatch.fnmatch(c.id, g) for g in args.only)]
    targets = args.target or list(TARGETS)
    bin_dir = Path(args.bin_dir)
    for b in ("static", "proxy"):
        if not os.access(bin_dir / b, os.X_OK):
            print(f"corpus: {bin_dir / b} missing (cargo build --release)", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="adversarial-corpus-"))
    servers = Servers(bin_dir, work)
    t0 = time.monotonic()
    try:
        servers.start()
        runner = Runner(servers, args.verbose)

        def one(case: Case, target: str) -> Outcome:
            r = runner.run_case(case, target)
            if args.verbose:
                print(f"  {target:12} {case.id:32} {'ok' if r.ok else 'FAIL'} "
                      f"{r.statuses} {r.seconds:.2f}s {'' if r.ok else r.detail}", flush=True)
            return r

        # Cases are independent (one connection each, smuggling tags per case and target), so
        # several run at once; each server still sees its cases one connection at a time per
        # job. The slow ones (timeouts) go first so they overlap with the rest.
        work_items = [(c, t) for c in cases for t in targets if c.applies(t)]
        work_items.sort(key=lambda ct: "timeout" not in ct[0].desc and "408" not in
                        ct[0].expectation(ct[1]))
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            outcomes = list(pool.map(lambda ct: one(*ct), work_items))
        time.sleep(0.5)  # access logs are flushed once per event-loop turn
        smuggled = smuggled_in_logs(servers, cases)
        for o in outcomes:
            hit = smuggled.pop((o.target, o.case.id), None)
            if hit:
                o.ok = False
                o.detail = ("" if o.detail == "ok" else o.detail + "; ") + \
                    f"SMUGGLED request reached a server: {hit}"
        dead = servers.exited()
    finally:
        servers.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"corpus: kept {work}", file=sys.stderr)

    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        print(f"FAIL {o.target:12} {o.case.file}/{o.case.id}: {o.detail}\n"
              f"     ({o.case.ref}: {o.case.desc})")
    for key, line in smuggled.items():
        print(f"FAIL smuggled request of unknown case {key}: {line}")
    print()
    print(f"{'target':14}{'attack':>8}{'control':>9}{'passed':>8}{'failed':>8}")
    for t in targets:
        mine = [o for o in outcomes if o.target == t]
        print(f"{t:14}{sum(o.case.kind == 'attack' for o in mine):>8}"
              f"{sum(o.case.kind == 'control' for o in mine):>9}"
              f"{sum(o.ok for o in mine):>8}{sum(not o.ok for o in mine):>8}")
    by_file: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_file.setdefault(o.case.file, []).append(o)
    print()
    print(f"{'category':14}{'cases':>8}{'runs':>8}{'passed':>8}{'failed':>8}")
    for name, outs in sorted(by_file.items()):
        print(f"{name:14}{len({o.case.id for o in outs}):>8}{len(outs):>8}"
              f"{sum(o.ok for o in outs):>8}{sum(not o.ok for o in outs):>8}")
    attacks = sum(c.kind == "attack" for c in cases)
    print()
    if dead:
        print(f"corpus: server process(es) exited during the run: {dead}")
    print(f"corpus: {len(cases)} cases ({attacks} hostile, {len(cases) - attacks} control) "
          f"x {len(targets)} targets in {time.monotonic() - t0:.0f}s")
    passed = sum(o.ok for o in outcomes)
    print(f"corpus: {passed} passed, {len(outcomes) - passed + len(smuggled)} failed")
    return 1 if failed or smuggled or dead else 0


def list_cases(_: argparse.Namespace) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `corpus.py list | head` ends quietly
    for c in load_cases():
        exp = "; ".join(f"{k}: {v}" for k, v in c.expect.items())
        print(f"{c.file:12} {c.id:34} [{exp}]  {c.desc}  ({c.ref})")
    return 0


# --- fuzz seeds -----------------------------------------------------------------------------


def seeds(args: argparse.Namespace) -> int:
    """Seed files for the fuzz targets, from the corpus (static/http expansion)."""
    out = Path(args.dir)
    written = 0
    seen: set[tuple[str, bytes]] = set()

    def put(target: str, name: str, data: bytes) -> None:
        nonlocal written
        if not data or (target, data) in seen:
            return  # one file per distinct input
        seen.add((target, data))
        d = out / target
        d.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        (d / safe).write_bytes(data)
        written += 1

    for case in load_cases():
        wire = b"".join(expand(case.send, "seed", case.id))
        if case.transport == "raw":
            continue
        put("request_head", case.id, wire[:16384])
        head_end = wire.find(b"\r\n\r\n")
        head = wire[: head_end + 4] if head_end >= 0 else wire
        put("forward", case.id, head[:16384] + b"\x15")
        line = wire.lstrip(b"\r\n").split(b"\r\n", 1)[0].split(b" ")
        if len(line) >= 2 and line[1]:
            target = line[1][:4096]
            put("resolve", case.id, target)
            put("routes", case.id, b"/a=http://a:1\n/a/b=http://b:2/x;keep-prefix\n\n" + target)
        if b"chunked" in head.lower() and head_end >= 0:
            put("chunked", case.id, b"\x37" + wire[head_end + 4:][:16384])
        fields = {k.strip().lower(): v.strip() for k, _, v in
                  (ln.partition(b":") for ln in head.split(b"\r\n")[1:]) if _}
        cond = [b"range", b"if-range", b"if-match", b"if-none-match", b"if-modified-since",
                b"if-unmodified-since", b"accept-encoding"]
        if any(k in fields for k in cond):
            put("conditional", case.id,
                b"\n".join([b"1000 GET", *[fields.get(k, b"") for k in cond]]))
    for name, data in EXTRA_SEEDS:
        target, _, rest = name.partition("/")
        put(target, rest, data)
    print(f"seeds: wrote {written} files under {out}")
    return 0


# Seeds the request corpus cannot provide: upstream responses for `forward`, route tables for
# `routes`, validator combinations for `conditional`.
EXTRA_SEEDS: list[tuple[str, bytes]] = [
    ("forward/resp-static-200", b"HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
     b"Server: static\r\nETag: \"1-2-3\"\r\nContent-Type: text/html; charset=utf-8\r\n"
     b"Content-Length: 42\r\n\r\n\x10"),
    ("forward/resp-chunked-hop", b"HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n"
     b"Keep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nProxy-Authenticate: x\r\n"
     b"Trailer: X-T\r\nUpgrade: h2c\r\n\r\n\x08"),
    ("forward/resp-cl-te", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n\x00"),
    ("forward/resp-double-cl", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n\x03"),
    ("forward/resp-304-cl", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\nETag: \"x\"\r\n\r\n\x11"),
    ("forward/resp-head-cl", b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n\x01"),
    ("forward/resp-101", b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
     b"Upgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x04"),
    ("forward/resp-100", b"HTTP/1.1 100 Continue\r\n\r\n\x00"),
    ("forward/resp-10-close", b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nbody\x02"),
    ("forward/resp-gzip-te", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x10"),
    ("forward/resp-status-010", b"HTTP/1.0 010 .\n\n\x00"),
    # Shapes of the crashes fuzzing found (fixed), kept as seeds.
    ("forward/resp-empty-te-cl", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n"
     b"Transfer-Encoding:\r\n\r\n\x00"),
    ("forward/resp-empty-cl-te-head", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
     b"Content-Length: \r\n\r\n\x15"),
    ("forward/req-connection-via", b"GET / HTTP/1.1\r\nHost: t\r\nConnection: Date, Via\r\n"
     b"Via: 1.1 internal\r\n\r\n\x00"),
    ("forward/resp-connection-host", b"HTTP/1.1 200 OK\r\nConnection: Host, Via\r\n"
     b"Host: internal\r\nVia: 1.1 internal\r\nContent-Length: 0\r\n\r\n\x10"),
    ("forward/resp-named-date", b"HTTP/1.1 204 No Content\r\nConnection: Date, Via\r\n"
     b"Date: x\r\nVia: 1.1 other\r\nStrict-Transport-Security: max-age=1\r\n\r\n\x18"),
    ("routes/table-mixed", b"/=http://root:1\n/a=http://a:1/base\n/a/b=https://[::1]:8443;keep-prefix\n"
     b"/api/=http://x:1|http://y:2;upstream-host\n\n/a\n/a/\n/ab\n/a/b/c?x=1\n"
     b"http://h/a/b\n/api\n//a\n/%2e/x"),
    ("routes/bad-specs", b"a=http://x\n/a\n/a=ftp://x\n/b=http://u@h\n/c=http://h:0\n"
     b"/d=http://[zz]:1\n/e=http://h/?q\n\n/a/x"),
    ("routes/host-location", b"/a/x?q=1\n[::1]:8080\nexample.com:80\na:1:2\n]x"),
    ("conditional/range-simple", b"1000 GET\nbytes=0-9"),
    ("conditional/range-suffix", b"10 GET\nbytes=-20"),
    ("conditional/range-multi", b"1000 GET\nbytes=0-1, 5-6"),
    ("conditional/if-range-date", b"1000 GET\nbytes=1-\nSun, 06 Nov 1994 08:49:37 GMT"),
    ("conditional/if-match-list", b"1000 PUT\n\nW/\"a\", \"b\" ,, \"c\""),
    ("conditional/inm-star", b"0 GET\n\n\n*"),
    ("conditional/dates", b"1000 GET\n\n\n\nSunday, 06-Nov-94 08:49:37 GMT\n"
     b"Sun Nov  6 08:49:37 1994\ngzip;q=0.5, br;q=0, *;q=1"),
]


def main() -> int:
    # SIGTERM/SIGHUP unwind like Ctrl-C, so the servers are stopped and the temp dir removed.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the corpus against the binaries")
    r.add_argument("--bin-dir", default=str(REPO / "target" / "release"),
                   help="where the static and proxy binaries are (default target/release)")
    r.add_argument("--target", action="append", choices=TARGETS)
    r.add_argument("--only", action="append", metavar="GLOB", help="case ids to run")
    r.add_argument("--keep", action="store_true", help="keep the temporary directory")
    r.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("CORPUS_JOBS", "12")),
                   help="cases run at once (default 12, env CORPUS_JOBS)")
    r.add_argument("-v", "--verbose", action="store_true")
    r.set_defaults(func=run)
    sub.add_parser("list", help="list the cases").set_defaults(func=list_cases)
    s = sub.add_parser("seeds", help="write fuzz seeds from the corpus")
    s.add_argument("dir")
    s.set_defaults(func=seeds)
    args = ap.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
