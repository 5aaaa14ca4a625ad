"""What ``verify`` prints: per domain a ``Report`` of findings, as text or as one JSON object."""

from __future__ import annotations

import json

from mtasts.commands.shared.domain_check import Report


def render_text(reports: list[Report], elapsed: float | None = None) -> str:
    """The human report: per domain a heading, one line per finding, a summary line."""
    out = []
    urgent = [(r, f) for r in reports for f in r.urgent]
    if urgent:
        out.append("URGENT: MX certificates of enforce domains about to expire (mail will bounce):")
        out += [f"  {r.domain}: {f.reason}" for r, f in urgent]
        out.append("")
    width = max((len(f.name) for r in reports for f in r.findings), default=10)
    for report in reports:
        out.append(f"{report.domain} (mode {report.mode or 'unknown'})")
        for f in report.findings:
            out.append(f"  {f.severity:<7} {f.name:<{width}}  {f.reason}")
        verdict = "FAIL" if report.errors else "PASS"
        out.append(f"  {verdict}: {_plural(report.errors, 'error')}, {_plural(report.warnings, 'warning')}")
        out.append("")
    failed = sum(1 for r in reports if r.errors)
    took = f" in {elapsed:.2f} s" if elapsed is not None else ""
    out.append(f"{_plural(len(reports), 'domain')} checked{took}: {failed} with errors")
    return "\n".join(out) + "\n"


def render_json(reports: list[Report]) -> str:
    document = {
        "domains": {r.domain: r.as_json() for r in reports},
        "errors": sum(r.errors for r in reports),
        "warnings": sum(r.warnings for r in reports),
        "urgent": [{"domain": r.domain, **f.as_json()} for r in reports for f in r.urgent],
    }
    return json.dumps(document, indent=2) + "\n"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
