"""Certificates ahead of time, and the run as OpenMetrics: ``verify`` against real servers.

A lab on 127.0.0.40… and fd6d:7473::40… (added to ``lo``): Knot serves ``expiry.test``, an HTTPS
server on both families serves the policies, and one aiosmtpd per address presents a certificate
from the trustme CA that expires in 3, 10 or 40 days; ``split.mx`` has 40 days on IPv4 and 3 on
IPv6. ``verify`` runs once per module; the OpenMetrics output of the CLI is read back with
``prometheus_client``'s parser.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from mtasts.checks.certificates import ServedCertificate, Thresholds
from mtasts.commands import cli
from mtasts.commands.verify import Report, verify
from mtasts.commands.verify.metrics import render_openmetrics
from mtasts.model.findings import Finding, Severity
from mtasts.model.vocabulary import Check, Endpoint
from mtasts.probes import ProbeOptions
from mtasts.rfc.policy import Policy
from tests.servers import HttpsServer, KnotDns, Pki, Route, SmtpServer, ensure_loopback, free_port, zone_text

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ZONE = "expiry.test"
V4 = "127.0.0.{}"
V6 = "fd6d:7473::{}"
HTTPS_AT = 40
MX_HOSTS = {
    "in3.mx": (41, 3, 3), "in10.mx": (42, 10, 10), "in40.mx": (43, 40, 40), "split.mx": (44, 40, 3),
    "expired.mx": (45, -2, 40),
}  # fmt: skip
"""MX label → (last address byte, days left on IPv4, days left on IPv6)."""
POLICY = Policy(mode="enforce", max_age=604800, mx=("*.mx.expiry.test",))
DOMAINS = {
    # label: (mode, MX label, days left of the policy host's certificate)
    "enforce-3": ("enforce", "in3.mx", 40),
    "testing-3": ("testing", "in3.mx", 40),
    "enforce-10": ("enforce", "in10.mx", 40),
    "enforce-40": ("enforce", "in40.mx", 40),
    "enforce-split": ("enforce", "split.mx", 40),
    "policy-10": ("enforce", "in40.mx", 10),
    "enforce-expired": ("enforce", "expired.mx", 40),
}


def fq(label: str) -> str:
    return f"{label}.{ZONE}"


def policy_for(mode: str) -> Policy:
    return Policy(mode=mode, max_age=POLICY.max_age, mx=POLICY.mx)


@dataclass
class Lab:
    knot: KnotDns
    pki: Pki
    https_port: int
    smtp_port: int
    reports: dict[str, Report]
    project: Path

    def options(self) -> ProbeOptions:
        return ProbeOptions(
            nameserver=(self.knot.host, self.knot.port),
            ca_bundle=str(self.pki.ca_file),
            https_port=self.https_port,
            smtp_port=self.smtp_port,
            timeout=5.0,
        )

    def argv(self, *extra: str) -> list[str]:
        return [
            "--project-dir", str(self.project), "verify", *extra, "--nameserver", self.knot.address,
            "--ca-bundle", str(self.pki.ca_file), "--https-port", str(self.https_port),
            "--smtp-port", str(self.smtp_port), "--timeout", "5",
        ]  # fmt: skip


def zone() -> str:
    records: list[tuple[str, str, str]] = []
    for label, (last, _, _) in MX_HOSTS.items():
        records += [(label, "A", V4.format(last)), (label, "AAAA", V6.format(last))]
    for label, (mode, mx, _) in DOMAINS.items():
        records += [
            (label, "MX", f"10 {mx}"),
            (f"_mta-sts.{label}", "TXT", f'"v=STSv1; id={policy_for(mode).id}"'),
            (f"mta-sts.{label}", "A", V4.format(HTTPS_AT)),
            (f"mta-sts.{label}", "AAAA", V6.format(HTTPS_AT)),
            (f"_smtp._tls.{label}", "TXT", f'"v=TLSRPTv1; rua=mailto:r@{ZONE}"'),
        ]
    return zone_text(ZONE, records)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("expiry-lab")
    (tmp / "Pulumi.yaml").write_text("name: lab\nruntime: python\n", encoding="utf-8")
    pki = Pki(tmp)
    v6 = [ensure_loopback(V6.format(n)) for n in (HTTPS_AT, *(a for a, _, _ in MX_HOSTS.values()))]
    v4 = [V4.format(n) for n in (HTTPS_AT, *(a for a, _, _ in MX_HOSTS.values()))]
    https_port = free_port(v4[0], [*v4[1:], *v6])
    smtp_port = free_port(v4[0], [*v4[1:], *v6])
    contexts, routes = {}, {}
    for label, (mode, _, days) in DOMAINS.items():
        host = f"mta-sts.{fq(label)}"
        contexts[host] = pki.context(host, days_left=days)
        routes[host] = Route(body=policy_for(mode).render().encode())
    default = pki.context("default.invalid")
    servers: list[object] = [
        HttpsServer(contexts, default, routes, v4[0], https_port),
        HttpsServer(contexts, pki.context("default.invalid"), routes, v6[0], https_port),
    ]
    for label, (last, days4, days6) in MX_HOSTS.items():
        name = f"{label}.{ZONE}"
        servers.append(SmtpServer(V4.format(last), smtp_port, pki.context(name, days_left=days4), name))
        servers.append(SmtpServer(V6.format(last), smtp_port, pki.context(name, days_left=days6), name))
    knot = KnotDns({ZONE: zone()})
    with knot:
        started = []
        try:
            for server in servers:
                server.__enter__()  # type: ignore[attr-defined]
                started.append(server)
            lab = Lab(knot, pki, https_port, smtp_port, {}, tmp)
            reports = verify([fq(d) for d in DOMAINS], lab.options(), thresholds=Thresholds())
            lab.reports = {r.domain: r for r in reports}
            yield lab
        finally:
            for server in reversed(started):
                server.__exit__(None, None, None)  # type: ignore[attr-defined]


def finding(lab: Lab, label: str, check: str) -> tuple[Severity, str]:
    [found] = [(f.severity, f.reason) for f in lab.reports[fq(label)].findings if f.check == check]
    return found


# --------------------------------------------------------------------------- days left


@pytest.mark.parametrize(
    ("label", "severity", "days"),
    [
        ("enforce-3", Severity.ERROR, "3.0"),
        ("enforce-10", Severity.WARNING, "10.0"),
        ("enforce-40", Severity.OK, "40.0"),
    ],
)
def test_mx_certificate_days_left_against_the_default_thresholds(
    lab: Lab, label: str, severity: Severity, days: str
) -> None:
    """3 days left is an error, 10 a warning, 40 fine (defaults: warning 21, error 7)."""
    found, reason = finding(lab, label, "mx-certificate")
    assert found is severity
    assert f"expires in {days} days" in reason
    assert "at all 2 addresses" in reason  # the IPv4 and the IPv6 address both served it


def test_every_address_ipv4_and_ipv6_is_read(lab: Lab) -> None:
    """The report holds one certificate per address of the policy host and of the MX, both families."""
    report = lab.reports[fq("enforce-3")]
    seen = {(str(c.endpoint), c.address) for c in report.certificates}
    assert seen == {
        ("policy-host", V4.format(HTTPS_AT)),
        ("policy-host", V6.format(HTTPS_AT)),
        ("mx", V4.format(41)),
        ("mx", V6.format(41)),
    }


def test_the_soonest_address_decides_and_is_named(lab: Lab) -> None:
    """split.mx: 40 days on IPv4, 3 on IPv6 is an error naming each address with its days."""
    found, reason = finding(lab, "enforce-split", "mx-certificate")
    assert found is Severity.ERROR
    assert "expires in 3.0 days" in reason
    assert f"[{V6.format(44)}]:{lab.smtp_port} 3.0 days" in reason
    assert f"{V4.format(44)}:{lab.smtp_port} 40.0 days" in reason


def test_enforce_mx_about_to_expire_is_the_loudest_finding(lab: Lab) -> None:
    """Only enforce domains' MX certificates past the error threshold are urgent, printed first."""
    urgent = {name for name, r in lab.reports.items() if r.urgent}
    assert urgent == {fq("enforce-3"), fq("enforce-split"), fq("enforce-expired")}  # not testing-3
    found, reason = finding(lab, "testing-3", "mx-certificate")
    assert found is Severity.ERROR and "before enforce" in reason
    text = cli_output(lab, [fq(d) for d in DOMAINS])
    first = text.splitlines()[0]
    assert first.startswith("URGENT:")
    head = text.split("\n\n", 1)[0]
    assert fq("enforce-3") in head and fq("enforce-split") in head and fq("testing-3") not in head


