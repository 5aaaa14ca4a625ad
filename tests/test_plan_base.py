"""`plan --base GIT_REF`: what a stack change means for senders, on throwaway git repositories."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mtasts.commands.review import review
from mtasts.model.config import Deployment
from mtasts.model.findings import Finding, Severity
from tests.git_repo import GitProject
from tests.servers import KnotDns, Lab, zone_text

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "0123456789abcdef0123456789abcdef"
NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
DAY = datetime.timedelta(days=1)


def stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Repo(GitProject):
    """A git repository holding a Pulumi project with one stack file, ``Pulumi.t.yaml``."""

    def write(self, domains: dict[str, dict[str, Any]]) -> None:
        config = {
            "config": {
                "mta-sts:cloudflareAccountId": ACCOUNT,
                "mta-sts:defaults": {"mx": ["mx.example.com"], "tlsrpt": ["mailto:r@example.net"]},
                "mta-sts:domains": domains,
            }
        }
        (self.path / "Pulumi.t.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")

    def commit(self, domains: dict[str, dict[str, Any]], when: datetime.datetime | None = None) -> str:
        self.write(domains)
        return self.commit_all("stack", when=when)

    def plan(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mtasts", "plan", "--stack", "t", *args],
            cwd=self.path,
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


def test_added_and_changed_domains_are_described_for_senders(repo: Repo) -> None:
    """Mode, MX added and removed, max_age, hosting, records and the new id are printed; exit 0."""
    repo.commit({"a.example": {}, "b.example": {"mx": ["mx1.example.com", "mx2.example.com"]}})
    repo.write(
        {
            "a.example": {"mode": "none", "mx": [], "maxAge": 86400},
            "b.example": {"mx": ["mx1.example.com", "mx3.example.com"], "hosting": "github-pages"},
            "c.example": {},
        }
    )
    (repo.path / "Pulumi.t.yaml").write_text(
        (repo.path / "Pulumi.t.yaml").read_text() + "  github:owner: example-org\n", encoding="utf-8"
    )
    result = repo.plan("--base", "main")
    assert result.returncode == 0, result.stdout + result.stderr
    a, b = result.stdout.split("== a.example (changed)")[1].split("== b.example (changed)")
    assert "mode: testing → none" in a and "max_age: 604800 → 86400" in a and "mx - mx.example.com" in a
    b = b.split("== c.example")[0]
    assert "mx + mx3.example.com" in b and "mx - mx2.example.com" in b
    assert "hosting: cloudflare-worker → github-pages" in b
    assert "record - mta-sts.b.example.\t300\tIN\tAAAA\t100::" in b
    assert "record + mta-sts.b.example.\t300\tIN\tCNAME\texample-org.github.io" in b
    ids = [line for line in b.splitlines() if line.strip().startswith("id: ")]
    assert len(ids) == 1 and " → " in ids[0]
    assert "== c.example (added)" in result.stdout


def test_only_changes_are_listed_and_an_unchanged_stack_passes(repo: Repo) -> None:
    """With no change, plan --base exits 0 and says every domain is unchanged."""
    repo.commit({"a.example": {}, "b.example": {"mode": "enforce"}})
    result = repo.plan("--base", "HEAD")
    assert result.returncode == 0, result.stderr
    assert "0 added, 0 changed, 0 removed, 2 unchanged" in result.stdout
    assert "==" not in result.stdout


def test_removing_an_enforce_domain_directly_fails(repo: Repo) -> None:
    """Deleting an enforce domain from the stack exits 1 and names RFC 8461 §8.3."""
    repo.commit({"a.example": {}, "gone.example": {"mode": "enforce"}})
    repo.write({"a.example": {}})
    result = repo.plan("--base", "HEAD")
    assert result.returncode == 1
    assert "error: domains.gone.example: removed while in mode enforce" in result.stdout
    assert "§8.3" in result.stdout and "FAIL" in result.stdout


def test_removing_a_testing_domain_directly_fails(repo: Repo) -> None:
    """Testing is not none either: senders cached a policy; removal exits 1."""
    repo.commit({"a.example": {}, "gone.example": {}})
    repo.write({"a.example": {}})
    result = repo.plan("--base", "HEAD")
    assert result.returncode == 1 and "removed while in mode testing" in result.stdout


def test_a_properly_retired_domain_may_be_removed(repo: Repo) -> None:
    """enforce → none (noneSince) → removed once the old max_age has passed: exit 0."""
    repo.commit({"a.example": {}, "old.example": {"mode": "enforce", "maxAge": 604800}}, NOW - 30 * DAY)
    since = NOW - 10 * DAY
    repo.commit(
        {"a.example": {}, "old.example": {"mode": "none", "mx": [], "noneSince": stamp(since)}}, since
    )
    repo.write({"a.example": {}})
    result = repo.plan("--base", "HEAD")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: domains.old.example: retired properly" in result.stdout
    assert f"old max_age 604800 s passed at {stamp(since + 7 * DAY)}" in result.stdout


def test_removing_a_none_domain_before_the_old_max_age_fails(repo: Repo) -> None:
    """The wait is the max_age of the last version before none, read from git history."""
    repo.commit({"a.example": {}, "old.example": {"mode": "enforce", "maxAge": 604800}}, NOW - 30 * DAY)
    since = NOW - 3 * DAY
    # The none policy itself has a small max_age; the enforce policy's week still counts.
    repo.commit(
        {
            "a.example": {},
            "old.example": {"mode": "none", "mx": [], "maxAge": 86400, "noneSince": stamp(since)},
        },
        since,
    )
    repo.write({"a.example": {}})
    result = repo.plan("--base", "HEAD")
    assert result.returncode == 1
    assert "removed too early" in result.stdout
    assert f"until {stamp(since + 7 * DAY)}" in result.stdout


YEAR = 31557600


def test_an_unloadable_version_between_enforce_and_none_cannot_tell(repo: Repo) -> None:
    """A mistyped key in a version between enforce and none: "cannot tell", exit 1, naming the commit."""
    repo.commit({"a.example": {}, "old.example": {"mode": "enforce", "maxAge": YEAR}}, NOW - 400 * DAY)
    broken = repo.commit(
        {"a.example": {}, "old.example": {"mode": "enforce", "maxAge": YEAR, "mxx": ["x"]}}, NOW - 30 * DAY
    )
    since = NOW - 20 * DAY
    repo.commit(
        {
            "a.example": {},
            "old.example": {"mode": "none", "mx": [], "maxAge": 86400, "noneSince": stamp(since)},
        },
        since,
    )
    repo.write({"a.example": {}})
    result = repo.plan("--base", "HEAD")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "error: domains.old.example: cannot tell when it may go" in result.stdout
    assert f"the stack file at commit {broken} does not load" in result.stdout


def test_a_merged_side_branch_that_was_never_deployed_does_not_count(repo: Repo) -> None:
    """Only the first-parent line was live: a side branch's short max_age, merged away, is not the wait."""
    repo.commit({"a.example": {}, "old.example": {"mode": "enforce", "maxAge": YEAR}}, NOW - 400 * DAY)
    repo.git("checkout", "-q", "-b", "side")
    repo.commit({"a.example": {}, "old.example": {"mode": "enforce", "maxAge": 86400}}, NOW - 30 * DAY)
    repo.git("checkout", "-q", "main")
    since = NOW - 20 * DAY
    repo.commit(
        {"a.example": {}, "old.example": {"mode": "none", "mx": [], "noneSince": stamp(since)}}, since
    )
    # The merge keeps main's none and changes another domain, so it matches neither parent and a
    # walk by date would read the side branch's version as the last policy before none.
    repo.git("merge", "-q", "--no-commit", "-s", "ours", "side")
    repo.commit(
        {"a.example": {"maxAge": 3600}, "old.example": {"mode": "none", "mx": [], "noneSince": stamp(since)}},
        NOW - 19 * DAY,
    )
    repo.write({"a.example": {"maxAge": 3600}})
    result = repo.plan("--base", "HEAD")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "removed too early" in result.stdout
    until = since + datetime.timedelta(seconds=YEAR)
    assert f"max_age {YEAR} s" in result.stdout and f"until {stamp(until)}" in result.stdout


