"""``python -m mtasts verify``: check live deployments the way a sending MTA does.

Per domain, in this order (RFC 8461 and RFC 8460):

1. ``_mta-sts.<domain>`` TXT: exactly one record starting ``v=STSv1`` (the strings of a
   multi-string TXT joined; other TXT records ignored, §3.1), parsed strictly.
2. The policy fetched as a sender fetches it (§3.3): ``https://mta-sts.<domain>``, the host
   resolved with the same resolver, TLS 1.2 or later with SNI, a certificate valid for the host
   and chaining to a trusted root, no redirect followed, only 200, ``text/plain``, at most
   64 KiB, within the time limit; then parsed strictly (§3.2).
3. MX coverage: every MX host matches a policy ``mx`` pattern (§4.1).
4. STARTTLS at every address of every MX host (a sender may reach any of them): offered after
   EHLO, TLS 1.2 or later, a certificate valid for the MX name and trusted (§4.2). An address
   that takes no connection fails the host only when no address does.
5. ``_smtp._tls.<domain>`` TXT: at most one ``v=TLSRPTv1`` record, valid (RFC 8460 §3).

With ``--stack`` each domain is also compared with what the stack publishes (drift).

Every finding has a stable ``check`` name, a severity and a one-line reason:

- ``error``: senders will not use the policy, or will refuse or lose mail (exit status 1);
- ``warning``: works today, but is wrong or will break under ``enforce``;
- ``info``: worth knowing, nothing to fix; ``ok``: the check passed.

Check names: ``sts-record``, ``policy-fetch`` (policy host does not resolve or answer),
``policy-tls`` (TLS version or certificate), ``policy-redirect``, ``policy-status``,
``policy-content-type``, ``policy-size``, ``policy-timeout``, ``policy-syntax``, ``policy``
(the parsed policy), ``policy-mode``, ``policy-max-age``, ``mx-records``, ``mx-coverage``,
``starttls``, ``tlsrpt-record``, ``drift-policy``, ``drift-id``, ``drift-tlsrpt``.

``--json`` prints one JSON object::

    {"domains": {"example.com": {"mode": "enforce" | "testing" | "none" | null,
                                 "errors": 0, "warnings": 1,
                                 "findings": [{"check": "sts-record", "severity": "ok",
                                               "reason": "..."}, ...]}},
     "errors": 0, "warnings": 1}

Network work is shared: every DNS question, policy fetch and STARTTLS probe runs once per
run however many domains or checks need it, so a slow or dead host costs its time limit once.
Domains are checked concurrently, at most ``--concurrency`` at a time.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from mtasts.model.config import Deployment, Domain, load_stack
from mtasts.rfc.mx import uncovered
from mtasts.rfc.names import hostname_problem, normalize_name
from mtasts.rfc.policy import ONE_DAY, POLICY_PATH, Policy, PolicyError, parse_policy
from mtasts.rfc.records import (
    STS_VERSION,
    TLSRPT_VERSION,
    RecordError,
    declares,
    parse_sts_record,
    parse_tlsrpt_record,
    unquote_txt,
)

ERROR, WARNING, INFO, OK = "error", "warning", "info", "ok"
SEVERITIES = (ERROR, WARNING, INFO, OK)
POLICY_LIMIT = 64 * 1024
"""Largest policy body accepted, in bytes (RFC 8461 §3.3 lets senders cap it; 64 KiB is common)."""
HEAD_LIMIT = 16 * 1024
USER_AGENT = "mtasts-verify/0.1"

T = TypeVar("T")


@dataclass(frozen=True)
class Finding:
    """One result of one check: what was checked, how bad it is, and why, in one line."""

    check: str
    """Stable machine-readable name of the check, such as ``sts-record``."""
    severity: str
    """``error``, ``warning``, ``info`` or ``ok``."""
    reason: str

    def as_json(self) -> dict[str, str]:
        return {"check": self.check, "severity": self.severity, "reason": self.reason}


@dataclass(frozen=True)
class Report:
    """Every finding for one domain, in check order."""

    domain: str
    mode: str | None
    """The live policy's mode, or None when no valid policy was fetched."""
    findings: tuple[Finding, ...]

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def errors(self) -> int:
        return self.count(ERROR)

    @property
    def warnings(self) -> int:
        return self.count(WARNING)

    def checks(self, severity: str | None = None) -> list[str]:
        """The check names found, optionally only those of one severity."""
        return [f.check for f in self.findings if severity is None or f.severity == severity]

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "errors": self.errors,
            "warnings": self.warnings,
            "findings": [f.as_json() for f in self.findings],
        }


