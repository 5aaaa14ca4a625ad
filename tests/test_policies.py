"""The CrossGuard policies: one compliant resource and one violation per rule, as the engine sends them."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import _PolicyAnalyzerServicer

from mtasts.model.config import load_stack
from mtasts.model.worker import COMPATIBILITY_DATE, MAIN_MODULE, render, worker_script
from mtasts.rfc.policy import policy_id
from mtasts.rfc.served import (
    DATA_BEGIN,
    DATA_END,
    POLICY_DATA,
    RECEIVER_SETTINGS,
    encode_receiver,
    encode_served,
    insert_data,
    receiver_in_script,
)
from policies.mtasts_policies import POLICIES, served_policies

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
    """Props of a Worker serving ``by_host`` from its script's data region, as mtasts.model.worker does."""
    return script(render(encode_served(by_host)))


@pytest.fixture(scope="module")
def dev_worker() -> dict[str, Any]:
    deployment = load_stack(ROOT, "dev")
    return script(worker_script([d for d in deployment.domains if d.hosting == "cloudflare-worker"]))


# --- the pack's shape ----------------------------------------------------------------------------


def test_policy_names_are_unique_kebab_case() -> None:
    """Every policy has a unique kebab-case name."""
    names = [policy.name for policy in POLICIES]
    assert len(names) == len(set(names)) == 13
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


# --- mta-sts-txt-record-valid --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, content",
    [
        ("_mta-sts.example.org", f'"v=STSv1; id={STS_ID}"'),
        ("_mta-sts", f"v=STSv1; id={STS_ID}"),
        ("_MTA-STS.Example.org.", f'"v=STSv1; " "id={STS_ID}"'),
    ],
)
def test_sts_record_compliant(name: str, content: str) -> None:
    """A valid v=STSv1 TXT, quoted, split, relative or fully qualified, has no violation."""
    assert violations("mta-sts-txt-record-valid", resource(DNS, txt(name, content))) == []


@pytest.mark.parametrize(
    "content, rule",
    [
        ('"v=STSv1; id=not-hex!"', "id must be 1 to 32"),
        ('"v=STSv1;"', "no fields"),
        ('"v=STSv2; id=1"', "must start with 'v=STSv1'"),
        ('"v=STSv1; id=1', "not closed"),
    ],
)
def test_sts_record_violation(content: str, rule: str) -> None:
    """An invalid TXT at _mta-sts is reported with the RFC 8461 rule it breaks."""
    found = violations("mta-sts-txt-record-valid", resource(LEGACY_DNS, txt("_mta-sts.example.org", content)))
    assert len(found) == 1 and rule in found[0][0]


def test_sts_policy_ignores_other_records() -> None:
    """A TXT at another name and a non-TXT at _mta-sts are not this policy's business."""
    assert violations("mta-sts-txt-record-valid", resource(DNS, txt("_mta-sts-x.example.org", "junk"))) == []
    cname = {"name": "_mta-sts.example.org", "type": "CNAME", "content": "_mta-sts.example.net"}
    assert violations("mta-sts-txt-record-valid", resource(DNS, cname)) == []


# --- tls-rpt-txt-record-valid --------------------------------------------------------------------


def test_tlsrpt_record_compliant() -> None:
    """A valid quoted v=TLSRPTv1 TXT has no violation."""
    content = '"v=TLSRPTv1; rua=mailto:tlsrpt@example.org,https://tlsrpt.example.org/v1"'
    assert violations("tls-rpt-txt-record-valid", resource(DNS, txt("_smtp._tls.example.org", content))) == []


@pytest.mark.parametrize(
    "content, rule",
    [
        ('"v=TLSRPTv1; rua=ftp://reports.example.org"', "scheme 'ftp' is not allowed"),
        ('"v=TLSRPTv1; ruf=mailto:a@example.org"', "field 'rua' is required"),
        ('"v=STSv1; id=1"', "must start with 'v=TLSRPTv1'"),
    ],
)
def test_tlsrpt_record_violation(content: str, rule: str) -> None:
    """An invalid TXT at _smtp._tls is reported with the RFC 8460 rule it breaks."""
    found = violations("tls-rpt-txt-record-valid", resource(DNS, txt("_smtp._tls", content)))
    assert len(found) == 1 and rule in found[0][0]


