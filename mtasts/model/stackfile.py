"""Reading stack files: ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` to one plain config mapping.

YAML in, plain values out; the rules live in ``mtasts.model.loader`` and ``validators``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mtasts.model.errors import ConfigError

NAMESPACE = "mta-sts"


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
