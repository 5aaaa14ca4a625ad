"""TLSA records (RFC 6698, RFC 7672) and whether DNSSEC makes them usable, with dnspython.

DANE senders use TLSA records only when they validate ("secure", RFC 7672 §2.2); records in an
unsigned zone are ignored, and a bogus answer makes them defer the mail. The verdict here is one
of ``Security``'s members, reached in this order:

1. the resolver set the AD bit on the TLSA answer (a validating resolver said "secure", which is
   what DANE MTAs trust, RFC 7672 §8); otherwise
2. we validate ourselves with ``dns.dnssec.validate``: the TLSA RRset's RRSIG against the signer
   zone's DNSKEY RRset, that RRset's self-signature, and the DNSKEY against a trust anchor (the
   root's KSK built in, plus any given in ``ProbeOptions.dnssec_anchors``) or a DS record at the
   parent, itself validated the same way, up to an anchor.

An RRset without RRSIGs is "insecure" only when its zone (the closest name with an SOA) has no
DNSKEY: a resolver that drops DNSSEC records must not make a signed zone look unsigned.

Every DNSKEY and DS question is asked once per run (``Prober.once``), so many MX hosts in one zone
cost one chain of lookups. A missing DS is taken as an unsigned delegation (``insecure``) without
checking the NSEC proof: the verdict is then "not DANE", which only ever says less.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import dns.asyncresolver
import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TLSA
import dns.resolver
import dns.rrset

from mtasts.probes.dns import DnsStatus, dns_error
from mtasts.probes.errors import DnsError, DnsFailure

ROOT_ANCHOR = ". DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"
"""The root zone's KSK-2017 as IANA publishes it (https://data.iana.org/root-anchors/root-anchors.xml)."""
MAX_DEPTH = 16
"""Most zone cuts walked from a signer up to an anchor."""


class Security(enum.StrEnum):
    SECURE = "secure"
    """Validated: DANE senders use the records."""
    INSECURE = "insecure"
    """Not signed (or the delegation is unsigned): DANE senders ignore the records."""
    BOGUS = "bogus"
    """Signed but does not validate: DANE senders defer mail to the host."""
    UNKNOWN = "unknown"
    """A lookup failed, so nothing could be decided."""


@dataclass(frozen=True)
class Tlsa:
    """One TLSA record: usage, selector, matching type and the association data."""

    usage: int
    selector: int
    mtype: int
    data: bytes

    def text(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex()}"


@dataclass(frozen=True)
class TlsaAnswer:
    """The TLSA lookup for ``name`` (``_25._tcp.<mx>``) and how far DNSSEC vouches for it."""

    name: str
    status: DnsStatus
    records: tuple[Tlsa, ...] = ()
    security: Security = Security.UNKNOWN
    why: str = ""
    """How the verdict was reached, one line."""
    error: DnsError | None = None
    alias_of: str = ""
    """The MX host name when ``name`` is at the end of its CNAME chain (RFC 7672 §2.2.3)."""


@dataclass(frozen=True)
class Signed:
    """An RRset with the RRSIGs that cover it, and the AD bit of the answer that carried it."""

    status: DnsStatus
    rrset: dns.rrset.RRset | None = None
    rrsigs: dns.rrset.RRset | None = None
    authenticated: bool = False
    error: DnsError | None = None
    aliases: tuple[tuple[dns.rrset.RRset, dns.rrset.RRset | None], ...] = ()
    """The CNAME RRsets the answer followed (each with its RRSIGs), from the name asked."""
    canonical: str = ""
    """Where the CNAME chain ends (the name asked when there is none)."""


def tlsa_name(host: str, port: int = 25) -> str:
    """``_25._tcp.<host>``: where an MX host's TLSA records live (RFC 7672 §2.2.1)."""
    return f"_{port}._tcp.{host.rstrip('.')}"