# --- mta-sts-txt-records-delete-before-replace ---------------------------------------------------


@pytest.mark.parametrize("name", ["_mta-sts.example.org", "_smtp._tls.example.org"])
def test_delete_before_replace_compliant(name: str) -> None:
    """Either TXT record with delete_before_replace=True has no violation."""
    args = resource(DNS, txt(name, '"v=STSv1; id=1"'), dbr=True)
    assert violations("mta-sts-txt-records-delete-before-replace", args) == []


@pytest.mark.parametrize("name", ["_mta-sts.example.org", "_smtp._tls"])
@pytest.mark.parametrize("dbr", [None, False])
def test_delete_before_replace_violation(name: str, dbr: bool | None) -> None:
    """Either TXT record without delete_before_replace is reported."""
    found = violations("mta-sts-txt-records-delete-before-replace", resource(DNS, txt(name, "x"), dbr=dbr))
    assert len(found) == 1 and "delete_before_replace=True" in found[0][0]


def test_delete_before_replace_ignores_policy_host() -> None:
    """The policy host's AAAA record may be replaced create-before-delete."""
    aaaa = {"name": "mta-sts.example.org", "type": "AAAA", "content": "100::", "proxied": True}
    assert violations("mta-sts-txt-records-delete-before-replace", resource(DNS, aaaa)) == []


def _engine_analyze(props: dict[str, Any], option_fields: dict[str, Any]) -> list[Any]:
    """Feed one resource through the pack's gRPC servicer exactly as the engine sends it."""
    servicer = _PolicyAnalyzerServicer("mta-sts", "0.0.1", POLICIES, EnforcementLevel.MANDATORY)
    properties = struct_pb2.Struct()
    properties.update(props)
    request = proto.AnalyzeRequest(
        type=DNS,
        properties=properties,
        urn=urn(DNS, "sts"),
        name="sts",
        options=proto.AnalyzerResourceOptions(**option_fields),
    )
    return list(servicer.Analyze(request, None).diagnostics)


def test_engine_request_delete_before_replace_is_seen() -> None:
    """Through the engine's wire format, deleteBeforeReplace reaches the policy as opts."""
    props = txt("_mta-sts.example.org", f'"v=STSv1; id={STS_ID}"')
    unset = _engine_analyze(props, {})
    assert [d.policyName for d in unset] == ["mta-sts-txt-records-delete-before-replace"]
    assert unset[0].enforcementLevel == proto.MANDATORY
    assert _engine_analyze(props, {"deleteBeforeReplace": True, "deleteBeforeReplaceDefined": True}) == []


# --- worker-policy-text-valid --------------------------------------------------------------------


def test_worker_policies_found_in_real_bundle(dev_worker: dict[str, Any]) -> None:
    """The dev Worker's data region yields each Worker-hosted domain's policy, mapped to its host."""
    deployment = load_stack(ROOT, "dev")
    expected = {
        (d.policy_host, d.policy_text) for d in deployment.domains if d.hosting == "cloudflare-worker"
    }
    assert {(p.host, p.text) for p in served_policies(dev_worker)} == expected


def test_worker_policy_compliant(dev_worker: dict[str, Any]) -> None:
    """The project's own Worker and its data have no violation."""
    assert violations("worker-policy-text-valid", resource(SCRIPT, dev_worker)) == []


@pytest.mark.parametrize("form", ["template", "hand-written"])
def test_worker_policy_violation_bad_mode(form: str) -> None:
    """An unknown mode is reported, in the project's script or in any script with one data region."""
    data = encode_served({"mta-sts.a.example": BAD_MODE})
    content = (
        render(data)
        if form == "template"
        else f"const D = {DATA_BEGIN}{data}{DATA_END};\nexport default {{}};"
    )
    found = violations("worker-policy-text-valid", resource(SCRIPT, script(content)))
    assert len(found) == 1 and "mode must be enforce, testing or none" in found[0][0]
    assert "mta-sts.a.example" in found[0][0]


