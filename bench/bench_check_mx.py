"""Benchmark: ``plan --check-mx`` over many domains under a low open-file limit.

Usage::

    .venv/bin/python -m bench.bench_check_mx [--domains 5000] [--nofile 256] [--runs 3]

Set-up, all on 127.0.0.1: a stack of N ``enforce`` domains, and a small dnspython UDP responder
(``tests.servers.TinyDns``) that answers every MX question with ``10 mx.bulk.test`` after 20 ms
(loopback has no round-trip time; the delay models one). Each run is ``python -m mtasts plan
--check-mx`` in a subprocess whose open-file limit is set to ``--nofile`` for both the soft and
the hard limit, as ``ulimit -n`` does, so the command cannot raise it.

Reported per ``--concurrency`` setting: how many domains were looked up and compared (the target:
all of them, no failed lookup, exit 0), the wall time (median of ``--runs`` and the spread), and
the lookups per second. Before this change, 5,000 domains under ``ulimit -n 1024`` all failed and
the gate exited 0.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.machine import machine_line
from tests.servers import TinyDns

ROOT = Path(__file__).resolve().parent.parent
ZONE = "bulk.test"
DNS_DELAY = 0.020

CHILD = """\
import resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
from mtasts.commands.cli import main
sys.exit(main(sys.argv[2:]))
"""


def write_project(directory: Path, n: int) -> list[str]:
    names = [f"d{i:05d}.{ZONE}" for i in range(n)]
    shutil.copy(ROOT / "Pulumi.yaml", directory / "Pulumi.yaml")
    stack = {
        "config": {
            "mta-sts:cloudflareAccountId": "0123456789abcdef0123456789abcdef",
            "mta-sts:defaults": {"mode": "enforce", "mx": [f"mx.{ZONE}"], "tlsrpt": ["mailto:r@example.net"]},
            "mta-sts:domains": {name: {} for name in names},
        }
    }
    (directory / "Pulumi.bench.yaml").write_text(yaml.safe_dump(stack), encoding="utf-8")
    return names


def run_once(project: Path, ns: str, nofile: int, concurrency: int) -> tuple[float, int, int, list[str]]:
    """Wall seconds, exit status, domains compared (covered), and the other finding lines."""
    argv = [
        sys.executable, "-c", CHILD, str(nofile), "--project-dir", str(project), "plan", "--stack", "bench",
        "--check-mx", "--nameserver", ns, "--timeout", "5", "--concurrency", str(concurrency),
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd=ROOT)
    elapsed = time.perf_counter() - started
    lines = done.stderr.splitlines()
    covered = sum(
        1 for line in lines if line.startswith("info: ") and "every live MX host is covered" in line
    )
    other = [line for line in lines if not (line.startswith("info: ") and "covered" in line)]
    return elapsed, done.returncode, covered, other


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=5000)
    parser.add_argument("--nofile", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="*", default=[64, 1000, 5000])
    args = parser.parse_args()
    print(machine_line())
    print(
        f"plan --check-mx: {args.domains} enforce domains, open-file limit {args.nofile} (soft = hard), "
        f"DNS answers delayed {DNS_DELAY * 1000:.0f} ms, {args.runs} runs per setting"
    )
    worst = 0
    with tempfile.TemporaryDirectory(prefix="bench-check-mx-") as tmp, TinyDns(ZONE, delay=DNS_DELAY) as dns:
        project = Path(tmp)
        write_project(project, args.domains)
        for concurrency in args.concurrency:
            times, results = [], []
            for _ in range(args.runs):
                before = dns.queries
                elapsed, status, covered, other = run_once(project, dns.address, args.nofile, concurrency)
                times.append(elapsed)
                results.append((status, covered, len(other), dns.queries - before))
                if other:
                    print(f"  unexpected: {other[0]}")
            median = statistics.median(times)
            spread = f"{min(times):.2f}-{max(times):.2f} s"
            statuses = sorted({r[0] for r in results})
            covered = min(r[1] for r in results)
            failed = max(r[2] for r in results)
            queries = min(r[3] for r in results)
            print(
                f"  --concurrency {concurrency:>5}: looked up and compared {covered}/{args.domains} "
                f"({covered / args.domains:.0%}), other findings {failed}, exit {statuses}, "
                f"queries seen {queries}; wall {median:.2f} s median ({spread}), "
                f"{args.domains / median:,.0f} domains/s"
            )
            worst = max(worst, args.domains - covered + failed + sum(statuses))
    print(
        "target: every domain looked up and compared, no failed lookup, exit 0:",
        "met" if not worst else "NOT met",
    )
    return 0 if not worst else 1


if __name__ == "__main__":
    raise SystemExit(main())
