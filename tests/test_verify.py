"""``mtasts verify`` against real servers on 127.0.0.0/8: Knot DNS, HTTPS by SNI, SMTP with STARTTLS.

One lab is built per module: a zone with one domain per defect, an HTTPS server picking the
certificate by SNI and the answer by Host, SMTP servers on 127.0.0.2… that differ by behaviour
(the SMTP port is global, the address tells them apart), and the real Worker in workerd behind
the HTTPS server. ``verify`` runs once over every domain; each test reads its domain's report.
"""

from __future__ import annotations

import gzip
import json
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mtasts.commands import cli
from mtasts.commands.verify import Report, verify
from mtasts.model.config import Deployment, load_stack
from mtasts.model.findings import Severity
from mtasts.model.policy_worker import worker_script
from mtasts.probes import ProbeOptions as Options
from mtasts.rfc.policy import Policy
from mtasts.runtime.workerd import run_worker
from tests.conftest import ROOT
from tests.servers import (
    HttpsServer,
    KnotDns,
    Pki,
    Route,
    ScriptedSmtp,
    SilentServer,
    SmtpServer,
    free_port,
    zone_text,
)

ERROR, WARNING, INFO, OK = Severity.ERROR, Severity.WARNING, Severity.INFO, Severity.OK

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ZONE = "verify.test"
TIMEOUT = 1.0
"""verify's per-step time limit in the lab: the slow servers below wait longer."""
GOOD_MX, EXPIRED_MX, WRONG_MX, SELF_MX, PLAIN_MX, SILENT_MX, DEAD_MX = (f"127.0.0.{i}" for i in range(2, 9))
OLD_TLS_HTTPS = "127.0.0.10"
"""A second HTTPS server, TLS 1.1 at most: SNI switches certificates, not protocol versions."""
STALLED_HTTPS = "127.0.0.11"
"""Takes TCP connections on the HTTPS port and never answers the ClientHello."""
BUSY_MX = "127.0.0.12"
"""Greets with 421: temporarily not accepting mail."""
V6 = "::1"
"""The IPv6 address of the dual-stack hosts: its HTTPS and SMTP servers present a wrong-name
certificate to every name but mta-sts.v6-good.verify.test."""
RUA = "mailto:tlsrpt@verify.test"
WEEK = 604800
BAD_POLICY = b"version: STSv1\r\nmode: enforced\r\nmx: a\r\nmax_age: 1\r\n"
RUA2 = '"v=TLSRPTv1; rua=mailto:b@verify.test"'


def fq(name: str) -> str:
    return f"{name}.{ZONE}"


def policy(
    mode: str = "enforce", mx: tuple[str, ...] = ("*.mx.verify.test",), max_age: int = 604800
) -> Policy:
    return Policy(mode=mode, max_age=max_age, mx=mx)


def raw_answer(p: Policy, extra: bytes = b"", bare_lf: bool = False) -> bytes:
    """A complete 200 answer serving ``p``, as bytes: an ``extra`` header line, bare-LF line ends."""
    body = p.render().encode()
    head = [b"HTTP/1.1 200 OK", b"Content-Type: text/plain", b"Content-Length: %d" % len(body)]
    head += [extra] if extra else []
    return (b"\n" if bare_lf else b"\r\n").join([*head, b"Connection: close", b"", b""]) + body


@dataclass
class Scenario:
    """One domain of the lab: what DNS and the policy host publish for it."""

    name: str
    policy: Policy | None = None
    route: Route | None = None
    """The HTTPS answer; default: the policy's bytes as text/plain."""
    https: str = "good"
    """Certificate at mta-sts.<domain>: good, expired, wrong-name, self-signed."""
    sts: tuple[str, ...] | None = None
    """_mta-sts TXT rdata; default: one record with the policy's id."""
    mx: tuple[str, ...] = ("a.mx",)
    """MX host labels under verify.test."""
    tlsrpt: tuple[str, ...] = (f'"v=TLSRPTv1; rua={RUA}"',)
    policy_host: bool = True
    https_addr: str = "127.0.0.1"
    https_addr6: str | None = None
    """An AAAA record for the policy host too."""


