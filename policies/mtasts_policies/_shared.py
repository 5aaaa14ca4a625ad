"""What several of the pack's modules share: resource type tokens, names, TXT text, the filter."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs

from mtasts.rfc.names import normalize_name
from mtasts.rfc.policy import POLICY_PATH, PolicyError, parse_policy
from mtasts.rfc.records import RecordError, unquote_txt

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

ResourceValidator = Callable[[ResourceValidationArgs, ReportViolation], None]


def of_types(types: Collection[str], validate: ResourceValidator) -> ResourceValidator:
    """``validate``, run only on resources of one of ``types``: the filter is here, once, rather
    than a guard at the top of each validator (as pulumi/compliance-policies filters by type)."""

    def filtered(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type in types:
            validate(args, report_violation)

    return filtered


# --- names -----------------------------------------------------------------------------------


def normalize(name: Any) -> str:
    """Lower-case, without one trailing dot; a non-string (absent) name is empty."""
    return normalize_name(name.strip()) if isinstance(name, str) else ""


def is_under(name: str, label: str) -> bool:
    """Whether ``name`` is ``label`` (relative to its zone) or ``label.<something>``."""
    return name == label or name.startswith(label + ".")


def zone_names(resources: list[PolicyResource]) -> dict[str, str]:
    """Zone id → zone name, for the Cloudflare zones the stack itself manages."""
    zones = {}
    for resource in resources:
        if resource.resource_type == ZONE_TYPE:
            ident, name = resource.props.get("id"), normalize(resource.props.get("name"))
            if isinstance(ident, str) and ident and name:
                zones[ident] = name
    return zones


def record_fqdn(props: Mapping[str, Any], zones: Mapping[str, str]) -> str:
    """The record's name, made fully qualified when the stack names its zone.

    Cloudflare accepts a name relative to the zone (``_mta-sts``) or fully qualified
    (``_mta-sts.example.com``) and stores the latter; without the zone's name in the stack a
    relative name stays relative.
    """
    name = normalize(props.get("name"))
    zone = zones.get(str(props.get("zoneId") or ""))
    if not zone:
        return name
    if name in ("", "@"):
        return zone
    if name == zone or name.endswith("." + zone):
        return name
    return f"{name}.{zone}"


def record_type(props: Mapping[str, Any]) -> str:
    value = props.get("type")
    return value.upper() if isinstance(value, str) else ""


# --- TXT records -----------------------------------------------------------------------------


def txt_text(content: str) -> str:
    """The TXT data a resolver returns: quoted strings joined, or the text as is."""
    try:
        return unquote_txt(content)
    except RecordError:
        return content


def is_txt_at(props: Mapping[str, Any], label: str) -> bool:
    """Whether a DNS record's props are a TXT record at ``label`` (or ``label.<zone>``), or one a
    customer's CNAME reaches (``<customer>.<label>.<zone>``, ``*.<label>.<zone>``: docs/delegation.md)."""
    name = normalize(props.get("name"))
    return record_type(props) == "TXT" and (is_under(name, label) or f".{label}." in f".{name}.")


def txt_resources(resources: list[PolicyResource], label: str) -> Iterator[PolicyResource]:
    """The stack's DNS TXT records at ``label``."""
    for resource in resources:
        if resource.resource_type in DNS_RECORD_TYPES and is_txt_at(resource.props, label):
            yield resource


# --- policy texts ----------------------------------------------------------------------------


def policy_problem(text: str) -> str | None:
    """Why ``text`` is not a valid MTA-STS policy, or None."""
    try:
        parse_policy(text)
    except PolicyError as exc:
        return str(exc)
    return None


def is_policy_file(path: Any) -> bool:
    """Whether a repository path is the policy file, at the root or under a Pages folder."""
    if not isinstance(path, str):
        return False
    path = path.strip().lstrip("/")
    while path.startswith("./"):
        path = path[2:]
    return bool(path == POLICY_FILE or path.endswith("/" + POLICY_FILE))
