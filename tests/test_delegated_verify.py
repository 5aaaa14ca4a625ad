"""Customer domains against real servers: Knot for the customers' and the operator's zones, the
customers' Worker in workerd behind TLS, STARTTLS at the MX, and a real sending-side client.

The customers' zones hold the CNAMEs ``plan --json`` prints (as a customer would copy them);
the operator's zone holds the records the program creates (``Deployment.operator_records``) with
the fallback origin answered by 127.0.0.1, as Cloudflare's edge answers a proxied name. Knot
answers a CNAME into another zone with the CNAME alone, so ``ChasingDns`` follows it as a
recursive resolver does.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import shutil
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from mtasts.commands import cli
from mtasts.commands.verify import Report, verify
from mtasts.model.config import Deployment, load_stack
from mtasts.model.findings import Severity
from mtasts.model.policy_worker import worker_script
from mtasts.model.rollout import LiveGate
from mtasts.probes import ProbeOptions
from mtasts.runtime.workerd import run_worker
from tests.conftest import ROOT
from tests.delegation_lab import ChasingDns, FakeCloudflare, hostname
from tests.servers import HttpsServer, KnotDns, Pki, Route, SmtpServer, free_port, zone_text

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(180),
    # postfix-mta-sts-resolver 1.5.1 calls aiodns's query(), which aiodns 4 deprecates.
    pytest.mark.filterwarnings("ignore:query\\(\\) is deprecated:DeprecationWarning"),
]

OPS = "ops.test"
MX_ADDRESS = "127.0.0.2"
TOKEN = "lab-token"
ZONE_ID = "0123456789abcdef0123456789abcdef"
SERVING = ("good.test", "testing.test", "chain.test", "upper.test")
"""Customers with every CNAME in place and a certificate (chain.test through a second zone's
CNAMEs, upper.test with its CNAME targets written in capitals)."""
CUSTOMERS = {
    "good.test": {},
    "testing.test": {"mode": "testing"},
    "chain.test": {},
    "upper.test": {},
    "missing.test": {},
    "elsewhere.test": {},
    "caa.test": {},
    "pending.test": {},
    "thief.test": {},
    "dangling.test": {},
    "sub.caa-parent.test": {},
    "critical.test": {},
}
HOP = "chain-hop.test"
"""A zone chain.test's CNAMEs lead through before they reach the operator's names."""
ZONE_OF = {"sub.caa-parent.test": "caa-parent.test"}
"""Customers whose records live in a parent zone (which holds the CAA that governs them)."""


def stack_yaml() -> dict[str, Any]:
    return {
        "config": {
            "mta-sts:cloudflareAccountId": "0123456789abcdef0123456789abcdef",
            "mta-sts:delegation": {"zone": OPS},
            "mta-sts:defaults": {
                "hosting": "delegated",
                "mode": "enforce",
                "mx": [f"mx.{OPS}"],
                "tlsrpt": [f"mailto:tlsrpt@{OPS}"],
            },
            "mta-sts:domains": CUSTOMERS,
        }
    }


def printed_records(project: Path) -> dict[str, list[str]]:
    """Per customer the zone-file lines ``plan --json`` prints for it to create."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["--project-dir", str(project), "plan", "--stack", "lab", "--json"]) == 0
    plan = json.loads(out.getvalue())
    return {name: d["delegation"]["customerRecords"] for name, d in plan["domains"].items()}


