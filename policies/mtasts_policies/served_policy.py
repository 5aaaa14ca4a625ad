"""Rules for the MTA-STS policy texts the stack serves, whichever resource holds them (a Worker
script's data region or a Pages repository's policy file): an ``enforce`` policy caches for at
least a day and has a TLS-RPT record beside it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from mtasts.rfc.policy import (
    POLICY_HOST_LABEL,
    Mode,
    PolicyError,
    parse_policy,
    policy_id,
    short_max_age_problem,
)
from mtasts.rfc.records import STS_LABEL, TLSRPT_LABEL, RecordError, parse_sts_record, sts_name, tlsrpt_name

from ._shared import (
    REPOSITORY_FILE_TYPE,
    REPOSITORY_PAGES_TYPE,
    WORKER_SCRIPT_TYPES,
    is_policy_file,
    normalize,
    record_fqdn,
    txt_resources,
    zone_names,
)
from .workers_script import worker_policies


def _served_texts(args: ResourceValidationArgs) -> list[str]:
    """Policy texts a Worker script's data or a Pages policy file holds."""
    if args.resource_type in WORKER_SCRIPT_TYPES:
        return list(dict.fromkeys(s.text for s in worker_policies(args.props)))
    if args.resource_type == REPOSITORY_FILE_TYPE and is_policy_file(args.props.get("file")):
        content = args.props.get("content")
        return [content] if isinstance(content, str) else []
    return []


def _validate_enforce_max_age(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for text in _served_texts(args):
        try:
            policy = parse_policy(text)
        except PolicyError:
            continue  # the parse policies report it
        problem = short_max_age_problem(policy.mode, policy.max_age)
        if problem:
            report_violation(f"policy {text!r}: {problem}", None)


ENFORCE_MAX_AGE_AT_LEAST_ONE_DAY = ResourceValidationPolicy(
    name="enforce-max-age-at-least-one-day",
    description="An enforce policy should have a max_age of at least one day.",
    enforcement_level=EnforcementLevel.ADVISORY,
    validate=_validate_enforce_max_age,
)


def _domain_of_host(host: str) -> str:
    return host[len(POLICY_HOST_LABEL) + 1 :] if host.startswith(POLICY_HOST_LABEL + ".") else ""


def _served_by_domain(resources: list[PolicyResource], zones: Mapping[str, str]) -> dict[str, set[str]]:
    """Mail domain → the policy texts the stack serves for it, where the stack says which domain.

    A domain is known from a Worker's data (its host keys), from the Pages custom domain of the
    repository holding the file (or a repository named ``mta-sts.<domain>``), or from a
    ``_mta-sts`` record whose id is the text's hash (this project's id scheme).
    """
    served: dict[str, set[str]] = defaultdict(set)
    unplaced: set[str] = set()
    pages_cname: dict[str, str] = {}
    for resource in resources:
        props = resource.props
        if resource.resource_type == REPOSITORY_PAGES_TYPE and isinstance(props.get("repository"), str):
            pages_cname[props["repository"]] = normalize(props.get("cname"))
    for resource in resources:
        props = resource.props
        if resource.resource_type in WORKER_SCRIPT_TYPES:
            for item in worker_policies(props):
                domain = _domain_of_host(item.host or "")
                if domain:
                    served[domain].add(item.text)
                else:
                    unplaced.add(item.text)
        elif resource.resource_type == REPOSITORY_FILE_TYPE and is_policy_file(props.get("file")):
            content = props.get("content")
            if not isinstance(content, str):
                continue
            repository = str(props.get("repository") or "")
            domain = _domain_of_host(pages_cname.get(repository) or normalize(repository))
            if domain:
                served[domain].add(content)
            else:
                unplaced.add(content)
    by_id = {policy_id(text): text for text in unplaced}
    for record in txt_resources(resources, STS_LABEL):
        try:
            ident = parse_sts_record(str(record.props.get("content") or "")).id
        except RecordError:
            continue
        fqdn = record_fqdn(record.props, zones)
        domain = fqdn[len(STS_LABEL) + 1 :]
        if ident in by_id and fqdn == sts_name(domain):
            served[domain].add(by_id[ident])
    return served


def _validate_enforce_has_tlsrpt(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    zones = zone_names(args.resources)
    reported = {record_fqdn(r.props, zones) for r in txt_resources(args.resources, TLSRPT_LABEL)}
    for domain, texts in sorted(_served_by_domain(args.resources, zones).items()):
        modes = set()
        for text in texts:
            try:
                modes.add(parse_policy(text).mode)
            except PolicyError:
                continue
        if Mode.ENFORCE in modes and tlsrpt_name(domain) not in reported:
            report_violation(
                f"{domain} enforces MTA-STS but the stack has no {tlsrpt_name(domain)} TXT record; "
                "without TLS reports nobody learns that senders are failing to deliver",
                None,
            )


ENFORCE_DOMAIN_HAS_TLS_RPT = StackValidationPolicy(
    name="enforce-domain-has-tls-rpt",
    description="A domain with an enforce policy should publish a TLS-RPT record in the same stack.",
    enforcement_level=EnforcementLevel.ADVISORY,
    validate=_validate_enforce_has_tlsrpt,
)
