"""`sovgate audit` end to end: keys, verify (intact, tampered, wrong key, damaged files),
export (jsonl, csv) with the chain recomputed here from the export alone, tail and
--follow, prune, the auditor's recipe from docs/audit.md with standard tools only, and the
PostgreSQL sink against a real PostgreSQL started by the test (two writers sharing one
trail, tampering there, an outage and the catch-up). Trails are written by the real
audit writer through bench/audit's driver (sg-bench-audit)."""

import csv
import glob
import hashlib
import io
import json
import os
import pwd
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time

import pytest

import sgtest

DRIVER = os.path.join(sgtest.BUILD, "sg-bench-audit")
DOC = os.path.join(sgtest.ROOT, "docs", "audit.md")


def write_trail(db, records, key=None, postgres=None, every=100, threads=2):
    args = [DRIVER, "--db", db, "--records", str(records), "--threads", str(threads),
            "--checkpoint-every", str(every), "--size", "300"]
    if key:
        args += ["--key", open(key).read()]
    if postgres:
        args += ["--postgres", postgres]
    e = dict(os.environ)
    e.update(sgtest.SAN_ENV)
    p = subprocess.run(args, capture_output=True, text=True, env=e, timeout=120)
    assert p.returncode == 0, p.stderr
    assert f"DONE durable={records} failed=0" in p.stdout, p.stdout
    return p


@pytest.fixture
def keys(workdir):
    k = os.path.join(workdir, "audit.pem")
    p = sgtest.run(["audit", "keygen", "--out", k], check=True)
    pub = os.path.join(workdir, "audit.pub")
    with open(pub, "w") as f:
        f.write(p.stdout)
    return k, pub


@pytest.fixture
def trail(workdir, keys):
    db = os.path.join(workdir, "audit.db")
    write_trail(db, 250, key=keys[0], every=50)
    return db


def rows(db):
    c = sqlite3.connect(db)
    r = c.execute("SELECT seq, ts, CAST(content AS BLOB), hash FROM records ORDER BY seq")
    out = list(r)
    c.close()
    return out


