"""What a deployment publishes per domain, as one JSON-ready object.

``plan --json`` prints it and the Pulumi program exports it (less the warnings, which the
program logs), so the preview, the stack outputs and the offline plan cannot disagree.
"""

from __future__ import annotations

from typing import Any

from mtasts.model.config import Deployment, Domain
from mtasts.model.delegation import usage

OUTPUT_KEYS = (
    "hosting",
    "mode",
    "dns",
    "policyUrl",
    "policy",
    "policyId",
    "records",
    "reports",
    "delegation",
)
"""The keys the Pulumi program exports per domain."""


def domain_json(deployment: Deployment, domain: Domain) -> dict[str, Any]:
    """One domain as ``plan --json`` shows it; a delegated one also has ``delegation``."""
    shown = {
        "hosting": domain.hosting,
        "mode": domain.mode,
        "dns": domain.dns,
        "policyUrl": domain.policy_url,
        "policy": domain.policy_text,
        "policyId": domain.policy_id,
        "records": [record.as_json() for record in domain.records],
        # The built-in receiver's URIs ({"https": …, "mailto": … or None}); None when off.
        "reports": domain.reports_json,
        "warnings": deployment.warnings_for(domain.name),
        # The same warnings as finding objects, the shape every --json uses (README: Findings).
        "findings": [f.as_json(domain.name) for f in deployment.findings_for(domain.name)],
    }
    if domain.delegation is not None:
        shown["delegation"] = delegation_json(deployment, domain)
    return shown


def delegation_json(deployment: Deployment, domain: Domain) -> dict[str, Any]:
    """A customer's side and the operator's: ``records`` above are what the customer creates."""
    assert domain.delegation is not None
    return {
        "customHostname": domain.policy_host,
        "zone": domain.delegation.zone,
        "target": domain.delegation.target,
        "customerRecords": [record.zone_line() for record in domain.records],
        "operatorRecords": [
            {**r.record.as_json(), "shared": r.record.name.startswith("*.")}
            for r in deployment.operator_records_by_customer.get(domain.name, [])
        ],
    }


def stack_delegation_json(deployment: Deployment) -> dict[str, Any] | None:
    """The delegation zone's use and cost (``plan --json``'s top-level ``delegation``), or None."""
    if deployment.delegation is None or not deployment.delegated_domains:
        return None
    found = usage(
        deployment.delegation,
        deployment.delegated_domains,
        deployment.operator_records,
        deployment.limits,
    )
    return {
        "zone": deployment.delegation.zone,
        "target": deployment.delegation.target,
        **found.as_json(),
        "operatorRecords": [r.record.zone_line() for r in deployment.operator_records],
    }


def stack_outputs(deployment: Deployment) -> dict[str, dict[str, Any]]:
    """Per domain the values the program exports: ``domain_json`` less its warnings and findings."""
    return {
        domain.name: {k: v for k, v in domain_json(deployment, domain).items() if k in OUTPUT_KEYS}
        for domain in deployment.domains
    }
