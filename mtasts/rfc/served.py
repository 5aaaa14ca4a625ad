"""The data regions of the stack's Worker scripts: what each Worker holds, between fixed markers.

Two Workers, one mechanism, two marker pairs (``Markers``): the policy Worker's data
(``POLICY_DATA``, written by ``mtasts.model.policy_worker`` into ``mtasts/worker/worker.js``) and the
TLS report receiver's settings (``RECEIVER_SETTINGS``, written by ``mtasts.model.receiver`` into
``mtasts/worker/reports.bundle.js``). Each Worker reads its region as a JavaScript object literal;
the policy pack (which may import only this layer) reads it as JSON. The pairs differ, so a
receiver is never taken for a policy host nor the other way round. In the policy Worker::

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

In the receiver (``encode_receiver``), one domain of the stack a line, sorted::

    const SETTINGS = settingsFrom(
      /* mta-sts:settings:begin */
    {"domains":{
    "a.example":{"builtin":true},
    "b.example":{"builtin":true,"dnsExternal":true},
    "c.example":{}
    },"fields":{"contact-info":1024,…},"limits":{"chunkChars":262144,…},"paths":{"raw":"\\/v1\\/raw\\/",…},
    "rua":["https:\\/\\/tlsrpt.example.net\\/v1\\/tlsrpt"]}
    /* mta-sts:settings:end */
    );

Each region is plain JSON, every string written by ``json.dumps`` with ``ensure_ascii`` and every
``/`` escaped as ``\\/``: ASCII only (no U+2028 line terminator), so it is the same value as a
JavaScript expression; and it holds no ``*/``, so no marker, and no text in it can end the
region or be code. Reading it needs no JavaScript lexer: split at the markers, parse as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mtasts.rfc.policy import policy_id


@dataclass(frozen=True)
class Markers:
    """The two comments around one data region of a Worker script."""

    begin: str
    end: str

    def carried_by(self, script: str) -> bool:
        """Whether ``script`` holds either marker (then it must hold the region exactly once)."""
        return self.begin in script or self.end in script


POLICY_DATA = Markers("/* mta-sts:data:begin */", "/* mta-sts:data:end */")
"""The policy Worker's region: policy host → policy text (``encode_served``)."""
RECEIVER_SETTINGS = Markers("/* mta-sts:settings:begin */", "/* mta-sts:settings:end */")
"""The TLS report receiver's region: the stack's domains and the receiver's limits (``encode_receiver``)."""
DATA_BEGIN = POLICY_DATA.begin
"""The comment just before the data region of the policy Worker's script."""
DATA_END = POLICY_DATA.end
"""The comment just after it."""
SETTINGS_BEGIN = RECEIVER_SETTINGS.begin
"""The comment just before the settings region of the receiver's script."""
SETTINGS_END = RECEIVER_SETTINGS.end
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


def _split(script: str, markers: Markers) -> tuple[str, str, str]:
    """``script`` cut at its one region between ``markers``: the text before, the data, the text after."""
    for marker in (markers.begin, markers.end):
        count = script.count(marker)
        if count != 1:
            raise ServedDataError(f"the script holds {marker} {count} times, not once")
    head, _, rest = script.partition(markers.begin)
    data, _, tail = rest.partition(markers.end)
    if markers.end in head:
        raise ServedDataError(f"{markers.end} comes before {markers.begin}")
    return head, data, tail


def insert_data(script: str, data: str, markers: Markers = POLICY_DATA) -> str:
    """``script`` with its region between ``markers`` replaced by ``data`` (JSON this module wrote).

    Joined, not ``str.replace``'d: the inserted text is never scanned again. ``data`` may hold
    neither pair's markers.
    """
    if any(m.carried_by(data) for m in (POLICY_DATA, RECEIVER_SETTINGS)):
        raise ValueError("the data holds a data-region marker")
    head, _, tail = _split(script, markers)
    return head + markers.begin + "\n" + data + markers.end + tail


def extract_data(script: str, markers: Markers = POLICY_DATA) -> str:
    """The text of ``script``'s one region between ``markers``; ``ServedDataError`` if not exactly one."""
    return _split(script, markers)[1]


def _string_map(document: Mapping[str, Any], key: str) -> dict[str, str]:
    value = document.get(key)
    if not isinstance(value, dict):
        raise ServedDataError(f'"{key}" must be an object')
    for name, item in value.items():
        if not isinstance(item, str):
            raise ServedDataError(f'"{key}" entry {name!r} must be a string')
    return value


def _json_object(data: str, keys: str) -> dict[str, Any]:
    """``data`` parsed as one JSON object; ``ServedDataError`` naming ``keys`` otherwise."""
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise ServedDataError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ServedDataError(f"must be an object with {keys}")
    return value


