"""``plan --check-mx``: compare each policy's ``mx`` patterns with the domain's live MX hosts.

Run before ``pulumi up``, this stops the one config mistake that loses mail outright: an
``enforce`` policy that leaves out an MX host senders will use (RFC 8461 §4.1, §5). It needs
DNS and nothing else, so it is cheap enough for every deploy.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.resolver

from mtasts.config import Deployment, Domain
from mtasts.mx import uncovered

ERROR, WARNING, INFO = "error", "warning", "info"


@dataclass(frozen=True)
class MxFinding:
    """One result for one domain: severity, the dotted config key, a one-line reason."""

    severity: str
    key: str
    reason: str

    def line(self) -> str:
        return f"{self.severity}: {self.key}: {self.reason}"


def _resolver(nameserver: tuple[str, int] | None, timeout: float) -> dns.resolver.Resolver:
    if nameserver is None:
        resolver = dns.resolver.Resolver()
    else:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [nameserver[0]]
        resolver.port = nameserver[1]
    resolver.timeout = resolver.lifetime = timeout
    return resolver


def check_domain(domain: Domain, resolver: dns.resolver.Resolver) -> list[MxFinding]:
    """What the live MX records of ``domain`` say about its planned policy."""
    key = f"domains.{domain.name}.mx"
    if domain.mode == "none":
        return []
    try:
        answer = resolver.resolve(domain.name, "MX", raise_on_no_answer=False, search=False)
    except dns.resolver.NXDOMAIN:
        return [MxFinding(WARNING, key, f"{domain.name} does not exist in DNS; no MX to compare")]
    except dns.exception.DNSException as exc:
        return [MxFinding(WARNING, key, f"MX lookup failed ({type(exc).__name__}); not compared")]
    exchanges = [rr.exchange for rr in answer]
    if not exchanges or exchanges == [dns.name.root]:
        why = "a null MX (RFC 7505)" if exchanges else "no MX record"
        return [MxFinding(INFO, key, f"{domain.name} has {why}; nothing to compare")]
    hosts = sorted({name.to_text(omit_final_dot=True).lower() for name in exchanges})
    missing = uncovered(domain.mx, hosts)
    if not missing:
        return [MxFinding(INFO, key, f"every live MX host is covered: {', '.join(hosts)}")]
    listed = ", ".join(missing)
    if domain.mode == "enforce":
        reason = (
            f"live MX {listed} not covered by the policy; in enforce, senders would refuse to "
            "deliver there (RFC 8461 §4.1, §5)"
        )
        return [MxFinding(ERROR, key, reason)]
    reason = f"live MX {listed} not covered by the policy; fix before enforce (RFC 8461 §4.1)"
    return [MxFinding(WARNING, key, reason)]


def check_deployment(
    deployment: Deployment, nameserver: tuple[str, int] | None = None, timeout: float = 5.0
) -> list[MxFinding]:
    """Findings for every domain of ``deployment``, in domain order, looked up concurrently."""
    resolver = _resolver(nameserver, timeout)
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = pool.map(lambda d: check_domain(d, resolver), deployment.domains)
        return [finding for findings in results for finding in findings]
