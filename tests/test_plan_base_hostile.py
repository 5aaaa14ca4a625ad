"""`plan --base` on hostile throwaway git histories: every verdict on removing a domain is right.

Each history ends with the domain ``old.example`` in ``mode: none`` at HEAD and the working tree
removing it; the question is always whether a sender may still cache a policy of it (RFC 8461
§3.2, §5.1, §8.3), read from the deployed (first-parent) line of the stack file's history.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_plan_base import ACCOUNT, DAY, NOW, YEAR, Repo, stamp

OLD = "old.example"


def none_at(since: datetime.datetime, **extra: Any) -> dict[str, Any]:
    return {"mode": "none", "mx": [], "maxAge": 86400, "noneSince": stamp(since), **extra}


def enforce(max_age: int) -> dict[str, Any]:
    return {"mode": "enforce", "maxAge": max_age}


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


def removal(repo: Repo) -> subprocess.CompletedProcess[str]:
    """The working tree drops ``old.example``; plan against HEAD."""
    repo.write({"a.example": {}})
    return repo.plan("--base", "HEAD")


def test_a_yaml_syntax_error_between_enforce_and_none_cannot_tell(repo: Repo) -> None:
    """Not a mistyped key but a file that is not YAML at all, between a year of enforce and none."""
    repo.commit({"a.example": {}, OLD: enforce(YEAR)}, NOW - 400 * DAY)
    (repo.path / "Pulumi.t.yaml").write_text("config: [unclosed\n", encoding="utf-8")
    broken = repo.commit_all("oops", NOW - 30 * DAY)
    since = NOW - 20 * DAY
    repo.commit({"a.example": {}, OLD: none_at(since)}, since)
    result = removal(repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"cannot tell when it may go: the stack file at commit {broken} does not load" in result.stdout


def test_an_unloadable_version_inside_the_none_stretch_cannot_tell(repo: Repo) -> None:
    """none, a broken none edit, none again: what came before the broken one is unknown, so refuse."""
    repo.commit({"a.example": {}, OLD: enforce(YEAR)}, NOW - 400 * DAY)
    since = NOW - 200 * DAY
    repo.commit({"a.example": {}, OLD: none_at(since)}, since)
    repo.commit({"a.example": {}, OLD: {**none_at(since), "mxx": 1}}, NOW - 100 * DAY)
    repo.commit({"a.example": {"maxAge": 3600}, OLD: none_at(since)}, NOW - 50 * DAY)
    result = removal(repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cannot tell when it may go" in result.stdout


def test_an_unloadable_version_older_than_any_max_age_does_not_matter(repo: Repo) -> None:
    """A broken version more than the longest max_age (a year) before none cannot hold a cached policy."""
    repo.commit({"a.example": {}, OLD: {**enforce(86400), "mxx": 1}}, NOW - 900 * DAY)
    repo.commit({"a.example": {}, OLD: enforce(86400)}, NOW - 800 * DAY)
    since = NOW - 400 * DAY
    repo.commit({"a.example": {}, OLD: none_at(since)}, since)
    result = removal(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "retired properly" in result.stdout


def test_a_side_branch_with_a_long_policy_never_deployed_does_not_hold_removal(repo: Repo) -> None:
    """The side branch raised max_age to a year and was merged with -s ours: never live, no wait."""
    repo.commit({"a.example": {}, OLD: enforce(86400)}, NOW - 100 * DAY)
    repo.git("checkout", "-q", "-b", "side")
    repo.commit({"a.example": {}, OLD: enforce(YEAR)}, NOW - 15 * DAY)
    repo.git("checkout", "-q", "main")
    since = NOW - 20 * DAY
    repo.commit({"a.example": {}, OLD: none_at(since)}, since)
    repo.git("merge", "-q", "--no-commit", "-s", "ours", "side")
    repo.commit({"a.example": {"maxAge": 3600}, OLD: none_at(since)}, NOW - 10 * DAY)
    repo.write({"a.example": {"maxAge": 3600}})
    result = repo.plan("--base", "HEAD")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "old max_age 86400 s passed" in result.stdout


def test_a_long_policy_merged_into_the_deployed_line_counts(repo: Repo) -> None:
    """A side branch with a year-long enforce merged into main (the merge takes it): it was live."""
    repo.commit({"a.example": {}, OLD: enforce(86400)}, NOW - 100 * DAY)
    repo.git("checkout", "-q", "-b", "side")
    repo.commit({"a.example": {}, OLD: enforce(YEAR)}, NOW - 60 * DAY)
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "-m", "merge", "side", when=NOW - 50 * DAY)
    since = NOW - 40 * DAY
    repo.commit({"a.example": {}, OLD: none_at(since)}, since)
    result = removal(repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"max_age {YEAR} s" in result.stdout


def test_a_shrink_to_an_hour_right_before_none_waits_for_the_year(repo: Repo) -> None:
    """Year-long enforce, an hour of max_age 3600, then none: the year-long policy may be cached."""
    repo.commit({"a.example": {}, OLD: enforce(YEAR)}, NOW - 500 * DAY)
    repo.commit({"a.example": {}, OLD: enforce(3600)}, NOW - 90 * DAY - datetime.timedelta(hours=1))
    since = NOW - 90 * DAY
    repo.commit({"a.example": {}, OLD: none_at(since, maxAge=60)}, since)
    result = removal(repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"until {stamp(since + datetime.timedelta(seconds=YEAR))}" in result.stdout


def test_a_moved_project_directory_does_not_hide_the_older_history(repo: Repo) -> None:
    """A year of enforce, a day's max_age, then the project moved to deploy/ (git mv): the year-long
    policy from before the move is still found."""
    old_dir = repo.path / "infra"
    old_dir.mkdir()
    shutil.move(repo.path / "Pulumi.yaml", old_dir / "Pulumi.yaml")
    config = {
        "config": {
            "mta-sts:cloudflareAccountId": ACCOUNT,
            "mta-sts:defaults": {"mx": ["mx.example.com"], "tlsrpt": ["mailto:r@example.net"]},
            "mta-sts:domains": {"a.example": {}, OLD: enforce(YEAR)},
        }
    }
    (old_dir / "Pulumi.t.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    first = repo.commit_all("stack", NOW - 400 * DAY)
    config["config"]["mta-sts:domains"][OLD] = enforce(86400)
    (old_dir / "Pulumi.t.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    repo.commit_all("shorter", NOW - 32 * DAY)
    repo.git("mv", "infra", "deploy")
    repo.commit_all("move", NOW - 30 * DAY)
    moved = Repo.__new__(Repo)
    moved.path = repo.path / "deploy"
    since = NOW - 20 * DAY
    moved.commit({"a.example": {}, OLD: none_at(since)}, since)
    result = removal(moved)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"max_age {YEAR} s, the policy of commit {first[:12]}" in result.stdout


def test_a_shallow_clone_cannot_tell(repo: Repo, tmp_path: Path) -> None:
    """A clone of depth 1 holds only the none version: what came before is unknown, so refuse."""
    repo.commit({"a.example": {}, OLD: enforce(86400)}, NOW - 400 * DAY)
    since = NOW - 300 * DAY
    repo.commit({"a.example": {}, OLD: none_at(since)}, since)
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{repo.path}", str(clone)],
        check=True,
        capture_output=True,
    )
    shallow = Repo.__new__(Repo)
    shallow.path = clone
    result = removal(shallow)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cannot tell when it may go" in result.stdout and "shallow clone" in result.stdout


def test_none_since_in_the_future_refuses(repo: Repo) -> None:
    """noneSince a week ahead: none is not live yet, so the removal is too early."""
    repo.commit({"a.example": {}, OLD: enforce(86400)}, NOW - 400 * DAY)
    ahead = NOW + 7 * DAY
    repo.commit({"a.example": {}, OLD: none_at(ahead)}, NOW - 300 * DAY)
    result = removal(repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"removed too early: mode none live since {stamp(ahead)}" in result.stdout


@pytest.mark.parametrize(
    "written",
    ["{}+14:00", "{}-11:30", "{}.999999999Z", "{}z"],
    ids=["+14:00", "-11:30", "fraction", "lower-case"],
)
def test_none_since_in_other_rfc3339_forms_is_the_same_moment(repo: Repo, written: str) -> None:
    """noneSince with an offset, a long fraction or lower-case t/z is read as that moment."""
    repo.commit({"a.example": {}, OLD: enforce(7 * 86400)}, NOW - 400 * DAY)
    local = NOW - 7 * DAY + datetime.timedelta(hours=1)  # an hour short of the week, in UTC
    offset = {"+14:00": 14.0, "-11:30": -11.5}.get(written[2:], 0.0)
    shown = (local + datetime.timedelta(hours=offset)).strftime("%Y-%m-%dT%H:%M:%S")
    if written == "{}z":
        shown = shown.replace("T", "t")
    text = written.format(shown)
    repo.commit({"a.example": {}, OLD: {"mode": "none", "mx": [], "noneSince": text}}, NOW - 30 * DAY)
    result = removal(repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"mode none live since {stamp(local)}" in result.stdout


def test_a_domain_removed_and_added_again_keeps_its_old_long_policy(repo: Repo) -> None:
    """enforce for a year, dropped, added back in testing for a day, then none: the year may be cached."""
    first = repo.commit({"a.example": {}, OLD: enforce(YEAR)}, NOW - 60 * DAY)
    repo.commit({"a.example": {}}, NOW - 50 * DAY)
    repo.commit({"a.example": {}, OLD: {"mode": "testing", "maxAge": 86400}}, NOW - 40 * DAY)
    since = NOW - 30 * DAY
    repo.commit({"a.example": {}, OLD: none_at(since)}, since)
    result = removal(repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"max_age {YEAR} s, the policy of commit {first[:12]}" in result.stdout


def test_a_stack_file_deleted_and_restored_keeps_the_older_history(repo: Repo) -> None:
    """The stack file was deleted and committed again later: the year-long policy before still counts."""
    first = repo.commit({"a.example": {}, OLD: enforce(YEAR)}, NOW - 60 * DAY)
    (repo.path / "Pulumi.t.yaml").unlink()
    repo.commit_all("drop", NOW - 50 * DAY)
    since = NOW - 30 * DAY
    repo.commit({"a.example": {}, OLD: none_at(since)}, since)
    result = removal(repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"max_age {YEAR} s, the policy of commit {first[:12]}" in result.stdout


def test_none_then_enforce_again_then_none_waits_from_the_last_none(repo: Repo) -> None:
    """none, enforce for a week (max_age a week), none again: the wait runs from the second none."""
    repo.commit({"a.example": {}, OLD: enforce(86400)}, NOW - 400 * DAY)
    repo.commit({"a.example": {}, OLD: none_at(NOW - 300 * DAY)}, NOW - 300 * DAY)
    week = repo.commit({"a.example": {}, OLD: enforce(7 * 86400)}, NOW - 10 * DAY)
    since = NOW - 5 * DAY
    repo.commit({"a.example": {}, OLD: none_at(since)}, since)
    result = removal(repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"mode none live since {stamp(since)}" in result.stdout
    assert f"max_age {7 * 86400} s, the policy of commit {week[:12]}" in result.stdout


def test_a_none_since_from_the_first_none_stretch_is_raised_to_the_last(repo: Repo) -> None:
    """noneSince left over from an earlier none stretch predates the enforce between: the last none counts."""
    repo.commit({"a.example": {}, OLD: enforce(86400)}, NOW - 400 * DAY)
    stale = NOW - 300 * DAY
    repo.commit({"a.example": {}, OLD: none_at(stale)}, stale)
    repo.commit({"a.example": {}, OLD: enforce(7 * 86400)}, NOW - 10 * DAY)
    since = NOW - 5 * DAY
    repo.commit({"a.example": {}, OLD: none_at(stale)}, since)
    result = removal(repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"mode none live since {stamp(since)}" in result.stdout
