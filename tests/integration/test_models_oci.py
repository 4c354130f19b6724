"""`sovgate model push/pull` against a real OCI registry: Debian's docker-registry
(distribution) started here on loopback with TLS (the development CA) and htpasswd
(bcrypt) authentication, and a second one with token authentication (bearer tokens from
oci_token_server.py). Push, pull by tag and by digest, then verify and promote; bad
passwords, an untrusted certificate, a registry serving tampered weights or a manifest
of another digest, a manifest signed by another key, resumed and poisoned partial
downloads, and malformed references: each refused with a clear error and nothing added
to the store."""

import glob
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

import sgtest
from test_models import (CHUNK, audit_events, blob_path, keys, mkmodel, models,  # noqa: F401
                         ok)

REGISTRY = shutil.which("docker-registry")
HTPASSWD = shutil.which("htpasswd")

pytestmark = pytest.mark.skipif(
    not (REGISTRY and HTPASSWD and os.path.exists(os.path.join(sgtest.BUILD, "sovgate-mkmodel"))),
    reason="docker-registry, htpasswd (apache2-utils) or sovgate-mkmodel missing "
           "(scripts/setup installs them)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("registry"))
    certs = sgtest.make_certs(d)
    with open(os.path.join(d, "htpasswd"), "w") as f:
        f.write(subprocess.run([HTPASSWD, "-Bbn", "alice", "s3cret"], check=True,
                               capture_output=True, text=True).stdout)
    port = free_port()
    cfg = {"version": 0.1, "log": {"level": "warn"},
           "storage": {"filesystem": {"rootdirectory": os.path.join(d, "data")}},
           "http": {"addr": f"127.0.0.1:{port}",
                    "tls": {"certificate": certs["cert"], "key": certs["key"]}},
           "auth": {"htpasswd": {"realm": "sovgate-test", "path": os.path.join(d, "htpasswd")}}}
    with open(os.path.join(d, "config.yml"), "w") as f:
        json.dump(cfg, f)  # JSON is YAML
    log = open(os.path.join(d, "registry.log"), "w")
    proc = subprocess.Popen([REGISTRY, "serve", os.path.join(d, "config.yml")], stdout=log,
                            stderr=log)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    cred = os.path.join(d, "cred")
    with open(cred, "w") as f:
        f.write("alice:s3cret\n")
    bad = os.path.join(d, "bad")
    with open(bad, "w") as f:
        f.write("alice:wrong\n")
    yield {"host": f"127.0.0.1:{port}", "ca": certs["ca"], "cred": cred, "bad": bad,
           "data": os.path.join(d, "data")}
    proc.terminate()
    proc.wait(10)
    log.close()


def mo(store, keys, *args, pub=None, sign=True, reg=None, cred=True, ca=True):
    a = ["model"] + list(args) + ["--store", store]
    if sign:
        a += ["--key", "file:" + keys["org"]]
    if pub:
        a += ["--pubkey", "file:" + pub]
    if reg and ca:
        a += ["--ca", reg["ca"]]
    if reg and cred:
        a += ["--registry-auth", "file:" + (reg["cred"] if cred is True else cred)]
    return sgtest.run(a)


def reg_blob(reg, digest):
    hexd = digest.split(":")[1]
    return os.path.join(reg["data"], "docker", "registry", "v2", "blobs", "sha256", hexd[:2],
                        hexd, "data")


def names(store, keys):
    p = ok(mo(store, keys, "list", "--json", sign=False, pub=keys["pub"]))
    return [(e["name"], e["version"]) for e in json.loads(p.stdout)]


def test_push_pull_verify_promote(tmp_path, keys, models, registry):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    ok(mo(a, keys, "import", models[0], "--name", "shop", "--version", "1",
          "--encrypt", "file:" + keys["enc"], "--chunk", str(CHUNK)))
    ref = f"{registry['host']}/sovgate/shop:1"
    p = ok(mo(a, keys, "push", "shop", "1", ref, reg=registry))
    digest = p.stdout.strip().split("(")[1].rstrip(")")
    assert digest.startswith("sha256:") and len(digest) == 71
    # pushing again is fine (the blobs are there already)
    ok(mo(a, keys, "push", "shop", "1", ref, reg=registry))
    # pull by tag into a store that holds only the public key
    p = ok(mo(b, keys, "pull", ref, sign=False, pub=keys["pub"], reg=registry))
    assert "pulled shop 1" in p.stdout
    with open(blob_path(a, "shop", "1"), "rb") as f1, open(blob_path(b, "shop", "1"), "rb") as f2:
        assert f1.read() == f2.read()  # still encrypted, byte for byte
    ok(mo(b, keys, "verify", "--encryption-key", "file:" + keys["enc"], sign=False,
          pub=keys["pub"]))
    # without the signing key the pull's audit record waits for it (docs/models.md, "Audit"):
    # a trail checkpoint it cannot sign would fail `audit verify --pubkey` for good
    pending = os.path.join(b, "audit.db.pending")
    assert "note: no signing key: the audit record waits in " + pending in p.stderr, p.stderr
    with open(pending) as f:
        (rec,) = [json.loads(line) for line in f]
    assert rec["event"] == "model.pull" and rec["deferred_at"] and rec["ref"] == ref
    assert not os.path.exists(os.path.join(b, "audit.db"))
    ok(mo(b, keys, "promote", "shop", "1", "--channel", "prod"))
    # ... and the promotion, made with the key, signs it into the trail ahead of its own
    assert not os.path.exists(pending)
    ev = audit_events(b, keys)  # `sovgate audit verify --pubkey` first
    assert [e["event"] for e in ev] == ["model.pull", "model.promote"]
    assert ev[0]["deferred_at"] and "deferred_at" not in ev[1]
    # again: nothing to do; by digest into a third store
    ok(mo(b, keys, "pull", ref, sign=False, pub=keys["pub"], reg=registry))
    c = str(tmp_path / "c")
    ok(mo(c, keys, "pull", f"{registry['host']}/sovgate/shop@{digest}", sign=False,
          pub=keys["pub"], reg=registry))
    assert names(c, keys) == [("shop", "1")]
    ev = sgtest.run(["audit", "export", "--db", os.path.join(b, "audit.db")]).stdout
    assert '"event":"model.pull"' in ev


def test_auth_and_tls_failures(tmp_path, keys, models, registry):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    ok(mo(a, keys, "import", models[1], "--name", "x", "--version", "1"))
    ref = f"{registry['host']}/sovgate/x:1"
    p = mo(a, keys, "push", "x", "1", ref, reg=registry, cred=registry["bad"])
    assert p.returncode == 1 and "authentication failed (HTTP 401)" in p.stderr
    p = mo(a, keys, "push", "x", "1", ref, reg=registry, cred=False)
    assert p.returncode == 1 and "authentication failed (HTTP 401)" in p.stderr
    p = mo(a, keys, "push", "x", "1", ref, reg=registry, ca=False)  # the system's CAs
    assert p.returncode == 1 and "certificate" in p.stderr.lower()
    ok(mo(a, keys, "push", "x", "1", ref, reg=registry))
    p = mo(b, keys, "pull", ref, sign=False, pub=keys["pub"], reg=registry, cred=registry["bad"])
    assert p.returncode == 1 and "authentication failed" in p.stderr
    p = mo(b, keys, "pull", f"{registry['host']}/sovgate/x:nope", sign=False, pub=keys["pub"],
           reg=registry)
    assert p.returncode == 1 and "not found" in p.stderr
    assert names(b, keys) == []


def test_bad_references(tmp_path, keys):
    s = str(tmp_path / "s")
    for ref in ("noslash", "/repo:tag", "host/repo", "host/Repo:tag", "host/repo@sha256:abc",
                "host/re..po/:x", "ho st/repo:tag", "host/repo:" + "t" * 200):
        p = mo(s, keys, "pull", ref, sign=False, pub=keys["pub"])
        assert p.returncode == 1 and "registry reference" in p.stderr, ref


def test_tampered_registry_content(tmp_path, keys, models, registry):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    ok(mo(a, keys, "import", models[0], "--name", "t", "--version", "1"))
    ref = f"{registry['host']}/sovgate/t:1"
    digest = ok(mo(a, keys, "push", "t", "1", ref, reg=registry)).stdout.split("(")[1][:-2]
    with open(os.path.join(a, "manifests", "t", "1.json")) as f:
        weights = "sha256:" + json.load(f)["payload"]["blob"]["sha256"]
    data = reg_blob(registry, weights)
    saved = open(data, "rb").read()
    # the registry serves other weights under the signed digest
    with open(data, "r+b") as f:
        f.seek(1000)
        f.write(b"\xff\xfe")
    p = mo(b, keys, "pull", ref, sign=False, pub=keys["pub"], reg=registry)
    assert p.returncode == 1 and "not the signed" in p.stderr
    assert names(b, keys) == [] and os.listdir(os.path.join(b, "partial")) == []
    assert glob.glob(os.path.join(b, "blobs", "sha256", "*")) == []
    with open(data, "wb") as f:
        f.write(saved)
    # the registry answers a digest with another manifest
    mdata = reg_blob(registry, digest)
    msaved = open(mdata, "rb").read()
    doc = json.loads(msaved)
    doc["annotations"]["org.opencontainers.image.title"] = "t:2"
    with open(mdata, "w") as f:
        json.dump(doc, f)
    p = mo(b, keys, "pull", f"{registry['host']}/sovgate/t@{digest}", sign=False,
           pub=keys["pub"], reg=registry)
    assert p.returncode == 1 and "manifest of another digest" in p.stderr
    with open(mdata, "wb") as f:
        f.write(msaved)
    # a genuine model signed by another organisation's key
    p = mo(b, keys, "pull", ref, sign=False, pub=keys["other_pub"], reg=registry)
    assert p.returncode == 1 and "not by the configured key" in p.stderr
    assert names(b, keys) == []
    ok(mo(b, keys, "pull", ref, sign=False, pub=keys["pub"], reg=registry))


def test_resumed_and_poisoned_partial_download(tmp_path, keys, models, registry):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    ok(mo(a, keys, "import", models[1], "--name", "r", "--version", "1"))
    ref = f"{registry['host']}/sovgate/r:1"
    ok(mo(a, keys, "push", "r", "1", ref, reg=registry))
    src = blob_path(a, "r", "1")
    hexd = os.path.basename(src)
    part = os.path.join(b, "partial", hexd)
    os.makedirs(os.path.dirname(part))
    for d in ("blobs/sha256", "manifests", "channels", "tmp"):
        os.makedirs(os.path.join(b, d), exist_ok=True)
    # half of the weights from an interrupted pull: the pull continues from there
    data = open(src, "rb").read()
    with open(part, "wb") as f:
        f.write(data[:len(data) // 2])
    ok(mo(b, keys, "pull", ref, sign=False, pub=keys["pub"], reg=registry))
    assert not os.path.exists(part)
    assert open(blob_path(b, "r", "1"), "rb").read() == data
    # a poisoned partial file: the digest check refuses, the file is dropped, a retry works
    c = str(tmp_path / "c")
    shutil.copytree(os.path.join(b), c, ignore=shutil.ignore_patterns("*.json", "audit.db"))
    shutil.rmtree(os.path.join(c, "blobs"))
    os.makedirs(os.path.join(c, "blobs", "sha256"))
    with open(os.path.join(c, "partial", hexd), "wb") as f:
        f.write(b"\0" * 1000)
    p = mo(c, keys, "pull", ref, sign=False, pub=keys["pub"], reg=registry)
    assert p.returncode == 1 and "not the signed" in p.stderr
    assert not os.path.exists(os.path.join(c, "partial", hexd))
    ok(mo(c, keys, "pull", ref, sign=False, pub=keys["pub"], reg=registry))
    ok(mo(c, keys, "verify", sign=False, pub=keys["pub"]))


def put_manifest(registry, repo, tag, doc):
    """Stores an arbitrary manifest in the registry (as a hostile or foreign publisher)."""
    import base64
    import http.client
    import ssl
    ctx = ssl.create_default_context(cafile=registry["ca"])
    host, port = registry["host"].split(":")
    c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)
    auth = base64.b64encode(b"alice:s3cret").decode()
    c.request("PUT", f"/v2/{repo}/manifests/{tag}", body=json.dumps(doc),
              headers={"Authorization": "Basic " + auth,
                       "Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    r = c.getresponse()
    r.read()
    assert r.status == 201, r.status


def test_foreign_and_inconsistent_artifacts(tmp_path, keys, models, registry):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    ok(mo(a, keys, "import", models[0], "--name", "f", "--version", "1"))
    ok(mo(a, keys, "push", "f", "1", f"{registry['host']}/sovgate/f:1", reg=registry))
    cfg_path = os.path.join(a, "manifests", "f", "1.json")
    cfg = open(cfg_path, "rb").read()
    import hashlib
    cdig = "sha256:" + hashlib.sha256(cfg).hexdigest()
    with open(cfg_path) as f:
        blob = json.load(f)["payload"]["blob"]
    layer = {"mediaType": "application/vnd.sovgate.model.weights.v1",
             "digest": "sha256:" + blob["sha256"], "size": blob["size"]}
    base = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}
    # a container image's config type: not ours
    put_manifest(registry, "sovgate/f", "image", dict(base, config={
        "mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdig,
        "size": len(cfg)}, layers=[layer]))
    p = mo(b, keys, "pull", f"{registry['host']}/sovgate/f:image", sign=False, pub=keys["pub"],
           reg=registry)
    assert p.returncode == 1 and "is not a Sovgate model" in p.stderr
    # our config, but a layer that is not the signed weights (another existing blob)
    put_manifest(registry, "sovgate/f", "swapped", dict(base, config={
        "mediaType": "application/vnd.sovgate.model.manifest.v1+json", "digest": cdig,
        "size": len(cfg)}, layers=[dict(layer, digest=cdig, size=len(cfg))]))
    p = mo(b, keys, "pull", f"{registry['host']}/sovgate/f:swapped", sign=False,
           pub=keys["pub"], reg=registry)
    assert p.returncode == 1 and "not the ones the signed manifest names" in p.stderr
    # two layers
    put_manifest(registry, "sovgate/f", "two", dict(base, config={
        "mediaType": "application/vnd.sovgate.model.manifest.v1+json", "digest": cdig,
        "size": len(cfg)}, layers=[layer, layer]))
    p = mo(b, keys, "pull", f"{registry['host']}/sovgate/f:two", sign=False, pub=keys["pub"],
           reg=registry)
    assert p.returncode == 1 and "is not a Sovgate model" in p.stderr
    assert names(b, keys) == []


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory):
    """The registry with token authentication: a token service (oci_token_server.py) on
    another port issues the bearer tokens."""
    pytest.importorskip("cryptography")
    d = str(tmp_path_factory.mktemp("token-registry"))
    certs = sgtest.make_certs(d)
    tport, rport = free_port(), free_port()
    tok = subprocess.Popen(
        ["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "oci_token_server.py"), d,
         str(tport), certs["cert"], certs["key"], "alice", "s3cret"],
        stdout=subprocess.PIPE, text=True)
    assert tok.stdout.readline().strip() == "ready"
    cfg = {"version": 0.1, "log": {"level": "warn"},
           "storage": {"filesystem": {"rootdirectory": os.path.join(d, "data")}},
           "http": {"addr": f"127.0.0.1:{rport}",
                    "tls": {"certificate": certs["cert"], "key": certs["key"]}},
           "auth": {"token": {"realm": f"https://127.0.0.1:{tport}/token",
                              "service": "sovgate-registry", "issuer": "sovgate-test-issuer",
                              "rootcertbundle": os.path.join(d, "token-ca.pem")}}}
    with open(os.path.join(d, "config.yml"), "w") as f:
        json.dump(cfg, f)
    log = open(os.path.join(d, "registry.log"), "w")
    proc = subprocess.Popen([REGISTRY, "serve", os.path.join(d, "config.yml")], stdout=log,
                            stderr=log)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", rport), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    cred, bad = os.path.join(d, "cred"), os.path.join(d, "bad")
    with open(cred, "w") as f:
        f.write("alice:s3cret\n")
    with open(bad, "w") as f:
        f.write("alice:wrong\n")
    yield {"host": f"127.0.0.1:{rport}", "ca": certs["ca"], "cred": cred, "bad": bad,
           "data": os.path.join(d, "data")}
    proc.terminate()
    proc.wait(10)
    tok.terminate()
    tok.wait(10)
    log.close()


def test_bearer_token_registry(tmp_path, keys, models, token_registry):
    reg = token_registry
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    ok(mo(a, keys, "import", models[0], "--name", "tk", "--version", "1",
          "--encrypt", "file:" + keys["enc"], "--chunk", str(CHUNK)))
    ref = f"{reg['host']}/sovgate/tk:1"
    ok(mo(a, keys, "push", "tk", "1", ref, reg=reg))
    ok(mo(b, keys, "pull", ref, sign=False, pub=keys["pub"], reg=reg))
    ok(mo(b, keys, "verify", "--encryption-key", "file:" + keys["enc"], sign=False,
          pub=keys["pub"]))
    for cred in (reg["bad"], False):
        p = mo(str(tmp_path / "c"), keys, "pull", ref, sign=False, pub=keys["pub"], reg=reg,
               cred=cred)
        assert p.returncode == 1
        assert "authentication failed at its token service (HTTP 401)" in p.stderr


class FakeRegistry:
    """A broken or hostile registry on loopback (HTTPS, the development CA) serving one
    artifact: the version `name`/`version` of `store`, as `push` would have stored it, as
    repository sovgate/<name>, tag <version>. `mode` changes how it answers: ignore_range
    (the whole blob with 200 whatever the Range), bad_range (a Range answered with 206 and
    as many bytes as asked for but from 16 before the offset, as its Content-Range says), bearer (a
    token challenge whose realm is /token here), stall_token (the token service accepts and
    then says nothing)."""

    def __init__(self, workdir, store, name, version, **mode):
        import hashlib
        import http.server
        import ssl
        import threading
        certs = sgtest.make_certs(workdir)
        cfg = open(os.path.join(store, "manifests", name, version + ".json"), "rb").read()
        bhex = json.loads(cfg)["payload"]["blob"]["sha256"]
        weights = open(os.path.join(store, "blobs", "sha256", bhex), "rb").read()
        cdig = "sha256:" + hashlib.sha256(cfg).hexdigest()
        man = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.sovgate.model.manifest.v1+json",
                       "digest": cdig, "size": len(cfg)},
            "layers": [{"mediaType": "application/vnd.sovgate.model.weights.v1",
                        "digest": "sha256:" + bhex, "size": len(weights)}]}).encode()
        blobs = {cdig: cfg, "sha256:" + bhex: weights}
        self.weights, self.ranges, self.stop = weights, [], threading.Event()
        reg = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path.startswith("/token"):
                    if mode.get("stall_token"):
                        reg.stop.wait(300)
                        return
                    return self.send(200, json.dumps({"token": "t0ken"}).encode())
                if mode.get("bearer") and self.headers.get("Authorization") != "Bearer t0ken":
                    realm = f"https://127.0.0.1:{reg.port}/token"
                    return self.send(401, b"{}", [("WWW-Authenticate", f'Bearer realm="{realm}"'
                                                   f',service="fake",scope="repository:x:pull"')])
                parts = self.path.split("/")
                if self.path == f"/v2/sovgate/{name}/manifests/{version}":
                    return self.send(200, man, [("Content-Type", json.loads(man)["mediaType"])])
                if len(parts) == 6 and parts[4] == "blobs" and parts[5] in blobs:
                    body, rng = blobs[parts[5]], self.headers.get("Range")
                    reg.ranges.append(rng)
                    if rng and not mode.get("ignore_range"):
                        start, end = int(rng.split("=")[1].rstrip("-")), len(body) - 1
                        if mode.get("bad_range"):  # as many bytes as asked for, 16 earlier
                            start, end = start - 16, end - 16
                        return self.send(206, body[start:end + 1], [
                            ("Content-Range", f"bytes {start}-{end}/{len(body)}")])
                    return self.send(200, body)
                self.send(404, b"{}")

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certs["cert"], certs["key"])
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()
        self.reg = {"host": f"127.0.0.1:{self.port}", "ca": certs["ca"], "cred": None}
        self.ref = f"127.0.0.1:{self.port}/sovgate/{name}:{version}"

    def close(self):
        self.stop.set()
        self.srv.shutdown()
        self.srv.server_close()


