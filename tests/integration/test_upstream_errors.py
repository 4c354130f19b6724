"""What the client is told when the backend answers an error without an OpenAI error object
(a proxy's HTML page, an empty body): a backend's failure (5xx) is never reported as the
client's fault, and a refusal (4xx) is passed on as one."""

import json

import pytest

from test_upstream import RawBackend, gateway_for


def raw_error(status, body, ctype=b"text/html"):
    """A backend that is healthy but answers every API request with `status` and `body`."""
    def handler(i, n, req):
        if b"/health" in req.split(b"\r\n")[0]:
            return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", False
        return (b"HTTP/1.1 %d Whatever\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                % (status, ctype, len(body)) + body), False
    return RawBackend(handler)


@pytest.mark.parametrize("status,body", [
    (500, b"<html>Internal Server Error</html>"),
    (502, b"<html>Bad Gateway</html>"),
    (500, b'{"detail": "no error object"}'),
    (502, b""),
])
def test_backend_5xx_without_error_object_is_a_server_error(make_gateway, status, body):
    # A 5xx is a failed attempt (failed over; here no other backend): 503, not the
    # backend's status, and never typed as the client's error.
    b = raw_error(status, body)
    try:
        g = gateway_for(make_gateway, b.url)
        st, h, out = g.chat("x")
        e = json.loads(out)["error"]
        assert st == 503 and int(h["retry-after"]) >= 1, (st, out)
        assert e["type"] == "server_error" and e["code"] == "backend_unavailable", out
    finally:
        b.close()


@pytest.mark.parametrize("body", [b"<html>Bad Request</html>", b'{"detail": "nope"}'])
def test_backend_4xx_without_error_object_stays_invalid_request(make_gateway, body):
    b = raw_error(400, body)
    try:
        g = gateway_for(make_gateway, b.url)
        st, _, out = g.chat("x")
        e = json.loads(out)["error"]
        assert st == 400, (st, out)
        assert e["type"] == "invalid_request_error" and e["code"] == "upstream_error", out
    finally:
        b.close()
