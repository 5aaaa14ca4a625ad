"""STARTTLS at one address of an MX host, as a sending MTA negotiates it (RFC 8461 §4.2).

Greeting, EHLO, STARTTLS offered and accepted, then TLS 1.2 or later with SNI and the certificate
checked for the MX name. The dialogue is short enough to hold here on asyncio streams (the
standard library's ``smtplib`` blocks). Every step has the time limit, the TLS handshake included
(an ``asyncio.timeout`` around it: a stalled handshake is a timeout, not a broken connection), and
the whole dialogue at one address has a deadline of ``LOOK_STEPS`` time limits, however the
server paces its replies.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass

from mtasts.probes.certificates import Certificate, served_chain
from mtasts.probes.errors import (
    SmtpCertificateError,
    SmtpConnectError,
    SmtpError,
    SmtpNoStarttlsError,
    SmtpProtocolError,
    SmtpReplyError,
    SmtpTemporaryError,
    SmtpTimeoutError,
    SmtpTlsError,
)
from mtasts.probes.tls import hostport, is_certificate_problem, tls_problem

REPLY_LINES = 100
"""Most lines accepted in one SMTP reply."""
LOOK_STEPS = 3
"""The whole dialogue at one address ends within this many per-step time limits."""


@dataclass(frozen=True)
class StarttlsSuccess:
    """STARTTLS worked at one address: the negotiated TLS version, certificate valid for the host."""

    host: str
    address: str
    tls_version: str
    chain: tuple[Certificate, ...] = ()
    """The certificates the server presented, leaf first."""


@dataclass(frozen=True)
class StarttlsAtAddress:
    """The verdict at one address: ``success`` or ``error``, never both."""

    address: str
    success: StarttlsSuccess | None = None
    error: SmtpError | None = None

    @property
    def reached(self) -> bool:
        """A TCP connection was made (a dead address is a delivery problem, not a TLS one)."""
        return not isinstance(self.error, SmtpConnectError)


_EHLO: list[str] = []


def ehlo_name() -> str:
    if not _EHLO:
        name = socket.gethostname()
        _EHLO.append(name if name and "." in name and name.isascii() else "localhost")
    return _EHLO[0]


async def open_tcp(
    host: str, address: str, port: int, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection to one address; raises ``SmtpConnectError``."""
    try:
        return await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
    except TimeoutError:
        raise SmtpConnectError(
            host, address, f"{hostport(address, port)} did not answer within {timeout:g} s"
        ) from None
    except OSError as exc:
        raise SmtpConnectError(host, address, f"{hostport(address, port)}: {exc.strerror or exc}") from None


async def starttls_at(
    host: str, address: str, port: int, tls: ssl.SSLContext, timeout: float
) -> StarttlsAtAddress:
    """Probe STARTTLS at ``address``; the error, if any, is in the result (never raised)."""
    try:
        async with asyncio.timeout(LOOK_STEPS * timeout):
            return StarttlsAtAddress(address, success=await _dialogue(host, address, port, tls, timeout))
    except SmtpError as exc:
        return StarttlsAtAddress(address, error=exc)
    except TimeoutError:
        reason = f"the dialogue did not finish within {LOOK_STEPS * timeout:g} s"
        return StarttlsAtAddress(address, error=SmtpTimeoutError(host, address, reason, "dialogue"))


async def _dialogue(
    host: str, address: str, port: int, tls: ssl.SSLContext, timeout: float
) -> StarttlsSuccess:
    reader, writer = await open_tcp(host, address, port, timeout)
    step = "greeting"

    async def reply() -> tuple[int, list[str]]:
        async with asyncio.timeout(timeout):
            return await _smtp_reply(reader)

    def expect(code: int, want: int, lines: list[str]) -> None:
        text = " ".join(lines)[:120]
        if code == want:
            return
        if 400 <= code < 500:
            raise SmtpTemporaryError(
                host, address,
                f"{step} answered {code} {text}: a temporary refusal; senders queue the mail and retry",
                code, step,
            )  # fmt: skip
        what = "greeting is" if step == "greeting" else f"{step} answered"
        raise SmtpReplyError(host, address, f"{what} {code}, not {want} ({text})", code, step)

    try:
        code, lines = await reply()
        expect(code, 220, lines)
        step = "EHLO"
        writer.write(f"EHLO {ehlo_name()}\r\n".encode("ascii"))
        code, lines = await reply()
        expect(code, 250, lines)
        if not any(line.split(" ", 1)[0].upper() == "STARTTLS" for line in lines[1:]):
            raise SmtpNoStarttlsError(
                host, address, "STARTTLS is not offered after EHLO; mail would travel in clear text"
            )
        step = "STARTTLS"
        writer.write(b"STARTTLS\r\n")
        code, lines = await reply()
        expect(code, 220, lines)
        step = "TLS handshake"
        try:
            async with asyncio.timeout(timeout):
                # asyncio's own handshake timeout aborts the connection (ConnectionAbortedError),
                # which would read as "broke off": ours fires first and is a timeout.
                await writer.start_tls(tls, server_hostname=host, ssl_handshake_timeout=timeout + 60)
        except ssl.SSLError as exc:
            kind = SmtpCertificateError if is_certificate_problem(exc) else SmtpTlsError
            raise kind(host, address, tls_problem(exc, host)) from None
        except OSError as exc:
            raise SmtpTlsError(
                host, address,
                f"the TLS handshake broke off ({exc.strerror or type(exc).__name__}); "
                "does the server offer TLS 1.2 or later?",
            ) from None  # fmt: skip
        ssl_object = writer.get_extra_info("ssl_object")
        version = ssl_object.version() if ssl_object else "?"
        chain = served_chain(ssl_object) if ssl_object else ()
        try:
            writer.write(b"QUIT\r\n")
            async with asyncio.timeout(min(1.0, timeout)):
                await writer.drain()
        except (OSError, TimeoutError):
            pass  # the verdict is in; a rude close changes nothing
        return StarttlsSuccess(host, address, version or "?", chain)
    except TimeoutError:
        raise SmtpTimeoutError(host, address, f"no answer to {step} within {timeout:g} s", step) from None
    except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        text = (str(exc) or type(exc).__name__).splitlines()[0][:200]
        raise SmtpProtocolError(host, address, f"connection broke during {step}: {text}") from None
    finally:
        writer.close()


async def _smtp_reply(reader: asyncio.StreamReader) -> tuple[int, list[str]]:
    """One SMTP reply: its code and the text of each line; ValueError when it is not SMTP."""
    lines = []
    while True:
        raw = await reader.readline()
        if not raw:
            raise ValueError("connection closed")
        line = raw.decode("latin-1").rstrip("\r\n")
        if len(line) < 3 or not line[:3].isdigit():
            raise ValueError(f"not an SMTP reply: {line[:60]!r}")
        lines.append(line[4:])
        if len(line) == 3 or line[3] != "-":
            return int(line[:3]), lines
        if len(lines) > REPLY_LINES:
            raise ValueError(f"SMTP reply longer than {REPLY_LINES} lines")
