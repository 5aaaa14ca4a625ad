"""Typed probe failures: what went wrong on the wire, as a class a check can branch on.

Every error carries ``reason``, one line naming the fact (``mta-sts.example.com [::1]:443: the
certificate is not valid for mta-sts.example.com``); the checks add what it means for senders.
Nothing is recovered from the text: callers branch on the class and read the attributes.
"""

from __future__ import annotations

import enum


class ProbeError(Exception):
    """Base of every probe failure."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------- DNS


class DnsFailure(enum.StrEnum):
    """Why a DNS question got no usable answer (an empty answer is not a failure)."""

    TIMEOUT = "timeout"
    """No answer within the time limit (a silent or unreachable server)."""
    SERVFAIL = "servfail"
    """The server answered SERVFAIL."""
    REFUSED = "refused"
    """The server answered REFUSED, or the port is closed."""
    CNAME_LOOP = "cname-loop"
    """The CNAME chain loops (or is longer than any resolver follows)."""
    NO_FILES = "emfile"
    """This process ran out of file descriptors (EMFILE/ENFILE): our limit, not the domain's."""
    OTHER = "other"


class DnsError(ProbeError):
    """A DNS question that could not be answered."""

    def __init__(self, name: str, rdtype: str, failure: DnsFailure, reason: str) -> None:
        super().__init__(reason)
        self.name = name
        self.rdtype = rdtype
        self.failure = failure


# --------------------------------------------------------------------------- HTTPS policy fetch


class PolicyFetchError(ProbeError):
    """The policy could not be fetched as a sender fetches it (RFC 8461 §3.3)."""

    def __init__(self, host: str, reason: str, address: str | None = None) -> None:
        super().__init__(reason)
        self.host = host
        self.address = address
        """The address fetched from; None when the failure came before any connection."""


class PolicyDnsError(PolicyFetchError):
    """The policy host has no address: NXDOMAIN, no A/AAAA, or the lookup failed."""

    def __init__(self, host: str, reason: str, dns_error: DnsError | None = None) -> None:
        super().__init__(host, reason)
        self.dns_error = dns_error


class PolicyConnectError(PolicyFetchError):
    """No TCP connection to an address of the policy host."""


class PolicyTimeoutError(PolicyFetchError):
    """A step did not finish in time; ``phase`` says which (connect, tls, response)."""

    def __init__(self, host: str, reason: str, address: str | None = None, phase: str = "response") -> None:
        super().__init__(host, reason, address)
        self.phase = phase


class PolicyConnectTimeoutError(PolicyConnectError, PolicyTimeoutError):
    """No TCP connection within the time limit: both unreachable and a timeout."""


class PolicyTlsError(PolicyFetchError):
    """The TLS handshake failed: protocol version, or the server broke it off."""


class PolicyCertificateError(PolicyTlsError):
    """The certificate is expired, for another name, or does not chain to a trusted root."""


class PolicyRedirectError(PolicyFetchError):
    """A 3xx answer: senders never follow redirects."""

    def __init__(self, host: str, reason: str, address: str, status: int, location: str | None) -> None:
        super().__init__(host, reason, address)
        self.status = status
        self.location = location


class PolicyStatusError(PolicyFetchError):
    """A final status other than 200."""

    def __init__(
        self, host: str, reason: str, address: str, status: int, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(host, reason, address)
        self.status = status
        self.headers = headers
        """The answer's headers (names lower-case), to tell a challenge page from an error."""


class PolicyContentTypeError(PolicyFetchError):
    """Not served as ``text/plain``."""

    def __init__(
        self,
        host: str,
        reason: str,
        address: str,
        content_type: str | None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(host, reason, address)
        self.content_type = content_type
        self.headers = headers
        """The answer's headers (names lower-case), to tell a challenge page from a misconfiguration."""


class PolicyEncodingError(PolicyFetchError):
    """Served with a ``Content-Encoding`` (gzip, br…) although ``identity`` was asked for."""

    def __init__(self, host: str, reason: str, address: str, content_encoding: str) -> None:
        super().__init__(host, reason, address)
        self.content_encoding = content_encoding


class PolicySizeError(PolicyFetchError):
    """The body is larger than the limit senders read."""

    def __init__(self, host: str, reason: str, address: str, limit: int) -> None:
        super().__init__(host, reason, address)
        self.limit = limit


class PolicyProtocolError(PolicyFetchError):
    """The answer is not HTTP a client can read: malformed or oversized head, cut-off body."""


# --------------------------------------------------------------------------- SMTP STARTTLS


class SmtpError(ProbeError):
    """STARTTLS at one address of an MX host failed."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        super().__init__(reason)
        self.host = host
        self.address = address


class SmtpConnectError(SmtpError):
    """No TCP connection: a delivery problem, not a TLS one (senders try the next address)."""


class SmtpTimeoutError(SmtpError):
    """A step (greeting, EHLO, STARTTLS, TLS handshake) got no answer in time."""

    def __init__(self, host: str, address: str, reason: str, step: str) -> None:
        super().__init__(host, address, reason)
        self.step = step


class SmtpTemporaryError(SmtpError):
    """A 4xx reply (such as a 421 greeting): senders queue the mail and retry later."""

    def __init__(self, host: str, address: str, reason: str, code: int, step: str) -> None:
        super().__init__(host, address, reason)
        self.code = code
        self.step = step


class SmtpReplyError(SmtpError):
    """A permanent (5xx) or unexpected reply to a step."""

    def __init__(self, host: str, address: str, reason: str, code: int, step: str) -> None:
        super().__init__(host, address, reason)
        self.code = code
        self.step = step


class SmtpNoStarttlsError(SmtpError):
    """EHLO succeeded but STARTTLS is not offered: mail would travel in clear text."""


class SmtpTlsError(SmtpError):
    """The TLS handshake after STARTTLS failed (version, or broken off)."""


class SmtpCertificateError(SmtpTlsError):
    """The MX certificate is expired, for another name, or untrusted."""


class SmtpProtocolError(SmtpError):
    """The server's replies are not SMTP, or the connection broke mid-dialogue."""
