"""``mtasts readiness``: whether a domain can go ``testing → enforce`` now, and the evidence.

The rules are ``mtasts.checks.readiness`` (every failed session counts, placed by MX name, by IP
or unattributed: ``mtasts.checks.attribution``); the evidence is gathered once
(``mtasts.commands.shared.evidence``). This module reads the arguments and prints.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from mtasts.checks.readiness import Verdict
from mtasts.commands.shared.args import UsageError, options_from_args
from mtasts.commands.shared.evidence import assess, reports_source, verify_evidence
from mtasts.model.config import load_stack
from mtasts.model.vocabulary import Mode


def render(verdicts: Sequence[Verdict], as_json: bool) -> str:
    if as_json:
        document = {
            "domains": {v.domain: v.as_json() for v in verdicts},
            "ready": all(v.ready for v in verdicts),
        }
        return json.dumps(document, indent=2) + "\n"
    out = []
    for verdict in verdicts:
        out.append(f"{verdict.domain}: {'READY' if verdict.ready else 'NOT READY'} for enforce")
        out += [f"  {f.severity:<7} {f.name:<26} {f.reason}" for f in verdict.findings]
        out.append("")
    return "\n".join(out)


def run(args: Any) -> int:
    """The ``readiness`` command: 0 when every named domain is ready, 1 when one is not, 2 on bad usage."""
    deployment = load_stack(args.project_dir, args.stack)
    names = list(args.domains) or [d.name for d in deployment.domains if d.mode is not Mode.NONE]
    known = {d.name for d in deployment.domains}
    try:
        unknown = [n for n in names if n not in known]
        if unknown:
            raise UsageError(f"{', '.join(unknown)} not in stack {args.stack}")
        options = options_from_args(args)
        gather = verify_evidence(options, args.concurrency, deployment)
        verdicts = assess(deployment, names, gather, reports_source(args))
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(render(verdicts, args.json))
    return 0 if all(v.ready for v in verdicts) else 1
