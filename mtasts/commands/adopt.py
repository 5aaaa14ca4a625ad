"""``mtasts adopt --stack S [DOMAIN…]``: take over a hand-made MTA-STS deployment.

Reads what each domain publishes live (``_mta-sts``, ``_smtp._tls``, the policy host, the served
policy) and prints on stdout the ``mta-sts:domains`` entries that reproduce the live policy's
mode, MX patterns and max_age (YAML, indented to paste under ``mta-sts:domains:``); on stderr
every change senders would see between what is live and what the stack plans today. With
``--import-file PATH`` it also looks the live records up with the Cloudflare API and writes the
``pulumi import --file`` document (``mtasts.model.imports``), so the first ``pulumi up`` updates
them in place instead of adding a second ``v=STSv1`` record.

Exit status: 0 when every domain was read, 1 when a lookup or an API call failed (what could not
be read is named, never taken as absent), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from mtasts.checks.adopt import LiveDomain, lookup_problem, sender_changes, stack_entry
from mtasts.commands.shared.args import options_from_args
from mtasts.model.config import ConfigError, Deployment, Domain, load_config, read_yaml, stack_config
from mtasts.model.findings import Finding, Severity
from mtasts.model.imports import Adoption, import_file, record_adoption, route_adoption
from mtasts.model.policy_worker import script_name
from mtasts.model.vocabulary import Check, Hosting, RecordRole, Routing
from mtasts.probes import ProbeOptions, Prober
from mtasts.probes.cloudflare_api import CloudflareApi, CloudflareApiError, DnsRecord, NoTokenError
from mtasts.rfc.records import STS_VERSION, TLSRPT_VERSION, declares, sts_name, tlsrpt_name

HOST_TYPES = ("A", "AAAA", "CNAME")
IMPORT_HINT = "pulumi import --file {path} --protect=false --generate-code=false --stack {stack}"


@dataclass
class Adopted:
    """One domain: what is live, the entry reproducing it, and what the operator must know."""

    name: str
    live: LiveDomain
    planned: Domain
    entry: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    changes: list[Finding] = field(default_factory=list)
    failed: bool = False
    """A lookup or an API call failed: something could not be compared."""


async def read_live(prober: Prober, name: str) -> LiveDomain:
    host = f"mta-sts.{name}"
    sts, rpt, cname, fetched = await asyncio.gather(
        prober.query(sts_name(name), "TXT"),
        prober.query(tlsrpt_name(name), "TXT"),
        prober.query(host, "CNAME"),
        prober.fetch_policy(host),
    )
    return LiveDomain(name, sts, rpt, cname, fetched)


def planned_domain(
    config: dict[str, Any], deployment: Deployment, name: str, entry: dict[str, Any]
) -> Domain:
    """What the stack publishes for ``name`` today: its entry, or the defaults for a new domain
    (with the adopted entry when the defaults alone are not a valid domain, such as no mx)."""
    if name in {d.name for d in deployment.domains}:
        return deployment.domain(name)
    domains = dict(config.get("domains") or {})
    for settings in [entry] if entry else [{}, {"mode": "none"}]:
        try:
            return load_config({**config, "domains": {**domains, name: settings}}).domain(name)
        except ConfigError:
            continue
    raise ConfigError(f"domains.{name}", "the adopted entry is not a valid domain of this stack")


def render_entries(adopted: list[Adopted], stack: str) -> str:
    """The entries as YAML, indented as ``Pulumi.<stack>.yaml`` nests ``mta-sts:domains``."""
    out = [f"# mtasts adopt: paste under `mta-sts:domains:` in Pulumi.{stack}.yaml"]
    for one in adopted:
        out += [f"    # {note}" for note in one.notes]
        text = yaml.safe_dump({one.name: one.entry}, sort_keys=False, default_flow_style=None)
        out += [f"    {line}" for line in text.splitlines()]
    return "\n".join(out) + "\n"


def render_changes(adopted: list[Adopted]) -> str:
    """Per domain every change senders would see, worst first within the domain's order."""
    out = []
    for one in adopted:
        out.append(f"{one.name}: live → the stack as it stands")
        for f in one.changes:
            out.append(f"  {f.severity:<7} {f.check:<14} {f.reason}")
        if not one.changes:
            out.append("  ok      nothing senders would notice")
    return "\n".join(out) + "\n"


async def _zone_id(api: CloudflareApi, domain: Domain) -> str | None:
    """The zone holding ``domain``'s records: given, or the nearest enclosing zone of the account."""
    if domain.zone_id:
        return domain.zone_id
    labels = (domain.zone or domain.name).split(".")
    for start in range(len(labels) - 1):
        zone = await api.zone(".".join(labels[start:]))
        if zone is not None:
            return zone.id
    return None


