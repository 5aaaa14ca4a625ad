"""The MTA-STS policy file (RFC 8461 §3.2) and its id.

``Policy.render()`` gives the exact bytes a policy host serves, with CRLF line
ends; ``policy_id`` hashes those bytes, so the id changes whenever, and only
when, what senders download changes. ``parse_policy`` follows the ABNF of
§3.2 to the letter, as a strict sender would.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass, field

from mtasts.rfc.names import mx_pattern_problem

VERSION = "STSv1"


class Mode(enum.StrEnum):
    """The policy modes of RFC 8461 §5, in the order its ABNF lists them."""

    ENFORCE = "enforce"
    TESTING = "testing"
    NONE = "none"


MODES = tuple(m.value for m in Mode)
"""The policy modes of RFC 8461 §5, as its ABNF lists them; the stack file takes the same."""
MAX_AGE_LIMIT = 31_557_600
"""The largest ``max_age`` RFC 8461 §3.2 allows: one year, in seconds."""

ONE_DAY = 86_400
"""Seconds in a day: an ``enforce`` policy cached for less gives a downgrade attacker little wait."""

MAX_POLICY_BYTES = 64 * 1024
"""Largest policy senders fetch (RFC 8461 §3.3 lets them cap it; 64 KiB is what they use).

The loader refuses a stack whose policy would be larger, and ``verify`` stops reading there.
"""

POLICY_PATH = "/.well-known/mta-sts.txt"
"""Where a policy host serves the policy (RFC 8461 §3.2)."""

POLICY_HOST_LABEL = "mta-sts"
"""The label before a mail domain that names its policy host (RFC 8461 §3.3)."""

ID_LENGTH = 32
"""Characters of the SHA-256 hex digest kept as the policy id (§3.1: at most 32)."""

_EXT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")
_FIELD = re.compile(r"(?P<name>[^:]*):[ \t]*(?P<value>.*)\Z", re.DOTALL)
_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_MAX_AGE = re.compile(r"[0-9]{1,10}\Z")
_WSP = " \t"


class PolicyError(ValueError):
    """A policy text breaks a rule of RFC 8461 §3.2; the message names it."""


@dataclass(frozen=True)
class Policy:
    """One MTA-STS policy: what a policy host serves for a domain."""

    mode: Mode
    """``enforce``, ``testing`` or ``none``; a string given here is made the member (or refused)."""
    max_age: int
    """Seconds a sender may cache the policy, 0..31557600."""
    mx: tuple[str, ...] = ()
    """MX host patterns, each a host name or ``*.`` and a host name."""
    extensions: tuple[tuple[str, str], ...] = field(default=())
    """Unknown fields, kept in order as (name, value) pairs."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", Mode(self.mode))

    def render(self) -> str:
        """The policy text, one field a line, each line ending in CRLF."""
        lines = [f"version: {VERSION}", f"mode: {self.mode}"]
        lines += [f"mx: {pattern}" for pattern in self.mx]
        lines.append(f"max_age: {self.max_age}")
        lines += [f"{name}: {value}" for name, value in self.extensions]
        return "".join(line + "\r\n" for line in lines)

    @property
    def text(self) -> str:
        """Same as ``render()``."""
        return self.render()

    @property
    def id(self) -> str:
        """The id of the rendered text (see ``policy_id``)."""
        return policy_id(self.render())


def policy_host(domain: str) -> str:
    """The host that serves ``domain``'s policy: ``mta-sts.<domain>`` (RFC 8461 §3.3)."""
    return f"{POLICY_HOST_LABEL}.{domain}"


