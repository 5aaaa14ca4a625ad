"""Command-line values shared by the commands that probe the network."""

from __future__ import annotations

import argparse

import dns.exception

from mtasts.checks.certificates import Thresholds
from mtasts.model.config import Deployment, load_stack
from mtasts.probes import ProbeOptions
from mtasts.probes.dnssec import parse_anchor


class UsageError(ValueError):
    """A bad command-line value; printed as one ``error:`` line, exit 2."""


def options_from_args(args: argparse.Namespace) -> ProbeOptions:
    """``ProbeOptions`` from the CLI's namespace (values already checked by argparse)."""
    return ProbeOptions(
        nameserver=args.nameserver,
        ca_bundle=args.ca_bundle,
        https_port=args.https_port,
        smtp_port=getattr(args, "smtp_port", 25),
        timeout=args.timeout,
        dnssec_anchors=tuple(anchor_lines(getattr(args, "dnssec_anchor", None) or [])),
    )


def anchor_lines(paths: list[str]) -> list[str]:
    """The records of trust-anchor files: one per line, blank lines and ``;`` comments skipped.

    Raises ``UsageError`` naming the file for a line that is not a DS or DNSKEY record.
    """
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
    """The certificate days-left thresholds of ``--cert-warning-days`` and ``--cert-error-days``."""
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
