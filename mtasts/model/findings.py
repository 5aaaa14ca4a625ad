"""The one findings vocabulary: every rule of every command reports a ``Finding``.

The loader's warnings, ``verify``, ``plan --check-mx``, ``wait-live`` and ``readiness`` all speak
it, so a severity means the same everywhere and a JSON consumer reads one shape.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

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

    @property
    def name(self) -> str:
        """The name output shows: ``check``, or ``<via>-<check>`` for a re-reported finding."""
        return str(self.check) if self.via is None else f"{self.via}-{self.check}"

    def line(self) -> str:
        """``severity: key: reason`` (or ``severity: check: reason`` without a key)."""
        return f"{self.severity}: {self.key or self.name}: {self.reason}"

    def as_json(self) -> dict[str, str]:
        out = {"check": self.name, "severity": str(self.severity), "reason": self.reason}
        if self.key is not None:
            out["key"] = self.key
        if self.subject is not None:
            out["subject"] = self.subject
        return out


def worst(findings: Iterable[Finding]) -> Severity:
    """The worst severity among ``findings`` (``OK`` when there are none)."""
    return min((f.severity for f in findings), key=lambda s: s.rank, default=Severity.OK)
