"""Where the failed sessions of TLS reports happened, and which of them count against readiness.

RFC 8460 §4.2 gives a failure detail a ``receiving-mx-hostname`` and a ``receiving-ip``, both
optional, and a policy's ``total-failure-session-count`` need not be covered by details at all
(large senders report only the total). A failure is placed:

- ``mx-name``: its MX name matches one of the planned policy's ``mx`` patterns (``mtasts.rfc.mx``);
- ``ip``: otherwise its receiving IP is an address of one of the domain's live MX hosts (looked up
  once, with the MX answer);
- ``unattributed``: neither (no MX name and no known IP, an MX name matching no pattern, or
  failed sessions the report counts without details).

Every class counts against readiness: a failure the tool cannot place elsewhere is a failure
senders saw delivering this domain's mail, and under ``enforce`` such a session is mail that is
not delivered. The classes only say how sure the placement is.

The functions take one domain's entry of the receiver's summary (``DomainSummary``), parsed
where the summary was read.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mtasts.model.receiver_summary import DomainSummary, FailureGroup
from mtasts.rfc.mx import mx_matches


class Attribution(enum.StrEnum):
    """How a failure was placed at the domain."""

    MX_NAME = "mx-name"
    IP = "ip"
    UNATTRIBUTED = "unattributed"


LABELS = {
    Attribution.MX_NAME: "by MX name",
    Attribution.IP: "by IP",
    Attribution.UNATTRIBUTED: "unattributed",
}


@dataclass(frozen=True)
class PlacedFailure:
    """One failure group of the receiver's summary (or the sessions a report counts without
    details), placed against the policy."""

    failure: FailureGroup
    """The group as placed: its MX name lower-case without the root's dot, its IP stripped."""
    attribution: Attribution
    why: str
    """How it was placed: the pattern or MX host it matched, or why nothing matched."""

    @property
    def result_type(self) -> str | None:
        """RFC 8460 ``result-type``; None for failed sessions the report gives no details of."""
        return self.failure.result_type

    @property
    def receiving_mx(self) -> str | None:
        return self.failure.receiving_mx

    @property
    def receiving_ip(self) -> str | None:
        return self.failure.receiving_ip

    @property
    def sessions(self) -> int:
        return self.failure.sessions

    def describe(self) -> str:
        what = self.result_type or "failures without details"
        where = self.receiving_mx or self.receiving_ip or "no MX or IP given"
        return f"{what} at {where} ({self.sessions} sessions; {LABELS[self.attribution]}: {self.why})"

    def as_json(self) -> dict[str, Any]:
        return {**self.failure.as_json(), "attribution": str(self.attribution), "why": self.why}


@dataclass(frozen=True)
class FailureEvidence:
    """The sessions of one summary entry and where its failures were placed."""

    successful: int
    failures: tuple[PlacedFailure, ...]

    @property
    def failed(self) -> int:
        return sum(f.sessions for f in self.failures)

    @property
    def total(self) -> int:
        return self.successful + self.failed

    def sessions(self, attribution: Attribution) -> int:
        return sum(f.sessions for f in self.failures if f.attribution is attribution)

    def breakdown(self) -> str:
        """``by MX name 3, by IP 0, unattributed 500``."""
        return ", ".join(f"{LABELS[a]} {self.sessions(a)}" for a in Attribution)

    def as_json(self) -> dict[str, Any]:
        return {
            "successful": self.successful,
            "failed": self.failed,
            "attribution": {str(a): self.sessions(a) for a in Attribution},
            "failures": [f.as_json() for f in self.failures],
        }


def _address(text: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # A dual-stack sender may write an IPv4 peer as ::ffff:192.0.2.10 (RFC 4291 §2.5.5.2).
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return mapped or address


def _name(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    name = value.strip().rstrip(".").lower()
    return name or None


def place(
    failure: FailureGroup, patterns: Sequence[str], mx_addresses: Mapping[str, Iterable[str]] | None
) -> PlacedFailure:
    """One failure group of the receiver's summary placed against the planned ``patterns`` and
    the live MX hosts' addresses."""
    mx = _name(failure.receiving_mx)
    raw_ip = failure.receiving_ip
    ip = raw_ip.strip() if raw_ip is not None and raw_ip.strip() else None

    as_placed = FailureGroup(failure.result_type, mx, ip, failure.sessions)

    def placed(attribution: Attribution, why: str) -> PlacedFailure:
        return PlacedFailure(as_placed, attribution, why)

    if mx is not None:
        pattern = next((p for p in patterns if mx_matches(p, mx)), None)
        if pattern is not None:
            return placed(Attribution.MX_NAME, f"matches {pattern}")
    address = _address(ip)
    if address is not None and mx_addresses is not None:
        for host, addresses in mx_addresses.items():
            if any(_address(a) == address for a in addresses):
                return placed(Attribution.IP, f"an address of MX host {host}")
    if mx is not None:
        return placed(Attribution.UNATTRIBUTED, "the MX name matches no pattern of the policy")
    if address is None:
        return placed(Attribution.UNATTRIBUTED, "the report names neither MX host nor IP")
    if mx_addresses is None:
        return placed(Attribution.UNATTRIBUTED, "the MX hosts' addresses are unknown")
    return placed(Attribution.UNATTRIBUTED, "the IP is no address of the domain's MX hosts")


def failure_evidence(
    entry: DomainSummary, patterns: Sequence[str], mx_addresses: Mapping[str, Iterable[str]] | None
) -> FailureEvidence:
    """Every failed session of a summary entry, placed; sessions beyond the details are unattributed.

    ``entry.failed`` is the sum of the reports' ``total-failure-session-count``; when the
    details cover fewer sessions, the rest is one unattributed failure (RFC 8460 §4.2: details are
    optional). Details covering more than the total (a sender's arithmetic) count as given.
    """
    placed = [place(f, patterns, mx_addresses) for f in entry.failures]
    detailed = sum(p.sessions for p in placed)
    rest = entry.failed - detailed
    if rest > 0:
        placed.append(
            PlacedFailure(
                FailureGroup(None, None, None, rest),
                Attribution.UNATTRIBUTED,
                "total-failure-session-count beyond the failure details",
            )
        )
    return FailureEvidence(entry.successful, tuple(placed))
