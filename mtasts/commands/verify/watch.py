"""``mtasts watch``: run ``verify`` and post to a webhook only what changed since the last run.

    mtasts watch --stack prod --state .mtasts/watch.json [--webhook-env MTASTS_REPORTS_WEBHOOK]
                 [--pulumi-preview-exit $?]

The state file keeps the warnings and errors of the last run (``mtasts.checks.alerts``); a run
posts ``{"text": …}`` (Slack-compatible, as the receiver's digest does) listing what is **new**,
what got **worse** and what **cleared**, and nothing when nothing changed. The state is written
only after the post succeeded, so a webhook that is down gets the same news on the next run.
A state file this version cannot read (cut short, edited, another version's) does not stop the
check: the run goes on as a first run (every open problem new, so nothing is missed), the post
says so, and the file is kept beside as ``<state>.unreadable``.
``--pulumi-preview-exit`` folds Pulumi's own drift check into the same alerts: the exit status of
``pulumi preview --expect-no-changes`` run just before (non-zero: something differs from the
stack, e.g. a record edited in the dashboard).

Exit status: 0 when the alert (if any) was delivered, 1 when posting failed, 2 on bad usage (a
``--state`` that is a directory, say).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx

from mtasts.checks.alerts import Tracked, compare, current, dump_state, key, load_state, message, seen
from mtasts.commands.shared.args import UsageError, names_and_stack, options_from_args, thresholds_from_args
from mtasts.commands.shared.domain_check import verify
from mtasts.commands.shared.files import write_atomically
from mtasts.model.findings import Finding, Severity
from mtasts.model.vocabulary import Check


def drift_finding(exit_code: int | None) -> Finding | None:
    """Pulumi's drift check as a finding, from the exit status of ``pulumi preview --expect-no-changes``."""
    if exit_code is None:
        return None
    if exit_code == 0:
        return Finding(Check.PULUMI_DRIFT, Severity.OK, "pulumi preview --expect-no-changes: no changes")
    return Finding(
        Check.PULUMI_DRIFT,
        Severity.ERROR,
        f"pulumi preview --expect-no-changes exited {exit_code}: the live resources differ from the "
        "stack (a record edited outside Pulumi?) or the preview failed; see the workflow log",
    )


def post(url: str, text: str, timeout: float) -> None:
    """POST ``{"text": text}`` to ``url``; raises ``httpx.HTTPError`` on failure or a non-2xx answer."""
    with httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False) as client:
        client.post(url, json={"text": text}).raise_for_status()


def read_state(path: Path) -> tuple[dict[str, Tracked], str | None]:
    """The previous run's problems, and why the file could not be read (None when it could).

    Raises ``UsageError`` for a path that can hold no state file (a directory).
    """
    if path.is_dir():
        raise UsageError(f"--state: {path}: is a directory, not a state file")
    if not path.exists():
        return {}, None
    try:
        return load_state(json.loads(path.read_text(encoding="utf-8"))), None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, StateError
        return {}, str(exc) or type(exc).__name__
    except OSError as exc:
        raise UsageError(f"--state: {path}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    state_path = Path(args.state)
    try:
        previous, unreadable = read_state(state_path)
        options = options_from_args(args)
        names, expected = names_and_stack(args)
        reports = verify(names, options, expected, args.concurrency, thresholds_from_args(args))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    note = None
    kept = state_path.with_name(state_path.name + ".unreadable")
    if unreadable is not None:
        note = (
            f"the last run's state ({state_path}) could not be read ({unreadable}): every open problem "
            f"is listed as new, and what cleared since is not known; the file is kept as {kept}"
        )
        print(f"warning: --state: {note}", file=sys.stderr)
    findings = [(r.domain, f) for r in reports for f in r.findings]
    urgent = {key(r.domain, f.check, f.subject or "") for r in reports for f in r.urgent}
    drift = drift_finding(args.pulumi_preview_exit)
    if drift is not None:
        findings.append((f"stack {args.stack}" if args.stack else "pulumi", drift))
    alerts, state = compare(previous, current(findings, when), seen(findings))
    errors = sum(r.errors for r in reports)
    print(
        f"{len(reports)} domains checked: {errors} errors; {len(state)} open problems, {len(alerts)} changes"
    )
    if alerts or note:
        title = f"mta-sts {args.stack}" if args.stack else "mta-sts"
        text = message(alerts, title, urgent, note)
        print(text)
        url = os.environ.get(args.webhook_env, "")
        if url:
            try:
                post(url, text, args.timeout)
            except httpx.HTTPError as exc:
                print(f"error: posting to ${args.webhook_env} failed: {exc}; state kept for the next run",
                      file=sys.stderr)  # fmt: skip
                return 1
        else:
            print(f"(${args.webhook_env} is not set: nothing posted)")
    state_path.parent.mkdir(parents=True, exist_ok=True)
    if unreadable is not None:
        state_path.replace(kept)
    write_atomically(state_path, json.dumps(dump_state(state, when), indent=1) + "\n")
    return 0
