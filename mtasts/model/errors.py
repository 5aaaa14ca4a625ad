"""The loader's error type: a stack config breaks a rule, named by its dotted key.

One load reports every rule broken (``Collector`` gathers them, ``ConfigErrors`` carries them),
each placed at its file and line where the YAML gives one (``where``).
"""

from __future__ import annotations

import re

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with control characters and line separators escaped, so it prints as one line."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class ConfigError(ValueError):
    """A stack config breaks a rule; ``key`` is the dotted path to the value (or the file).

    ``str()`` is ``key: rule`` on one line, whatever characters the key holds.
    """

    def __init__(self, key: str, rule: str) -> None:
        super().__init__(one_line(f"{key}: {rule}"))
        self.key = key
        self.rule = rule
        self.where: str | None = None
        """``<file>:<line>`` of the value in the stack file, when the loader could place it."""

    def line(self) -> str:
        """``<key>: <rule> (<file>:<line>)``, or ``<key>: <rule>`` when unplaced: one line."""
        return f"{self} ({self.where})" if self.where else str(self)


class ConfigErrors(ConfigError):
    """Every rule a stack config breaks, in file order, from one run of the loader.

    Behaves as its first error (``key``, ``rule``, ``str()``), so callers that report one error
    keep working; ``errors`` holds them all.
    """

    def __init__(self, errors: tuple[ConfigError, ...]) -> None:
        first = errors[0]
        super().__init__(first.key, first.rule)
        self.errors = errors
        self.where = first.where


def every(exc: ConfigError) -> tuple[ConfigError, ...]:
    """The errors ``exc`` stands for: its ``errors`` for a ``ConfigErrors``, else itself."""
    return exc.errors if isinstance(exc, ConfigErrors) else (exc,)


def error_lines(exc: ConfigError) -> list[str]:
    """Each error ``exc`` stands for as ``error: <key>: <rule> [(<file>:<line>)]``, then, for
    several, a count: what the CLI prints."""
    found = every(exc)
    out = [f"error: {error.line()}" for error in found]
    if len(found) > 1:
        out.append(f"{len(found)} errors")
    return out


class Collector:
    """Gathers the ``ConfigError``s of one load, each distinct (key, rule) once.

    An invalid ``defaults`` value fails every domain that inherits it with the same
    ``defaults.<setting>`` error: it is reported once, against the key that holds it.
    """

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, exc: ConfigError) -> None:
        for error in every(exc):
            if (error.key, error.rule) not in self._seen:
                self._seen.add((error.key, error.rule))
                self.errors.append(error)

    def raise_any(self) -> None:
        """Raise what was gathered: the one error itself, or a ``ConfigErrors`` of several."""
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise ConfigErrors(tuple(self.errors))
