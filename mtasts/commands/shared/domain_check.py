"""One domain checked as a sender would: probes in parallel, then the checks in RFC order.

``verify`` prints these reports; ``readiness`` (and ``plan --base``) judge them, with the MX answer
and MX addresses of the same prober.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mtasts import checks
from mtasts.commands.shared.onboarding import ApiView, ask_api, onboard
from mtasts.model.config import Deployment, Domain
from mtasts.model.findings import Finding, Severity
from mtasts.probes import MxAnswer, ProbeOptions, Prober, StarttlsProbe
from mtasts.probes.custom_hostnames import Api
from mtasts.rfc.policy import Policy, policy_host
from mtasts.rfc.records import sts_name, tlsrpt_name


@dataclass(frozen=True)
class Report:
    """Every finding for one domain, in check order."""

    domain: str
    mode: str | None
    """The live policy's mode, or None when no valid policy was fetched."""
    findings: tuple[Finding, ...]

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
        return [f.check for f in self.findings if severity is None or f.severity is severity]

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "errors": self.errors,
            "warnings": self.warnings,
            "findings": [f.as_json() for f in self.findings],
        }


async def check_domain(
    prober: Prober,
    domain: str,
    expected: Domain | None = None,
    api: ApiView | None = None,
    customer: Domain | None = None,
) -> Report:
    """Every check for one domain; ``expected`` adds drift findings against the stack.

    A customer domain (``hosting: delegated``, as ``expected`` or, without drift, ``customer``)
    is first checked for its onboarding; while it is pending, that is all its report holds
    (pending is not a failure of the stack).
    """
    onboarded: tuple[Finding, ...] = ()
    delegated = customer or expected
    if delegated is not None and delegated.delegation is not None:
        result = await onboard(prober, delegated, api or ApiView())
        if result.pending:
            return Report(domain=domain, mode=None, findings=result.findings)
        onboarded = result.findings
    host = policy_host(domain)
    sts_q = prober.query(sts_name(domain), "TXT")
    fetch_q = prober.fetch_policy(host)
    rpt_q = prober.query(tlsrpt_name(domain), "TXT")

    async def probe_mx() -> tuple[MxAnswer, list[StarttlsProbe]]:
        # STARTTLS starts as soon as the MX answer is in, beside the policy fetch.
        answer = await prober.mx(domain)
        return answer, list(await asyncio.gather(*(prober.starttls(h) for h in answer.hosts)))

    smtp_q = asyncio.ensure_future(probe_mx())
    findings: list[Finding] = list(onboarded)
    try:
        live_sts, found = checks.sts_record(await sts_q)
        findings += found

        body, found = checks.policy_fetch(await fetch_q, prober.options.https_port)
        findings += found
        policy: Policy | None = None
        if body is not None:
            policy, found = checks.parsed_policy(body, host)
            findings += found
        mode = policy.mode if policy else None

        mx, starttls = await smtp_q
    finally:
        smtp_q.cancel()
    findings.append(checks.mx_records(mx, mode))
    if policy is not None and mx.hosts:
        findings += checks.mx_coverage(policy.mode, policy.mx, mx.hosts)
    for probe in starttls:
        findings.append(checks.starttls(probe, mode, prober.options.smtp_port))

    live_rpt, found = checks.tlsrpt_record(await rpt_q)
    findings += found

    if expected is not None:
        findings += checks.drift(expected, body, live_sts.id if live_sts else None, live_rpt)
    return Report(domain=domain, mode=mode, findings=tuple(findings))


async def verify_async(
    domains: Iterable[str], options: ProbeOptions, expected: Deployment | None = None, concurrency: int = 32
) -> list[Report]:
    """Check ``domains``, at most ``concurrency`` at a time; reports come back in the order given.

    Sockets are bounded separately by the prober (``ProbeOptions.max_sockets``, by default what
    the open-file limit allows), so a large ``concurrency`` queues instead of failing.
    """
    limit = asyncio.Semaphore(max(1, concurrency))
    stack = {d.name: d for d in expected.domains} if expected else {}
    api = await ask_api(expected, Api.from_environment(timeout=options.timeout))
    async with Prober(options) as prober:

        async def one(name: str) -> Report:
            async with limit:
                return await check_domain(prober, name, stack.get(name), api)

        return list(await asyncio.gather(*(one(d) for d in domains)))


def verify(
    domains: Iterable[str], options: ProbeOptions, expected: Deployment | None = None, concurrency: int = 32
) -> list[Report]:
    """Blocking form of ``verify_async``."""
    return asyncio.run(verify_async(list(domains), options, expected, concurrency))
