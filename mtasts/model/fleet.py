"""A fleet of stacks from one declaration: ``fleet.yaml`` split into ``Pulumi.<prefix>-NN.yaml``.

The declaration holds the settings every stack shares once (``config:``, as a stack file has them)
and every domain with its own overrides (``domains:``). ``split`` assigns each domain to a stack
and renders the generated stack files; the rules, in order:

- a domain already in a generated stack stays there: a move deletes it in one stack and creates it
  in another, so for a while senders see either two ``_mta-sts`` TXT records or none;
- a new domain goes to the stack already holding its zone (per-zone limits are counted in one
  stack, and the zone is looked up once), else to the fullest stack with room for its zone (within
  ``FILL`` of the bound, the rest kept for its zones' growth), else to a new stack; new zones are
  placed largest first, so the stacks fill tightly;
- room is counted in Pulumi resources, the graph's count (``mtasts.model.budget.inventory``),
  against the bound ``fleet.maxResources`` (``DEFAULT_BOUND``; docs/fleet.md says why 2,000).

A zone larger than the bound gets a stack of its own, over the bound (a warning): its domains
cannot be split without counting its limits in two stacks. ``mta-sts:zoneIds`` and
``mta-sts:zonePlans`` are per zone: each stack file gets only the entries of its own zones, so
recording a zone id touches one stack, not all of them.

Pure: texts in, texts out; ``mtasts.commands.fleet`` reads and writes the files and asks git.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mtasts.model import budget
from mtasts.model.domain import Deployment, Domain
from mtasts.model.fleet_files import (
    HEADER,
    ZONE_KEYS,
    StackFile,
    generated_number,
    header_prefix,
    mapping_at,
    read_generated,
    render,
    stack_file_name,
)
from mtasts.model.fleet_touched import SHARED_PATHS, is_shared_path, shared_part, stack_of, touched
from mtasts.model.limits import ROUTED_ZONES_PER_WORKER, WORKER_SIZE
from mtasts.model.loader import load_config
from mtasts.model.shards import zone_of
from mtasts.model.stackfile import (
    NAMESPACE,
    config_values,
    near_miss_error,
    near_miss_namespace,
    parse_yaml,
    project_keys,
)
from mtasts.model.validators import fail, shown
from mtasts.model.vocabulary import Hosting
from mtasts.rfc.names import normalize_name

__all__ = [
    "DECLARATION",
    "DEFAULT_BOUND",
    "HEADER",
    "SHARED_PATHS",
    "Declaration",
    "Split",
    "StackFile",
    "generated_number",
    "header_prefix",
    "is_shared_path",
    "load_declaration",
    "load_generated",
    "parse_declaration",
    "read_generated",
    "render",
    "shared_part",
    "split",
    "stack_file_name",
    "stack_of",
    "stack_resources",
    "touched",
]

DECLARATION = "fleet.yaml"
"""The declaration's file name, beside ``Pulumi.yaml``."""

DEFAULT_BOUND = 2_000
"""Pulumi resources per generated stack (about 500 Worker-routed domains with TLS-RPT).

Pulumi users report previews that hang or take half an hour from about 2,000 resources
(pulumi/pulumi#12164, #14764; pulumi/pulumi-github#291) and expired update tokens at 1,300
(#7682); the engine saves a checkpoint per step (#10960, #14967). A first ``up`` of 2,000 resources
is 2,000 writes (8 min at Cloudflare's 4 requests a second) and 500 live gates of at least 30 s
each, about 2 h 05 min at ``parallel: 2``: inside one 6-hour CI job with room to spare."""

FILL = 0.9
"""A new zone joins a stack only while the stack stays within this share of the bound: the rest is
kept for the zones already there, whose new domains must join them."""

MAX_BOUND = 10_000
"""Past this one stack is no longer practical (``mtasts.model.limits.RESOURCES_PER_STACK``)."""

REFUSED_KEYS = {
    "domains": "domains go under the declaration's own domains:, not config:",
    "reports": "the TLS report receiver is one host and one Cron Trigger per account; every generated "
    "stack would deploy its own: keep it in a stack of its own and list its https: URI in tlsrpt",
    "delegation": "the delegation zone holds one fallback origin and one */* route; every generated "
    "stack would create them again: keep the customer domains in a stack of their own",
}
"""Stack config keys a fleet's shared config may not hold, and why."""

_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.]{0,40}")
_TOP = ("fleet", "config", "domains")
_FLEET_KEYS = ("prefix", "maxResources")
_LIFTED = {ROUTED_ZONES_PER_WORKER.key: 10**9, WORKER_SIZE.key: 10**12}
"""Per-script limits, lifted for the declaration loaded as one stack: each generated stack has
scripts of its own, and its own load checks them."""


@dataclass(frozen=True)
class Declaration:
    """``fleet.yaml`` read: the stacks' prefix and bound, the shared config, the domains."""

    name: str
    """The file name, for messages and the generated files' header."""
    prefix: str
    bound: int
    config: Mapping[str, Any]
    """The shared stack config, as written (namespaced keys), less ``ZONE_KEYS``."""
    zone_maps: Mapping[str, Mapping[Any, Any]]
    """``ZONE_KEYS`` as written (the full ``mta-sts:`` key → its mapping)."""
    domains: Mapping[str, Any]
    """Domain name (normalized) → its own settings as written."""