def policy_id(text: str | bytes) -> str:
    """The policy id for the exact served bytes ``text``.

    The first 32 hex digits of SHA-256: ASCII letters and digits only, as
    RFC 8461 §3.1 requires, and a function of the bytes and nothing else.
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:ID_LENGTH]


def short_max_age_problem(mode: Mode, max_age: int) -> str | None:
    """The one rule "enforce with max_age under a day": why it is risky, or None.

    A short max_age makes senders refetch often: an outage of the policy host (or an attacker
    blocking it) drops protection once the cached policy expires (RFC 8461 §3.2 suggests weeks).
    The loader, ``verify`` and the policy pack all word it with this.
    """
    if mode is not Mode.ENFORCE or max_age >= ONE_DAY:
        return None
    return (
        f"enforce with max_age {max_age} s (under one day): senders refetch often, and an outage "
        "of the policy host, or an attacker blocking it, drops protection once the cached policy "
        "expires (RFC 8461 §3.2 suggests weeks)"
    )


def _lines(text: str) -> list[str]:
    """Split on CRLF or LF, allowing one final terminator (§3.2 ``term-delim``)."""
    if not text:
        raise PolicyError("policy is empty (RFC 8461 §3.2)")
    if text.endswith("\n"):
        text = text[:-1]
        if text.endswith("\r"):
            text = text[:-1]
    lines = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.endswith("\r"):
            line = line[:-1]
        if "\r" in line:
            raise PolicyError(
                f"line {number}: a bare CR is not a line end; lines end in CRLF or LF "
                "(RFC 8461 §3.2)"
            )
        lines.append(line)
    return lines


def parse_policy(text: str | bytes) -> Policy:
    """Parse a policy text strictly per RFC 8461 §3.2.

    Fields may come in any order, separated by CRLF or LF. ``version``,
    ``mode`` and ``max_age`` are required, ``mx`` too unless the mode is
    ``none``. Field names are case-sensitive. For a repeated field other than
    ``mx`` the first occurrence wins. Unknown fields are kept as extensions.
    Raises ``PolicyError`` naming the rule broken.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyError(f"policy is not UTF-8 (RFC 8461 §3.2): {exc.reason}") from None
    seen: dict[str, str] = {}
    mx: list[str] = []
    extensions: list[tuple[str, str]] = []
    for number, raw in enumerate(_lines(text), start=1):
        where = f"line {number}"
        line = raw.rstrip(_WSP)
        if not line:
            raise PolicyError(f"{where}: blank lines are not allowed (RFC 8461 §3.2)")
        if line[0] in _WSP:
            raise PolicyError(f"{where}: a field must start at the beginning of its line (RFC 8461 §3.2)")
        match = _FIELD.match(line)
        if match is None:
            raise PolicyError(f"{where}: expected 'name: value' (RFC 8461 §3.2)")
        name, value = match["name"], match["value"]
        if not _EXT_NAME.match(name):
            raise PolicyError(
                f"{where}: field name {name!r} must be a letter or digit followed by up to 31 "
                "letters, digits, '_', '-' or '.' (RFC 8461 §3.2)"
            )
        if not value:
            raise PolicyError(f"{where}: field {name!r} has no value (RFC 8461 §3.2)")
        if _CTL.search(value):
            raise PolicyError(f"{where}: field {name!r} holds a control character (RFC 8461 §3.2)")
        if name == "mx":
            problem = mx_pattern_problem(value)
            if problem:
                raise PolicyError(f"{where}: mx {value!r} {problem} (RFC 8461 §3.2, §4.1)")
            mx.append(value)
            continue
        if name in seen:
            continue  # the first occurrence of a repeated field wins
        seen[name] = value
        if name == "version":
            if value != VERSION:
                raise PolicyError(f"{where}: version must be {VERSION}, got {value!r} (RFC 8461 §3.2)")
        elif name == "mode":
            if value not in MODES:
                raise PolicyError(
                    f"{where}: mode must be {', '.join(MODES[:-1])} or {MODES[-1]}, got {value!r} "
                    "(RFC 8461 §3.2)"
                )
        elif name == "max_age":
            if not _MAX_AGE.match(value) or int(value) > MAX_AGE_LIMIT:
                raise PolicyError(
                    f"{where}: max_age must be 1 to 10 digits with a value of 0..{MAX_AGE_LIMIT}, "
                    f"got {value!r} (RFC 8461 §3.2)"
                )
        else:
            extensions.append((name, value))
    for required in ("version", "mode", "max_age"):
        if required not in seen:
            raise PolicyError(f"field {required!r} is required (RFC 8461 §3.2)")
    mode = Mode(seen["mode"])
    if not mx and mode is not Mode.NONE:
        raise PolicyError(f"mode {mode} needs at least one mx field (RFC 8461 §3.2)")
    return Policy(
        mode=mode,
        max_age=int(seen["max_age"]),
        mx=tuple(mx),
        extensions=tuple(extensions),
    )
