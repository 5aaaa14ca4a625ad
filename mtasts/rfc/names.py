"""Host name syntax shared by policies, records and config.

RFC 8461 §3.2 takes the ``Domain`` production of RFC 5321 §4.1.2 for ``mx``
patterns: LDH labels (a letter or digit at each end, hyphens inside), at most
63 octets a label, A-labels only. An address literal is never a host name.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
MAX_NAME_LENGTH = 253
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_IDNA2008_CATEGORIES = frozenset({"Ll", "Lo", "Lm", "Mn", "Mc", "Nd"})


def _a_label_hint(name: str) -> str:
    """``: <A-label form>`` of a U-label name (IDNA 2003, the standard library's codec), or
    ``, xn--…`` when the codec refuses it; the operator still checks it against IDNA 2008."""
    try:
        return f": {name.encode('idna').decode('ascii')}"
    except UnicodeError:
        return ", xn--…"


def hostname_problem(name: str, *, min_labels: int = 1) -> str | None:
    """Say why ``name`` is not an RFC 5321 ``Domain``, or return None if it is."""
    if not name:
        return "is empty"
    if not name.isascii():
        return f"must be ASCII (write internationalized names as A-labels{_a_label_hint(name)})"
    if name.endswith("."):
        return "must not end with a dot"
    if len(name) > MAX_NAME_LENGTH:
        return f"is longer than {MAX_NAME_LENGTH} characters"
    if ":" in name or not name.strip("0123456789."):  # only these can be addresses
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
        if label[:4].lower() == "xn--":
            problem = a_label_problem(label)
            if problem:
                return f"label {label!r} {problem}"
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


def a_label_problem(label: str) -> str | None:
    """Say why an ``xn--`` label is not an A-label (RFC 5890 §2.3.2.1), or return None.

    It must decode (Punycode) to non-ASCII text that encodes back to the same label. Labels the
    stdlib ``idna`` codec (IDNA 2003) accepts pass; so do IDNA 2008 labels it maps away (such
    as ``xn--zca``, "ß") when every character is a letter, mark or digit in NFC.
    """
    try:
        label.encode("ascii").decode("idna")
    except UnicodeError:
        pass
    else:
        return None
    encoded = label[4:].lower()
    try:
        text = encoded.encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return "is not a valid A-label: its Punycode does not decode"
    if text.isascii() or text.encode("punycode").decode("ascii") != encoded:
        return "is not a valid A-label: it does not round-trip through Punycode"
    if unicodedata.normalize("NFC", text) != text or not all(
        c == "-" or unicodedata.category(c) in _IDNA2008_CATEGORIES for c in text
    ):
        return f"is not a valid A-label: it decodes to {text!r}, which is not a valid U-label"
    return None


def normalize_name(name: str) -> str:
    """Lower-case a name (ASCII letters only) and drop one trailing dot, as DNS compares names.

    Only ASCII letters fold (RFC 4343): the Kelvin sign U+212A stays as it is, and the
    ASCII check then rejects it, instead of becoming ``k``.
    """
    name = name.translate(_ASCII_LOWER)
    return name[:-1] if name.endswith(".") else name
