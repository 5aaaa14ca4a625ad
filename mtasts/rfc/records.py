"""The ``_mta-sts`` (RFC 8461 §3.1) and ``_smtp._tls`` (RFC 8460 §3) TXT records.

Both are ``v=<version>`` followed by ``;``-separated ``name=value`` fields.
The parsers follow the ABNF exactly. They also take the quoted presentation
form (``"v=STSv1; id=…"``, or several quoted strings) that Cloudflare and zone
files show, since a TXT record's strings are concatenated before parsing.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field

from mtasts.rfc.names import hostname_problem

STS_VERSION = "v=STSv1"
TLSRPT_VERSION = "v=TLSRPTv1"
STS_LABEL = "_mta-sts"
"""The label before a mail domain that holds its ``v=STSv1`` TXT record (RFC 8461 §3.1)."""
TLSRPT_LABEL = "_smtp._tls"
"""The labels before a mail domain that hold its ``v=TLSRPTv1`` TXT record (RFC 8460 §3)."""


def sts_name(domain: str) -> str:
    """``_mta-sts.<domain>``: where ``domain``'s policy id is published."""
    return f"{STS_LABEL}.{domain}"


def tlsrpt_name(domain: str) -> str:
    """``_smtp._tls.<domain>``: where ``domain``'s TLS-RPT record is published."""
    return f"{TLSRPT_LABEL}.{domain}"
TXT_STRING_LIMIT = 255
"""Octets in one TXT character-string (RFC 1035 §3.3)."""

