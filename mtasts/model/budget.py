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
from dataclasses import dataclass

from mtasts.model import shards as sharding
from mtasts.model.domain import Deployment
from mtasts.model.limits import API_REQUESTS, API_WINDOW_SECONDS
from mtasts.model.vocabulary import Hosting, Routing

__all__ = ["Budget", "Change", "Item", "budget", "change", "inventory", "zone_lookups"]

WORKER_COMPONENT = "cloudflare-worker"
PAGES_COMPONENT = "github-pages"
RECEIVER_COMPONENT = "reports"
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
            ("script", "WorkersScript", (_digest(repr((receiver, builtin))),)),
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
    """Zone-id lookups every preview and ``up`` makes: one per zone whose id the stack does not give."""
    zones = {
        sharding.zone_of(d)
        for d in deployment.domains
        if d.zone_id is None and (d.managed_dns or d.hosting is Hosting.CLOUDFLARE_WORKER)
    }
    receiver = deployment.receiver
    if receiver is not None and deployment.reports_domains and receiver.zone_id is None:
        zones.add(receiver.zone)
    delegation = deployment.delegation
    if delegation is not None and deployment.delegated_domains and delegation.zone_id is None:
        zones.add(delegation.zone)
    return len(zones)


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

    def parallelism(self, up_seconds: float = 2.0) -> int:
        """Pulumi ``--parallel`` that stays under the limit when one write takes ``up_seconds``."""
        per_second = self.requests_per_window / API_WINDOW_SECONDS
        return max(1, math.floor(per_second * up_seconds))


def budget(deployment: Deployment, stack: str, items: Mapping[str, Item] | None = None) -> Budget:
    """The budget of a first ``up`` of this stack."""
    items = inventory(deployment, stack) if items is None else items
    cloudflare = sum(1 for item in items.values() if item.api == CLOUDFLARE)
    return Budget(
        resources=len(items),
        cloudflare_writes=cloudflare,
        github_writes=len(items) - cloudflare,
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
