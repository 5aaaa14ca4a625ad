r"""The one config loader: a stack's config mapping to a frozen ``Deployment``.

The program, ``plan``, ``serve``, ``verify`` and the tests all build their view of a stack
here, so a config that gets past this module is one the whole project agrees on. Every
rejection names its dotted key and the rule it broke (``ConfigError``).

``load_config`` checks the stack-level keys, then ``build_domain`` builds each domain: every
setting through its validator in ``mtasts.model.validators.SETTINGS`` (the table to extend for a
new key; see that module), then the ``DOMAIN_RULES`` that relate settings, then the
``BUILT_RULES`` over what the domain publishes (name lengths, policy and TXT sizes: what would
otherwise fail only during ``pulumi up``); finally ``STACK_RULES`` across domains, and
``stack_warnings`` for what is legal but risky (``Finding`` objects of ``Severity.WARNING``).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtasts.model import delegation as delegation_model
from mtasts.model import preflight, rollout
from mtasts.model import receiver as receiver_model
from mtasts.model.domain import Deployment, Domain
from mtasts.model.errors import ConfigError
from mtasts.model.findings import Finding, Severity
from mtasts.model.stackfile import MAX_DEPTH, NAMESPACE, gc_paused, stack_config
from mtasts.model.validators import (
    DEFAULTS,
    GITHUB_OWNER,
    HEX_ID,
    SETTINGS,
    fail,
    matching,
    shown,
)
from mtasts.model.vocabulary import Check, Dns, Hosting
from mtasts.rfc.names import MAX_NAME_LENGTH, hostname_problem, normalize_name
from mtasts.rfc.policy import MAX_POLICY_BYTES, policy_host, short_max_age_problem

TOP_KEYS = (
    "cloudflareAccountId",
    "defaults",
    "domains",
    receiver_model.KEY,
    *receiver_model.SECRET_KEYS,
    "liveGate",
    "readiness",
    *preflight.KEYS,
    delegation_model.KEY,
)

MAX_TXT_STRING = 255
"""Longest character-string in a TXT record (RFC 1035 §3.3)."""
MAX_RECORD_WIRE = 4096
"""Largest record Cloudflare accepts, in DNS wire format bytes (owner name, fixed fields and
data): developers.cloudflare.com/dns/manage-dns-records/reference/dns-record-types/."""

_account_id = matching(HEX_ID, "must be 32 lower-case hex digits (the Cloudflare account id)")


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


class Defaults:
    """``mta-sts:defaults`` over ``DEFAULTS``, each value validated once, on first use.

    A default every domain overrides is never checked, as before the table existed.
    """

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = {**DEFAULTS, **raw}
        self._checked: dict[str, Any] = {}

    def __getitem__(self, setting: str) -> Any:
        if setting not in self._checked:
            self._checked[setting] = SETTINGS[setting].check(self._raw[setting], f"defaults.{setting}")
        return self._checked[setting]


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
        """The dotted key a merged setting came from."""
        return f"{self.key}.{setting}" if setting in self.own else f"defaults.{setting}"


def _mx_for_mode(d: Draft) -> None:
    if d.values["mode"] != "none" and not d.values["mx"]:
        fail(d.where("mx"), f"mode {d.values['mode']} needs at least one mx pattern (RFC 8461 §3.2)")


def _zone_contains_name(d: Draft) -> None:
    zone = d.values.setdefault("zone", d.name)
    if d.name != zone and not d.name.endswith("." + zone):
        fail(f"{d.key}.zone", f"zone {zone!r} does not contain {d.name!r}")


def _known_zone_id(d: Draft) -> None:
    """A zone listed in ``mta-sts:zoneIds`` gives its id to every domain in it that names none."""
    if "zoneId" not in d.values and d.values["zone"] in d.stack.zone_ids:
        d.values["zoneId"] = d.stack.zone_ids[d.values["zone"]]


def _pages_only(d: Draft) -> None:
    pages = d.values["hosting"] == "github-pages"
    for setting in ("repository", "httpsEnforced"):
        if setting in d.own and not pages:
            fail(f"{d.key}.{setting}", "only applies to hosting: github-pages")
    if d.values["dns"] == "cloudflare" and pages and "routing" in d.own:
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
    if d.values["hosting"] == "github-pages":
        if d.stack.github_owner is None:
            fail("github:owner", f"is required because {d.name} uses hosting: github-pages")
        d.values.setdefault("repository", policy_host(d.name))
        return
    if d.stack.cloudflare_account_id is None:
        fail("cloudflareAccountId", f"is required because {d.name} uses hosting: cloudflare-worker")
    if d.values["dns"] == "external" and d.values["routing"] == "route":
        fail(
            d.where("routing"),
            "dns: external with hosting: cloudflare-worker needs routing: custom-domain "
            "(a Worker route needs a proxied record in Cloudflare DNS)",
        )


def _receiver_for_builtin(d: Draft) -> None:
    """``reports: builtin`` needs the receiver (and the account it runs in); its URIs join ``tlsrpt``."""
    if d.values["reports"] != "builtin":
        return
    if d.stack.receiver is None:
        fail(f"{receiver_model.KEY}.host", f"is required because {d.name} uses reports: builtin")
    if d.stack.cloudflare_account_id is None:
        fail("cloudflareAccountId", f"is required because {d.name} uses reports: builtin")
    tlsrpt = tuple(d.values["tlsrpt"])
    extra = tuple(u for u in receiver_model.receiver_uris(d.stack.receiver) if u not in tlsrpt)
    d.values["tlsrpt"] = (*tlsrpt, *extra)


def _none_since_only_in_none(d: Draft) -> None:
    if "noneSince" in d.own and d.values["mode"] != "none":
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
        strings = record.content[1:-1].split('" "')
        owner = len(record.name.encode()) + 2  # length octets of each label, and the root
        wire = owner + 10 + sum(1 + len(part.encode()) for part in strings)
        setting = "tlsrpt" if record.role == "tlsrpt" else ""
        where = f"{key}.{setting}" if setting else key
        if max(len(part.encode()) for part in strings) > MAX_TXT_STRING:
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


BUILT_RULES: tuple[Callable[[Domain, str], None], ...] = (_derived_names_fit, _policy_fits, _txt_records_fit)
"""Rules over what a built domain publishes (names, policy, records): what ``pulumi up`` would
only find out after creating other resources. Each gets the domain and its ``domains.<name>`` key."""


def _pages_repositories_distinct(domains: tuple[Domain, ...]) -> None:
    """Two Pages domains cannot share a repository; GitHub compares names case-insensitively."""
    owners: dict[str, str] = {}
    for domain in domains:
        if domain.hosting != "github-pages" or domain.repository is None:
            continue
        full = f"{domain.github_owner}/{domain.repository}".lower()
        if full in owners:
            fail(
                f"domains.{domain.name}.repository",
                f"repository {domain.repository!r} is also the one of {owners[full]} (GitHub "
                "names are case-insensitive); each github-pages domain needs its own",
            )
        owners[full] = domain.name


def build_domain(name: str, key: str, raw_settings: Any, defaults: Defaults, stack: Stack) -> Domain:
    """One domain: its own settings over ``defaults``, each validated, then ``DOMAIN_RULES``,
    then ``BUILT_RULES`` over the ``Domain``."""
    own = _settings(raw_settings, key, tuple(SETTINGS))
    values: dict[str, Any] = {}
    for setting, spec in SETTINGS.items():
        if setting in own:
            values[setting] = spec.check(own[setting], f"{key}.{setting}")
        elif spec.inheritable:
            values[setting] = defaults[setting]
    draft = Draft(name, key, own, values, stack)
    for rule in DOMAIN_RULES:
        rule(draft)
    fields = {SETTINGS[setting].field: value for setting, value in values.items()}
    pages = values["hosting"] == "github-pages"
    if not pages:
        fields.pop("repository", None)
    receiver = stack.receiver if values["reports"] == "builtin" else None
    delegated = stack.delegation if values["hosting"] is Hosting.DELEGATED else None
    if delegated is not None:
        fields.pop("zone", None)
    domain = Domain(
        name=name,
        github_owner=stack.github_owner if pages else None,
        receiver=receiver,
        delegation=delegated,
        **fields,
    )
    for built_rule in BUILT_RULES:
        built_rule(domain, key)
    return domain


STACK_RULES: tuple[Callable[[tuple[Domain, ...]], None], ...] = (
    _pages_repositories_distinct,
    delegation_model.check_stack,
)
"""Rules over the whole stack (all domains built, sorted); each raises ``ConfigError``."""


def load_config(config: Mapping[str, Any]) -> Deployment:
    """Validate a stack config mapping and build its ``Deployment``.

    ``config`` holds the stack's keys as ``Pulumi.<stack>.yaml`` has them
    (``mta-sts:domains``, ``github:owner``; bare ``domains`` works too), or as
    ``pulumi.Config`` holds them, objects as JSON text.
    Raises ``ConfigError`` on the first rule broken.
    """
    with gc_paused():
        return _load_config(config)


def _load_config(config: Mapping[str, Any]) -> Deployment:
    given: dict[str, str] = {}
    for name in config:
        namespace, colon, bare = str(name).rpartition(":")
        if colon and namespace != NAMESPACE:
            continue
        if bare not in TOP_KEYS:
            raise _unknown_key(bare, TOP_KEYS, "")
        if bare in given:
            fail(bare, f"is given twice, as {given[bare]!r} and {str(name)!r}")
        given[bare] = str(name)
    defaults = Defaults(_settings(_object(config, "defaults"), "defaults", tuple(DEFAULTS)))
    domains_raw = _object(config, "domains")
    if domains_raw is None or domains_raw == {}:
        fail("domains", "declare at least one mail domain")
    if not isinstance(domains_raw, Mapping):
        fail("domains", f"must be a mapping of domain name to settings, got {shown(domains_raw)}")
    stack = Stack(
        cloudflare_account_id=_account(config),
        github_owner=_owner(config),
        receiver=receiver_model.load_receiver(_object(config, receiver_model.KEY)),
        zone_ids=preflight.parse_zone_ids(_object(config, "zoneIds")),
        delegation=delegation_model.load_delegation(_object(config, delegation_model.KEY)),
    )
    limits = preflight.parse_limits(
        _get(config, "cloudflarePlan"),
        _get(config, "zonePlan"),
        _object(config, "zonePlans"),
        _object(config, "limits"),
    )
    worker_shards = preflight.parse_shards(_get(config, "workerShards"))

    domains: dict[str, Domain] = {}
    for raw_name, raw_settings in domains_raw.items():
        key = f"domains.{raw_name}"
        if not isinstance(raw_name, str):
            fail(key, "a domain name must be a string")
        name = normalize_name(raw_name.strip())
        problem = hostname_problem(name, min_labels=2)
        if problem:
            fail(key, f"domain name {shown(raw_name)} {problem}")
        if name in domains:
            fail(key, f"domain {name!r} is declared twice (names compare lower-case, without a trailing dot)")
        domains[name] = build_domain(name, key, raw_settings, defaults, stack)
    ordered = tuple(domains[n] for n in sorted(domains))
    for rule in STACK_RULES:
        rule(ordered)
    deployment = Deployment(
        domains=ordered,
        cloudflare_account_id=stack.cloudflare_account_id,
        github_owner=stack.github_owner,
        findings=tuple(stack_warnings(ordered)),
        receiver=stack.receiver,
        live_gate=rollout.parse_live_gate(_object(config, "liveGate")),
        readiness=rollout.parse_readiness(_object(config, "readiness")),
        limits=limits,
        worker_shards=worker_shards,
        delegation=stack.delegation,
    )
    # Cloudflare's limits, before anything is created: a route past the 1,000th would otherwise
    # fail after hundreds of other resources were made.
    preflight.raise_first(preflight.check(deployment))
    oversized = preflight.stack_size_warning(deployment)
    if oversized is not None:
        extra = Finding(
            check=Check.STACK_SIZE,
            severity=Severity.WARNING,
            reason=oversized,
            key="limits.resourcesPerStack",
        )
        deployment = dataclasses.replace(deployment, findings=(*deployment.findings, extra))
    return deployment


def _warning(check: str, key: str, reason: str) -> Finding:
    return Finding(check=check, severity=Severity.WARNING, reason=reason, key=key)


def stack_warnings(domains: tuple[Domain, ...]) -> list[Finding]:
    """Choices that are legal but likely to lose reports or mail, as ``Severity.WARNING`` findings."""
    enforced = {d.name for d in domains if d.mode == "enforce"}
    found = []
    for domain in domains:
        key = f"domains.{domain.name}"
        short = short_max_age_problem(domain.mode, domain.max_age)
        if short is not None:
            found.append(_warning("short-max-age", f"{key}.maxAge", short))
        if not domain.tlsrpt:
            found.append(
                _warning(
                    "no-tlsrpt",
                    f"{key}.tlsrpt",
                    "no TLS-RPT URI, so senders cannot report failures (RFC 8460)",
                )
            )
        for uri in domain.tlsrpt:
            if not uri.lower().startswith("mailto:"):
                continue
            mailbox_domain = normalize_name(uri.split("?", 1)[0].rpartition("@")[2])
            # MTA-STS applies to the exact recipient domain, not its subdomains.
            if mailbox_domain in enforced:
                found.append(
                    _warning(
                        "tlsrpt-on-enforced-domain",
                        f"{key}.tlsrpt",
                        f"reports go to {uri}, on {mailbox_domain}, which is in enforce; if its "
                        "MTA-STS breaks, the reports about it cannot be delivered",
                    )
                )
    return found


def _account(config: Mapping[str, Any]) -> str | None:
    account = _get(config, "cloudflareAccountId")
    if account in ("", None):
        return None
    checked: str = _account_id(account, "cloudflareAccountId")
    return checked


def _owner(config: Mapping[str, Any]) -> str | None:
    owner = config.get("github:owner")
    if owner is None:
        return None
    checked: str = matching(GITHUB_OWNER, f"must be a GitHub user or organization name, got {shown(owner)}")(
        owner, "github:owner"
    )
    return checked


def _unknown_key(key: str, allowed: tuple[str, ...], where: str) -> ConfigError:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if not close:
        close = [a for a in allowed if a.lower() == key.lower()]
    hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(allowed)}"
    return ConfigError(f"{where}.{key}" if where else key, f"unknown key{hint}")


def _settings(raw: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        fail(key, f"must be a mapping of settings, got {shown(raw)}")
    for name in raw:
        if not isinstance(name, str) or name not in allowed:
            raise _unknown_key(str(name), allowed, key)
    return dict(raw)


def _get(config: Mapping[str, Any], key: str) -> Any:
    """A project key, written either namespaced (``mta-sts:domains``) or bare."""
    if f"{NAMESPACE}:{key}" in config:
        return config[f"{NAMESPACE}:{key}"]
    return config.get(key)


def _object(config: Mapping[str, Any], key: str) -> Any:
    """An object-valued key; ``pulumi.Config`` hands objects over as JSON text."""
    value = _get(config, key)
    if not isinstance(value, str):
        return value
    try:
        parsed = json.loads(value, object_pairs_hook=_unique_pairs)
    except _DuplicateKey as exc:
        fail(key, f"duplicate key {shown(exc.args[0])} in its JSON text; JSON would keep only the last")
    except RecursionError:
        fail(key, "its JSON text nests too deeply")
    except ValueError as exc:
        if "digits" in str(exc):  # Python's limit on integer length (4,300 digits)
            fail(key, "its JSON text holds an integer too long to read")
        fail(key, "must be a mapping (or its JSON text), got a string that is not JSON")
    # Newer Pythons parse deeper JSON without a RecursionError: the same limit as for YAML, always.
    if _nesting(parsed) > MAX_DEPTH:
        fail(key, "its JSON text nests too deeply")
    return parsed


def _nesting(value: Any) -> int:
    """How many mappings and lists deep ``value`` goes, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack += [(child, level + 1) for child in (item.values() if isinstance(item, dict) else item)]
    return deepest


class _DuplicateKey(Exception):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` that refuses a key given twice in one JSON object."""
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise _DuplicateKey(name)
        out[name] = value
    return out


def load_stack(project_dir: str | Path, stack: str) -> Deployment:
    """Load ``Pulumi.<stack>.yaml`` (with ``Pulumi.yaml``'s defaults) as a ``Deployment``."""
    values = stack_config(Path(project_dir), stack)
    ours = {k: v for k, v in values.items() if ":" not in k or k == "github:owner"}
    return load_config(ours)
