"""Servers the customer-domain tests need beside ``tests.servers``: a resolver that follows CNAMEs
across zones, and a fake of the few Cloudflare API endpoints ``mtasts.probes.custom_hostnames`` calls.

- ``ChasingDns``: a UDP and TCP DNS front on 127.0.0.1 that forwards to an authoritative server
  (Knot) and, as a recursive resolver does, follows a CNAME out of one zone into another (Knot
  answers only the CNAME when its target is in another zone it serves). CNAME questions are
  answered as they are, so the customer's own record can be read.
- ``FakeCloudflare``: ``GET /zones?name=`` and ``GET /zones/{id}/custom_hostnames?page=&per_page=``
  with the envelope ``{"success", "errors", "result", "result_info"}`` of the Cloudflare API
  (developers.cloudflare.com/api/resources/custom_hostnames/methods/list/); a bearer token is
  required; pages hold ``page_size`` items (2 by default, so paging is exercised).
"""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import dns.asyncquery
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from tests.servers import _LoopThread, free_port

MAX_CHAIN = 8


def _chain_end(response: dns.message.Message, name: dns.name.Name, rdtype: int) -> dns.name.Name | None:
    """The CNAME target still to ask for, or None when ``response`` answers ``name`` fully."""
    for _ in range(MAX_CHAIN):
        if any(r.name == name and r.rdtype == rdtype for r in response.answer):
            return None
        cname = next((r for r in response.answer if r.name == name and r.rdtype == dns.rdatatype.CNAME), None)
        if cname is None:
            return None if name == response.question[0].name else name
        name = cname[0].target
    return None


class ChasingDns:
    """A CNAME-following DNS front for ``upstream`` (host, port); ``address`` as ``--nameserver`` takes it."""

    def __init__(self, upstream: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.upstream = upstream
        self.host = host
        self.port = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def answer(self, query: dns.message.Message) -> dns.message.Message:
        host, port = self.upstream
        response = await dns.asyncquery.udp(query, host, port=port, timeout=2)
        question = query.question[0]
        if response.rcode() == dns.rcode.REFUSED:
            # A name in no zone of the lab (a top-level domain's CAA, say): one that does not exist.
            response.set_rcode(dns.rcode.NXDOMAIN)
        if question.rdtype in (dns.rdatatype.CNAME, dns.rdatatype.ANY):
            return response
        for _ in range(MAX_CHAIN):
            target = _chain_end(response, question.name, question.rdtype)
            if target is None:
                break
            more = await dns.asyncquery.udp(
                dns.message.make_query(target, question.rdtype), host, port=port, timeout=2
            )
            response.answer += more.answer
            response.authority = more.authority
            # A name in no zone of the lab: the rest of the internet, where it does not exist.
            rcode = dns.rcode.NXDOMAIN if more.rcode() == dns.rcode.REFUSED else more.rcode()
            response.set_rcode(rcode)
        response.flags &= ~dns.flags.AA
        response.flags |= dns.flags.RA
        return response

    def __enter__(self) -> ChasingDns:
        self._loop = _LoopThread()
        self.port = free_port(self.host)
        front = self

        class Udp(asyncio.DatagramProtocol):
            def connection_made(self, transport: Any) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: Any) -> None:
                async def reply() -> None:
                    try:
                        answer = await front.answer(dns.message.from_wire(data))
                    except Exception:  # noqa: BLE001 - a test server: a bad query gets no answer
                        return
                    self.transport.sendto(answer.to_wire(), addr)

                asyncio.ensure_future(reply())

        async def tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    size = int.from_bytes(await reader.readexactly(2), "big")
                    answer = await front.answer(dns.message.from_wire(await reader.readexactly(size)))
                    wire = answer.to_wire()
                    writer.write(len(wire).to_bytes(2, "big") + wire)
                    await writer.drain()
            except (asyncio.IncompleteReadError, OSError, asyncio.CancelledError):
                writer.close()

        async def start() -> Any:
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(Udp, local_addr=(self.host, self.port))
            server = await asyncio.start_server(tcp, self.host, self.port)
            return transport, server

        self._udp, self._tcp = self._loop.run(start())
        return self

    def __exit__(self, *exc: object) -> None:
        self._udp.close()
        self._tcp.close()
        self._loop.stop()


class FakeCloudflare:
    """The custom hostname list of one zone, behind a bearer token, on 127.0.0.1."""

    def __init__(
        self, token: str, zone: str, zone_id: str, hostnames: list[dict[str, Any]], page_size: int = 2
    ):
        self.token = token
        self.zone = zone
        self.zone_id = zone_id
        self.hostnames = hostnames
        self.page_size = page_size
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/client/v4"

    def _answer(self, path: str, query: dict[str, list[str]], auth: str | None) -> tuple[int, dict[str, Any]]:
        if auth != f"Bearer {self.token}":
            return 403, {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}]}
        if path == "/client/v4/zones":
            found = [{"id": self.zone_id, "name": self.zone}] if query.get("name") == [self.zone] else []
            return 200, {"success": True, "errors": [], "result": found}
        if path == f"/client/v4/zones/{self.zone_id}/custom_hostnames":
            page = int(query.get("page", ["1"])[0])
            size = min(int(query.get("per_page", ["20"])[0]), self.page_size)
            items = self.hostnames[(page - 1) * size : page * size]
            pages = max(1, -(-len(self.hostnames) // size))
            info = {"page": page, "per_page": size, "count": len(items), "total_count": len(self.hostnames)}
            return 200, {
                "success": True,
                "errors": [],
                "result": items,
                "result_info": {**info, "total_pages": pages},
            }
        return 404, {"success": False, "errors": [{"code": 7003, "message": "No route for that URI"}]}

    def __enter__(self) -> FakeCloudflare:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                parsed = urlparse(self.path)
                fake.requests.append(self.path)
                status, body = fake._answer(
                    parsed.path, parse_qs(parsed.query), self.headers.get("Authorization")
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base signature
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def hostname(name: str, status: str = "active", ssl_status: str = "active", **extra: Any) -> dict[str, Any]:
    """One custom hostname as the API lists it."""
    return {"id": f"id-{name}", "hostname": name, "status": status, "ssl": {"status": ssl_status, **extra}}
