"""Fleets: Cloudflare's limits checked before anything, sharded policy Workers, the API budget."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from mtasts.commands.cli import main
from mtasts.commands.review import review
from mtasts.model import shards as sharding
from mtasts.model.budget import budget, change, inventory
from mtasts.model.config import ConfigError, load_config
from mtasts.model.limits import LIMITS, Limits
from mtasts.model.preflight import check_fleet
from mtasts.model.vocabulary import WorkersPlan, ZonePlan
from mtasts.rfc.policy import POLICY_PATH
from tests.program_mocks import ROOT, run_program
from tests.servers import free_port, start_serve

ACCOUNT = "0123456789abcdef0123456789abcdef"
DEFAULTS = {"mode": "enforce", "mx": ["mx.mail.example"], "tlsrpt": ["mailto:tls@reports.example"]}
SCRIPT = "cloudflare:index/workersScript:WorkersScript"
ROUTE = "cloudflare:index/workersRoute:WorkersRoute"
CUSTOM_DOMAIN = "cloudflare:index/workersCustomDomain:WorkersCustomDomain"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pulumi_cloudflare.*")


def config(domains: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "mta-sts:cloudflareAccountId": ACCOUNT,
        "mta-sts:defaults": DEFAULTS,
        "mta-sts:domains": domains,
        **{f"mta-sts:{k}": v for k, v in extra.items()},
    }


def zones(count: int, start: int = 0) -> dict[str, Any]:
    """``count`` domains, each its own zone."""
    return {f"z{i:05}.example": {} for i in range(start, start + count)}


def in_one_zone(count: int, **settings: Any) -> dict[str, Any]:
    """``count`` domains under one zone, ``big.example``."""
    return {f"d{i:04}.big.example": {"zone": "big.example", **settings} for i in range(count)}


def refused(cfg: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    return info.value


# --- limits as data ---------------------------------------------------------------------------


def test_every_limit_has_a_source_a_way_out_and_a_number_per_plan() -> None:
    """Each row names its page, what to do when over it, and a positive number for each plan."""
    for key, limit in LIMITS.items():
        assert limit.key == key and limit.source.startswith("https://") and limit.way_out
        assert all(number > 0 for number in limit.numbers.values())
    workers = LIMITS["workersPerAccount"]
    assert (workers.number(WorkersPlan.FREE), workers.number(WorkersPlan.PAID)) == (100, 500)
    records = LIMITS["dnsRecordsPerZone"]
    assert [records.number(p) for p in ZonePlan] == [200, 1_000, 3_500, 3_500, 3_500]
    assert LIMITS["routedZonesPerWorker"].number(WorkersPlan.PAID) == 1_000


def test_overrides_and_zone_plans_come_from_config() -> None:
    """mta-sts:limits replaces a number on every plan; zonePlans sets one zone's quota."""
    deployment = load_config(
        config(
            zones(1),
            cloudflarePlan="paid",
            zonePlan="pro",
            zonePlans={"Big.Example.": "enterprise"},
            limits={"routesPerZone": 2_000},
        )
    )
    limits = deployment.limits
    assert limits == Limits(
        WorkersPlan.PAID, ZonePlan.PRO, {"big.example": ZonePlan.ENTERPRISE}, {"routesPerZone": 2000}
    )
    assert limits.of(LIMITS["routesPerZone"], "big.example") == 2_000
    assert limits.of(LIMITS["workersPerAccount"]) == 500


@pytest.mark.parametrize(
    ("extra", "key", "rule"),
    [
        (
            {"limits": {"routesPerzone": 5}},
            "limits.routesPerzone",
            "unknown limit; did you mean 'routesPerZone'?",
        ),
        (
            {"limits": {"routesPerZone": 0}},
            "limits.routesPerZone",
            "must be a whole number of at least 1, got 0",
        ),
        ({"cloudflarePlan": "pro"}, "cloudflarePlan", "must be one of free, paid, got 'pro'"),
        ({"zonePlans": {"a.example": "gold"}}, "zonePlans.a.example", "must be one of"),
        ({"workerShards": 501}, "workerShards", "must be at most 500, got 501"),
        ({"workerShards": True}, "workerShards", "must be a whole number of at least 1"),
        ({"zoneIds": {"a.example": "xyz"}}, "zoneIds.a.example", "must be 32 lower-case hex digits"),
    ],
)
def test_bad_limit_settings_name_the_key(extra: dict[str, Any], key: str, rule: str) -> None:
    """Each limit setting is validated as it is read, naming its key."""
    error = refused(config(zones(1), **extra))
    assert error.key == key and error.rule.startswith(rule)


