"""A domain's DNS records in Cloudflare, and the zone ids they go into.

``DomainRecords`` is one component per mail domain whose type and name depend on the domain
alone, never on its hosting: moving a domain from the Worker to GitHub Pages (or back) keeps
the ``_mta-sts`` TXT record's URN, so the engine updates it in place instead of creating a
second ``v=STSv1`` record next to the old one (two such records mean "no policy", RFC 8461 §3.1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_cloudflare as cloudflare

from components import retry
from components.live_gate import binding as live_gate_binding
from mtasts.model.config import Deployment, Domain
from mtasts.model.vocabulary import RecordRole
from mtasts.model.zones import known_zone_ids, needs_zone

COMMENT = "MTA-STS / TLS-RPT, managed by Pulumi (mta-sts)"


class Zones:
    """Zone name → Cloudflare zone id for one program: each zone looked up at most once.

    A zone whose id the stack gives (``zoneId`` on a domain of that zone, or on
    ``mta-sts:reports``) costs no lookup at all; every other zone costs one ``getZone`` call,
    which the provider makes as two API requests (a list filtered by name, then a get:
    terraform-provider-cloudflare ``internal/services/zone/data_source.go``) on every preview and
    up. The filter names the stack's account (``account.id``, ``data_source_schema.go``), so a
    same-named zone in another account the token can see never answers.
    """

    def __init__(self, account_id: str | None, known: Mapping[str, str] | None = None) -> None:
        self.account_id = account_id
        self._ids: dict[str, pulumi.Input[str]] = dict(known or {})

    def id(self, zone: str) -> pulumi.Input[str]:
        """The id of ``zone``: given, or looked up (once) in the stack's account."""
        if zone not in self._ids:
            if self.account_id is None:  # the loader requires the account for a lookup
                raise ValueError(f"zone {zone} has no id and the stack names no cloudflareAccountId")
            found = cloudflare.get_zone_output(
                filter={"name": zone, "account": {"id": self.account_id}, "match": "all"}
            )
            self._ids[zone] = found.apply(lambda z: z.id)
        return self._ids[zone]


def zones_for(deployment: Deployment) -> Zones:
    """The program's one ``Zones``, knowing every zone id the stack file gives
    (``mtasts.model.zones``: what ``plan`` counts as lookups is what is left)."""
    return Zones(deployment.cloudflare_account_id, known_zone_ids(deployment))


def zone_ids(domains: Iterable[Domain], zones: Zones) -> dict[str, pulumi.Input[str]]:
    """Domain name → the id of the zone its records (and route or custom domain) go in.

    A domain's own ``zoneId`` is its zone's id; domains sharing a zone (``dev.example.com`` in
    ``example.com``) share one lookup, never one per domain or record.
    """
    return {
        domain.name: domain.zone_id if domain.zone_id is not None else zones.id(domain.zone or domain.name)
        for domain in domains
        if needs_zone(domain)
    }


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
    first_gate: pulumi.ResourceHook | None = None
    """Bound before the ``_mta-sts`` TXT is created, instead of ``live_gate``, when the first
    serving takes longer (a new GitHub Pages host waits for its certificate)."""
    create_guard: pulumi.ResourceHook | None = None
    """Before the ``_mta-sts`` TXT is created: refuses while a hand-made ``v=STSv1`` record
    answers there (``components.guards``)."""


class DomainRecords(pulumi.ComponentResource):
    """The ``mta-sts``, ``_mta-sts`` and ``_smtp._tls`` records of one domain.

    Children are named ``<domain>-<role>`` (role from ``mtasts.model.config.Record.role``). All are
    ``delete_before_replace``: Cloudflare refuses a second record of another type at one name
    (an AAAA → CNAME move is a replacement), and a second ``v=STSv1`` TXT voids the policy.
    """

    records: list[dict[str, str]]
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
                if args.live_gate is not None:
                    hooks = live_gate_binding(args.live_gate, args.first_gate, args.create_guard)
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
                    parent=self,
                    depends_on=depends_on,
                    delete_before_replace=True,
                    hooks=retry.with_retry(hooks),
                ),
            )
        # Plain values, registered as they are: ``Output.from_input`` would wrap every record,
        # key and value in an Output of its own (about 35 a domain, each with its futures and
        # tasks), which a fleet pays for in memory and time and nothing ever awaits.
        self.records = [r.as_json() for r in args.domain.records]
        self.register_outputs({"records": self.records})
