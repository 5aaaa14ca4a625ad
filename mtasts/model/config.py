"""The one config loader: a stack's config mapping to a frozen ``Deployment``.

The program, ``plan``, ``serve``, ``verify`` and the tests all build their
view of a stack here, so a config that gets past this module is one the whole
project agrees on. Every rejection names its dotted key and the rule it broke.
"""

from __future__ import annotations

import datetime
import difflib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import yaml

from mtasts.model import rollout
from mtasts.rfc.names import hostname_problem, mx_pattern_problem, normalize_name
from mtasts.rfc.policy import MAX_AGE_LIMIT, ONE_DAY, POLICY_PATH, Policy
from mtasts.rfc.records import StsRecord, TlsRptRecord, quote_txt, tlsrpt_uri_problem

NAMESPACE = "mta-sts"
HOSTINGS = ("cloudflare-worker", "github-pages")
MODES = ("testing", "enforce", "none")
DNS_PROVIDERS = ("cloudflare", "external")
ROUTINGS = ("route", "custom-domain")

DEFAULTS: dict[str, Any] = {
    "hosting": "cloudflare-worker",
    "mode": "testing",
    "maxAge": 604800,
    "mx": [],
    "tlsrpt": [],
    "dns": "cloudflare",
    "routing": "route",
}
"""What a domain inherits when neither it nor ``mta-sts:defaults`` says otherwise.

``Pulumi.yaml`` declares the same values; a test keeps the two equal.
"""

DOMAIN_ONLY_KEYS = ("zone", "zoneId", "repository", "httpsEnforced", "noneSince")
TOP_KEYS = ("cloudflareAccountId", "defaults", "domains", "liveGate", "readiness")

TXT_TTL = 300
HOST_TTL = 300
AUTO_TTL = 1
"""Cloudflare's "automatic" TTL, the only one a proxied record takes."""
WORKER_ORIGIN = "100::"
"""The discard prefix (RFC 6666): a proxied record's origin that a Worker route answers for."""

T = TypeVar("T")

_ZONE_ID = re.compile(r"[0-9a-f]{32}\Z")
_ACCOUNT_ID = re.compile(r"[0-9a-f]{32}\Z")
_GITHUB_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}\Z")
_GITHUB_OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?\Z")


class ConfigError(ValueError):
    """A stack config breaks a rule; ``key`` is the dotted path to the value."""

    def __init__(self, key: str, rule: str) -> None:
        super().__init__(f"{key}: {rule}")
        self.key = key
        self.rule = rule


@dataclass(frozen=True)
class Record:
    """One DNS record a domain needs, with the exact content Cloudflare stores."""

    role: str
    """``policy-host``, ``sts`` or ``tlsrpt``: names the resource, never changes."""
    name: str
    """Fully qualified name, without a trailing dot."""
    type: str
    content: str
    """TXT content is quoted, as Cloudflare stores and shows it."""
    ttl: int
    proxied: bool = False

    def zone_line(self) -> str:
        """The record as a zone-file line."""
        ttl = TXT_TTL if self.ttl == AUTO_TTL else self.ttl
        return f"{self.name}.\t{ttl}\tIN\t{self.type}\t{self.content}"

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type, "content": self.content}


