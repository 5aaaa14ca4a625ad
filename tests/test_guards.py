"""Create guards: no ``_mta-sts`` TXT beside a hand-made ``v=STSv1`` record, no route beside a
hand-made route of the same pattern; against a fake Cloudflare API and Knot DNS, and through the
program's registered hooks under mocks, as the engine invokes them before a first ``up``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pulumi
import pytest

from components.dns import COMMENT
from components.guards import (
    ROUTE_GUARD,
    STS_GUARD,
    ForeignResourceError,
    route_guard_function,
    sts_guard_function,
)
from components.live_gate import HOOK_NAME
from mtasts.probes.options import ProbeOptions
from tests.conftest import ACCOUNT
from tests.fake_cloudflare import FakeCloudflare
from tests.program_mocks import mock_zone_id, run_program
from tests.servers import KnotDns, SilentDns, zone_text

TOKEN = "guard-token"
DOMAIN = "guard.test"
NAME = f"_mta-sts.{DOMAIN}"
RECORD = "cloudflare:index/dnsRecord:DnsRecord"
ROUTE = "cloudflare:index/workersRoute:WorkersRoute"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCloudflare]:
    with FakeCloudflare(TOKEN) as fake:
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", fake.base_url)
        fake.zone(DOMAIN, mock_zone_id(DOMAIN))
        yield fake


def sts_args(zone_id: str = mock_zone_id(DOMAIN)) -> pulumi.ResourceHookArgs:
    inputs = {
        "name": NAME,
        "type": "TXT",
        "zoneId": zone_id,
        "content": '"v=STSv1; id=abc"',
        "comment": COMMENT,
    }
    return pulumi.ResourceHookArgs(urn="urn:x", id="", name=f"{DOMAIN}-sts", type=RECORD, new_inputs=inputs)


def route_args() -> pulumi.ResourceHookArgs:
    inputs = {"pattern": f"mta-sts.{DOMAIN}/*", "zoneId": mock_zone_id(DOMAIN), "script": "mta-sts-t"}
    return pulumi.ResourceHookArgs(urn="urn:y", id="", name="route", type=ROUTE, new_inputs=inputs)


def guard_sts(options: ProbeOptions | None = None) -> None:
    asyncio.run(sts_guard_function("t", COMMENT, options)(sts_args()))  # type: ignore[arg-type]


def test_a_hand_made_record_in_the_zone_is_refused_by_name(api: FakeCloudflare) -> None:
    """A v=STSv1 TXT without our comment: refused, naming its id, its content and mtasts adopt."""
    foreign = api.zone(DOMAIN).record(NAME, "TXT", '"v=STSv1; id=hand1"')
    api.zone(DOMAIN).record(NAME, "TXT", '"google-site-verification=x"')
    with pytest.raises(ForeignResourceError) as raised:
        guard_sts()
    message = str(raised.value)
    assert f'record {foreign["id"]} "v=STSv1; id=hand1"' in message
    assert "mtasts adopt --stack t --import-file adopt.json" in message
    assert "RFC 8461 §3.1" in message and "google" not in message


def test_our_own_record_or_none_passes(api: FakeCloudflare) -> None:
    """A record with the program's comment (a delete-first replacement), or no v=STSv1 record: no refusal."""
    guard_sts()
    api.zone(DOMAIN).record(NAME, "TXT", '"v=STSv1; id=ours"', comment=COMMENT)
    guard_sts()


def test_an_api_failure_refuses(api: FakeCloudflare) -> None:
    """The API answers 500: "cannot tell" is a refusal, never a pass."""
    api.fail["/zones/"] = 500
    with pytest.raises(ForeignResourceError, match="cannot tell whether a hand-made v=STSv1 record is there"):
        guard_sts()


@pytest.mark.integration
def test_without_a_token_dns_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """No token: a v=STSv1 TXT in DNS is refused, another TXT is not, a silent server refuses."""
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    zone = zone_text(
        "guard.test", [("_mta-sts", "TXT", '"v=STSv1; id=dns1"'), ("_mta-sts.other", "TXT", '"x=y"')]
    )
    with KnotDns({"guard.test": zone}) as knot:
        options = ProbeOptions(nameserver=(knot.host, knot.port), timeout=2)
        with pytest.raises(ForeignResourceError, match=r"'v=STSv1; id=dns1' \(in DNS\)"):
            guard_sts(options)
        args = sts_args()
        assert args.new_inputs is not None
        other = pulumi.ResourceHookArgs(
            urn="u",
            id="",
            name="o",
            type=RECORD,
            new_inputs={**args.new_inputs, "name": "_mta-sts.other.guard.test"},
        )
        asyncio.run(sts_guard_function("t", COMMENT, options)(other))  # type: ignore[arg-type]
    with SilentDns() as silent:
        options = ProbeOptions(nameserver=(silent.host, silent.port), timeout=0.5)
        with pytest.raises(ForeignResourceError, match="cannot tell .* no DNS answer within 0.5 s"):
            guard_sts(options)