SCENARIOS = [
    Scenario("good", policy()),
    Scenario("multistring", policy(), sts=('"v=STSv1; " "id={id}"', '"google-site-verification=abc"')),
    Scenario(
        "lookalike-versions",
        policy(),
        sts=('"v=STSv1; id={id}"', '"v=STSv10; id=other"'),
        tlsrpt=(f'"v=TLSRPTv1; rua={RUA}"', '"v=TLSRPTv1x; rua=mailto:b@verify.test"'),
    ),
    Scenario("no-txt", policy(), sts=()),
    Scenario("two-txt", policy(), sts=('"v=STSv1; id=one"', '"v=STSv1; id=two"')),
    Scenario("bad-txt", policy(), sts=('"v=STSv1; id=not-valid!"',)),
    Scenario("no-host", policy(), policy_host=False),
    Scenario(
        "redirect", policy(), route=Route(status=301, headers=(("Location", "https://example.invalid/"),))
    ),
    Scenario("notfound", policy(), route=Route(status=404, body=b"gone")),
    Scenario("html", policy(), route=Route(body=policy().render().encode(), content_type="text/html")),
    Scenario("big", policy(), route=Route(body=(policy().render() + "x: y\r\n" * 12000).encode())),
    Scenario("slow", policy(), route=Route(body=policy().render().encode(), delay=3 * TIMEOUT)),
    Scenario(
        "invalid", policy(), route=Route(body=b"version: STSv1\r\nmode: enforced\r\nmx: a\r\nmax_age: 1\r\n")
    ),
    Scenario("expired-https", policy(), https="expired"),
    Scenario("wrongname-https", policy(), https="wrong-name"),
    Scenario("selfsigned-https", policy(), https="self-signed"),
    Scenario("uncovered-enforce", policy(mx=("a.mx.verify.test",)), mx=("a.mx", "b.mx")),
    Scenario("uncovered-testing", policy("testing", mx=("a.mx.verify.test",)), mx=("a.mx", "b.mx")),
    Scenario("no-mx", policy(), mx=()),
    Scenario("smtp-expired", policy(), mx=("expired.mx",)),
    Scenario("smtp-wrongname", policy(), mx=("wrongname.mx",)),
    Scenario("smtp-selfsigned", policy("testing"), mx=("selfsigned.mx",)),
    Scenario("smtp-plain", policy(), mx=("plain.mx",)),
    Scenario("smtp-dead", policy(), mx=("dead.mx",)),
    Scenario("smtp-noaddress", policy(), mx=("noaddress.mx",)),
    Scenario("smtp-twin-bad", policy(), mx=("twin-bad.mx",)),
    Scenario("smtp-twin-dead", policy(), mx=("twin-dead.mx",)),
    Scenario("silent-1", policy(), mx=("silent.mx",)),
    Scenario("silent-2", policy(), mx=("silent.mx",)),
    Scenario("tlsrpt-none", policy(), tlsrpt=()),
    Scenario(
        "tlsrpt-two", policy(), tlsrpt=(f'"v=TLSRPTv1; rua={RUA}"', '"v=TLSRPTv1; rua=mailto:b@verify.test"')
    ),
    Scenario("tlsrpt-bad", policy(), tlsrpt=('"v=TLSRPTv1; rua=ftp://verify.test/r"',)),
    Scenario("mode-none", policy("none", mx=()), mx=("plain.mx",)),
    Scenario("short-max-age", policy(max_age=3600)),
    Scenario("no-content-type", policy(), route=Route(body=policy().render().encode(), content_type=None)),
    Scenario("tls11-https", policy(), https="tls1.1", https_addr=OLD_TLS_HTTPS),
    Scenario("null-mx", policy(), mx=(".",)),
    Scenario("lf-policy", policy(), route=Route(body=policy().render().replace("\r\n", "\n").encode())),
    # IPv6: a good certificate on the A address, a wrong-name one on the AAAA address.
    Scenario("v6-bad-https", policy(), https_addr6=V6),
    Scenario("v6-good-https", policy(), https_addr6=V6),
    Scenario("smtp-v6-bad", policy(), mx=("v6bad.mx",)),
    # Hostile servers: each gets the cause a person can act on.
    Scenario(
        "gzip",
        policy(),
        route=Route(body=gzip.compress(policy().render().encode()), headers=(("Content-Encoding", "gzip"),)),
    ),
    Scenario(
        "continue-100", policy(), route=Route(raw=b"HTTP/1.1 100 Continue\r\n\r\n" + raw_answer(policy()))
    ),
    Scenario("bare-lf", policy(), route=Route(raw=raw_answer(policy(), bare_lf=True))),
    Scenario(
        "huge-header", policy(), route=Route(raw=raw_answer(policy(), extra=b"X-Big: " + b"a" * 200_000))
    ),
    Scenario("stalled-tls", policy(), https_addr=STALLED_HTTPS),
    Scenario("smtp-421", policy(), mx=("busy.mx",)),
    Scenario("cname-loop", policy(), mx=("loop.mx",)),
]
MX_ADDRESSES = {
    "a.mx": GOOD_MX,
    "b.mx": GOOD_MX,
    "expired.mx": EXPIRED_MX,
    "wrongname.mx": WRONG_MX,
    "selfsigned.mx": SELF_MX,
    "plain.mx": PLAIN_MX,
    "silent.mx": SILENT_MX,
    "dead.mx": DEAD_MX,
    "busy.mx": BUSY_MX,
}

MX_MULTI_ADDRESSES = {
    "twin-bad.mx": (GOOD_MX, WRONG_MX),
    "twin-dead.mx": (GOOD_MX, DEAD_MX),
}
"""MX hosts with two A records: senders may reach either."""

