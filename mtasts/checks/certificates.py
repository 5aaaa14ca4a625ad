"""Certificates ahead of time: days left at the policy host and at every MX address.

A certificate that expires is the commonest way an ``enforce`` domain starts bouncing mail: the
policy is fine, the MX host's renewal failed. The handshakes of ``verify`` already hold the chain
each address served (``mtasts.probes.certificates``), so this reads the leaf's ``notAfter`` at
every A and AAAA address and compares the days left with two thresholds.

Under ``enforce`` an MX certificate past the error threshold is the loudest finding of a run
(``urgent``): once it expires, senders that cached the policy refuse to deliver (RFC 8461 §4.2).
An expired or untrusted certificate fails the handshake and is reported by ``starttls`` or
``policy-tls``; at such an MX address the chain read without checking (``unverified``) still gives
the days left, below zero once expired.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from mtasts.model.findings import Finding, Severity
from mtasts.model.vocabulary import Check, Endpoint, Mode
from mtasts.probes.errors import SmtpCertificateError
from mtasts.probes.prober import PolicyFetch, StarttlsProbe
from mtasts.probes.tls import hostport

WARNING_DAYS = 21.0
"""Default: a warning this many days before a certificate expires (renewals run at 30 days)."""
ERROR_DAYS = 7.0
"""Default: an error this many days before (a renewal that has not happened by now has failed)."""


@dataclass(frozen=True)
class Thresholds:
    """Days left below which a certificate is a warning, and an error."""

    warning_days: float = WARNING_DAYS
    error_days: float = ERROR_DAYS

    def severity(self, days_left: float) -> Severity:
        if days_left < self.error_days:
            return Severity.ERROR
        if days_left < self.warning_days:
            return Severity.WARNING
        return Severity.OK


@dataclass(frozen=True)
class ServedCertificate:
    """The leaf certificate one address served, and when it expires."""

    endpoint: Endpoint
    host: str
    address: str
    port: int
    not_after: datetime.datetime

    def days_left(self, now: datetime.datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400.0


def refused(starttls: Iterable[StarttlsProbe]) -> dict[str, set[str]]:
    """Per MX host, the addresses whose certificate the verified handshake refused (expired…)."""
    found: dict[str, set[str]] = {}
    for probe in starttls:
        for result in probe.results:
            if isinstance(result.error, SmtpCertificateError):
                found.setdefault(probe.host, set()).add(result.address)
    return found


def served_certificates(
    fetched: PolicyFetch | None,
    starttls: Iterable[StarttlsProbe],
    https_port: int = 443,
    smtp_port: int = 25,
    unverified: Iterable[StarttlsProbe] = (),
) -> list[ServedCertificate]:
    """Every leaf certificate a handshake got: the policy host's addresses, then each MX's.

    ``unverified`` are handshakes that did not check the certificate (``Prober.served_chains``),
    taken only at the addresses whose verified handshake refused it: an expired certificate then
    still has its days left (below zero), so it is the loudest finding and a metric like the rest.
    """
    starttls = list(starttls)
    wanted = refused(starttls)
    extra = [
        StarttlsProbe(p.host, tuple(r for r in p.results if r.address in wanted.get(p.host, ())))
        for p in unverified
    ]
    starttls += extra
    found: list[ServedCertificate] = []
    if fetched is not None:
        for response in fetched.responses:
            if response.chain:
                found.append(
                    ServedCertificate(
                        Endpoint.POLICY_HOST, fetched.host, response.address, https_port,
                        response.chain[0].not_after,
                    )
                )  # fmt: skip
    for probe in starttls:
        for result in probe.results:
            if result.success is not None and result.success.chain:
                leaf = result.success.chain[0]
                found.append(
                    ServedCertificate(Endpoint.MX, probe.host, result.address, smtp_port, leaf.not_after)
                )
    return found


def certificate_expiry(
    served: Iterable[ServedCertificate],
    mode: str | None,
    thresholds: Thresholds,
    now: datetime.datetime,
) -> list[Finding]:
    """One finding per host: the fewest days left among its addresses, each address named."""
    by_host: dict[tuple[Endpoint, str], list[ServedCertificate]] = {}
    for cert in served:
        by_host.setdefault((cert.endpoint, cert.host), []).append(cert)
    findings = []
    for (endpoint, host), certs in by_host.items():
        certs.sort(key=lambda c: c.not_after)
        soonest = certs[0]
        days = soonest.days_left(now)
        severity = thresholds.severity(days)
        check = Check.MX_CERTIFICATE if endpoint is Endpoint.MX else Check.POLICY_CERTIFICATE
        where = _where(certs, now)
        when = f"({soonest.not_after:%Y-%m-%d %H:%M} UTC)"
        if days < 0:
            reason = f"{host}: certificate expired {_days(-days)} ago {when}{where}"
        else:
            reason = f"{host}: certificate expires in {_days(days)} {when}{where}"
        if severity is not Severity.OK:
            reason += _consequence(endpoint, mode, days < 0)
        findings.append(Finding(check, severity, reason, subject=host))
    return findings


def is_urgent(finding: Finding, mode: str | None) -> bool:
    """The loudest kind of finding: an enforce domain's MX certificate past the error threshold."""
    return (
        mode == Mode.ENFORCE and finding.check == Check.MX_CERTIFICATE and finding.severity is Severity.ERROR
    )


def _where(certs: list[ServedCertificate], now: datetime.datetime) -> str:
    if len(certs) == 1:
        return f" at {hostport(certs[0].address, certs[0].port)}"
    if len({round(c.days_left(now), 1) for c in certs}) == 1:
        return f" at all {len(certs)} addresses"
    listed = ", ".join(f"{hostport(c.address, c.port)} {_days(c.days_left(now))}" for c in certs)
    return f"; per address: {listed}"


def _days(days: float) -> str:
    return f"{days:.1f} days"


def _consequence(endpoint: Endpoint, mode: str | None, expired: bool = False) -> str:
    if expired:
        if endpoint is Endpoint.POLICY_HOST:
            return "; senders cannot fetch the policy (renew it now)"
        if mode == Mode.ENFORCE:
            return "; senders enforcing the policy refuse to deliver here now (renew it now)"
        return "; renew it (senders that check certificates refuse it)"
    if endpoint is Endpoint.POLICY_HOST:
        return "; then senders cannot fetch the policy (renew it)"
    if mode == Mode.ENFORCE:
        return "; then senders enforcing the policy refuse to deliver here (renew it now)"
    return "; renew it before it expires (and before enforce)"
