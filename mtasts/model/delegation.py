"""Customer domains (``hosting: delegated``): RFC 8461 §8.2 delegation onto the operator's zone.

A customer points three names at the operator once; the operator serves the policy, owns its id
and keeps the certificate valid (Cloudflare for SaaS: one custom hostname per customer in the
operator's zone, served by the policy Worker behind the zone's originless fallback origin).

What lives where:

- at the customer (``customer_records``, printed by ``plan``): ``mta-sts.<c>`` CNAME to the
  SaaS ``target``, ``_mta-sts.<c>`` CNAME to ``<label>._mta-sts.<zone>``, and, when the customer
  reports, ``_smtp._tls.<c>`` CNAME to ``<label>._smtp._tls.<zone>``. ``<label>`` is one DNS label
  derived from the customer's name alone (``customer_label``), so these never change.
- at the operator (``operator_records``): the fallback origin ``<target>`` AAAA ``100::``
  (proxied), and the TXT records the CNAMEs reach.

Record sharing, for the zone's DNS record quota (200 / 1,000 / 3,500 by Cloudflare plan,
``mtasts.model.limits.DNS_RECORDS_PER_ZONE``): one
wildcard TXT ``*._mta-sts.<zone>`` carries the policy id most customers share, and only a
customer whose policy differs gets its own TXT at ``<label>._mta-sts.<zone>``; an existing name is
never answered from the wildcard (RFC 4592 §2.2.1), so there is exactly one ``v=STSv1`` record
per customer. The same for ``_smtp._tls``. Cost: 1 + 1 + 1 records (fallback, two wildcards) plus
one per customer off the most common policy or reporting URIs. A single label is needed: a
wildcard does not answer below an existing name (``a.com._mta-sts`` would hide ``*._mta-sts``
from ``b.com._mta-sts`` through the empty non-terminal ``com._mta-sts``).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NoReturn

from mtasts.model.errors import ConfigError
from mtasts.model.limits import CUSTOM_HOSTNAMES_INCLUDED, DNS_RECORDS_PER_ZONE, Limits
from mtasts.model.objects import host_name, settings_object
from mtasts.model.objects import zone_id as checked_zone_id
from mtasts.model.shards import zone_of
from mtasts.model.vocabulary import RecordRole
from mtasts.rfc.names import MAX_NAME_LENGTH
from mtasts.rfc.records import STS_LABEL, StsRecord, quote_txt

if TYPE_CHECKING:
    from mtasts.model.domain import Domain, Record  # domain.py imports this module

KEY = "delegation"
KEYS = ("zone", "zoneId", "target", "certificateAuthority")

PRICE_PER_HOSTNAME_MONTH = Decimal("0.10")
"""US dollars a month per custom hostname beyond the included ones (``limits.SAAS_PLANS``). The
included number (100) and the ceiling (50,000, non-Enterprise) are rows of ``mtasts.model.limits``,
as is the zone's DNS record quota; ``mta-sts:zonePlans`` and ``mta-sts:limits`` set them."""

CERTIFICATE_AUTHORITIES = {"google": "pki.goog", "lets_encrypt": "letsencrypt.org", "ssl_com": "ssl.com"}
"""``certificateAuthority`` → the CAA issuer domain of that CA. The values are the provider's
``ssl.certificate_authority`` choices (terraform-provider-cloudflare
``internal/services/custom_hostname/schema.go``; ``digicert`` no longer issues for new orders);
the domains are those Cloudflare's CAA page lists (developers.cloudflare.com/ssl/edge-certificates/
caa-records/)."""

TLSRPT_LABEL = "_smtp._tls"
STS_WILDCARD_KEY = "delegation-sts"
"""The resource name of ``*._mta-sts.<zone>``, the TXT most customers read."""
FALLBACK_ORIGIN = "100::"
"""The originless fallback origin: "Workers as your fallback origin" (developers.cloudflare.com/
cloudflare-for-platforms/cloudflare-for-saas/start/advanced-settings/worker-as-origin/)."""
_LABEL_PREFIX = 48


