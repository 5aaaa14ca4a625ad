"""A local fake of the few Cloudflare API v4 endpoints ``mtasts`` reads, on 127.0.0.1.

Shaped from Cloudflare's API reference: every answer is the envelope
``{"success", "errors", "messages", "result", "result_info"}``
(https://developers.cloudflare.com/fundamentals/api/how-to/make-api-calls/), lists are paged by
``page``/``per_page``, a bad token is ``403`` with error code ``9109`` ("Invalid access token").

- ``GET /zones?name=&account.id=&page=&per_page=``
  (https://developers.cloudflare.com/api/resources/zones/methods/list/): ``name`` and
  ``account.id`` filter (exact), pages of ``per_page`` (5 to 50, default 20; outside that a
  ``400``), ``result_info.total_pages``; each zone with its ``account``
- ``GET /zones/{zone_id}/dns_records?name.exact=&type=``
  (https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/list/)
- ``GET /zones/{zone_id}/workers/routes``
  (https://developers.cloudflare.com/api/resources/workers/subresources/routes/methods/list/)

``FakeCloudflare(token)`` is a context manager; ``base_url`` is what ``CLOUDFLARE_BASE_URL`` takes.
``fail`` (path prefix → HTTP status) makes calls fail, ``requests`` records every path asked and
``queries`` its query; ``allow`` (a number of requests) answers every request past it with
``429`` and code ``10000`` (Cloudflare's rate limit: https://developers.cloudflare.com/fundamentals/api/reference/limits/).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ACCOUNT = "0123456789abcdef0123456789abcdef"
"""The account every fake zone is in unless told otherwise (the tests' stacks name it too)."""
RATE_LIMITED = "Rate limited. Please wait and consider throttling your request speed"


def fake_id(*parts: str) -> str:
    """A 32-hex-digit id, stable for the same parts (Cloudflare ids look like this)."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]


@dataclass
class FakeZone:
    name: str
    records: list[dict[str, Any]] = field(default_factory=list)
    routes: list[dict[str, Any]] = field(default_factory=list)
    given_id: str | None = None
    account_id: str = ACCOUNT

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
        self.queries: list[dict[str, str]] = []
        self.allow: int | None = None
        self.port = 0

    def zone(self, name: str, zone_id: str | None = None, account_id: str = ACCOUNT) -> FakeZone:
        """The zone ``name`` (made on first use, with ``zone_id`` and ``account_id`` if given)."""
        return self.zones.setdefault(name, FakeZone(name, given_id=zone_id, account_id=account_id))

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
        self.queries.append(query)
        if authorization != f"Bearer {self.token}":
            return 403, _envelope(None, [{"code": 9109, "message": "Invalid access token"}])
        if self.allow is not None and len(self.requests) > self.allow:
            return 429, _envelope(None, [{"code": 10000, "message": RATE_LIMITED}])
        for prefix, status in self.fail.items():
            if path.startswith(prefix):
                return status, _envelope(None, [{"code": 10000, "message": "Internal error"}])
        parts = path.strip("/").split("/")
        if parts == ["zones"]:
            if not 5 <= int(query.get("per_page", "20")) <= 50:
                return 400, _envelope(None, [{"code": 1001, "message": "per_page must be from 5 to 50"}])
            found = [
                z for z in self.zones.values()
                if query.get("name", z.name) == z.name
                and query.get("account.id", z.account_id) == z.account_id
            ]  # fmt: skip
            items = [
                {"id": z.id, "name": z.name, "status": "active", "account": {"id": z.account_id}}
                for z in found
            ]
            return 200, _page(items, query)
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
