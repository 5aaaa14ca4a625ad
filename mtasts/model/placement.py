"""Where in the stack files an error is: ``ConfigError.where``, ``<file>:<line>``.

Read only when an error is to be reported: the files are composed again (a second parse) and
every mapping key under ``config:`` mapped to its line, by the dotted key the loader names.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from mtasts.model.errors import ConfigError, every
from mtasts.model.stackfile import NAMESPACE, gc_paused, nests_too_deeply


def key_lines(text: str, *, project: bool = False) -> dict[str, int]:
    """The 1-based line of every mapping key under ``config:`` in a stack file's ``text``, by the
    dotted key the loader names (``domains.a.example.mode``; a top-level key also by its full
    name, ``mta-sts:domains``). ``project``: ``Pulumi.yaml``, whose ``value:`` or ``default:``
    level under a key is skipped. Read only when an error is to be placed: a second parse."""
    try:
        if nests_too_deeply(text):
            return {}  # libyaml's composer would crash on it (see parse_yaml)
        with gc_paused():
            root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, RecursionError):
        return {}
    lines: dict[str, int] = {}
    config = _child(root, "config")
    if not isinstance(config, yaml.MappingNode):
        return lines
    pending: list[tuple[str, yaml.Node]] = []
    for key_node, value_node in config.value:
        name = str(key_node.value)
        namespace, colon, bare = name.rpartition(":")
        lines.setdefault(name, key_node.start_mark.line + 1)
        if colon and namespace != NAMESPACE:
            continue
        lines.setdefault(bare, key_node.start_mark.line + 1)
        if project and isinstance(value_node, yaml.MappingNode):
            value_node = _child(value_node, "value") or _child(value_node, "default") or value_node
        pending.append((bare, value_node))
    while pending:
        prefix, node = pending.pop()
        if not isinstance(node, yaml.MappingNode):
            continue
        for key_node, value_node in node.value:
            dotted = f"{prefix}.{key_node.value}"
            lines.setdefault(dotted, key_node.start_mark.line + 1)
            pending.append((dotted, value_node))
    return lines


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if getattr(k, "value", None) == key), None)


def place(exc: ConfigError, project_dir: Path, stack: str) -> None:
    """Set ``where`` (``Pulumi.<stack>.yaml:<line>``) on each error ``exc`` stands for: the line
    of its key, or of the nearest enclosing key the file has (a domain's line for a value it
    inherits); the stack file first, then ``Pulumi.yaml``."""
    files = []
    for name, project in ((f"Pulumi.{stack}.yaml", False), ("Pulumi.yaml", True)):
        try:
            files.append((name, key_lines((project_dir / name).read_text(encoding="utf-8"), project=project)))
        except (OSError, UnicodeDecodeError, ValueError):
            continue
    for error in every(exc):
        if error.where is not None:
            continue
        key = error.key
        while key and error.where is None:
            for name, lines in files:
                if key in lines:
                    error.where = f"{name}:{lines[key]}"
                    break
            key = key.rpartition(".")[0]
    exc.where = every(exc)[0].where
