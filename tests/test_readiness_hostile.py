"""`readiness` on hostile report evidence: every failure counts, every verdict says how it was placed.

Two layers: summaries in the receiver's shape (``readiness --reports FILE``) judged by
``evaluate``, and RFC 8460 reports posted to a real receiver (miniflare) whose summary is then
judged, so the receiver's reading (case of ``policy-domain``, ``policy-type``, fields a failure
detail lacks) is part of the verdict. A failure that cannot be placed counts against readiness
(RFC 8460 §4.2).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import Any

import pytest

from mtasts.checks.readiness import VerifyEvidence, evaluate
from mtasts.model.config import Domain
from mtasts.model.findings import Finding, Severity
from mtasts.model.receiver_summary import ReceiverSummary, SummaryError, parse_summary
from mtasts.model.rollout import Readiness
from mtasts.probes import DnsStatus, MxAnswer
from tests.reports_helpers import Receiver, receiver

NOW = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=datetime.UTC)
NAME = "example.org"
MX_ADDRESSES = {"mx1.example.org": ("192.0.2.10", "2001:db8::10")}
DOMAIN = Domain(
    name=NAME, hosting="cloudflare-worker", mode="testing", max_age=604800, mx=("mx1.example.org",), tlsrpt=()
)
STRICT = Readiness(min_days=14, min_organizations=2, max_failure_rate=0.0)
LENIENT = Readiness(min_days=14, min_organizations=2, max_failure_rate=0.01)
ORGS = ["Google Inc.", "Microsoft Corporation"]


def verify() -> VerifyEvidence:
    findings = (Finding("policy", Severity.OK, "policy served: mode testing"),)
    mx = MxAnswer(NAME, DnsStatus.OK, ("mx1.example.org",), 2)
    return VerifyEvidence(findings, mx, MX_ADDRESSES)


def days_ago(days: float) -> str:
    return (NOW - datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def by_org(*rows: tuple[str, int, int]) -> list[dict[str, Any]]:
    return [
        {"organization": o, "reports": 10, "successful": s, "failed": f, "lastReport": days_ago(1)}
        for o, s, f in rows
    ]


def summary(**entry: Any) -> ReceiverSummary:
    base: dict[str, Any] = {
        "reports": 40,
        "organizations": ORGS,
        "successful": 10000,
        "failed": 0,
        "failures": [],
        "firstReport": days_ago(20),
        "lastReport": days_ago(1),
        "byOrganization": by_org(("Google Inc.", 5000, 0), ("Microsoft Corporation", 5000, 0)),
    }
    return parse_summary({"domains": {NAME: {**base, **entry}}, "unparsed": 0})


def failing(failures: list[dict[str, Any]], failed: int | None = None, **entry: Any) -> ReceiverSummary:
    total = sum(f["sessions"] for f in failures) if failed is None else failed
    rows = by_org(("Google Inc.", 5000, total), ("Microsoft Corporation", 5000, 0))
    return summary(failed=total, failures=failures, byOrganization=rows, **entry)


def finding(verdict: Any, check: str) -> Finding:
    return next(f for f in verdict.findings if f.check == check)


def group(
    mx: str | None = None, ip: str | None = None, sessions: int = 5, kind: str = "validation-failure"
) -> dict[str, Any]:
    return {"resultType": kind, "receivingMx": mx, "receivingIp": ip, "sessions": sessions}


# --- failures, placed or not: each counts ----------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "placed"),
    [
        (group(mx="mx1.example.org"), "by MX name 5, by IP 0, unattributed 0"),
        (group(mx="MX1.Example.ORG"), "by MX name 5, by IP 0, unattributed 0"),
        (group(mx="mx1.example.org."), "by MX name 5, by IP 0, unattributed 0"),
        (group(mx=" mx1.example.org. "), "by MX name 5, by IP 0, unattributed 0"),
        (group(ip="192.0.2.10"), "by MX name 0, by IP 5, unattributed 0"),
        (group(ip="2001:0db8:0:0::10"), "by MX name 0, by IP 5, unattributed 0"),
        (group(ip="::ffff:192.0.2.10"), "by MX name 0, by IP 5, unattributed 0"),
        (group(ip="198.51.100.7"), "by MX name 0, by IP 0, unattributed 5"),
        (group(), "by MX name 0, by IP 0, unattributed 5"),
        (group(ip="not an ip"), "by MX name 0, by IP 0, unattributed 5"),
        (group(mx="mx.other-domain.example", ip="192.0.2.10"), "by MX name 0, by IP 5, unattributed 0"),
        (group(mx="mx.other-domain.example"), "by MX name 0, by IP 0, unattributed 5"),
        (group(mx="", ip=""), "by MX name 0, by IP 0, unattributed 5"),
    ],
    ids=[
        "mx name",
        "mx name other case",
        "mx name trailing dot",
        "mx name padded",
        "receiving-ip only",
        "receiving-ip v6 long form",
        "receiving-ip v4-mapped v6",
        "ip of another domain's mx",
        "neither mx nor ip",
        "garbage ip",
        "foreign mx name but own ip",
        "foreign mx name",
        "empty strings",
    ],
)
def test_every_failure_blocks_and_says_how_it_was_placed(failure: dict[str, Any], placed: str) -> None:
    """5 failed sessions of 10005, however placed: NOT READY, the placing in the reason."""
    verdict = evaluate(DOMAIN, verify(), failing([failure]), STRICT, NOW)
    assert not verdict.ready
    reason = finding(verdict, "report-failures").reason
    assert reason.startswith(f"5 of 10005 sessions failed ({placed})"), reason


def test_a_failure_total_without_any_details_blocks() -> None:
    """total-failure-session-count 500 with no failure-details at all: NOT READY, 500 unattributed."""
    verdict = evaluate(DOMAIN, verify(), failing([], failed=500), STRICT, NOW)
    reason = finding(verdict, "report-failures").reason
    assert not verdict.ready and "(by MX name 0, by IP 0, unattributed 500)" in reason
    assert "total-failure-session-count beyond the failure details" in reason


def test_details_covering_part_of_the_total_leave_the_rest_unattributed() -> None:
    """Details for 3 of 10 failures: 3 by MX name, 7 unattributed, all 10 counted."""
    verdict = evaluate(
        DOMAIN, verify(), failing([group(mx="mx1.example.org", sessions=3)], failed=10), STRICT, NOW
    )
    assert finding(verdict, "report-failures").reason.startswith(
        "10 of 10010 sessions failed (by MX name 3, by IP 0, unattributed 7)"
    )


def test_unattributed_failures_above_the_allowed_rate_block_a_lenient_stack() -> None:
    """maxFailureRate 1 %: 2 % of sessions failed with nothing to place them by: NOT READY."""
    verdict = evaluate(DOMAIN, verify(), failing([], failed=205), LENIENT, NOW)
    assert not verdict.ready and finding(verdict, "report-failures").severity is Severity.ERROR


def test_failures_below_a_lenient_rate_pass_but_are_listed_with_their_placing() -> None:
    """maxFailureRate 1 %: 5 unattributed failures in 10005 pass, and the verdict still names them."""
    verdict = evaluate(DOMAIN, verify(), failing([group(ip="198.51.100.7")]), LENIENT, NOW)
    found = finding(verdict, "report-failures")
    assert verdict.ready and found.severity is Severity.OK
    assert "unattributed: the IP is no address of the domain's MX hosts" in found.reason


def test_without_the_mx_addresses_an_ip_only_failure_still_counts() -> None:
    """The MX hosts' addresses unknown (lookup failed): the IP-only failure is unattributed, not dropped."""
    evidence = VerifyEvidence(verify().findings, verify().mx, None)
    verdict = evaluate(DOMAIN, evidence, failing([group(ip="192.0.2.10")]), STRICT, NOW)
    reason = finding(verdict, "report-failures").reason
    assert not verdict.ready and "unattributed: the MX hosts' addresses are unknown" in reason


