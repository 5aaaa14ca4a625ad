"""`wait-live` and the live gate against misbehaving policy hosts: never live by luck, never late.

A host that flaps in other patterns than every other answer, an IPv6 address still on the old
bytes while IPv4 has the new, a head or body dripped a byte at a time, a host that takes the TCP
connection and never speaks TLS, redirects to the right bytes, and a DNS answer that changes
between looks. Every wait ends at its deadline (``time.monotonic``, with slack for a loaded
machine). The live gate of ``pulumi up`` is the same loop (``components.live_gate``).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.rdatatype
import dns.rrset
import pytest

from mtasts.model.rollout import LiveGate
from mtasts.probes.live import NotLiveError, wait_live
from mtasts.probes.options import ProbeOptions
from mtasts.rfc.policy import policy_id
from tests.policy_host import PolicyHost, old_policy
from tests.servers import HttpsServer, Lab, Route

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

FLAP, DUAL, SILENT, MOVED, DRIP, FLIP = (
    f"{label}.live.test" for label in ("flap", "dual", "silent", "moved", "drip", "flip")
)
SILENT_ADDRESS = "127.0.0.3"
INTERVAL = 0.2


class SilentTcp:
    """Accepts TCP on ``host``:``port`` and never sends a byte (no TLS, no close)."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def __enter__(self) -> SilentTcp:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


class FlippingDns:
    """A UDP DNS responder whose A answer for every name alternates between ``addresses`` (one per
    query), as a DNS load balancer or a half-done change answers; AAAA is empty."""

    def __init__(self, addresses: tuple[str, ...]) -> None:
        self.addresses = addresses
        self.queries = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(data)
            answer = dns.message.make_response(query)
            question = query.question[0]
            if question.rdtype == dns.rdatatype.A:
                address = self.addresses[self.queries % len(self.addresses)]
                self.queries += 1
                answer.answer.append(dns.rrset.from_text(question.name, 0, "IN", "A", address))
            self.sock.sendto(answer.to_wire(), peer)

    def __enter__(self) -> FlippingDns:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


@pytest.fixture
def host(tmp_path: Path, lab: Lab) -> Iterator[PolicyHost]:
    extra = [(f"mta-sts.{DUAL}.", "AAAA", "::1"), (f"mta-sts.{SILENT}.", "A", SILENT_ADDRESS)]
    domains = {FLAP: {}, DUAL: {}, SILENT: {}, MOVED: {}, DRIP: {}, FLIP: {}}
    with PolicyHost(tmp_path, domains, extra, lab=lab) as server:
        yield server


def new_bytes(host: PolicyHost, name: str) -> bytes:
    return host.stack.domain(name).policy_text.encode()


def expected(host: PolicyHost, *names: str) -> dict[str, str]:
    return {n: host.stack.domain(n).policy_id for n in names}


def wait(host: PolicyHost, names: dict[str, str], timeout: float, options: ProbeOptions | None = None,
         rounds: int = 3, span: float = 1.0) -> Any:  # fmt: skip
    return asyncio.run(
        wait_live(names, options or host.options(), timeout, INTERVAL, rounds=rounds, span=span)
    )


@pytest.mark.parametrize(
    "pattern",
    [("new", "new", "old"), ("new", "new", "new", "new", "old"), ("old", "new", "new")],
    ids=["2 new 1 old", "4 new 1 old", "old first"],
)
def test_a_host_that_slips_an_old_answer_in_never_passes(host: PolicyHost, pattern: tuple[str, ...]) -> None:
    """A load balancer with one stale backend in every few answers: rounds looks in a row never all
    new, whatever the pattern shorter than rounds + 1 (here rounds 5 for the 4-in-5 pattern)."""
    old = old_policy(host.stack.domain(FLAP))
    host.serve(FLAP, b"", bodies=tuple(new_bytes(host, FLAP) if p == "new" else old for p in pattern))
    rounds = len(pattern)
    with pytest.raises(NotLiveError) as raised:
        wait(host, expected(host, FLAP), 4.0, rounds=rounds, span=0.5)
    assert host.https.requests >= 2 * rounds
    assert raised.value.streaks[FLAP] < rounds


