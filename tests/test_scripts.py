"""The scripts' wiring: ``.ci/run`` → ``bin/test`` → ``bin/lint`` (ruff, mypy) and pytest.

The real scripts run in a copy of their directories whose tools are stubs that log their call
and exit as told, so each path (a lint finding, a failing test, both clean) is checked in
milliseconds; the linters themselves run once per ``bin/test``, not as tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

STUB = """#!/usr/bin/env bash
echo "{name} $*" >> "$CALLS_LOG"
exit "${{{var}:-0}}"
"""
PYTHON_STUB = """#!/usr/bin/env bash
echo "python $*" >> "$CALLS_LOG"
case "$2" in
  mypy) exit "${MYPY_EXIT:-0}" ;;
  pytest) exit "${PYTEST_EXIT:-0}" ;;
esac
exit 0
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The real ``.ci/run``, ``bin/test`` and ``bin/lint`` over stub tools."""
    for script in (".ci/run", "bin/test", "bin/lint"):
        (tmp_path / script).parent.mkdir(exist_ok=True)
        shutil.copy2(ROOT / script, tmp_path / script)
    tools = {
        "bin/system-packages": STUB.format(name="system-packages", var="NONE"),
        "bin/bootstrap": STUB.format(name="bootstrap", var="NONE"),
        ".venv/bin/ruff": STUB.format(name="ruff", var="RUFF_EXIT"),
        ".venv/bin/python": PYTHON_STUB,
    }
    for path, text in tools.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
        (tmp_path / path).chmod(0o755)
    return tmp_path


def run(checkout: Path, *args: str, **exits: str) -> tuple[int, list[str]]:
    env = {**os.environ, "CALLS_LOG": str(checkout / "calls.log"), **exits}
    result = subprocess.run(
        [str(checkout / ".ci" / "run"), *args], env=env, capture_output=True, text=True, timeout=60
    )
    log = checkout / "calls.log"
    return result.returncode, log.read_text().splitlines() if log.exists() else []


def test_ci_runs_lint_then_the_tests(checkout: Path) -> None:
    """A clean tree: ruff over the tree, mypy, then pytest, and exit 0."""
    code, calls = run(checkout)
    assert code == 0
    assert calls[-3:] == ["ruff check --no-cache .", "python -m mypy", "python -m pytest"]


@pytest.mark.parametrize("tool", ["RUFF_EXIT", "MYPY_EXIT"])
def test_a_lint_finding_fails_ci_though_the_tests_pass(checkout: Path, tool: str) -> None:
    """A ruff or a mypy finding fails .ci/run; the other linter and the tests still run."""
    code, calls = run(checkout, **{tool: "1"})
    assert code != 0
    assert calls[-3:] == ["ruff check --no-cache .", "python -m mypy", "python -m pytest"]


def test_a_failing_test_fails_ci_with_pytests_status(checkout: Path) -> None:
    """A failing test fails .ci/run with pytest's exit status."""
    code, _ = run(checkout, PYTEST_EXIT="1")
    assert code == 1


def test_lint_can_be_skipped_for_a_targeted_run(checkout: Path) -> None:
    """LINT=0 bin/test -k x runs pytest only, with the options passed on."""
    result = subprocess.run(
        [str(checkout / "bin" / "test"), "-k", "x"],
        env={**os.environ, "LINT": "0", "CALLS_LOG": str(checkout / "calls.log")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    calls = (checkout / "calls.log").read_text().splitlines()
    assert result.returncode == 0 and calls[-1] == "python -m pytest -k x"
    assert not [c for c in calls if c.startswith(("ruff", "python -m mypy"))]
