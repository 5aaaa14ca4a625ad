"""The receiver's summary (``GET /v1/summary``, ``mtasts/worker/receiver/summary.js``) as types.

Parsed once, where ``reports`` and ``readiness`` read it (``parse_summary``): a document that is
not the summary raises ``SummaryError`` naming the key. Keys the receiver always writes may be
absent in a hand-written ``readiness --reports FILE`` (a count is then 0, a time unknown); a
key of the wrong type is an error, never a silent zero. ``as_json`` gives the document back in
the receiver's own shape (what ``reports --json`` prints).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mtasts.model.rollout import parse_time
from mtasts.rfc.names import normalize_name


class SummaryError(ValueError):
    """The document is not the receiver's summary; the message names the key and the rule."""


@dataclass(frozen=True)
class FailureGroup:
    """Failed sessions of one domain with one result type, receiving MX and receiving IP."""

    result_type: str | None
    receiving_mx: str | None
    receiving_ip: str | None
    sessions: int

    def as_json(self) -> dict[str, Any]:
        return {
            "resultType": self.result_type,
            "receivingMx": self.receiving_mx,
            "receivingIp": self.receiving_ip,
            "sessions": self.sessions,
        }


@dataclass(frozen=True)
class OrganizationSummary:
    """What one reporting organization's reports say about one domain."""

    organization: str
    reports: int
    successful: int
    failed: int
    last_report: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "organization": self.organization,
            "reports": self.reports,
            "successful": self.successful,
            "failed": self.failed,
            "lastReport": self.last_report,
        }


@dataclass(frozen=True)
class DomainSummary:
    """What the stored reports say about one domain."""

    reports: int
    organizations: tuple[str, ...]
    successful: int
    """Sum of the reports' ``total-successful-session-count``."""
    failed: int
    """Sum of the reports' ``total-failure-session-count`` (details may cover fewer sessions)."""
    failures: tuple[FailureGroup, ...]
    first_report: str | None
    """The earliest date-range start of its reports (their receive time when later), RFC 3339."""
    last_report: str | None
    """The last receive time, RFC 3339."""
    first_at: datetime.datetime | None
    """``first_report`` parsed."""
    last_at: datetime.datetime | None
    """``last_report`` parsed."""
    by_organization: tuple[OrganizationSummary, ...] | None = None
    """Per reporting organization (``byOrganization``); None from a receiver that does not say."""
    failures_omitted: tuple[int, int] | None = None
    """Failure groups the receiver did not list (``failuresOmitted``: groups, sessions), the
    smallest; their sessions are in ``failed`` but in no group, so they count as unattributed."""

    def failure_rate(self) -> float | None:
        total = self.successful + self.failed
        return None if total == 0 else self.failed / total

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "reports": self.reports,
            "organizations": list(self.organizations),
            "successful": self.successful,
            "failed": self.failed,
            "failures": [f.as_json() for f in self.failures],
            "firstReport": self.first_report,
            "lastReport": self.last_report,
        }
        if self.by_organization is not None:
            document["byOrganization"] = [o.as_json() for o in self.by_organization]
        if self.failures_omitted is not None:
            groups, sessions = self.failures_omitted
            document["failuresOmitted"] = {"groups": groups, "sessions": sessions}
        return document


@dataclass(frozen=True)
class ReceiverSummary:
    """The receiver's whole answer: every domain it lists, and what it could not count."""

    domains: Mapping[str, DomainSummary]
    unparsed: int
    """Submissions kept but not readable as a report."""
    foreign: int
    """Reports about no domain of the stack (not counted)."""
    silent: tuple[str, ...]
    """Builtin domains without a report for ``silentAfterDays``."""
    since: str | None

    def domain(self, name: str) -> DomainSummary | None:
        return self.domains.get(normalize_name(name))

    def as_json(self) -> dict[str, Any]:
        return {
            "domains": {name: entry.as_json() for name, entry in self.domains.items()},
            "unparsed": self.unparsed,
            "foreign": self.foreign,
            "silent": list(self.silent),
            "since": self.since,
        }


