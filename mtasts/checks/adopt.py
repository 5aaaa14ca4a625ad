"""Adopting a hand-made deployment: what a domain publishes live, the stack entry that reproduces
it, and every change senders would see between the live policy and what the stack plans.

Pure rules over probe answers (``LiveDomain``); ``mtasts.commands.adopt`` gathers the answers and
prints. A change that weakens what senders enforce is a warning: a mode downgrade, a dropped MX
pattern, a shorter ``max_age``, TLS-RPT URIs dropped. Everything else is information.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mtasts.checks.drift import policy_changes
from mtasts.model.domain import Domain
from mtasts.model.findings import Finding, Severity
from mtasts.model.vocabulary import Check, Hosting
from mtasts.probes.dns import DnsAnswer, DnsStatus
from mtasts.probes.prober import PolicyFetch
from mtasts.rfc.names import normalize_name
from mtasts.rfc.policy import Policy, PolicyError, parse_policy
from mtasts.rfc.records import (
    STS_VERSION,
    TLSRPT_VERSION,
    RecordError,
    declares,
    parse_sts_record,
    parse_tlsrpt_record,
)

PAGES_SUFFIX = ".github.io"


@dataclass(frozen=True)
class LiveDomain:
    """What one domain publishes live, as a sender (and ``dig``) sees it."""

    name: str
    sts: DnsAnswer
    """``_mta-sts.<d>`` TXT."""
    tlsrpt: DnsAnswer
    """``_smtp._tls.<d>`` TXT."""
    host_cname: DnsAnswer
    """``mta-sts.<d>`` CNAME (a Pages site points there)."""
    fetch: PolicyFetch
    """The policy fetched from every address of ``mta-sts.<d>``."""

    @property
    def sts_records(self) -> tuple[str, ...]:
        """Every ``v=STSv1`` TXT text at ``_mta-sts.<d>`` (two or more mean "no policy")."""
        return tuple(t for t in self.sts.records if declares(STS_VERSION, t))

    @property
    def sts_ids(self) -> tuple[str, ...]:
        ids = []
        for text in self.sts_records:
            try:
                ids.append(parse_sts_record(text).id)
            except RecordError:
                ids.append(f"(invalid: {text!r})")
        return tuple(ids)

    @property
    def tlsrpt_uris(self) -> tuple[str, ...] | None:
        """The URIs of the one valid ``v=TLSRPTv1`` record; None when there is not exactly one."""
        found = [t for t in self.tlsrpt.records if declares(TLSRPT_VERSION, t)]
        if len(found) != 1:
            return None
        try:
            return parse_tlsrpt_record(found[0]).rua
        except RecordError:
            return None

    @property
    def pages_owner(self) -> str | None:
        """``<owner>`` when ``mta-sts.<d>`` is a CNAME to ``<owner>.github.io`` (a Pages site)."""
        for target in self.host_cname.records:
            name = normalize_name(target)
            if name.endswith(PAGES_SUFFIX) and name.count(".") == 2:
                return name.removesuffix(PAGES_SUFFIX)
        return None

    def policy(self) -> tuple[Policy | None, str]:
        """The live policy as senders read it, or None and why there is none."""
        if self.fetch.error is not None:
            return None, self.fetch.error.reason
        if self.fetch.errors:
            return None, "; ".join(e.reason for e in self.fetch.errors)
        body = self.fetch.body
        if body is None:
            return None, f"the addresses of {self.fetch.host} serve different bytes"
        try:
            return parse_policy(body), ""
        except PolicyError as exc:
            return None, f"the served policy is invalid: {exc}"


def lookup_problem(answer: DnsAnswer) -> str | None:
    """Why a lookup gave no answer to compare (a failed lookup is never "absent")."""
    return answer.error.reason if answer.status is DnsStatus.ERROR and answer.error else None


def stack_entry(live: LiveDomain, planned: Domain) -> tuple[dict[str, Any], list[str]]:
    """The ``mta-sts:domains`` entry that reproduces the live policy, and notes for the operator.

    ``planned`` is what the stack gives the domain today (its entry, or the defaults for a new
    domain): keys are written only where live differs from it, except ``mode``, ``mx`` and
    ``maxAge``, which are always written so the entry keeps the live policy whatever the
    defaults become.
    """
    entry: dict[str, Any] = {}
    notes: list[str] = []
    policy, why = live.policy()
    if policy is None:
        notes.append(f"no live policy to reproduce ({why}); the entry keeps the stack's values")
        entry.update({"mode": str(planned.mode), "mx": list(planned.mx), "maxAge": planned.max_age})
    else:
        entry.update({"mode": str(policy.mode), "mx": list(policy.mx), "maxAge": policy.max_age})
        if policy.extensions:
            names = ", ".join(name for name, _ in policy.extensions)
            notes.append(f"the live policy's extension fields ({names}) are not reproduced")
    rua = live.tlsrpt_uris
    if rua is not None and tuple(rua) != tuple(planned.tlsrpt):
        entry["tlsrpt"] = list(rua)
    elif rua is None and lookup_problem(live.tlsrpt) is None and planned.tlsrpt:
        notes.append("no valid live _smtp._tls record: the entry takes the stack's tlsrpt")
    owner = live.pages_owner
    if owner is not None:
        if planned.hosting is not Hosting.GITHUB_PAGES:
            entry["hosting"] = str(Hosting.GITHUB_PAGES)
        if planned.github_owner and planned.github_owner != owner:
            notes.append(f"mta-sts.{live.name} points at {owner}.github.io, the stack's github:owner is "
                         f"{planned.github_owner}")  # fmt: skip
    return entry, notes


def sender_changes(live: LiveDomain, planned: Domain) -> list[Finding]:
    """Every change senders would see if the stack's ``planned`` domain replaced what is live."""
    key = f"domains.{planned.name}"
    found: list[Finding] = []
    policy, why = live.policy()
    if policy is None:
        found.append(Finding(Check.ADOPT_POLICY, Severity.WARNING, f"not compared: {why}", key))
    else:
        found += _policy_changes(policy, planned, key)
    ids = live.sts_ids
    problem = lookup_problem(live.sts)
    if problem is not None:
        found.append(Finding(Check.ADOPT_ID, Severity.WARNING, f"_mta-sts not compared: {problem}", key))
    elif len(ids) > 1:
        reason = (
            f"{len(ids)} v=STSv1 records live (ids {', '.join(ids)}): senders see no policy until "
            f"one is left; ours publishes id {planned.policy_id}"
        )
        found.append(Finding(Check.ADOPT_ID, Severity.WARNING, reason, key, facts=(("ids", ids),)))
    elif ids and ids[0] != planned.policy_id:
        reason = f"id {ids[0]} → {planned.policy_id} (senders refetch the policy once)"
        found.append(Finding(Check.ADOPT_ID, Severity.INFO, reason, key))
    found += _tlsrpt_changes(live, planned, key)
    return found


