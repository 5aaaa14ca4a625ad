"""Rollout settings: the live gate, readiness thresholds and when ``mode: none`` went live.

Three stack-config keys, each validated here and called from the one loader
(``mtasts.model.loader``; ``noneSince`` through the validator table), so ``plan``, the
program, ``wait-live`` and ``readiness`` read the same values:

- ``mta-sts:liveGate: {timeout, interval, rounds, span, firstPagesTimeout}``: how long
  ``pulumi up`` (and ``wait-live``) waits for a new policy to be served before it gives up, how
  often it looks, how steadily it must be served (``rounds`` good looks in a row over at least
  ``span`` seconds), and how long before a new GitHub Pages domain's first ``_mta-sts`` TXT (its
  certificate comes first);
- ``mta-sts:readiness: {minDays, minOrganizations, maxFailureRate}``: the evidence
  ``readiness`` wants before ``testing → enforce``;
- ``domains.<d>.noneSince``: the moment a domain's ``mode: none`` policy went live, which
  ``plan --base`` reads back before it lets the domain be removed (RFC 8461 §8.3).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from mtasts.model.errors import ConfigError


def _fail(key: str, rule: str) -> NoReturn:
    raise ConfigError(key, rule)


@dataclass(frozen=True)
class LiveGate:
    """How long to wait for a new policy to be served, and how often to look."""

    timeout: float = 600.0
    """Seconds before the wait fails (``pulumi up`` then leaves the old ``_mta-sts`` TXT)."""
    interval: float = 5.0
    """Seconds between two fetches of the policy."""
    rounds: int = 3
    """Good looks in a row (every address serving the new bytes) before the policy counts as live."""
    span: float = 30.0
    """Seconds at least from the first to the last of those looks (a flapping host never passes);
    when not given, half the timeout if that is shorter."""
    first_pages_timeout: float = 3600.0
    """Seconds the gate waits before a GitHub Pages domain's first ``_mta-sts`` TXT: GitHub issues
    the site's certificate only once ``mta-sts.<d>`` points at it (minutes, up to about an hour)."""


@dataclass(frozen=True)
class Readiness:
    """The evidence ``readiness`` wants before a domain goes ``testing → enforce``."""

    min_days: int = 14
    """Days of TLS reports, from the first to now."""
    min_organizations: int = 2
    """Distinct reporting organizations (Google, Microsoft, …)."""
    max_failure_rate: float = 0.0
    """Largest share of sessions failing at the domain's own MX hosts (0.0: none may fail)."""


LIVE_GATE_KEYS = {
    "timeout": "timeout",
    "interval": "interval",
    "rounds": "rounds",
    "span": "span",
    "firstPagesTimeout": "first_pages_timeout",
}
READINESS_KEYS = {
    "minDays": "min_days",
    "minOrganizations": "min_organizations",
    "maxFailureRate": "max_failure_rate",
}
MAX_GATE_SECONDS = 86400


def defaults_json(settings: LiveGate | Readiness) -> dict[str, Any]:
    """A settings object as its config key holds it (camelCase keys)."""
    names = LIVE_GATE_KEYS if isinstance(settings, LiveGate) else READINESS_KEYS
    return {key: getattr(settings, attr) for key, attr in names.items()}


def _mapping(raw: Any, key: str, allowed: Mapping[str, str]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        _fail(key, f"must be a mapping with keys {', '.join(allowed)}, got {raw!r}")
    for name in raw:
        if name not in allowed:
            _fail(f"{key}.{name}", f"unknown key; known keys: {', '.join(allowed)}")
    return dict(raw)


def _number(value: Any, key: str, low: float, high: float, whole: bool = False) -> Any:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (whole and not isinstance(value, int))
    ):
        kind = "a whole number" if whole else "a number"
        _fail(key, f"must be {kind}, got {value!r}")
    if not low <= value <= high:
        _fail(key, f"must be between {low:g} and {high:g}, got {value!r}")
    return value


def parse_live_gate(raw: Any, key: str = "liveGate") -> LiveGate:
    """``mta-sts:liveGate`` as a ``LiveGate``; defaults for what it leaves out."""
    given = _mapping(raw, key, LIVE_GATE_KEYS)
    base = LiveGate()
    timeout = float(_number(given.get("timeout", base.timeout), f"{key}.timeout", 1, MAX_GATE_SECONDS))
    interval = float(_number(given.get("interval", base.interval), f"{key}.interval", 0.1, 3600))
    if interval > timeout:
        _fail(f"{key}.interval", f"must not exceed timeout ({timeout:g} s), got {interval:g}")
    rounds = _number(given.get("rounds", base.rounds), f"{key}.rounds", 1, 100, whole=True)
    if "span" in given:
        span = float(_number(given["span"], f"{key}.span", 0, MAX_GATE_SECONDS))
        if span >= timeout:
            _fail(f"{key}.span", f"must be less than timeout ({timeout:g} s), or the wait never passes")
    else:
        span = default_span(timeout, base.span)
    never = streak_never_fits(timeout, interval, rounds)
    if never is not None:
        _fail(f"{key}.rounds", never)
    first = float(
        _number(
            given.get("firstPagesTimeout", max(base.first_pages_timeout, timeout)),
            f"{key}.firstPagesTimeout",
            1,
            MAX_GATE_SECONDS,
        )
    )
    if first < timeout:
        _fail(f"{key}.firstPagesTimeout", f"must be at least timeout ({timeout:g} s), got {first:g}")
    return LiveGate(timeout=timeout, interval=interval, rounds=rounds, span=span, first_pages_timeout=first)


