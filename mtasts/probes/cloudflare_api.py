"""The few Cloudflare API v4 reads ``adopt``, ``zones`` and the create guards need, over httpx.

Read-only: look zones up by name, list an account's zones a page at a time (``find_zones``
picks the cheaper of the two), list a zone's DNS records by name and type, list a zone's Worker
routes. ``CloudflareApi.calls`` counts the requests sent, each one against the API limit. The
token is ``CLOUDFLARE_API_TOKEN`` and the base URL ``CLOUDFLARE_BASE_URL`` (default
``https://api.cloudflare.com/client/v4``), the two variables Cloudflare's own SDKs read
(cloudflare-python ``_client.py``: ``base_url = os.environ.get("CLOUDFLARE_BASE_URL")``), so tests
point it at a local fake (``tests/fake_cloudflare.py``).

Every answer is Cloudflare's envelope ``{"success", "errors", "messages", "result",
"result_info"}`` (https://developers.cloudflare.com/fundamentals/api/how-to/make-api-calls/); a
list is paged by ``page``/``per_page`` and ``result_info.total_pages``. A failure is a typed
``CloudflareApiError`` naming the call, never an empty list: "could not look" is not "absent".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
TOKEN_ENV = "CLOUDFLARE_API_TOKEN"
BASE_URL_ENV = "CLOUDFLARE_BASE_URL"
PER_PAGE = 100
"""Records per page asked of the DNS records list (its default page size; zones take at most 50)."""
ZONES_PER_PAGE = 50
"""Zones per page asked of the zone list: its largest page (``per_page`` 5 to 50, default 20,
https://developers.cloudflare.com/api/resources/zones/methods/list/)."""
MAX_PAGES = 100
"""A bound on paging: a fake or broken server cannot keep us asking forever."""


class CloudflareApiError(Exception):
    """A Cloudflare API call that gave no usable answer (network, status, ``success: false``)."""

    def __init__(self, call: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"Cloudflare API {call}: {reason}")
        self.call = call
        self.reason = reason
        self.status = status


class NoTokenError(CloudflareApiError):
    """No API token: neither ``CLOUDFLARE_API_TOKEN`` nor one passed in."""


@dataclass(frozen=True)
class Zone:
    id: str
    name: str
    account_id: str | None = None
    """The account the zone belongs to, when the answer says (``account.id``)."""


@dataclass(frozen=True)
class DnsRecord:
    """One DNS record as the API lists it (``content`` of a TXT record as Cloudflare stores it)."""

    id: str
    zone_id: str
    name: str
    type: str
    content: str
    proxied: bool = False
    comment: str | None = None

    @property
    def import_id(self) -> str:
        """``<zone_id>/<dns_record_id>``, the ID ``pulumi import`` takes for a ``DnsRecord``
        (terraform-provider-cloudflare ``internal/services/dns_record/resource.go``, ImportState)."""
        return f"{self.zone_id}/{self.id}"


@dataclass(frozen=True)
class WorkerRoute:
    id: str
    zone_id: str
    pattern: str
    script: str | None
    """The Worker the route runs; None when the route disables Workers for the pattern."""

    @property
    def import_id(self) -> str:
        """``<zone_id>/<route_id>`` (``internal/services/workers_route/resource.go``, ImportState)."""
        return f"{self.zone_id}/{self.id}"


def base_url() -> str:
    return os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL


def token_from_env() -> str | None:
    return os.environ.get(TOKEN_ENV) or None


class CloudflareApi:
    """``async with CloudflareApi() as api:`` then ``await api.zone("example.com")`` and so on."""

    def __init__(self, token: str | None = None, url: str | None = None, timeout: float = 10.0) -> None:
        found = token or token_from_env()
        if not found:
            raise NoTokenError("authentication", f"no API token: set {TOKEN_ENV}")
        self.base_url = (url or base_url()).rstrip("/")
        self.calls = 0
        """Requests sent so far, answered or not: each counts against the API limit."""
        self._client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {found}", "Accept": "application/json"},
            timeout=timeout,
            follow_redirects=False,
        )

    async def __aenter__(self) -> CloudflareApi:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._client.aclose()

    async def _list(
        self, call: str, path: str, params: dict[str, str], per_page: int
    ) -> list[dict[str, Any]]:
        """Every item of a paged list."""
        items: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            body = await self._get(call, path, {**params, "page": str(page), "per_page": str(per_page)})
            result = body.get("result")
            if not isinstance(result, list):
                raise CloudflareApiError(call, "the answer has no result list")
            items += [r for r in result if isinstance(r, dict)]
            info = body.get("result_info")
            pages = info.get("total_pages") if isinstance(info, dict) else None
            if not isinstance(pages, int) or page >= pages or not result:
                return items
        raise CloudflareApiError(call, f"more than {MAX_PAGES} pages")

    async def _get(self, call: str, path: str, params: dict[str, str]) -> dict[str, Any]:
        self.calls += 1
        try:
            response = await self._client.get(f"{self.base_url}{path}", params=params)
        except httpx.HTTPError as exc:
            raise CloudflareApiError(call, f"no answer from {self.base_url}: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise CloudflareApiError(
                call, f"HTTP {response.status_code}, not a JSON object", response.status_code
            )
        if response.status_code != 200 or body.get("success") is not True:
            errors = body.get("errors") or []
            said = (
                "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict))
                or "no error given"
            )
            raise CloudflareApiError(call, f"HTTP {response.status_code}: {said}", response.status_code)
        return body

    async def zone(self, name: str) -> Zone | None:
        """The zone named exactly ``name``, or None when the token sees none by that name
        (``zones_named``, one request)."""
        found = await self.zones_named(name)
        return found[0] if found else None

    async def zones_named(self, name: str, account_id: str | None = None) -> list[Zone]:
        """Every zone named exactly ``name`` (in ``account_id`` when given): one request.

        GET /zones?name=…&account.id=… (https://developers.cloudflare.com/api/resources/zones/methods/list/:
        ``name`` compares with ``equal`` unless an operator is given); the names are compared
        again here, so a server that ignores the filter changes nothing.
        """
        params = {"name": name, "per_page": str(ZONES_PER_PAGE)}
        if account_id is not None:
            params["account.id"] = account_id
        call = f"look up zone {name}"
        body = await self._get(call, "/zones", params)
        info = body.get("result_info")
        if isinstance(info, dict) and isinstance(info.get("total_pages"), int) and info["total_pages"] > 1:
            # One name, one account: one zone at most. More pages mean the filter was not applied,
            # and the zone could be on a page not read: that is "could not ask", not "absent".
            raise CloudflareApiError(call, f"the name filter was not applied ({info['total_pages']} pages)")
        return [z for z in _zones(body, call) if z.name == name.lower()]

    async def zones_page(self, page: int, account_id: str | None = None) -> tuple[list[Zone], int]:
        """One page of the zones the token can see (in ``account_id`` when given), ``ZONES_PER_PAGE``
        to a page, and how many pages there are (``result_info.total_pages``).

        GET /zones?account.id=…&page=N&per_page=50
        (https://developers.cloudflare.com/api/resources/zones/methods/list/).
        """
        call = f"list zones (page {page})"
        params = {"page": str(page), "per_page": str(ZONES_PER_PAGE)}
        if account_id is not None:
            params["account.id"] = account_id
        body = await self._get(call, "/zones", params)
        info = body.get("result_info")
        pages = info.get("total_pages") if isinstance(info, dict) else None
        if isinstance(pages, bool) or not isinstance(pages, int) or pages < 0:
            raise CloudflareApiError(call, "the answer has no result_info.total_pages")
        return _zones(body, call), pages

    async def dns_records(self, zone_id: str, name: str, rdtype: str | None = None) -> list[DnsRecord]:
        """The zone's records named exactly ``name`` (of ``rdtype`` when given).

        GET /zones/{zone_id}/dns_records?name.exact=…&type=…
        (https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/list/);
        the names are compared again here, so a server that ignores the filter changes nothing.
        """
        params = {"name.exact": name}
        if rdtype:
            params["type"] = rdtype
        found = await self._list("list DNS records", f"/zones/{zone_id}/dns_records", params, PER_PAGE)
        records = []
        for item in found:
            record = DnsRecord(
                id=str(item.get("id", "")),
                zone_id=zone_id,
                name=str(item.get("name", "")).rstrip(".").lower(),
                type=str(item.get("type", "")),
                content=str(item.get("content", "")),
                proxied=bool(item.get("proxied", False)),
                comment=item.get("comment") if isinstance(item.get("comment"), str) else None,
            )
            if record.name == name.lower() and (rdtype is None or record.type == rdtype):
                records.append(record)
        return records

    async def worker_routes(self, zone_id: str) -> list[WorkerRoute]:
        """The zone's Worker routes.

        GET /zones/{zone_id}/workers/routes
        (https://developers.cloudflare.com/api/resources/workers/subresources/routes/methods/list/):
        ``result`` is ``[{"id", "pattern", "script"}]``, not paged.
        """
        body = await self._get("list Worker routes", f"/zones/{zone_id}/workers/routes", {})
        result = body.get("result")
        if not isinstance(result, list):
            raise CloudflareApiError("list Worker routes", "the answer has no result list")
        return [
            WorkerRoute(
                id=str(item.get("id", "")),
                zone_id=zone_id,
                pattern=str(item.get("pattern", "")),
                script=str(item["script"]) if item.get("script") else None,
            )
            for item in result
            if isinstance(item, dict)
        ]