def test_a_max_age_shrink_just_before_none_still_waits_for_the_long_policy(repo: Repo) -> None:
    """A year of enforce, a day of max_age 86400, then none: senders may hold the year-long policy."""
    first = repo.commit(
        {"a.example": {}, "old.example": {"mode": "enforce", "maxAge": YEAR}}, NOW - 400 * DAY
    )
    repo.commit({"a.example": {}, "old.example": {"mode": "enforce", "maxAge": 86400}}, NOW - 4 * DAY)
    since = NOW - 3 * DAY
    repo.commit(
        {"a.example": {}, "old.example": {"mode": "none", "mx": [], "noneSince": stamp(since)}}, since
    )
    repo.write({"a.example": {}})
    result = repo.plan("--base", "HEAD")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"max_age {YEAR} s, the policy of commit {first[:12]}" in result.stdout


def test_a_long_policy_that_expired_before_none_does_not_hold_removal(repo: Repo) -> None:
    """A max_age of a day that ended more than a day before the short policy: only the later policy counts."""
    repo.commit({"a.example": {}, "old.example": {"mode": "enforce", "maxAge": 86400}}, NOW - 400 * DAY)
    repo.commit({"a.example": {}, "old.example": {"mode": "enforce", "maxAge": 3600}}, NOW - 300 * DAY)
    since = NOW - 10 * DAY
    repo.commit(
        {"a.example": {}, "old.example": {"mode": "none", "mx": [], "noneSince": stamp(since)}}, since
    )
    repo.write({"a.example": {}})
    result = repo.plan("--base", "HEAD")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "old max_age 3600 s passed" in result.stdout


