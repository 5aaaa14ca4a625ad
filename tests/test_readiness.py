"""`readiness`: testing → enforce only on evidence, judged from fixtures of verify results and reports."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mtasts.checks.attribution import Attribution
from mtasts.checks.readiness import VerifyEvidence, evaluate
from mtasts.commands.shared.evidence import assess
from mtasts.model.config import ConfigError, Domain, load_config, project_defaults
from mtasts.model.findings import Finding, Severity
from mtasts.model.receiver_summary import ReceiverSummary, SummaryError, parse_summary
from mtasts.model.rollout import LiveGate, Readiness, defaults_json
from mtasts.probes import DnsError, DnsFailure, DnsStatus, MxAnswer

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=datetime.UTC)
ACCOUNT = "0123456789abcdef0123456789abcdef"
NAME = "example.org"
DOMAIN = Domain(
    name=NAME,
    hosting="cloudflare-worker",
    mode="testing",
    max_age=604800,
    mx=("mx1.example.org", "*.mx.example.net"),
    tlsrpt=(),
)
THRESHOLDS = Readiness(min_days=14, min_organizations=2, max_failure_rate=0.0)


def clean_verify(**changes: Any) -> VerifyEvidence:
    """Verify found a valid testing policy, covered MX hosts, STARTTLS fine everywhere."""
    findings = (
        Finding("sts-record", Severity.OK, "_mta-sts: v=STSv1, id=abc"),
        Finding("policy", Severity.OK, "policy served: mode testing"),
        Finding("policy-mode", Severity.INFO, "mode testing: senders report failures"),
        Finding("mx-coverage", Severity.OK, "every MX host matches a policy mx pattern"),
        Finding("starttls", Severity.OK, "mx1.example.org: TLSv1.3"),
        Finding("starttls", Severity.OK, "a.mx.example.net: TLSv1.3"),
    )
    mx = MxAnswer(NAME, DnsStatus.OK, ("mx1.example.org", "a.mx.example.net"), 2)
    addresses = {"mx1.example.org": ("192.0.2.10", "2001:db8::10"), "a.mx.example.net": ("192.0.2.20",)}
    return VerifyEvidence(**{"findings": findings, "mx": mx, "mx_addresses": addresses, **changes})


def days_ago(days: float) -> str:
    return (NOW - datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary(**entry: Any) -> ReceiverSummary:
    """A reports receiver's answer with one domain entry (good evidence unless changed)."""
    base = {
        "reports": 60,
        "organizations": ["Google Inc.", "Microsoft Corporation"],
        "successful": 12000,
        "failed": 0,
        "failures": [],
        "firstReport": days_ago(30),
        "lastReport": days_ago(1),
    }
    return parse_summary({"domains": {NAME: {**base, **entry}}, "unparsed": 0})


def blockers(verdict: Any) -> list[str]:
    return [f.name for f in verdict.findings if f.severity == Severity.ERROR]


def test_clean_verify_and_enough_reports_is_ready() -> None:
    """Verify clean, 30 days from 2 organizations, no failure: ready, with the evidence listed."""
    verdict = evaluate(DOMAIN, clean_verify(), summary(), THRESHOLDS, NOW)
    assert verdict.ready and blockers(verdict) == []
    checks = {f.name: f for f in verdict.findings}
    assert checks["verify"].severity == Severity.OK
    assert checks["report-days"].reason.startswith("30 day(s) of reports")
    assert checks["report-organizations"].severity == Severity.OK


def test_no_receiver_is_not_ready_said_plainly() -> None:
    """Without a reports receiver there is no report evidence: not ready, in those words."""
    verdict = evaluate(DOMAIN, clean_verify(), None, THRESHOLDS, NOW)
    assert not verdict.ready and blockers(verdict) == ["reports"]
    assert "no TLS reports receiver" in verdict.findings[-1].reason
    assert "not ready" in verdict.findings[-1].reason


@pytest.mark.parametrize(
    "summaries",
    [parse_summary({"domains": {}, "unparsed": 0}), summary(reports=0, organizations=[], successful=0)],
    ids=["domain absent", "zero reports"],
)
def test_no_reports_at_all_is_not_ready(summaries: ReceiverSummary) -> None:
    """A receiver that has no report for the domain: not ready, "no TLS reports at all"."""
    verdict = evaluate(DOMAIN, clean_verify(), summaries, THRESHOLDS, NOW)
    assert not verdict.ready
    assert [f.reason for f in verdict.findings if f.check == "reports"] == [
        f"no TLS reports at all for {NAME}: no evidence, so not ready"
    ]


