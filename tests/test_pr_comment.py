"""The pull-request comment of ``plan --base``, built exactly as ``preview.yml`` builds it: its
review step's own script, run by bash in a git repository, with ``gh`` recorded instead of
called. Its heading, its last line and the step's exit status are one verdict."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ACCOUNT, ROOT
from tests.servers import KnotDns, zone_text

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ZONE = "comment.test"


def review_step() -> dict[str, Any]:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "preview.yml").read_text())
    [step] = [s for s in workflow["jobs"]["preview"]["steps"] if s.get("id") == "review"]
    return step  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def knot() -> Iterator[KnotDns]:
    records = [("live", "MX", f"10 mx1.{ZONE}."), ("live", "MX", f"20 mx2.{ZONE}.")]
    with KnotDns({ZONE: zone_text(ZONE, records)}) as server:
        yield server


def executable(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


class Checkout:
    """A repository as the runner checks it out: the project, its .venv, and a recording ``gh``."""

    def __init__(self, path: Path, nameserver: str) -> None:
        self.path = path
        shutil.copy(ROOT / "Pulumi.yaml", path / "Pulumi.yaml")
        (path / ".venv" / "bin").mkdir(parents=True)
        # The runner's .venv has the package installed; this one is ours, pointed at the lab's DNS.
        executable(
            path / ".venv" / "bin" / "python",
            f'#!/bin/sh\nexec {sys.executable} "$@" --nameserver {nameserver}\n',
        )
        self.bin = path / "stub-bin"
        self.bin.mkdir()
        self.posted = path / "posted.md"
        # `gh api --paginate …` (an earlier comment?) prints nothing; `… -F body=@f` posts f.
        executable(
            self.bin / "gh",
            "#!/bin/sh\n"
            'for arg in "$@"; do case "$arg" in body=@*) cp "${arg#body=@}" '
            f'"{self.posted}";; esac; done\n',
        )
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.email", "ops@example.com")
        self.git("config", "user.name", "ops")

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=self.path, capture_output=True, text=True, check=True
        ).stdout

    def write(self, domains: dict[str, Any]) -> None:
        config = {
            "config": {
                "mta-sts:cloudflareAccountId": ACCOUNT,
                "mta-sts:defaults": {"mx": [f"mx1.{ZONE}"], "tlsrpt": ["mailto:r@example.net"]},
                "mta-sts:domains": domains,
            }
        }
        (self.path / "Pulumi.t.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")

    def commit(self, domains: dict[str, Any]) -> str:
        self.write(domains)
        self.git("add", "Pulumi.yaml", "Pulumi.t.yaml")
        self.git("commit", "-q", "-m", "stack")
        return self.git("rev-parse", "HEAD").strip()

    def run_step(self, base: str) -> tuple[int, str, str]:
        """The review step's script under bash -eo pipefail, as GitHub runs it: (status, comment, outputs)."""
        step = review_step()
        output, summary = self.path / "output.txt", self.path / "summary.md"
        env = {
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "HOME": str(self.path),
            "STACK": "t",
            "BASE": base,
            "PR": "7",
            "GH_TOKEN": "x",
            "MTASTS_REPORTS_TOKEN": "",
            "GITHUB_REPOSITORY": "example/mta-sts",
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
        }
        assert set(step["env"]) <= set(env)  # every variable the step declares is set here
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=self.path, env=env, capture_output=True, text=True, timeout=150,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr  # the step itself posts; the verdict fails the job later
        return done.returncode, self.posted.read_text(), output.read_text()


@pytest.fixture
def checkout(tmp_path: Path, knot: KnotDns) -> Checkout:
    return Checkout(tmp_path, knot.address)


def test_a_change_that_drops_a_live_mx_fails_in_heading_text_and_status(checkout: Checkout) -> None:
    """Dropping a live MX from an enforce policy: "fails (exit 1)", the finding in the list, FAIL last."""
    base = checkout.commit({f"live.{ZONE}": {"mode": "enforce", "mx": [f"mx1.{ZONE}", f"mx2.{ZONE}"]}})
    checkout.write({f"live.{ZONE}": {"mode": "enforce", "mx": [f"mx1.{ZONE}"]}})
    _, comment, outputs = checkout.run_step(base)
    assert "status=1" in outputs.splitlines()
    assert "#### `mtasts plan --base` on t fails (exit 1): what changes for senders" in comment
    assert f"error: domains.live.{ZONE}.mx: live MX mx2.{ZONE} not covered" in comment
    body = comment.split("```text\n")[1].split("```")[0].rstrip().splitlines()
    assert body[-1] == "FAIL: 1 error(s): this change can lose mail or strand cached policies"
    assert "OK" not in "\n".join(body)


def test_an_unrelated_change_beside_an_old_problem_passes_and_says_so(checkout: Checkout) -> None:
    """An MX never covered at the base, the PR changes another domain: "passes", the old problem named."""
    broken = {"mode": "enforce", "mx": [f"mx1.{ZONE}"]}
    base = checkout.commit({f"live.{ZONE}": broken, "other.example": {"mode": "testing"}})
    checkout.write({f"live.{ZONE}": broken, "other.example": {"mode": "testing", "maxAge": 1209600}})
    _, comment, outputs = checkout.run_step(base)
    assert "status=0" in outputs.splitlines()
    assert "#### `mtasts plan --base` on t passes: what changes for senders" in comment
    assert (
        f"warning: domains.live.{ZONE}.mx: already so at the base, not caused by this change: live MX mx2"
        in comment
    )
    body = comment.split("```text\n")[1].split("```")[0].rstrip().splitlines()
    assert body[-1] == "OK: nothing in this change can lose mail (1 problem(s) already at the base)"
    assert "error" not in "\n".join(body)
