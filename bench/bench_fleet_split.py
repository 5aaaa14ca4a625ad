"""Fleet declaration benchmark: ``mtasts fleet split`` and ``fleet check`` as the declaration grows.

Run from the checkout: ``.venv/bin/python -m bench.bench_fleet_split`` (``BENCH_SIZES=10000``,
``BENCH_ROUNDS=3``). For each size, a ``fleet.yaml`` of that many Worker-hosted domains over zones
of 1 to 8 domains (cycling, every zone id recorded; the shape of ``bench/bench_fleet.py``), then,
each round in a fresh project and a fresh subprocess (its peak RSS is its own):

- ``split`` from nothing (every domain placed, every file written);
- ``split`` again (nothing changes: the stable path every later run takes);
- ``check`` (every stack loaded, ``check_fleet``, every file compared with what split writes).

Prints the median wall time (min-max) and peak memory of each, and the stacks made.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from bench.bench_fleet import zones_of_1_to_8
from bench.machine import machine_line

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "0123456789abcdef0123456789abcdef"
DEFAULTS = {"mode": "enforce", "maxAge": 604800, "mx": ["mx1.mail.example"], "tlsrpt": ["mailto:t@r.example"]}
SIZES = tuple(int(n) for n in os.environ.get("BENCH_SIZES", "10000").split(","))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))

CHILD = """
import io, json, resource, sys, time
from contextlib import redirect_stdout
from mtasts.commands.cli import main
out = io.StringIO()
start = time.perf_counter()
with redirect_stdout(out):
    code = main(sys.argv[1:])
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
last = out.getvalue().splitlines()[-1]
print(json.dumps({"code": code, "seconds": elapsed, "peak_kib": peak, "last": last}))
"""


def declaration(size: int) -> dict:
    domains, zone_ids = zones_of_1_to_8(size)
    config = {
        "mta-sts:cloudflareAccountId": ACCOUNT,
        "mta-sts:cloudflarePlan": "paid",
        "mta-sts:zonePlan": "pro",
        "mta-sts:defaults": DEFAULTS,
        "mta-sts:zoneIds": zone_ids,
    }
    return {"fleet": {"prefix": "mail"}, "config": config, "domains": domains}


def run(project: Path, *argv: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, "--project-dir", str(project), "fleet", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    if result["code"] != 0:
        raise SystemExit(f"fleet {' '.join(argv)} exited {result['code']}: {done.stderr}")
    return result


def main() -> None:
    print(machine_line())
    print(f"fleet split and check, {ROUNDS} round(s), median (min-max)")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for size in SIZES:
            text = yaml.safe_dump(declaration(size))
            runs: dict[str, list[dict]] = {"split (first)": [], "split (again)": [], "check": []}
            for round_ in range(ROUNDS):
                project = tmp / f"p{size}-{round_}"
                project.mkdir()
                shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
                (project / "fleet.yaml").write_text(text)
                runs["split (first)"].append(run(project, "split"))
                runs["split (again)"].append(run(project, "split"))
                runs["check"].append(run(project, "check"))
                stacks = len(list(project.glob("Pulumi.mail-*.yaml")))
            print(f"    {size:,} domains, {stacks} stacks:")
            for what, results in runs.items():
                times = [r["seconds"] for r in results]
                peak = max(r["peak_kib"] for r in results) / 1024
                spread = f"({min(times):.2f}-{max(times):.2f})"
                print(f"      {what:<14} {statistics.median(times):6.2f} s {spread}, peak {peak:4.0f} MiB")
            print(f"      {runs['split (first)'][-1]['last']}")


if __name__ == "__main__":
    main()
