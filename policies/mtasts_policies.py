"""CrossGuard policies that keep MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) from losing mail.

The policies read resource properties as the engine passes them (camelCase), so they guard
every Cloudflare DNS record, Worker and GitHub Pages file in a stack, not only the ones this
project's components create. Record and policy grammar comes from ``mtasts.rfc``: nothing here
re-implements RFC 8461 §3 or RFC 8460 §3. A Worker's policies are read from its script's one
data region, plain JSON between fixed markers (``mtasts.rfc.served``): split and parsed, never
lexed as JavaScript; the TLS report receiver's settings likewise, between its own markers.

``POLICIES`` is the list ``__main__.py`` builds the pack from; tests and outside checks import
it from here, because constructing a ``PolicyPack`` starts a gRPC server and blocks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
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

from mtasts.rfc.names import normalize_name
from mtasts.rfc.policy import (
    POLICY_HOST_LABEL,
    POLICY_PATH,
    PolicyError,
    parse_policy,
    policy_id,
    short_max_age_problem,
)
from mtasts.rfc.records import (
    STS_LABEL,
    STS_VERSION,
    TLSRPT_LABEL,
    TLSRPT_VERSION,
    RecordError,
    declares,
    parse_sts_record,
    parse_tlsrpt_record,
    sts_name,
    tlsrpt_name,
    unquote_txt,
)
from mtasts.rfc.served import (
    POLICY_DATA,
    RECEIVER_SETTINGS,
    ReceiverData,
    ServedDataError,
    receiver_in_script,
    served_in_script,
)

DNS_RECORD_TYPES = frozenset(
    {
        "cloudflare:index/dnsRecord:DnsRecord",
        "cloudflare:index/record:Record",  # deprecated alias; a hand-written program may still use it
    }
)
WORKER_SCRIPT_TYPES = frozenset(
    {
        "cloudflare:index/workersScript:WorkersScript",
        "cloudflare:index/workerScript:WorkerScript",  # deprecated alias
    }
)
WORKER_ROUTE_TYPE = "cloudflare:index/workersRoute:WorkersRoute"
ZONE_TYPE = "cloudflare:index/zone:Zone"
REPOSITORY_FILE_TYPE = "github:index/repositoryFile:RepositoryFile"
REPOSITORY_PAGES_TYPE = "github:index/repositoryPages:RepositoryPages"

POLICY_FILE = POLICY_PATH.lstrip("/")
PROXIABLE_TYPES = frozenset({"A", "AAAA", "CNAME"})


# --- names -----------------------------------------------------------------------------------


def _normalize(name: Any) -> str:
    """Lower-case, without one trailing dot; a non-string (absent) name is empty."""
    return normalize_name(name.strip()) if isinstance(name, str) else ""


def _is_under(name: str, label: str) -> bool:
    """Whether ``name`` is ``label`` (relative to its zone) or ``label.<something>``."""
    return name == label or name.startswith(label + ".")


def _zone_names(resources: list[PolicyResource]) -> dict[str, str]:
    """Zone id → zone name, for the Cloudflare zones the stack itself manages."""
    zones = {}
    for resource in resources:
        if resource.resource_type == ZONE_TYPE:
            ident, name = resource.props.get("id"), _normalize(resource.props.get("name"))
            if isinstance(ident, str) and ident and name:
                zones[ident] = name
    return zones


def _record_fqdn(props: Mapping[str, Any], zones: Mapping[str, str]) -> str:
    """The record's name, made fully qualified when the stack names its zone.

    Cloudflare accepts a name relative to the zone (``_mta-sts``) or fully qualified
    (``_mta-sts.example.com``) and stores the latter; without the zone's name in the stack a
    relative name stays relative.
    """
    name = _normalize(props.get("name"))
    zone = zones.get(str(props.get("zoneId") or ""))
    if not zone:
        return name
    if name in ("", "@"):
        return zone
    if name == zone or name.endswith("." + zone):
        return name
    return f"{name}.{zone}"


def _record_type(props: Mapping[str, Any]) -> str:
    value = props.get("type")
    return value.upper() if isinstance(value, str) else ""


def _txt_text(content: str) -> str:
    """The TXT data a resolver returns: quoted strings joined, or the text as is."""
    try:
        return unquote_txt(content)
    except RecordError:
        return content


# --- policy texts a Worker serves --------------------------------------------------------------


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
    return [ServedPolicy(text=text, host=_normalize(host)) for host, text in sorted(by_host.items())]


def _worker_policies(props: Mapping[str, Any]) -> list[ServedPolicy]:
    """``served_policies``, or none when the data is malformed (``worker-policy-text-valid`` says so)."""
    try:
        return served_policies(props)
    except ServedDataError:
        return []


def _policy_problem(text: str) -> str | None:
    try:
        parse_policy(text)
    except PolicyError as exc:
        return str(exc)
    return None


def _is_policy_file(path: Any) -> bool:
    """Whether a repository path is the policy file, at the root or under a Pages folder."""
    if not isinstance(path, str):
        return False
    path = path.strip().lstrip("/")
    while path.startswith("./"):
        path = path[2:]
    return bool(path == POLICY_FILE or path.endswith("/" + POLICY_FILE))


# --- resource policies -----------------------------------------------------------------------


def _txt_records_at(args: ResourceValidationArgs, label: str) -> str | None:
    """The TXT content if ``args`` is a DNS TXT record at ``label``, else None."""
    if args.resource_type not in DNS_RECORD_TYPES:
        return None
    props = args.props
    if _record_type(props) != "TXT" or not _is_under(_normalize(props.get("name")), label):
        return None
    content = props.get("content")
    return content if isinstance(content, str) else ""


def _validate_sts_record(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    content = _txt_records_at(args, STS_LABEL)
    if content is None:
        return
    try:
        parse_sts_record(content)
    except RecordError as exc:
        report_violation(f"{args.props.get('name')} TXT {content!r}: {exc}", None)


def _validate_tlsrpt_record(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    content = _txt_records_at(args, TLSRPT_LABEL)
    if content is None:
        return
    try:
        parse_tlsrpt_record(content)
    except RecordError as exc:
        report_violation(f"{args.props.get('name')} TXT {content!r}: {exc}", None)


def _validate_delete_before_replace(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if _txt_records_at(args, STS_LABEL) is None and _txt_records_at(args, TLSRPT_LABEL) is None:
        return
    if getattr(args.opts, "delete_before_replace", None) is not True:
        report_violation(
            f"{args.props.get('name')} TXT: set delete_before_replace=True; a create-before-delete "
            "replacement publishes two records at one name for a while, and senders then see no "
            "policy (RFC 8461 §3.1, RFC 8460 §3)",
            None,
        )


def _validate_worker_policies(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in WORKER_SCRIPT_TYPES:
        return
    try:
        found = served_policies(args.props)
    except ServedDataError as exc:
        report_violation(f"Worker script policy data: {exc}; the Worker would serve no policy at all", None)
        return
    for served in found:
        problem = _policy_problem(served.text)
        if problem:
            where = f" for {served.host}" if served.host else ""
            report_violation(f"Worker script policy{where} {served.text!r}: {problem}", None)


def _validate_pages_policy(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != REPOSITORY_FILE_TYPE or not _is_policy_file(args.props.get("file")):
        return
    content = args.props.get("content")
    problem = _policy_problem(content) if isinstance(content, str) else "the file has no content"
    if problem:
        report_violation(
            f"{args.props.get('repository')}/{args.props.get('file')} {content!r}: {problem}", None
        )


def _validate_pages_cname(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in DNS_RECORD_TYPES:
        return
    props = args.props
    if _record_type(props) != "CNAME" or not _is_under(_normalize(props.get("name")), POLICY_HOST_LABEL):
        return
    target = _normalize(props.get("content"))
    if (target == "github.io" or target.endswith(".github.io")) and props.get("proxied") is True:
        report_violation(
            f"{props.get('name')} CNAME {target}: set proxied=False; GitHub Pages cannot issue the "
            "certificate for a custom domain behind Cloudflare's proxy",
            None,
        )


def _served_texts(args: ResourceValidationArgs) -> list[str]:
    """Policy texts a Worker script's data or a Pages policy file holds."""
    if args.resource_type in WORKER_SCRIPT_TYPES:
        return list(dict.fromkeys(s.text for s in _worker_policies(args.props)))
    if args.resource_type == REPOSITORY_FILE_TYPE and _is_policy_file(args.props.get("file")):
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


