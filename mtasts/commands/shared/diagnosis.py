"""``reports --diagnose``: for each domain's reported failures, run the probe a sender runs, now.

Which probe follows from the result type (``mtasts.rfc.tlsrpt_results``): the policy fetch for
the ``sts-*`` types, STARTTLS at the receiving MX for the certificate and negotiation types, the
TLSA lookup and served chain for the DANE ones. The MX is the one the report names
(``receivingMx``), or every MX of the domain when the report names none. One prober per run, so
a host named by many reports is probed once.
"""

from __future__ import annotations

import asyncio
import datetime

from mtasts.checks.diagnose import dane_now, mx_now, not_probed, policy_now, probe_targets
from mtasts.checks.policy import parsed_policy, policy_fetch
from mtasts.model.receiver_summary import FailureGroup, ReceiverSummary
from mtasts.probes import ProbeOptions, Prober
from mtasts.rfc.names import normalize_name
from mtasts.rfc.policy import policy_host
from mtasts.rfc.tlsrpt_results import explain


async def diagnose_async(summary: ReceiverSummary, options: ProbeOptions) -> dict[str, list[str]]:
    """Per domain with failures, the lines saying what the probes find now."""
    now = datetime.datetime.now(datetime.UTC)
    async with Prober(options) as prober:

        async def one(domain: str, failures: tuple[FailureGroup, ...]) -> list[str]:
            kinds = {kind.probe for f in failures if (kind := explain(f.result_type or ""))}
            lines: list[str] = []
            if "policy" in kinds:
                lines += policy_now(await prober.fetch_policy(policy_host(domain)), options.https_port)
            if kinds & {"mx", "dane"}:
                named = list(
                    dict.fromkeys(normalize_name(f.receiving_mx) for f in failures if f.receiving_mx)
                )
                live = (await prober.mx(domain)).hosts
                patterns: tuple[str, ...] = ()
                if any(h not in live for h in named):
                    patterns = await policy_patterns(prober, domain, options.https_port)
                hosts, skipped = probe_targets(named, live, patterns)
                lines += [not_probed(host, domain) for host in skipped]
                for host in hosts:
                    if "mx" in kinds:
                        probe = await prober.starttls(host)
                        lines += [f"{host}: {line}" for line in mx_now(probe, now, options.smtp_port)]
                    if "dane" in kinds:
                        tlsa = await prober.tlsa(host)
                        chains = await prober.served_chains(host) if tlsa.records else None
                        lines += dane_now(host, tlsa, chains, options.smtp_port)
            return lines

        domains = [(d, e.failures) for d, e in summary.domains.items()]
        found = await asyncio.gather(*(one(d, f) for d, f in domains if f))
        return {d: lines for (d, f), lines in zip([x for x in domains if x[1]], found, strict=True)}


async def policy_patterns(prober: Prober, domain: str, port: int) -> tuple[str, ...]:
    """The ``mx`` patterns of the domain's live policy (none when it cannot be fetched or read)."""
    host = policy_host(domain)
    body, _ = policy_fetch(await prober.fetch_policy(host), port)
    policy = parsed_policy(body, host)[0] if body is not None else None
    return tuple(policy.mx) if policy is not None else ()


def diagnose(summary: ReceiverSummary, options: ProbeOptions) -> dict[str, list[str]]:
    """Blocking form of ``diagnose_async``."""
    return asyncio.run(diagnose_async(summary, options))
