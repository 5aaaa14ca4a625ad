"""Rules for Cloudflare DNS records: the ``_mta-sts`` and ``_smtp._tls`` TXT records, the Pages
CNAME, and at most one record of each kind per name across the stack."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from mtasts.rfc.policy import POLICY_HOST_LABEL
from mtasts.rfc.records import (
    STS_LABEL,
    STS_VERSION,
    TLSRPT_LABEL,
    TLSRPT_VERSION,
    RecordError,
    declares,
    parse_sts_record,
    parse_tlsrpt_record,
)

from ._shared import (
    DNS_RECORD_TYPES,
    is_txt_at,
    is_under,
    normalize,
    of_types,
    record_fqdn,
    record_type,
    txt_resources,
    txt_text,
    zone_names,
)


def _content(args: ResourceValidationArgs) -> str:
    content = args.props.get("content")
    return content if isinstance(content, str) else ""


def _validate_sts_record(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not is_txt_at(args.props, STS_LABEL):
        return
    try:
        parse_sts_record(_content(args))
    except RecordError as exc:
        report_violation(f"{args.props.get('name')} TXT {_content(args)!r}: {exc}", None)


MTA_STS_TXT_RECORD_VALID = ResourceValidationPolicy(
    name="mta-sts-txt-record-valid",
    description="A TXT record at _mta-sts must be a valid v=STSv1 record (RFC 8461 §3.1).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=of_types(DNS_RECORD_TYPES, _validate_sts_record),
)


def _validate_tlsrpt_record(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not is_txt_at(args.props, TLSRPT_LABEL):
        return
    try:
        parse_tlsrpt_record(_content(args))
    except RecordError as exc:
        report_violation(f"{args.props.get('name')} TXT {_content(args)!r}: {exc}", None)


TLS_RPT_TXT_RECORD_VALID = ResourceValidationPolicy(
    name="tls-rpt-txt-record-valid",
    description="A TXT record at _smtp._tls must be a valid v=TLSRPTv1 record (RFC 8460 §3).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=of_types(DNS_RECORD_TYPES, _validate_tlsrpt_record),
)


def _validate_delete_before_replace(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not (is_txt_at(args.props, STS_LABEL) or is_txt_at(args.props, TLSRPT_LABEL)):
        return
    if getattr(args.opts, "delete_before_replace", None) is not True:
        report_violation(
            f"{args.props.get('name')} TXT: set delete_before_replace=True; a create-before-delete "
            "replacement publishes two records at one name for a while, and senders then see no "
            "policy (RFC 8461 §3.1, RFC 8460 §3)",
            None,
        )


MTA_STS_TXT_RECORDS_DELETE_BEFORE_REPLACE = ResourceValidationPolicy(
    name="mta-sts-txt-records-delete-before-replace",
    description="TXT records at _mta-sts and _smtp._tls must be replaced with delete_before_replace.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=of_types(DNS_RECORD_TYPES, _validate_delete_before_replace),
)


def _validate_pages_cname(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    props = args.props
    if record_type(props) != "CNAME" or not is_under(normalize(props.get("name")), POLICY_HOST_LABEL):
        return
    target = normalize(props.get("content"))
    if (target == "github.io" or target.endswith(".github.io")) and props.get("proxied") is True:
        report_violation(
            f"{props.get('name')} CNAME {target}: set proxied=False; GitHub Pages cannot issue the "
            "certificate for a custom domain behind Cloudflare's proxy",
            None,
        )


PAGES_CNAME_NOT_PROXIED = ResourceValidationPolicy(
    name="pages-cname-not-proxied",
    description="A CNAME from mta-sts to GitHub Pages must not be proxied by Cloudflare.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=of_types(DNS_RECORD_TYPES, _validate_pages_cname),
)


def _one_record_per_name(label: str, version: str) -> Any:
    """A stack validation: at most one TXT record starting with ``version`` at each ``label`` name."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        zones = zone_names(args.resources)
        by_name: dict[tuple[str, str], list[PolicyResource]] = defaultdict(list)
        for resource in txt_resources(args.resources, label):
            content = resource.props.get("content")
            if isinstance(content, str) and declares(version, txt_text(content)):
                key = (str(resource.props.get("zoneId") or ""), record_fqdn(resource.props, zones))
                by_name[key].append(resource)
        for (_, name), records in sorted(by_name.items()):
            if len(records) > 1:
                others = ", ".join(r.name for r in records)
                for record in records:
                    report_violation(
                        f"{name} has {len(records)} {version} TXT records ({others}); senders "
                        "then use no policy at all",
                        record.urn,
                    )

    return validate


ONE_MTA_STS_TXT_RECORD_PER_NAME = StackValidationPolicy(
    name="one-mta-sts-txt-record-per-name",
    description="A stack must publish at most one v=STSv1 TXT record at each _mta-sts name.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_one_record_per_name(STS_LABEL, STS_VERSION),
)

ONE_TLS_RPT_TXT_RECORD_PER_NAME = StackValidationPolicy(
    name="one-tls-rpt-txt-record-per-name",
    description="A stack must publish at most one v=TLSRPTv1 TXT record at each _smtp._tls name.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_one_record_per_name(TLSRPT_LABEL, TLSRPT_VERSION),
)
