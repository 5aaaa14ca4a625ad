"""The live gate: a resource hook on the `_mta-sts` record alone, waiting for the policy to be served."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pulumi
import pytest

from components.live_gate import FIRST_PAGES_HOOK_NAME, HOOK_NAME, LiveGateError, gate_function, sts_target
from mtasts.model.rollout import LiveGate
from mtasts.rfc.policy import policy_id
from tests.conftest import ACCOUNT
from tests.policy_host import PolicyHost
from tests.program_mocks import ProgramRun, run_program, run_stack
from tests.servers import Lab

RECORD = "cloudflare:index/dnsRecord:DnsRecord"


def hooked(run: ProgramRun) -> dict[str, dict[str, tuple[str, ...]]]:
    """Resource name → its hook bindings, for every resource that has any."""
    return {r.name: dict(r.options.hooks) for r in run.resources if r.options.hooks}


def test_the_hook_is_bound_to_every_mta_sts_record_and_nothing_else() -> None:
    """Under mocks (dev stack, both hostings): before_create and before_update on `<d>-sts` only."""
    run = run_stack("dev")
    assert run.error is None
    sts = {r.name for r in run.of_type(RECORD) if str(r.inputs["name"]).startswith("_mta-sts.")}
    assert sts == {
        f"{d}-sts"
        for d in (
            "example.com",
            "dev.example.com",
            "example.org",
            "enforce.example.net",
            "retired.example.net",
            "example.net",
        )
    }
    binding = {"before_create": (HOOK_NAME,), "before_update": (HOOK_NAME,)}
    # A Pages domain's first TXT waits longer: GitHub issues the certificate first (docs/provider.md).
    first_pages = {"before_create": (FIRST_PAGES_HOOK_NAME,), "before_update": (HOOK_NAME,)}
    assert hooked(run) == {name: first_pages if name == "example.net-sts" else binding for name in sts}
    # Both hostings: example.net is on GitHub Pages, example.com on the Worker.
    assert run.by_name("example.net-policy-host").inputs["type"] == "CNAME"
    assert run.by_name("example.com-policy-host").inputs["type"] == "AAAA"


def test_the_hook_never_runs_in_preview() -> None:
    """Each hook is registered once, with on_dry_run false: `pulumi preview` never waits."""
    run = run_stack("dev")
    assert sorted(run.hooks) == sorted([HOOK_NAME, FIRST_PAGES_HOOK_NAME])
    for name in (HOOK_NAME, FIRST_PAGES_HOOK_NAME):
        assert run.hooks[name].on_dry_run is False
        assert run.hooks[name].ignore_errors is False


def test_custom_domain_routing_is_gated_and_external_dns_has_no_hook() -> None:
    """A Workers custom domain's `_mta-sts` is gated; a stack of dns: external domains registers no hook."""
    run = run_program(
        {
            "mta-sts:cloudflareAccountId": ACCOUNT,
            "mta-sts:defaults": {"mx": ["mx.example.com"]},
            "mta-sts:domains": {"cd.example": {"routing": "custom-domain"}},
        }
    )
    assert run.error is None
    assert list(hooked(run)) == ["cd.example-sts"]
    run = run_program(
        {
            "mta-sts:cloudflareAccountId": ACCOUNT,
            "mta-sts:defaults": {"mx": ["mx.example.com"], "dns": "external", "routing": "custom-domain"},
            "mta-sts:domains": {"ext.example": {}},
        }
    )
    assert run.error is None and hooked(run) == {} and run.hooks == {}


def test_live_gate_settings_come_from_config() -> None:
    """mta-sts:liveGate is validated by the loader: a bad value fails before any resource."""
    run = run_program(
        {
            "mta-sts:cloudflareAccountId": ACCOUNT,
            "mta-sts:liveGate": {"timeout": -1},
            "mta-sts:domains": {"a.example": {"mx": ["mx.example.com"]}},
        }
    )
    assert run.error is not None and "liveGate.timeout: must be between 1 and 86400" in str(run.error)
    assert run.resources == []


def test_the_target_is_read_from_the_new_inputs() -> None:
    """Domain and id come from the record's name and its quoted or unquoted content."""
    assert sts_target({"name": "_mta-sts.Example.COM.", "content": '"v=STSv1; id=abc123"'}) == (
        "example.com",
        "abc123",
    )
    assert sts_target({"name": "_mta-sts.example.com", "content": "v=STSv1; id=x1"}) == ("example.com", "x1")
    with pytest.raises(LiveGateError, match="not _mta-sts"):
        sts_target({"name": "_smtp._tls.example.com", "content": '"v=TLSRPTv1; rua=mailto:a@b.c"'})
    with pytest.raises(LiveGateError, match="not a v=STSv1 record"):
        sts_target({"name": "_mta-sts.example.com", "content": '"v=STSv1"'})


# --------------------------------------------------------------------------- against real servers

DOMAIN = "gate.live.test"
INTERVAL = 0.3


@pytest.fixture
def host(tmp_path: Path, lab: Lab) -> Iterator[PolicyHost]:
    with PolicyHost(tmp_path, {DOMAIN: {"mode": "enforce", "maxAge": 604800}}, lab=lab) as server:
        yield server