def streak_never_fits(timeout: float, interval: float, rounds: int) -> str | None:
    """Why ``rounds`` looks ``interval`` seconds apart cannot all happen within ``timeout`` (so
    the wait could never pass); None when they can."""
    if (rounds - 1) * interval >= timeout:
        return (
            f"{rounds} looks {interval:g} s apart take {(rounds - 1) * interval:g} s at least, which is "
            f"not less than the timeout ({timeout:g} s): the wait could never pass"
        )
    return None


def default_span(timeout: float, span: float = LiveGate.span) -> float:
    """The span when none is given: ``span``, or half the timeout when that is shorter."""
    return min(span, timeout / 2)


def parse_readiness(raw: Any, key: str = "readiness") -> Readiness:
    """``mta-sts:readiness`` as a ``Readiness``; defaults for what it leaves out."""
    given = _mapping(raw, key, READINESS_KEYS)
    base = Readiness()
    return Readiness(
        min_days=_number(given.get("minDays", base.min_days), f"{key}.minDays", 0, 366, whole=True),
        min_organizations=_number(
            given.get("minOrganizations", base.min_organizations),
            f"{key}.minOrganizations",
            0,
            1000,
            whole=True,
        ),
        max_failure_rate=float(
            _number(given.get("maxFailureRate", base.max_failure_rate), f"{key}.maxFailureRate", 0, 1)
        ),
    )


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})?\Z", re.ASCII
)
"""RFC 3339 §5.6 ``date-time``: ``T`` and ``Z`` in either case, any fraction, ``Z`` or ``±hh:mm``."""


def parse_time(value: Any, key: str) -> datetime.datetime:
    """An RFC 3339 date-time with its offset (``2026-11-01T09:00:00Z``), timezone-aware, in UTC.

    Exactly RFC 3339 §5.6: lower-case ``t`` and ``z``, offsets and fractions of any length are
    accepted, a leap second (``:60``) is the second after ``:59``; ISO 8601 forms that are not
    RFC 3339 (week dates, ordinal dates, basic format, a missing offset) are refused.
    """
    if isinstance(value, datetime.datetime):
        parsed = value  # YAML reads an unquoted timestamp as a datetime already
    elif isinstance(value, str):
        parsed = _rfc3339(value.strip(), key)
    else:
        _fail(key, f"must be an RFC 3339 time such as 2026-11-01T09:00:00Z, got {value!r}")
    if parsed.tzinfo is None:
        _fail(key, f"must give its UTC offset (Z or +hh:mm), got {value!r}")
    try:
        return parsed.astimezone(datetime.UTC)
    except OverflowError:  # 9999-12-31T23:59:59-01:00 is in the year 10000 in UTC
        _fail(key, f"must be a time between the years 1 and 9999 in UTC, got {value!r}")


def _rfc3339(text: str, key: str) -> datetime.datetime:
    match = _RFC3339.match(text)
    if match is None:
        _fail(key, f"must be an RFC 3339 time such as 2026-11-01T09:00:00Z, got {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, offset = match.group(7), match.group(8)
    if offset is None:
        _fail(key, f"must give its UTC offset (Z or +hh:mm), got {text!r}")
    leap = second == 60
    try:
        zone = datetime.UTC
        if offset not in ("Z", "z"):
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            if hours > 23 or minutes > 59:
                raise ValueError("offset out of range")
            sign = -1 if offset[0] == "-" else 1
            zone = datetime.timezone(sign * datetime.timedelta(hours=hours, minutes=minutes))
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        parsed = datetime.datetime(year, month, day, hour, minute, 59 if leap else second, micro, zone)
        return parsed + datetime.timedelta(seconds=1) if leap else parsed
    except (ValueError, OverflowError):
        _fail(key, f"must be an RFC 3339 time such as 2026-11-01T09:00:00Z, got {text!r} (out of range)")


def format_time(moment: datetime.datetime) -> str:
    """``2026-11-01T09:00:00Z``: how ``noneSince`` is written."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