STACK_TLSRPT = "mailto:tlsrpt@verify.test"
STACK_LABELS = ("served", "drifted", "drift-nohost", "drift-two")
"""Stack domains in the lab zone: correct, drifted, an unresolvable policy host, two v=STSv1 records."""
REFUSED_DOMAIN = "refused.elsewhere.example"
"""A stack domain in no zone Knot serves: every lookup is answered REFUSED."""


def stack_yaml() -> dict[str, object]:
    """The lab stack: one domain served by the real Worker, one whose live state drifted."""
    return {
        "config": {
            "mta-sts:cloudflareAccountId": "0123456789abcdef0123456789abcdef",
            "mta-sts:defaults": {"mode": "enforce", "mx": ["*.mx.verify.test"], "tlsrpt": [STACK_TLSRPT]},
            "mta-sts:domains": {fq(label): {} for label in STACK_LABELS} | {REFUSED_DOMAIN: {}},
        }
    }


def zone(scenarios: list[Scenario], stack: Deployment) -> str:
    records: list[tuple[str, str, str]] = []
    for label, addr in MX_ADDRESSES.items():
        records.append((label, "A", addr))
    for label, addrs in MX_MULTI_ADDRESSES.items():
        records += [(label, "A", addr) for addr in addrs]
    records += [("v6bad.mx", "A", GOOD_MX), ("v6bad.mx", "AAAA", V6)]
    records += [("loop.mx", "CNAME", "loop2.mx"), ("loop2.mx", "CNAME", "loop.mx")]
    for s in scenarios:
        assert s.policy is not None
        sts = s.sts if s.sts is not None else (f'"v=STSv1; id={s.policy.id}"',)
        records += [(f"_mta-sts.{s.name}", "TXT", r.replace("{id}", s.policy.id)) for r in sts]
        if s.policy_host:
            records.append((f"mta-sts.{s.name}", "A", s.https_addr))
        if s.https_addr6:
            records.append((f"mta-sts.{s.name}", "AAAA", s.https_addr6))
        records += [(s.name, "MX", f"{10 * (i + 1) if mx != '.' else 0} {mx}") for i, mx in enumerate(s.mx)]
        records += [(f"_smtp._tls.{s.name}", "TXT", r) for r in s.tlsrpt]
    served = stack.domain(fq("served"))
    for label in ("served", "drifted"):
        records += [(f"mta-sts.{label}", "A", "127.0.0.1"), (label, "MX", "10 a.mx")]
    records.append(("_mta-sts.served", "TXT", f'"{served.sts_record}"'))
    records.append(("_smtp._tls.served", "TXT", f'"{served.tlsrpt_record}"'))
    records.append(("_mta-sts.drifted", "TXT", '"v=STSv1; id=stale1"'))
    nohost = stack.domain(fq("drift-nohost"))
    records += [("_mta-sts.drift-nohost", "TXT", f'"{nohost.sts_record}"'), ("drift-nohost", "MX", "10 a.mx")]
    records += [("_smtp._tls.drift-nohost", "TXT", f'"{nohost.tlsrpt_record}"')]
    records += [("mta-sts.drift-two", "A", "127.0.0.1"), ("drift-two", "MX", "10 a.mx")]
    records += [("_mta-sts.drift-two", "TXT", '"v=STSv1; id=handmade1"')]
    records += [("_mta-sts.drift-two", "TXT", f'"{stack.domain(fq("drift-two")).sts_record}"')]
    records.append(("_smtp._tls.drifted", "TXT", '"v=TLSRPTv1; rua=mailto:old@verify.test"'))
    return zone_text(ZONE, records)


