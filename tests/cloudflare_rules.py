"""Cloudflare's and GitHub's published rules, held against the resources a program run registers.

Written from the providers' source and Cloudflare's documentation, independently of the code under
test (nothing here imports ``mtasts.model.cloudflare``): each ``Rule`` names where it is published.
``violations(run, account_id, zone_names)`` lists every broken rule of a ``ProgramRun``;
``transition(before, after)`` replays the engine's order between two runs and lists every moment
two objects hold one name. Used by ``tests/test_cloudflare_rules.py`` and ``tests/test_provider.py``.

Provider sources: ``git --git-dir=/work/.mirror/cloudflare+terraform-provider-cloudflare/repo show
HEAD:internal/services/<resource>/{schema,resource}.go`` (v5) and
``/work/.mirror/integrations+terraform-provider-github/repo`` (``github/resource_github_*.go``).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from tests.program_mocks import GET_ZONE, ProgramRun, Resource

DNS = "cloudflare:index/dnsRecord:DnsRecord"
SCRIPT = "cloudflare:index/workersScript:WorkersScript"
ROUTE = "cloudflare:index/workersRoute:WorkersRoute"
CUSTOM_DOMAIN = "cloudflare:index/workersCustomDomain:WorkersCustomDomain"
D1 = "cloudflare:index/d1Database:D1Database"
R2 = "cloudflare:index/r2Bucket:R2Bucket"
MAIL_DNS = "cloudflare:index/emailRoutingDns:EmailRoutingDns"
MAIL_RULE = "cloudflare:index/emailRoutingRule:EmailRoutingRule"
CRON = "cloudflare:index/workersCronTrigger:WorkersCronTrigger"
REPOSITORY = "github:index/repository:Repository"
BRANCH = "github:index/branchDefault:BranchDefault"
FILE = "github:index/repositoryFile:RepositoryFile"
PAGES = "github:index/repositoryPages:RepositoryPages"

# internal/services/dns_record/schema.go, "type": the values the provider accepts.
RECORD_TYPES = frozenset(
    "A AAAA CNAME MX NS OPENPGPKEY PTR TXT CAA CERT DNSKEY DS HTTPS LOC NAPTR SMIMEA SRV SSHFP SVCB TLSA "
    "URI".split()
)
# developers.cloudflare.com/dns/proxy-status/: "Only records used for IP address resolution — A,
# AAAA, and CNAME records — can be proxied."
PROXIABLE = frozenset({"A", "AAAA", "CNAME"})
# developers.cloudflare.com/workers/configuration/routing/routes/ and wrangler's check: "Ensure that
# you only use lowercase letters, dashes, underscores, and numbers"; a workers.dev label: 63.
WORKER_NAME = re.compile(r"^[a-z0-9_-]{1,63}$")
# developers.cloudflare.com/r2/buckets/create-buckets/ and the API schema r2_bucket_name:
# lower-case letters, digits and hyphens, a letter or digit at each end, 3 to 63.
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
TXT_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Rule:
    name: str
    source: str
    check: Callable[[Graph], list[str]]


@dataclass
class Graph:
    """A run's resources with the zone name each zone id stands for."""

    run: ProgramRun
    account_id: str | None
    zone_names: Mapping[str, str]
    """Zone id → zone name (the mocks' ids for lookups, and the stack file's given ids)."""

    def of(self, type_: str) -> list[Resource]:
        return self.run.of_type(type_)

    def zone(self, resource: Resource) -> str | None:
        return self.zone_names.get(str(resource.inputs.get("zoneId")))


def _in_zone(name: str, zone: str | None) -> bool:
    return zone is not None and (name == zone or name.endswith("." + zone))


def universal_ssl(name: str, zone: str) -> bool:
    """developers.cloudflare.com/ssl/edge-certificates/universal-ssl/limitations/: a full-setup
    zone's Universal SSL covers the apex and first-level subdomains only."""
    return name == zone or (name.endswith("." + zone) and "." not in name[: -len(zone) - 1])


def _records(graph: Graph) -> list[Resource]:
    return graph.of(DNS)


def _record_type(graph: Graph) -> list[str]:
    return [
        f"{r.name}: type {r.inputs['type']}" for r in _records(graph) if r.inputs["type"] not in RECORD_TYPES
    ]


def _record_ttl(graph: Graph) -> list[str]:
    # dns_record/schema.go "ttl": "Setting to 1 means 'automatic'. Value must be between 60 and
    # 86400, with the minimum reduced to 30 for Enterprise zones."
    return [
        f"{r.name}: ttl {r.inputs['ttl']}"
        for r in _records(graph)
        if not (r.inputs["ttl"] == 1 or 60 <= r.inputs["ttl"] <= 86400)
    ]