_EXT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")
_EXT_VALUE = re.compile(r"[\x21-\x3a\x3c\x3e-\x7e]+\Z")
_STS_ID = re.compile(r"[A-Za-z0-9]{1,32}\Z")
_SEP = re.compile(r"[ \t]*;[ \t]*")
_URI_DELIM = re.compile(r"[ \t]*,[ \t]*")
# RFC 3986 characters, less the three RFC 8460 §3 wants percent-encoded.
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@$&'()*+=%]+\Z")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$&'*+/=?^_`{|}~.%-]+\Z")


class RecordError(ValueError):
    """A TXT record breaks a rule of RFC 8461 §3.1 or RFC 8460 §3."""


def unquote_txt(text: str) -> str:
    """Join the quoted strings of a TXT presentation form, or return ``text``.

    ``"v=STSv1; " "id=1"`` becomes ``v=STSv1; id=1``; ``\\"`` and ``\\\\``
    escapes are undone. Text that does not start with a quote is returned as
    is, so both the wire form and the quoted form parse the same.
    """
    stripped = text.strip()
    if not stripped.startswith('"'):
        return text
    parts: list[str] = []
    index = 0
    while index < len(stripped):
        if stripped[index] in " \t":
            index += 1
            continue
        if stripped[index] != '"':
            raise RecordError("text between quoted TXT strings must be white space")
        index += 1
        chunk: list[str] = []
        while True:
            if index >= len(stripped):
                raise RecordError("a quoted TXT string is not closed")
            char = stripped[index]
            if char == "\\" and index + 1 < len(stripped):
                chunk.append(stripped[index + 1])
                index += 2
                continue
            index += 1
            if char == '"':
                break
            chunk.append(char)
        parts.append("".join(chunk))
    return "".join(parts)


def quote_txt(value: str) -> str:
    """The quoted presentation form of ``value``, split into 255-octet strings."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    chunks = [escaped[i : i + TXT_STRING_LIMIT] for i in range(0, len(escaped), TXT_STRING_LIMIT)]
    return " ".join(f'"{chunk}"' for chunk in chunks or [""])


def declares(version: str, text: str) -> bool:
    """Whether TXT data ``text`` is a record of ``version`` at all.

    Senders discard the TXT records at ``_mta-sts`` that do not begin ``v=STSv1;`` (RFC 8461
    §3.1) and at ``_smtp._tls`` those that do not begin ``v=TLSRPTv1;`` (RFC 8460 §3), the ABNF
    allowing white space before the ``;``. So ``v=STSv10; …`` is not an STS record, while
    ``v=STSv1; id=!`` is one, and an invalid one.
    """
    return re.match(re.escape(version) + r"[ \t]*;", unquote_txt(text)) is not None


def _fields(text: str, version: str, rfc: str) -> list[tuple[str, str]]:
    """Split ``version *(sep name=value) [sep]`` into (name, value) pairs."""
    if not text.startswith(version):
        raise RecordError(f"record must start with {version!r} ({rfc})")
    rest = text[len(version) :]
    if not rest:
        raise RecordError(f"record has no fields after {version!r} ({rfc})")
    head = _SEP.match(rest)
    if head is None:
        raise RecordError(f"{version!r} must be followed by ';' ({rfc})")
    pieces = _SEP.split(rest[head.end() :])
    if pieces and pieces[-1] == "":
        pieces.pop()  # one trailing separator is allowed
    if not pieces:
        raise RecordError(f"record has no fields after {version!r} ({rfc})")
    pairs = []
    for piece in pieces:
        name, eq, value = piece.partition("=")
        if not eq:
            raise RecordError(f"field {piece!r} must be name=value ({rfc})")
        if not _EXT_NAME.match(name):
            raise RecordError(
                f"field name {name!r} must be a letter or digit followed by up to 31 letters, "
                f"digits, '_', '-' or '.' ({rfc})"
            )
        pairs.append((name, value))
    return pairs


def _extension_value(name: str, value: str, rfc: str) -> str:
    if not _EXT_VALUE.match(value):
        raise RecordError(f"field {name!r} value must be printable ASCII without '=', ';' or spaces ({rfc})")
    return value


@dataclass(frozen=True)
class StsRecord:
    """The ``_mta-sts`` TXT record: a policy id and any extension fields."""

    id: str
    """1 to 32 ASCII letters and digits; changes whenever the policy does."""
    extensions: tuple[tuple[str, str], ...] = field(default=())
    """Other fields, kept in order as (name, value) pairs."""

    def render(self) -> str:
        """The record text, as TXT data (unquoted)."""
        fields = [f"id={self.id}"] + [f"{n}={v}" for n, v in self.extensions]
        return "; ".join([STS_VERSION, *fields])


def parse_sts_record(text: str) -> StsRecord:
    """Parse a ``_mta-sts`` TXT record strictly per RFC 8461 §3.1."""
    rfc = "RFC 8461 §3.1"
    ident: str | None = None
    extensions = []
    for name, value in _fields(unquote_txt(text), STS_VERSION, rfc):
        if name == "id":
            if not _STS_ID.match(value):
                raise RecordError(f"id must be 1 to 32 ASCII letters and digits, got {value!r} ({rfc})")
            if ident is None:
                ident = value  # the first id wins
        else:
            extensions.append((name, _extension_value(name, value, rfc)))
    if ident is None:
        raise RecordError(f"field 'id' is required ({rfc})")
    return StsRecord(id=ident, extensions=tuple(extensions))


def tlsrpt_uri_problem(uri: str) -> str | None:
    """Say why ``uri`` is not a usable TLS-RPT ``rua`` URI, or return None."""
    if not uri:
        return "is empty"
    if not _URI_CHARS.match(uri):
        return "must be a URI with ',', '!', ';' and spaces percent-encoded"
    if _BAD_PERCENT.search(uri):
        return "has a '%' not followed by two hex digits"
    scheme, colon, rest = uri.partition(":")
    if not colon:
        return "must start with mailto: or https:"
    scheme = scheme.lower()
    if scheme == "mailto":
        address = rest.split("?", 1)[0]  # still percent-encoded, as RFC 8460 §3 wants
        local, at, domain = address.rpartition("@")
        if not at or not local or not _LOCAL_PART.match(local) or ".." in local:
            return "must be mailto:<local-part>@<domain>"
        problem = hostname_problem(domain, min_labels=2)
        return None if problem is None else f"mail domain {domain!r} {problem}"
    if scheme == "https":
        if not rest.startswith("//"):
            return "must be https://<host>/…"
        try:
            parsed = urllib.parse.urlsplit(uri)
        except ValueError:  # urllib's "Invalid IPv6 URL"
            return "is not a URI (an unbalanced '[' or ']')"
        if "[" in parsed.netloc or "]" in parsed.netloc:
            return "must name a host, not a bracketed address"
        try:
            host, port = parsed.hostname, parsed.port
        except ValueError:
            return "has an invalid port"
        del port
        if not host or parsed.username is not None:
            return "must name a host and no user"
        problem = hostname_problem(host, min_labels=2)
        return None if problem is None else f"host {host!r} {problem}"
    return f"scheme {scheme!r} is not allowed; use mailto: or https:"


@dataclass(frozen=True)
class TlsRptRecord:
    """The ``_smtp._tls`` TXT record: where senders send TLS reports."""

    rua: tuple[str, ...]
    """``mailto:`` and ``https:`` URIs, in order."""
    extensions: tuple[tuple[str, str], ...] = field(default=())
    """Other fields, kept in order as (name, value) pairs."""

    def render(self) -> str:
        """The record text, as TXT data (unquoted)."""
        fields = ["rua=" + ",".join(self.rua)] + [f"{n}={v}" for n, v in self.extensions]
        return "; ".join([TLSRPT_VERSION, *fields])


def parse_tlsrpt_record(text: str) -> TlsRptRecord:
    """Parse a ``_smtp._tls`` TXT record strictly per RFC 8460 §3."""
    rfc = "RFC 8460 §3"
    rua: tuple[str, ...] | None = None
    extensions = []
    for name, value in _fields(unquote_txt(text), TLSRPT_VERSION, rfc):
        if name == "rua":
            uris = tuple(_URI_DELIM.split(value)) if value else ("",)
            for uri in uris:
                problem = tlsrpt_uri_problem(uri)
                if problem:
                    raise RecordError(f"rua URI {uri!r} {problem} ({rfc})")
            if rua is None:
                rua = uris  # the first rua wins
        else:
            extensions.append((name, _extension_value(name, value, rfc)))
    if rua is None:
        raise RecordError(f"field 'rua' is required ({rfc})")
    return TlsRptRecord(rua=rua, extensions=tuple(extensions))
