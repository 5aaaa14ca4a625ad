"""The reports explain themselves: RFC 8460 result types, and ``reports --diagnose`` probing now.

The table is checked against the result types RFC 8460 §4.3 lists (written out here); the
diagnosis runs against a lab: a policy host that serves Cloudflare's challenge page
(``cf-mitigated: challenge``, 403, HTML), one that redirects, one served correctly, and an MX
whose certificate has expired.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mtasts.checks.diagnose import probe_targets
from mtasts.commands.reports import explanations, render_text
from mtasts.commands.shared.diagnosis import diagnose
from mtasts.model.receiver_summary import parse_summary
from mtasts.probes import ProbeOptions
from mtasts.rfc.policy import Policy
from mtasts.rfc.tlsrpt_results import explain, result_types
from tests.servers import HttpsServer, KnotDns, Pki, Route, SmtpServer, free_port, zone_text

ZONE = "diag.test"
HTTPS_ADDR, MX_OK, MX_EXPIRED = "127.0.0.70", "127.0.0.71", "127.0.0.72"
POLICY = Policy(mode="enforce", max_age=604800, mx=(f"*.{ZONE}",))
RFC_8460_TYPES = {
    "starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
    "certificate-not-trusted", "validation-failure", "tlsa-invalid", "dnssec-invalid",
    "dane-required", "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid",
}  # fmt: skip
CHALLENGE = Route(
    status=403,
    body=b"<!DOCTYPE html><title>Just a moment...</title>",
    content_type="text/html; charset=UTF-8",
    headers=(("cf-mitigated", "challenge"),),
)


def test_every_rfc_8460_failure_type_is_explained() -> None:
    """The table has exactly RFC 8460 §4.3's failure types, each with a meaning, an action, a probe."""
    table = result_types()
    assert set(table) == RFC_8460_TYPES
    for kind in table.values():
        assert kind.meaning and kind.action and kind.probe in ("policy", "mx", "dane")
        assert kind.section.startswith("4.3.")
    assert explain("STS-Policy-Fetch-Error") is table["sts-policy-fetch-error"]
    assert explain("made-up") is None


def failure(kind: str, mx: str | None = None, sessions: int = 3) -> dict[str, Any]:
    return {"resultType": kind, "receivingMx": mx, "receivingIp": None, "sessions": sessions}


def entry(*failures: dict[str, Any]) -> dict[str, Any]:
    return {
        "reports": 1, "organizations": ["Google"], "successful": 10,
        "failed": sum(f["sessions"] for f in failures),
        "failures": list(failures), "firstReport": None, "lastReport": "2026-12-01T00:00:00Z",
    }  # fmt: skip