def test_removing_a_none_domain_without_none_since_fails(repo: Repo) -> None:
    """Without noneSince the tool cannot tell when none went live: exit 1, saying which key to set."""
    repo.commit({"a.example": {}, "old.example": {"mode": "none", "mx": []}}, NOW - 90 * DAY)
    repo.write({"a.example": {}})
    result = repo.plan("--base", "HEAD")
    assert result.returncode == 1
    assert "removed without noneSince: set domains.old.example.noneSince" in result.stdout


def test_none_since_cannot_predate_the_commit_that_set_none(repo: Repo) -> None:
    """A backdated noneSince is raised to the commit date of the first none version."""
    repo.commit({"a.example": {}, "old.example": {"mode": "enforce", "maxAge": 86400}}, NOW - 400 * DAY)
    committed = NOW - datetime.timedelta(hours=2)
    repo.commit(
        {"a.example": {}, "old.example": {"mode": "none", "mx": [], "noneSince": "2020-01-01T00:00:00Z"}},
        committed,
    )
    repo.write({"a.example": {}})
    result = repo.plan("--base", "HEAD")
    assert result.returncode == 1
    assert f"mode none live since {stamp(committed)}" in result.stdout
    assert "precedes the commit that set mode: none" in result.stdout


def test_retirement_uses_the_first_of_several_none_commits(repo: Repo) -> None:
    """Later edits while in none do not restart the wait; the oldest none commit bounds noneSince."""
    repo.commit({"a.example": {}, "old.example": {"mode": "enforce", "maxAge": 86400}}, NOW - 60 * DAY)
    since = NOW - 5 * DAY
    repo.commit(
        {"a.example": {}, "old.example": {"mode": "none", "mx": [], "noneSince": stamp(since)}}, since
    )
    repo.commit(
        {"a.example": {"maxAge": 3600}, "old.example": {"mode": "none", "mx": [], "noneSince": stamp(since)}},
        NOW - DAY,
    )
    repo.write({"a.example": {"maxAge": 3600}})
    result = repo.plan("--base", "HEAD")
    assert result.returncode == 0, result.stdout


