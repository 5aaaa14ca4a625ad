"""MX host matching (RFC 8461 §4.1)."""

from __future__ import annotations

from mtasts.rfc.names import normalize_name


def mx_matches(pattern: str, host: str) -> bool:
    """Whether the policy ``mx`` pattern covers the MX host name ``host``.

    Comparison ignores case and a trailing dot on either side. A pattern
    ``*.example.com`` covers exactly one extra left-most label: it matches
    ``mx.example.com`` but neither ``example.com`` nor ``a.b.example.com``.
    """
    pattern = normalize_name(pattern)
    host = normalize_name(host)
    if not pattern or not host:
        return False
    if pattern.startswith("*."):
        first, dot, rest = host.partition(".")
        return bool(first) and bool(dot) and rest == pattern[2:]
    return "*" not in pattern and pattern == host


def uncovered(patterns: tuple[str, ...] | list[str], hosts: list[str]) -> list[str]:
    """The hosts that no pattern covers, in the order given."""
    return [h for h in hosts if not any(mx_matches(p, h) for p in patterns)]