@dataclass
class Lab:
    knot: KnotDns
    https: HttpsServer
    pki: Pki
    smtp_port: int
    project: Path
    stack: Deployment
    silent: SilentServer
    stalled: SilentServer
    reports: dict[str, Report]
    elapsed: float

    def options(self, **changes: object) -> Options:
        base = {
            "nameserver": (self.knot.host, self.knot.port),
            "ca_bundle": str(self.pki.ca_file),
            "https_port": self.https.port,
            "smtp_port": self.smtp_port,
            "timeout": TIMEOUT,
        }
        return Options(**{**base, **changes})  # type: ignore[arg-type]

    def argv(self, *extra: str, nameserver: str | None = None) -> list[str]:
        return [
            "--project-dir", str(self.project), "verify", *extra,
            "--nameserver", nameserver or self.knot.address, "--ca-bundle", str(self.pki.ca_file),
            "--https-port", str(self.https.port), "--smtp-port", str(self.smtp_port),
            "--timeout", str(TIMEOUT),
        ]  # fmt: skip


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("verify-lab")
    project = tmp / "project"
    project.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    (project / "Pulumi.lab.yaml").write_text(yaml.safe_dump(stack_yaml()), encoding="utf-8")
    stack = load_stack(project, "lab")
    pki = Pki(tmp)
    contexts, routes = {}, {}
    for s in SCENARIOS:
        host = f"mta-sts.{fq(s.name)}"
        contexts[host] = {
            "good": lambda h: pki.context(h),
            "expired": lambda h: pki.context(h, expired=True),
            "wrong-name": lambda h: pki.context("mta-sts.elsewhere.invalid"),
            "self-signed": lambda h: pki.self_signed_context(h),
            "tls1.1": lambda h: pki.context(h, maximum_version=ssl.TLSVersion.TLSv1_1),
        }[s.https](host)
        assert s.policy is not None
        routes[host] = s.route or Route(body=s.policy.render().encode())
    drifted = stack.domain(fq("drifted"))
    for d in stack.domains:
        contexts[d.policy_host] = pki.context(d.policy_host)
        routes[d.policy_host] = Route(body=d.policy_text.encode())
    # The drifted domain serves last week's policy: another mx list, so other bytes.
    routes[drifted.policy_host] = Route(body=policy(mx=("a.mx.verify.test",)).render().encode())
    knot = KnotDns({ZONE: zone(SCENARIOS, stack)})
    https_port = free_port("127.0.0.1", [OLD_TLS_HTTPS, STALLED_HTTPS, V6])
    https = HttpsServer(contexts, pki.context("default.invalid"), routes, port=https_port)
    old_tls = HttpsServer({}, contexts.pop(f"mta-sts.{fq('tls11-https')}"), routes, OLD_TLS_HTTPS, https_port)
    good6 = f"mta-sts.{fq('v6-good-https')}"
    https6 = HttpsServer(
        {good6: pki.context(good6)}, pki.context("mta-sts.elsewhere.invalid"), routes, V6, https_port
    )
    stalled = SilentServer(STALLED_HTTPS, https_port)
    smtp_port = free_port(
        "127.0.0.1", [GOOD_MX, EXPIRED_MX, WRONG_MX, SELF_MX, PLAIN_MX, SILENT_MX, DEAD_MX, BUSY_MX, V6]
    )
    mx_name = "a.mx.verify.test"
    smtp = [
        SmtpServer(GOOD_MX, smtp_port, pki.context("*.mx.verify.test"), mx_name),
        SmtpServer(EXPIRED_MX, smtp_port, pki.context("*.mx.verify.test", expired=True), mx_name),
        SmtpServer(WRONG_MX, smtp_port, pki.context("mx.elsewhere.invalid"), mx_name),
        SmtpServer(SELF_MX, smtp_port, pki.self_signed_context("selfsigned.mx.verify.test"), mx_name),
        SmtpServer(PLAIN_MX, smtp_port, None, mx_name),
        SmtpServer(V6, smtp_port, pki.context("mx.elsewhere.invalid"), mx_name),
    ]
    busy = ScriptedSmtp(BUSY_MX, smtp_port, b"421 4.3.2 busy, try again later\r\n")
    silent = SilentServer(SILENT_MX, smtp_port)
    script = worker_script(stack.worker_domains)
    with knot, https, https6, old_tls, silent, stalled, busy, run_worker(script) as worker_url:
        for server in smtp:
            server.__enter__()
        try:
            routes[stack.domain(fq("served")).policy_host] = Route(proxy=worker_url)
            lab = Lab(knot, https, pki, smtp_port, project, stack, silent, stalled, {}, 0.0)
            started = time.monotonic()
            names = [fq(s.name) for s in SCENARIOS] + [d.name for d in stack.domains]
            reports = verify(names, lab.options(), stack)
            lab.elapsed = time.monotonic() - started
            lab.reports = {r.domain: r for r in reports}
            yield lab
        finally:
            for server in smtp:
                server.__exit__(None, None, None)


def findings(lab: Lab, name: str, check: str) -> list[tuple[str, str]]:
    """(severity, reason) of every finding of ``check`` for ``name``.verify.test."""
    return [(f.severity, f.reason) for f in lab.reports[fq(name)].findings if f.check == check]


def problems(lab: Lab, name: str) -> set[tuple[str, str]]:
    """(check, severity) of every error and warning for ``name``.verify.test."""
    return {(f.check, f.severity) for f in lab.reports[fq(name)].findings if f.severity in (ERROR, WARNING)}


# --------------------------------------------------------------------------- a correct domain


def test_correct_domain_has_no_error_or_warning(lab: Lab) -> None:
    """A domain with one TXT, a served policy, covered MX with good STARTTLS and TLS-RPT is clean."""
    report = lab.reports[fq("good")]
    assert problems(lab, "good") == set()
    assert report.mode == "enforce"
    assert report.checks(OK) == [
        "sts-record",
        "policy",
        "policy-certificate",
        "mx-records",
        "mx-coverage",
        "starttls",
        "mx-certificate",
        "tlsrpt-record",
    ]


