"""Command-line values shared by the commands that probe the network."""

from __future__ import annotations

import argparse

from mtasts.probes import ProbeOptions


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
    )
