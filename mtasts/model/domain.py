"""What a stack publishes: ``Domain`` (one mail domain), its records, and ``Deployment``.

Built only by ``mtasts.model.loader``; frozen, so derived values (policy text, id, records) are
computed once and cannot go stale.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from mtasts.model import delegation as delegation_model
from mtasts.model.delegation import DelegationSettings, OperatorRecord
from mtasts.model.findings import Finding
from mtasts.model.limits import Limits
from mtasts.model.receiver import ReceiverSettings
from mtasts.model.rollout import LiveGate, Readiness
from mtasts.model.shards import assign, shard_of, zone_of
from mtasts.model.vocabulary import Dns, Hosting, Mode, RecordRole, Reports, Routing
from mtasts.rfc.policy import POLICY_PATH, Policy, policy_host, policy_id
from mtasts.rfc.records import StsRecord, TlsRptRecord, quote_txt, sts_name, tlsrpt_name

TXT_TTL = 300
HOST_TTL = 300
AUTO_TTL = 1
"""Cloudflare's "automatic" TTL, the only one a proxied record takes."""
NAME_TYPES = frozenset({"CNAME"})
"""Record types whose data is a domain name (the only one among the records a domain needs)."""
WORKER_ORIGIN = "100::"
"""The discard prefix (RFC 6666): a proxied record's origin that a Worker route answers for."""


@dataclass(frozen=True)
class Record:
    """One DNS record a domain needs, with the exact content Cloudflare stores."""

    role: RecordRole
    """Names the resource, never changes."""
    name: str
    """Fully qualified name, without a trailing dot."""
    type: str
    content: str
    """TXT content is quoted, as Cloudflare stores and shows it."""
    ttl: int
    proxied: bool = False

    def zone_line(self) -> str:
        """The record as a zone-file line in which every name is absolute (ends in a dot), so it
        reads the same under any ``$ORIGIN``: a CNAME target without the dot would be taken as
        relative to the origin (RFC 1035 §5.1)."""
        ttl = TXT_TTL if self.ttl == AUTO_TTL else self.ttl
        content = f"{self.content.rstrip('.')}." if self.type in NAME_TYPES else self.content
        return f"{self.name}.\t{ttl}\tIN\t{self.type}\t{content}"

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type, "content": self.content}


@dataclass(frozen=True)
class _Published:
    """What a policy (mode, max_age, mx) publishes, whichever domain serves it."""

    policy: Policy
    text: str
    id: str
    sts_record: str
    sts_quoted: str


@lru_cache(maxsize=4096)
def _published(mode: Mode, max_age: int, mx: tuple[str, ...]) -> _Published:
    """One rendering, hash and ``_mta-sts`` TXT per distinct policy, shared by every domain that
    serves it: a fleet has a few policies over thousands of domains, and each text, id and record
    would otherwise be built, and kept, once per domain."""
    policy = Policy(mode=mode, max_age=max_age, mx=mx)
    text = policy.render()
    ident = policy_id(text)
    sts = StsRecord(id=ident).render()
    return _Published(policy, text, ident, sts, quote_txt(sts))


@lru_cache(maxsize=4096)
def _tlsrpt(rua: tuple[str, ...]) -> tuple[str, str]:
    """``_smtp._tls`` TXT data for ``rua``, unquoted and quoted; shared as ``_published`` is."""
    record = TlsRptRecord(rua=rua).render()
    return record, quote_txt(record)


_VOCABULARY = (
    ("hosting", Hosting),
    ("mode", Mode),
    ("dns", Dns),
    ("routing", Routing),
    ("reports", Reports),
)