@dataclass(frozen=True)
class Options:
    """How to reach the network: the knobs tests need and users never do."""

    nameserver: tuple[str, int] | None = None
    """(address, port) of the DNS server to ask; None uses the system resolver."""
    ca_bundle: str | None = None
    """PEM file of trusted roots; None uses the system trust store."""
    https_port: int = 443
    smtp_port: int = 25
    timeout: float = 10.0
    """Seconds allowed for each network step (a DNS answer, a connection, a reply)."""
    concurrency: int = 32
    """Domains checked at once."""


class UsageError(ValueError):
    """A bad command-line value; the CLI prints it and exits 2."""


# --------------------------------------------------------------------------- network


@dataclass(frozen=True)
class _Dns:
    """The answer to one DNS question: records as text, or why there are none."""

    records: tuple[str, ...] = ()
    status: str = "ok"
    """``ok``, ``nxdomain``, ``nodata`` or ``error``."""
    error: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "error"


@dataclass(frozen=True)
class _Fetch:
    """What a policy fetch gave: the body, or the check that failed and why."""

    body: bytes | None = None
    check: str = ""
    reason: str = ""


@dataclass(frozen=True)
class _Smtp:
    """What a STARTTLS probe of one MX host gave."""

    ok: bool
    reason: str
    tls_version: str = ""


