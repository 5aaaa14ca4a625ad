"""What a sender's probe finds *now*, for the failures TLS reports name (``reports --diagnose``).

A report says ``sts-policy-fetch-error`` and never why. Fetching the policy the way a sender does,
from every address, usually shows it: a challenge page served to non-browser clients, an expired
certificate, a redirect, the wrong content type. For the certificate result types it is the
STARTTLS probe of the receiving MX; for the DANE ones its TLSA records. Each line here says one
fact seen now; a clean probe says so, since the failures may be over (or from another path).
"""

from __future__ import annotations

import datetime

from mtasts.checks.certificates import Thresholds, certificate_expiry, served_certificates
from mtasts.checks.dane import dane
from mtasts.checks.policy import parsed_policy
from mtasts.checks.starttls import starttls
from mtasts.model.findings import Severity
from mtasts.probes.dnssec import TlsaAnswer
from mtasts.probes.errors import (
    PolicyCertificateError,
    PolicyContentTypeError,
    PolicyFetchError,
    PolicyRedirectError,
    PolicyStatusError,
)
from mtasts.probes.prober import PolicyFetch, StarttlsProbe
from mtasts.probes.tls import hostport
from mtasts.rfc.mx import mx_matches
from mtasts.rfc.policy import Mode

CHALLENGE_HEADER = "cf-mitigated"
"""Cloudflare marks every challenge page with ``cf-mitigated: challenge``
(https://developers.cloudflare.com/cloudflare-challenges/challenge-types/challenge-pages/detect-response)."""


def is_challenge(error: PolicyFetchError) -> bool:
    """A Cloudflare challenge page instead of the policy (Bot Fight Mode, a WAF rule…)."""
    headers = getattr(error, "headers", ())
    return any(name == CHALLENGE_HEADER and value.strip().lower() == "challenge" for name, value in headers)


def policy_now(fetched: PolicyFetch, port: int = 443) -> list[str]:
    """What a sender fetching the policy gets now, one line per fact."""
    if fetched.error is not None:
        return [f"now: {fetched.error.reason}"]
    lines = []
    for result in fetched.results:
        error = result.error
        if error is None:
            continue
        where = hostport(result.address, port)
        if is_challenge(error):
            lines.append(
                f"now: {fetched.host} at {where} serves a challenge page (cf-mitigated: challenge) to "
                "non-browser clients: senders read that as no policy; skip Bot Fight Mode, Browser "
                f"Integrity Check and WAF challenges for {fetched.host} (a WAF skip rule)"
            )
        elif isinstance(error, PolicyRedirectError):
            lines.append(
                f"now: a redirect ({error.status} to {error.location or 'nowhere'}) at {where}: "
                "senders never follow it"
            )
        elif isinstance(error, PolicyCertificateError):
            lines.append(f"now: the certificate is refused at {where}: {error.reason}")
        elif isinstance(error, PolicyContentTypeError):
            shown = error.content_type or "no Content-Type"
            lines.append(f"now: served as {shown!r} at {where}, not text/plain: senders reject it")
        elif isinstance(error, PolicyStatusError):
            lines.append(f"now: HTTP {error.status} at {where}: senders accept only 200")
        else:
            lines.append(f"now: {error.reason}")
    bodies = {r.body for r in fetched.responses}
    if not lines and len(bodies) == 1:
        policy, findings = parsed_policy(bodies.pop(), fetched.host)
        if policy is None:
            reason = next((f.reason for f in findings if f.severity is Severity.ERROR), "it does not parse")
            return [f"now: the policy is served but invalid: {reason}"]
        return [
            f"now: {fetched.host} serves a valid policy (mode {policy.mode}) at all {len(fetched.results)} "
            "addresses: the failures are over, or the senders reach it by another path"
        ]
    if not lines:
        lines.append(f"now: {fetched.host} serves different policies at its addresses")
    return lines


def probe_targets(
    named: list[str], live_mx: tuple[str, ...], patterns: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """Which of the MX hosts reports name to probe, and which not.

    ``receiving-mx-hostname`` is whatever the reporter wrote: anyone can send a report naming any
    host. Only hosts the domain itself names are probed, as a sender would only connect to
    them: a live MX host, or one the live policy's ``mx`` patterns match (an MX retired since the
    report). Without a named host, every live MX is probed.
    """
    if not named:
        return list(live_mx), []
    ours = [h for h in named if h in live_mx or any(mx_matches(p, h) for p in patterns)]
    return ours, [h for h in named if h not in ours]


def not_probed(host: str, domain: str) -> str:
    return (
        f"now: {host}: named by the reports but neither an MX of {domain} nor matched by its policy: "
        "not probed (a report can name any host)"
    )


def mx_now(
    probe: StarttlsProbe, now: datetime.datetime, port: int = 25, thresholds: Thresholds | None = None
) -> list[str]:
    """What STARTTLS at every address of the MX shows now, certificates' days left included."""
    verdict = starttls(probe, Mode.ENFORCE, port)
    if verdict.severity is not Severity.OK:
        return [f"now: {verdict.reason.removesuffix(': senders will refuse to deliver here')}"]
    lines = [f"now: {verdict.reason}"]
    expiry = certificate_expiry(
        served_certificates(None, [probe], smtp_port=port), Mode.ENFORCE, thresholds or Thresholds(), now
    )
    lines += [f"now: {f.reason}" for f in expiry]
    return lines


def dane_now(host: str, tlsa: TlsaAnswer, chains: StarttlsProbe | None, port: int = 25) -> list[str]:
    """What the MX's TLSA records and served chains show now."""
    found = dane(host, tlsa, chains, None, port)
    if not found:
        return [f"now: {host} has no TLSA record at {tlsa.name}"]
    return [f"now: {f.reason}" for f in found]