def _half_downloaded(tmp_path, keys, models, name, **registry):
    """Model `name` version 1 in a store served by a FakeRegistry(**registry), and a second
    store whose partial/ holds the first half of its weights (an interrupted pull).
    Returns (registry, second store, the weights)."""
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    ok(mo(a, keys, "import", models[1], "--name", name, "--version", "1"))
    fake = FakeRegistry(str(tmp_path), a, name, "1", **registry)
    data = fake.weights
    for d in ("partial", "blobs/sha256", "manifests", "channels", "tmp"):
        os.makedirs(os.path.join(b, d), exist_ok=True)
    with open(os.path.join(b, "partial", os.path.basename(blob_path(a, name, "1"))), "wb") as f:
        f.write(data[:len(data) // 2])
    return fake, b, data


def test_resume_from_a_registry_that_ignores_range(tmp_path, keys, models):
    """A registry (or a proxy before it) that answers a resumed download's Range with the
    whole blob (200): the download starts over instead of appending the blob to what the
    partial file holds (which left a damaged partial file, a misleading error, and the next
    pull reporting tampered weights)."""
    fake, b, data = _half_downloaded(tmp_path, keys, models, "ir", ignore_range=True)
    try:
        p = mo(b, keys, "pull", fake.ref, sign=False, pub=keys["pub"], reg=fake.reg, cred=False)
        assert p.returncode == 0, p.stderr
        assert fake.ranges[-1] == f"bytes={len(data) // 2}-"
        assert open(blob_path(b, "ir", "1"), "rb").read() == data
        assert os.listdir(os.path.join(b, "partial")) == []
        ok(mo(b, keys, "verify", sign=False, pub=keys["pub"]))
    finally:
        fake.close()


def test_resume_from_a_registry_that_answers_another_range(tmp_path, keys, models):
    """A registry (or a proxy) that answers a resumed download's Range with 206 and another
    range than the one asked for (here the bytes from 16 before the offset): the answer is
    not appended to the partial file (which only the digest check after the whole download
    caught); the download starts over from byte 0 and ends with the verified blob."""
    fake, b, data = _half_downloaded(tmp_path, keys, models, "br", bad_range=True)
    try:
        p = mo(b, keys, "pull", fake.ref, sign=False, pub=keys["pub"], reg=fake.reg, cred=False)
        assert p.returncode == 0, p.stderr
        assert fake.ranges[-2:] == [f"bytes={len(data) // 2}-", None]
        assert open(blob_path(b, "br", "1"), "rb").read() == data
        assert os.listdir(os.path.join(b, "partial")) == []
        ok(mo(b, keys, "verify", sign=False, pub=keys["pub"]))
    finally:
        fake.close()


def test_partial_download_symlink_is_refused(tmp_path, keys, models):
    """A symbolic link planted as the partial download (partial/<hex> -> a file elsewhere):
    the pull refuses it instead of resuming into, or truncating, the file it names."""
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    ok(mo(a, keys, "import", models[1], "--name", "pl", "--version", "1"))
    fake = FakeRegistry(str(tmp_path), a, "pl", "1")
    try:
        hexd = os.path.basename(blob_path(a, "pl", "1"))
        for d in ("partial", "blobs/sha256", "manifests", "channels", "tmp"):
            os.makedirs(os.path.join(b, d), exist_ok=True)
        victim = str(tmp_path / "victim")
        with open(victim, "wb") as f:
            f.write(b"precious")
        os.symlink(victim, os.path.join(b, "partial", hexd))
        p = mo(b, keys, "pull", fake.ref, sign=False, pub=keys["pub"], reg=fake.reg, cred=False)
        assert p.returncode == 1 and "is not a regular file" in p.stderr, p.stderr
        assert open(victim, "rb").read() == b"precious"
        assert names(b, keys) == []
    finally:
        fake.close()


def test_stalled_token_service_gives_up(tmp_path, keys, models):
    """A token service that accepts the connection and never answers: the pull gives up
    (no answer for 60 s, like any request to the registry) instead of hanging forever."""
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    ok(mo(a, keys, "import", models[1], "--name", "st", "--version", "1"))
    fake = FakeRegistry(str(tmp_path), a, "st", "1", bearer=True, stall_token=True)
    try:
        e = dict(os.environ)
        e.update(sgtest.SAN_ENV)
        t0 = time.time()
        p = subprocess.run([sgtest.SOVGATE, "model", "pull", fake.ref, "--store", b, "--pubkey",
                            "file:" + keys["pub"], "--ca", fake.reg["ca"]],
                           capture_output=True, text=True, env=e, timeout=120)
        assert p.returncode == 1 and "token service of" in p.stderr, p.stderr
        assert time.time() - t0 < 100
        assert names(b, keys) == []
    finally:
        fake.close()


class FakePushRegistry:
    """A registry on loopback (HTTPS, the development CA) that takes uploads by chunks, for
    `push`. It answers a chunk PATCH with 500 where `fail(n, start)` says so (n: the
    PATCH's number from 1, start: its first byte) and, asked where the upload stands,
    reports `report(n, has)` of the `has` bytes it holds, forgetting the rest. Keeps every
    blob it completed, and the manifest."""

    def __init__(self, workdir, fail, report):
        import http.server
        import ssl
        import threading
        certs = sgtest.make_certs(workdir)
        self.blobs, self.manifests, self.patches = {}, {}, 0
        self.uploads = {}  # upload id -> bytes received and confirmed
        reg = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send(self, status, headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def body(self):
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_HEAD(self):
                digest = self.path.rsplit("/", 1)[1]
                self.send(200 if digest in reg.blobs else 404)

            def do_POST(self):
                self.body()
                uid = str(len(reg.uploads) + 1)
                reg.uploads[uid] = b""
                self.send(202, [("Location", f"/upload/{uid}")])

            def do_PATCH(self):
                data, uid = self.body(), self.path.split("/")[2]
                reg.patches += 1
                start = int(self.headers["Content-Range"].split("-")[0])
                if fail(reg.patches, start) or start != len(reg.uploads[uid]):
                    return self.send(500)
                reg.uploads[uid] += data
                self.send(202, [("Location", f"/upload/{uid}"),
                                ("Range", f"0-{len(reg.uploads[uid]) - 1}")])

            def do_GET(self):
                uid = self.path.split("/")[2]
                has = report(reg.patches, len(reg.uploads[uid]))
                reg.uploads[uid] = reg.uploads[uid][:has]
                self.send(204, [("Range", f"0-{has - 1}")] if has else [])

            def do_PUT(self):
                data = self.body()
                if self.path.startswith("/upload/"):
                    uid, digest = self.path.split("/")[2].split("?digest=")
                    reg.blobs[digest] = reg.uploads[uid]
                    return self.send(201)
                reg.manifests[self.path] = data
                self.send(201)

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certs["cert"], certs["key"])
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.reg = {"host": f"127.0.0.1:{self.srv.server_address[1]}", "ca": certs["ca"]}

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture(scope="module")
def big_model(tmp_path_factory):
    """A model whose weights take two upload chunks (over 16 MiB)."""
    path = str(tmp_path_factory.mktemp("big") / "big.gguf")
    subprocess.run([os.path.join(sgtest.BUILD, "sovgate-mkmodel"), "--vocab", "llama-spm",
                    "--layers", "1", "--embd", "576", "--heads", "2", "--kv-heads", "1",
                    "--ff", "128", "--type", "q8_0", "--seed", "3", "--out", path,
                    "--threads", "1"], check=True, capture_output=True, timeout=300)
    assert os.path.getsize(path) > (16 << 20) + 4096
    return path


@pytest.mark.parametrize("case", ["resumes", "loses_once", "keeps_losing"])
def test_push_resumes_an_upload_and_stops_where_the_registry_keeps_losing_it(tmp_path, keys,
                                                                             big_model, case):
    """The second chunk of the weights fails. The registry then says how much it has: all
    it confirmed (the push sends the failed chunk again), or once only 1 KiB (the push
    sends from there again): both complete, and the blob stored is the weights exactly. A
    registry that fails every chunk past the first and each time has lost all but 1 KiB
    would have the push send the first chunk again for ever: it stops after three such
    losses with a clear error, and no manifest is stored."""
    import hashlib
    a = str(tmp_path / "a")
    ok(mo(a, keys, "import", big_model, "--name", "big", "--version", "1"))
    chunk = 16 << 20
    if case == "keeps_losing":
        fake = FakePushRegistry(str(tmp_path), fail=lambda n, start: start >= chunk,
                                report=lambda n, has: 1024)
    else:
        fake = FakePushRegistry(str(tmp_path), fail=lambda n, start: n == 3,
                                report=lambda n, has: 1024 if case == "loses_once" else has)
    try:
        p = mo(a, keys, "push", "big", "1", f"{fake.reg['host']}/sovgate/big:1", reg=fake.reg,
               cred=False)
        weights = open(big_model, "rb").read()
        digest = "sha256:" + hashlib.sha256(weights).hexdigest()
        if case == "keeps_losing":
            assert p.returncode == 1
            assert "the registry keeps losing parts of the upload it had confirmed (it has " \
                   f"1024 bytes of {chunk + 1024})" in p.stderr, p.stderr
            # config 1; weights: 2 the first chunk, 3 the second fails; three times the rest
            # of the first chunk from 1 KiB, and the rest of the weights failing again
            assert fake.patches == 9 and not fake.manifests
        else:
            ok(p)
            # config 1; weights 2, 3 fails, the rest again (4, and 5 after a loss)
            assert fake.patches == (4 if case == "resumes" else 5)
            assert fake.blobs.get(digest) == weights
            assert len(fake.manifests) == 1
    finally:
        fake.close()
