"""Cloudflare's published limits as data: each with its number per plan and the page it comes from.

One ``Limit`` per row of ``LIMITS``, keyed by the camelCase name an account whose limits were
raised writes under ``mta-sts:limits`` (``{routesPerZone: 2000}``). ``number(plans)`` picks the
number for the account's Workers plan (``mta-sts:cloudflarePlan``) or a zone's plan
(``mta-sts:zonePlan`` / ``mta-sts:zonePlans``); an override replaces it for every plan.

The preflight that counts a stack against these rows is ``mtasts.model.preflight``; the numbers
here are what Cloudflare documents, read on 2026-12-01 (the pages are cited per row). Counting
is ours: a zone's DNS record quota counts only the records this project creates there (it cannot
see the others), so leave headroom for the records you keep by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from mtasts.model.vocabulary import LimitScope, WorkersPlan, ZonePlan

__all__ = [
    "API_REQUESTS",
    "API_WINDOW_SECONDS",
    "CRON_TRIGGERS_PER_ACCOUNT",
    "CUSTOM_DOMAINS_PER_ZONE",
    "CUSTOM_HOSTNAMES_INCLUDED",
    "CUSTOM_HOSTNAMES_PER_ZONE",
    "DNS_RECORDS_PER_ZONE",
    "LIMITS",
    "RESOURCES_PER_STACK",
    "ROUTED_ZONES_PER_WORKER",
    "ROUTES_PER_ZONE",
    "WORKERS_PER_ACCOUNT",
    "WORKER_SIZE",
    "Limit",
    "Limits",
]

WORKERS_LIMITS = "https://developers.cloudflare.com/workers/platform/limits/"
DNS_QUOTA = "https://developers.cloudflare.com/dns/manage-dns-records/troubleshooting/record-quota/"
API_LIMITS = "https://developers.cloudflare.com/fundamentals/api/reference/limits/"
SAAS_PLANS = "https://developers.cloudflare.com/cloudflare-for-platforms/cloudflare-for-saas/plans/"


@dataclass(frozen=True)
class Limit:
    """One published limit: what it counts, over what, its number per plan, and its source."""

    key: str
    """The camelCase name under ``mta-sts:limits`` that overrides it."""
    what: str
    """What is counted, as the error names it: "zone example.com would have 1,001 <what>"."""
    scope: LimitScope
    numbers: Mapping[str, int]
    """Plan (a ``WorkersPlan`` or ``ZonePlan`` value) → the number; ``"*"`` for every plan."""
    source: str
    """The page that publishes the number."""
    way_out: str
    """What to do when a stack is over it, as the error says."""

    def number(self, plan: str) -> int:
        """The number for ``plan``; the ``"*"`` row when the limit is the same on every plan."""
        if plan in self.numbers:
            return self.numbers[plan]
        return self.numbers["*"]


def _row(key: str, what: str, scope: LimitScope, numbers: dict[str, int], source: str, way_out: str) -> Limit:
    return Limit(key, what, scope, MappingProxyType(numbers), source, way_out)


ROUTED_ZONES_PER_WORKER = _row(
    "routedZonesPerWorker",
    "zones routed to it (by routes or custom domains)",
    LimitScope.SCRIPT,
    {"*": 1_000},
    WORKERS_LIMITS + "#number-of-routed-zones-per-worker",
    "raise mta-sts:workerShards (domains are spread over that many scripts by a hash of their zone)",
)
ROUTES_PER_ZONE = _row(
    "routesPerZone",
    "Worker routes",
    LimitScope.ZONE,
    {"*": 1_000},
    WORKERS_LIMITS + "#number-of-routes-per-zone",
    "move some of the zone's domains to routing: custom-domain or to another zone, "
    "or ask Cloudflare for more and set mta-sts:limits.routesPerZone",
)
CUSTOM_DOMAINS_PER_ZONE = _row(
    "customDomainsPerZone",
    "Workers custom domains",
    LimitScope.ZONE,
    {"*": 100},
    WORKERS_LIMITS + "#number-of-custom-domains-per-zone",
    "use routing: route for some of the zone's domains, "
    "or ask Cloudflare for more and set mta-sts:limits.customDomainsPerZone",
)
WORKERS_PER_ACCOUNT = _row(
    "workersPerAccount",
    "Worker scripts",
    LimitScope.ACCOUNT,
    {WorkersPlan.FREE: 100, WorkersPlan.PAID: 500},
    WORKERS_LIMITS + "#account-plan-limits",
    "lower mta-sts:workerShards, or move to Workers Paid and set mta-sts:cloudflarePlan: paid",
)
CRON_TRIGGERS_PER_ACCOUNT = _row(
    "cronTriggersPerAccount",
    "Cron Triggers",
    LimitScope.ACCOUNT,
    {WorkersPlan.FREE: 5, WorkersPlan.PAID: 250},
    WORKERS_LIMITS + "#account-plan-limits",
    "run fewer report receivers in the account, or move to Workers Paid (mta-sts:cloudflarePlan: paid)",
)
WORKER_SIZE = _row(
    "workerSize",
    "bytes of script (uncompressed)",
    LimitScope.SCRIPT,
    # 2026: one 64 MiB uncompressed limit on every plan replaced 3 MB Free / 10 MB Paid compressed
    # (cloudflare-docs PRs #31002 and #31067, "Removing compressed Worker size limits").
    {"*": 64 * 1024 * 1024},
    WORKERS_LIMITS + "#worker-size",
    "raise mta-sts:workerShards so each script carries fewer policies",
)
DNS_RECORDS_PER_ZONE = _row(
    "dnsRecordsPerZone",
    "DNS records",
    LimitScope.ZONE,
    {
        ZonePlan.FREE: 200,
        ZonePlan.FREE_LEGACY: 1_000,
        ZonePlan.PRO: 3_500,
        ZonePlan.BUSINESS: 3_500,
        ZonePlan.ENTERPRISE: 3_500,
    },
    DNS_QUOTA,
    "set the zone's plan in mta-sts:zonePlans (free-legacy for a Free zone made before "
    "2024-09-01, pro, business, enterprise), or set mta-sts:limits.dnsRecordsPerZone to the raised quota",
)
CUSTOM_HOSTNAMES_INCLUDED = _row(
    "customHostnamesIncluded",
    "Cloudflare for SaaS custom hostnames (more than the included ones are billed)",
    LimitScope.ZONE,
    {"*": 100},
    SAAS_PLANS,
    "more custom hostnames are billed per hostname; set mta-sts:limits.customHostnamesIncluded "
    "to what your contract includes",
)
CUSTOM_HOSTNAMES_PER_ZONE = _row(
    "customHostnamesPerZone",
    "Cloudflare for SaaS custom hostnames",
    LimitScope.ZONE,
    {"*": 50_000},  # the most a non-Enterprise zone may have
    SAAS_PLANS,
    "spread customers over more SaaS zones, or (Enterprise) set mta-sts:limits.customHostnamesPerZone",
)
API_REQUESTS = _row(
    "apiRequestsPer5Minutes",
    "Cloudflare API requests per user (token) in five minutes (over it, every call is refused for five "
    "minutes)",
    LimitScope.ACCOUNT,
    {"*": 1_200},
    API_LIMITS,
    "lower Pulumi's --parallel, or (Enterprise) ask for more and set mta-sts:limits.apiRequestsPer5Minutes",
)
RESOURCES_PER_STACK = _row(
    "resourcesPerStack",
    "Pulumi resources",
    LimitScope.STACK,
    # Not Cloudflare's: how large a stack stays practical. Users report previews of minutes and
    # expired update tokens from ~1,300 resources (pulumi/pulumi#7682) and 30-minute step
    # generation at ~2,000 (pulumi/pulumi#14764); every step writes a checkpoint. docs/fleet.md
    # has our own measurement. A warning, not a refusal.
    {"*": 10_000},
    "https://github.com/pulumi/pulumi/issues/7682",
    "split the domains into a fleet of stacks (docs/fleet.md)",
)
API_WINDOW_SECONDS = 300

LIMITS: Mapping[str, Limit] = MappingProxyType(
    {
        row.key: row
        for row in (
            ROUTED_ZONES_PER_WORKER,
            ROUTES_PER_ZONE,
            CUSTOM_DOMAINS_PER_ZONE,
            WORKERS_PER_ACCOUNT,
            CRON_TRIGGERS_PER_ACCOUNT,
            WORKER_SIZE,
            DNS_RECORDS_PER_ZONE,
            CUSTOM_HOSTNAMES_INCLUDED,
            CUSTOM_HOSTNAMES_PER_ZONE,
            API_REQUESTS,
            RESOURCES_PER_STACK,
        )
    }
)
"""Every limit by its ``mta-sts:limits`` key."""


@dataclass(frozen=True)
class Limits:
    """The limits one stack is held to: its plans and any overrides, from config."""

    workers_plan: WorkersPlan = WorkersPlan.FREE
    """``mta-sts:cloudflarePlan``: the account's Workers plan."""
    zone_plan: ZonePlan = ZonePlan.FREE
    """``mta-sts:zonePlan``: the plan of every zone not in ``zone_plans``."""
    zone_plans: Mapping[str, ZonePlan] = field(default_factory=dict)
    """``mta-sts:zonePlans``: zone name → its plan."""
    overrides: Mapping[str, int] = field(default_factory=dict)
    """``mta-sts:limits``: limit key → the number for this account, whatever the plan."""

    def of(self, limit: Limit, zone: str | None = None) -> int:
        """The number ``limit`` has for this stack (for ``zone``, when it is per zone)."""
        if limit.key in self.overrides:
            return self.overrides[limit.key]
        if limit.scope is LimitScope.ZONE:
            plan: str = self.zone_plans.get(zone, self.zone_plan) if zone is not None else self.zone_plan
        else:
            plan = self.workers_plan
        return limit.number(plan)
