"""TLS report receiver benchmark: ingest rate in miniflare, and `reports` over 100,000 failure details.

Run from the checkout: ``.venv/bin/python -m bench.bench_reports`` (needs ``npm ci``).

(a) Ingest: REPORTS gzip'd reports (5 failure details each, large-sender shaped) POSTed to the
    receiver in the local runtime (miniflare, local D1 and R2 on disk as `serve` keeps them, and on
    tmpfs, which leaves out the disk's fsync time), one at a time and 8 at once; reports per
    second, median of RUNS runs with min..max. The same reports parsed by
    parsedmarc (``parse_smtp_tls_report_json`` after gunzip, what it does per attachment),
    single-threaded, for scale: parsedmarc only parses, we archive, parse, store and dedupe.
(b) Summary: 1,000 reports of 100 failure details each (100,000 stored failure rows over 3
    domains); the time of ``fetch_summary`` (what ``mtasts reports`` runs: one HTTP request, SQL
    in D1), median of 7 with min..max, beside parsedmarc parsing the same 1,000 reports.
Loopback has no round trip time: these are the runtime's, D1's and the Worker's own costs.
"""

from __future__ import annotations

import gzip
import json
import socket
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx

from bench.machine import machine_line
from mtasts.commands.shared.receiver import fetch_summary
from mtasts.model.config import load_config
from mtasts.runtime.miniflare import LocalWorker, receiver_worker, run_miniflare

REPORTS = 300
RUNS = 3
SUMMARY_REPORTS = 1000
DETAILS = 100
TOKEN = "bench-token"
STORAGE = {"D1/R2 on disk": None, "D1/R2 on tmpfs": "/dev/shm" if Path("/dev/shm").is_dir() else None}
"""Local D1 commits each write to disk (fsync); on a shared disk that, not the Worker, can dominate."""
DOMAINS = ("example.com", "example.org", "example.net")
RESULT_TYPES = (
    "certificate-expired",
    "starttls-not-supported",
    "validation-failure",
    "certificate-host-mismatch",
    "sts-webpki-invalid",
)


def report(run: int, index: int, details: int) -> bytes:
    """A large-sender shaped report for one domain: one sts policy, ``details`` failure details."""
    domain = DOMAINS[index % len(DOMAINS)]
    failures = [
        {
            "result-type": RESULT_TYPES[k % len(RESULT_TYPES)],
            "sending-mta-ip": f"198.51.100.{k % 250}",
            "receiving-mx-hostname": f"mx{k % 4}.{domain}",
            "receiving-ip": f"192.0.2.{(index + k) % 250}",
            "failed-session-count": 1 + k % 3,
        }
        for k in range(details)
    ]
    doc = {
        "organization-name": f"Sender {index % 7}",
        "date-range": {"start-datetime": "2026-11-27T00:00:00Z", "end-datetime": "2026-11-27T23:59:59Z"},
        "contact-info": "tlsrpt@sender.example",
        "report-id": f"run{run}-report{index}",
        "policies": [
            {
                "policy": {
                    "policy-type": "sts",
                    "policy-string": ["version: STSv1", "mode: testing", f"mx: *.{domain}", "max_age: 86400"],
                    "policy-domain": domain,
                    "mx-host": [f"*.{domain}"],
                },
                "summary": {
                    "total-successful-session-count": 1000 + index,
                    "total-failure-session-count": sum(int(str(f["failed-session-count"])) for f in failures),
                },
                "failure-details": failures,
            }
        ],
    }
    return gzip.compress(json.dumps(doc).encode(), mtime=0)


def worker() -> LocalWorker:
    deployment = load_config(
        {
            "mta-sts:cloudflareAccountId": "0" * 32,
            "mta-sts:defaults": {"mx": ["mx1.example.net"], "reports": "builtin"},
            "mta-sts:domains": {d: {} for d in DOMAINS},
            "mta-sts:reports": {"host": "tlsrpt.example.net", "rateLimitPerMinute": 1_000_000},
        }
    )
    assert deployment.receiver is not None
    return receiver_worker("bench", deployment.receiver, deployment.domains, TOKEN)


