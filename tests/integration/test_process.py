"""What the gateway process holds in memory: the libraries of optional features
(libcurl for model push/pull, libpq for the PostgreSQL audit replica, and the ~30
libraries they bring: GnuTLS, Kerberos, LDAP, SASL, ...) are opened only when used
(src/core/dynlib.h), so a serving gateway without them never maps them."""

import os

OPTIONAL = ("libcurl", "libpq", "libgnutls", "libkrb5", "libldap", "libsasl2", "libssh2")


def mapped_libraries(pid):
    libs = set()
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and ".so" in parts[5]:
                libs.add(os.path.basename(parts[5]))
    return libs


def test_serving_gateway_maps_no_optional_library(gateway):
    status, _, _ = gateway.chat("hello")
    assert status == 200
    libs = mapped_libraries(gateway.proc.pid)
    # the check can fail: these are mapped, so the list is read correctly
    assert any(n.startswith("libssl") for n in libs), libs
    assert any(n.startswith("libhs") for n in libs), libs
    loaded = sorted(n for n in libs if n.startswith(OPTIONAL))
    assert loaded == [], f"the gateway maps optional libraries: {loaded}"
