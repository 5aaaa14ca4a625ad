"""The ``verify`` command line: arguments in, a report out, exit 0, 1 or 2."""

from __future__ import annotations

import argparse
import sys
import time

import dns.resolver

from mtasts.commands.shared.args import UsageError, options_from_args
from mtasts.commands.shared.domain_check import verify
from mtasts.commands.verify.report import render_json, render_text
from mtasts.model.config import load_stack


def run(args: argparse.Namespace) -> int:
    """The ``verify`` command: 0 with no error finding, 1 with any, 2 on bad usage."""
    try:
        options = options_from_args(args)
        names = list(dict.fromkeys(args.domains or []))  # cli.domain has checked and normalized them
        expected = None
        if args.stack:
            expected = load_stack(args.project_dir, args.stack)
            in_stack = [d.name for d in expected.domains]
            outside = [n for n in names if n not in in_stack]
            if outside:
                raise UsageError(f"{', '.join(outside)} not in stack {args.stack}")
            names = names or in_stack
        started = time.monotonic()
        reports = verify(names, options, expected, args.concurrency)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except dns.resolver.NoResolverConfiguration:
        print("error: no system DNS resolver configured; pass --nameserver", file=sys.stderr)
        return 2
    elapsed = time.monotonic() - started
    sys.stdout.write(render_json(reports) if args.json else render_text(reports, elapsed))
    return 1 if any(r.errors for r in reports) else 0
