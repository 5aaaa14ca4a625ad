"""DNS questions through dnspython's async resolver, answered as typed values.

An empty answer (NXDOMAIN, no records of the type) is an answer; only a question that could not
be answered carries a ``DnsError``, whose ``failure`` names the cause: timeout, SERVFAIL, REFUSED,
a CNAME loop, or our own file-descriptor limit (EMFILE, never reported as the domain's fault).
"""

from __future__ import annotations

import asyncio
import enum
import errno
from dataclasses import dataclass
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.resolver

from mtasts.probes.errors import DnsError, DnsFailure
from mtasts.probes.options import ProbeOptions
from mtasts.rfc.names import normalize_name


class DnsStatus(enum.StrEnum):
    OK = "ok"
    """At least one record of the type."""
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    """The name exists, with no record of the type."""
    ERROR = "error"
    """No usable answer: see ``DnsAnswer.error``."""


@dataclass(frozen=True)
class DnsAnswer:
    """The answer to one question: records as text (TXT strings joined, MX ``pref host``)."""

    name: str
    rdtype: str
    status: DnsStatus
    records: tuple[str, ...] = ()
    error: DnsError | None = None

    @property
    def failed(self) -> bool:
        return self.status is DnsStatus.ERROR


@dataclass(frozen=True)
class MxAnswer:
    """A domain's MX lookup."""

    domain: str
    status: DnsStatus
    hosts: tuple[str, ...]
    """MX host names by preference, without duplicates or the null MX ``.``."""
    records: int
    """How many MX records there were (a null MX is one record and no host)."""
    error: DnsError | None = None

    @classmethod
    def from_answer(cls, domain: str, answer: DnsAnswer) -> MxAnswer:
        hosts: list[str] = []
        for record in answer.records:
            name = normalize_name(record.partition(" ")[2])
            if name and name not in hosts:
                hosts.append(name)
        return cls(domain, answer.status, tuple(hosts), len(answer.records), answer.error)


@dataclass(frozen=True)
class Addresses:
    """Every A and AAAA address of a host, or why there are none."""

    host: str
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]
    error: DnsError | None = None
    """Set when a lookup failed and no address was found."""
    nxdomain: bool = False

    @property
    def all(self) -> tuple[str, ...]:
        """IPv4 first, then IPv6: senders may use any of them."""
        return self.ipv4 + self.ipv6

    @property
    def why_none(self) -> str:
        """One line saying why there is no address (empty when there is one)."""
        if self.all:
            return ""
        if self.error is not None:
            return self.error.reason
        if self.nxdomain:
            return "NXDOMAIN"
        return "no A or AAAA record"


def make_resolver(options: ProbeOptions) -> dns.asyncresolver.Resolver:
    """dnspython's async resolver, pointed at ``options.nameserver`` when one is set.

    Raises ``dns.resolver.NoResolverConfiguration`` when the system has no resolver.
    """
    if options.nameserver is None:
        resolver = dns.asyncresolver.Resolver()
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [options.nameserver[0]]
        resolver.port = options.nameserver[1]
    resolver.lifetime = options.timeout
    resolver.timeout = min(options.timeout, 2.0)
    return resolver


async def query(resolver: dns.asyncresolver.Resolver, name: str, rdtype: str) -> DnsAnswer:
    """Ask ``resolver`` one question; never raises for DNS trouble (it is in the answer).

    dnspython keeps ``resolver.lifetime`` as the deadline of the whole question (retries, TCP
    fallback); ``asyncio.timeout`` holds it to that even should a transport not.
    """
    try:
        async with asyncio.timeout(resolver.lifetime + 0.5):
            answer = await resolver.resolve(
                dns.name.from_text(name), rdtype, raise_on_no_answer=False, search=False
            )
    except TimeoutError:
        error = DnsError(
            name, rdtype, DnsFailure.TIMEOUT, f"{name} {rdtype}: no DNS answer within {resolver.lifetime:g} s"
        )
        return DnsAnswer(name, rdtype, DnsStatus.ERROR, error=error)
    except dns.resolver.NXDOMAIN:
        return DnsAnswer(name, rdtype, DnsStatus.NXDOMAIN)
    except dns.exception.DNSException as exc:
        return DnsAnswer(name, rdtype, DnsStatus.ERROR, error=dns_error(name, rdtype, exc, resolver.lifetime))
    except OSError as exc:
        return DnsAnswer(name, rdtype, DnsStatus.ERROR, error=_os_error(name, rdtype, exc))
    if answer.rrset is None:
        return DnsAnswer(name, rdtype, DnsStatus.NODATA)
    texts: tuple[str, ...]
    if rdtype == "TXT":
        texts = tuple(b"".join(r.strings).decode("utf-8", "replace") for r in answer.rrset)
    elif rdtype == "MX":
        ordered = sorted(answer.rrset, key=lambda r: (r.preference, r.exchange.to_text()))
        texts = tuple(f"{r.preference} {r.exchange.to_text()}" for r in ordered)
    else:
        texts = tuple(r.to_text() for r in answer.rrset)
    return DnsAnswer(name, rdtype, DnsStatus.OK, texts)


