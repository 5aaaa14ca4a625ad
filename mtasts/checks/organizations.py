"""Readiness evidence per reporting organization: one large sender is not averaged away.

The receiver's summary adds, per domain, ``byOrganization``: every organization that reported
with its reports, successful and failed sessions and last report time. A domain whose reports
are 99 % one provider's can pass on the total while that provider fails 5 % of its sessions;
this judges each organization against the same ``maxFailureRate`` the total is judged by, and
lists each one's evidence either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from mtasts.model.findings import Finding, Severity
from mtasts.model.receiver_summary import DomainSummary
from mtasts.model.vocabulary import Check


@dataclass(frozen=True)
class Reporters:
    """The organizations whose reports are evidence for ``minOrganizations``, and those that are not."""

    counted: tuple[str, ...]
    """One name per organization (the first spelling seen), sorted."""
    silent: tuple[str, ...]
    """Organizations whose reports count no session: they saw no mail, so they are no evidence."""


def _same_sender(name: str) -> str:
    """``Google Inc.``, ``google inc.`` and ``Google  Inc. `` are one sender: RFC 8460 §4.4 gives
    ``organization-name`` no canonical form, and a sender's spellings must not count twice."""
    return " ".join(name.split()).casefold()


def reporters(summary: DomainSummary) -> Reporters:
    """The distinct organizations that reported sessions for the domain (``byOrganization`` when the
    receiver gives it, else every name listed)."""
    rows = summary.by_organization
    if rows is None:
        active, silent = list(summary.organizations), []
    else:
        active = [r.organization for r in rows if r.successful + r.failed > 0]
        silent = [r.organization for r in rows if r.successful + r.failed == 0]
    counted: dict[str, str] = {}
    for name in active:
        counted.setdefault(_same_sender(name), name.strip())
    quiet: dict[str, str] = {}
    for name in silent:
        if _same_sender(name) not in counted:
            quiet.setdefault(_same_sender(name), name.strip())
    return Reporters(tuple(sorted(counted.values())), tuple(sorted(quiet.values())))


def organization_findings(summary: DomainSummary, max_failure_rate: float, key: str) -> list[Finding]:
    """One finding per reporting organization (worst first); an info when the summary has none."""
    rows = summary.by_organization
    if rows is None:
        reason = "the receiver's summary has no per-organization counts (deploy the receiver again)"
        return [Finding(Check.REPORT_ORGANIZATION, Severity.INFO, reason, key)]
    found = []
    for row in rows:
        name, failed, successful = row.organization, row.failed, row.successful
        total = failed + successful
        rate = failed / total if total else 0.0
        head = (
            f"{name}: {row.reports} report(s), {failed} of {total} sessions failed ({rate:.2%}), "
            f"last {row.last_report or 'never'}"
        )
        if total and rate > max_failure_rate:
            reason = f"{head}; readiness allows {max_failure_rate:.2%} for each organization"
            found.append(Finding(Check.REPORT_ORGANIZATION, Severity.ERROR, reason, key, subject=name))
        else:
            found.append(Finding(Check.REPORT_ORGANIZATION, Severity.OK, head, key, subject=name))
    found.sort(key=lambda f: (f.severity.rank, f.subject or ""))
    return found
