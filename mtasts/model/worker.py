"""The Worker uploaded for a stack: the static JavaScript in ``worker/`` and the policies as data.

Interface (stable; ``components/``, ``serve`` and the tests code against it):

- ``MAIN_MODULE``: the module name given to ``WorkersScript.main_module``.
- ``COMPATIBILITY_DATE``: the fixed ``compatibility_date``.
- ``BINDING``: the name of the ``json`` binding that carries the policies (``env.POLICIES``).
- ``script_name(stack)``: the Worker script name for a stack.
- ``worker_script(domains)``: a ``WorkerScript``: ``content``, the same JavaScript for every stack,
  and ``data``, the JSON text of the ``json`` binding (format: ``mtasts.rfc.served``).

The policies never enter the source: the script is the file as kept in the package, and the
data reaches it as a binding value, parsed by the runtime or by ``JSON.parse``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from mtasts.model.config import Domain
from mtasts.rfc.served import BINDING, encode_served

__all__ = [
    "BINDING",
    "COMPATIBILITY_DATE",
    "MAIN_MODULE",
    "SCRIPT_PATH",
    "WorkerScript",
    "policy_data",
    "policy_map",
    "script",
    "script_name",
    "worker_script",
]

MAIN_MODULE = "worker.js"
COMPATIBILITY_DATE = "2025-09-01"
"""Fixed so a workerd or Cloudflare upgrade never changes the Worker's behaviour under us."""

SCRIPT_PATH = Path(__file__).resolve().parent.parent / "worker" / "worker.js"
"""Package data: the Worker's JavaScript ships inside the ``mtasts`` package."""


@dataclass(frozen=True)
class WorkerScript:
    """What ``pulumi up`` uploads for a stack's Worker: the module and its one ``json`` binding."""

    content: str
    """The ES module source (``WorkersScript.content``); the same for every stack."""
    data: str
    """The JSON text of the ``json`` binding named ``BINDING``."""

    def json_bindings(self) -> dict[str, str]:
        """Binding name → JSON text, for a runtime that takes ``json`` bindings (workerd, miniflare)."""
        return {BINDING: self.data}


def script_name(stack: str) -> str:
    """The Worker script name for a stack: one script per stack and account."""
    return f"mta-sts-{stack}"


@cache
def script() -> str:
    """The Worker's JavaScript as kept in ``worker/``: static, no data in it."""
    return SCRIPT_PATH.read_text(encoding="utf-8")


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
    """The binding's JSON text for these domains: one host a line, one policy a line, sorted."""
    return encode_served(policy_map(domains))


def worker_script(domains: Iterable[Domain]) -> WorkerScript:
    """The exact script and binding data uploaded for these (Worker-hosted) domains."""
    return WorkerScript(content=script(), data=policy_data(domains))