def test_explanations_cover_the_summary_and_unknown_types() -> None:
    """Each failure type of a summary gets its meaning; an unknown one says it is not RFC 8460's."""
    summary = parse_summary(
        {"domains": {"a.example": entry(failure("sts-policy-fetch-error"), failure("x-vendor"))}}
    )
    found = explanations(summary)
    assert found["sts-policy-fetch-error"]["section"] == "4.3.2.2"
    assert found["x-vendor"]["meaning"] == "not an RFC 8460 result type"
    text = render_text(summary, "prod", "https://r.example", None)
    assert "sts-policy-fetch-error (RFC 8460 §4.3.2.2): the sender could not fetch the MTA-STS policy" in text


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProbeOptions]:
    tmp = tmp_path_factory.mktemp("diagnose-lab")
    pki = Pki(tmp)
    hosts = {label: f"mta-sts.{label}.{ZONE}" for label in ("challenged", "redirected", "fine")}
    routes = {
        hosts["challenged"]: CHALLENGE,
        hosts["redirected"]: Route(status=301, headers=(("Location", "https://www.diag.test/"),)),
        hosts["fine"]: Route(body=POLICY.render().encode()),
    }
    records = [(f"mta-sts.{label}", "A", HTTPS_ADDR) for label in hosts]
    records += [
        ("ok.mx", "A", MX_OK),
        ("old.mx", "A", MX_EXPIRED),
        ("fine", "MX", "10 ok.mx"),
        ("fine", "MX", "20 old.mx"),
    ]
    contexts = {h: pki.context(h) for h in hosts.values()}
    https = HttpsServer(contexts, pki.context("default.invalid"), routes, HTTPS_ADDR, free_port(HTTPS_ADDR))
    smtp_port = free_port(MX_OK, [MX_EXPIRED])
    ok = SmtpServer(MX_OK, smtp_port, pki.context(f"ok.mx.{ZONE}", days_left=5), f"ok.mx.{ZONE}")
    old = SmtpServer(MX_EXPIRED, smtp_port, pki.context(f"old.mx.{ZONE}", expired=True), f"old.mx.{ZONE}")
    with KnotDns({ZONE: zone_text(ZONE, records)}) as knot, https, ok, old:
        yield ProbeOptions(
            nameserver=(knot.host, knot.port), ca_bundle=str(pki.ca_file), https_port=https.port,
            smtp_port=smtp_port, timeout=5.0,
        )  # fmt: skip


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_diagnosis_says_what_a_sender_finds_now(lab: ProbeOptions) -> None:
    """A challenge page, a redirect, an expired MX certificate, and a policy that is fine now."""
    summary = parse_summary(
        {
            "domains": {
                f"challenged.{ZONE}": entry(failure("sts-policy-fetch-error")),
                f"redirected.{ZONE}": entry(failure("sts-policy-fetch-error")),
                f"fine.{ZONE}": entry(
                    failure("sts-webpki-invalid"), failure("certificate-expired", f"old.mx.{ZONE}")
                ),
                f"quiet.{ZONE}": entry(),
            }
        }
    )
    found = diagnose(summary, lab)
    assert f"quiet.{ZONE}" not in found  # no failure, nothing probed
    [challenged] = found[f"challenged.{ZONE}"]
    assert "serves a challenge page (cf-mitigated: challenge)" in challenged and "WAF skip rule" in challenged
    [redirected] = found[f"redirected.{ZONE}"]
    assert "a redirect (301 to https://www.diag.test/)" in redirected
    fine = found[f"fine.{ZONE}"]
    assert fine[0].startswith(f"now: mta-sts.fine.{ZONE} serves a valid policy (mode enforce)")
    assert [line for line in fine if line.startswith(f"old.mx.{ZONE}: now:")] == [
        f"old.mx.{ZONE}: now: old.mx.{ZONE}: the certificate has expired (certificate has expired)"
    ]
    text = render_text(summary, "prod", "https://r.example", None, found)
    assert f"challenged.{ZONE} as a sender sees it now:" in text


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_diagnosis_of_the_domains_mx_when_the_report_names_none(lab: ProbeOptions) -> None:
    """certificate-* without receivingMx: every MX of the domain is probed, days left included."""
    summary = parse_summary({"domains": {f"fine.{ZONE}": entry(failure("certificate-not-trusted"))}})
    found = diagnose(summary, lab)
    lines = found[f"fine.{ZONE}"]
    assert lines[0].startswith(f"ok.mx.{ZONE}: now: ok.mx.{ZONE}: STARTTLS with TLS")
    assert "certificate expires in 5.0 days" in lines[1]


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_a_host_the_domain_does_not_name_is_not_probed(lab: ProbeOptions) -> None:
    """A report naming a host that is neither an MX nor in the policy: said, never connected to."""
    outsider = "127.0.0.1"  # anyone can send a report naming any host
    summary = parse_summary({"domains": {f"fine.{ZONE}": entry(failure("certificate-expired", outsider))}})
    lines = diagnose(summary, lab)[f"fine.{ZONE}"]
    assert lines[-1] == (
        f"now: {outsider}: named by the reports but neither an MX of fine.{ZONE} nor matched by its "
        "policy: not probed (a report can name any host)"
    )
    assert not any(line.startswith(f"{outsider}: ") for line in lines)


def test_probe_targets_keep_live_and_policy_hosts_only() -> None:
    """Named hosts: the live MX and the policy's matches are probed, others not; none named: all."""
    live = ("mx1.example.com",)
    assert probe_targets([], live, ()) == (["mx1.example.com"], [])
    named = ["mx1.example.com", "old.mx.example.com", "evil.example.net"]
    assert probe_targets(named, live, ("*.mx.example.com",)) == (
        ["mx1.example.com", "old.mx.example.com"],
        ["evil.example.net"],
    )
