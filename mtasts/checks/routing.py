"""Routing changes one ``pulumi up`` cannot apply: a DNS record and a Workers custom domain on one name.

``mta-sts.<d>`` is held by one of three things in Cloudflare: a DNS record the stack manages (the
proxied AAAA of ``routing: route``, the CNAME of GitHub Pages), a Workers custom domain
(``routing: custom-domain``), or nothing (``routing: none``, and names whose records are kept
outside Cloudflare). A record and a custom domain are different resources, so Pulumi creates the
new one before it deletes the old (deletes of removed resources come last). Cloudflare refuses a
custom domain on a name that has DNS records (API code 100117: cloudflare/workers-sdk#9878), and a
record on a name a custom domain holds, so such an ``up`` stops before the delete, and so does
every retry. ``plan --base`` refuses the one-step change and prints the safe sequence, through
``routing: none``: each of its two steps only creates or only deletes at that name.
"""

from __future__ import annotations

import enum

from mtasts.model.domain import Domain
from mtasts.model.findings import Finding, Severity
from mtasts.model.vocabulary import Check, Hosting, Routing


class Front(enum.Enum):
    """What holds ``mta-sts.<d>`` in Cloudflare."""

    RECORD = "a DNS record"
    CUSTOM_DOMAIN = "a Workers custom domain"
    NOTHING = "nothing"


def front(domain: Domain) -> Front:
    """What holds ``domain``'s policy host in Cloudflare under this configuration."""
    if domain.hosting is Hosting.CLOUDFLARE_WORKER:
        if domain.routing is Routing.CUSTOM_DOMAIN:
            return Front.CUSTOM_DOMAIN
        if domain.routing is Routing.ROUTE:
            return Front.RECORD  # the loader refuses route with dns: external
        return Front.NOTHING
    return Front.RECORD if domain.managed_dns else Front.NOTHING


def _serving(domain: Domain) -> str:
    if domain.hosting is Hosting.GITHUB_PAGES:
        return f"hosting {domain.hosting}"
    return f"routing {domain.routing}"


def _detached(domain: Domain) -> str:
    """The first step's setting: the Worker, with nothing at the policy host."""
    if domain.hosting is Hosting.CLOUDFLARE_WORKER:
        return "routing: none"
    return "hosting: cloudflare-worker with routing: none"


def _target(domain: Domain) -> str:
    if domain.hosting is Hosting.GITHUB_PAGES:
        return "hosting: github-pages"
    return f"routing: {domain.routing}"


def routing_change(base: Domain, head: Domain) -> list[Finding]:
    """Whether ``base → head`` of one domain can be applied by one ``pulumi up``; errors say why
    not and give the safe sequence. Empty when the change is safe (or is none)."""
    key = f"domains.{head.name}"
    old, new = front(base), front(head)
    host = head.policy_host
    if {old, new} == {Front.RECORD, Front.CUSTOM_DOMAIN}:
        refused = (
            "Cloudflare refuses a Workers custom domain on a name with DNS records (API code 100117)"
            if new is Front.CUSTOM_DOMAIN
            else "Cloudflare refuses a DNS record on a name a Workers custom domain holds"
        )
        return [
            Finding(
                Check.ROUTING_CHANGE,
                Severity.ERROR,
                f"{_serving(base)} → {_serving(head)} cannot be applied in one pulumi up: Pulumi "
                f"creates {new.value} at {host} before it deletes {old.value} there, and {refused}, "
                f"so every up would stop halfway. Safe sequence: (1) set {_detached(base)}, "
                f"pulumi up (nothing serves {host} for a minute; senders keep their cached policy); "
                f"(2) set {_target(head)}, pulumi up",
                key,
            )
        ]
    unserved = head.hosting is Hosting.CLOUDFLARE_WORKER and head.routing is Routing.NONE
    if unserved and head.managed_dns and base.policy_id != head.policy_id:
        return [
            Finding(
                Check.ROUTING_CHANGE,
                Severity.ERROR,
                f"the policy changes while nothing serves {host} (routing: none): the live gate "
                "would wait in vain for the new id; change the policy in another step",
                key,
            )
        ]
    return []