def dnssec_resolver(
    plain: dns.asyncresolver.Resolver, checking_disabled: bool = False
) -> dns.asyncresolver.Resolver:
    """A copy of ``plain`` that asks with the DO bit, so answers carry their RRSIGs.

    ``checking_disabled`` sets the CD bit too: a validating resolver then answers what it would
    otherwise refuse as bogus (with SERVFAIL), for us to validate (RFC 4035 §3.2.2).
    """
    resolver = dns.asyncresolver.Resolver(configure=False)
    if checking_disabled:
        resolver.flags = dns.flags.RD | dns.flags.CD
    resolver.nameservers = list(plain.nameservers)
    resolver.port = plain.port
    resolver.lifetime = plain.lifetime
    resolver.timeout = plain.timeout
    resolver.use_edns(0, dns.flags.DO, 1232)
    return resolver


async def signed_query(resolver: dns.asyncresolver.Resolver, name: str, rdtype: str) -> Signed:
    """One question asked with DO: the RRset, its RRSIGs and the AD bit; never raises for DNS trouble."""
    qname = dns.name.from_text(name)
    kind = dns.rdatatype.from_text(rdtype)
    try:
        answer = await resolver.resolve(qname, kind, raise_on_no_answer=False, search=False)
    except dns.resolver.NXDOMAIN:
        return Signed(DnsStatus.NXDOMAIN)
    except dns.exception.DNSException as exc:
        return Signed(DnsStatus.ERROR, error=dns_error(name, rdtype, exc, resolver.lifetime))
    except OSError as exc:
        reason = f"{name} {rdtype}: DNS lookup failed: {exc.strerror or exc}"
        return Signed(DnsStatus.ERROR, error=DnsError(name, rdtype, DnsFailure.OTHER, reason))
    response = answer.response
    aliases = tuple(
        (rrset, _signatures(response, rrset.name, dns.rdatatype.CNAME))
        for rrset in response.answer
        if rrset.rdtype == dns.rdatatype.CNAME
    )
    canonical = answer.canonical_name.to_text()
    authenticated = bool(response.flags & dns.flags.AD)
    if answer.rrset is None:
        return Signed(DnsStatus.NODATA, authenticated=authenticated, aliases=aliases, canonical=canonical)
    sigs = _signatures(response, answer.rrset.name, kind)
    return Signed(DnsStatus.OK, answer.rrset, sigs, authenticated, aliases=aliases, canonical=canonical)


def _signatures(
    response: dns.message.Message, owner: dns.name.Name, covers: dns.rdatatype.RdataType
) -> dns.rrset.RRset | None:
    try:
        return response.find_rrset(response.answer, owner, dns.rdataclass.IN, dns.rdatatype.RRSIG, covers)
    except KeyError:
        return None


Lookup = Callable[[str, str], Awaitable[Signed]]
"""A memoized ``signed_query``: (name, type) → ``Signed``."""


