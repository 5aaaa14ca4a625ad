"""The GitHub workflows, checked offline: schema, zizmor, and the delivery rules they must keep."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
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
    """No permission at the top; each job asks for read, and only the preview job may write to PRs."""
    workflow = yaml.safe_load(path.read_text())
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        granted = job["permissions"]
        assert granted.get("contents") == "read", name
        writes = {scope for scope, level in granted.items() if level == "write"}
        assert writes == ({"pull-requests"} if (path.name, name) == ("preview.yml", "preview") else set()), (
            name
        )


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


def test_preview_runs_the_touched_stacks_with_the_pack_and_one_comment() -> None:
    """preview: a pull_request matrix over the stacks `fleet touched` names, with the pack,
    editing one PR comment; no matrix when the list is empty."""
    workflow = load("preview.yml")
    assert "pull_request" in workflow[True]
    job = workflow["jobs"]["preview"]
    assert job["needs"] == "touched"
    assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.touched.outputs.stacks) }}"
    assert job["if"] == "needs.touched.outputs.stacks != '[]'"
    assert job["strategy"]["fail-fast"] is False
    (pulumi,) = [s for s in job["steps"] if "pulumi/actions@" in s.get("uses", "")]
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"
    assert pulumi["with"]["policyPacks"] == "policies"
    assert pulumi["with"]["comment-on-pr"] is True and pulumi["with"]["edit-pr-comment"] is True
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    assert "pip install -r requirements.txt" in runs
    assert "pip install -r policies/requirements.txt" in runs
    touched = workflow["jobs"]["touched"]
    (step,) = [s for s in touched["steps"] if s.get("id") == "touched"]
    assert 'mtasts fleet touched --base "$BASE" --json' in step["run"]
    assert step["env"]["BASE"] == "${{ github.event.pull_request.base.sha }}"
    assert touched["outputs"]["stacks"] == "${{ steps.touched.outputs.stacks }}"


def in_flight(job: dict[str, Any]) -> int:
    """Pulumi operations at once over every stack a job runs: stacks in flight x parallel each."""
    (pulumi,) = [s for s in job["steps"] if "pulumi/actions@" in s.get("uses", "")]
    stacks = job.get("strategy", {}).get("max-parallel", 1)
    return int(stacks) * int(pulumi["with"]["parallel"])


def test_stacks_in_flight_times_parallel_fit_the_api_limit() -> None:
    """Every stack shares one token and Cloudflare's limit is per user (4 requests a second): the
    preview matrix and the deploy matrix each keep at most 4 operations in flight, and dev (which
    runs before the others, alone) as many."""
    assert in_flight(load("preview.yml")["jobs"]["preview"]) == 4
    deploy = load("deploy.yml")["jobs"]
    assert in_flight(deploy["up"]) == 4 and in_flight(deploy["up-dev"]) == 4


def test_the_touched_jobs_check_the_fleet_first() -> None:
    """Before naming stacks, preview and deploy run `mtasts fleet check` when there is a fleet."""
    for name in ("preview.yml", "deploy.yml"):
        job = load(name)["jobs"]["touched"]
        runs = [s.get("run", "") for s in job["steps"]]
        check = next(i for i, run in enumerate(runs) if "mtasts fleet check" in run)
        touched = next(i for i, run in enumerate(runs) if "mtasts fleet touched" in run)
        assert check < touched and "if [ -f fleet.yaml ]" in runs[check], name


def test_deploy_runs_dev_then_the_touched_stacks_one_up_per_stack() -> None:
    """deploy: on push to main, up dev when touched, then a matrix over the other touched stacks in
    environment prod, after dev succeeded or was skipped; never two ups on a stack, and one failing
    stack never cancels another's up."""
    workflow = load("deploy.yml")
    assert workflow[True]["push"]["branches"] == ["main"]
    dev, up = workflow["jobs"]["up-dev"], workflow["jobs"]["up"]
    assert dev["needs"] == "touched" and dev["if"] == "needs.touched.outputs.dev == 'true'"
    assert up["needs"] == ["touched", "up-dev"] and up["environment"] == "prod"
    assert "needs.up-dev.result == 'success' || needs.up-dev.result == 'skipped'" in up["if"]
    assert "needs.touched.outputs.stacks != '[]'" in up["if"] and "!cancelled()" in up["if"]
    assert up["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.touched.outputs.stacks) }}"
    assert up["strategy"]["fail-fast"] is False
    for stack, job in (("dev", dev), ("${{ matrix.stack }}", up)):
        assert job["concurrency"] == {"group": f"pulumi-up-{stack}", "cancel-in-progress": False}
        assert job["timeout-minutes"] == 360
        (pulumi,) = [s for s in job["steps"] if "pulumi/actions@" in s.get("uses", "")]
        assert pulumi["with"]["command"] == "up" and pulumi["with"]["stack-name"] == stack
        assert pulumi["with"]["policyPacks"] == "policies"


def run_touched_step(workflow: str, tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    """The touched job's last step, run by bash in a git repository in ``tmp_path`` with this
    checkout's .venv; returns what it wrote to GITHUB_OUTPUT."""
    (step,) = [s for s in load(workflow)["jobs"]["touched"]["steps"] if s.get("id") == "touched"]
    output = tmp_path / "output.txt"
    summary = tmp_path / "summary.md"
    done = subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=tmp_path / "repo",
        env={**os.environ, **env, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return dict(line.split("=", 1) for line in output.read_text().splitlines())


def git_repo(tmp_path: Path) -> tuple[Path, Callable[..., str]]:
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", repo / "Pulumi.yaml")
    (repo / ".venv").symlink_to(ROOT / ".venv")
    (repo / ".gitignore").write_text(".venv\n")

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout

    git("init", "-q", "-b", "main")
    git("config", "user.email", "ops@example.com")
    git("config", "user.name", "ops")
    return repo, git


def test_the_deploy_touched_step_splits_dev_from_the_matrix(tmp_path: Path) -> None:
    """deploy's touched step, run for real: a push changing dev and prod outputs dev=true and
    the matrix ["prod"]; a push changing only docs outputs dev=false and []."""
    repo, git = git_repo(tmp_path)
    for stack in ("dev", "prod"):
        shutil.copy(ROOT / f"Pulumi.{stack}.yaml", repo / f"Pulumi.{stack}.yaml")
    git("add", "-A")
    git("commit", "-q", "-m", "stacks")
    before = git("rev-parse", "HEAD").strip()
    for stack in ("dev", "prod"):
        path = repo / f"Pulumi.{stack}.yaml"
        path.write_text(path.read_text() + "# changed\n")
    git("commit", "-qam", "both")
    assert run_touched_step("deploy.yml", tmp_path, {"BEFORE": before}) == {
        "dev": "true",
        "stacks": '["prod"]',
    }
    (repo / "notes.md").write_text("x\n")
    git("add", "-A")
    git("commit", "-qm", "notes")
    assert run_touched_step("deploy.yml", tmp_path, {"BEFORE": "HEAD~1"}) == {"dev": "false", "stacks": "[]"}


def test_the_preview_touched_step_names_every_stack_when_the_program_changed(tmp_path: Path) -> None:
    """preview's touched step, run for real: __main__.py changed since the base: every stack."""
    repo, git = git_repo(tmp_path)
    for stack in ("dev", "prod"):
        shutil.copy(ROOT / f"Pulumi.{stack}.yaml", repo / f"Pulumi.{stack}.yaml")
    git("add", "-A")
    git("commit", "-q", "-m", "stacks")
    base = git("rev-parse", "HEAD").strip()
    (repo / "__main__.py").write_text("# the program\n")
    git("add", "-A")
    git("commit", "-qm", "program")
    assert run_touched_step("preview.yml", tmp_path, {"BASE": base}) == {"stacks": '["dev","prod"]'}


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


def test_the_pulumi_cli_is_pinned_to_the_sdk_pin() -> None:
    """Every pulumi/actions step installs the CLI version requirements.txt pins the SDK at."""
    pins = dict(
        line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line
    )
    for name in ("preview.yml", "deploy.yml", "verify.yml"):
        actions = [s for s in steps(load(name)) if "pulumi/actions@" in s.get("uses", "")]
        assert actions and {str(s["with"].get("pulumi-version")) for s in actions} == {pins["pulumi"]}, name


def test_deploy_reviews_a_push_as_a_pull_request_is_reviewed() -> None:
    """deploy: before each up, plan --base against the pushed-over commit (full history, reports
    token), then the API budget, for dev and for every stack of the matrix."""
    workflow = load("deploy.yml")
    for stack, job in (("dev", workflow["jobs"]["up-dev"]), ('"$STACK"', workflow["jobs"]["up"])):
        names = [s.get("name", "") for s in job["steps"]]
        review = next(s for s in job["steps"] if "--base" in s.get("run", ""))
        assert f'mtasts plan --stack {stack} --base "$base"' in review["run"]
        assert review["env"]["BEFORE"] == "${{ github.event.before }}"
        assert review["env"]["MTASTS_REPORTS_TOKEN"] == "${{ secrets.MTASTS_REPORTS_TOKEN }}"
        assert names.index(review["name"]) < names.index("API budget") < names.index("pulumi up")
        checkout = next(s for s in job["steps"] if "actions/checkout@" in s.get("uses", ""))
        assert checkout["with"]["fetch-depth"] == 0
        for step in job["steps"]:
            if '"$STACK"' in step.get("run", ""):
                assert step["env"]["STACK"] == "${{ matrix.stack }}", step["name"]


def test_the_preview_review_has_the_reports_token() -> None:
    """preview: plan --base reads the receiver for readiness, so its step gets MTASTS_REPORTS_TOKEN."""
    [review] = [s for s in steps(load("preview.yml")) if s.get("id") == "review"]
    assert review["env"]["MTASTS_REPORTS_TOKEN"] == "${{ secrets.MTASTS_REPORTS_TOKEN }}"
