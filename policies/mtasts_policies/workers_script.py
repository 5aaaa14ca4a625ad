"""Rules for Cloudflare Worker scripts: the policies a policy Worker's data region serves, its
compatibility date, and the TLS report receiver's settings against the stack's ``_smtp._tls``
records.

A Worker's policies are read from its script's one data region, plain JSON between fixed markers
(``mtasts.rfc.served``): split and parsed, never lexed as JavaScript; the receiver's settings
likewise, between their own markers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
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

from mtasts.rfc.records import (
    TLSRPT_LABEL,
    TLSRPT_VERSION,
    RecordError,
    declares,
    parse_tlsrpt_record,
    tlsrpt_name,
)
from mtasts.rfc.served import (
    POLICY_DATA,
    RECEIVER_SETTINGS,
    ReceiverData,
    ServedDataError,
    receiver_in_script,
    served_in_script,
)

from ._shared import (
    WORKER_SCRIPT_TYPES,
    normalize,
    of_types,
    policy_problem,
    record_fqdn,
    txt_resources,
    txt_text,
    zone_names,
)


@dataclass(frozen=True)
class ServedPolicy:
    """A policy text a Worker's data or a Pages file holds, and the host serving it if known."""

    text: str
    host: str | None = None
    """``mta-sts.<domain>`` when the data maps a host to this text."""


def served_policies(props: Mapping[str, Any]) -> list[ServedPolicy]:
    """The (host, policy) pairs a Worker script's data region serves, sorted by host.

    None while the content is not known (not a string), and none for a Worker that is not a
    policy host (no policy data marker at all: the stack's TLS report receiver, whose settings sit
    between other markers, or any other Worker).
    Raises ``ServedDataError`` when the script has more than one data region, markers out of
    order, or data that is not the documented document (the Worker would then serve no policy,
    or fail to load).
    """
    content = props.get("content")
    if not isinstance(content, str) or not POLICY_DATA.carried_by(content):
        return []
    by_host = served_in_script(content)
    return [ServedPolicy(text=text, host=normalize(host)) for host, text in sorted(by_host.items())]


def worker_policies(props: Mapping[str, Any]) -> list[ServedPolicy]:
    """``served_policies``, or none when the data is malformed (``worker-policy-text-valid`` says so)."""
    try:
        return served_policies(props)
    except ServedDataError:
        return []


def _validate_worker_policies(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    try:
        found = served_policies(args.props)
    except ServedDataError as exc:
        report_violation(f"Worker script policy data: {exc}; the Worker would serve no policy at all", None)
        return
    for served in found:
        problem = policy_problem(served.text)
        if problem:
            where = f" for {served.host}" if served.host else ""
            report_violation(f"Worker script policy{where} {served.text!r}: {problem}", None)


WORKER_POLICY_TEXT_VALID = ResourceValidationPolicy(
    name="worker-policy-text-valid",
    description="Every MTA-STS policy a Worker script serves must parse (RFC 8461 §3.2).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=of_types(WORKER_SCRIPT_TYPES, _validate_worker_policies),
)


def _validate_compatibility_date(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    date = args.props.get("compatibilityDate")
    if not (isinstance(date, str) and date.strip()):
        report_violation(
            f"Worker script {args.props.get('scriptName')!r} has no compatibilityDate; without one "
            "its runtime behaviour follows Cloudflare's defaults and can change under it",
            None,
        )


WORKER_SCRIPT_COMPATIBILITY_DATE = ResourceValidationPolicy(
    name="worker-script-compatibility-date",
    description="A Worker script should pin a compatibility date.",
    enforcement_level=EnforcementLevel.ADVISORY,
    validate=of_types(WORKER_SCRIPT_TYPES, _validate_compatibility_date),
)


def _receiver_settings(props: Mapping[str, Any]) -> ReceiverData | None:
    """A TLS report receiver Worker's settings, from its script's settings region; None for any
    other Worker (no settings marker), while the content is not known, or when the region lists no
    URI. Raises ``ServedDataError`` when the markers are there but the region does not decode."""
    content = props.get("content")
    if not isinstance(content, str) or not RECEIVER_SETTINGS.carried_by(content):
        return None
    found = receiver_in_script(content)
    return found if found.rua else None


def _validate_receiver_in_rua(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    zones = zone_names(args.resources)
    records: dict[str, list[PolicyResource]] = defaultdict(list)
    for record in txt_resources(args.resources, TLSRPT_LABEL):
        records[record_fqdn(record.props, zones)].append(record)
    for worker in args.resources:
        if worker.resource_type not in WORKER_SCRIPT_TYPES:
            continue
        script = worker.props.get("scriptName") or worker.name
        try:
            found = _receiver_settings(worker.props)
        except ServedDataError as exc:
            report_violation(
                f"TLS report receiver {script!r} settings: {exc}; the receiver may fail to load or count "
                "no report, and its domains' _smtp._tls records cannot be checked",
                worker.urn,
            )
            continue
        if found is None:
            continue
        rua = list(found.rua)
        for domain in sorted(found.builtin):
            if domain in found.dns_external:
                continue  # dns: external: the record is published by hand, outside the stack
            name = tlsrpt_name(domain)
            declared = [
                r
                for r in records.get(name, [])
                if isinstance(r.props.get("content"), str)
                and declares(TLSRPT_VERSION, txt_text(r.props["content"]))
            ]
            if not declared:
                report_violation(
                    f"TLS report receiver {script!r} takes reports for {domain}, but the stack has no "
                    f"{name} TXT record listing {', '.join(rua)}; senders never post there",
                    worker.urn,
                )
            for record in declared:
                try:
                    listed = parse_tlsrpt_record(record.props["content"]).rua
                except RecordError:
                    continue  # tls-rpt-txt-record-valid reports it
                missing = [uri for uri in rua if uri not in listed]
                if missing:
                    report_violation(
                        f"{name} TXT rua={','.join(listed)} does not list {', '.join(missing)}, where "
                        f"TLS report receiver {script!r} takes {domain}'s reports; senders never post there",
                        record.urn,
                    )


TLS_REPORT_RECEIVER_IN_RUA = StackValidationPolicy(
    name="tls-report-receiver-in-rua",
    description="A builtin domain of the stack's TLS report receiver must list it in its _smtp._tls rua.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_validate_receiver_in_rua,
)
