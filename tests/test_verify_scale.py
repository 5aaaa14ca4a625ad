"""``verify`` over many domains: bounded work in flight, a memo that does not grow per domain,
JSON written a domain at a time (no servers: the checks are stand-ins or made-up reports)."""

from __future__ import annotations

import asyncio
import datetime
import importlib.abc
import importlib.machinery
import json
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import pytest

from mtasts.commands.shared import domain_check
from mtasts.commands.shared.domain_check import Report, verify_async
from mtasts.commands.verify.report import json_chunks, render_json
from mtasts.model.findings import Finding, Severity
from mtasts.model.vocabulary import Check, Mode
from mtasts.probes import ProbeOptions, Prober
from mtasts.probes.dns import DnsAnswer, DnsStatus
from mtasts.rfc.policy import policy_host
from mtasts.rfc.records import sts_name, tlsrpt_name

OPTIONS = ProbeOptions(nameserver=("127.0.0.1", 9), timeout=1.0)
"""Nothing is asked of this nameserver: the stand-in checks answer from memory."""


def answer(name: str, rdtype: str) -> DnsAnswer:
    return DnsAnswer(name, rdtype, DnsStatus.NXDOMAIN)


def test_forget_drops_finished_answers_and_keeps_running_ones() -> None:
    """A forgotten answer is asked anew; one still being computed is not forgotten."""
    asked: list[str] = []
    release = asyncio.Event()

    async def run() -> None:
        async with Prober(OPTIONS) as prober:

            async def ask(name: str, wait: bool = False) -> DnsAnswer:
                asked.append(name)
                if wait:
                    await release.wait()
                return answer(name, "TXT")

            key = ("dns", "a.example", "TXT")
            first = await prober.once(key, lambda: ask("a.example"))
            assert await prober.once(key, lambda: ask("a.example")) is first
            assert asked == ["a.example"]
            prober.forget([("A.example", "TXT")])
            await prober.once(key, lambda: ask("a.example"))
            assert asked == ["a.example", "a.example"]

            slow = ("dns", "b.example", "TXT")
            pending = prober.once(slow, lambda: ask("b.example", wait=True))
            await asyncio.sleep(0)
            prober.forget([("b.example", "TXT")])
            release.set()
            await pending
            await prober.once(slow, lambda: ask("b.example"))
            assert asked.count("b.example") == 1

    asyncio.run(run())


def test_verify_runs_at_most_concurrency_checks_and_keeps_the_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """With concurrency 3, never more than 3 domains are in flight (nor tasks waiting for a turn),
    reports come back in the order given, and progress counts every domain once."""
    names = [f"d{i}.example" for i in range(20)]
    in_flight = 0
    most = 0
    tasks_seen = 0

    async def check(prober: Prober, domain: str, *args: Any, **kwargs: Any) -> Report:
        nonlocal in_flight, most, tasks_seen
        in_flight += 1
        most = max(most, in_flight)
        tasks_seen = max(tasks_seen, len(asyncio.all_tasks()))
        await asyncio.sleep(0.001 * (len(domain) % 3))
        in_flight -= 1
        return Report(domain=domain, mode=None, findings=())

    monkeypatch.setattr(domain_check, "check_domain", check)
    progress: list[tuple[int, int]] = []
    reports = asyncio.run(
        verify_async(names, OPTIONS, concurrency=3, progress=lambda d, t: progress.append((d, t)))
    )
    assert [r.domain for r in reports] == names
    assert most == 3
    assert tasks_seen <= 3 + 1  # the workers and the run itself, not one task per domain
    assert progress == [(i, 20) for i in range(1, 21)]


def test_verify_forgets_what_only_one_domain_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a run, the memo keeps the MX host's answers (shared by domains) and none of the
    domains' own: _mta-sts and _smtp._tls TXT, MX, the policy fetch and its addresses."""
    names = ["a.example", "b.example"]
    probers: list[Prober] = []

    async def check(prober: Prober, domain: str, *args: Any, **kwargs: Any) -> Report:
        probers.append(prober)
        host = policy_host(domain)
        for name, rdtype in [
            (sts_name(domain), "TXT"), (tlsrpt_name(domain), "TXT"), (domain, "MX"),
            (host, "A"), (host, "AAAA"), ("mx.example", "A"),
        ]:  # fmt: skip
            await prober.once(("dns", name, rdtype), lambda n=name, t=rdtype: asyncio.sleep(0, answer(n, t)))
        await prober.once(("https", host), lambda: asyncio.sleep(0, None))
        return Report(domain=domain, mode=None, findings=())

    monkeypatch.setattr(domain_check, "check_domain", check)
    asyncio.run(verify_async(names, OPTIONS, concurrency=2))
    assert set(probers[0]._tasks) == {("dns", "mx.example", "A")}


def reports() -> list[Report]:
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    found = (
        Finding(Check.STS_RECORD, Severity.OK, 'one "record"\nwith a line end'),
        Finding(Check.MX_CERTIFICATE, Severity.ERROR, "expires in 1 day", subject="mx.a.example"),
    )
    return [
        Report("a.example", Mode.ENFORCE, found, now=now),
        Report("b.example", None, (), now=now),
        Report("xn--bcher-kva.example", None, found[:1], now=now),
    ]


@pytest.mark.parametrize("count", [0, 1, 3])
def test_json_in_pieces_is_the_one_document(count: int) -> None:
    """The pieces ``verify --json`` writes one domain at a time make exactly the document
    ``json.dumps(indent=2)`` makes of the whole run."""
    chosen = reports()[:count]
    document = {
        "domains": {r.domain: r.as_json() for r in chosen},
        "errors": sum(r.errors for r in chosen),
        "warnings": sum(r.warnings for r in chosen),
        "urgent": [{"domain": r.domain, **f.as_json()} for r in chosen for f in r.urgent],
    }
    expected = json.dumps(document, indent=2) + "\n"
    assert "".join(json_chunks(chosen)) == expected == render_json(chosen)
    assert len(list(json_chunks(chosen))) == count + 3  # head, one per domain, "}", the totals
    assert bool(document["urgent"]) is bool(count)


class CountingFinder(importlib.abc.MetaPathFinder):
    """Counts the searches for one module name."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.searches = 0

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == self.name:
            self.searches += 1
        return None


def test_httpcore_does_not_search_for_sniffio_on_each_lock() -> None:
    """Where sniffio is not installed, httpcore's per-lock ``import sniffio`` fails without a
    search of sys.path, and httpcore still finds itself under asyncio."""
    import httpcore._synchronization as sync

    import mtasts.probes.https  # noqa: F401 - the module that marks sniffio absent

    finder = CountingFinder("sniffio")
    sys.meta_path.insert(0, finder)
    try:

        async def library() -> str:
            return sync.current_async_library()

        assert asyncio.run(library()) == "asyncio"
    finally:
        sys.meta_path.remove(finder)
    if "sniffio" in sys.modules and sys.modules["sniffio"] is not None:
        pytest.skip("sniffio is installed here: httpcore imports it once")
    assert finder.searches == 0
