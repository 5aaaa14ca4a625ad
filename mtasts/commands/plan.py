"""``mtasts plan``: what a stack would publish, computed offline."""

from __future__ import annotations

import json
from typing import Any

from mtasts.model.config import Deployment
from mtasts.model.outputs import domain_json


def plan_json(stack: str, deployment: Deployment) -> dict[str, Any]:
    """The plan as one JSON-ready object."""
    return {"stack": stack, "domains": {d.name: domain_json(deployment, d) for d in deployment.domains}}


def plan_text(stack: str, deployment: Deployment) -> str:
    """The plan as a readable report, records as zone-file lines."""
    out = [f"stack {stack}: {len(deployment.domains)} domain(s)"]
    for domain in deployment.domains:
        out.append("")
        out.append(f"== {domain.name}  ({domain.hosting}, mode {domain.mode}, dns {domain.dns})")
        out.append(f"policy {domain.policy_url}  id {domain.policy_id}")
        out += ["  | " + line for line in domain.policy_text.split("\r\n")[:-1]]
        if domain.managed_dns:
            out.append("records (created by pulumi up):")
        else:
            out.append("records (dns: external, create these by hand):")
        out += ["  " + record.zone_line() for record in domain.records]
        if domain.receiver is not None:
            receiver = domain.receiver
            out.append(f"reports: built-in receiver {receiver.https_uri}")
            out.append(f"  mail intake: {receiver.mailto or 'off (HTTPS only)'}")
        out += ["warning: " + w for w in deployment.warnings_for(domain.name)]
    return "\n".join(out) + "\n"


def render(stack: str, deployment: Deployment, as_json: bool) -> str:
    if as_json:
        return json.dumps(plan_json(stack, deployment), indent=2) + "\n"
    return plan_text(stack, deployment)