# --- counts that are not counts -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [("failed", -5), ("successful", -1), ("successful", 1.5), ("failed", "10"), ("failed", True)],
)
def test_a_count_that_is_not_a_whole_number_is_an_error_naming_the_key(key: str, value: Any) -> None:
    """Negative, fractional, text or boolean counts: SummaryError naming the key, never a silent 0."""
    with pytest.raises(SummaryError, match=rf"summary\.domains\.{NAME}\.{key}: must"):
        summary(**{key: value})


def test_a_negative_failure_group_is_an_error() -> None:
    """A failure group of -5 sessions cannot cancel real failures: an error naming it."""
    with pytest.raises(SummaryError, match=r"failures\[1\]\.sessions: must not be negative"):
        failing([group(mx="mx1.example.org", sessions=5), group(sessions=-5)], failed=0)


def test_absurd_success_counts_do_not_dilute_failures_to_zero() -> None:
    """10^15 successes against 1 failure: with maxFailureRate 0 one failure is still one too many."""
    entry = failing([group(mx="mx1.example.org", sessions=1)], successful=10**15)
    verdict = evaluate(DOMAIN, verify(), entry, STRICT, NOW)
    assert not verdict.ready and finding(verdict, "report-failures").reason.startswith("1 of ")


def test_no_sessions_at_all_is_no_evidence() -> None:
    """Reports that count 0 sessions in all: NOT READY, "no sessions at all"."""
    entry = summary(
        successful=0, byOrganization=by_org(("Google Inc.", 0, 0), ("Microsoft Corporation", 0, 0))
    )
    verdict = evaluate(DOMAIN, verify(), entry, STRICT, NOW)
    assert not verdict.ready and "no sessions at all" in finding(verdict, "report-failures").reason


