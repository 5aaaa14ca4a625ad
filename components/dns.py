"""A domain's DNS records in Cloudflare, and the zone ids they go into.

``DomainRecords`` is one component per mail domain whose type and name depend on the domain
alone, never on its hosting: moving a domain from the Worker to GitHub Pages (or back) keeps
the ``_mta-sts`` TXT record's URN, so the engine updates it in place instead of creating a
second ``v=STSv1`` record next to the old one (two such records mean "no policy", RFC 8461 §3.1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_cloudflare as cloudflare

from components.live_gate import binding as live_gate_binding
from mtasts.model.config import Domain
from mtasts.model.vocabulary import Hosting, RecordRole

COMMENT = "MTA-STS / TLS-RPT, managed by Pulumi (mta-sts)"


def needs_zone(domain: Domain) -> bool:
    """Whether any Cloudflare resource of this domain needs its zone id."""
    return domain.managed_dns or domain.hosting is Hosting.CLOUDFLARE_WORKER


def zone_ids(domains: Iterable[Domain]) -> dict[str, pulumi.Input[str]]:
    """Domain name → Cloudflare zone id, looking each zone name up once.

    A domain with ``zoneId`` set costs no lookup; domains sharing a zone (``dev.example.com``
    in ``example.com``) share one lookup, never one per record.
    """
    looked_up: dict[str, pulumi.Output[str]] = {}
    ids: dict[str, pulumi.Input[str]] = {}
    for domain in domains:
        if not needs_zone(domain):
            continue
        if domain.zone_id is not None:
            ids[domain.name] = domain.zone_id
            continue
        zone = domain.zone or domain.name
        if zone not in looked_up:
            result = cloudflare.get_zone_output(filter={"name": zone, "match": "all"})
            looked_up[zone] = result.apply(lambda z: z.id)
        ids[domain.name] = looked_up[zone]
    return ids


@dataclass(frozen=True)
class DomainRecordsArgs:
    """What ``DomainRecords`` needs for one domain."""

    domain: Domain
    """The domain, whose ``records`` are created exactly as the model has them."""
    zone_id: pulumi.Input[str]
    """Cloudflare zone holding the records."""
    serving: Sequence[pulumi.Resource] = field(default=())
    """Every resource that serves this domain's policy: the ``_mta-sts`` TXT (and the
    policy-host record) wait for all of them (RFC 8461 §8.1)."""
    reporting: Sequence[pulumi.Resource] = field(default=())
    """Every resource that takes this domain's TLS reports at the URIs its ``_smtp._tls`` TXT
    lists (the built-in receiver's script, custom domain and mail route): the TXT waits for all
    of them, so senders are never told to post to a host that does not answer yet."""
    live_gate: pulumi.ResourceHook | None = None
    """Bound to the ``_mta-sts`` TXT alone: it is created or updated only once the policy its id
    names is served (``components.live_gate``)."""


class DomainRecords(pulumi.ComponentResource):
    """The ``mta-sts``, ``_mta-sts`` and ``_smtp._tls`` records of one domain.

    Children are named ``<domain>-<role>`` (role from ``mtasts.model.config.Record.role``). All are
    ``delete_before_replace``: Cloudflare refuses a second record of another type at one name
    (an AAAA → CNAME move is a replacement), and a second ``v=STSv1`` TXT voids the policy.
    """

    records: pulumi.Output[list[dict[str, str]]]
    """The records as ``plan --json`` shows them (name, type, content)."""

    def __init__(
        self, name: str, args: DomainRecordsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mta-sts:index:DomainRecords", name, None, opts)
        self.resources: dict[RecordRole, cloudflare.DnsRecord] = {}
        serving = list(args.serving)
        for record in args.domain.records:
            hooks = None
            if record.role is RecordRole.STS:
                hooks = live_gate_binding(args.live_gate) if args.live_gate is not None else None
                # The id is bumped only once the policy it names is served, including the
                # name senders fetch it from.
                host = self.resources.get(RecordRole.POLICY_HOST)
                depends_on = serving + ([host] if host is not None else [])
            elif record.role is RecordRole.POLICY_HOST:
                # A GitHub Pages CNAME only once the site claims the custom domain (no window
                # in which another Pages site could claim it); a proxied AAAA once the route exists.
                depends_on = serving
            elif record.role is RecordRole.TLSRPT:
                depends_on = list(args.reporting)
            else:
                depends_on = []
            self.resources[record.role] = cloudflare.DnsRecord(
                f"{name}-{record.role}",
                zone_id=args.zone_id,
                name=record.name,
                type=record.type,
                content=record.content,
                ttl=record.ttl,
                proxied=record.proxied,
                comment=COMMENT,
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=depends_on, delete_before_replace=True, hooks=hooks
                ),
            )
        self.records = pulumi.Output.from_input([r.as_json() for r in args.domain.records])
        self.register_outputs({"records": self.records})
