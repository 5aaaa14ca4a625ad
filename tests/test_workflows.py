"""The GitHub workflows, checked offline: schema, zizmor, and the delivery rules they must keep."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
BIN = ROOT / ".venv" / "bin"
FILES = sorted(WORKFLOWS.glob("*.yml"))
PINNED = re.compile(r"^\s*-?\s*uses: [\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def load(name: str) -> dict[Any, Any]:
    # PyYAML reads the key "on" as True (YAML 1.1); the schema check reads it as GitHub does.
    return yaml.safe_load((WORKFLOWS / name).read_text())


def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_the_three_workflows_exist() -> None:
    """preview, deploy and verify are the workflows, and nothing else hides beside them."""
    assert [f.name for f in FILES] == ["deploy.yml", "preview.yml", "verify.yml"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_schema(path: Path) -> None:
    """Each workflow validates against check-jsonschema's vendored GitHub workflow schema."""
    result = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("persona", ["regular", "auditor"])
def test_zizmor_has_no_findings(persona: str) -> None:
    """zizmor, offline and without any config or ignore comments, finds nothing, even as an auditor."""
    result = subprocess.run(
        [
            BIN / "zizmor",
            "--offline",
            "--no-config",
            "--no-ignores",
            "--persona",
            persona,
            "--format",
            "json",
            WORKFLOWS,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_by_sha(path: Path) -> None:
    """Every uses: names a full commit SHA followed by its release tag."""
    lines = [line for line in path.read_text().splitlines() if "uses:" in line]
    assert lines
    assert [line for line in lines if not PINNED.match(line)] == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_least_privilege(path: Path) -> None:
    """No permission at the top; each job asks for read, and only preview may write to PRs."""
    workflow = yaml.safe_load(path.read_text())
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        granted = job["permissions"]
        assert granted.get("contents") == "read", name
        writes = {scope for scope, level in granted.items() if level == "write"}
        assert writes == ({"pull-requests"} if path.name == "preview.yml" else set()), name


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_checkout_keeps_no_credentials(path: Path) -> None:
    """Every checkout sets persist-credentials: false."""
    checkouts = [
        s for s in steps(yaml.safe_load(path.read_text())) if "actions/checkout@" in s.get("uses", "")
    ]
    assert checkouts and all(s["with"]["persist-credentials"] is False for s in checkouts)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_secrets_only_in_step_env(path: Path) -> None:
    """secrets.* appears only as an env: value of a step, never in run: or with:."""
    workflow = yaml.safe_load(path.read_text())
    for step in steps(workflow):
        assert "secrets." not in step.get("run", "")
        assert "secrets." not in json.dumps(step.get("with", {}))
        for value in step.get("env", {}).values():
            if "secrets." in str(value):
                assert re.fullmatch(r"\$\{\{ secrets\.[A-Z_]+ \}\}", value)
    for job in workflow["jobs"].values():
        assert "secrets." not in json.dumps({k: v for k, v in job.items() if k != "steps"})
    assert "secrets." not in json.dumps({k: v for k, v in workflow.items() if k != "jobs"})


def test_preview_runs_every_stack_with_the_pack_and_one_comment() -> None:
    """preview: a pull_request matrix over dev and prod, with the pack, editing one PR comment."""
    workflow = load("preview.yml")
    assert "pull_request" in workflow[True]
    job = workflow["jobs"]["preview"]
    assert job["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    (pulumi,) = [s for s in job["steps"] if "pulumi/actions@" in s.get("uses", "")]
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["policyPacks"] == "policies"
    assert pulumi["with"]["comment-on-pr"] is True and pulumi["with"]["edit-pr-comment"] is True
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    assert "pip install -r requirements.txt" in runs
    assert "pip install -r policies/requirements.txt" in runs


def test_deploy_runs_dev_then_prod_one_at_a_time() -> None:
    """deploy: on push to main, up dev, then up prod in environment prod; never two ups on a stack."""
    workflow = load("deploy.yml")
    assert workflow[True]["push"]["branches"] == ["main"]
    dev, prod = workflow["jobs"]["up-dev"], workflow["jobs"]["up-prod"]
    assert prod["needs"] == "up-dev" and prod["environment"] == "prod"
    for stack, job in (("dev", dev), ("prod", prod)):
        assert job["concurrency"] == {"group": f"pulumi-up-{stack}", "cancel-in-progress": False}
        (pulumi,) = [s for s in job["steps"] if "pulumi/actions@" in s.get("uses", "")]
        assert pulumi["with"]["command"] == "up" and pulumi["with"]["stack-name"] == stack
        assert pulumi["with"]["policyPacks"] == "policies"


def test_verify_runs_on_schedule_and_by_hand() -> None:
    """verify: a cron schedule and workflow_dispatch run `mtasts watch --stack prod` with its state
    restored and saved, after Pulumi's drift check (preview --refresh --expect-no-changes)."""
    workflow = load("verify.yml")
    assert workflow[True]["schedule"][0]["cron"] and "workflow_dispatch" in workflow[True]
    job_steps = steps(workflow)
    runs = [s.get("run", "") for s in job_steps]
    assert any(re.search(r"python -m mtasts watch --stack prod --state (\S+)", run) for run in runs)
    (drift,) = [s for s in job_steps if "pulumi/actions@" in s.get("uses", "")]
    assert drift["with"]["command"] == "preview" and drift["with"]["expect-no-changes"] is True
    assert drift["with"]["refresh"] is True and drift["continue-on-error"] is True
    uses = [s.get("uses", "").split("@")[0] for s in job_steps]
    order = [uses.index(a) for a in ("actions/cache/restore", "pulumi/actions", "actions/cache/save")]
    assert order == sorted(order)
    (save,) = [s for s in job_steps if s.get("uses", "").startswith("actions/cache/save@")]
    assert save["if"] == "always()"
