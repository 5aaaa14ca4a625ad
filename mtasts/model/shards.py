"""Which policy Worker script serves a domain: a pure, stable function of its zone.

Cloudflare lets at most 1,000 zones route to one Worker ("routed zones per Worker",
``mtasts.model.limits.ROUTED_ZONES_PER_WORKER``), so a stack over more zones spreads its
Worker-hosted domains over ``mta-sts:workerShards`` scripts. A domain's shard is
``jump_hash(sha256(zone), shards)`` (Lamping and Veach, "A Fast, Minimal Memory, Consistent Hash
Algorithm", 2014):

- it depends on the domain's zone and the shard count alone, so adding or removing domains never
  moves another domain to another script (a move replaces its route or custom domain and takes
  the policy host away for a moment);
- every domain of one zone shares a script, so a script's zone count is what Cloudflare counts;
- raising the shard count from ``n`` to ``m`` moves only about ``1 - n/m`` of the zones, each to
  a new shard (never between old ones); ``plan --base`` names every move.

With one shard (the default) the script keeps its historical name ``mta-sts-<stack>`` and its
resource name, so existing stacks see no change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from mtasts.model.cloudflare import WORKER_NAME, derived_name

if TYPE_CHECKING:
    from mtasts.model.domain import Domain

__all__ = [
    "MAX_SHARDS",
    "assign",
    "jump_hash",
    "resource_name",
    "script_name",
    "shard_of",
    "zone_of",
]

MAX_SHARDS = 500
"""Workers Paid allows 500 Worker scripts per account; more shards could never deploy."""

_JUMP = 2862933555777941757
_MASK = (1 << 64) - 1


def jump_hash(key: int, buckets: int) -> int:
    """Jump consistent hash of a 64-bit ``key`` into ``range(buckets)``."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    bucket, candidate = -1, 0
    while candidate < buckets:
        bucket = candidate
        key = (key * _JUMP + 1) & _MASK
        candidate = int((bucket + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return bucket


def zone_of(domain: Domain) -> str:
    """The Cloudflare zone a domain's route, custom domain and records go in."""
    return domain.zone or domain.name


def _zone_key(zone: str) -> int:
    return int.from_bytes(hashlib.sha256(zone.lower().encode()).digest()[:8], "big")


def shard_of(zone: str, shards: int) -> int:
    """The shard (``0 … shards-1``) of every domain in ``zone``."""
    return 0 if shards == 1 else jump_hash(_zone_key(zone), shards)


def assign(domains: Iterable[Domain], shards: int) -> Mapping[int, tuple[Domain, ...]]:
    """Shard → its domains (in the given order); shards with no domain are absent."""
    by_zone: dict[str, int] = {}
    out: dict[int, list[Domain]] = {}
    for domain in domains:
        zone = zone_of(domain)
        shard = by_zone.get(zone)
        if shard is None:
            shard = by_zone[zone] = shard_of(zone, shards)
        out.setdefault(shard, []).append(domain)
    return {shard: tuple(out[shard]) for shard in sorted(out)}


def script_name(stack: str, shard: int, shards: int) -> str:
    """The Worker script name of one shard: the stack's (``mtasts.model.policy_worker.script_name``)
    with one shard, else ``mta-sts-<stack>-s<k>`` (or its stable derived form when Cloudflare would
    refuse that name: ``mtasts.model.cloudflare.derived_name``)."""
    if shards == 1:
        return derived_name("mta-sts-", stack, WORKER_NAME)
    return derived_name("mta-sts-", f"{stack}-s{shard}", WORKER_NAME)


def resource_name(component: str, shard: int, shards: int) -> str:
    """The Pulumi name of one shard's ``WorkersScript``; unchanged from before shards with one."""
    return f"{component}-script" if shards == 1 else f"{component}-script-s{shard}"