# --- the preflight ----------------------------------------------------------------------------


def test_1001_routes_in_one_zone_are_refused_naming_the_limit() -> None:
    """A zone with 1,001 Worker routes fails the preflight on limits.routesPerZone, count and way out.

    The loader routes only a zone's apex (Universal SSL covers no deeper policy host; lower names
    take custom-domain), so the 1,001 routes are built directly, as hand-made stacks could be."""
    from mtasts.model.domain import Deployment, Domain
    from mtasts.model.preflight import check

    routed = tuple(
        Domain(
            f"d{i:04}.big.example",
            "cloudflare-worker",
            "testing",
            86400,
            ("mx.example",),
            (),
            zone="big.example",
        )
        for i in range(1_001)
    )
    limits = Limits(zone_plans={"big.example": ZonePlan.ENTERPRISE})
    problems = check(Deployment(routed, ACCOUNT, limits=limits))
    assert [(p.limit.key, p.count, p.allowed) for p in problems] == [("routesPerZone", 1_001, 1_000)]
    line = problems[0].line()
    assert "zone big.example would have 1,001 Worker routes, over the 1,000 Cloudflare allows" in line
    assert "custom-domain" in line and "developers.cloudflare.com/workers/platform/limits/" in line
    assert check(Deployment(routed[:1_000], ACCOUNT, limits=limits)) == []


def test_101_custom_domains_in_one_zone_are_refused() -> None:
    """A zone with 101 Workers custom domains is over customDomainsPerZone; 100 pass."""
    error = refused(config(in_one_zone(101, routing="custom-domain"), zonePlan="pro"))
    assert error.key == "limits.customDomainsPerZone"
    assert "101 Workers custom domains" in error.rule
    load_config(config(in_one_zone(100, routing="custom-domain"), zonePlan="pro"))


def test_records_beyond_a_free_zones_quota_are_refused_until_its_plan_is_given() -> None:
    """67 domains × 3 records = 201 in a Free zone (200) is refused; free-legacy (1,000) passes."""
    error = refused(config(in_one_zone(67)))
    assert error.key == "limits.dnsRecordsPerZone"
    assert "zone big.example would have 201 DNS records" in error.rule and "zonePlans" in error.rule
    load_config(config(in_one_zone(66)))
    load_config(config(in_one_zone(67), zonePlans={"big.example": "free-legacy"}))


def test_more_workers_than_the_plan_allows_are_refused() -> None:
    """101 used shards on Workers Free (100 scripts) are refused; on Paid (500) they pass."""
    domains = zones(2_000)
    cfg = config(domains, workerShards=120, zonePlan="pro")
    used = {sharding.shard_of(name, 120) for name in domains}
    assert len(used) > 100
    error = refused(cfg)
    assert error.key == "limits.workersPerAccount"
    assert f"{len(used)} Worker scripts" in error.rule and "over the 100" in error.rule
    load_config({**cfg, "mta-sts:cloudflarePlan": "paid"})


def test_more_than_1000_zones_on_one_script_are_refused_naming_workershards() -> None:
    """1,001 zones on one policy Worker: routedZonesPerWorker, and the way out names workerShards."""
    error = refused(config(zones(1_001)))
    assert error.key == "limits.routedZonesPerWorker"
    assert "1,001 zones routed" in error.rule and "mta-sts:workerShards" in error.rule
    load_config(config(zones(1_001), workerShards=2))


def test_every_broken_limit_is_counted_in_the_one_line() -> None:
    """Over several limits at once: the first is named in full, the others by key and count."""
    error = refused(config(in_one_zone(101)))  # custom domains (below the zone), 303 records
    assert error.key == "limits.customDomainsPerZone"
    assert "(and 1 more over: dnsRecordsPerZone)" in error.rule
    assert "\n" not in str(error)


