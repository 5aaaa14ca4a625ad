"""Rules for Cloudflare Worker routes: a policy host a route serves is proxied."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from mtasts.rfc.policy import POLICY_HOST_LABEL

from ._shared import (
    DNS_RECORD_TYPES,
    WORKER_ROUTE_TYPE,
    is_under,
    normalize,
    record_fqdn,
    record_type,
    zone_names,
)

PROXIABLE_TYPES = frozenset({"A", "AAAA", "CNAME"})


def _route_host(pattern: Any) -> str:
    """The host part of a Worker route pattern (``*`` wildcards kept), lower-case."""
    if not isinstance(pattern, str):
        return ""
    pattern = pattern.strip()
    for scheme in ("https://", "http://"):
        if pattern.lower().startswith(scheme):
            pattern = pattern[len(scheme) :]
    return normalize(pattern.split("/", 1)[0].split(":", 1)[0])


def _host_matches(host_pattern: str, name: str) -> bool:
    """Whether a route host pattern (``h``, ``*.h`` or ``*h``) covers the DNS name ``name``."""
    if not host_pattern or not name:
        return False
    if host_pattern.startswith("*"):
        return name.endswith(host_pattern[1:])
    return name == host_pattern


def _route_serves(route: PolicyResource, record: PolicyResource, zones: Mapping[str, str]) -> bool:
    host = _route_host(route.props.get("pattern"))
    name = record_fqdn(record.props, zones)
    if _host_matches(host, name):
        return True
    # A relative name in a zone the stack does not name: match within the same zone.
    same_zone = record.props.get("zoneId") and record.props.get("zoneId") == route.props.get("zoneId")
    zone_known = str(record.props.get("zoneId") or "") in zones
    return bool(same_zone) and not zone_known and not host.startswith("*") and host.startswith(name + ".")


def _validate_worker_hosts_proxied(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    zones = zone_names(args.resources)
    routes = [
        r
        for r in args.resources
        if r.resource_type == WORKER_ROUTE_TYPE
        and isinstance(r.props.get("script"), str)
        and r.props["script"]
    ]
    for record in args.resources:
        props = record.props
        if record.resource_type not in DNS_RECORD_TYPES or record_type(props) not in PROXIABLE_TYPES:
            continue
        if not is_under(normalize(props.get("name")), POLICY_HOST_LABEL) or props.get("proxied") is True:
            continue
        for route in routes:
            if _route_serves(route, record, zones):
                report_violation(
                    f"{props.get('name')} {record_type(props)} is not proxied, but Worker route "
                    f"{route.props.get('pattern')!r} serves it; a Worker route runs only on proxied "
                    "traffic, so senders would reach the origin and get no policy",
                    record.urn,
                )
                break


WORKER_ROUTED_POLICY_HOST_PROXIED = StackValidationPolicy(
    name="worker-routed-policy-host-proxied",
    description="A DNS record for an mta-sts host that a Worker route serves must be proxied.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_validate_worker_hosts_proxied,
)
