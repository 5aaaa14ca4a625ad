"""Benchmark: how soon the live gate opens after a policy switch, and what plan --base costs.

Usage::

    .venv/bin/python -m bench.bench_rollout [--runs 7] [--interval 1.0] [--commits 200]

1. Live gate. Knot DNS behind a proxy that holds every answer 20 ms, and an HTTPS server (trustme
   certificate) that waits 80 ms before its TLS handshake, model the internet on loopback. The
   host serves the old policy; ``mtasts.probes.live.wait_live`` (the loop the hook and
   ``wait-live`` share) polls every ``--interval`` s; the bytes are switched at a random moment.
   Reported: the time of one look, and from switch to gate open (median, min, max of ``--runs``).
   The bound is one interval plus one look.
2. plan --base. A git repository with ``--commits`` commits of a 100-domain stack file, the last
   retiring one domain properly (so the history is walked back to before ``mode: none``).
   Reported: wall time of ``python -m mtasts plan --base`` (median of 3), and the same without
   history to walk (a domain added and changed, none removed).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from bench.machine import machine_line

ROOT = Path(__file__).resolve().parent.parent
DNS_DELAY = 0.020
TLS_DELAY = 0.080


def bench_gate(runs: int, interval: float) -> None:
    from mtasts.model.config import load_config
    from mtasts.probes.live import look, wait_live
    from mtasts.probes.options import ProbeOptions
    from mtasts.rfc.policy import Policy
    from tests.servers import DelayingDns, HttpsServer, KnotDns, Pki, Route, zone_text

    domain = load_config(
        {
            "cloudflareAccountId": "0" * 32,
            "domains": {"gate.bench.test": {"mx": ["mx.bench.test"], "mode": "enforce"}},
        }
    ).domains[0]
    old = Policy(mode="testing", max_age=86400, mx=("mx.bench.test",)).render().encode()
    new = domain.policy_text.encode()
    with tempfile.TemporaryDirectory() as tmp:
        pki = Pki(Path(tmp))
        zone = zone_text("bench.test", [(f"{domain.policy_host}.", "A", "127.0.0.1")])
        with (
            KnotDns({"bench.test": zone}) as knot,
            DelayingDns((knot.host, knot.port), DNS_DELAY) as proxy,
            HttpsServer(
                {domain.policy_host: pki.context(domain.policy_host)},
                pki.context("default.invalid"),
                {},
                greeting_delay=TLS_DELAY,
            ) as https,
        ):
            options = ProbeOptions(
                nameserver=(proxy.host, proxy.port),
                ca_bundle=str(pki.ca_file),
                https_port=https.port,
                timeout=5,
            )
            https.routes[domain.policy_host] = Route(body=old)
            looks = []
            for _ in range(runs):
                started = time.monotonic()
                asyncio.run(look(domain.name, domain.policy_id, options))
                looks.append(time.monotonic() - started)
            waits = []
            for _ in range(runs):
                https.routes[domain.policy_host] = Route(body=old)
                switched: list[float] = []

                def switch(switched: list[float] = switched) -> None:
                    time.sleep(interval * 2 + random.uniform(0, interval))
                    https.routes[domain.policy_host] = Route(body=new)
                    switched.append(time.monotonic())

                thread = threading.Thread(target=switch)
                thread.start()
                asyncio.run(wait_live({domain.name: domain.policy_id}, options, 60, interval))
                opened = time.monotonic()
                thread.join()
                waits.append(opened - switched[0])
    print(
        f"live gate, {runs} runs, interval {interval:g} s, "
        f"DNS +{DNS_DELAY * 1000:.0f} ms, TLS +{TLS_DELAY * 1000:.0f} ms:"
    )
    print(
        f"  one look: median {statistics.median(looks) * 1000:.0f} ms "
        f"(min {min(looks) * 1000:.0f}, max {max(looks) * 1000:.0f})"
    )
    print(
        f"  switch → gate open: median {statistics.median(waits):.2f} s "
        f"(min {min(waits):.2f}, max {max(waits):.2f}); "
        f"bound interval + look = {interval + max(looks):.2f} s"
    )


def _git(repo: Path, *args: str, when: datetime.datetime | None = None) -> None:
    env = dict(os.environ)
    if when is not None:
        env["GIT_COMMITTER_DATE"] = env["GIT_AUTHOR_DATE"] = when.isoformat()
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def bench_plan_base(commits: int) -> None:
    now = datetime.datetime.now(datetime.UTC)
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        shutil.copy(ROOT / "Pulumi.yaml", repo / "Pulumi.yaml")
        _git(repo, "init", "-q")
        _git(repo, "config", "user.email", "b@example.com")
        _git(repo, "config", "user.name", "b")
        domains: dict[str, dict[str, object]] = {f"d{i}.bench.test": {} for i in range(100)}
        domains["old.bench.test"] = {"mode": "enforce", "maxAge": 86400}

        def commit(when: datetime.datetime) -> None:
            config = {
                "config": {
                    "mta-sts:cloudflareAccountId": "0" * 32,
                    "mta-sts:defaults": {"mx": ["mx.bench.test"]},
                    "mta-sts:domains": domains,
                }
            }
            (repo / "Pulumi.t.yaml").write_text(yaml.safe_dump(config))
            _git(repo, "add", "-A")
            _git(repo, "commit", "-q", "-m", "c", when=when)

        start = now - datetime.timedelta(days=commits + 30)
        retire_at = commits - commits // 4
        for i in range(commits):
            when = start + datetime.timedelta(days=i)
            domains[f"d{i % 100}.bench.test"] = {"maxAge": 86400 + i}
            if i == retire_at:
                domains["old.bench.test"] = {
                    "mode": "none",
                    "mx": [],
                    "noneSince": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            commit(when)

        def timed(stack_domains: dict[str, dict[str, object]]) -> list[float]:
            config = {
                "config": {
                    "mta-sts:cloudflareAccountId": "0" * 32,
                    "mta-sts:defaults": {"mx": ["mx.bench.test"]},
                    "mta-sts:domains": stack_domains,
                }
            }
            (repo / "Pulumi.t.yaml").write_text(yaml.safe_dump(config))
            times = []
            for _ in range(3):
                started = time.monotonic()
                done = subprocess.run(
                    [sys.executable, "-m", "mtasts", "plan", "--stack", "t", "--base", "HEAD"],
                    cwd=repo,
                    capture_output=True,
                    text=True,
                )
                times.append(time.monotonic() - started)
                assert done.returncode == 0, done.stdout + done.stderr
            return times

        walked = timed({k: v for k, v in domains.items() if k != "old.bench.test"})
        flat = timed({**domains, "new.bench.test": {}, "d1.bench.test": {"maxAge": 7}})
    walk_back = commits - retire_at
    print(f"plan --base, 101-domain stack, {commits} commits:")
    print(
        f"  removing a retired domain (history walked {walk_back + 1} versions): "
        f"median {statistics.median(walked):.2f} s"
    )
    print(f"  adding and changing domains (no history read): median {statistics.median(flat):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--commits", type=int, default=200)
    args = parser.parse_args()
    print(machine_line())
    bench_gate(args.runs, args.interval)
    bench_plan_base(args.commits)


if __name__ == "__main__":
    main()
