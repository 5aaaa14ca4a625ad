"""``plan --check-mx``: compare each policy's ``mx`` patterns with the domain's live MX hosts.

Run before ``pulumi up``, this stops the one config mistake that loses mail outright: an
``enforce`` policy that leaves out an MX host senders will use (RFC 8461 §4.1, §5). It needs
DNS and nothing else, so it is cheap enough for every deploy. The lookups are ``verify``'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from mtasts.commands.verify import MxAnswer, Options, lookup_mx
from mtasts.model.config import Deployment, Domain
from mtasts.rfc.mx import uncovered

ERROR, WARNING, INFO = "error", "warning", "info"


@dataclass(frozen=True)
class MxFinding:
    """One result for one domain: severity, the dotted config key, a one-line reason."""

    severity: str
    key: str
    reason: str

    def line(self) -> str:
        return f"{self.severity}: {self.key}: {self.reason}"


def check_domain(domain: Domain, answer: MxAnswer) -> list[MxFinding]:
    """What the live MX records of ``domain`` say about its planned policy."""
    key = f"domains.{domain.name}.mx"
    if answer.status == "nxdomain":
        return [MxFinding(WARNING, key, f"{domain.name} does not exist in DNS; no MX to compare")]
    if answer.status == "error":
        return [MxFinding(WARNING, key, f"MX lookup failed ({answer.error}); not compared")]
    if not answer.hosts:
        why = "a null MX (RFC 7505)" if answer.records else "no MX record"
        return [MxFinding(INFO, key, f"{domain.name} has {why}; nothing to compare")]
    hosts = sorted(answer.hosts)
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
    checked = [d for d in deployment.domains if d.mode != "none"]
    answers = lookup_mx((d.name for d in checked), Options(nameserver=nameserver, timeout=timeout))
    return [finding for domain in checked for finding in check_domain(domain, answers[domain.name])]