async def find_adoptions(api: CloudflareApi, one: Adopted, stack: str) -> list[Adoption]:
    """The live resources of ``one`` the program would otherwise create beside; notes on the rest."""
    domain = one.planned
    zone_id = await _zone_id(api, domain)
    if zone_id is None:
        one.notes.append(f"no Cloudflare zone of this account holds {domain.name}: nothing to import")
        return []
    if not domain.zone_id and not one.entry.get("zoneId"):
        one.entry["zoneId"] = zone_id
    found: list[Adoption] = []
    sts = [
        r
        for r in await api.dns_records(zone_id, sts_name(domain.name), "TXT")
        if declares(STS_VERSION, r.content)
    ]
    if sts:
        found.append(record_adoption(domain.name, RecordRole.STS, sts[0].import_id))
        _extra(one, sts[1:], "v=STSv1 TXT", sts[0])
    rpt = [
        r
        for r in await api.dns_records(zone_id, tlsrpt_name(domain.name), "TXT")
        if declares(TLSRPT_VERSION, r.content)
    ]
    if rpt and domain.tlsrpt_record is not None:
        found.append(record_adoption(domain.name, RecordRole.TLSRPT, rpt[0].import_id))
        _extra(one, rpt[1:], "v=TLSRPTv1 TXT", rpt[0])
    elif rpt:
        one.notes.append(
            f"_smtp._tls.{domain.name} record {rpt[0].id} is live but the stack publishes none: delete it"
        )
    host_records = [r for r in await api.dns_records(zone_id, domain.policy_host) if r.type in HOST_TYPES]
    planned_host = next((r for r in domain.records if r.role is RecordRole.POLICY_HOST), None)
    if host_records and planned_host is not None:
        chosen = next((r for r in host_records if r.type == planned_host.type), host_records[0])
        found.append(record_adoption(domain.name, RecordRole.POLICY_HOST, chosen.import_id))
        _extra(one, [r for r in host_records if r is not chosen], "host", chosen)
    elif host_records:
        ids = ", ".join(f"{r.type} {r.id}" for r in host_records)
        one.notes.append(
            f"{domain.policy_host} has records ({ids}) where a Workers custom domain goes: delete them "
            "before `pulumi up` (Cloudflare refuses the custom domain beside them, API code 100117)"
        )
    if domain.hosting is Hosting.CLOUDFLARE_WORKER and domain.routing is Routing.ROUTE:
        pattern = f"{domain.policy_host}/*"
        for route in await api.worker_routes(zone_id):
            if route.pattern.lower() == pattern:
                found.append(route_adoption(domain.name, route.import_id))
                if route.script != script_name(stack):
                    one.notes.append(f"route {pattern} ({route.id}) runs {route.script or 'no Worker'}: "
                                     f"`pulumi up` points it at {script_name(stack)}")  # fmt: skip
                break
    if domain.hosting is Hosting.GITHUB_PAGES:
        one.notes.append(
            f"the Pages repository is not imported: set `repository:` to the hand-made one and import it "
            f"with `pulumi import github:index/repository:Repository {domain.name}-repo <name>`, or let "
            "the stack create its own"
        )
    return found


def _extra(one: Adopted, extra: list[DnsRecord], what: str, kept: DnsRecord) -> None:
    for record in extra:
        one.notes.append(
            f"{record.name} {what} record {record.id} ({record.content}) is one too many beside {kept.id}, "
            "which is imported: delete it by hand before `pulumi up`"
        )


def _in_state(path: str | None) -> frozenset[str]:
    """URNs in a ``pulumi stack export`` file (empty without one)."""
    if path is None:
        return frozenset()
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        resources = document["deployment"].get("resources") or []
        return frozenset(str(r["urn"]) for r in resources)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError("--state", f"{path} is not a `pulumi stack export` file: {exc}") from None


def _provider_version() -> str | None:
    try:
        return metadata.version("pulumi-cloudflare")
    except metadata.PackageNotFoundError:
        return None


async def adopt(
    args: argparse.Namespace, options: ProbeOptions
) -> tuple[list[Adopted], dict[str, Any] | None]:
    project = Path(args.project_dir)
    config = {
        k: v for k, v in stack_config(project, args.stack).items() if ":" not in k or k == "github:owner"
    }
    deployment = load_config(config)
    names = list(dict.fromkeys(args.domains or [d.name for d in deployment.domains]))
    adopted: list[Adopted] = []
    async with Prober(options) as prober:
        lives = await asyncio.gather(*(read_live(prober, n) for n in names))
    for live in lives:
        base = planned_domain(config, deployment, live.name, {})
        entry, notes = stack_entry(live, base)
        planned = planned_domain(config, deployment, live.name, entry)
        one = Adopted(live.name, live, planned, entry, notes, sender_changes(live, planned))
        one.failed = any(lookup_problem(a) for a in (live.sts, live.tlsrpt, live.host_cname))
        adopted.append(one)
    if args.import_file is None:
        return adopted, None
    adoptions: list[Adoption] = []
    async with CloudflareApi(timeout=options.timeout) as api:
        for one in adopted:
            try:
                adoptions += await find_adoptions(api, one, args.stack)
            except CloudflareApiError as exc:
                one.failed = True
                one.changes.append(
                    Finding(Check.ADOPT_IMPORT, Severity.ERROR, f"not imported: {exc}", f"domains.{one.name}")
                )
    project_name = str(read_yaml(project / "Pulumi.yaml").get("name") or "mta-sts")
    document = import_file(adoptions, args.stack, project_name, _in_state(args.state), _provider_version())
    return adopted, document


def run(args: argparse.Namespace) -> int:
    options = options_from_args(args)
    try:
        adopted, document = asyncio.run(adopt(args, options))
    except NoTokenError as exc:
        print(f"error: --import-file: {exc.reason} (the API token that `pulumi up` uses)", file=sys.stderr)
        return 2
    sys.stdout.write(render_entries(adopted, args.stack))
    sys.stderr.write(render_changes(adopted))
    if document is not None:
        Path(args.import_file).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        count = sum(1 for r in document["resources"] if not r.get("component"))
        print(f"wrote {args.import_file}: {count} live resources to import; then run", file=sys.stderr)
        print(f"  {IMPORT_HINT.format(path=args.import_file, stack=args.stack)}", file=sys.stderr)
    failed = [one.name for one in adopted if one.failed]
    if failed:
        print(f"not everything could be read: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0
