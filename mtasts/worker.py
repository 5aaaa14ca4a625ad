"""The Worker script uploaded for a stack: the JavaScript in ``worker/`` plus the policies as data.

Interface (stable; the Worker helper owns the implementation):

- ``MAIN_MODULE``: the module name given to ``WorkersScript.main_module``.
- ``COMPATIBILITY_DATE``: the fixed ``compatibility_date``.
- ``script_name(account_id)``: the Worker script name for a stack.
- ``worker_script(domains)``: the exact ES module source uploaded, serving every
  Worker-hosted domain by ``Host``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from mtasts.config import Domain

MAIN_MODULE = "worker.js"
COMPATIBILITY_DATE = "2025-09-01"


def script_name(stack: str) -> str:
    return f"mta-sts-{stack}"


def worker_script(domains: Iterable[Domain]) -> str:
    data = {d.policy_host: d.policy_text for d in domains}
    return "const POLICIES = JSON.parse(" + json.dumps(json.dumps(data)) + ");\n"