def post_all(url: str, bodies: list[bytes], concurrency: int) -> float:
    """Seconds to POST every body; each must be stored (201)."""
    # TCP_NODELAY: otherwise Nagle's algorithm and delayed ACKs on loopback add ~25 ms to some
    # requests (headers and body go out as two segments), and that, not the receiver, is measured.
    transport = httpx.HTTPTransport(
        limits=httpx.Limits(max_connections=concurrency),
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    )
    with httpx.Client(timeout=60, transport=transport) as client:

        def one(body: bytes) -> None:
            response = client.post(
                f"{url}/v1/tlsrpt", content=body, headers={"Content-Type": "application/tlsrpt+gzip"}
            )
            assert response.status_code == 201, response.text

        start = time.perf_counter()
        if concurrency == 1:
            for body in bodies:
                one(body)
        else:
            with ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(one, bodies))
        return time.perf_counter() - start


def parsedmarc_seconds(bodies: list[bytes]) -> float:
    import parsedmarc

    start = time.perf_counter()
    for body in bodies:
        parsedmarc.parse_smtp_tls_report_json(gzip.decompress(body))
    return time.perf_counter() - start


def spread(values: list[float], fmt: Callable[[float], str]) -> str:
    low, high = fmt(min(values)), fmt(max(values))
    return f"{fmt(statistics.median(values))} (min {low}, max {high}, n={len(values)})"


def ingest() -> None:
    print(f"(a) ingest of {REPORTS} gzip'd reports, 5 failure details each")
    results: dict[str, list[float]] = {}
    for run in range(RUNS):
        for where, base in STORAGE.items():
            with TemporaryDirectory(dir=base) as tmp, run_miniflare([worker()], 0, Path(tmp)) as running:
                serial = [report(run * 10, i, 5) for i in range(REPORTS)]
                parallel = [report(run * 10 + 1, i, 5) for i in range(REPORTS)]
                post_all(running.url, [report(run * 10 + 2, i, 5) for i in range(20)], 1)  # warm up
                rate = REPORTS / post_all(running.url, serial, 1)
                results.setdefault(f"{where}, 1 at a time", []).append(rate)
                rate = REPORTS / post_all(running.url, parallel, 8)
                results.setdefault(f"{where}, 8 at once", []).append(rate)
        results.setdefault("parsedmarc parse only", []).append(REPORTS / parsedmarc_seconds(serial))
    for name, values in results.items():
        print(f"  {name:<32} {spread(values, lambda v: f'{v:,.0f} reports/s')}")


def summary() -> None:
    rows = SUMMARY_REPORTS * DETAILS
    print(f"(b) summary over {SUMMARY_REPORTS} reports x {DETAILS} failure details = {rows:,} failure rows")
    bodies = [report(99, i, DETAILS) for i in range(SUMMARY_REPORTS)]
    with TemporaryDirectory() as tmp, run_miniflare([worker()], persist_dir=Path(tmp)) as running:
        load = post_all(running.url, bodies, 8)
        print(f"  loading them (8 at once): {load:.1f} s, {SUMMARY_REPORTS / load:,.0f} reports/s")
        first = fetch_summary(running.url, TOKEN)
        stored = sum(sum(f.sessions for f in d.failures) for d in first.domains.values())
        expected = sum(1 + k % 3 for k in range(DETAILS)) * SUMMARY_REPORTS
        assert stored == expected, (stored, expected)
        times = []
        for _ in range(7):
            start = time.perf_counter()
            fetch_summary(running.url, TOKEN)
            times.append(time.perf_counter() - start)
        since = []
        for _ in range(7):
            start = time.perf_counter()
            fetch_summary(running.url, TOKEN, datetime.now(UTC) - timedelta(days=1))
            since.append(time.perf_counter() - start)
    parse = [parsedmarc_seconds(bodies) for _ in range(3)]
    print(f"  fetch_summary (all):        {spread(times, lambda v: f'{v * 1000:,.0f} ms')}")
    print(f"  fetch_summary (--since 1d): {spread(since, lambda v: f'{v * 1000:,.0f} ms')}")
    print(f"  parsedmarc parsing them:    {spread(parse, lambda v: f'{v * 1000:,.0f} ms')}")
    print(f"  ratio parsedmarc / summary: {statistics.median(parse) / statistics.median(times):.1f}x")


def main() -> None:
    import parsedmarc

    print(machine_line(f"parsedmarc {parsedmarc.__version__}"))
    ingest()
    summary()


if __name__ == "__main__":
    main()
