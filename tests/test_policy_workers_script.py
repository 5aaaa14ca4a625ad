"""The pack's Worker script rules: policy data, compatibility date, the receiver's rua."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pulumi_policy import (
    PolicyResource,
)

from mtasts.model.config import load_stack
from mtasts.model.policy_worker import render, worker_script
from mtasts.rfc.served import (
    DATA_BEGIN,
    DATA_END,
    POLICY_DATA,
    RECEIVER_SETTINGS,
    encode_receiver,
    encode_served,
    insert_data,
    receiver_in_script,
)
from policies.mtasts_policies import served_policies
from tests.policy_pack import (
    BAD_MODE,
    DNS,
    ENFORCE,
    ROOT,
    SCRIPT,
    TESTING,
    ZONE,
    ZONE_ID,
    data_worker,
    resource,
    script,
    stack,
    stack_resource,
    txt,
    violations,
)


@pytest.fixture(scope="module")
def dev_worker() -> dict[str, Any]:
    deployment = load_stack(ROOT, "dev")
    return script(worker_script([d for d in deployment.domains if d.hosting == "cloudflare-worker"]))



# --- worker-policy-text-valid --------------------------------------------------------------------


def test_worker_policies_found_in_real_bundle(dev_worker: dict[str, Any]) -> None:
    """The dev Worker's data region yields each Worker-hosted domain's policy, mapped to its host."""
    deployment = load_stack(ROOT, "dev")
    expected = {
        (d.policy_host, d.policy_text) for d in deployment.domains if d.hosting == "cloudflare-worker"
    }
    assert {(p.host, p.text) for p in served_policies(dev_worker)} == expected


def test_worker_policy_compliant(dev_worker: dict[str, Any]) -> None:
    """The project's own Worker and its data have no violation."""
    assert violations("worker-policy-text-valid", resource(SCRIPT, dev_worker)) == []


@pytest.mark.parametrize("form", ["template", "hand-written"])
def test_worker_policy_violation_bad_mode(form: str) -> None:
    """An unknown mode is reported, in the project's script or in any script with one data region."""
    data = encode_served({"mta-sts.a.example": BAD_MODE})
    content = (
        render(data)
        if form == "template"
        else f"const D = {DATA_BEGIN}{data}{DATA_END};\nexport default {{}};"
    )
    found = violations("worker-policy-text-valid", resource(SCRIPT, script(content)))
    assert len(found) == 1 and "mode must be enforce, testing or none" in found[0][0]
    assert "mta-sts.a.example" in found[0][0]


@pytest.mark.parametrize(
    "text, rule",
    [
        ("version: STSv1\r\nmode: enforce\r\nmx: a.example\r\nmax_age: 31557601\r\n", "max_age must be"),
        ("version: STSv1\r\nmode: testing\r\nmax_age: 86400\r\n", "needs at least one mx"),
        ("version: STSv2\r\nmode: testing\r\nmx: a.example\r\nmax_age: 86400\r\n", "version must be STSv1"),
    ],
)
def test_worker_policy_violation_per_rule(text: str, rule: str) -> None:
    """Out-of-range max_age, missing mx, and a wrong version are each reported with the host."""
    props = data_worker({"mta-sts.a.example": text, "mta-sts.b.example": TESTING})
    found = violations("worker-policy-text-valid", resource(SCRIPT, props))
    assert len(found) == 1 and rule in found[0][0] and "mta-sts.a.example" in found[0][0]


@pytest.mark.parametrize(
    "data",
    [
        "{not json",
        "[]",
        '{"hosts":{"mta-sts.a.example":"x"},"policies":{}}',
        '{"hosts":{},"policies":[]}',
    ],
)
def test_worker_policy_violation_malformed_data(data: str) -> None:
    """A data region that is not the documented document is reported."""
    found = violations("worker-policy-text-valid", resource(SCRIPT, script(render(data))))
    assert len(found) == 1 and found[0][0].startswith("Worker script policy data:")


def test_worker_without_markers_is_not_a_policy_host() -> None:
    """A Worker with no data marker at all (the report receiver, any other Worker) is not checked."""
    assert violations("worker-policy-text-valid", resource(SCRIPT, script("export default {}"))) == []


@pytest.mark.parametrize(
    "content",
    [
        f"const A = {DATA_BEGIN} {{}} {DATA_END}, B = {DATA_BEGIN} {{}} {DATA_END};",
        f"const A = {DATA_BEGIN} {{}};",
        f"const A = {DATA_END} {{}} {DATA_BEGIN};",
    ],
)
def test_worker_policy_violation_without_one_data_region(content: str) -> None:
    """Markers but not exactly one marked data region (two, unclosed, out of order) is reported."""
    found = violations("worker-policy-text-valid", resource(SCRIPT, script(content)))
    assert len(found) == 1 and found[0][0].startswith("Worker script policy data:")
    assert "not once" in found[0][0] or "before" in found[0][0]


