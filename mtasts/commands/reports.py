"""``mtasts reports``: what senders saw, per domain and MX, from the stack's TLS report receiver.

The receiver computes the summary in D1 (``GET /v1/summary``); this command fetches it over HTTPS
with the read token and prints it. The token is a Pulumi secret (``mta-sts:reportsToken``), which
cannot be read offline, so the command takes it from ``MTASTS_REPORTS_TOKEN``.

``fetch_summary`` (``mtasts.commands.shared.receiver``) is what ``readiness`` reads too.
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from mtasts.commands.shared.args import options_from_args
from mtasts.commands.shared.diagnosis import diagnose
from mtasts.commands.shared.receiver import (
    ReportsError,
    ReportsRefused,
    endpoint_for,
    fetch_summary,
    rfc3339,
)
from mtasts.model import receiver as receiver_model
from mtasts.model.config import load_stack
from mtasts.model.receiver_summary import ReceiverSummary
from mtasts.rfc.tlsrpt_results import explain

_DURATION = re.compile(r"(\d+)([smhdw])\Z", re.ASCII)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


MAX_SINCE = timedelta(days=3650)
"""Longest ``--since``: the longest retention a receiver may have (``retentionDays`` ≤ 3650)."""


def parse_duration(text: str) -> timedelta:
    """``30m``, ``24h``, ``7d``, ``2w`` (also ``s``): a positive whole number and one unit, at most
    ``MAX_SINCE`` (a larger one would be older than anything stored, or than ``datetime`` allows)."""
    match = _DURATION.match(text.strip())
    shown = repr(text) if len(text) <= 40 else repr(text[:20] + "…") + f" ({len(text)} characters)"
    digits = match.group(1).lstrip("0") if match is not None else ""
    if match is None or not digits:
        raise ValueError(f"must be a positive whole number and a unit s, m, h, d or w (e.g. 7d), got {shown}")
    # Past 12 digits it is past MAX_SINCE in any unit, and past 4300 int() refuses to read it.
    seconds = int(digits) * _UNITS[match.group(2)] if len(digits) <= 12 else None
    if seconds is None or seconds > MAX_SINCE.total_seconds():
        raise ValueError(f"must be at most {MAX_SINCE.days}d (the longest retention), got {shown}")
    return timedelta(seconds=seconds)


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    return out


def explanations(summary: ReceiverSummary) -> dict[str, dict[str, str]]:
    """What each failure result type of the summary means and what to do (RFC 8460 §4.3)."""
    found: dict[str, dict[str, str]] = {}
    for entry in summary.domains.values():
        for failure in entry.failures:
            name = failure.result_type or ""
            kind = explain(name)
            if kind is not None and name not in found:
                found[name] = {"section": kind.section, "meaning": kind.meaning, "action": kind.action}
            elif kind is None and name not in found:
                unknown = "not an RFC 8460 result type"
                found[name] = {"section": "", "meaning": unknown, "action": "see the report"}
    return found


def render_text(
    summary: ReceiverSummary,
    stack: str,
    endpoint: str,
    since: datetime | None,
    diagnosis: dict[str, list[str]] | None = None,
) -> str:
    """The summary as aligned tables for people."""
    when = f"since {rfc3339(since)}" if since is not None else "all stored"
    lines = [f"stack {stack}: TLS reports ({when}) from {endpoint}", ""]
    rows = [
        ["domain", "reports", "orgs", "successful", "failed", "failure rate", "first report", "last report"]
    ]
    for name, entry in summary.domains.items():
        rate = entry.failure_rate()
        rows.append(
            [
                name,
                str(entry.reports),
                str(len(entry.organizations)),
                str(entry.successful),
                str(entry.failed),
                "-" if rate is None else f"{rate:.2%}",
                entry.first_report or "-",
                entry.last_report or "never",
            ]
        )
    lines += _table(rows, right={1, 2, 3, 4, 5})
    for name, entry in summary.domains.items():
        if entry.organizations:
            lines += ["", f"{name}: reported by {', '.join(entry.organizations)}"]
        if entry.failures:
            failures = [["  result type", "receiving MX", "receiving IP", "sessions"]]
            failures += [
                ["  " + (f.result_type or "-"), f.receiving_mx or "-", f.receiving_ip or "-", str(f.sessions)]
                for f in entry.failures
            ]
            lines += _table(failures, right={3})
            if entry.failures_omitted is not None and entry.failures_omitted[0] > 0:
                groups, sessions = entry.failures_omitted
                lines.append(f"  … and {groups} smaller failure group(s), {sessions} sessions, not listed")
            explained = explanations(ReceiverSummary({name: entry}, 0, 0, (), None))
            for kind, text in explained.items():
                section = f" (RFC 8460 §{text['section']})" if text["section"] else ""
                lines.append(f"  {kind}{section}: {text['meaning']}; {text['action']}")
        if diagnosis and diagnosis.get(name):
            lines.append(f"  {name} as a sender sees it now:")
            lines += [f"    {line}" for line in diagnosis[name]]
    lines.append("")
    if summary.silent:
        lines.append(f"silent (no report lately): {', '.join(summary.silent)}")
    lines.append(f"unparsed submissions: {summary.unparsed}")
    if summary.foreign:
        lines.append(f"about other domains (not counted): {summary.foreign}")
    return "\n".join(lines) + "\n"


def run(args: Any) -> int:
    """``mtasts reports --stack NAME [--since DURATION] [--json] [--endpoint URL]``."""
    deployment = load_stack(args.project_dir, args.stack)
    if deployment.receiver is None or not deployment.reports_domains:
        print(f"error: reports: no domain of stack {args.stack} uses reports: builtin", file=sys.stderr)
        return 2
    since = None
    if args.since is not None:
        try:
            since = datetime.now(UTC) - parse_duration(args.since)
        except ValueError as exc:
            print(f"error: --since: {exc}", file=sys.stderr)
            return 2
    token = os.environ.get(receiver_model.TOKEN_ENV, "")
    if not token:
        print(
            f"error: {receiver_model.TOKEN_ENV}: not set; export the read token "
            f"(`pulumi config get mta-sts:reportsToken` shows it)",
            file=sys.stderr,
        )
        return 2
    endpoint = args.endpoint or endpoint_for(deployment)
    try:
        summary = fetch_summary(endpoint, token, since, timeout=args.timeout)
    except ReportsRefused as exc:
        print(f"error: {receiver_model.TOKEN_ENV}: the receiver refused it ({exc})", file=sys.stderr)
        return 2
    except ReportsError as exc:
        print(f"error: endpoint: {exc}", file=sys.stderr)
        return 1
    diagnosis = None
    if args.diagnose:
        diagnosis = diagnose(summary, options_from_args(args))
    if args.json:
        document: dict[str, Any] = {**summary.as_json(), "explanations": explanations(summary)}
        if diagnosis is not None:
            document["diagnosis"] = diagnosis
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        sys.stdout.write(render_text(summary, args.stack, endpoint, since, diagnosis))
    return _alarm(summary.as_json())


def _alarm(summary: Any) -> int:
    """1 when any domain has failed sessions or a builtin domain is silent (so cron can alert),
    naming them on stderr; 0 otherwise. ``summary`` is the summary's JSON form."""
    domains = summary.get("domains") if isinstance(summary, dict) else None
    failing = sorted(
        name
        for name, entry in (domains or {}).items()
        if isinstance(entry, dict) and isinstance(entry.get("failed"), int) and entry["failed"] > 0
    )
    silent = [str(name) for name in (summary.get("silent") or [])] if isinstance(summary, dict) else []
    if not failing and not silent:
        return 0
    parts = []
    if failing:
        parts.append(f"failed sessions for {', '.join(failing)}")
    if silent:
        parts.append(f"no recent report from {', '.join(silent)}")
    print(f"reports: {'; '.join(parts)}", file=sys.stderr)
    return 1