def hook_args(host: PolicyHost, kind: str = "create") -> pulumi.ResourceHookArgs:
    """What the engine hands the hook before it creates (or updates) `<d>-sts`."""
    record = next(r for r in host.stack.domain(DOMAIN).records if r.role == "sts")
    new = {"name": record.name, "type": "TXT", "content": record.content, "ttl": 300}
    old = {**new, "content": '"v=STSv1; id=old1"'} if kind == "update" else None
    return pulumi.ResourceHookArgs(
        urn=f"urn:pulumi:t::mta-sts::cloudflare:index/dnsRecord:DnsRecord::{DOMAIN}-sts",
        id="" if kind == "create" else "rec1",
        name=f"{DOMAIN}-sts",
        type=RECORD,
        new_inputs=new,
        old_inputs=old,
        old_outputs=old,
    )


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_the_gate_fails_when_the_new_policy_never_comes(host: PolicyHost) -> None:
    """Old bytes until the timeout: the hook raises, naming the id served, and the TXT is left alone."""
    old = host.serve_old(DOMAIN)
    gate = gate_function(LiveGate(timeout=1.5, interval=INTERVAL), host.options())
    started = time.monotonic()
    with pytest.raises(LiveGateError) as raised:
        asyncio.run(gate(hook_args(host, "update")))
    assert 1.5 <= time.monotonic() - started < 6
    message = str(raised.value)
    assert f"serves id {policy_id(old)}" in message
    assert f"expected id {host.stack.domain(DOMAIN).policy_id}" in message
    assert f"_mta-sts.{DOMAIN} is left as it was" in message


@pytest.mark.integration
@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["create", "update"])
def test_the_gate_opens_after_steady_looks_after_the_switch(host: PolicyHost, kind: str) -> None:
    """Not before the switch; after it, once 3 looks in a row over at least a second saw the new bytes."""
    host.serve_old(DOMAIN)
    gate = gate_function(LiveGate(timeout=30, interval=INTERVAL, rounds=3, span=1.0), host.options())
    state: dict[str, float | int] = {}

    def switch() -> None:
        deadline = time.monotonic() + 20
        while host.https.requests < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        state["looks"] = host.https.requests
        state["open_before_switch"] = int("done" in state)
        host.serve_new(DOMAIN)
        state["switched"] = time.monotonic()

    switcher = threading.Thread(target=switch)
    switcher.start()
    asyncio.run(gate(hook_args(host, kind)))
    state["done"] = time.monotonic()
    switcher.join()
    assert state["open_before_switch"] == 0
    assert state["looks"] >= 3  # it looked (and kept waiting) several times before the switch
    assert 3 <= host.https.requests - int(state["looks"]) <= 3 + 2
    assert 1.0 <= float(state["done"]) - float(state["switched"]) < 1.0 + 2 * INTERVAL + 1.5


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_the_gate_stays_shut_for_a_flapping_host(host: PolicyHost) -> None:
    """A host alternating new and old bytes never gives 3 good looks in a row: the hook raises."""
    new = host.stack.domain(DOMAIN).policy_text.encode()
    old = host.serve_old(DOMAIN)
    host.serve(DOMAIN, b"", bodies=(new, old))
    gate = gate_function(LiveGate(timeout=6, interval=0.2, rounds=3, span=1.0), host.options())
    with pytest.raises(LiveGateError) as raised:
        asyncio.run(gate(hook_args(host, "update")))
    assert host.https.requests >= 4  # it saw the new bytes twice at least, never three times in a row
    assert "not served steadily" in str(raised.value)


def engine_request(name: str, content: str) -> bytes:
    """A ``ResourceHookRequest`` as the engine sends it before creating a DnsRecord."""
    from google.protobuf import struct_pb2
    from pulumi.runtime.proto import resource_pb2

    inputs = struct_pb2.Struct()
    inputs.update({"name": name, "type": "TXT", "content": content, "ttl": 300})
    request = resource_pb2.ResourceHookRequest(
        urn=f"urn:pulumi:t::mta-sts::cloudflare:index/dnsRecord:DnsRecord::{name}", name=name, type=RECORD,
        new_inputs=inputs,
    )  # fmt: skip
    return request.SerializeToString()


def test_the_registered_callback_refuses_a_record_that_is_not_mta_sts() -> None:
    """The callback the engine invokes is the gate: it reads the inputs and names a wrong binding."""
    run = run_stack("dev")
    callback = run.hooks[HOOK_NAME].callback
    assert callback is not None
    response = asyncio.new_event_loop().run_until_complete(
        callback(engine_request("_smtp._tls.example.com", '"v=TLSRPTv1; rua=mailto:a@example.com"'))
    )
    assert response.error == "the live gate is bound to _smtp._tls.example.com, not _mta-sts.<domain>"


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_the_program_hook_waits_through_the_engine_path(
    host: PolicyHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The program's registered hook, invoked as the engine invokes it: fails on old bytes, passes on new."""
    import components.live_gate

    local = host.options()
    monkeypatch.setattr(components.live_gate, "ProbeOptions", lambda: local)
    run = run_program(
        {
            "mta-sts:cloudflareAccountId": ACCOUNT,
            "mta-sts:liveGate": {"timeout": 3, "interval": INTERVAL, "rounds": 2, "span": 0.5},
            "mta-sts:domains": {DOMAIN: {"mode": "enforce", "maxAge": 604800, "mx": ["*.mx.live.test"]}},
        }
    )
    assert run.error is None
    record = run.by_name(f"{DOMAIN}-sts")
    assert record.inputs["content"] == f'"v=STSv1; id={host.stack.domain(DOMAIN).policy_id}"'
    callback = run.hooks[HOOK_NAME].callback
    assert callback is not None
    request = engine_request(str(record.inputs["name"]), str(record.inputs["content"]))
    loop = asyncio.new_event_loop()
    old = host.serve_old(DOMAIN)
    response = loop.run_until_complete(callback(request))
    assert f"serves id {policy_id(old)}" in response.error
    host.serve_new(DOMAIN)
    assert loop.run_until_complete(callback(request)).error == ""
    loop.close()
