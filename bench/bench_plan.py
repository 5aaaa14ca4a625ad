"""``mtasts plan`` at scale: generated stacks of 10,000 and 50,000 domains.

Run from the checkout: ``.venv/bin/python -m bench.bench_plan`` (``BENCH_ROUNDS``, default 5).

Each stack is written to a temporary directory with this checkout's ``Pulumi.yaml``. Every
domain is ``enforce`` with two mx patterns, a TLS-RPT URI and a ``maxAge``: 604800 in the
"quiet" stacks, 3600 (under a day) in the "warn" ones, so each domain there gets one loader
warning and the stack file and the records are otherwise the same; in "notls" (10,000 only,
the case issue 11 measured) no domain has a TLS-RPT URI, so each warns and has one record
fewer.

(a) ``mtasts plan`` and ``plan --json`` end to end (a fresh interpreter each run, as a user
    runs it), rounds interleaved, median and spread (min-max) of the rounds.
    Targets: 10,000 domains that all warn within 1.2x of the same without warnings;
    50,000 within 5.5x of 10,000 (linear would be 5x).
(b) Time per phase, in this process, medians: reading the file (UTF-8, depth check, YAML),
    validating (``load_config``), rendering text, rendering JSON.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bench.machine import machine_line
from mtasts.commands.plan import render
from mtasts.model.loader import load_config
from mtasts.model.stackfile import LOADER, read_yaml, stack_config

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SIZES = (10_000, 50_000)
MX = "mx1.example.net, '*.mx.example.org'"


def stack_text(domains: int, kind: str) -> str:
    """A stack of ``domains`` domains; ``kind`` is quiet, warn (short maxAge) or notls (no TLS-RPT)."""
    lines = [
        "config:",
        "  mta-sts:cloudflareAccountId: 0123456789abcdef0123456789abcdef",
        "  mta-sts:domains:",
    ]
    for i in range(domains):
        lines += [f"    d{i:05d}.example.com:", "      mode: enforce", f"      mx: [{MX}]"]
        if kind != "notls":
            lines.append(f"      tlsrpt: [mailto:tls@d{i:05d}.example.net]")
        lines.append(f"      maxAge: {3600 if kind == 'warn' else 604800}")
    return "\n".join(lines) + "\n"


def spread(samples: list[float]) -> str:
    return f"{statistics.median(samples):6.2f} s (min {min(samples):.2f}, max {max(samples):.2f})"


def cli(project: Path, stack: str, *args: str) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "mtasts", "--project-dir", str(project), "plan", "--stack", stack, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"plan --stack {stack} failed: {result.stderr[-500:]}")
    return elapsed


def phases(project: Path, stack: str) -> dict[str, float]:
    """One in-process plan, timed per phase."""
    out: dict[str, float] = {}

    def timed(name: str, step: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = step()
        out[name] = time.perf_counter() - start
        return value

    timed("read YAML", lambda: read_yaml(project / f"Pulumi.{stack}.yaml"))
    values = stack_config(project, stack)
    deployment = timed("validate", lambda: load_config(values))
    timed("render text", lambda: render(stack, deployment, False))
    timed("render json", lambda: render(stack, deployment, True))
    return out


def main() -> None:
    print(machine_line(f"PyYAML {yaml.__version__} ({LOADER.__name__})"))
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
        stacks = [f"{kind}{size}" for size in SIZES for kind in ("quiet", "warn")] + ["notls10000"]
        for name in stacks:
            kind, size = name.rstrip("0123456789"), int(name.lstrip("abcdefghijklmnopqrstuvwxyz"))
            (project / f"Pulumi.{name}.yaml").write_text(stack_text(size, kind))
        runs: dict[tuple[str, str], list[float]] = {}
        phase_runs: dict[str, dict[str, list[float]]] = {}
        for _ in range(ROUNDS):
            for name in stacks:
                for mode, args in (("text", ()), ("json", ("--json",))):
                    runs.setdefault((name, mode), []).append(cli(project, name, *args))
        for name in stacks:
            for _ in range(max(1, ROUNDS // 2)):
                for phase, seconds in phases(project, name).items():
                    phase_runs.setdefault(name, {}).setdefault(phase, []).append(seconds)

    print(f"\n(a) mtasts plan end to end, {ROUNDS} rounds")
    for (name, mode), samples in runs.items():
        print(f"  {name:>10} {mode:>4}: {spread(samples)}")

    def ratio(a: str, b: str, mode: str) -> float:
        return statistics.median(runs[(a, mode)]) / statistics.median(runs[(b, mode)])

    for mode in ("text", "json"):
        warn = ratio("warn10000", "quiet10000", mode)
        notls = ratio("notls10000", "quiet10000", mode)
        scale = ratio("quiet50000", "quiet10000", mode)
        scale_warn = ratio("warn50000", "warn10000", mode)
        print(
            f"  {mode}: at 10,000 warn/quiet = {warn:.2f}x, notls/quiet = {notls:.2f}x (target <= 1.2x, "
            f"{'met' if max(warn, notls) <= 1.2 else 'MISSED'}); 50,000/10,000 = {scale:.2f}x quiet, "
            f"{scale_warn:.2f}x warn (target <= 5.5x, {'met' if max(scale, scale_warn) <= 5.5 else 'MISSED'})"
        )
    print("\n(b) per phase, in process, medians")
    for name, by_phase in phase_runs.items():
        cells = ", ".join(f"{phase} {statistics.median(s):.2f} s" for phase, s in by_phase.items())
        print(f"  {name:>10}: {cells}")


if __name__ == "__main__":
    main()
