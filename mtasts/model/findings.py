"""The one findings vocabulary: every rule of every command reports a ``Finding``.

The loader's warnings, ``verify``, ``plan --check-mx``, ``wait-live`` and ``readiness`` all speak
it, so a severity means the same everywhere and a JSON consumer reads one shape.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mtasts.model.vocabulary import Check


class Severity(enum.StrEnum):
    """How bad a finding is. Ordered: ``ERROR`` is the worst."""

    ERROR = "error"
    """Senders will not use the policy, or will refuse or lose mail; the command exits 1."""
    WARNING = "warning"
    """Works today, but is wrong or will break under ``enforce``."""
    INFO = "info"
    """Worth knowing, nothing to fix."""
    OK = "ok"
    """The check passed."""

    @property
    def rank(self) -> int:
        """0 for ``ERROR`` up to 3 for ``OK``: sort by it to put the worst first."""
        return list(Severity).index(self)


@dataclass(frozen=True)
class Finding:
    """One result of one check: what was checked, how bad it is, and why, in one line."""

    check: Check
    """Stable machine-readable name of the rule, such as ``sts-record`` or ``mx-coverage``."""
    severity: Severity
    reason: str
    """One line a person can act on."""
    key: str | None = None
    """The dotted stack-config key the finding is about (``domains.example.com.mx``), if any."""
    subject: str | None = None
    """The host (or other thing) the finding is about when a check has one per host, such as an
    MX name: with ``check`` it names the finding across runs (alerts follow it by that)."""
    via: Check | None = None
    """The check that re-reports this one: ``readiness`` passes on a ``verify`` error as
    ``Finding(Check.STARTTLS, …, via=Check.VERIFY)``, named ``verify-starttls``."""
    domain: str | None = None
    """The mail domain it is about, when the rule knows it (commands fill it in otherwise)."""
    facts: tuple[tuple[str, Any], ...] = ()
    """Structured facts behind the message, as (name, value) pairs: the uncovered ``host``, the
    live ``ids``, ``atBase`` for a problem the change did not cause. Values are JSON-ready
    (strings, numbers, booleans, tuples of them)."""

    @property
    def name(self) -> str:
        """The name output shows: ``check``, or ``<via>-<check>`` for a re-reported finding."""
        return str(self.check) if self.via is None else f"{self.via}-{self.check}"

    def line(self) -> str:
        """``severity: key: reason`` (or ``severity: check: reason`` without a key)."""
        return f"{self.severity}: {self.key or self.name}: {self.reason}"

    def fact(self, name: str) -> Any:
        return dict(self.facts).get(name)

    def as_json(self, domain: str | None = None) -> dict[str, Any]:
        """The one JSON shape of a finding, in every command's ``--json``:
        ``{"check", "severity", "domain"?, "key"?, "subject"?, "message", "reason", "facts"?}``
        (``reason`` is ``message`` again, for readers of the older shape; ``domain`` from
        ``domain`` when the finding has none)."""
        out: dict[str, Any] = {"check": self.name, "severity": str(self.severity)}
        if self.domain or domain:
            out["domain"] = self.domain or domain
        if self.key is not None:
            out["key"] = self.key
        if self.subject is not None:
            out["subject"] = self.subject
        out["message"] = self.reason
        out["reason"] = self.reason
        if self.facts:
            out["facts"] = {name: list(v) if isinstance(v, tuple) else v for name, v in self.facts}
        return out


def worst(findings: Iterable[Finding]) -> Severity:
    """The worst severity among ``findings`` (``OK`` when there are none)."""
    return min((f.severity for f in findings), key=lambda s: s.rank, default=Severity.OK)
