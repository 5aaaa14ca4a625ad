"""`python -m mtasts plan`: offline output, JSON shape, and one-line errors."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mtasts.rfc.policy import parse_policy
from mtasts.rfc.records import parse_sts_record, parse_tlsrpt_record
from tests.conftest import ROOT


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mtasts", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def write_stack(project: Path, text: str, name: str = "t") -> None:
    (project / f"Pulumi.{name}.yaml").write_text(text)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_json_plan_is_self_consistent(stack: str) -> None:
    """Each domain's policy parses, its id is SHA-256 of the policy bytes, and its TXT records parse."""
    result = run("plan", "--stack", stack, "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["stack"] == stack and plan["domains"]
    for name, domain in plan["domains"].items():
        policy = parse_policy(domain["policy"])
        assert policy.mode == domain["mode"]
        assert domain["policyId"] == hashlib.sha256(domain["policy"].encode()).hexdigest()[:32]
        by_name = {r["name"]: r for r in domain["records"]}
        sts = by_name[f"_mta-sts.{name}"]
        assert sts["type"] == "TXT"
        assert parse_sts_record(sts["content"]).id == domain["policyId"]
        if f"_smtp._tls.{name}" in by_name:
            parse_tlsrpt_record(by_name[f"_smtp._tls.{name}"]["content"])
        assert set(domain) >= {"hosting", "mode", "policy", "policyId", "records", "warnings"}


def test_dev_stack_covers_each_mode_and_hosting() -> None:
    """The dev stack shows every mode, both hostings and external DNS."""
    plan = json.loads(run("plan", "--stack", "dev", "--json").stdout)["domains"]
    assert {d["mode"] for d in plan.values()} == {"testing", "enforce", "none"}
    assert {d["hosting"] for d in plan.values()} == {"cloudflare-worker", "github-pages"}
    assert "external" in {d["dns"] for d in plan.values()}


def test_human_plan_shows_policy_id_and_zone_lines() -> None:
    """The readable plan prints each domain's policy lines, id and zone-file records."""
    result = run("plan", "--stack", "dev")
    assert result.returncode == 0
    plan = json.loads(run("plan", "--stack", "dev", "--json").stdout)["domains"]
    for name, domain in plan.items():
        assert f"== {name} " in result.stdout
        assert domain["policyId"] in result.stdout
        assert f'_mta-sts.{name}.\t300\tIN\tTXT\t"v=STSv1; id={domain["policyId"]}"' in result.stdout


def test_plan_is_deterministic() -> None:
    """Two runs of plan print the same bytes."""
    assert run("plan", "--stack", "dev", "--json").stdout == run("plan", "--stack", "dev", "--json").stdout


@pytest.mark.parametrize(
    ("stack_text", "expected"),
    [
        (
            "config:\n  mta-sts:cloudflareAccountId: 0123456789abcdef0123456789abcdef\n"
            "  mta-sts:domains:\n    example.com:\n      maxage: 5\n      mx: [mx.example.com]\n",
            "error: domains.example.com.maxage: unknown key; did you mean 'maxAge'?",
        ),
        (
            "config:\n  mta-sts:cloudflareAccountId: 0123456789abcdef0123456789abcdef\n"
            "  mta-sts:domains:\n    example.com:\n      mx: [mx.example.com, '*.*.example.com']\n",
            "error: domains.example.com.mx[1]: ",
        ),
        ("config:\n  mta-sts:domains: {}\n", "error: domains: declare at least one mail domain"),
        ("config: [\n", "error: Pulumi.t.yaml: is not valid YAML"),
    ],
)
def test_bad_config_one_line_exit_2(project: Path, stack_text: str, expected: str) -> None:
    """Bad config prints one error line naming the key on stderr, nothing on stdout, and exits 2."""
    write_stack(project, stack_text)
    result = subprocess.run(
        [sys.executable, "-m", "mtasts", "--project-dir", str(project), "plan", "--stack", "t"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(expected)


def test_missing_stack_file() -> None:
    """An unknown stack name is one error line and exit 2."""
    result = run("plan", "--stack", "no-such-stack")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: Pulumi.no-such-stack.yaml: no such stack file"


def test_secure_values_are_ignored(project: Path) -> None:
    """A secure: value (the API token) is not needed and does not break plan."""
    write_stack(
        project,
        "config:\n  cloudflare:apiToken:\n    secure: AAABAJ0xyz\n"
        "  mta-sts:cloudflareAccountId: 0123456789abcdef0123456789abcdef\n"
        "  mta-sts:domains:\n    example.com:\n      mx: [mx.example.com]\n",
    )
    result = subprocess.run(
        [sys.executable, "-m", "mtasts", "--project-dir", str(project), "plan", "--stack", "t", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert list(json.loads(result.stdout)["domains"]) == ["example.com"]


def test_plan_does_not_import_pulumi() -> None:
    """plan runs without importing pulumi or the provider SDKs."""
    code = (
        "import sys, io, contextlib\n"
        "from mtasts.commands.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['plan', '--stack', 'dev'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('pulumi')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stderr