def test_a_hand_made_route_is_refused(api: FakeCloudflare) -> None:
    """A route with our pattern, to another script: refused with its id and script; none: passes."""
    asyncio.run(route_guard_function("t")(route_args()))  # type: ignore[arg-type]
    route = api.zone(DOMAIN).route(f"MTA-STS.{DOMAIN}/*", "mta-sts")
    with pytest.raises(ForeignResourceError) as raised:
        asyncio.run(route_guard_function("t")(route_args()))  # type: ignore[arg-type]
    assert f"id {route['id']}, Worker mta-sts" in str(raised.value)


def test_without_a_token_the_route_guard_warns_and_lets_cloudflare_refuse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Routes are only visible through the API: with no token the guard cannot look, says so and
    why that is safe (one pattern routes to one Worker), and does not stop the create."""
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    said: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *args, **kwargs: said.append(message))
    asyncio.run(route_guard_function("t")(route_args()))  # type: ignore[arg-type]
    assert len(said) == 1 and "was not looked for" in said[0]
    assert "Cloudflare refuses ours (one Worker per pattern) and it keeps serving" in said[0]


def stack() -> dict[str, object]:
    return {
        "mta-sts:cloudflareAccountId": ACCOUNT,
        "mta-sts:domains": {DOMAIN: {"mode": "enforce", "mx": ["mx.guard.test"]}},
    }


def test_the_guards_are_bound_before_the_live_gate_and_on_routes() -> None:
    """`<d>-sts`: guard then gate on create, gate on update; routes: their guard; both in preview."""
    run = run_program(stack())
    assert run.error is None
    assert dict(run.by_name(f"{DOMAIN}-sts").options.hooks) == {
        "before_create": (STS_GUARD, HOOK_NAME),
        "before_update": (HOOK_NAME,),
    }
    assert dict(run.by_name(f"cloudflare-worker-{DOMAIN}-route").options.hooks) == {
        "before_create": (ROUTE_GUARD,)
    }
    assert run.hooks[STS_GUARD].on_dry_run is True and run.hooks[ROUTE_GUARD].on_dry_run is True


def engine_request(inputs: dict[str, object], name: str, type_: str) -> bytes:
    """A ``ResourceHookRequest`` as the engine sends it before creating a resource."""
    from google.protobuf import struct_pb2
    from pulumi.runtime.proto import resource_pb2

    struct = struct_pb2.Struct()
    struct.update(inputs)
    request = resource_pb2.ResourceHookRequest(urn=f"urn:pulumi:t::mta-sts::{type_}::{name}", name=name,
                                               type=type_, new_inputs=struct)  # fmt: skip
    return request.SerializeToString()


def test_a_first_up_beside_a_foreign_record_is_refused_through_the_engine_path(api: FakeCloudflare) -> None:
    """The registered callbacks, fed the inputs the mocks saw: refused beside a hand-made record and route."""
    api.zone(DOMAIN).record(NAME, "TXT", '"v=STSv1; id=20190429T010101"')
    api.zone(DOMAIN).route(f"mta-sts.{DOMAIN}/*", "mta-sts")
    run = run_program(stack())
    assert run.error is None
    loop = asyncio.new_event_loop()
    try:
        record = run.by_name(f"{DOMAIN}-sts")
        callback = run.hooks[STS_GUARD].callback
        assert callback is not None
        response = loop.run_until_complete(callback(engine_request(dict(record.inputs), record.name, RECORD)))
        assert "a v=STSv1 TXT record the stack does not manage is live" in response.error
        assert "v=STSv1; id=20190429T010101" in response.error
        route = run.by_name(f"cloudflare-worker-{DOMAIN}-route")
        callback = run.hooks[ROUTE_GUARD].callback
        assert callback is not None
        response = loop.run_until_complete(callback(engine_request(dict(route.inputs), route.name, ROUTE)))
        assert f"route mta-sts.{DOMAIN}/*: a route the stack does not manage is live" in response.error
    finally:
        loop.close()
