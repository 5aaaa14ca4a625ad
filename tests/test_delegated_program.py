"""Customer domains under Pulumi's mocks (preview=False): the graph in the delegation zone only."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from mtasts.model.config import load_config
from mtasts.model.delegation import customer_label
from tests.program_mocks import ProgramRun, mock_zone_id, run_program

ACCOUNT = "0123456789abcdef0123456789abcdef"
SAAS_ZONE = "mtasts.provider.example"
DNS = "cloudflare:index/dnsRecord:DnsRecord"
SCRIPT = "cloudflare:index/workersScript:WorkersScript"
ROUTE = "cloudflare:index/workersRoute:WorkersRoute"
CUSTOM_HOSTNAME = "cloudflare:index/customHostname:CustomHostname"
FALLBACK = "cloudflare:index/customHostnameFallbackOrigin:CustomHostnameFallbackOrigin"
GET_ZONE = "cloudflare:index/getZone:getZone"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pulumi_cloudflare.*")

CUSTOMERS = {
    "alpha.customer.example": {},
    "bravo.customer.example": {},
    "charlie.customer.example": {"mode": "testing"},
    "delta.customer.example": {"tlsrpt": []},
    "echo.customer.example": {"tlsrpt": ["mailto:tls@echo.customer.example"]},
}


def config(domains: dict[str, Any] | None = None, **delegation: Any) -> dict[str, Any]:
    return {
        "mta-sts:cloudflareAccountId": ACCOUNT,
        "mta-sts:delegation": {"zone": SAAS_ZONE, **delegation},
        "mta-sts:defaults": {
            "hosting": "delegated",
            "mode": "enforce",
            "mx": ["mx1.provider.example", "mx2.provider.example"],
            "tlsrpt": ["mailto:tlsrpt@provider.example"],
        },
        "mta-sts:domains": domains if domains is not None else CUSTOMERS,
    }


@pytest.fixture(scope="module")
def run() -> ProgramRun:
    found = run_program(config())
    assert found.error is None, repr(found.error)
    return found


def test_custom_hostnames_in_the_saas_zone_with_http_dv(run: ProgramRun) -> None:
    """One custom hostname per customer, mta-sts.<customer>, in the SaaS zone, DV validated over HTTP."""
    hostnames = run.of_type(CUSTOM_HOSTNAME)
    assert sorted(r.inputs["hostname"] for r in hostnames) == sorted(f"mta-sts.{c}" for c in CUSTOMERS)
    for resource in hostnames:
        assert resource.inputs["zoneId"] == mock_zone_id(SAAS_ZONE)
        assert resource.inputs["ssl"] == {"method": "http", "type": "dv"}
    assert run.by_name("alpha.customer.example-custom-hostname").inputs["hostname"] == (
        "mta-sts.alpha.customer.example"
    )


def test_no_resource_and_no_lookup_in_a_customer_zone(run: ProgramRun) -> None:
    """Every zone id is the SaaS zone's, every record is named inside it, no customer zone is looked up."""
    zone_ids = {r.inputs["zoneId"] for r in run.resources if "zoneId" in r.inputs}
    assert zone_ids == {mock_zone_id(SAAS_ZONE)}
    for record in run.of_type(DNS):
        assert record.inputs["name"].endswith("." + SAAS_ZONE), record.inputs["name"]
    looked_up = [c.args["filter"]["name"] for c in run.calls if c.token == GET_ZONE]
    assert looked_up == [SAAS_ZONE]


def test_one_route_one_fallback_origin_one_script(run: ProgramRun) -> None:
    """The fallback-origin pattern: a proxied AAAA 100::, the fallback origin naming it, one */* route."""
    [route] = run.of_type(ROUTE)
    [script] = run.of_type(SCRIPT)
    [fallback] = run.of_type(FALLBACK)
    assert route.inputs["pattern"] == "*/*"
    assert route.inputs["script"] == script.inputs["scriptName"] == "mta-sts-dev-customers"
    target = f"mta-sts-fallback.{SAAS_ZONE}"
    assert fallback.inputs["origin"] == target
    [origin] = [r for r in run.of_type(DNS) if r.inputs["name"] == target]
    assert (origin.inputs["type"], origin.inputs["content"], origin.inputs["proxied"]) == (
        "AAAA",
        "100::",
        True,
    )
    assert origin.urn in fallback.options.depends_on
    for customer in CUSTOMERS:
        assert f'"mta-sts.{customer}"' in script.inputs["content"]


