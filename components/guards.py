"""Create guards: the first ``pulumi up`` never creates beside a hand-made record or route.

Cloudflare accepts several TXT records at one name, so creating ``_mta-sts.<d>`` beside a
hand-made ``v=STSv1`` record leaves two, which senders read as "no policy" (RFC 8461 §3.1).
``before_create`` hooks refuse that, naming the live record and ``mtasts adopt``:

- on each domain's ``_mta-sts`` TXT: any ``v=STSv1`` TXT at the name that does not carry the
  program's comment (``components.dns.COMMENT``) is foreign. Looked up with the Cloudflare API
  (``CLOUDFLARE_API_TOKEN`` or ``cloudflare:apiToken``; ``CLOUDFLARE_BASE_URL``), which is
  authoritative and immediate; without a token, in DNS. A lookup that fails refuses too (fail
  closed): "could not look" is not "nothing there".
- on each Worker route: a route of the zone with the same pattern ``mta-sts.<d>/*``, whatever
  script it runs. Routes are only visible through the API; without a token (a provider
  authenticated by global API key and e-mail) the guard logs a warning and lets the provider
  try. That is safe for mail, unlike a second TXT: a zone's route patterns are unique and one
  pattern cannot point at two Workers (cloudflare-docs PR #8400, "Routes": "route uniqueness"),
  so Cloudflare refuses the create, the ``up`` stops at that route with the API's error, and the
  hand-made route keeps serving its policy until it is adopted.

Run on ``pulumi preview`` too (``on_dry_run=True``): the guards only read, and a preview is
where an operator should first hear of the hand-made record.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pulumi

from mtasts.probes.cloudflare_api import TOKEN_ENV, CloudflareApi, CloudflareApiError
from mtasts.probes.options import ProbeOptions
from mtasts.probes.prober import Prober
from mtasts.rfc.names import normalize_name
from mtasts.rfc.records import STS_VERSION, declares

STS_GUARD = "mta-sts-foreign-sts"
ROUTE_GUARD = "mta-sts-foreign-route"
ADOPT = "mtasts adopt --stack {stack} --import-file adopt.json, then pulumi import --file adopt.json"


class ForeignResourceError(Exception):
    """A hand-made record or route is where the program would create its own."""


def _token() -> str | None:
    """The API token the provider uses: the environment's, else ``cloudflare:apiToken``."""
    return os.environ.get(TOKEN_ENV) or pulumi.Config("cloudflare").get("apiToken") or None


ApiFactory = Callable[[str], CloudflareApi]


async def foreign_sts(
    name: str, zone_id: str, comment: str, options: ProbeOptions, api: ApiFactory
) -> list[str]:
    """Each ``v=STSv1`` TXT at ``name`` the program did not make, described in a few words."""
    token = _token()
    if token and zone_id:
        async with api(token) as client:
            records = await client.dns_records(zone_id, name, "TXT")
        return [
            f"record {r.id} {r.content}"
            for r in records
            if declares(STS_VERSION, r.content) and r.comment != comment
        ]
    async with Prober(options) as prober:
        answer = await prober.query(name, "TXT")
    if answer.error is not None:
        raise ForeignResourceError(
            f"{name}: cannot tell whether a hand-made v=STSv1 record answers there ({answer.error.reason}), "
            "so ours is not created (two mean no policy, RFC 8461 §3.1); set CLOUDFLARE_API_TOKEN or retry"
        )
    return [f"{t!r} (in DNS)" for t in answer.records if declares(STS_VERSION, t)]


def sts_guard_function(
    stack: str, comment: str, options: ProbeOptions | None = None, api: ApiFactory = CloudflareApi
) -> pulumi.ResourceHookFunction:
    """The ``_mta-sts`` TXT's ``before_create`` body; ``options`` and ``api`` are for tests."""
    probe_options = options or ProbeOptions()

    async def mta_sts_foreign_sts(args: pulumi.ResourceHookArgs) -> None:
        inputs: dict[str, Any] = dict(args.new_inputs or {})
        name = normalize_name(str(inputs.get("name") or ""))
        try:
            found = await foreign_sts(name, str(inputs.get("zoneId") or ""), comment, probe_options, api)
        except CloudflareApiError as exc:
            raise ForeignResourceError(
                f"{name}: cannot tell whether a hand-made v=STSv1 record is there ({exc}), so ours is "
                "not created (two mean no policy, RFC 8461 §3.1)"
            ) from None
        if found:
            raise ForeignResourceError(
                f"{name}: a v=STSv1 TXT record the stack does not manage is live ({'; '.join(found)}); "
                "creating ours beside it would leave two, which senders read as no policy "
                f"(RFC 8461 §3.1). Adopt it: {ADOPT.format(stack=stack)}; or delete it by hand"
            )

    return mta_sts_foreign_sts


def route_guard_function(stack: str, api: ApiFactory = CloudflareApi) -> pulumi.ResourceHookFunction:
    """The Worker route's ``before_create`` body."""

    async def mta_sts_foreign_route(args: pulumi.ResourceHookArgs) -> None:
        inputs: dict[str, Any] = dict(args.new_inputs or {})
        pattern = str(inputs.get("pattern") or "").lower()
        zone_id = str(inputs.get("zoneId") or "")
        token = _token()
        if not token or not zone_id:
            pulumi.log.warn(
                f"route {pattern}: no API token here, so a hand-made route there was not looked for; "
                "if there is one, Cloudflare refuses ours (one Worker per pattern) and it keeps serving"
            )
            return
        try:
            async with api(token) as client:
                routes = await client.worker_routes(zone_id)
        except CloudflareApiError as exc:
            raise ForeignResourceError(
                f"route {pattern}: cannot tell whether a hand-made route is there ({exc}), "
                "so ours is not created"
            ) from None
        for route in routes:
            if route.pattern.lower() == pattern:
                raise ForeignResourceError(
                    f"route {pattern}: a route the stack does not manage is live (id {route.id}, Worker "
                    f"{route.script or 'none'}). Adopt it: {ADOPT.format(stack=stack)}; or delete it by hand"
                )

    return mta_sts_foreign_route


def guards(stack: str, comment: str) -> tuple[pulumi.ResourceHook, pulumi.ResourceHook]:
    """The two named hooks, registered once per program."""
    dry = pulumi.ResourceHookOptions(on_dry_run=True)
    return (
        pulumi.ResourceHook(STS_GUARD, sts_guard_function(stack, comment), dry),
        pulumi.ResourceHook(ROUTE_GUARD, route_guard_function(stack), dry),
    )
