"""DANE beside MTA-STS (RFC 7672): TLSA records of each MX host against the chain it serves.

A sender that does DANE uses an MX host's TLSA records (``_25._tcp.<mx>``) when DNSSEC validates
them, and then ignores the MTA-STS policy for that host (RFC 8461 §2): a TLSA record that no
longer matches the certificate (left behind after a renewal with a new key) makes DANE senders
refuse the MX whatever the policy says. So, per MX host with TLSA records:

- not signed (``insecure``): DANE senders ignore them, an ``info``;
- bogus: DANE senders defer all mail to the host (RFC 7672 §2.2), an ``error``;
- secure: every address must serve a chain that a usable record matches: DANE-EE (usage 3)
  against the leaf, DANE-TA (usage 2) against a certificate after it; usages 0 and 1 are not for
  SMTP (RFC 7672 §3.1.3). An address that matches none is an ``error``.

Where DANE is in use, reports about it go to ``_smtp._tls.<mx>``, the MX host's own name
(RFC 8460 §3), not the mail domain's: a missing record there is noted. An MX host without TLSA
beside others that have them is a warning (DANE senders deliver there unauthenticated).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from mtasts.model.findings import Finding, Severity
from mtasts.model.vocabulary import Check
from mtasts.probes.certificates import Certificate
from mtasts.probes.dns import DnsAnswer, DnsStatus
from mtasts.probes.dnssec import Security, Tlsa, TlsaAnswer
from mtasts.probes.prober import StarttlsProbe
from mtasts.probes.tls import hostport
from mtasts.rfc.records import TLSRPT_VERSION, declares

DANE_TA, DANE_EE = 2, 3
USAGES = {0: "PKIX-TA", 1: "PKIX-EE", 2: "DANE-TA", 3: "DANE-EE"}
SELECTORS = (0, 1)
"""Cert(0) and SPKI(1) (RFC 6698 §2.1.2)."""
MATCHING_TYPES = (0, 1, 2)
"""Full(0), SHA2-256(1), SHA2-512(2) (RFC 6698 §2.1.3)."""


def usable(record: Tlsa) -> bool:
    """A record a DANE SMTP client can use (RFC 7672 §3.1.3, RFC 6698 §4.1, RFC 7671 §4).

    PKIX-TA (0) and PKIX-EE (1) are not for SMTP; an unknown selector or matching type makes a
    record unusable too. Unusable records are ignored: a host whose records are all unusable
    still gets TLS from DANE senders, unauthenticated, and is not refused. (A digest of the wrong
    length never gets here: dnspython refuses the whole answer, a failed lookup.)
    """
    usage = record.usage in (DANE_TA, DANE_EE)
    return usage and record.selector in SELECTORS and record.mtype in MATCHING_TYPES


def matches(record: Tlsa, cert: Certificate) -> bool:
    """Whether ``record``'s selector and matching type select ``cert`` (RFC 6698 §2.1)."""
    if record.selector == 0:
        data = cert.der
    elif record.selector == 1:
        data = cert.spki
    else:
        return False
    if record.mtype == 0:
        return data == record.data
    if record.mtype == 1:
        return hashlib.sha256(data).digest() == record.data
    if record.mtype == 2:
        return hashlib.sha512(data).digest() == record.data
    return False


def chain_matches(records: Iterable[Tlsa], chain: tuple[Certificate, ...]) -> Tlsa | None:
    """The first usable record that the served ``chain`` satisfies, or None."""
    for record in records:
        if record.usage == DANE_EE and chain and matches(record, chain[0]):
            return record
        if record.usage == DANE_TA and any(matches(record, c) for c in chain[1:]):
            return record
    return None


def dane_in_use(tlsa: TlsaAnswer) -> bool:
    """Secure TLSA records with at least one usable for SMTP: DANE senders authenticate with them."""
    return tlsa.security is Security.SECURE and any(usable(r) for r in tlsa.records)


