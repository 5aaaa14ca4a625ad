"""The receiver's config, plan output and Pulumi resources (under mocks, preview=False)."""

from __future__ import annotations

import difflib
import json
from typing import Any

import pytest

from mtasts.commands.cli import main
from mtasts.model import receiver as receiver_model
from mtasts.model.config import ConfigError, load_config, load_stack
from mtasts.rfc.served import (
    POLICY_DATA,
    RECEIVER_SETTINGS,
    ServedDataError,
    decode_receiver,
    extract_data,
    insert_data,
    receiver_in_script,
)
from tests.conftest import ROOT
from tests.program_mocks import GET_ZONE, ProgramRun, mock_zone_id, run_program, run_stack

ACCOUNT = "0123456789abcdef0123456789abcdef"
HTTPS = "https://tlsrpt.example.net/v1/tlsrpt"


def config(reports: Any = None, **domains: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "mta-sts:cloudflareAccountId": ACCOUNT,
        "mta-sts:defaults": {"mx": ["mx.example.com"], "tlsrpt": ["mailto:old@example.net"]},
        "mta-sts:domains": domains or {"example.com": {"reports": "builtin"}, "example.org": {}},
    }
    if reports is not None:
        cfg["mta-sts:reports"] = reports
    return cfg


RECEIVER = {"host": "tlsrpt.example.net", "mailto": "tlsrpt@reports.example.net"}


# --- config ------------------------------------------------------------------------------------


def test_builtin_adds_the_receiver_uris_after_the_configured_ones() -> None:
    """reports: builtin lists the HTTPS intake and the mailbox in _smtp._tls, after the tlsrpt URIs."""
    deployment = load_config(config(RECEIVER))
    domain = deployment.domain("example.com")
    assert domain.tlsrpt == ("mailto:old@example.net", HTTPS, "mailto:tlsrpt@reports.example.net")
    assert domain.tlsrpt_record == (
        f"v=TLSRPTv1; rua=mailto:old@example.net,{HTTPS},mailto:tlsrpt@reports.example.net"
    )
    assert deployment.domain("example.org").tlsrpt == ("mailto:old@example.net",)
    assert [d.name for d in deployment.reports_domains] == ["example.com"]


def test_https_only_without_mailto() -> None:
    """Without mailto the record lists only the HTTPS intake; reports_json says mailto null."""
    domain = load_config(config({"host": "tlsrpt.example.net"})).domain("example.com")
    assert domain.tlsrpt[-1] == HTTPS and not any("reports.example.net" in u for u in domain.tlsrpt)
    assert domain.reports_json == {"https": HTTPS, "mailto": None}


def test_receiver_defaults() -> None:
    """Unset receiver settings take their documented defaults; zone is the host less its first label."""
    settings = load_config(config(RECEIVER)).receiver
    assert settings is not None
    assert (settings.zone, settings.retention_days, settings.silent_after_days) == ("example.net", 400, 3)
    assert settings.max_compressed_bytes == 1048576 and settings.max_decompressed_bytes == 16777216


