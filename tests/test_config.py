"""The stack config loader: what it accepts, what it rejects (naming the key), what it warns about."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mtasts.model.config import DEFAULTS, ConfigError, load_config, load_stack

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "0123456789abcdef0123456789abcdef"


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
    """Every project config key is declared, and the typed ones carry type, description and default."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    keys = project["config"]
    assert set(keys) == {
        "cloudflareAccountId",
        "mta-sts:defaults",
        "mta-sts:domains",
        "mta-sts:liveGate",
        "mta-sts:readiness",
    }
    assert {"type", "description", "default"} <= set(keys["cloudflareAccountId"])
    assert all(keys[k]["description"] for k in keys)
    assert keys["mta-sts:domains"]["value"] == {}


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
            "must be one of testing, enforce, none",
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
            "defaults.routing",
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
