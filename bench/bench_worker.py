"""Worker benchmark: script size as domains grow, and request latency in workerd, 1 vs 10,000 domains.

Run from the checkout: ``.venv/bin/python -m bench.bench_worker`` (needs ``npm ci`` for workerd).

(a) The uploaded script (template plus the policies in its data region) for 1, 100 and 10,000
    domains sharing 20 distinct policies, raw and gzip'd. Target: 10,000 domains under 1 MiB
    (Cloudflare allows 3 MB compressed on the free plan, 10 MB on paid ones). For comparison,
    how many domains' data would fit in 5 KB, Cloudflare's documented limit per environment
    variable, which is why the data is not a ``json`` binding.
(b) Median request latency against workerd on 127.0.0.1, one Worker with 1 domain and one with
    10,000, requests alternated between the two so both see the same machine state.
    Target: the 10,000-domain median within 1.2x of the 1-domain one. Loopback has no round
    trip time: these figures are the runtime's and the Worker's own cost per request, which is
    what the number of domains could change.
"""

from __future__ import annotations

import gzip
import http.client
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.machine import machine_line
from mtasts.model.config import Domain, load_config
from mtasts.model.policy_worker import policy_data, template, worker_script
from mtasts.runtime.workerd import run_worker, workerd_binary

ROOT = Path(__file__).resolve().parent.parent

DISTINCT = 20
SIZES = (1, 100, 10_000)
ROUNDS = 10
PER_ROUND = 200
"""Requests per Worker per round: 10 x 200 = 2,000 timed requests each."""
WARMUP = 100
POLICY_PATH = "/.well-known/mta-sts.txt"
MIB = 1024 * 1024
ENV_VAR_LIMIT = 5 * 1024


def deployment(count: int, distinct: int = DISTINCT) -> tuple[Domain, ...]:
    """``count`` domains, domain i using policy i mod ``distinct`` (mode, max_age and MX hosts vary)."""
    policies = [
        {
            "mode": ("enforce", "testing")[k % 2],
            "maxAge": 86_400 * (k + 1),
            "mx": [f"mx1.mail-provider-{k}.example", f"mx2.mail-provider-{k}.example", "*.mx.shared.example"],
        }
        for k in range(distinct)
    ]
    domains = {f"customer-{i:05}.example.com": policies[i % distinct] for i in range(count)}
    config = {"cloudflareAccountId": "0123456789abcdef0123456789abcdef", "domains": domains}
    return load_config(config).worker_domains


def sizes() -> dict[int, tuple[Domain, ...]]:
    built: dict[int, tuple[Domain, ...]] = {}
    print("(a) Worker script size (template + data region), domains sharing 20 distinct policies")
    print(f"    template mtasts/worker/worker.js: {len(template().encode())} bytes")
    print(
        f"    {'domains':>8} {'distinct':>8} {'bytes':>10} {'KiB':>8} {'gzip bytes':>11} {'gzip KiB':>9}"
        f" {'bytes/domain':>13} {'lines':>7}"
    )
    for count in SIZES:
        domains = deployment(count)
        built[count] = domains
        content = worker_script(domains)
        raw = content.encode()
        distinct = len({d.policy_text for d in domains})
        packed = len(gzip.compress(raw, compresslevel=9, mtime=0))
        print(
            f"    {count:>8} {distinct:>8} {len(raw):>10} {len(raw) / 1024:>8.1f} {packed:>11}"
            f" {packed / 1024:>9.1f} {len(raw) / count:>13.1f} {len(content.splitlines()):>7}"
        )
        if count == 10_000:
            verdict = "meets" if len(raw) < MIB else "MISSES"
            print(f"    10,000 domains: {len(raw) / MIB:.3f} MiB, {verdict} the 1 MiB target")
    for distinct in (DISTINCT, 1):
        fits = 0
        while len(policy_data(deployment(fits + 1, distinct)).encode()) <= ENV_VAR_LIMIT:
            fits += 1
        print(
            f"    for comparison, domains whose data would fit in {ENV_VAR_LIMIT} bytes (Cloudflare's limit"
            f" per environment variable, json bindings included), {distinct} distinct: {fits}"
        )
    return built


