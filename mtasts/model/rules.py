"""The rules a stack's domains must keep, beyond each setting's own validator.

``DOMAIN_RULES`` relate a domain's settings (on a ``Draft``), ``BUILT_RULES`` check what a built
``Domain`` publishes (name lengths, policy and TXT sizes: what would otherwise fail only during
``pulumi up``), ``STACK_RULES`` look across domains; each raises ``ConfigError`` naming the key.
``stack_warnings`` reports what is legal but risky. ``mtasts.model.loader`` applies them in that
order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from mtasts.model import delegation as delegation_model
from mtasts.model import receiver as receiver_model
from mtasts.model import zones as zones_model
from mtasts.model.cloudflare import universal_ssl_covers
from mtasts.model.domain import Domain
from mtasts.model.findings import Finding, Severity
from mtasts.model.validators import fail, shown
from mtasts.model.vocabulary import Check, Dns, Hosting, Mode, RecordRole, Reports, Routing
from mtasts.rfc.names import MAX_NAME_LENGTH, normalize_name
from mtasts.rfc.policy import MAX_POLICY_BYTES, policy_host, short_max_age_problem

MAX_TXT_STRING = 255
"""Longest character-string in a TXT record (RFC 1035 §3.3)."""
MAX_RECORD_WIRE = 4096
"""Largest record Cloudflare accepts, in DNS wire format bytes (owner name, fixed fields and
data): developers.cloudflare.com/dns/manage-dns-records/reference/dns-record-types/."""


@dataclass(frozen=True)
class Stack:
    """The stack-level values every domain may need."""

    cloudflare_account_id: str | None
    github_owner: str | None
    receiver: receiver_model.ReceiverSettings | None = None
    """``mta-sts:reports``: the stack's TLS report receiver, if configured."""
    zone_ids: Mapping[str, str] = field(default_factory=dict)
    """``mta-sts:zoneIds``: zone name → zone id, recorded once so no run looks it up."""
    delegation: delegation_model.DelegationSettings | None = None
    """``mta-sts:delegation``: the operator's zone for ``hosting: delegated`` domains, if configured."""


@dataclass
class Draft:
    """A domain's validated settings before ``Domain`` is built; what ``DOMAIN_RULES`` see."""

    name: str
    key: str
    """``domains.<name as written>``: the prefix of every error about this domain."""
    own: Mapping[str, Any]
    """The settings the domain itself gives (unvalidated)."""
    values: dict[str, Any]
    """Every setting by stack-file key, validated; per-domain-only keys not given are absent."""
    stack: Stack

    def where(self, setting: str) -> str:
        """The domain's own dotted key for a merged setting, even when it inherits the value:
        editing ``defaults.<setting>`` would change every other domain too (``inherited`` says so)."""
        return f"{self.key}.{setting}"

    def inherited(self, setting: str) -> str:
        """`` (inherited from defaults.<setting>; …)`` for an inherited value, else ``""``."""
        if setting in self.own:
            return ""
        return f" (inherited from defaults.{setting}; set {setting} on this domain to change it alone)"


def _mx_for_mode(d: Draft) -> None:
    if d.values["mode"] is not Mode.NONE and not d.values["mx"]:
        reason = f"mode {d.values['mode']} needs at least one mx pattern (RFC 8461 §3.2)"
        fail(d.where("mx"), reason + d.inherited("mx"))


def _zone_contains_name(d: Draft) -> None:
    zone = d.values.setdefault("zone", d.name)
    if d.name != zone and not d.name.endswith("." + zone):
        fail(f"{d.key}.zone", f"zone {zone!r} does not contain {d.name!r}")


def _known_zone_id(d: Draft) -> None:
    """A zone listed in ``mta-sts:zoneIds`` gives its id to every domain in it that names none."""
    if "zoneId" not in d.values and d.values["zone"] in d.stack.zone_ids:
        d.values["zoneId"] = d.stack.zone_ids[d.values["zone"]]


def _pages_only(d: Draft) -> None:
    pages = d.values["hosting"] is Hosting.GITHUB_PAGES
    for setting in ("repository", "httpsEnforced"):
        if setting in d.own and not pages:
            fail(f"{d.key}.{setting}", "only applies to hosting: github-pages")
    if d.values["dns"] is Dns.CLOUDFLARE and pages and "routing" in d.own:
        fail(f"{d.key}.routing", "only applies to hosting: cloudflare-worker")


