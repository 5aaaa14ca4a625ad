"""`mtasts wait-live` against a real policy host on 127.0.0.1 that switches from old to new bytes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mtasts.probes.live import NotLiveError, wait_live
from mtasts.rfc.policy import policy_id
from tests.policy_host import PolicyHost
from tests.servers import Lab, Route

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

A, B, GONE = "a.live.test", "b.live.test", "gone.live.test"
INTERVAL = 0.4
ROUNDS, SPAN = 3, 1.0
STEADY = ("--rounds", str(ROUNDS), "--span", str(SPAN))
"""Short for the tests: 3 good looks in a row over at least a second."""


TWO, V6 = "two.live.test", "v6.live.test"


@pytest.fixture
def host(tmp_path: Path, lab: Lab) -> Iterator[PolicyHost]:
    extra = [(f"mta-sts.{TWO}.", "A", "127.0.0.2"), (f"mta-sts.{V6}.", "AAAA", "::1")]
    domains = {
        TWO: {},
        V6: {},
        A: {},
        B: {"mode": "enforce", "maxAge": 604800},
        GONE: {"dns": "external", "routing": "custom-domain"},
    }
    with PolicyHost(tmp_path, domains, extra, lab=lab) as server:
        yield server


def start(host: PolicyHost, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mtasts", *host.argv(*extra)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def requests_when(host: PolicyHost, predicate: int) -> None:
    """Wait until the HTTPS server has answered ``predicate`` requests in all."""
    deadline = time.monotonic() + 20
    while host.https.requests < predicate and time.monotonic() < deadline:
        time.sleep(0.02)


def test_waits_for_the_switch_and_passes_after_steady_looks(host: PolicyHost) -> None:
    """Old bytes: still waiting after several looks; new bytes: exit 0 after ROUNDS good looks over SPAN."""
    old = host.serve_old(A)
    process = start(host, A, "--timeout", "30", "--interval", str(INTERVAL), *STEADY)
    requests_when(host, 3)
    assert process.poll() is None, "passed while the old policy was served"
    looks_before = host.https.requests
    host.serve_new(A)
    switched = time.monotonic()
    out, err = process.communicate(timeout=20)
    took = time.monotonic() - switched
    assert process.returncode == 0, out + err
    # ROUNDS looks at least (SPAN apart first to last), and one in flight at the switch at most more.
    looks = host.https.requests - looks_before
    assert ROUNDS <= looks <= ROUNDS + 2, looks
    assert SPAN <= took < SPAN + 2 * INTERVAL + 5.0  # room for a loaded machine
    assert f"live: {A}: serves id {host.stack.domain(A).policy_id}" in out
    assert f"serves id {policy_id(old)}" in err  # the progress said what was served meanwhile


def test_a_flapping_host_never_passes(host: PolicyHost) -> None:
    """A host answering old and new bytes in turn: never ROUNDS good looks in a row, exit 1 at the timeout."""
    new = host.stack.domain(A).policy_text.encode()
    old = host.serve_old(A)
    host.serve(A, b"", bodies=(new, old))
    process = start(host, A, "--timeout", "6", "--interval", "0.2", *STEADY)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 1, out + err
    assert host.https.requests >= 4  # it saw the new bytes twice at least, never steadily
    assert f"] {A}: serves id {host.stack.domain(A).policy_id}" in err  # seen, but never steadily
    assert "1 of 1 domain(s) not live" in out


def test_a_slow_drip_host_ends_at_the_timeout(host: PolicyHost) -> None:
    """A host dripping one byte every 1.2 s: wait-live --timeout 3 ends in about 3 s, not per byte."""
    host.serve(A, host.stack.domain(A).policy_text.encode(), drip=1.2)
    started = time.monotonic()
    process = start(host, A, "--timeout", "3", *STEADY)
    out, err = process.communicate(timeout=60)
    took = time.monotonic() - started
    assert process.returncode == 1, out + err
    assert "not live:" in out and "timed out after 3 s" in out
    assert "no complete answer before the wait's deadline" in out
    assert took < 3.0 + 12.0, took  # the old loop took 80 s; this is 3 s and the interpreter's start
    expected = {A: host.stack.domain(A).policy_id}
    started = time.monotonic()
    with pytest.raises(NotLiveError):
        asyncio.run(wait_live(expected, host.options(timeout=10), 3, INTERVAL, rounds=ROUNDS, span=SPAN))
    assert 3.0 <= time.monotonic() - started < 3.6


def test_times_out_saying_what_is_served_instead(host: PolicyHost) -> None:
    """When the switch never comes: exit 1 at the timeout, naming the id served and the id expected."""
    old = host.serve_old(A)
    host.serve_new(B)
    started = time.monotonic()
    process = start(host, A, B, "--timeout", "2", "--interval", str(INTERVAL), "--rounds", "1", "--span", "0")
    out, err = process.communicate(timeout=30)
    took = time.monotonic() - started
    assert process.returncode == 1, out + err
    expected = host.stack.domain(A).policy_id
    assert f"not live: {A}: expected id {expected}, but serves id {policy_id(old)}" in out
    assert B not in out.split("timed out")[0]  # B was live
    assert "1 of 2 domain(s) not live" in out
    assert 2.0 <= took < 2.0 + 8.0


def test_a_fetch_error_is_what_is_served(host: PolicyHost) -> None:
    """A policy host answering 404 (or nothing) is reported with the fetch error, not an id."""
    host.serve(A, b"not here", status=404)
    process = start(host, A, "--timeout", "1", "--interval", str(INTERVAL))
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 1
    line = next(line for line in out.splitlines() if line.startswith("not live:"))
    assert "404" in line and "serves id" not in line


def test_every_domain_by_default_including_external_dns(host: PolicyHost) -> None:
    """Without DOMAIN arguments every stack domain is waited for (dns: external ones too)."""
    for name in (A, B, GONE, TWO, V6):
        host.serve_new(name)
    host.second.routes[f"mta-sts.{TWO}"] = Route(body=host.stack.domain(TWO).policy_text.encode())
    process = start(host, "--timeout", "20", "--interval", str(INTERVAL), *STEADY)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, out + err
    assert "5 domain(s) live" in out


def test_bad_usage_is_one_line_exit_2(host: PolicyHost) -> None:
    """An unknown domain or a zero timeout: one error line, exit 2, nothing waited for."""
    bad = (["nope.example"], [A, "--timeout", "0"], [A, "--interval", "-1"], [A, "--rounds", "0"])
    bad += ([A, "--timeout", "5", "--span", "5"], [A, "--span", "nan"])
    for extra in bad:
        process = start(host, *extra)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 2 and err.startswith("error: ") and len(err.splitlines()) == 1, err


def test_every_address_must_serve_the_new_bytes(host: PolicyHost) -> None:
    """Two addresses, one still on the old bytes: not live, both ids named; live once both switch."""
    new = host.stack.domain(TWO).policy_text.encode()
    old = host.serve_old(TWO)
    host.second.routes[f"mta-sts.{TWO}"] = Route(body=new)
    expected = {TWO: host.stack.domain(TWO).policy_id}
    with pytest.raises(NotLiveError) as raised:
        asyncio.run(wait_live(expected, host.options(), 2, INTERVAL))
    served = raised.value.waiting[TWO]
    assert served.ids == tuple(sorted({policy_id(old), policy_id(new)}))
    assert "addresses serve ids" in served.describe()
    host.serve_new(TWO)
    assert asyncio.run(wait_live(expected, host.options(), 5, INTERVAL, rounds=ROUNDS, span=SPAN))[TWO].live


def test_an_address_not_reachable_from_here_does_not_hold_the_gate(host: PolicyHost) -> None:
    """An AAAA nothing answers on (no IPv6 route, say) is reported, but the A address decides."""
    host.serve_new(V6)
    expected = {V6: host.stack.domain(V6).policy_id}
    seen = asyncio.run(wait_live(expected, host.options(), 5, INTERVAL, rounds=ROUNDS, span=SPAN))
    assert seen[V6].live and len(seen[V6].unreachable) == 1
    assert "not reachable from here" in seen[V6].describe()


def test_progress_meter_on_a_terminal_only(host: PolicyHost) -> None:
    """stderr a terminal: a meter of the domains live, rewritten in place and ended by a newline,
    with each change still its own line; stdout (a pipe) never gets it."""
    from tests.terminal import run_with_terminal_stderr

    host.serve_new(A)
    host.serve_new(B)
    argv = [
        sys.executable,
        "-m",
        "mtasts",
        *host.argv(A, B, "--timeout", "20", "--rounds", "1", "--span", "0"),
    ]
    code, out, err = run_with_terminal_stderr(argv, timeout=40)
    assert code == 0, out + err
    assert "\rwait-live: 2/2 domains serve the planned policy" in err
    assert f"] {A}: serves id {host.stack.domain(A).policy_id}" in err  # the change lines stay
    assert err.replace("\r\n", "\n").endswith("\n")  # the meter's line is ended
    assert "\r" not in out and "wait-live:" not in out


def test_a_timed_out_wait_ends_the_meter_before_its_verdict(host: PolicyHost) -> None:
    """The wait runs out on a terminal: the meter's line is ended, the verdict on stdout names
    the domain not live, and the exit status is 1."""
    from tests.terminal import run_with_terminal_stderr

    host.serve_old(A)
    argv = [sys.executable, "-m", "mtasts", *host.argv(A, "--timeout", "2", "--rounds", "1", "--span", "0")]
    code, out, err = run_with_terminal_stderr(argv, timeout=40)
    assert code == 1, out + err
    assert "\rwait-live: 0/1 domains serve the planned policy" in err
    assert err.replace("\r\n", "\n").endswith("\n")
    assert out.startswith(f"not live: {A}") and "timed out after 2 s: 1 of 1 domain(s) not live" in out
