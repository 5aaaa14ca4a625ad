"""Real servers on 127.0.0.0/8 for ``verify``'s tests and benchmark: Knot DNS, HTTPS, SMTP.

- ``KnotDns``: ``knotd`` as the current user, config and zone files in a temporary directory.
- ``DelayingDns``: a UDP/TCP DNS proxy that waits a fixed time before each answer, since
  loopback has no round-trip time and Knot cannot delay.
- ``HttpsServer``: one asyncio TLS server picking the certificate by SNI and the answer by
  ``Host`` (``Route``: status, type, body, delay, or a reverse proxy to an HTTP upstream).
- ``SmtpServer``: aiosmtpd with or without STARTTLS, optionally slow to greet.
- ``Pki``: a trustme CA and the certificates tests need (good, expired, wrong name,
  self-signed).

Each server runs in the background and is a context manager.
"""

from __future__ import annotations

import asyncio
import datetime
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from aiosmtpd.smtp import SMTP
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

POLICY_PATH = "/.well-known/mta-sts.txt"


def free_port(host: str = "127.0.0.1", hosts: Iterable[str] = ()) -> int:
    """A port free for TCP and UDP on ``host`` and on each of ``hosts``."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
        try:
            for addr in (host, *hosts):
                family = socket.AF_INET6 if ":" in addr else socket.AF_INET
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    with socket.socket(family, kind) as sock:
                        sock.bind((addr, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port")


# --------------------------------------------------------------------------- certificates


@dataclass
class Pki:
    """A test CA (trusted through ``ca_file``) and the certificates issued from it."""

    directory: Path
    ca: trustme.CA = field(default_factory=trustme.CA)

    def __post_init__(self) -> None:
        self.ca_file = self.directory / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))

    def context(
        self,
        *names: str,
        expired: bool = False,
        maximum_version: ssl.TLSVersion | None = None,
        days_left: float | None = None,
    ) -> ssl.SSLContext:
        """A server context with a certificate from the test CA for ``names``.

        ``days_left``: the certificate expires that many days from now (valid since 30 days ago).
        """
        return self.context_for(self.issue(*names, expired=expired, days_left=days_left), maximum_version)

    def issue(self, *names: str, expired: bool = False, days_left: float | None = None) -> trustme.LeafCert:
        """A leaf certificate from the test CA for ``names`` (see ``context``)."""
        kwargs: dict[str, Any] = {}
        now = datetime.datetime.now(datetime.UTC)
        if expired:
            kwargs = {
                "not_before": now - datetime.timedelta(days=30),
                "not_after": now - datetime.timedelta(days=1),
            }
        elif days_left is not None:
            kwargs = {
                "not_before": now - datetime.timedelta(days=30),
                "not_after": now + datetime.timedelta(days=days_left),
            }
        return self.ca.issue_cert(*names, **kwargs)

    def context_for(
        self, cert: trustme.LeafCert, maximum_version: ssl.TLSVersion | None = None
    ) -> ssl.SSLContext:
        """A server context presenting ``cert``."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        if maximum_version is not None:
            # An old server: also allow the old versions OpenSSL's security level would refuse.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # old on purpose
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = maximum_version
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        return ctx

    def self_signed_context(self, name: str) -> ssl.SSLContext:
        """A server context with a self-signed certificate for ``name`` (no CA trusts it)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            # Key identifiers as a real certificate has them: Python 3.13's strict checks want them.
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        path = self.directory / f"self-signed-{name}.pem"
        path.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(path))
        return ctx


# --------------------------------------------------------------------------- DNS


def zone_text(origin: str, records: Iterable[tuple[str, str, str]], ttl: int = 300) -> str:
    """A zone file for ``origin`` with an SOA, an NS and ``records`` as (name, type, rdata).

    Names are relative to the origin unless they end with a dot; ``@`` is the origin.
    """
    lines = [
        f"$ORIGIN {origin}.",
        f"$TTL {ttl}",
        "@ SOA ns.invalid. hostmaster.invalid. 1 3600 600 86400 300",
        "@ NS ns.invalid.",
    ]
    lines += [f"{name} {rtype} {rdata}" for name, rtype, rdata in records]
    return "\n".join(lines) + "\n"


def knotd_binary() -> str:
    found = shutil.which("knotd") or shutil.which("knotd", path="/usr/sbin:/sbin")
    if not found:
        raise FileNotFoundError("knotd not found: install the Debian package knot")
    return found


def ensure_loopback(address: str) -> str:
    """Add ``address`` (IPv6) to ``lo`` unless it is there already; needs root. Returns it."""
    shown = subprocess.run(
        ["ip", "-6", "addr", "show", "dev", "lo"], capture_output=True, text=True, check=True
    )
    if f"inet6 {address}/" not in shown.stdout:
        subprocess.run(["ip", "-6", "addr", "add", f"{address}/128", "dev", "lo", "nodad"], check=False)
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))  # raises when the address could not be added (not root)
    return address


class KnotDns:
    """``knotd`` serving ``zones`` (origin → zone text) on ``host``:a free port.

    Zones named in ``signed`` are DNSSEC-signed by Knot itself (``dnssec-signing: on``, its
    default policy: ECDSA P-256 KSK and ZSK made at start); ``dnskey(origin)`` reads the keys back.
    """

    def __init__(self, zones: dict[str, str], host: str = "127.0.0.1", signed: Iterable[str] = ()) -> None:
        self.zones = zones
        self.signed = set(signed)
        self.host = host
        self.port = 0
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """``HOST:PORT``, as ``--nameserver`` takes it."""
        return f"{self.host}:{self.port}"

    def __enter__(self) -> KnotDns:
        self._tmp = tempfile.TemporaryDirectory(prefix="mtasts-knot-")
        tmp = Path(self._tmp.name)
        for origin, text in self.zones.items():
            (tmp / f"{origin}.zone").write_text(text, encoding="utf-8")
        for _ in range(5):
            self.port = free_port(self.host)
            zones = "".join(
                f"  - domain: {origin}\n" + ("    dnssec-signing: on\n" if origin in self.signed else "")
                for origin in self.zones
            )
            (tmp / "knot.conf").write_text(
                f"""server:
    rundir: "{tmp}"
    listen: {self.host}@{self.port}
    udp-workers: 2
    tcp-workers: 2
    background-workers: 1
