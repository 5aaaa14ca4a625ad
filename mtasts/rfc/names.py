"""Host name syntax shared by policies, records and config.

RFC 8461 §3.2 takes the ``Domain`` production of RFC 5321 §4.1.2 for ``mx``
patterns: LDH labels (a letter or digit at each end, hyphens inside), at most
63 octets a label, A-labels only. An address literal is never a host name.
"""

from __future__ import annotations

import ipaddress
import re

_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
MAX_NAME_LENGTH = 253


def hostname_problem(name: str, *, min_labels: int = 1) -> str | None:
    """Say why ``name`` is not an RFC 5321 ``Domain``, or return None if it is."""
    if not name:
        return "is empty"
    if not name.isascii():
        return "must be ASCII (write internationalized names as A-labels, xn--…)"
    if name.endswith("."):
        return "must not end with a dot"
    if len(name) > MAX_NAME_LENGTH:
        return f"is longer than {MAX_NAME_LENGTH} characters"
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        return "is an IP address, not a host name"
    labels = name.split(".")
    for label in labels:
        if not label:
            return "has an empty label"
        if not _LABEL.match(label):
            return (
                f"label {label!r} must be letters, digits and inner hyphens, "
                "1 to 63 characters"
            )
    if labels[-1].isdigit():
        return "has an all-numeric top-level label"
    if len(labels) < min_labels:
        return f"needs at least {min_labels} labels"
    return None


def mx_pattern_problem(pattern: str, *, min_labels: int = 1) -> str | None:
    """Say why ``pattern`` is not ``["*."] Domain`` (RFC 8461 §3.2), or None."""
    if pattern.startswith("*."):
        problem = hostname_problem(pattern[2:], min_labels=min_labels)
        return None if problem is None else f"wildcard base {problem}"
    if "*" in pattern:
        return "a wildcard must be the whole left-most label, as in *.example.com"
    return hostname_problem(pattern, min_labels=min_labels)


def normalize_name(name: str) -> str:
    """Lower-case a name and drop one trailing dot, as DNS compares names."""
    name = name.lower()
    return name[:-1] if name.endswith(".") else name
