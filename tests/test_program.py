"""The Pulumi program under mocks (preview=False): every resource, input and option, against the model."""

from __future__ import annotations

import difflib
from typing import Any

import pytest

from mtasts.commands.plan import plan_json
from mtasts.model.config import Deployment, load_config, load_stack
from mtasts.model.policy_worker import COMPATIBILITY_DATE, MAIN_MODULE, script_name, worker_script
from mtasts.rfc.served import served_in_script
from tests.program_mocks import ROOT, ProgramRun, Resource, mock_zone_id, run_program, run_stack

ACCOUNT = "0123456789abcdef0123456789abcdef"
ZONE_ID = "023e105f4ecef8ad9ca31a8372d0c353"
OWNER = "example-org"

DNS = "cloudflare:index/dnsRecord:DnsRecord"
SCRIPT = "cloudflare:index/workersScript:WorkersScript"
ROUTE = "cloudflare:index/workersRoute:WorkersRoute"
CUSTOM_DOMAIN = "cloudflare:index/workersCustomDomain:WorkersCustomDomain"
REPOSITORY = "github:index/repository:Repository"
BRANCH = "github:index/branchDefault:BranchDefault"
FILE = "github:index/repositoryFile:RepositoryFile"
PAGES = "github:index/repositoryPages:RepositoryPages"
RECORDS = "mta-sts:index:DomainRecords"
WORKER = "mta-sts:index:WorkerHosting"
PAGES_HOSTING = "mta-sts:index:PagesHosting"
GET_ZONE = "cloudflare:index/getZone:getZone"

# Importing pulumi_cloudflare defines its deprecated classes, which warn; the program uses none.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pulumi_cloudflare.*")

DEFAULTS = {
    "mode": "enforce",
    "maxAge": 604800,
    "mx": ["mx1.mail.example", "*.mx.mail.example"],
    "tlsrpt": ["mailto:tls@reports.example"],
}
MIXED = {
    "alpha.example": {},
    "bravo.example": {"routing": "custom-domain"},
    "charlie.example": {"hosting": "github-pages"},
    "delta.example": {"hosting": "github-pages", "dns": "external", "repository": "delta-policy"},
    "echo.example": {"dns": "external", "routing": "custom-domain", "tlsrpt": []},
    "foxtrot.sub.alpha.example": {"zone": "alpha.example", "mode": "testing"},
    "golf.example": {"zoneId": ZONE_ID, "mode": "none", "mx": []},
}


