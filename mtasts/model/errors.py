"""The loader's one error type: a stack config breaks a rule, named by its dotted key."""

from __future__ import annotations


class ConfigError(ValueError):
    """A stack config breaks a rule; ``key`` is the dotted path to the value (or the file)."""

    def __init__(self, key: str, rule: str) -> None:
        super().__init__(f"{key}: {rule}")
        self.key = key
        self.rule = rule
