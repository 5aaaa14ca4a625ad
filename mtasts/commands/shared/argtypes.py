"""The argument types every command's flags go through.

Every numeric flag and every DOMAIN goes through one of these, so nan, inf, negatives, zero,
out-of-range ports and names that are no domain are usage errors (one ``error:`` line, exit 2)
before anything runs.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import urllib.parse
from pathlib import Path

from mtasts.rfc.names import hostname_problem, normalize_name

MAX_SECONDS = 3600.0
"""Longest per-step time limit accepted: an hour is already a hang."""
MAX_COUNT = 100_000
"""Largest concurrency accepted (the open-file limit bounds sockets further, see mtasts.probes)."""


def seconds(text: str) -> float:
    """A time limit: a finite number of seconds above 0, at most ``MAX_SECONDS``."""
    try:
        value = float(text) if text.isascii() else float("nan")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{_shown(text)}: must be a finite number of seconds above 0")
    if value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{_shown(text)}: must be at most {MAX_SECONDS:g} seconds")
    return value


def _shown(text: str) -> str:
    """``text`` quoted for an error line, cut when long (a flag of 5,000 digits is one short line)."""
    return repr(text) if len(text) <= 40 else repr(text[:20] + "…") + f" ({len(text)} characters)"


def _whole(text: str, low: int, high: int, what: str) -> int:
    """A whole number from ``low`` to ``high`` in ASCII digits (``²`` and ``٣`` are no flag values)."""
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()) or len(digits.lstrip("0")) > len(str(high)):
        raise argparse.ArgumentTypeError(f"{_shown(text)}: must be {what} from {low} to {high}")
    if not low <= int(digits) <= high:
        raise argparse.ArgumentTypeError(f"{_shown(text)}: must be {what} from {low} to {high}")
    return int(digits)


def rounds(text: str) -> int:
    """Good looks in a row: a whole number from 1 to 100."""
    return _whole(text, 1, 100, "a whole number")


def span_seconds(text: str) -> float:
    """A span of time: a finite number of seconds, 0 or more, at most ``MAX_SECONDS``."""
    if text.strip() in ("0", "0.0"):
        return 0.0
    return seconds(text)


def domain(text: str) -> str:
    """A mail domain named on the command line, compared as the loader compares stack names."""
    name = normalize_name(text.strip())
    problem = hostname_problem(name, min_labels=2)
    if problem:
        raise argparse.ArgumentTypeError(f"{text!r} {problem}")
    return name


def port(text: str) -> int:
    """A TCP/UDP port, 1 to 65535."""
    return _whole(text, 1, 65535, "a port number")


def count(text: str) -> int:
    """A positive whole number, at most ``MAX_COUNT``."""
    return _whole(text, 1, MAX_COUNT, "a whole number")


def nameserver(value: str) -> tuple[str, int]:
    """``ADDRESS[:PORT]`` (an IPv6 address as ``[ADDRESS]:PORT``) to (address, port)."""
    host, number = value, "53"
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise argparse.ArgumentTypeError(f"{value!r}: expected [ADDRESS]:PORT")
            number = rest[1:]
    elif value.count(":") == 1:
        host, _, number = value.partition(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{_shown(value)}: expected an IP address, optionally with :PORT"
        ) from None
    try:
        return host, port(number)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{_shown(value)}: the port must be from 1 to 65535") from None


def url(text: str) -> str:
    """An ``http://`` or ``https://`` URL with a host: a bare host name is a usage error."""
    parsed = urllib.parse.urlsplit(text)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a URL with its scheme, e.g. https://{text}")
    return text


def existing_dir(text: str) -> Path:
    """A directory that exists (relative to the working directory, as the shell gave it)."""
    path = Path(text).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: no such directory")
    return path.resolve()


def days(text: str) -> float:
    """A number of days: finite, 0 to 3650."""
    try:
        value = float(text) if text.isascii() else float("nan")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a number of days") from None
    if not math.isfinite(value) or not 0 <= value <= 3650:
        raise argparse.ArgumentTypeError(f"{_shown(text)}: must be a finite number of days from 0 to 3650")
    return value


def existing_file(text: str) -> str:
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"{text!r}: no such file")
    return text


def account_id(text: str) -> str:
    """A Cloudflare account id: 32 lower-case hex digits, as ``mta-sts:cloudflareAccountId``."""
    if len(text) != 32 or any(c not in "0123456789abcdef" for c in text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: must be 32 lower-case hex digits (the Cloudflare account id)"
        )
    return text