def _proxied_types(graph: Graph) -> list[str]:
    return [
        f"{r.name}: proxied {r.inputs['type']}"
        for r in _records(graph)
        if r.inputs.get("proxied") and r.inputs["type"] not in PROXIABLE
    ]


def _proxied_auto_ttl(graph: Graph) -> list[str]:
    # developers.cloudflare.com/dns/manage-dns-records/reference/ttl/: a proxied record's TTL is Auto.
    return [
        f"{r.name}: proxied with ttl {r.inputs['ttl']}"
        for r in _records(graph)
        if r.inputs.get("proxied") and r.inputs["ttl"] != 1
    ]


def _record_in_zone(graph: Graph) -> list[str]:
    # dns_record/schema.go "name": "DNS record name (or @ for the zone apex) in Punycode": a name
    # of its zone, and the zone must be one the stack names.
    return [
        f"{r.name}: {r.inputs['name']} not in zone {graph.zone(r)}"
        for r in _records(graph)
        if not _in_zone(r.inputs["name"], graph.zone(r))
    ]


def _txt_quoted(graph: Graph) -> list[str]:
    # RFC 1035 §3.3.14 and developers.cloudflare.com/dns/manage-dns-records/reference/dns-record-types/
    # (TXT): content as quoted character strings of at most 255 bytes (terraform-provider-cloudflare
    # #6354: unquoted content diffs forever).
    bad = []
    for r in _records(graph):
        if r.inputs["type"] != "TXT":
            continue
        content = r.inputs["content"]
        strings = TXT_STRING.findall(content)
        if (
            not strings
            or " ".join(f'"{s}"' for s in strings) != content
            or max(len(s.encode()) for s in strings) > 255
        ):
            bad.append(f"{r.name}: TXT content {content!r}")
    return bad


def _cname_alone(graph: Graph) -> list[str]:
    # RFC 1034 §3.6.2; Cloudflare refuses a CNAME beside any other record at the name.
    by_name: dict[str, list[str]] = defaultdict(list)
    for r in _records(graph):
        by_name[r.inputs["name"].lower()].append(r.inputs["type"])
    return [
        f"{name}: CNAME beside {types}"
        for name, types in by_name.items()
        if "CNAME" in types and len(types) > 1
    ]


def _one_sts_record(graph: Graph) -> list[str]:
    # RFC 8461 §3.1: two v=STSv1 records at one name mean "no policy".
    count = Counter(
        r.inputs["name"].lower() for r in _records(graph) if "v=STSv1" in str(r.inputs["content"])
    )
    return [f"{name}: {n} v=STSv1 records" for name, n in count.items() if n > 1]


def _custom_domain_alone(graph: Graph) -> list[str]:
    # cloudflare/workers-sdk#9878: a Workers custom domain on a name with DNS records is refused
    # (API code 100117); Cloudflare makes and owns that name's record itself.
    names = {r.inputs["name"].lower() for r in _records(graph)}
    bad = [
        f"{c.name}: DNS record at {c.inputs['hostname']}"
        for c in graph.of(CUSTOM_DOMAIN)
        if c.inputs["hostname"].lower() in names
    ]
    bad += [
        f"{c.name}: {c.inputs['hostname']} not in zone {graph.zone(c)}"
        for c in graph.of(CUSTOM_DOMAIN)
        if not _in_zone(c.inputs["hostname"], graph.zone(c))
    ]
    return bad


def _certificate_coverage(graph: Graph) -> list[str]:
    # A proxied name is served with the zone's edge certificate (Universal SSL); a custom domain
    # gets its own (developers.cloudflare.com/workers/configuration/routing/custom-domains/);
    # an unproxied Pages CNAME gets GitHub's. Every policy host must be one of the three.
    bad = [
        f"{r.name}: proxied {r.inputs['name']} not covered by Universal SSL of {graph.zone(r)}"
        for r in _records(graph)
        if r.inputs.get("proxied") and not universal_ssl(r.inputs["name"].lower(), graph.zone(r) or "")
    ]
    served = {r.inputs["name"].lower() for r in _records(graph) if r.inputs.get("proxied")}
    served |= {c.inputs["hostname"].lower() for c in graph.of(CUSTOM_DOMAIN)}
    served |= {str(p.inputs.get("cname")).lower() for p in graph.of(PAGES)}
    for route in graph.of(ROUTE):
        host = route.inputs["pattern"].removesuffix("/*").lower()
        if host not in served:
            bad.append(f"{route.name}: no proxied record at {host} (a route needs one)")
    return bad


