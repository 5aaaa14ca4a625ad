"""``mtasts reports`` against a local receiver, and ``mtasts serve`` running both Workers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mtasts.commands.cli import main
from mtasts.commands.reports import parse_duration
from mtasts.commands.shared.receiver import ReportsRefused, ReportsUnreachable, fetch_summary
from mtasts.model.config import load_stack
from mtasts.rfc.policy import POLICY_PATH
from tests.conftest import ROOT
from tests.reports_helpers import TOKEN, Receiver, fixture, receiver, report_json
from tests.servers import start_serve

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

STACK = """config:
  mta-sts:cloudflareAccountId: "00000000000000000000000000000000"
  mta-sts:defaults: {mx: [mx1.example.net], reports: builtin}
  mta-sts:reports: {host: tlsrpt.example.net, mailto: tlsrpt@reports.example.net}
  mta-sts:domains:
    company-y.example: {}
    example.com: {}
    example.org: {}
"""
DOMAIN_KEYS = {
    "reports",
    "organizations",
    "successful",
    "failed",
    "failures",
    "failuresOmitted",
    "firstReport",
    "lastReport",
    "byOrganization",
}


@pytest.fixture(scope="module")
def filled() -> Iterator[Receiver]:
    """A receiver holding the RFC example, the Microsoft-shaped mail and one broken report."""
    with receiver() as r:
        assert r.post(fixture("rfc8460-example.json"), "application/tlsrpt+json").status_code == 201
        assert r.mail(fixture("microsoft.eml")).status_code == 200
        assert r.post(fixture("broken-invalid.json"), "application/tlsrpt+json").status_code == 400
        yield r


@pytest.fixture
def stack_dir(write_stack: Callable[..., Path], project: Path) -> Path:
    write_stack(STACK)
    return project


def cli(project: Path, *argv: str) -> list[str]:
    return ["--project-dir", str(project), "reports", "--stack", "t", *argv]


def test_json_is_the_documented_shape(
    filled: Receiver, stack_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json: per domain reports, orgs, sessions, failures by type/MX/IP, first/last report; unparsed."""
    monkeypatch.setenv("MTASTS_REPORTS_TOKEN", TOKEN)
    # Failed sessions and a silent builtin domain: exit 1 (cron alerts), naming them on stderr.
    assert main(cli(stack_dir, "--endpoint", filled.url, "--json")) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        "reports: failed sessions for company-y.example, example.org; no recent report from example.com\n"
    )
    out = json.loads(captured.out)
    assert set(out["domains"]) == {"company-y.example", "example.com", "example.org"}
    for entry in out["domains"].values():
        assert set(entry) == DOMAIN_KEYS
    org = out["domains"]["example.org"]
    assert (org["reports"], org["organizations"], org["successful"], org["failed"]) == (
        1,
        ["Microsoft Corporation"],
        88,
        14,
    )
    assert org["byOrganization"] == [
        {
            "organization": "Microsoft Corporation",
            "reports": 1,
            "successful": 88,
            "failed": 14,
            "lastReport": org["lastReport"],
        }
    ]
    assert org["failures"] == [
        {
            "resultType": "certificate-expired",
            "receivingMx": "mx1.example.org",
            "receivingIp": "192.0.2.25",
            "sessions": 9,
        },
        {
            "resultType": "starttls-not-supported",
            "receivingMx": "mx2.example.org",
            "receivingIp": "192.0.2.26",
            "sessions": 5,
        },
    ]
    assert datetime.fromisoformat(org["lastReport"]) > datetime.now(UTC) - timedelta(minutes=10)
    assert out["domains"]["example.com"]["lastReport"] is None
    # firstReport: the start of the earliest report's date-range (the Microsoft mail's), not its receipt.
    assert org["firstReport"] == "2026-11-27T00:00:00Z"
    assert out["domains"]["company-y.example"]["firstReport"] == "2016-04-01T00:00:00Z"
    assert out["domains"]["example.com"]["firstReport"] is None
    assert out["unparsed"] == 1
    assert out["silent"] == ["example.com"]


def test_text_is_an_aligned_table(
    filled: Receiver, stack_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table for people: a row per domain, numbers right-aligned under their headings, failure rate."""
    monkeypatch.setenv("MTASTS_REPORTS_TOKEN", TOKEN)
    assert main(cli(stack_dir, "--endpoint", filled.url)) == 1  # failures: see the JSON test
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("domain"))
    row = next(line for line in lines if line.startswith("company-y.example"))
    assert row.index("5326") + len("5326") == header.index("successful") + len("successful")
    assert "5.38%" in row  # 303 of 5629
    assert any("starttls-not-supported" in line and "203.0.113.56" in line for line in lines)
    assert "unparsed submissions: 1" in lines


def test_since_limits_to_recent_reports(
    filled: Receiver, stack_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--since 1h keeps what was just received; fetch_summary with a future since keeps nothing."""
    monkeypatch.setenv("MTASTS_REPORTS_TOKEN", TOKEN)
    assert main(cli(stack_dir, "--endpoint", filled.url, "--json", "--since", "1h")) == 1
    recent = json.loads(capsys.readouterr().out)
    assert recent["domains"]["example.org"]["reports"] == 1
    later = fetch_summary(filled.url, TOKEN, datetime.now(UTC) + timedelta(hours=1))
    assert later.domains["example.org"].reports == 0 and later.unparsed == 0


@pytest.mark.parametrize("text, seconds", [("30m", 1800), ("24h", 86400), ("7d", 604800), ("2w", 1209600)])
def test_durations(text: str, seconds: int) -> None:
    """--since takes a whole number and one unit."""
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["1000000w", "3651d", "99999999999999999999999s", "87601h"])
def test_durations_past_the_longest_retention_are_refused(text: str) -> None:
    """A --since beyond 3650 days is a ValueError naming the bound, never an OverflowError."""
    with pytest.raises(ValueError, match="must be at most 3650d"):
        parse_duration(text)
    assert parse_duration("3650d").days == 3650


