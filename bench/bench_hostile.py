"""How long the loader takes to reject each deeply nested stack file of the corpus.

The depth checks stop at the limit (``mtasts.model.stackfile``: the line scan and the parser
events; ``mtasts.model.loader``: JSON text), so a hostile file costs the bytes up to its 65th
level, not all of them. Prints, per ``tests/stacks/invalid/deep-*`` and ``very-deep-*`` file, its
size and the median (with min-max) of several rejections in this process.

    .venv/bin/python -m bench.bench_hostile [runs]
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import machine_line
from mtasts.model.config import load_stack
from mtasts.model.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "stacks" / "invalid"


def reject_seconds(project: Path) -> float:
    start = time.perf_counter()
    try:
        load_stack(project, "t")
    except ConfigError:
        return time.perf_counter() - start
    raise SystemExit(f"{project}: the hostile file was accepted")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    import yaml

    print(machine_line(f"PyYAML {yaml.__version__} (libyaml: {yaml.__with_libyaml__})"))
    for path in sorted([*CORPUS.glob("deep-*.yaml"), *CORPUS.glob("very-deep-*.yaml")]):
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp)
            shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
            shutil.copy(path, project / "Pulumi.t.yaml")
            times = [reject_seconds(project) for _ in range(runs)]
        ms = [t * 1000 for t in times]
        print(
            f"{path.stem:<24} {path.stat().st_size / 1024:7.1f} KiB  rejected in "
            f"{statistics.median(ms):8.1f} ms (min {min(ms):.1f}, max {max(ms):.1f}, {runs} runs)"
        )


if __name__ == "__main__":
    main()
