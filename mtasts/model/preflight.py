"""The limits preflight: a stack counted against ``mtasts.model.limits`` before anything is created.

``load_config`` runs ``check`` on every ``Deployment`` it builds, so ``plan`` exits 2 and the
program stops before registering a resource when any limit is broken, with one line naming the
limit, the count and the way out (``ConfigError`` on the key ``limits.<key>``). ``check_fleet``
counts the per-zone and per-account limits over several stacks that share zones or an account.

Also here: reading the config keys the limits depend on (``mta-sts:cloudflarePlan``,
``zonePlan``, ``zonePlans``, ``limits``, ``workerShards``, ``zoneIds``).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mtasts.model import shards as sharding
from mtasts.model.domain import Deployment, Domain
from mtasts.model.errors import ConfigError
from mtasts.model.limits import (
    CRON_TRIGGERS_PER_ACCOUNT,
    CUSTOM_DOMAINS_PER_ZONE,
    CUSTOM_HOSTNAMES_PER_ZONE,
    DNS_RECORDS_PER_ZONE,
    LIMITS,
    RESOURCES_PER_STACK,
    ROUTED_ZONES_PER_WORKER,
    ROUTES_PER_ZONE,
    WORKER_SIZE,
    WORKERS_PER_ACCOUNT,
    Limit,
    Limits,
)
from mtasts.model.validators import HEX_ID, fail, key_name, shown
from mtasts.model.vocabulary import Routing, WorkersPlan, ZonePlan, values

__all__ = [
    "KEYS",
    "Problem",
    "check",
    "check_fleet",
    "parse_limits",
    "parse_shards",
    "parse_zone_ids",
    "raise_first",
    "resource_count",
    "stack_size_warning",
]

KEYS = ("cloudflarePlan", "zonePlan", "zonePlans", "limits", "workerShards", "zoneIds")
"""The stack-level config keys read here."""


@dataclass(frozen=True)
class Problem:
    """One limit a stack (or fleet) is over."""

    limit: Limit
    subject: str
    """What is over it: ``zone example.com``, ``policy Worker shard 3``, ``the account``."""
    count: int
    allowed: int

    def line(self) -> str:
        return (
            f"{self.subject} would have {self.count:,} {self.limit.what}, over the {self.allowed:,} "
            f"Cloudflare allows ({self.limit.source}); {self.limit.way_out}"
        )


def raise_first(problems: list[Problem]) -> None:
    """``ConfigError`` on ``limits.<key>`` for the first problem, naming how many more there are."""
    if not problems:
        return
    first = problems[0]
    more = ""
    if len(problems) > 1:
        others = sorted({p.limit.key for p in problems[1:]})
        more = f" (and {len(problems) - 1:,} more over: {', '.join(others)})"
    raise ConfigError(f"limits.{first.limit.key}", first.line() + more)


def _choice(value: Any, key: str, kind: type[WorkersPlan] | type[ZonePlan]) -> Any:
    if value not in values(kind):
        fail(key, f"must be one of {', '.join(values(kind))}, got {shown(value)}")
    return kind(value)


def _positive(value: Any, key: str, most: int | None = None) -> int:
    """A whole number above 0: an int, or its digits as Pulumi passes top-level values."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        fail(key, f"must be a whole number of at least 1, got {shown(value)}")
    if most is not None and value > most:
        fail(key, f"must be at most {most:,}, got {value:,}")
    return int(value)


def _zone_name(raw: Any, key: str) -> str:
    return key_name(raw, key, "zone")