def test_worker_policy_reads_only_the_data_region() -> None:
    """Policy-like text outside the data region is not read; content not yet known is not checked."""
    outside = "\nconst X = `version: STSv1\nmode: x\nmx: a.example\nmax_age: 1\n`; // version: STSv1\n"
    props = script(render(encode_served({"mta-sts.a.example": ENFORCE})) + outside)
    assert [(p.host, p.text) for p in served_policies(props)] == [("mta-sts.a.example", ENFORCE)]
    assert violations("worker-policy-text-valid", resource(SCRIPT, props)) == []
    for unknown in ({**script(""), "content": None}, {k: v for k, v in script("").items() if k != "content"}):
        assert served_policies(unknown) == []
        assert violations("worker-policy-text-valid", resource(SCRIPT, unknown)) == []



# --- worker-script-compatibility-date ------------------------------------------------------------


def test_compatibility_date_compliant() -> None:
    """A Worker script with a compatibility date has no violation."""
    assert violations("worker-script-compatibility-date", resource(SCRIPT, script("export default {}"))) == []


@pytest.mark.parametrize("date", [None, ""])
def test_compatibility_date_violation(date: str | None) -> None:
    """A Worker script without, or with an empty, compatibility date is reported."""
    props = script("export default {}")
    if date is None:
        del props["compatibilityDate"]
    else:
        props["compatibilityDate"] = date
    found = violations("worker-script-compatibility-date", resource(SCRIPT, props))
    assert len(found) == 1 and "mta-sts-dev" in found[0][0]



# --- tls-report-receiver-in-rua ------------------------------------------------------------------

RECEIVER_HTTPS = "https://tlsrpt.example.net/v1/tlsrpt"
RECEIVER_MAILTO = "mailto:tlsrpt@reports.example.net"


def _receiver(
    domains: list[str],
    external: list[str],
    mailto: bool = True,
    others: tuple[str, ...] = ("by-hand.example",),
) -> PolicyResource:
    """The receiver Worker as components/receiver.py declares it: the model's script, with ``domains``
    builtin (``external`` among them dns: external) and ``others`` in the stack with reports: none."""
    from mtasts.model.config import load_config
    from mtasts.model.receiver import receiver_script

    raw = {"host": "tlsrpt.example.net", **({"mailto": "tlsrpt@reports.example.net"} if mailto else {})}
    external_domain = {"reports": "builtin", "dns": "external", "routing": "custom-domain"}
    deployment = load_config(
        {
            "mta-sts:cloudflareAccountId": "0" * 32,
            "mta-sts:defaults": {"mx": ["mx1.example.net"]},
            "mta-sts:reports": raw,
            "mta-sts:domains": {
                **{d: external_domain if d in external else {"reports": "builtin"} for d in domains},
                **{d: {} for d in others},
            },
        }
    )
    assert deployment.receiver is not None
    content = receiver_script(deployment.receiver, deployment.domains)
    bindings = [{"name": "DB", "type": "d1", "id": "db-id"}]
    props = {**script(content, scriptName="mta-sts-reports-dev"), "bindings": bindings}
    return stack_resource(SCRIPT, props, "reports-script")


def _rua(domain: str, *uris: str, name: str | None = None) -> PolicyResource:
    content = f'"v=TLSRPTv1; rua={",".join(uris)}"'
    return stack_resource(DNS, txt(name or f"_smtp._tls.{domain}", content), f"{domain}-tlsrpt")


def _receiverstack(**change: Any) -> list[PolicyResource]:
    """A compliant stack: the receiver takes example.com (record in the stack, other URIs beside the
    receiver's) and external.example.org (dns: external); a policy Worker and another domain's record."""
    domains = change.get("domains", ["example.com", "external.example.org"])
    external = change.get("external", ["external.example.org"])
    rua = change.get("rua", ("mailto:old@example.net", RECEIVER_HTTPS, RECEIVER_MAILTO))
    resources = [
        _receiver(domains, external, change.get("mailto", True)),
        stack_resource(SCRIPT, data_worker({"mta-sts.example.com": TESTING}), "policy-worker"),
        _rua("other.example", "mailto:r@other.example"),
    ]
    if rua is not None:
        resources.append(_rua("example.com", *rua))
    return resources


