"""A local fake of the few Cloudflare API v4 endpoints ``mtasts`` reads, on 127.0.0.1.

Shaped from Cloudflare's API reference: every answer is the envelope
``{"success", "errors", "messages", "result", "result_info"}``
(https://developers.cloudflare.com/fundamentals/api/how-to/make-api-calls/), lists are paged by
``page``/``per_page``, a bad token is ``403`` with error code ``9109`` ("Invalid access token").

- ``GET /zones?name=`` (https://developers.cloudflare.com/api/resources/zones/methods/list/)
- ``GET /zones/{zone_id}/dns_records?name.exact=&type=``
  (https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/list/)
- ``GET /zones/{zone_id}/workers/routes``
  (https://developers.cloudflare.com/api/resources/workers/subresources/routes/methods/list/)

``FakeCloudflare(token)`` is a context manager; ``base_url`` is what ``CLOUDFLARE_BASE_URL`` takes.
``fail`` (path prefix → HTTP status) makes calls fail, ``requests`` records every path asked.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


def fake_id(*parts: str) -> str:
    """A 32-hex-digit id, stable for the same parts (Cloudflare ids look like this)."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]


@dataclass
class FakeZone:
    name: str
    records: list[dict[str, Any]] = field(default_factory=list)
    routes: list[dict[str, Any]] = field(default_factory=list)
    given_id: str | None = None

    @property
    def id(self) -> str:
        return self.given_id or fake_id("zone", self.name)

    def record(
        self, name: str, rtype: str, content: str, proxied: bool = False, comment: str | None = None
    ) -> dict[str, Any]:
        """Add a DNS record; returns it as the API lists it."""
        item = {
            "id": fake_id("record", name, rtype, content, str(len(self.records))),
            "zone_id": self.id,
            "zone_name": self.name,
            "name": name,
            "type": rtype,
            "content": content,
            "proxied": proxied,
            "ttl": 1 if proxied else 300,
            "comment": comment,
        }
        self.records.append(item)
        return item

    def route(self, pattern: str, script: str | None) -> dict[str, Any]:
        item = {"id": fake_id("route", pattern, str(len(self.routes))), "pattern": pattern, "script": script}
        self.routes.append(item)
        return item


class FakeCloudflare:
    """The fake API on 127.0.0.1:a free port; ``zones`` by name."""

    def __init__(self, token: str = "test-token") -> None:
        self.token = token
        self.zones: dict[str, FakeZone] = {}
        self.fail: dict[str, int] = {}
        self.requests: list[str] = []
        self.port = 0

    def zone(self, name: str, zone_id: str | None = None) -> FakeZone:
        """The zone ``name`` (made on first use, with ``zone_id`` if given)."""
        return self.zones.setdefault(name, FakeZone(name, given_id=zone_id))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/client/v4"

    def __enter__(self) -> FakeCloudflare:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                status, body = fake.answer(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, target: str, authorization: str) -> tuple[int, dict[str, Any]]:
        url = urlsplit(target)
        path = url.path.removeprefix("/client/v4")
        self.requests.append(path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if authorization != f"Bearer {self.token}":
            return 403, _envelope(None, [{"code": 9109, "message": "Invalid access token"}])
        for prefix, status in self.fail.items():
            if path.startswith(prefix):
                return status, _envelope(None, [{"code": 10000, "message": "Internal error"}])
        parts = path.strip("/").split("/")
        if parts == ["zones"]:
            found = [z for z in self.zones.values() if "name" not in query or z.name == query["name"]]
            return 200, _page([{"id": z.id, "name": z.name, "status": "active"} for z in found], query)
        zone = next((z for z in self.zones.values() if len(parts) > 1 and z.id == parts[1]), None)
        if parts[0] != "zones" or zone is None:
            return 404, _envelope(None, [{"code": 7003, "message": "Could not route to " + path}])
        if parts[2:] == ["dns_records"]:
            found = [
                r for r in zone.records
                if r["name"] == query.get("name.exact", query.get("name", r["name"]))
                and r["type"] == query.get("type", r["type"])
            ]  # fmt: skip
            return 200, _page(found, query)
        if parts[2:] == ["workers", "routes"]:
            return 200, _envelope(list(zone.routes))
        return 404, _envelope(None, [{"code": 7003, "message": "Could not route to " + path}])


def _envelope(result: Any, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"success": not errors, "errors": errors or [], "messages": [], "result": result}


def _page(items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
    page, per_page = int(query.get("page", "1")), int(query.get("per_page", "20"))
    chunk = items[(page - 1) * per_page : page * per_page]
    body = _envelope(chunk)
    body["result_info"] = {
        "page": page,
        "per_page": per_page,
        "count": len(chunk),
        "total_count": len(items),
        "total_pages": max(1, -(-len(items) // per_page)),
    }
    return body