def test_checks_come_in_rfc_order(lab: Lab) -> None:
    """Findings follow the order TXT, policy, MX, STARTTLS, TLS-RPT for every domain."""
    order = [
        "sts-record", "policy", "mx-records", "mx-coverage", "starttls", "mx-certificate", "dane",
        "tlsrpt-record", "drift",
    ]  # fmt: skip
    for report in lab.reports.values():
        ranks = [next(i for i, p in enumerate(order) if f.check.startswith(p)) for f in report.findings]
        assert ranks == sorted(ranks), report.domain


def test_multistring_txt_is_joined_and_other_txt_ignored(lab: Lab) -> None:
    """A TXT split into two strings is one record; a non-STSv1 TXT beside it is ignored."""
    [(severity, reason)] = findings(lab, "multistring", "sts-record")
    assert severity == OK
    assert f"id={policy().id}" in reason and "1 other TXT record ignored" in reason
    assert problems(lab, "multistring") == set()


def test_lookalike_versions_are_other_records(lab: Lab) -> None:
    """v=STSv10 and v=TLSRPTv1x beside the real records are discarded, not counted as duplicates."""
    [(severity, reason)] = findings(lab, "lookalike-versions", "sts-record")
    assert severity == OK and "1 other TXT record ignored" in reason
    [(severity, _)] = findings(lab, "lookalike-versions", "tlsrpt-record")
    assert severity == OK
    assert problems(lab, "lookalike-versions") == set()


# --------------------------------------------------------------------------- 1. _mta-sts TXT


@pytest.mark.parametrize(
    ("name", "words"),
    [("no-txt", "no TXT record"), ("two-txt", "2 v=STSv1 TXT records"), ("bad-txt", "id must be")],
)
def test_sts_record_defects_are_errors(lab: Lab, name: str, words: str) -> None:
    """A missing, doubled or invalid _mta-sts record is an error naming the defect."""
    [(severity, reason)] = findings(lab, name, "sts-record")
    assert severity == ERROR and words in reason


# --------------------------------------------------------------------------- 2. the policy fetch


@pytest.mark.parametrize(
    ("name", "check", "words"),
    [
        ("no-host", "policy-fetch", "does not resolve"),
        ("redirect", "policy-redirect", "301, a redirect to https://example.invalid/"),
        ("notfound", "policy-status", "HTTP 404"),
        ("html", "policy-content-type", "text/html"),
        ("big", "policy-size", "64 KiB"),
        ("slow", "policy-timeout", "within 1 s"),
        ("invalid", "policy-syntax", "mode must be enforce, testing or none"),
        ("expired-https", "policy-tls", "expired"),
        ("wrongname-https", "policy-tls", "not valid for mta-sts.wrongname-https.verify.test"),
        ("selfsigned-https", "policy-tls", "self-signed"),
        ("no-content-type", "policy-content-type", "no Content-Type"),
        ("tls11-https", "policy-tls", "TLS 1.2 or later"),
    ],
)
def test_policy_fetch_defects_are_errors(lab: Lab, name: str, check: str, words: str) -> None:
    """Each way a sender would fail to get the policy is one error of its own check."""
    assert [s for s, _ in findings(lab, name, check)] == [ERROR], lab.reports[fq(name)].findings
    assert words in findings(lab, name, check)[0][1], findings(lab, name, check)
    assert lab.reports[fq(name)].mode is None
    assert (check, ERROR) in problems(lab, name)


def test_short_max_age_in_enforce_is_a_warning(lab: Lab) -> None:
    """enforce with max_age under a day is a warning, not an error."""
    assert problems(lab, "short-max-age") == {("policy-max-age", WARNING)}


def test_lf_line_ends_are_accepted(lab: Lab) -> None:
    """A policy with LF line ends instead of CRLF parses, as RFC 8461 §3.2 allows."""
    assert problems(lab, "lf-policy") == set()
    assert lab.reports[fq("lf-policy")].mode == "enforce"


# --------------------------------------------------------------------------- 3. MX coverage


def test_uncovered_mx_is_an_error_in_enforce(lab: Lab) -> None:
    """An MX host no pattern covers is an error under enforce, naming the host."""
    [(severity, reason)] = findings(lab, "uncovered-enforce", "mx-coverage")
    assert severity == ERROR and "b.mx.verify.test" in reason and "refuse" in reason


def test_uncovered_mx_is_a_warning_in_testing(lab: Lab) -> None:
    """The same gap under testing is a warning saying to fix it before enforce."""
    [(severity, reason)] = findings(lab, "uncovered-testing", "mx-coverage")
    assert severity == WARNING and "b.mx.verify.test" in reason and "before enforce" in reason


def test_no_mx_record_is_reported(lab: Lab) -> None:
    """A domain with no MX record gets an mx-records error in enforce."""
    [(severity, reason)] = findings(lab, "no-mx", "mx-records")
    assert severity == ERROR and "no MX record" in reason


def test_null_mx_is_informational(lab: Lab) -> None:
    """A null MX (RFC 7505) is info: nothing to cover, no STARTTLS to probe."""
    assert findings(lab, "null-mx", "mx-records")[0][0] == INFO
    assert findings(lab, "null-mx", "starttls") == [] and problems(lab, "null-mx") == set()


