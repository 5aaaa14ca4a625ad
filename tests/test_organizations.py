"""Readiness evidence per reporting organization (``mtasts.checks.organizations``)."""

from __future__ import annotations

from mtasts.checks.organizations import organization_findings
from mtasts.model.findings import Severity
from mtasts.model.receiver_summary import parse_domain


def org(name: str, successful: int, failed: int, reports: int = 7) -> dict[str, object]:
    return {
        "organization": name, "reports": reports, "successful": successful, "failed": failed,
        "lastReport": "2026-12-01T06:00:00Z",
    }  # fmt: skip


def test_one_large_senders_failures_are_not_averaged_away() -> None:
    """5 % failures at one organization fail readiness although the total (0.5 %) would pass 1 %."""
    rows = [org("Small Co", 90_000, 0), org("Big Mail", 10_000, 500)]
    summary = parse_domain({"byOrganization": rows}, "d")
    total_rate = 500 / 100_500
    assert total_rate < 0.01  # the total alone passes a 1 % limit
    found = organization_findings(summary, 0.01, "domains.example.com")
    assert [(f.subject, f.severity) for f in found] == [
        ("Big Mail", Severity.ERROR),
        ("Small Co", Severity.OK),
    ]
    assert "500 of 10500 sessions failed (4.76%)" in found[0].reason
    assert "readiness allows 1.00% for each organization" in found[0].reason
    assert found[1].reason.startswith("Small Co: 7 report(s), 0 of 90000 sessions failed")


def test_an_older_receiver_without_the_counts_is_said_so() -> None:
    """No byOrganization in the summary: an info, nothing invented."""
    [finding] = organization_findings(parse_domain({"organizations": ["A"]}, "d"), 0.0, "domains.example.com")
    assert finding.severity is Severity.INFO and "no per-organization counts" in finding.reason
