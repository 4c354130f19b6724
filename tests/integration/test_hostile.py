"""The hostile input battery (beyond the framing attacks of test_limits.py): deeply nested
and huge JSON, invalid UTF-8 and NUL bytes, and personal data disguised with full-width
digits, zero-width characters and homoglyphs, which must still be detected. The daemon
stays up, answers the right 4xx, and its memory stays bounded (read from
/proc/PID/status)."""

import json

import sgtest


def post_raw(g, body):
    return g.request("POST", "/v1/chat/completions", body=body)


def test_hostile_json(gateway, upstream):
    depth = 200000
    cases = [
        ("[" * depth + "]" * depth, 400),
        ('{"model":"assistant","messages":' + "[" * 5000 + "]" * 5000 + "}", 400),
        (b'{"model":"assistant","messages":[{"role":"user","content":"\xff\xfe"}]}', 400),
        ('{"model":"assistant","messages":[{"role":"user","content":"a"}],"x":1,"x":2}', 400),
        ('{"model":"assistant","messages":[{"role":"user","content":' + '"' + "a" * 3_000_000 +
         '"}]}', 200),
        # NUL in a string: refused (like jansson), naming the reason
        ('{"model":"assistant","messages":[{"role":"user","content":"nul \\u0000 inside"}]}', 400),
        ('{"model":"assistant","messages":[{"role":"user","content":"' + "\\ud800" + '"}]}', 400),
        ('{"model":"assistant","messages":[{"role":"user","content":' + "1e999999" + "}]}", 400),
        ("", 400),
        ("null", 400),
    ]
    for body, want in cases:
        st, _, resp = post_raw(gateway, body)
        assert st == want, (str(body)[:80], st, resp[:200])
        if st >= 400:
            assert "error" in json.loads(resp)
    assert gateway.proc.poll() is None


def test_disguised_personal_data_is_still_detected(gateway, upstream):
    # full-width digits in a phone number, a zero-width space inside an e-mail address,
    # Cyrillic look-alike letters in it, a soft hyphen in a card number
    texts = {
        "call \uff0b\uff14\uff19 \uff13\uff10 \uff11\uff12\uff13\uff14\uff15\uff16\uff17":
            "\uff11\uff12\uff13\uff14\uff15\uff16\uff17",
        "mail anna.schmi\u200bdt@example.de please": "schmi\u200bdt",
        "mail \u0430nna@ex\u0430mple.de please": "nna@ex",
        "card 4111 1111\u00ad 1111 1111 thanks": "4111",
    }
    for text, secret in texts.items():
        st, _, _ = gateway.chat(text)
        assert st == 200
        sent = json.loads(upstream.api_requests()[-1]["body"])["messages"][0]["content"]
        assert secret not in sent, (text, sent)
        assert "_" in sent or "[" in sent, sent  # a surrogate or a mask took its place


def rss_kb(g):
    for line in open(f"/proc/{g.proc.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_memory_stays_bounded(make_gateway, upstream):
    # Under ASan, freed memory waits in a quarantine on purpose: turn it off for this one
    asan = sgtest.SAN_ENV["ASAN_OPTIONS"] + ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
    g = make_gateway(backends=[{"name": "b1", "url": upstream.url}],
                     routes=[{"model": "assistant", "backends": ["b1"]}], tls=False,
                     extra={"limits": {"max_body": "4MiB"}}, env={"ASAN_OPTIONS": asan})
    big = '{"model":"assistant","messages":[{"role":"user","content":"' + \
        ("Anna Schmidt anna@example.de +49 30 1234567 " * 60000)[:3_500_000] + '"}]}'
    for _ in range(3):  # warm up: pools, arenas and buffers reach their working size
        post_raw(g, big)
    base = rss_kb(g)
    for i in range(30):
        st, _, _ = post_raw(g, big)
        assert st in (200, 400), st  # 400: more personal data than max_findings allows
        post_raw(g, "[" * 100000)
        post_raw(g, b"\xff" * 100000)
    grown = rss_kb(g) - base
    assert grown < 64 * 1024, f"RSS grew by {grown} KB over 90 hostile requests"
    assert g.proc.poll() is None