def _pages_cname_unproxied(graph: Graph) -> list[str]:
    # docs.github.com/en/pages/configuring-a-custom-domain-for-your-github-pages-site: GitHub issues
    # the certificate only when the name resolves to it (a proxied CNAME hides it).
    return [
        f"{r.name}: proxied CNAME to {r.inputs['content']}"
        for r in _records(graph)
        if r.inputs["type"] == "CNAME"
        and r.inputs["content"].endswith(".github.io")
        and r.inputs.get("proxied")
    ]


def _names(graph: Graph) -> list[str]:
    scripts = [str(s.inputs["scriptName"]) for s in graph.of(SCRIPT)]
    bad = [f"script {n!r} breaks the Worker name rule" for n in scripts if not WORKER_NAME.match(n)]
    bad += (
        [f"{len(scripts) - len(set(scripts))} scripts share a name"]
        if len(set(scripts)) != len(scripts)
        else []
    )
    for kind in (D1, R2):
        bad += [
            f"{r.name}: {r.inputs['name']!r} breaks the bucket name rule"
            for r in graph.of(kind)
            if not BUCKET_NAME.match(str(r.inputs["name"]))
        ]
    return bad


def _lifecycle(graph: Graph) -> list[str]:
    bad = []
    # d1_database/resource.go Delete drops every report; r2_bucket/resource.go Delete fails on a
    # non-empty bucket: never deleted by Pulumi.
    for r in graph.of(D1) + graph.of(R2):
        if not (r.options.retain_on_delete or r.options.protect):
            bad.append(f"{r.name}: deletable storage")
    # email_routing_dns/resource.go Delete disables Email Routing for the whole zone; Update is
    # the unlock PATCH, so a new name must be a replacement.
    for r in graph.of(MAIL_DNS):
        if not r.options.retain_on_delete or "name" not in r.options.replace_on_changes:
            bad.append(f"{r.name}: Email Routing DNS deletable or updated in place")
    # workers_custom_domain/resource.go: create is a PUT upsert by hostname, delete by id.
    for r in graph.of(CUSTOM_DOMAIN):
        if r.options.delete_before_replace is not True:
            bad.append(f"{r.name}: custom domain replaced create-first")
    for r in _records(graph):
        if r.options.delete_before_replace is not True:
            bad.append(f"{r.name}: record replaced create-first")
    return bad


def _zone_lookups(graph: Graph) -> list[str]:
    # zone/data_source.go: a filter is a list and a get, on every preview and up; its filter
    # takes account.id (data_source_schema.go).
    lookups = [c for c in graph.run.calls if c.token == GET_ZONE]
    names = Counter(str((c.args.get("filter") or {}).get("name")) for c in lookups)
    bad = [f"zone {n} looked up {k} times" for n, k in names.items() if k > 1]
    bad += [
        f"zone {(c.args.get('filter') or {}).get('name')} looked up outside account {graph.account_id}"
        for c in lookups
        if ((c.args.get("filter") or {}).get("account") or {}).get("id") != graph.account_id
    ]
    return bad


def _github(graph: Graph) -> list[str]:
    bad = []
    # github/resource_github_branch_default.go: without wait_for_rename the rename may not have
    # propagated when the files are committed.
    bad += [
        f"{b.name}: rename without wait"
        for b in graph.of(BRANCH)
        if b.inputs.get("rename") and not b.inputs.get("waitForRename")
    ]
    # The contents API commits a file's bytes; .nojekyll is given a body that says why it is there.
    bad += [f"{f.name}: empty file" for f in graph.of(FILE) if not f.inputs.get("content")]
    # github/resource_github_repository_pages.go: https_enforced needs cname.
    bad += [
        f"{p.name}: httpsEnforced without cname"
        for p in graph.of(PAGES)
        if p.inputs.get("httpsEnforced") and not p.inputs.get("cname")
    ]
    return bad


RULES: tuple[Rule, ...] = (
    Rule("record-type", "dns_record/schema.go type", _record_type),
    Rule("record-ttl", "dns_record/schema.go ttl", _record_ttl),
    Rule("proxied-types", "developers.cloudflare.com/dns/proxy-status/", _proxied_types),
    Rule(
        "proxied-auto-ttl",
        "developers.cloudflare.com/dns/manage-dns-records/reference/ttl/",
        _proxied_auto_ttl,
    ),
    Rule("record-in-zone", "dns_record/schema.go name", _record_in_zone),
    Rule("txt-quoted", "RFC 1035 §3.3.14; terraform-provider-cloudflare#6354", _txt_quoted),
    Rule("cname-alone", "RFC 1034 §3.6.2", _cname_alone),
    Rule("one-sts-record", "RFC 8461 §3.1", _one_sts_record),
    Rule("custom-domain-alone", "cloudflare/workers-sdk#9878 (API code 100117)", _custom_domain_alone),
    Rule(
        "certificate-coverage",
        "developers.cloudflare.com/ssl/edge-certificates/universal-ssl/limitations/",
        _certificate_coverage,
    ),
    Rule("pages-cname-unproxied", "GitHub Pages docs, custom domains", _pages_cname_unproxied),
    Rule("names", "wrangler Worker names; developers.cloudflare.com/r2/buckets/create-buckets/", _names),
    Rule(
        "lifecycle",
        "d1_database, r2_bucket, email_routing_dns, workers_custom_domain resource.go",
        _lifecycle,
    ),
    Rule("zone-lookups", "zone/data_source.go, data_source_schema.go", _zone_lookups),
    Rule("github", "resource_github_branch_default.go, resource_github_repository_pages.go", _github),
)