def customer_zones(printed: dict[str, list[str]], stack: Deployment) -> dict[str, str]:
    """Each customer's zone with the lines ``plan --json`` printed pasted in as they are (absolute
    names, tabs), or, for the customers not onboarded right, the records each case needs."""
    records_in: dict[str, list[tuple[str, str, str]]] = {HOP: [], "caa-parent.test": []}
    pasted_in: dict[str, list[str]] = {}
    hop = records_in[HOP]
    records_in["caa-parent.test"].append(("caa-parent.test.", "CAA", '0 issue "digicert.com"'))
    for name, lines in printed.items():
        zone = ZONE_OF.get(name, name)
        records = records_in.setdefault(zone, [])
        records.append((f"{name}.", "MX", f"10 mx.{OPS}."))
        pasted = list(lines)
        if name == "elsewhere.test":
            pasted = []
            records += [
                (f"mta-sts.{name}.", "CNAME", "mta-sts.other-provider.invalid."),
                (f"_mta-sts.{name}.", "CNAME", "x._mta-sts.invalid."),
                (f"_smtp._tls.{name}.", "CNAME", "x._smtp._tls.invalid."),
            ]
        if name == "missing.test":
            pasted = []
        if name == "thief.test":  # its _mta-sts CNAME at another customer's TXT
            stolen = next(
                r.content for r in stack.domain("good.test").records if r.name.startswith("_mta-sts.")
            )
            pasted = [line for line in lines if not line.startswith("_mta-sts.")]
            records.append((f"_mta-sts.{name}.", "CNAME", stolen))
        if name == "dangling.test":  # its _mta-sts CNAME at a name that does not exist
            pasted = [line for line in lines if not line.startswith("_mta-sts.")]
            records.append((f"_mta-sts.{name}.", "CNAME", f"gone._mta-sts.{HOP}."))
        if name == "chain.test":  # every CNAME through a second zone's CNAME
            pasted = []
            for line in lines:
                owner, _, _, _, target = line.split("\t")
                middle = f"{owner.split('.', 1)[0]}.{HOP}."
                records.append((owner, "CNAME", middle))
                hop.append((middle, "CNAME", target))
        if name == "upper.test":
            pasted = ["\t".join([*line.split("\t")[:4], line.split("\t")[4].upper()]) for line in lines]
        if name == "caa.test":
            records.append((f"{name}.", "CAA", '0 issue "digicert.com"'))
        if name == "good.test":
            records.append((f"{name}.", "CAA", '0 issue "letsencrypt.org"'))
        if name == "critical.test":
            records.append((f"{name}.", "CAA", '0 issue "letsencrypt.org"'))
            records.append((f"{name}.", "CAA", '128 tbs "unknown"'))
        pasted_in.setdefault(zone, []).extend(pasted)
    return {
        zone: zone_text(zone, records) + "".join(f"{line}\n" for line in pasted_in.get(zone, []))
        for zone, records in records_in.items()
    }


def operator_zone(stack: Deployment) -> str:
    records: list[tuple[str, str, str]] = [(f"mx.{OPS}.", "A", MX_ADDRESS)]
    for operator in stack.operator_records:
        record = operator.record
        if record.type == "AAAA":  # the proxied fallback origin: Cloudflare's edge answers for it
            records.append((f"{record.name}.", "A", "127.0.0.1"))
        else:
            records.append((f"{record.name}.", record.type, record.content))
    return zone_text(OPS, records)


@dataclass
class Lab:
    project: Path
    stack: Deployment
    pki: Pki
    dns: ChasingDns
    https: HttpsServer
    smtp_port: int
    reports: dict[str, Report]

    def options(self) -> ProbeOptions:
        return ProbeOptions(
            nameserver=(self.dns.host, self.dns.port),
            ca_bundle=str(self.pki.ca_file),
            https_port=self.https.port,
            smtp_port=self.smtp_port,
            timeout=2.0,
        )

    def argv(self, *extra: str) -> list[str]:
        return [
            "--project-dir", str(self.project), "verify", "--stack", "lab", *extra,
            "--nameserver", self.dns.address, "--ca-bundle", str(self.pki.ca_file),
            "--https-port", str(self.https.port), "--smtp-port", str(self.smtp_port), "--timeout", "2",
        ]  # fmt: skip


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("delegation-lab")
    project = tmp / "project"
    project.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    (project / "Pulumi.lab.yaml").write_text(yaml.safe_dump(stack_yaml()), encoding="utf-8")
    stack = load_stack(project, "lab")
    lines = printed_records(project)
    zones = customer_zones(lines, stack)
    zones[OPS] = operator_zone(stack)
    pki = Pki(tmp)
    # Certificates where Cloudflare would have issued one (the CNAMEs in place, CAA allowing), and
    # for the CAA cases, as if issued before the CAA record: CAA alone makes them pending.
    issued = (*SERVING, "caa.test", "sub.caa-parent.test", "critical.test")
    contexts = {f"mta-sts.{name}": pki.context(f"mta-sts.{name}") for name in issued}
    smtp_port = free_port("127.0.0.1", [MX_ADDRESS])
    with (
        KnotDns(zones) as knot,
        ChasingDns((knot.host, knot.port)) as chasing,
        run_worker(worker_script(stack.delegated_domains)) as worker_url,
        HttpsServer(
            contexts,
            pki.context("sni.cloudflaressl.invalid"),
            {f"mta-sts.{name}": Route(proxy=worker_url) for name in CUSTOMERS},
        ) as https,
        SmtpServer(MX_ADDRESS, smtp_port, pki.context(f"mx.{OPS}"), f"mx.{OPS}"),
    ):
        found = Lab(project, stack, pki, chasing, https, smtp_port, {})
        found.reports = {r.domain: r for r in verify(list(CUSTOMERS), found.options(), stack)}
        yield found