@pytest.mark.parametrize(
    "reports, domains, key, rule",
    [
        (None, {"example.com": {"reports": "builtin"}}, "reports.host", "required because example.com"),
        ({"mailto": "a@b.example.net"}, {"example.com": {"reports": "builtin"}}, "reports.host", "required"),
        (RECEIVER, {"example.com": {"reports": "yes"}}, "domains.example.com.reports", "builtin, none"),
        ({**RECEIVER, "host": "bad host"}, {"example.com": {}}, "reports.host", "host name"),
        ({**RECEIVER, "mailto": "no-at-sign"}, {"example.com": {}}, "reports.mailto", "one address"),
        ({**RECEIVER, "mailto": "a@elsewhere.example"}, {"example.com": {}}, "reports.mailto", "zone"),
        ({**RECEIVER, "zone": "example.org"}, {"example.com": {}}, "reports.zone", "does not contain"),
        ({**RECEIVER, "zoneId": "XYZ"}, {"example.com": {}}, "reports.zoneId", "32 lower-case hex"),
        ({**RECEIVER, "retentionDays": 0}, {"example.com": {}}, "reports.retentionDays", "between"),
        (
            {**RECEIVER, "maxCompressedBytes": "big"},
            {"example.com": {}},
            "reports.maxCompressedBytes",
            "whole",
        ),
        ({**RECEIVER, "webhook": "https://x"}, {"example.com": {}}, "reports.webhook", "unknown key"),
        # The mailto domain receives no other mail; the host is no policy host.
        (
            {**RECEIVER, "mailto": "tlsrpt@mail.example.net"},
            {"mail.example.net": {}},
            "reports.mailto",
            "is a mail domain of this stack",
        ),
        (
            {**RECEIVER, "mailto": "tlsrpt@example.net"},
            {"dev.example.net": {"zone": "example.net"}},
            "reports.mailto",
            "the zone apex of dev.example.net",
        ),
        ({**RECEIVER, "mailto": "tlsrpt@example.net"}, {"example.com": {}}, "reports.mailto", "apex"),
        (
            {**RECEIVER, "mailto": "tlsrpt@MTA-STS.example.net."},
            {"example.net": {}},
            "reports.mailto",
            "the policy host of example.net",
        ),
        (
            {**RECEIVER, "host": "mta-sts.example.net"},
            {"example.net": {}},
            "reports.host",
            "the policy host of example.net",
        ),
        (
            {**RECEIVER, "maxCompressedBytes": 2000000, "maxDecompressedBytes": 1000000},
            {"example.com": {}},
            "reports.maxDecompressedBytes",
            "at least",
        ),
    ],
)
def test_bad_receiver_config_names_the_key(
    reports: Any, domains: dict[str, Any], key: str, rule: str
) -> None:
    """Each broken receiver setting is one ConfigError naming its key and rule."""
    with pytest.raises(ConfigError) as info:
        load_config(config(reports, **domains))
    assert info.value.key == key and rule in info.value.rule


def test_builtin_needs_the_account() -> None:
    """A builtin domain on GitHub Pages still needs cloudflareAccountId: the receiver lives there."""
    cfg = config(RECEIVER, **{"example.com": {"reports": "builtin", "hosting": "github-pages"}})
    cfg["github:owner"] = "example-org"
    del cfg["mta-sts:cloudflareAccountId"]
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert info.value.key == "cloudflareAccountId"


