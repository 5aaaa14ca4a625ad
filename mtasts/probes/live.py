"""Wait until a policy host serves the policy a ``_mta-sts`` id names (RFC 8461 §8.1).

One loop for the two users: the live gate (a Pulumi resource hook before the ``_mta-sts`` TXT is
created or updated) and ``mtasts wait-live`` (for ``dns: external``, where a person bumps the
TXT). Each look is ``fetch_policy``, a sender's fetch: the resolver given, every A and AAAA
address, TLS with SNI and certificate verification, no redirect followed, a size cap. A domain
is live when every address that answers serves bytes whose id (``mtasts.rfc.policy.policy_id``)
is the expected one, and at least one does: a sender may reach any of them. An address this
machine cannot connect to at all (no IPv6 route on a CI runner, say) is reported but does not
hold the gate: a sender that cannot fetch caches nothing, and what matters is that no sender
caches other bytes under the new id. Any other failure at an address (TLS, status, type) holds it.

One good look is luck, not proof: a host behind a CDN or a load balancer may answer old and new
bytes in turn. A domain is live only after ``rounds`` good looks in a row (default 3) whose first
and last are at least ``span`` seconds apart (default 30); any look that is not good starts the
count again, so a flapping host never passes. Every look, and the wait as a whole, keeps its
deadline: a look that has not finished by the wait's deadline ends there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from mtasts.probes.errors import PolicyConnectError, PolicyFetchError, PolicyTimeoutError
from mtasts.probes.options import ProbeOptions
from mtasts.probes.prober import PolicyFetch, fetch_policy
from mtasts.rfc.policy import policy_host, policy_id

Fetch = Callable[[str, ProbeOptions], Awaitable[PolicyFetch]]
"""How a policy is fetched: ``fetch_policy`` unless a test says otherwise."""

ROUNDS = 3
"""Good looks in a row before a domain is live."""
SPAN = 30.0
"""Seconds at least between the first and the last of those good looks."""


@dataclass(frozen=True)
class Served:
    """What one look at ``https://mta-sts.<domain>/.well-known/mta-sts.txt`` found."""

    domain: str
    expected: str
    """The id the ``_mta-sts`` record will carry."""
    ids: tuple[str, ...] = ()
    """The id of the bytes served, one per distinct body (several when addresses disagree)."""
    errors: tuple[PolicyFetchError, ...] = ()
    """Why an address (or the name) gave no policy."""

    @property
    def unreachable(self) -> tuple[PolicyFetchError, ...]:
        """Addresses no connection could be made to from here."""
        return tuple(e for e in self.errors if isinstance(e, PolicyConnectError))

    @property
    def live(self) -> bool:
        """Every address that answers serves exactly the expected bytes, and one at least does."""
        return self.ids == (self.expected,) and len(self.unreachable) == len(self.errors)

    def describe(self) -> str:
        """One line: what senders would get now."""
        if self.live:
            unreached = "".join(f" ({e.reason}: not reachable from here)" for e in self.unreachable)
            return f"{self.domain}: serves id {self.expected}{unreached}"
        parts = []
        if self.ids:
            shown = ", ".join(self.ids)
            parts.append(f"serves id {shown}" if len(self.ids) == 1 else f"addresses serve ids {shown}")
        parts += [e.reason for e in self.errors]
        return f"{self.domain}: expected id {self.expected}, but {'; '.join(parts)}"


@dataclass
class Streak:
    """The good looks in a row at one domain so far."""

    good: int = 0
    since: float = 0.0
    """``time.monotonic()`` of the first good look of the streak."""

    def add(self, served: Served, at: float) -> None:
        if not served.live:
            self.good = 0
            return
        if self.good == 0:
            self.since = at
        self.good += 1

    def steady(self, rounds: int, span: float, at: float) -> bool:
        return self.good >= rounds and at - self.since >= span


class NotLiveError(Exception):
    """The wait ran out with some domains not serving their expected policy steadily."""

    def __init__(
        self, waiting: Mapping[str, Served], timeout: float, streaks: Mapping[str, int] | None = None
    ) -> None:
        self.waiting = dict(waiting)
        self.timeout = timeout
        self.streaks = dict(streaks or {})
        lines = "; ".join(_unsteady(s, self.streaks.get(d, 0)) for d, s in waiting.items())
        super().__init__(f"after {timeout:g} s the new policy is not served steadily: {lines}")


def _unsteady(served: Served, good: int) -> str:
    if served.live:
        return f"{served.describe()}, but only {good} good look(s) in a row so far"
    return served.describe()


async def look(domain: str, expected: str, options: ProbeOptions, fetch: Fetch = fetch_policy) -> Served:
    """Fetch ``domain``'s policy once and compare its id with ``expected``."""
    fetched = await fetch(policy_host(domain), options)
    ids = tuple(sorted({policy_id(r.body) for r in fetched.responses}))
    return Served(domain, expected, ids, tuple(fetched.errors))


async def _look_by(
    domain: str, expected: str, options: ProbeOptions, fetch: Fetch, deadline: float
) -> Served | None:
    """``look``, ended at ``deadline`` (``time.monotonic()``): None when it had not finished by then."""
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            return await look(domain, expected, options, fetch)
    except TimeoutError:
        return None


def _cut(domain: str, expected: str) -> Served:
    host = policy_host(domain)
    reason = f"{host}: no complete answer before the wait's deadline"
    return Served(domain, expected, (), (PolicyTimeoutError(host, reason),))


async def wait_live(
    expected: Mapping[str, str],
    options: ProbeOptions,
    timeout: float,
    interval: float,
    fetch: Fetch = fetch_policy,
    on_look: Callable[[Served], None] | None = None,
    rounds: int = ROUNDS,
    span: float = SPAN,
) -> dict[str, Served]:
    """Look every ``interval`` seconds until each domain serves its expected id steadily.

    ``expected`` maps domain → id. A domain is done after ``rounds`` good looks in a row, the
    first and last at least ``span`` seconds apart. Returns the last look per domain once all
    are; raises ``NotLiveError`` (with what is served instead) when ``timeout`` seconds pass
    first. Looks in flight at the deadline end there: the wait never outlasts ``timeout``.
    """
    deadline = time.monotonic() + timeout
    pending = dict(expected)
    seen: dict[str, Served] = {}
    streaks = {d: Streak() for d in expected}
    while True:
        names = list(pending)
        looks = await asyncio.gather(*(_look_by(d, pending[d], options, fetch, deadline) for d in names))
        at = time.monotonic()
        for name, served in zip(names, looks, strict=True):
            if served is None:  # cut at the deadline: the last complete look says more
                seen.setdefault(name, _cut(name, pending[name]))
                continue
            seen[served.domain] = served
            streaks[served.domain].add(served, at)
            if on_look is not None:
                on_look(served)
            if streaks[served.domain].steady(rounds, span, at):
                del pending[served.domain]
        if not pending:
            return seen
        left = deadline - time.monotonic()
        if left > 0:
            await asyncio.sleep(min(interval, left))
        if time.monotonic() >= deadline:
            raise NotLiveError({d: seen[d] for d in pending}, timeout, {d: streaks[d].good for d in pending})
