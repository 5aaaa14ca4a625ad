"""What a policy host serves, host by host: the data the Worker reads from its ``json`` binding.

One format, written by ``mtasts.model.worker``, read by ``mtasts/worker/worker.js`` and by the
policy pack (which may import only this layer)::

    {"hosts":{
    "mta-sts.a.example":"<id>",
    "mta-sts.b.example":"<id>"
    },"policies":{
    "<id>":"version: STSv1\\r\\nmode: enforce\\r\\n…"
    }}

Host names are lower-case, without a trailing dot; ``<id>`` is ``policy_id`` of the text, so a
host's line changes only when its own policy does, and each distinct text is stored once. One
entry per line, sorted, ASCII only: a one-domain change is a few-line diff in ``pulumi preview``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mtasts.rfc.policy import policy_id

BINDING = "POLICIES"
"""Name of the Worker's ``json`` binding (``env.POLICIES``) that carries the data."""


class ServedDataError(ValueError):
    """The binding's value is not the document above; the message says what is wrong."""


def _line(key: str, value: str) -> str:
    return json.dumps(key, ensure_ascii=True) + ":" + json.dumps(value, ensure_ascii=True)


def encode_served(by_host: Mapping[str, str]) -> str:
    """The document for ``by_host`` (policy host → exact policy text), one entry a line, sorted."""
    hosts = {host.lower(): text for host, text in by_host.items()}
    if len(hosts) != len(by_host):
        raise ValueError("two host names differ only in case")
    texts = {policy_id(text): text for text in hosts.values()}
    if len(texts) != len(set(hosts.values())):
        raise ValueError("two policy texts share one id")
    host_lines = ",\n".join(_line(host, policy_id(text)) for host, text in sorted(hosts.items()))
    policy_lines = ",\n".join(_line(ident, text) for ident, text in sorted(texts.items()))
    return '{"hosts":{\n' + host_lines + '\n},"policies":{\n' + policy_lines + "\n}}\n"


def _string_map(document: Mapping[str, Any], key: str) -> dict[str, str]:
    value = document.get(key)
    if not isinstance(value, dict):
        raise ServedDataError(f'"{key}" must be an object')
    for name, item in value.items():
        if not isinstance(item, str):
            raise ServedDataError(f'"{key}" entry {name!r} must be a string')
    return value


def decode_served(value: Any) -> dict[str, str]:
    """Policy host → policy text from the binding's value: the JSON text, or the object it holds.

    A JSON string holding the text is read too, as the Worker reads a binding that arrives as a
    string. Raises ``ServedDataError`` when the value is not the document this module writes.
    """
    for _ in range(2):
        if not isinstance(value, str):
            break
        try:
            value = json.loads(value)
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
