"""TLS on the front door (1.3 by default, 1.2 only when configured; checked with Python's
ssl module and `openssl s_client`) and the command line (check-config, keys)."""

import json
import os
import signal
import socket
import ssl
import subprocess

import pytest

import sgtest


def handshake(gateway, minv=None, maxv=None, alpn=None):
    ctx = gateway.ssl_context()
    if minv:
        ctx.minimum_version = minv
    if maxv:
        ctx.maximum_version = maxv
    if alpn:
        ctx.set_alpn_protocols(alpn)
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.version(), s.recv(100)


def test_tls13_only_by_default(gateway):
    ver, data = handshake(gateway)
    assert ver == "TLSv1.3" and data.startswith(b"HTTP/1.1 200")
    with pytest.raises(ssl.SSLError):
        handshake(gateway, maxv=ssl.TLSVersion.TLSv1_2)
    ver, _ = handshake(gateway, alpn=["h2", "http/1.1"])
    assert ver == "TLSv1.3"


def s_client(gateway, flag):
    p = subprocess.run(["openssl", "s_client", flag, "-connect", f"127.0.0.1:{gateway.port}",
                        "-CAfile", gateway.certs["ca"], "-servername", "localhost",
                        "-verify_return_error", "-brief"],
                       input="", capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout + p.stderr


def test_openssl_s_client(gateway):
    rc, out = s_client(gateway, "-tls1_3")
    assert rc == 0 and "TLSv1.3" in out, out
    rc, out = s_client(gateway, "-tls1_2")
    assert rc != 0, out


def test_tls12_opt_in(make_gateway, upstream, workdir):
    g = make_gateway(backends=[{"name": "b1", "url": upstream.url}],
                     routes=[{"model": "assistant", "backends": ["b1"]}], start=False)
    g.config["listen"]["tls"]["min_version"] = "1.2"
    g.write_config()
    g.start()
    ver, data = handshake(g, maxv=ssl.TLSVersion.TLSv1_2)
    assert ver == "TLSv1.2" and data.startswith(b"HTTP/1.1 200")


def test_plaintext_to_tls_port_gets_nothing_useful(gateway):
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(100)
        except ConnectionResetError:
            data = b""
    assert not data.startswith(b"HTTP/1.1 200")
    assert gateway.get("/healthz")[0] == 200


def test_check_config_reports_every_error(workdir):
    path = os.path.join(workdir, "bad.yaml")
    with open(path, "w") as f:
        f.write("listen:\n  address: \"0.0.0.0:8443\"\n  tls: {cert: missing.pem}\n"
                "backends:\n  - {name: a, url: \"gopher://x\"}\n"
                "routes:\n  - {model: m, backends: [a]}\nbogus: 1\n")
    p = sgtest.run(["check-config", path])
    assert p.returncode == 1
    lines = p.stderr.strip().split("\n")
    assert f"{path}:3:15: listen.tls.cert: cannot read {workdir}/missing.pem: No such file or directory" in lines
    assert f"{path}:3:8: listen.tls.key: required" in lines
    assert f"{path}:5:20: backends[0].url: must start with http://, https:// or unix:/" in lines
    assert f"{path}:8:1: bogus: unknown key" in lines
    p = sgtest.run(["check-config", os.path.join(workdir, "nope.yaml")])
    assert p.returncode == 1 and "nope.yaml" in p.stderr


def test_check_config_ok_and_tls_files_checked(workdir):
    certs = sgtest.make_certs(workdir)
    path = os.path.join(workdir, "ok.yaml")
    cfg = {"listen": {"address": "127.0.0.1:8443",
                      "tls": {"cert": certs["cert"], "key": certs["key"]}},
           "backends": [{"name": "a", "url": "http://127.0.0.1:9"}],
           "routes": [{"model": "m", "backends": ["a"]}]}
    with open(path, "w") as f:
        json.dump(cfg, f)
    p = sgtest.run(["check-config", path])
    assert p.returncode == 0 and "OK" in p.stdout
    # A key that does not match the certificate is caught by check-config, not at start.
    other = sgtest.make_certs(os.path.join(workdir, "other"))
    cfg["listen"]["tls"]["key"] = other["key"]
    with open(path, "w") as f:
        json.dump(cfg, f)
    p = sgtest.run(["check-config", path])
    assert p.returncode == 1 and "key values mismatch" in p.stderr


def test_check_config_reports_every_problem_found_after_loading(workdir, make_gateway, upstream):
    """What only building the gateway's state finds (a certificate that does not parse, a
    pattern Hyperscan refuses, a host that does not resolve) is reported like the loader's
    errors: every one of them, each at its key's position. The daemon says the same at
    start and keeps its configuration on a reload."""
    bad = os.path.join(workdir, "bad.pem")
    with open(bad, "w") as f:
        f.write("not a certificate\n")
    path = os.path.join(workdir, "late.yaml")
    with open(path, "w") as f:
        f.write(f"""listen:
  address: 127.0.0.1:8443
  tls:
    cert: {bad}
    key: {bad}
backends:
  - name: a
    url: http://127.0.0.1:9
  - name: b
    url: http://nowhere.invalid:9
    sovereign: true
egress:
  allow: [127.0.0.1, nowhere.invalid]
routes:
  - {{model: m, backends: [a, b]}}
redaction:
  detectors:
    - name: ORDER_REF
      regex: "ORD-(["
    - name: FINE
      regex: "ABC-[0-9]+"
    - name: WORDS
      terms: [ok]
      regex: "x{{2,1}}"
""")
    p = sgtest.run(["check-config", path])
    assert p.returncode == 1, p.stdout
    lines = p.stderr.strip().split("\n")
    assert len(lines) == 4, lines
    assert lines[0].startswith(f"{path}:19:14: redaction.detectors[0].regex: custom detector "
                               "ORDER_REF: "), lines
    assert lines[1].startswith(f"{path}:24:14: redaction.detectors[2].regex: custom detector "
                               "WORDS: "), lines
    assert lines[2].startswith(f"{path}:4:11: listen.tls.cert: cannot load certificate "), lines
    assert lines[3].startswith(f"{path}:10:10: backends[1].url: cannot resolve "), lines
    # the daemon refuses to start with the same lines
    p = sgtest.run(["serve", "--config", path])
    assert p.returncode != 0
    logged = [json.loads(x)["msg"] for x in p.stderr.splitlines() if x.startswith("{")]
    assert [m for m in logged if m in lines] == lines, logged
    # and a reload to such a file keeps the running configuration
    g = make_gateway(backends=[{"name": "b1", "url": upstream.url}],
                     routes=[{"model": "assistant", "backends": ["b1"]}])
    cfg = json.loads(json.dumps(g.config))
    cfg["redaction"] = {"detectors": [{"name": "ORDER_REF", "regex": "ORD-(["}]}
    g.write_config(cfg)
    mark = g.mark()
    g.signal(signal.SIGHUP)
    g.wait_log(lambda j: j.get("event") == "reload" and "keeping" in j.get("msg", ""),
               since=mark)
    assert any(j.get("event") == "config" and "redaction.detectors[0].regex" in j.get("msg", "")
               for j in g.log_events()[mark:])
    assert g.chat("still here")[0] == 200


def test_keys_cli(workdir):
    db = os.path.join(workdir, "k.db")
    p = sgtest.run(["keys", "create", "--name", "plugin-x", "--models", "a,b", "--db", db])
    assert p.returncode == 0
    key = p.stdout.strip()
    assert key.startswith("sg-") and len(key) == 46
    assert oct(os.stat(db).st_mode & 0o777) == "0o600"
    with open(db, "rb") as f:
        assert key.encode() not in f.read()  # only the hash is stored
    h = sgtest.run(["keys", "hash"], stdin=key + "\n").stdout.strip()
    assert h.startswith("sha256:") and len(h) == 71
    listing = sgtest.run(["keys", "list", "--db", db]).stdout
    assert "plugin-x" in listing and "a,b" in listing and h[:23] in listing
    assert sgtest.run(["keys", "revoke", "--name", "nobody", "--db", db]).returncode == 1
    assert sgtest.run(["keys", "create", "--db", db]).returncode == 2
    # client names follow the config's name rule: they end up in logs, metrics and audit
    for bad in ("", "a b", "x" * 129, "shop\nfake", 'a"b', "caf\u00e9"):
        p = sgtest.run(["keys", "create", "--name", bad, "--db", db])
        assert p.returncode == 2 and "--name must be" in p.stderr, bad
    assert sgtest.run(["keys", "create", "--name", "x" * 128, "--db", db]).returncode == 0
    assert sgtest.run(["keys", "frobnicate"]).returncode == 2
    assert sgtest.run(["serve"]).returncode == 2


def test_the_shop_example_is_valid(workdir):
    """examples/shop.yaml stays valid: with its file paths pointed at real files, the
    example passes check-config as it is."""
    certs = sgtest.make_certs(workdir)
    secret = os.path.join(workdir, "gpu-pool.key")
    with open(secret, "w") as f:
        f.write("not-a-real-key\n")
    rkey = os.path.join(workdir, "redaction.key")
    with open(rkey, "wb") as f:
        f.write(os.urandom(32))
    model = os.path.join(workdir, "model.gguf")
    open(model, "w").close()
    with open(os.path.join(sgtest.ROOT, "examples", "shop.yaml")) as f:
        text = f.read()
    for old, new in (("/etc/sovgate/tls/cert.pem", certs["cert"]),
                     ("/etc/sovgate/tls/key.pem", certs["key"]),
                     ("/etc/sovgate/secrets/gpu-pool.key", secret),
                     ("/var/lib/sovgate/keys.db", os.path.join(workdir, "keys.db")),
                     ("/etc/sovgate/secrets/redaction.key", rkey),
                     ("/var/lib/sovgate/models/shop-assistant.gguf", model)):
        assert old in text
        text = text.replace(old, new)
    path = os.path.join(workdir, "shop.yaml")
    with open(path, "w") as f:
        f.write(text)
    p = sgtest.run(["check-config", path])
    assert p.returncode == 0, p.stderr
    assert "2 backends, 2 routes" in p.stdout


def test_privileges_dropped_and_no_core_dumps(make_gateway, upstream):
    import os
    import pwd
    if os.geteuid() != 0:
        pytest.skip("needs root to switch users")
    nobody = pwd.getpwnam("nobody")
    g = make_gateway(backends=[{"name": "b1", "url": upstream.url}],
                     routes=[{"model": "assistant", "backends": ["b1"]}],
                     extra={"user": "nobody"})
    assert g.chat("hi")[0] == 200
    g.wait_log(lambda j: j.get("event") == "privileges")
    status = open(f"/proc/{g.proc.pid}/status").read()
    uids = [l.split()[1:] for l in status.splitlines() if l.startswith("Uid:")][0]
    assert uids == [str(nobody.pw_uid)] * 4  # real, effective, saved, filesystem
    limits = open(f"/proc/{g.proc.pid}/limits").read()
    core = [l for l in limits.splitlines() if l.startswith("Max core file size")][0]
    assert core.split()[4:6] == ["0", "0"], core


def test_unknown_user_refuses_to_start(workdir, upstream):
    g = sgtest.Gateway(workdir, backends=[{"name": "b1", "url": upstream.url}],
                       routes=[{"model": "assistant", "backends": ["b1"]}],
                       extra={"user": "no-such-user-here"}, start=False)
    p = subprocess.run([sgtest.SOVGATE, "serve", "--config", g.path], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode != 0 and "no such user" in p.stderr and "no-such-user-here" in p.stderr
    p = sgtest.run(["check-config", g.path])
    assert p.returncode == 1 and 'user: no such user "no-such-user-here"' in p.stderr


def test_systemd_unit_is_valid(workdir):
    import os
    import shutil
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    text = open(os.path.join(sgtest.ROOT, "deploy", "sovgate.service")).read()
    assert "NoNewPrivileges=yes" in text and "ProtectSystem=strict" in text
    assert "IPAddressDeny=any" in text and "SystemCallFilter=" in text
    unit = os.path.join(workdir, "sovgate.service")
    with open(unit, "w") as f:
        f.write(text.replace("/usr/local/bin/sovgate", sgtest.SOVGATE))
    p = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                       timeout=60)
    problems = [l for l in (p.stdout + p.stderr).splitlines()
                if "sovgate.service" in l and "Documentation" not in l]
    assert problems == [], problems


def make_client_certs(d, ca_name, names):
    """A client CA and one certificate per name (CN), with openssl."""
    def ossl(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True)
    ca_key, ca = f"{d}/{ca_name}.key", f"{d}/{ca_name}.pem"
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", ca_key, "-out", ca, "-subj", f"/CN={ca_name}", "-days", "2")
    out = {}
    for n in names:
        k, csr, crt = f"{d}/{ca_name}-{n}.key", f"{d}/{ca_name}-{n}.csr", f"{d}/{ca_name}-{n}.pem"
        ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", k, "-out", csr, "-subj", f"/CN={n}")
        ossl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
             "-out", crt, "-days", "1")
        out[n] = (crt, k)
    return ca, out


