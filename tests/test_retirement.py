"""Retirement rules (``mtasts.checks.retirement``) on versions built in memory: no git, no argparse."""

from __future__ import annotations

import datetime
from typing import Any

from mtasts.checks.retirement import StackVersion, removal_findings, retirement
from mtasts.model.config import load_config
from mtasts.model.domain import Deployment
from mtasts.model.findings import Severity

ACCOUNT = "0123456789abcdef0123456789abcdef"
NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)
YEAR = 31557600
NAME = "old.example"


def stack(**settings: Any) -> Deployment:
    domain = {"mx": ["mx.example.com"], "tlsrpt": ["mailto:r@example.net"], **settings}
    return load_config({"cloudflareAccountId": ACCOUNT, "domains": {NAME: domain}})


def none(since: datetime.datetime, max_age: int = 86400) -> Deployment:
    return stack(mode="none", mx=[], maxAge=max_age, noneSince=since.strftime("%Y-%m-%dT%H:%M:%SZ"))


def version(days_ago: float, deployment: Deployment | None, problem: str | None = None) -> StackVersion:
    return StackVersion(f"c{days_ago:g}", NOW - days_ago * DAY, deployment, problem)


def verdict(versions: list[StackVersion], complete: bool = True) -> tuple[Severity, str]:
    base = versions[0].deployment
    assert base is not None
    found = removal_findings(base.domain(NAME), retirement(iter(versions), NAME, complete), NOW)
    assert len(found) == 1
    return found[0].severity, found[0].reason


def test_the_longest_policy_within_its_own_max_age_is_the_wait() -> None:
    """A year of enforce, then a day of max_age 86400, then none: the year counts."""
    since = NOW - 3 * DAY
    severity, reason = verdict(
        [
            version(3, none(since)),
            version(4, stack(mode="enforce", maxAge=86400)),
            version(400, stack(mode="enforce", maxAge=YEAR)),
        ]
    )
    assert severity is Severity.ERROR and f"max_age {YEAR} s, the policy of commit c400" in reason


def test_a_policy_that_expired_before_none_does_not_count() -> None:
    """A week-long policy replaced a month before none: only the later hour-long one may be cached."""
    since = NOW - 10 * DAY
    severity, reason = verdict(
        [
            version(10, none(since)),
            version(40, stack(mode="enforce", maxAge=3600)),
            version(400, stack(mode="enforce", maxAge=604800)),
        ]
    )
    assert severity is Severity.OK and "old max_age 3600 s passed" in reason


def test_an_unloadable_version_in_the_window_cannot_tell() -> None:
    """A version that does not load between enforce and none: refused, naming its commit and why."""
    since = NOW - 20 * DAY
    severity, reason = verdict(
        [
            version(20, none(since)),
            version(30, None, "domains.old.example.mxx: unknown key"),
            version(400, stack(mode="enforce", maxAge=YEAR)),
        ]
    )
    assert severity is Severity.ERROR and "cannot tell" in reason
    assert "commit c30 does not load (domains.old.example.mxx: unknown key)" in reason


def test_a_version_past_the_longest_max_age_is_not_read() -> None:
    """Nothing ended more than 31557600 s before none can be cached: an unloadable one there is fine."""
    since = NOW - 2 * DAY
    versions = [
        version(2, none(since)),
        version(3, stack(mode="enforce", maxAge=86400)),
        version(800, stack(mode="enforce", maxAge=86400)),
        version(900, None, "broken"),
    ]
    severity, reason = verdict(versions)
    assert severity is Severity.OK, reason


def test_a_history_that_ends_early_cannot_tell() -> None:
    """A shallow clone: the walk ends inside the window, so older long policies cannot be ruled out."""
    since = NOW - 20 * DAY
    severity, reason = verdict(
        [version(20, none(since)), version(30, stack(mode="enforce", maxAge=86400))], False
    )
    assert severity is Severity.ERROR and "history of the stack file ends" in reason


def test_a_domain_added_in_none_waits_its_own_max_age() -> None:
    """Always none since it was added: the none policy's own max_age, from noneSince."""
    since = NOW - 3 * DAY
    before = load_config(
        {"cloudflareAccountId": ACCOUNT, "domains": {"other.example": {"mx": ["mx.example.com"]}}}
    )
    severity, reason = verdict([version(3, none(since, 86400)), version(5, before)])
    assert severity is Severity.OK and "old max_age 86400 s" in reason


def test_a_domain_removed_and_added_again_in_none_waits_for_the_policy_cached_before() -> None:
    """Enforce for a year of max_age until day 300, absent, then back in none on day 10: senders that
    fetched the year-long policy on day 300 hold it until 65 days from now (RFC 8461 §3.2)."""
    since = NOW - 10 * DAY
    before = load_config(
        {"cloudflareAccountId": ACCOUNT, "domains": {"other.example": {"mx": ["mx.example.com"]}}}
    )
    severity, reason = verdict(
        [
            version(10, none(since, 86400)),
            version(300, before),
            version(400, stack(mode="enforce", maxAge=YEAR)),
        ]
    )
    assert severity is Severity.ERROR and f"max_age {YEAR} s, the policy of commit c400" in reason


def test_a_policy_expired_before_the_domain_was_removed_and_added_again_does_not_count() -> None:
    """The same, but the removal was more than the old max_age before none: nothing is cached."""
    since = NOW - 10 * DAY
    before = load_config(
        {"cloudflareAccountId": ACCOUNT, "domains": {"other.example": {"mx": ["mx.example.com"]}}}
    )
    severity, reason = verdict(
        [
            version(10, none(since, 86400)),
            version(300, before),
            version(400, stack(mode="enforce", maxAge=604800)),
        ]
    )
    assert severity is Severity.OK and "old max_age 86400 s" in reason
