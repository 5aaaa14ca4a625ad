"""The package as an install off the scripted path gets it: the wheel, in a fresh venv, alone.

One module-scoped venv (built once, about 20 s, offline): the wheel is built from the checkout
without its dependencies, installed with ``--no-index``, and each dependency the wheel declares
(and theirs, transitively) is linked in from this venv's site-packages, file by file, so nothing
undeclared is there: a runtime import the metadata forgets fails here. Marked ``packaging``
(``-m 'not packaging'`` skips it).
"""

from __future__ import annotations

import email
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.conftest import ROOT

pytestmark = pytest.mark.packaging

COMMANDS = ("plan", "serve", "verify", "reports", "wait-live", "readiness")


def _requirement_name(line: str) -> str | None:
    """The distribution a ``Requires-Dist`` line needs here, or None (an extra's, another Python's)."""
    requirement = Requirement(line)
    if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
        return None
    return requirement.name


def _closure(names: list[str]) -> list[metadata.Distribution]:
    """The installed distributions ``names`` need, with their own requirements, transitively."""
    seen: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        dist = metadata.distribution(name)
        seen[key] = dist
        todo += [n for n in map(_requirement_name, dist.requires or []) if n]
    return list(seen.values())


def _link_distribution(dist: metadata.Distribution, site: Path) -> None:
    """Make ``dist``'s files (not its scripts outside site-packages) appear in ``site``."""
    for file in dist.files or []:
        if file.parts[0] == ".." or "__pycache__" in file.parts:
            continue
        target = site / file
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.symlink(dist.locate_file(file), target)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding the built wheel and only what its metadata declares; returns its bin/."""
    work = tmp_path_factory.mktemp("packaging")
    # --no-build-isolation builds with this venv's setuptools: the one build-system pins.
    backend = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    assert backend == [f"setuptools=={metadata.version('setuptools')}"], backend
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "--quiet"]
    # A copy of what the wheel is built from, so the build leaves nothing in the checkout; the
    # program's and the pack's directories come along, to show they stay out.
    source = work / "source"
    for part in ("mtasts", "components", "policies"):
        shutil.copytree(ROOT / part, source / part, ignore=shutil.ignore_patterns("__pycache__", "venv"))
    shutil.copy(ROOT / "pyproject.toml", source / "pyproject.toml")
    wheel_args = ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(work / "dist")]
    build = subprocess.run(
        [*pip, *wheel_args, str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (work / "dist").glob("mta_sts-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.split("/")[0] in ("components", "policies", "tests", "bench")], names
    assert "mtasts/worker/worker.js" in names and "mtasts/commands/cli.py" in names
    env_dir = work / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    declared = email.message_from_string(
        zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    ).get_all("Requires-Dist") or []
    for dist in _closure([n for n in map(_requirement_name, declared) if n]):
        _link_distribution(dist, site)
    assert site != Path(sysconfig.get_paths()["purelib"])
    return env_dir / "bin"


def _run(fresh: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(fresh / "mtasts"), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


def test_the_wheel_holds_the_package_only_and_imports_from_site_packages(fresh: Path, tmp_path: Path) -> None:
    """The installed ``mtasts`` is the wheel's (not the checkout's), and ``components`` is not installed."""
    code = (
        "import importlib.util, mtasts, mtasts.commands.cli, mtasts.probes.https;"
        "print(mtasts.__file__); print(importlib.util.find_spec('components'))"
    )
    out = subprocess.run(
        [str(fresh / "python"), "-P", "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    where, components = out.stdout.split()
    assert Path(where).is_relative_to(fresh.parent) and not Path(where).is_relative_to(ROOT)
    assert components == "None"


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_every_command_help_runs_from_the_wheel(fresh: Path, tmp_path: Path, command: str) -> None:
    """``mtasts --help`` and each command's ``--help`` run in the fresh venv and exit 0."""
    result = _run(fresh, *([command] if command else []), "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: mtasts"), result.stdout
    if not command:
        assert all(c in result.stdout for c in COMMANDS)


def test_plan_runs_from_the_wheel(fresh: Path, tmp_path: Path) -> None:
    """``mtasts plan --stack dev`` against a project directory prints each dev domain's records."""
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    result = _run(fresh, "plan", "--stack", "dev", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"example.com"' in result.stdout and "_mta-sts.example.com" in result.stdout


def test_the_program_imports_components_as_pulumi_runs_it(tmp_path: Path) -> None:
    """Run as Pulumi runs a program (``runpy.run_path`` of its directory, cwd elsewhere, ``-P``),
    ``__main__.py`` imports ``components`` from the checkout and reaches the config check."""
    code = (
        "import importlib.util, runpy, sys\n"
        "assert importlib.util.find_spec('components') is None, 'components is installed'\n"
        "import pulumi\n"
        "try:\n"
        f"    runpy.run_path({str(ROOT)!r}, run_name='__main__')\n"
        "except pulumi.RunError as exc:\n"
        "    print('RunError:', exc)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PULUMI_CONFIG")}
    out = subprocess.run(
        [sys.executable, "-P", "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("RunError: domains: declare at least one mail domain"), out.stdout