def problems(report: Report) -> set[tuple[str, Severity]]:
    return {
        (f.check, f.severity) for f in report.findings if f.severity in (Severity.ERROR, Severity.WARNING)
    }


def onboarding_line(report: Report) -> str:
    [finding] = [f for f in report.findings if f.check == "onboarding"]
    return finding.reason


@pytest.mark.parametrize("name", SERVING)
def test_serving_customers_pass_every_check_through_their_cnames(lab: Lab, name: str) -> None:
    """TXT, policy, MX coverage, STARTTLS, TLS-RPT and drift, all through the customer's CNAMEs."""
    report = lab.reports[name]
    assert problems(report) == set(), report.findings
    assert onboarding_line(report) == "serving through the customer's CNAMEs"
    assert report.mode == lab.stack.domain(name).mode
    for check in ("sts-record", "policy", "mx-coverage", "starttls", "tlsrpt-record", "drift"):
        assert check in report.checks(Severity.OK), (name, check)
    [sts] = [f for f in report.findings if f.check == "sts-record"]
    assert f"id={lab.stack.domain(name).policy_id}" in sts.reason


def test_a_cname_chain_that_reaches_the_operators_names_is_in_place(lab: Lab) -> None:
    """chain.test's CNAMEs lead through chain-hop.test: each is ok, the chain named, and it serves."""
    report = lab.reports["chain.test"]
    reasons = [f.reason for f in report.findings if f.check == "onboarding-cname"]
    assert len(reasons) == 3
    for label, reason in zip(("mta-sts", "_mta-sts", "_smtp"), reasons, strict=True):
        assert f" through {label}.{HOP}" in reason, reason
    assert onboarding_line(report) == "serving through the customer's CNAMEs"


def test_the_testing_customer_reads_its_own_record_not_the_wildcard(lab: Lab) -> None:
    """The customer off the common policy gets its own TXT; the other customers read the wildcard's id."""
    good, testing = lab.stack.domain("good.test"), lab.stack.domain("testing.test")
    assert good.policy_id != testing.policy_id
    names = {r.record.name: r.customers for r in lab.stack.operator_records}
    assert "testing.test" not in names[f"*._mta-sts.{OPS}"]
    assert "good.test" in names[f"*._mta-sts.{OPS}"]


@pytest.mark.parametrize(
    ("name", "state", "words"),
    [
        ("missing.test", "missing", "missing: the customer has not created mta-sts.missing.test."),
        ("elsewhere.test", "elsewhere", "points at mta-sts.other-provider.invalid"),
        ("caa.test", "caa-forbids", "allows only digicert.com"),
        ("pending.test", "certificate-pending", "not issued yet"),
        ("thief.test", "elsewhere", "_mta-sts.thief.test CNAME points at good-test-"),
        ("dangling.test", "elsewhere", f"_mta-sts.dangling.test CNAME points at gone._mta-sts.{HOP}, not"),
        ("sub.caa-parent.test", "caa-forbids", "CAA at caa-parent.test allows only digicert.com"),
        ("critical.test", "caa-forbids", "allows a critical tbs record no CA knows"),
    ],
)
def test_onboarding_states_are_pending_with_the_reason(lab: Lab, name: str, state: str, words: str) -> None:
    """Each customer not yet onboarded is pending (warnings, no error) with the reason and its state."""
    report = lab.reports[name]
    assert onboarding_line(report) == f"pending: {state}"
    assert report.errors == 0, report.findings
    reasons = " | ".join(f.reason for f in report.findings if f.severity is Severity.WARNING)
    assert words in reasons
    assert "sts-record" not in report.checks()  # the sender's checks wait for onboarding


