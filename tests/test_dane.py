"""DANE beside MTA-STS: TLSA records in a zone Knot signs itself, against the chain each MX serves.

Knot signs ``dane.test`` (``dnssec-signing: on``) and serves ``plain.test`` unsigned; the test
reads the signed zone's DNSKEY back as the trust anchor (as a resolver is configured with the
root's). Each MX host is an aiosmtpd with its own certificate; the TLSA records are computed
here from those certificates with ``cryptography`` and ``hashlib``: matching, stale (another
key's), missing, in an unsigned zone, and matching on IPv4 but not on IPv6.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import dns.asyncresolver
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from mtasts.checks.dane import dane as dane_findings
from mtasts.commands import cli
from mtasts.commands.verify import Report, verify
from mtasts.model.findings import Severity
from mtasts.probes import ProbeOptions
from mtasts.probes.dns import DnsStatus
from mtasts.probes.dnssec import Security, Signed, Validator, dnssec_resolver, signed_query
from mtasts.probes.errors import DnsError, DnsFailure
from tests.servers import KnotDns, Pki, SmtpServer, ensure_loopback, free_port, zone_text

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SIGNED, UNSIGNED = "dane.test", "plain.test"
V6 = "fd6d:7473::{}"
MX = {
    # label under dane.test (or plain.test): last address byte, IPv6 too
    "match.mx": (51, True),
    "stale.mx": (52, False),
    "none.mx": (53, False),
    "notxt.mx": (54, False),
    "selfee.mx": (55, False),
    "unsigned.mx": (56, False),
    "stale6.mx": (57, True),
    "target.mx": (58, False),
    "unusable.mx": (59, False),
}
DOMAINS = {
    "good": ["match.mx"],
    "stale": ["stale.mx"],
    "mixed": ["match.mx", "none.mx"],
    "notxt": ["notxt.mx"],
    "selfsigned": ["selfee.mx"],
    "unsigned": [f"unsigned.mx.{UNSIGNED}."],
    "v6": ["stale6.mx"],
    "plain": ["none.mx"],
    "alias": ["alias.mx"],
    "insecurealias": [f"alias.mx.{UNSIGNED}."],
    "unusable": ["unusable.mx"],
}
UNUSABLE = (f"3 2 1 {'ab' * 32}", f"3 1 9 {'ef' * 32}", f"1 1 1 {'cd' * 32}")
"""A selector and a matching type RFC 6698 does not define, and PKIX-EE (not for SMTP)."""


def pem_cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def tlsa(cert: x509.Certificate, selector: int = 1) -> str:
    """``3 <selector> 1 <sha-256>``: DANE-EE over the SPKI (1) or the whole certificate (0)."""
    if selector == 1:
        data = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        data = cert.public_bytes(serialization.Encoding.DER)
    return f"3 {selector} 1 {hashlib.sha256(data).hexdigest()}"


@dataclass
class Lab:
    knot: KnotDns
    smtp_port: int
    anchor_file: Path
    reports: dict[str, Report]
    project: Path

    def options(self, anchors: tuple[str, ...]) -> ProbeOptions:
        return ProbeOptions(
            nameserver=(self.knot.host, self.knot.port), smtp_port=self.smtp_port, timeout=5.0,
            dnssec_anchors=anchors,
        )  # fmt: skip


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("dane-lab")
    (tmp / "Pulumi.yaml").write_text("name: lab\nruntime: python\n", encoding="utf-8")
    pki = Pki(tmp)
    v4 = {label: f"127.0.0.{n}" for label, (n, _) in MX.items()}
    v6 = {label: ensure_loopback(V6.format(n)) for label, (n, six) in MX.items() if six}
    smtp_port = free_port("127.0.0.1", [*v4.values(), *v6.values()])
    servers, signed, plain = [], [], []
    for label in MX:
        zone = UNSIGNED if label == "unsigned.mx" else SIGNED
        name = f"{label}.{zone}"
        if label == "selfee.mx":
            context = pki.self_signed_context(name)
            cert = pem_cert((tmp / f"self-signed-{name}.pem").read_bytes())
        else:
            leaf = pki.issue(name)
            context = pki.context_for(leaf)
            cert = pem_cert(leaf.cert_chain_pems[0].bytes())
        records = signed if zone == SIGNED else plain
        records.append((label, "A", v4[label]))
        servers.append(SmtpServer(v4[label], smtp_port, context, name))
        if label in v6:
            records.append((label, "AAAA", v6[label]))
            other = pki.context_for(pki.issue(name)) if label == "stale6.mx" else context
            servers.append(SmtpServer(v6[label], smtp_port, other, name))
        selector = 0 if label == "notxt.mx" else 1
        if label in ("stale.mx", "target.mx"):
            cert = pem_cert(pki.issue(name).cert_chain_pems[0].bytes())  # the previous key
        if label == "unusable.mx":
            records += [(f"_{smtp_port}._tcp.{label}", "TLSA", text) for text in UNUSABLE]
        elif label != "none.mx":
            records.append((f"_{smtp_port}._tcp.{label}", "TLSA", tlsa(cert, selector)))
        if label not in ("notxt.mx",):
            records.append((f"_smtp._tls.{label}", "TXT", f'"v=TLSRPTv1; rua=mailto:r@{name}"'))
    # MX hosts that are aliases of target.mx: a signed CNAME, and one in the unsigned zone.
    signed.append(("alias.mx", "CNAME", "target.mx"))
    plain.append(("alias.mx", "CNAME", f"target.mx.{SIGNED}."))
    for domain, hosts in DOMAINS.items():
        signed += [(domain, "MX", f"{10 * (i + 1)} {h}") for i, h in enumerate(hosts)]
    knot = KnotDns({SIGNED: zone_text(SIGNED, signed), UNSIGNED: zone_text(UNSIGNED, plain)}, signed=[SIGNED])
    with knot:
        started = []
        try:
            for server in servers:
                server.__enter__()
                started.append(server)
            anchors = tuple(knot.dnskey(SIGNED))
            assert anchors, "Knot did not sign the zone"
            anchor_file = tmp / "anchors.txt"
            anchor_file.write_text("; the lab's keys\n" + "\n".join(anchors) + "\n", encoding="utf-8")
            lab = Lab(knot, smtp_port, anchor_file, {}, tmp)
            reports = verify([f"{d}.{SIGNED}" for d in DOMAINS], lab.options(anchors))
            lab.reports = {r.domain.removesuffix(f".{SIGNED}"): r for r in reports}
            yield lab
        finally:
            for server in reversed(started):
                server.__exit__(None, None, None)


def dane(lab: Lab, domain: str, check: str = "dane") -> list[tuple[Severity, str]]:
    return [(f.severity, f.reason) for f in lab.reports[domain].findings if f.check == check]


def test_matching_tlsa_in_a_signed_zone_is_ok(lab: Lab) -> None:
    """DANE-EE 3 1 1 over the served key, validated from the anchor, matches at IPv4 and IPv6."""
    [(severity, reason)] = dane(lab, "good")
    assert severity is Severity.OK
    assert "DANE-EE 3 1 1" in reason and "all 2 addresses" in reason
    assert dane(lab, "good", "dane-tlsrpt") == []  # _smtp._tls.match.mx exists


def test_stale_tlsa_is_an_error_whatever_the_policy(lab: Lab) -> None:
    """A TLSA record of the previous key matches nothing: DANE senders refuse the MX."""
    [(severity, reason)] = dane(lab, "stale")
    assert severity is Severity.ERROR
    assert "no TLSA record matches the certificate served" in reason and "refuse" in reason


def test_stale_on_ipv6_only_names_that_address(lab: Lab) -> None:
    """IPv4 serves the key the TLSA names, IPv6 another: the IPv6 address is the error."""
    [(severity, reason)] = dane(lab, "v6")
    assert severity is Severity.ERROR
    assert f"[{V6.format(57)}]:{lab.smtp_port}: no TLSA record matches" in reason
    assert "127.0.0.57" not in reason


def test_missing_tlsa_beside_dane_hosts_is_a_warning(lab: Lab) -> None:
    """An MX without TLSA beside one with DANE: senders reach it unauthenticated."""
    found = dane(lab, "mixed")
    assert (Severity.OK, found[0][1]) == found[0]
    [(severity, reason)] = [f for f in found if "none.mx" in f[1]]
    assert severity is Severity.WARNING and "no TLSA record" in reason
    assert dane(lab, "plain") == []  # no DANE at all: nothing to say


def test_missing_per_mx_tlsrpt_record_is_noted(lab: Lab) -> None:
    """DANE (3 0 1, the whole certificate) in use without _smtp._tls.<mx>: noted."""
    [(severity, reason)] = dane(lab, "notxt")
    assert severity is Severity.OK and "DANE-EE 3 0 1" in reason
    [(note, text)] = dane(lab, "notxt", "dane-tlsrpt")
    assert note is Severity.INFO and "_smtp._tls.notxt.mx.dane.test" in text


def test_dane_ee_matches_a_certificate_no_ca_trusts(lab: Lab) -> None:
    """DANE-EE needs no CA: the self-signed MX matches its TLSA while STARTTLS (PKIX) fails."""
    [(severity, _)] = dane(lab, "selfsigned")
    assert severity is Severity.OK
    assert [f.severity for f in lab.reports["selfsigned"].findings if f.check == "starttls"] != [Severity.OK]


def test_an_alias_mx_is_checked_at_its_cname_target(lab: Lab) -> None:
    """A signed CNAME: the TLSA (stale) at the target's name is what DANE senders use (RFC 7672 §2.2.3)."""
    [(severity, reason)] = dane(lab, "alias")
    assert severity is Severity.ERROR
    assert f"TLSA at _{lab.smtp_port}._tcp.target.mx.{SIGNED}" in reason
    assert "no TLSA record matches the certificate served" in reason