@dataclass(frozen=True)
class Domain:
    """One mail domain and everything it publishes.

    Derived values (policy text, id, records) are computed once per instance: the fields are
    frozen, so they cannot go stale.
    """

    name: str
    hosting: str
    mode: str
    max_age: int
    mx: tuple[str, ...]
    tlsrpt: tuple[str, ...]
    dns: str = "cloudflare"
    routing: str = "route"
    zone_id: str | None = None
    """Cloudflare zone id; None means look it up by ``zone``."""
    zone: str | None = None
    """Cloudflare zone name holding the records (default: the domain itself)."""
    repository: str | None = None
    """GitHub repository name for Pages hosting (default ``mta-sts.<domain>``)."""
    github_owner: str | None = None
    https_enforced: bool = False
    """Pages only: enforce HTTPS, which GitHub allows once it has issued the certificate."""
    none_since: datetime.datetime | None = None
    """``mode: none`` only: when that policy went live (``plan --base`` reads it, RFC 8461 §8.3)."""

    @cached_property
    def policy(self) -> Policy:
        return Policy(mode=self.mode, max_age=self.max_age, mx=self.mx)

    @cached_property
    def policy_text(self) -> str:
        """The exact bytes served at the policy URL (CRLF line ends)."""
        return self.policy.render()

    @cached_property
    def policy_id(self) -> str:
        return self.policy.id

    @property
    def policy_host(self) -> str:
        return f"mta-sts.{self.name}"

    @property
    def policy_url(self) -> str:
        return f"https://{self.policy_host}{POLICY_PATH}"

    @cached_property
    def sts_record(self) -> str:
        """``_mta-sts`` TXT data, unquoted."""
        return StsRecord(id=self.policy_id).render()

    @cached_property
    def tlsrpt_record(self) -> str | None:
        """``_smtp._tls`` TXT data, unquoted, or None when there are no URIs."""
        return TlsRptRecord(rua=self.tlsrpt).render() if self.tlsrpt else None

    @property
    def managed_dns(self) -> bool:
        """Whether the program creates this domain's DNS records."""
        return self.dns == "cloudflare"

    @cached_property
    def records(self) -> tuple[Record, ...]:
        """The DNS records this domain needs, in rollout order.

        With ``dns: external`` these are the records to create by hand.
        """
        records: list[Record] = []
        host = self.policy_host
        if self.hosting == "github-pages":
            records.append(Record("policy-host", host, "CNAME", f"{self.github_owner}.github.io", HOST_TTL))
        elif self.dns == "external":
            # A zone in Cloudflare's partial (CNAME) setup: the Workers custom
            # domain answers there once the public name points at Cloudflare.
            records.append(Record("policy-host", host, "CNAME", f"{host}.cdn.cloudflare.net", HOST_TTL))
        elif self.routing == "route":
            records.append(Record("policy-host", host, "AAAA", WORKER_ORIGIN, AUTO_TTL, proxied=True))
        records.append(Record("sts", f"_mta-sts.{self.name}", "TXT", quote_txt(self.sts_record), TXT_TTL))
        if self.tlsrpt_record is not None:
            records.append(
                Record("tlsrpt", f"_smtp._tls.{self.name}", "TXT", quote_txt(self.tlsrpt_record), TXT_TTL)
            )
        return tuple(records)


@dataclass(frozen=True)
class Deployment:
    """A whole stack: its domains (sorted by name) and what the loader warned about."""

    domains: tuple[Domain, ...]
    cloudflare_account_id: str | None = None
    github_owner: str | None = None
    warnings: tuple[str, ...] = field(default=())
    live_gate: rollout.LiveGate = field(default_factory=rollout.LiveGate)
    readiness: rollout.Readiness = field(default_factory=rollout.Readiness)

    def domain(self, name: str) -> Domain:
        for domain in self.domains:
            if domain.name == name:
                return domain
        raise KeyError(name)

    def warnings_for(self, name: str) -> list[str]:
        prefix = f"domains.{name}"
        return [w for w in self.warnings if w.startswith(prefix + ".") or w.startswith(prefix + ":")]

    @property
    def worker_domains(self) -> tuple[Domain, ...]:
        return tuple(d for d in self.domains if d.hosting == "cloudflare-worker")

    @property
    def pages_domains(self) -> tuple[Domain, ...]:
        return tuple(d for d in self.domains if d.hosting == "github-pages")


def _unknown_key(key: str, allowed: tuple[str, ...] | list[str], where: str) -> ConfigError:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if not close:
        close = [a for a in allowed if a.lower() == key.lower()]
    hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(allowed)}"
    return ConfigError(f"{where}.{key}" if where else key, f"unknown key{hint}")


def _choice(value: Any, choices: tuple[str, ...], key: str) -> str:
    if not isinstance(value, str) or value not in choices:
        _fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def _fail(key: str, rule: str) -> NoReturn:
    raise ConfigError(key, rule)