def _delegated_needs(d: Draft) -> None:
    """A customer's domain: the delegation zone and the account; its DNS is the customer's."""
    if d.values["hosting"] is not Hosting.DELEGATED:
        return
    if d.stack.delegation is None:
        fail(f"{delegation_model.KEY}.zone", f"is required because {d.name} uses hosting: delegated")
    if d.stack.cloudflare_account_id is None:
        fail("cloudflareAccountId", f"is required because {d.name} uses hosting: delegated")
    for setting in ("routing", "zone", "zoneId"):
        if setting in d.own:
            fail(f"{d.key}.{setting}", "does not apply to hosting: delegated (the zone is the customer's)")
    if "dns" in d.own and d.values["dns"] is not Dns.EXTERNAL:
        fail(f"{d.key}.dns", "hosting: delegated records are created by the customer: dns must be external")
    d.values["dns"] = Dns.EXTERNAL


def _hosting_needs(d: Draft) -> None:
    if d.values["hosting"] is Hosting.DELEGATED:
        return
    if d.values["hosting"] is Hosting.GITHUB_PAGES:
        if d.stack.github_owner is None:
            fail("github:owner", f"is required because {d.name} uses hosting: github-pages")
        d.values.setdefault("repository", policy_host(d.name))
        return
    if d.stack.cloudflare_account_id is None:
        fail("cloudflareAccountId", f"is required because {d.name} uses hosting: cloudflare-worker")
    if d.values["dns"] is Dns.EXTERNAL and d.values["routing"] is Routing.ROUTE:
        fail(
            d.where("routing"),
            "dns: external with hosting: cloudflare-worker needs routing: custom-domain "
            "(a Worker route needs a proxied record in Cloudflare DNS)" + d.inherited("routing"),
        )


def _policy_host_certificate(d: Draft) -> None:
    """A proxied ``mta-sts.<d>`` is served with the zone's Universal SSL certificate, which covers
    only the apex and first-level names (``mtasts.model.cloudflare.universal_ssl_covers``): a
    domain below its zone (``dev.example.com`` in ``example.com``) would serve no valid
    certificate, and the live gate would time out on every ``up``. A Workers custom domain gets a
    certificate of its own, so such a domain takes ``custom-domain`` unless it asks for ``route``
    itself, which is refused."""
    if d.values["hosting"] is not Hosting.CLOUDFLARE_WORKER or d.values["routing"] is not Routing.ROUTE:
        return
    host, zone = policy_host(d.name), d.values["zone"]
    if universal_ssl_covers(host, zone):
        return
    if "routing" in d.own:
        fail(
            f"{d.key}.routing",
            f"route serves {host} with zone {zone}'s Universal SSL certificate, which covers only "
            f"{zone} and *.{zone} (Cloudflare: Universal SSL limitations); use routing: custom-domain, "
            "which gets a certificate of its own",
        )
    d.values["routing"] = Routing.CUSTOM_DOMAIN


def _receiver_for_builtin(d: Draft) -> None:
    """``reports: builtin`` needs the receiver (and the account it runs in); its URIs join ``tlsrpt``."""
    if d.values["reports"] is not Reports.BUILTIN:
        return
    if d.stack.receiver is None:
        fail(f"{receiver_model.KEY}.host", f"is required because {d.name} uses reports: builtin")
    if d.stack.cloudflare_account_id is None:
        fail("cloudflareAccountId", f"is required because {d.name} uses reports: builtin")
    tlsrpt = tuple(d.values["tlsrpt"])
    extra = tuple(u for u in receiver_model.receiver_uris(d.stack.receiver) if u not in tlsrpt)
    d.values["tlsrpt"] = (*tlsrpt, *extra)


def _none_since_only_in_none(d: Draft) -> None:
    if "noneSince" in d.own and d.values["mode"] is not Mode.NONE:
        mode = d.values["mode"]
        fail(f"{d.key}.noneSince", f"only applies to mode: none (this domain is in {mode}); remove it")


