"""The ``verify`` command line: arguments in, a report out, exit 0, 1 or 2."""

from __future__ import annotations

import argparse
import sys
import time

import dns.resolver

from mtasts.commands.shared.args import UsageError, names_and_stack, options_from_args, thresholds_from_args
from mtasts.commands.shared.domain_check import verify
from mtasts.commands.shared.progress import meter
from mtasts.commands.verify.metrics import render_openmetrics
from mtasts.commands.verify.report import json_chunks, render_text


def run(args: argparse.Namespace) -> int:
    """The ``verify`` command: 0 with no error finding, 1 with any, 2 on bad usage."""
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
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except dns.resolver.NoResolverConfiguration:
        print("error: no system DNS resolver configured; pass --nameserver", file=sys.stderr)
        return 2
    elapsed = time.monotonic() - started
    form = getattr(args, "format", None) or ("json" if getattr(args, "json", False) else "text")
    if form == "openmetrics":
        sys.stdout.write(render_openmetrics(reports))
    elif form == "json":
        for chunk in json_chunks(reports):
            sys.stdout.write(chunk)
    else:
        sys.stdout.write(render_text(reports, elapsed, problems_only=getattr(args, "problems", False)))
    return 1 if any(r.errors for r in reports) else 0