def violations(
    run: ProgramRun, account_id: str | None, zone_names: Mapping[str, str]
) -> dict[str, list[str]]:
    """Rule name → what breaks it (only broken rules)."""
    graph = Graph(run, account_id, zone_names)
    found = {rule.name: rule.check(graph) for rule in RULES}
    return {name: bad for name, bad in found.items() if bad}


# --- transitions -------------------------------------------------------------------------------

_REPLACES: Mapping[str, frozenset[str]] = {
    # dns_record/schema.go: zone_id and type RequiresReplace; name and content update in place.
    DNS: frozenset({"zoneId", "type"}),
    # workers_custom_domain/schema.go: account_id, hostname, service (and zone_id) RequiresReplace.
    CUSTOM_DOMAIN: frozenset({"accountId", "hostname", "service", "zoneId"}),
}


@dataclass(frozen=True)
class Holder:
    """One object that holds a DNS name in Cloudflare."""

    urn: str
    name: str
    kind: str
    """``record`` or ``custom-domain``."""
    type: str | None = None
    content: str | None = None


def holders(run: ProgramRun) -> list[Holder]:
    """Every DNS record and custom domain of a run, in registration order."""
    out = []
    for r in run.resources:
        if r.type == DNS:
            out.append(
                Holder(r.urn, r.inputs["name"].lower(), "record", r.inputs["type"], str(r.inputs["content"]))
            )
        elif r.type == CUSTOM_DOMAIN:
            out.append(Holder(r.urn, r.inputs["hostname"].lower(), "custom-domain"))
    return out


def clashes(state: Iterable[Holder]) -> list[str]:
    """Names held by objects Cloudflare (or senders) cannot have side by side."""
    by_name: dict[str, list[Holder]] = defaultdict(list)
    for holder in state:
        by_name[holder.name].append(holder)
    bad = []
    for name, held in by_name.items():
        kinds = {h.kind for h in held}
        if kinds == {"record", "custom-domain"} or sum(h.kind == "custom-domain" for h in held) > 1:
            bad.append(f"{name}: a custom domain beside another object")
        types = [h.type for h in held if h.kind == "record"]
        if "CNAME" in types and len(types) > 1:
            bad.append(f"{name}: CNAME beside {types}")
        if sum("v=STSv1" in (h.content or "") for h in held) > 1:
            bad.append(f"{name}: two v=STSv1 records")
    return bad


def transition(before: ProgramRun, after: ProgramRun) -> list[str]:
    """Replay ``pulumi up`` from ``before``'s state to ``after``'s program, in the engine's order:
    resources in registration order (new URNs created; changed ones updated, or replaced delete-first
    when ``delete_before_replace``, else create-first), then URNs no longer registered deleted in
    reverse order. Returns each clash seen after any step (empty: the change applies cleanly)."""
    old = {r.urn: r for r in before.resources}
    state: dict[str, Holder] = {h.urn: h for h in holders(before)}
    seen: list[str] = []

    def step() -> None:
        seen.extend(c for c in clashes(state.values()) if c not in seen)

    for holder, resource in zip(
        holders(after), [r for r in after.resources if r.type in (DNS, CUSTOM_DOMAIN)], strict=True
    ):
        previous = old.get(holder.urn)
        if previous is None:
            state[holder.urn] = holder
            step()
            continue
        changed = {
            k
            for k in set(previous.inputs) | set(resource.inputs)
            if previous.inputs.get(k) != resource.inputs.get(k)
        }
        if changed & _REPLACES[resource.type] and not resource.options.delete_before_replace:
            state[holder.urn + "#new"] = holder  # create-first: both exist for a moment
            step()
            del state[holder.urn + "#new"]
        elif changed & _REPLACES[resource.type]:
            del state[holder.urn]
            step()
        state[holder.urn] = holder
        step()
    registered = {r.urn for r in after.resources}
    for holder in reversed(holders(before)):
        if holder.urn not in registered:
            del state[holder.urn]
            step()
    return seen