def _fail(key: str, rule: str) -> NoReturn:
    raise ConfigError(key, rule)


@dataclass(frozen=True)
class DelegationSettings:
    """The validated ``mta-sts:delegation`` object."""

    zone: str
    """The operator's Cloudflare zone holding the custom hostnames and the records customers reach."""
    zone_id: str | None = None
    """Its zone id; None means look it up by ``zone``."""
    target: str = ""
    """The SaaS CNAME target and fallback origin (default ``mta-sts-fallback.<zone>``)."""
    certificate_authority: str | None = None
    """The CA Cloudflare orders from (None: Cloudflare chooses)."""

    @property
    def sts_wildcard(self) -> str:
        return f"*.{STS_LABEL}.{self.zone}"

    @property
    def tlsrpt_wildcard(self) -> str:
        return f"*.{TLSRPT_LABEL}.{self.zone}"

    @property
    def caa_issuers(self) -> tuple[str, ...]:
        """CAA ``issue`` domains of the CAs Cloudflare may order the certificate from."""
        if self.certificate_authority is not None:
            return (CERTIFICATE_AUTHORITIES[self.certificate_authority],)
        return tuple(sorted(CERTIFICATE_AUTHORITIES.values()))


def _host(value: Any, key: str) -> str:
    return host_name(value, key, "customers.example.net")


def load_delegation(raw: Any, key: str = KEY) -> DelegationSettings | None:
    """Validate the ``mta-sts:delegation`` object; None when it is absent or empty."""
    raw = settings_object(raw, key, KEYS, "delegation settings")
    if raw is None:
        return None
    if "zone" not in raw:
        _fail(f"{key}.zone", "is required: the Cloudflare zone holding the custom hostnames")
    zone = _host(raw["zone"], f"{key}.zone")
    zone_id = checked_zone_id(raw.get("zoneId"), f"{key}.zoneId")
    target = _host(raw.get("target", f"mta-sts-fallback.{zone}"), f"{key}.target")
    if not target.endswith("." + zone):
        _fail(f"{key}.target", f"{target} must be a name inside the zone {zone} (the fallback origin)")
    authority = raw.get("certificateAuthority")
    if authority is not None and authority not in CERTIFICATE_AUTHORITIES:
        _fail(f"{key}.certificateAuthority", f"must be one of {', '.join(CERTIFICATE_AUTHORITIES)}")
    return DelegationSettings(zone, zone_id, target, authority)


def customer_label(name: str) -> str:
    """One DNS label for customer ``name``: readable, from the name alone, distinct in practice.

    Dots become ``-``, cut to 48 characters, then ``-`` and 8 hex digits of SHA-256 of the name
    (``a-b.com`` and ``a.b-com`` read alike and differ there); at most 57 of the 63 a label holds.
    """
    digest = hashlib.sha256(name.encode("ascii")).hexdigest()[:8]
    return f"{name.replace('.', '-')[:_LABEL_PREFIX].rstrip('-')}-{digest}"


def sts_target(settings: DelegationSettings, name: str) -> str:
    """Where the customer's ``_mta-sts`` CNAME points."""
    return f"{customer_label(name)}.{STS_LABEL}.{settings.zone}"


def tlsrpt_target(settings: DelegationSettings, name: str) -> str:
    """Where the customer's ``_smtp._tls`` CNAME points."""
    return f"{customer_label(name)}.{TLSRPT_LABEL}.{settings.zone}"


def customer_records(domain: Domain) -> tuple[Record, ...]:
    """What the customer creates once, in its own DNS: absolute CNAMEs (trailing dots)."""
    from mtasts.model.domain import HOST_TTL, Record

    settings = domain.delegation
    assert settings is not None, "only for hosting: delegated"
    records = [
        Record(RecordRole.POLICY_HOST, domain.policy_host, "CNAME", f"{settings.target}.", HOST_TTL),
        Record(
            RecordRole.STS,
            f"{STS_LABEL}.{domain.name}",
            "CNAME",
            f"{sts_target(settings, domain.name)}.",
            HOST_TTL,
        ),
    ]
    if domain.tlsrpt:
        target = tlsrpt_target(settings, domain.name)
        records.append(
            Record(RecordRole.TLSRPT, f"{TLSRPT_LABEL}.{domain.name}", "CNAME", f"{target}.", HOST_TTL)
        )
    return tuple(records)


