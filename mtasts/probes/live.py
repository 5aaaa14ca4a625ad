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
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from mtasts.probes.errors import PolicyConnectError, PolicyFetchError
from mtasts.probes.options import ProbeOptions
from mtasts.probes.prober import PolicyFetch, fetch_policy
from mtasts.rfc.policy import policy_host, policy_id

Fetch = Callable[[str, ProbeOptions], Awaitable[PolicyFetch]]
"""How a policy is fetched: ``fetch_policy`` unless a test says otherwise."""


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


class NotLiveError(Exception):
    """The wait ran out with some domains not serving their expected policy."""

    def __init__(self, waiting: Mapping[str, Served], timeout: float) -> None:
        self.waiting = dict(waiting)
        self.timeout = timeout
        lines = "; ".join(s.describe() for s in waiting.values())
        super().__init__(f"after {timeout:g} s the new policy is not served: {lines}")


async def look(domain: str, expected: str, options: ProbeOptions, fetch: Fetch = fetch_policy) -> Served:
    """Fetch ``domain``'s policy once and compare its id with ``expected``."""
    fetched = await fetch(policy_host(domain), options)
    ids = tuple(sorted({policy_id(r.body) for r in fetched.responses}))
    return Served(domain, expected, ids, tuple(fetched.errors))


async def wait_live(
    expected: Mapping[str, str],
    options: ProbeOptions,
    timeout: float,
    interval: float,
    fetch: Fetch = fetch_policy,
    on_look: Callable[[Served], None] | None = None,
) -> dict[str, Served]:
    """Look every ``interval`` seconds until each domain serves its expected id.

    ``expected`` maps domain → id. Returns the last look per domain once all are live; raises
    ``NotLiveError`` (with what is served instead) when ``timeout`` seconds pass first. The last
    look is made at the deadline, so a switch just before it still counts.
    """
    deadline = time.monotonic() + timeout
    pending = dict(expected)
    seen: dict[str, Served] = {}
    while True:
        looks = await asyncio.gather(*(look(d, i, options, fetch) for d, i in pending.items()))
        for served in looks:
            seen[served.domain] = served
            if on_look is not None:
                on_look(served)
            if served.live:
                del pending[served.domain]
        if not pending:
            return seen
        left = deadline - time.monotonic()
        if left <= 0:
            raise NotLiveError({d: seen[d] for d in pending}, timeout)
        await asyncio.sleep(min(interval, left))