def test_an_insecure_cname_is_not_followed_for_tlsa(lab: Lab) -> None:
    """A CNAME in the unsigned zone: its target's TLSA is not the alias's; no TLSA at the alias."""
    assert dane(lab, "insecurealias") == []


def test_records_all_unusable_are_a_warning_not_a_mismatch(lab: Lab) -> None:
    """Unknown selector or matching type, PKIX-EE: ignored, so no refusal (RFC 6698 §4.1)."""
    [(severity, reason)] = dane(lab, "unusable")
    assert severity is Severity.WARNING and "no TLSA record usable for SMTP" in reason
    assert dane(lab, "unusable", "dane-tlsrpt") == []  # DANE is not in use


def test_tlsa_in_an_unsigned_zone_is_ignored_by_dane_senders(lab: Lab) -> None:
    """TLSA in a zone without DNSSEC: an info, DANE senders ignore it."""
    [(severity, reason)] = dane(lab, "unsigned")
    assert severity is Severity.INFO and "not DNSSEC-validated" in reason


def test_a_wrong_trust_anchor_makes_the_tlsa_bogus(lab: Lab) -> None:
    """DNSKEYs that do not match the anchor: bogus, an error (DANE senders defer the mail)."""
    wrong = (f"{SIGNED}. DS 12345 13 2 {'00' * 32}",)
    [report] = verify([f"good.{SIGNED}"], lab.options(wrong))
    [(severity, reason)] = [(f.severity, f.reason) for f in report.findings if f.check == "dane"]
    assert severity is Severity.ERROR and "trust anchor" in reason


