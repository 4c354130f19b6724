"""The upstream client against backends that behave in unusual but legal (or broken)
ways, served by small raw-socket servers in this file, and against HTTPS backends with
the test CA: connection reuse, a pooled connection the server closed, answers without a
length, malformed answers, certificate and host name verification."""

import json
import socket
import threading

import sgtest


class RawBackend:
    """A loopback server whose answers are produced by `handler(conn_index, request_bytes)`
    returning (bytes to send, close_after). Counts connections and requests."""

    def __init__(self, handler):
        self.handler = handler
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self.requests = 0
        self.stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(c, self.connections), daemon=True).start()

    def _serve(self, c, index):
        buf = b""
        n = 0
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, _, rest = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                while len(rest) < length:
                    rest += c.recv(65536)
                req, buf = head + b"\r\n\r\n" + rest[:length], rest[length:]
                n += 1
                self.requests += 1
                out, close = self.handler(index, n, req)
                if out:
                    c.sendall(out)
                if close:
                    return
        except OSError:
            return
        finally:
            c.close()

    def close(self):
        self.stop = True
        self.sock.close()


def ok_json(text, extra_headers=b""):
    body = json.dumps({"id": "x", "object": "chat.completion", "model": "m",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop"}]}).encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
            str(len(body)).encode() + b"\r\n" + extra_headers + b"\r\n" + body)


def gateway_for(make_gateway, url, **kw):
    return make_gateway(backends=[{"name": "raw", "url": url, "health_path": "/health"}],
                        routes=[{"model": "assistant", "backends": ["raw"]}], **kw)


def content(body):
    return json.loads(body)["choices"][0]["message"]["content"]


def test_connections_are_reused(make_gateway):
    b = RawBackend(lambda i, n, req: (ok_json(f"conn {i} req {n}"), False))
    try:
        g = gateway_for(make_gateway, b.url, workers=1)
        conn = g.conn()
        body = {"model": "assistant", "messages": [{"role": "user", "content": "x"}]}
        answers = [content(g.request("POST", "/v1/chat/completions", body=body, conn=conn)[2])
                   for _ in range(5)]
        assert answers[-1].startswith("conn ") and b.connections <= 3  # health probe + 1-2
        assert len({a.split(" req")[0] for a in answers}) == 1
    finally:
        b.close()


def test_stale_pooled_connection_is_retried_on_a_fresh_one(make_gateway):
    # Every connection answers once, then closes without a word when the next request
    # arrives on it: as a server whose keep-alive timeout ran out just as we sent.
    def handler(i, n, req):
        if b"/health" in req.split(b"\r\n")[0]:
            return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", True
        if n == 1:
            return ok_json(f"fresh {i}"), False
        return b"", True
    b = RawBackend(handler)
    try:
        g = gateway_for(make_gateway, b.url, workers=1)
        for _ in range(4):
            st, _, body = g.chat("x")
            assert st == 200, body
            assert content(body).startswith("fresh")
    finally:
        b.close()


def test_answer_without_length_ends_at_close(make_gateway):
    body = json.dumps({"id": "x", "object": "chat.completion", "model": "m",
                       "choices": [{"index": 0, "message": {"role": "assistant",
                                                            "content": "until close"},
                                    "finish_reason": "stop"}]}).encode()
    b = RawBackend(lambda i, n, req: (b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
                                      + body, True))
    try:
        g = gateway_for(make_gateway, b.url)
        st, _, out = g.chat("x")
        assert st == 200 and content(out) == "until close"
    finally:
        b.close()


def test_malformed_answers_are_502(make_gateway):
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\":",
    ]
    state = {"i": 0}

    def handler(i, n, req):
        if b"/health" in req.split(b"\r\n")[0]:
            return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", False
        a = answers[state["i"] % len(answers)]
        state["i"] += 1
        return a, True
    b = RawBackend(handler)
    try:
        g = gateway_for(make_gateway, b.url)
        for _ in answers:
            st, _, body = g.chat("x")
            assert st in (502, 503), (st, body)
            assert set(json.loads(body)["error"]) == {"message", "type", "param", "code"}
        assert g.get("/healthz")[0] == 200
    finally:
        b.close()


def test_https_backend_verified_with_the_configured_ca(make_gateway, make_upstream, workdir):
    certs = sgtest.make_certs(workdir)
    u = make_upstream("secure", tls_cert=certs["cert"], tls_key=certs["key"])
    g = make_gateway(backends=[{"name": "s", "url": f"https://localhost:{u.port}",
                                "ca": certs["ca"]}],
                     routes=[{"model": "assistant", "backends": ["s"]}])
    st, _, body = g.chat("over TLS")
    assert st == 200 and content(body) == "[secure] over TLS"


