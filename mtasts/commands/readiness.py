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
from mtasts.commands.shared.progress import meter
from mtasts.model.config import load_stack
from mtasts.model.vocabulary import Mode


def render(verdicts: Sequence[Verdict], as_json: bool, enforced: frozenset[str] = frozenset()) -> str:
    """``enforced``: the domains the stack already has in enforce, said so instead of "ready for"."""
    if as_json:
        document = {
            "domains": {v.domain: {**v.as_json(), "alreadyEnforce": v.domain in enforced} for v in verdicts},
            "ready": all(v.ready for v in verdicts),
        }
        return json.dumps(document, indent=2) + "\n"
    out = []
    for verdict in verdicts:
        if verdict.domain in enforced:
            state = "safe to stay" if verdict.ready else "NOT SAFE to stay, by the evidence below"
            out.append(f"{verdict.domain}: already enforce; {state}")
        else:
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
        progress = meter("readiness", "domains checked")
        gather = verify_evidence(options, args.concurrency, deployment, progress)
        try:
            verdicts = assess(deployment, names, gather, reports_source(args))
        finally:
            if progress is not None:
                progress.end()
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    enforced = frozenset(d.name for d in deployment.domains if d.mode is Mode.ENFORCE)
    sys.stdout.write(render(verdicts, args.json, enforced))
    return 0 if all(v.ready for v in verdicts) else 1