def test_too_few_days_or_organizations_is_not_ready() -> None:
    """10 days (14 wanted) from one organization (2 wanted): both named."""
    verdict = evaluate(
        DOMAIN,
        clean_verify(),
        summary(firstReport=days_ago(10), organizations=["Google Inc."]),
        THRESHOLDS,
        NOW,
    )
    assert blockers(verdict) == ["report-days", "report-organizations"]
    assert "readiness wants 14" in verdict.findings[-3].reason or any(
        "readiness wants 14" in f.reason for f in verdict.findings
    )


def test_a_summary_without_first_report_is_not_evidence_of_days() -> None:
    """A receiver summary lacking firstReport (an older receiver): days unknown, not ready, said so."""
    entry = {k: v for k, v in summary().domains[NAME].as_json().items() if k != "firstReport"}
    verdict = evaluate(DOMAIN, clean_verify(), parse_summary({"domains": {NAME: entry}}), THRESHOLDS, NOW)
    assert not verdict.ready and blockers(verdict) == ["report-days"]
    assert "no firstReport" in verdict.findings[-1].reason


def test_an_unreachable_receiver_is_no_evidence() -> None:
    """A receiver whose summary could not be read: not ready, the reason named."""
    from mtasts.checks.readiness import ReportsUnavailable

    verdict = evaluate(DOMAIN, clean_verify(), ReportsUnavailable("cannot reach x"), THRESHOLDS, NOW)
    assert not verdict.ready and blockers(verdict) == ["reports"]
    assert "cannot reach x" in verdict.findings[-1].reason and "not ready" in verdict.findings[-1].reason


def test_failures_at_the_domains_mx_hosts_block_enforce() -> None:
    """A failure whose receivingMx matches a policy pattern counts, placed by MX name; rate and host named."""
    failures = [
        {
            "resultType": "certificate-expired",
            "receivingMx": "b.mx.example.net",
            "receivingIp": "192.0.2.1",
            "sessions": 3,
        }
    ]
    verdict = evaluate(DOMAIN, clean_verify(), summary(failed=3, failures=failures), THRESHOLDS, NOW)
    assert blockers(verdict) == ["report-failures"]
    reason = next(f.reason for f in verdict.findings if f.check == "report-failures")
    assert reason.startswith("3 of 12003 sessions failed (by MX name 3, by IP 0, unattributed 0)")
    assert (
        "certificate-expired at b.mx.example.net (3 sessions; by MX name: matches *.mx.example.net)" in reason
    )


def test_a_total_failure_count_without_details_counts_against_readiness() -> None:
    """total-failure-session-count 500 with no failure details (RFC 8460 §4.2): unattributed, not ready."""
    verdict = evaluate(DOMAIN, clean_verify(), summary(successful=2500, failed=500), THRESHOLDS, NOW)
    assert blockers(verdict) == ["report-failures"]
    reason = next(f.reason for f in verdict.findings if f.check == "report-failures")
    assert reason.startswith("500 of 3000 sessions failed (by MX name 0, by IP 0, unattributed 500)")
    assert "total-failure-session-count beyond the failure details" in reason
    assert verdict.failures is not None and verdict.failures.sessions(Attribution.UNATTRIBUTED) == 500
    assert verdict.as_json()["sessions"]["attribution"] == {"mx-name": 0, "ip": 0, "unattributed": 500}


@pytest.mark.parametrize(
    "ip, attribution",
    [("192.0.2.10", "ip"), ("2001:db8:0::10", "ip"), ("192.0.2.99", "unattributed"), (None, "unattributed")],
    ids=["IPv4 of an MX", "IPv6 of an MX, other spelling", "another IP", "no IP"],
)
def test_failures_naming_only_an_ip_count_and_say_how_they_were_placed(
    ip: str | None, attribution: str
) -> None:
    """No receivingMx: the IP is matched against the live MX hosts' addresses; either way it counts."""
    failures = [{"resultType": "validation-failure", "receivingMx": None, "receivingIp": ip, "sessions": 4}]
    verdict = evaluate(DOMAIN, clean_verify(), summary(failed=4, failures=failures), THRESHOLDS, NOW)
    assert blockers(verdict) == ["report-failures"]
    placed = verdict.as_json()["sessions"]["failures"]
    assert [(p["attribution"], p["sessions"]) for p in placed] == [(attribution, 4)]


