"""A delegated customer's onboarding, as the network shows it: its CNAMEs, its CAA, its certificate.

- ``cnames``: the CNAME at each name the customer must point at the operator (asked as ``CNAME``,
  so the answer is the customer's own record, not where it leads), and at each name a CNAME leads
  to, up to ``MAX_CHAIN`` hops: a chain that ends at the operator's name works for senders too.
- ``relevant_caa``: the CAA record set a CA consults for a name (RFC 8659 §3: the name, then each
  parent up to the top-level domain, the first non-empty set wins; aliases are followed by the
  resolver, and a set found through one is said to be the alias target's).
- ``custom_hostname_status``: the custom hostname's activation and certificate status from the
  Cloudflare API (``GET /zones/{zone_id}/custom_hostnames``, paged; developers.cloudflare.com/api/
  resources/custom_hostnames/methods/list/), with the token from ``CLOUDFLARE_API_TOKEN`` and the
  base URL from ``CLOUDFLARE_BASE_URL`` (a local fake in tests). httpx, as every HTTPS probe here.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from mtasts.probes.dns import DnsAnswer, DnsStatus
from mtasts.probes.errors import ProbeError
from mtasts.probes.prober import Prober

TOKEN_ENV = "CLOUDFLARE_API_TOKEN"
BASE_URL_ENV = "CLOUDFLARE_BASE_URL"
API_BASE = "https://api.cloudflare.com/client/v4"
PER_PAGE = 50
"""The list endpoint's largest page (its ``per_page`` runs 5 to 50)."""
MAX_CHAIN = 8
"""CNAME hops followed from a customer's name (resolvers give up on longer chains)."""


class CloudflareApiError(ProbeError):
    """The Cloudflare API could not answer: unreachable, refused the token, or a malformed answer."""


@dataclass(frozen=True)
class CustomHostnameStatus:
    """One custom hostname as the API describes it."""

    hostname: str
    status: str
    """Activation: ``active``, ``pending``, ``moved``, ``blocked``… (provider ``schema.go``)."""
    ssl_status: str
    """The certificate: ``active``, ``pending_validation``, ``pending_issuance``…"""
    errors: tuple[str, ...] = ()
    """``verification_errors`` and the certificate's ``validation_errors`` messages."""

    @property
    def active(self) -> bool:
        return self.status == "active" and self.ssl_status == "active"


@dataclass(frozen=True)
class Caa:
    """The relevant CAA record set of a name, or why it could not be read."""

    name: str
    """The name the set was found at (the queried name when none was found)."""
    records: tuple[tuple[int, str, str], ...] = ()
    """(flags, tag, value) per record; empty: no CAA anywhere up the tree (any CA may issue)."""
    error: ProbeError | None = None
    alias: str | None = None
    """The CNAME target the set was read at when ``name`` is an alias (RFC 8659 §3: CAA(X) is asked
    "chasing aliases"), so the set is the target's owner's, not ``name``'s."""


def _caa_record(text: str) -> tuple[int, str, str]:
    flags, tag, value = text.split(" ", 2)
    return int(flags), tag.lower(), value.strip('"')


async def relevant_caa(prober: Prober, name: str) -> Caa:
    """RFC 8659 §3: climb from ``name`` to the top-level domain (asked too) until a CAA set is found."""
    labels = name.rstrip(".").split(".")
    for start in range(len(labels)):
        here = ".".join(labels[start:])
        answer = await prober.query(here, "CAA")
        if answer.error is not None:
            return Caa(here, error=answer.error)
        if answer.status is DnsStatus.OK:
            alias = await prober.query(here, "CNAME")
            target = alias.records[0].rstrip(".").lower() if alias.status is DnsStatus.OK else None
            try:
                return Caa(here, tuple(_caa_record(r) for r in answer.records), alias=target)
            except ValueError:
                return Caa(here, error=ProbeError(f"{here} CAA: a record that does not parse"))
    return Caa(name)


