"""The loader's one error type: a stack config breaks a rule, named by its dotted key."""

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