def parse_declaration(document: Mapping[str, Any], name: str = DECLARATION) -> Declaration:
    """The declaration file's mapping, checked key by key (``ConfigError`` naming the key)."""
    for key in document:
        if key not in _TOP:
            fail(f"{name}.{key}", f"unknown key; known keys: {', '.join(_TOP)}")
    fleet = mapping_at(document.get("fleet"), "fleet")
    for key in fleet:
        if key not in _FLEET_KEYS:
            fail(f"fleet.{key}", f"unknown key; known keys: {', '.join(_FLEET_KEYS)}")
    prefix = fleet.get("prefix")
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        fail(
            "fleet.prefix",
            f"must name the stacks (letters, digits, '_' and '.', at most 41), got {shown(prefix)}",
        )
    bound = fleet.get("maxResources", DEFAULT_BOUND)
    if isinstance(bound, bool) or not isinstance(bound, int) or not 10 <= bound <= MAX_BOUND:
        fail("fleet.maxResources", f"must be a whole number from 10 to {MAX_BOUND:,}, got {shown(bound)}")
    shared: dict[str, Any] = {}
    zone_maps: dict[str, Mapping[Any, Any]] = {}
    for raw, value in mapping_at(document.get("config"), "config").items():
        key = str(raw)
        namespace, colon, bare = key.rpartition(":")
        if colon and near_miss_namespace(namespace):
            raise near_miss_error(key)
        if isinstance(value, Mapping) and "secure" in value:
            fail(
                f"config.{key}",
                "a secret belongs to one stack (pulumi config set --secret) or the environment",
            )
        ours = not colon or namespace == NAMESPACE
        if ours and bare in REFUSED_KEYS:
            fail(f"config.{key}", REFUSED_KEYS[bare])
        if ours and bare in ZONE_KEYS:
            zone_maps[f"{NAMESPACE}:{bare}"] = mapping_at(value, f"config.{key}")
        else:
            shared[key] = value
    domains: dict[str, Any] = {}
    raw_domains = mapping_at(document.get("domains"), "domains")
    if not raw_domains:
        fail("domains", "declare at least one mail domain")
    for raw, settings in raw_domains.items():
        if not isinstance(raw, str):
            fail(f"domains.{raw}", "a domain name must be a string")
        domain = normalize_name(raw.strip())
        if domain in domains:
            fail(f"domains.{raw}", f"domain {domain!r} is declared twice")
        domains[domain] = {} if settings is None else settings
    return Declaration(name, prefix, int(bound), shared, zone_maps, domains)


def load_declaration(declaration: Declaration, project_defaults: Mapping[str, Any]) -> Deployment:
    """Every declared domain through the one loader, as one stack over ``Pulumi.yaml``'s defaults.

    What holds across stacks is checked here as it will hold in the fleet: each domain's settings,
    the rules across domains (two Pages domains sharing a repository), the per-zone limits summed
    over the fleet. The per-script limits are lifted (each generated stack has its own scripts,
    checked when it loads); the per-account ones are ``check_fleet``'s.
    """
    values = project_keys(config_values(declaration.config, declaration.name, project_defaults))
    for key, mapping in declaration.zone_maps.items():
        values[key.rpartition(":")[2]] = mapping
    limits = dict(mapping_at(values.get("limits"), "config.mta-sts:limits"))
    values["limits"] = {**limits, **_LIFTED}
    values["domains"] = dict(declaration.domains)
    return load_config(values)


def load_generated(text: str, name: str, project_defaults: Mapping[str, Any]) -> Deployment:
    """A generated stack file's text through the one loader, as ``load_stack`` would load the file."""
    document = parse_yaml(text, name)
    config = mapping_at(document.get("config") if isinstance(document, Mapping) else None, name)
    return load_config(project_keys(config_values(config, name, project_defaults)))


def _weight(domain: Domain, whole: Deployment) -> int:
    """The resources a domain adds to a stack: the graph of a stack of it alone, less its script
    (one per shard per stack, counted once in the stack's overhead)."""
    alone = Deployment(
        (domain,),
        cloudflare_account_id=whole.cloudflare_account_id,
        github_owner=whole.github_owner,
        limits=whole.limits,
    )
    scripts = 1 if domain.hosting is Hosting.CLOUDFLARE_WORKER else 0
    return len(budget.inventory(alone, "fleet")) - scripts


def stack_resources(deployment: Deployment, stack: str) -> int:
    """The resources ``pulumi up`` manages for a stack: the graph's count."""
    return len(budget.inventory(deployment, stack))


def _stack_name(prefix: str, number: int) -> str:
    return f"{prefix}-{number:02d}"


