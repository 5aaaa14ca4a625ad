"""The pack's DNS record rules: one compliant resource and one violation per rule."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import (
    EnforcementLevel,
)
from pulumi_policy.policy import _PolicyAnalyzerServicer

from policies.mtasts_policies import POLICIES
from tests.policy_pack import (
    DNS,
    LEGACY_DNS,
    STS_ID,
    ZONE,
    ZONE_ID,
    resource,
    stack,
    stack_resource,
    txt,
    urn,
    violations,
)

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


def test_one_record_per_name_compliant() -> None:
    """One v=STSv1 and one v=TLSRPTv1 per name, beside unrelated and look-alike TXT, has no violation."""
    args = stack(
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
    found = violations("one-mta-sts-txt-record-per-name", stack(zone, first, second))
    assert sorted(urn_ for _, urn_ in found) == sorted([first.urn, second.urn])
    assert "_mta-sts.example.org has 2 v=STSv1 TXT records" in found[0][0]


def test_two_tlsrpt_records_at_one_name_violation() -> None:
    """Two v=TLSRPTv1 records at one name are reported."""
    args = stack(
        stack_resource(DNS, txt("_smtp._tls.example.org", '"v=TLSRPTv1; rua=mailto:a@example.org"'), "a"),
        stack_resource(
            LEGACY_DNS, txt("_smtp._tls.example.org", '"v=TLSRPTv1; rua=mailto:b@example.org"'), "b"
        ),
    )
    assert len(violations("one-tls-rpt-txt-record-per-name", args)) == 2


# --- the TXT records customers' CNAMEs reach (hosting: delegated) --------------------------------


@pytest.mark.parametrize(
    "name", ["*._mta-sts.mtasts.provider.example", "shop-example-1a2b3c4d._mta-sts.provider.example"]
)
def test_delegated_sts_records_are_held_to_the_same_rules(name: str) -> None:
    """A delegation zone's _mta-sts TXT (wildcard or a customer's) must be valid and replaced delete-first."""
    assert (
        violations("mta-sts-txt-record-valid", resource(DNS, txt(name, f'"v=STSv1; id={STS_ID}"'), dbr=True))
        == []
    )
    [(bad, _)] = violations("mta-sts-txt-record-valid", resource(DNS, txt(name, '"v=STSv1; id=not-hex!"')))
    assert "id must be 1 to 32" in bad
    assert violations("mta-sts-txt-records-delete-before-replace", resource(DNS, txt(name, "x"), dbr=None))


def test_delegated_tlsrpt_wildcard_is_checked() -> None:
    """*._smtp._tls.<zone> is a TLS-RPT record like any other."""
    found = violations(
        "tls-rpt-txt-record-valid", resource(DNS, txt("*._smtp._tls.provider.example", '"v=TLSRPTv1;"'))
    )
    assert len(found) == 1