def test_failures_at_hosts_no_pattern_names_count_unattributed() -> None:
    """An MX name matching no pattern (or one label too deep for a wildcard) counts, unattributed."""
    failures = [
        {
            "resultType": "validation-failure",
            "receivingMx": "mx.other.net",
            "receivingIp": None,
            "sessions": 5,
        },
        # One label too many for *.mx.example.net (RFC 8461 §4.1): not covered by the policy.
        {"resultType": "starttls-not-supported", "receivingMx": "a.b.mx.example.net", "sessions": 1},
    ]
    verdict = evaluate(DOMAIN, clean_verify(), summary(failed=6, failures=failures), THRESHOLDS, NOW)
    assert blockers(verdict) == ["report-failures"]
    reason = next(f.reason for f in verdict.findings if f.check == "report-failures")
    assert "(by MX name 0, by IP 0, unattributed 6)" in reason
    assert "mx.other.net (5 sessions; unattributed: the MX name matches no pattern of the policy)" in reason


def test_the_failure_rate_threshold_is_configurable() -> None:
    """maxFailureRate 0.001 lets 3 failures in 12003 sessions through; 0.0 does not."""
    failures = [{"resultType": "validation-failure", "receivingMx": "mx1.example.org", "sessions": 3}]
    lenient = Readiness(min_days=14, min_organizations=2, max_failure_rate=0.001)
    assert evaluate(DOMAIN, clean_verify(), summary(failed=3, failures=failures), lenient, NOW).ready
    assert not evaluate(DOMAIN, clean_verify(), summary(failed=3, failures=failures), THRESHOLDS, NOW).ready


def test_stale_reports_are_not_evidence_of_today() -> None:
    """Reports that stopped arriving over a week ago block enforce."""
    verdict = evaluate(DOMAIN, clean_verify(), summary(lastReport=days_ago(9)), THRESHOLDS, NOW)
    assert blockers(verdict) == ["report-age"]


def test_verify_warnings_block_enforce_but_drift_does_not() -> None:
    """A STARTTLS warning (fine in testing, fatal in enforce) blocks; a drift from the plan does not."""
    evidence = clean_verify()
    warned = VerifyEvidence(
        evidence.findings
        + (
            Finding(
                "starttls", Severity.WARNING, "a.mx.example.net: certificate expired: fix this before enforce"
            ),
            Finding("drift", Severity.WARNING, "live policy differs from the stack"),
        ),
        evidence.mx,
    )
    verdict = evaluate(DOMAIN, warned, summary(), THRESHOLDS, NOW)
    assert blockers(verdict) == ["verify-starttls"]
    assert "certificate expired" in verdict.findings[0].reason


def test_live_mx_not_covered_by_the_planned_patterns_blocks() -> None:
    """The planned enforce policy must cover every live MX host (check_mx's rule)."""
    evidence = clean_verify(mx=MxAnswer(NAME, DnsStatus.OK, ("mx1.example.org", "backup.other.net"), 2))
    verdict = evaluate(DOMAIN, evidence, summary(), THRESHOLDS, NOW)
    assert blockers(verdict) == ["mx-coverage"]
    assert "backup.other.net not covered" in next(
        f.reason for f in verdict.findings if f.check == "mx-coverage"
    )


@pytest.mark.parametrize(
    "evidence",
    [
        None,
        VerifyEvidence((), None),
        VerifyEvidence(
            (), MxAnswer(NAME, DnsStatus.ERROR, (), 0, DnsError(NAME, "MX", DnsFailure.TIMEOUT, "timed out"))
        ),
        VerifyEvidence((), MxAnswer(NAME, DnsStatus.OK, (), 1)),
    ],
    ids=["verify did not run", "no MX lookup", "MX lookup failed", "null MX"],
)
def test_missing_verify_evidence_is_not_ready(evidence: VerifyEvidence | None) -> None:
    """No verify result, or no MX answer: not ready."""
    verdict = evaluate(DOMAIN, evidence, summary(), THRESHOLDS, NOW)
    assert not verdict.ready and set(blockers(verdict)) <= {"verify", "mx-coverage"}


