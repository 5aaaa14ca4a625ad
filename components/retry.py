"""A Pulumi error hook that retries a Cloudflare operation refused over the API rate limit.

Cloudflare blocks every call for five minutes past 1,200 requests per 5 minutes, and the bridged
provider gives up after two quick retries (``mtasts.probes.ratelimit`` cites both). ``binding()``
is bound to every Cloudflare resource the program registers (``ResourceOptions(hooks=...)``, which
the pinned SDK merges with the live gate's hooks): when an operation fails on a 429, the hook waits
for as long as the API's own ``retry-after`` says (asking it with one cheap request per wait, the
token from ``CLOUDFLARE_API_TOKEN``) and returns True, which makes the engine retry the operation.
Any other error, or more than ``MAX_RETRIES`` rate-limit failures of one operation, fails as before.
"""

from __future__ import annotations

import asyncio
import os
import weakref

import pulumi

from mtasts.probes.ratelimit import API_BASE, is_rate_limited, wait_out

HOOK_NAME = "mta-sts-cloudflare-rate-limit"
MAX_RETRIES = 6
"""Rate-limit failures of one operation retried at most (about half an hour of blocks)."""
BASE_URL_ENV = "CLOUDFLARE_BASE_URL"
"""The provider's own override of the API base URL (terraform-provider-cloudflare ``internal/consts``)."""

_HOOKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, pulumi.ResourceHookBinding] = (
    weakref.WeakKeyDictionary()
)


async def on_error(args: pulumi.ErrorHookArgs) -> bool:
    """Retry (True) a rate-limited operation once the API takes calls again; otherwise False."""
    if not is_rate_limited(args.errors) or len(args.errors) > MAX_RETRIES:
        return False
    token = os.environ.get("CLOUDFLARE_API_TOKEN")
    base = os.environ.get(BASE_URL_ENV) or API_BASE
    pulumi.log.warn(f"{args.name}: Cloudflare API rate limit; waiting for it to lift, then retrying")
    return await asyncio.to_thread(wait_out, token, base_url=base)


def binding() -> pulumi.ResourceHookBinding:
    """The hooks every Cloudflare resource gets; the hook is registered once per program run."""
    loop = asyncio.get_event_loop()
    found = _HOOKS.get(loop)
    if found is None:
        found = _HOOKS[loop] = pulumi.ResourceHookBinding(on_error=[pulumi.ErrorHook(HOOK_NAME, on_error)])
    return found


def with_retry(hooks: pulumi.ResourceHookBinding | None = None) -> pulumi.ResourceHookBinding:
    """``hooks`` (the live gate's, say) plus the rate-limit error hook."""
    if hooks is None:
        return binding()
    return pulumi.ResourceHookBinding(
        before_create=hooks.before_create,
        after_create=hooks.after_create,
        before_update=hooks.before_update,
        after_update=hooks.after_update,
        before_delete=hooks.before_delete,
        after_delete=hooks.after_delete,
        on_error=[*(hooks.on_error or []), *(binding().on_error or [])],
    )