def test_plan_exits_2_with_one_line(
    write_stack: Any, project: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """plan on a stack with a bad receiver setting prints `error: <key>: <rule>` and exits 2."""
    write_stack(
        "config:\n  mta-sts:cloudflareAccountId: " + ACCOUNT + "\n"
        "  mta-sts:reports: {host: tlsrpt.example.net, retentionDays: -1}\n"
        "  mta-sts:domains:\n    example.com: {mx: [mx.example.com], reports: builtin}\n"
    )
    assert main(["--project-dir", str(project), "plan", "--stack", "t"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: reports.retentionDays: must be between 1 and 3650, got -1 (Pulumi.t.yaml:3)"]


def test_plan_json_shows_the_receiver_per_domain(capsys: pytest.CaptureFixture[str]) -> None:
    """plan --json: builtin domains carry {"https", "mailto"}, others null; the TXT lists both URIs."""
    assert main(["--project-dir", str(ROOT), "plan", "--stack", "dev", "--json"]) == 0
    domains = json.loads(capsys.readouterr().out)["domains"]
    assert domains["example.com"]["reports"] == {"https": HTTPS, "mailto": "tlsrpt@reports.example.net"}
    assert domains["example.org"]["reports"] is None
    txt = [r["content"] for r in domains["example.com"]["records"] if r["name"] == "_smtp._tls.example.com"]
    assert txt == [
        f'"v=TLSRPTv1; rua=mailto:tls-reports@reports.example.net,{HTTPS},mailto:tlsrpt@reports.example.net"'
    ]


def test_plan_text_names_the_receiver(capsys: pytest.CaptureFixture[str]) -> None:
    """plan's text shows the receiver URL and the mail intake address under each builtin domain."""
    assert main(["--project-dir", str(ROOT), "plan", "--stack", "dev"]) == 0
    out = capsys.readouterr().out
    assert f"reports: built-in receiver {HTTPS}" in out
    assert "mail intake: tlsrpt@reports.example.net" in out


# --- resources ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev() -> ProgramRun:
    run = run_stack("dev")
    assert run.error is None, run.error
    return run


SECRET_SIG = "4dabf18193072939515e22adb298388d"
"""Pulumi's marker of a secret value in serialized inputs."""


def bindings(run: ProgramRun) -> dict[str, dict[str, Any]]:
    """The receiver script's bindings by name (unwrapped when the list is secret)."""
    value = run.by_name("reports-script").inputs["bindings"]
    if isinstance(value, dict) and SECRET_SIG in value:
        value = value["value"]
    return {b["name"]: b for b in value}


def is_secret(run: ProgramRun) -> bool:
    value = run.by_name("reports-script").inputs["bindings"]
    return isinstance(value, dict) and SECRET_SIG in value


def test_the_receiver_is_a_second_script_with_its_storage(dev: ProgramRun) -> None:
    """The dev stack gets mta-sts-reports-dev beside mta-sts-dev, bound to its own D1 and R2."""
    script = dev.by_name("reports-script")
    assert script.inputs["scriptName"] == "mta-sts-reports-dev"
    deployment = load_stack(ROOT, "dev")
    assert deployment.receiver is not None
    assert script.inputs["content"] == receiver_model.receiver_script(deployment.receiver, deployment.domains)
    assert script.inputs["mainModule"] == "reports.js"
    assert dev.by_name("cloudflare-worker-script").inputs["scriptName"] == "mta-sts-dev"
    database = dev.by_name("reports-database")
    bucket = dev.by_name("reports-bucket")
    assert database.inputs == {"accountId": ACCOUNT, "name": "mta-sts-reports-dev"}
    assert bucket.inputs == {"accountId": ACCOUNT, "name": "mta-sts-reports-dev"}
    bound = bindings(dev)
    assert bound["DB"] == {"name": "DB", "type": "d1", "id": database.id}
    assert bound["ARCHIVE"] == {"name": "ARCHIVE", "type": "r2_bucket", "bucketName": "mta-sts-reports-dev"}
    assert database.urn in script.options.depends_on and bucket.urn in script.options.depends_on


def test_the_settings_region_lists_every_domain_and_marks_the_builtin_ones(dev: ProgramRun) -> None:
    """The receiver's settings region names every domain of the stack (one a line), builtin ones
    marked, the caps and the receiver's URIs; the bundle is unchanged outside the region."""
    content = dev.by_name("reports-script").inputs["content"]
    data = receiver_in_script(content)
    deployment = load_stack(ROOT, "dev")
    assert data.domains == tuple(sorted(d.name for d in deployment.domains))
    assert data.builtin == {"dev.example.com", "example.com"}
    assert data.dns_external == frozenset()
    # For the policy pack: the URIs each builtin domain's _smtp._tls TXT must list.
    assert data.rua == (HTTPS, "mailto:tlsrpt@reports.example.net")
    assert data.limits["maxCompressedBytes"] == 1048576 and data.limits["maxDecompressedBytes"] == 16777216
    region = extract_data(content, RECEIVER_SETTINGS)
    for name in data.domains:
        assert sum(1 for line in region.splitlines() if line.startswith(f'"{name}":')) == 1, name
    bundle = receiver_model.bundle()
    for marker, side in ((RECEIVER_SETTINGS.begin, 0), (RECEIVER_SETTINGS.end, 2)):
        assert content.partition(marker)[side] == bundle.partition(marker)[side]
    assert not POLICY_DATA.carried_by(content)  # never taken for a policy Worker


def test_the_bundle_holds_one_settings_region_and_no_policy_markers() -> None:
    """esbuild keeps both settings markers, once each, around a document that decodes; the
    policy Worker's markers are nowhere in the receiver."""
    bundle = receiver_model.bundle()
    assert bundle.count(RECEIVER_SETTINGS.begin) == 1 and bundle.count(RECEIVER_SETTINGS.end) == 1
    assert receiver_in_script(bundle).domains == ()
    assert not POLICY_DATA.carried_by(bundle)


@pytest.mark.parametrize(
    "source",
    [
        "const S = f({});",
        f"const S = f({RECEIVER_SETTINGS.begin} {{}});",
        f"const S = f({RECEIVER_SETTINGS.end} {{}} {RECEIVER_SETTINGS.begin});",
        f"const S = f({RECEIVER_SETTINGS.begin} {{}} {RECEIVER_SETTINGS.end}, "
        f"{RECEIVER_SETTINGS.begin} {{}} {RECEIVER_SETTINGS.end});",
        f"const S = f({POLICY_DATA.begin} {{}} {POLICY_DATA.end});",
    ],
    ids=["none", "no end", "reversed", "twice", "policy markers"],
)
def test_a_script_without_exactly_one_settings_region_is_an_error(source: str) -> None:
    """The shared marker helpers, given the receiver's pair, refuse anything but one region in order."""
    with pytest.raises(ServedDataError):
        extract_data(source, RECEIVER_SETTINGS)
    with pytest.raises(ServedDataError):
        insert_data(source, "{}", RECEIVER_SETTINGS)


def test_settings_data_is_deterministic_and_round_trips() -> None:
    """The same stack in any order gives the same text; it decodes to what went in."""
    stack = load_config(config(RECEIVER, **{"b.example": {"reports": "builtin"}, "a.example": {}}))
    assert stack.receiver is not None
    text = receiver_model.settings_data(stack.receiver, stack.domains)
    assert receiver_model.settings_data(stack.receiver, reversed(stack.domains)) == text
    assert text.startswith('{"domains":{\n"a.example":{},\n"b.example":{"builtin":true}\n},')
    data = decode_receiver(text)
    assert data == receiver_model.receiver_data(stack.receiver, stack.domains)
    assert text.isascii() and "*/" not in text


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "not json",
        '{"domains":[],"limits":{},"rua":[]}',
        '{"domains":{},"limits":{"x":"1"},"rua":[]}',
        '{"domains":{},"limits":{},"rua":"https://x"}',
    ],
)
def test_malformed_settings_data_is_an_error(text: str) -> None:
    """A settings region that is not the documented document raises ServedDataError, never KeyError."""
    with pytest.raises(ServedDataError):
        decode_receiver(text)


def test_no_json_binding_carries_the_domains(dev: ProgramRun) -> None:
    """Neither Worker has a json (or plain text) binding: the domain list is in the scripts only."""
    assert set(bindings(dev)) == {"DB", "ARCHIVE"}
    assert not dev.by_name("cloudflare-worker-script").inputs.get("bindings")
    assert "example.com" not in json.dumps(dev.by_name("reports-script").inputs["bindings"])


def receiver_inputs(domains: dict[str, Any]) -> dict[str, Any]:
    """The inputs of the receiver's script for a stack with these domains."""
    run = run_program(config(RECEIVER, **domains))
    assert run.error is None, run.error
    return dict(run.by_name("reports-script").inputs)


def changed_lines(before: str, after: str) -> list[str]:
    """The lines removed and added between two texts, as a line diff shows them."""
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), n=0, lineterm="")
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def receiver_content(domains: dict[str, Any]) -> str:
    """The receiver script the model writes for a stack with these domains (no program run)."""
    deployment = load_config(config(RECEIVER, **domains))
    assert deployment.receiver is not None
    return receiver_model.receiver_script(deployment.receiver, deployment.domains)


