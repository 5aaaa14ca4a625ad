"""Fleet benchmark: the program under mocks and ``plan`` (with the limits preflight) as stacks grow.

Run from the checkout: ``.venv/bin/python -m bench.bench_fleet`` (``BENCH_SIZES=1000,10000,50000``,
``BENCH_ROUNDS=3``, ``BENCH_PLAN_SIZES=10000,50000``).

(a) ``__main__.py`` under Pulumi's mocks (``tests/program_mocks.py``, ``preview=False``) for each
    size, Worker-hosted domains spread over zones of 1 to 8 domains, ``workerShards`` sized so no
    script has more than 1,000 zones, zone ids recorded (``mta-sts:zoneIds``, no lookups). Each run
    is a fresh subprocess, so its peak RSS (``ru_maxrss``) is its own. Prints wall time, per-domain
    time, peak memory and provider resources per domain; the ratio of per-domain time at 10,000
    to 1,000 (target ≤ 1.2×).
(b) ``mtasts plan --stack S`` end to end at each plan size (the loader, the preflight, the text
    with the API budget), median of the rounds, and the ratio 50,000 / 10,000 (target ≤ 5.5×).

Every figure is given as wall time and as the process's CPU time: on a shared machine the wall
time says as much about the neighbours as about the program, so the load average is printed
before and after each part too.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.machine import machine_line

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "0123456789abcdef0123456789abcdef"
DEFAULTS = {"mode": "enforce", "maxAge": 604800, "mx": ["mx1.mail.example"], "tlsrpt": ["mailto:t@r.example"]}
SIZES = tuple(int(n) for n in os.environ.get("BENCH_SIZES", "1000,10000,50000").split(","))
PLAN_SIZES = tuple(int(n) for n in os.environ.get("BENCH_PLAN_SIZES", "10000,50000").split(","))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def zones_of_1_to_8(size: int) -> tuple[dict[str, dict], dict[str, str]]:
    """``size`` domains over zones of 1 to 8 domains (cycling), and every zone's id."""
    domains: dict[str, dict] = {}
    zone_ids: dict[str, str] = {}
    zone = 0
    while len(domains) < size:
        name = f"zone{zone:06}.example"
        zone_ids[name] = f"{zone:032x}"
        for i in range(min(1 + zone % 8, size - len(domains))):
            domains[name if i == 0 else f"d{i}.{name}"] = {} if i == 0 else {"zone": name}
        zone += 1
    return domains, zone_ids


def fleet_config(size: int) -> dict:
    """``size`` domains over zones of 1 to 8 domains (cycling), every zone id recorded."""
    domains, zone_ids = zones_of_1_to_8(size)
    zone = len(zone_ids)
    shards = max(1, -(-zone // 800))  # at most ~800 zones a script on average, under the 1,000
    return {
        "mta-sts:cloudflareAccountId": ACCOUNT,
        "mta-sts:cloudflarePlan": "paid",
        "mta-sts:zonePlan": "pro",
        "mta-sts:defaults": DEFAULTS,
        "mta-sts:domains": domains,
        "mta-sts:zoneIds": zone_ids,
        "mta-sts:workerShards": shards,
    }


CHILD = """
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore", category=DeprecationWarning)
from tests.program_mocks import run_program
config = json.load(open(sys.argv[1]))
start, cpu = time.perf_counter(), time.process_time()
run = run_program(config, stack="bench")
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
if run.error is not None:
    raise run.error
custom = sum(1 for r in run.resources if r.custom and not r.type.startswith("pulumi:providers:"))
scripts = sum(1 for r in run.resources if r.type.endswith("WorkersScript"))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": elapsed, "cpu": cpu, "resources": custom, "scripts": scripts, "peak_kib": peak}))
"""


def program_run(size: int, path: Path) -> dict:
    path.write_text(json.dumps(fleet_config(size)))
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def load() -> str:
    """The load average, which says what else the machine was doing."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"


def spread(values: list[float], digits: int = 1) -> str:
    """``median s (min-max)``."""
    return f"{statistics.median(values):.{digits}f} s ({min(values):.{digits}f}-{max(values):.{digits}f})"


def program(tmp: Path) -> None:
    print(f"(a) the program under mocks, {ROUNDS} round(s), median (min-max)")
    print(f"    {load()}")
    wall: dict[int, list[float]] = {n: [] for n in SIZES}
    cpu: dict[int, list[float]] = {n: [] for n in SIZES}
    peaks: dict[int, list[int]] = {n: [] for n in SIZES}
    last: dict[int, dict] = {}
    for _ in range(ROUNDS):
        for size in SIZES:
            result = program_run(size, tmp / f"config-{size}.json")
            wall[size].append(result["seconds"])
            cpu[size].append(result["cpu"])
            peaks[size].append(result["peak_kib"])
            last[size] = result
    for size in SIZES:
        r = last[size]
        print(
            f"    {size:>6,} domains: wall {spread(wall[size])}, CPU {spread(cpu[size])}, "
            f"{statistics.median(wall[size]) / size * 1000:5.2f} ms/domain wall, "
            f"{statistics.median(cpu[size]) / size * 1000:5.2f} CPU, "
            f"peak {max(peaks[size]) / 1024:6.0f} MiB, "
            f"{r['resources']:,} resources ({r['resources'] / size:.2f}/domain), {r['scripts']} scripts"
        )
    if 1000 in wall and 10000 in wall:
        for what, times in (("wall", wall), ("CPU", cpu)):
            ratio = (statistics.median(times[10000]) / 10000) / (statistics.median(times[1000]) / 1000)
            print(f"    per-domain {what} time 10,000 vs 1,000: {ratio:.2f}x (target <= 1.2x)")
    print(f"    after: {load()}")


def plan(tmp: Path) -> None:
    print(f"(b) mtasts plan end to end with the limits preflight, {ROUNDS} round(s), median (min-max)")
    print(f"    {load()}")
    project = tmp / "project"
    project.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    for size in PLAN_SIZES:
        stack = fleet_config(size)
        (project / f"Pulumi.s{size}.yaml").write_text(yaml.safe_dump({"config": stack}))
    wall: dict[int, list[float]] = {n: [] for n in PLAN_SIZES}
    cpu: dict[int, list[float]] = {n: [] for n in PLAN_SIZES}
    for _ in range(ROUNDS):
        for size in PLAN_SIZES:
            argv = [
                sys.executable,
                "-m",
                "mtasts",
                "--project-dir",
                str(project),
                "plan",
                "--stack",
                f"s{size}",
            ]
            used = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
            wall[size].append(time.perf_counter() - start)
            done = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[size].append(done.ru_utime + done.ru_stime - used.ru_utime - used.ru_stime)
    for size in PLAN_SIZES:
        print(f"    {size:>6,} domains: wall {spread(wall[size], 2)}, CPU {spread(cpu[size], 2)}")
    if len(PLAN_SIZES) == 2:
        small, large = PLAN_SIZES
        for what, times in (("wall", wall), ("CPU", cpu)):
            ratio = statistics.median(times[large]) / statistics.median(times[small])
            print(f"    {large:,} vs {small:,} ({what}): {ratio:.2f}x (target <= 5.5x)")
    print(f"    after: {load()}")


def main() -> None:
    print(machine_line())
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if PLAN_SIZES and PLAN_SIZES[0]:
            plan(tmp)
        if SIZES and SIZES[0]:
            program(tmp)


if __name__ == "__main__":
    main()