def test_a_servfail_from_a_validating_resolver_is_asked_again_unchecked(lab: Lab) -> None:
    """A validating resolver refuses a bogus TLSA with SERVFAIL: asked with CD, it is shown bogus."""
    plain = dns.asyncresolver.Resolver(configure=False)
    plain.nameservers, plain.port, plain.lifetime = [lab.knot.host], lab.knot.port, 5.0
    unchecked_resolver = dnssec_resolver(plain, checking_disabled=True)

    async def validating(name: str, rdtype: str) -> Signed:
        failure = DnsError(
            name, rdtype, DnsFailure.SERVFAIL, f"{name} {rdtype}: the server answered SERVFAIL"
        )
        return Signed(DnsStatus.ERROR, error=failure)

    async def unchecked(name: str, rdtype: str) -> Signed:
        return await signed_query(unchecked_resolver, name, rdtype)

    host = f"match.mx.{SIGNED}"
    wrong = (f"{SIGNED}. DS 12345 13 2 {'00' * 32}",)
    answer = asyncio.run(Validator(validating, wrong, unchecked).tlsa(host, lab.smtp_port))
    assert answer.security is Security.BOGUS and "SERVFAIL" in answer.why
    [finding] = dane_findings(host, answer, None, None, lab.smtp_port)
    assert finding.severity is Severity.ERROR and "defer all mail" in finding.reason
    # Records that validate: the SERVFAIL was the resolver's own trouble, a failed lookup (warning).
    right = tuple(lab.anchor_file.read_text(encoding="utf-8").splitlines()[1:])
    answer = asyncio.run(Validator(validating, right, unchecked).tlsa(host, lab.smtp_port))
    assert answer.status is DnsStatus.ERROR
    [finding] = dane_findings(host, answer, None, None, lab.smtp_port)
    assert finding.severity is Severity.WARNING


