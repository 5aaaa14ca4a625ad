"""``plan --check-mx``: compare each policy's ``mx`` patterns with the domain's live MX hosts.

Run before ``pulumi up``, this stops the one config mistake that loses mail outright: an
``enforce`` policy that leaves out an MX host senders will use (RFC 8461 §4.1, §5). It fails
closed: an ``enforce`` domain whose MX cannot be looked up (timeout, SERVFAIL, a CNAME loop) is
an error too, unless ``--allow-unknown-mx``. Lookups go through ``mtasts.probes`` (at most
``--concurrency`` at once, and never more sockets than the open-file limit allows); the rule is
``mtasts.checks.live_mx``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from mtasts.checks import live_mx
from mtasts.commands.shared.mx import lookup_mx_async
from mtasts.model.config import Deployment
from mtasts.model.findings import Finding, Severity
from mtasts.model.vocabulary import Mode
from mtasts.probes import ProbeOptions


def check_deployment(
    deployment: Deployment, options: ProbeOptions, concurrency: int = 64, allow_unknown: bool = False
) -> list[Finding]:
    """Findings for every domain of ``deployment`` not in mode none, in domain order."""
    checked = [d for d in deployment.domains if d.mode is not Mode.NONE]
    answers = asyncio.run(lookup_mx_async([d.name for d in checked], options, concurrency))
    return [
        replace(finding, domain=d.name)
        for d in checked
        for finding in live_mx(d.name, d.mode, d.mx, answers[d.name], allow_unknown)
    ]


def run(deployment: Deployment, args: argparse.Namespace) -> int:
    """Print live-MX findings on stderr; 1 when any is an error (an uncovered or unknown MX)."""
    options = ProbeOptions(nameserver=args.nameserver, timeout=args.timeout)
    findings = check_deployment(deployment, options, args.concurrency, args.allow_unknown_mx)
    for finding in findings:
        print(finding.line(), file=sys.stderr)
    return 1 if any(f.severity is Severity.ERROR for f in findings) else 0


def live_check(args: argparse.Namespace) -> Callable[[Deployment], list[Finding]]:
    """``--check-mx`` as a function of the deployment, for ``plan --base`` to list with its own."""
    options = ProbeOptions(nameserver=args.nameserver, timeout=args.timeout)

    def check(deployment: Deployment) -> list[Finding]:
        return check_deployment(deployment, options, args.concurrency, args.allow_unknown_mx)

    return check


def run_json(document: dict[str, Any], deployment: Deployment, args: argparse.Namespace) -> int:
    """``plan --check-mx --json``: the plan's ``document`` with ``"checkMx"``, the findings in the
    one finding shape; exit 1 when any is an error, as without ``--json``."""
    options = ProbeOptions(nameserver=args.nameserver, timeout=args.timeout)
    findings = check_deployment(deployment, options, args.concurrency, args.allow_unknown_mx)
    document["checkMx"] = [f.as_json() for f in findings]
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
    return 1 if any(f.severity is Severity.ERROR for f in findings) else 0