def test_assess_gathers_evidence_once_through_injected_functions() -> None:
    """assess asks the verify and reports sources once for all named domains."""
    deployment = load_config(
        {
            "cloudflareAccountId": ACCOUNT,
            "defaults": {"mx": ["mx1.example.org", "*.mx.example.net"]},
            "domains": {NAME: {}, "other.example": {"mx": ["mx.other.example"]}},
        }
    )
    calls: list[Any] = []

    def gather_verify(names: Any) -> dict[str, VerifyEvidence]:
        calls.append(list(names))
        return {NAME: clean_verify()}

    def gather_reports(d: Any) -> dict[str, Any]:
        calls.append("reports")
        return summary()

    verdicts = assess(deployment, [NAME, "other.example"], gather_verify, gather_reports, NOW)
    assert calls == [[NAME, "other.example"], "reports"]
    assert [v.ready for v in verdicts] == [True, False]


# --------------------------------------------------------------------------- config


def test_thresholds_and_gate_are_read_from_config_with_defaults() -> None:
    """mta-sts:readiness and mta-sts:liveGate override the defaults key by key."""
    base = {"cloudflareAccountId": ACCOUNT, "domains": {NAME: {"mx": ["mx1.example.org"]}}}
    deployment = load_config({**base, "readiness": {"minDays": 7}, "liveGate": '{"interval": 2}'})
    assert deployment.readiness == Readiness(min_days=7, min_organizations=2, max_failure_rate=0.0)
    assert deployment.live_gate == LiveGate(timeout=600, interval=2)
    for bad, message in [
        ({"readiness": {"minDay": 7}}, "readiness.minDay: unknown key"),
        ({"readiness": {"maxFailureRate": 2}}, "readiness.maxFailureRate: must be between 0 and 1"),
        ({"readiness": {"minDays": 1.5}}, "readiness.minDays: must be a whole number"),
        ({"liveGate": {"timeout": 10, "interval": 20}}, "liveGate.interval: must not exceed timeout"),
        ({"liveGate": []}, "liveGate: must be a mapping"),
        ({"liveGate": {"timeout": 10, "span": 10}}, "liveGate.span: must be less than timeout"),
        ({"liveGate": {"rounds": 0}}, "liveGate.rounds: must be between 1 and 100"),
        ({"liveGate": {"rounds": 2.5}}, "liveGate.rounds: must be a whole number"),
    ]:
        with pytest.raises(ConfigError) as raised:
            load_config({**base, **bad})
        assert str(raised.value).startswith(message)


def test_pulumi_yaml_declares_the_same_defaults() -> None:
    """Pulumi.yaml's values for liveGate and readiness equal the model's defaults."""
    declared = project_defaults(ROOT)
    assert declared["liveGate"] == defaults_json(LiveGate())
    assert declared["readiness"] == defaults_json(Readiness())


# --------------------------------------------------------------------------- command