def test_over_limit_stack_registers_no_resource_under_mocks() -> None:
    """The program stops at the preflight: a RunError naming the limit, and nothing registered."""
    run = run_program(config(in_one_zone(101, routing="custom-domain"), zonePlan="pro"))
    assert run.error is not None and "limits.customDomainsPerZone" in str(run.error)
    assert [r for r in run.resources if r.custom] == []


def test_fleet_sums_zones_and_accounts_and_refuses_a_domain_in_two_stacks() -> None:
    """Two stacks of 60 custom domains each in one zone are over customDomainsPerZone together only."""
    big = in_one_zone(120)
    first = load_config(config(dict(list(big.items())[:60]), zonePlan="enterprise"))
    second = load_config(config(dict(list(big.items())[60:]), zonePlan="enterprise"))
    (problem,) = check_fleet([("a", first), ("b", second)])
    assert (problem.limit.key, problem.count) == ("customDomainsPerZone", 120)
    with pytest.raises(ConfigError) as info:
        check_fleet([("a", first), ("b", first)])
    assert info.value.key == "domains.d0000.big.example"


# --- shards ---------------------------------------------------------------------------------


def test_jump_hash_spreads_and_only_moves_zones_to_new_shards() -> None:
    """Raising 8 → 9 shards moves about 1/9 of zones, each to the new shard; none between old ones."""
    names = [f"z{i:05}.example" for i in range(9_000)]
    before = {n: sharding.shard_of(n, 8) for n in names}
    after = {n: sharding.shard_of(n, 9) for n in names}
    moved = [n for n in names if before[n] != after[n]]
    assert all(after[n] == 8 for n in moved)
    assert 800 < len(moved) < 1_200
    sizes = Counter(before.values())
    assert len(sizes) == 8 and max(sizes.values()) < 1.15 * 9_000 / 8


def test_adding_and_removing_domains_moves_no_other_domain() -> None:
    """Shards of the domains in both stacks are equal after 500 added and 500 removed (0 moves)."""
    base = load_config(config(zones(3_000), workerShards=4))
    head = load_config(config(zones(3_000, start=500), workerShards=4))
    shared = {d.name for d in base.worker_domains} & {d.name for d in head.worker_domains}
    assert len(shared) == 2_500
    moved = [n for n in shared if base.shard_for(n) != head.shard_for(n)]
    assert moved == []


def test_domains_of_one_zone_share_a_script() -> None:
    """Every domain of a zone lands in its zone's shard, so a script's zone count is Cloudflare's."""
    deployment = load_config(config({**zones(50), **in_one_zone(30)}, workerShards=7))
    shard = {deployment.shard_for(d.name) for d in deployment.domains if d.zone == "big.example"}
    assert len(shard) == 1


def test_a_stack_over_1000_zones_registers_scripts_each_under_1000_zones() -> None:
    """Under mocks, 1,100 zones over 2 shards: 2 scripts, each carrying only its domains' policies,
    none referenced by routes of more than 1,000 zones."""
    # dns: external custom domains are one resource each, which keeps 1,100 zones quick under mocks.
    domains = {
        **{name: {"dns": "external", "routing": "custom-domain"} for name in zones(1_080)},
        **{f"r{i}.example": {} for i in range(20)},
    }
    run = run_program(config(domains, workerShards=2))
    assert run.error is None, repr(run.error)
    scripts = {r.inputs["scriptName"]: r for r in run.of_type(SCRIPT)}
    assert set(scripts) == {"mta-sts-dev-s0", "mta-sts-dev-s1"}
    zones_of: dict[str, set[str]] = {name: set() for name in scripts}
    hosts_of: dict[str, set[str]] = {name: set() for name in scripts}
    for route in run.of_type(ROUTE):
        zones_of[route.inputs["script"]].add(route.inputs["zoneId"])
        hosts_of[route.inputs["script"]].add(route.inputs["pattern"].removesuffix("/*"))
    for custom in run.of_type(CUSTOM_DOMAIN):
        zones_of[custom.inputs["service"]].add(custom.inputs["zoneId"])
        hosts_of[custom.inputs["service"]].add(custom.inputs["hostname"])
    assert sum(len(z) for z in zones_of.values()) == 1_100
    assert all(0 < len(z) <= 1_000 for z in zones_of.values())
    for name, script in scripts.items():
        content = script.inputs["content"]
        assert all(f'"{host}"' in content for host in hosts_of[name])
        others = set().union(*(hosts_of[n] for n in scripts if n != name))
        assert not any(f'"{host}"' in content for host in others)


