"""Provider reality: what a real account would refuse or break, one point at a time, under mocks.

Each test reads the graph (or the resource options) the program registers and fails on the code
before these rules: certificate coverage of the policy host, routing changes, Email Routing,
stored reports, custom-domain replacement, names from any stack name, zone lookups, and the first
GitHub Pages deploy.
"""

from __future__ import annotations

from typing import Any

import pytest

from mtasts.checks.routing import Front, front, routing_change
from mtasts.model.config import ConfigError, load_config
from mtasts.model.findings import Severity
from mtasts.model.rollout import LiveGate, parse_live_gate
from mtasts.model.vocabulary import Check, Routing
from tests.cloudflare_rules import BUCKET_NAME, WORKER_NAME, transition
from tests.program_mocks import GET_ZONE, ProgramRun, run_program, run_stack
from tests.test_plan_base import Repo

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pulumi_cloudflare.*")

ACCOUNT = "0123456789abcdef0123456789abcdef"
DNS = "cloudflare:index/dnsRecord:DnsRecord"
CUSTOM_DOMAIN = "cloudflare:index/workersCustomDomain:WorkersCustomDomain"
ROUTE = "cloudflare:index/workersRoute:WorkersRoute"
SCRIPT = "cloudflare:index/workersScript:WorkersScript"
D1 = "cloudflare:index/d1Database:D1Database"
R2 = "cloudflare:index/r2Bucket:R2Bucket"
MAIL_DNS = "cloudflare:index/emailRoutingDns:EmailRoutingDns"
DEFAULTS = {"mode": "testing", "mx": ["mx.example.com"], "tlsrpt": ["mailto:tls@reports.example.net"]}
RECEIVER = {"host": "tlsrpt.example.net", "mailto": "tlsrpt@reports.example.net"}


def config(domains: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "mta-sts:cloudflareAccountId": ACCOUNT,
        "github:owner": "example-org",
        "mta-sts:defaults": DEFAULTS,
        "mta-sts:domains": domains,
        **extra,
    }


def ok(cfg: dict[str, Any], stack: str = "dev") -> ProgramRun:
    run = run_program(cfg, stack=stack)
    assert run.error is None, repr(run.error)
    return run


def refused(cfg: dict[str, Any], stack: str = "dev") -> str:
    run = run_program(cfg, stack=stack)
    assert run.error is not None and run.resources == [] and run.calls == []
    message = str(run.error)
    assert "\n" not in message
    return message


@pytest.fixture(scope="module")
def dev() -> ProgramRun:
    run = run_stack("dev")
    assert run.error is None, repr(run.error)
    return run


# 1. A policy host no certificate covers ----------------------------------------------------------


def test_dev_subdomain_gets_a_custom_domain_not_an_uncovered_proxied_record(dev: ProgramRun) -> None:
    """dev.example.com (zone example.com): a Workers custom domain with its own certificate, no AAAA."""
    hosts = {r.inputs["hostname"] for r in dev.of_type(CUSTOM_DOMAIN)}
    assert "mta-sts.dev.example.com" in hosts
    assert not [r for r in dev.of_type(DNS) if r.inputs["name"] == "mta-sts.dev.example.com"]
    assert "mta-sts.dev.example.com/*" not in {r.inputs["pattern"] for r in dev.of_type(ROUTE)}
    # The apex domain of the same zone is covered and keeps its route.
    assert "mta-sts.example.com/*" in {r.inputs["pattern"] for r in dev.of_type(ROUTE)}


def test_route_asked_for_an_uncovered_host_is_refused_naming_routing() -> None:
    """routing: route set on a domain below its zone fails before any resource, naming the key."""
    message = refused(config({"a.b.example.com": {"zone": "example.com", "routing": "route"}}))
    assert message.startswith("domains.a.b.example.com.routing: ")
    assert "custom-domain" in message and "Universal SSL" in message


@pytest.mark.parametrize(
    ("name", "zone", "routing"),
    [
        ("example.com", None, Routing.ROUTE),
        ("sub.example.com", None, Routing.ROUTE),  # its own zone: mta-sts.sub.example.com is first-level
        ("sub.example.com", "example.com", Routing.CUSTOM_DOMAIN),
        ("a.b.example.com", "example.com", Routing.CUSTOM_DOMAIN),
    ],
)
def test_inherited_routing_follows_certificate_coverage(
    name: str, zone: str | None, routing: Routing
) -> None:
    """A domain that does not choose its routing gets route only where Universal SSL covers the host."""
    settings = {"zone": zone} if zone else {}
    deployment = load_config(config({name: settings}))
    assert deployment.domain(name).routing is routing