@pytest.mark.parametrize(
    "text, rule",
    [
        ("version: STSv1\r\nmode: enforce\r\nmx: a.example\r\nmax_age: 31557601\r\n", "max_age must be"),
        ("version: STSv1\r\nmode: testing\r\nmax_age: 86400\r\n", "needs at least one mx"),
        ("version: STSv2\r\nmode: testing\r\nmx: a.example\r\nmax_age: 86400\r\n", "version must be STSv1"),
    ],
)
def test_worker_policy_violation_per_rule(text: str, rule: str) -> None:
    """Out-of-range max_age, missing mx, and a wrong version are each reported with the host."""
    props = data_worker({"mta-sts.a.example": text, "mta-sts.b.example": TESTING})
    found = violations("worker-policy-text-valid", resource(SCRIPT, props))
    assert len(found) == 1 and rule in found[0][0] and "mta-sts.a.example" in found[0][0]


@pytest.mark.parametrize(
    "data",
    [
        "{not json",
        "[]",
        '{"hosts":{"mta-sts.a.example":"x"},"policies":{}}',
        '{"hosts":{},"policies":[]}',
    ],
)
def test_worker_policy_violation_malformed_data(data: str) -> None:
    """A data region that is not the documented document is reported."""
    found = violations("worker-policy-text-valid", resource(SCRIPT, script(render(data))))
    assert len(found) == 1 and found[0][0].startswith("Worker script policy data:")


def test_worker_without_markers_is_not_a_policy_host() -> None:
    """A Worker with no data marker at all (the report receiver, any other Worker) is not checked."""
    assert violations("worker-policy-text-valid", resource(SCRIPT, script("export default {}"))) == []


@pytest.mark.parametrize(
    "content",
    [
        f"const A = {DATA_BEGIN} {{}} {DATA_END}, B = {DATA_BEGIN} {{}} {DATA_END};",
        f"const A = {DATA_BEGIN} {{}};",
        f"const A = {DATA_END} {{}} {DATA_BEGIN};",
    ],
)
def test_worker_policy_violation_without_one_data_region(content: str) -> None:
    """Markers but not exactly one marked data region (two, unclosed, out of order) is reported."""
    found = violations("worker-policy-text-valid", resource(SCRIPT, script(content)))
    assert len(found) == 1 and found[0][0].startswith("Worker script policy data:")
    assert "not once" in found[0][0] or "before" in found[0][0]


def test_worker_policy_reads_only_the_data_region() -> None:
    """Policy-like text outside the data region is not read; content not yet known is not checked."""
    outside = "\nconst X = `version: STSv1\nmode: x\nmx: a.example\nmax_age: 1\n`; // version: STSv1\n"
    props = script(render(encode_served({"mta-sts.a.example": ENFORCE})) + outside)
    assert [(p.host, p.text) for p in served_policies(props)] == [("mta-sts.a.example", ENFORCE)]
    assert violations("worker-policy-text-valid", resource(SCRIPT, props)) == []
    for unknown in ({**script(""), "content": None}, {k: v for k, v in script("").items() if k != "content"}):
        assert served_policies(unknown) == []
        assert violations("worker-policy-text-valid", resource(SCRIPT, unknown)) == []


# --- pages-policy-file-valid ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [".well-known/mta-sts.txt", "/.well-known/mta-sts.txt", "docs/.well-known/mta-sts.txt"]
)
def test_pages_policy_compliant(path: str) -> None:
    """A valid policy file at the root or under a Pages folder has no violation."""
    props = {"repository": "mta-sts.example.net", "file": path, "content": ENFORCE, "branch": "main"}
    assert violations("pages-policy-file-valid", resource(FILE, props)) == []


def test_pages_policy_violation() -> None:
    """A policy file without a mode is reported."""
    props = {"repository": "mta-sts.example.net", "file": ".well-known/mta-sts.txt"}
    props["content"] = "version: STSv1\nmx: a.example\nmax_age: 86400\n"
    found = violations("pages-policy-file-valid", resource(FILE, props))
    assert len(found) == 1 and "field 'mode' is required" in found[0][0]


def test_pages_policy_ignores_other_files() -> None:
    """The .nojekyll file beside the policy is not checked as a policy."""
    props = {"repository": "mta-sts.example.net", "file": ".nojekyll", "content": ""}
    assert violations("pages-policy-file-valid", resource(FILE, props)) == []


# --- pages-cname-not-proxied ---------------------------------------------------------------------