def test_the_command_says_not_ready_and_exits_1(tmp_path: Path) -> None:
    """With reports from a file and no reachable DNS: exit 1, per domain NOT READY and why; --json too."""
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    stack = {
        "config": {
            "mta-sts:cloudflareAccountId": ACCOUNT,
            "mta-sts:domains": {NAME: {"mx": ["mx1.example.org"]}},
        }
    }
    (tmp_path / "Pulumi.t.yaml").write_text(yaml.safe_dump(stack))
    (tmp_path / "reports.json").write_text(json.dumps({"domains": {}, "unparsed": 0}))
    argv = [
        sys.executable, "-m", "mtasts", "--project-dir", str(tmp_path), "readiness", "--stack", "t",
        "--reports", str(tmp_path / "reports.json"), "--nameserver", "127.0.0.1:9", "--timeout", "0.5",
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith(f"{NAME}: NOT READY for enforce")
    assert f"no TLS reports at all for {NAME}" in result.stdout
    result = subprocess.run([*argv, "--json"], capture_output=True, text=True, timeout=60)
    document = json.loads(result.stdout)
    assert result.returncode == 1 and document["ready"] is False
    assert document["domains"][NAME]["ready"] is False
    result = subprocess.run([*argv, "nope.example"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr == "error: nope.example not in stack t\n"
    # On a terminal, stderr gets the meter (and only there): piped above, it got none.
    assert "readiness:" not in result.stderr
    from tests.terminal import run_with_terminal_stderr

    code, out, err = run_with_terminal_stderr(argv, timeout=60)
    assert code == 1 and out.startswith(f"{NAME}: NOT READY for enforce")
    assert "\rreadiness: 1/1 domains checked" in err and "\r" not in out


def test_the_live_policys_coverage_gives_way_to_the_planned_patterns() -> None:
    """Live testing policy misses an MX the planned enforce policy covers: verify's warning does not block."""
    evidence = clean_verify()
    warned = VerifyEvidence(
        evidence.findings
        + (
            Finding(
                "mx-coverage", Severity.WARNING, "live MX a.mx.example.net not covered: fix before enforce"
            ),
        ),
        evidence.mx,
    )
    verdict = evaluate(DOMAIN, warned, summary(), THRESHOLDS, NOW)
    assert verdict.ready, blockers(verdict)


def test_a_stack_without_a_receiver_gives_no_summaries() -> None:
    """The default reports source answers None (so: "no TLS reports receiver") for a stack without one."""
    from mtasts.commands.shared.evidence import receiver_summaries

    deployment = load_config({"cloudflareAccountId": ACCOUNT, "domains": {NAME: {"mx": ["mx1.example.org"]}}})
    assert receiver_summaries(deployment) is None


def test_evidence_asks_each_mx_question_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """One prober for verify and readiness: each domain's MX, and each MX host's A/AAAA, asked once."""
    import asyncio

    from mtasts.commands.shared import evidence
    from mtasts.probes import DnsAnswer, ProbeOptions, prober

    asked: list[tuple[str, str]] = []

    async def fake_query(resolver: Any, name: str, rdtype: str) -> DnsAnswer:
        asked.append((name.lower(), rdtype))
        if rdtype == "MX" and name == NAME:
            return DnsAnswer(name, rdtype, DnsStatus.OK, ("10 mx1.example.org.", "20 a.mx.example.net."))
        if rdtype == "A" and name in ("mx1.example.org", "a.mx.example.net"):
            return DnsAnswer(name, rdtype, DnsStatus.OK, ("192.0.2.10",))
        return DnsAnswer(name, rdtype, DnsStatus.NXDOMAIN)

    async def no_smtp(*args: Any) -> Any:
        from mtasts.probes.errors import SmtpConnectError
        from mtasts.probes.smtp import StarttlsAtAddress

        return StarttlsAtAddress(args[1], error=SmtpConnectError(args[0], args[1], "no network in this test"))

    monkeypatch.setattr(prober, "query", fake_query)
    monkeypatch.setattr(prober.smtp, "starttls_at", no_smtp)
    options = ProbeOptions(nameserver=("127.0.0.1", 9), timeout=0.5, max_sockets=8)
    found = asyncio.run(evidence.verify_evidence_async([NAME], options))
    assert asked.count((NAME, "MX")) == 1
    assert asked.count(("mx1.example.org", "A")) == 1 and asked.count(("a.mx.example.net", "AAAA")) == 1
    assert found[NAME].mx is not None and found[NAME].mx.hosts == ("mx1.example.org", "a.mx.example.net")
    assert found[NAME].mx_addresses == {
        "mx1.example.org": ("192.0.2.10",),
        "a.mx.example.net": ("192.0.2.10",),
    }


@pytest.mark.parametrize("other", ["EXAMPLE.org", "example.org."])
def test_a_second_summary_entry_by_case_or_root_dot_is_refused(other: str) -> None:
    """Failures filed under another spelling of the domain cannot be left out of the count."""
    clean = {"reports": 1, "organizations": ["a"], "successful": 1, "failed": 0, "failures": []}
    with pytest.raises(SummaryError, match="the same domain as another entry"):
        parse_summary({"domains": {NAME: clean, other: {**clean, "failed": 500}}, "unparsed": 0})


def test_an_entry_spelled_in_upper_case_is_the_domains() -> None:
    """``Example.ORG.`` in the summary is example.org's evidence."""
    entry = summary().domain(NAME)
    document = {"domains": {"Example.ORG.": entry.as_json() if entry else {}}, "unparsed": 0}
    assert parse_summary(document).domain(NAME) == entry
