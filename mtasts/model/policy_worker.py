"""The policy Worker uploaded for a stack: the JavaScript in ``worker/`` with the policies in its data region.

Interface (stable; ``components/``, ``serve`` and the tests code against it):

- ``MAIN_MODULE``: the module name given to ``WorkersScript.main_module``.
- ``COMPATIBILITY_DATE``: the fixed ``compatibility_date``.
- ``script_name(stack)``: the Worker script name for a stack.
- ``worker_script(domains)``: the exact ES module source uploaded as ``WorkersScript.content``.

``worker/worker.js`` is a template that runs as is: its one data region (between the markers
``mtasts.rfc.served.DATA_BEGIN`` and ``DATA_END``) holds an empty document. ``worker_script``
replaces that region with the stack's document (``mtasts.rfc.served.encode_served``: plain JSON,
one host a line, one policy a line, sorted, ASCII only), which the Worker reads as an object
literal: data, never code.

Why not a ``json`` binding: Cloudflare counts a binding's value as an environment variable and
limits each to 5 KB, about 60 domains; the script itself may be megabytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

from mtasts.model.cloudflare import WORKER_NAME, derived_name
from mtasts.model.config import Domain
from mtasts.rfc.served import encode_served, insert_data

__all__ = [
    "COMPATIBILITY_DATE",
    "MAIN_MODULE",
    "SCRIPT_PREFIX",
    "TEMPLATE_PATH",
    "policy_data",
    "policy_map",
    "render",
    "script_name",
    "template",
    "worker_script",
]

MAIN_MODULE = "worker.js"
COMPATIBILITY_DATE = "2025-09-01"
"""Fixed so a workerd or Cloudflare upgrade never changes the Worker's behaviour under us."""

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "worker" / "worker.js"
"""Package data: the Worker's JavaScript ships inside the ``mtasts`` package."""


SCRIPT_PREFIX = "mta-sts-"


def script_name(stack: str) -> str:
    """The Worker script name for a stack: one script per stack and account.

    ``mta-sts-<stack>`` whenever Cloudflare takes it (``dev``, ``prod``: a rename would replace
    the Worker), else a stable derived name (``mtasts.model.cloudflare.derived_name``).
    """
    return derived_name(SCRIPT_PREFIX, stack, WORKER_NAME)


@cache
def template() -> str:
    """The Worker's JavaScript as kept in ``worker/``, its data region holding no policy."""
    return TEMPLATE_PATH.read_text(encoding="utf-8")


def policy_map(domains: Iterable[Domain]) -> dict[str, str]:
    """Lower-case policy host → policy text; a host declared twice must have one text."""
    by_host: dict[str, str] = {}
    for domain in domains:
        host = domain.policy_host.lower()
        text = domain.policy_text
        if by_host.get(host, text) != text:
            raise ValueError(f"{host} is declared twice with different policies")
        by_host[host] = text
    return by_host


def policy_data(domains: Iterable[Domain]) -> str:
    """The data region's JSON text for these domains: one host a line, one policy a line, sorted."""
    return encode_served(policy_map(domains))


def render(data: str, source: str | None = None) -> str:
    """``source`` (default: the template) with ``data`` (``encode_served`` output) in its data region."""
    return insert_data(template() if source is None else source, data)


def worker_script(domains: Iterable[Domain]) -> str:
    """The exact ES module uploaded as ``WorkersScript.content`` for these (Worker-hosted) domains."""
    return render(policy_data(domains))
