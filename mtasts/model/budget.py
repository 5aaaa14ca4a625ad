"""The API budget of a stack: the resources ``pulumi up`` manages and the API writes they cost.

``inventory(deployment, stack)`` lists every provider resource the program registers, by the
Pulumi name it gets there (``components/``), with the inputs that decide whether an ``up``
writes it. A first ``up`` writes each once; ``change(base, head)`` counts the writes between two
versions of a stack (an update is one write, a replacement two: delete, then create). The minimum
time is the Cloudflare writes over the account's API limit (1,200 requests per 5 minutes per
user, ``mtasts.model.limits.API_REQUESTS``); GitHub writes count against GitHub's own limit and
are listed apart.

What a preview costs: nothing per resource (the engine diffs against its state without calling
the provider, unless ``--refresh``), but one zone lookup (``cloudflare.get_zone``, a GET
``/zones?name=``) per zone without a known id, on every run. ``mta-sts:zoneIds`` removes them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from mtasts.model import shards as sharding
from mtasts.model.domain import Deployment
from mtasts.model.limits import API_REQUESTS, API_WINDOW_SECONDS
from mtasts.model.vocabulary import Routing
from mtasts.model.zones import looked_up_zones

__all__ = [
    "Budget",
    "Change",
    "Item",
    "budget",
    "budget_json",
    "budget_lines",
    "change",
    "change_json",
    "change_lines",
    "inventory",
    "moves",
    "shards_json",
    "zone_lookups",
]

WORKER_COMPONENT = "cloudflare-worker"
PAGES_COMPONENT = "github-pages"
RECEIVER_COMPONENT = "reports"
DELEGATED_COMPONENT = "delegated"
CLOUDFLARE = "cloudflare"
GITHUB = "github"


@dataclass(frozen=True)
class Item:
    """One provider resource: its type, which API it writes to, and what its inputs amount to."""

    type: str
    api: str
    signature: tuple[object, ...]
    """The inputs that decide a write; equal signatures mean no write."""
    fixed: tuple[object, ...] = ()
    """The inputs the provider cannot update in place: a change replaces the resource (delete,
    then create: two writes)."""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def inventory(deployment: Deployment, stack: str) -> dict[str, Item]:
    """Every provider resource the program registers for this stack, by Pulumi resource name."""
    from mtasts.model.policy_worker import policy_data  # the script content, less the fixed template

    items: dict[str, Item] = {}
    count = deployment.worker_shards
    for shard, domains in deployment.shards.items():
        name = sharding.resource_name(WORKER_COMPONENT, shard, count)
        script = sharding.script_name(stack, shard, count)
        items[name] = Item("WorkersScript", CLOUDFLARE, (script, _digest(policy_data(domains))))
        for domain in domains:
            zone = sharding.zone_of(domain)
            if domain.routing is Routing.CUSTOM_DOMAIN:
                # hostname, service and zone_id are RequiresReplace (terraform-provider-cloudflare
                # internal/services/workers_custom_domain/schema.go): a move to another shard is
                # a replacement, two writes, and the host is away between them.
                fixed: tuple[object, ...] = (zone, domain.policy_host, script)
                items[f"{WORKER_COMPONENT}-{domain.name}-custom-domain"] = Item(
                    "WorkersCustomDomain", CLOUDFLARE, fixed, fixed
                )
            else:
                # Only zone_id is RequiresReplace (internal/services/workers_route/schema.go):
                # pattern and script update in place, one write.
                items[f"{WORKER_COMPONENT}-{domain.name}-route"] = Item(
                    "WorkersRoute", CLOUDFLARE, (zone, f"{domain.policy_host}/*", script), (zone,)
                )
    for domain in deployment.pages_domains:
        prefix = f"{PAGES_COMPONENT}-{domain.name}"
        items[f"{prefix}-repository"] = Item("Repository", GITHUB, (domain.repository,))
        items[f"{prefix}-default-branch"] = Item("BranchDefault", GITHUB, (domain.repository,))
        items[f"{prefix}-policy-file"] = Item("RepositoryFile", GITHUB, (domain.repository, domain.policy_id))
        items[f"{prefix}-nojekyll"] = Item("RepositoryFile", GITHUB, (domain.repository,))
        items[f"{prefix}-pages"] = Item(
            "RepositoryPages", GITHUB, (domain.repository, domain.policy_host, domain.https_enforced)
        )
    receiver = deployment.receiver
    if receiver is not None and deployment.reports_domains:
        builtin = tuple(d.name for d in deployment.reports_domains)
        for role, kind, signature in (
            ("database", "D1Database", ()),
            ("bucket", "R2Bucket", ()),
            # The script carries the settings, not the zone id (which only says where it is).
            ("script", "WorkersScript", (_digest(repr((replace(receiver, zone_id=None), builtin))),)),
            ("custom-domain", "WorkersCustomDomain", (receiver.host,)),
            ("digest", "WorkersCronTrigger", ()),
        ):
            items[f"{RECEIVER_COMPONENT}-{role}"] = Item(kind, CLOUDFLARE, signature)
        if receiver.mailto is not None:
            items[f"{RECEIVER_COMPONENT}-mail-dns"] = Item(
                "EmailRoutingDns", CLOUDFLARE, (receiver.mail_domain,)
            )
            items[f"{RECEIVER_COMPONENT}-mail-rule"] = Item(
                "EmailRoutingRule", CLOUDFLARE, (receiver.mailto,)
            )
    items.update(_delegated(deployment, stack))
    for domain in deployment.domains:
        if not domain.managed_dns:
            continue
        zone = sharding.zone_of(domain)
        for record in domain.records:
            items[f"{domain.name}-{record.role}"] = Item(
                "DnsRecord",
                CLOUDFLARE,
                (zone, record.name, record.type, record.content, record.ttl, record.proxied),
                # type and zone_id are RequiresReplace (internal/services/dns_record/schema.go).
                (zone, record.type),
            )
    return items


def _delegated(deployment: Deployment, stack: str) -> dict[str, Item]:
    """Customer domains (``components/delegated.py``): script, route, fallback origin, hostnames,
    records."""
    settings = deployment.delegation
    if settings is None or not deployment.delegated_domains:
        return {}
    from mtasts.model.policy_worker import policy_data

    zone, customers = settings.zone, deployment.delegated_domains
    script = f"mta-sts-{stack}-customers"  # components.delegated.script_name
    items = {
        "delegated-script": Item("WorkersScript", CLOUDFLARE, (script, _digest(policy_data(customers)))),
        "delegated-route": Item("WorkersRoute", CLOUDFLARE, (zone, "*/*"), (zone,)),
        "delegated-fallback-origin": Item(
            "CustomHostnameFallbackOrigin", CLOUDFLARE, (zone, settings.target), (zone,)
        ),
    }
    for domain in customers:
        # zone_id and hostname are RequiresReplace (internal/services/custom_hostname/schema.go).
        fixed = (zone, domain.policy_host)
        ordered = (*fixed, settings.certificate_authority)
        items[f"{domain.name}-custom-hostname"] = Item("CustomHostname", CLOUDFLARE, ordered, fixed)
    for operator in deployment.operator_records:
        record = operator.record
        signature = (zone, record.name, record.type, record.content, record.ttl, record.proxied)
        items[operator.key] = Item("DnsRecord", CLOUDFLARE, signature, (zone, record.type))
    return items


def zone_lookups(deployment: Deployment) -> int:
    """Zone-id lookups every preview and ``up`` makes: one per zone whose id the stack does not give
    (``mtasts.model.zones``, the program's own reckoning)."""
    return len(looked_up_zones(deployment))


@dataclass(frozen=True)
class Budget:
    """What an ``up`` costs in API calls, and the least time it can take at the account's limit."""

    resources: int
    cloudflare_writes: int
    github_writes: int
    lookups: int
    """Cloudflare zone lookups per run (preview or up)."""
    requests_per_window: int
    """The account's Cloudflare API limit per ``API_WINDOW_SECONDS``."""

    @property
    def cloudflare_calls(self) -> int:
        return self.cloudflare_writes + self.lookups

    @property
    def minimum_seconds(self) -> float:
        """Least wall time for these Cloudflare calls without a 429: whole windows of the limit."""
        windows = self.cloudflare_calls / self.requests_per_window
        return windows * API_WINDOW_SECONDS

    @property
    def preview_seconds(self) -> float:
        """The share of the limit a preview with no change spends (its lookups alone)."""
        return self.lookups / self.requests_per_window * API_WINDOW_SECONDS

    def parallelism(self, up_seconds: float = 1.0) -> int:
        """Pulumi ``--parallel`` that stays under the limit when one write takes ``up_seconds``
        (an assumption, not a measurement: a 429 is retried by the provider in any case)."""
        per_second = self.requests_per_window / API_WINDOW_SECONDS
        return max(1, math.floor(per_second * up_seconds))


def budget(deployment: Deployment, stack: str, items: Mapping[str, Item] | None = None) -> Budget:
    """The budget of a first ``up`` of this stack (counted, unless ``items`` gives the inventory)."""
    if items is None:
        from mtasts.model.preflight import resource_count

        total = resource_count(deployment)
        github = 5 * len(deployment.pages_domains)  # components/pages.py: five resources a domain
        cloudflare = total - github
    else:
        total = len(items)
        cloudflare = sum(1 for item in items.values() if item.api == CLOUDFLARE)
        github = total - cloudflare
    return Budget(
        resources=total,
        cloudflare_writes=cloudflare,
        github_writes=github,
        lookups=zone_lookups(deployment),
        requests_per_window=deployment.limits.of(API_REQUESTS),
    )


@dataclass(frozen=True)
class Change:
    """What an ``up`` from ``base`` to ``head`` writes, by resource name."""

    created: tuple[str, ...]
    updated: tuple[str, ...]
    replaced: tuple[str, ...]
    deleted: tuple[str, ...]
    writes: Mapping[str, int]
    """API ("cloudflare", "github") → writes."""


def change(base: Mapping[str, Item], head: Mapping[str, Item]) -> Change:
    """The writes between two inventories: one per create, update or delete, two per replacement."""
    created, updated, replaced, deleted = [], [], [], []
    writes = {CLOUDFLARE: 0, GITHUB: 0}
    for name, item in head.items():
        old = base.get(name)
        if old is None:
            created.append(name)
            writes[item.api] += 1
        elif old.type != item.type or old.fixed != item.fixed:
            replaced.append(name)
            writes[item.api] += 2
        elif old.signature != item.signature:
            updated.append(name)
            writes[item.api] += 1
    for name, item in base.items():
        if name not in head:
            deleted.append(name)
            writes[item.api] += 1
    return Change(tuple(created), tuple(updated), tuple(replaced), tuple(deleted), writes)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{math.ceil(seconds)} s"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def shards_json(deployment: Deployment, stack: str) -> dict[str, dict[str, int]]:
    """Script name → how many domains and zones it serves."""
    count = deployment.worker_shards
    return {
        sharding.script_name(stack, shard, count): {
            "domains": len(domains),
            "zones": len({sharding.zone_of(d) for d in domains}),
        }
        for shard, domains in deployment.shards.items()
    }


def budget_json(deployment: Deployment, stack: str) -> dict[str, Any]:
    """The first ``up``'s budget as ``plan --json`` prints it."""
    planned = budget(deployment, stack)
    return {
        "resources": planned.resources,
        "cloudflareWrites": planned.cloudflare_writes,
        "githubWrites": planned.github_writes,
        "zoneLookups": planned.lookups,
        "requestsPer5Minutes": planned.requests_per_window,
        "minimumSeconds": round(planned.minimum_seconds),
        "previewSeconds": round(planned.preview_seconds),
        "parallel": planned.parallelism(),
    }


def budget_lines(deployment: Deployment, stack: str) -> list[str]:
    """The policy Workers and the first ``up``'s API budget, as ``plan`` prints them."""
    out = []
    scripts = shards_json(deployment, stack)
    if scripts:
        out.append(
            f"policy Workers: {len(scripts)} script(s), mta-sts:workerShards {deployment.worker_shards}"
        )
        out += [
            f"  {name}: {s['domains']:,} domain(s) in {s['zones']:,} zone(s)" for name, s in scripts.items()
        ]
    planned = budget(deployment, stack)
    limit = planned.requests_per_window
    out.append(
        f"API budget of a first pulumi up: {planned.resources:,} resources; "
        f"{planned.cloudflare_writes:,} Cloudflare writes + {planned.lookups:,} zone lookups = "
        f"{planned.cloudflare_calls:,} calls, at least "
        f"{_duration(planned.minimum_seconds)} at {limit:,} requests per 5 minutes; "
        f"{planned.github_writes:,} GitHub writes"
    )
    hint = "" if planned.lookups == 0 else " (none once mtasts zones --write records mta-sts:zoneIds)"
    out.append(
        f"  a preview with no change: {planned.lookups:,} zone lookups, "
        f"{_duration(planned.preview_seconds) if planned.lookups else 'no time'} of the limit{hint}"
    )
    out.append(f"  pulumi up --parallel {planned.parallelism()} stays under the limit")
    return out


def moves(base: Deployment, head: Deployment, stack: str) -> list[tuple[str, str, str]]:
    """Worker-hosted domains in both versions whose script changes: (domain, from, to)."""
    old = {d.name for d in base.worker_domains}
    found = []
    for domain in head.worker_domains:
        if domain.name not in old:
            continue
        before = sharding.script_name(stack, base.shard_for(domain.name), base.worker_shards)
        after = sharding.script_name(stack, head.shard_for(domain.name), head.worker_shards)
        if before != after:
            found.append((domain.name, before, after))
    return found


def change_json(base: Deployment | None, head: Deployment, stack: str) -> dict[str, Any]:
    """The writes of the change and each shard move, as ``plan --base --json`` prints them."""
    diff = change(inventory(base, stack) if base is not None else {}, inventory(head, stack))
    moved = moves(base, head, stack) if base is not None else []
    return {
        "writes": dict(diff.writes),
        "created": len(diff.created),
        "updated": len(diff.updated),
        "replaced": len(diff.replaced),
        "deleted": len(diff.deleted),
        "minimumSeconds": round(diff.writes[CLOUDFLARE] / head.limits.of(API_REQUESTS) * API_WINDOW_SECONDS),
        "moves": [{"domain": d, "from": a, "to": b} for d, a, b in moved],
    }


def change_lines(base: Deployment | None, head: Deployment, stack: str) -> list[str]:
    """The writes of the change and each shard move, as ``plan --base`` prints them."""
    cost = change_json(base, head, stack)
    writes = cost["writes"]
    out = [
        f"API writes of this change: {writes[CLOUDFLARE]:,} Cloudflare, {writes[GITHUB]:,} GitHub "
        f"({cost['created']:,} created, {cost['updated']:,} updated, {cost['replaced']:,} replaced, "
        f"{cost['deleted']:,} deleted), at least {_duration(cost['minimumSeconds'])} at the API limit"
    ]
    for move in cost["moves"]:
        out.append(
            f"  moves {move['domain']}: {move['from']} -> {move['to']} "
            "(its route or custom domain is updated or replaced; the policy host may be away for a moment)"
        )
    return out