def test_one_shard_keeps_the_historical_script_name_and_resource_name() -> None:
    """With the default of one shard the script is mta-sts-<stack>, resource cloudflare-worker-script."""
    run = run_program(config(zones(3)))
    assert run.error is None, repr(run.error)
    (script,) = run.of_type(SCRIPT)
    assert (script.name, script.inputs["scriptName"]) == ("cloudflare-worker-script", "mta-sts-dev")


# --- the API budget --------------------------------------------------------------------------


def test_budget_counts_the_resources_the_program_registers() -> None:
    """inventory lists exactly the provider resources the program registers, by name."""
    domains = {
        **zones(40),
        **{f"c{i}.example": {"routing": "custom-domain"} for i in range(5)},
        "x.example": {"dns": "external", "routing": "custom-domain"},
    }
    cfg = config(domains, workerShards=3)
    run = run_program(cfg)
    assert run.error is None, repr(run.error)
    registered = {r.name for r in run.resources if r.custom and not r.type.startswith("pulumi:providers:")}
    deployment = load_config(cfg)
    assert set(inventory(deployment, "dev")) == registered
    planned = budget(deployment, "dev")
    assert planned.resources == len(registered)
    assert planned.lookups == 46  # every zone once: no zoneId given
    assert planned.minimum_seconds == pytest.approx((planned.cloudflare_writes + 46) / 1_200 * 300)


def test_zone_ids_recorded_once_remove_every_lookup() -> None:
    """With mta-sts:zoneIds a preview looks no zone up; under mocks, no getZone call at all."""
    domains = zones(5)
    ids = {name: f"{i:032x}" for i, name in enumerate(domains)}
    cfg = config(domains, zoneIds=ids)
    assert budget(load_config(cfg), "dev").lookups == 0
    run = run_program(cfg)
    assert run.error is None, repr(run.error)
    assert [c for c in run.calls if "getZone" in c.token] == []
    routes = {r.inputs["pattern"]: r.inputs["zoneId"] for r in run.of_type(ROUTE)}
    assert routes["mta-sts.z00003.example/*"] == ids["z00003.example"]


def test_change_counts_writes_of_a_shard_move() -> None:
    """Raising the shard count: a moved route is one update, a moved custom domain a replacement."""
    domains = {**zones(200), **{f"c{i}.example": {"routing": "custom-domain"} for i in range(20)}}
    base = load_config(config(domains, workerShards=2))
    head = load_config(config(domains, workerShards=3))
    diff = change(inventory(base, "dev"), inventory(head, "dev"))
    moved = [d.name for d in head.worker_domains if base.shard_for(d.name) != head.shard_for(d.name)]
    assert moved
    routes = {f"cloudflare-worker-{n}-route" for n in moved if not n.startswith("c")}
    customs = {f"cloudflare-worker-{n}-custom-domain" for n in moved if n.startswith("c")}
    assert routes <= set(diff.updated) and customs == {n for n in diff.replaced if "custom-domain" in n}
    assert "cloudflare-worker-script-s2" in diff.created
    assert diff.deleted == ()
    assert diff.writes["cloudflare"] == len(diff.created) + len(diff.updated) + 2 * len(diff.replaced)


# --- plan ------------------------------------------------------------------------------------


def project(path: Path, stack: dict[str, Any]) -> None:
    """A Pulumi project in ``path`` with the stack file ``Pulumi.t.yaml``."""
    shutil.copy(ROOT / "Pulumi.yaml", path / "Pulumi.yaml")
    (path / "Pulumi.t.yaml").write_text(yaml.safe_dump({"config": stack}), encoding="utf-8")


def git(path: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=path, capture_output=True, check=True)


