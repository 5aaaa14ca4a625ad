"""The Worker script uploaded for a stack: the JavaScript in ``worker/`` plus the policies as data.

Interface (stable; ``components/`` codes against it):

- ``MAIN_MODULE``: the module name given to ``WorkersScript.main_module``.
- ``COMPATIBILITY_DATE``: the fixed ``compatibility_date``.
- ``script_name(stack)``: the Worker script name for a stack.
- ``worker_script(domains)``: the exact ES module source uploaded, serving every
  Worker-hosted domain by ``Host``.

The template holds one JavaScript string literal, ``"__POLICY_DATA__"``, read with
``JSON.parse``. It is replaced by the policy document serialized twice with ``json.dumps``:
once into JSON, once into a JSON string literal, which is also a JavaScript string literal
(ASCII only, every quote and backslash escaped). Whatever a policy holds, it stays inside
that literal: data, never code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mtasts.model.config import Domain

MAIN_MODULE = "worker.js"
COMPATIBILITY_DATE = "2025-09-01"
"""Fixed so a workerd or Cloudflare upgrade never changes the Worker's behaviour under us."""

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "worker" / "worker.js"
"""Package data: the Worker's JavaScript ships inside the ``mtasts`` package."""
PLACEHOLDER = '"__POLICY_DATA__"'


def script_name(stack: str) -> str:
    """The Worker script name for a stack: one script per stack and account."""
    return f"mta-sts-{stack}"


def template() -> str:
    """The Worker's JavaScript as kept in ``worker/``, with the data placeholder."""
    return TEMPLATE_PATH.read_text(encoding="utf-8")


def policy_data(domains: Iterable[Domain]) -> dict[str, Any]:
    """The document the Worker parses: host → index into the distinct policy texts.

    Texts are sorted, so the same set of policies gives the same indexes whatever the
    order of the domains.
    """
    by_host: dict[str, str] = {}
    for domain in domains:
        host = domain.policy_host.lower()
        text = domain.policy_text
        if by_host.get(host, text) != text:
            raise ValueError(f"{host} is declared twice with different policies")
        by_host[host] = text
    texts = sorted(set(by_host.values()))
    index = {text: i for i, text in enumerate(texts)}
    return {"hosts": {host: index[text] for host, text in sorted(by_host.items())}, "policies": texts}


def data_literal(data: dict[str, Any]) -> str:
    """``data`` as one JavaScript string literal holding its JSON (see the module docstring)."""
    document = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return json.dumps(document, ensure_ascii=True)


def render(data: dict[str, Any], source: str | None = None) -> str:
    """The template ``source`` (default: ``mtasts/worker/worker.js``) with ``data`` in its placeholder."""
    source = template() if source is None else source
    parts = source.split(PLACEHOLDER)
    if len(parts) != 2:
        raise ValueError(f"the Worker template must hold {PLACEHOLDER} exactly once")
    # Joined, not str.replace'd: the inserted text is never scanned again.
    return parts[0] + data_literal(data) + parts[1]


def worker_script(domains: Iterable[Domain]) -> str:
    """The exact ES module uploaded as ``WorkersScript.content`` for these domains."""
    return render(policy_data(domains))
