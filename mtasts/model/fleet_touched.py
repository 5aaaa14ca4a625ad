"""Which stacks of a project a change touches, for CI matrices: ``mtasts fleet touched``.

A stack whose file changed, or every stack when a path that reaches them all changed (the
project's defaults, the program, the policy pack, their pins) or the declaration's shared part.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from typing import Any

from mtasts.model.fleet_files import ZONE_KEYS

SHARED_PATHS = (
    "Pulumi.yaml",
    "__main__.py",
    "components/*",
    "mtasts/*",
    "policies/*",
    "requirements*",
    "pyproject.toml",
)
"""Paths (relative to the project, ``fnmatch`` patterns) whose change reaches every stack: the
project's defaults, the program, the policy pack and the pins they run with."""


def shared_part(document: Mapping[str, Any]) -> dict[str, Any]:
    """What of a declaration reaches every stack: all but the domains and the per-zone maps."""
    shared = {k: v for k, v in document.items() if k != "domains"}
    config = shared.get("config")
    if isinstance(config, Mapping):
        shared["config"] = {k: v for k, v in config.items() if str(k).rpartition(":")[2] not in ZONE_KEYS}
    return shared


def is_shared_path(path: str) -> bool:
    """Whether a changed file (relative to the project) reaches every stack."""
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in SHARED_PATHS)


def stack_of(path: str) -> str | None:
    """The stack a project-relative path is the file of (``Pulumi.<stack>.yaml``), else None."""
    # Pulumi's stack names: letters, digits, '-', '_' and '.'; anything else is no stack of ours.
    found = re.fullmatch(r"Pulumi\.([A-Za-z0-9_.-]+)\.yaml", path)
    return found[1] if found else None


def touched(changed: Iterable[str], stacks: Iterable[str], shared_changed: bool = False) -> list[str]:
    """The stacks (of ``stacks``, those there are now) a change to the ``changed`` paths touches:
    every one when a shared path or the declaration's shared part changed, else those whose
    stack file changed."""
    present = sorted(set(stacks))
    paths = list(changed)
    if shared_changed or any(is_shared_path(p) for p in paths):
        return present
    files = {stack_of(p) for p in paths}
    return [s for s in present if s in files]