def test_receiver_in_rua_compliant() -> None:
    """Every builtin domain lists the receiver's URIs (or is dns: external): no violation, though the
    receiver also counts by-hand.example (reports: none), which has no _smtp._tls record here."""
    resources = _receiverstack()
    data = receiver_in_script(resources[0].props["content"])
    assert "by-hand.example" in data.domains and "by-hand.example" not in data.builtin
    assert violations("tls-report-receiver-in-rua", stack(*resources)) == []
    https_only = _receiverstack(mailto=False, rua=(RECEIVER_HTTPS,))
    assert violations("tls-report-receiver-in-rua", stack(*https_only)) == []
    zone = stack_resource(ZONE, {"id": ZONE_ID, "name": "example.com"}, "zone")
    relative = [
        *_receiverstack(rua=None),
        _rua("example.com", RECEIVER_HTTPS, RECEIVER_MAILTO, name="_smtp._tls"),
    ]
    assert violations("tls-report-receiver-in-rua", stack(zone, *relative)) == []


@pytest.mark.parametrize(
    "change, missing, on",
    [
        ({"rua": ("mailto:old@example.net", RECEIVER_MAILTO)}, RECEIVER_HTTPS, "example.com-tlsrpt"),
        (
            {"rua": (RECEIVER_HTTPS, "https://tlsrpt.example.net/other")},
            RECEIVER_MAILTO,
            "example.com-tlsrpt",
        ),
        ({"rua": None}, "no _smtp._tls.example.com TXT", "reports-script"),
        ({"external": []}, "no _smtp._tls.external.example.org TXT", "reports-script"),
        (
            {"domains": ["example.com", "external.example.org", "new.example"]},
            "new.example",
            "reports-script",
        ),
    ],
    ids=["https uri dropped", "mailto uri dropped", "record absent", "no longer external", "new domain"],
)
def test_receiver_in_rua_violation(change: dict[str, Any], missing: str, on: str) -> None:
    """A receiver domain whose _smtp._tls TXT misses a receiver URI, or has none, is reported once."""
    found = violations("tls-report-receiver-in-rua", stack(*_receiverstack(**change)))
    assert len(found) == 1, found
    message, where = found[0]
    assert missing in message and "senders never post there" in message
    assert where.endswith(f"::{on}")


def test_receiver_in_rua_ignores_other_workers_and_unknown_settings() -> None:
    """A Worker without the settings markers, with content not yet known, or whose settings list
    no URI is not a receiver to check; nor is a stack domain that is not builtin."""
    receiver = _receiver(["example.com"], [])
    content = receiver.props["content"]
    data = receiver_in_script(content)
    no_rua = insert_data(content, encode_receiver(dataclasses.replace(data, rua=())), RECEIVER_SETTINGS)
    older = stack_resource(SCRIPT, {**receiver.props, "content": no_rua}, "older")
    unknown = stack_resource(SCRIPT, {**receiver.props, "content": None}, "unknown")
    plain = stack_resource(SCRIPT, script("export default {}"), "plain")
    assert violations("tls-report-receiver-in-rua", stack(older, unknown, plain)) == []


@pytest.mark.parametrize(
    "spoil, reason",
    [
        (lambda c: insert_data(c, '{"domains": {', RECEIVER_SETTINGS), "not JSON"),
        (lambda c: insert_data(c, '{"domains":[],"limits":{},"rua":[]}', RECEIVER_SETTINGS), '"domains"'),
        (lambda c: c + "\n" + RECEIVER_SETTINGS.end + "\n", "2 times, not once"),
    ],
    ids=["not json", "wrong shape", "end marker twice"],
)
def test_receiver_in_rua_reports_malformed_settings(spoil: Any, reason: str) -> None:
    """A receiver Worker whose settings region is there but does not decode is one violation, on it."""
    receiver = _receiver(["example.com"], [])
    content = spoil(receiver.props["content"])
    broken = stack_resource(SCRIPT, {**receiver.props, "content": content}, "reports-script")
    found = violations("tls-report-receiver-in-rua", stack(broken, _rua("example.com", RECEIVER_HTTPS)))
    assert len(found) == 1, found
    message, where = found[0]
    assert "'mta-sts-reports-dev' settings" in message and reason in message
    assert where.endswith("::reports-script")


def test_the_receiver_is_never_taken_for_a_policy_worker() -> None:
    """The receiver's script carries the settings markers only: the policy rules find no policy in it."""
    receiver = _receiver(["example.com"], [])
    assert not POLICY_DATA.carried_by(receiver.props["content"])
    assert served_policies(receiver.props) == []
    assert violations("worker-policy-text-valid", resource(SCRIPT, receiver.props)) == []

