"""The package's layers import only the layers below them (README "Layout")."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

# Which project modules each layer may import (prefix match), besides its own layer.
ALLOWED: dict[str, tuple[str, ...]] = {
    "mtasts/rfc": ("mtasts.rfc",),
    "mtasts/model": ("mtasts.rfc", "mtasts.model"),
    "mtasts/probes": ("mtasts.rfc", "mtasts.model", "mtasts.probes"),
    "mtasts/checks": ("mtasts.rfc", "mtasts.model", "mtasts.probes", "mtasts.checks"),
    "mtasts/runtime": ("mtasts.rfc", "mtasts.model", "mtasts.runtime"),
    "mtasts/commands": (
        "mtasts.rfc",
        "mtasts.model",
        "mtasts.probes",
        "mtasts.checks",
        "mtasts.runtime",
        "mtasts.commands",
    ),
    "components": ("mtasts.rfc", "mtasts.model", "mtasts.probes", "components"),
    "policies": ("mtasts.rfc", "mtasts_policies"),
}
PROJECT = ("mtasts", "components", "policies", "mtasts_policies")
# Third-party packages each layer may import.
THIRD_PARTY: dict[str, tuple[str, ...]] = {
    "mtasts/rfc": (),
    "mtasts/model": ("yaml",),
    "mtasts/probes": ("dns", "httpx", "cryptography"),
    "mtasts/checks": (),
    "mtasts/runtime": (),
    "mtasts/commands": ("yaml", "dns", "httpx", "cryptography"),
    "components": ("pulumi", "pulumi_cloudflare", "pulumi_github"),
    "policies": ("pulumi_policy",),
}


def imports(path: Path) -> list[str]:
    """Every module ``path`` imports, absolute names."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def layer_files() -> list[tuple[str, Path]]:
    return [(layer, path) for layer in ALLOWED for path in sorted((ROOT / layer).rglob("*.py"))]


@pytest.mark.parametrize("layer, path", layer_files(), ids=lambda v: str(v))
def test_each_module_imports_only_lower_layers(layer: str, path: Path) -> None:
    """A module imports the standard library, its layer's third-party packages and lower layers."""
    bad = []
    for name in imports(path):
        top = name.split(".")[0]
        if top in PROJECT or name.startswith("mtasts"):
            if not name.startswith(ALLOWED[layer]) and name != "mtasts":
                bad.append(name)
        elif top not in sys.stdlib_module_names and top not in THIRD_PARTY[layer] and top != "__future__":
            bad.append(name)
    assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"


COMMANDS_DIR = ROOT / "mtasts" / "commands"
NOT_COMMANDS = {"__init__", "cli", "shared"}
"""Modules of ``mtasts/commands`` that are no command: the dispatcher and what several commands share."""


def command_of(module: str) -> str | None:
    """The command a ``mtasts.commands.<x>…`` module belongs to; None for the shared parts."""
    parts = module.split(".")
    if parts[:2] != ["mtasts", "commands"] or len(parts) < 3 or parts[2] in NOT_COMMANDS:
        return None
    return parts[2]


def command_files() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(COMMANDS_DIR.rglob("*.py")):
        top = path.relative_to(COMMANDS_DIR).parts[0].removesuffix(".py")
        if top not in ("__init__", "cli"):
            found.append((top, path))
    return found


@pytest.mark.parametrize("command, path", command_files(), ids=lambda v: str(v))
def test_no_command_imports_another(command: str, path: Path) -> None:
    """A command imports its own modules and ``mtasts.commands.shared``, never another command;
    the shared parts import no command at all. Only ``cli`` dispatches to commands."""
    own = None if command in NOT_COMMANDS else command
    bad = [name for name in imports(path) if command_of(name) not in (None, own)]
    if command == "shared":
        bad += [n for n in imports(path) if n.startswith("mtasts.commands.") and command_of(n) is not None]
    assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"


def test_the_layer_table_has_the_rules_layer_modules() -> None:
    """The readiness and retirement rules are pure modules of mtasts/checks (no argparse, no I/O)."""
    for name in ("readiness", "retirement", "attribution"):
        found = imports(ROOT / "mtasts" / "checks" / f"{name}.py")
        assert not [n for n in found if n.split(".")[0] in ("argparse", "asyncio", "subprocess", "httpx")]


def test_importing_the_rfc_layer_loads_no_third_party_package() -> None:
    """``import mtasts`` and ``mtasts.rfc`` load neither PyYAML nor dnspython nor Pulumi."""
    code = (
        "import sys, mtasts, mtasts.rfc.policy, mtasts.rfc.records, mtasts.rfc.names, mtasts.rfc.mx\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('yaml', 'dns', 'pulumi')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_console_script_and_python_m_agree() -> None:
    """The installed ``mtasts`` console script and ``python -m mtasts`` print the same help."""
    script = Path(sys.executable).parent / "mtasts"
    a = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True)
    b = subprocess.run([sys.executable, "-m", "mtasts", "--help"], capture_output=True, text=True, check=True)
    assert a.stdout == b.stdout and "plan" in a.stdout


def test_the_readme_layout_draws_every_layer() -> None:
    """README "Layout" draws every layer this table checks, and the Worker's JavaScript."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    missing = [layer for layer in (*ALLOWED, "mtasts/worker") if f"\n{layer}/ " not in layout]
    assert missing == []


def test_no_module_of_the_project_is_over_400_lines() -> None:
    """Every module of the program, the CLI, the pack and the Workers stays at 400 lines or fewer
    (tests, benchmarks and the generated receiver bundle aside)."""
    sources = [
        path
        for folder in ("mtasts", "components", "policies")
        for path in sorted((ROOT / folder).rglob("*"))
        if path.suffix in (".py", ".js", ".mjs")
        and path.name != "reports.bundle.js"
        and not any(part in ("venv", "node_modules", "__pycache__") for part in path.parts)
    ]
    sources.append(ROOT / "__main__.py")
    assert len(sources) > 50
    long = {str(p.relative_to(ROOT)): n for p in sources if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}
