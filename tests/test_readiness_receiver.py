"""``mtasts readiness`` end to end: a real local receiver (``mtasts serve``) and real verify servers.

One lab per module: Knot DNS publishes four ``testing`` domains of a throwaway stack with
``reports: builtin`` (their ``_mta-sts`` and ``_smtp._tls`` records, policy host, MX), an HTTPS
server with a trustme certificate serves each planned policy, aiosmtpd offers STARTTLS with a
valid certificate at the one MX, and ``mtasts serve --stack t`` runs the receiver with local D1.
The domains differ only by the reports posted to the receiver, built from the RFC 8460 example
fixture: none; clean reports from two organizations over 20 days; the same plus failures at the
domain's own MX; the same plus failures only at hosts no pattern names; the same plus a
``total-failure-session-count`` without failure details; the same plus failures naming only the
``receiving-ip`` of the domain's one MX. Every failure counts (RFC 8460 §4.2), and the verdict
says how each was placed: by MX name, by IP, unattributed.

Days of evidence run from the earliest report's ``date-range`` start (``firstReport``), so reports
dated 20 days back are 20 days of evidence though they arrive within a second.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from mtasts.model.config import load_stack
from tests.reports_helpers import fixture
from tests.servers import HttpsServer, KnotDns, Pki, Route, SmtpServer, free_port, start_serve, zone_text

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parent.parent
ZONE = "ready.test"
MX = f"mx1.{ZONE}"
MX_ADDRESS = "127.0.0.2"
TOKEN = "readiness-e2e-token"
LABELS = ("quiet", "clean", "failing", "elsewhere", "total-only", "ip-only")
QUIET, CLEAN, FAILING, ELSEWHERE, TOTAL_ONLY, IP_ONLY = (f"{label}.{ZONE}" for label in LABELS)
DOMAINS = (QUIET, CLEAN, FAILING, ELSEWHERE, TOTAL_ONLY, IP_ONLY)
ORGANIZATIONS = ("Google Inc.", "Microsoft Corporation")
EVIDENCE_DAYS = 20


def stack_yaml() -> dict[str, Any]:
    return {
        "config": {
            "mta-sts:cloudflareAccountId": "0123456789abcdef0123456789abcdef",
            "mta-sts:defaults": {"mode": "testing", "mx": [MX], "reports": "builtin"},
            "mta-sts:reports": {"host": f"tlsrpt.{ZONE}"},
            "mta-sts:readiness": {"minDays": 14, "minOrganizations": 2, "maxFailureRate": 0.0},
            "mta-sts:domains": {name: {} for name in DOMAINS},
        }
    }


def report(domain: str, organization: str, day: int, failures: str) -> bytes:
    """The RFC 8460 example fixture, re-addressed: ``domain``, sent by ``organization`` for the
    day ``day`` days ago, with failure details none, at the domain's MX ("own"), elsewhere, only a
    failure total of 500 ("total"), or 7 failures naming only the MX's address ("ip")."""
    doc = json.loads(fixture("rfc8460-example.json"))
    start = datetime.datetime.now(datetime.UTC).replace(microsecond=0) - datetime.timedelta(days=day)
    doc["organization-name"] = organization
    doc["report-id"] = f"{domain}-{organization}-{day}"
    doc["date-range"] = {
        "start-datetime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end-datetime": (start + datetime.timedelta(days=1, seconds=-1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    policy = doc["policies"][0]
    policy["policy"]["policy-domain"] = domain
    policy["policy"]["mx-host"] = [MX]
    details = copy.deepcopy(policy["failure-details"])
    if failures == "none":
        policy["failure-details"] = []
        policy["summary"]["total-failure-session-count"] = 0
    elif failures == "own":
        details[0]["receiving-mx-hostname"] = MX  # certificate-expired, 100 sessions
        policy["failure-details"] = details
    elif failures == "total":
        del policy["failure-details"]  # Microsoft-style: the count alone
        policy["summary"]["total-failure-session-count"] = 500
    elif failures == "ip":
        policy["failure-details"] = [
            {"result-type": "validation-failure", "receiving-ip": MX_ADDRESS, "failed-session-count": 7}
        ]
        policy["summary"]["total-failure-session-count"] = 7
    # "elsewhere": the example's own hosts, *.mail.company-y.example, none of them this domain's MX.
    return json.dumps(doc).encode()


@dataclass
class Lab:
    project: Path
    argv: list[str]
    env: dict[str, str]

    def readiness(self, *domains: str, as_json: bool = True) -> tuple[int, Any, str]:
        argv = [*self.argv, *domains, *(["--json"] if as_json else [])]
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=120)
        return done.returncode, json.loads(done.stdout) if as_json else done.stdout, done.stderr


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("readiness-lab")
    project = tmp / "project"
    project.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    (project / "Pulumi.t.yaml").write_text(yaml.safe_dump(stack_yaml()), encoding="utf-8")
    stack = load_stack(project, "t")
    pki = Pki(tmp)
    records = [(f"{MX}.", "A", MX_ADDRESS)]
    routes, contexts = {}, {}
    for d in stack.domains:
        records += [
            (f"{d.name}.", "MX", f"10 {MX}."),
            (f"_mta-sts.{d.name}.", "TXT", f'"{d.sts_record}"'),
            (f"_smtp._tls.{d.name}.", "TXT", f'"{d.tlsrpt_record}"'),
            (f"{d.policy_host}.", "A", "127.0.0.1"),
        ]
        routes[d.policy_host] = Route(body=d.policy_text.encode())
        contexts[d.policy_host] = pki.context(d.policy_host)
    https_port = free_port("127.0.0.1")
    smtp_port = free_port("127.0.0.1", [MX_ADDRESS])
    serve_port = free_port()
    env = {**os.environ, "MTASTS_REPORTS_TOKEN": TOKEN}
    serve = [
        sys.executable, "-m", "mtasts", "--project-dir", str(project), "serve", "--stack", "t",
        "--port", str(serve_port), "--state-dir", str(tmp / "state"),
    ]  # fmt: skip
    knot = KnotDns({ZONE: zone_text(ZONE, records)})
    https = HttpsServer(contexts, pki.context("default.invalid"), routes, port=https_port)
    smtp = SmtpServer(MX_ADDRESS, smtp_port, pki.context(MX), MX)
    with knot, https, smtp:
        process, _ = start_serve(serve, env=env)
        try:
            base = f"http://127.0.0.1:{serve_port}"
            argv = [
                sys.executable, "-m", "mtasts", "--project-dir", str(project), "readiness", "--stack", "t",
                "--endpoint", base, "--nameserver", knot.address, "--ca-bundle", str(pki.ca_file),
                "--https-port", str(https.port), "--smtp-port", str(smtp_port), "--timeout", "2",
            ]  # fmt: skip
            yield Lab(project, argv, env)
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=30)


def post_reports(
    lab: Lab, domain: str, failures: str, organizations: tuple[str, ...] = ORGANIZATIONS
) -> None:
    """Daily reports for ``domain`` from each organization, dated 1 to EVIDENCE_DAYS days back."""
    base = lab.argv[lab.argv.index("--endpoint") + 1]
    with httpx.Client(timeout=30) as client:
        for organization in organizations:
            for day in (EVIDENCE_DAYS, EVIDENCE_DAYS // 2, 1):
                kind = failures if day == 1 else "none"
                answer = client.post(
                    f"{base}/v1/tlsrpt",
                    content=report(domain, organization, day, kind),
                    headers={"Content-Type": "application/tlsrpt+json"},
                )
                assert answer.status_code == 201, answer.text


def checks(document: Any, domain: str) -> dict[str, tuple[str, str]]:
    """check → (severity, reason) of one domain's verdict (the last finding of each check)."""
    return {f["check"]: (f["severity"], f["reason"]) for f in document["domains"][domain]["findings"]}


@pytest.fixture(scope="module")
def verdicts(lab: Lab) -> tuple[int, Any, str]:
    """readiness over every domain, after the reports of each scenario were posted to the receiver."""
    post_reports(lab, CLEAN, "none")
    post_reports(lab, FAILING, "own")
    post_reports(lab, ELSEWHERE, "elsewhere")
    post_reports(lab, TOTAL_ONLY, "total")
    post_reports(lab, IP_ONLY, "ip")
    return lab.readiness()


def test_verify_is_clean_for_every_domain(verdicts: tuple[int, Any, str]) -> None:
    """The lab's domains pass verify (policy, MX coverage, STARTTLS): only reports decide below."""
    status, document, err = verdicts
    for name in DOMAINS:
        assert checks(document, name)["verify"] == ("ok", "verify clean: policy, MX coverage, STARTTLS"), err


def test_no_reports_is_not_ready_said_plainly(lab: Lab, verdicts: tuple[int, Any, str]) -> None:
    """A domain the receiver has no report for: NOT READY, "no TLS reports at all", exit 1."""
    status, document, _ = verdicts
    assert status == 1 and document["ready"] is False
    assert document["domains"][QUIET]["ready"] is False
    assert checks(document, QUIET)["reports"] == (
        "error",
        f"no TLS reports at all for {QUIET}: no evidence, so not ready",
    )
    code, text, _ = lab.readiness(QUIET, as_json=False)
    assert code == 1 and text.startswith(f"{QUIET}: NOT READY for enforce")


def test_clean_reports_from_enough_organizations_are_ready(lab: Lab, verdicts: tuple[int, Any, str]) -> None:
    """20 days (by date-range) from 2 organizations, no failure: every report check passes, exit 0."""
    _, document, _ = verdicts
    assert document["domains"][CLEAN]["ready"] is True
    found = checks(document, CLEAN)
    assert found["report-days"][0] == "ok"
    assert found["report-days"][1].startswith(f"{EVIDENCE_DAYS} day(s) of reports since ")
    assert found["report-organizations"] == ("ok", "reports from Google Inc., Microsoft Corporation")
    assert found["report-failures"] == (
        "ok",
        "0 of 31956 sessions failed (by MX name 0, by IP 0, unattributed 0)",
    )
    code, alone, err = lab.readiness(CLEAN)
    assert code == 0 and alone["ready"] is True, err


def test_failures_at_the_domains_own_mx_are_not_ready(verdicts: tuple[int, Any, str]) -> None:
    """certificate-expired at the domain's MX: NOT READY, naming the MX, the result type and the placing."""
    _, document, _ = verdicts
    assert document["domains"][FAILING]["ready"] is False
    severity, reason = checks(document, FAILING)["report-failures"]
    assert severity == "error"
    assert f"certificate-expired at {MX} (200 sessions; by MX name: matches {MX})" in reason
    assert reason.startswith("606 of 32562 sessions failed (by MX name 200, by IP 0, unattributed 406)")


def test_failures_at_hosts_no_pattern_names_count(verdicts: tuple[int, Any, str]) -> None:
    """Failures only at hosts the policy does not name: NOT READY, each one said to be unattributed."""
    _, document, _ = verdicts
    assert document["domains"][ELSEWHERE]["ready"] is False
    severity, reason = checks(document, ELSEWHERE)["report-failures"]
    assert severity == "error" and "(by MX name 0, by IP 0, unattributed 606)" in reason
    assert "mx1.mail.company-y.example (200 sessions; unattributed: the MX name matches no pattern" in reason


def test_a_failure_total_without_details_is_not_ready(verdicts: tuple[int, Any, str]) -> None:
    """500 failed sessions a day from two organizations, no failure details: NOT READY, unattributed."""
    _, document, _ = verdicts
    assert document["domains"][TOTAL_ONLY]["ready"] is False
    severity, reason = checks(document, TOTAL_ONLY)["report-failures"]
    assert severity == "error" and "(by MX name 0, by IP 0, unattributed 1000)" in reason
    sessions = document["domains"][TOTAL_ONLY]["sessions"]
    assert sessions["failed"] == 1000 and sessions["attribution"]["unattributed"] == 1000


def test_failures_naming_only_the_mx_address_are_placed_by_ip(verdicts: tuple[int, Any, str]) -> None:
    """Failures with only receiving-ip, the address of the domain's one MX: NOT READY, placed by IP."""
    _, document, _ = verdicts
    assert document["domains"][IP_ONLY]["ready"] is False
    severity, reason = checks(document, IP_ONLY)["report-failures"]
    assert severity == "error" and "(by MX name 0, by IP 14, unattributed 0)" in reason
    assert f"validation-failure at {MX_ADDRESS} (14 sessions; by IP: an address of MX host {MX})" in reason


def test_one_organization_is_not_enough(lab: Lab, verdicts: tuple[int, Any, str]) -> None:
    """Clean reports from a single organization: not ready, the count and the threshold named."""
    post_reports(lab, QUIET, "none", organizations=("Google Inc.",))
    code, document, _ = lab.readiness(QUIET)
    assert code == 1
    severity, reason = checks(document, QUIET)["report-organizations"]
    assert severity == "error"
    assert reason == "reports from 1 organization(s) (Google Inc.); readiness wants 2"