def dane(
    host: str, tlsa: TlsaAnswer, chains: StarttlsProbe | None, report_record: DnsAnswer | None, port: int = 25
) -> list[Finding]:
    """The DANE findings for one MX host (none when it has no TLSA record)."""
    if tlsa.status in (DnsStatus.NXDOMAIN, DnsStatus.NODATA):
        return []
    if tlsa.status is DnsStatus.ERROR:
        reason = tlsa.error.reason if tlsa.error else "lookup failed"
        return [_finding(Severity.WARNING, f"{host}: TLSA lookup at {tlsa.name} failed: {reason}", host)]
    shown = "; ".join(r.text()[:40] for r in tlsa.records)
    if tlsa.security is Security.INSECURE:
        why = (
            f"{host}: {tlsa.name} has TLSA records but they are not DNSSEC-validated ({tlsa.why}): "
            "DANE senders ignore them"
        )
        return [_finding(Severity.INFO, why, host)]
    if tlsa.security is Security.BOGUS:
        why = (
            f"{host}: DNSSEC validation of {tlsa.name} fails ({tlsa.why}): "
            "DANE senders defer all mail to this MX"
        )
        return [_finding(Severity.ERROR, why, host)]
    if tlsa.security is Security.UNKNOWN:
        why = f"{host}: could not tell whether {tlsa.name} validates ({tlsa.why})"
        return [_finding(Severity.WARNING, why, host)]
    records = [r for r in tlsa.records if usable(r)]
    if not records:
        why = (
            f"{host}: {tlsa.name} has no TLSA record usable for SMTP ({shown}): PKIX-TA/PKIX-EE are "
            "not for SMTP (RFC 7672 §3.1.3) and an unknown selector or matching type is ignored "
            "(RFC 6698 §4.1): DANE senders insist on TLS but authenticate nothing"
        )
        return [_finding(Severity.WARNING, why, host)]
    findings = [_match_finding(host, records, chains, port, _alias(tlsa))]
    findings += _report_finding(host, report_record)
    return findings


def missing_tlsa(hosts_tlsa: dict[str, TlsaAnswer]) -> list[Finding]:
    """MX hosts without TLSA beside hosts of the same domain that use DANE."""
    using = [h for h, t in hosts_tlsa.items() if dane_in_use(t)]
    if not using:
        return []
    found = []
    for host, tlsa in hosts_tlsa.items():
        if tlsa.status in (DnsStatus.NXDOMAIN, DnsStatus.NODATA):
            why = (
                f"{host}: no TLSA record at {tlsa.name} although {', '.join(using)} use DANE: "
                "DANE senders deliver to this MX without authenticating it"
            )
            found.append(_finding(Severity.WARNING, why, host))
    return found


def _alias(tlsa: TlsaAnswer) -> str:
    """Where the records were found, for an MX host that is an alias (RFC 7672 §2.2.3)."""
    return f" (TLSA at {tlsa.name}, its CNAME target's)" if tlsa.alias_of else ""


def _match_finding(
    host: str, records: list[Tlsa], chains: StarttlsProbe | None, port: int, alias: str = ""
) -> Finding:
    if chains is None or not chains.results:
        why = chains.no_address if chains is not None else "not probed"
        return _finding(Severity.ERROR, f"{host}: DANE in use but no chain could be read: {why}", host)
    failed, matched = [], []
    for result in chains.results:
        where = hostport(result.address, port)
        if result.success is None:
            reason = result.error.reason if result.error else "failed"
            failed.append(f"{where}: no STARTTLS ({reason})")
            continue
        record = chain_matches(records, result.success.chain)
        if record is None:
            failed.append(f"{where}: no TLSA record matches the certificate served")
        else:
            matched.append(f"{USAGES[record.usage]} {record.usage} {record.selector} {record.mtype}")
    if failed:
        why = (
            f"{host}{alias}: {'; '.join(failed)}: DANE senders refuse to deliver there whatever the MTA-STS "
            "policy says (a TLSA record left behind after a certificate change?)"
        )
        return _finding(Severity.ERROR, why, host)
    kinds = ", ".join(dict.fromkeys(matched))
    where = f"at all {len(matched)} addresses" if len(matched) > 1 else "at its address"
    return _finding(Severity.OK, f"{host}{alias}: TLSA ({kinds}) matches the certificate {where}", host)


def _report_finding(host: str, answer: DnsAnswer | None) -> list[Finding]:
    if answer is None:
        return []
    if answer.failed:
        return []  # nothing can be said; the TLSA verdict stands
    if any(declares(TLSRPT_VERSION, r) for r in answer.records):
        return []
    why = (
        f"{host}: uses DANE but has no _smtp._tls.{host} record: DANE senders send their TLS reports "
        "to the MX host's own name (RFC 8460 §3), so nobody receives them"
    )
    return [Finding(Check.DANE_TLSRPT, Severity.INFO, why, subject=host)]


def _finding(severity: Severity, reason: str, host: str) -> Finding:
    return Finding(Check.DANE, severity, reason, subject=host)