def test_records_are_shared_and_within_the_quota(run: ProgramRun) -> None:
    """Customers on the common policy share one wildcard TXT; only the one off it gets its own."""
    records = {r.inputs["name"]: r for r in run.of_type(DNS)}
    deployment = load_config(config())
    common = deployment.domain("alpha.customer.example")
    testing = deployment.domain("charlie.customer.example")
    assert records[f"*._mta-sts.{SAAS_ZONE}"].inputs["content"] == f'"v=STSv1; id={common.policy_id}"'
    own = f"{customer_label('charlie.customer.example')}._mta-sts.{SAAS_ZONE}"
    assert records[own].inputs["content"] == f'"v=STSv1; id={testing.policy_id}"'
    echo = f"{customer_label('echo.customer.example')}._smtp._tls.{SAAS_ZONE}"
    assert records[echo].inputs["content"] == '"v=TLSRPTv1; rua=mailto:tls@echo.customer.example"'
    assert (
        records[f"*._smtp._tls.{SAAS_ZONE}"].inputs["content"]
        == '"v=TLSRPTv1; rua=mailto:tlsrpt@provider.example"'
    )
    # fallback, two wildcards, one _mta-sts and one _smtp._tls exception: 5 of the Free plan's 200.
    assert len(records) == 5
    for record in records.values():
        assert record.options.delete_before_replace is True


def test_txt_records_wait_for_serving_behind_the_live_gate(run: ProgramRun) -> None:
    """Every _mta-sts TXT waits for the script, the route and the fallback origin, and carries the gate."""
    serving = {r.urn for r in run.of_type(SCRIPT) + run.of_type(ROUTE) + run.of_type(FALLBACK)}
    sts = [r for r in run.of_type(DNS) if "._mta-sts." in r.inputs["name"]]
    assert len(sts) == 2
    for record in sts:
        assert serving <= set(record.options.depends_on)
        assert record.options.hooks["before_create"] == ("mta-sts-delegated-live-gate",)
        assert record.options.hooks["before_update"] == ("mta-sts-delegated-live-gate",)
    assert run.hooks["mta-sts-delegated-live-gate"].on_dry_run is False
    own = run.by_name("charlie.customer.example-sts")
    assert run.by_name("charlie.customer.example-custom-hostname").urn in own.options.depends_on


def test_outputs_hold_the_customer_records(run: ProgramRun) -> None:
    """The stack output per customer holds the CNAMEs it creates, as plan prints them."""
    exported = run.outputs["domains"]["bravo.customer.example"]
    label = customer_label("bravo.customer.example")
    assert exported["hosting"] == "delegated"
    assert [r["content"] for r in exported["records"]] == [
        f"mta-sts-fallback.{SAAS_ZONE}.",
        f"{label}._mta-sts.{SAAS_ZONE}.",
        f"{label}._smtp._tls.{SAAS_ZONE}.",
    ]


def test_zone_id_given_skips_the_lookup_and_a_ca_is_ordered() -> None:
    """With delegation.zoneId no zone is looked up; certificateAuthority reaches every custom hostname."""
    zone_id = "023e105f4ecef8ad9ca31a8372d0c353"
    found = run_program(config({"one.example": {}}, zoneId=zone_id, certificateAuthority="lets_encrypt"))
    assert found.error is None, repr(found.error)
    assert not [c for c in found.calls if c.token == GET_ZONE]
    [hostname] = found.of_type(CUSTOM_HOSTNAME)
    assert hostname.inputs["zoneId"] == zone_id
    assert hostname.inputs["ssl"] == {"method": "http", "type": "dv", "certificateAuthority": "lets_encrypt"}


def test_over_the_record_quota_registers_nothing() -> None:
    """Customers needing more records than the zone's quota fail before any resource, naming the limit."""
    domains = {f"c{i}.example": {"maxAge": 86400 + i} for i in range(4)}
    found = run_program({**config(domains), "mta-sts:limits": {"dnsRecordsPerZone": 4}})
    assert found.error is not None and "dnsRecordsPerZone" in str(found.error)
    assert f"zone {SAAS_ZONE}" in str(found.error)
    assert [r for r in found.resources if r.custom] == []