def test_pages_cname_compliant() -> None:
    """An unproxied CNAME mta-sts → <owner>.github.io has no violation."""
    props = {
        "name": "mta-sts.example.net",
        "type": "CNAME",
        "content": "example-org.github.io",
        "proxied": False,
    }
    assert violations("pages-cname-not-proxied", resource(DNS, props)) == []


def test_pages_cname_violation() -> None:
    """A proxied CNAME mta-sts → <owner>.github.io. is reported."""
    props = {"name": "mta-sts", "type": "CNAME", "content": "Example-Org.GitHub.io.", "proxied": True}
    found = violations("pages-cname-not-proxied", resource(DNS, props))
    assert len(found) == 1 and "proxied=False" in found[0][0]


def test_pages_cname_ignores_other_targets() -> None:
    """A proxied CNAME mta-sts to a non-Pages host is allowed."""
    props = {"name": "mta-sts.example.net", "type": "CNAME", "content": "origin.example.net", "proxied": True}
    assert violations("pages-cname-not-proxied", resource(DNS, props)) == []


# --- one-mta-sts-txt-record-per-name / one-tls-rpt-txt-record-per-name ----------------------------


def _stack(*resources: PolicyResource) -> StackValidationArgs:
    return StackValidationArgs(list(resources))


def test_one_record_per_name_compliant() -> None:
    """One v=STSv1 and one v=TLSRPTv1 per name, beside unrelated and look-alike TXT, has no violation."""
    args = _stack(
        stack_resource(DNS, txt("_mta-sts.example.org", f'"v=STSv1; id={STS_ID}"'), "a"),
        stack_resource(DNS, txt("_mta-sts.example.org", '"other=1"'), "b"),
        stack_resource(DNS, txt("_mta-sts.example.org", '"v=STSv10; id=look-alike"'), "e"),
        stack_resource(DNS, txt("_smtp._tls.example.org", '"v=TLSRPTv1x; rua=x"'), "f"),
        stack_resource(DNS, txt("_mta-sts.example.com", f'"v=STSv1; id={STS_ID}"'), "c"),
        stack_resource(DNS, txt("_smtp._tls.example.org", '"v=TLSRPTv1; rua=mailto:r@example.org"'), "d"),
    )
    assert violations("one-mta-sts-txt-record-per-name", args) == []
    assert violations("one-tls-rpt-txt-record-per-name", args) == []


def test_two_sts_records_at_one_name_violation() -> None:
    """A relative and a fully qualified v=STSv1 at one name (zone known) are both reported."""
    zone = stack_resource(ZONE, {"id": ZONE_ID, "name": "example.org"}, "zone")
    first = stack_resource(DNS, txt("_mta-sts", '"v=STSv1; id=1"'), "first")
    second = stack_resource(DNS, txt("_mta-sts.example.org.", "v=STSv1; id=2"), "second")
    found = violations("one-mta-sts-txt-record-per-name", _stack(zone, first, second))
    assert sorted(urn_ for _, urn_ in found) == sorted([first.urn, second.urn])
    assert "_mta-sts.example.org has 2 v=STSv1 TXT records" in found[0][0]


def test_two_tlsrpt_records_at_one_name_violation() -> None:
    """Two v=TLSRPTv1 records at one name are reported."""
    args = _stack(
        stack_resource(DNS, txt("_smtp._tls.example.org", '"v=TLSRPTv1; rua=mailto:a@example.org"'), "a"),
        stack_resource(
            LEGACY_DNS, txt("_smtp._tls.example.org", '"v=TLSRPTv1; rua=mailto:b@example.org"'), "b"
        ),
    )
    assert len(violations("one-tls-rpt-txt-record-per-name", args)) == 2


# --- worker-routed-policy-host-proxied -----------------------------------------------------------


def _route(pattern: str, script_name: str | None = "mta-sts-dev") -> PolicyResource:
    props = {"pattern": pattern, "zoneId": ZONE_ID}
    if script_name is not None:
        props["script"] = script_name
    return stack_resource(ROUTE, props, f"route-{pattern}")


def _host(name: str, proxied: bool) -> PolicyResource:
    props = {"name": name, "type": "AAAA", "content": "100::", "proxied": proxied, "zoneId": ZONE_ID}
    return stack_resource(DNS, props, f"host-{name}-{proxied}")