# --------------------------------------------------------------------------- 4. STARTTLS


@pytest.mark.parametrize(
    ("name", "severity", "words"),
    [
        ("smtp-expired", ERROR, "expired"),
        ("smtp-wrongname", ERROR, "not valid for wrongname.mx.verify.test"),
        ("smtp-plain", ERROR, "STARTTLS is not offered"),
        ("smtp-dead", ERROR, "no SMTP connection"),
        ("smtp-noaddress", ERROR, "does not resolve"),
        ("silent-1", ERROR, "no answer to greeting"),
        ("smtp-selfsigned", WARNING, "self-signed"),
    ],
)
def test_starttls_failures(lab: Lab, name: str, severity: str, words: str) -> None:
    """STARTTLS failures are errors under enforce (senders refuse) and warnings under testing."""
    [(found, reason)] = findings(lab, name, "starttls")
    assert found == severity and words in reason
    tail = "senders will refuse to deliver here" if severity == ERROR else "fix this before enforce"
    assert reason.endswith(tail)


def test_every_address_of_an_mx_is_probed(lab: Lab) -> None:
    """One bad address of a two-address MX fails the host; a dead one beside a good one does not."""
    [(severity, reason)] = findings(lab, "smtp-twin-bad", "starttls")
    assert severity == ERROR and "1 of 2 addresses fail" in reason and WRONG_MX in reason
    assert "not valid for twin-bad.mx.verify.test" in reason
    [(severity, reason)] = findings(lab, "smtp-twin-dead", "starttls")
    assert severity == OK and f"{DEAD_MX} did not answer" in reason


def test_good_starttls_names_the_tls_version(lab: Lab) -> None:
    """A passing MX says which TLS version it negotiated (1.2 or later)."""
    [(severity, reason)] = findings(lab, "good", "starttls")
    assert severity == OK and ("TLSv1.3" in reason or "TLSv1.2" in reason)


def test_hung_mx_costs_its_time_limit_once(lab: Lab) -> None:
    """Two domains sharing a hung MX open one connection, and the run waits one time limit."""
    assert lab.silent.connections == 1
    assert findings(lab, "silent-1", "starttls") == findings(lab, "silent-2", "starttls")
    assert lab.elapsed < 2.5 * TIMEOUT + 2  # one greeting wait, the slow fetch, start-up


# --------------------------------------------------------------------------- 5. TLS-RPT


@pytest.mark.parametrize(
    ("name", "severity", "words"),
    [
        ("tlsrpt-none", WARNING, "no v=TLSRPTv1 record"),
        ("tlsrpt-two", ERROR, "2 v=TLSRPTv1 records"),
        ("tlsrpt-bad", ERROR, "scheme 'ftp' is not allowed"),
    ],
)
def test_tlsrpt_record_defects(lab: Lab, name: str, severity: str, words: str) -> None:
    """No TLS-RPT record is a warning; two or an invalid one is an error."""
    [(found, reason)] = findings(lab, name, "tlsrpt-record")
    assert found == severity and words in reason
    assert problems(lab, name) == {("tlsrpt-record", severity)}


# --------------------------------------------------------------------------- mode none


def test_mode_none_is_informational(lab: Lab) -> None:
    """mode none is reported as info, and an MX without STARTTLS is only info under it."""
    report = lab.reports[fq("mode-none")]
    assert report.mode == "none" and report.errors == 0 and report.warnings == 0
    assert [s for s, _ in findings(lab, "mode-none", "policy-mode")] == [INFO]
    assert [s for s, _ in findings(lab, "mode-none", "starttls")] == [INFO]
    assert findings(lab, "mode-none", "mx-coverage") == []


# --------------------------------------------------------------------------- --stack drift and serve


def test_worker_in_workerd_passes_end_to_end(lab: Lab) -> None:
    """The real Worker in workerd behind TLS serves a policy verify accepts, matching the stack."""
    report = lab.reports[fq("served")]
    assert [(f.check, f.severity) for f in report.findings if f.severity != OK] == []
    assert "drift" in report.checks(OK)
    assert report.mode == "enforce"


def test_drift_from_the_stack_is_reported(lab: Lab) -> None:
    """Other served bytes, another id and another TLS-RPT record than the stack's are drift."""
    drift = {f.check: f.severity for f in lab.reports[fq("drifted")].findings if f.check.startswith("drift")}
    assert drift == {"drift-policy": ERROR, "drift-id": ERROR, "drift-tlsrpt": WARNING}
    expected = lab.stack.domain(fq("drifted")).policy_id
    assert any(expected in f.reason for f in lab.reports[fq("drifted")].findings if f.check == "drift-id")


def drift_of(lab: Lab, domain: str) -> list[tuple[str, str, str]]:
    return [
        (f.check, f.severity, f.reason) for f in lab.reports[domain].findings if f.check.startswith("drift")
    ]