def test_over_the_custom_hostname_ceiling_registers_nothing() -> None:
    """More customers than customHostnamesPerZone (50,000 unless raised) fail before any resource."""
    found = run_program({**config(), "mta-sts:limits": {"customHostnamesPerZone": 4}})
    assert found.error is not None and "customHostnamesPerZone" in str(found.error)
    assert [r for r in found.resources if r.custom] == []


def test_mixed_stack_keeps_worker_domains_apart() -> None:
    """A Worker-hosted domain beside customers keeps its own route; customers get none of their own."""
    domains = {"own.example": {"hosting": "cloudflare-worker"}, **CUSTOMERS}
    found = run_program(config(domains))
    assert found.error is None, repr(found.error)
    patterns = sorted(r.inputs["pattern"] for r in found.of_type(ROUTE))
    assert patterns == ["*/*", "mta-sts.own.example/*"]
    scripts = sorted(r.inputs["scriptName"] for r in found.of_type(SCRIPT))
    assert scripts == ["mta-sts-dev", "mta-sts-dev-customers"]


def test_the_graph_passes_the_policy_pack(run: ProgramRun) -> None:
    """The policy pack checks the delegation zone's TXT records too, and finds no mandatory violation."""
    from pulumi_policy import EnforcementLevel

    from tests.test_policy_pack import _pack_findings

    findings = _pack_findings(run)
    assert [f for f in findings if f[1] is EnforcementLevel.MANDATORY] == []
    broken = ProgramRun(
        resources=[
            r
            if r.name != "delegation-sts"
            else dataclasses.replace(r, inputs={**r.inputs, "content": '"v=STSv1; id=!"'})
            for r in run.resources
        ]
    )
    assert any(f[0] == "mta-sts-txt-record-valid" for f in _pack_findings(broken))


def test_a_builtin_customers_tlsrpt_record_waits_for_the_receiver() -> None:
    """reports: builtin customers: the _smtp._tls TXT they read waits for the receiver to answer."""
    raw = config({"alpha.customer.example": {"reports": "builtin"}, "bravo.customer.example": {}})
    found = run_program({**raw, "mta-sts:reports": {"host": "tlsrpt.provider.example"}})
    assert found.error is None, repr(found.error)
    receiver = next(r for r in found.of_type(SCRIPT) if r.name.startswith("reports"))
    records = {r.inputs["name"]: r for r in found.of_type(DNS)}
    own = records[f"{customer_label('alpha.customer.example')}._smtp._tls.{SAAS_ZONE}"]
    assert "https://tlsrpt.provider.example/v1/tlsrpt" in own.inputs["content"]
    assert receiver.urn in own.options.depends_on
    shared = records[f"*._smtp._tls.{SAAS_ZONE}"]
    assert receiver.urn not in shared.options.depends_on  # only bravo reads it, not builtin


def test_a_wildcard_changes_only_after_the_customers_leaving_it_read_their_own(run: ProgramRun) -> None:
    """Each wildcard TXT waits for every customer's own TXT of its kind: a customer moved off the
    common policy reads its own (gated) record before the wildcard's id changes under it."""
    records = {r.inputs["name"]: r for r in run.of_type(DNS)}
    for kind in ("_mta-sts", "_smtp._tls"):
        wildcard = records[f"*.{kind}.{SAAS_ZONE}"]
        own = [r for n, r in records.items() if n.endswith(f".{kind}.{SAAS_ZONE}") and not n.startswith("*.")]
        assert own
        for record in own:
            assert record.urn in wildcard.options.depends_on, (kind, record.name)


def test_a_customers_own_sts_record_is_deleted_only_behind_the_leave_gate(run: ProgramRun) -> None:
    """A customer's own _mta-sts TXT carries the leave gate before_delete (the wildcard does not)."""
    own = run.by_name("charlie.customer.example-sts")
    assert own.options.hooks["before_delete"] == ("mta-sts-delegated-leave-gate",)
    assert "before_delete" not in run.by_name("delegation-sts").options.hooks
    assert "before_delete" not in run.by_name("echo.customer.example-tlsrpt").options.hooks
    assert run.hooks["mta-sts-delegated-leave-gate"].on_dry_run is False


def test_the_leave_gate_is_registered_without_customers() -> None:
    """A stack whose last customers left (mta-sts:delegation kept) still registers the leave gate."""
    found = run_program(config({"own.example": {"hosting": "cloudflare-worker"}}))
    assert found.error is None, repr(found.error)
    assert "mta-sts-delegated-leave-gate" in found.hooks
    assert found.of_type(CUSTOM_HOSTNAME) == []