@dataclass(frozen=True)
class OperatorRecord:
    """One record this stack creates in the delegation zone, with the customers that read it."""

    key: str
    """The Pulumi resource name: ``delegation-fallback``, ``delegation-sts``, ``delegation-tlsrpt``
    (the wildcards) or ``<customer>-sts`` / ``<customer>-tlsrpt`` (an exception)."""
    record: Record
    customers: tuple[str, ...]
    """The customers whose CNAME reaches this record (every one, for the fallback)."""


def _shared(values: Mapping[str, str]) -> str:
    """The value most customers have (ties: the smallest), which the wildcard carries."""
    counts = Counter(values.values())
    return min(counts, key=lambda value: (-counts[value], value))


def operator_records(settings: DelegationSettings, customers: Sequence[Domain]) -> tuple[OperatorRecord, ...]:
    """Every record the stack creates in ``settings.zone``, in rollout order; () without customers."""
    from mtasts.model.domain import AUTO_TTL, TXT_TTL, Record

    if not customers:
        return ()
    names = tuple(c.name for c in customers)
    out = [
        OperatorRecord(
            "delegation-fallback",
            Record(RecordRole.POLICY_HOST, settings.target, "AAAA", FALLBACK_ORIGIN, AUTO_TTL, proxied=True),
            names,
        )
    ]
    ids = {c.name: c.policy_id for c in customers}
    shared = _shared(ids)
    on_wildcard = tuple(n for n in names if ids[n] == shared)
    content = quote_txt(StsRecord(id=shared).render())
    out.append(
        OperatorRecord(
            STS_WILDCARD_KEY,
            Record(RecordRole.STS, settings.sts_wildcard, "TXT", content, TXT_TTL),
            on_wildcard,
        )
    )
    for customer in customers:
        if ids[customer.name] != shared:
            record = Record(
                RecordRole.STS,
                sts_target(settings, customer.name),
                "TXT",
                quote_txt(customer.sts_record),
                TXT_TTL,
            )
            out.append(OperatorRecord(f"{customer.name}-sts", record, (customer.name,)))
    reporting = {c.name: c.tlsrpt_record for c in customers if c.tlsrpt_record is not None}
    if reporting:
        shared_rpt = _shared(reporting)
        wildcard = Record(RecordRole.TLSRPT, settings.tlsrpt_wildcard, "TXT", quote_txt(shared_rpt), TXT_TTL)
        readers = tuple(n for n in names if reporting.get(n) == shared_rpt)
        out.append(OperatorRecord("delegation-tlsrpt", wildcard, readers))
        for name, text in reporting.items():
            if text != shared_rpt:
                record = Record(
                    RecordRole.TLSRPT, tlsrpt_target(settings, name), "TXT", quote_txt(text), TXT_TTL
                )
                out.append(OperatorRecord(f"{name}-tlsrpt", record, (name,)))
    return tuple(out)


def wildcard_readers(settings: DelegationSettings, records: Sequence[OperatorRecord]) -> dict[str, str]:
    """Name of the ``_mta-sts`` TXT each customer on the wildcard would have of its own → that
    customer: whose record of that name, left from an earlier ``up``, is deleted in this one. Its
    deletion makes the customer read the wildcard's id instead (RFC 4592 §2.2.1)."""
    wildcard = next((r for r in records if r.key == STS_WILDCARD_KEY), None)
    if wildcard is None:
        return {}
    return {sts_target(settings, name): name for name in wildcard.customers}


def by_customer(records: Sequence[OperatorRecord]) -> dict[str, list[OperatorRecord]]:
    """Customer name → the operator records it reads (the fallback origin aside), in one pass."""
    index: dict[str, list[OperatorRecord]] = {}
    for record in records[1:]:
        for name in record.customers:
            index.setdefault(name, []).append(record)
    return index