@dataclass
class _Probe:
    """Network access for one run, every answer shared between domains and checks."""

    options: Options
    resolver: dns.asyncresolver.Resolver
    tls: ssl.SSLContext
    _tasks: dict[tuple[str, ...], asyncio.Future[Any]] = field(default_factory=dict)

    def once(self, key: tuple[str, ...], make: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        """The one task computing ``key``: started on first use, shared afterwards."""
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(make())
            self._tasks[key] = task
        return task

    # DNS ---------------------------------------------------------------------

    def query(self, name: str, rdtype: str) -> asyncio.Future[_Dns]:
        return self.once(("dns", name.lower(), rdtype), lambda: self._query(name, rdtype))

    async def _query(self, name: str, rdtype: str) -> _Dns:
        try:
            answer = await self.resolver.resolve(
                dns.name.from_text(name), rdtype, raise_on_no_answer=False, search=False
            )
        except dns.resolver.NXDOMAIN:
            return _Dns(status="nxdomain")
        except dns.resolver.LifetimeTimeout:
            return _Dns(status="error", error=f"no DNS answer within {self.options.timeout:g} s")
        except dns.resolver.NoNameservers:
            return _Dns(status="error", error="DNS server failure (SERVFAIL or refused)")
        except dns.exception.DNSException as exc:
            return _Dns(status="error", error=f"DNS lookup failed: {exc}")
        if answer.rrset is None:
            return _Dns(status="nodata")
        if rdtype == "TXT":
            texts = tuple(b"".join(r.strings).decode("utf-8", "replace") for r in answer.rrset)
        elif rdtype == "MX":
            ordered = sorted(answer.rrset, key=lambda r: (r.preference, r.exchange.to_text()))
            texts = tuple(f"{r.preference} {r.exchange.to_text()}" for r in ordered)
        else:
            texts = tuple(r.to_text() for r in answer.rrset)
        return _Dns(records=texts)

    async def addresses(self, host: str) -> tuple[list[str], str]:
        """IPv4 addresses of ``host``, else its IPv6 ones, or ([], why not).

        Connections try IPv4 first and stop at the first that answers, so AAAA is asked
        only when there is no A record: the verdict is the same, the work a third less.
        """
        a = await self.query(host, "A")
        if a.records:
            return list(a.records), ""
        if a.status == "nxdomain":
            return [], "NXDOMAIN"
        aaaa = await self.query(host, "AAAA")
        if aaaa.records:
            return list(aaaa.records), ""
        for answer in (a, aaaa):
            if answer.failed:
                return [], answer.error
        if a.status == "nxdomain":
            return [], "NXDOMAIN"
        return [], "no A or AAAA record"

    async def _open(self, addr: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | str:
        """A TCP connection to one address, or why not."""
        timeout = self.options.timeout
        try:
            return await asyncio.wait_for(asyncio.open_connection(addr, port), timeout)
        except TimeoutError:
            return f"{_hostport(addr, port)} did not answer within {timeout:g} s"
        except OSError as exc:
            return f"{_hostport(addr, port)}: {exc.strerror or exc}"

    async def connect(
        self, host: str, port: int, tls_host: str | None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | str:
        """A connection to ``host`` (TLS with SNI and checks when ``tls_host``), or why not.

        Addresses are tried in turn, as a sender does; a TLS or certificate failure is final.
        """
        addrs, why = await self.addresses(host)
        if not addrs:
            return f"{host} does not resolve: {why}"
        problems = []
        timeout = self.options.timeout
        for addr in addrs:
            tcp = await self._open(addr, port)
            if isinstance(tcp, str):
                problems.append(tcp)
                continue
            reader, writer = tcp
            if not tls_host:
                return reader, writer
            # TCP is up: from here on a failure is the TLS layer's, and final.
            try:
                await writer.start_tls(self.tls, server_hostname=tls_host, ssl_handshake_timeout=timeout)
            except ssl.SSLError as exc:
                writer.close()
                return "TLS: " + tls_problem(exc, tls_host)
            except TimeoutError:
                writer.close()
                where = _hostport(addr, port)
                return f"TIMEOUT: {where} did not finish the TLS handshake within {timeout:g} s"
            except OSError as exc:
                writer.close()
                return (
                    f"TLS: the TLS handshake with {_hostport(addr, port)} broke off "
                    f"({exc.strerror or type(exc).__name__}); does the server offer TLS 1.2 or later?"
                )
            return reader, writer
        if problems and all("did not answer within" in p for p in problems):
            return "TIMEOUT: " + "; ".join(problems)
        return "; ".join(problems)

    # HTTPS -------------------------------------------------------------------

    def fetch_policy(self, host: str) -> asyncio.Future[_Fetch]:
        return self.once(("https", host), lambda: self._fetch_policy(host))

    async def _fetch_policy(self, host: str) -> _Fetch:
        port = self.options.https_port
        conn = await self.connect(host, port, tls_host=host)
        if isinstance(conn, str):
            kind, colon, rest = conn.partition(": ")
            check = {"TLS": "policy-tls", "TIMEOUT": "policy-timeout"}.get(kind)
            return _Fetch(check=check or "policy-fetch", reason=rest if check else conn)
        reader, writer = conn
        try:
            return await asyncio.wait_for(self._http_get(reader, writer, host, port), self.options.timeout)
        except TimeoutError:
            return _Fetch(
                check="policy-timeout",
                reason=f"no complete answer from https://{host} within {self.options.timeout:g} s",
            )
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            return _Fetch(check="policy-fetch", reason=f"broken HTTP answer from {host}: {_short(exc)}")
        finally:
            writer.close()

    async def _http_get(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int
    ) -> _Fetch:
        authority = host if port == 443 else f"{host}:{port}"
        writer.write(
            (
                f"GET {POLICY_PATH} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: {USER_AGENT}\r\n"
                "Accept: text/plain\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n"
            ).encode("ascii")
        )
        await writer.drain()
        head = await _read_head(reader)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ValueError(f"not an HTTP status line: {lines[0][:60]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if colon:
                key = name.strip().lower()
                headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        url = f"https://{authority}{POLICY_PATH}"
        if 300 <= status < 400:
            where = headers.get("location", "nowhere")
            return _Fetch(
                check="policy-redirect",
                reason=f"{url} answers {status}, a redirect to {where}: senders never follow "
                "redirects (RFC 8461 §3.3)",
            )
        if status != 200:
            return _Fetch(
                check="policy-status",
                reason=f"{url} answers HTTP {status}; senders accept only 200 (RFC 8461 §3.3)",
            )
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "text/plain":
            shown = headers.get("content-type", "no Content-Type")
            return _Fetch(
                check="policy-content-type",
                reason=f"{url} is served as {shown!r}; senders want text/plain (RFC 8461 §3.3)",
            )
        body = await _read_body(reader, headers)
        if body is None:
            return _Fetch(
                check="policy-size",
                reason=f"{url} is larger than {POLICY_LIMIT // 1024} KiB; senders stop reading "
                "(RFC 8461 §3.3)",
            )
        return _Fetch(body=body)

    # SMTP --------------------------------------------------------------------

    def starttls(self, host: str) -> asyncio.Future[_Smtp]:
        return self.once(("smtp", host), lambda: self._starttls(host))

    async def _starttls(self, host: str) -> _Smtp:
        """Probe every address of ``host``: a sender may reach any of them.

        The host passes when every address that answers passes; an address that does not
        answer is a delivery problem, not a TLS one, and fails the host only when none answers.
        """
        addrs, why = await self.addresses(host)
        if not addrs:
            return _Smtp(False, f"no SMTP connection: {host} does not resolve: {why}")
        port = self.options.smtp_port
        probes = await asyncio.gather(*(self._starttls_at(host, addr, port) for addr in addrs))
        reached = [(a, p) for a, p in zip(addrs, probes, strict=True) if isinstance(p, _Smtp)]
        unreached = [(a, p) for a, p in zip(addrs, probes, strict=True) if isinstance(p, str)]
        if not reached:
            return _Smtp(False, "no SMTP connection: " + "; ".join(p for _, p in unreached))
        failed = [(addr, probe) for addr, probe in reached if not probe.ok]
        if failed:
            if len(addrs) == 1:
                return failed[0][1]
            reasons = "; ".join(f"{_hostport(addr, port)}: {probe.reason}" for addr, probe in failed)
            return _Smtp(False, f"{len(failed)} of {len(addrs)} addresses fail: {reasons}")
        first = reached[0][1]
        note = ""
        if len(addrs) > 1:
            note = f" at all {len(reached)} reachable addresses"
            if unreached:
                note += f" ({', '.join(a for a, _ in unreached)} did not answer)"
        return _Smtp(True, first.reason + note, first.tls_version)

    async def _starttls_at(self, host: str, addr: str, port: int) -> _Smtp | str:
        """The STARTTLS verdict at one address, or why it takes no TCP connection."""
        tcp = await self._open(addr, port)
        if isinstance(tcp, str):
            return tcp
        reader, writer = tcp
        step = "greeting"
        try:
            async with asyncio.timeout(self.options.timeout):
                code, _ = await _smtp_reply(reader)
            if code != 220:
                return _Smtp(False, f"greeting is {code}, not 220")
            step = "EHLO"
            writer.write(f"EHLO {_ehlo_name()}\r\n".encode("ascii"))
            async with asyncio.timeout(self.options.timeout):
                code, lines = await _smtp_reply(reader)
            if code != 250:
                return _Smtp(False, f"EHLO answered {code}")
            if not any(line.split(" ", 1)[0].upper() == "STARTTLS" for line in lines[1:]):
                return _Smtp(False, "STARTTLS is not offered after EHLO; mail would travel in clear text")
            step = "STARTTLS"
            writer.write(b"STARTTLS\r\n")
            async with asyncio.timeout(self.options.timeout):
                code, _ = await _smtp_reply(reader)
            if code != 220:
                return _Smtp(False, f"STARTTLS answered {code}, not 220")
            step = "TLS handshake"
            try:
                await writer.start_tls(
                    self.tls, server_hostname=host, ssl_handshake_timeout=self.options.timeout
                )
            except ssl.SSLError as exc:
                return _Smtp(False, tls_problem(exc, host))
            ssl_object = writer.get_extra_info("ssl_object")
            version = ssl_object.version() if ssl_object else "?"
            try:
                writer.write(b"QUIT\r\n")
                async with asyncio.timeout(min(1.0, self.options.timeout)):
                    await writer.drain()
            except (OSError, TimeoutError):
                pass  # the verdict is in; a rude close changes nothing
            return _Smtp(True, f"STARTTLS with {version}, certificate valid for {host}", version)
        except TimeoutError:
            return _Smtp(False, f"no answer to {step} within {self.options.timeout:g} s")
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            return _Smtp(False, f"connection broke during {step}: {_short(exc)}")
        finally:
            writer.close()


def _hostport(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


_EHLO: list[str] = []


def _ehlo_name() -> str:
    if not _EHLO:
        name = socket.gethostname()
        _EHLO.append(name if name and "." in name and name.isascii() else "localhost")
    return _EHLO[0]


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = await reader.readline()
        if not line:
            raise ValueError("connection closed before the end of the HTTP headers")
        head += line
        if len(head) > HEAD_LIMIT:
            raise ValueError(f"HTTP headers longer than {HEAD_LIMIT} bytes")
        if head == b"\r\n":
            head = b""  # tolerate a stray empty line before the status line
    return head[:-4]


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes | None:
    """The body, at most ``POLICY_LIMIT`` bytes; None when it is larger."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while True:
            size_line = await reader.readline()
            size = int(size_line.split(b";", 1)[0].strip() or b"x", 16)
            if size == 0:
                return body
            if len(body) + size > POLICY_LIMIT:
                return None
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    if "content-length" in headers:
        length = int(headers["content-length"].split(",")[0].strip())
        if length > POLICY_LIMIT:
            return None
        return await reader.readexactly(length)
    body = b""
    while chunk := await reader.read(POLICY_LIMIT + 1 - len(body)):
        body += chunk
        if len(body) > POLICY_LIMIT:
            return None
    return body


async def _smtp_reply(reader: asyncio.StreamReader) -> tuple[int, list[str]]:
    """One SMTP reply: its code and the text of each line."""
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
        if len(lines) > 100:
            raise ValueError("SMTP reply longer than 100 lines")


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


def tls_problem(exc: ssl.SSLError, host: str) -> str:
    """A one-line reason for a failed TLS handshake with ``host``."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        known = _VERIFY_CODES.get(exc.verify_code)
        if known:
            return known.format(host=host) + f" ({exc.verify_message})"
        return f"certificate rejected: {exc.verify_message}"
    reason = (exc.reason or "").upper()
    if any(k in reason for k in ("UNSUPPORTED_PROTOCOL", "PROTOCOL_VERSION", "NO_PROTOCOLS")):
        return "TLS 1.2 or later is not offered (RFC 8461 §3.3, §4.2)"
    return f"TLS handshake failed: {exc.reason or _short(exc)}"


def _tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _resolver(options: Options) -> dns.asyncresolver.Resolver:
    if options.nameserver is None:
        resolver = dns.asyncresolver.Resolver()
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [options.nameserver[0]]
        resolver.port = options.nameserver[1]
    resolver.lifetime = options.timeout
    resolver.timeout = min(options.timeout, 2.0)
    return resolver


# --------------------------------------------------------------------------- checks


async def check_domain(probe: _Probe, domain: str, expected: Domain | None = None) -> Report:
    """Every check for one domain; ``expected`` adds drift findings against the stack."""
    host = f"mta-sts.{domain}"
    sts_q = probe.query(f"_mta-sts.{domain}", "TXT")
    fetch_q = probe.fetch_policy(host)
    mx_q = probe.query(domain, "MX")
    rpt_q = probe.query(f"_smtp._tls.{domain}", "TXT")

    async def probe_mx() -> tuple[_Dns, list[_Smtp]]:
        # STARTTLS starts as soon as the MX answer is in, beside the policy fetch.
        answer = await mx_q
        return answer, list(await asyncio.gather(*(probe.starttls(h) for h in _mx_hosts(answer))))

    smtp_q = asyncio.ensure_future(probe_mx())
    findings: list[Finding] = []

    live_id, sts_findings = _sts_record(await sts_q)
    findings += sts_findings

    fetched = await fetch_q
    policy: Policy | None = None
    if fetched.body is None:
        findings.append(Finding(fetched.check, ERROR, fetched.reason))
    else:
        try:
            policy = parse_policy(fetched.body)
        except PolicyError as exc:
            findings.append(
                Finding("policy-syntax", ERROR, f"the policy at https://{host} is invalid: {exc}")
            )
        else:
            findings += _policy_findings(policy)
    mode = policy.mode if policy else None

    mx, results = await smtp_q
    hosts = _mx_hosts(mx)
    findings += _mx_records(mx, hosts, domain, mode)
    if policy is not None and hosts and mode != "none":
        findings += _coverage(policy, hosts)
    for mx_host, result in zip(hosts, results, strict=True):
        findings.append(_starttls_finding(mx_host, result, mode))

    live_rpt, rpt_findings = _tlsrpt(await rpt_q)
    findings += rpt_findings

    if expected is not None:
        findings += _drift(expected, fetched.body, live_id, live_rpt)
    return Report(domain=domain, mode=mode, findings=tuple(findings))


def _sts_record(answer: _Dns) -> tuple[str | None, list[Finding]]:
    check = "sts-record"
    if answer.failed:
        return None, [Finding(check, ERROR, f"_mta-sts TXT lookup failed: {answer.error}")]
    sts = [t for t in answer.records if declares(STS_VERSION, t)]
    ignored = len(answer.records) - len(sts)
    if not sts:
        why = "no TXT record" if answer.status != "ok" else "no TXT record starting v=STSv1;"
        return None, [
            Finding(check, ERROR, f"_mta-sts: {why}; senders see no MTA-STS policy (RFC 8461 §3.1)")
        ]
    if len(sts) > 1:
        return None, [
            Finding(
                check,
                ERROR,
                f"_mta-sts: {len(sts)} v=STSv1 TXT records; senders treat this as no policy (RFC 8461 §3.1)",
            )
        ]
    try:
        record = parse_sts_record(sts[0])
    except RecordError as exc:
        return None, [Finding(check, ERROR, f"_mta-sts TXT {sts[0]!r} is invalid: {exc}")]
    note = f" ({ignored} other TXT record{'s' if ignored != 1 else ''} ignored)" if ignored else ""
    return record.id, [Finding(check, OK, f"_mta-sts: v=STSv1, id={record.id}{note}")]


def _policy_findings(policy: Policy) -> list[Finding]:
    found = [
        Finding(
            "policy",
            OK,
            f"policy served: mode {policy.mode}, max_age {policy.max_age}, "
            f"mx {', '.join(policy.mx) if policy.mx else '(none)'}",
        )
    ]
    if policy.mode == "none":
        found.append(
            Finding(
                "policy-mode",
                INFO,
                "mode none: senders drop any cached policy and apply none; MX and STARTTLS results "
                "are not enforced",
            )
        )
    elif policy.mode == "testing":
        found.append(
            Finding(
                "policy-mode",
                INFO,
                "mode testing: senders report failures (TLS-RPT) but still deliver",
            )
        )
    elif policy.max_age < ONE_DAY:
        found.append(
            Finding(
                "policy-max-age",
                WARNING,
                f"enforce with max_age {policy.max_age} s: under a day, senders refetch often and an "
                "outage of the policy host drops protection",
            )
        )
    return found


def _mx_hosts(answer: _Dns) -> list[str]:
    """MX host names by preference, without duplicates or the null MX ``.``."""
    hosts: list[str] = []
    for record in answer.records:
        name = normalize_name(record.partition(" ")[2])
        if name and name not in hosts:
            hosts.append(name)
    return hosts


def _mx_records(answer: _Dns, hosts: list[str], domain: str, mode: str | None) -> list[Finding]:
    check = "mx-records"
    if answer.failed:
        return [Finding(check, ERROR, f"MX lookup for {domain} failed: {answer.error}")]
    if not answer.records:
        severity = {"enforce": ERROR, "none": INFO}.get(mode or "", WARNING)
        return [
            Finding(
                check,
                severity,
                f"{domain} has no MX record"
                + (" (NXDOMAIN)" if answer.status == "nxdomain" else "")
                + ": there is no MX host for the policy to cover",
            )
        ]
    if not hosts:
        return [Finding(check, INFO, f"{domain} has a null MX (RFC 7505): it accepts no mail")]
    return [Finding(check, OK, f"MX: {', '.join(hosts)}")]


def _coverage(policy: Policy, hosts: list[str]) -> list[Finding]:
    missing = uncovered(policy.mx, hosts)
    if not missing:
        return [Finding("mx-coverage", OK, "every MX host matches a policy mx pattern")]
    severity = ERROR if policy.mode == "enforce" else WARNING
    consequence = (
        "senders will refuse to deliver to it"
        if policy.mode == "enforce"
        else "add it to the policy before enforce, or senders will refuse to deliver to it"
    )
    return [
        Finding(
            "mx-coverage",
            severity,
            f"MX host {host} matches no policy mx pattern ({', '.join(policy.mx)}): {consequence} "
            "(RFC 8461 §4.1)",
        )
        for host in missing
    ]


def _starttls_finding(host: str, result: _Smtp, mode: str | None) -> Finding:
    if result.ok:
        return Finding("starttls", OK, f"{host}: {result.reason}")
    if mode == "enforce":
        return Finding("starttls", ERROR, f"{host}: {result.reason}: senders will refuse to deliver here")
    if mode == "none":
        return Finding("starttls", INFO, f"{host}: {result.reason} (mode none: not enforced)")
    return Finding("starttls", WARNING, f"{host}: {result.reason}: fix this before enforce")


def _tlsrpt(answer: _Dns) -> tuple[str | None, list[Finding]]:
    check = "tlsrpt-record"
    if answer.failed:
        return None, [Finding(check, ERROR, f"_smtp._tls TXT lookup failed: {answer.error}")]
    found = [t for t in answer.records if declares(TLSRPT_VERSION, t)]
    if not found:
        return None, [
            Finding(check, WARNING, "_smtp._tls: no v=TLSRPTv1 record; nobody hears of TLS delivery failures")
        ]
    if len(found) > 1:
        return None, [
            Finding(
                check, ERROR, f"_smtp._tls: {len(found)} v=TLSRPTv1 records; senders use none (RFC 8460 §3)"
            )
        ]
    try:
        record = parse_tlsrpt_record(found[0])
    except RecordError as exc:
        return found[0], [Finding(check, ERROR, f"_smtp._tls TXT {found[0]!r} is invalid: {exc}")]
    return found[0], [Finding(check, OK, f"_smtp._tls: reports go to {', '.join(record.rua)}")]


def _drift(expected: Domain, body: bytes | None, live_id: str | None, live_rpt: str | None) -> list[Finding]:
    found = []
    want = expected.policy_text.encode("utf-8")
    if body is not None and body != want:
        found.append(
            Finding(
                "drift-policy",
                ERROR,
                f"the served policy differs from the stack's ({len(body)} vs {len(want)} bytes, "
                f"id {expected.policy_id}): run pulumi up",
            )
        )
    if live_id is not None and live_id != expected.policy_id:
        found.append(
            Finding(
                "drift-id",
                ERROR,
                f"_mta-sts id is {live_id}, the stack publishes {expected.policy_id}: senders keep a "
                "stale policy until the id matches",
            )
        )
    want_rpt = expected.tlsrpt_record
    if _rpt_key(live_rpt) != _rpt_key(want_rpt):
        found.append(
            Finding(
                "drift-tlsrpt",
                WARNING,
                f"_smtp._tls is {live_rpt or 'absent'!r}, the stack publishes {want_rpt or 'none'!r}",
            )
        )
    if not found:
        found.append(Finding("drift", OK, "live policy, id and TLS-RPT record match the stack"))
    return found


def _rpt_key(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    try:
        record = parse_tlsrpt_record(text)
    except RecordError:
        return (unquote_txt(text),)
    return record.rua + tuple(f"{n}={v}" for n, v in record.extensions)


# --------------------------------------------------------------------------- running


async def verify_async(
    domains: Iterable[str], options: Options, expected: Deployment | None = None
) -> list[Report]:
    """Check ``domains`` concurrently; reports come back in the order given."""
    probe = _Probe(options, _resolver(options), _tls_context(options.ca_bundle))
    limit = asyncio.Semaphore(max(1, options.concurrency))
    stack = {d.name: d for d in expected.domains} if expected else {}

    async def one(name: str) -> Report:
        async with limit:
            return await check_domain(probe, name, stack.get(name))

    try:
        return list(await asyncio.gather(*(one(d) for d in domains)))
    finally:
        for task in probe._tasks.values():
            task.cancel()


@dataclass(frozen=True)
class MxAnswer:
    """A domain's MX lookup: ``status`` as for every query (ok, nxdomain, nodata, error)."""

    status: str
    hosts: tuple[str, ...]
    """MX host names by preference, without duplicates or the null MX ``.``."""
    records: int
    """How many MX records there were (a null MX is one record and no host)."""
    error: str = ""


def lookup_mx(domains: Iterable[str], options: Options) -> dict[str, MxAnswer]:
    """The MX hosts of each domain, asked concurrently through the same resolver ``verify`` uses."""

    async def run(names: list[str]) -> dict[str, MxAnswer]:
        probe = _Probe(options, _resolver(options), _tls_context(options.ca_bundle))
        answers = await asyncio.gather(*(probe.query(name, "MX") for name in names))
        return {
            name: MxAnswer(answer.status, tuple(_mx_hosts(answer)), len(answer.records), answer.error)
            for name, answer in zip(names, answers, strict=True)
        }

    return asyncio.run(run(list(domains)))


def verify(domains: Iterable[str], options: Options, expected: Deployment | None = None) -> list[Report]:
    """Blocking form of ``verify_async``."""
    return asyncio.run(verify_async(list(domains), options, expected))


def render_text(reports: list[Report], elapsed: float | None = None) -> str:
    """The human report: per domain a heading, one line per finding, a summary line."""
    out = []
    width = max((len(f.check) for r in reports for f in r.findings), default=10)
    for report in reports:
        out.append(f"{report.domain} (mode {report.mode or 'unknown'})")
        for f in report.findings:
            out.append(f"  {f.severity:<7} {f.check:<{width}}  {f.reason}")
        verdict = "FAIL" if report.errors else "PASS"
        out.append(f"  {verdict}: {_plural(report.errors, 'error')}, {_plural(report.warnings, 'warning')}")
        out.append("")
    failed = sum(1 for r in reports if r.errors)
    took = f" in {elapsed:.2f} s" if elapsed is not None else ""
    out.append(f"{_plural(len(reports), 'domain')} checked{took}: {failed} with errors")
    return "\n".join(out) + "\n"


def render_json(reports: list[Report]) -> str:
    document = {
        "domains": {r.domain: r.as_json() for r in reports},
        "errors": sum(r.errors for r in reports),
        "warnings": sum(r.warnings for r in reports),
    }
    return json.dumps(document, indent=2) + "\n"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def parse_nameserver(value: str) -> tuple[str, int]:
    """``HOST[:PORT]`` (an IPv6 address as ``[ADDR]:PORT``) to (address, port)."""
    host, port = value, 53
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise UsageError(f"--nameserver {value!r}: expected [ADDRESS]:PORT")
            port = int(rest[1:])
    elif value.count(":") == 1:
        host, _, text = value.partition(":")
        if not text.isdigit():
            raise UsageError(f"--nameserver {value!r}: the port must be a number")
        port = int(text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--nameserver {value!r}: expected an IP address, optionally with :PORT") from None
    if not 0 < port < 65536:
        raise UsageError(f"--nameserver {value!r}: port out of range")
    return host, port


def options_from_args(args: Any) -> Options:
    """Validated ``Options`` from the CLI's namespace; raises ``UsageError``."""
    nameserver = parse_nameserver(args.nameserver) if args.nameserver else None
    if args.ca_bundle is not None and not os.path.isfile(args.ca_bundle):
        raise UsageError(f"--ca-bundle {args.ca_bundle!r}: no such file")
    for name in ("https_port", "smtp_port"):
        if not 0 < getattr(args, name) < 65536:
            raise UsageError(f"--{name.replace('_', '-')}: port out of range")
    if not args.timeout > 0:
        raise UsageError("--timeout must be more than 0 seconds")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    return Options(
        nameserver=nameserver,
        ca_bundle=args.ca_bundle,
        https_port=args.https_port,
        smtp_port=args.smtp_port,
        timeout=args.timeout,
        concurrency=args.concurrency,
    )


def _domain_names(raw: list[str]) -> list[str]:
    names: list[str] = []
    for value in raw:
        name = normalize_name(value.strip())
        problem = hostname_problem(name, min_labels=2)
        if problem:
            raise UsageError(f"domain {value!r} {problem}")
        if name not in names:
            names.append(name)
    return names


def run(args: Any) -> int:
    """The ``verify`` command: 0 with no error finding, 1 with any, 2 on bad usage."""
    try:
        options = options_from_args(args)
        names = _domain_names(list(args.domains or []))
        expected = None
        if args.stack:
            expected = load_stack(args.project_dir, args.stack)
            in_stack = [d.name for d in expected.domains]
            outside = [n for n in names if n not in in_stack]
            if outside:
                raise UsageError(f"{', '.join(outside)} not in stack {args.stack}")
            names = names or in_stack
        started = time.monotonic()
        reports = verify(names, options, expected)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except dns.resolver.NoResolverConfiguration:
        print("error: no system DNS resolver configured; pass --nameserver", file=sys.stderr)
        return 2
    elapsed = time.monotonic() - started
    sys.stdout.write(render_json(reports) if args.json else render_text(reports, elapsed))
    return 1 if any(r.errors for r in reports) else 0