log:
  - target: stderr
    any: error
database:
    storage: "{tmp}"
template:
  - id: default
    storage: "{tmp}"
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: none
zone:
{zones}""",
                encoding="utf-8",
            )
            self._process = subprocess.Popen(
                [knotd_binary(), "-c", str(tmp / "knot.conf")],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=open(tmp / "knotd.log", "wb"),  # noqa: SIM115 - closed with the process
            )
            if all(self._wait_ready(origin) for origin in self.zones):
                return self
            self._stop()
        raise RuntimeError(f"knotd did not start: {(tmp / 'knotd.log').read_text(errors='replace')[-2000:]}")

    def dnskey(self, origin: str) -> list[str]:
        """The zone's DNSKEY records as zone-file lines (``origin. DNSKEY 257 3 13 …``)."""
        query = dns.message.make_query(origin + ".", "DNSKEY")
        answer = dns.query.udp(query, self.host, port=self.port, timeout=2)
        return [f"{origin}. DNSKEY {r.to_text()}" for rrset in answer.answer for r in rrset]

    def _wait_ready(self, origin: str) -> bool:
        signed = origin in self.signed
        query = dns.message.make_query(origin + ".", "DNSKEY" if signed else "SOA", want_dnssec=signed)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                answer = dns.query.udp(query, self.host, port=self.port, timeout=0.2)
                if answer.answer and (not signed or len(answer.answer) > 1):  # the keys and their RRSIG
                    return True
            except (dns.exception.Timeout, OSError):
                pass
            time.sleep(0.02)
        return False

    def _stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def __exit__(self, *exc: object) -> None:
        self._stop()
        if self._tmp is not None:
            self._tmp.cleanup()


