"""The TLS client context every probe uses, and one-line reasons for failed handshakes."""

from __future__ import annotations

import ssl

_VERIFY_CODES = {
    9: "the certificate is not yet valid",
    10: "the certificate has expired",
    18: "the certificate is self-signed",
    19: "the certificate chain ends in an untrusted self-signed root",
    20: "the certificate does not chain to a trusted root",
    21: "the certificate does not chain to a trusted root",
    62: "the certificate is not valid for {host}",
    64: "the certificate is not valid for {host}",
}


def client_context(ca_bundle: str | None) -> ssl.SSLContext:
    """TLS 1.2 or later, certificate and host name checked: what senders require (RFC 8461 §3.3, §4.2).

    The same verification flags on Python 3.11 to 3.13 (see below).
    """
    ctx = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    # Python 3.13 turns on VERIFY_X509_STRICT by default; OpenSSL-based MTAs do not use it. Clear
    # it, so the verdict is a sender's and the same on every Python this runs on.
    ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT
    return ctx


def unverified_context() -> ssl.SSLContext:
    """TLS 1.2 or later with no certificate check: to read the chain a server presents (DANE)."""
    ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def is_certificate_problem(exc: ssl.SSLError) -> bool:
    return isinstance(exc, ssl.SSLCertVerificationError)


def tls_problem(exc: ssl.SSLError, host: str) -> str:
    """A one-line reason for a failed TLS handshake with ``host``."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        known = _VERIFY_CODES.get(exc.verify_code)
        if known:
            return known.format(host=host) + f" ({exc.verify_message})"
        return f"certificate rejected: {exc.verify_message}"
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return "the server broke off the TLS handshake; does it offer TLS 1.2 or later?"
    reason = (exc.reason or "").upper()
    if any(k in reason for k in ("UNSUPPORTED_PROTOCOL", "PROTOCOL_VERSION", "NO_PROTOCOLS")):
        return "TLS 1.2 or later is not offered (RFC 8461 §3.3, §4.2)"
    return f"TLS handshake failed: {exc.reason or str(exc).splitlines()[0][:200]}"


def hostport(addr: str, port: int) -> str:
    """``1.2.3.4:25`` or ``[::1]:25``."""
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"
