"""Drift: the live policy, id and TLS-RPT record against what the stack publishes.

A verdict never claims more than was compared: a policy that could not be fetched, or a lookup
that failed, is "not compared" with the reason (a warning), never "ok" and never "absent". A
policy that differs is described by what senders would see change (``policy_changes``: the one
wording ``adopt`` uses too), not by byte counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mtasts.model.config import Deployment, Domain
from mtasts.model.findings import Finding, Severity
from mtasts.model.shards import script_name, zone_of
from mtasts.model.vocabulary import Check, Hosting, Mode, Routing
from mtasts.probes.dns import DnsAnswer, DnsStatus
from mtasts.rfc.names import normalize_name
from mtasts.rfc.policy import Policy, PolicyError, parse_policy
from mtasts.rfc.records import (
    STS_VERSION,
    TLSRPT_VERSION,
    RecordError,
    declares,
    parse_sts_record,
    parse_tlsrpt_record,
    unquote_txt,
)

MODE_STRENGTH = {Mode.NONE: 0, Mode.TESTING: 1, Mode.ENFORCE: 2}


@dataclass(frozen=True)
class PolicyChange:
    """One field of the policy that differs, as ``<field> <live> → <planned>`` or added/dropped."""

    field: str
    text: str
    weaker: bool
    """True when senders enforce less afterwards: a mode downgrade, a dropped MX pattern, a
    shorter max_age."""


def policy_changes(live: Policy, planned: Policy) -> list[PolicyChange]:
    """What senders would see change if ``planned`` replaced ``live``, field by field."""
    found: list[PolicyChange] = []
    live_mode, mode = Mode(live.mode), Mode(planned.mode)
    if live_mode is not mode:
        weaker = MODE_STRENGTH[mode] < MODE_STRENGTH[live_mode]
        found.append(PolicyChange("mode", f"mode {live_mode} → {mode}", weaker))
    live_mx = [normalize_name(m) for m in live.mx]
    planned_mx = [normalize_name(m) for m in planned.mx]
    found += [PolicyChange("mx", f"mx {m} dropped", True) for m in live_mx if m not in planned_mx]
    found += [PolicyChange("mx", f"mx {m} added", False) for m in planned_mx if m not in live_mx]
    if live.max_age != planned.max_age:
        text = f"max_age {live.max_age} → {planned.max_age}"
        found.append(PolicyChange("max_age", text, planned.max_age < live.max_age))
    return found


def not_compared(answer: DnsAnswer) -> str | None:
    """Why a lookup gave nothing to compare (None when it answered, even with nothing)."""
    if answer.status is DnsStatus.ERROR:
        return answer.error.reason if answer.error else "the lookup failed"
    return None


def drift(
    expected: Domain, body: bytes | None, sts: DnsAnswer, rpt: DnsAnswer, why_no_body: str = ""
) -> list[Finding]:
    """Differences from the stack's ``expected`` domain; one ``drift`` ok only when all three
    were compared and match. ``why_no_body`` says why ``body`` is None (the fetch's failure)."""
    problems = _policy_drift(expected, body, why_no_body)
    problems += [f for f in (_id_drift(expected, sts), _rpt_drift(expected, rpt)) if f is not None]
    if not problems:
        return [Finding(Check.DRIFT, Severity.OK, "live policy, id and TLS-RPT record match the stack")]
    return problems


def _policy_drift(expected: Domain, body: bytes | None, why: str) -> list[Finding]:
    if body is None:
        reason = f"policy not compared: {why or 'no policy was fetched'}"
        return [Finding(Check.DRIFT_POLICY, Severity.WARNING, reason)]
    want = expected.policy_text.encode("utf-8")
    if body == want:
        return []
    try:
        changes = policy_changes(parse_policy(body), expected.policy)
    except PolicyError:
        changes = []
    if changes:
        said = ", ".join(c.text for c in changes)
        reason = f"the served policy differs from the stack's (live → stack): {said}; run pulumi up"
    else:
        reason = (
            f"the served policy has the stack's fields in other bytes ({len(body)} vs {len(want)} bytes, "
            f"id {expected.policy_id}): run pulumi up"
        )
    return [Finding(Check.DRIFT_POLICY, Severity.ERROR, reason)]


def _id_drift(expected: Domain, sts: DnsAnswer) -> Finding | None:
    problem = not_compared(sts)
    if problem is not None:
        return Finding(Check.DRIFT_ID, Severity.WARNING, f"_mta-sts not compared: {problem}")
    ids = []
    for text in (t for t in sts.records if declares(STS_VERSION, t)):
        try:
            ids.append(parse_sts_record(text).id)
        except RecordError:
            ids.append(repr(unquote_txt(text)))
    if not ids:
        reason = f"_mta-sts has no v=STSv1 record, the stack publishes id {expected.policy_id}"
        return Finding(Check.DRIFT_ID, Severity.ERROR, reason)
    if len(ids) > 1:
        reason = (
            f"_mta-sts has {len(ids)} v=STSv1 records (ids {', '.join(ids)}), the stack publishes one, id "
            f"{expected.policy_id}: delete the one the stack does not manage (mtasts adopt names it)"
        )
        return Finding(Check.DRIFT_ID, Severity.ERROR, reason, facts=(("ids", tuple(ids)),))
    if ids[0] != expected.policy_id:
        reason = (
            f"_mta-sts id is {ids[0]}, the stack publishes {expected.policy_id}: senders keep a "
            "stale policy until the id matches"
        )
        return Finding(Check.DRIFT_ID, Severity.ERROR, reason)
    return None


def _rpt_drift(expected: Domain, rpt: DnsAnswer) -> Finding | None:
    problem = not_compared(rpt)
    if problem is not None:
        return Finding(Check.DRIFT_TLSRPT, Severity.WARNING, f"_smtp._tls not compared: {problem}")
    live = [t for t in rpt.records if declares(TLSRPT_VERSION, t)]
    want = expected.tlsrpt_record
    shown = repr(want) if want else "none"
    if len(live) > 1:
        listed = ", ".join(repr(unquote_txt(t)) for t in live)
        reason = f"_smtp._tls has {len(live)} records ({listed}), the stack publishes {shown}"
        return Finding(Check.DRIFT_TLSRPT, Severity.WARNING, reason)
    text = live[0] if live else None
    if _rpt_key(text) == _rpt_key(want):
        return None
    now = repr(unquote_txt(text)) if text is not None else "absent"
    return Finding(Check.DRIFT_TLSRPT, Severity.WARNING, f"_smtp._tls is {now}, the stack publishes {shown}")


def _rpt_key(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    try:
        record = parse_tlsrpt_record(text)
    except RecordError:
        return (unquote_txt(text),)
    return record.rua + tuple(f"{n}={v}" for n, v in record.extensions)


POLICY_CHECKS = frozenset(
    {
        Check.POLICY,
        Check.POLICY_FETCH,
        Check.POLICY_SYNTAX,
        Check.POLICY_TIMEOUT,
        Check.POLICY_TLS,
        Check.POLICY_REDIRECT,
        Check.POLICY_STATUS,
        Check.POLICY_CONTENT_TYPE,
        Check.POLICY_ENCODING,
        Check.POLICY_SIZE,
        Check.DRIFT_POLICY,
    }
)
"""The checks whose failure means the policy host does not serve the planned policy."""


def serving_worker(
    deployment: Deployment, stack: str, name: str, findings: Sequence[Finding]
) -> Finding | None:
    """For a Worker-hosted domain of ``deployment`` whose policy checks failed: an info finding
    naming the script (shard) that should serve it and how it is routed, so the operator looks
    at that one of the stack's Workers. None otherwise."""
    failed = any(
        f.check in POLICY_CHECKS and f.severity in (Severity.ERROR, Severity.WARNING) for f in findings
    )
    if not failed:
        return None
    try:
        domain = deployment.domain(name)
    except KeyError:
        return None
    if domain.hosting is not Hosting.CLOUDFLARE_WORKER:
        return None
    count = deployment.worker_shards
    shard = deployment.shard_for(name)
    script = script_name(stack, shard, count)
    how = {
        Routing.ROUTE: f"through the route {domain.policy_host}/* in zone {zone_of(domain)}",
        Routing.CUSTOM_DOMAIN: f"as its custom domain {domain.policy_host}",
        Routing.NONE: "but routing: none routes nothing to it",
    }[domain.routing]
    where = f" (shard {shard} of {count})" if count > 1 else ""
    return Finding(
        Check.DRIFT_WORKER,
        Severity.INFO,
        f"the stack serves this policy from Worker script {script}{where}, {how}",
        facts=(("script", script), ("shard", shard), ("shards", count)),
    )
