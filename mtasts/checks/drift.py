"""Drift: the live policy, id and TLS-RPT record against what the stack publishes."""

from __future__ import annotations

from mtasts.model.config import Domain
from mtasts.model.findings import Finding, Severity
from mtasts.model.vocabulary import Check
from mtasts.rfc.records import RecordError, parse_tlsrpt_record, unquote_txt


def drift(expected: Domain, body: bytes | None, live_id: str | None, live_rpt: str | None) -> list[Finding]:
    """Differences from the stack's ``expected`` domain, or one ``drift`` ok."""
    found = []
    want = expected.policy_text.encode("utf-8")
    if body is not None and body != want:
        reason = (
            f"the served policy differs from the stack's ({len(body)} vs {len(want)} bytes, "
            f"id {expected.policy_id}): run pulumi up"
        )
        found.append(Finding(Check.DRIFT_POLICY, Severity.ERROR, reason))
    if live_id is not None and live_id != expected.policy_id:
        reason = (
            f"_mta-sts id is {live_id}, the stack publishes {expected.policy_id}: senders keep a "
            "stale policy until the id matches"
        )
        found.append(Finding(Check.DRIFT_ID, Severity.ERROR, reason))
    want_rpt = expected.tlsrpt_record
    if _rpt_key(live_rpt) != _rpt_key(want_rpt):
        reason = f"_smtp._tls is {live_rpt or 'absent'!r}, the stack publishes {want_rpt or 'none'!r}"
        found.append(Finding(Check.DRIFT_TLSRPT, Severity.WARNING, reason))
    if not found:
        found.append(Finding(Check.DRIFT, Severity.OK, "live policy, id and TLS-RPT record match the stack"))
    return found


def _rpt_key(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    try:
        record = parse_tlsrpt_record(text)
    except RecordError:
        return (unquote_txt(text),)
    return record.rua + tuple(f"{n}={v}" for n, v in record.extensions)
