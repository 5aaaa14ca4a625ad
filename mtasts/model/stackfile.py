"""Reading stack files: ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` to one plain config mapping.

YAML in, plain values out; the rules live in ``mtasts.model.loader`` and ``validators``. Every
way a file can be unreadable is a ``ConfigError`` naming the file: not UTF-8, not YAML, a
duplicate key at any level, nesting deeper than ``MAX_DEPTH``, an integer of more than
``MAX_INT_DIGITS`` digits, a document or ``config:`` that is not a mapping.

PyYAML's C loader (``CSafeLoader``, libyaml) is used when installed, else the pure-Python one;
both share ``StrictConstructor``, so the checks are the same.
"""

from __future__ import annotations

import contextlib
import difflib
import gc
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, ScalarNode
from yaml.resolver import Resolver

from mtasts.model.errors import ConfigError
from mtasts.model.receiver import SECRET_KEYS

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


MAX_DEPTH = 64
"""Deepest nesting of mappings and lists a stack file may have (a real one has 5)."""
MAX_INT_DIGITS = 100
"""Longest integer a stack file may hold; Python refuses to read past 4,300 digits anyway."""

_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")


class Yaml11Int(int):
    """An integer YAML 1.1 read from a form other than plain decimal: ``010`` (octal 8),
    ``0x10``, ``0b1010``, ``1_000``, ``1:00:00`` (sexagesimal 3600).

    YAML 1.2 reads ``010`` as 10 and ``1:00:00`` as a string, so such a number may mean
    different things to ``plan`` and to another reader of the same file (Pulumi's among them).
    ``text`` is the scalar as written, for the error message.
    """

    text: str

    def __new__(cls, value: int, text: str = "") -> Yaml11Int:
        number = super().__new__(cls, value)
        number.text = text or str(value)
        return number

    def __reduce__(self) -> tuple[type[Yaml11Int], tuple[int, str]]:
        return (Yaml11Int, (int(self), self.text))


class StrictConstructor(SafeConstructor):
    """``SafeConstructor`` that refuses duplicate keys and overlong integers."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            first_line: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in first_line
                except TypeError:
                    continue  # an unhashable key: the base class names it
                if duplicate:
                    raise ConstructorError(
                        None,
                        None,
                        f"duplicate key {_short(key)} (first at line {first_line[key] + 1}); "
                        "YAML would keep only the last",
                        key_node.start_mark,
                    )
                first_line[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        digits = sum(c.isdigit() for c in text)
        if digits > MAX_INT_DIGITS:
            raise ConstructorError(None, None, f"an integer of {digits} digits is too long", node.start_mark)
        value = super().construct_yaml_int(node)
        return value if _DECIMAL.fullmatch(text) else Yaml11Int(value, text)


StrictConstructor.add_constructor(  # type: ignore[type-var]
    "tag:yaml.org,2002:int", StrictConstructor.construct_yaml_int
)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


class _PyLoader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    StrictConstructor,
    Resolver,
):
    """The pure-Python loader with ``StrictConstructor``."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        StrictConstructor.__init__(self)
        Resolver.__init__(self)


_CParser: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None)
if _CParser is not None:

    class _CLoader(_CParser, StrictConstructor, Resolver):  # type: ignore[misc]
        """libyaml's parser and composer with ``StrictConstructor``: PyYAML's ``CSafeLoader``, stricter."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            StrictConstructor.__init__(self)
            Resolver.__init__(self)

    LOADER: type = _CLoader
else:  # pragma: no cover - PyYAML built without libyaml
    LOADER = _PyLoader


_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def nests_too_deeply(text: str) -> bool:
    """Whether ``text`` nests more than ``MAX_DEPTH`` levels: the cheap bound first, the parser's
    events only when the bound cannot rule it out. libyaml's composer must never see such text."""
    bound = nesting_bound(text)
    return (bound is None or bound > MAX_DEPTH) and _too_deep(text)