def _zones(body: dict[str, Any], call: str) -> list[Zone]:
    """The zones of a zone-list answer; an item without a string id and name is a broken answer."""
    result = body.get("result")
    if not isinstance(result, list):
        raise CloudflareApiError(call, "the answer has no result list")
    zones = []
    for item in result:
        zone_id, name = (item.get("id"), item.get("name")) if isinstance(item, dict) else (None, None)
        if not isinstance(zone_id, str) or not isinstance(name, str):
            raise CloudflareApiError(call, "a zone in the answer has no id or name")
        account = item.get("account")
        owner = account.get("id") if isinstance(account, dict) else None
        zones.append(Zone(zone_id, name.rstrip(".").lower(), owner if isinstance(owner, str) else None))
    return zones


@dataclass(frozen=True)
class ZoneLookup:
    """What ``find_zones`` found, and what it cost."""

    found: dict[str, Zone]
    """Zone name → the zone, for every name the account has."""
    missing: tuple[str, ...]
    """Names the account does not have, or the token cannot see: each asked by name too, so a
    zone is never called missing on the word of a listing that moved while it was paged."""
    calls: int
    """API requests spent."""
    pages: int
    """Pages of the account's zone list read (0: every zone asked by name)."""


async def find_zones(api: CloudflareApi, names: list[str], account_id: str) -> ZoneLookup:
    """The zones named ``names`` in ``account_id``, in the fewest requests.

    Asking by name costs one request a zone; listing the account costs one a page of 50. The
    first page tells how many pages there are (and already holds some of the zones), so with
    more than one zone to find, page 1 is read, then either the other pages (when they are no
    more than the zones still to find) or each zone left by name. At most one request more than
    the cheaper way, which could not be known without it.
    """
    wanted = sorted(set(names))
    before = api.calls
    found: dict[str, Zone] = {}
    pages = 0

    def take(zones: list[Zone], call: str) -> None:
        for zone in zones:
            if zone.name not in wanted or zone.account_id not in (None, account_id):
                continue
            seen = found.setdefault(zone.name, zone)
            if seen.id != zone.id:
                raise CloudflareApiError(call, f"two zones named {zone.name}: {seen.id} and {zone.id}")

    if len(wanted) > 1:
        zones, total = await api.zones_page(1, account_id)
        pages = 1
        take(zones, "list zones (page 1)")
        if len(wanted) - len(found) > 0 and total - 1 <= len(wanted) - len(found):
            for page in range(2, total + 1):
                zones, _ = await api.zones_page(page, account_id)
                pages += 1
                take(zones, f"list zones (page {page})")
                if not zones or len(found) == len(wanted):
                    break
    for name in wanted:
        if name not in found:
            take(await api.zones_named(name, account_id), f"look up zone {name}")
    missing = tuple(name for name in wanted if name not in found)
    return ZoneLookup(found, missing, api.calls - before, pages)