@dataclass(frozen=True)
class Domain:
    """One mail domain and everything it publishes.

    Derived values (policy text, id, records) are computed once per instance: the fields are
    frozen, so they cannot go stale.
    """

    name: str
    hosting: Hosting
    mode: Mode
    max_age: int
    mx: tuple[str, ...]
    tlsrpt: tuple[str, ...]
    dns: Dns = Dns.CLOUDFLARE
    routing: Routing = Routing.ROUTE
    zone_id: str | None = None
    """Cloudflare zone id; None means look it up by ``zone``."""
    zone: str | None = None
    """Cloudflare zone name holding the records (default: the domain itself)."""
    repository: str | None = None
    """GitHub repository name for Pages hosting (default ``mta-sts.<domain>``)."""
    github_owner: str | None = None
    https_enforced: bool = False
    """Pages only: enforce HTTPS, which GitHub allows once it has issued the certificate."""
    reports: Reports = Reports.NONE
    """``builtin``: the stack's TLS report receiver takes this domain's reports (its URIs are
    in ``tlsrpt``); ``none``: only the configured ``tlsrpt`` URIs."""
    receiver: ReceiverSettings | None = None
    """The stack's receiver settings when ``reports`` is ``builtin``, else None."""
    none_since: datetime.datetime | None = None
    """``mode: none`` only: when that policy went live (``plan --base`` reads it, RFC 8461 §8.3)."""
    delegation: DelegationSettings | None = None
    """``hosting: delegated`` only: the stack's ``mta-sts:delegation`` settings."""

    def __post_init__(self) -> None:
        # The vocabulary fields always hold members, whoever built the Domain (the loader passes
        # members; tests and tools may pass the plain values), so ``is`` comparisons hold.
        for name, kind in _VOCABULARY:
            value = getattr(self, name)
            if type(value) is not kind:
                object.__setattr__(self, name, kind(value))

    @property
    def reports_json(self) -> dict[str, str | None] | None:
        """``{"https": url, "mailto": address or None}`` for a builtin domain, else None."""
        if self.receiver is None:
            return None
        return {"https": self.receiver.https_uri, "mailto": self.receiver.mailto}

    @cached_property
    def _shared(self) -> _Published:
        return _published(self.mode, self.max_age, self.mx)

    @property
    def policy(self) -> Policy:
        return self._shared.policy

    @property
    def policy_text(self) -> str:
        """The exact bytes served at the policy URL (CRLF line ends)."""
        return self._shared.text

    @property
    def policy_id(self) -> str:
        """``Policy.id``, hashed from the text already rendered."""
        return self._shared.id

    @property
    def policy_host(self) -> str:
        return policy_host(self.name)

    @property
    def policy_url(self) -> str:
        return f"https://{self.policy_host}{POLICY_PATH}"

    @property
    def sts_record(self) -> str:
        """``_mta-sts`` TXT data, unquoted."""
        return self._shared.sts_record

    @property
    def tlsrpt_record(self) -> str | None:
        """``_smtp._tls`` TXT data, unquoted, or None when there are no URIs."""
        return _tlsrpt(self.tlsrpt)[0] if self.tlsrpt else None

    @property
    def managed_dns(self) -> bool:
        """Whether the program creates this domain's DNS records (a customer's are the customer's)."""
        return self.dns is Dns.CLOUDFLARE and self.hosting is not Hosting.DELEGATED

    @cached_property
    def records(self) -> tuple[Record, ...]:
        """The DNS records this domain needs, in rollout order.

        With ``dns: external`` these are the records to create by hand; for ``hosting: delegated``
        the CNAMEs the customer creates (``mtasts.model.delegation.customer_records``).
        """
        if self.hosting is Hosting.DELEGATED:
            return delegation_model.customer_records(self)
        records: list[Record] = []
        host = self.policy_host
        role = RecordRole.POLICY_HOST
        if self.hosting is Hosting.GITHUB_PAGES:
            records.append(Record(role, host, "CNAME", f"{self.github_owner}.github.io", HOST_TTL))
        elif self.dns is Dns.EXTERNAL:
            # A zone in Cloudflare's partial (CNAME) setup: the Workers custom
            # domain answers there once the public name points at Cloudflare.
            records.append(Record(role, host, "CNAME", f"{host}.cdn.cloudflare.net", HOST_TTL))
        elif self.routing is Routing.ROUTE:
            records.append(Record(role, host, "AAAA", WORKER_ORIGIN, AUTO_TTL, proxied=True))
        sts = self._shared.sts_quoted
        records.append(Record(RecordRole.STS, sts_name(self.name), "TXT", sts, TXT_TTL))
        if self.tlsrpt:
            tlsrpt = _tlsrpt(self.tlsrpt)[1]
            records.append(Record(RecordRole.TLSRPT, tlsrpt_name(self.name), "TXT", tlsrpt, TXT_TTL))
        return tuple(records)


