"""One domain checked as a sender would: probes in parallel, then the checks in RFC order."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Iterable

from mtasts import checks
from mtasts.checks.certificates import Thresholds, certificate_expiry, served_certificates
from mtasts.checks.dane import dane, dane_in_use, missing_tlsa
from mtasts.commands.verify.report import Report
from mtasts.model.config import Deployment, Domain
from mtasts.model.findings import Finding
from mtasts.probes import MxAnswer, ProbeOptions, Prober, StarttlsProbe
from mtasts.probes.dnssec import Security, TlsaAnswer
from mtasts.rfc.policy import Policy, policy_host
from mtasts.rfc.records import sts_name, tlsrpt_name


async def check_domain(
    prober: Prober,
    domain: str,
    expected: Domain | None = None,
    thresholds: Thresholds | None = None,
    now: datetime.datetime | None = None,
) -> Report:
    """Every check for one domain; ``expected`` adds drift findings against the stack.

    ``thresholds`` are the certificate days-left limits; ``now`` is the run's clock (one per run,
    so every domain's days left are counted from the same moment).
    """
    thresholds = thresholds or Thresholds()
    now = now or datetime.datetime.now(datetime.UTC)
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
    findings: list[Finding] = []
    try:
        live_sts, found = checks.sts_record(await sts_q)
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
    mx_certs = served_certificates(None, starttls, smtp_port=prober.options.smtp_port)
    findings += certificate_expiry(mx_certs, mode, thresholds, now)
    findings += await _dane(prober, tlsa)
    served = policy_certs + mx_certs

    live_rpt, found = checks.tlsrpt_record(await rpt_q)
    findings += found

    if expected is not None:
        findings += checks.drift(expected, body, live_sts.id if live_sts else None, live_rpt)
    return Report(domain=domain, mode=mode, findings=tuple(findings), certificates=tuple(served), now=now)


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
) -> list[Report]:
    """Check ``domains``, at most ``concurrency`` at a time; reports come back in the order given.

    Sockets are bounded separately by the prober (``ProbeOptions.max_sockets``, by default what
    the open-file limit allows), so a large ``concurrency`` queues instead of failing.
    """
    limit = asyncio.Semaphore(max(1, concurrency))
    stack = {d.name: d for d in expected.domains} if expected else {}
    now = datetime.datetime.now(datetime.UTC)
    async with Prober(options) as prober:

        async def one(name: str) -> Report:
            async with limit:
                return await check_domain(prober, name, stack.get(name), thresholds, now)

        return list(await asyncio.gather(*(one(d) for d in domains)))
