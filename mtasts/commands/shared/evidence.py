"""Readiness evidence, gathered once for ``readiness`` and ``plan --base``.

Live evidence comes from one prober: per domain the verify run (``domain_check``), the MX answer
that run used and every address of each MX host (the prober asks each question once, so
readiness asks no MX question twice). Report evidence is the receiver's summary, or a file in its
shape. The rules are ``mtasts.checks.readiness``.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from mtasts.checks.readiness import ReportsUnavailable, Summaries, Verdict, VerifyEvidence, evaluate
from mtasts.commands.shared.delegated import ApiView, ask_api
from mtasts.commands.shared.domain_check import check_domain, in_turn
from mtasts.commands.shared.progress import Progress
from mtasts.commands.shared.receiver import ReportsError, ReportsRefused, endpoint_for, fetch_summary
from mtasts.model.config import Deployment
from mtasts.model.receiver import TOKEN_ENV
from mtasts.model.receiver_summary import ReceiverSummary, parse_summary
from mtasts.probes import ProbeOptions, Prober
from mtasts.probes.custom_hostnames import Api

GatherVerify = Callable[[Sequence[str]], Mapping[str, VerifyEvidence]]
GatherReports = Callable[[Deployment], Summaries]


async def verify_evidence_async(
    names: Sequence[str],
    options: ProbeOptions,
    concurrency: int = 32,
    deployment: Deployment | None = None,
    progress: Progress | None = None,
) -> dict[str, VerifyEvidence]:
    """Per domain: verify's findings, its MX answer and each MX host's addresses, one prober;
    ``progress(done, total)`` as each domain is done.

    A customer domain of ``deployment`` (``hosting: delegated``) is judged on its onboarding
    first: while pending, its findings are the onboarding's (and it is not ready).
    """
    customers = {d.name: d for d in deployment.delegated_domains} if deployment is not None else {}
    api = await ask_api(deployment, Api.from_environment(timeout=options.timeout)) if customers else ApiView()
    async with Prober(options) as prober:

        async def one(name: str) -> VerifyEvidence:
            report = await check_domain(prober, name, api=api, customer=customers.get(name))
            mx = await prober.mx(name)  # the answer check_domain used: asked once per prober
            found = await asyncio.gather(*(prober.addresses(h) for h in mx.hosts))
            return VerifyEvidence(report.findings, mx, {a.host: a.all for a in found})

        evidence = await in_turn(list(names), one, concurrency, progress)
    return dict(zip(names, evidence, strict=True))


def verify_evidence(
    options: ProbeOptions,
    concurrency: int = 32,
    deployment: Deployment | None = None,
    progress: Progress | None = None,
) -> GatherVerify:
    """Evidence from a live ``verify`` run (without drift), per domain; ``deployment`` for its customers."""

    def gather(names: Sequence[str]) -> Mapping[str, VerifyEvidence]:
        return asyncio.run(verify_evidence_async(list(names), options, concurrency, deployment, progress))

    return gather


def receiver_reports(endpoint: str | None = None) -> GatherReports:
    """The stack's own TLS reports receiver: None when the stack has none.

    Read at ``endpoint`` (default ``https://<mta-sts:reports.host>``; a local ``serve`` in
    tests) with the read token from ``MTASTS_REPORTS_TOKEN``. A missing or refused token is a
    usage error (``ValueError``); an unreachable receiver or a bad answer is ``ReportsUnavailable``,
    which readiness reports as missing evidence.
    """

    def gather(deployment: Deployment) -> Summaries:
        if deployment.receiver is None:
            return None
        token = os.environ.get(TOKEN_ENV, "")
        if not token:
            raise ValueError(f"{TOKEN_ENV}: not set; readiness reads the receiver with it")
        url = endpoint or endpoint_for(deployment)
        try:
            return fetch_summary(url, token)
        except ReportsRefused as exc:
            raise ValueError(f"{TOKEN_ENV}: the receiver refused it ({exc})") from None
        except ReportsError as exc:
            return ReportsUnavailable(str(exc))

    return gather


def receiver_summaries(deployment: Deployment) -> Summaries:
    """The stack's receiver at its public address (``receiver_reports()``)."""
    return receiver_reports()(deployment)


def reports_file(path: str) -> GatherReports:
    """Summaries from a JSON file in the receiver's shape (``{"domains": {...}, "unparsed": N}``)."""

    def gather(deployment: Deployment) -> ReceiverSummary:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
        return parse_summary(document, path)

    return gather


def reports_source(args: Any) -> GatherReports:
    """Where ``readiness`` and ``plan --base`` read reports: ``--reports FILE``, else the receiver."""
    if args.reports:
        return reports_file(args.reports)
    return receiver_reports(args.endpoint)


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
