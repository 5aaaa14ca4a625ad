"""wait-live against hosts that misbehave in ways a deadline or a redirect could hide."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from mtasts.probes.live import NotLiveError, wait_live
from tests.policy_host import PolicyHost
from tests.servers import Lab

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

A, B = "a.live.test", "b.live.test"


@pytest.fixture
def host(tmp_path: Path, lab: Lab) -> Iterator[PolicyHost]:
    with PolicyHost(tmp_path, {A: {}, B: {}}, lab=lab) as server:
        yield server


def test_a_host_that_accepts_tcp_and_never_speaks_tls_ends_at_the_wait_deadline(host: PolicyHost) -> None:
    """TCP connects (the backlog accepts), TLS never answers: the wait ends at 3 s, not the probe timeout."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    try:
        options = replace(host.options(timeout=20), https_port=silent.getsockname()[1])
        started = time.monotonic()
        with pytest.raises(NotLiveError):
            asyncio.run(wait_live({A: host.stack.domain(A).policy_id}, options, 3, 0.4, rounds=3, span=1.0))
        assert 3.0 <= time.monotonic() - started < 4.0
    finally:
        silent.close()


def test_a_redirect_to_the_new_bytes_is_not_live(host: PolicyHost) -> None:
    """RFC 8461 §3.3: senders do not follow redirects, so a 301 to the new policy is not the new policy."""
    host.serve_new(B)
    host.serve(A, b"", status=301, headers=(("Location", f"https://mta-sts.{B}/.well-known/mta-sts.txt"),))
    started = time.monotonic()
    with pytest.raises(NotLiveError):
        asyncio.run(
            wait_live({A: host.stack.domain(A).policy_id}, host.options(), 2.5, 0.3, rounds=2, span=0.5)
        )
    assert time.monotonic() - started < 3.5


def test_a_slow_header_drip_ends_at_the_wait_deadline(host: PolicyHost) -> None:
    """A raw answer whose header arrives one byte per 0.5 s: the wait still ends at its deadline."""
    body = host.stack.domain(A).policy_text.encode()
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    host.serve(A, b"", raw=raw, drip=0.5)
    started = time.monotonic()
    with pytest.raises(NotLiveError):
        asyncio.run(
            wait_live(
                {A: host.stack.domain(A).policy_id}, host.options(timeout=30), 2.0, 0.3, rounds=2, span=0.5
            )
        )
    assert 2.0 <= time.monotonic() - started < 3.0