def test_a_resolver_that_drops_signatures_is_not_taken_for_an_unsigned_zone(lab: Lab) -> None:
    """TLSA without RRSIG in a zone with DNSKEY: unknown (a warning), not "DANE senders ignore it"."""
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers, resolver.port, resolver.lifetime = [lab.knot.host], lab.knot.port, 5.0
    plain = dnssec_resolver(resolver)

    async def stripping(name: str, rdtype: str) -> Signed:
        found = await signed_query(plain, name, rdtype)
        return replace(found, rrsigs=None)

    anchors = tuple(lab.anchor_file.read_text(encoding="utf-8").splitlines()[1:])
    host = f"match.mx.{SIGNED}"
    answer = asyncio.run(Validator(stripping, anchors).tlsa(host, lab.smtp_port))
    assert answer.security is Security.UNKNOWN and "the resolver drops DNSSEC records" in answer.why
    [finding] = dane_findings(host, answer, None, None, lab.smtp_port)
    assert finding.severity is Severity.WARNING
    unsigned = f"unsigned.mx.{UNSIGNED}"
    answer = asyncio.run(Validator(stripping, anchors).tlsa(unsigned, lab.smtp_port))
    assert answer.security is Security.INSECURE and f"{UNSIGNED}. has no DNSKEY" in answer.why


def test_without_an_anchor_or_ad_bit_nothing_is_secure(lab: Lab) -> None:
    """No anchor for the lab zone and no AD bit from Knot: the chain to the root cannot be walked."""
    [report] = verify([f"good.{SIGNED}"], lab.options(()))
    [(severity, _)] = [(f.severity, f.reason) for f in report.findings if f.check == "dane"]
    assert severity is not Severity.OK


def test_anchor_file_on_the_command_line(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    """--dnssec-anchor FILE gives the same verdict; a bad line is one error line and exit 2."""
    argv = [
        "--project-dir", str(lab.project), "verify", f"stale.{SIGNED}", "--nameserver", lab.knot.address,
        "--smtp-port", str(lab.smtp_port), "--timeout", "5", "--json",
    ]  # fmt: skip
    assert cli.main([*argv, "--dnssec-anchor", str(lab.anchor_file)]) == 1
    assert '"check": "dane",\n          "severity": "error"' in capsys.readouterr().out
    bad = lab.project / "bad-anchor.txt"
    bad.write_text("dane.test. A 127.0.0.1\n", encoding="utf-8")
    assert cli.main([*argv, "--dnssec-anchor", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--dnssec-anchor" in err


def test_dane_match_in_openmetrics(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    """mtasts_dane_match is 1 where TLSA matches every address and 0 where it does not."""
    argv = [
        "--project-dir", str(lab.project), "verify", f"good.{SIGNED}", f"stale.{SIGNED}", f"plain.{SIGNED}",
        "--nameserver", lab.knot.address, "--smtp-port", str(lab.smtp_port), "--timeout", "5",
        "--dnssec-anchor", str(lab.anchor_file), "--format", "openmetrics",
    ]  # fmt: skip
    cli.main(argv)
    families = {f.name: f for f in text_string_to_metric_families(capsys.readouterr().out)}
    match = {(s.labels["domain"], s.labels["host"]): s.value for s in families["mtasts_dane_match"].samples}
    assert match == {
        (f"good.{SIGNED}", f"match.mx.{SIGNED}"): 1.0,
        (f"stale.{SIGNED}", f"stale.mx.{SIGNED}"): 0.0,
    }
