"""Editing one key of a stack file's ``config:`` in place, every other line kept byte for byte.

``set_config_mapping(text, "zoneIds", {...})`` replaces the lines of ``mta-sts:zoneIds`` (or adds
them after the last key of ``config:``) with a block mapping of double-quoted values, and leaves
every other line as it was: comments, order, quoting, line ends. Where a key's lines start and
end comes from PyYAML's composer (each node's marks), never from guessing at indentation; the
result is parsed again and must equal the old document with only that key changed, else
``ConfigError`` and nothing is to be written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from mtasts.model.errors import ConfigError
from mtasts.model.stackfile import NAMESPACE, parse_yaml

__all__ = ["block_lines", "set_config_mapping"]

_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")
"""What PyYAML counts as a line break (``yaml.reader.Reader.forward``), so its line numbers are ours."""


def _lines(text: str) -> list[str]:
    """``text`` split after each line break, the breaks kept."""
    lines, start = [], 0
    for found in _BREAK.finditer(text):
        lines.append(text[start : found.end()])
        start = found.end()
    if start < len(text):
        lines.append(text[start:])
    return lines


_HOST = re.compile(r"[a-z0-9][a-z0-9.-]*")
_RESOLVER = Resolver()


def _plain(name: str) -> str:
    """``name`` as a YAML key: plain when it is a host name YAML reads as a string (not ``1.5``,
    ``null.``…), else double-quoted."""
    tag = _RESOLVER.resolve(ScalarNode, name, (True, False))  # type: ignore[no-untyped-call]
    host = _HOST.fullmatch(name) is not None and not name.replace(".", "").isdigit()
    plain = host and tag == Resolver.DEFAULT_SCALAR_TAG
    return name if plain else json.dumps(name)


def block_lines(key: str, mapping: Mapping[str, str], indent: str, step: str, eol: str = "\n") -> list[str]:
    """``key`` and ``mapping`` as block YAML lines, sorted, each value double-quoted (an all-digit
    id stays a string, for PyYAML and for Pulumi's YAML 1.2 alike)."""
    if not mapping:
        return [f"{indent}{key}: {{}}{eol}"]
    out = [f"{indent}{key}:{eol}"]
    out += [f"{indent}{step}{_plain(name)}: {json.dumps(mapping[name])}{eol}" for name in sorted(mapping)]
    return out


def _end_line(node: Node) -> int:
    """The last line ``node`` takes: a block collection ends with its last value, whose mark is
    exact (a block's own end mark lies past any comments that follow it)."""
    while isinstance(node, MappingNode | SequenceNode) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, MappingNode) else last
    mark = node.end_mark
    # A block scalar (| or >) ends at the start of the line after it.
    return mark.line - 1 if mark.column == 0 and mark.line > node.start_mark.line else mark.line


def _is_key(node: Node, bare: str) -> bool:
    if not isinstance(node, ScalarNode) or not isinstance(node.value, str):
        return False
    namespace, colon, name = node.value.rpartition(":")
    return name == bare and (not colon or namespace == NAMESPACE)


def set_config_mapping(text: str, bare: str, mapping: Mapping[str, str], name: str) -> str:
    """``text`` (a stack file) with ``config:``'s ``mta-sts:<bare>`` set to ``mapping``.

    Raises ``ConfigError(name, …)`` when the file's shape is not one this can edit safely (no
    block ``config:``), or when the edit would change anything else.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(name, f"is not valid YAML: {str(exc).splitlines()[0]}") from None
    config = None
    if isinstance(root, MappingNode):
        config = next((v for k, v in root.value if isinstance(k, ScalarNode) and k.value == "config"), None)
    if not isinstance(config, MappingNode) or config.flow_style or not config.value:
        raise ConfigError(name, f"has no block config: mapping to add {NAMESPACE}:{bare} to; add it by hand")
    lines = _lines(text)
    first_key = config.value[0][0]
    first = lines[first_key.start_mark.line]
    indent = first[: len(first) - len(first.lstrip(" "))]
    step = indent or "  "
    eol = _BREAK.search(first)
    ending = eol.group() if eol else "\n"
    found = next(((k, v) for k, v in config.value if _is_key(k, bare)), None)
    if found is not None:
        key, value = found
        start, end = key.start_mark.line, _end_line(value)
        written = lines[start][key.start_mark.column : key.end_mark.column]
        if lines[start][: key.start_mark.column].strip() or key.end_mark.line != start:
            raise ConfigError(name, f"{written or bare} is not a plain block key; edit it by hand")
        block = block_lines(written, mapping, indent, step, ending)
        new = [*lines[:start], *block, *lines[end + 1 :]]
    else:
        after = _end_line(config.value[-1][1])
        head = lines[: after + 1]
        if head and not _BREAK.search(head[-1][-2:]):
            head[-1] += ending  # the file ended without a line break
        new = [*head, *block_lines(f"{NAMESPACE}:{bare}", mapping, indent, step, ending), *lines[after + 1 :]]
    result = "".join(new)
    _check_only_key_changed(text, result, bare, mapping, name)
    return result


def _check_only_key_changed(old: str, new: str, bare: str, mapping: Mapping[str, str], name: str) -> None:
    before, after = parse_yaml(old, name), parse_yaml(new, name)
    expected: dict[str, Any] = dict(before)
    section = {k: v for k, v in expected["config"].items() if not _is_key(ScalarNode("", str(k)), bare)}
    got = dict(after.get("config") or {}) if isinstance(after, dict) else {}
    ours = [k for k in got if _is_key(ScalarNode("", str(k)), bare)]
    if len(ours) != 1 or got.pop(ours[0]) != dict(mapping) or got != section:
        raise ConfigError(name, f"editing {NAMESPACE}:{bare} would change other keys; edit it by hand")
    expected.pop("config")
    after = dict(after)
    after.pop("config")
    if after != expected:
        raise ConfigError(name, f"editing {NAMESPACE}:{bare} would change other keys; edit it by hand")