def _too_deep(text: str) -> bool:
    """Whether ``text`` nests mappings and lists more than ``MAX_DEPTH`` levels deep, from the
    parser's events (no recursion); it stops at the first event over the limit, so a hostile file
    costs the events up to there, not all of them."""
    depth = 0
    for event in yaml.parse(text, Loader=LOADER):
        if isinstance(event, _OPEN):
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif isinstance(event, _CLOSE):
            depth -= 1
    return False


_QUOTED = re.compile(r"'[^']*'|\"[^\"\\\\]*\"")
_COMMENT = re.compile(r"(?:^|\s)#.*")
_FLOW = re.compile(r"[\[\]{}]")


def nesting_bound(text: str) -> int | None:
    """A cheap upper bound on how deep ``text`` nests, or None when a line defeats it.

    A block level needs one more column of indent (or a ``- ``/``? `` indicator) than its
    parent, give or take one level; flow levels are counted per line, and a line whose
    brackets do not balance (a flow collection over several lines, a bracket in a plain
    scalar, a quote left open) gives None, as does a line nesting more than ``MAX_DEPTH`` flow
    levels: the bound could not rule that out anyway, so the scan stops there.
    """
    prefix = flow = 0
    for line in text.splitlines():
        prefix = max(prefix, len(line) - len(line.lstrip(" \t-?")))
        if "[" not in line and "{" not in line and "]" not in line and "}" not in line:
            continue
        if "'" in line or '"' in line:
            line = _QUOTED.sub("", line)
            if "'" in line or '"' in line:
                return None
        depth = deepest = 0
        for bracket in _FLOW.finditer(_COMMENT.sub("", line)):
            depth += 1 if bracket[0] in "[{" else -1
            if depth < 0 or depth > MAX_DEPTH:
                return None
            deepest = max(deepest, depth)
        if depth:
            return None
        flow = max(flow, deepest)
    return flow + 2 * (prefix + 1)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building a large acyclic structure.

    Loading a stack allocates millions of containers and frees none: each full collection
    would scan them all again, which makes 50,000 domains cost far more than 5 x 10,000.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse_yaml(text: str, name: str) -> Any:
    """``text`` as YAML, strictly; ``ConfigError(name, …)`` for anything it cannot be.

    libyaml's composer recurses in C and crashes the process on very deep nesting (about
    50,000 levels), so the depth is measured from the event stream first whenever
    ``nesting_bound`` cannot rule it out.
    """
    try:
        if nests_too_deeply(text):
            raise ConfigError(name, f"nests mappings and lists more than {MAX_DEPTH} levels deep")
        with gc_paused():
            return yaml.load(text, Loader=LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "syntax error"
        raise ConfigError(name, f"is not valid YAML{where}: {problem}") from None
    except yaml.reader.ReaderError as exc:
        char = exc.character
        code = char if isinstance(char, int) else ord(char[:1] or "\0")
        raise ConfigError(
            name, f"is not valid YAML: character U+{code:04X} at offset {exc.position} is not allowed"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(name, f"is not valid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise ConfigError(name, f"nests mappings and lists more than {MAX_DEPTH} levels deep") from None
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - PyYAML's constructors fail many ways on explicit tags
        # A scalar the resolver matched, or an explicit tag, that cannot be built:
        # 2001-13-45, !!int abc, !!timestamp mx.example.com.
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise ConfigError(name, f"has a value YAML cannot read: {reason}") from None


def read_yaml(path: Path, *, missing_ok: bool = False) -> dict[str, Any]:
    """A YAML file that must hold a mapping (or nothing); ``ConfigError`` naming the file otherwise."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise ConfigError(path.name, "no such file") from None
    except OSError as exc:  # a directory, no permission, a symbolic link loop
        raise ConfigError(path.name, f"cannot be read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            path.name, f"is not UTF-8: byte 0x{data[exc.start]:02x} at line {line}; save it as UTF-8"
        ) from None
    document = parse_yaml(text, path.name)
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(path.name, f"must be a YAML mapping (config: …), not {_kind(document)}")
    return document


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__} value" if value is not None else "empty"


def config_section(document: Mapping[str, Any], name: str) -> Mapping[Any, Any]:
    """A file's ``config:`` mapping (empty when absent)."""
    section = document.get("config")
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise ConfigError(name, f"config must be a mapping of keys to values, not {_kind(section)}")
    return section


def project_keys(values: Mapping[str, Any]) -> dict[str, Any]:
    """Of ``config_values``'s result, what the loader reads: the project's keys (bare) and
    ``github:owner``; other providers' keys left out."""
    return {k: v for k, v in values.items() if ":" not in k or k == "github:owner"}


def project_defaults(project_dir: Path) -> dict[str, Any]:
    """The config values ``Pulumi.yaml`` declares as defaults, by bare key."""
    project = read_yaml(project_dir / "Pulumi.yaml", missing_ok=True)
    values: dict[str, Any] = {}
    for name, spec in config_section(project, "Pulumi.yaml").items():
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


def _is_secret(value: Any) -> bool:
    """A Pulumi secret as a stack file holds it: a mapping of ``secure`` alone. A mapping with
    ``secure`` among other keys is a setting, checked (and refused) key by key like any other."""
    return isinstance(value, Mapping) and list(value) == ["secure"]


def near_miss_namespace(namespace: str) -> bool:
    """Whether a config namespace is a misspelling of ``mta-sts`` (``mtasts``, ``mta_sts``,
    ``MTA-STS``): such keys are an error, not another provider's config silently ignored."""
    if namespace == NAMESPACE:
        return False
    letters = "".join(c for c in namespace.lower() if c.isalnum())
    return letters == "mtasts" or difflib.SequenceMatcher(None, namespace.lower(), NAMESPACE).ratio() >= 0.8


def near_miss_error(name: str) -> ConfigError:
    namespace, _, bare = name.rpartition(":")
    return ConfigError(name, f"unknown namespace {namespace!r}; did you mean '{NAMESPACE}:{bare}'?")


def stack_config(project_dir: Path, stack: str) -> dict[str, Any]:
    """The plain config of ``Pulumi.<stack>.yaml``, over ``Pulumi.yaml``'s defaults."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    try:
        missing = not path.exists() and not path.is_symlink()
    except (OSError, ValueError) as exc:  # a name too long, or a NUL in it
        raise ConfigError(path.name, f"cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    if missing:
        raise ConfigError(path.name, "no such stack file")
    defaults = project_defaults(project_dir)  # Pulumi.yaml's errors first, as pulumi reads it first
    return config_values(config_section(read_yaml(path), path.name), path.name, defaults)


def config_values(section: Mapping[Any, Any], file_name: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """A stack file's ``config:`` mapping over ``defaults``: project keys bare, other namespaces'
    keys as written, secrets of other namespaces dropped; a near-miss namespace, a secret setting
    and a key given twice (namespaced and bare) are errors. ``file_name`` names the file in them."""
    values: dict[str, Any] = dict(defaults)
    given: dict[str, str] = {}
    for name, value in section.items():
        namespace, colon, bare = str(name).rpartition(":")
        if _is_secret(value):
            if colon and namespace != NAMESPACE or bare in SECRET_KEYS:
                continue  # secrets are not needed offline
            # Dropped, a secret setting would leave plan showing the defaults instead of it.
            raise ConfigError(
                bare,
                f"is a secret (secure:) in {file_name}, which cannot be read offline; only "
                f"{', '.join(SECRET_KEYS)} may be secrets: set it in plain text",
            )
        if colon and near_miss_namespace(namespace):
            raise near_miss_error(str(name))
        if colon and namespace != NAMESPACE:
            values[name] = value
            continue
        if bare in given:
            raise ConfigError(bare, f"is given twice in {file_name}, as {given[bare]!r} and {str(name)!r}")
        given[bare] = str(name)
        values[bare] = value
    return values