def test_a_one_domain_change_is_a_few_line_diff_of_the_receiver() -> None:
    """Among 300 domains, adding one or turning one to builtin changes a line or two of the
    receiver's content, all inside its settings region (the model's script; the program uploads
    exactly it, as the next test shows)."""
    domains: dict[str, Any] = {f"d{i:03}.example": {"reports": "builtin"} for i in range(300)}
    before = receiver_content(domains)
    assert len(before.splitlines()) > 300
    added = receiver_content({**domains, "d150x.example": {"reports": "builtin"}})
    assert changed_lines(before, added) == ['+"d150x.example":{"builtin":true},']
    switched = receiver_content({**domains, "d150.example": {}})
    assert changed_lines(before, switched) == ['-"d150.example":{"builtin":true},', '+"d150.example":{},']


def test_a_one_domain_change_changes_only_the_receiver_content() -> None:
    """In the program, the receiver's content is the model's script, and adding a domain or turning
    one to builtin changes that content and no other input of the script."""
    domains: dict[str, Any] = {f"d{i}.example": {"reports": "builtin"} for i in range(3)}
    before = receiver_inputs(domains)
    assert before["content"] == receiver_content(domains)
    for changed in ({**domains, "d1x.example": {"reports": "builtin"}}, {**domains, "d1.example": {}}):
        after = receiver_inputs(changed)
        assert after["content"] == receiver_content(changed) != before["content"]
        assert {k: v for k, v in after.items() if k != "content"} == {
            k: v for k, v in before.items() if k != "content"
        }


