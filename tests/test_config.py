"""The stack config loader: what it accepts, what it rejects (naming the key), what it warns about."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mtasts.model import stackfile
from mtasts.model.config import (
    DEFAULTS,
    SETTINGS,
    TOP_KEYS,
    ConfigError,
    Deployment,
    Domain,
    load_config,
    load_stack,
)
from mtasts.model.errors import one_line
from mtasts.model.findings import Severity
from mtasts.model.receiver import SECRET_KEYS
from tests.conftest import ACCOUNT, ROOT


def config(**domains: Any) -> dict[str, Any]:
    return {
        "mta-sts:cloudflareAccountId": ACCOUNT,
        "mta-sts:defaults": {"mx": ["mx.example.com"], "tlsrpt": ["mailto:tlsrpt@example.net"]},
        "mta-sts:domains": domains or {"example.com": {}},
    }


def rejected(cfg: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    return info.value


def test_pulumi_yaml_defaults_match_the_loader() -> None:
    """Pulumi.yaml declares exactly the loader's defaults for mta-sts:defaults."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    declared = project["config"]["mta-sts:defaults"]["value"]
    assert declared == DEFAULTS


def test_pulumi_yaml_declares_every_key_with_a_description() -> None:
    """Pulumi.yaml declares exactly the loader's top-level keys, each described; typed ones with a default."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    keys = project["config"]
    assert {key.rpartition(":")[2] for key in keys} == set(TOP_KEYS) - set(SECRET_KEYS)
    assert {"type", "description", "default"} <= set(keys["cloudflareAccountId"])
    assert all(keys[k]["description"] for k in keys)
    assert keys["mta-sts:domains"]["value"] == {}


def test_every_setting_fills_a_domain_field() -> None:
    """Each SETTINGS entry names a Domain field, so adding a key without its field fails here."""
    fields = {f.name for f in dataclasses.fields(Domain)}
    assert {setting.field for setting in SETTINGS.values()} <= fields


@pytest.mark.parametrize("setting", ["mx", "tlsrpt"])
def test_mx_and_tlsrpt_share_one_list_validator(setting: str) -> None:
    """mx and tlsrpt reject a bare string and a non-string item with the same wording."""
    error = rejected(config(**{"b.example": {setting: "x"}}))
    assert (error.key, error.rule) == (f"domains.b.example.{setting}", "must be a list of strings, got 'x'")
    error = rejected(config(**{"b.example": {setting: [7]}}))
    assert (error.key, error.rule) == (f"domains.b.example.{setting}[0]", "must be a string, got 7")


def test_defaults_only_domain_inherits_everything() -> None:
    """A domain declared as {} takes every setting from defaults."""
    domain = load_config(config()).domain("example.com")
    assert (domain.hosting, domain.mode, domain.max_age) == ("cloudflare-worker", "testing", 604800)
    assert domain.mx == ("mx.example.com",)
    assert domain.tlsrpt == ("mailto:tlsrpt@example.net",)


def test_per_domain_overrides_win() -> None:
    """Per-domain settings override defaults, one key at a time."""
    cfg = config(**{"example.org": {"mode": "enforce", "maxAge": "1209600", "mx": ["MX1.Example.org."]}})
    domain = load_config(cfg).domain("example.org")
    assert (domain.mode, domain.max_age, domain.mx) == ("enforce", 1209600, ("mx1.example.org",))
    assert domain.tlsrpt == ("mailto:tlsrpt@example.net",)


def test_bare_keys_are_accepted() -> None:
    """Keys without the mta-sts: namespace load the same."""
    namespaced = load_config(config())
    bare = load_config({k.split(":", 1)[1]: v for k, v in config().items()})
    assert bare == namespaced


def test_json_text_values_as_pulumi_config_holds_them() -> None:
    """Objects given as JSON text, as pulumi.Config holds them, load the same as mappings."""
    as_text = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config().items()}
    assert load_config(as_text) == load_config(config())
    broken = {**as_text, "mta-sts:domains": "{not json"}
    error = rejected(broken)
    assert error.key == "domains" and "JSON" in error.rule


def test_domain_names_are_normalized_and_sorted() -> None:
    """Names are lower-cased, lose a trailing dot, and come out sorted."""
    deployment = load_config(config(**{"B.example.": {}, "a.example": {}}))
    assert [d.name for d in deployment.domains] == ["a.example", "b.example"]


@pytest.mark.parametrize(
    ("mutate", "key", "rule"),
    [
        (
            lambda c: c["mta-sts:domains"].update({"Example.COM.": {}}),
            "domains.Example.COM.",
            "declared twice",
        ),
        (lambda c: c["mta-sts:domains"].update({"exa mple.com": {}}), "domains.exa mple.com", "label"),
        (lambda c: c["mta-sts:domains"].update({"localhost": {}}), "domains.localhost", "at least 2 labels"),
        (lambda c: c["mta-sts:domains"].update({"192.0.2.1": {}}), "domains.192.0.2.1", "IP address"),
        (
            lambda c: c["mta-sts:domains"].update({"b.example": {"maxage": 5}}),
            "domains.b.example.maxage",
            "did you mean 'maxAge'",
        ),
        (
            lambda c: c["mta-sts:domains"].update({"b.example": {"mode": "enforcing"}}),
            "domains.b.example.mode",
            "must be one of enforce, testing, none",
        ),
        (
            lambda c: c["mta-sts:domains"].update({"b.example": {"hosting": "s3"}}),
            "domains.b.example.hosting",
            "must be one of cloudflare-worker, github-pages",
        ),
        (
            lambda c: c["mta-sts:domains"].update({"b.example": {"maxAge": 31557601}}),
            "domains.b.example.maxAge",
            "between 0 and 31557600",
        ),
        (
            lambda c: c["mta-sts:domains"].update({"b.example": {"maxAge": -1}}),
            "domains.b.example.maxAge",
            "between 0 and 31557600",
        ),
        (
            lambda c: c["mta-sts:domains"].update({"b.example": {"maxAge": True}}),
            "domains.b.example.maxAge",
            "not a boolean",
        ),
        (
            lambda c: c["mta-sts:domains"].update({"b.example": {"maxAge": "1e5"}}),
            "domains.b.example.maxAge",
            "whole number",
        ),
        (
            lambda c: c["mta-sts:domains"].update({"b.example": {"mode": "enforce", "mx": []}}),
            "domains.b.example.mx",
            "needs at least one mx",
        ),
        (
            lambda c: c["mta-sts:domains"].update(
                {"b.example": {"mx": ["mx.example.com", "*.*.example.com"]}}
            ),
            "domains.b.example.mx[1]",
            "wildcard",
        ),
        (
            lambda c: c["mta-sts:domains"].update({"b.example": {"mx": ["mx.example.com", "192.0.2.1"]}}),
            "domains.b.example.mx[1]",
            "IP address",
        ),
        (
            lambda c: c["mta-sts:domains"].update(
                {"b.example": {"mx": ["mx.example.com", "MX.example.com."]}}
            ),
            "domains.b.example.mx[1]",
            "listed twice",
        ),
        (
            lambda c: c["mta-sts:domains"].update({"b.example": {"mx": "mx.example.com"}}),
            "domains.b.example.mx",
            "list of strings",
        ),
        (
            lambda c: c["mta-sts:domains"].update(
                {"b.example": {"tlsrpt": ["mailto:a@example.com", "http://x.example/r"]}}
            ),
            "domains.b.example.tlsrpt[1]",
            "mailto: or https:",
        ),
        (
            lambda c: c["mta-sts:domains"].update({"b.example": {"tlsrpt": ["mailto:a!b@example.com"]}}),
            "domains.b.example.tlsrpt[0]",
            "percent-encoded",
        ),
        (
            lambda c: c["mta-sts:domains"].update({"b.example": {"zoneId": "not-a-zone"}}),
            "domains.b.example.zoneId",
            "32 lower-case hex",
        ),
        (
            lambda c: c["mta-sts:domains"].update({"b.example": {"zone": "other.example"}}),
            "domains.b.example.zone",
            "does not contain",
        ),
        (lambda c: c["mta-sts:defaults"].update({"zoneId": "0" * 32}), "defaults.zoneId", "unknown key"),
        (lambda c: c["mta-sts:defaults"].update({"mode": "strict"}), "defaults.mode", "must be one of"),
        (lambda c: c["mta-sts:defaults"].update({"mx": ["bad_host.example"]}), "defaults.mx[0]", "label"),
        (lambda c: c.update({"mta-sts:domain": {}}), "domain", "did you mean 'domains'"),
        (lambda c: c.update({"mta-sts:domains": {}}), "domains", "at least one"),
        (lambda c: c.update({"mta-sts:domains": ["example.com"]}), "domains", "mapping"),
        (lambda c: c.pop("mta-sts:cloudflareAccountId"), "cloudflareAccountId", "required"),
        (
            lambda c: c.update({"mta-sts:cloudflareAccountId": "acct"}),
            "cloudflareAccountId",
            "32 lower-case hex",
        ),
        (
            lambda c: c["mta-sts:domains"].update({"b.example": {"hosting": "github-pages"}}),
            "github:owner",
            "required because b.example",
        ),
        (
            lambda c: c["mta-sts:domains"].update({"b.example": {"repository": "x"}}),
            "domains.b.example.repository",
            "github-pages",
        ),
        (
            lambda c: c["mta-sts:domains"].update({"b.example": {"dns": "external"}}),
            # The domain that inherits the value is named, not defaults.routing (shared by all).
            "domains.b.example.routing",
            "custom-domain",
        ),
        (
            lambda c: c["mta-sts:domains"].update({"b.example": {"httpsEnforced": True}}),
            "domains.b.example.httpsEnforced",
            "github-pages",
        ),
        (
            lambda c: (
                c.update({"github:owner": "o"})
                or c["mta-sts:domains"].update(
                    {"b.example": {"hosting": "github-pages", "httpsEnforced": "yes"}}
                )
            ),
            "domains.b.example.httpsEnforced",
            "true or false",
        ),
        (
            lambda c: c["mta-sts:domains"].update({"b.example": {"dns": "route53"}}),
            "domains.b.example.dns",
            "must be one of cloudflare, external",
        ),
    ],
)
def test_rejections_name_the_key(mutate: Any, key: str, rule: str) -> None:
    """Each invalid setting raises ConfigError whose message starts with the dotted key and names the rule."""
    cfg = copy.deepcopy(config())
    mutate(cfg)
    error = rejected(cfg)
    assert error.key == key
    assert str(error).startswith(f"{key}: ")
    assert rule in error.rule


def test_mode_none_needs_no_mx() -> None:
    """mode none is valid with no mx patterns."""
    cfg = config(**{"example.com": {"mode": "none", "mx": []}})
    assert load_config(cfg).domain("example.com").policy_text.startswith("version: STSv1\r\nmode: none\r\n")


def test_warning_enforce_with_short_max_age() -> None:
    """enforce with max_age under a day warns but loads."""
    deployment = load_config(config(**{"example.com": {"mode": "enforce", "maxAge": 3600}}))
    assert any(
        w.startswith("domains.example.com.maxAge:") and "under one day" in w for w in deployment.warnings
    )


def test_warning_no_tlsrpt() -> None:
    """A domain without TLS-RPT URIs warns and gets no _smtp._tls record."""
    deployment = load_config(config(**{"example.com": {"tlsrpt": []}}))
    assert any(w.startswith("domains.example.com.tlsrpt:") for w in deployment.warnings)
    assert [r.role for r in deployment.domain("example.com").records] == ["policy-host", "sts"]


def test_warning_tlsrpt_mailbox_on_enforced_domain_of_this_stack() -> None:
    """Reports sent to a mailbox on an enforce domain of the same stack warn; on a subdomain they do not."""
    cfg = config(
        **{
            "example.com": {"mode": "enforce", "tlsrpt": ["mailto:tls@example.com"]},
            "example.org": {"tlsrpt": ["mailto:tls@reports.example.com"]},
        }
    )
    warnings = load_config(cfg).warnings
    assert any(w.startswith("domains.example.com.tlsrpt:") and "enforce" in w for w in warnings)
    assert not any(w.startswith("domains.example.org.tlsrpt:") for w in warnings)


def test_no_warnings_for_a_sound_config() -> None:
    """A testing domain with TLS-RPT elsewhere loads without warnings."""
    assert load_config(config()).warnings == ()


def test_warnings_are_findings_indexed_by_their_domain() -> None:
    """Each warning is a WARNING Finding with its key; warnings_for gives one domain's, not a suffix's."""
    cfg = config(
        **{"a.example": {"tlsrpt": []}, "b.a.example": {"mode": "enforce", "maxAge": 60}, "c.example": {}}
    )
    deployment = load_config(cfg)
    assert [(f.severity, f.key) for f in deployment.findings] == [
        (Severity.WARNING, "domains.a.example.tlsrpt"),
        (Severity.WARNING, "domains.b.a.example.maxAge"),
    ]
    tlsrpt, max_age = deployment.findings
    assert deployment.findings_for("a.example") == (tlsrpt,)
    assert deployment.findings_for("b.a.example") == (max_age,)
    assert deployment.findings_for("c.example") == ()
    assert deployment.warnings_for("a.example") == [f"domains.a.example.tlsrpt: {tlsrpt.reason}"]


def test_plan_prints_warnings_as_before(project: Path) -> None:
    """plan prints ``warning: <key>: <reason>`` lines and --json a list of ``<key>: <reason>`` strings."""
    shutil.copy(STACKS / "valid" / "no-tlsrpt.yaml", project / "Pulumi.t.yaml")
    reason = "no TLS-RPT URI, so senders cannot report failures (RFC 8460)"
    text = plan(project)
    assert f"\nwarning: domains.example.com.tlsrpt: {reason}\n" in text.stdout
    warnings = json.loads(plan(project, "--json").stdout)["domains"]["example.com"]["warnings"]
    assert warnings == [f"domains.example.com.tlsrpt: {reason}"]


def test_same_config_same_ids() -> None:
    """Loading the same stack twice gives the same ids."""
    first = load_stack(ROOT, "dev")
    second = load_stack(ROOT, "dev")
    assert [(d.name, d.policy_id) for d in first.domains] == [(d.name, d.policy_id) for d in second.domains]


def test_changing_one_domain_changes_only_its_id() -> None:
    """Editing one domain's policy changes that domain's id and no other."""
    cfg = config(**{"a.example": {}, "b.example": {}, "c.example": {"mode": "enforce"}})
    before = {d.name: d.policy_id for d in load_config(cfg).domains}
    cfg["mta-sts:domains"]["b.example"] = {"maxAge": 86400}
    after = {d.name: d.policy_id for d in load_config(cfg).domains}
    assert before["b.example"] != after["b.example"]
    assert {k: v for k, v in before.items() if k != "b.example"} == {
        k: v for k, v in after.items() if k != "b.example"
    }


def test_records_follow_hosting_and_dns() -> None:
    """Each hosting/dns/routing combination gets its policy-host record, then the TXT records."""
    cfg = config(
        **{
            "w.example": {},
            "c.example": {"routing": "custom-domain"},
            "x.example": {"routing": "custom-domain", "dns": "external"},
            "p.example": {"hosting": "github-pages"},
        }
    )
    cfg["github:owner"] = "example-org"
    deployment = load_config(cfg)
    host = {
        d.name: [(r.type, r.content, r.proxied) for r in d.records if r.role == "policy-host"]
        for d in deployment.domains
    }
    assert host == {
        "c.example": [],
        "p.example": [("CNAME", "example-org.github.io", False)],
        "w.example": [("AAAA", "100::", True)],
        "x.example": [("CNAME", "mta-sts.x.example.cdn.cloudflare.net", False)],
    }
    sts = deployment.domain("w.example").records[1]
    assert (sts.name, sts.type) == ("_mta-sts.w.example", "TXT")
    assert sts.content == '"v=STSv1; id=' + deployment.domain("w.example").policy_id + '"'


STACKS = Path(__file__).resolve().parent / "stacks"
VALID = sorted((STACKS / "valid").glob("*.yaml"))
INVALID = sorted((STACKS / "invalid").glob("*.yaml"))


def expectation(path: Path) -> list[str]:
    """The ``# expect:`` and ``# warning:`` header lines of a corpus file, without their prefix."""
    lines = []
    for raw in path.read_bytes().split(b"\n"):
        if not raw.startswith((b"# expect: ", b"# warning: ")):
            break
        lines.append(raw.decode("utf-8").removeprefix("# "))
    return lines


