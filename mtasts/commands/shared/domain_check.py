"""One domain checked as a sender would: probes in parallel, then the checks in RFC order.

``verify`` prints these reports; ``readiness`` (and ``plan --base``) judge them, with the MX answer
and MX addresses of the same prober.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from mtasts import checks
from mtasts.checks.certificates import (
    ServedCertificate,
    Thresholds,
    certificate_expiry,
    is_urgent,
    refused,
    served_certificates,
)
from mtasts.checks.dane import dane, dane_in_use, missing_tlsa
from mtasts.commands.shared.delegated import ApiView, ask_api, onboard
from mtasts.model.config import Deployment, Domain
from mtasts.model.findings import Finding, Severity
from mtasts.model.vocabulary import Mode
from mtasts.probes import MxAnswer, PolicyFetch, ProbeOptions, Prober, StarttlsProbe
from mtasts.probes.custom_hostnames import Api
from mtasts.probes.dnssec import Security, TlsaAnswer
from mtasts.rfc.policy import Policy, policy_host
from mtasts.rfc.records import sts_name, tlsrpt_name

T = TypeVar("T")


@dataclass(frozen=True)
class Report:
    """Every finding for one domain, in check order."""

    domain: str
    mode: Mode | None
    """The live policy's mode, or None when no valid policy was fetched."""
    findings: tuple[Finding, ...]
    certificates: tuple[ServedCertificate, ...] = ()
    """Every leaf certificate a handshake of this domain's checks got (policy host, MX addresses)."""
    now: datetime.datetime | None = None
    """The run's clock, from which days left are counted."""

    @property
    def urgent(self) -> list[Finding]:
        """The loudest findings: an enforce domain's MX certificate about to expire."""
        return [f for f in self.findings if is_urgent(f, self.mode)]

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    @property
    def errors(self) -> int:
        return self.count(Severity.ERROR)

    @property
    def warnings(self) -> int:
        return self.count(Severity.WARNING)

    def checks(self, severity: Severity | None = None) -> list[str]:
        """The check names found, optionally only those of one severity."""
        return [f.name for f in self.findings if severity is None or f.severity is severity]

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "errors": self.errors,
            "warnings": self.warnings,
            "findings": [f.as_json(self.domain) for f in self.findings],
            "certificates": [self._certificate(c) for c in self.certificates],
        }

    def _certificate(self, cert: ServedCertificate) -> dict[str, Any]:
        out: dict[str, Any] = {
            "endpoint": str(cert.endpoint),
            "host": cert.host,
            "address": cert.address,
            "notAfter": cert.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if self.now is not None:
            out["daysLeft"] = round(cert.days_left(self.now), 2)
        return out


async def check_domain(
    prober: Prober,
    domain: str,
    expected: Domain | None = None,
    thresholds: Thresholds | None = None,
    now: datetime.datetime | None = None,
    api: ApiView | None = None,
    customer: Domain | None = None,
) -> Report:
    """Every check for one domain; ``expected`` adds drift findings against the stack.

    ``thresholds`` are the certificate days-left limits; ``now`` is the run's clock (one per run,
    so every domain's days left are counted from the same moment). A customer domain
    (``hosting: delegated``, as ``expected`` or, without drift, ``customer``) is first checked for
    its onboarding.
    """
    thresholds = thresholds or Thresholds()
    now = now or datetime.datetime.now(datetime.UTC)
    # A customer domain (hosting: delegated) is first checked for its onboarding; while it is
    # pending, that is all its report holds (pending is not a failure of the stack).
    onboarded: tuple[Finding, ...] = ()
    delegated = customer or expected
    if delegated is not None and delegated.delegation is not None:
        result = await onboard(prober, delegated, api or ApiView())
        if result.pending:
            return Report(domain=domain, mode=None, findings=result.findings, now=now)
        onboarded = result.findings
    host = policy_host(domain)
    sts_q = prober.query(sts_name(domain), "TXT")
    fetch_q = prober.fetch_policy(host)
    rpt_q = prober.query(tlsrpt_name(domain), "TXT")

    async def probe_mx() -> tuple[MxAnswer, list[StarttlsProbe], dict[str, TlsaAnswer]]:
        # STARTTLS and the TLSA lookups start as soon as the MX answer is in, beside the policy fetch.
        answer = await prober.mx(domain)
        probes, tlsa = await asyncio.gather(
            asyncio.gather(*(prober.starttls(h) for h in answer.hosts)),
            asyncio.gather(*(prober.tlsa(h) for h in answer.hosts)),
        )
        return answer, list(probes), dict(zip(answer.hosts, tlsa, strict=True))

    smtp_q = asyncio.ensure_future(probe_mx())
    findings: list[Finding] = list(onboarded)
    try:
        _, found = checks.sts_record(await sts_q)
        findings += found

        fetched = await fetch_q
        body, found = checks.policy_fetch(fetched, prober.options.https_port)
        findings += found
        policy: Policy | None = None
        if body is not None:
            policy, found = checks.parsed_policy(body, host)
            findings += found
        mode = policy.mode if policy else None
        policy_certs = served_certificates(fetched, (), prober.options.https_port)
        findings += certificate_expiry(policy_certs, mode, thresholds, now)

        mx, starttls, tlsa = await smtp_q
    finally:
        smtp_q.cancel()
    findings.append(checks.mx_records(mx, mode))
    if policy is not None and mx.hosts:
        findings += checks.mx_coverage(policy.mode, policy.mx, mx.hosts)
    for probe in starttls:
        findings.append(checks.starttls(probe, mode, prober.options.smtp_port))
    unverified = await asyncio.gather(*(prober.served_chains(h) for h in refused(starttls)))
    mx_certs = served_certificates(None, starttls, smtp_port=prober.options.smtp_port, unverified=unverified)
    findings += certificate_expiry(mx_certs, mode, thresholds, now)
    findings += await _dane(prober, tlsa)
    served = policy_certs + mx_certs

    rpt = await rpt_q
    _, found = checks.tlsrpt_record(rpt)
    findings += found

    if expected is not None:
        findings += checks.drift(expected, body, await sts_q, rpt, _why_no_body(fetched))
    return Report(domain=domain, mode=mode, findings=tuple(findings), certificates=tuple(served), now=now)


def _why_no_body(fetched: PolicyFetch) -> str:
    """Why the fetch gave no one body to compare (the first failure, or differing addresses)."""
    if fetched.errors:
        return fetched.errors[0].reason
    return f"the addresses of {fetched.host} serve different bytes"


async def _dane(prober: Prober, tlsa: dict[str, TlsaAnswer]) -> list[Finding]:
    """DANE findings for every MX host with TLSA records; chains are read only where DANE is in use."""
    findings: list[Finding] = []
    for host, answer in tlsa.items():
        chains = report = None
        if answer.security is Security.SECURE and answer.records:
            chains, report = await asyncio.gather(
                prober.served_chains(host), prober.query(tlsrpt_name(host), "TXT")
            )
        report = report if dane_in_use(answer) else None
        findings += dane(host, answer, chains, report, prober.options.smtp_port)
    findings += missing_tlsa(tlsa)
    return findings


async def verify_async(
    domains: Iterable[str],
    options: ProbeOptions,
    expected: Deployment | None = None,
    concurrency: int = 32,
    thresholds: Thresholds | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Report]:
    """Check ``domains``, at most ``concurrency`` at a time; reports come back in the order given.
    ``progress(done, total)`` is called as each domain is done.

    Sockets are bounded separately by the prober (``ProbeOptions.max_sockets``, by default what
    the open-file limit allows), so a large ``concurrency`` queues instead of failing.
    """
    stack = {d.name: d for d in expected.domains} if expected else {}
    api = await ask_api(expected, Api.from_environment(timeout=options.timeout))
    now = datetime.datetime.now(datetime.UTC)
    async with Prober(options) as prober:

        async def one(name: str) -> Report:
            report = await check_domain(prober, name, stack.get(name), thresholds, now, api)
            prober.forget(
                [(sts_name(name), "TXT"), (tlsrpt_name(name), "TXT"), (name, "MX")], [policy_host(name)]
            )
            return report

        return await in_turn(list(domains), one, concurrency, progress)


async def in_turn(
    names: list[str],
    one: Callable[[str], Awaitable[T]],
    concurrency: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[T]:
    """``one(name)`` for every name, ``concurrency`` at a time, results in the order given;
    ``progress(done, total)`` as each is done. That many workers take the names in turn, so only
    that many checks exist at any time, not one waiting task per domain (10,000 domains made
    10,000 tasks up front)."""
    results: list[T | None] = [None] * len(names)
    todo = iter(enumerate(names))
    done = 0

    async def worker() -> None:
        nonlocal done
        for index, name in todo:
            results[index] = await one(name)
            done += 1
            if progress is not None:
                progress(done, len(names))

    await asyncio.gather(*(worker() for _ in range(min(max(1, concurrency), len(names)))))
    return [r for r in results if r is not None]


def verify(
    domains: Iterable[str],
    options: ProbeOptions,
    expected: Deployment | None = None,
    concurrency: int = 32,
    thresholds: Thresholds | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Report]:
    """Blocking form of ``verify_async``."""
    return asyncio.run(verify_async(list(domains), options, expected, concurrency, thresholds, progress))
