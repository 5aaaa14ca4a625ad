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

from mtasts.checks.diagnose import dane_now, mx_now, policy_now
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
                named = [normalize_name(f.receiving_mx) for f in failures if f.receiving_mx]
                hosts = list(dict.fromkeys(named)) or list((await prober.mx(domain)).hosts)
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


def diagnose(summary: ReceiverSummary, options: ProbeOptions) -> dict[str, list[str]]:
    """Blocking form of ``diagnose_async``."""
    return asyncio.run(diagnose_async(summary, options))