DOMAIN_RULES: tuple[Callable[[Draft], None], ...] = (
    _mx_for_mode,
    _none_since_only_in_none,
    _receiver_for_builtin,
    _zone_contains_name,
    _known_zone_id,
    _pages_only,
    _delegated_needs,
    _hosting_needs,
    _policy_host_certificate,
)
"""Rules relating a domain's settings, in order; each raises ``ConfigError`` naming the key."""


def _derived_names_fit(domain: Domain, key: str) -> None:
    names = [domain.policy_host, *(record.name for record in domain.records)]
    longest = max(names, key=len)
    if len(longest) > MAX_NAME_LENGTH:
        fail(
            key,
            f"the derived name {shown(longest)} is {len(longest)} characters, over the "
            f"{MAX_NAME_LENGTH} DNS allows; use a shorter domain name",
        )


def _policy_fits(domain: Domain, key: str) -> None:
    size = len(domain.policy_text.encode())
    if size > MAX_POLICY_BYTES:
        fail(
            f"{key}.mx",
            f"the policy would be {size} bytes, over the {MAX_POLICY_BYTES} senders fetch "
            "(RFC 8461 §3.3); use fewer or wildcard mx patterns",
        )


def _txt_records_fit(domain: Domain, key: str) -> None:
    for record in domain.records:
        if record.type != "TXT":
            continue
        longest, data = _txt_sizes(record.content)
        owner = len(record.name.encode()) + 2  # length octets of each label, and the root
        wire = owner + 10 + data
        setting = "tlsrpt" if record.role is RecordRole.TLSRPT else ""
        where = f"{key}.{setting}" if setting else key
        if longest > MAX_TXT_STRING:
            fail(
                where,
                f"the {record.name} TXT record has a string over {MAX_TXT_STRING} bytes (RFC 1035 §3.3)",
            )
        if wire > MAX_RECORD_WIRE:
            fail(
                where,
                f"the {record.name} TXT record would be {wire} bytes in DNS wire format, over the "
                f"{MAX_RECORD_WIRE} Cloudflare accepts; list fewer or shorter URIs",
            )


@functools.lru_cache(maxsize=4096)
def _txt_sizes(content: str) -> tuple[int, int]:
    """A TXT content's longest string and its RDATA length (each string and its length octet):
    once per distinct content, which domains on one policy and one TLS-RPT list share."""
    strings = content[1:-1].split('" "')
    return max(len(part.encode()) for part in strings), sum(1 + len(part.encode()) for part in strings)


BUILT_RULES: tuple[Callable[[Domain, str], None], ...] = (_derived_names_fit, _policy_fits, _txt_records_fit)
"""Rules over what a built domain publishes (names, policy, records): what ``pulumi up`` would
only find out after creating other resources. Each gets the domain and its ``domains.<name>`` key."""


def _pages_repositories_distinct(domains: tuple[Domain, ...]) -> None:
    """Two Pages domains cannot share a repository; GitHub compares names case-insensitively."""
    owners: dict[str, str] = {}
    for domain in domains:
        if domain.hosting is not Hosting.GITHUB_PAGES or domain.repository is None:
            continue
        full = f"{domain.github_owner}/{domain.repository}".lower()
        if full in owners:
            fail(
                f"domains.{domain.name}.repository",
                f"repository {domain.repository!r} is also the one of {owners[full]} (GitHub "
                "names are case-insensitive); each github-pages domain needs its own",
            )
        owners[full] = domain.name


STACK_RULES: tuple[Callable[[tuple[Domain, ...]], None], ...] = (
    _pages_repositories_distinct,
    delegation_model.check_stack,
)
"""Rules over the whole stack (all domains built, sorted); each raises ``ConfigError``."""


def zone_lookups_in_account(domains: tuple[Domain, ...], account_id: str | None) -> None:
    """A zone looked up by name is looked up in ``cloudflareAccountId`` alone: a token that sees
    several accounts may see a same-named zone in another (the zone data source's filter takes
    ``account.id``: terraform-provider-cloudflare ``internal/services/zone/data_source_schema.go``).
    The loader checks it after ``STACK_RULES``, so every other rule speaks first."""
    if account_id is not None:
        return
    for domain in domains:
        if zones_model.needs_zone(domain) and domain.zone_id is None:
            fail(
                "cloudflareAccountId",
                f"is required to look up zone {domain.zone or domain.name} of {domain.name} in that "
                f"account; or set domains.{domain.name}.zoneId",
            )