class Validator:
    """DNSSEC validation from trust anchors down, for one run (keys memoized by the lookup)."""

    def __init__(
        self, lookup: Lookup, anchors: tuple[str, ...] = (), unchecked: Lookup | None = None
    ) -> None:
        self.lookup = lookup
        self.unchecked = unchecked
        """The same questions with the CD bit, asked when a validating resolver answers SERVFAIL."""
        self._anchor_lines = anchors
        self.anchors: dict[dns.name.Name, list[dns.rrset.RRset]] = {}
        for line in (ROOT_ANCHOR, *anchors):
            rrset = parse_anchor(line)
            self.anchors.setdefault(rrset.name, []).append(rrset)
        self._keys: dict[dns.name.Name, tuple[dns.rrset.RRset | None, Security, str]] = {}

    async def tlsa(self, host: str, port: int = 25) -> TlsaAnswer:
        """The TLSA records of ``host``'s SMTP port, with their DNSSEC verdict.

        An MX host that is an alias (its address records reached through CNAMEs) has its TLSA
        records looked up at the fully expanded name first when every CNAME of the chain
        validates, and at its own name when there are none there (RFC 7672 §2.2.3): that is the
        name DANE senders authenticate the MX with.
        """
        target = await self.secure_target(host)
        if target is not None:
            found = await self._tlsa(target, port)
            if found.status not in (DnsStatus.NXDOMAIN, DnsStatus.NODATA):
                return replace(found, why=f"{found.why}; {host} is a CNAME to {target}", alias_of=host)
        return await self._tlsa(host, port)

    async def secure_target(self, host: str) -> str | None:
        """Where ``host``'s CNAME chain ends, when it has one and every CNAME of it validates."""
        found = await self.lookup(host, "A")
        if not found.aliases or found.status is DnsStatus.ERROR:
            return None
        target = found.canonical.rstrip(".")
        if found.authenticated:
            return target
        for rrset, sigs in found.aliases:
            security, _ = await self.validate(Signed(DnsStatus.OK, rrset, sigs), 0)
            if security is not Security.SECURE:
                return None
        return target

    async def _tlsa(self, host: str, port: int) -> TlsaAnswer:
        name = tlsa_name(host, port)
        found = await self.lookup(name, "TLSA")
        servfail = found.error is not None and found.error.failure is DnsFailure.SERVFAIL
        if servfail and self.unchecked is not None:
            # A validating resolver answers a bogus TLSA RRset with SERVFAIL, which DANE senders
            # take as "defer the mail" (RFC 7672 §2.1.1): ask again with checking disabled, and
            # validate every step ourselves (the zone keys may be as bogus as the records).
            again = await Validator(self.unchecked, self._anchor_lines)._tlsa(host, port)
            if again.status is DnsStatus.OK and again.security is Security.BOGUS:
                return replace(
                    again, why=f"the resolver answers SERVFAIL; with checking disabled: {again.why}"
                )
        if found.status is not DnsStatus.OK or found.rrset is None:
            return TlsaAnswer(name, found.status, error=found.error)
        records = tuple(
            Tlsa(r.usage, r.selector, r.mtype, r.cert)
            for r in found.rrset
            if isinstance(r, dns.rdtypes.ANY.TLSA.TLSA)
        )
        if found.authenticated:
            return TlsaAnswer(
                name, DnsStatus.OK, records, Security.SECURE, "validated by the resolver (AD bit)"
            )
        security, why = await self.validate(found, 0)
        return TlsaAnswer(name, DnsStatus.OK, records, security, why)

    async def validate(self, found: Signed, depth: int) -> tuple[Security, str]:
        """Whether ``found``'s RRset validates from a trust anchor."""
        assert found.rrset is not None
        if found.rrsigs is None or not len(found.rrsigs):
            return await self.unsigned(found.rrset)
        signer = found.rrsigs[0].signer
        keys, security, why = await self.zone_keys(signer, depth)
        if keys is None:
            return security, why
        try:
            dns.dnssec.validate(found.rrset, found.rrsigs, {signer: keys})
        except dns.exception.ValidationFailure as exc:
            return (
                Security.BOGUS,
                f"the RRSIG over {found.rrset.name} {_type(found.rrset)} does not validate ({exc})",
            )
        return Security.SECURE, f"validated from {why}"

    async def unsigned(self, rrset: dns.rrset.RRset) -> tuple[Security, str]:
        """An RRset that came without RRSIGs: insecure only when its zone has no DNSKEY.

        A resolver that does not speak DNSSEC strips the signatures of a signed zone; calling that
        "insecure" would say DANE senders ignore records they use. The zone is the closest
        enclosing name with an SOA; its DNSKEY RRset says whether it is signed.
        """
        shown = f"{rrset.name} {_type(rrset)}"
        name = rrset.name
        while name != dns.name.root:
            soa = await self.lookup(name.to_text(), "SOA")
            if soa.status is DnsStatus.ERROR:
                return Security.UNKNOWN, f"{shown} is not signed, and the SOA lookup of {name} failed"
            if soa.rrset is not None and soa.rrset.name == name:
                keys = await self.lookup(name.to_text(), "DNSKEY")
                if keys.status is DnsStatus.ERROR:
                    return Security.UNKNOWN, f"{shown} is not signed, and the DNSKEY lookup of {name} failed"
                if keys.rrset is None:
                    return Security.INSECURE, f"{shown} is not signed ({name} has no DNSKEY)"
                return Security.UNKNOWN, (
                    f"{shown} came without RRSIG although {name} is signed (it has DNSKEY records): "
                    "the resolver drops DNSSEC records (give a DNSSEC-aware one with --nameserver), "
                    "or the zone's signatures are missing"
                )
            name = name.parent()
        return Security.INSECURE, f"{shown} is not signed"

    async def zone_keys(
        self, zone: dns.name.Name, depth: int
    ) -> tuple[dns.rrset.RRset | None, Security, str]:
        """The zone's DNSKEY RRset when it validates from an anchor, else why not."""
        if zone not in self._keys:
            self._keys[zone] = await self._zone_keys(zone, depth)
        return self._keys[zone]

    async def _zone_keys(
        self, zone: dns.name.Name, depth: int
    ) -> tuple[dns.rrset.RRset | None, Security, str]:
        shown = zone.to_text()
        if depth > MAX_DEPTH:
            return None, Security.UNKNOWN, f"more than {MAX_DEPTH} zone cuts above {shown}"
        keys = await self.lookup(shown, "DNSKEY")
        if keys.status is DnsStatus.ERROR:
            reason = keys.error.reason if keys.error else "lookup failed"
            return None, Security.UNKNOWN, f"{shown} DNSKEY: {reason}"
        if keys.rrset is None:
            return None, Security.INSECURE, f"{shown} has no DNSKEY"
        if keys.rrsigs is None:
            return None, Security.BOGUS, f"{shown} DNSKEY is not signed"
        try:
            dns.dnssec.validate(keys.rrset, keys.rrsigs, {zone: keys.rrset})
        except dns.exception.ValidationFailure:
            return None, Security.BOGUS, f"{shown} DNSKEY does not validate with its own keys"
        anchors = self.anchors.get(zone)
        if anchors is not None:
            if _matches(zone, keys.rrset, anchors):
                return keys.rrset, Security.SECURE, f"the trust anchor of {shown}"
            return None, Security.BOGUS, f"{shown} DNSKEY does not match its trust anchor"
        if zone == dns.name.root:
            return None, Security.UNKNOWN, "no trust anchor for the root"
        ds = await self.lookup(shown, "DS")
        if ds.status is DnsStatus.ERROR:
            reason = ds.error.reason if ds.error else "lookup failed"
            return None, Security.UNKNOWN, f"{shown} DS: {reason}"
        if ds.rrset is None:
            return None, Security.INSECURE, f"{shown} has no DS at its parent (an unsigned delegation)"
        security, why = await self.validate(ds, depth + 1)
        if security is not Security.SECURE:
            return None, security, why
        if not _matches(zone, keys.rrset, [ds.rrset]):
            return None, Security.BOGUS, f"no {shown} DNSKEY matches its DS"
        return keys.rrset, Security.SECURE, f"{shown} DS, {why}"