class _LoopThread:
    """An asyncio loop in a daemon thread, for servers that live beside blocking tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self, server: asyncio.base_events.Server) -> None:
        """Close ``server`` on the loop's own thread: ``Server.close`` is not thread-safe, and
        called from the test's thread it races the loop detaching the last connection."""

        async def close() -> None:
            server.close()

        self.run(close(), timeout=5)

    def stop(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.run(cancel_all(), timeout=5)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            self.loop.close()


class DelayingDns:
    """A DNS proxy on ``host``:a free port that answers each query ``delay`` seconds late.

    UDP queries go upstream over one socket with ids rewritten (cheap: no message is parsed
    beyond its id, so the proxy itself never becomes the bottleneck it is meant to model);
    TCP queries are forwarded with dnspython.
    """

    def __init__(self, upstream: tuple[str, int], delay: float, host: str = "127.0.0.1") -> None:
        self.upstream = upstream
        self.delay = delay
        self.host = host
        self.port = 0
        self.queries = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def __enter__(self) -> DelayingDns:
        self._loop = _LoopThread()
        self.port = free_port(self.host)
        proxy = self
        pending: dict[int, tuple[bytes, Any]] = {}
        counter = [0]

        class Upstream(asyncio.DatagramProtocol):
            def connection_made(self, transport: Any) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: Any) -> None:
                waiting = pending.pop(int.from_bytes(data[:2], "big"), None)
                if waiting is not None:
                    original, client = waiting
                    downstream.transport.sendto(original + data[2:], client)

        class Downstream(asyncio.DatagramProtocol):
            def connection_made(self, transport: Any) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: Any) -> None:
                if len(data) < 12:
                    return
                proxy.queries += 1
                counter[0] = (counter[0] + 1) % 65536
                ident = counter[0]
                pending[ident] = (data[:2], addr)
                wire = ident.to_bytes(2, "big") + data[2:]
                asyncio.get_running_loop().call_later(proxy.delay, upstream.transport.sendto, wire)

        async def tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    size = int.from_bytes(await reader.readexactly(2), "big")
                    query = dns.message.from_wire(await reader.readexactly(size))
                    proxy.queries += 1
                    await asyncio.sleep(proxy.delay)
                    answer = await dns.asyncquery.tcp(
                        query, proxy.upstream[0], port=proxy.upstream[1], timeout=5
                    )
                    wire = answer.to_wire()
                    writer.write(len(wire).to_bytes(2, "big") + wire)
                    await writer.drain()
            except (asyncio.IncompleteReadError, OSError, asyncio.CancelledError):
                writer.close()

        async def start() -> tuple[Any, Any]:
            loop = asyncio.get_running_loop()
            _, up = await loop.create_datagram_endpoint(Upstream, remote_addr=self.upstream)
            self._udp, down = await loop.create_datagram_endpoint(
                Downstream, local_addr=(self.host, self.port)
            )
            self._tcp = await asyncio.start_server(tcp, self.host, self.port)
            return up, down

        upstream, downstream = self._loop.run(start())
        self._upstream = upstream
        return self

    def __exit__(self, *exc: object) -> None:
        self._udp.close()
        self._upstream.transport.close()
        self._tcp.close()
        self._loop.stop()


# --------------------------------------------------------------------------- HTTPS


@dataclass(frozen=True)
class Route:
    """What the HTTPS server answers for one ``Host`` at the policy path."""

    body: bytes = b""
    status: int = 200
    content_type: str | None = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    """Seconds to wait before answering."""
    proxy: str | None = None
    """``http://HOST:PORT`` to forward the request to, with the client's ``Host``."""
    raw: bytes | None = None
    """Bytes to send as the whole answer, as they are (hostile servers: bare LF, 1xx, huge heads)."""
    bodies: tuple[bytes, ...] = ()
    """Bodies answered in turn, one per request (a flapping host behind a load balancer)."""
    drip: float = 0.0
    """Seconds between the bytes of the answer, sent one at a time (a slow-drip host)."""


