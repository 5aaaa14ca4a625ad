"""A git repository in a temporary directory holding a Pulumi project: for the commands that
read history (``plan --base``, ``fleet touched``)."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import ROOT


class GitProject:
    """``git init`` in ``path`` with this checkout's ``Pulumi.yaml`` and a committer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        shutil.copy(ROOT / "Pulumi.yaml", path / "Pulumi.yaml")
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.email", "ops@example.com")
        self.git("config", "user.name", "ops")

    def git(self, *args: str, when: datetime.datetime | None = None) -> str:
        """``git ARGS`` in the project; ``when`` sets the author and committer dates."""
        env = dict(os.environ)
        if when is not None:
            env["GIT_COMMITTER_DATE"] = env["GIT_AUTHOR_DATE"] = when.isoformat()
        done = subprocess.run(
            ["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=True
        )
        return done.stdout

    def commit_all(self, message: str, when: datetime.datetime | None = None) -> str:
        """Commit every change in the working tree; the new commit's id."""
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message, when=when)
        return self.git("rev-parse", "HEAD").strip()