def test_keygen_and_pubkey(workdir, keys):
    k, pub = keys
    assert os.stat(k).st_mode & 0o777 == 0o600
    text = open(k).read()
    assert text.startswith("-----BEGIN PRIVATE KEY-----")
    assert open(pub).read().startswith("-----BEGIN PUBLIC KEY-----")
    # The standard tools read the same key.
    o = subprocess.run(["openssl", "pkey", "-in", k, "-pubout"], capture_output=True,
                       text=True, check=True)
    assert o.stdout == open(pub).read()
    p = sgtest.run(["audit", "pubkey", "--key", k], check=True)
    assert p.stdout == open(pub).read()
    assert re.search(r"key id: [0-9a-f]{16}", p.stderr)
    # A key is never overwritten.
    p = sgtest.run(["audit", "keygen", "--out", k])
    assert p.returncode == 1 and "exists" in p.stderr
    assert open(k).read() == text
    # A key made by openssl works too.
    k2 = os.path.join(workdir, "openssl.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", k2], check=True)
    assert sgtest.run(["audit", "pubkey", "--key", k2]).returncode == 0
    # Hostile key files.
    for name, data in [("empty", b""), ("junk", b"not a key\n"), ("bin", os.urandom(4096)),
                       ("rsa-label", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")]:
        f = os.path.join(workdir, name)
        with open(f, "wb") as fh:
            fh.write(data)
        p = sgtest.run(["audit", "pubkey", "--key", f])
        assert p.returncode == 1, name
        assert "sovgate audit" in p.stderr
    assert sgtest.run(["audit", "pubkey", "--key", os.path.join(workdir, "missing")]).returncode == 1
    assert sgtest.run(["audit", "keygen"]).returncode == 2
    assert sgtest.run(["audit", "keygen", "--out", "/nonexistent-dir/k.pem"]).returncode == 1


def test_verify_intact_and_tampered(workdir, keys, trail):
    k, pub = keys
    p = sgtest.run(["audit", "verify", "--db", trail, "--pubkey", pub])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "250 records (seq 1..250)" in p.stdout
    assert "5 signatures verified" in p.stdout
    p = sgtest.run(["audit", "verify", "--db", trail])
    assert p.returncode == 0
    assert "not checked" in p.stderr
    # A flipped byte in one record's content.
    bad = os.path.join(workdir, "bad.db")
    shutil.copy(trail, bad)
    c = sqlite3.connect(bad)
    c.execute("UPDATE records SET content = replace(content, '\"status\":200', "
              "'\"status\":201') WHERE seq = 123")
    c.commit()
    c.close()
    p = sgtest.run(["audit", "verify", "--db", bad, "--pubkey", pub])
    assert p.returncode == 1
    assert "record 123" in p.stdout and "seq 123" in p.stdout
    assert '"seq":123' in p.stdout  # the record as stored is shown
    # A deleted row, a truncated tail, a wrong key.
    shutil.copy(trail, bad)
    c = sqlite3.connect(bad)
    c.execute("DELETE FROM records WHERE seq = 77")
    c.commit()
    c.close()
    p = sgtest.run(["audit", "verify", "--db", bad])
    assert p.returncode == 1 and "record 77 is missing" in p.stdout
    shutil.copy(trail, bad)
    c = sqlite3.connect(bad)
    c.execute("DELETE FROM records WHERE seq > 180")
    c.commit()
    c.close()
    p = sgtest.run(["audit", "verify", "--db", bad])
    assert p.returncode == 1 and "truncated" in p.stdout and "seq 200" in p.stdout
    other = os.path.join(workdir, "other.pem")
    op = sgtest.run(["audit", "keygen", "--out", other], check=True)
    otherpub = os.path.join(workdir, "other.pub")
    with open(otherpub, "w") as f:
        f.write(op.stdout)
    p = sgtest.run(["audit", "verify", "--db", trail, "--pubkey", otherpub])
    assert p.returncode == 1 and "checkpoint 50" in p.stdout
    # Not a trail, missing, garbage, a private key given as --pubkey, usage errors.
    with open(bad, "wb") as f:
        f.write(os.urandom(20000))
    assert sgtest.run(["audit", "verify", "--db", bad]).returncode == 1
    assert sgtest.run(["audit", "verify", "--db", os.path.join(workdir, "nope.db")]).returncode == 1
    p = sgtest.run(["audit", "verify", "--db", trail, "--pubkey", k])
    assert p.returncode == 1 and "public key" in p.stderr
    assert sgtest.run(["audit", "verify"]).returncode == 2
    assert sgtest.run(["audit", "verify", "--db"]).returncode == 2
    assert sgtest.run(["audit", "verify", "--db", trail, "--bogus", "x"]).returncode == 2
    assert sgtest.run(["audit", "frobnicate"]).returncode == 2
    assert sgtest.run(["audit"]).returncode == 2


def test_export_jsonl_csv_recomputes_chain(workdir, trail):
    p = sgtest.run(["audit", "export", "--db", trail], check=True)
    lines = p.stdout.splitlines()
    assert len(lines) == 250
    stored = rows(trail)
    prev = bytes(32)
    for line, (seq, ts, content, h) in zip(lines, stored):
        rec = json.loads(line)
        assert rec["seq"] == seq and rec["ts"] == ts
        # Each jsonl line is exactly the hashed content: the chain recomputes from it.
        assert line.encode() == content
        prev = hashlib.sha256(prev + line.encode()).digest()
        assert prev == h
    p = sgtest.run(["audit", "export", "--db", trail, "--format", "csv"], check=True)
    table = list(csv.reader(io.StringIO(p.stdout)))
    assert table[0] == ["seq", "ts", "hash", "content"]
    assert len(table) == 251
    for row, line, (seq, ts, content, h) in zip(table[1:], lines, stored):
        assert row == [str(seq), ts, h.hex(), line]
    p = sgtest.run(["audit", "export", "--db", trail, "--from-seq", "241"], check=True)
    assert [json.loads(l)["seq"] for l in p.stdout.splitlines()] == list(range(241, 251))
    p = sgtest.run(["audit", "export", "--db", trail, "--since", "2h"], check=True)
    assert len(p.stdout.splitlines()) == 250
    p = sgtest.run(["audit", "export", "--db", trail, "--since", "2999-01-01"], check=True)
    assert p.stdout == ""
    for bad in (["--since", "yesterday"], ["--since", "2026-02-30"], ["--format", "xml"],
                ["--from-seq", "-1"], ["--from-seq", "1x"]):
        assert sgtest.run(["audit", "export", "--db", trail] + bad).returncode == 2, bad
    assert sgtest.run(["audit", "export", "--db", os.path.join(workdir, "no.db")]).returncode == 1
    # A closed stdout (a pipe whose reader went away) is an error, not a hang.
    e = dict(os.environ)
    e.update(sgtest.SAN_ENV)
    p = subprocess.run(f"'{sgtest.SOVGATE}' audit export --db '{trail}' | head -c 10",
                       shell=True, capture_output=True, env=e, timeout=60)
    assert len(p.stdout) == 10


def test_tail_and_follow(workdir, keys, trail):
    p = sgtest.run(["audit", "tail", "--db", trail, "-n", "3"], check=True)
    assert [json.loads(l)["seq"] for l in p.stdout.splitlines()] == [248, 249, 250]
    p = sgtest.run(["audit", "tail", "--db", trail], check=True)
    assert len(p.stdout.splitlines()) == 10
    assert sgtest.run(["audit", "tail", "--db", trail, "-n", "0"]).returncode == 2
    e = dict(os.environ)
    e.update(sgtest.SAN_ENV)
    f = subprocess.Popen([sgtest.SOVGATE, "audit", "tail", "--db", trail, "-n", "1", "--follow"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
    try:
        assert json.loads(f.stdout.readline())["seq"] == 250
        write_trail(trail, 20, key=keys[0], every=50, threads=1)
        seen = [json.loads(f.stdout.readline())["seq"] for _ in range(20)]
        assert seen == list(range(251, 271))
    finally:
        f.terminate()
        out, err = f.communicate(timeout=10)
    assert f.returncode == 0, err


def test_prune_cli(workdir, keys, trail):
    k, pub = keys
    p = sgtest.run(["audit", "prune", "--db", trail, "--before", "2000-01-01"], check=True)
    assert "nothing to prune" in p.stdout
    p = sgtest.run(["audit", "prune", "--db", trail, "--before", "0s", "--pubkey", pub],
                   check=True)
    assert "pruned 250 records" in p.stdout and "seq 250" in p.stdout
    p = sgtest.run(["audit", "verify", "--db", trail, "--pubkey", pub], check=True)
    assert "0 records" in p.stdout and "pruned up to seq 250" in p.stdout
    write_trail(trail, 30, key=k, every=50, threads=1)
    p = sgtest.run(["audit", "verify", "--db", trail, "--pubkey", pub], check=True)
    assert "30 records (seq 251..280)" in p.stdout
    assert sgtest.run(["audit", "prune", "--db", trail]).returncode == 2
    assert sgtest.run(["audit", "prune", "--db", trail, "--before", "soon"]).returncode == 2
    # A tampered trail is not pruned.
    c = sqlite3.connect(trail)
    c.execute("UPDATE records SET ts = '2000-01-01T00:00:00.000Z' WHERE seq = 260")
    c.commit()
    c.close()
    p = sgtest.run(["audit", "prune", "--db", trail, "--before", "0s"])
    assert p.returncode == 1 and "not pruned" in p.stderr


def doc_recipe():
    """The auditor's shell recipe from docs/audit.md (the block that starts with the
    marker comment), so that the documented commands are the tested ones."""
    text = open(DOC).read()
    m = re.search(r"```sh\n(# auditor-recipe\n.*?)```", text, re.S)
    assert m, "docs/audit.md lost its auditor recipe"
    return m.group(1)


def test_auditor_recipe_with_standard_tools(workdir, keys, trail):
    for tool in ("sqlite3", "openssl", "sha256sum", "basenc"):
        assert shutil.which(tool), f"{tool} is needed (scripts/setup installs it)"
    k, pub = keys
    script = os.path.join(workdir, "recipe.sh")
    with open(script, "w") as f:
        f.write(doc_recipe())

    def recipe(db):
        return subprocess.run(["bash", script, db, pub], capture_output=True, text=True,
                              cwd=workdir, timeout=300)

    p = recipe(trail)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "chain ok: 250 records" in p.stdout
    assert "checkpoints ok: 5" in p.stdout
    # After pruning: the recipe starts from the signed anchor.
    sgtest.run(["audit", "prune", "--db", trail, "--before", "0s"], check=True)
    write_trail(trail, 7, key=k, every=50, threads=1)
    p = recipe(trail)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "chain ok: 7 records" in p.stdout
    # Tampering is caught by the standard tools too.
    bad = os.path.join(workdir, "bad.db")
    shutil.copy(trail, bad)
    c = sqlite3.connect(bad)
    c.execute("UPDATE records SET content = replace(content, 'woocommerce', 'WooCommerce') "
              "WHERE seq = 254")
    c.commit()
    c.close()
    p = recipe(bad)
    assert p.returncode == 1 and "record 254" in p.stdout
    shutil.copy(trail, bad)
    c = sqlite3.connect(bad)
    c.execute("UPDATE checkpoints SET signature = randomblob(64)")
    c.commit()
    c.close()
    p = recipe(bad)
    assert p.returncode == 1 and "checkpoint 257" in p.stdout
    # Checkpoints deleted and the chain recomputed over a rewritten record: the tail rule.
    shutil.copy(trail, bad)
    forge_without_checkpoints(bad, rewrite=255, drop_from=257)
    p = recipe(bad)
    assert p.returncode == 1 and "writer state" in p.stdout, p.stdout + p.stderr


def forge_without_checkpoints(db, rewrite, drop_from):
    """What someone with write access but without the key does to a closed trail: delete
    every checkpoint, rewrite one record, recompute the chain, drop the newest records."""
    c = sqlite3.connect(db)
    c.execute("DELETE FROM checkpoints")
    anchor = c.execute("SELECT value FROM meta WHERE key = 'anchor_hash'").fetchone()
    prev = bytes.fromhex(anchor[0]) if anchor else bytes(32)
    for seq, content in c.execute("SELECT seq, CAST(content AS BLOB) FROM records "
                                  "ORDER BY seq").fetchall():
        if seq == rewrite:
            content = content[:-1] + b',"forged":true}'
        prev = hashlib.sha256(prev + content).digest()
        c.execute("UPDATE records SET content = ?, hash = ? WHERE seq = ?",
                  (content.decode(), prev, seq))
    c.execute("DELETE FROM records WHERE seq >= ?", (drop_from,))
    c.commit()
    c.close()


def test_verify_tail_rule(workdir, keys, trail):
    """The review's reproduction: all checkpoints deleted, record 2 rewritten, the chain
    recomputed, record 3 dropped. A cleanly closed trail has no unsigned record: exit 1."""
    k, pub = keys
    small = os.path.join(workdir, "small.db")
    write_trail(small, 3, key=k, every=1000, threads=1)
    p = sgtest.run(["audit", "verify", "--db", small, "--pubkey", pub])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "writer: closed cleanly at seq 3" in p.stdout and "note:" not in p.stdout
    forge_without_checkpoints(small, rewrite=2, drop_from=3)
    for args in (["--pubkey", pub], []):
        p = sgtest.run(["audit", "verify", "--db", small] + args)
        assert p.returncode == 1, p.stdout + p.stderr
        assert "FAILED" in p.stdout
    # The gateway's writer refuses to open it (and so never signs the forgery).
    p = subprocess.run([DRIVER, "--db", small, "--records", "1", "--threads", "1", "--key",
                        open(k).read()], capture_output=True, text=True, timeout=60,
                       env={**os.environ, **sgtest.SAN_ENV})
    assert p.returncode != 0 and "refusing to open" in p.stdout + p.stderr


# ---- PostgreSQL ----

def pg_bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Postgres:
    """A throw-away PostgreSQL cluster: initdb into a temporary folder and a postmaster on
    a random loopback port; as root it runs as `nobody` (PostgreSQL refuses root), switched
    to in the child itself so that signals reach the postmaster directly."""

    def __init__(self):
        self.initdb, self.postgres = pg_bin("initdb"), pg_bin("postgres")
        if not self.initdb or not self.postgres:
            pytest.fail("PostgreSQL server binaries are missing (scripts/setup installs "
                        "the postgresql package)")
        self.dir = tempfile.mkdtemp(prefix="sg-pg-")
        os.chmod(self.dir, 0o755)
        self.demote = None
        if os.geteuid() == 0:
            shutil.chown(self.dir, "nobody")
            nobody = pwd.getpwnam("nobody")

            def demote():
                os.setgroups([])
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
            self.demote = demote
        self.data = os.path.join(self.dir, "data")
        subprocess.run([self.initdb, "-D", self.data, "--auth=trust", "-U", "postgres",
                        "--no-sync"], check=True, capture_output=True, timeout=120,
                       preexec_fn=self.demote, cwd=self.dir)
        self.port = free_port()
        self.proc = None
        self.start()
        self.conninfo = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def start(self):
        self.log = open(os.path.join(self.dir, "log"), "a")
        self.proc = subprocess.Popen(
            [self.postgres, "-D", self.data, "-k", self.dir, "-p", str(self.port), "-c",
             "listen_addresses=127.0.0.1"],
            stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=self.demote, cwd=self.dir)
        end = time.time() + 30
        while time.time() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                if self.psql("SELECT 1").strip() == "1":
                    return
            except (OSError, AssertionError):
                pass
            time.sleep(0.1)
        raise AssertionError("PostgreSQL did not start")

    def psql(self, sql):
        p = subprocess.run(["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h",
                            "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d",
                            "postgres", "-c", sql], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stdout

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(2)  # fast shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.log.close()


@pytest.fixture(scope="module")
def pg():
    p = Postgres()
    yield p
    p.stop()
    shutil.rmtree(p.dir, ignore_errors=True)


def instance_of(db):
    c = sqlite3.connect(db)
    v = c.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()[0]
    c.close()
    return v


def test_postgres_shared_trail(workdir, keys, pg):
    k, pub = keys
    pg.psql("DROP TABLE IF EXISTS sovgate_audit_records, sovgate_audit_checkpoints, "
            "sovgate_audit_instances")
    # Two gateways write at the same time into one shared trail.
    dbs = [os.path.join(workdir, f"gw{i}.db") for i in (1, 2)]
    e = dict(os.environ)
    e.update(sgtest.SAN_ENV)
    procs = [subprocess.Popen([DRIVER, "--db", db, "--records", str(n), "--threads", "2",
                               "--checkpoint-every", "100", "--size", "400", "--key",
                               open(k).read(), "--postgres", pg.conninfo],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
             for db, n in zip(dbs, (700, 450))]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    ids = [instance_of(db) for db in dbs]
    assert ids[0] != ids[1]
    counts = dict(l.split("|") for l in pg.psql(
        "SELECT instance, count(*) FROM sovgate_audit_records GROUP BY 1").split())
    assert counts == {ids[0]: "700", ids[1]: "450"}
    # The same chain as each local file, byte for byte.
    for db, inst in zip(dbs, ids):
        local = [(s, t, c.decode(), h.hex()) for s, t, c, h in rows(db)]
        remote = pg.psql(f"SELECT seq || E'\\t' || ts || E'\\t' || encode(hash, 'hex') || "
                         f"E'\\t' || content FROM sovgate_audit_records WHERE instance = "
                         f"'{inst}' ORDER BY seq").splitlines()
        assert remote == [f"{s}\t{t}\t{h}\t{c}" for s, t, c, h in local]
        cps = pg.psql(f"SELECT count(*) FROM sovgate_audit_checkpoints WHERE instance = '{inst}'")
        c = sqlite3.connect(db)
        assert int(cps) == c.execute("SELECT count(*) FROM checkpoints").fetchone()[0]
        c.close()
    p = sgtest.run(["audit", "verify", "--postgres", pg.conninfo, "--pubkey", pub])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "2 instance(s) intact" in p.stdout
    p = sgtest.run(["audit", "verify", "--postgres", pg.conninfo, "--instance", ids[1],
                    "--pubkey", pub])
    assert p.returncode == 0 and "450 records" in p.stdout
    assert sgtest.run(["audit", "verify", "--postgres", pg.conninfo, "--instance",
                       "0000000000000000"]).returncode == 1
    # Tampering in the shared trail is caught, with the instance named.
    pg.psql(f"UPDATE sovgate_audit_records SET content = replace(content, '\"status\":200', "
            f"'\"status\":500') WHERE instance = '{ids[0]}' AND seq = 321")
    p = sgtest.run(["audit", "verify", "--postgres", pg.conninfo, "--pubkey", pub])
    assert p.returncode == 1
    assert f"instance {ids[0]}" in p.stdout and "record 321" in p.stdout
    pg.psql(f"DELETE FROM sovgate_audit_records WHERE instance = '{ids[1]}' AND seq > 420")
    p = sgtest.run(["audit", "verify", "--postgres", pg.conninfo, "--instance", ids[1]])
    assert p.returncode == 1 and "truncated" in p.stdout
    # Unreachable server: an error, not "intact".
    p = sgtest.run(["audit", "verify", "--postgres",
                    f"host=127.0.0.1 port={free_port()} user=postgres connect_timeout=2"])
    assert p.returncode == 1 and "cannot connect" in p.stderr


def test_postgres_outage_catches_up(workdir, keys, pg):
    k, pub = keys
    pg.psql("DROP TABLE IF EXISTS sovgate_audit_records, sovgate_audit_checkpoints, "
            "sovgate_audit_instances")
    db = os.path.join(workdir, "gw.db")
    write_trail(db, 100, key=k, postgres=pg.conninfo, every=40)
    inst = instance_of(db)
    pg.stop()
    try:
        # The server is down: the local trail goes on, durably; nothing waits for it.
        t0 = time.time()
        write_trail(db, 300, key=k, postgres=pg.conninfo, every=40)
        assert time.time() - t0 < 30
    finally:
        pg.start()
    assert pg.psql(f"SELECT count(*) FROM sovgate_audit_records WHERE instance = '{inst}'"
                   ).strip() == "100"
    # (a copy of the file as it is now, for the end)
    copy = os.path.join(workdir, "copy.db")
    shutil.copy(db, copy)
    # The next start catches up from the last seq the server has.
    write_trail(db, 5, key=k, postgres=pg.conninfo, every=40)
    assert pg.psql(f"SELECT count(*), max(seq) FROM sovgate_audit_records WHERE instance = "
                   f"'{inst}'").strip() == "405|405"
    p = sgtest.run(["audit", "verify", "--postgres", pg.conninfo, "--pubkey", pub])
    assert p.returncode == 0, p.stdout + p.stderr
    # A second file claiming the same instance id (the older copy, going on with records
    # 401.. of its own) is not mixed in.
    write_trail(copy, 20, key=k, postgres=pg.conninfo, every=40)
    assert pg.psql(f"SELECT count(*) FROM sovgate_audit_records WHERE instance = '{inst}'"
                   ).strip() == "405"
    assert sgtest.run(["audit", "verify", "--postgres", pg.conninfo, "--pubkey", pub]
                      ).returncode == 0


def test_postgres_sink_stops_at_a_gap_in_the_local_trail(workdir, keys, pg):
    """Records the server lacks that the local file no longer has (pruned or replaced
    before they were copied) can never be replicated: the sink says so and stops, instead
    of finding "nothing to do" while behind and trying again at once, for ever."""
    k, pub = keys
    pg.psql("DROP TABLE IF EXISTS sovgate_audit_records, sovgate_audit_checkpoints, "
            "sovgate_audit_instances")
    db = os.path.join(workdir, "gap.db")
    write_trail(db, 100, key=k, postgres=pg.conninfo, every=40)
    inst = instance_of(db)
    # the server lost its copy of 51.. and the local file its records 51..60
    pg.psql(f"DELETE FROM sovgate_audit_records WHERE instance = '{inst}' AND seq > 50")
    pg.psql(f"DELETE FROM sovgate_audit_checkpoints WHERE instance = '{inst}' AND seq > 50")
    c = sqlite3.connect(db)
    c.execute("DELETE FROM records WHERE seq BETWEEN 51 AND 60")
    c.commit()
    c.close()
    p = write_trail(db, 5, key=k, postgres=pg.conninfo, every=40)
    assert "the local trail has no record 51" in p.stderr, p.stderr
    assert pg.psql(f"SELECT max(seq) FROM sovgate_audit_records WHERE instance = '{inst}'"
                   ).strip() == "50"


def test_verify_output_escapes_hostile_bytes(workdir, keys, trail):
    """A tampered trail must not be able to drive the auditor's terminal: what verify
    prints from the file (the record as stored, a key id, a prune note) has its control
    bytes escaped, so an ESC sequence cannot erase the FAILED line or fake an "ok"."""
    k, pub = keys
    bad = os.path.join(workdir, "esc.db")
    shutil.copy(trail, bad)
    c = sqlite3.connect(bad)
    c.execute("UPDATE records SET content = replace(content, '\"status\":200', "
              "'\"status\":200,\"x\":\"' || char(27) || '[1A' || char(27) || '[2K' || "
              "char(13) || 'ok: all intact\"') WHERE seq = 42")
    c.commit()
    c.close()
    p = sgtest.run(["audit", "verify", "--db", bad, "--pubkey", pub])
    assert p.returncode == 1
    assert "record 42" in p.stdout
    assert "\x1b" not in p.stdout + p.stderr and "\r" not in p.stdout
    assert "\\x1b[1A" in p.stdout  # shown, escaped
    # A key id (from the checkpoints table) is quoted in the error.
    shutil.copy(trail, bad)
    c = sqlite3.connect(bad)
    c.execute("UPDATE checkpoints SET key_id = char(27) || ']0;pwned' || char(7) WHERE seq = 50")
    c.commit()
    c.close()
    p = sgtest.run(["audit", "verify", "--db", bad, "--pubkey", pub])
    assert p.returncode == 1 and "checkpoint 50" in p.stdout
    assert "\x1b" not in p.stdout + p.stderr and "\x07" not in p.stdout
    # The unsigned prune notes are printed on success: escaped too.
    shutil.copy(trail, bad)
    assert sgtest.run(["audit", "prune", "--db", bad, "--before", "@" + str(int(time.time()) + 60),
                       "--pubkey", pub]).returncode == 0
    c = sqlite3.connect(bad)
    c.execute("UPDATE meta SET value = char(27) || '[2J' || char(27) || '[H' WHERE key = "
              "'pruned_at'")
    c.commit()
    c.close()
    p = sgtest.run(["audit", "verify", "--db", bad, "--pubkey", pub])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "anchor" in p.stdout and "\\x1b[2J" in p.stdout
    assert "\x1b" not in p.stdout + p.stderr


def test_verify_after_key_rotation(workdir, keys):
    """docs/audit.md, Keys: after restarting with a new key, the trail verifies with every
    public key given oldest first; each key alone, or the wrong order, does not."""
    k, pub = keys
    db = os.path.join(workdir, "rot.db")
    write_trail(db, 120, key=k, every=50)
    k2 = os.path.join(workdir, "new.pem")
    pub2 = os.path.join(workdir, "new.pub")
    with open(pub2, "w") as f:
        f.write(sgtest.run(["audit", "keygen", "--out", k2], check=True).stdout)
    write_trail(db, 80, key=k2, every=50)
    p = sgtest.run(["audit", "verify", "--db", db, "--pubkey", pub, "--pubkey", pub2])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "200 records" in p.stdout and "signatures verified with keys" in p.stdout
    for args in (["--pubkey", pub], ["--pubkey", pub2], ["--pubkey", pub2, "--pubkey", pub]):
        p = sgtest.run(["audit", "verify", "--db", db] + args)
        assert p.returncode == 1 and "FAILED" in p.stdout, args
    # prune takes the same keys
    p = sgtest.run(["audit", "prune", "--db", db, "--before", "@" + str(int(time.time()) + 60),
                    "--pubkey", pub, "--pubkey", pub2])
    assert p.returncode == 0, p.stderr
    p = sgtest.run(["audit", "verify", "--db", db, "--pubkey", pub, "--pubkey", pub2])
    assert p.returncode == 0, p.stdout + p.stderr
