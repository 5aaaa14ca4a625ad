"""What the policy pack's tests share: resources as the engine sends them, and one policy run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)

from mtasts.model.policy_worker import COMPATIBILITY_DATE, MAIN_MODULE, render
from mtasts.rfc.policy import policy_id
from mtasts.rfc.served import (
    encode_served,
)
from policies.mtasts_policies import POLICIES

ROOT = Path(__file__).resolve().parent.parent

DNS = "cloudflare:index/dnsRecord:DnsRecord"
LEGACY_DNS = "cloudflare:index/record:Record"
SCRIPT = "cloudflare:index/workersScript:WorkersScript"
ROUTE = "cloudflare:index/workersRoute:WorkersRoute"
ZONE = "cloudflare:index/zone:Zone"
FILE = "github:index/repositoryFile:RepositoryFile"
PAGES = "github:index/repositoryPages:RepositoryPages"
ZONE_ID = "023e105f4ecef8ad9ca31a8372d0c353"
ACCOUNT = "0123456789abcdef0123456789abcdef"

ENFORCE = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.org\r\nmax_age: 604800\r\n"
TESTING = "version: STSv1\r\nmode: testing\r\nmx: mx1.example.org\r\nmax_age: 86400\r\n"
STS_ID = policy_id(ENFORCE)
BAD_MODE = "version: STSv1\r\nmode: enforced\r\nmx: a.example\r\nmax_age: 1\r\n"

BY_NAME = {policy.name: policy for policy in POLICIES}


def options(delete_before_replace: bool | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        False, [], delete_before_replace, [], PolicyCustomTimeouts(0, 0, 0), [], None
    )


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:dev::mta-sts::{type_}::{name}"


def resource(
    type_: str, props: dict[str, Any], *, dbr: bool | None = None, name: str = "r"
) -> ResourceValidationArgs:
    return ResourceValidationArgs(type_, props, urn(type_, name), name, options(dbr), None)


def stack_resource(type_: str, props: dict[str, Any], name: str) -> PolicyResource:
    return PolicyResource(type_, props, urn(type_, name), name, options(True), None, None, [], {})


def violations(policy_name: str, args: ResourceValidationArgs | StackValidationArgs) -> list[tuple[str, Any]]:
    """Run one policy the way the engine does and collect what it reports."""
    found: list[tuple[str, Any]] = []
    BY_NAME[policy_name].validate(args, lambda message, urn=None: found.append((message, urn)))
    return found


def txt(name: str, content: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "TXT", "content": content, "zoneId": ZONE_ID, "ttl": 300, **extra}


def script(content: str, **extra: Any) -> dict[str, Any]:
    props = {
        "accountId": ACCOUNT,
        "scriptName": "mta-sts-dev",
        "content": content,
        "mainModule": MAIN_MODULE,
        "compatibilityDate": COMPATIBILITY_DATE,
    }
    props.update(extra)
    return props


def data_worker(by_host: dict[str, str]) -> dict[str, Any]:
    """Props of a Worker serving ``by_host`` from its data region, as mtasts.model.policy_worker writes it."""
    return script(render(encode_served(by_host)))




def stack(*resources: PolicyResource) -> StackValidationArgs:
    return StackValidationArgs(list(resources))