def other_name_cert(workdir):
    """A CA and a server certificate for elsewhere.example only, made with openssl."""
    import os
    import subprocess
    d = os.path.join(workdir, "other")
    os.makedirs(d)
    def sh(*a):
        subprocess.run(a, check=True, capture_output=True, cwd=d)
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
       "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Other CA")
    sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", "key.pem", "-out", "req.csr", "-subj", "/CN=elsewhere.example")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:elsewhere.example\n")
    sh("openssl", "x509", "-req", "-in", "req.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
       "-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "ext.cnf")
    return {k: os.path.join(d, k + ".pem") for k in ("ca", "cert", "key")}


def test_https_backend_with_untrusted_or_wrong_host_certificate_is_refused(make_gateway,
                                                                          make_upstream,
                                                                          workdir):
    certs = sgtest.make_certs(workdir)
    u = make_upstream("secure", tls_cert=certs["cert"], tls_key=certs["key"])
    other = other_name_cert(workdir)
    u2 = make_upstream("elsewhere", tls_cert=other["cert"], tls_key=other["key"])
    # "untrusted": no CA configured, and the system store does not know the test CA.
    # "wronghost": the CA is right, but the certificate names elsewhere.example only.
    g = make_gateway(backends=[{"name": "untrusted", "url": f"https://localhost:{u.port}"},
                               {"name": "wronghost", "url": f"https://localhost:{u2.port}",
                                "ca": other["ca"]}],
                     routes=[{"model": "a", "backends": ["untrusted"]},
                             {"model": "b", "backends": ["wronghost"]}])
    for model in ("a", "b"):
        st, h, body = g.chat("x", model=model)
        assert st == 503, body
    reasons = lambda: [j.get("reason", "") + j.get("detail", "")
                       for j in g.log_events() if j.get("event") in ("backend_health",
                                                                     "upstream_error")]
    g.wait_log(lambda j: "hostname mismatch" in j.get("reason", "") + j.get("detail", ""))
    assert any("unable to get local issuer certificate" in r for r in reasons()), reasons()
    # Nothing was sent to a server that failed verification.
    assert u.api_requests() == [] and u2.api_requests() == []


def test_backend_host_name_resolved_at_load(make_gateway, upstream):
    g = make_gateway(backends=[{"name": "n", "url": f"http://localhost:{upstream.port}"}],
                     routes=[{"model": "assistant", "backends": ["n"]}])
    assert g.chat("by name")[0] == 200


def test_unresolvable_backend_host_fails_the_config(workdir):
    import os
    path = os.path.join(workdir, "c.yaml")
    with open(path, "w") as f:
        json.dump({"listen": {"address": "127.0.0.1:0", "plaintext": True},
                   "backends": [{"name": "x", "url": "http://no-such-host.invalid:8000",
                                 "jurisdiction": "DE"}],
                   "egress": {"allow": [".invalid"]},
                   "routes": [{"model": "m", "backends": ["x"]}]}, f)
    p = sgtest.run(["check-config", path])
    assert p.returncode == 1 and "cannot resolve" in p.stderr


def spki_pin(cert_pem):
    """base64(SHA-256(SubjectPublicKeyInfo)) of a certificate, with openssl."""
    import subprocess
    pub = subprocess.run(["openssl", "x509", "-in", cert_pem, "-pubkey", "-noout"],
                         check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         check=True, capture_output=True).stdout
    dig = subprocess.run(["openssl", "dgst", "-sha256", "-binary"], input=der, check=True,
                         capture_output=True).stdout
    import base64
    return base64.b64encode(dig).decode()


def test_pinned_backend_key(make_gateway, make_upstream, workdir):
    certs = sgtest.make_certs(workdir)
    u = make_upstream("secure", tls_cert=certs["cert"], tls_key=certs["key"])
    right = spki_pin(certs["cert"])
    wrong = spki_pin(certs["ca"])  # a real key, just not the server's
    g = make_gateway(backends=[{"name": "ok", "url": f"https://localhost:{u.port}",
                                "ca": certs["ca"], "pin_sha256": [wrong, right]},
                               {"name": "bad", "url": f"https://localhost:{u.port}",
                                "ca": certs["ca"], "pin_sha256": [wrong]}],
                     routes=[{"model": "a", "backends": ["ok"]},
                             {"model": "b", "backends": ["bad"]}])
    assert g.chat("pinned", model="a")[0] == 200
    st, _, body = g.chat("x", model="b")
    assert st == 503, body
    g.wait_log(lambda j: "does not match its pin_sha256" in j.get("reason", "") +
               j.get("detail", ""))
    assert len(u.api_requests()) == 1


def test_bad_pin_is_a_config_error(workdir):
    import os
    path = os.path.join(workdir, "c.yaml")
    with open(path, "w") as f:
        json.dump({"listen": {"address": "127.0.0.1:0", "plaintext": True},
                   "backends": [{"name": "x", "url": "https://127.0.0.1:1",
                                 "pin_sha256": ["short", {"a": 1}]}],
                   "routes": [{"model": "m", "backends": ["x"]}]}, f)
    p = sgtest.run(["check-config", path])
    assert p.returncode == 1
    assert "is not a base64 SHA-256 digest" in p.stderr and "expected a string" in p.stderr