@dataclass(frozen=True)
class Split:
    """What ``fleet split`` writes: every stack's file, and what changed since the files found."""

    files: Mapping[str, str]
    """Stack → the text of its file, every stack of the fleet (unchanged ones too)."""
    domains: Mapping[str, tuple[str, ...]]
    """Stack → its domains, sorted."""
    resources: Mapping[str, int]
    """Stack → its resources (the graph's count)."""
    zones: Mapping[str, int]
    """Stack → how many zones it holds."""
    added: Mapping[str, tuple[str, ...]]
    """Stack → the domains new in it."""
    removed: Mapping[str, tuple[str, ...]]
    """Stack → the domains gone from the declaration (plan --base on the stack judges the removal)."""
    emptied: tuple[str, ...]
    """Stacks left without a domain: their files go, the stacks need ``pulumi destroy``."""
    duplicates: tuple[tuple[str, str, str], ...]
    """(domain, the stack keeping it, another stack whose file also has it)."""
    warnings: tuple[str, ...] = field(default=())


def _sort_key(stack: StackFile) -> tuple[int, str]:
    return (stack.number, stack.stack)


def split(
    declaration: Declaration,
    whole: Deployment,
    found: Iterable[StackFile],
) -> Split:
    """Assign every declared domain to a stack, stably, and render each stack's file.

    ``whole`` is ``load_declaration``'s; ``found`` the generated files there are now. A domain in
    two files stays in the lower-numbered one and is reported in ``duplicates``.
    """
    by_name = {d.name: d for d in whole.domains}
    stacks = sorted(found, key=_sort_key)
    owner: dict[str, str] = {}
    duplicates: list[tuple[str, str, str]] = []
    kept: dict[str, list[str]] = {s.stack: [] for s in stacks}
    removed: dict[str, list[str]] = {}
    for file in stacks:
        for name in file.domains:
            if name in owner:
                duplicates.append((name, owner[name], file.stack))
            elif name in by_name:
                owner[name] = file.stack
                kept[file.stack].append(name)
            else:
                removed.setdefault(file.stack, []).append(name)
    weights = {name: _weight(domain, whole) for name, domain in by_name.items()}
    overhead = max(0, stack_resources(whole, "fleet") - sum(weights.values()))
    load = {s.stack: overhead + sum(weights[n] for n in kept[s.stack]) for s in stacks}
    numbers = {s.stack: s.number for s in stacks}
    home: dict[str, str] = {}
    spread: dict[str, set[str]] = {}
    for file in stacks:
        for name in kept[file.stack]:
            zone = zone_of(by_name[name])
            home.setdefault(zone, file.stack)
            spread.setdefault(zone, set()).add(file.stack)
    new_zones: dict[str, list[str]] = {}
    for name in sorted(by_name):
        if name not in owner:
            new_zones.setdefault(zone_of(by_name[name]), []).append(name)
    sized = sorted(new_zones.items(), key=lambda item: (-sum(weights[n] for n in item[1]), item[0]))
    added: dict[str, list[str]] = {}
    warnings = [
        f"zone {zone} is spread over stacks {', '.join(sorted(held, key=numbers.__getitem__))}: "
        "its limits are still counted over the fleet, but it is looked up in each"
        for zone, held in sorted(spread.items())
        if len(held) > 1
    ]
    for zone, joining in sized:
        cost = sum(weights[n] for n in joining)
        target = home.get(zone)
        if target is None:
            room = [s for s in load if load[s] + cost <= declaration.bound * FILL]
            if room:
                target = max(room, key=lambda s: (load[s], -numbers[s]))
            else:
                number = max(numbers.values(), default=-1) + 1
                target = _stack_name(declaration.prefix, number)
                numbers[target], load[target], kept[target] = number, overhead, []
            home[zone] = target
        load[target] += cost
        kept[target] += joining
        added.setdefault(target, []).extend(joining)
        for name in joining:
            owner[name] = target
    files: dict[str, str] = {}
    domains: dict[str, tuple[str, ...]] = {}
    resources: dict[str, int] = {}
    zones: dict[str, int] = {}
    emptied = []
    for stack in sorted(kept, key=numbers.__getitem__):
        names = tuple(sorted(kept[stack]))
        if not names:
            emptied.append(stack)
            continue
        members = tuple(by_name[n] for n in names)
        part = dataclasses.replace(whole, domains=members, findings=())
        domains[stack] = names
        resources[stack] = stack_resources(part, stack)
        held = {zone_of(d) for d in members}
        zones[stack] = len(held)
        files[stack] = render(declaration, stack, names, held)
        if resources[stack] > declaration.bound:
            why = (
                f"its one zone {next(iter(held))} cannot be split over stacks"
                if len(held) == 1
                else "its zones grew; new zones go to other stacks"
            )
            warnings.append(
                f"stack {stack} has {resources[stack]:,} resources, over the bound of "
                f"{declaration.bound:,}: {why}"
            )
    return Split(
        files=files,
        domains=domains,
        resources=resources,
        zones=zones,
        added={s: tuple(sorted(n)) for s, n in added.items()},
        removed={s: tuple(sorted(n)) for s, n in removed.items()},
        emptied=tuple(emptied),
        duplicates=tuple(duplicates),
        warnings=tuple(warnings),
    )
