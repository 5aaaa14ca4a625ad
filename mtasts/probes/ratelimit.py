"""Cloudflare's API rate limit: telling a refused call from others, and waiting it out.

Cloudflare allows 1,200 requests per 5 minutes per user; past it "all API calls for the next
five minutes will be blocked, receiving a HTTP 429 response", and a 429 carries ``retry-after``,
"the number of seconds, rounded up, until more capacity is available"
(https://developers.cloudflare.com/fundamentals/api/reference/limits/).

The bridged provider (terraform-provider-cloudflare on cloudflare-go v7, a Stainless SDK) retries
a 429 itself only twice and honours ``retry-after`` only under a minute
(cloudflare-go ``internal/requestconfig/requestconfig.go``: ``MaxRetries: 2``, ``retryDelay``;
the provider's ``internal/provider.go`` sets no ``WithMaxRetries``), so a five-minute block fails
the resource. ``components.retry`` binds a Pulumi error hook that, on such a failure, asks the API
how long to wait (``wait_out``: a cheap GET answered 429 with ``retry-after`` while blocked) and
retries the operation once it is free again.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Sequence

import httpx

__all__ = ["API_BASE", "BLOCK_SECONDS", "is_rate_limited", "retry_after", "wait_out"]

API_BASE = "https://api.cloudflare.com/client/v4"
BLOCK_SECONDS = 300.0
"""How long Cloudflare blocks a user past the limit, when a 429 gives no ``retry-after``."""
PROBE_PATH = "/user/tokens/verify"
"""A read that costs one request and needs no permission beyond a valid token."""

_MARKERS = ("429", "too many requests", "rate limit", "ratelimit")


def is_rate_limited(errors: Sequence[str]) -> bool:
    """Whether the newest error of a failed operation is Cloudflare refusing over the rate limit."""
    if not errors:
        return False
    newest = errors[0].lower()
    return any(marker in newest for marker in _MARKERS)


def retry_after(response: httpx.Response, now: float | None = None) -> float:
    """Seconds a 429 asks to wait: ``retry-after`` as seconds or an HTTP date; else the block."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return BLOCK_SECONDS
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return BLOCK_SECONDS
    return max(0.0, moment - (time.time() if now is None else now))


def wait_out(
    token: str | None,
    *,
    base_url: str = API_BASE,
    deadline: float = 3 * BLOCK_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 30.0,
) -> bool:
    """Wait until the API takes calls again; True once it answers other than 429, False at the deadline.

    Without a token there is nothing to ask: wait one block. Each look is one request, made only
    after the wait the previous 429 asked for.
    """
    if not token:
        sleep(BLOCK_SECONDS)
        return True
    waited = 0.0
    with httpx.Client(base_url=base_url, timeout=timeout) as client:
        while True:
            try:
                response = client.get(PROBE_PATH, headers={"Authorization": f"Bearer {token}"})
            except httpx.HTTPError:
                return waited > 0  # the API cannot be asked; retry once we have waited at all
            if response.status_code != 429:
                return True
            pause = min(retry_after(response), deadline - waited)
            if pause <= 0:
                return False
            sleep(pause)
            waited += pause
