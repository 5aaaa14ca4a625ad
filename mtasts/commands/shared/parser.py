"""The parser's own parts: the help format, the one-line usage error, the version, the nearest
command for a mistyped one. Split from ``mtasts.commands.cli`` so that stays the commands alone."""

from __future__ import annotations

import argparse
import difflib
from importlib import metadata
from typing import NoReturn


class Help(argparse.HelpFormatter):
    """Each option's help ends with its default, unless it has none or already names it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            not action.option_strings
            or "default" in text
            or action.default in (None, False, argparse.SUPPRESS)
        ):
            return text
        return f"{text} (default: {action.default})"


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is the project's one line: ``error: <key>: <rule>``, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message.removeprefix('argument ')}\n")


def version() -> str:
    try:
        return metadata.version("mta-sts")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def command_problem(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """A mistyped command, named with the nearest one ("did you mean"), before argparse says less."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    rest = list(argv)
    while rest:
        word = rest.pop(0)
        if word == "--project-dir":
            rest = rest[1:]
        elif not word.startswith("-"):
            if word in commands:
                return None
            near = difflib.get_close_matches(word, list(commands), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; commands: {', '.join(commands)}"
            return f"{word!r} is not a command{hint}"
    return None