def _max_age(value: Any, key: str) -> int:
    if isinstance(value, bool):
        _fail(key, "must be a whole number of seconds, not a boolean")
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int):
        _fail(key, f"must be a whole number of seconds, got {value!r}")
    seconds: int = value
    if not 0 <= value <= MAX_AGE_LIMIT:
        _fail(key, f"must be between 0 and {MAX_AGE_LIMIT} seconds (RFC 8461 §3.2), got {value}")
    return seconds


def _string_list(value: Any, key: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        _fail(key, f"must be a list of strings, got {value!r}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            _fail(f"{key}[{index}]", f"must be a string, got {item!r}")
    return list(value)


def _mx(value: Any, key: str) -> tuple[str, ...]:
    patterns: list[str] = []
    for index, raw in enumerate(_string_list(value, key)):
        pattern = normalize_name(raw.strip())
        problem = mx_pattern_problem(pattern, min_labels=2)
        if problem:
            _fail(f"{key}[{index}]", f"mx pattern {raw!r} {problem} (RFC 8461 §3.2)")
        if pattern in patterns:
            _fail(f"{key}[{index}]", f"mx pattern {pattern!r} is listed twice")
        patterns.append(pattern)
    return tuple(patterns)


def _tlsrpt(value: Any, key: str) -> tuple[str, ...]:
    uris: list[str] = []
    for index, uri in enumerate(_string_list(value, key)):
        problem = tlsrpt_uri_problem(uri)
        if problem:
            _fail(f"{key}[{index}]", f"TLS-RPT URI {uri!r} {problem} (RFC 8460 §3)")
        if uri in uris:
            _fail(f"{key}[{index}]", f"TLS-RPT URI {uri!r} is listed twice")
        uris.append(uri)
    return tuple(uris)


def _settings(raw: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        _fail(key, f"must be a mapping of settings, got {raw!r}")
    for name in raw:
        if not isinstance(name, str) or name not in allowed:
            raise _unknown_key(str(name), list(allowed), key)
    return dict(raw)


def _get(config: Mapping[str, Any], key: str) -> Any:
    """A project key, written either namespaced (``mta-sts:domains``) or bare."""
    if f"{NAMESPACE}:{key}" in config:
        return config[f"{NAMESPACE}:{key}"]
    return config.get(key)


def _object(config: Mapping[str, Any], key: str) -> Any:
    """An object-valued key; ``pulumi.Config`` hands objects over as JSON text."""
    value = _get(config, key)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            _fail(key, "must be a mapping (or its JSON text), got a string that is not JSON")
    return value


def load_config(config: Mapping[str, Any]) -> Deployment:
    """Validate a stack config mapping and build its ``Deployment``.

    ``config`` holds the stack's keys as ``Pulumi.<stack>.yaml`` has them
    (``mta-sts:domains``, ``github:owner``; bare ``domains`` works too), or as
    ``pulumi.Config`` holds them, objects as JSON text.
    Raises ``ConfigError`` on the first rule broken.
    """
    for name in config:
        namespace, colon, bare = str(name).rpartition(":")
        if (not colon or namespace == NAMESPACE) and bare not in TOP_KEYS:
            raise _unknown_key(bare, list(TOP_KEYS), "")
    defaults = {**DEFAULTS, **_settings(_object(config, "defaults"), "defaults", tuple(DEFAULTS))}
    domains_raw = _object(config, "domains")
    if domains_raw is None or domains_raw == {}:
        _fail("domains", "declare at least one mail domain")
    if not isinstance(domains_raw, Mapping):
        _fail("domains", f"must be a mapping of domain name to settings, got {domains_raw!r}")

    github_owner = config.get("github:owner")
    if github_owner is not None and (
        not isinstance(github_owner, str) or not _GITHUB_OWNER.match(github_owner)
    ):
        _fail("github:owner", f"must be a GitHub user or organization name, got {github_owner!r}")
    account = _get(config, "cloudflareAccountId")
    if account in ("", None):
        account = None
    elif not isinstance(account, str) or not _ACCOUNT_ID.match(account):
        _fail("cloudflareAccountId", "must be 32 lower-case hex digits (the Cloudflare account id)")

    domains: dict[str, Domain] = {}
    for raw_name, raw_settings in domains_raw.items():
        if not isinstance(raw_name, str):
            _fail(f"domains.{raw_name}", "a domain name must be a string")
        name = normalize_name(raw_name.strip())
        key = f"domains.{raw_name}"
        problem = hostname_problem(name, min_labels=2)
        if problem:
            _fail(key, f"domain name {raw_name!r} {problem}")
        if name in domains:
            _fail(
                key, f"domain {name!r} is declared twice (names compare lower-case, without a trailing dot)"
            )
        own = _settings(raw_settings, key, (*DEFAULTS, *DOMAIN_ONLY_KEYS))
        merged = {**defaults, **own}

        def where(setting: str, key: str = key, own: dict[str, Any] = own) -> str:
            """The dotted key a merged setting came from."""
            return f"{key}.{setting}" if setting in own else f"defaults.{setting}"

        hosting = _choice(merged["hosting"], HOSTINGS, where("hosting"))
        mode = _choice(merged["mode"], MODES, where("mode"))
        dns = _choice(merged["dns"], DNS_PROVIDERS, where("dns"))
        routing = _choice(merged["routing"], ROUTINGS, where("routing"))
        max_age = _max_age(merged["maxAge"], where("maxAge"))
        mx = _mx(merged["mx"], where("mx"))
        tlsrpt = _tlsrpt(merged["tlsrpt"], where("tlsrpt"))
        if mode != "none" and not mx:
            _fail(where("mx"), f"mode {mode} needs at least one mx pattern (RFC 8461 §3.2)")
        zone_id = own.get("zoneId")
        if zone_id is not None and (not isinstance(zone_id, str) or not _ZONE_ID.match(zone_id)):
            _fail(f"{key}.zoneId", "must be 32 lower-case hex digits (the Cloudflare zone id)")
        zone = own.get("zone", name)
        if not isinstance(zone, str) or hostname_problem(normalize_name(zone), min_labels=2):
            _fail(f"{key}.zone", f"must be a zone name such as example.com, got {zone!r}")
        zone = normalize_name(zone)
        if name != zone and not name.endswith("." + zone):
            _fail(f"{key}.zone", f"zone {zone!r} does not contain {name!r}")
        repository = own.get("repository")
        if repository is not None:
            if hosting != "github-pages":
                _fail(f"{key}.repository", "only applies to hosting: github-pages")
            if (
                not isinstance(repository, str)
                or not _GITHUB_NAME.match(repository)
                or repository in (".", "..")
            ):
                _fail(f"{key}.repository", "must be a GitHub repository name: letters, digits, '.', '_', '-'")
        https_enforced = own.get("httpsEnforced", False)
        if not isinstance(https_enforced, bool):
            _fail(f"{key}.httpsEnforced", f"must be true or false, got {https_enforced!r}")
        if "httpsEnforced" in own and hosting != "github-pages":
            _fail(f"{key}.httpsEnforced", "only applies to hosting: github-pages")
        if hosting == "github-pages":
            if github_owner is None:
                _fail("github:owner", f"is required because {name} uses hosting: github-pages")
            repository = repository or f"mta-sts.{name}"
        else:
            if account is None:
                _fail("cloudflareAccountId", f"is required because {name} uses hosting: cloudflare-worker")
            if dns == "external" and routing == "route":
                _fail(
                    where("routing"),
                    "dns: external with hosting: cloudflare-worker needs routing: custom-domain "
                    "(a Worker route needs a proxied record in Cloudflare DNS)",
                )
        if dns == "cloudflare" and hosting == "github-pages" and "routing" in own:
            _fail(f"{key}.routing", "only applies to hosting: cloudflare-worker")
        domains[name] = Domain(
            name=name,
            hosting=hosting,
            mode=mode,
            max_age=max_age,
            mx=mx,
            tlsrpt=tlsrpt,
            dns=dns,
            routing=routing,
            zone_id=zone_id,
            zone=zone,
            repository=repository if hosting == "github-pages" else None,
            github_owner=github_owner if hosting == "github-pages" else None,
            https_enforced=https_enforced,
            none_since=_rollout(rollout.parse_none_since, own.get("noneSince"), f"{key}.noneSince", mode),
        )
    ordered = tuple(domains[n] for n in sorted(domains))
    return Deployment(
        domains=ordered,
        cloudflare_account_id=account,
        github_owner=github_owner,
        warnings=tuple(_warnings(ordered)),
        live_gate=_rollout(rollout.parse_live_gate, _object(config, "liveGate"), "liveGate"),
        readiness=_rollout(rollout.parse_readiness, _object(config, "readiness"), "readiness"),
    )


def _rollout(parse: Callable[..., T], *args: Any) -> T:
    """A ``mtasts.model.rollout`` parser, its rejection as this loader's ``ConfigError``."""
    try:
        return parse(*args)
    except rollout.RolloutConfigError as exc:
        raise ConfigError(exc.key, exc.rule) from None


def _warnings(domains: tuple[Domain, ...]) -> list[str]:
    """Choices that are legal but likely to lose reports or mail."""
    enforced = {d.name for d in domains if d.mode == "enforce"}
    found = []
    for domain in domains:
        key = f"domains.{domain.name}"
        if domain.mode == "enforce" and domain.max_age < ONE_DAY:
            found.append(
                f"{key}.maxAge: enforce with max_age {domain.max_age} (under one day) lets a "
                "downgrade attacker wait out the policy (RFC 8461 §3.2 suggests weeks)"
            )
        if not domain.tlsrpt:
            found.append(f"{key}.tlsrpt: no TLS-RPT URI, so senders cannot report failures (RFC 8460)")
        for uri in domain.tlsrpt:
            if not uri.lower().startswith("mailto:"):
                continue
            mailbox_domain = normalize_name(uri.split("?", 1)[0].rpartition("@")[2])
            # MTA-STS applies to the exact recipient domain, not its subdomains.
            if mailbox_domain in enforced:
                found.append(
                    f"{key}.tlsrpt: reports go to {uri}, on {mailbox_domain}, which is in "
                    "enforce; if its MTA-STS breaks, the reports about it cannot be delivered"
                )
    return found


def find_project_dir(start: Path | None = None) -> Path:
    """The Pulumi project holding ``start`` (default: the working directory), as Pulumi finds it.

    The nearest directory at or above ``start`` with a ``Pulumi.yaml``; ``start`` itself when
    none has one (the loader then names the missing stack file).
    """
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / "Pulumi.yaml").is_file():
            return directory
    return here


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(path.name, f"is not valid YAML{where}: {problem}") from None
    return data or {}


def project_defaults(project_dir: Path) -> dict[str, Any]:
    """The config values ``Pulumi.yaml`` declares as defaults, by bare key."""
    project = read_yaml(project_dir / "Pulumi.yaml")
    values: dict[str, Any] = {}
    for name, spec in (project.get("config") or {}).items():
        namespace, colon, bare = str(name).rpartition(":")
        if colon and namespace != NAMESPACE:
            continue
        if isinstance(spec, Mapping):
            if "value" in spec:
                values[bare] = spec["value"]
            elif "default" in spec:
                values[bare] = spec["default"]
        else:
            values[bare] = spec
    return values


def stack_config(project_dir: Path, stack: str) -> dict[str, Any]:
    """The plain config of ``Pulumi.<stack>.yaml``, over ``Pulumi.yaml``'s defaults."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise ConfigError(f"Pulumi.{stack}.yaml", "no such stack file")
    values: dict[str, Any] = dict(project_defaults(project_dir))
    for name, value in (read_yaml(path).get("config") or {}).items():
        namespace, colon, bare = str(name).rpartition(":")
        if isinstance(value, Mapping) and "secure" in value:
            continue  # secrets are not needed offline
        if colon and namespace != NAMESPACE:
            values[name] = value
        else:
            values[bare] = value
    return values


def load_stack(project_dir: str | Path, stack: str) -> Deployment:
    """Load ``Pulumi.<stack>.yaml`` (with ``Pulumi.yaml``'s defaults) as a ``Deployment``."""
    values = stack_config(Path(project_dir), stack)
    ours = {k: v for k, v in values.items() if ":" not in k or k == "github:owner"}
    return load_config(ours)