def _type(rrset: dns.rrset.RRset) -> str:
    return dns.rdatatype.to_text(rrset.rdtype)


def parse_anchor(line: str) -> dns.rrset.RRset:
    """``<zone> DS …`` or ``<zone> DNSKEY …`` (zone-file syntax, TTL and class optional)."""
    words = line.split()
    while len(words) > 2 and (words[1].isdigit() or words[1].upper() == "IN"):
        del words[1]
    if len(words) < 3 or words[1].upper() not in ("DS", "DNSKEY"):
        raise ValueError(f"{line!r} is not a DS or DNSKEY record")
    return dns.rrset.from_text(words[0], 0, "IN", words[1], " ".join(words[2:]))


def _matches(zone: dns.name.Name, keys: dns.rrset.RRset, anchors: list[dns.rrset.RRset]) -> bool:
    """A key of ``keys`` is an anchor's DNSKEY, or hashes to an anchor's DS."""
    for anchor in anchors:
        for record in anchor:
            if anchor.rdtype == dns.rdatatype.DNSKEY and record in keys:
                return True
            if anchor.rdtype == dns.rdatatype.DS:
                for key in keys:
                    try:
                        if dns.dnssec.make_ds(zone, key, record.digest_type) == record:
                            return True
                    except (dns.exception.UnsupportedAlgorithm, ValueError):
                        continue
    return False
