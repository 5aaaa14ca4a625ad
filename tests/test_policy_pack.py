"""The CrossGuard pack's shape, and the program's own stacks through every rule."""

from __future__ import annotations

import ast
import dataclasses
import re
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from mtasts.model.config import load_stack
from policies.mtasts_policies import POLICIES, served_policies
from tests.policy_pack import (
    DNS,
    ROOT,
    SCRIPT,
    options,
)

# --- the pack's shape ----------------------------------------------------------------------------


def test_policy_names_are_unique_kebab_case() -> None:
    """Every policy has a unique kebab-case name."""
    names = [policy.name for policy in POLICIES]
    assert len(names) == len(set(names)) == 14
    assert all(re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", name) for name in names), names


def test_descriptions_are_one_sentence() -> None:
    """Every description is one sentence ending in a period."""
    for policy in POLICIES:
        text = policy.description
        assert text.endswith(".") and text[0].isupper(), policy.name
        assert not re.search(r"[.!?]\s+[A-Z]", text), policy.name


def test_enforcement_levels_are_explicit() -> None:
    """Each policy sets its level: the RFC rules are mandatory, the three hints advisory."""
    levels = {policy.name: policy.enforcement_level for policy in POLICIES}
    advisory = {name for name, level in levels.items() if level is EnforcementLevel.ADVISORY}
    mandatory = {name for name, level in levels.items() if level is EnforcementLevel.MANDATORY}
    assert advisory == {
        "enforce-max-age-at-least-one-day",
        "enforce-domain-has-tls-rpt",
        "worker-script-compatibility-date",
    }
    assert mandatory | advisory == set(levels)


def test_pack_main_only_builds_the_pack() -> None:
    """policies/__main__.py imports POLICIES and makes one PolicyPack call, nothing else."""
    tree = ast.parse((ROOT / "policies" / "__main__.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert [c.func.id for c in calls if isinstance(c.func, ast.Name)] == ["PolicyPack"]
    assert any(
        isinstance(n, ast.ImportFrom) and n.module == "mtasts_policies" and n.names[0].name == "POLICIES"
        for n in tree.body
    )


def test_pack_requirements_pin_pulumi_policy() -> None:
    """The pack's venv pins pulumi-policy 1.21.0 and installs this package from one level up."""
    lines = (ROOT / "policies" / "requirements.txt").read_text().splitlines()
    assert "pulumi-policy==1.21.0" in lines
    assert "-e .." in lines



def test_policies_are_resource_or_stack_policies() -> None:
    """Every entry is a resource or stack validation policy the pack can serve."""
    assert all(isinstance(p, (ResourceValidationPolicy, StackValidationPolicy)) for p in POLICIES)


# --- the program's own stacks --------------------------------------------------------------------


@pytest.fixture(scope="module")
def program_runs() -> dict[str, Any]:
    """dev and prod run once each under the shared mocks harness (imports the provider SDKs)."""
    from tests.program_mocks import run_stack

    return {stack: run_stack(stack) for stack in ("dev", "prod")}


def _pack_findings(run: Any) -> list[tuple[str, EnforcementLevel, str]]:
    """Every finding of the pack on a program run: (policy, level, message)."""
    found: list[tuple[str, EnforcementLevel, str]] = []
    custom = [r for r in run.resources if r.custom]
    for policy in POLICIES:

        def report(message: str, urn: Any = None, policy: Any = policy) -> None:
            found.append((policy.name, policy.enforcement_level, message))

        if isinstance(policy, ResourceValidationPolicy):
            for r in custom:
                opts = options(r.options.delete_before_replace)
                policy.validate(ResourceValidationArgs(r.type, r.inputs, r.urn, r.name, opts, None), report)
        else:
            resources = [
                PolicyResource(
                    r.type,
                    r.inputs,
                    r.urn,
                    r.name,
                    options(r.options.delete_before_replace),
                    None,
                    None,
                    [],
                    {},
                )
                for r in custom
            ]
            policy.validate(StackValidationArgs(resources), report)
    return found


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_program_stack_passes_the_pack(program_runs: dict[str, Any], stack: str) -> None:
    """The program's resources for dev and prod, under mocks, raise no mandatory violation."""
    run = program_runs[stack]
    assert run.error is None, run.error
    deployment = load_stack(ROOT, stack)
    # The pack had real work: every Cloudflare-DNS domain's TXT records and the Worker's policies.
    txt_names = {
        r.inputs.get("name") for r in run.resources if r.type == DNS and r.inputs.get("type") == "TXT"
    }
    for domain in deployment.domains:
        if domain.dns == "cloudflare":
            assert f"_mta-sts.{domain.name}" in txt_names
    (worker,) = [r for r in run.resources if r.type == SCRIPT and not r.name.startswith("reports-")]
    hosted = {d.policy_host for d in deployment.domains if d.hosting == "cloudflare-worker"}
    assert {p.host for p in served_policies(worker.inputs)} == hosted
    findings = _pack_findings(run)
    assert [f for f in findings if f[1] is EnforcementLevel.MANDATORY] == []


def test_program_stack_breakage_is_caught(program_runs: dict[str, Any]) -> None:
    """The same dev run with one AAAA unproxied and one TXT without delete_before_replace fails."""
    run = program_runs["dev"]
    sts = next(
        r for r in run.resources if r.type == DNS and str(r.inputs.get("name")).startswith("_mta-sts.")
    )
    host = next(r for r in run.resources if r.type == DNS and r.inputs.get("type") == "AAAA")
    broken = [
        dataclasses.replace(r, options=dataclasses.replace(r.options, delete_before_replace=None))
        if r is sts
        else dataclasses.replace(r, inputs={**r.inputs, "proxied": False})
        if r is host
        else r
        for r in run.resources
    ]
    findings = _pack_findings(dataclasses.replace(run, resources=broken))
    assert sorted({name for name, level, _ in findings if level is EnforcementLevel.MANDATORY}) == [
        "mta-sts-txt-records-delete-before-replace",
        "worker-routed-policy-host-proxied",
    ]



# --- tls-report-receiver-in-rua ------------------------------------------------------------------

RECEIVER_HTTPS = "https://tlsrpt.example.net/v1/tlsrpt"
RECEIVER_MAILTO = "mailto:tlsrpt@reports.example.net"



def test_program_receiver_is_checked_and_a_dropped_uri_caught(program_runs: dict[str, Any]) -> None:
    """dev under mocks: the rule reads the receiver's settings region; removing its URI from one TXT fails."""
    run = program_runs["dev"]
    assert not [f for f in _pack_findings(run) if f[0] == "tls-report-receiver-in-rua"]
    record = run.by_name("example.com-tlsrpt")
    content = record.inputs["content"].replace(RECEIVER_HTTPS + ",", "").replace("," + RECEIVER_HTTPS, "")
    assert RECEIVER_HTTPS not in content
    broken = [
        dataclasses.replace(r, inputs={**r.inputs, "content": content}) if r is record else r
        for r in run.resources
    ]
    findings = _pack_findings(dataclasses.replace(run, resources=broken))
    assert [(name, level) for name, level, _ in findings if name == "tls-report-receiver-in-rua"] == [
        ("tls-report-receiver-in-rua", EnforcementLevel.MANDATORY)
    ]