def load_corpus_file(project: Path, path: Path) -> Deployment:
    shutil.copy(path, project / "Pulumi.t.yaml")
    return load_stack(project, "t")


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_corpus_invalid_stack_names_key_and_rule(project: Path, path: Path) -> None:
    """Each invalid corpus file raises ConfigError with the key and rule its header names."""
    header = expectation(path)[0].removeprefix("expect: ")
    key, _, rule = header.partition(" | ")
    with pytest.raises(ConfigError) as info:
        load_corpus_file(project, path)
    assert one_line(info.value.key) == key.replace("{file}", "Pulumi.t.yaml")
    assert rule in info.value.rule
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_corpus_valid_stack_loads_with_its_warnings(project: Path, path: Path) -> None:
    """Each valid corpus file loads, warning about exactly the keys its header lists."""
    header = expectation(path)
    assert header[0] == "expect: plans"
    deployment = load_corpus_file(project, path)
    warned = {w.removeprefix("warning: ") for w in header[1:]}
    assert {f.key for f in deployment.findings} == warned
    assert all(f.severity is Severity.WARNING for f in deployment.findings)


def plan(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mtasts", "--project-dir", str(project), "plan", "--stack", "t", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_error_line(result: subprocess.CompletedProcess[str], prefix: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stdout == ""
    assert result.stderr.startswith(prefix), result.stderr[:300]
    # The defect the sample is about comes first; a stack may break other rules too, each its line.
    lines = result.stderr.splitlines()
    assert result.stderr.endswith("\n") and all(line.startswith("error: ") for line in lines[:-1])
    assert len(lines) == 1 or lines[-1] == f"{len(lines) - 1} errors", lines


CLI_SAMPLE = [
    "latin1-comment",
    "document-list",
    "config-scalar",
    "huge-int-max-age",
    "very-deep-flow",
    "deep-block-sequences",
    "deep-json-text",
    "duplicate-setting",
    "duplicate-json-setting",
    "kelvin-domain",
    "a-label-no-round-trip",
    "pages-same-repository-case",
    "policy-over-64k",
    "tlsrpt-record-too-long",
    "derived-tlsrpt-name-too-long",
    "max-age-yaml11-010",
    "newline-in-domain-name",
]


@pytest.mark.parametrize("name", CLI_SAMPLE)
def test_plan_prints_one_error_line_for_hostile_stack(project: Path, name: str) -> None:
    """mtasts plan on a hostile stack file exits 2 with one ``error: <key>: <rule>`` line, no traceback."""
    path = STACKS / "invalid" / f"{name}.yaml"
    key, _, rule = expectation(path)[0].removeprefix("expect: ").partition(" | ")
    shutil.copy(path, project / "Pulumi.t.yaml")
    result = plan(project)
    assert_one_error_line(result, f"error: {key.replace('{file}', 'Pulumi.t.yaml')}: ")
    assert rule in result.stderr


@pytest.mark.parametrize(
    ("project_text", "expected"),
    [
        (b"name: mta-sts\nconfig: [a, b]\n", "error: Pulumi.yaml: config must be a mapping"),
        (b"name: mta-sts\nconfig: 3\n", "error: Pulumi.yaml: config must be a mapping"),
        (b"- name\n", "error: Pulumi.yaml: must be a YAML mapping"),
        (b"# r\xe9sum\xe9\nname: mta-sts\n", "error: Pulumi.yaml: is not UTF-8"),
        (
            b"name: a\nname: b\n",
            "error: Pulumi.yaml: is not valid YAML at line 2, column 1: duplicate key 'name'",
        ),
    ],
)
def test_plan_rejects_a_broken_pulumi_yaml(project: Path, project_text: bytes, expected: str) -> None:
    """A Pulumi.yaml that is not a mapping, has a non-mapping config, or is not UTF-8 gets one error line."""
    (project / "Pulumi.yaml").write_bytes(project_text)
    shutil.copy(STACKS / "valid" / "minimal.yaml", project / "Pulumi.t.yaml")
    assert_one_error_line(plan(project), expected)


def test_plan_names_an_unreadable_file(project: Path) -> None:
    """A Pulumi.yaml or stack file that cannot be read (a directory, a symlink loop) gets one error line."""
    shutil.copy(STACKS / "valid" / "minimal.yaml", project / "Pulumi.t.yaml")
    (project / "Pulumi.yaml").unlink()
    (project / "Pulumi.yaml").mkdir()
    assert_one_error_line(plan(project), "error: Pulumi.yaml: cannot be read: ")
    (project / "Pulumi.yaml").rmdir()
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    (project / "Pulumi.t.yaml").unlink()
    (project / "Pulumi.t.yaml").symlink_to(project / "Pulumi.t.yaml")
    assert_one_error_line(plan(project), "error: Pulumi.t.yaml: cannot be read: ")


@pytest.mark.parametrize("name", ["every-mode-and-hosting", "utf8-bom", "a-labels", "json-text-values"])
def test_plan_plans_a_valid_corpus_stack(project: Path, name: str) -> None:
    """mtasts plan --json on a valid corpus file exits 0 and prints one JSON object with every domain."""
    shutil.copy(STACKS / "valid" / f"{name}.yaml", project / "Pulumi.t.yaml")
    result = plan(project, "--json")
    assert result.returncode == 0, result.stderr
    domains = json.loads(result.stdout)["domains"]
    assert set(domains) == {d.name for d in load_stack(project, "t").domains}


@pytest.mark.parametrize("loader", [stackfile.LOADER, stackfile._PyLoader], ids=["libyaml", "pure-python"])
@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("a: 1\nb: {c: 1, c: 2}\n", "at line 2, column 11: duplicate key 'c' (first at line 2)"),
        ("a: " + "9" * 200 + "\n", "an integer of 200 digits is too long"),
        ("a: " + "[" * 70 + "]" * 70 + "\n", "more than 64 levels deep"),
        ("a: !!int x\n", "has a value YAML cannot read"),
    ],
)
def test_both_yaml_loaders_are_strict(
    monkeypatch: pytest.MonkeyPatch, loader: type, text: str, rule: str
) -> None:
    """The libyaml and the pure-Python loader reject duplicates, long integers, deep nesting alike."""
    monkeypatch.setattr(stackfile, "LOADER", loader)
    with pytest.raises(ConfigError) as info:
        stackfile.parse_yaml(text, "f.yaml")
    assert info.value.key == "f.yaml" and rule in info.value.rule


@pytest.mark.parametrize("loader", [stackfile.LOADER, stackfile._PyLoader], ids=["libyaml", "pure-python"])
def test_both_yaml_loaders_keep_yaml11_number_text(monkeypatch: pytest.MonkeyPatch, loader: type) -> None:
    """Both loaders read 010 as 8 but remember it was written 010; plain decimals stay plain ints."""
    monkeypatch.setattr(stackfile, "LOADER", loader)
    value = stackfile.parse_yaml("a: 010\nb: 10\n", "f.yaml")
    assert value == {"a": 8, "b": 10}
    assert isinstance(value["a"], stackfile.Yaml11Int) and value["a"].text == "010"
    assert type(value["b"]) is int
