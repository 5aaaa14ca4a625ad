"""Cloudflare's (and Pulumi's) published rules that names and hosts must meet, one definition each.

Pure functions over strings. The loader and the name functions of ``mtasts.model.policy_worker`` and
``mtasts.model.receiver`` apply them before any resource is registered;
``tests/test_cloudflare_rules.py`` holds every registered resource against the same rules.
Each rule cites where it is published.
"""

from __future__ import annotations

import hashlib
import re

from mtasts.model.errors import ConfigError

STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}\Z")
"""Pulumi stack names: letters, digits, ``-``, ``_`` and ``.``, at most 100 characters
(pulumi/pulumi ``pkg/backend/filestate/backend.go``, ``stackNameAndProjectRegexp``; the
httpstate backend applies the same rule)."""

MAX_RESOURCE_NAME = 63
WORKER_NAME = re.compile(r"[a-z0-9_-]{1,63}\Z")
"""Worker script names: at most 63 of lower-case letters, digits, ``-`` and ``_`` (wrangler:
"Ensure that you only use lowercase letters, dashes, underscores, and numbers"; the name is a
label of ``<name>.<subdomain>.workers.dev``, hence 63)."""
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]\Z")
"""R2 bucket names: 3 to 63 of lower-case letters, digits and ``-``, a letter or digit at each
end (developers.cloudflare.com/r2/buckets/create-buckets/, "Bucket level operations"; the API
schema ``r2_bucket_name``: ``^[a-z0-9][a-z0-9-]*[a-z0-9]``). The receiver's D1 database takes the
same name, so it meets the stricter of the two rules."""

_DIGEST = 8
"""Hex digits of the stack name's SHA-256 a derived name ends with: distinct stacks, distinct names."""


def check_stack(stack: str) -> str:
    """``stack`` when it is a Pulumi stack name; ``ConfigError`` naming ``stack`` otherwise."""
    if not STACK_NAME.match(stack):
        raise ConfigError(
            "stack", f"{stack!r} is not a Pulumi stack name (1 to 100 of letters, digits, '-', '_', '.')"
        )
    return stack


def derived_name(prefix: str, stack: str, rule: re.Pattern[str]) -> str:
    """``<prefix><stack>`` when ``rule`` takes it, so names valid today never change; otherwise a
    stable name every rule here takes: the stack lower-cased, runs of other characters as one
    ``-``, cut to fit 63, then ``-`` and 8 hex digits of the stack name's SHA-256 (so ``Prod``,
    ``prod.`` and ``prod`` never share a Worker or a bucket).
    """
    plain = f"{prefix}{stack}"
    if rule.match(plain):
        return plain
    slug = re.sub(r"[^a-z0-9]+", "-", stack.lower()).strip("-")
    digest = hashlib.sha256(stack.encode()).hexdigest()[:_DIGEST]
    room = MAX_RESOURCE_NAME - len(prefix) - len(digest) - 1
    slug = slug[:room].rstrip("-")
    return f"{prefix}{slug}-{digest}" if slug else f"{prefix}{digest}"


def universal_ssl_covers(host: str, zone: str) -> bool:
    """Whether Universal SSL's certificate for ``zone`` covers ``host``: the apex and first-level
    names only (developers.cloudflare.com/ssl/edge-certificates/universal-ssl/limitations/,
    "Hostname coverage": "coverage is limited to the root domain … and first-level subdomains").
    """
    host, zone = host.lower(), zone.lower()
    if host == zone:
        return True
    if not host.endswith("." + zone):
        return False
    return "." not in host[: -len(zone) - 1]
