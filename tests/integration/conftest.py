"""pytest fixtures: a temporary folder per test, a fake upstream, and a gateway in front
of it; every process is stopped after the test, and the gateway must exit cleanly
(no sanitizer reports)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgtest  # noqa: E402


@pytest.fixture
def workdir(tmp_path):
    return str(tmp_path)


@pytest.fixture
def upstream(workdir):
    u = sgtest.Upstream(workdir, name="up1")
    yield u
    u.stop()


@pytest.fixture
def make_upstream(workdir):
    made = []

    def make(name, **kw):
        u = sgtest.Upstream(workdir, name=name, **kw)
        made.append(u)
        return u
    yield make
    for u in made:
        u.stop()


@pytest.fixture
def make_gateway(workdir):
    made = []

    def make(**kw):
        g = sgtest.Gateway(workdir, **kw)
        made.append(g)
        return g
    yield make
    errors = []
    for g in made:
        try:
            g.stop()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors))


@pytest.fixture
def gateway(make_gateway, upstream):
    """One TLS gateway with a route 'assistant' (alias gpt-4o-mini) and 'embed'."""
    return make_gateway(
        backends=[{"name": "b1", "url": upstream.url}],
        routes=[{"model": "assistant", "aliases": ["gpt-4o-mini"], "backends": ["b1"]},
                {"model": "embed", "backends": [{"name": "b1", "model": "fake-embed"}]}],
    )