def test_ipv6_on_the_old_bytes_holds_the_gate_while_ipv4_has_the_new(host: PolicyHost) -> None:
    """A and AAAA both answer; ::1 still serves last week's bytes: not live, both ids named."""
    old = old_policy(host.stack.domain(DUAL))
    host.serve_new(DUAL)
    contexts = host.https.contexts
    v6 = HttpsServer(contexts, host.pki.context("default.invalid"), {}, "::1", host.https.port)
    v6.routes[f"mta-sts.{DUAL}"] = Route(body=old)
    with v6:
        with pytest.raises(NotLiveError) as raised:
            wait(host, expected(host, DUAL), 2.0)
        served = raised.value.waiting[DUAL]
        assert served.ids == tuple(sorted({policy_id(old), host.stack.domain(DUAL).policy_id}))
        assert not served.unreachable  # ::1 answered: it is not "not reachable from here"
        v6.routes[f"mta-sts.{DUAL}"] = Route(body=new_bytes(host, DUAL))
        seen = wait(host, expected(host, DUAL), 10.0)
        assert seen[DUAL].live and not seen[DUAL].errors


@pytest.mark.parametrize("part", ["head", "body"])
def test_a_slow_drip_ends_at_the_wait_deadline(host: PolicyHost, part: str) -> None:
    """A head (or a body) dripped one byte per 0.5 s, step timeout 10 s: the 3 s wait ends in 3 s."""
    body = new_bytes(host, DRIP)
    if part == "head":
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + b"X-Pad: " + b"a" * 400 + b"\r\n"
        host.serve(DRIP, b"", raw=head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body, drip=0.5)
    else:
        host.serve(DRIP, body, drip=0.5)
    started = time.monotonic()
    with pytest.raises(NotLiveError) as raised:
        wait(host, expected(host, DRIP), 3.0, options=host.options(timeout=10.0))
    took = time.monotonic() - started
    assert 3.0 <= took < 3.8, took
    assert "before the wait's deadline" in raised.value.waiting[DRIP].describe()


def test_a_host_that_takes_tcp_and_never_speaks_tls_holds_and_ends_at_the_deadline(host: PolicyHost) -> None:
    """127.0.0.1 serves the new bytes, 127.0.0.3 accepts TCP and never answers the ClientHello: a
    sender may reach either, so not live; the 3 s wait (step timeout 10 s) ends in about 3 s."""
    host.serve_new(SILENT)
    with SilentTcp(SILENT_ADDRESS, host.https.port):
        started = time.monotonic()
        with pytest.raises(NotLiveError) as raised:
            wait(host, expected(host, SILENT), 3.0, options=host.options(timeout=10.0))
        took = time.monotonic() - started
    assert 3.0 <= took < 3.8, took
    served = raised.value.waiting[SILENT]
    assert not served.live and not served.unreachable


def test_a_short_step_timeout_says_the_tls_handshake_never_finished(host: PolicyHost) -> None:
    """With a 1 s step timeout each look ends on its own: the reason names the TLS handshake."""
    host.serve_new(SILENT)
    with SilentTcp(SILENT_ADDRESS, host.https.port):
        with pytest.raises(NotLiveError) as raised:
            wait(host, expected(host, SILENT), 3.0, options=host.options(timeout=1.0))
    assert "did not finish the TLS handshake" in raised.value.waiting[SILENT].describe()


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_the_right_bytes_is_not_live(host: PolicyHost, status: int) -> None:
    """Senders never follow redirects (RFC 8461 §3.3): a redirect to the new policy is not live."""
    target = f"https://mta-sts.{FLAP}/.well-known/mta-sts.txt"
    host.serve_new(FLAP)
    host.serve(MOVED, b"", status=status, headers=(("Location", target),))
    with pytest.raises(NotLiveError) as raised:
        wait(host, expected(host, MOVED), 1.5)
    assert f"answers {status}, a redirect to {target}" in raised.value.waiting[MOVED].describe()


def test_a_dns_answer_that_changes_between_looks_never_passes(host: PolicyHost) -> None:
    """Each look resolves afresh: the A answer alternates 127.0.0.1 (new bytes) and 127.0.0.2 (old),
    so no three looks in a row see only the new bytes."""
    host.serve_new(FLIP)
    host.second.routes[f"mta-sts.{FLIP}"] = Route(body=old_policy(host.stack.domain(FLIP)))
    with FlippingDns(("127.0.0.1", "127.0.0.2")) as flipping:
        base = host.options()
        options = ProbeOptions(
            nameserver=("127.0.0.1", flipping.port), ca_bundle=base.ca_bundle, https_port=base.https_port,
            timeout=2.0,
        )  # fmt: skip
        with pytest.raises(NotLiveError) as raised:
            wait(host, expected(host, FLIP), 4.0, options=options)
        assert flipping.queries >= 6
    assert raised.value.streaks[FLIP] <= 1
    assert host.https.requests >= 3 and host.second.requests >= 3