def test_custom_domain_cron_and_mail_route(dev: ProgramRun) -> None:
    """host is a Workers custom domain; a daily Cron Trigger; Email Routing for exactly the mailto address."""
    zone = mock_zone_id("example.net")
    custom = dev.by_name("reports-custom-domain").inputs
    assert custom == {
        "accountId": ACCOUNT,
        "hostname": "tlsrpt.example.net",
        "service": "mta-sts-reports-dev",
        "zoneId": zone,
    }
    cron = dev.by_name("reports-digest").inputs
    assert cron["scriptName"] == "mta-sts-reports-dev" and len(cron["schedules"]) == 1
    assert dev.by_name("reports-mail-dns").inputs == {"zoneId": zone, "name": "reports.example.net"}
    rule = dev.by_name("reports-mail-rule")
    assert rule.inputs["matchers"] == [
        {"type": "literal", "field": "to", "value": "tlsrpt@reports.example.net"}
    ]
    assert rule.inputs["actions"] == [{"type": "worker", "values": ["mta-sts-reports-dev"]}]
    assert dev.by_name("reports-mail-dns").urn in rule.options.depends_on


def test_the_tlsrpt_txt_lists_the_receiver(dev: ProgramRun) -> None:
    """Each builtin domain's _smtp._tls TXT names the receiver URL; the others do not."""
    deployment = load_stack(ROOT, "dev")
    for domain in deployment.domains:
        if not domain.managed_dns or domain.tlsrpt_record is None:
            continue
        content = dev.by_name(f"{domain.name}-tlsrpt").inputs["content"]
        assert (HTTPS in content) == (domain.reports == "builtin"), domain.name


def receiver_urns(run: ProgramRun, *names: str) -> set[str]:
    return {run.by_name(f"reports-{n}").urn for n in names}


def test_the_tlsrpt_txt_waits_for_the_receiver_to_answer(dev: ProgramRun) -> None:
    """A builtin domain's _smtp._tls TXT depends on the receiver script, custom domain and mail route."""
    answering = receiver_urns(dev, "script", "custom-domain", "mail-dns", "mail-rule")
    for name in ("example.com", "dev.example.com"):
        assert set(dev.by_name(f"{name}-tlsrpt").options.depends_on) == answering, name