def _warning(check: Check, key: str, reason: str) -> Finding:
    return Finding(check=check, severity=Severity.WARNING, reason=reason, key=key)


def stack_warnings(
    domains: tuple[Domain, ...], own: Mapping[str, Collection[str]] | None = None
) -> list[Finding]:
    """Choices that are legal but likely to lose reports or mail, as ``Severity.WARNING`` findings.

    ``own`` maps a domain to the settings it sets itself (the rest it inherits from
    ``defaults``); with it, a warning that two or more domains get from one inherited value is
    reported once, on ``defaults.<setting>``, with the domains in its ``domains`` fact: the value
    to edit is there, not on each domain.
    """
    found = _domain_warnings(domains)
    if own is None:
        return [finding for _, finding in found]
    return _fold_inherited(found, own)


_SHARED_REASON = {
    Check.POLICY_HOST_UNSERVED: "none: nothing serves these domains' policy hosts, so senders find no new "
    "policy (cached ones still apply); keep it for the one pulumi up between two routings",
}
"""A folded warning's text where each domain's names its own host."""


def _fold_inherited(found: list[tuple[str, Finding]], own: Mapping[str, Collection[str]]) -> list[Finding]:
    groups: dict[tuple[Check, str], list[tuple[str, Finding]]] = {}
    for name, finding in found:
        setting = (finding.key or "").rpartition(".")[2]
        if setting not in own.get(name, ()):
            groups.setdefault((finding.check, setting), []).append((name, finding))
    folded = {id(f) for group in groups.values() if len(group) > 1 for _, f in group}
    out = [finding for _, finding in found if id(finding) not in folded]
    for (check, setting), group in groups.items():
        if len(group) < 2:
            continue
        names = tuple(name for name, _ in group)
        reasons = {finding.reason for _, finding in group}
        reason = reasons.pop() if len(reasons) == 1 else _SHARED_REASON.get(check, group[0][1].reason)
        listed = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        out.append(
            Finding(
                check=check,
                severity=Severity.WARNING,
                reason=f"{reason} ({len(names)} domains inherit it: {listed})",
                key=f"defaults.{setting}",
                facts=(("domains", names),),
            )
        )
    return out


def _domain_warnings(domains: tuple[Domain, ...]) -> list[tuple[str, Finding]]:
    """Each domain's warnings, with the domain they are about."""
    enforced = {d.name for d in domains if d.mode is Mode.ENFORCE}
    found: list[tuple[str, Finding]] = []
    for domain in domains:

        def warn(check: Check, setting: str, reason: str, name: str = domain.name) -> None:
            found.append((name, _warning(check, f"domains.{name}.{setting}", reason)))

        if domain.hosting is Hosting.CLOUDFLARE_WORKER and domain.routing is Routing.NONE:
            warn(
                Check.POLICY_HOST_UNSERVED,
                "routing",
                f"none: nothing serves {domain.policy_host}, so senders find no new policy (cached "
                "ones still apply); keep it for the one pulumi up between two routings",
            )
        short = short_max_age_problem(domain.mode, domain.max_age)
        if short is not None:
            warn(Check.SHORT_MAX_AGE, "maxAge", short)
        if not domain.tlsrpt:
            warn(Check.NO_TLSRPT, "tlsrpt", "no TLS-RPT URI, so senders cannot report failures (RFC 8460)")
        for uri in domain.tlsrpt:
            if not uri.lower().startswith("mailto:"):
                continue
            mailbox_domain = normalize_name(uri.split("?", 1)[0].rpartition("@")[2])
            # MTA-STS applies to the exact recipient domain, not its subdomains.
            if mailbox_domain in enforced:
                warn(
                    Check.TLSRPT_ON_ENFORCED_DOMAIN,
                    "tlsrpt",
                    f"reports go to {uri}, on {mailbox_domain}, which is in enforce; if its "
                    "MTA-STS breaks, the reports about it cannot be delivered",
                )
    return found