@dataclass(frozen=True)
class Usage:
    """What the stack's customers cost and use of the delegation zone."""

    custom_hostnames: int
    records: int
    record_quota: int
    """The zone's DNS record quota (``limits.DNS_RECORDS_PER_ZONE`` for its plan)."""
    included: int
    """Custom hostnames the plan includes (``limits.CUSTOM_HOSTNAMES_INCLUDED``)."""

    @property
    def billed_hostnames(self) -> int:
        return max(0, self.custom_hostnames - self.included)

    @property
    def monthly_cost(self) -> Decimal:
        """US dollars a month for the custom hostnames beyond the included ones."""
        return self.billed_hostnames * PRICE_PER_HOSTNAME_MONTH

    def as_json(self) -> dict[str, Any]:
        return {
            "customHostnames": self.custom_hostnames,
            "includedCustomHostnames": self.included,
            "monthlyCostUsd": f"{self.monthly_cost:.2f}",
            "records": self.records,
            "recordQuota": self.record_quota,
        }

    def line(self) -> str:
        return (
            f"{self.custom_hostnames} custom hostname(s), {self.included} included: "
            f"${self.monthly_cost:.2f} a month beyond them (${PRICE_PER_HOSTNAME_MONTH} each); "
            f"{self.records} of {self.record_quota} DNS records in the zone"
        )


def usage(
    settings: DelegationSettings,
    customers: Sequence[Domain],
    records: Sequence[OperatorRecord],
    limits: Limits,
) -> Usage:
    """The custom hostnames, their cost beyond the included ones, and the records in the zone."""
    return Usage(
        len(customers),
        len(records),
        limits.of(DNS_RECORDS_PER_ZONE, settings.zone),
        limits.of(CUSTOM_HOSTNAMES_INCLUDED, settings.zone),
    )


def check_stack(domains: Iterable[Domain]) -> None:
    """Names Cloudflare would only refuse during ``pulumi up``: one label per customer, names that fit;
    no customer inside the delegation zone, and no domain of ours sharing it with the customers.

    The zone's limits (custom hostnames, DNS records) are counted with the others by
    ``mtasts.model.preflight``.
    """
    domains = tuple(domains)
    customers = [d for d in domains if d.delegation is not None]
    if not customers:
        return
    settings = customers[0].delegation
    assert settings is not None
    zone = settings.zone
    for customer in customers:
        if customer.name == zone or customer.name.endswith("." + zone):
            _fail(
                f"domains.{customer.name}",
                f"is inside the delegation zone {zone}, whose records this stack manages: a customer's "
                "CNAMEs live in the customer's own DNS (host a domain of yours as cloudflare-worker)",
            )
    for domain in domains:
        receiver = domain.receiver
        if receiver is not None and receiver.zone == zone:
            # A route "takes precedence" over a Workers custom domain on the same hostname
            # (developers.cloudflare.com/workers/configuration/routing/routes/).
            _fail(
                "reports.zone",
                f"{zone} is also the delegation zone: the customers' */* Worker route would take the "
                f"receiver's {receiver.host} from its Workers custom domain; use another zone",
            )
        if domain.delegation is None and zone_of(domain) == zone:
            # "Workers as your fallback origin": the */* route "matches all traffic entering your
            # zone", so the zone's own names would get the customers' Worker (404 for them).
            _fail(
                f"{KEY}.zone",
                f"{zone} is also the zone of {domain.name} ({domain.hosting}): the customers' */* "
                "Worker route would take every request to the zone's own names; use a zone of its own",
            )
    labels: dict[str, str] = {}
    for customer in customers:
        label = customer_label(customer.name)
        if label in labels:
            _fail(f"domains.{customer.name}", f"its record label {label} is also that of {labels[label]}")
        labels[label] = customer.name
    for record in operator_records(settings, customers):
        if len(record.record.name) > MAX_NAME_LENGTH:
            _fail(KEY, f"the derived name {record.record.name} is over {MAX_NAME_LENGTH} characters")