def mtls_post(g, cert=None, key=None):
    import http.client
    ctx = ssl.create_default_context(cafile=g.certs["ca"])
    if cert:
        ctx.load_cert_chain(cert[0], cert[1])
    c = http.client.HTTPSConnection("localhost", g.port, context=ctx, timeout=10)
    h = {"Content-Type": "application/json"}
    if key:
        h["Authorization"] = f"Bearer {key}"
    c.request("POST", "/v1/chat/completions", body=json.dumps(
        {"model": "assistant", "messages": [{"role": "user", "content": "hi"}]}), headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def test_mutual_tls_identities(make_gateway, upstream, workdir):
    ca, certs = make_client_certs(workdir, "clientca", ["shop", "other", "stranger"])
    g = make_gateway(backends=[{"name": "b1", "url": upstream.url}],
                     routes=[{"model": "assistant", "backends": ["b1"]}],
                     clients={"shop": None, "other": None}, start=False)
    g.config["listen"]["tls"]["client_ca"] = ca
    g.write_config()
    g.start()
    # optional: a key alone still works
    assert mtls_post(g, key=g.keys["shop"])[0] == 200
    # a certificate alone authenticates as the client it names
    assert mtls_post(g, cert=certs["shop"])[0] == 200
    g.wait_log(lambda j: j.get("event") == "request" and j.get("client") == "shop")
    st, body = mtls_post(g, cert=certs["stranger"])
    assert st == 401 and json.loads(body)["error"]["code"] == "unknown_client_certificate"
    # a key and a certificate of different clients
    st, body = mtls_post(g, cert=certs["other"], key=g.keys["shop"])
    assert st == 401 and json.loads(body)["error"]["code"] == "certificate_mismatch"
    assert mtls_post(g, cert=certs["other"], key=g.keys["other"])[0] == 200


def test_mutual_tls_required(make_gateway, upstream, workdir):
    ca, certs = make_client_certs(workdir, "clientca", ["shop"])
    other_ca, other = make_client_certs(workdir, "rogueca", ["shop"])
    g = make_gateway(backends=[{"name": "b1", "url": upstream.url}],
                     routes=[{"model": "assistant", "backends": ["b1"]}], start=False)
    g.config["listen"]["tls"]["client_ca"] = ca
    g.config["listen"]["tls"]["client_cert"] = "required"
    g.write_config()
    g.start()
    assert mtls_post(g, cert=certs["shop"])[0] == 200
    for cert in (None, other["shop"]):  # no certificate; one from another CA
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            mtls_post(g, cert=cert, key=g.key)
    # openssl s_client: refused without a certificate, accepted with the right one
    base = ["openssl", "s_client", "-connect", f"127.0.0.1:{g.port}", "-CAfile",
            g.certs["ca"], "-servername", "localhost", "-verify_return_error", "-brief",
            "-ign_eof"]
    req = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    p = subprocess.run(base, input=req, capture_output=True, text=True, timeout=20)
    assert p.returncode != 0 and "HTTP/1.1 200" not in p.stdout
    p = subprocess.run(base + ["-cert", certs["shop"][0], "-key", certs["shop"][1]], input=req,
                       capture_output=True, text=True, timeout=20)
    assert "HTTP/1.1 200" in p.stdout, p.stdout + p.stderr


def test_client_cert_needs_client_ca(workdir, upstream):
    g = sgtest.Gateway(workdir, backends=[{"name": "b1", "url": upstream.url}],
                       routes=[{"model": "assistant", "backends": ["b1"]}], start=False)
    g.config["listen"]["tls"]["client_cert"] = "required"
    g.write_config()
    p = sgtest.run(["check-config", g.path])
    assert p.returncode == 1 and "needs listen.tls.client_ca" in p.stderr