def _mapping(value: Any, key: str) -> Mapping[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        fail(key, f"must be a mapping, got {shown(value)}")
    return value


def parse_limits(plan: Any, zone_plan: Any, zone_plans: Any, overrides: Any) -> Limits:
    """``mta-sts:cloudflarePlan``, ``zonePlan``, ``zonePlans`` and ``limits`` as one ``Limits``."""
    workers = WorkersPlan.FREE if plan in (None, "") else _choice(plan, "cloudflarePlan", WorkersPlan)
    default_zone = ZonePlan.FREE if zone_plan in (None, "") else _choice(zone_plan, "zonePlan", ZonePlan)
    per_zone: dict[str, ZonePlan] = {}
    for raw, value in _mapping(zone_plans, "zonePlans").items():
        zone = _zone_name(raw, f"zonePlans.{raw}")
        per_zone[zone] = _choice(value, f"zonePlans.{raw}", ZonePlan)
    numbers: dict[str, int] = {}
    for key, value in _mapping(overrides, "limits").items():
        if key not in LIMITS:
            close = difflib.get_close_matches(str(key), list(LIMITS), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"known limits: {', '.join(LIMITS)}"
            fail(f"limits.{key}", f"unknown limit; {hint}")
        numbers[key] = _positive(value, f"limits.{key}")
    return Limits(workers, default_zone, per_zone, numbers)


def parse_shards(value: Any) -> int:
    """``mta-sts:workerShards``: 1 (the default) to ``MAX_SHARDS``."""
    if value in (None, ""):
        return 1
    return _positive(value, "workerShards", sharding.MAX_SHARDS)


def parse_zone_ids(value: Any) -> dict[str, str]:
    """``mta-sts:zoneIds``: zone name → its Cloudflare zone id, so no run looks it up."""
    ids: dict[str, str] = {}
    for raw, zone_id in _mapping(value, "zoneIds").items():
        zone = _zone_name(raw, f"zoneIds.{raw}")
        if not isinstance(zone_id, str) or not re.fullmatch(HEX_ID, zone_id):
            fail(f"zoneIds.{raw}", f"must be 32 lower-case hex digits (the zone id), got {shown(zone_id)}")
        ids[zone] = zone_id
    return ids


@dataclass
class _Counts:
    """What the program creates, counted per zone, per shard and per account."""

    routes: Counter[str]
    custom_domains: Counter[str]
    records: Counter[str]
    shard_zones: dict[int, set[str]]
    workers: int
    crons: int
    custom_hostnames: Counter[str] = field(default_factory=Counter)
    """Cloudflare for SaaS custom hostnames per zone (``hosting: delegated``)."""


def _counts(deployment: Deployment) -> _Counts:
    routes: Counter[str] = Counter()
    custom: Counter[str] = Counter()
    records: Counter[str] = Counter()
    shard_zones: dict[int, set[str]] = {}
    for shard, domains in deployment.shards.items():
        zones = shard_zones[shard] = set()
        for domain in domains:
            zone = sharding.zone_of(domain)
            zones.add(zone)
            if domain.routing is Routing.CUSTOM_DOMAIN:
                custom[zone] += 1
                # Cloudflare creates (and owns) the custom domain's DNS record in the zone.
                records[zone] += 1
            else:
                routes[zone] += 1
    for domain in deployment.domains:
        if domain.managed_dns:
            records[sharding.zone_of(domain)] += len(domain.records)
    receiver = deployment.receiver
    workers = len(deployment.shards)
    crons = 0
    if receiver is not None and deployment.reports_domains:
        workers += 1
        crons += 1
        custom[receiver.zone] += 1
        records[receiver.zone] += 1
    hostnames: Counter[str] = Counter()
    if deployment.delegation is not None and deployment.delegated_domains:
        # Customer domains (components/delegated.py): their own script, one */* route, a custom
        # hostname each and the shared records, all in the delegation zone.
        zone = deployment.delegation.zone
        workers += 1
        routes[zone] += 1
        records[zone] += len(deployment.operator_records)
        hostnames[zone] += len(deployment.delegated_domains)
    return _Counts(routes, custom, records, shard_zones, workers, crons, hostnames)


def _script_size_over(domains: tuple[Domain, ...], allowed: int) -> int | None:
    """The script's size when it is over ``allowed`` bytes, else None (a cheap bound first)."""
    from mtasts.model.policy_worker import template, worker_script

    texts = {d.policy_text for d in domains}
    bound = (
        len(template()) + sum(len(d.policy_host) + 48 for d in domains) + sum(2 * len(t) + 16 for t in texts)
    )
    if bound <= allowed:
        return None
    size = len(worker_script(domains).encode())
    return size if size > allowed else None


def _zone_problems(limits: Limits, counts: _Counts) -> list[Problem]:
    found = []
    for limit, counter in (
        (ROUTES_PER_ZONE, counts.routes),
        (CUSTOM_DOMAINS_PER_ZONE, counts.custom_domains),
        (DNS_RECORDS_PER_ZONE, counts.records),
        (CUSTOM_HOSTNAMES_PER_ZONE, counts.custom_hostnames),
    ):
        for zone in sorted(counter):
            allowed = limits.of(limit, zone)
            if counter[zone] > allowed:
                found.append(Problem(limit, f"zone {zone}", counter[zone], allowed))
    return found


def _account_problems(limits: Limits, workers: int, crons: int, subject: str) -> list[Problem]:
    found = []
    for limit, count in ((WORKERS_PER_ACCOUNT, workers), (CRON_TRIGGERS_PER_ACCOUNT, crons)):
        if count > limits.of(limit):
            found.append(Problem(limit, subject, count, limits.of(limit)))
    return found


def check(deployment: Deployment) -> list[Problem]:
    """Every limit this stack is over: per zone, per script, per account."""
    limits = deployment.limits
    counts = _counts(deployment)
    found = _zone_problems(limits, counts)
    for shard in sorted(counts.shard_zones):
        subject = f"policy Worker shard {shard}" if deployment.worker_shards > 1 else "the policy Worker"
        zones = len(counts.shard_zones[shard])
        if zones > limits.of(ROUTED_ZONES_PER_WORKER):
            found.append(Problem(ROUTED_ZONES_PER_WORKER, subject, zones, limits.of(ROUTED_ZONES_PER_WORKER)))
        size = _script_size_over(deployment.shards[shard], limits.of(WORKER_SIZE))
        if size is not None:
            found.append(Problem(WORKER_SIZE, subject, size, limits.of(WORKER_SIZE)))
    found += _account_problems(limits, counts.workers, counts.crons, "the account (this stack alone)")
    return found


def resource_count(deployment: Deployment) -> int:
    """How many provider resources the program registers (``mtasts.model.budget.inventory`` lists them)."""
    count = len(deployment.shards) + len(deployment.worker_domains) + 5 * len(deployment.pages_domains)
    count += sum(len(d.records) for d in deployment.domains if d.managed_dns)
    receiver = deployment.receiver
    if receiver is not None and deployment.reports_domains:
        count += 5 + (2 if receiver.mailto else 0)
    if deployment.delegated_domains:  # script, route, fallback origin, records, custom hostnames
        count += 3 + len(deployment.operator_records) + len(deployment.delegated_domains)
    return count


def stack_size_warning(deployment: Deployment) -> str | None:
    """A stack over ``resourcesPerStack`` resources: a warning, since Pulumi copes, only slowly."""
    resources = resource_count(deployment)
    allowed = deployment.limits.of(RESOURCES_PER_STACK)
    if resources <= allowed:
        return None
    return (
        f"this stack has {resources:,} resources, over the {allowed:,} a Pulumi stack stays practical "
        f"with ({RESOURCES_PER_STACK.source}); {RESOURCES_PER_STACK.way_out}"
    )


def once_each(
    stacks: Iterable[tuple[str, Deployment]],
) -> tuple[list[ConfigError], list[tuple[str, Deployment]]]:
    """Each domain declared in more than one stack, one error naming both stacks; and the stacks
    with each such domain kept only where it is first declared, so limits summed over them count
    it once."""
    owner: dict[str, str] = {}
    twice: list[ConfigError] = []
    counted: list[tuple[str, Deployment]] = []
    for name, deployment in stacks:
        keep = []
        for domain in deployment.domains:
            first = owner.setdefault(domain.name, name)
            if first == name:
                keep.append(domain)
            else:
                twice.append(
                    ConfigError(
                        f"domains.{domain.name}",
                        f"is declared in stack {first} and in stack {name}; a domain belongs to one stack",
                    )
                )
        whole = len(keep) == len(deployment.domains)
        counted.append((name, deployment if whole else dataclasses.replace(deployment, domains=tuple(keep))))
    return twice, counted


def check_fleet(stacks: Iterable[tuple[str, Deployment]]) -> list[Problem]:
    """Per-zone and per-account limits over stacks together, and no domain in two stacks.

    A zone's routes and records, and an account's Workers and Cron Triggers, add up over every
    stack deployed to it; the first stack's plans and overrides apply to the sums.
    """
    twice, counted = once_each(stacks)
    if twice:
        raise twice[0]
    total = _Counts(Counter(), Counter(), Counter(), {}, 0, 0, Counter())
    by_account: dict[str, list[int]] = {}
    limits: Limits | None = None
    for _, deployment in counted:
        limits = limits or deployment.limits
        counts = _counts(deployment)
        total.routes.update(counts.routes)
        total.custom_domains.update(counts.custom_domains)
        total.records.update(counts.records)
        total.custom_hostnames.update(counts.custom_hostnames)
        account = deployment.cloudflare_account_id or "-"
        sums = by_account.setdefault(account, [0, 0])
        sums[0] += counts.workers
        sums[1] += counts.crons
    if limits is None:
        return []
    found = _zone_problems(limits, total)
    for account, (workers, crons) in sorted(by_account.items()):
        found += _account_problems(limits, workers, crons, f"account {account} (all stacks)")
    return found
