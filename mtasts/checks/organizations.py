"""Readiness evidence per reporting organization: one large sender is not averaged away.

The receiver's summary adds, per domain, ``byOrganization``: every organization that reported
with its reports, successful and failed sessions and last report time. A domain whose reports
are 99 % one provider's can pass on the total while that provider fails 5 % of its sessions;
this judges each organization against the same ``maxFailureRate`` the total is judged by, and
lists each one's evidence either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mtasts.model.findings import Finding, Severity
from mtasts.model.vocabulary import Check


def organization_findings(summary: Mapping[str, Any], max_failure_rate: float, key: str) -> list[Finding]:
    """One finding per reporting organization (worst first); an info when the summary has none."""
    rows = summary.get("byOrganization")
    if not isinstance(rows, list):
        reason = "the receiver's summary has no per-organization counts (deploy the receiver again)"
        return [Finding(Check.REPORT_ORGANIZATION, Severity.INFO, reason, key)]
    found = []
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        name = str(row.get("organization", "?"))
        failed, successful = int(row.get("failed") or 0), int(row.get("successful") or 0)
        total = failed + successful
        rate = failed / total if total else 0.0
        head = (
            f"{name}: {row.get('reports', 0)} report(s), {failed} of {total} sessions failed ({rate:.2%}), "
            f"last {row.get('lastReport') or 'never'}"
        )
        if total and rate > max_failure_rate:
            reason = f"{head}; readiness allows {max_failure_rate:.2%} for each organization"
            found.append(Finding(Check.REPORT_ORGANIZATION, Severity.ERROR, reason, key, subject=name))
        else:
            found.append(Finding(Check.REPORT_ORGANIZATION, Severity.OK, head, key, subject=name))
    found.sort(key=lambda f: (f.severity.rank, f.subject or ""))
    return found
