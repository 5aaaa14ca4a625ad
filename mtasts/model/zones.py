"""Which Cloudflare zones the program needs ids for, and which of those it looks up by name.

One answer for the program (``components/dns.py``: ``zones_for`` and ``zone_ids``), the API
budget (``mtasts.model.budget.zone_lookups``) and ``mtasts zones``, so what ``plan`` counts,
what ``zones --write`` records and what a preview asks can never disagree.

The program needs a zone's id for every ``dns: cloudflare`` or Worker-hosted domain (its records,
route or custom domain go there), for the report receiver's zone when a domain sends it reports,
and for the delegation zone when a customer domain is served. An id the stack gives (a domain's
``zoneId``, ``mta-sts:reports.zoneId``, ``mta-sts:delegation.zoneId``, or ``mta-sts:zoneIds``,
which the loader hands to each of those) is used as given; every other zone costs one
``getZone`` on every preview and up.
"""

from __future__ import annotations

from mtasts.model import shards as sharding
from mtasts.model.domain import Deployment, Domain
from mtasts.model.vocabulary import Hosting

__all__ = ["known_zone_ids", "looked_up_zones", "needed_zones", "needs_zone"]


def needs_zone(domain: Domain) -> bool:
    """Whether any Cloudflare resource of this domain needs its zone id."""
    return domain.managed_dns or domain.hosting is Hosting.CLOUDFLARE_WORKER


def needed_zones(deployment: Deployment) -> list[str]:
    """Every zone the program asks an id for, sorted."""
    zones = {sharding.zone_of(d) for d in deployment.domains if needs_zone(d)}
    receiver = deployment.receiver
    if receiver is not None and deployment.reports_domains:
        zones.add(receiver.zone)
    delegation = deployment.delegation
    if delegation is not None and deployment.delegated_domains:
        zones.add(delegation.zone)
    return sorted(zones)


def known_zone_ids(deployment: Deployment) -> dict[str, str]:
    """Zone name → the id the stack gives for it: the first domain of the zone that names one,
    then the receiver's and the delegation's own."""
    known: dict[str, str] = {}
    for domain in deployment.domains:
        if domain.zone_id is not None:
            known.setdefault(sharding.zone_of(domain), domain.zone_id)
    for settings in (deployment.receiver, deployment.delegation):
        if settings is not None and settings.zone_id is not None:
            known.setdefault(settings.zone, settings.zone_id)
    return known


def looked_up_zones(deployment: Deployment) -> list[str]:
    """The zones a preview or up looks up by name (one ``getZone`` each, every run), sorted."""
    known = known_zone_ids(deployment)
    return [zone for zone in needed_zones(deployment) if zone not in known]
