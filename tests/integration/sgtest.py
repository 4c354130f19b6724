"""Helpers for Sovgate's integration tests: start the real daemon and the fake upstream
on random loopback ports with inline configurations, talk to them over real sockets
(TLS or plaintext), and read their logs and records. Standard library only."""

import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("SOVGATE_BUILD", "build"))
SOVGATE = os.path.join(BUILD, "sovgate")
FAKE = os.path.join(BUILD, "tests", "fake_upstream", "sg-fake-upstream")

# Sanitizer runtime settings for the daemon under test: leaks and errors fail the test.
SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=86",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=87",
}


def sanitized(path=None):
    """Whether a binary (the gateway by default) is an ASan build: it links libasan. Tests
    whose bounds differ under ASan (memory growth, speed) ask this rather than guess from
    the build folder's name."""
    try:
        with open(path or SOVGATE, "rb") as f:
            return b"libasan.so" in f.read()
    except OSError:
        return False


def run(args, stdin=None, env=None, check=False):
    """Runs a sovgate command; returns CompletedProcess with text output."""
    e = dict(os.environ)
    e.update(SAN_ENV)
    if env:
        e.update(env)
    p = subprocess.run([SOVGATE] + args, input=stdin, capture_output=True, text=True, env=e,
                       timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"sovgate {args} failed: {p.stderr}")
    return p


