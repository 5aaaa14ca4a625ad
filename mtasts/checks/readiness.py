"""Readiness rules: whether a domain can go ``testing → enforce`` now, and the evidence.

``evaluate`` is pure: the domain as the stack plans it, what ``verify`` found live (with the MX
answer and the MX hosts' addresses of the same run), the TLS report summaries (the receiver's
JSON, or None when there is no receiver), the thresholds (``mta-sts:readiness``) and the time.
No evidence is "not ready": no receiver, no reports, too few days or organizations. Days of
reports run from the summary's ``firstReport`` (the earliest date-range start) to now. An
organization counts once however it spells its name, and only when its reports count sessions
(``mtasts.checks.organizations.reporters``).

Every failed session of the reports counts against the domain, placed by MX name, by IP or not
at all (``mtasts.checks.attribution``; RFC 8460 §4.2): a failure the tool cannot place elsewhere
is not evidence that enforce is safe.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mtasts.checks.attribution import FailureEvidence, failure_evidence
from mtasts.checks.mx import live_mx
from mtasts.checks.organizations import organization_findings, reporters
from mtasts.model.domain import Domain
from mtasts.model.findings import Finding, Severity
from mtasts.model.receiver_summary import DomainSummary, ReceiverSummary
from mtasts.model.rollout import Readiness, format_time
from mtasts.model.vocabulary import Check, Mode
from mtasts.probes.dns import MxAnswer

STALE_AFTER = datetime.timedelta(days=7)
"""Reports older than this no longer say anything about today."""
BLOCKING = frozenset({Severity.ERROR, Severity.WARNING})
"""Verify findings that block enforce: errors, and warnings (in testing they are tomorrow's errors)."""
IGNORED_CHECKS: frozenset[Check] = frozenset(
    {
        Check.DRIFT,
        Check.DRIFT_POLICY,
        Check.DRIFT_ID,
        Check.DRIFT_TLSRPT,
        Check.POLICY_MODE,
        Check.MX_COVERAGE,
    }
)
"""Verify findings that do not bear on the switch: a drift from the plan (the switch is one), the
live mode, and the live policy's MX coverage (the planned patterns are judged instead)."""


@dataclass(frozen=True)
class VerifyEvidence:
    """What ``verify`` found for one domain, as readiness needs it."""

    findings: tuple[Finding, ...]
    """Every finding of the verify run (checked without ``--stack``, so without drift)."""
    mx: MxAnswer | None
    """The live MX lookup; None when it could not be made."""
    mx_addresses: Mapping[str, tuple[str, ...]] | None = field(default=None)
    """Every A and AAAA address of each live MX host (the same lookups verify made); None: unknown."""


@dataclass(frozen=True)
class ReportsUnavailable:
    """The stack has a receiver, but its summary could not be read (unreachable, bad answer)."""

    reason: str


Summaries = ReceiverSummary | ReportsUnavailable | None
"""The receiver's summary; ReportsUnavailable when it could not be read; None: no receiver."""


@dataclass(frozen=True)
class Verdict:
    """Readiness of one domain: ready or not, and every piece of evidence either way."""

    domain: str
    ready: bool
    findings: tuple[Finding, ...]
    failures: FailureEvidence | None = None
    """The reports' sessions and where each failure was placed; None without reports."""

    def as_json(self) -> dict[str, Any]:
        findings = [f.as_json(self.domain) for f in self.findings]
        document: dict[str, Any] = {"ready": self.ready, "findings": findings}
        if self.failures is not None:
            document["sessions"] = self.failures.as_json()
        return document

    @property
    def blockers(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]


def verify_findings(domain: Domain, verify: VerifyEvidence | None) -> list[Finding]:
    """Verify's blocking findings, and the planned patterns judged against the live MX hosts."""
    key = f"domains.{domain.name}"
    if verify is None:
        return [
            Finding(Check.VERIFY, Severity.ERROR, "verify could not run: no evidence the domain works", key)
        ]
    found = [
        Finding(f.check, Severity.ERROR, f.reason, key, via=Check.VERIFY)
        for f in verify.findings
        if f.severity in BLOCKING and f.check not in IGNORED_CHECKS
    ]
    if verify.mx is None:
        found.append(
            Finding(Check.MX_COVERAGE, Severity.ERROR, "live MX hosts unknown: lookup not made", key)
        )
    else:
        # The planned patterns, judged as enforce judges them: plan --check-mx's one rule. A lookup
        # that failed, a domain without MX hosts: nothing shows enforce is safe.
        # readiness takes no --allow-unknown-mx, so its message offers none (escape=None).
        for mx in live_mx(domain.name, Mode.ENFORCE, domain.mx, verify.mx, escape=None):
            covered = (
                mx.severity in (Severity.OK, Severity.INFO) and verify.mx.hosts and verify.mx.error is None
            )
            found.append(
                Finding(Check.MX_COVERAGE, Severity.OK if covered else Severity.ERROR, mx.reason, mx.key)
            )
    if not any(f.severity is Severity.ERROR for f in found):
        found.insert(
            0, Finding(Check.VERIFY, Severity.OK, "verify clean: policy, MX coverage, STARTTLS", key)
        )
    return found


def domain_entry(summaries: Summaries, name: str) -> DomainSummary | None:
    """The summary entry of domain ``name``; None when there is none (or no summary)."""
    if summaries is None or isinstance(summaries, ReportsUnavailable):
        return None
    return summaries.domain(name)


def report_findings(
    domain: Domain,
    summaries: Summaries,
    thresholds: Readiness,
    now: datetime.datetime,
    mx_addresses: Mapping[str, Iterable[str]] | None = None,
) -> tuple[list[Finding], FailureEvidence | None]:
    """What the TLS reports say about ``domain``, and where their failures were placed."""
    key = f"domains.{domain.name}"

    def no(check: Check, reason: str) -> Finding:
        return Finding(check, Severity.ERROR, reason, key)

    def yes(check: Check, reason: str) -> Finding:
        return Finding(check, Severity.OK, reason, key)

    if summaries is None:
        return [no(Check.REPORTS, "no TLS reports receiver: there is no report evidence, so not ready")], None
    if isinstance(summaries, ReportsUnavailable):
        reason = f"TLS reports unavailable ({summaries.reason}): no evidence, so not ready"
        return [no(Check.REPORTS, reason)], None
    summary = domain_entry(summaries, domain.name)
    if summary is None or not summary.reports:
        return [
            no(Check.REPORTS, f"no TLS reports at all for {domain.name}: no evidence, so not ready")
        ], None
    if summary.first_at is None or summary.last_at is None:
        reason = (
            "the receiver's summary has no firstReport (a receiver older than this command: "
            "deploy it again): days of reports unknown, so not ready"
        )
        return [no(Check.REPORT_DAYS, reason)], None
    found: list[Finding] = []
    last, first = summary.last_at, summary.first_at
    days = (now - first).days
    span = f"{days} day(s) of reports since {format_time(first)}"
    if days < thresholds.min_days:
        found.append(no(Check.REPORT_DAYS, f"{span}; readiness wants {thresholds.min_days}"))
    else:
        found.append(yes(Check.REPORT_DAYS, span))
    if now - last > STALE_AFTER:
        found.append(no(Check.REPORT_AGE, f"last report {format_time(last)}: reports stopped arriving"))
    senders = reporters(summary)
    organizations = senders.counted
    if len(organizations) < thresholds.min_organizations:
        listed = ", ".join(organizations) or "none"
        quiet = (
            f"; {', '.join(senders.silent)} reported no sessions, which is no evidence"
            if senders.silent
            else ""
        )
        found.append(
            no(
                Check.REPORT_ORGANIZATIONS,
                f"reports from {len(organizations)} organization(s) ({listed}); "
                f"readiness wants {thresholds.min_organizations}{quiet}",
            )
        )
    else:
        found.append(yes(Check.REPORT_ORGANIZATIONS, f"reports from {', '.join(organizations)}"))
    evidence = failure_evidence(summary, domain.mx, mx_addresses)
    found.append(_failures_finding(evidence, thresholds, key))
    found += organization_findings(summary, thresholds.max_failure_rate, key)
    return found, evidence


def _failures_finding(evidence: FailureEvidence, thresholds: Readiness, key: str) -> Finding:
    if evidence.total == 0:
        return Finding(
            Check.REPORT_FAILURES, Severity.ERROR, "the reports count no sessions at all: no evidence", key
        )
    rate = evidence.failed / evidence.total
    head = f"{evidence.failed} of {evidence.total} sessions failed ({evidence.breakdown()})"
    if rate > thresholds.max_failure_rate:
        described = "; ".join(f.describe() for f in evidence.failures)
        return Finding(
            Check.REPORT_FAILURES,
            Severity.ERROR,
            f"{head}: {rate:.2%}, readiness allows {thresholds.max_failure_rate:.2%}; every failure counts, "
            f"placed or not (RFC 8460 §4.2): {described}",
            key,
        )
    tail = "; " + "; ".join(f.describe() for f in evidence.failures) if evidence.failures else ""
    return Finding(Check.REPORT_FAILURES, Severity.OK, head + tail, key)


def evaluate(
    domain: Domain,
    verify: VerifyEvidence | None,
    summaries: Summaries,
    thresholds: Readiness,
    now: datetime.datetime,
) -> Verdict:
    """Whether ``domain`` (as planned) can go to ``enforce`` now, with the evidence."""
    addresses = verify.mx_addresses if verify is not None else None
    reported, evidence = report_findings(domain, summaries, thresholds, now, addresses)
    findings = verify_findings(domain, verify) + reported
    ready = not any(f.severity is Severity.ERROR for f in findings)
    return Verdict(domain.name, ready, tuple(findings), evidence)


def plan_findings(verdicts: Iterable[Verdict]) -> list[Finding]:
    """Readiness as ``plan --base`` reports it for domains becoming ``enforce``: one finding each."""
    found = []
    for verdict in verdicts:
        key = f"domains.{verdict.domain}"
        if verdict.ready:
            found.append(Finding(Check.READINESS, Severity.OK, "ready for enforce (mtasts readiness)", key))
            continue
        reasons = "; ".join(f.reason for f in verdict.blockers)
        found.append(
            Finding(Check.READINESS, Severity.ERROR, f"becomes enforce but is not ready: {reasons}", key)
        )
    return found