# 2. Routing changes ------------------------------------------------------------------------------


def domain(**settings: Any) -> Any:
    return load_config(config({"example.com": settings})).domain("example.com")


ROUTE_ = {}
CUSTOM = {"routing": "custom-domain"}
NONE = {"routing": "none"}
PAGES = {"hosting": "github-pages"}


@pytest.mark.parametrize(
    ("base", "head", "first_step"),
    [
        (ROUTE_, CUSTOM, "routing: none"),
        (CUSTOM, ROUTE_, "routing: none"),
        (PAGES, CUSTOM, "hosting: cloudflare-worker with routing: none"),
        (CUSTOM, PAGES, "routing: none"),
    ],
    ids=["route-to-custom", "custom-to-route", "pages-to-custom", "custom-to-pages"],
)
def test_one_step_record_custom_domain_moves_are_refused_with_the_sequence(
    base: dict[str, str], head: dict[str, str], first_step: str
) -> None:
    """A move between a DNS record and a custom domain at mta-sts.<d> is an error naming the steps."""
    (finding,) = routing_change(domain(**base), domain(**head))
    assert finding.severity is Severity.ERROR and finding.check == Check.ROUTING_CHANGE
    assert finding.key == "domains.example.com"
    assert f"(1) set {first_step}, pulumi up" in finding.reason
    assert "(2) set" in finding.reason and "cannot be applied in one pulumi up" in finding.reason


@pytest.mark.parametrize(
    ("base", "head"),
    [
        (ROUTE_, PAGES),
        (PAGES, ROUTE_),
        (ROUTE_, NONE),
        (NONE, CUSTOM),
        (CUSTOM, NONE),
        (NONE, ROUTE_),
        (PAGES, NONE),
    ],
)
def test_moves_that_only_create_or_only_delete_at_the_name_are_allowed(
    base: dict[str, str], head: dict[str, str]
) -> None:
    """Record → record (one URN, delete-first) and any move through routing: none pass."""
    assert routing_change(domain(**base), domain(**head)) == []


def test_a_policy_change_while_nothing_serves_is_refused() -> None:
    """routing: none with a new policy id: the live gate would wait for a host nobody serves."""
    (finding,) = routing_change(domain(), domain(routing="none", mode="enforce"))
    assert finding.severity is Severity.ERROR and "live gate" in finding.reason


def test_front_of_each_configuration() -> None:
    """What holds mta-sts.<d>: a record (route, Pages), a custom domain, or nothing."""
    assert front(domain()) is Front.RECORD
    assert front(domain(**PAGES)) is Front.RECORD
    assert front(domain(**CUSTOM)) is Front.CUSTOM_DOMAIN
    assert front(domain(**NONE)) is Front.NOTHING
    assert front(domain(hosting="github-pages", dns="external")) is Front.NOTHING


def program(settings: dict[str, Any]) -> ProgramRun:
    return ok(config({"example.com": settings, "example.org": {}}))


@pytest.mark.parametrize(
    ("base", "head"),
    [(ROUTE_, CUSTOM), (CUSTOM, ROUTE_), (PAGES, CUSTOM), (CUSTOM, PAGES)],
    ids=["route-to-custom", "custom-to-route", "pages-to-custom", "custom-to-pages"],
)
def test_transition_in_one_step_clashes_and_through_none_never(
    base: dict[str, str], head: dict[str, str]
) -> None:
    """Replayed in the engine's order, the one-step move puts two objects on mta-sts.example.com;
    the printed sequence (via routing: none) never does."""
    before, middle, after = program(base), program(NONE), program(head)
    clashes = transition(before, after)
    assert clashes and all(c.startswith("mta-sts.example.com:") for c in clashes)
    assert transition(before, middle) == []
    assert transition(middle, after) == []


@pytest.mark.parametrize(("base", "head"), [(ROUTE_, PAGES), (PAGES, ROUTE_)])
def test_transition_between_records_applies_in_one_step(base: dict[str, str], head: dict[str, str]) -> None:
    """AAAA ↔ Pages CNAME is one URN replaced delete-first: never two objects on the name."""
    assert transition(program(base), program(head)) == []