def _validate_compatibility_date(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in WORKER_SCRIPT_TYPES:
        return
    date = args.props.get("compatibilityDate")
    if not (isinstance(date, str) and date.strip()):
        report_violation(
            f"Worker script {args.props.get('scriptName')!r} has no compatibilityDate; without one "
            "its runtime behaviour follows Cloudflare's defaults and can change under it",
            None,
        )


# --- stack policies --------------------------------------------------------------------------


def _txt_resources(resources: list[PolicyResource], label: str) -> Iterator[PolicyResource]:
    for resource in resources:
        if resource.resource_type not in DNS_RECORD_TYPES:
            continue
        props = resource.props
        if _record_type(props) == "TXT" and _is_under(_normalize(props.get("name")), label):
            yield resource


def _one_record_per_name(label: str, version: str) -> Any:
    """A stack validation: at most one TXT record starting with ``version`` at each ``label`` name."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        zones = _zone_names(args.resources)
        by_name: dict[tuple[str, str], list[PolicyResource]] = defaultdict(list)
        for resource in _txt_resources(args.resources, label):
            content = resource.props.get("content")
            if isinstance(content, str) and declares(version, _txt_text(content)):
                key = (str(resource.props.get("zoneId") or ""), _record_fqdn(resource.props, zones))
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


def _route_host(pattern: Any) -> str:
    """The host part of a Worker route pattern (``*`` wildcards kept), lower-case."""
    if not isinstance(pattern, str):
        return ""
    pattern = pattern.strip()
    for scheme in ("https://", "http://"):
        if pattern.lower().startswith(scheme):
            pattern = pattern[len(scheme) :]
    return _normalize(pattern.split("/", 1)[0].split(":", 1)[0])


def _host_matches(host_pattern: str, name: str) -> bool:
    """Whether a route host pattern (``h``, ``*.h`` or ``*h``) covers the DNS name ``name``."""
    if not host_pattern or not name:
        return False
    if host_pattern.startswith("*"):
        return name.endswith(host_pattern[1:])
    return name == host_pattern


def _route_serves(route: PolicyResource, record: PolicyResource, zones: Mapping[str, str]) -> bool:
    host = _route_host(route.props.get("pattern"))
    name = _record_fqdn(record.props, zones)
    if _host_matches(host, name):
        return True
    # A relative name in a zone the stack does not name: match within the same zone.
    same_zone = record.props.get("zoneId") and record.props.get("zoneId") == route.props.get("zoneId")
    zone_known = str(record.props.get("zoneId") or "") in zones
    return bool(same_zone) and not zone_known and not host.startswith("*") and host.startswith(name + ".")


def _validate_worker_hosts_proxied(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    zones = _zone_names(args.resources)
    routes = [
        r
        for r in args.resources
        if r.resource_type == WORKER_ROUTE_TYPE
        and isinstance(r.props.get("script"), str)
        and r.props["script"]
    ]
    for record in args.resources:
        props = record.props
        if record.resource_type not in DNS_RECORD_TYPES or _record_type(props) not in PROXIABLE_TYPES:
            continue
        if not _is_under(_normalize(props.get("name")), POLICY_HOST_LABEL) or props.get("proxied") is True:
            continue
        for route in routes:
            if _route_serves(route, record, zones):
                report_violation(
                    f"{props.get('name')} {_record_type(props)} is not proxied, but Worker route "
                    f"{route.props.get('pattern')!r} serves it; a Worker route runs only on proxied "
                    "traffic, so senders would reach the origin and get no policy",
                    record.urn,
                )
                break


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
            pages_cname[props["repository"]] = _normalize(props.get("cname"))
    for resource in resources:
        props = resource.props
        if resource.resource_type in WORKER_SCRIPT_TYPES:
            for item in _worker_policies(props):
                domain = _domain_of_host(item.host or "")
                if domain:
                    served[domain].add(item.text)
                else:
                    unplaced.add(item.text)
        elif resource.resource_type == REPOSITORY_FILE_TYPE and _is_policy_file(props.get("file")):
            content = props.get("content")
            if not isinstance(content, str):
                continue
            repository = str(props.get("repository") or "")
            domain = _domain_of_host(pages_cname.get(repository) or _normalize(repository))
            if domain:
                served[domain].add(content)
            else:
                unplaced.add(content)
    by_id = {policy_id(text): text for text in unplaced}
    for record in _txt_resources(resources, STS_LABEL):
        try:
            ident = parse_sts_record(str(record.props.get("content") or "")).id
        except RecordError:
            continue
        fqdn = _record_fqdn(record.props, zones)
        domain = fqdn[len(STS_LABEL) + 1 :]
        if ident in by_id and fqdn == sts_name(domain):
            served[domain].add(by_id[ident])
    return served


def _validate_enforce_has_tlsrpt(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    zones = _zone_names(args.resources)
    reported = {_record_fqdn(r.props, zones) for r in _txt_resources(args.resources, TLSRPT_LABEL)}
    for domain, texts in sorted(_served_by_domain(args.resources, zones).items()):
        modes = set()
        for text in texts:
            try:
                modes.add(parse_policy(text).mode)
            except PolicyError:
                continue
        if "enforce" in modes and tlsrpt_name(domain) not in reported:
            report_violation(
                f"{domain} enforces MTA-STS but the stack has no {tlsrpt_name(domain)} TXT record; "
                "without TLS reports nobody learns that senders are failing to deliver",
                None,
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
    zones = _zone_names(args.resources)
    records: dict[str, list[PolicyResource]] = defaultdict(list)
    for record in _txt_resources(args.resources, TLSRPT_LABEL):
        records[_record_fqdn(record.props, zones)].append(record)
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
                and declares(TLSRPT_VERSION, _txt_text(r.props["content"]))
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


# --- the list the pack is built from ---------------------------------------------------------

POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    ResourceValidationPolicy(
        name="mta-sts-txt-record-valid",
        description="A TXT record at _mta-sts must be a valid v=STSv1 record (RFC 8461 §3.1).",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_validate_sts_record,
    ),
    ResourceValidationPolicy(
        name="tls-rpt-txt-record-valid",
        description="A TXT record at _smtp._tls must be a valid v=TLSRPTv1 record (RFC 8460 §3).",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_validate_tlsrpt_record,
    ),
    ResourceValidationPolicy(
        name="mta-sts-txt-records-delete-before-replace",
        description="TXT records at _mta-sts and _smtp._tls must be replaced with delete_before_replace.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_validate_delete_before_replace,
    ),
    ResourceValidationPolicy(
        name="worker-policy-text-valid",
        description="Every MTA-STS policy a Worker script serves must parse (RFC 8461 §3.2).",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_validate_worker_policies,
    ),
    ResourceValidationPolicy(
        name="pages-policy-file-valid",
        description="A .well-known/mta-sts.txt committed to a repository must parse (RFC 8461 §3.2).",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_validate_pages_policy,
    ),
    ResourceValidationPolicy(
        name="pages-cname-not-proxied",
        description="A CNAME from mta-sts to GitHub Pages must not be proxied by Cloudflare.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_validate_pages_cname,
    ),
    StackValidationPolicy(
        name="one-mta-sts-txt-record-per-name",
        description="A stack must publish at most one v=STSv1 TXT record at each _mta-sts name.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_one_record_per_name(STS_LABEL, STS_VERSION),
    ),
    StackValidationPolicy(
        name="one-tls-rpt-txt-record-per-name",
        description="A stack must publish at most one v=TLSRPTv1 TXT record at each _smtp._tls name.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_one_record_per_name(TLSRPT_LABEL, TLSRPT_VERSION),
    ),
    StackValidationPolicy(
        name="worker-routed-policy-host-proxied",
        description="A DNS record for an mta-sts host that a Worker route serves must be proxied.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_validate_worker_hosts_proxied,
    ),
    StackValidationPolicy(
        name="tls-report-receiver-in-rua",
        description="A builtin domain of the stack's TLS report receiver must list it in its _smtp._tls rua.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_validate_receiver_in_rua,
    ),
    ResourceValidationPolicy(
        name="enforce-max-age-at-least-one-day",
        description="An enforce policy should have a max_age of at least one day.",
        enforcement_level=EnforcementLevel.ADVISORY,
        validate=_validate_enforce_max_age,
    ),
    StackValidationPolicy(
        name="enforce-domain-has-tls-rpt",
        description="A domain with an enforce policy should publish a TLS-RPT record in the same stack.",
        enforcement_level=EnforcementLevel.ADVISORY,
        validate=_validate_enforce_has_tlsrpt,
    ),
    ResourceValidationPolicy(
        name="worker-script-compatibility-date",
        description="A Worker script should pin a compatibility date.",
        enforcement_level=EnforcementLevel.ADVISORY,
        validate=_validate_compatibility_date,
    ),
]
"""Every policy of the pack, mandatory first; ``__main__.py`` builds the pack from this list."""
