"""The ``verify`` command line: arguments in, a report out, exit 0, 1 or 2."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import dns.exception
import dns.resolver

from mtasts.checks.certificates import Thresholds
from mtasts.commands.shared.args import UsageError
from mtasts.commands.shared.args import options_from_args as probe_options
from mtasts.commands.shared.domain_check import verify
from mtasts.commands.verify.metrics import render_openmetrics
from mtasts.commands.verify.report import render_json, render_text
from mtasts.model.config import Deployment, load_stack
from mtasts.probes import ProbeOptions
from mtasts.probes.dnssec import parse_anchor


def options_from_args(args: argparse.Namespace) -> ProbeOptions:
    """The shared probe options plus verify's DNSSEC trust anchors (raises ``UsageError``)."""
    anchors = tuple(_anchor_lines(getattr(args, "dnssec_anchor", None) or []))
    return dataclasses.replace(probe_options(args), dnssec_anchors=anchors)


def _anchor_lines(paths: list[str]) -> list[str]:
    """The records of trust-anchor files: one per line, blank lines and ``;`` comments skipped."""
    lines = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for raw in handle:
                line = raw.split(";", 1)[0].strip()
                if not line:
                    continue
                try:
                    parse_anchor(line)
                except (ValueError, dns.exception.DNSException) as exc:
                    raise UsageError(f"--dnssec-anchor: {path}: {exc}") from None
                lines.append(line)
    return lines


def thresholds_from_args(args: argparse.Namespace) -> Thresholds:
    return Thresholds(warning_days=args.cert_warning_days, error_days=args.cert_error_days)


def names_and_stack(args: argparse.Namespace) -> tuple[list[str], Deployment | None]:
    """The domains to check and the stack they are compared with (raises ``UsageError``)."""
    names = list(dict.fromkeys(args.domains or []))  # cli.domain has checked and normalized them
    expected = None
    if args.stack:
        expected = load_stack(args.project_dir, args.stack)
        in_stack = [d.name for d in expected.domains]
        outside = [n for n in names if n not in in_stack]
        if outside:
            raise UsageError(f"{', '.join(outside)} not in stack {args.stack}")
        names = names or in_stack
    return names, expected


def run(args: argparse.Namespace) -> int:
    """The ``verify`` command: 0 with no error finding, 1 with any, 2 on bad usage."""
    try:
        options = options_from_args(args)  # raises UsageError for a bad trust anchor
        names, expected = names_and_stack(args)
        started = time.monotonic()
        reports = verify(names, options, expected, args.concurrency, thresholds_from_args(args))
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
        sys.stdout.write(render_json(reports))
    else:
        sys.stdout.write(render_text(reports, elapsed))
    return 1 if any(r.errors for r in reports) else 0
