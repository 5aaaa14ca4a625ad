"""``mtasts readiness``: whether a domain can go ``testing → enforce`` now, and the evidence.

``evaluate`` is pure: the domain as the stack plans it, what ``verify`` found live, the TLS
report summaries (the ``reports`` receiver's JSON, or None when there is no receiver), the
thresholds (``mta-sts:readiness``) and the time. The command gathers those through injectable
functions. No evidence is "not ready": no receiver, no reports, too few days or organizations.
Days of reports run from the summary's ``firstReport`` (the earliest date-range start) to now.

Report failures count against a domain only when they are attributable to its own MX hosts:
``receivingMx`` matches one of the planned policy's ``mx`` patterns (``mtasts.rfc.mx``).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mtasts.checks import live_mx
from mtasts.model.config import Deployment, Domain
from mtasts.model.findings import Finding, Severity
from mtasts.model.rollout import Readiness, format_time, parse_time
from mtasts.probes import MxAnswer, ProbeOptions
from mtasts.rfc.mx import mx_matches

STALE_AFTER = datetime.timedelta(days=7)
"""Reports older than this no longer say anything about today."""
BLOCKING = (Severity.ERROR, Severity.WARNING)
"""Verify findings that block enforce: errors, and warnings (in testing they are tomorrow's errors)."""
IGNORED_CHECKS = ("drift", "drift-policy", "drift-id", "drift-tlsrpt", "policy-mode", "mx-coverage")
"""Verify findings that do not bear on the switch: a drift from the plan (the switch is one), the
live mode, and the live policy's MX coverage (the planned patterns are judged instead)."""


@dataclass(frozen=True)
class VerifyEvidence:
    """What ``verify`` found for one domain, as readiness needs it."""

    findings: tuple[Finding, ...]
    """Every finding of the verify run (checked without ``--stack``, so without drift)."""
    mx: MxAnswer | None
    """The live MX lookup; None when it could not be made."""


@dataclass(frozen=True)
class ReportsUnavailable:
    """The stack has a receiver, but its summary could not be read (unreachable, bad answer)."""

    reason: str


Summaries = Mapping[str, Any] | ReportsUnavailable | None
"""The receiver's summary; ReportsUnavailable when it could not be read; None: no receiver."""


@dataclass(frozen=True)
class Verdict:
    """Readiness of one domain: ready or not, and every piece of evidence either way."""

    domain: str
    ready: bool
    findings: tuple[Finding, ...]

    def as_json(self) -> dict[str, Any]:
        return {"ready": self.ready, "findings": [f.as_json(self.domain) for f in self.findings]}


def _verify_findings(domain: Domain, verify: VerifyEvidence | None) -> list[Finding]:
    key = f"domains.{domain.name}"
    if verify is None:
        return [Finding("verify", Severity.ERROR, "verify could not run: no evidence the domain works", key)]
    found = [
        Finding(f"verify-{f.check}", Severity.ERROR, f.reason, key)
        for f in verify.findings
        if f.severity in BLOCKING and f.check not in IGNORED_CHECKS
    ]
    if verify.mx is None:
        found.append(Finding("mx-coverage", Severity.ERROR, "live MX hosts unknown: lookup not made", key))
    else:
        # The planned patterns, judged as enforce judges them: plan --check-mx's one rule. A lookup
        # that failed, a domain without MX hosts: nothing shows enforce is safe.
        for mx in live_mx(domain.name, "enforce", domain.mx, verify.mx):
            covered = (
                mx.severity in (Severity.OK, Severity.INFO) and verify.mx.hosts and verify.mx.error is None
            )
            found.append(
                Finding("mx-coverage", Severity.OK if covered else Severity.ERROR, mx.reason, mx.key)
            )
    if not any(f.severity == Severity.ERROR for f in found):
        found.insert(0, Finding("verify", Severity.OK, "verify clean: policy, MX coverage, STARTTLS", key))
    return found


def _report_findings(
    domain: Domain, summaries: Summaries, thresholds: Readiness, now: datetime.datetime
) -> list[Finding]:
    key = f"domains.{domain.name}"

    def no(check: str, reason: str) -> Finding:
        return Finding(check, Severity.ERROR, reason, key)

    def yes(check: str, reason: str) -> Finding:
        return Finding(check, Severity.OK, reason, key)

    if summaries is None:
        return [no("reports", "no TLS reports receiver: there is no report evidence, so not ready")]
    if isinstance(summaries, ReportsUnavailable):
        return [no("reports", f"TLS reports unavailable ({summaries.reason}): no evidence, so not ready")]
    summary = (summaries.get("domains") or {}).get(domain.name)
    if not summary or not summary.get("reports"):
        return [no("reports", f"no TLS reports at all for {domain.name}: no evidence, so not ready")]
    if not summary.get("firstReport"):
        return [
            no(
                "report-days",
                "the receiver's summary has no firstReport (a receiver older than this command: "
                "deploy it again): days of reports unknown, so not ready",
            )
        ]
    found: list[Finding] = []
    last = parse_time(summary["lastReport"], "lastReport")
    # firstReport: the start of the earliest report's date-range (mtasts.commands.reports).
    first = parse_time(summary["firstReport"], "firstReport")
    days = (now - first).days
    span = f"{days} day(s) of reports since {format_time(first)}"
    if days < thresholds.min_days:
        found.append(no("report-days", f"{span}; readiness wants {thresholds.min_days}"))
    else:
        found.append(yes("report-days", span))
    if now - last > STALE_AFTER:
        found.append(no("report-age", f"last report {format_time(last)}: reports stopped arriving"))
    organizations = sorted(set(summary.get("organizations") or []))
    if len(organizations) < thresholds.min_organizations:
        found.append(
            no(
                "report-organizations",
                f"reports from {len(organizations)} organization(s) ({', '.join(organizations) or 'none'}); "
                f"readiness wants {thresholds.min_organizations}",
            )
        )
    else:
        found.append(yes("report-organizations", f"reports from {', '.join(organizations)}"))
    total = int(summary.get("successful", 0)) + int(summary.get("failed", 0))
    ours = [f for f in summary.get("failures") or [] if _attributable(domain, f)]
    others = [f for f in summary.get("failures") or [] if not _attributable(domain, f)]
    failed = sum(int(f.get("sessions", 0)) for f in ours)
    if total == 0:
        found.append(no("report-failures", "the reports count no sessions at all: no evidence"))
    else:
        rate = failed / total
        described = "; ".join(
            f"{f.get('resultType')} at {f.get('receivingMx')} ({f.get('sessions')} sessions)" for f in ours
        )
        if rate > thresholds.max_failure_rate:
            found.append(
                no(
                    "report-failures",
                    f"{failed} of {total} sessions failed at this domain's MX hosts ({rate:.2%}; "
                    f"readiness allows {thresholds.max_failure_rate:.2%}): {described}",
                )
            )
        else:
            found.append(
                yes("report-failures", f"{failed} of {total} sessions failed at this domain's MX hosts")
            )
    if others:
        sessions = sum(int(f.get("sessions", 0)) for f in others)
        found.append(
            Finding(
                "report-failures-elsewhere",
                Severity.INFO,
                f"{sessions} failed session(s) not at a host the policy names (not counted): "
                + "; ".join(f"{f.get('resultType')} at {f.get('receivingMx') or 'no MX'}" for f in others),
                key,
            )
        )
    return found


def _attributable(domain: Domain, failure: Mapping[str, Any]) -> bool:
    host = failure.get("receivingMx")
    return isinstance(host, str) and any(mx_matches(p, host) for p in domain.mx)


def evaluate(
    domain: Domain,
    verify: VerifyEvidence | None,
    summaries: Summaries,
    thresholds: Readiness,
    now: datetime.datetime,
) -> Verdict:
    """Whether ``domain`` (as planned) can go to ``enforce`` now, with the evidence."""
    findings = _verify_findings(domain, verify) + _report_findings(domain, summaries, thresholds, now)
    ready = not any(f.severity == Severity.ERROR for f in findings)
    return Verdict(domain.name, ready, tuple(findings))


# --------------------------------------------------------------------------- gathering

GatherVerify = Callable[[Sequence[str]], Mapping[str, VerifyEvidence]]
GatherReports = Callable[[Deployment], Summaries]


def verify_evidence(options: ProbeOptions, concurrency: int = 32) -> GatherVerify:
    """Evidence from a live ``verify`` run (without drift) and the MX lookup, per domain."""

    def gather(names: Sequence[str]) -> Mapping[str, VerifyEvidence]:
        from mtasts.commands.check_mx import lookup_mx_async
        from mtasts.commands.verify import verify

        reports = verify(list(names), options, None, concurrency)
        answers = asyncio.run(lookup_mx_async(list(names), options, concurrency))
        return {r.domain: VerifyEvidence(r.findings, answers.get(r.domain)) for r in reports}

    return gather


def no_receiver(deployment: Deployment) -> None:
    """No reports source: readiness says "no receiver"."""
    return None


def receiver_reports(endpoint: str | None = None) -> GatherReports:
    """The stack's own TLS reports receiver (``mtasts reports``): None when the stack has none.

    Read at ``endpoint`` (default ``https://<mta-sts:reports.host>``; a local ``serve`` in
    tests) with the read token from ``MTASTS_REPORTS_TOKEN``. A missing or refused token is a
    usage error (``ValueError``); an unreachable receiver or a bad answer is ``ReportsUnavailable``,
    which readiness reports as missing evidence.
    """

    def gather(deployment: Deployment) -> Summaries:
        from mtasts.commands import reports
        from mtasts.model.reports import TOKEN_ENV

        if deployment.receiver is None:
            return None
        token = os.environ.get(TOKEN_ENV, "")
        if not token:
            raise ValueError(f"{TOKEN_ENV}: not set; readiness reads the receiver with it")
        url = endpoint or reports.endpoint_for(deployment)
        try:
            return reports.fetch_summary(url, token)
        except reports.ReportsRefused as exc:
            raise ValueError(f"{TOKEN_ENV}: the receiver refused it ({exc})") from None
        except reports.ReportsError as exc:
            return ReportsUnavailable(str(exc))

    return gather


def receiver_summaries(deployment: Deployment) -> Summaries:
    """The stack's receiver at its public address (``receiver_reports()``)."""
    return receiver_reports()(deployment)


def reports_source(args: Any) -> GatherReports:
    """Where ``readiness`` and ``plan --base`` read reports: ``--reports FILE``, else the receiver."""
    if args.reports:
        return reports_file(args.reports)
    return receiver_reports(args.endpoint)


def reports_file(path: str) -> GatherReports:
    """Summaries from a JSON file in the receiver's shape (``{"domains": {...}, "unparsed": N}``)."""

    def gather(deployment: Deployment) -> Mapping[str, Any]:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
        if not isinstance(document, dict) or not isinstance(document.get("domains"), dict):
            raise ValueError(f"{path}: not a reports summary (no 'domains' object)")
        return document

    return gather


def assess(
    deployment: Deployment,
    names: Iterable[str],
    gather_verify: GatherVerify,
    gather_reports: GatherReports,
    now: datetime.datetime | None = None,
) -> list[Verdict]:
    """Verdicts for ``names`` (domains of ``deployment``), evidence gathered once for all."""
    now = now or datetime.datetime.now(datetime.UTC)
    names = list(names)
    evidence = gather_verify(names)
    summaries = gather_reports(deployment)
    return [
        evaluate(deployment.domain(n), evidence.get(n), summaries, deployment.readiness, now) for n in names
    ]


def render(verdicts: Sequence[Verdict], as_json: bool) -> str:
    if as_json:
        document = {
            "domains": {v.domain: v.as_json() for v in verdicts},
            "ready": all(v.ready for v in verdicts),
        }
        return json.dumps(document, indent=2) + "\n"
    out = []
    for verdict in verdicts:
        out.append(f"{verdict.domain}: {'READY' if verdict.ready else 'NOT READY'} for enforce")
        out += [f"  {f.severity:<7} {f.check:<26} {f.reason}" for f in verdict.findings]
        out.append("")
    return "\n".join(out)


def run(args: Any) -> int:
    """The ``readiness`` command: 0 when every named domain is ready, 1 when one is not, 2 on bad usage."""
    from mtasts.commands.verify.command import UsageError, options_from_args
    from mtasts.model.config import load_stack

    deployment = load_stack(args.project_dir, args.stack)
    names = list(args.domains) or [
        d.name for d in deployment.domains if d.mode != "none"
    ]
    known = {d.name for d in deployment.domains}
    try:
        unknown = [n for n in names if n not in known]
        if unknown:
            raise UsageError(f"{', '.join(unknown)} not in stack {args.stack}")
        options = options_from_args(args)
        verdicts = assess(deployment, names, verify_evidence(options, args.concurrency), reports_source(args))
    except (UsageError, OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(render(verdicts, args.json))
    return 0 if all(v.ready for v in verdicts) else 1