def test_worker_host_proxied_compliant() -> None:
    """A proxied record under a route, and an unproxied one no route serves, have no violation."""
    args = _stack(
        _route("mta-sts.example.org/*"),
        _host("mta-sts.example.org", True),
        _host("mta-sts.example.com", False),
        _route("mta-sts.example.net/*", None),
        _host("mta-sts.example.net", False),
    )
    assert violations("worker-routed-policy-host-proxied", args) == []


@pytest.mark.parametrize(
    "pattern, name",
    [
        ("mta-sts.example.org/*", "mta-sts.example.org"),
        ("https://MTA-STS.example.org/.well-known/*", "mta-sts.example.org."),
        ("*example.org/*", "mta-sts.example.org"),
        ("mta-sts.example.org/*", "mta-sts"),
    ],
)
def test_worker_host_unproxied_violation(pattern: str, name: str) -> None:
    """An unproxied record that a Worker route serves is reported, whatever the pattern's form."""
    host = _host(name, False)
    found = violations("worker-routed-policy-host-proxied", _stack(_route(pattern), host))
    assert [urn_ for _, urn_ in found] == [host.urn]


# --- enforce-max-age-at-least-one-day ------------------------------------------------------------


def test_enforce_max_age_compliant() -> None:
    """enforce with one day, and testing with one hour, have no violation."""
    short_testing = TESTING.replace("86400", "3600")
    one_day = ENFORCE.replace("604800", "86400")
    props = data_worker({"mta-sts.a.example": one_day, "mta-sts.b.example": short_testing})
    assert violations("enforce-max-age-at-least-one-day", resource(SCRIPT, props)) == []


@pytest.mark.parametrize("where", ["worker", "pages"])
def test_enforce_max_age_violation(where: str) -> None:
    """enforce with max_age 3600 is reported, from a Worker or from a Pages file."""
    text = ENFORCE.replace("604800", "3600")
    if where == "worker":
        args = resource(SCRIPT, data_worker({"mta-sts.example.org": text}))
    else:
        args = resource(FILE, {"repository": "r", "file": ".well-known/mta-sts.txt", "content": text})
    found = violations("enforce-max-age-at-least-one-day", args)
    assert len(found) == 1 and "max_age 3600" in found[0][0]


# --- enforce-domain-has-tls-rpt ------------------------------------------------------------------


def _tlsrpt(domain: str) -> PolicyResource:
    return stack_resource(DNS, txt(f"_smtp._tls.{domain}", '"v=TLSRPTv1; rua=mailto:r@example.net"'), domain)


def test_enforce_has_tlsrpt_compliant() -> None:
    """An enforce domain with a TLS-RPT record, and a testing one without, have no violation."""
    props = data_worker({"mta-sts.example.org": ENFORCE, "mta-sts.example.com": TESTING})
    args = _stack(stack_resource(SCRIPT, props, "worker"), _tlsrpt("example.org"))
    assert violations("enforce-domain-has-tls-rpt", args) == []


def test_enforce_without_tlsrpt_from_worker_data_violation() -> None:
    """A Worker's host map placing enforce on example.org, with no TLS-RPT record, is reported."""
    props = data_worker({"mta-sts.example.org": ENFORCE, "mta-sts.example.com": TESTING})
    args = _stack(stack_resource(SCRIPT, props, "worker"), _tlsrpt("example.com"))
    found = violations("enforce-domain-has-tls-rpt", args)
    assert len(found) == 1 and found[0][0].startswith("example.org enforces")


def test_enforce_without_tlsrpt_from_pages_violation() -> None:
    """A Pages policy file placed by the repository's custom domain is reported."""
    file_props = {"repository": "policy-repo", "file": ".well-known/mta-sts.txt", "content": ENFORCE}
    args = _stack(
        stack_resource(FILE, file_props, "file"),
        stack_resource(PAGES, {"repository": "policy-repo", "cname": "mta-sts.example.net"}, "pages"),
    )
    found = violations("enforce-domain-has-tls-rpt", args)
    assert [m.split(" ")[0] for m, _ in found] == ["example.net"]
    assert violations("enforce-domain-has-tls-rpt", _stack(*args.resources, _tlsrpt("example.net"))) == []


