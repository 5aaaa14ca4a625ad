"""`plan --check-mx`: an enforce policy that leaves out a live MX host stops the deploy."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mtasts.commands.cli import main
from tests.conftest import ACCOUNT, ROOT
from tests.servers import KnotDns, Lab, SilentDns, TinyDns, zone_text

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ZONE = "mxcheck.test"


def fq(label: str) -> str:
    return f"{label}.{ZONE}"


RECORDS = [
    ("covered", "MX", "10 a.mail.mxcheck.test."),
    ("covered", "MX", "20 b.mail.mxcheck.test."),
    ("missing", "MX", "10 a.mail.mxcheck.test."),
    ("missing", "MX", "20 backup.other.test."),
    ("missing-testing", "MX", "10 backup.other.test."),
    ("null", "MX", "0 ."),
    ("nomx", "TXT", '"no mail here"'),
    ("off", "MX", "10 backup.other.test."),
    ("loop", "CNAME", "loop2.mxcheck.test."),
    ("loop2", "CNAME", "loop.mxcheck.test."),
]
DOMAINS = {
    fq("covered"): {"mode": "enforce", "mx": ["*.mail.mxcheck.test"]},
    fq("missing"): {"mode": "enforce", "mx": ["*.mail.mxcheck.test"]},
    fq("missing-testing"): {"mode": "testing", "mx": ["*.mail.mxcheck.test"]},
    fq("null"): {"mode": "enforce", "mx": ["*.mail.mxcheck.test"]},
    fq("nomx"): {"mode": "enforce", "mx": ["*.mail.mxcheck.test"]},
    fq("absent"): {"mode": "enforce", "mx": ["*.mail.mxcheck.test"]},
    fq("off"): {"mode": "none", "mx": []},
}
DOMAIN_COVERED = DOMAINS[fq("covered")]


@pytest.fixture(scope="module")
def knot(lab: Lab) -> KnotDns:
    return lab.dns({ZONE: zone_text(ZONE, RECORDS)})


def project(tmp_path: Path, domains: dict[str, dict[str, object]]) -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    stack = {
        "config": {
            "mta-sts:cloudflareAccountId": ACCOUNT,
            "mta-sts:defaults": {"tlsrpt": ["mailto:tlsrpt@example.net"]},
            "mta-sts:domains": domains,
        }
    }
    (tmp_path / "Pulumi.t.yaml").write_text(yaml.safe_dump(stack))
    return tmp_path


def check(
    tmp_path: Path, knot: KnotDns, capsys: pytest.CaptureFixture[str], domains: dict[str, dict[str, object]]
) -> tuple[int, dict[str, str]]:
    """Run plan --check-mx; return the exit status and each domain's finding line."""
    status = main(
        [
            "--project-dir", str(project(tmp_path, domains)),
            "plan", "--stack", "t", "--check-mx", "--nameserver", knot.address, "--timeout", "2",
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert captured.out.startswith("stack t:")
    lines = {}
    for line in captured.err.splitlines():
        severity, key, reason = line.split(": ", 2)
        lines[key.removeprefix("domains.").removesuffix(".mx")] = f"{severity}: {reason}"
    return status, lines


def test_each_live_mx_situation(tmp_path: Path, knot: KnotDns, capsys: pytest.CaptureFixture[str]) -> None:
    """Covered, uncovered (enforce and testing), null, missing and absent MX give the right verdicts."""
    status, lines = check(tmp_path, knot, capsys, DOMAINS)
    assert status == 1
    assert lines[fq("covered")].startswith("info: every live MX host is covered")
    assert lines[fq("missing")].startswith("error: live MX backup.other.test not covered")
    assert "senders would refuse to deliver there" in lines[fq("missing")]
    assert lines[fq("missing-testing")].startswith("warning: live MX backup.other.test not covered")
    assert lines[fq("null")] == f"info: {fq('null')} has a null MX (RFC 7505); nothing to compare"
    assert lines[fq("nomx")] == f"info: {fq('nomx')} has no MX record; nothing to compare"
    assert lines[fq("absent")].startswith("warning: ") and "does not exist" in lines[fq("absent")]
    assert fq("off") not in lines


def test_no_enforce_gap_exits_zero(tmp_path: Path, knot: KnotDns, capsys: pytest.CaptureFixture[str]) -> None:
    """Without an enforce policy missing a live MX host, the check passes (warnings alone exit 0)."""
    domains = {k: v for k, v in DOMAINS.items() if k != fq("missing")}
    status, lines = check(tmp_path, knot, capsys, domains)
    assert status == 0
    assert lines[fq("missing-testing")].startswith("warning: ")


def test_unreachable_dns_fails_an_enforce_domain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An enforce domain whose MX cannot be looked up fails the gate (exit 1), naming the reason."""
    status = main(
        [
            "--project-dir", str(project(tmp_path, {fq("covered"): DOMAIN_COVERED})),
            "plan", "--stack", "t", "--check-mx", "--nameserver", "127.0.0.1:9", "--timeout", "0.5",
        ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith(f"error: domains.{fq('covered')}.mx: MX lookup failed")
    assert "--allow-unknown-mx" in err


def test_allow_unknown_mx_makes_it_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With --allow-unknown-mx the same failed lookup is a warning and the gate passes."""
    status = main(
        [
            "--project-dir", str(project(tmp_path, {fq("covered"): DOMAIN_COVERED})),
            "plan", "--stack", "t", "--check-mx", "--nameserver", "127.0.0.1:9", "--timeout", "0.5",
            "--allow-unknown-mx",
        ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert status == 0
    assert err.startswith(f"warning: domains.{fq('covered')}.mx: MX lookup failed")


def test_bad_nameserver_is_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed --nameserver is one error line and exit 2."""
    status = main(
        [
            "--project-dir", str(project(tmp_path, {fq("covered"): DOMAINS[fq("covered")]})),
            "plan", "--stack", "t", "--check-mx", "--nameserver", "not-an-ip",
        ]
    )  # fmt: skip
    assert status == 2
    assert capsys.readouterr().err.startswith("error: --nameserver: 'not-an-ip'")


def test_silent_nameserver_fails_the_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A nameserver that never answers: enforce domains are errors naming the timeout, testing warnings."""
    domains = {fq("covered"): DOMAIN_COVERED, fq("missing-testing"): DOMAINS[fq("missing-testing")]}
    with SilentDns() as silent:
        status = main(
            [
                "--project-dir", str(project(tmp_path, domains)),
                "plan", "--stack", "t", "--check-mx", "--nameserver", silent.address, "--timeout", "0.5",
            ]
        )  # fmt: skip
    lines = capsys.readouterr().err.splitlines()
    assert status == 1
    covered, testing = fq("covered"), fq("missing-testing")
    assert lines == [
        f"error: domains.{covered}.mx: MX lookup failed ({covered} MX: no DNS answer within 0.5 s); "
        "not compared, and an enforce policy that might leave out an MX host loses mail: fix the cause, or "
        "pass --allow-unknown-mx",
        f"warning: domains.{testing}.mx: MX lookup failed ({testing} MX: no DNS answer within 0.5 s); "
        "not compared",
    ]


def test_cname_loop_is_named_and_fails_closed(
    tmp_path: Path, knot: KnotDns, capsys: pytest.CaptureFixture[str]
) -> None:
    """An enforce domain whose name is a CNAME loop fails the gate with the loop named, not SERVFAIL."""
    status, lines = check(tmp_path, knot, capsys, {fq("loop"): DOMAIN_COVERED})
    assert status == 1
    assert (
        lines[fq("loop")].startswith("error: MX lookup failed") and "CNAME chain loops" in lines[fq("loop")]
    )


def test_many_domains_under_a_low_open_file_limit_are_all_looked_up(tmp_path: Path) -> None:
    """600 domains with `ulimit -n 64` and --concurrency 1000: every MX is looked up, none fails."""
    names = [f"d{i}.bulk.test" for i in range(600)]
    project(tmp_path, {n: {"mode": "enforce", "mx": ["mx.bulk.test"]} for n in names})
    with TinyDns("bulk.test") as server:
        code = (
            "import resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
            "from mtasts.commands.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n"
        )
        done = subprocess.run(
            [
                sys.executable, "-c", code, "--project-dir", str(tmp_path), "plan", "--stack", "t",
                "--check-mx", "--nameserver", server.address, "--timeout", "5", "--concurrency", "1000",
            ],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        queries = server.queries
    lines = done.stderr.splitlines()
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(lines) == 600 and all(line.startswith("info: ") and "covered" in line for line in lines)
    assert queries >= 600