# --- organizations and days -------------------------------------------------------------------


def test_one_large_organization_failing_is_not_averaged_away() -> None:
    """One org with 10^9 clean sessions, another failing 3 % of its own: NOT READY on the second."""
    rows = by_org(("Google Inc.", 10**9, 0), ("Small Mail", 970, 30))
    entry = summary(
        organizations=["Google Inc.", "Small Mail"], successful=10**9 + 970, failed=30,
        failures=[group(mx="mx1.example.org", sessions=30)], byOrganization=rows,
    )  # fmt: skip
    verdict = evaluate(DOMAIN, verify(), entry, Readiness(14, 2, 0.01), NOW)
    assert not verdict.ready
    bad = [f for f in verdict.findings if f.check == "report-organization" and f.severity is Severity.ERROR]
    assert [f.subject for f in bad] == ["Small Mail"]


@pytest.mark.parametrize(
    "names",
    [["Google Inc.", "google inc."], ["Google Inc.", "GOOGLE INC. "], ["Google Inc.", "Google  Inc."]],
    ids=["case", "case and space", "inner space"],
)
def test_one_organization_spelled_two_ways_is_one_organization(names: list[str]) -> None:
    """The same sender under two spellings is one organization: 2 wanted, 1 found, NOT READY."""
    rows = by_org((names[0], 5000, 0), (names[1], 5000, 0))
    verdict = evaluate(DOMAIN, verify(), summary(organizations=names, byOrganization=rows), STRICT, NOW)
    found = finding(verdict, "report-organizations")
    assert not verdict.ready and found.severity is Severity.ERROR
    assert "reports from 1 organization(s)" in found.reason


def test_an_organization_that_reports_no_sessions_is_no_evidence() -> None:
    """A second organization whose reports count 0 sessions has seen no mail: it does not count."""
    rows = by_org(("Google Inc.", 10000, 0), ("Empty Sender", 0, 0))
    entry = summary(organizations=["Google Inc.", "Empty Sender"], byOrganization=rows)
    verdict = evaluate(DOMAIN, verify(), entry, STRICT, NOW)
    found = finding(verdict, "report-organizations")
    assert not verdict.ready and found.severity is Severity.ERROR
    assert "Empty Sender" in found.reason and "no sessions" in found.reason


def test_reports_that_stopped_arriving_are_stale() -> None:
    """20 days of evidence, but the last report 8 days ago: NOT READY, report-age."""
    verdict = evaluate(DOMAIN, verify(), summary(lastReport=days_ago(8)), STRICT, NOW)
    assert not verdict.ready and finding(verdict, "report-age").severity is Severity.ERROR


def test_a_first_report_in_the_future_is_not_days_of_evidence() -> None:
    """firstReport tomorrow (a sender's clock): negative days, NOT READY."""
    verdict = evaluate(DOMAIN, verify(), summary(firstReport=days_ago(-1)), STRICT, NOW)
    assert not verdict.ready and finding(verdict, "report-days").severity is Severity.ERROR


def test_a_summary_keyed_by_a_domain_in_other_case_is_found() -> None:
    """A hand-written summary with ``Example.ORG.`` as the key is the domain's entry."""
    entry = summary().domains[NAME].as_json()
    summaries = parse_summary(
        {"domains": {"Example.ORG.": {**entry, "failed": 9, "failures": [group(sessions=9)]}}}
    )
    verdict = evaluate(DOMAIN, verify(), summaries, STRICT, NOW)
    assert not verdict.ready
    assert finding(verdict, "report-failures").reason.startswith("9 of 10009 sessions failed")


def test_the_json_verdict_gives_the_placing_per_failure() -> None:
    """--json: sessions.attribution per class and each failure's attribution and why."""
    verdict = evaluate(DOMAIN, verify(), failing([group(ip="192.0.2.10"), group(sessions=2)]), STRICT, NOW)
    sessions = verdict.as_json()["sessions"]
    assert sessions["attribution"] == {"mx-name": 0, "ip": 5, "unattributed": 2}
    assert [f["attribution"] for f in sessions["failures"]] == ["ip", "unattributed"]


# --- through a real receiver --------------------------------------------------------------------