def test_plan_base_refuses_the_one_step_move_and_prints_the_sequence(repo: Repo) -> None:
    """plan --base exits 1 on route → custom-domain with the reason and the two steps; via none, 0."""
    repo.commit({"example.com": {}})
    repo.write({"example.com": {"routing": "custom-domain"}})
    result = repo.plan("--base", "HEAD")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "routing: route → custom-domain" in result.stdout
    assert "(1) set routing: none, pulumi up" in result.stdout
    repo.write({"example.com": {"routing": "none"}})
    assert repo.plan("--base", "HEAD").returncode == 0


@pytest.fixture
def repo(tmp_path: Any) -> Repo:
    return Repo(tmp_path)


# 3. Email Routing ---------------------------------------------------------------------------------


def test_email_routing_dns_is_never_deleted_and_a_new_name_replaces_it(dev: ProgramRun) -> None:
    """EmailRoutingDns: retain_on_delete (its delete disables the zone's mail), replaced on name."""
    (mail,) = dev.of_type(MAIL_DNS)
    assert mail.inputs["name"] == "reports.example.net"
    assert mail.options.retain_on_delete is True
    assert "name" in mail.options.replace_on_changes


# 4. Stored reports ----------------------------------------------------------------------------------


def test_d1_and_r2_are_retained_on_delete(dev: ProgramRun) -> None:
    """Neither the database nor the bucket is ever deleted by Pulumi."""
    storage = dev.of_type(D1) + dev.of_type(R2)
    assert len(storage) == 2
    assert all(r.options.retain_on_delete for r in storage)


# 5. Custom domains replaced delete-first --------------------------------------------------------------


def test_every_custom_domain_is_replaced_delete_first(dev: ProgramRun) -> None:
    """Policy and receiver custom domains alike: delete_before_replace."""
    domains = dev.of_type(CUSTOM_DOMAIN)
    assert {r.inputs["hostname"] for r in domains} >= {"tlsrpt.example.net", "mta-sts.dev.example.com"}
    assert all(r.options.delete_before_replace is True for r in domains)


# 6. Names Cloudflare takes ------------------------------------------------------------------------


LONG = "a" + "b" * 58 + "Z"  # 60 characters, upper case at the end
STACKS = ["dev", "prod", "Prod", "eu.prod", "staging_eu", LONG, "x" * 100]


def names(stack: str) -> dict[str, str]:
    run = ok(config({"example.com": {"reports": "builtin"}}, **{"mta-sts:reports": RECEIVER}), stack=stack)
    scripts = sorted(r.inputs["scriptName"] for r in run.of_type(SCRIPT))
    (database,), (bucket,) = run.of_type(D1), run.of_type(R2)
    return {
        "policy": next(s for s in scripts if "-reports-" not in s),
        "receiver": next(s for s in scripts if "-reports-" in s),
        "database": database.inputs["name"],
        "bucket": bucket.inputs["name"],
    }


@pytest.fixture(scope="module")
def stack_names() -> dict[str, dict[str, str]]:
    return {stack: names(stack) for stack in STACKS}


def test_names_valid_today_stay_exactly_as_they_are(stack_names: dict[str, dict[str, str]]) -> None:
    """dev and prod keep mta-sts-<stack> and mta-sts-reports-<stack>: a rename would replace them."""
    for stack in ("dev", "prod"):
        assert stack_names[stack] == {
            "policy": f"mta-sts-{stack}",
            "receiver": f"mta-sts-reports-{stack}",
            "database": f"mta-sts-reports-{stack}",
            "bucket": f"mta-sts-reports-{stack}",
        }


def test_every_stack_name_gets_names_cloudflare_takes(stack_names: dict[str, dict[str, str]]) -> None:
    """Upper case, dots, underscores and long stack names: Worker and bucket rules hold."""
    for stack, found in stack_names.items():
        assert WORKER_NAME.match(found["policy"]) and WORKER_NAME.match(found["receiver"]), stack
        assert BUCKET_NAME.match(found["database"]) and BUCKET_NAME.match(found["bucket"]), stack
        assert found["policy"] != found["receiver"]


def test_names_are_distinct_across_stacks_and_stable(stack_names: dict[str, dict[str, str]]) -> None:
    """Prod and prod never share a Worker or a bucket; a second run derives the same names."""
    for role in ("policy", "receiver", "bucket"):
        assert len({found[role] for found in stack_names.values()}) == len(STACKS), role
    assert names("eu.prod") == stack_names["eu.prod"]


