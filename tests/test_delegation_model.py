"""Customer domains in the model: config rules, both sides' records, sharing, cost, plan, leaving."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mtasts.commands import cli
from mtasts.commands.plan import plan_json, plan_text
from mtasts.commands.review import review
from mtasts.model.config import ConfigError, Deployment, load_config
from mtasts.model.delegation import customer_label
from mtasts.model.findings import Severity
from mtasts.model.vocabulary import Dns, Hosting
from tests.conftest import ROOT

ACCOUNT = "0123456789abcdef0123456789abcdef"
ZONE = "mtasts.provider.example"
DEFAULTS = {
    "hosting": "delegated",
    "mode": "enforce",
    "mx": ["mx.provider.example"],
    "tlsrpt": ["mailto:r@provider.example"],
}


def config(domains: dict[str, Any], delegation: Any = None, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "mta-sts:cloudflareAccountId": ACCOUNT,
        "mta-sts:defaults": DEFAULTS,
        "mta-sts:domains": domains,
        **extra,
    }
    if delegation is not False:
        base["mta-sts:delegation"] = delegation if delegation is not None else {"zone": ZONE}
    return base


def load(domains: dict[str, Any], delegation: Any = None, **extra: Any) -> Deployment:
    return load_config(config(domains, delegation, **extra))


def label(name: str) -> str:
    """The label as docs/delegation.md specifies it: dots to '-', then '-' and 8 hex of SHA-256."""
    return f"{name.replace('.', '-')}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("domains", "delegation", "key", "words"),
    [
        (
            {"a.example": {}},
            False,
            "delegation.zone",
            "is required because a.example uses hosting: delegated",
        ),
        (
            {"a.example": {"zone": "a.example"}},
            None,
            "domains.a.example.zone",
            "does not apply to hosting: delegated",
        ),
        ({"a.example": {"zoneId": ACCOUNT}}, None, "domains.a.example.zoneId", "does not apply"),
        ({"a.example": {"routing": "route"}}, None, "domains.a.example.routing", "does not apply"),
        ({"a.example": {"dns": "cloudflare"}}, None, "domains.a.example.dns", "dns must be external"),
        ({"a.example": {}}, {"zone": ZONE, "zoneid": ACCOUNT}, "delegation.zoneid", "unknown key"),
        ({"a.example": {}}, {"zoneId": ACCOUNT}, "delegation.zone", "is required"),
        (
            {"a.example": {}},
            {"zone": ZONE, "target": "fallback.elsewhere.example"},
            "delegation.target",
            "inside the zone",
        ),
        (
            {"a.example": {}},
            {"zone": ZONE, "certificateAuthority": "digicert"},
            "delegation.certificateAuthority",
            "one of google",
        ),
        ({"a.example": {}}, {"zone": ZONE, "zoneId": "ABC"}, "delegation.zoneId", "32 lower-case hex"),
        ({"a.example": {}}, "not json", "delegation", "not JSON"),
    ],
)
def test_bad_delegation_config_names_the_key(
    domains: dict[str, Any], delegation: Any, key: str, words: str
) -> None:
    """Every broken rule is one ConfigError naming the dotted key and the rule."""
    with pytest.raises(ConfigError) as raised:
        load(domains, delegation)
    assert raised.value.key == key
    assert words in raised.value.rule


def test_delegated_needs_the_account() -> None:
    """The custom hostnames and their Worker live in an account: cloudflareAccountId is required."""
    raw = config({"a.example": {}})
    del raw["mta-sts:cloudflareAccountId"]
    with pytest.raises(ConfigError, match="cloudflareAccountId"):
        load_config(raw)


def test_a_customer_domain_is_external_dns_and_no_zone_of_ours() -> None:
    """hosting delegated: dns external (inherited cloudflare is overridden), no zone, settings attached."""
    deployment = load({"a.example": {}, "b.example": {"dns": "external"}})
    for domain in deployment.domains:
        assert domain.hosting is Hosting.DELEGATED and domain.dns is Dns.EXTERNAL
        assert not domain.managed_dns and domain.zone is None
        assert domain.delegation is not None and domain.delegation.zone == ZONE
    assert deployment.worker_domains == () and len(deployment.delegated_domains) == 2


def test_zone_ids_give_the_delegation_zone_its_id() -> None:
    """mta-sts:zoneIds holding the delegation zone fills its zoneId, so no run looks it up."""
    deployment = load({"a.example": {}}, **{"mta-sts:zoneIds": {ZONE: ACCOUNT}})
    assert deployment.delegation is not None and deployment.delegation.zone_id == ACCOUNT


# --------------------------------------------------------------------------- records


def test_customer_records_are_absolute_cnames() -> None:
    """The customer creates mta-sts, _mta-sts and _smtp._tls CNAMEs, absolute, to names in our zone."""
    domain = load({"shop.example": {}}).domain("shop.example")
    assert [r.zone_line() for r in domain.records] == [
        f"mta-sts.shop.example.\t300\tIN\tCNAME\tmta-sts-fallback.{ZONE}.",
        f"_mta-sts.shop.example.\t300\tIN\tCNAME\t{label('shop.example')}._mta-sts.{ZONE}.",
        f"_smtp._tls.shop.example.\t300\tIN\tCNAME\t{label('shop.example')}._smtp._tls.{ZONE}.",
    ]


def test_no_tlsrpt_cname_without_reports_and_the_target_is_configurable() -> None:
    """A customer without TLS-RPT URIs has two CNAMEs; target names the CNAME target and fallback origin."""
    deployment = load({"quiet.example": {"tlsrpt": []}}, {"zone": ZONE, "target": f"customers.{ZONE}"})
    records = deployment.domain("quiet.example").records
    assert [(r.name, r.content) for r in records] == [
        ("mta-sts.quiet.example", f"customers.{ZONE}."),
        ("_mta-sts.quiet.example", f"{label('quiet.example')}._mta-sts.{ZONE}."),
    ]
    assert deployment.operator_records[0].record.zone_line() == f"customers.{ZONE}.\t300\tIN\tAAAA\t100::"


def test_labels_are_one_dns_label_from_the_name_alone() -> None:
    """A label has no dot and at most 63 characters, even for the longest names; alike names differ."""
    long = ".".join(["a" * 63, "b" * 63, "c" * 63, "example"])
    for name in ("a-b.example", "a.b-example", long):
        found = customer_label(name)
        assert "." not in found and len(found) <= 63
    assert customer_label("a-b.example") != customer_label("a.b-example")
    assert customer_label("shop.example") == label("shop.example")


def test_customers_on_one_policy_share_the_wildcard_and_others_get_their_own() -> None:
    """One wildcard per record kind carries the most common value; only the others get a record."""
    deployment = load(
        {
            "a.example": {},
            "b.example": {},
            "c.example": {"mode": "testing"},
            "d.example": {"tlsrpt": ["mailto:d@d.example"]},
            "e.example": {"tlsrpt": []},
        }
    )
    common = deployment.domain("a.example")
    testing = deployment.domain("c.example")
    found = {(r.record.name, r.record.content): r.customers for r in deployment.operator_records}
    assert found == {
        (f"mta-sts-fallback.{ZONE}", "100::"): (
            "a.example",
            "b.example",
            "c.example",
            "d.example",
            "e.example",
        ),
        (f"*._mta-sts.{ZONE}", f'"v=STSv1; id={common.policy_id}"'): (
            "a.example",
            "b.example",
            "d.example",
            "e.example",
        ),
        (f"{label('c.example')}._mta-sts.{ZONE}", f'"v=STSv1; id={testing.policy_id}"'): ("c.example",),
        (f"*._smtp._tls.{ZONE}", '"v=TLSRPTv1; rua=mailto:r@provider.example"'): (
            "a.example",
            "b.example",
            "c.example",
        ),
        (f"{label('d.example')}._smtp._tls.{ZONE}", '"v=TLSRPTv1; rua=mailto:d@d.example"'): ("d.example",),
    }
    assert [r.key for r in deployment.operator_records] == [
        "delegation-fallback",
        "delegation-sts",
        "c.example-sts",
        "delegation-tlsrpt",
        "d.example-tlsrpt",
    ]


def test_customers_on_the_wildcard_are_those_whose_old_own_record_the_leave_gate_holds() -> None:
    """wildcard_readers: the own-record name of each customer now on the wildcard, and no other."""
    from mtasts.model.delegation import wildcard_readers

    deployment = load({"a.example": {}, "b.example": {}, "c.example": {"mode": "testing"}})
    assert deployment.delegation is not None
    assert wildcard_readers(deployment.delegation, deployment.operator_records) == {
        f"{label('a.example')}._mta-sts.{ZONE}": "a.example",
        f"{label('b.example')}._mta-sts.{ZONE}": "b.example",
    }
    assert wildcard_readers(deployment.delegation, ()) == {}


@pytest.mark.parametrize(
    ("domains", "key", "words"),
    [
        (
            {"shop.mtasts.provider.example": {}},
            "domains.shop.mtasts.provider.example",
            "inside the delegation zone",
        ),
        ({ZONE: {}}, f"domains.{ZONE}", "inside the delegation zone"),
        (
            {"a.example": {}, ZONE: {"hosting": "cloudflare-worker"}},
            "delegation.zone",
            f"is also the zone of {ZONE} (cloudflare-worker): the customers' */* Worker route",
        ),
        (
            {"a.example": {}, "www.mtasts.provider.example": {"hosting": "cloudflare-worker", "zone": ZONE}},
            "delegation.zone",
            "use a zone of its own",
        ),
        (
            {"a.example": {"reports": "builtin"}},
            "reports.zone",
            f"would take the receiver's tlsrpt.{ZONE} from its Workers custom domain",
        ),
        (
            {"Shop.Example": {}, "shop.example": {"hosting": "cloudflare-worker"}},
            "domains.shop.example",
            "is declared twice",
        ),
    ],
)
def test_the_delegation_zone_is_the_customers_alone(domains: dict[str, Any], key: str, words: str) -> None:
    """A customer inside the delegation zone, a domain of ours or the receiver in it (the */* route
    would take all of the zone's traffic), or a customer that is also a domain of ours, is refused
    naming the key."""
    receiver = {"mta-sts:reports": {"host": f"tlsrpt.{ZONE}"}}
    with pytest.raises(ConfigError) as caught:
        load(domains, **receiver)
    assert caught.value.key == key
    assert words in str(caught.value)


def test_record_count_does_not_grow_with_customers_on_the_common_policy() -> None:
    """1,000 customers on one policy cost 3 records in the zone, within the Free plan's 200."""
    deployment = load({f"c{i}.example": {} for i in range(1000)})
    assert len(deployment.operator_records) == 3


def test_over_the_zone_record_quota_fails_naming_the_limit() -> None:
    """More records than the zone's plan allows: one error naming dnsRecordsPerZone and the zone."""
    domains = {f"c{i}.example": {"maxAge": 86400 + i} for i in range(199)}
    with pytest.raises(ConfigError) as raised:
        load(domains)
    assert "dnsRecordsPerZone" in str(raised.value) and ZONE in str(raised.value)
    load(domains, **{"mta-sts:zonePlans": {ZONE: "pro"}})  # 3,500 on Pro


# --------------------------------------------------------------------------- plan: cost and customer records


def test_plan_counts_custom_hostnames_and_the_month_beyond_the_included() -> None:
    """150 customers: 50 beyond the 100 included, $5.00 a month; plan --json and text say so."""
    deployment = load({f"c{i:03}.example": {} for i in range(150)})
    summary = plan_json("t", deployment)["delegation"]
    assert summary["customHostnames"] == 150 and summary["includedCustomHostnames"] == 100
    assert summary["monthlyCostUsd"] == "5.00"
    assert summary["records"] == 3 and summary["recordQuota"] == 200
    text = plan_text("t", deployment)
    assert "150 custom hostname(s), 100 included: $5.00 a month beyond them ($0.10 each)" in text
    assert "3 of 200 DNS records in the zone" in text


def test_an_included_number_from_the_limits_table() -> None:
    """mta-sts:limits.customHostnamesIncluded changes what is billed."""
    deployment = load(
        {f"c{i}.example": {} for i in range(10)}, **{"mta-sts:limits": {"customHostnamesIncluded": 4}}
    )
    assert plan_json("t", deployment)["delegation"]["monthlyCostUsd"] == "0.60"


def test_plan_prints_each_customers_records(
    write_stack: Any, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """plan text lists per customer the lines it creates; plan --json has them per domain and ours apart."""
    write_stack(
        yaml.safe_dump(
            {"config": config({"shop.example": {}, "own.example": {"hosting": "cloudflare-worker"}})}
        )
    )
    assert cli.main(["--project-dir", str(project), "plan", "--stack", "t"]) == 0
    text = capsys.readouterr().out
    assert "customer records (the customer creates these once; custom hostname mta-sts.shop.example):" in text
    assert f"  _mta-sts.shop.example.\t300\tIN\tCNAME\t{label('shop.example')}._mta-sts.{ZONE}." in text
    assert f"== delegation zone {ZONE}: 1 custom hostname(s)" in text
    assert "records (created by pulumi up):" in text  # own.example, as before
    assert cli.main(["--project-dir", str(project), "plan", "--stack", "t", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    shop = plan["domains"]["shop.example"]
    assert shop["hosting"] == "delegated" and shop["dns"] == "external"
    assert shop["delegation"]["customHostname"] == "mta-sts.shop.example"
    assert (
        shop["delegation"]["customerRecords"][0]
        == f"mta-sts.shop.example.\t300\tIN\tCNAME\tmta-sts-fallback.{ZONE}."
    )
    assert [r["name"] for r in shop["delegation"]["operatorRecords"]] == [
        f"*._mta-sts.{ZONE}",
        f"*._smtp._tls.{ZONE}",
    ]
    assert "delegation" not in plan["domains"]["own.example"]
    assert plan["delegation"]["zone"] == ZONE


# --------------------------------------------------------------------------- leaving (RFC 8461 §8.3)


def git(path: Path, *args: str, when: datetime.datetime | None = None) -> str:
    env = dict(os.environ)
    if when is not None:
        env["GIT_COMMITTER_DATE"] = env["GIT_AUTHOR_DATE"] = when.isoformat()
    return subprocess.run(
        ["git", *args], cwd=path, env=env, capture_output=True, text=True, check=True
    ).stdout


def commit(path: Path, domains: dict[str, Any], when: datetime.datetime) -> None:
    (path / "Pulumi.t.yaml").write_text(yaml.safe_dump({"config": config(domains)}), encoding="utf-8")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "stack", when=when)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "ops@example.com")
    git(tmp_path, "config", "user.name", "ops")
    return tmp_path


def removal(repo: Path, now: datetime.datetime) -> list[tuple[Severity, str]]:
    result = review(repo, "t", "HEAD", now=now)
    return [(f.severity, f.reason) for f in result.findings if f.key == "domains.gone.example"]


def test_plan_base_refuses_removing_a_customer_before_the_none_period(repo: Path) -> None:
    """A customer removed while enforce, or in none for less than the old max_age, is refused."""
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    day = datetime.timedelta(days=1)
    commit(repo, {"stay.example": {}, "gone.example": {}}, now - 30 * day)
    (repo / "Pulumi.t.yaml").write_text(
        yaml.safe_dump({"config": config({"stay.example": {}})}), encoding="utf-8"
    )
    [(severity, reason)] = removal(repo, now)
    assert severity is Severity.ERROR and "removed while in mode enforce" in reason
    since = now - 2 * day
    retiring = {"mode": "none", "mx": [], "noneSince": since.strftime("%Y-%m-%dT%H:%M:%SZ")}
    commit(repo, {"stay.example": {}, "gone.example": retiring}, since)
    (repo / "Pulumi.t.yaml").write_text(
        yaml.safe_dump({"config": config({"stay.example": {}})}), encoding="utf-8"
    )
    [(severity, reason)] = removal(repo, now)
    assert severity is Severity.ERROR and "removed too early" in reason
    [(severity, reason)] = removal(repo, now + 6 * day)  # the old max_age, 7 days, has passed
    assert severity is Severity.OK and "retired properly" in reason


def test_the_stack_size_counts_each_delegated_resource_once() -> None:
    """The resource count behind the resourcesPerStack warning equals the budget's inventory of
    what the program registers, with customer domains beside Worker-hosted ones."""
    from mtasts.model.budget import inventory
    from mtasts.model.preflight import resource_count

    deployment = load(
        {
            "a.customer.example": {},
            "b.customer.example": {"mode": "testing"},
            "own.example": {"hosting": "cloudflare-worker"},
        }
    )
    assert deployment.delegated_domains and deployment.worker_domains
    assert resource_count(deployment) == len(inventory(deployment, "dev"))
