"""TLS-RPT result types (RFC 8460 §4.3): what each failure means and what to do about it.

One table, ``tlsrpt_results.json`` beside this module, read here for ``reports`` and bundled into
the receiver's digest (its JSON is imported by the Worker's build), so both explain a failure in
the same words. ``probe`` names what ``reports --diagnose`` looks at now: the policy host
(``policy``), the receiving MX (``mx``) or its TLSA records (``dane``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class ResultType:
    name: str
    section: str
    """The section of RFC 8460 that defines it."""
    probe: str
    meaning: str
    action: str


@cache
def result_types() -> dict[str, ResultType]:
    """Every failure result type of RFC 8460 §4.3, by name."""
    text = resources.files("mtasts.rfc").joinpath("tlsrpt_results.json").read_text(encoding="utf-8")
    return {name: ResultType(name, **fields) for name, fields in json.loads(text).items()}


def explain(name: str) -> ResultType | None:
    """The entry for ``name`` (case-insensitive), or None for a type RFC 8460 does not define."""
    return result_types().get(name.strip().lower())