def test_json_output_names_changes_and_findings(repo: Repo) -> None:
    """--json gives per-domain change kinds, MX added/removed and the findings."""
    repo.commit({"a.example": {"mode": "enforce"}, "b.example": {}})
    repo.write({"b.example": {"mx": ["mx.example.com", "mx2.example.com"]}})
    result = repo.plan("--base", "HEAD", "--json")
    document = json.loads(result.stdout)
    assert result.returncode == 1 and document["ok"] is False
    assert document["domains"]["a.example"]["change"] == "removed"
    assert document["domains"]["b.example"]["mxAdded"] == ["mx2.example.com"]
    assert [f["check"] for f in document["findings"]] == ["removal"]


def test_a_new_stack_file_has_every_domain_added(repo: Repo) -> None:
    """A base without the stack file (a new stack) compares as all domains added."""
    (repo.path / "README").write_text("x")
    repo.git("add", "README")
    repo.git("commit", "-q", "-m", "init")
    repo.write({"a.example": {}})
    result = repo.plan("--base", "HEAD")
    assert result.returncode == 0, result.stderr
    assert "== a.example (added)" in result.stdout


def test_an_unknown_revision_is_one_line_exit_2(repo: Repo) -> None:
    """A bad GIT_REF is a usage error: one line, exit 2, no traceback."""
    repo.commit({"a.example": {}})
    result = repo.plan("--base", "no-such-branch")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --base 'no-such-branch': no such git revision in {repo.path}"
    ]


def test_none_since_only_in_mode_none_and_as_a_time(repo: Repo) -> None:
    """noneSince outside mode none, or not an RFC 3339 time, is a config error naming the key."""
    repo.write({"a.example": {"noneSince": "2026-01-01T00:00:00Z"}})
    result = repo.plan()
    assert result.returncode == 2
    assert result.stderr.startswith("error: domains.a.example.noneSince: only applies to mode: none")
    repo.write({"a.example": {"mode": "none", "mx": [], "noneSince": "last tuesday"}})
    result = repo.plan()
    assert result.returncode == 2 and "must be an RFC 3339 time" in result.stderr
    repo.write({"a.example": {"mode": "none", "mx": [], "noneSince": "2026-01-01T00:00:00"}})
    assert "UTC offset" in repo.plan().stderr


def test_domains_becoming_enforce_go_to_readiness(repo: Repo) -> None:
    """Only domains whose mode becomes enforce are judged; a not-ready verdict fails the review."""
    repo.commit({"a.example": {}, "b.example": {"mode": "enforce"}, "c.example": {}})
    repo.write(
        {
            "a.example": {"mode": "enforce"},
            "b.example": {"mode": "enforce"},
            "c.example": {},
            "n.example": {"mode": "enforce"},
        }
    )
    asked: list[list[str]] = []

    def not_ready(deployment: Deployment, names: list[str]) -> list[Finding]:
        asked.append(names)
        return [Finding("readiness", Severity.ERROR, "no reports", f"domains.{n}") for n in names]

    result = review(repo.path, "t", "HEAD", readiness=not_ready)
    assert asked == [["a.example", "n.example"]]
    assert result.failed and "error: domains.a.example: no reports" in result.text()


def test_plan_base_runs_readiness_and_says_why_not(repo: Repo) -> None:
    """Through the CLI, a switch to enforce with no evidence exits 1 and says it is not ready."""
    repo.commit({"a.example": {}})
    repo.write({"a.example": {"mode": "enforce"}})
    # A nameserver that does not answer: verify finds nothing, and there is no reports receiver.
    result = repo.plan("--base", "HEAD", "--nameserver", "127.0.0.1:9", "--timeout", "0.5")
    assert result.returncode == 1, result.stderr
    assert "error: domains.a.example: becomes enforce but is not ready" in result.stdout
    assert "no TLS reports receiver" in result.stdout


# --------------------------------------------------------------------------- --check-mx

ZONE = "base.test"


