"""Retirement rules: when a domain may leave the stack without stranding a cached policy.

Senders cache a domain's policy for its ``max_age`` and keep using it until then, even after the
domain stops publishing one (RFC 8461 §3.2, §5.1, §8.3). So a domain leaves in two steps:
publish ``mode: none`` (with ``noneSince``), then remove it once every policy a sender may still
hold has expired. A sender that fetched a year-long ``enforce`` policy keeps it for a year unless
it happens to send mail while a shorter one is live, so the wait is the longest ``max_age`` of
any policy the domain had on the deployed line of history (``git log --first-parent``) within
that policy's own ``max_age`` before ``none`` began, counted from when ``none`` went live.

``retirement`` walks the versions of the stack file newest first, through versions that lack the
domain or the file (a domain removed and added back keeps its older policies), following the file
across renames. A version that does not load while it may still matter is "cannot tell", and so
is a history that ends (a shallow clone, the walk limit) before the answer: either refuses the
removal, naming the commit.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from mtasts.model.domain import Deployment, Domain
from mtasts.model.findings import Finding, Severity
from mtasts.model.rollout import format_time
from mtasts.model.vocabulary import Check, Mode
from mtasts.rfc.policy import MAX_AGE_LIMIT


@dataclass(frozen=True)
class StackVersion:
    """One committed version of the stack file on the deployed line."""

    commit: str
    committed: datetime.datetime
    deployment: Deployment | None
    """None when that version has no stack file (deleted there) or does not load."""
    problem: str | None = None
    """Why it does not load (``ConfigError`` text); None when it loads or has no stack file."""


@dataclass(frozen=True)
class Retirement:
    """When a domain's ``none`` policy began, and the ``max_age`` senders may still hold."""

    committed: datetime.datetime | None
    """The commit date of the oldest consecutive version in ``none``; None when unknown."""
    old_max_age: int | None
    """The longest ``max_age`` of a policy that may still be cached; None when none was ever other."""
    held_by: str | None = None
    """The commit of the version with that ``max_age``."""
    cannot_tell: str | None = None
    """Why the history cannot answer (a version that does not load, a history that ends); None: it can."""


def retirement(versions: Iterable[StackVersion], name: str, complete: bool = True) -> Retirement:
    """Walk back through ``versions`` (newest first, first-parent) for domain ``name``.

    ``complete`` says whether the versions reach the start of history (False for a shallow
    clone or a walk cut at its limit): a history that ends before the answer cannot tell.
    """
    none_since: datetime.datetime | None = None
    ended: datetime.datetime | None = None
    """When the version just read stopped being live: the commit date of the next newer one."""
    longest: int | None = None
    held_by: str | None = None
    in_none = True
    for version in versions:
        if not in_none and none_since is not None and ended is not None:
            # Nothing older than the longest possible max_age before none can still be cached.
            if (none_since - ended).total_seconds() >= MAX_AGE_LIMIT:
                return Retirement(none_since, longest, held_by)
        if version.deployment is None and version.problem is not None:
            return Retirement(
                none_since, longest, held_by,
                f"the stack file at commit {version.commit} does not load ({version.problem}), so "
                "which policy senders may still cache cannot be told",
            )  # fmt: skip
        # A version without the stack file (deleted, restored later) or without the domain (removed,
        # added back later) published nothing, but what senders cached before it may still be held:
        # the walk goes on to the start of the history or the longest max_age.
        domain = _domain(version.deployment, name) if version.deployment is not None else None
        if domain is None:
            in_none = False
        elif in_none and domain.mode is Mode.NONE:
            none_since = version.committed
        elif domain.mode is not Mode.NONE:
            in_none = False
            live_until = ended if ended is not None else version.committed
            assert none_since is not None  # the base version is in none
            if (none_since - live_until).total_seconds() < domain.max_age and (
                longest is None or domain.max_age > longest
            ):
                longest, held_by = domain.max_age, version.commit
        else:
            in_none = False
        ended = version.committed
    else:
        if not complete:
            return Retirement(
                none_since, longest, held_by,
                "the history of the stack file ends here (a shallow clone, or longer than the walk "
                "limit), so older policies senders may still cache cannot be told",
            )  # fmt: skip
    return Retirement(none_since, longest, held_by)


def _domain(deployment: Deployment, name: str) -> Domain | None:
    try:
        return deployment.domain(name)
    except KeyError:
        return None


def removal_findings(base: Domain, retired: Retirement | None, now: datetime.datetime) -> list[Finding]:
    """Whether removing ``base`` from the stack can strand a cached policy (RFC 8461 §8.3)."""
    key = f"domains.{base.name}"

    def refuse(reason: str) -> list[Finding]:
        return [Finding(Check.REMOVAL, Severity.ERROR, reason, key)]

    if base.mode is not Mode.NONE:
        return refuse(
            f"removed while in mode {base.mode}: senders that cached its policy keep applying it for "
            f"up to max_age {base.max_age} s; first set mode: none with noneSince, pulumi up, wait "
            f"max_age, then remove (RFC 8461 §8.3)"
        )
    if base.none_since is None:
        return refuse(
            f"removed without noneSince: set domains.{base.name}.noneSince to the time its mode: none "
            "policy went live, wait the old max_age from then, then remove (RFC 8461 §8.3)"
        )
    if retired is not None and retired.cannot_tell is not None:
        return refuse(f"cannot tell when it may go: {retired.cannot_tell} (RFC 8461 §8.3)")
    since = base.none_since
    note = ""
    if retired is not None and retired.committed is not None and retired.committed > since:
        since = retired.committed
        note = f" (noneSince {format_time(base.none_since)} precedes the commit that set mode: none)"
    # A none policy cached by a sender is harmless; its own max_age is the wait only when no
    # other policy may still be cached (a domain added straight in none).
    wait = base.max_age
    held = ""
    if retired is not None and retired.old_max_age is not None:
        wait = retired.old_max_age
        if retired.held_by is not None:
            held = f", the policy of commit {retired.held_by[:12]}"
    until = since + datetime.timedelta(seconds=wait)
    if now < until:
        return refuse(
            f"removed too early: mode none live since {format_time(since)}{note}; senders may hold "
            f"the old policy (max_age {wait} s{held}) until {format_time(until)} (RFC 8461 §8.3)"
        )
    return [
        Finding(
            Check.REMOVAL,
            Severity.OK,
            f"retired properly: mode none since {format_time(since)}, old max_age {wait} s passed at "
            f"{format_time(until)}",
            key,
        )
    ]