def _count(value: Any, key: str) -> int:
    """A whole number ≥ 0; the receiver's sums are floats with no fraction (SQLite's TOTAL)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SummaryError(f"{key}: must be a whole number, got {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise SummaryError(f"{key}: must be a whole number, got {value!r}")
    if value < 0:
        raise SummaryError(f"{key}: must not be negative, got {value!r}")
    return int(value)


def _text(value: Any, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise SummaryError(f"{key}: must be a string or null, got {value!r}")
    return value


def _list(value: Any, key: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SummaryError(f"{key}: must be a list, got {type(value).__name__}")
    return value


def _time(value: Any, key: str) -> tuple[str | None, datetime.datetime | None]:
    text = _text(value, key)
    if text is None:
        return None, None
    try:
        return text, parse_time(text, key)
    except ValueError as exc:
        raise SummaryError(str(exc)) from None


def _failure(value: Any, key: str) -> FailureGroup:
    if not isinstance(value, Mapping):
        raise SummaryError(f"{key}: must be an object")
    return FailureGroup(
        _text(value.get("resultType"), f"{key}.resultType"),
        _text(value.get("receivingMx"), f"{key}.receivingMx"),
        _text(value.get("receivingIp"), f"{key}.receivingIp"),
        _count(value.get("sessions"), f"{key}.sessions"),
    )


def _organization(value: Any, key: str) -> OrganizationSummary:
    if not isinstance(value, Mapping):
        raise SummaryError(f"{key}: must be an object")
    name = value.get("organization")
    if not isinstance(name, str):
        raise SummaryError(f"{key}.organization: must be a string, got {name!r}")
    return OrganizationSummary(
        name,
        _count(value.get("reports"), f"{key}.reports"),
        _count(value.get("successful"), f"{key}.successful"),
        _count(value.get("failed"), f"{key}.failed"),
        _time(value.get("lastReport"), f"{key}.lastReport")[0],
    )


def parse_domain(value: Any, key: str) -> DomainSummary:
    """One domain's entry of the summary."""
    if not isinstance(value, Mapping):
        raise SummaryError(f"{key}: must be an object")
    organizations = _list(value.get("organizations"), f"{key}.organizations")
    for i, name in enumerate(organizations):
        if not isinstance(name, str):
            raise SummaryError(f"{key}.organizations[{i}]: must be a string, got {name!r}")
    failures = _list(value.get("failures"), f"{key}.failures")
    first, first_at = _time(value.get("firstReport"), f"{key}.firstReport")
    last, last_at = _time(value.get("lastReport"), f"{key}.lastReport")
    rows = value.get("byOrganization")
    by_organization = (
        None
        if rows is None
        else tuple(
            _organization(o, f"{key}.byOrganization[{i}]")
            for i, o in enumerate(_list(rows, f"{key}.byOrganization"))
        )
    )
    omitted = value.get("failuresOmitted")
    if omitted is not None and not isinstance(omitted, Mapping):
        raise SummaryError(f"{key}.failuresOmitted: must be an object")
    return DomainSummary(
        reports=_count(value.get("reports"), f"{key}.reports"),
        organizations=tuple(organizations),
        successful=_count(value.get("successful"), f"{key}.successful"),
        failed=_count(value.get("failed"), f"{key}.failed"),
        failures=tuple(_failure(f, f"{key}.failures[{i}]") for i, f in enumerate(failures)),
        first_report=first,
        last_report=last,
        first_at=first_at,
        last_at=last_at,
        by_organization=by_organization,
        failures_omitted=None
        if omitted is None
        else (
            _count(omitted.get("groups"), f"{key}.failuresOmitted.groups"),
            _count(omitted.get("sessions"), f"{key}.failuresOmitted.sessions"),
        ),
    )


def parse_summary(document: Any, key: str = "summary") -> ReceiverSummary:
    """The receiver's summary from its JSON document; ``SummaryError`` naming the bad key."""
    if not isinstance(document, Mapping) or not isinstance(document.get("domains"), Mapping):
        raise SummaryError(f"{key}: not a reports summary (no 'domains' object)")
    silent = _list(document.get("silent"), f"{key}.silent")
    if not all(isinstance(name, str) for name in silent):
        raise SummaryError(f"{key}.silent: must be a list of domain names")
    domains: dict[str, DomainSummary] = {}
    for name, entry in document["domains"].items():
        # Domain names compare without case or the root's dot (RFC 4343): an entry the readers
        # would not find under the stack's name must not hide its failures from readiness.
        plain = normalize_name(str(name))
        if plain in domains:
            raise SummaryError(
                f"{key}.domains.{name}: the same domain as another entry ({plain}), "
                "so its reports cannot be counted once"
            )
        domains[plain] = parse_domain(entry, f"{key}.domains.{name}")
    return ReceiverSummary(
        domains=domains,
        unparsed=_count(document.get("unparsed"), f"{key}.unparsed"),
        foreign=_count(document.get("foreign"), f"{key}.foreign"),
        silent=tuple(silent),
        since=_text(document.get("since"), f"{key}.since"),
    )
