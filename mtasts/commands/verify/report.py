"""What ``verify`` prints: per domain a ``Report`` of findings, as text or as one JSON object."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mtasts.model.findings import Finding, Severity


@dataclass(frozen=True)
class Report:
    """Every finding for one domain, in check order."""

    domain: str
    mode: str | None
    """The live policy's mode, or None when no valid policy was fetched."""
    findings: tuple[Finding, ...]

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    @property
    def errors(self) -> int:
        return self.count(Severity.ERROR)

    @property
    def warnings(self) -> int:
        return self.count(Severity.WARNING)

    def checks(self, severity: Severity | None = None) -> list[str]:
        """The check names found, optionally only those of one severity."""
        return [f.check for f in self.findings if severity is None or f.severity is severity]

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "errors": self.errors,
            "warnings": self.warnings,
            "findings": [f.as_json(self.domain) for f in self.findings],
        }


def render_text(reports: list[Report], elapsed: float | None = None) -> str:
    """The human report: per domain a heading, one line per finding, a summary line."""
    out = []
    width = max((len(f.check) for r in reports for f in r.findings), default=10)
    for report in reports:
        out.append(f"{report.domain} (mode {report.mode or 'unknown'})")
        for f in report.findings:
            out.append(f"  {f.severity:<7} {f.check:<{width}}  {f.reason}")
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
    }
    return json.dumps(document, indent=2) + "\n"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