def test_an_expired_mx_certificate_has_its_days_below_zero(lab: Lab) -> None:
    """Expired on IPv4 (the verified handshake refuses it): read unchecked, -2 days, urgent, once."""
    found, reason = finding(lab, "enforce-expired", "mx-certificate")
    assert found is Severity.ERROR and "certificate expired 2.0 days ago" in reason
    assert f"{V4.format(45)}:{lab.smtp_port} -2.0 days" in reason and "refuse to deliver here now" in reason
    assert finding(lab, "enforce-expired", "starttls")[0] is Severity.ERROR  # the handshake's own verdict
    report = lab.reports[fq("enforce-expired")]
    mx = sorted(c.address for c in report.certificates if str(c.endpoint) == "mx")
    assert mx == sorted([V4.format(45), V6.format(45)])  # one per address, none twice
    assert [f.check for f in report.urgent] == ["mx-certificate"]


def test_policy_host_certificate_is_checked_too(lab: Lab) -> None:
    """The policy host's certificate with 10 days left is a warning on its own check."""
    found, reason = finding(lab, "policy-10", "policy-certificate")
    assert found is Severity.WARNING and "senders cannot fetch the policy" in reason
    assert finding(lab, "enforce-40", "policy-certificate")[0] is Severity.OK


def test_thresholds_are_flags(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    """Hardenize's 60/13: 40 days becomes a warning and 10 days an error."""
    names = [fq("enforce-40"), fq("enforce-10")]
    status = cli.main(lab.argv(*names, "--json", "--cert-warning-days", "60", "--cert-error-days", "13"))
    document = json.loads(capsys.readouterr().out)["domains"]
    assert status == 1
    severities = {
        n: [f["severity"] for f in document[n]["findings"] if f["check"] == "mx-certificate"] for n in names
    }
    assert severities == {fq("enforce-40"): ["warning"], fq("enforce-10"): ["error"]}


def test_error_threshold_above_warning_is_a_usage_error(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    """--cert-error-days above --cert-warning-days: one error line, exit 2, nothing probed."""
    status = cli.main(lab.argv(fq("enforce-40"), "--cert-warning-days", "5", "--cert-error-days", "9"))
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "--cert-error-days" in err


# --------------------------------------------------------------------------- OpenMetrics


def cli_run(lab: Lab, names: list[str], *extra: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(lab.argv(*names, *extra))
    return code, out.getvalue()


def cli_output(lab: Lab, names: list[str], *extra: str) -> str:
    return cli_run(lab, names, *extra)[1]


@pytest.fixture(scope="module")
def exposition(lab: Lab) -> str:
    """The openmetrics output of one CLI run over every domain of the lab."""
    code, text = cli_run(lab, [fq(d) for d in DOMAINS], "--format", "openmetrics")
    # Errors are samples: `verify > f.tmp && mv f.tmp f.prom` must replace the file on every run.
    assert code == 0
    return text


@pytest.fixture(scope="module")
def metrics(exposition: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The exposition parsed by prometheus_client: name → (labels, value)."""
    text = exposition
    assert text.endswith("# EOF\n")
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found.setdefault(s.name, []).append((s.labels, s.value))
    return found


def test_openmetrics_certificate_days_per_address(
    metrics: dict[str, list[tuple[dict[str, str], float]]],
) -> None:
    """Days left per domain, endpoint and address, IPv4 and IPv6, as the parser reads them."""
    days = {
        (labels["domain"], labels["endpoint"], labels["address"]): value
        for labels, value in metrics["mtasts_certificate_remaining_days"]
    }
    assert math.isclose(days[(fq("enforce-split"), "mx", V6.format(44))], 3, abs_tol=0.1)
    assert math.isclose(days[(fq("enforce-split"), "mx", V4.format(44))], 40, abs_tol=0.1)
    assert math.isclose(days[(fq("policy-10"), "policy-host", V6.format(HTTPS_AT))], 10, abs_tol=0.1)
    assert len(days) == 4 * len(DOMAINS)  # two policy-host and two MX addresses per domain
    expiry = {
        (labels["domain"], labels["address"]): value
        for labels, value in metrics["mtasts_certificate_expiry_timestamp_seconds"]
    }
    assert math.isclose(expiry[(fq("enforce-3"), V4.format(41))], time.time() + 3 * 86400, abs_tol=600)


def test_openmetrics_findings_by_severity(
    lab: Lab, metrics: dict[str, list[tuple[dict[str, str], float]]]
) -> None:
    """Every domain has all four severities; the counts are the report's."""
    counts = {(labels["domain"], labels["severity"]): value for labels, value in metrics["mtasts_findings"]}
    assert len(counts) == 4 * len(DOMAINS)
    assert counts[(fq("enforce-3"), "error")] == 1
    assert counts[(fq("enforce-10"), "warning")] == 1
    assert counts[(fq("enforce-40"), "error")] == 0
    urgent = {labels["domain"]: value for labels, value in metrics["mtasts_urgent_findings"]}
    assert urgent[fq("enforce-3")] == 1 and urgent[fq("testing-3")] == 0
    modes = {labels["domain"]: labels["mode"] for labels, _ in metrics["mtasts_policy_mode_info"]}
    assert modes[fq("testing-3")] == "testing"


def test_openmetrics_follows_the_naming_rules(exposition: str) -> None:
    """A unit is the name's suffix, a gauge is not a _total, one sample per label set, # EOF last."""
    families = list(text_string_to_metric_families(exposition))
    assert {f.name: f.unit for f in families if f.unit} == {
        "mtasts_certificate_remaining_days": "days",
        "mtasts_certificate_expiry_timestamp_seconds": "seconds",
        "mtasts_verify_timestamp_seconds": "seconds",
    }
    for family in families:
        assert family.name.startswith("mtasts_") and family.documentation
        assert not family.name.endswith("_total") or family.type == "counter"
        series = [(s.name, tuple(sorted(s.labels.items()))) for s in family.samples]
        assert len(series) == len(set(series)), family.name
    assert exposition.splitlines()[-1] == "# EOF"


def test_openmetrics_exits_0_where_text_exits_1(lab: Lab) -> None:
    """An error finding: the text report exits 1, the exposition 0 (its numbers carry the error)."""
    assert cli_run(lab, [fq("enforce-3")])[0] == 1
    code, text = cli_run(lab, [fq("enforce-3")], "--format", "openmetrics")
    assert code == 0 and 'mtasts_urgent_findings{domain="enforce-3.expiry.test"} 1' in text


def test_openmetrics_escapes_odd_label_values() -> None:
    """A host name from DNS with a quote, a backslash and a newline reads back unchanged."""
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    odd = 'we"ird\\mx\nx.example'
    cert = ServedCertificate(Endpoint.MX, odd, "2001:db8::1", 25, now + datetime.timedelta(days=3))
    finding = Finding(Check.DANE, Severity.ERROR, "stale", subject=odd)
    report = Report(domain="example.com", mode=None, findings=(finding,), certificates=(cert,), now=now)
    families = {f.name: f for f in text_string_to_metric_families(render_openmetrics([report]))}
    [days] = families["mtasts_certificate_remaining_days"].samples
    assert days.labels["host"] == odd and days.value == 3
    [dane] = families["mtasts_dane_match"].samples
    assert dane.labels == {"domain": "example.com", "host": odd} and dane.value == 0