def report(
    organization: str,
    day: int,
    policies: list[dict[str, Any]],
    length_days: float = 1,
    report_id: str | None = None,
) -> bytes:
    start = NOW_REAL.replace(microsecond=0) - datetime.timedelta(days=day)
    return json.dumps(
        {
            "organization-name": organization,
            "date-range": {
                "start-datetime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end-datetime": (start + datetime.timedelta(days=length_days)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "contact-info": "tlsrpt@sender.example",
            "report-id": report_id or f"{organization}-{day}-{len(policies)}-{id(policies)}",
            "policies": policies,
        }
    ).encode()


def policy(
    domain: str, successful: int, failed: int, details: list[dict[str, Any]] | None = None, kind: str = "sts"
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "policy": {"policy-type": kind, "policy-domain": domain, "mx-host": ["mx1.example.net"]},
        "summary": {"total-successful-session-count": successful, "total-failure-session-count": failed},
    }
    if details is not None:
        entry["failure-details"] = details
    return entry


NOW_REAL = datetime.datetime.now(datetime.UTC)
STACK_DOMAIN = "example.org"
RECEIVER_DOMAIN = Domain(
    name=STACK_DOMAIN, hosting="cloudflare-worker", mode="testing", max_age=604800,
    mx=("mx1.example.net",), tlsrpt=(),
)  # fmt: skip
RECEIVER_MX = {"mx1.example.net": ("192.0.2.50",)}


@pytest.fixture(scope="module")
def running() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


def judge(running: Receiver, *reports: bytes) -> Any:
    for body in reports:
        answer = running.post(body, "application/tlsrpt+json")
        assert answer.status_code in (200, 201), answer.text
    summaries = parse_summary(running.summary_json())
    evidence = VerifyEvidence((), MxAnswer(STACK_DOMAIN, DnsStatus.OK, ("mx1.example.net",), 1), RECEIVER_MX)
    return evaluate(RECEIVER_DOMAIN, evidence, summaries, STRICT, datetime.datetime.now(datetime.UTC))


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_through_the_receiver_every_kind_of_failure_counts(running: Receiver) -> None:
    """Clean reports from two organizations over 20 days, then failures the hard ways: a policy-domain
    in upper case with a trailing dot, a no-policy-found policy, a tlsa policy, details naming only
    sending-mta-ip or only receiving-mx-helo, and a total without details. All count; NOT READY."""
    clean = [report(org, day, [policy(STACK_DOMAIN, 1000, 0, [])]) for org in ORGS for day in (20, 10, 2)]
    hostile = [
        report("Google Inc.", 1, [policy("EXAMPLE.org.", 100, 1, [
            {"result-type": "certificate-expired", "receiving-mx-hostname": "MX1.EXAMPLE.NET.",
             "failed-session-count": 1}
        ])]),
        report("Google Inc.", 1, [policy(STACK_DOMAIN, 100, 2, [
            {"result-type": "validation-failure", "sending-mta-ip": "203.0.113.9", "failed-session-count": 2}
        ], kind="no-policy-found")]),
        report("Microsoft Corporation", 1, [policy(STACK_DOMAIN, 100, 4, [
            {"result-type": "starttls-not-supported", "receiving-mx-helo": "mx1.example.net",
             "failed-session-count": 4}
        ], kind="tlsa")]),
        report("Microsoft Corporation", 1, [policy(STACK_DOMAIN, 100, 8)]),
        report("Yahoo", 1, [policy(STACK_DOMAIN, 100, 16, [
            {"result-type": "validation-failure", "receiving-ip": "192.0.2.50", "failed-session-count": 16}
        ])]),
    ]  # fmt: skip
    verdict = judge(running, *clean, *hostile)
    assert not verdict.ready
    reason = finding(verdict, "report-failures").reason
    assert reason.startswith("31 of 6531 sessions failed (by MX name 1, by IP 16, unattributed 14)"), reason
    placed = {(f.result_type, str(f.attribution)) for f in verdict.failures.failures}
    assert ("certificate-expired", "mx-name") in placed and ("validation-failure", "ip") in placed
    assert ("starttls-not-supported", "unattributed") in placed and (None, "unattributed") in placed


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_through_the_receiver_a_negative_count_is_not_counted_as_a_credit(running: Receiver) -> None:
    """A report with total-failure-session-count -50 is refused or ignored: it never cancels failures."""
    before = parse_summary(running.summary_json()).domain(STACK_DOMAIN)
    body = report("Evil Org", 1, [policy(STACK_DOMAIN, 100, -50)])
    running.post(body, "application/tlsrpt+json")
    after = parse_summary(running.summary_json()).domain(STACK_DOMAIN)
    assert before is not None and after is not None
    assert after.failed >= before.failed