def test_a_differing_policy_is_described_by_what_senders_see(lab: Lab) -> None:
    """The drifted policy names the MX patterns that change, live → stack, not byte counts."""
    [(_, severity, reason)] = [d for d in drift_of(lab, fq("drifted")) if d[0] == "drift-policy"]
    assert severity == ERROR
    assert "(live → stack): mx a.mx.verify.test dropped, mx *.mx.verify.test added; run pulumi up" in reason


def test_an_unfetched_policy_is_not_compared(lab: Lab) -> None:
    """Policy host NXDOMAIN: drift-policy "not compared" and why, and no "match the stack" ok."""
    drift = drift_of(lab, fq("drift-nohost"))
    host = f"mta-sts.{fq('drift-nohost')}"
    assert ("drift-policy", WARNING, f"policy not compared: {host} does not resolve: NXDOMAIN") in drift
    assert all(check != "drift" for check, _, _ in drift)


def test_two_live_records_name_both_ids(lab: Lab) -> None:
    """A hand-made v=STSv1 record beside the stack's: drift-id names both ids."""
    ours = lab.stack.domain(fq("drift-two")).policy_id
    [(_, severity, reason)] = [d for d in drift_of(lab, fq("drift-two")) if d[0] == "drift-id"]
    assert severity == ERROR
    assert f"2 v=STSv1 records (ids handmade1, {ours})" in reason


def test_a_refused_lookup_is_never_absent(lab: Lab) -> None:
    """REFUSED: id and TLS-RPT are "not compared" with the server's answer; nothing is called absent or ok."""
    drift = drift_of(lab, REFUSED_DOMAIN)
    assert (
        "drift-id",
        WARNING,
        f"_mta-sts not compared: _mta-sts.{REFUSED_DOMAIN} TXT: the DNS server answered REFUSED",
    ) in drift
    assert (
        "drift-tlsrpt",
        WARNING,
        f"_smtp._tls not compared: _smtp._tls.{REFUSED_DOMAIN} TXT: the DNS server answered REFUSED",
    ) in drift
    assert not any("absent" in reason or severity == OK for _, severity, reason in drift)