def test_plan_exits_2_on_a_broken_limit_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """plan prints one error line naming the limit and exits 2; nothing on stdout."""
    project(tmp_path, config(in_one_zone(101, routing="custom-domain"), zonePlan="pro"))
    assert main(["--project-dir", str(tmp_path), "plan", "--stack", "t"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("error: limits.customDomainsPerZone: zone big.example would have 101 ")


def test_plan_prints_the_shards_and_the_api_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """plan's text and JSON give each script's domains and zones, and the writes of a first up."""
    project(tmp_path, config(zones(30), workerShards=2))
    assert main(["--project-dir", str(tmp_path), "plan", "--stack", "t", "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert sum(w["zones"] for w in planned["workers"].values()) == 30
    assert set(planned["workers"]) <= {"mta-sts-t-s0", "mta-sts-t-s1"}
    scripts = len(planned["workers"])
    # per domain a route and three records, plus one script per used shard
    assert planned["budget"]["cloudflareWrites"] == 30 * 4 + scripts
    assert planned["budget"]["zoneLookups"] == 30
    assert main(["--project-dir", str(tmp_path), "plan", "--stack", "t"]) == 0
    text = capsys.readouterr().out
    assert f"API budget of a first pulumi up: {30 * 4 + scripts} resources" in text
    assert "30 zone lookups" in text


def test_plan_base_names_each_shard_move_and_the_writes(tmp_path: Path) -> None:
    """Raising workerShards: plan --base lists every moved domain and counts the writes."""
    domains = zones(40)
    project(tmp_path, config(domains, workerShards=2))
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "-c", "user.email=o@example.com", "-c", "user.name=o", "add", "-A")
    git(tmp_path, "-c", "user.email=o@example.com", "-c", "user.name=o", "commit", "-qm", "base")
    project(tmp_path, config({**domains, "new.example": {}}, workerShards=3))
    result = review(tmp_path, "t", "HEAD")
    moved = {d for d in domains if sharding.shard_of(d, 2) != sharding.shard_of(d, 3)}
    assert moved and result.cost_json is not None
    assert {m["domain"] for m in result.cost_json["moves"]} == moved
    text = result.text()
    for name in moved:
        assert f"moves {name}: mta-sts-t-s{sharding.shard_of(name, 2)} -> mta-sts-t-s2" in text
    # new.example: a route and 3 records; each moved route one update; the new script; changed scripts
    assert result.cost_json["created"] >= 5 and result.cost_json["updated"] >= len(moved)
    assert "API writes of this change:" in text


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_serve_runs_one_worker_per_shard_each_with_its_own_policies(tmp_path: Path) -> None:
    """serve of a 3-shard stack: every host gets its own policy from its shard's script; others 404."""
    domains = {name: {"mode": "testing"} if i % 2 else {} for i, name in enumerate(zones(12))}
    project(tmp_path, config(domains, workerShards=3))
    deployment = load_config(config(domains, workerShards=3))
    port = free_port()
    argv = [sys.executable, "-m", "mtasts", "--project-dir", str(tmp_path), "serve", "--stack", "t"]
    process, banner = start_serve([*argv, "--port", str(port), "--state-dir", str(tmp_path / "state")])
    try:
        for domain in deployment.worker_domains:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", POLICY_PATH, headers={"Host": domain.policy_host})
            response = conn.getresponse()
            assert (response.status, response.read()) == (200, domain.policy_text.encode())
            conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", POLICY_PATH, headers={"Host": "mta-sts.unknown.example"})
        assert conn.getresponse().status == 404
        conn.close()
    finally:
        process.terminate()
        process.communicate(timeout=15)
    assert f"{len(deployment.shards)} policy Workers" in banner
    for shard in deployment.shards:
        assert f"mta-sts-t-s{shard}: " in banner


# --- the policy pack ---------------------------------------------------------------------------


def test_the_pack_refuses_a_worker_routed_from_over_1000_zones_and_full_zones() -> None:
    """The pack counts routes and custom domains per script and zone, with the model's numbers."""
    from pulumi_policy import StackValidationArgs

    from policies.mtasts_policies import worker_limits
    from tests.policy_pack import ROUTE, stack_resource, violations

    assert worker_limits.ROUTED_ZONES_PER_WORKER == LIMITS["routedZonesPerWorker"].number("*")
    assert worker_limits.ROUTES_PER_ZONE == LIMITS["routesPerZone"].number("*")
    assert worker_limits.CUSTOM_DOMAINS_PER_ZONE == LIMITS["customDomainsPerZone"].number("*")
    name = "worker-routing-within-cloudflare-limits"

    def route(i: int, zone: str, script: str) -> Any:
        return stack_resource(
            ROUTE, {"zoneId": zone, "pattern": f"mta-sts.d{i}.example/*", "script": script}, f"r{i}"
        )

    fine = [route(i, f"{i:032x}", "mta-sts-dev-s0") for i in range(1_000)]
    assert violations(name, StackValidationArgs(fine)) == []
    over = [*fine, route(1_000, f"{1_000:032x}", "mta-sts-dev-s0")]
    (found,) = violations(name, StackValidationArgs(over))
    assert "Worker mta-sts-dev-s0 is routed from 1,001 zones" in found[0]
    custom = worker_limits.CUSTOM_DOMAIN_TYPE
    crowded = [
        stack_resource(
            custom, {"zoneId": "z" * 32, "hostname": f"mta-sts.c{i}.example", "service": "s"}, f"c{i}"
        )
        for i in range(101)
    ]
    (found,) = violations(name, StackValidationArgs(crowded))
    assert "has 101 Workers custom domains, over the 100" in found[0]


def test_verify_names_the_shard_the_program_routes_a_failing_domain_to() -> None:
    """verify --stack: a Worker-hosted domain whose policy fails gets an info finding naming the
    script that serves it; the name is the one the program's route or custom domain points at."""
    from mtasts.checks.drift import serving_worker
    from mtasts.model.findings import Finding, Severity
    from mtasts.model.vocabulary import Check

    domains = {**zones(12), **{f"c{i}.example": {"routing": "custom-domain"} for i in range(4)}}
    cfg = config(domains, workerShards=3)
    run = run_program(cfg)
    assert run.error is None, repr(run.error)
    routed = {r.inputs["pattern"].removesuffix("/*"): r.inputs["script"] for r in run.of_type(ROUTE)}
    routed |= {c.inputs["hostname"]: c.inputs["service"] for c in run.of_type(CUSTOM_DOMAIN)}
    deployment = load_config(cfg)
    failed = [Finding(Check.POLICY_FETCH, Severity.ERROR, "NXDOMAIN")]
    passed = [Finding(Check.POLICY, Severity.OK, "fine")]
    for domain in deployment.domains:
        note = serving_worker(deployment, "dev", domain.name, failed)
        assert note is not None and note.severity is Severity.INFO
        assert dict(note.facts)["script"] == routed[domain.policy_host], domain.name
        assert routed[domain.policy_host] in note.reason
        assert serving_worker(deployment, "dev", domain.name, passed) is None
    assert len(set(routed.values())) > 1  # the stack really is sharded


def test_verify_names_no_shard_where_the_stack_serves_none() -> None:
    """No note for a domain the stack does not hold, a Pages domain, or a policy that passed; a
    domain on routing: none is named with the reason nothing reaches its script."""
    from mtasts.checks.drift import serving_worker
    from mtasts.model.findings import Finding, Severity
    from mtasts.model.vocabulary import Check

    cfg = config(
        {
            "w.example": {},
            "n.example": {"routing": "none"},
            "p.example": {"hosting": "github-pages"},
        },
        workerShards=2,
    )
    cfg["github:owner"] = "example-org"
    deployment = load_config(cfg)
    failed = [Finding(Check.DRIFT_POLICY, Severity.ERROR, "differs")]
    assert serving_worker(deployment, "dev", "absent.example", failed) is None
    assert serving_worker(deployment, "dev", "p.example", failed) is None
    assert serving_worker(deployment, "dev", "w.example", [Finding(Check.POLICY, Severity.INFO, "x")]) is None
    none = serving_worker(deployment, "dev", "n.example", failed)
    assert none is not None and none.reason.endswith("but routing: none routes nothing to it")