def stack_config(domains: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A stack config mapping with the test account, owner and defaults."""
    return {
        "mta-sts:cloudflareAccountId": ACCOUNT,
        "github:owner": OWNER,
        "mta-sts:defaults": DEFAULTS,
        "mta-sts:domains": domains,
        **extra,
    }


def model(config: dict[str, Any]) -> Deployment:
    return load_config(config)


def ok(config: dict[str, Any], stack: str = "dev") -> ProgramRun:
    run = run_program(config, stack=stack)
    assert run.error is None, repr(run.error)
    return run


def urns(resources: list[Resource]) -> set[str]:
    return {r.urn for r in resources}


def owned(run: ProgramRun, domain: str) -> list[Resource]:
    """The resources named after ``domain`` (test domain names never contain one another)."""
    return [r for r in run.resources if r.name == domain or f"{domain}-" in r.name]


@pytest.fixture(scope="module")
def mixed() -> tuple[ProgramRun, Deployment]:
    config = stack_config(MIXED)
    return ok(config), model(config)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_files_register_what_the_model_says(stack: str) -> None:
    """Each stack file runs: a DnsRecord per managed record, a route or custom domain per Worker domain."""
    run = run_stack(stack)
    assert run.error is None, repr(run.error)
    deployment = load_stack(ROOT, stack)
    expected = {
        f"{d.name}-{r.role}": (r.name, r.type, r.content, r.ttl, r.proxied)
        for d in deployment.domains
        if d.managed_dns
        for r in d.records
    }
    got = {
        r.name: (
            r.inputs["name"],
            r.inputs["type"],
            r.inputs["content"],
            r.inputs["ttl"],
            r.inputs["proxied"],
        )
        for r in run.of_type(DNS)
    }
    assert got == expected
    # The TLS report receiver (tests/test_reports_program.py) has a script and custom domain of its own.
    policy = [r for r in run.resources if not r.name.startswith("reports-")]
    fronts = [r for r in policy if r.type in (ROUTE, CUSTOM_DOMAIN)]
    assert len(fronts) == len(deployment.worker_domains)
    assert len(run.of_type(PAGES)) == len(deployment.pages_domains)
    assert len([r for r in policy if r.type == SCRIPT]) == (1 if deployment.worker_domains else 0)


def test_dev_stack_outputs_equal_plan() -> None:
    """The ``domains`` stack output holds plan --json's values (warnings aside) for every dev domain."""
    run = run_stack("dev")
    planned = plan_json("dev", load_stack(ROOT, "dev"))["domains"]
    assert set(run.outputs["domains"]) == set(planned)
    for name, entry in planned.items():
        output = run.outputs["domains"][name]
        assert output == {k: v for k, v in entry.items() if k not in ("warnings", "findings")}
        assert output["policyUrl"] == f"https://mta-sts.{name}/.well-known/mta-sts.txt"


def test_worker_script_is_the_models_bytes(mixed: tuple[ProgramRun, Deployment]) -> None:
    """One WorkersScript per stack: the model's script, policies inside, as content; no binding."""
    run, deployment = mixed
    (script,) = run.of_type(SCRIPT)
    assert script.inputs["content"] == worker_script(deployment.worker_domains)
    assert served_in_script(script.inputs["content"]) == {
        d.policy_host.lower(): d.policy_text for d in deployment.worker_domains
    }
    assert not script.inputs.get("bindings")
    assert script.inputs["mainModule"] == MAIN_MODULE
    assert script.inputs["compatibilityDate"] == COMPATIBILITY_DATE
    assert script.inputs["scriptName"] == script_name("dev")
    assert script.inputs["accountId"] == ACCOUNT
    assert script.options.parent == run.of_type(WORKER)[0].urn


def worker_inputs(domains: dict[str, Any]) -> dict[str, Any]:
    """The inputs of the one WorkersScript a stack with these domains registers."""
    run = run_program(stack_config(domains))
    assert run.error is None, run.error
    (resource,) = run.of_type(SCRIPT)
    return dict(resource.inputs)


def model_script(domains: dict[str, Any]) -> str:
    """The script the model writes for a stack with these domains (no program run)."""
    return worker_script(model(stack_config(domains)).worker_domains)


def changed_lines(before: str, after: str) -> int:
    """Lines removed plus lines added between two texts, as a line diff shows them."""
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), n=0, lineterm="")
    return sum(1 for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---")))


def test_a_one_domain_change_is_a_few_line_diff_of_the_worker_script() -> None:
    """Among 300 domains, changing one domain's policy changes a few lines of the script, adding one a
    line or so (the model's script; the program uploads exactly it, as the next test shows)."""
    domains: dict[str, Any] = {f"d{i:03}.example": {} for i in range(300)}
    before = model_script(domains)
    assert len(before.splitlines()) > 300
    assert 2 <= changed_lines(before, model_script({**domains, "d150.example": {"mode": "testing"}})) <= 5
    assert 1 <= changed_lines(before, model_script({**domains, "zulu.example": {}})) <= 3


def test_a_one_domain_change_changes_only_the_worker_content() -> None:
    """In the program, the script's content is the model's script, and changing one domain's policy
    changes that content and no other input of the WorkersScript."""
    domains: dict[str, Any] = {f"d{i}.example": {} for i in range(3)}
    changed = {**domains, "d1.example": {"mode": "testing"}}
    before, after = worker_inputs(domains), worker_inputs(changed)
    assert before["content"] == model_script(domains) and after["content"] == model_script(changed)
    assert before["content"] != after["content"]
    assert {k: v for k, v in after.items() if k != "content"} == {
        k: v for k, v in before.items() if k != "content"
    }


def test_routes_custom_domains_and_zone_ids(mixed: tuple[ProgramRun, Deployment]) -> None:
    """Route domains get mta-sts.<d>/* to the script, custom-domain ones a WorkersCustomDomain; zones."""
    run, _ = mixed
    worker = run.of_type(WORKER)[0]
    routes = {r.inputs["pattern"]: r for r in run.of_type(ROUTE)}
    # foxtrot.sub.alpha.example is below its zone: Universal SSL would not cover its policy host,
    # so it inherits custom-domain routing (tests/test_provider.py).
    assert set(routes) == {"mta-sts.alpha.example/*", "mta-sts.golf.example/*"}
    assert routes["mta-sts.alpha.example/*"].inputs["zoneId"] == mock_zone_id("alpha.example")
    assert routes["mta-sts.golf.example/*"].inputs["zoneId"] == ZONE_ID
    for route in routes.values():
        assert route.inputs["script"] == script_name("dev")
        assert route.options.parent == worker.urn
    custom = {r.inputs["hostname"]: r.inputs for r in run.of_type(CUSTOM_DOMAIN)}
    assert set(custom) == {
        "mta-sts.bravo.example",
        "mta-sts.echo.example",
        "mta-sts.foxtrot.sub.alpha.example",
    }
    for host, inputs in custom.items():
        assert inputs["service"] == script_name("dev")
        assert inputs["accountId"] == ACCOUNT
        zone = "alpha.example" if host.endswith(".alpha.example") else host.removeprefix("mta-sts.")
        assert inputs["zoneId"] == mock_zone_id(zone)


def test_dns_records_exact_inputs_and_options(mixed: tuple[ProgramRun, Deployment]) -> None:
    """Every DnsRecord: the model's name/type/content/ttl/proxied, its zone, DBR, DomainRecords parent."""
    run, deployment = mixed
    parents = {r.name: r.urn for r in run.of_type(RECORDS)}
    expected = {}
    for domain in deployment.domains:
        if not domain.managed_dns:
            continue
        zone = domain.zone_id or mock_zone_id(domain.zone or domain.name)
        for record in domain.records:
            expected[f"{domain.name}-{record.role}"] = {
                "zoneId": zone,
                "name": record.name,
                "type": record.type,
                "content": record.content,
                "ttl": record.ttl,
                "proxied": record.proxied,
                "parent": parents[domain.name],
            }
    got = {}
    for r in run.of_type(DNS):
        assert r.options.delete_before_replace is True, r.name
        got[r.name] = {k: r.inputs[k] for k in ("zoneId", "name", "type", "content", "ttl", "proxied")}
        got[r.name]["parent"] = r.options.parent
    assert got == expected
    assert got["alpha.example-policy-host"]["type"] == "AAAA"
    assert got["alpha.example-policy-host"]["proxied"] is True
    assert got["charlie.example-policy-host"]["content"] == f"{OWNER}.github.io"
    assert got["charlie.example-policy-host"]["proxied"] is False
    assert "bravo.example-policy-host" not in got  # a custom domain brings its own record


def test_external_dns_creates_no_records_and_exports_them(mixed: tuple[ProgramRun, Deployment]) -> None:
    """dns: external registers no DnsRecord and no DomainRecords for the domain; its records are exported."""
    run, deployment = mixed
    for name in ("delta.example", "echo.example"):
        assert not [r for r in run.of_type(DNS) if r.inputs["name"].endswith(name)]
        assert not [r for r in run.of_type(RECORDS) if r.name == name]
        domain = deployment.domain(name)
        assert run.outputs["domains"][name]["records"] == [r.as_json() for r in domain.records]
        assert run.outputs["domains"][name]["dns"] == "external"
    assert run.outputs["domains"]["echo.example"]["records"][0] == {
        "name": "mta-sts.echo.example",
        "type": "CNAME",
        "content": "mta-sts.echo.example.cdn.cloudflare.net",
    }


def test_zone_lookups_once_per_zone(mixed: tuple[ProgramRun, Deployment]) -> None:
    """A zone is looked up once however many domains use it; zoneId and Pages+external domains cost none."""
    run, _ = mixed
    looked_up = sorted(c.args["filter"]["name"] for c in run.calls if c.token == GET_ZONE)
    assert looked_up == ["alpha.example", "bravo.example", "charlie.example", "echo.example"]


def test_sts_txt_waits_for_everything_that_serves_the_policy(mixed: tuple[ProgramRun, Deployment]) -> None:
    """_mta-sts TXT depends on script + route/custom domain + policy host, or files + Pages + CNAME."""
    run, _ = mixed
    script = run.of_type(SCRIPT)[0].urn

    def deps(name: str) -> set[str]:
        return set(run.by_name(name).options.depends_on)

    assert {
        script,
        run.by_name("cloudflare-worker-alpha.example-route").urn,
        run.by_name("alpha.example-policy-host").urn,
    } <= deps("alpha.example-sts")
    assert {script, run.by_name("cloudflare-worker-bravo.example-custom-domain").urn} <= deps(
        "bravo.example-sts"
    )
    pages = {
        run.by_name(f"github-pages-charlie.example-{role}").urn
        for role in ("policy-file", "nojekyll", "pages")
    }
    assert pages | {run.by_name("charlie.example-policy-host").urn} <= deps("charlie.example-sts")
    assert pages <= deps("charlie.example-policy-host")
    assert run.by_name("github-pages-charlie.example-pages").urn not in deps("charlie.example-tlsrpt")


def test_pages_resources(mixed: tuple[ProgramRun, Deployment]) -> None:
    """Pages: public repo, issues/wiki/projects off, main branch, exact policy bytes, .nojekyll, cname."""
    run, deployment = mixed
    hosting = run.of_type(PAGES_HOSTING)[0]
    for name, repo_name in (
        ("charlie.example", "mta-sts.charlie.example"),
        ("delta.example", "delta-policy"),
    ):
        domain = deployment.domain(name)
        prefix = f"github-pages-{name}"
        repo = run.by_name(f"{prefix}-repository")
        assert repo.inputs["name"] == repo_name
        assert repo.inputs["visibility"] == "public"
        assert repo.inputs["autoInit"] is True
        assert (repo.inputs["hasIssues"], repo.inputs["hasWiki"], repo.inputs["hasProjects"]) == (False,) * 3
        assert "pages" not in repo.inputs
        branch = run.by_name(f"{prefix}-default-branch")
        assert (branch.inputs["branch"], branch.inputs["rename"], branch.inputs["waitForRename"]) == (
            "main",
            True,
            True,
        )
        policy = run.by_name(f"{prefix}-policy-file")
        assert policy.inputs["file"] == ".well-known/mta-sts.txt"
        assert policy.inputs["content"].encode() == domain.policy_text.encode()
        assert "\r\n" in policy.inputs["content"]
        assert policy.inputs["branch"] == "main"
        assert policy.inputs["overwriteOnCreate"] is True
        assert domain.policy_id in policy.inputs["commitMessage"]
        assert name in policy.inputs["commitMessage"]
        assert branch.urn in policy.options.depends_on
        nojekyll = run.by_name(f"{prefix}-nojekyll")
        assert nojekyll.inputs["file"] == ".nojekyll" and nojekyll.inputs["content"].strip()
        site = run.by_name(f"{prefix}-pages")
        assert site.inputs["cname"] == f"mta-sts.{name}"
        assert site.inputs["source"] == {"branch": "main", "path": "/"}
        assert site.inputs["buildType"] == "legacy"
        assert "httpsEnforced" not in site.inputs  # first deploy: GitHub has no certificate yet
        assert {policy.urn, nojekyll.urn} <= set(site.options.depends_on)
        for resource in (repo, branch, policy, nojekyll, site):
            assert resource.options.parent == hosting.urn
            assert repo.urn in resource.options.depends_on or resource is repo


def test_https_enforced_for_listed_pages_domains() -> None:
    """httpsEnforced: true turns HTTPS enforcement on for that Pages domain only."""
    domains = {**MIXED, "charlie.example": {**MIXED["charlie.example"], "httpsEnforced": True}}
    config = stack_config(domains)
    run = ok(config)
    assert run.by_name("github-pages-charlie.example-pages").inputs["httpsEnforced"] is True
    assert "httpsEnforced" not in run.by_name("github-pages-delta.example-pages").inputs


def test_txt_content_and_ids_equal_plan(mixed: tuple[ProgramRun, Deployment]) -> None:
    """Each _mta-sts TXT's content, and so its id, is plan's; so is each _smtp._tls TXT."""
    run, deployment = mixed
    planned = plan_json("dev", deployment)["domains"]
    for domain in deployment.domains:
        if not domain.managed_dns:
            continue
        plan_records = {(r["name"], r["type"]): r["content"] for r in planned[domain.name]["records"]}
        sts = run.by_name(f"{domain.name}-sts").inputs
        assert sts["content"] == plan_records[(f"_mta-sts.{domain.name}", "TXT")]
        assert planned[domain.name]["policyId"] in sts["content"]
        if domain.tlsrpt:
            tlsrpt = run.by_name(f"{domain.name}-tlsrpt").inputs
            assert tlsrpt["content"] == plan_records[(f"_smtp._tls.{domain.name}", "TXT")]


def test_component_tree(mixed: tuple[ProgramRun, Deployment]) -> None:
    """Components are top level with mta-sts:index types; every provider resource is a child of one."""
    run, _ = mixed
    components = {r.urn: r for r in run.resources if not r.custom}
    assert {r.type for r in components.values()} == {RECORDS, WORKER, PAGES_HOSTING}
    assert all(
        c.options.parent is None or c.options.parent.endswith("::mta-sts-dev") for c in components.values()
    )
    for resource in run.resources:
        if resource.custom:
            assert resource.options.parent in components, resource.name


NAMES = ["alpha.example", "bravo.example", "charlie.example", "delta.example"]


def names_config(names: list[str]) -> dict[str, Any]:
    """Worker and Pages domains alternating, in the given order."""
    return stack_config({n: ({"hosting": "github-pages"} if n in ("bravo.example",) else {}) for n in names})


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (NAMES[:3], NAMES),  # add
        (NAMES, [NAMES[0], NAMES[1], NAMES[3]]),  # remove
        (NAMES, list(reversed(NAMES))),  # reorder
        (NAMES[1:], NAMES),  # add one that sorts first
    ],
    ids=["add", "remove", "reorder", "add-first"],
)
def test_untouched_domains_keep_urns_and_inputs(before: list[str], after: list[str]) -> None:
    """Adding, removing or reordering domains never renames or changes another domain's resources."""
    a, b = ok(names_config(before)), ok(names_config(after))
    for name in set(before) & set(after):
        mine_a, mine_b = owned(a, name), owned(b, name)
        assert mine_a and urns(mine_a) == urns(mine_b), name
        assert {r.urn: r.inputs for r in mine_a} == {r.urn: r.inputs for r in mine_b}
    gone = set(before) - set(after)
    new = set(after) - set(before)
    shared = {r.urn for r in a.resources if not any(r in owned(a, n) for n in gone)}
    assert shared <= b.urns
    assert b.urns - a.urns == urns([r for n in new for r in owned(b, n)])
    assert a.by_name("cloudflare-worker-script").urn == b.by_name("cloudflare-worker-script").urn