@pytest.fixture(scope="module")
def knot(lab: Lab) -> KnotDns:
    records = [("live", "MX", "10 mx1.base.test."), ("live", "MX", "20 mx2.base.test.")]
    return lab.dns({ZONE: zone_text(ZONE, records)})


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_check_mx_fails_when_an_enforce_policy_drops_a_live_mx(repo: Repo, knot: KnotDns) -> None:
    """--base with --check-mx: dropping a live MX from an enforce policy exits 1, naming the host."""
    repo.commit({"live.base.test": {"mode": "enforce", "mx": ["mx1.base.test", "mx2.base.test"]}})
    repo.write({"live.base.test": {"mode": "enforce", "mx": ["mx1.base.test"]}})
    result = repo.plan("--base", "HEAD", "--check-mx", "--nameserver", knot.address)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "mx - mx2.base.test" in result.stdout
    # One list on stdout, and its verdict is the exit status (nothing on stderr).
    assert "live MX mx2.base.test not covered" in result.stdout and result.stderr == ""
    assert result.stdout.rstrip().endswith(
        "FAIL: 1 error(s): this change can lose mail or strand cached policies"
    )
    repo.write(
        {"live.base.test": {"mode": "enforce", "mx": ["mx1.base.test", "mx2.base.test", "mx3.base.test"]}}
    )
    result = repo.plan("--base", "HEAD", "--check-mx", "--nameserver", knot.address)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_problem_already_at_the_base_does_not_fail_an_unrelated_change(repo: Repo, knot: KnotDns) -> None:
    """An enforce domain that never covered a live MX, untouched by the change: reported as
    already at the base, a warning; exit 0 and an OK that says so. Changing its MX judges it again."""
    broken = {"mode": "enforce", "mx": ["mx1.base.test"]}
    repo.commit({"live.base.test": broken, "a.example": {}})
    repo.write({"live.base.test": broken, "a.example": {"maxAge": 1209600}})
    result = repo.plan("--base", "HEAD", "--check-mx", "--nameserver", knot.address)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "warning: domains.live.base.test.mx: already so at the base, not caused by this change: "
        in result.stdout
    )
    assert result.stdout.rstrip().endswith(
        "OK: nothing in this change can lose mail (1 problem(s) already at the base)"
    )
    document = json.loads(
        repo.plan("--base", "HEAD", "--check-mx", "--json", "--nameserver", knot.address).stdout
    )
    [old] = [
        f for f in document["findings"] if f.get("domain") == "live.base.test" and f["severity"] == "warning"
    ]
    assert old["domain"] == "live.base.test" and old["facts"] == {
        "host": "mx2.base.test",
        "mode": "enforce",
        "atBase": True,
    }
    repo.write(
        {"live.base.test": {"mode": "enforce", "mx": ["mx1.base.test", "mx3.base.test"]}, "a.example": {}}
    )
    result = repo.plan("--base", "HEAD", "--check-mx", "--nameserver", knot.address)
    assert result.returncode == 1 and "already so at the base" not in result.stdout


def test_the_pr_preview_posts_plan_base_above_the_pulumi_diff() -> None:
    """preview.yml runs plan --base against the PR's base (full history) and comments before Pulumi does."""
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "preview.yml").read_text())
    steps = workflow["jobs"]["preview"]["steps"]
    checkout = next(s for s in steps if "actions/checkout@" in s.get("uses", ""))
    assert checkout["with"]["fetch-depth"] == 0
    review = next(i for i, s in enumerate(steps) if "--base" in s.get("run", ""))
    pulumi = next(i for i, s in enumerate(steps) if "pulumi/actions@" in s.get("uses", ""))
    assert review < pulumi
    step = steps[review]
    assert 'mtasts plan --stack "$STACK" --base "$BASE" --check-mx' in step["run"]
    assert step["env"]["BASE"] == "${{ github.event.pull_request.base.sha }}"
    assert "issues/$PR/comments" in step["run"]
    # Its verdict fails the job only after the Pulumi diff is posted too.
    assert steps[-1]["if"] == "steps.review.outputs.status != '0'" and pulumi < len(steps) - 1