@pytest.mark.parametrize("text", ["\u0663d", "\uff17d", "7\u00b2d"])
def test_durations_in_other_digits_are_refused(text: str) -> None:
    """Only ASCII digits are a --since number: an Arabic-Indic or full-width 7 is refused, as in noneSince."""
    with pytest.raises(ValueError, match="must be a positive whole number"):
        parse_duration(text)


@pytest.mark.parametrize(
    "argv, env, code, line",
    [
        (["--since", "soon"], TOKEN, 2, "error: --since: must be a positive whole number"),
        (["--since", "1000000w"], TOKEN, 2, "error: --since: must be at most 3650d"),
        ([], None, 2, "error: MTASTS_REPORTS_TOKEN: not set"),
        ([], "wrong", 2, "error: MTASTS_REPORTS_TOKEN: the receiver refused it (401"),
    ],
)
def test_usage_errors_are_one_line(
    filled: Receiver,
    stack_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env: str | None,
    code: int,
    line: str,
) -> None:
    """A bad --since, no token or a wrong token: one `error:` line on stderr, exit 2, nothing on stdout."""
    if env is None:
        monkeypatch.delenv("MTASTS_REPORTS_TOKEN", raising=False)
    else:
        monkeypatch.setenv("MTASTS_REPORTS_TOKEN", env)
    assert main(cli(stack_dir, "--endpoint", filled.url, *argv)) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1 and captured.err.startswith(line)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_endpoint_exits_1(
    stack_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nobody listening: one `error: endpoint:` line and exit 1; fetch_summary raises ReportsUnreachable."""
    monkeypatch.setenv("MTASTS_REPORTS_TOKEN", TOKEN)
    url = f"http://127.0.0.1:{free_port()}"
    assert main(cli(stack_dir, "--endpoint", url)) == 1
    assert capsys.readouterr().err.startswith("error: endpoint: cannot reach")
    with pytest.raises(ReportsUnreachable):
        fetch_summary(url, TOKEN)


def test_the_intake_url_works_as_the_endpoint(filled: Receiver) -> None:
    """fetch_summary takes the https URL plan --json shows (…/v1/tlsrpt) as well as the base URL."""
    assert fetch_summary(filled.url + "/v1/tlsrpt", TOKEN) == fetch_summary(filled.url + "/", TOKEN)


def test_fetch_summary_refuses_without_the_token(filled: Receiver) -> None:
    """fetch_summary raises ReportsRefused with the status when the token is wrong."""
    with pytest.raises(ReportsRefused) as info:
        fetch_summary(filled.url, "nope")
    assert info.value.status == 401


def test_a_stack_without_builtin_domains_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """prod has no reports: builtin domain: one line, exit 2."""
    assert main(["--project-dir", str(ROOT), "reports", "--stack", "prod"]) == 2
    assert capsys.readouterr().err.strip() == "error: reports: no domain of stack prod uses reports: builtin"


# --- serve ----------------------------------------------------------------------------------------


def test_serve_runs_both_workers_and_keeps_reports(tmp_path: Path) -> None:
    """serve --stack dev: policies by Host, reports by HTTPS and mail, `reports` reads them; SIGTERM ends."""
    port = free_port()
    state = tmp_path / "state"
    env = {**os.environ, "MTASTS_REPORTS_TOKEN": "serve-token"}
    argv = [
        sys.executable,
        "-m",
        "mtasts",
        "serve",
        "--stack",
        "dev",
        "--port",
        str(port),
        "--state-dir",
        str(state),
    ]
    process, out = start_serve(argv, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        assert f"https://tlsrpt.example.net/v1/tlsrpt is {base}/v1/tlsrpt" in out
        dev = load_stack(ROOT, "dev")
        policy = httpx.get(base + POLICY_PATH, headers={"Host": "mta-sts.example.com"})
        assert (policy.status_code, policy.text) == (200, dev.domain("example.com").policy_text)
        body = report_json("Serve Test", "serve-1", "dev.example.com", failures=2)
        posted = httpx.post(
            base + "/v1/tlsrpt",
            content=body,
            headers={"Content-Type": "application/tlsrpt+json", "Host": "tlsrpt.example.net"},
        )
        assert posted.status_code == 201
        mailed = httpx.post(
            base + "/cdn-cgi/handler/email",
            params={"from": "noreply-smtp-tls-reporting@google.com", "to": "tlsrpt@reports.example.net"},
            content=fixture("google.eml"),
        )
        assert mailed.status_code == 200
        read = subprocess.run(
            [sys.executable, "-m", "mtasts", "reports", "--stack", "dev", "--endpoint", base, "--json"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        # A report with failed sessions: exit 1 so cron alerts, the domain named on stderr.
        assert read.returncode == 1 and "failed sessions for dev.example.com" in read.stderr, read.stderr
        summary: dict[str, Any] = json.loads(read.stdout)
        assert summary["domains"]["dev.example.com"]["failed"] == 2
        assert summary["domains"]["example.com"]["organizations"] == ["Google Inc."]
    finally:
        process.send_signal(signal.SIGTERM)
        rest, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert any(state.rglob("*.sqlite")), "local D1 persisted under --state-dir"
