"""The per-key validator table: every setting a domain takes, its default and its check.

How to add a domain setting (one table entry + one field):

1. Add one ``Setting`` to ``SETTINGS`` below: the key as written in the stack file, the
   ``Domain`` field it fills, the validator (``(value, dotted_key) -> value``, raising
   ``ConfigError``; reuse ``choice``, ``boolean``, ``string_list`` … or write one beside them),
   and a ``default`` if ``mta-sts:defaults`` may set it (omit it for a per-domain-only key).
2. Add the field, with a default, to ``Domain`` in ``mtasts.model.domain``.
3. If the setting has a default, declare the same value under ``mta-sts:defaults`` in
   ``Pulumi.yaml`` (a test keeps ``DEFAULTS`` equal to it).

A rule that relates two settings (say, "only applies to hosting: github-pages") goes in
``mtasts.model.rules.DOMAIN_RULES``; a rule over what a built domain publishes in
``BUILT_RULES``; a rule across domains in ``STACK_RULES``. A stack-level key (beside
``defaults`` and ``domains``) goes in ``loader.TOP_KEYS`` and ``Pulumi.yaml``, and is read into
``rules.Stack`` (and ``Deployment``) in ``loader._load_config``.
"""

from __future__ import annotations

import enum
import functools
import re
import reprlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from mtasts.model.errors import ConfigError
from mtasts.model.rollout import parse_time
from mtasts.model.stackfile import Yaml11Int
from mtasts.model.vocabulary import Dns, Hosting, Mode, Reports, Routing, values
from mtasts.rfc.names import hostname_problem, mx_pattern_problem, normalize_name
from mtasts.rfc.policy import MAX_AGE_LIMIT
from mtasts.rfc.records import tlsrpt_uri_problem

HOSTINGS = values(Hosting)
DNS_PROVIDERS = values(Dns)
ROUTINGS = values(Routing)

Validator = Callable[[Any, str], Any]
"""``(value, dotted_key) -> validated value``; raises ``ConfigError(dotted_key, rule)``."""

_NO_DEFAULT: Any = object()
_MEMO_LIMIT = 100_000


def fail(key: str, rule: str) -> NoReturn:
    raise ConfigError(key, rule)


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 3, 60, 60, 60


def shown(value: Any) -> str:
    """``value`` for an error message: one short line, whatever its size or depth."""
    if isinstance(value, int) and value.bit_length() > 200:
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    try:
        return _SHORT.repr(value)
    except (ValueError, RecursionError):  # an integer past Python's 4,300-digit limit, deep inside
        return f"a {type(value).__name__} too large to show"


def yaml_hint(value: Any, key: str) -> str:
    """What YAML made of an unquoted scalar where text was wanted, and how to quote it ("" when
    ``value`` is not such a scalar): ``off``/``yes`` are booleans and an all-digit id a number."""
    setting = key.rpartition(".")[2] or key
    if isinstance(value, bool):
        return (
            f"; YAML read an unquoted yes/no/on/off/true/false as the boolean {str(value).lower()}: "
            f"quote the text, as {setting}: 'off'"
        )
    if isinstance(value, int):
        text = getattr(value, "text", None) or str(value)
        return f"; YAML read {text} as a number: quote it, as {setting}: '{text}'"
    return ""


def choice(kind: type[enum.StrEnum]) -> Validator:
    """One of the values of ``kind``, exactly; the validated value is the member itself."""
    choices = values(kind)

    def check(value: Any, key: str) -> enum.StrEnum:
        if not isinstance(value, str) or value not in choices:
            fail(key, f"must be one of {', '.join(choices)}, got {shown(value)}{yaml_hint(value, key)}")
        return kind(value)

    return check


def max_age(value: Any, key: str) -> int:
    """Whole seconds, 0 to ``MAX_AGE_LIMIT`` (RFC 8461 §3.2); digits as a string are accepted."""
    if isinstance(value, bool):
        fail(key, "must be a whole number of seconds, not a boolean")
    if isinstance(value, Yaml11Int):
        fail(
            key,
            f"{value.text} is a YAML 1.1 number form, read here as {int(value)}, that YAML 1.2 readers "
            "read differently or as text; write the seconds as plain decimal digits",
        )
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    if not isinstance(value, int):
        fail(key, f"must be a whole number of seconds, got {shown(value)}")
    if not 0 <= value <= MAX_AGE_LIMIT:
        fail(key, f"must be between 0 and {MAX_AGE_LIMIT} seconds (RFC 8461 §3.2), got {shown(value)}")
    seconds: int = value
    return seconds


