r"""The one config loader: a stack's config mapping to a frozen ``Deployment``.

The program, ``plan``, ``serve``, ``verify`` and the tests all build their view of a stack
here, so a config that gets past this module is one the whole project agrees on. Every
rejection names its dotted key and the rule it broke (``ConfigError``).

``load_config`` checks the stack-level keys, then ``build_domain`` builds each domain: every
setting through its validator in ``mtasts.model.validators.SETTINGS`` (the table to extend for a
new key; see that module), then the ``DOMAIN_RULES`` that relate settings, then the
``BUILT_RULES`` over what the domain publishes; finally ``STACK_RULES`` across domains, and
``stack_warnings`` for what is legal but risky. The rules live in ``mtasts.model.rules``.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from mtasts.model import delegation as delegation_model
from mtasts.model import preflight, rollout
from mtasts.model import receiver as receiver_model
from mtasts.model.config_keys import get_key as _get
from mtasts.model.config_keys import object_key as _object
from mtasts.model.domain import Deployment, Domain
from mtasts.model.errors import Collector, ConfigError
from mtasts.model.findings import Finding, Severity
from mtasts.model.placement import place
from mtasts.model.rules import (
    BUILT_RULES,
    DOMAIN_RULES,
    MAX_RECORD_WIRE,
    MAX_TXT_STRING,
    STACK_RULES,
    Draft,
    Stack,
    stack_warnings,
    zone_lookups_in_account,
)
from mtasts.model.stackfile import NAMESPACE, gc_paused, project_keys, stack_config
from mtasts.model.validators import (
    DEFAULTS,
    GITHUB_OWNER,
    HEX_ID,
    SETTINGS,
    fail,
    key_name,
    matching,
    shown,
)
from mtasts.model.vocabulary import Check, Hosting, Reports

__all__ = [
    "BUILT_RULES",
    "DOMAIN_RULES",
    "MAX_RECORD_WIRE",
    "MAX_TXT_STRING",
    "STACK_RULES",
    "TOP_KEYS",
    "Defaults",
    "Stack",
    "build_domain",
    "load_config",
    "load_stack",
    "recorded_zone_ids",
    "stack_values",
    "stack_warnings",
    "without_zone_ids",
]

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

_account_id = matching(HEX_ID, "must be 32 lower-case hex digits (the Cloudflare account id)")


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


def build_domain(name: str, key: str, raw_settings: Any, defaults: Defaults, stack: Stack) -> Domain:
    """One domain: its own settings over ``defaults``, each validated, then ``DOMAIN_RULES``,
    then ``BUILT_RULES`` over the ``Domain``.

    Every setting is checked before the first error is raised (a ``ConfigErrors`` of all of
    them); the rules that relate settings run only over settings that are each valid.
    """
    errors = Collector()
    own = _settings(raw_settings, key, tuple(SETTINGS), errors)
    values: dict[str, Any] = {}
    for setting, spec in SETTINGS.items():
        try:
            if setting in own:
                values[setting] = spec.check(own[setting], f"{key}.{setting}")
            elif spec.inheritable:
                values[setting] = defaults[setting]
        except ConfigError as exc:
            errors.add(exc)
    errors.raise_any()
    draft = Draft(name, key, own, values, stack)
    for rule in DOMAIN_RULES:
        rule(draft)
    fields = {SETTINGS[setting].field: value for setting, value in values.items()}
    pages = values["hosting"] is Hosting.GITHUB_PAGES
    if not pages:
        fields.pop("repository", None)
    receiver = stack.receiver if values["reports"] is Reports.BUILTIN else None
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


def load_config(config: Mapping[str, Any]) -> Deployment:
    """Validate a stack config mapping and build its ``Deployment``.

    ``config`` holds the stack's keys as ``Pulumi.<stack>.yaml`` has them
    (``mta-sts:domains``, ``github:owner``; bare ``domains`` works too), or as
    ``pulumi.Config`` holds them, objects as JSON text.
    Raises ``ConfigError`` for a config that breaks one rule, ``ConfigErrors`` (a ``ConfigError``
    that behaves as its first) with every rule broken when there are several.
    """
    with gc_paused():
        return _load_config(config)


def _load_config(config: Mapping[str, Any]) -> Deployment:
    errors = Collector()
    given: dict[str, str] = {}
    for name in config:
        namespace, colon, bare = str(name).rpartition(":")
        if colon and namespace != NAMESPACE:
            continue
        if bare not in TOP_KEYS:
            errors.add(_unknown_key(bare, TOP_KEYS, ""))
        elif bare in given:
            errors.add(ConfigError(bare, f"is given twice, as {given[bare]!r} and {str(name)!r}"))
        else:
            given[bare] = str(name)

    def attempt(parse: Any, *args: Any, fallback: Any = None) -> Any:
        try:
            return parse(*args)
        except ConfigError as exc:
            errors.add(exc)
            return fallback

    defaults = Defaults(attempt(_defaults_settings, config, errors, fallback={}))
    unreadable = object()
    domains_raw = attempt(_object, config, "domains", fallback=unreadable)
    if domains_raw is unreadable:
        domains_raw = None
    elif domains_raw is None or domains_raw == {}:
        errors.add(ConfigError("domains", "declare at least one mail domain"))
    elif not isinstance(domains_raw, Mapping):
        errors.add(
            ConfigError("domains", f"must be a mapping of domain name to settings, got {shown(domains_raw)}")
        )
        domains_raw = None
    # The stack-wide objects domains build on: an error in one would make every domain that uses
    # it fail for the same cause, so their domains are checked once these load.
    before = len(errors.errors)
    stack = Stack(
        cloudflare_account_id=attempt(_account, config),
        github_owner=attempt(_owner, config),
        receiver=attempt(lambda: receiver_model.load_receiver(_object(config, receiver_model.KEY))),
        zone_ids=attempt(lambda: preflight.parse_zone_ids(_object(config, "zoneIds")), fallback={}),
        delegation=attempt(lambda: delegation_model.load_delegation(_object(config, delegation_model.KEY))),
    )
    foundations_failed = len(errors.errors) > before
    # A zone listed in mta-sts:zoneIds gives its id to the receiver and the delegation as to any
    # domain of the zone (rules._known_zone_id), so no run looks it up.
    delegation, receiver = stack.delegation, stack.receiver
    if delegation is not None and delegation.zone_id is None and delegation.zone in stack.zone_ids:
        stack = dataclasses.replace(
            stack, delegation=dataclasses.replace(delegation, zone_id=stack.zone_ids[delegation.zone])
        )
    if receiver is not None and receiver.zone_id is None and receiver.zone in stack.zone_ids:
        stack = dataclasses.replace(
            stack, receiver=dataclasses.replace(receiver, zone_id=stack.zone_ids[receiver.zone])
        )
    limits = attempt(
        lambda: preflight.parse_limits(
            _get(config, "cloudflarePlan"),
            _get(config, "zonePlan"),
            _object(config, "zonePlans"),
            _object(config, "limits"),
        )
    )
    worker_shards = attempt(lambda: preflight.parse_shards(_get(config, "workerShards")), fallback=1)
    live_gate = attempt(lambda: rollout.parse_live_gate(_object(config, "liveGate")))
    readiness = attempt(lambda: rollout.parse_readiness(_object(config, "readiness")))

    domains: dict[str, Domain] = {}
    own: dict[str, Collection[str]] = {}  # the settings each domain sets itself, for the warnings
    failed_domains = False
    for raw_name, raw_settings in (domains_raw or {}).items() if not foundations_failed else ():
        key = f"domains.{raw_name}"
        try:
            name = key_name(raw_name, key, "domain")
            if name in domains:
                twice = "is declared twice (names compare lower-case, without a trailing dot)"
                fail(key, f"domain {name!r} {twice}")
            domains[name] = build_domain(name, key, raw_settings, defaults, stack)
            own[name] = raw_settings if isinstance(raw_settings, Mapping) else ()
        except ConfigError as exc:
            errors.add(exc)
            failed_domains = True
    ordered = tuple(domains[n] for n in sorted(domains))
    for rule in STACK_RULES:
        attempt(rule, ordered)
    attempt(zone_lookups_in_account, ordered, stack.cloudflare_account_id)
    if stack.receiver is not None and not failed_domains:
        attempt(receiver_model.check_against_domains, stack.receiver, ordered)
    errors.raise_any()
    deployment = Deployment(
        domains=ordered,
        cloudflare_account_id=stack.cloudflare_account_id,
        github_owner=stack.github_owner,
        findings=tuple(stack_warnings(ordered, own)),
        receiver=stack.receiver,
        live_gate=live_gate,
        readiness=readiness,
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
        deployment = deployment.with_findings((extra,))
    return deployment


def _defaults_settings(config: Mapping[str, Any], errors: Collector) -> dict[str, Any]:
    return _settings(_object(config, "defaults"), "defaults", tuple(DEFAULTS), errors)


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


def _settings(
    raw: Any, key: str, allowed: tuple[str, ...], errors: Collector | None = None
) -> dict[str, Any]:
    """``raw`` as a mapping of known settings; every unknown key is an error (gathered into
    ``errors`` when given, which then also drops it, else the first raised)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        fail(key, f"must be a mapping of settings, got {shown(raw)}")
    known = {}
    for name, value in raw.items():
        if isinstance(name, str) and name in allowed:
            known[name] = value
        elif errors is None:
            raise _unknown_key(str(name), allowed, key)
        else:
            errors.add(_unknown_key(str(name), allowed, key))
    return known


def stack_values(project_dir: str | Path, stack: str) -> dict[str, Any]:
    """The config ``load_stack`` loads: ``Pulumi.<stack>.yaml`` over ``Pulumi.yaml``'s defaults,
    the project's keys (bare) and ``github:owner``."""
    return project_keys(stack_config(Path(project_dir), stack))


def load_stack(project_dir: str | Path, stack: str) -> Deployment:
    """Load ``Pulumi.<stack>.yaml`` (with ``Pulumi.yaml``'s defaults) as a ``Deployment``.

    Every error is placed at its file and line (``ConfigError.where``) where the YAML has one.
    """
    try:
        return load_config(stack_values(project_dir, stack))
    except ConfigError as exc:
        place(exc, Path(project_dir), stack)
        raise


def recorded_zone_ids(config: Mapping[str, Any]) -> dict[str, str]:
    """``mta-sts:zoneIds`` of a config mapping, checked as ``load_config`` checks it."""
    return preflight.parse_zone_ids(_object(config, "zoneIds"))


def without_zone_ids(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config as if ``mta-sts:zoneIds`` were not there (written either way)."""
    return {k: v for k, v in config.items() if k not in ("zoneIds", f"{NAMESPACE}:zoneIds")}