def test_verify_stack_exits_zero_with_pending_customers(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    """verify --stack --json: pending customers are warnings, so the stack passes; states in the JSON."""
    assert cli.main(lab.argv("--json")) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["errors"] == 0
    states = {
        name: next(f["reason"] for f in d["findings"] if f["check"] == "onboarding")
        for name, d in out["domains"].items()
    }
    assert states["good.test"] == "serving through the customer's CNAMEs"
    assert states["missing.test"] == "pending: missing"


def test_certificate_status_from_the_cloudflare_api(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With CLOUDFLARE_API_TOKEN the custom hostname's status comes from the API, paged; pending is named."""
    listed = [
        hostname("mta-sts.good.test"),
        hostname("mta-sts.testing.test"),
        hostname("mta-sts.caa.test", "pending", "pending_validation"),
        hostname("mta-sts.pending.test", "active", "pending_validation",
                 validation_errors=[{"message": "caa_error: letsencrypt.org"}]),
        {**hostname("mta-sts.elsewhere.test", "pending", "pending_validation"),
         "verification_errors": ["custom hostname does not CNAME to this zone."]},
    ]  # fmt: skip
    with FakeCloudflare(TOKEN, OPS, ZONE_ID, listed) as fake:
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", fake.url)
        assert cli.main(lab.argv("--json")) == 0
        out = json.loads(capsys.readouterr().out)
        pages = [p for p in fake.requests if "/custom_hostnames" in p]
    assert len(pages) == 3  # five hostnames, two a page
    assert any(p.startswith("/client/v4/zones?name=ops.test") for p in fake.requests)

    def reasons(name: str) -> list[str]:
        return [
            f["reason"] for f in out["domains"][name]["findings"] if f["check"] == "onboarding-certificate"
        ]

    assert reasons("good.test") == ["mta-sts.good.test: custom hostname and certificate active"]
    assert reasons("pending.test") == [
        "pending: mta-sts.pending.test: custom hostname active, certificate pending_validation "
        "(caa_error: letsencrypt.org)"
    ]
    assert reasons("elsewhere.test") == [
        "pending: mta-sts.elsewhere.test: custom hostname pending, certificate pending_validation "
        "(custom hostname does not CNAME to this zone.)"
    ]
    assert reasons("missing.test") == [
        "pending: mta-sts.missing.test is no custom hostname of the zone yet (pulumi up creates it)"
    ]


def test_a_refused_token_falls_back_to_the_handshake(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A token the API refuses is said once per customer (info), and the TLS handshake decides."""
    with FakeCloudflare("other-token", OPS, ZONE_ID, []) as fake:
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", fake.url)
        assert cli.main(lab.argv("--json", "good.test", "pending.test")) == 0
        out = json.loads(capsys.readouterr().out)
    good = out["domains"]["good.test"]["findings"]
    assert any(
        "could not ask Cloudflare" in f["reason"] and "Authentication error" in f["reason"] for f in good
    )
    pending = out["domains"]["pending.test"]["findings"]
    assert next(f["reason"] for f in pending if f["check"] == "onboarding") == "pending: certificate-pending"


# --------------------------------------------------------------------------- a real sending MTA's client


def resolve_with_postfix_mta_sts_resolver(lab: Lab, monkeypatch: pytest.MonkeyPatch, domain: str) -> Any:
    """postfix-mta-sts-resolver's STSResolver, its DNS pointed at the lab and HTTPS at its port.

    Its own code does the TXT lookup (aiodns, through the CNAMEs) and the policy fetch (aiohttp);
    only the addresses change: names resolve through the lab's DNS, port 443 is the lab's HTTPS
    port, and the lab CA is trusted.
    """
    import aiodns
    import aiohttp
    from aiohttp.abc import AbstractResolver, ResolveResult
    from postfix_mta_sts_resolver import resolver as sts

    nameserver = f"{lab.dns.host}:{lab.dns.port}"
    context = ssl.create_default_context(cafile=str(lab.pki.ca_file))

    class LabResolver(AbstractResolver):
        async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[ResolveResult]:
            dns = aiodns.DNSResolver(nameservers=[nameserver])
            answer = await dns.query(host, "A")
            return [
                {
                    "hostname": host,
                    "host": a.host,
                    "port": lab.https.port,
                    "family": 2,
                    "proto": 0,
                    "flags": 0,
                }
                for a in answer
            ]

        async def close(self) -> None:
            pass

    real_session = aiohttp.ClientSession

    def lab_session(*args: Any, **kwargs: Any) -> aiohttp.ClientSession:
        kwargs.pop("loop", None)
        return real_session(
            *args, connector=aiohttp.TCPConnector(resolver=LabResolver(), ssl=context), **kwargs
        )

    monkeypatch.setattr(sts.aiohttp, "ClientSession", lab_session)

    async def run() -> Any:
        resolver = sts.STSResolver(loop=asyncio.get_running_loop(), timeout=5)
        resolver._resolver = aiodns.DNSResolver(nameservers=[nameserver], timeout=5)
        return await resolver.resolve(domain)

    return asyncio.run(run())


@pytest.mark.parametrize("name", SERVING)
def test_postfix_mta_sts_resolver_accepts_a_customers_policy(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The sending side's client follows the CNAMEs and takes the customer's policy, id and MX list."""
    from postfix_mta_sts_resolver.resolver import STSFetchResult

    domain = lab.stack.domain(name)
    result, found = resolve_with_postfix_mta_sts_resolver(lab, monkeypatch, name)
    assert result is STSFetchResult.VALID
    policy_id, policy = found
    assert policy_id == domain.policy_id
    assert policy["mode"] == str(domain.mode) and policy["mx"] == list(domain.mx)
    assert policy["max_age"] == domain.max_age


def test_postfix_mta_sts_resolver_sees_no_policy_for_a_customer_without_cnames(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No CNAMEs yet: the sender sees no MTA-STS at all (so nothing it could cache)."""
    from postfix_mta_sts_resolver.resolver import STSFetchResult

    result, _ = resolve_with_postfix_mta_sts_resolver(lab, monkeypatch, "missing.test")
    assert result is STSFetchResult.NONE


# --------------------------------------------------------------------------- the live gate


def gate_args(name: str, content: str) -> pulumi.ResourceHookArgs:
    new = {"name": name, "type": "TXT", "content": content, "ttl": 300}
    return pulumi.ResourceHookArgs(
        urn=f"urn:pulumi:lab::mta-sts::cloudflare:index/dnsRecord:DnsRecord::{name}",
        id="",
        name=name,
        type="cloudflare:index/dnsRecord:DnsRecord",
        new_inputs=new,
        old_inputs=None,
        old_outputs=None,
    )


def test_the_delegated_gate_passes_once_serving_customers_serve_the_id(lab: Lab) -> None:
    """The wildcard's id is served by the onboarded customers; pending ones hold nothing."""
    from components.delegated import gate_function

    readers = {r.record.name: r.customers for r in lab.stack.operator_records}
    wildcard = next(r for r in lab.stack.operator_records if r.key == "delegation-sts")
    gate = gate_function(LiveGate(timeout=10, interval=0.2, rounds=3, span=0.5), readers, lab.options())
    started = time.monotonic()
    asyncio.run(gate(gate_args(wildcard.record.name, wildcard.record.content)))  # type: ignore[arg-type]
    assert time.monotonic() - started >= 0.5  # steadily: three good looks over the span


def test_the_delegated_gate_holds_while_a_customer_serves_other_bytes(lab: Lab) -> None:
    """An id good.test does not serve: the gate waits, then fails naming what is served."""
    from components.delegated import DelegatedGateError, gate_function

    readers = {r.record.name: r.customers for r in lab.stack.operator_records}
    wildcard = next(r for r in lab.stack.operator_records if r.key == "delegation-sts")
    gate = gate_function(LiveGate(timeout=1, interval=0.2, rounds=1, span=0), readers, lab.options())
    with pytest.raises(DelegatedGateError, match=f"serves id {lab.stack.domain('good.test').policy_id}"):
        asyncio.run(gate(gate_args(wildcard.record.name, '"v=STSv1; id=new1"')))  # type: ignore[arg-type]


def delete_args(name: str) -> pulumi.ResourceHookArgs:
    old = {"name": name, "type": "TXT", "content": '"v=STSv1; id=old"', "ttl": 300}
    return pulumi.ResourceHookArgs(
        urn=f"urn:pulumi:lab::mta-sts::cloudflare:index/dnsRecord:DnsRecord::{name}",
        id="record-id",
        name=name,
        type="cloudflare:index/dnsRecord:DnsRecord",
        new_inputs=None,
        old_inputs=old,
        old_outputs=old,
    )


def test_the_leave_gate_passes_once_a_returning_customer_serves_the_wildcard_id(lab: Lab) -> None:
    """good.test's own TXT, left from an earlier up, is deleted once good.test serves the wildcard's id."""
    from components.delegated import leave_gate_function
    from mtasts.model.delegation import sts_target

    own = sts_target(lab.stack.delegation, "good.test")  # type: ignore[arg-type]
    wildcard_id = lab.stack.domain("good.test").policy_id
    settings = LiveGate(timeout=10, interval=0.2, rounds=2, span=0.2)
    gate = leave_gate_function(settings, {own: "good.test"}, wildcard_id, lab.options())
    asyncio.run(gate(delete_args(own)))  # type: ignore[arg-type]


def test_the_leave_gate_holds_a_customer_not_serving_the_wildcard_id(lab: Lab) -> None:
    """testing.test's own TXT is not deleted while it serves other bytes than the wildcard's id names."""
    from components.delegated import DelegatedGateError, leave_gate_function
    from mtasts.model.delegation import sts_target

    own = sts_target(lab.stack.delegation, "testing.test")  # type: ignore[arg-type]
    wildcard_id = lab.stack.domain("good.test").policy_id
    settings = LiveGate(timeout=1, interval=0.2, rounds=1, span=0)
    gate = leave_gate_function(settings, {own: "testing.test"}, wildcard_id, lab.options())
    served = lab.stack.domain("testing.test").policy_id
    with pytest.raises(
        DelegatedGateError, match=f"testing.test: expected id {wildcard_id}, but serves id {served}"
    ):
        asyncio.run(gate(delete_args(own)))  # type: ignore[arg-type]
    # A record of a customer that left the stack (no reader): deleted without waiting.
    started = time.monotonic()
    asyncio.run(gate(delete_args(f"gone-0000._mta-sts.{OPS}")))  # type: ignore[arg-type]
    assert time.monotonic() - started < 0.5


def test_readiness_names_the_onboarding_of_a_pending_customer(
    lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """readiness: a pending customer is not ready, and the reason is its onboarding, not a missing TXT."""
    reports = tmp_path / "reports.json"
    reports.write_text(json.dumps({"domains": {}}), encoding="utf-8")
    pending = {
        "missing.test": ("missing", "has not created mta-sts.missing.test."),
        "elsewhere.test": ("elsewhere", "points at mta-sts.other-provider.invalid"),
        "caa.test": ("caa-forbids", "allows only digicert.com"),
        "sub.caa-parent.test": ("caa-forbids", "CAA at caa-parent.test"),
    }
    argv = lab.argv("--json", *pending, "good.test")
    argv[argv.index("verify")] = "readiness"
    status = cli.main([*argv, "--reports", str(reports)])
    out = capsys.readouterr().out
    assert status == 1, out
    found = json.loads(out)
    for name, (state, words) in pending.items():
        domain = found["domains"][name]
        assert not domain["ready"], name
        reasons = [f["reason"] for f in domain["findings"] if f["check"] == "verify-onboarding"]
        assert reasons == [f"pending: {state}"], name
        assert any(words in f["reason"] for f in domain["findings"]), (name, domain["findings"])
        assert not [f for f in domain["findings"] if f["check"] == "verify-sts-record"]
    good = [f["check"] for f in found["domains"]["good.test"]["findings"]]
    assert "verify-onboarding" not in good
