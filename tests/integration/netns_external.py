"""Run inside a network namespace that has only loopback (test_leakcheck.py starts it with
`unshare -n`): the gateway and a local backend work, and an external route fails closed
with a clear error; nothing can leave. Exits 0 when every check holds."""

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgtest  # noqa: E402


def main():
    with tempfile.TemporaryDirectory() as d:
        local = sgtest.Upstream(d, name="local")
        g = None
        try:
            g = sgtest.Gateway(
                d, backends=[{"name": "local", "url": local.url},
                             {"name": "cloud", "url": "https://203.0.113.10", "sovereign": False,
                              "jurisdiction": "US", "connect_timeout": "2s"}],
                routes=[{"model": "assistant", "backends": ["local"]},
                        {"model": "external", "backends": ["cloud"]}],
                extra={"egress": {"allow": ["203.0.113.10"]}})
            st, _, body = g.chat("Hello, my name is Anna Schmidt, anna@example.de")
            assert st == 200, body
            st, _, body = g.chat("Write about green tea.", model="external")
            assert st == 503, (st, body)
            err = json.loads(body)["error"]
            assert err["code"] == "backend_unavailable", err
            st, _, body = g.chat("Mail anna@example.de", model="external")
            assert st == 403 and json.loads(body)["error"]["code"] == "policy_violation", body
            # why: there is no network to reach it
            g.wait_log(lambda j: j.get("backend") == "cloud" and
                       "unreachable" in (j.get("reason", "") + j.get("detail", "")))
        finally:
            if g:
                g.stop()
            local.stop()
    print("netns: OK")


if __name__ == "__main__":
    main()