@pytest.mark.parametrize("stack", ["", "org/prod", "a b", "x" * 101])
def test_a_stack_name_pulumi_would_not_allow_is_refused_naming_stack(stack: str) -> None:
    """A name outside Pulumi's grammar fails with one line naming ``stack``, before any resource."""
    assert refused(config({"example.com": {}}), stack=stack).startswith("stack: ")


# 7. Zone lookups ----------------------------------------------------------------------------------


def test_each_zone_is_looked_up_once_in_the_stacks_account(dev: ProgramRun) -> None:
    """dev: example.net (a Pages domain and the receiver) looked up once; each filter names the account."""
    lookups = [c for c in dev.calls if c.token == GET_ZONE]
    zones = [c.args["filter"]["name"] for c in lookups]
    assert sorted(zones) == sorted(set(zones))
    assert "example.net" in zones
    assert all(c.args["filter"]["account"] == {"id": ACCOUNT} for c in lookups)


def test_a_zone_id_given_once_serves_every_domain_and_the_receiver_of_that_zone() -> None:
    """A zoneId on one domain of a zone spares the lookup of that zone for the others."""
    zone_id = "023e105f4ecef8ad9ca31a8372d0c353"
    run = ok(
        config(
            {
                "example.net": {"zoneId": zone_id},
                "b.example.net": {"zone": "example.net", "reports": "builtin"},
            },
            **{"mta-sts:reports": RECEIVER},
        )
    )
    assert [c for c in run.calls if c.token == GET_ZONE] == []
    assert {r.inputs["zoneId"] for r in run.of_type(DNS)} == {zone_id}


def test_a_lookup_without_the_account_is_refused() -> None:
    """No cloudflareAccountId and no zoneId: the zone cannot be looked up in one account."""
    cfg = {
        k: v for k, v in config({"example.com": {"hosting": "github-pages"}}).items() if "Account" not in k
    }
    assert refused(cfg).startswith("cloudflareAccountId: is required to look up zone example.com")


# 8. GitHub Pages first deploy ----------------------------------------------------------------------


def test_first_pages_txt_waits_longer_and_later_updates_wait_as_usual() -> None:
    """A Pages domain's _mta-sts TXT: the first-Pages gate before create, the usual gate before update."""
    run = ok(config({"example.com": {}, "example.net": {"hosting": "github-pages"}}))
    pages = run.by_name("example.net-sts").options.hooks
    worker = run.by_name("example.com-sts").options.hooks
    assert pages == {
        "before_create": ("mta-sts-live-gate-first-pages",),
        "before_update": ("mta-sts-live-gate",),
    }
    assert worker == {"before_create": ("mta-sts-live-gate",), "before_update": ("mta-sts-live-gate",)}
    assert run.hooks["mta-sts-live-gate-first-pages"].on_dry_run is False


def test_first_pages_gate_waits_first_pages_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first-Pages hook's wait is liveGate.firstPagesTimeout (default an hour), its interval the same."""
    import components.live_gate as gate

    seen: list[LiveGate] = []
    monkeypatch.setattr(gate, "gate_function", lambda settings, options=None: seen.append(settings))
    monkeypatch.setattr(gate.pulumi, "ResourceHook", lambda *args, **kwargs: args)
    gate.first_pages_gate(parse_live_gate({"timeout": 300, "interval": 2}))
    gate.first_pages_gate(parse_live_gate({"firstPagesTimeout": 7200}))
    assert [(s.timeout, s.interval) for s in seen] == [(3600.0, 2.0), (7200.0, 5.0)]


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"firstPagesTimeout": 10}, "liveGate.firstPagesTimeout"),
        ({"firstPagesTimeout": "x"}, "liveGate.firstPagesTimeout"),
    ],
)
def test_first_pages_timeout_is_validated(raw: dict[str, Any], key: str) -> None:
    """firstPagesTimeout is a number of seconds no shorter than timeout."""
    with pytest.raises(ConfigError) as info:
        parse_live_gate(raw)
    assert info.value.key == key


def test_pages_files_nojekyll_body_and_branch_rename_wait(dev: ProgramRun) -> None:
    """.nojekyll has a body; the default-branch rename waits until GitHub reports it."""
    nojekyll = dev.by_name("github-pages-example.net-nojekyll")
    assert nojekyll.inputs["content"].strip()
    branch = dev.by_name("github-pages-example.net-default-branch")
    assert branch.inputs["rename"] is True and branch.inputs["waitForRename"] is True