def test_wait_live_timeout_3_ends_in_about_3_s_whatever_the_host_does(host: PolicyHost) -> None:
    """The command against a dripping head, a silent TLS address and a flapping host at once:
    exit 1 in about 3 s (plus the interpreter's start), each domain named."""
    body = new_bytes(host, DRIP)
    host.serve(DRIP, body, drip=1.2)
    host.serve_new(SILENT)
    host.serve(FLAP, b"", bodies=(new_bytes(host, FLAP), old_policy(host.stack.domain(FLAP))))
    with SilentTcp(SILENT_ADDRESS, host.https.port):
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "mtasts",
             *host.argv(DRIP, SILENT, FLAP, "--timeout", "3", "--interval", "0.2")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        took = time.monotonic() - started
    assert done.returncode == 1, done.stdout + done.stderr
    assert "timed out after 3 s: 3 of 3 domain(s) not live" in done.stdout
    assert took < 3.0 + 10.0, took  # the interpreter and its imports start first on a loaded machine
    assert all(f"not live: {d}" in done.stdout for d in (DRIP, SILENT, FLAP))


def test_the_live_gate_keeps_its_deadline_and_its_rounds(host: PolicyHost) -> None:
    """The pulumi up hook, as registered: a dripping host fails it at its timeout, and a flapping
    host never opens it (the gate's rounds and span are the stack's)."""
    from components.live_gate import LiveGateError, gate_function

    host.serve(DRIP, new_bytes(host, DRIP), drip=1.0)
    host.serve(FLAP, b"", bodies=(new_bytes(host, FLAP), old_policy(host.stack.domain(FLAP))))
    settings = LiveGate(timeout=3.0, interval=INTERVAL, rounds=3, span=0.5)
    gate = gate_function(settings, host.options(timeout=10.0))

    class Args:
        def __init__(self, name: str) -> None:
            record = host.stack.domain(name).sts_record
            self.new_inputs = {"name": f"_mta-sts.{name}", "content": record}

    for name in (DRIP, FLAP):
        started = time.monotonic()
        with pytest.raises(LiveGateError):
            asyncio.run(gate(Args(name)))  # type: ignore[arg-type]
        assert 3.0 <= time.monotonic() - started < 3.8


def test_the_first_pages_gate_keeps_the_stacks_rounds_and_span() -> None:
    """The gate before a Pages domain's first TXT waits longer, but with the stack's rounds and span."""
    from components.live_gate import first_pages_settings

    settings = LiveGate(timeout=60, interval=2, rounds=7, span=45, first_pages_timeout=900)
    got = first_pages_settings(settings)
    assert (got.timeout, got.interval, got.rounds, got.span) == (900, 2, 7, 45)


def test_a_short_timeout_with_the_default_interval_can_still_pass(host: PolicyHost) -> None:
    """--timeout 4 with the stack's 5 s interval: the looks come closer so 3 fit, and a steady
    host passes (before, the second look was never reached and the wait could only time out)."""
    host.serve_new(FLAP)
    done = subprocess.run(
        [sys.executable, "-m", "mtasts", *host.argv(FLAP, "--timeout", "4", "--span", "1")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 domain(s) live" in done.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--timeout", "10", "--interval", "5", "--rounds", "3"), "--rounds: 3 looks 5 s apart take 10 s"),
        (("--timeout", "60", "--interval", "1", "--rounds", "100"), "--rounds: 100 looks 1 s apart"),
    ],
)
def test_rounds_that_cannot_fit_in_the_timeout_are_a_usage_error(
    host: PolicyHost, extra: tuple[str, ...], message: str
) -> None:
    """Looks that can never all happen before the timeout: one error line, exit 2, no waiting."""
    done = subprocess.run(
        [sys.executable, "-m", "mtasts", *host.argv(FLAP, *extra, "--span", "0")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.startswith(f"error: {message}"), done.stderr
    assert len(done.stderr.splitlines()) == 1 and host.https.requests == 0


def test_a_live_gate_whose_rounds_cannot_fit_is_a_config_error() -> None:
    """liveGate {timeout: 10, interval: 5, rounds: 3}: the gate could never open, refused at load."""
    from mtasts.model.config import ConfigError
    from mtasts.model.rollout import parse_live_gate

    with pytest.raises(ConfigError, match=r"^liveGate\.rounds: 3 looks 5 s apart take 10 s"):
        parse_live_gate({"timeout": 10, "interval": 5, "rounds": 3})
    assert parse_live_gate({"timeout": 11, "interval": 5, "rounds": 3}).rounds == 3
