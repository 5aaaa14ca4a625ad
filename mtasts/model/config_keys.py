"""A stack config's keys as the loader reads them: namespaced (``mta-sts:domains``) or bare, and
object-valued keys either as mappings (a stack file) or as the JSON text ``pulumi.Config`` hands
over, read strictly (no key twice, no deeper nesting than a stack file may have)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mtasts.model.stackfile import MAX_DEPTH, NAMESPACE
from mtasts.model.validators import fail, shown


def get_key(config: Mapping[str, Any], key: str) -> Any:
    """A project key, written either namespaced (``mta-sts:domains``) or bare."""
    if f"{NAMESPACE}:{key}" in config:
        return config[f"{NAMESPACE}:{key}"]
    return config.get(key)


def object_key(config: Mapping[str, Any], key: str) -> Any:
    """An object-valued key; ``pulumi.Config`` hands objects over as JSON text."""
    value = get_key(config, key)
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
    if _nests_deeper(parsed, MAX_DEPTH):
        fail(key, "its JSON text nests too deeply")
    return parsed


def _nests_deeper(value: Any, limit: int) -> bool:
    """Whether ``value`` goes more than ``limit`` mappings and lists deep, without recursion;
    it stops at the first container over the limit."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            if level > limit:
                return True
            stack += [(child, level + 1) for child in (item.values() if isinstance(item, dict) else item)]
    return False


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