def test_cli_stack_json_and_exit_status(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    """verify --stack --json prints one object with every stack domain and exits 1 on drift."""
    code = cli.main(lab.argv("--stack", "lab", "--json"))
    document = json.loads(capsys.readouterr().out)
    assert code == 1
    assert sorted(document["domains"]) == sorted([*(fq(label) for label in STACK_LABELS), REFUSED_DOMAIN])
    assert document["domains"][fq("served")]["errors"] == 0
    checks = {f["check"] for f in document["domains"][fq("drifted")]["findings"]}
    assert {"drift-policy", "drift-id"} <= checks
    # The policy failed: verify names the stack's Worker script that serves it (one shard here).
    [worker] = [f for f in document["domains"][fq("drifted")]["findings"] if f["check"] == "drift-worker"]
    assert worker["severity"] == "info" and "Worker script mta-sts-lab," in worker["message"]
    assert "drift-worker" not in {f["check"] for f in document["domains"][fq("served")]["findings"]}
    assert document["errors"] == sum(d["errors"] for d in document["domains"].values())


def test_cli_exit_zero_and_text_report(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    """A clean domain and a warnings-only domain exit 0; the text report has severity-first lines."""
    code = cli.main(lab.argv(fq("good"), fq("tlsrpt-none")))
    out = capsys.readouterr().out
    assert code == 0
    assert "  ok      sts-record" in out
    assert "  warning tlsrpt-record" in out
    assert "PASS: 0 errors, 1 warning" in out
    assert out.rstrip().splitlines()[-1].startswith("2 domains checked in ")


@pytest.mark.parametrize(
    ("extra", "nameserver"),
    [
        (["not a domain"], None),
        ([fq("good")], "ns.example:53"),
        ([fq("good")], "127.0.0.1:99999"),
        ([fq("good"), "--concurrency", "0"], None),
        (["--stack", "lab", "absent.example"], None),
    ],
)
def test_cli_bad_usage_exits_2(
    lab: Lab, extra: list[str], nameserver: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad domain names, nameservers, limits or a domain outside the stack exit 2 with one line."""
    assert cli.main(lab.argv(*extra, nameserver=nameserver)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_dead_nameserver_is_an_error_not_a_crash(lab: Lab) -> None:
    """With no DNS server answering, every lookup is a one-line error and verify still reports."""
    silent_dns = free_port("127.0.0.1")
    [report] = verify([fq("good")], lab.options(nameserver=("127.0.0.1", silent_dns), timeout=0.5))
    assert report.checks(ERROR)[:2] == ["sts-record", "policy-fetch"]
    assert all("DNS" in f.reason or "resolve" in f.reason for f in report.findings if f.severity == ERROR)


def test_python_m_mtasts_verify_runs(lab: Lab) -> None:
    """``python -m mtasts verify`` in a subprocess checks a domain and exits 1 on its error."""
    done = subprocess.run(
        [sys.executable, "-m", "mtasts", *lab.argv(fq("smtp-plain"), "--json")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    findings_ = json.loads(done.stdout)["domains"][fq("smtp-plain")]["findings"]
    assert {"check": "starttls", "severity": ERROR} in [
        {"check": f["check"], "severity": f["severity"]} for f in findings_ if f["severity"] == ERROR
    ]


# --------------------------------------------------------------------------- IPv6 (every A and AAAA address)


def test_bad_ipv6_policy_host_fails_though_ipv4_is_good(lab: Lab) -> None:
    """A wrong-name certificate on the policy host's AAAA address is an error naming [::1]."""
    [(severity, reason)] = findings(lab, "v6-bad-https", "policy-tls")
    assert severity == ERROR and "[::1]" in reason
    assert f"not valid for mta-sts.{fq('v6-bad-https')}" in reason
    assert lab.reports[fq("v6-bad-https")].errors == 1


def test_good_ipv6_policy_host_passes(lab: Lab) -> None:
    """A dual-stack policy host with good certificates on both addresses is clean."""
    assert problems(lab, "v6-good-https") == set()


def test_bad_ipv6_mx_address_fails_the_host(lab: Lab) -> None:
    """An MX host whose AAAA address presents a wrong-name certificate fails under enforce."""
    [(severity, reason)] = findings(lab, "smtp-v6-bad", "starttls")
    assert severity == ERROR and "1 of 2 addresses fail" in reason and "[::1]" in reason
    assert "not valid for v6bad.mx.verify.test" in reason


def test_cli_exits_1_when_only_ipv6_is_broken(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    """verify of a domain whose IPv6 policy address is broken exits 1."""
    assert cli.main(lab.argv(fq("v6-bad-https"), "--json")) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["domains"][fq("v6-bad-https")]["errors"] == 1


# --------------------------------------------------------------------------- hostile servers: the right cause


def test_gzip_policy_is_named_as_content_encoding(lab: Lab) -> None:
    """A policy served with Content-Encoding: gzip is a policy-encoding error naming gzip, not UTF-8."""
    [(severity, reason)] = findings(lab, "gzip", "policy-encoding")
    assert severity == ERROR and "Content-Encoding: gzip" in reason
    assert findings(lab, "gzip", "policy-syntax") == []


def test_100_continue_before_the_answer_is_skipped(lab: Lab) -> None:
    """A 100 Continue before the 200 is an interim answer: the policy is read."""
    assert problems(lab, "continue-100") == set()
    assert lab.reports[fq("continue-100")].mode == "enforce"


def test_bare_lf_headers_are_read(lab: Lab) -> None:
    """Header lines ending in a bare LF are read, as lenient HTTP clients read them."""
    assert problems(lab, "bare-lf") == set()


def test_huge_header_line_is_a_clear_fetch_error(lab: Lab) -> None:
    """A 200 KB header line gives one policy-fetch error naming the head's size limit."""
    [(severity, reason)] = findings(lab, "huge-header", "policy-fetch")
    assert severity == ERROR and "response head" in reason and "100 KiB" in reason


def test_stalled_tls_handshake_is_a_timeout(lab: Lab) -> None:
    """A server that never answers the ClientHello is a policy-timeout naming the TLS handshake."""
    [(severity, reason)] = findings(lab, "stalled-tls", "policy-timeout")
    assert severity == ERROR and "did not finish the TLS handshake within 1 s" in reason
    assert "broke off" not in reason


def test_smtp_421_greeting_is_temporary_not_a_refusal(lab: Lab) -> None:
    """A 421 greeting is a warning that senders retry, not an error that they refuse."""
    [(severity, reason)] = findings(lab, "smtp-421", "starttls")
    assert severity == WARNING and "421" in reason and "retry" in reason and "refuse" not in reason


def test_cname_loop_is_named_as_a_loop(lab: Lab) -> None:
    """An MX host whose name is a CNAME loop is reported as a loop, not SERVFAIL."""
    [(severity, reason)] = findings(lab, "cname-loop", "starttls")
    assert severity == ERROR and "CNAME chain loops" in reason and "SERVFAIL" not in reason


def test_concurrency_beyond_the_open_file_limit_changes_no_verdict(lab: Lab) -> None:
    """Under an open-file limit of 128 with --concurrency 1000, every domain gets the same verdicts."""
    names = [fq(s.name) for s in SCENARIOS if not s.name.startswith("silent")]
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))\n"
        "from mtasts.commands.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *lab.argv(*names, "--json", "--concurrency", "1000")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)["domains"]
    for name in names:
        got = [(f["check"], f["severity"]) for f in document[name]["findings"]]
        assert got == [(f.check, str(f.severity)) for f in lab.reports[name].findings], name
    assert "EMFILE" not in done.stdout
