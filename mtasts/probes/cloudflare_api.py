"""The few Cloudflare API v4 reads ``adopt`` and the create guards need, over httpx.

Read-only: list zones by name, list a zone's DNS records by name and type, list a zone's Worker
routes. The token is ``CLOUDFLARE_API_TOKEN`` and the base URL ``CLOUDFLARE_BASE_URL`` (default
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
        """The zone named exactly ``name``, or None when the account has none by that name.

        GET /zones?name=… (https://developers.cloudflare.com/api/resources/zones/methods/list/).
        """
        found = await self._list("list zones", "/zones", {"name": name}, 50)
        for item in found:
            if str(item.get("name", "")).lower() == name.lower():
                return Zone(str(item["id"]), str(item["name"]))
        return None

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