def string_list(
    noun: str, problem: Callable[[str], str | None], cite: str, normalize: Callable[[str], str] = str
) -> Validator:
    """A list of distinct strings, each normalized by ``normalize`` and checked by ``problem``.

    The one list validator: ``mx`` and ``tlsrpt`` are both made by it.
    """

    known: dict[str, tuple[str, str | None]] = {}
    """raw item -> (normalized, problem): stacks repeat the same mx hosts and report addresses."""

    def check(value: Any, key: str) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            fail(key, f"must be a list of strings, got {shown(value)}")
        items: dict[str, None] = {}
        for index, raw in enumerate(value):
            if not isinstance(raw, str):
                fail(f"{key}[{index}]", f"must be a string, got {shown(raw)}")
            if raw not in known:
                if len(known) >= _MEMO_LIMIT:
                    known.clear()
                normalized = normalize(raw)
                known[raw] = (normalized, problem(normalized))
            item, found = known[raw]
            if found:
                fail(f"{key}[{index}]", f"{noun} {shown(raw)} {found} ({cite})")
            if item in items:
                fail(f"{key}[{index}]", f"{noun} {shown(item)} is listed twice")
            items[item] = None
        return tuple(items)

    return check


def boolean(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        fail(key, f"must be true or false, got {shown(value)}")
    return value


def matching(pattern: str, rule: str) -> Validator:
    """A string matching ``pattern`` whole; ``rule`` says what it must be."""
    compiled = re.compile(pattern)

    def check(value: Any, key: str) -> str:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            fail(key, rule + yaml_hint(value, key))
        return value

    return check


def key_name(raw: Any, key: str, what: str) -> str:
    """A mapping key that names a domain or zone (``what``), normalized: lower-case, no root dot."""
    if not isinstance(raw, str):
        fail(key, f"a {what} name must be a string")
    name = normalize_name(raw.strip())
    problem = hostname_problem(name, min_labels=2)
    if problem:
        fail(key, f"{what} name {shown(raw)} {problem}")
    return name


@functools.lru_cache(maxsize=_MEMO_LIMIT)
def _zone(raw: str) -> str | None:
    """``raw`` as a normalized zone name, or None when it is not one: once per distinct zone,
    which every domain of the zone names."""
    name = normalize_name(raw)
    return None if hostname_problem(name, min_labels=2) else name


def zone_name(value: Any, key: str) -> str:
    zone = _zone(value) if isinstance(value, str) else None
    if zone is None:
        fail(key, f"must be a zone name such as example.com, got {shown(value)}")
    return zone


def repository_name(value: Any, key: str) -> str:
    if not isinstance(value, str) or not _GITHUB_NAME.fullmatch(value) or value in (".", ".."):
        fail(key, "must be a GitHub repository name: letters, digits, '.', '_', '-'")
    return value


_GITHUB_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
HEX_ID = r"[0-9a-f]{32}"
GITHUB_OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?"


@dataclass(frozen=True)
class Setting:
    """One domain setting: the ``Domain`` field it fills, its validator, and its default."""

    field: str
    check: Validator
    default: Any = _NO_DEFAULT
    """Inherited through ``mta-sts:defaults`` when set; a setting without one is per-domain only."""

    @property
    def inheritable(self) -> bool:
        return self.default is not _NO_DEFAULT


SETTINGS: dict[str, Setting] = {
    "hosting": Setting("hosting", choice(Hosting), Hosting.CLOUDFLARE_WORKER),
    "mode": Setting("mode", choice(Mode), Mode.TESTING),
    "maxAge": Setting("max_age", max_age, 604800),
    "mx": Setting(
        "mx",
        string_list(
            "mx pattern",
            lambda p: mx_pattern_problem(p, min_labels=2),
            "RFC 8461 §3.2",
            normalize=lambda raw: normalize_name(raw.strip()),
        ),
        [],
    ),
    "tlsrpt": Setting("tlsrpt", string_list("TLS-RPT URI", tlsrpt_uri_problem, "RFC 8460 §3"), []),
    "dns": Setting("dns", choice(Dns), Dns.CLOUDFLARE),
    "routing": Setting("routing", choice(Routing), Routing.ROUTE),
    "zone": Setting("zone", zone_name),
    "zoneId": Setting(
        "zone_id", matching(HEX_ID, "must be 32 lower-case hex digits (the Cloudflare zone id)")
    ),
    "repository": Setting("repository", repository_name),
    "httpsEnforced": Setting("https_enforced", boolean),
    "reports": Setting("reports", choice(Reports), Reports.NONE),
    "noneSince": Setting("none_since", parse_time),
}
"""Every key a domain (or ``mta-sts:defaults``) may set, in the order they are checked."""

DEFAULTS: dict[str, Any] = {key: s.default for key, s in SETTINGS.items() if s.inheritable}
"""What a domain inherits when neither it nor ``mta-sts:defaults`` says otherwise.

``Pulumi.yaml`` declares the same values; a test keeps the two equal.
"""

DOMAIN_ONLY_KEYS = tuple(key for key, s in SETTINGS.items() if not s.inheritable)
