"""The receiver's JavaScript unit tests (``node --test``), run by the suite so CI runs them."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def test_the_receivers_node_tests_pass(capsys: pytest.CaptureFixture[str]) -> None:
    """``npm run test:receiver`` (Node's own test runner) passes every test, and says how many."""
    env = {**os.environ, "MTASTS_PYTHON": sys.executable}
    run = subprocess.run(
        ["npm", "run", "--silent", "test:receiver"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    counts = dict(re.findall(r"^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$", run.stdout, re.M))
    line = "node --test (receiver): " + ", ".join(f"{n} {k}" for k, n in counts.items())
    with capsys.disabled():
        print(f"\n{line}")
    assert run.returncode == 0, f"{line}\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
    assert int(counts.get("tests", 0)) > 0 and counts.get("pass") == counts.get("tests"), line