def test_enforce_without_tlsrpt_from_record_id_violation() -> None:
    """A policy placed only by the _mta-sts record whose id is its hash is reported."""
    file_props = {"repository": "unnamed", "file": ".well-known/mta-sts.txt", "content": ENFORCE}
    args = _stack(
        stack_resource(FILE, file_props, "file"),
        stack_resource(DNS, txt("_mta-sts.example.io", f'"v=STSv1; id={STS_ID}"'), "sts"),
    )
    assert [m.split(" ")[0] for m, _ in violations("enforce-domain-has-tls-rpt", args)] == ["example.io"]


# --- worker-script-compatibility-date ------------------------------------------------------------


def test_compatibility_date_compliant() -> None:
    """A Worker script with a compatibility date has no violation."""
    assert violations("worker-script-compatibility-date", resource(SCRIPT, script("export default {}"))) == []


@pytest.mark.parametrize("date", [None, ""])
def test_compatibility_date_violation(date: str | None) -> None:
    """A Worker script without, or with an empty, compatibility date is reported."""
    props = script("export default {}")
    if date is None:
        del props["compatibilityDate"]
    else:
        props["compatibilityDate"] = date
    found = violations("worker-script-compatibility-date", resource(SCRIPT, props))
    assert len(found) == 1 and "mta-sts-dev" in found[0][0]


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


def _receiver(
    domains: list[str],
    external: list[str],
    mailto: bool = True,
    others: tuple[str, ...] = ("by-hand.example",),
) -> PolicyResource:
    """The receiver Worker as components/receiver.py declares it: the model's script, with ``domains``
    builtin (``external`` among them dns: external) and ``others`` in the stack with reports: none."""
    from mtasts.model.config import load_config
    from mtasts.model.reports import receiver_script

    raw = {"host": "tlsrpt.example.net", **({"mailto": "tlsrpt@reports.example.net"} if mailto else {})}
    external_domain = {"reports": "builtin", "dns": "external", "routing": "custom-domain"}
    deployment = load_config(
        {
            "mta-sts:cloudflareAccountId": "0" * 32,
            "mta-sts:defaults": {"mx": ["mx1.example.net"]},
            "mta-sts:reports": raw,
            "mta-sts:domains": {
                **{d: external_domain if d in external else {"reports": "builtin"} for d in domains},
                **{d: {} for d in others},
            },
        }
    )
    assert deployment.receiver is not None
    content = receiver_script(deployment.receiver, deployment.domains)
    bindings = [{"name": "DB", "type": "d1", "id": "db-id"}]
    props = {**script(content, scriptName="mta-sts-reports-dev"), "bindings": bindings}
    return stack_resource(SCRIPT, props, "reports-script")


def _rua(domain: str, *uris: str, name: str | None = None) -> PolicyResource:
    content = f'"v=TLSRPTv1; rua={",".join(uris)}"'
    return stack_resource(DNS, txt(name or f"_smtp._tls.{domain}", content), f"{domain}-tlsrpt")


def _receiver_stack(**change: Any) -> list[PolicyResource]:
    """A compliant stack: the receiver takes example.com (record in the stack, other URIs beside the
    receiver's) and external.example.org (dns: external); a policy Worker and another domain's record."""
    domains = change.get("domains", ["example.com", "external.example.org"])
    external = change.get("external", ["external.example.org"])
    rua = change.get("rua", ("mailto:old@example.net", RECEIVER_HTTPS, RECEIVER_MAILTO))
    resources = [
        _receiver(domains, external, change.get("mailto", True)),
        stack_resource(SCRIPT, data_worker({"mta-sts.example.com": TESTING}), "policy-worker"),
        _rua("other.example", "mailto:r@other.example"),
    ]
    if rua is not None:
        resources.append(_rua("example.com", *rua))
    return resources


