"""MX records and their coverage by the policy's ``mx`` patterns (RFC 8461 §4.1)."""

from __future__ import annotations

from collections.abc import Sequence

from mtasts.model.findings import Finding, Severity
from mtasts.model.vocabulary import Check, Mode
from mtasts.probes.dns import DnsStatus, MxAnswer
from mtasts.rfc.mx import uncovered

MX_RECORDS = Check.MX_RECORDS
MX_COVERAGE = Check.MX_COVERAGE
_NO_MX = {Mode.ENFORCE: Severity.ERROR, Mode.NONE: Severity.INFO}
"""How bad a domain without MX records is, by the live policy's mode (testing: a warning)."""


def mx_records(answer: MxAnswer, mode: Mode | None) -> Finding:
    """The domain's live MX records as ``verify`` reports them."""
    if answer.error is not None:
        return Finding(
            MX_RECORDS, Severity.ERROR, f"MX lookup for {answer.domain} failed: {answer.error.reason}"
        )
    if not answer.records:
        severity = _NO_MX.get(mode, Severity.WARNING) if mode is not None else Severity.WARNING
        nx = " (NXDOMAIN)" if answer.status is DnsStatus.NXDOMAIN else ""
        reason = f"{answer.domain} has no MX record{nx}: there is no MX host for the policy to cover"
        return Finding(MX_RECORDS, severity, reason)
    if not answer.hosts:
        return Finding(
            MX_RECORDS, Severity.INFO, f"{answer.domain} has a null MX (RFC 7505): it accepts no mail"
        )
    return Finding(MX_RECORDS, Severity.OK, f"MX: {', '.join(answer.hosts)}")


def mx_coverage(
    mode: Mode, patterns: Sequence[str], hosts: Sequence[str], key: str | None = None
) -> list[Finding]:
    """The one rule "an uncovered MX is an error in enforce" (a warning in testing, nothing in none).

    Senders refuse to deliver to an MX host no pattern covers under ``enforce`` (RFC 8461 §4.1,
    §5): mail to it is lost or bounced. One finding per uncovered host, or one ``ok``.
    """
    if mode is Mode.NONE:
        return []
    missing = uncovered(list(patterns), list(hosts))
    if not missing:
        return [Finding(MX_COVERAGE, Severity.OK, f"every live MX host is covered: {', '.join(hosts)}", key)]
    listed = ", ".join(patterns) if patterns else "no patterns"
    found = []
    for host in missing:
        if mode is Mode.ENFORCE:
            severity = Severity.ERROR
            tail = "in enforce, senders would refuse to deliver there (RFC 8461 §4.1, §5)"
        else:
            severity = Severity.WARNING
            tail = "fix before enforce, or senders would refuse to deliver there (RFC 8461 §4.1)"
        reason = f"live MX {host} not covered by the policy ({listed}): {tail}"
        found.append(Finding(MX_COVERAGE, severity, reason, key))
    return found


def live_mx(
    name: str, mode: Mode, patterns: Sequence[str], answer: MxAnswer, allow_unknown: bool = False
) -> list[Finding]:
    """``plan --check-mx``: the planned policy of domain ``name`` against its live MX records.

    Fails closed: an ``enforce`` domain whose MX could not be looked up (timeout, SERVFAIL,
    a CNAME loop, our own file limit) is an error, since nobody can say it is safe;
    ``allow_unknown`` makes it a warning.
    """
    key = f"domains.{name}.mx"
    if answer.error is not None:
        if mode is Mode.ENFORCE and not allow_unknown:
            reason = (
                f"MX lookup failed ({answer.error.reason}); not compared, and an enforce policy that "
                "might leave out an MX host loses mail: fix the cause, or pass --allow-unknown-mx"
            )
            return [Finding(MX_COVERAGE, Severity.ERROR, reason, key)]
        return [
            Finding(
                MX_COVERAGE, Severity.WARNING, f"MX lookup failed ({answer.error.reason}); not compared", key
            )
        ]
    if answer.status is DnsStatus.NXDOMAIN:
        return [
            Finding(MX_COVERAGE, Severity.WARNING, f"{name} does not exist in DNS; no MX to compare", key)
        ]
    if not answer.hosts:
        why = "a null MX (RFC 7505)" if answer.records else "no MX record"
        return [Finding(MX_COVERAGE, Severity.INFO, f"{name} has {why}; nothing to compare", key)]
    found = mx_coverage(mode, patterns, sorted(answer.hosts), key)
    return [
        Finding(f.check, Severity.INFO, f.reason, f.key) if f.severity is Severity.OK else f for f in found
    ]
