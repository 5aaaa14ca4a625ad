"""Alerts that say what changed: findings new, worse or cleared since the last run.

A scheduled check that posts every finding every six hours is muted within a week. This keeps
the warnings and errors of a run keyed by (domain, check, subject) and compares them with the
previous run's: a key not there before (or there as ``ok``/``info``) is **new**, a key whose
severity rose from warning to error is **worse**, a key gone (or back to ``ok``/``info``) is
**cleared**, unless it was not looked at this time (``unchecked``). The same problem in the next
run is silent; one that eases (error to warning) is too, its state updated. Pure: the state is a
plain dict the command reads and writes as JSON.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from mtasts.model.findings import Finding, Severity

STATE_VERSION = 1
TRACKED = (Severity.ERROR, Severity.WARNING)
"""Severities that are problems to follow; ``info`` and ``ok`` are nothing to fix."""


class Change(enum.StrEnum):
    NEW = "new"
    WORSE = "worse"
    CLEARED = "cleared"


@dataclass(frozen=True)
class Tracked:
    """One problem as the state keeps it."""

    domain: str
    check: str
    subject: str
    severity: Severity
    reason: str
    since: str
    """When it was first seen (RFC 3339)."""

    @property
    def key(self) -> str:
        return key(self.domain, self.check, self.subject)

    def as_json(self) -> dict[str, str]:
        return {
            "domain": self.domain,
            "check": self.check,
            "subject": self.subject,
            "severity": str(self.severity),
            "reason": self.reason,
            "since": self.since,
        }


@dataclass(frozen=True)
class Alert:
    change: Change
    now: Tracked
    """The problem as it is now (for ``cleared``: as it was last seen)."""
    before: Severity | None = None

    def line(self, urgent: bool = False) -> str:
        where = f"{self.now.domain} {self.now.check}" + (f" ({self.now.subject})" if self.now.subject else "")
        loud = "URGENT " if urgent else ""
        if self.change is Change.CLEARED:
            return f"CLEARED {where}: was {self.now.severity} since {self.now.since}"
        if self.change is Change.WORSE:
            return f"{loud}WORSE {self.before}→{self.now.severity} {where}: {self.now.reason}"
        return f"{loud}NEW {self.now.severity} {where}: {self.now.reason}"


class StateError(ValueError):
    """The state file is not one this version wrote."""


def key(domain: str, check: str, subject: str) -> str:
    return f"{domain}|{check}|{subject}"


def current(findings: Iterable[tuple[str, Finding]], now: str) -> dict[str, Tracked]:
    """The problems of a run, keyed; several findings of one key keep the worst."""
    found: dict[str, Tracked] = {}
    for domain, finding in findings:
        if finding.severity not in TRACKED:
            continue
        tracked = Tracked(domain, finding.check, finding.subject or "", finding.severity, finding.reason, now)
        held = found.get(tracked.key)
        if held is None or tracked.severity.rank < held.severity.rank:
            found[tracked.key] = tracked
    return found


def seen(findings: Iterable[tuple[str, Finding]]) -> set[str]:
    """The keys a run has a finding for, at any severity (``ok`` included): those were checked."""
    return {key(domain, f.check, f.subject or "") for domain, f in findings}


def compare(
    previous: dict[str, Tracked], now: dict[str, Tracked], checked: Collection[str] = ()
) -> tuple[list[Alert], dict[str, Tracked]]:
    """The alerts from ``previous`` to ``now``, and the state to keep (first-seen times carried).

    ``checked`` (``seen``) holds the keys the run had a finding for: a problem back at ``ok`` there
    is cleared whatever else failed.
    """
    alerts: list[Alert] = []
    kept: dict[str, Tracked] = {}
    for k, item in now.items():
        before = previous.get(k)
        if before is None:
            alerts.append(Alert(Change.NEW, item))
            kept[k] = item
            continue
        kept[k] = Tracked(item.domain, item.check, item.subject, item.severity, item.reason, before.since)
        if item.severity.rank < before.severity.rank:
            alerts.append(Alert(Change.WORSE, kept[k], before.severity))
    for k, item in previous.items():
        if k in now:
            continue
        if k not in checked and unchecked(item, now):
            kept[k] = item  # not seen, but not checked either: still open, nothing to say
        else:
            alerts.append(Alert(Change.CLEARED, item))
    return alerts, kept


def unchecked(item: Tracked, now: dict[str, Tracked]) -> bool:
    """Whether a problem missing from this run may simply not have been looked at.

    A certificate's days left or a TLSA match is only known after a handshake: when the MX host
    stops answering (a ``starttls`` error for the same subject) or the domain fails before its
    hosts are probed (an error without a subject: DNS, the policy fetch), the finding is absent
    because nothing was checked, and "cleared" would claim more than was seen. Such a problem is
    kept, silently, until a run that gets that far says what it is.
    """
    return any(
        t.domain == item.domain and t.severity is Severity.ERROR and t.subject in ("", item.subject)
        for t in now.values()
    )


def load_state(document: Any) -> dict[str, Tracked]:
    """The problems of a state document (``dump_state``'s shape); raises ``StateError``."""
    if not isinstance(document, dict) or document.get("version") != STATE_VERSION:
        raise StateError(f"not a state file of version {STATE_VERSION}")
    items = document.get("findings")
    if not isinstance(items, list):
        raise StateError("findings: must be a list")
    found: dict[str, Tracked] = {}
    for n, item in enumerate(items):
        try:
            tracked = Tracked(
                str(item["domain"]), str(item["check"]), str(item["subject"]),
                Severity(item["severity"]), str(item["reason"]), str(item["since"]),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError):
            raise StateError(
                f"findings[{n}]: needs domain, check, subject, severity, reason, since"
            ) from None
        if tracked.severity not in TRACKED:
            raise StateError(f"findings[{n}]: severity must be error or warning, not {tracked.severity}")
        found[tracked.key] = tracked
    return found


def dump_state(state: dict[str, Tracked], when: str) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "updated": when,
        "findings": [state[k].as_json() for k in sorted(state)],
    }


def message(
    alerts: list[Alert], title: str = "mta-sts", urgent: Collection[str] = (), note: str | None = None
) -> str:
    """The webhook text: a count line, then one line per alert (worst news first).

    ``urgent`` holds the keys of the run's loudest findings (an enforce domain's MX certificate
    about to expire): new or worse, they come first, marked ``URGENT``. ``note`` (the state could
    not be read, say) is a line of its own after the counts.
    """
    order = {Change.NEW: 0, Change.WORSE: 1, Change.CLEARED: 2}
    counts = {c: sum(1 for a in alerts if a.change is c) for c in Change}
    head = ", ".join(f"{n} {c}" for c, n in counts.items() if n) or "nothing new"
    loud = {a.now.key for a in alerts if a.change is not Change.CLEARED and a.now.key in urgent}
    if loud:
        head = f"{len(loud)} URGENT; {head}"
    ranked = sorted(
        alerts, key=lambda a: (a.now.key not in loud, order[a.change], a.now.severity.rank, a.now.key)
    )
    lines = [f"{title}: {head}", *([f"NOTE {note}"] if note else [])]
    return "\n".join([*lines, *(a.line(a.now.key in loud) for a in ranked)])