@pytest.mark.parametrize("routing", ["route", "custom-domain"])
def test_hosting_move_keeps_txt_urns(routing: str) -> None:
    """Moving a domain Worker → Pages keeps its DomainRecords and TXT URNs; the policy host changes type."""
    worker = ok(stack_config({"alpha.example": {"routing": routing}, "bravo.example": {}}))
    pages = ok(stack_config({"alpha.example": {"hosting": "github-pages"}, "bravo.example": {}}))
    for name in ("alpha.example", "alpha.example-sts", "alpha.example-tlsrpt"):
        assert worker.by_name(name).urn == pages.by_name(name).urn
        assert worker.by_name(name).inputs == pages.by_name(name).inputs or name == "alpha.example"
    host = pages.by_name("alpha.example-policy-host")
    assert host.inputs["type"] == "CNAME" and host.options.delete_before_replace is True
    if routing == "route":
        assert worker.by_name("alpha.example-policy-host").urn == host.urn
    txt = {r.name for r in pages.of_type(DNS) if r.inputs["name"] == "_mta-sts.alpha.example"}
    assert txt == {"alpha.example-sts"}


@pytest.mark.parametrize(
    ("config", "key"),
    [
        (stack_config({"a.example": {"mx": ["mx.example", "bad*.example"]}}), "domains.a.example.mx[1]"),
        (stack_config({"a.example": {"maxage": 1}}), "domains.a.example.maxage"),
        ({**stack_config({"a.example": {}}), "mta-sts:domain": {}}, "domain"),
        ({**stack_config({"a.example": {}}), "mta-sts:cloudflareAccountId": ""}, "cloudflareAccountId"),
        ({"mta-sts:domains": {"a.example": {"hosting": "github-pages", "mode": "none"}}}, "github:owner"),
        (
            stack_config({"a.example": {"httpsEnforced": True}}),
            "domains.a.example.httpsEnforced",
        ),
        (stack_config({}), "domains"),
    ],
    ids=["mx", "typo", "top-typo", "account", "owner", "https-enforced", "no-domains"],
)
def test_bad_config_registers_nothing(config: dict[str, Any], key: str) -> None:
    """Invalid config fails with one line naming the key, before any resource is registered."""
    run = run_program(config)
    assert run.error is not None
    message = str(run.error)
    assert message.startswith(f"{key}: "), message
    assert "\n" not in message
    assert type(run.error).__name__ == "RunError"
    assert run.resources == []
    assert run.calls == []