def decode_served(data: str) -> dict[str, str]:
    """Policy host → policy text from a data region's JSON text.

    Raises ``ServedDataError`` when the text is not the document this module writes.
    """
    value = _json_object(data, '"hosts" and "policies"')
    hosts = _string_map(value, "hosts")
    policies = _string_map(value, "policies")
    missing = sorted(host for host, ident in hosts.items() if ident not in policies)
    if missing:
        raise ServedDataError(f"hosts {', '.join(missing)} name no policy")
    return {host: policies[ident] for host, ident in hosts.items()}


def served_in_script(script: str) -> dict[str, str]:
    """Policy host → policy text that a Worker script serves: its data region, decoded."""
    return decode_served(extract_data(script))


# --- the receiver's settings ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiverData:
    """What the receiver's settings region holds."""

    domains: tuple[str, ...]
    """Every domain of the stack, sorted: reports for these are counted, others are ``foreign``."""
    builtin: frozenset[str]
    """The ``reports: builtin`` domains among them: listed in the summary even when silent, and
    their ``_smtp._tls`` records must list ``rua``."""
    dns_external: frozenset[str]
    """The builtin domains whose records are published by hand, outside the stack."""
    rua: tuple[str, ...]
    """The receiver's URIs, as a builtin domain's ``_smtp._tls`` record lists them."""
    limits: Mapping[str, int]
    """Caps and periods by their camelCase names (``maxCompressedBytes``, ``retentionDays``, …)."""
    fields: Mapping[str, int] = field(default_factory=dict)
    """Longest value of each report field in code points (``organization-name``, ``policy-string``, …)."""
    paths: Mapping[str, str] = field(default_factory=dict)
    """The receiver's HTTP paths by job (``report``, ``summary``, ``submissions``, ``raw``)."""


def _name_list(names: Iterable[str], what: str) -> set[str]:
    found = {name.lower() for name in names}
    if "__proto__" in found:
        # In a JavaScript object literal this key would set the prototype instead of an entry.
        raise ValueError(f"__proto__ is not a {what}")
    return found


def encode_receiver(data: ReceiverData) -> str:
    """The settings document for ``data``: one domain a line, sorted; then the limits and URIs."""
    domains = _name_list(data.domains, "domain")
    builtin, external = _name_list(data.builtin, "domain"), _name_list(data.dns_external, "domain")
    if not builtin <= domains or not external <= builtin:
        raise ValueError("builtin domains must be stack domains, dnsExternal ones builtin")
    lines = []
    for name in sorted(domains):
        flags = ('"builtin":true' if name in builtin else "") + (
            ',"dnsExternal":true' if name in external else ""
        )
        lines.append(_string(name) + ":{" + flags + "}")
    limits = ",".join(_string(key) + ":" + str(int(value)) for key, value in sorted(data.limits.items()))
    fields = ",".join(_string(key) + ":" + str(int(value)) for key, value in sorted(data.fields.items()))
    paths = ",".join(_string(key) + ":" + _string(value) for key, value in sorted(data.paths.items()))
    rua = ",".join(_string(uri) for uri in data.rua)
    return (
        '{"domains":{\n'
        + ",\n".join(lines)
        + '\n},"fields":{'
        + fields
        + '},"limits":{'
        + limits
        + '},"paths":{'
        + paths
        + '},"rua":['
        + rua
        + "]}\n"
    )


def decode_receiver(data: str) -> ReceiverData:
    """The receiver's settings from a settings region's JSON text.

    Raises ``ServedDataError`` when the text is not the document ``encode_receiver`` writes.
    """
    value = _json_object(data, '"domains", "limits" and "rua"')
    domains, limits, rua = value.get("domains"), value.get("limits"), value.get("rua")
    if not isinstance(domains, dict) or not all(isinstance(flags, dict) for flags in domains.values()):
        raise ServedDataError('"domains" must map each domain to an object')
    if not isinstance(limits, dict) or not all(
        isinstance(n, int) and not isinstance(n, bool) for n in limits.values()
    ):
        raise ServedDataError('"limits" must map names to whole numbers')
    if not isinstance(rua, list) or not all(isinstance(uri, str) for uri in rua):
        raise ServedDataError('"rua" must be a list of URIs')
    fields, paths = value.get("fields", {}), value.get("paths", {})
    if not isinstance(fields, dict) or not all(
        isinstance(n, int) and not isinstance(n, bool) for n in fields.values()
    ):
        raise ServedDataError('"fields" must map names to whole numbers')
    if not isinstance(paths, dict) or not all(isinstance(p, str) for p in paths.values()):
        raise ServedDataError('"paths" must map names to paths')
    return ReceiverData(
        domains=tuple(sorted(domains)),
        builtin=frozenset(name for name, flags in domains.items() if flags.get("builtin") is True),
        dns_external=frozenset(name for name, flags in domains.items() if flags.get("dnsExternal") is True),
        rua=tuple(rua),
        limits=dict(limits),
        fields=dict(fields),
        paths=dict(paths),
    )


def receiver_in_script(script: str) -> ReceiverData:
    """The settings a receiver script carries: its settings region, decoded."""
    return decode_receiver(extract_data(script, RECEIVER_SETTINGS))