class Upstream:
    """The fake OpenAI-compatible backend (tests/fake_upstream)."""

    def __init__(self, workdir, name="up", tls_cert=None, tls_key=None, unix=None):
        self.name = name
        self.record = os.path.join(workdir, f"{name}.record.jsonl")
        args = [FAKE, "--name", name, "--record", self.record]
        if unix:
            args += ["--unix", unix]
        else:
            args += ["--listen", "127.0.0.1:0"]
        if tls_cert:
            args += ["--tls-cert", tls_cert, "--tls-key", tls_key]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("READY "):
            raise AssertionError(f"fake upstream did not start: {line!r}")
        where = line.split(" ", 1)[1]
        self.port = None if where.startswith("unix:") else int(where)
        scheme = "https" if tls_cert else "http"
        self.url = f"unix:{unix}" if unix else f"{scheme}://127.0.0.1:{self.port}"

    def records(self, event="request"):
        try:
            with open(self.record) as f:
                rows = [json.loads(l) for l in f if l.strip()]
        except FileNotFoundError:
            return []
        return [r for r in rows if event is None or r.get("event") == event]

    def api_requests(self):
        """Requests other than health checks."""
        return [r for r in self.records() if r["path"].startswith("/v1/") and
                r["path"] != "/v1/models"]

    def control(self, **kw):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        c.request("POST", "/__fake/control", body=json.dumps(kw),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        c.close()
        assert r.status == 200

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def make_certs(workdir):
    d = os.path.join(workdir, "certs")
    run(["dev-certs", "--dir", d], check=True)
    return {"ca": os.path.join(d, "ca.pem"), "cert": os.path.join(d, "cert.pem"),
            "key": os.path.join(d, "key.pem")}


class Gateway:
    """A running `sovgate serve` with an inline configuration (written as JSON, which is
    YAML). Creates one client key per entry in `clients` ({name: models or None})."""

    def __init__(self, workdir, backends, routes, clients=None, tls=True, extra=None,
                 workers=2, env=None, start=True, log_path=None):
        self.workdir = workdir
        self.tls = tls
        self.certs = make_certs(workdir) if tls else None
        self.db = os.path.join(workdir, "keys.db")
        self.keys = {}
        for name, models in (clients or {"shop": None}).items():
            args = ["keys", "create", "--name", name, "--db", self.db]
            if models:
                args += ["--models", ",".join(models)]
            self.keys[name] = run(args, check=True).stdout.strip()
        self.key = next(iter(self.keys.values()))
        self.config = {
            "listen": {"address": "127.0.0.1:0"},
            "workers": workers,
            "keys_db": self.db,
            "backends": backends,
            "routes": routes,
            "health": {"interval": "200ms", "timeout": "1s", "max_backoff": "1s"},
        }
        if tls:
            self.config["listen"]["tls"] = {"cert": self.certs["cert"], "key": self.certs["key"]}
        else:
            self.config["listen"]["plaintext"] = True
        for k, v in (extra or {}).items():
            if isinstance(v, dict) and isinstance(self.config.get(k), dict):
                self.config[k].update(v)
            else:
                self.config[k] = v
        self.path = os.path.join(workdir, "sovgate.yaml")
        self.write_config()
        self.env = env or {}
        self.log_path = log_path  # logs go to this file instead of being collected
        self.logs = []
        self.proc = None
        if start:
            self.start()

    def write_config(self, config=None):
        with open(self.path, "w") as f:
            json.dump(config or self.config, f, indent=1)

    def start(self):
        e = dict(os.environ)
        e.update(SAN_ENV)
        e.update(self.env)
        self.port = None
        if self.log_path:
            with open(self.log_path, "w") as logf:
                self.proc = subprocess.Popen([SOVGATE, "serve", "--config", self.path],
                                             stdout=subprocess.DEVNULL, stderr=logf, env=e)
            deadline = time.time() + 30
            while self.port is None:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise AssertionError("sovgate did not start; see " + self.log_path)
                with open(self.log_path) as f:
                    for line in f:
                        if '"event":"listening"' in line:
                            self.port = json.loads(line)["port"]
                time.sleep(0.05)
            return
        self.proc = subprocess.Popen([SOVGATE, "serve", "--config", self.path],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, env=e)
        self._lines = threading.Condition()
        threading.Thread(target=self._read_logs, daemon=True).start()
        deadline = time.time() + 30
        with self._lines:
            while self.port is None:
                if self.proc.poll() is not None:
                    raise AssertionError("sovgate exited at start:\n" + "\n".join(self.logs))
                if time.time() > deadline:
                    raise AssertionError("sovgate did not start:\n" + "\n".join(self.logs))
                self._lines.wait(0.1)

    def _read_logs(self):
        for line in self.proc.stderr:
            line = line.rstrip("\n")
            with self._lines:
                self.logs.append(line)
                if self.port is None and '"event":"listening"' in line:
                    self.port = json.loads(line)["port"]
                self._lines.notify_all()

    def log_events(self, event=None):
        out = []
        for l in list(self.logs):
            if event is None and not l.startswith("{"):
                out.append({})  # keep positions aligned with self.logs
                continue
            try:
                j = json.loads(l)
            except ValueError:
                continue
            if event is None or j.get("event") == event:
                out.append(j)
        return out

    def mark(self):
        """A position in the log; pass it to wait_log(since=...) to see only newer lines."""
        return len(self.logs)

    def wait_log(self, pred, timeout=10, since=0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for j in self.log_events()[since:] if since else self.log_events():
                if pred(j):
                    return j
            time.sleep(0.02)
        raise AssertionError("log line not seen:\n" + "\n".join(self.logs[-30:]))

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.get("/readyz")[0] == 200:
                return
            time.sleep(0.05)
        raise AssertionError("gateway not ready:\n" + "\n".join(self.logs[-20:]))

    # ---- clients ----

    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=self.certs["ca"])
        return ctx

    def conn(self, timeout=30):
        if self.tls:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=self.ssl_context())
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, key=None, headers=None, conn=None):
        """Returns (status, headers dict (lower-case), body bytes)."""
        h = {}
        if body is not None:
            h["Content-Type"] = "application/json"
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
        k = self.key if key is None else key
        if k:
            h["Authorization"] = f"Bearer {k}"
        h.update(headers or {})
        c = conn or self.conn()
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        hd = {k.lower(): v for k, v in r.getheaders()}
        if conn is None:
            c.close()
        return r.status, hd, data

    def get(self, path, key=None, **kw):
        return self.request("GET", path, key=key if key is not None else "", **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, body=body, **kw)

    def chat(self, text, model="assistant", stream=False, **extra):
        body = {"model": model, "messages": [{"role": "user", "content": text}]}
        if stream:
            body["stream"] = True
        body.update(extra)
        return self.post("/v1/chat/completions", body)

    def raw_socket(self, timeout=10):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        if self.tls:
            s = self.ssl_context().wrap_socket(s, server_hostname="localhost")
        return s

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, expect_clean=True):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("sovgate did not exit after SIGTERM")
        if expect_clean and rc != 0:
            raise AssertionError(f"sovgate exited with {rc} (sanitizer report?):\n" +
                                 "\n".join(self.logs[-60:]))
        return rc


def sse_events(body):
    """Parses an SSE body (bytes) into a list of data payloads (str)."""
    out = []
    for block in body.decode().split("\n\n"):
        data = [l[6:] if l.startswith("data: ") else l[5:] for l in block.split("\n")
                if l.startswith("data:")]
        if data:
            out.append("\n".join(data))
    return out


def stream_text(events):
    """Concatenates the delta contents of chat.completion.chunk events."""
    text = ""
    for e in events:
        if e == "[DONE]":
            continue
        j = json.loads(e)
        for c in j.get("choices", []):
            text += (c.get("delta") or {}).get("content") or c.get("text") or ""
    return text


def monotonic_us():
    return int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1_000_000)