@dataclass(frozen=True)
class Deployment:
    """A whole stack: its domains (sorted by name) and what the loader warned about."""

    domains: tuple[Domain, ...]
    cloudflare_account_id: str | None = None
    github_owner: str | None = None
    findings: tuple[Finding, ...] = field(default=())
    """The loader's warnings (``Severity.WARNING``, each with its dotted ``key``), in domain order."""
    receiver: ReceiverSettings | None = None
    """The ``mta-sts:reports`` settings of the stack's TLS report receiver (None when absent)."""
    live_gate: LiveGate = field(default_factory=LiveGate)
    """``mta-sts:liveGate``: how long ``pulumi up`` waits for a new policy to be served."""
    readiness: Readiness = field(default_factory=Readiness)
    """``mta-sts:readiness``: the evidence ``readiness`` wants before ``enforce``."""
    limits: Limits = field(default_factory=Limits)
    """The Cloudflare plans and limit overrides the stack is checked against (``mtasts.model.limits``)."""
    worker_shards: int = 1
    """``mta-sts:workerShards``: how many policy Worker scripts the Worker-hosted domains are spread over."""

    @cached_property
    def shards(self) -> Mapping[int, tuple[Domain, ...]]:
        """Shard → the Worker-hosted domains its script serves (``mtasts.model.shards``); only used shards."""
        return assign(self.worker_domains, self.worker_shards)

    def with_findings(self, extra: tuple[Finding, ...]) -> Deployment:
        """This deployment with ``extra`` findings appended. What it computed once from its
        domains (the shards, the delegation zone's records, the index by name) carries over
        instead of being computed again: none of it depends on the findings."""
        new = dataclasses.replace(self, findings=(*self.findings, *extra))
        for name in ("shards", "operator_records", "operator_records_by_customer", "_by_name"):
            if name in self.__dict__:
                new.__dict__[name] = self.__dict__[name]
        return new

    def shard_for(self, name: str) -> int:
        """The shard whose script serves Worker-hosted domain ``name``."""
        return shard_of(zone_of(self.domain(name)), self.worker_shards)

    delegation: DelegationSettings | None = None
    """``mta-sts:delegation``: the operator's zone for ``hosting: delegated`` domains (None when absent)."""

    @property
    def delegated_domains(self) -> tuple[Domain, ...]:
        """The customers' domains (``hosting: delegated``)."""
        return tuple(d for d in self.domains if d.hosting is Hosting.DELEGATED)

    @cached_property
    def operator_records(self) -> tuple[OperatorRecord, ...]:
        """Every record the stack creates in the delegation zone (``mtasts.model.delegation``)."""
        if self.delegation is None:
            return ()
        return delegation_model.operator_records(self.delegation, self.delegated_domains)

    @cached_property
    def operator_records_by_customer(self) -> Mapping[str, list[OperatorRecord]]:
        return delegation_model.by_customer(self.operator_records)

    @cached_property
    def _by_name(self) -> Mapping[str, Domain]:
        return {domain.name: domain for domain in self.domains}

    @cached_property
    def _findings_by_domain(self) -> Mapping[str, tuple[Finding, ...]]:
        """Findings indexed once by the domain their key names (``domains.<name>[.<setting>]``)."""
        index: dict[str, list[Finding]] = {}
        names = self._by_name
        for finding in self.findings:
            # A warning folded onto defaults.<setting> is about each domain that inherits it.
            folded = finding.key is not None and finding.key.startswith("defaults.")
            for name in dict(finding.facts).get("domains", ()) if folded else ():
                if name in names:
                    index.setdefault(name, []).append(finding)
            rest = (
                finding.key[len("domains.") :] if finding.key and finding.key.startswith("domains.") else ""
            )
            # Names hold dots and settings do not: try the whole rest, then drop the setting.
            for candidate in (rest, rest.rpartition(".")[0]):
                if candidate in names:
                    index.setdefault(candidate, []).append(finding)
                    break
        return {name: tuple(found) for name, found in index.items()}

    def domain(self, name: str) -> Domain:
        return self._by_name[name]

    def findings_for(self, name: str) -> tuple[Finding, ...]:
        """The loader's findings about domain ``name``, in O(1)."""
        return self._findings_by_domain.get(name, ())

    @property
    def warnings(self) -> tuple[str, ...]:
        """Every finding as ``<key>: <reason>``, the text ``plan`` and the program print."""
        return tuple(_text(f) for f in self.findings)

    def warnings_for(self, name: str) -> list[str]:
        """``findings_for(name)`` as ``<key>: <reason>`` lines, the shape of ``plan --json``."""
        return [_text(f) for f in self.findings_for(name)]

    @property
    def worker_domains(self) -> tuple[Domain, ...]:
        return tuple(d for d in self.domains if d.hosting is Hosting.CLOUDFLARE_WORKER)

    @property
    def pages_domains(self) -> tuple[Domain, ...]:
        return tuple(d for d in self.domains if d.hosting is Hosting.GITHUB_PAGES)

    @property
    def reports_domains(self) -> tuple[Domain, ...]:
        """The domains whose reports the stack's own receiver takes (``reports: builtin``)."""
        return tuple(d for d in self.domains if d.reports is Reports.BUILTIN)


def _text(finding: Finding) -> str:
    return f"{finding.key or finding.name}: {finding.reason}"
