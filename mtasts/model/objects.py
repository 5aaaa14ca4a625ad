"""What the stack-level setting objects (``mta-sts:reports``, ``mta-sts:delegation``) share:
reading the object itself, its host names and its zone id, each failure naming the key."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from mtasts.model.errors import ConfigError
from mtasts.rfc.names import hostname_problem, normalize_name

ZONE_ID = re.compile(r"[0-9a-f]{32}\Z")


def fail(key: str, rule: str) -> NoReturn:
    raise ConfigError(key, rule)


def settings_object(raw: Any, key: str, known: Iterable[str], what: str) -> Mapping[str, Any] | None:
    """The object at ``key`` (a mapping, or its JSON text as Pulumi passes it), every name in it
    one of ``known``; None when it is absent or empty."""
    if raw is None or raw == {}:
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            fail(key, "must be a mapping (or its JSON text), got a string that is not JSON")
    if not isinstance(raw, Mapping):
        fail(key, f"must be a mapping of {what}, got {raw!r}")
    names = tuple(known)
    for name in raw:
        if name not in names:
            fail(f"{key}.{name}", f"unknown key; known keys: {', '.join(names)}")
    return raw


def host_name(value: Any, key: str, example: str) -> str:
    """A host name of at least two labels, normalized (lower case, A-labels, no trailing dot)."""
    if not isinstance(value, str):
        fail(key, f"must be a host name such as {example}, got {value!r}")
    name = normalize_name(value.strip())
    problem = hostname_problem(name, min_labels=2)
    if problem:
        fail(key, f"host name {value!r} {problem}")
    return name


def zone_id(value: Any, key: str) -> str | None:
    """An optional Cloudflare zone id: 32 lower-case hex digits."""
    if value is not None and (not isinstance(value, str) or not ZONE_ID.match(value)):
        fail(key, "must be 32 lower-case hex digits (the Cloudflare zone id)")
    return value