def timed(conn: http.client.HTTPConnection, host: str) -> float:
    start = time.perf_counter()
    conn.request("GET", POLICY_PATH, headers={"Host": host})
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - start
    if response.status != 200 or not body.startswith(b"version: STSv1\r\n"):
        raise SystemExit(f"unexpected answer for {host}: {response.status} {body[:60]!r}")
    return elapsed


def latency(built: dict[int, tuple[Domain, ...]]) -> None:
    small, large = built[1], built[10_000]
    rng = random.Random(8461)
    print()
    print("(b) GET latency in workerd on 127.0.0.1 (keep-alive, one client, requests alternated)")
    t0 = time.perf_counter()
    with run_worker(worker_script(small)) as small_url:
        small_start = time.perf_counter() - t0
        t1 = time.perf_counter()
        with run_worker(worker_script(large)) as large_url:
            large_start = time.perf_counter() - t1
            small_conn = http.client.HTTPConnection("127.0.0.1", int(small_url.rsplit(":", 1)[1]))
            large_conn = http.client.HTTPConnection("127.0.0.1", int(large_url.rsplit(":", 1)[1]))
            small_host = small[0].policy_host
            large_hosts = [d.policy_host for d in large]
            # The data is evaluated and encoded when the module loads (in "ready after" above);
            # the first request still pays for warming the isolate.
            first = {"1": timed(small_conn, small_host), "10000": timed(large_conn, large_hosts[0])}
            for _ in range(WARMUP):
                timed(small_conn, small_host)
                timed(large_conn, rng.choice(large_hosts))
            samples: dict[str, list[float]] = {"1": [], "10000": []}
            round_ratios = []
            round_medians: dict[str, list[float]] = {"1": [], "10000": []}
            for _ in range(ROUNDS):
                one, many = [], []
                for _ in range(PER_ROUND):
                    one.append(timed(small_conn, small_host))
                    many.append(timed(large_conn, rng.choice(large_hosts)))
                samples["1"] += one
                samples["10000"] += many
                round_medians["1"].append(statistics.median(one))
                round_medians["10000"].append(statistics.median(many))
                round_ratios.append(statistics.median(many) / statistics.median(one))
            small_conn.close()
            large_conn.close()
    print(
        f"    workerd ready after: 1 domain {small_start * 1000:.0f} ms,"
        f" 10,000 domains {large_start * 1000:.0f} ms"
    )
    print(
        f"    first policy request after startup: 1 domain {first['1'] * 1000:.1f} ms,"
        f" 10,000 domains {first['10000'] * 1000:.1f} ms"
    )
    medians = {}
    for label, values in samples.items():
        values.sort()
        medians[label] = statistics.median(values)
        p90 = values[int(len(values) * 0.9)]
        print(
            f"    {label:>6} domain(s): n={len(values)} median {medians[label] * 1e6:.0f} us,"
            f" p90 {p90 * 1e6:.0f} us; per-round medians {min(round_medians[label]) * 1e6:.0f}"
            f"-{max(round_medians[label]) * 1e6:.0f} us"
        )
    ratio = medians["10000"] / medians["1"]
    verdict = "meets" if ratio <= 1.2 else "MISSES"
    print(f"    ratio of medians (10,000 / 1): {ratio:.3f}, {verdict} the 1.2x target")
    print(
        f"    per-round ratios: {', '.join(f'{r:.3f}' for r in round_ratios)};"
        f" their median {statistics.median(round_ratios):.3f},"
        f" spread {min(round_ratios):.3f}-{max(round_ratios):.3f}"
    )


def machine() -> None:
    version = subprocess.run([str(workerd_binary()), "--version"], capture_output=True, text=True, timeout=30)
    match = re.search(r"\S+\s+(\S+)", version.stdout.strip())
    print(machine_line(f"workerd {match.group(1) if match else version.stdout.strip()}"))
    print()


def main() -> int:
    started = time.perf_counter()
    machine()
    built = sizes()
    latency(built)
    print(f"\nbenchmark run time: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