def _os_error(name: str, rdtype: str, exc: OSError) -> DnsError:
    if exc.errno in (errno.EMFILE, errno.ENFILE):
        return DnsError(
            name, rdtype, DnsFailure.NO_FILES,
            f"{name} {rdtype}: out of file descriptors here ({errno.errorcode[exc.errno]}); "
            "not a DNS answer: raise `ulimit -n` or lower --concurrency",
        )  # fmt: skip
    if isinstance(exc, ConnectionRefusedError):
        return DnsError(
            name, rdtype, DnsFailure.REFUSED, f"{name} {rdtype}: the DNS server refused the connection"
        )
    return DnsError(
        name, rdtype, DnsFailure.OTHER, f"{name} {rdtype}: DNS lookup failed: {exc.strerror or exc}"
    )


def dns_error(name: str, rdtype: str, exc: dns.exception.DNSException, lifetime: float) -> DnsError:
    """The typed failure for a dnspython exception."""
    if isinstance(exc, dns.resolver.LifetimeTimeout | dns.exception.Timeout):
        return DnsError(
            name, rdtype, DnsFailure.TIMEOUT, f"{name} {rdtype}: no DNS answer within {lifetime:g} s"
        )
    if isinstance(exc, dns.message.ChainTooLong):
        return DnsError(
            name, rdtype, DnsFailure.CNAME_LOOP,
            f"{name} {rdtype}: the CNAME chain loops (or is longer than {dns.message.MAX_CHAIN} links)",
        )  # fmt: skip
    if isinstance(exc, dns.resolver.NoNameservers):
        return _no_nameservers(name, rdtype, exc)
    return DnsError(name, rdtype, DnsFailure.OTHER, f"{name} {rdtype}: DNS lookup failed: {exc}")


def _no_nameservers(name: str, rdtype: str, exc: dns.resolver.NoNameservers) -> DnsError:
    """Every server failed: say how, from the (server, tcp, port, error, answer) list dnspython keeps."""
    errors: list[Any] = list(exc.kwargs.get("errors") or [])
    causes = [e[3] for e in errors if len(e) > 3]
    for cause in causes:
        if isinstance(cause, OSError) and cause.errno in (errno.EMFILE, errno.ENFILE):
            return _os_error(name, rdtype, cause)
        if isinstance(cause, dns.message.ChainTooLong):
            return dns_error(name, rdtype, cause, 0.0)
    rcodes = []
    for entry in errors:
        answer = entry[4] if len(entry) > 4 else None
        if isinstance(answer, dns.message.Message):
            rcodes.append(answer.rcode())
    if rcodes and all(r == dns.rcode.REFUSED for r in rcodes):
        return DnsError(name, rdtype, DnsFailure.REFUSED, f"{name} {rdtype}: the DNS server answered REFUSED")
    if rcodes and all(r == dns.rcode.SERVFAIL for r in rcodes):
        return DnsError(
            name, rdtype, DnsFailure.SERVFAIL, f"{name} {rdtype}: the DNS server answered SERVFAIL"
        )
    if causes and all(isinstance(c, ConnectionRefusedError) for c in causes):
        return DnsError(
            name, rdtype, DnsFailure.REFUSED, f"{name} {rdtype}: nothing listens on the DNS server's port"
        )
    return DnsError(name, rdtype, DnsFailure.OTHER, f"{name} {rdtype}: DNS server failure ({exc})")