class HttpsServer:
    """TLS on ``host``:``port`` (0: a free one); certificate by SNI, answer by ``Host``.

    ``contexts`` maps a server name to its server ``SSLContext``; other names get
    ``default_context``. ``greeting_delay`` seconds pass before the server reads the
    ClientHello, so each handshake costs that much more (a model of distance).
    """

    def __init__(
        self,
        contexts: dict[str, ssl.SSLContext],
        default_context: ssl.SSLContext,
        routes: dict[str, Route],
        host: str = "127.0.0.1",
        port: int = 0,
        greeting_delay: float = 0.0,
    ) -> None:
        self.contexts = contexts
        self.routes = routes
        self.host = host
        self.port = port
        self.greeting_delay = greeting_delay
        self.requests = 0
        self.turns: dict[str, int] = {}
        self.context = default_context
        self.context.sni_callback = self._sni

    def _sni(self, sslobj: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        if name and name.lower() in self.contexts:
            sslobj.context = self.contexts[name.lower()]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.greeting_delay:
                # Hold the ClientHello in the kernel: bytes read into the plain StreamReader
                # now would never reach the TLS layer that start_tls puts in place.
                writer.transport.pause_reading()
                await asyncio.sleep(self.greeting_delay)
            await writer.start_tls(self.context)
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                line = await reader.readline()
                if not line:
                    return
                head += line
            self.requests += 1
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 2 else ""
            host = ""
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "host":
                    host = value.strip().lower().rsplit(":", 1)[0] if "]" not in value else value.strip()
            route = self.routes.get(host)
            if route is not None and route.proxy:
                writer.write(await _forward(route.proxy, head))
            elif route is None or path != POLICY_PATH:
                writer.write(_response(404, b"not found\n", "text/plain", ()))
            else:
                if route.delay:
                    await asyncio.sleep(route.delay)
                body = route.body
                if route.bodies:
                    turn = self.turns.get(host, 0)
                    self.turns[host] = turn + 1
                    body = route.bodies[turn % len(route.bodies)]
                answer = (
                    route.raw
                    if route.raw is not None
                    else _response(route.status, body, route.content_type, route.headers)
                )
                if route.drip:
                    for index in range(len(answer)):
                        writer.write(answer[index : index + 1])
                        await writer.drain()
                        await asyncio.sleep(route.drip)
                else:
                    writer.write(answer)
            await writer.drain()
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # a client that gave up, a handshake the client refused, or shutdown
        finally:
            writer.close()

    def __enter__(self) -> HttpsServer:
        self._loop = _LoopThread()
        if not self.port:
            self.port = free_port(self.host)

        async def start() -> asyncio.base_events.Server:
            return await asyncio.start_server(self._handle, self.host, self.port, backlog=1024)

        self._server = self._loop.run(start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._loop.close(self._server)
        finally:
            self._loop.stop()


def _response(
    status: int, body: bytes, content_type: str | None, headers: Iterable[tuple[str, str]]
) -> bytes:
    lines = [f"HTTP/1.1 {status} Status", f"Content-Length: {len(body)}", "Connection: close"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _forward(upstream: str, head: bytes) -> bytes:
    """Send ``head`` (a GET, ``Host`` included) to ``upstream`` and return its raw answer."""
    host, _, port = upstream.removeprefix("http://").rstrip("/").partition(":")
    reader, writer = await asyncio.open_connection(host, int(port or 80))
    lines = [
        line
        for line in head.decode("latin-1").split("\r\n")
        if line and not line.lower().startswith("connection:")
    ]
    writer.write(("\r\n".join([*lines, "Connection: close"]) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


# --------------------------------------------------------------------------- SMTP


class SmtpServer:
    """aiosmtpd on ``host``:``port``, offering STARTTLS with ``context`` (None: no STARTTLS)."""

    def __init__(
        self,
        host: str,
        port: int,
        context: ssl.SSLContext | None,
        name: str = "mx.invalid",
        greeting_delay: float = 0.0,
    ) -> None:
        delay = greeting_delay

        class SlowSmtp(SMTP):
            async def _handle_client(self) -> None:
                if delay:
                    await asyncio.sleep(delay)
                await super()._handle_client()

        class Slow(Controller):
            def factory(self) -> SMTP:
                return SlowSmtp(self.handler, **self.SMTP_kwargs)

        self.host = host
        self.port = port
        self.controller = Slow(
            Sink(),
            hostname=host,
            port=port,
            server_hostname=name,
            tls_context=context,
            require_starttls=False,
            ready_timeout=10,
        )

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def start_serve(
    argv: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """Start ``mtasts serve`` (``argv``) and read its banner up to the last line, ``Ctrl-C stops.``.

    Returns the running process and the banner; raises ``AssertionError`` with its output when it
    exits before. The caller stops it.
    """
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    banner = ""
    for line in process.stdout:
        banner += line
        if line.startswith("Ctrl-C stops."):
            break
    if process.poll() is not None:
        raise AssertionError(banner + process.communicate()[1])
    return process, banner


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# --------------------------------------------------------------------------- hostile servers


class ScriptedSmtp:
    """Sends ``greeting`` (such as ``421 busy``) on each connection, then waits for the close."""

    def __init__(self, host: str, port: int, greeting: bytes) -> None:
        self.host = host
        self.port = port
        self.greeting = greeting
        self.connections = 0

    def __enter__(self) -> ScriptedSmtp:
        self._loop = _LoopThread()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                if self.greeting:
                    writer.write(self.greeting)
                    await writer.drain()
                await reader.read()
            except (OSError, asyncio.CancelledError):
                pass  # the client left, or shutdown
            finally:
                writer.close()

        async def start() -> Any:
            return await asyncio.start_server(handle, self.host, self.port)

        self._server = self._loop.run(start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._loop.close(self._server)
        finally:
            self._loop.stop()


class SilentServer(ScriptedSmtp):
    """Accepts TCP connections on ``host``:``port`` and never says a word: a hung host."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port, b"")


class SilentDns:
    """A UDP socket on ``host``:a free port that takes DNS queries and never answers."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def __enter__(self) -> SilentDns:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((self.host, 0))
        self.port = self._socket.getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self._socket.close()


class TinyDns:
    """A dnspython UDP responder on ``host``:a free port: every ``<label>.<zone>`` MX question gets
    ``10 mx.<zone>``; other names under the zone get NXDOMAIN. Cheap to start, for load benchmarks.
    """

    def __init__(self, zone: str, host: str = "127.0.0.1", delay: float = 0.0) -> None:
        self.zone = dns.name.from_text(zone)
        self.host = host
        self.delay = delay
        self.port = 0
        self.queries = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def __enter__(self) -> TinyDns:
        self._loop = _LoopThread()
        server = self
        exchange = dns.name.from_text("mx", self.zone)

        class Responder(asyncio.DatagramProtocol):
            def connection_made(self, transport: Any) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: Any) -> None:
                try:
                    query = dns.message.from_wire(data)
                except dns.exception.DNSException:
                    return
                server.queries += 1
                answer = dns.message.make_response(query)
                question = query.question[0]
                if question.name.is_subdomain(server.zone) and question.rdtype == dns.rdatatype.MX:
                    answer.answer.append(
                        dns.rrset.from_text(question.name, 300, "IN", "MX", f"10 {exchange.to_text()}")
                    )
                else:
                    answer.set_rcode(dns.rcode.NXDOMAIN)
                wire = answer.to_wire()
                if server.delay:
                    asyncio.get_running_loop().call_later(server.delay, self.transport.sendto, wire, addr)
                else:
                    self.transport.sendto(wire, addr)

        async def start() -> Any:
            transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                Responder, local_addr=(self.host, 0)
            )
            return transport

        self._transport = self._loop.run(start())
        self.port = self._transport.get_extra_info("sockname")[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self._transport.close()
        self._loop.stop()


# --------------------------------------------------------------------------- the shared lab


_T = TypeVar("_T")


class Lab:
    """The servers of a test run, shared: one test CA, and each Knot DNS started once per distinct
    set of zones, kept until the session ends (``tests/conftest.py``'s ``lab`` fixture).

    ``start(server)`` runs any other server (HTTPS, SMTP, a stub) for the rest of the session, so a
    module asks for what it needs instead of owning a stack of context managers.
    """

    def __init__(self, directory: Path) -> None:
        self.pki = Pki(directory)
        self._dns: dict[tuple[tuple[str, str], ...], KnotDns] = {}
        self._running: list[Any] = []

    def dns(self, zones: dict[str, str], signed: Iterable[str] = ()) -> KnotDns:
        """A Knot DNS serving exactly ``zones``; the same zones (and signing) get the same server."""
        key = (*sorted(zones.items()), *(("signed", name) for name in sorted(signed)))
        if key not in self._dns:
            self._dns[key] = self.start(KnotDns(zones, signed=signed))
        return self._dns[key]

    def start(self, server: AbstractContextManager[_T]) -> _T:
        """Enter ``server`` (a context manager) now; it is exited when the session ends."""
        entered = server.__enter__()
        self._running.append(server)
        return entered

    def close(self) -> None:
        """Exit every server, the last started first."""
        while self._running:
            self._running.pop().__exit__(None, None, None)
