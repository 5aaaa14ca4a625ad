"""Rules for Cloudflare's Worker routing limits, over every route and custom domain in a stack.

The numbers are Cloudflare's (https://developers.cloudflare.com/workers/platform/limits/, "Routes
and domains"): at most 1,000 zones may route to one Worker, a zone holds at most 1,000 Worker
routes and 100 Workers custom domains. They equal ``mtasts.model.limits`` (a test says so); the
pack imports only ``mtasts.rfc``, and cannot see an account whose limits were raised, so these are
the published defaults. ``plan`` checks the same, and more, before anything is registered; the pack
also sees resources the project does not make. A zone id not known at preview counts as no zone.
"""

from __future__ import annotations

from collections import defaultdict

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from ._shared import WORKER_ROUTE_TYPE

CUSTOM_DOMAIN_TYPE = "cloudflare:index/workersCustomDomain:WorkersCustomDomain"
ROUTED_ZONES_PER_WORKER = 1_000
ROUTES_PER_ZONE = 1_000
CUSTOM_DOMAINS_PER_ZONE = 100


def _validate_worker_limits(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    zones_of: defaultdict[str, set[str]] = defaultdict(set)
    routes: defaultdict[str, int] = defaultdict(int)
    customs: defaultdict[str, int] = defaultdict(int)
    for resource in args.resources:
        props = resource.props
        zone = props.get("zoneId")
        if not isinstance(zone, str) or not zone:
            continue
        if resource.resource_type == WORKER_ROUTE_TYPE:
            routes[zone] += 1
            script = props.get("script")
        elif resource.resource_type == CUSTOM_DOMAIN_TYPE:
            customs[zone] += 1
            script = props.get("service")
        else:
            continue
        if isinstance(script, str) and script:
            zones_of[script].add(zone)
    for script, zones in sorted(zones_of.items()):
        if len(zones) > ROUTED_ZONES_PER_WORKER:
            report_violation(
                f"Worker {script} is routed from {len(zones):,} zones, over the {ROUTED_ZONES_PER_WORKER:,} "
                "Cloudflare allows; spread its hosts over more scripts (mta-sts:workerShards)",
                None,
            )
    for counts, limit, what in (
        (routes, ROUTES_PER_ZONE, "Worker routes"),
        (customs, CUSTOM_DOMAINS_PER_ZONE, "Workers custom domains"),
    ):
        for zone, count in sorted(counts.items()):
            if count > limit:
                report_violation(
                    f"zone {zone} has {count:,} {what}, over the {limit:,} Cloudflare allows", None
                )


WORKER_ROUTING_WITHIN_LIMITS = StackValidationPolicy(
    name="worker-routing-within-cloudflare-limits",
    description=(
        "No Worker is routed from over 1,000 zones and no zone has over 1,000 routes or 100 custom domains."
    ),
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_validate_worker_limits,
)
