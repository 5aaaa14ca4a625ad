"""``mtasts wait-live``: wait until every named domain serves the policy its stack plans.

The live gate of ``pulumi up`` as a command, for everyone who changes ``_mta-sts`` another way
(``dns: external``: a person bumps the TXT once this exits 0, RFC 8461 §8.1). The loop is the
gate's own (``mtasts.probes.live``): live means the new bytes on every address, ``--rounds`` looks
in a row over at least ``--span`` seconds, and the wait ends at ``--timeout`` whatever a host
does. Exit 0 once all are live, 1 on timeout (saying per domain what is served instead), 2 on bad
usage.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from mtasts.commands.shared.args import UsageError
from mtasts.commands.shared.progress import meter as progress_meter
from mtasts.model.config import load_stack
from mtasts.model.rollout import default_span, streak_never_fits
from mtasts.probes.live import NotLiveError, Served, wait_live
from mtasts.probes.options import ProbeOptions

STEP_TIMEOUT = 10.0
"""Seconds for each network step of one look (a DNS answer, a connection, the answer)."""


def probe_options(args: Any, step_timeout: float) -> ProbeOptions:
    """The test-only connection options, as ``verify`` takes them (checked by argparse)."""
    return ProbeOptions(
        nameserver=args.nameserver, ca_bundle=args.ca_bundle, https_port=args.https_port, timeout=step_timeout
    )


def run(args: Any) -> int:
    deployment = load_stack(args.project_dir, args.stack)
    try:
        names = list(args.domains)  # cli.domain has checked and normalized them
        known = {d.name: d for d in deployment.domains}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise UsageError(f"{', '.join(unknown)} not in stack {args.stack}")
        timeout = args.timeout if args.timeout is not None else deployment.live_gate.timeout
        rounds = args.rounds if args.rounds is not None else deployment.live_gate.rounds
        interval = args.interval if args.interval is not None else deployment.live_gate.interval
        if args.interval is None and streak_never_fits(timeout, interval, rounds):
            interval = timeout / rounds  # a shorter --timeout: the stack's interval would never pass
        span = args.span if args.span is not None else default_span(timeout, deployment.live_gate.span)
        if span >= timeout:
            raise UsageError(f"--span: must be less than the timeout ({timeout:g} s), got {span:g}")
        never = streak_never_fits(timeout, interval, rounds)
        if never is not None:
            raise UsageError(f"--rounds: {never}")
        options = probe_options(args, min(STEP_TIMEOUT, timeout))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    expected = {n: known[n].policy_id for n in names or known}
    started = time.monotonic()
    last: dict[str, str] = {}

    live: set[str] = set()
    meter = progress_meter("wait-live", "domains serve the planned policy")

    def progress(served: Served) -> None:
        line = served.describe()
        (live.add if served.live else live.discard)(served.domain)
        if last.get(served.domain) != line:
            last[served.domain] = line
            stamped = f"[{time.monotonic() - started:6.1f} s] {line}"
            if meter is None:
                print(stamped, file=sys.stderr)
            else:
                meter.note(stamped)
        if meter is not None:
            meter(len(live), len(expected))

    try:
        seen = asyncio.run(
            wait_live(expected, options, timeout, interval, on_look=progress, rounds=rounds, span=span)
        )
    except NotLiveError as exc:
        if meter is not None:
            meter.end()  # before the verdict lines on stdout
        for name, served in exc.waiting.items():
            steady = f" (only {exc.streaks.get(name, 0)} good look(s) in a row)" if served.live else ""
            print(f"not live: {served.describe()}{steady}")
        print(f"timed out after {timeout:g} s: {len(exc.waiting)} of {len(expected)} domain(s) not live")
        return 1
    finally:
        if meter is not None:
            meter.end()
    for served in seen.values():
        print(f"live: {served.describe()}")
    print(f"{len(seen)} domain(s) live after {time.monotonic() - started:.1f} s")
    return 0
