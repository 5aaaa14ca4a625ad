"""What ``verify`` prints: per domain a ``Report`` of findings, as text or as one JSON object."""

from __future__ import annotations

import json
from collections.abc import Iterator

from mtasts.commands.shared.domain_check import Report
from mtasts.model.findings import Severity

PROBLEMS = (Severity.ERROR, Severity.WARNING)


def render_text(reports: list[Report], elapsed: float | None = None, problems_only: bool = False) -> str:
    """The human report: per domain a heading, one line per finding, a summary line naming the
    failing domains. ``problems_only`` keeps errors and warnings, and the domains that have any."""
    out = []
    urgent = [(r, f) for r in reports for f in r.urgent]
    if urgent:
        out.append("URGENT: MX certificates of enforce domains about to expire (mail will bounce):")
        out += [f"  {r.domain}: {f.reason}" for r, f in urgent]
        out.append("")
    width = max((len(f.name) for r in reports for f in r.findings), default=10)
    for report in reports:
        shown = [
            f
            for f in report.findings
            if not problems_only or f.severity in (Severity.ERROR, Severity.WARNING)
        ]
        if problems_only and not shown:
            continue
        out.append(f"{report.domain} (mode {report.mode or 'unknown'})")
        for f in shown:
            out.append(f"  {f.severity:<7} {f.name:<{width}}  {f.reason}")
        verdict = "FAIL" if report.errors else "PASS"
        out.append(f"  {verdict}: {_plural(report.errors, 'error')}, {_plural(report.warnings, 'warning')}")
        out.append("")
    failed = [r.domain for r in reports if r.errors]
    took = f" in {elapsed:.2f} s" if elapsed is not None else ""
    named = f" ({', '.join(failed)})" if failed else ""
    out.append(f"{_plural(len(reports), 'domain')} checked{took}: {len(failed)} with errors{named}")
    return "\n".join(out) + "\n"


def render_json(reports: list[Report]) -> str:
    return "".join(json_chunks(reports))


def json_chunks(reports: list[Report]) -> Iterator[str]:
    """``render_json``'s text in pieces, one domain at a time, for writing as they come: the
    whole document as one dict and one string took four times the reports' own memory (33 MB
    over 2,000 domains). Together the pieces are ``json.dumps(document, indent=2)`` and a newline."""
    yield '{\n  "domains": {'
    for index, report in enumerate(reports):
        entry = json.dumps(report.as_json(), indent=2).replace("\n", "\n    ")
        yield f"{',' if index else ''}\n    {json.dumps(report.domain)}: {entry}"
    yield "\n  }," if reports else "},"
    tail = {
        "errors": sum(r.errors for r in reports),
        "warnings": sum(r.warnings for r in reports),
        "urgent": [{"domain": r.domain, **f.as_json()} for r in reports for f in r.urgent],
    }
    yield json.dumps(tail, indent=2)[1:] + "\n"  # the same keys at the same depth: only "{" goes


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
