"""The ``verify`` command line: arguments in, a report out, exit 0, 1 or 2."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from mtasts.checks.drift import serving_worker
from mtasts.commands.shared.args import UsageError, names_and_stack, options_from_args, thresholds_from_args
from mtasts.commands.shared.domain_check import Report, verify
from mtasts.commands.shared.progress import meter
from mtasts.commands.verify.metrics import render_openmetrics
from mtasts.commands.verify.report import json_chunks, render_text
from mtasts.model.config import Deployment


def run(args: argparse.Namespace) -> int:
    """The ``verify`` command: 0 with no error finding, 1 with any, 2 on bad usage.

    ``--format openmetrics`` exits 0 with error findings too: they are in the numbers, and a
    textfile collector's ``verify > f.tmp && mv f.tmp f.prom`` would otherwise keep the last
    good run's file exactly when something broke.
    """
    try:
        options = options_from_args(args)  # raises UsageError for a bad trust anchor
        names, expected = names_and_stack(args)
        started = time.monotonic()
        progress = meter("verify", "domains checked")
        try:
            reports = verify(names, options, expected, args.concurrency, thresholds_from_args(args), progress)
        finally:
            if progress is not None:
                progress.end()
        if expected is not None:
            reports = [_with_worker(r, expected, args.stack) for r in reports]
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.monotonic() - started
    form = getattr(args, "format", None) or ("json" if getattr(args, "json", False) else "text")
    if form == "openmetrics":
        sys.stdout.write(render_openmetrics(reports))
        return 0
    if form == "json":
        for chunk in json_chunks(reports):
            sys.stdout.write(chunk)
    else:
        sys.stdout.write(render_text(reports, elapsed, problems_only=getattr(args, "problems", False)))
    return 1 if any(r.errors for r in reports) else 0


def _with_worker(report: Report, expected: Deployment, stack: str) -> Report:
    """A report whose policy failed, with the stack's Worker script (shard) that should serve it."""
    note = serving_worker(expected, stack, report.domain, report.findings)
    return report if note is None else dataclasses.replace(report, findings=(*report.findings, note))
