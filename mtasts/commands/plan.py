"""``mtasts plan``: what a stack would publish, computed offline."""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii
from typing import Any

from mtasts.model.budget import budget_json, budget_lines, shards_json
from mtasts.model.config import Deployment
from mtasts.model.delegation import usage
from mtasts.model.outputs import domain_json, stack_delegation_json
from mtasts.model.stackfile import gc_paused


def plan_json(stack: str, deployment: Deployment) -> dict[str, Any]:
    """The plan as one JSON-ready object (``delegation`` only when the stack has customer domains)."""
    plan = {
        "stack": stack,
        "domains": {d.name: domain_json(deployment, d) for d in deployment.domains},
        "workers": shards_json(deployment, stack),
        "budget": budget_json(deployment, stack),
    }
    delegation = stack_delegation_json(deployment)
    if delegation is not None:
        plan["delegation"] = delegation
    return plan


def plan_text(stack: str, deployment: Deployment) -> str:
    """The plan as a readable report, records as zone-file lines."""
    out = [f"stack {stack}: {len(deployment.domains)} domain(s)"]
    for domain in deployment.domains:
        out.append("")
        out.append(f"== {domain.name}  ({domain.hosting}, mode {domain.mode}, dns {domain.dns})")
        out.append(f"policy {domain.policy_url}  id {domain.policy_id}")
        out += ["  | " + line for line in domain.policy_text.split("\r\n")[:-1]]
        if domain.delegation is not None:
            host = domain.policy_host
            out.append(f"customer records (the customer creates these once; custom hostname {host}):")
        elif domain.managed_dns:
            out.append("records (created by pulumi up):")
        else:
            out.append("records (dns: external, create these by hand):")
        out += ["  " + record.zone_line() for record in domain.records]
        if domain.receiver is not None:
            receiver = domain.receiver
            out.append(f"reports: built-in receiver {receiver.https_uri}")
            out.append(f"  mail intake: {receiver.mailto or 'off (HTTPS only)'}")
        # A warning folded onto defaults.<setting> is printed once, below, not under each domain.
        out += [
            f.line() for f in deployment.findings_for(domain.name) if (f.key or "").startswith("domains.")
        ]
    if deployment.delegation is not None and deployment.delegated_domains:
        found = usage(
            deployment.delegation,
            deployment.delegated_domains,
            deployment.operator_records,
            deployment.limits,
        )
        out += ["", f"== delegation zone {deployment.delegation.zone}: {found.line()}"]
        out += ["  " + r.record.zone_line() for r in deployment.operator_records]
    out.append("")
    out += budget_lines(deployment, stack)
    out += [f.line() for f in deployment.findings if f.key is not None and not f.key.startswith("domains.")]
    return "\n".join(out) + "\n"


_encode_leaf = json.JSONEncoder().encode


def append_indented(value: Any, out: list[str], pad: str) -> None:
    """Append ``value`` as ``json.dumps(value, indent=2)`` would write it, nested at ``pad``."""
    if isinstance(value, dict) and value:
        inner = pad + "  "
        out.append("{\n")
        for index, (key, item) in enumerate(value.items()):
            out.append(f",\n{inner}" if index else inner)
            out.append(encode_basestring_ascii(key) + ": ")
            append_indented(item, out, inner)
        out.append(f"\n{pad}}}")
    elif isinstance(value, list) and value:
        inner = pad + "  "
        out.append("[\n")
        for index, item in enumerate(value):
            out.append(f",\n{inner}" if index else inner)
            append_indented(item, out, inner)
        out.append(f"\n{pad}]")
    else:
        out.append(_encode_leaf(value))


def plan_json_text(stack: str, deployment: Deployment) -> str:
    """``plan_json`` as ``json.dumps(..., indent=2)`` writes it, byte for byte, but faster.

    ``json.dumps`` with ``indent`` takes the pure-Python encoder for every value; this walks
    the containers itself and leaves scalars to the C encoder (about twice as fast at
    10,000 domains).
    """
    out: list[str] = []
    append_indented(plan_json(stack, deployment), out, "")
    out.append("\n")
    return "".join(out)


def render(stack: str, deployment: Deployment, as_json: bool) -> str:
    """The plan as ``plan`` prints it; the collector is paused, as while loading (see ``gc_paused``)."""
    with gc_paused():
        if as_json:
            return plan_json_text(stack, deployment)
        return plan_text(stack, deployment)