_CHANGE_CHECKS = {"mode": Check.ADOPT_MODE, "mx": Check.ADOPT_MX, "max_age": Check.ADOPT_MAX_AGE}
_CHANGE_KEYS = {"mode": "mode", "mx": "mx", "max_age": "maxAge"}
_WEAKER = {
    "mode": " (a downgrade: senders stop enforcing)",
    "mx": ": senders enforcing the policy refuse that MX",
    "max_age": " (shorter: a blocked policy host drops protection sooner)",
}


def _policy_changes(policy: Policy, planned: Domain, key: str) -> list[Finding]:
    found = []
    for change in policy_changes(policy, planned.policy):
        severity = Severity.WARNING if change.weaker else Severity.INFO
        reason = change.text + (_WEAKER[change.field] if change.weaker else "")
        where = f"{key}.{_CHANGE_KEYS[change.field]}"
        found.append(Finding(_CHANGE_CHECKS[change.field], severity, reason, where))
    return found


def _tlsrpt_changes(live: LiveDomain, planned: Domain, key: str) -> list[Finding]:
    problem = lookup_problem(live.tlsrpt)
    if problem is not None:
        return [Finding(Check.ADOPT_TLSRPT, Severity.WARNING, f"_smtp._tls not compared: {problem}", key)]
    rua = live.tlsrpt_uris or ()
    found = []
    for uri in rua:
        if uri not in planned.tlsrpt:
            reason = f"TLS-RPT {uri} dropped: its reports stop"
            found.append(Finding(Check.ADOPT_TLSRPT, Severity.WARNING, reason, f"{key}.tlsrpt"))
    for uri in planned.tlsrpt:
        if uri not in rua:
            found.append(Finding(Check.ADOPT_TLSRPT, Severity.INFO, f"TLS-RPT {uri} added", f"{key}.tlsrpt"))
    return found
