"""The few git questions commands ask of the project's repository: a revision's commit, a file
as committed, the paths changed since. ``plan --base`` and ``fleet touched`` share them."""

from __future__ import annotations

import subprocess
from pathlib import Path

GIT_TIMEOUT = 60.0
"""Seconds one git command may take."""


class GitError(ValueError):
    """``git`` could not answer (not a repository, unknown revision); the CLI exits 2."""


def git(project_dir: Path, *args: str) -> str:
    """``git -C project_dir ARGS``'s output; ``GitError`` with git's last line when it fails."""
    try:
        done = subprocess.run(
            ["git", "-C", str(project_dir), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise GitError(lines[-1] if lines else f"git {args[0]} failed")
    return done.stdout


def show(project_dir: Path, commit: str, name: str, from_top: bool = False) -> str | None:
    """``name`` (relative to ``project_dir``, or to the repository's top with ``from_top``) at
    ``commit``, or None when it did not exist there."""
    try:
        return git(project_dir, "show", f"{commit}:{'' if from_top else './'}{name}")
    except GitError:
        return None


def resolve(project_dir: Path, ref: str) -> str:
    """The commit ``ref`` (a ``--base``) names; ``GitError`` saying so when it names none."""
    if ref.startswith("-"):
        raise GitError(f"--base {ref!r}: not a git revision")
    try:
        return git(project_dir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    except GitError:
        raise GitError(f"--base {ref!r}: no such git revision in {project_dir}") from None
