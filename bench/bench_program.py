"""Program benchmark: resources per domain by hosting, and evaluation time under mocks as domains grow.

Run from the checkout: ``.venv/bin/python -m bench.bench_program``.

(a) Resources per domain: one-domain stacks of each kind, counted from what the program
    registers (provider resources and components), less the per-stack ones.
(b) ``__main__.py`` evaluated under Pulumi's mocks (``preview=False``, the harness in
    ``tests/program_mocks.py``) for 10, 100 and 1,000 Worker-hosted domains, each in its own
    zone (so one zone lookup each), rounds interleaved, median of the rounds.
    Target: per-domain cost at 1,000 within 1.3x of that at 100.
The mocks answer at once, so this is the program's and the Pulumi SDK's own cost (config load,
model, Worker script rendering, registrations); a real ``pulumi up`` adds provider round trips.
"""

from __future__ import annotations

import os
import statistics
import time
import warnings
from pathlib import Path

from bench.machine import machine_line

warnings.filterwarnings("ignore", category=DeprecationWarning)

from tests.program_mocks import run_program  # noqa: E402  (after the filter: importing the SDKs warns)

ROOT = Path(__file__).resolve().parent.parent

ACCOUNT = "0123456789abcdef0123456789abcdef"
DEFAULTS = {"mode": "enforce", "maxAge": 604800, "mx": ["mx1.mail.example"], "tlsrpt": ["mailto:t@r.example"]}
SIZES = (10, 100, 1000)
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
KINDS = {
    "cloudflare-worker, route": {},
    "cloudflare-worker, custom-domain": {"routing": "custom-domain"},
    "cloudflare-worker, custom-domain, dns external": {"routing": "custom-domain", "dns": "external"},
    "github-pages": {"hosting": "github-pages"},
    "github-pages, dns external": {"hosting": "github-pages", "dns": "external"},
}


def config(domains: dict[str, dict]) -> dict:
    return {
        "mta-sts:cloudflareAccountId": ACCOUNT,
        "github:owner": "example-org",
        "mta-sts:defaults": DEFAULTS,
        "mta-sts:domains": domains,
    }


def run(domains: dict[str, dict]):
    result = run_program(config(domains), stack="bench")
    if result.error is not None:
        raise result.error
    return result


def per_domain() -> None:
    print("(a) resources per domain (TLS-RPT on; without it one DnsRecord less where DNS is managed)")
    print(f"    {'hosting':<48} {'per domain':>10}  what")
    for kind, settings in KINDS.items():
        one = run({"a.example": settings})
        two = run({"a.example": settings, "b.example": settings})
        mine = [r for r in two.resources if "b.example" in r.name]
        shared = len(one.resources) - len(mine)
        what = ", ".join(sorted({r.type.rsplit(":", 1)[-1] for r in mine}))
        print(f"    {kind:<48} {len(mine):>10}  {what}; per stack: {shared}")


def timing() -> None:
    stacks = {n: {f"customer-{i:05}.example": {} for i in range(n)} for n in SIZES}
    run(stacks[10])  # imports and first-run costs out of the figures
    times: dict[int, list[float]] = {n: [] for n in SIZES}
    counts: dict[int, int] = {}
    for _ in range(ROUNDS):
        for n in SIZES:
            start = time.perf_counter()
            result = run(stacks[n])
            times[n].append(time.perf_counter() - start)
            counts[n] = len(result.resources)
    print(f"(b) evaluation under mocks, Worker route domains, median of {ROUNDS} rounds")
    print(f"    {'domains':>8} {'resources':>10} {'median s':>9} {'ms/domain':>10}  all rounds (s)")
    per = {}
    for n in SIZES:
        median = statistics.median(times[n])
        per[n] = median / n
        rounds = " ".join(f"{t:.2f}" for t in times[n])
        print(f"    {n:>8} {counts[n]:>10} {median:>9.3f} {per[n] * 1000:>10.2f}  {rounds}")
    ratio = per[1000] / per[100]
    verdict = "meets" if ratio <= 1.3 else "misses"
    print(f"    per-domain cost 1,000 vs 100: {ratio:.2f}x ({verdict} the 1.3x target)")


def machine() -> None:
    from importlib.metadata import version

    print(
        machine_line(
            f"pulumi {version('pulumi')}",
            f"pulumi-cloudflare {version('pulumi-cloudflare')}",
            f"pulumi-github {version('pulumi-github')}",
        )
    )


if __name__ == "__main__":
    started = time.perf_counter()
    machine()
    per_domain()
    timing()
    print(f"total {time.perf_counter() - started:.1f} s")
