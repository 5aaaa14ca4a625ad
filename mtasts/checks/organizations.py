"""Readiness evidence per reporting organization: one large sender is not averaged away.

The receiver's summary adds, per domain, ``byOrganization``: every organization that reported
with its reports, successful and failed sessions and last report time. A domain whose reports
are 99 % one provider's can pass on the total while that provider fails 5 % of its sessions;
this judges each organization against the same ``maxFailureRate`` the total is judged by, and
lists each one's evidence either way.
"""

from __future__ import annotations

from mtasts.model.findings import Finding, Severity
from mtasts.model.receiver_summary import DomainSummary
from mtasts.model.vocabulary import Check


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