async def cnames(prober: Prober, names: Iterable[str]) -> dict[str, DnsAnswer]:
    """The ``CNAME`` answer at each name and at each name its chain leads to (``MAX_CHAIN`` hops)."""
    found: dict[str, DnsAnswer] = {}
    ask = list(dict.fromkeys(n.lower() for n in names))
    for _ in range(MAX_CHAIN + 1):
        answers = await asyncio.gather(*(prober.query(n, "CNAME") for n in ask))
        found.update(zip(ask, answers, strict=True))
        targets = (
            a.records[0].rstrip(".").lower() for a in answers if a.status is DnsStatus.OK and a.records
        )
        ask = list(dict.fromkeys(t for t in targets if t not in found))
        if not ask:
            break
    return found


@dataclass(frozen=True)
class Api:
    """Where and how to ask Cloudflare: None from ``from_environment`` when no token is set."""

    token: str
    base_url: str = API_BASE
    timeout: float = 10.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, timeout: float = 10.0) -> Api | None:
        env = os.environ if environ is None else environ
        token = env.get(TOKEN_ENV, "")
        if not token:
            return None
        return cls(token, env.get(BASE_URL_ENV, "") or API_BASE, timeout)


def _parse_hostname(item: Any) -> CustomHostnameStatus:
    ssl = item.get("ssl") or {}
    errors = [str(e) for e in item.get("verification_errors") or []]
    errors += [
        str(e.get("message", e)) if isinstance(e, dict) else str(e)
        for e in ssl.get("validation_errors") or []
    ]
    return CustomHostnameStatus(
        hostname=str(item["hostname"]).lower(),
        status=str(item.get("status") or "unknown"),
        ssl_status=str(ssl.get("status") or "unknown"),
        errors=tuple(errors),
    )


async def _get(client: httpx.AsyncClient, path: str, params: Mapping[str, Any]) -> Any:
    try:
        response = await client.get(path, params=dict(params))
    except httpx.HTTPError as exc:
        raise CloudflareApiError(f"Cloudflare API {path}: {exc.__class__.__name__}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        raise CloudflareApiError(f"Cloudflare API {path}: HTTP {response.status_code}, not JSON") from None
    if response.status_code != 200 or not isinstance(body, dict) or not body.get("success"):
        errors = body.get("errors") if isinstance(body, dict) else None
        why = (
            "; ".join(str(e.get("message", e)) for e in errors or [] if isinstance(e, dict))
            or "no reason given"
        )
        raise CloudflareApiError(f"Cloudflare API {path}: HTTP {response.status_code}: {why}")
    return body


async def custom_hostname_status(
    api: Api, zone: str, zone_id: str | None, hostnames: Iterable[str]
) -> dict[str, CustomHostnameStatus]:
    """The status of each of ``hostnames`` found in the zone (absent: not created yet).

    Raises ``CloudflareApiError``. The zone id is looked up by name when not given.
    """
    wanted = {h.lower() for h in hostnames}
    headers = {"Authorization": f"Bearer {api.token}"}
    async with httpx.AsyncClient(base_url=api.base_url, headers=headers, timeout=api.timeout) as client:
        if zone_id is None:
            zones = (await _get(client, "/zones", {"name": zone})).get("result") or []
            if not zones:
                raise CloudflareApiError(f"Cloudflare API: no zone {zone} for this token")
            zone_id = str(zones[0]["id"])
        found: dict[str, CustomHostnameStatus] = {}
        page, pages = 1, 1
        while page <= pages:
            body = await _get(
                client, f"/zones/{zone_id}/custom_hostnames", {"page": page, "per_page": PER_PAGE}
            )
            try:
                for item in body.get("result") or []:
                    status = _parse_hostname(item)
                    if status.hostname in wanted:
                        found[status.hostname] = status
                pages = int((body.get("result_info") or {}).get("total_pages") or 1)
            except (KeyError, TypeError, ValueError, AttributeError):
                raise CloudflareApiError(
                    f"Cloudflare API: a malformed custom hostname list (page {page})"
                ) from None
            page += 1
        return found