def test_other_records_do_not_wait_for_the_receiver(dev: ProgramRun) -> None:
    """reports: none domains' TXT and every _mta-sts/policy-host record wait for nothing of the receiver."""
    receiver = {r.urn for r in dev.resources if r.name.startswith("reports")}
    deployment = load_stack(ROOT, "dev")
    assert deployment.domain("example.org").reports == "none"
    assert not set(dev.by_name("example.org-tlsrpt").options.depends_on) & receiver
    others = [
        r for r in dev.of_type("cloudflare:index/dnsRecord:DnsRecord") if not r.name.endswith("-tlsrpt")
    ]
    assert {"example.com-sts", "example.com-policy-host"} <= {r.name for r in others}
    for resource in others:
        assert not set(resource.options.depends_on) & receiver, resource.name


def test_https_only_the_tlsrpt_txt_waits_for_script_and_custom_domain() -> None:
    """Without mailto the _smtp._tls TXT waits for the script and the custom domain alone."""
    run = run_program(config({"host": "tlsrpt.example.net", "zoneId": "a" * 32}))
    assert run.error is None, run.error
    assert set(run.by_name("example.com-tlsrpt").options.depends_on) == receiver_urns(
        run, "script", "custom-domain"
    )
    assert run.by_name("example.org-tlsrpt").options.depends_on == ()


def test_secrets_become_secret_text_bindings() -> None:
    """reportsToken and reportsWebhook (Pulumi secrets) are bound as secret_text, and never exported."""
    cfg = config(RECEIVER)
    cfg["mta-sts:reportsToken"] = "tok-123"
    cfg["mta-sts:reportsWebhook"] = "https://hooks.example.net/x"
    run = run_program(cfg)
    assert run.error is None, run.error
    bound = bindings(run)
    assert bound["READ_TOKEN"] == {"name": "READ_TOKEN", "type": "secret_text", "text": "tok-123"}
    assert bound["WEBHOOK"] == {
        "name": "WEBHOOK",
        "type": "secret_text",
        "text": "https://hooks.example.net/x",
    }
    assert is_secret(run)  # the engine stores the bindings encrypted
    assert "tok-123" not in json.dumps(run.outputs)
    assert not any("reportsToken" in w for w in run.warnings)


def test_without_a_token_reads_are_refused_and_a_warning_says_so() -> None:
    """No reportsToken: no READ_TOKEN binding (the Worker then refuses reads) and one warning."""
    run = run_program(config(RECEIVER))
    assert "READ_TOKEN" not in bindings(run) and "WEBHOOK" not in bindings(run)
    assert not is_secret(run)
    assert any(w.startswith("reportsToken:") for w in run.warnings)


def test_https_only_creates_no_mail_resources() -> None:
    """Without mailto there is no Email Routing at all."""
    run = run_program(config({"host": "tlsrpt.example.net", "zoneId": "a" * 32}))
    assert run.error is None
    assert not [r for r in run.resources if "emailRouting" in r.type]
    assert run.by_name("reports-custom-domain").inputs["zoneId"] == "a" * 32
    assert not [c for c in run.calls if c.token == GET_ZONE and c.args["filter"]["name"] == "example.net"]


def test_no_builtin_domain_no_receiver() -> None:
    """With every domain on reports: none, nothing of the receiver is created, even with settings."""
    run = run_program(config(RECEIVER, **{"example.com": {}}))
    assert run.error is None
    assert not [r for r in run.resources if r.name.startswith("reports")]


def test_dns_external_builtin_domains_are_marked_in_the_settings_region() -> None:
    """A builtin domain with dns: external is marked dnsExternal in the settings region; the pack skips it."""
    run = run_program(
        config(
            RECEIVER,
            **{
                "example.com": {"reports": "builtin"},
                "ext.example.org": {
                    "reports": "builtin",
                    "dns": "external",
                    "routing": "custom-domain",
                },
            },
        )
    )
    assert run.error is None, run.error
    data = receiver_in_script(run.by_name("reports-script").inputs["content"])
    assert data.domains == ("example.com", "ext.example.org")
    assert data.builtin == {"example.com", "ext.example.org"}
    assert data.dns_external == {"ext.example.org"}
    assert not [r for r in run.resources if r.name == "ext.example.org-tlsrpt"]
