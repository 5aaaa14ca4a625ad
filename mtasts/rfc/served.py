"""What a policy host serves, host by host: the data region of the Worker script.

One format, written by ``mtasts.model.worker`` into ``mtasts/worker/worker.js``, read by the
Worker as a JavaScript object literal and by the policy pack (which may import only this layer)
as JSON. In the script the data sits between two fixed comments, exactly once::

    const SERVED = /* mta-sts:data:begin */
    {"hosts":{
    "mta-sts.a.example":"<id>",
    "mta-sts.b.example":"<id>"
    },"policies":{
    "<id>":"version: STSv1\\r\\nmode: enforce\\r\\n…"
    }}
    /* mta-sts:data:end */;

Host names are lower-case, without a trailing dot; ``<id>`` is ``policy_id`` of the text, so a
host's line changes only when its own policy does, and each distinct text is stored once. One
entry per line, sorted: a one-domain change is a few-line diff in ``pulumi preview``.

The region is plain JSON, every string written by ``json.dumps`` with ``ensure_ascii`` and every
``/`` escaped as ``\\/``: ASCII only (no U+2028 line terminator), so it is the same value as a
JavaScript expression; and it holds no ``*/``, so neither marker, and no text in it can end the
region or be code. Reading it needs no JavaScript lexer: split at the markers, parse as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mtasts.rfc.policy import policy_id

DATA_BEGIN = "/* mta-sts:data:begin */"
"""The comment just before the data region of the Worker script."""
DATA_END = "/* mta-sts:data:end */"
"""The comment just after it."""


class ServedDataError(ValueError):
    """A script's data region is missing, repeated, or not the document above; the message says which."""


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=True).replace("/", "\\/")


def _line(key: str, value: str) -> str:
    return _string(key) + ":" + _string(value)


def encode_served(by_host: Mapping[str, str]) -> str:
    """The document for ``by_host`` (policy host → exact policy text), one entry a line, sorted."""
    hosts = {host.lower(): text for host, text in by_host.items()}
    if len(hosts) != len(by_host):
        raise ValueError("two host names differ only in case")
    if "__proto__" in hosts:
        # In a JavaScript object literal this key would set the prototype instead of an entry.
        raise ValueError("__proto__ is not a host name")
    texts = {policy_id(text): text for text in hosts.values()}
    if len(texts) != len(set(hosts.values())):
        raise ValueError("two policy texts share one id")
    host_lines = ",\n".join(_line(host, policy_id(text)) for host, text in sorted(hosts.items()))
    policy_lines = ",\n".join(_line(ident, text) for ident, text in sorted(texts.items()))
    return '{"hosts":{\n' + host_lines + '\n},"policies":{\n' + policy_lines + "\n}}\n"


def _split(script: str) -> tuple[str, str, str]:
    """``script`` cut at its one data region: the text before, the data, the text after."""
    for marker in (DATA_BEGIN, DATA_END):
        count = script.count(marker)
        if count != 1:
            raise ServedDataError(f"the script holds {marker} {count} times, not once")
    head, _, rest = script.partition(DATA_BEGIN)
    data, _, tail = rest.partition(DATA_END)
    if DATA_END in head:
        raise ServedDataError(f"{DATA_END} comes before {DATA_BEGIN}")
    return head, data, tail


def insert_data(script: str, data: str) -> str:
    """``script`` with its data region replaced by ``data`` (``encode_served`` output).

    Joined, not ``str.replace``'d: the inserted text is never scanned again.
    """
    if DATA_BEGIN in data or DATA_END in data:
        raise ValueError("the data holds a data-region marker")
    head, _, tail = _split(script)
    return head + DATA_BEGIN + "\n" + data + DATA_END + tail


def extract_data(script: str) -> str:
    """The text of ``script``'s one data region (JSON); ``ServedDataError`` if not exactly one."""
    return _split(script)[1]


def _string_map(document: Mapping[str, Any], key: str) -> dict[str, str]:
    value = document.get(key)
    if not isinstance(value, dict):
        raise ServedDataError(f'"{key}" must be an object')
    for name, item in value.items():
        if not isinstance(item, str):
            raise ServedDataError(f'"{key}" entry {name!r} must be a string')
    return value


def decode_served(data: str) -> dict[str, str]:
    """Policy host → policy text from a data region's JSON text.

    Raises ``ServedDataError`` when the text is not the document this module writes.
    """
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise ServedDataError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ServedDataError('must be an object with "hosts" and "policies"')
    hosts = _string_map(value, "hosts")
    policies = _string_map(value, "policies")
    missing = sorted(host for host, ident in hosts.items() if ident not in policies)
    if missing:
        raise ServedDataError(f"hosts {', '.join(missing)} name no policy")
    return {host: policies[ident] for host, ident in hosts.items()}


def served_in_script(script: str) -> dict[str, str]:
    """Policy host → policy text that a Worker script serves: its data region, decoded."""
    return decode_served(extract_data(script))
