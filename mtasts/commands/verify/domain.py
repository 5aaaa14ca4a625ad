"""One domain checked as a sender would: probes in parallel, then the checks in RFC order."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from mtasts import checks
from mtasts.commands.verify.report import Report
from mtasts.model.config import Deployment, Domain
from mtasts.model.findings import Finding
from mtasts.probes import MxAnswer, PolicyFetch, ProbeOptions, Prober, StarttlsProbe
from mtasts.rfc.policy import Policy, policy_host
from mtasts.rfc.records import sts_name, tlsrpt_name


async def check_domain(prober: Prober, domain: str, expected: Domain | None = None) -> Report:
    """Every check for one domain; ``expected`` adds drift findings against the stack."""
    host = policy_host(domain)
    sts_q = prober.query(sts_name(domain), "TXT")
    fetch_q = prober.fetch_policy(host)
    rpt_q = prober.query(tlsrpt_name(domain), "TXT")

    async def probe_mx() -> tuple[MxAnswer, list[StarttlsProbe]]:
        # STARTTLS starts as soon as the MX answer is in, beside the policy fetch.
        answer = await prober.mx(domain)
        return answer, list(await asyncio.gather(*(prober.starttls(h) for h in answer.hosts)))

    smtp_q = asyncio.ensure_future(probe_mx())
    findings: list[Finding] = []
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

        mx, starttls = await smtp_q
    finally:
        smtp_q.cancel()
    findings.append(checks.mx_records(mx, mode))
    if policy is not None and mx.hosts:
        findings += checks.mx_coverage(policy.mode, policy.mx, mx.hosts)
    for probe in starttls:
        findings.append(checks.starttls(probe, mode, prober.options.smtp_port))

    rpt = await rpt_q
    _, found = checks.tlsrpt_record(rpt)
    findings += found

    if expected is not None:
        findings += checks.drift(expected, body, await sts_q, rpt, _why_no_body(fetched))
    return Report(domain=domain, mode=mode, findings=tuple(findings))


def _why_no_body(fetched: PolicyFetch) -> str:
    """Why the fetch gave no one body to compare (the first failure, or differing addresses)."""
    if fetched.errors:
        return fetched.errors[0].reason
    return f"the addresses of {fetched.host} serve different bytes"


async def verify_async(
    domains: Iterable[str], options: ProbeOptions, expected: Deployment | None = None, concurrency: int = 32
) -> list[Report]:
    """Check ``domains``, at most ``concurrency`` at a time; reports come back in the order given.

    Sockets are bounded separately by the prober (``ProbeOptions.max_sockets``, by default what
    the open-file limit allows), so a large ``concurrency`` queues instead of failing.
    """
    limit = asyncio.Semaphore(max(1, concurrency))
    stack = {d.name: d for d in expected.domains} if expected else {}
    async with Prober(options) as prober:

        async def one(name: str) -> Report:
            async with limit:
                return await check_domain(prober, name, stack.get(name))

        return list(await asyncio.gather(*(one(d) for d in domains)))
