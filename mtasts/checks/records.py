"""The ``_mta-sts`` and ``_smtp._tls`` TXT records (RFC 8461 §3.1, RFC 8460 §3)."""

from __future__ import annotations

from mtasts.model.findings import Finding, Severity
from mtasts.model.vocabulary import Check
from mtasts.probes.dns import DnsAnswer, DnsStatus
from mtasts.rfc.records import (
    STS_VERSION,
    TLSRPT_VERSION,
    RecordError,
    StsRecord,
    declares,
    parse_sts_record,
    parse_tlsrpt_record,
)

STS_RECORD = Check.STS_RECORD
TLSRPT_RECORD = Check.TLSRPT_RECORD


def sts_record(answer: DnsAnswer) -> tuple[StsRecord | None, list[Finding]]:
    """The live ``_mta-sts`` record (None unless exactly one valid ``v=STSv1``) and its finding."""
    if answer.error is not None:
        return None, [
            Finding(STS_RECORD, Severity.ERROR, f"_mta-sts TXT lookup failed: {answer.error.reason}")
        ]
    sts = [t for t in answer.records if declares(STS_VERSION, t)]
    ignored = len(answer.records) - len(sts)
    if not sts:
        why = "no TXT record" if answer.status is not DnsStatus.OK else "no TXT record starting v=STSv1;"
        reason = f"_mta-sts: {why}; senders see no MTA-STS policy (RFC 8461 §3.1)"
        return None, [Finding(STS_RECORD, Severity.ERROR, reason)]
    if len(sts) > 1:
        reason = f"_mta-sts: {len(sts)} v=STSv1 TXT records; senders treat this as no policy (RFC 8461 §3.1)"
        return None, [Finding(STS_RECORD, Severity.ERROR, reason)]
    try:
        record = parse_sts_record(sts[0])
    except RecordError as exc:
        return None, [Finding(STS_RECORD, Severity.ERROR, f"_mta-sts TXT {sts[0]!r} is invalid: {exc}")]
    note = f" ({ignored} other TXT record{'s' if ignored != 1 else ''} ignored)" if ignored else ""
    return record, [Finding(STS_RECORD, Severity.OK, f"_mta-sts: v=STSv1, id={record.id}{note}")]


def tlsrpt_record(answer: DnsAnswer) -> tuple[str | None, list[Finding]]:
    """The live ``v=TLSRPTv1`` record's text (None unless exactly one) and its finding."""
    if answer.error is not None:
        reason = f"_smtp._tls TXT lookup failed: {answer.error.reason}"
        return None, [Finding(TLSRPT_RECORD, Severity.ERROR, reason)]
    found = [t for t in answer.records if declares(TLSRPT_VERSION, t)]
    if not found:
        reason = "_smtp._tls: no v=TLSRPTv1 record; nobody hears of TLS delivery failures"
        return None, [Finding(TLSRPT_RECORD, Severity.WARNING, reason)]
    if len(found) > 1:
        reason = f"_smtp._tls: {len(found)} v=TLSRPTv1 records; senders use none (RFC 8460 §3)"
        return None, [Finding(TLSRPT_RECORD, Severity.ERROR, reason)]
    try:
        record = parse_tlsrpt_record(found[0])
    except RecordError as exc:
        return found[0], [
            Finding(TLSRPT_RECORD, Severity.ERROR, f"_smtp._tls TXT {found[0]!r} is invalid: {exc}")
        ]
    return found[0], [
        Finding(TLSRPT_RECORD, Severity.OK, f"_smtp._tls: reports go to {', '.join(record.rua)}")
    ]