def test_receiver_in_rua_compliant() -> None:
    """Every builtin domain lists the receiver's URIs (or is dns: external): no violation, though the
    receiver also counts by-hand.example (reports: none), which has no _smtp._tls record here."""
    resources = _receiver_stack()
    data = receiver_in_script(resources[0].props["content"])
    assert "by-hand.example" in data.domains and "by-hand.example" not in data.builtin
    assert violations("tls-report-receiver-in-rua", _stack(*resources)) == []
    https_only = _receiver_stack(mailto=False, rua=(RECEIVER_HTTPS,))
    assert violations("tls-report-receiver-in-rua", _stack(*https_only)) == []
    zone = stack_resource(ZONE, {"id": ZONE_ID, "name": "example.com"}, "zone")
    relative = [
        *_receiver_stack(rua=None),
        _rua("example.com", RECEIVER_HTTPS, RECEIVER_MAILTO, name="_smtp._tls"),
    ]
    assert violations("tls-report-receiver-in-rua", _stack(zone, *relative)) == []


@pytest.mark.parametrize(
    "change, missing, on",
    [
        ({"rua": ("mailto:old@example.net", RECEIVER_MAILTO)}, RECEIVER_HTTPS, "example.com-tlsrpt"),
        (
            {"rua": (RECEIVER_HTTPS, "https://tlsrpt.example.net/other")},
            RECEIVER_MAILTO,
            "example.com-tlsrpt",
        ),
        ({"rua": None}, "no _smtp._tls.example.com TXT", "reports-script"),
        ({"external": []}, "no _smtp._tls.external.example.org TXT", "reports-script"),
        (
            {"domains": ["example.com", "external.example.org", "new.example"]},
            "new.example",
            "reports-script",
        ),
    ],
    ids=["https uri dropped", "mailto uri dropped", "record absent", "no longer external", "new domain"],
)
def test_receiver_in_rua_violation(change: dict[str, Any], missing: str, on: str) -> None:
    """A receiver domain whose _smtp._tls TXT misses a receiver URI, or has none, is reported once."""
    found = violations("tls-report-receiver-in-rua", _stack(*_receiver_stack(**change)))
    assert len(found) == 1, found
    message, where = found[0]
    assert missing in message and "senders never post there" in message
    assert where.endswith(f"::{on}")


def test_receiver_in_rua_ignores_other_workers_and_unknown_settings() -> None:
    """A Worker without the settings markers, with content not yet known, or whose settings list
    no URI is not a receiver to check; nor is a stack domain that is not builtin."""
    receiver = _receiver(["example.com"], [])
    content = receiver.props["content"]
    data = receiver_in_script(content)
    no_rua = insert_data(content, encode_receiver(dataclasses.replace(data, rua=())), RECEIVER_SETTINGS)
    older = stack_resource(SCRIPT, {**receiver.props, "content": no_rua}, "older")
    unknown = stack_resource(SCRIPT, {**receiver.props, "content": None}, "unknown")
    plain = stack_resource(SCRIPT, script("export default {}"), "plain")
    assert violations("tls-report-receiver-in-rua", _stack(older, unknown, plain)) == []


@pytest.mark.parametrize(
    "spoil, reason",
    [
        (lambda c: insert_data(c, '{"domains": {', RECEIVER_SETTINGS), "not JSON"),
        (lambda c: insert_data(c, '{"domains":[],"limits":{},"rua":[]}', RECEIVER_SETTINGS), '"domains"'),
        (lambda c: c + "\n" + RECEIVER_SETTINGS.end + "\n", "2 times, not once"),
    ],
    ids=["not json", "wrong shape", "end marker twice"],
)
def test_receiver_in_rua_reports_malformed_settings(spoil: Any, reason: str) -> None:
    """A receiver Worker whose settings region is there but does not decode is one violation, on it."""
    receiver = _receiver(["example.com"], [])
    content = spoil(receiver.props["content"])
    broken = stack_resource(SCRIPT, {**receiver.props, "content": content}, "reports-script")
    found = violations("tls-report-receiver-in-rua", _stack(broken, _rua("example.com", RECEIVER_HTTPS)))
    assert len(found) == 1, found
    message, where = found[0]
    assert "'mta-sts-reports-dev' settings" in message and reason in message
    assert where.endswith("::reports-script")


def test_the_receiver_is_never_taken_for_a_policy_worker() -> None:
    """The receiver's script carries the settings markers only: the policy rules find no policy in it."""
    receiver = _receiver(["example.com"], [])
    assert not POLICY_DATA.carried_by(receiver.props["content"])
    assert served_policies(receiver.props) == []
    assert violations("worker-policy-text-valid", resource(SCRIPT, receiver.props)) == []


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