def test_loader_warnings_are_logged() -> None:
    """Loader warnings reach pulumi.log.warn, one per warning."""
    config = stack_config({"a.example": {"maxAge": 3600, "tlsrpt": []}})
    run = ok(config)
    assert run.warnings == list(model(config).warnings)
    assert len(run.warnings) == 2


def test_config_read_from_pulumi_config_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Config passed the way the CLI's language host does (PULUMI_CONFIG JSON) is read the same."""
    import json

    from tests.program_mocks import pulumi_config

    config = stack_config({"alpha.example": {}, "charlie.example": {"hosting": "github-pages"}})
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(pulumi_config(config)))
    from_env = ok({})
    direct = ok(config)
    assert from_env.urns == direct.urns
    assert {r.urn: r.inputs for r in from_env.resources} == {r.urn: r.inputs for r in direct.resources}
    assert from_env.outputs == direct.outputs


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_deprecated_provider_classes(stack: str) -> None:
    """The program constructs no deprecated provider class: none logs its 'is deprecated' warning."""
    run = run_stack(stack)
    assert run.error is None, repr(run.error)
    assert run.resources
    assert not [w for w in run.warnings if "deprecated" in w.lower()]
    assert all("pages" not in r.inputs for r in run.of_type("github:index/repository:Repository"))


def test_no_full_collection_while_the_program_runs_and_thresholds_restored_after() -> None:
    """While the program's loop runs the collector makes young collections only; the first one
    after the loop stops puts back the thresholds the process had."""
    import gc

    gc.collect(0)  # an earlier program's thresholds come back at the first collection after it
    before = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(gc.get_threshold())

    gc.callbacks.append(record)
    try:
        run = ok(stack_config(dict.fromkeys(("alpha.example", "bravo.example"), {})))
    finally:
        gc.callbacks.remove(record)
    gc.collect(0)
    assert run.resources
    assert any(third > 10**9 for _, _, third in seen), seen[:5]
    assert all(first == before[0] and second == before[1] for first, second, _ in seen)
    assert gc.get_threshold() == before
