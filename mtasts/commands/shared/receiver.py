"""The receiver's summary read over HTTPS with the read token (``reports``, ``readiness``)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from mtasts.model import receiver as receiver_model
from mtasts.model.config import Deployment
from mtasts.model.receiver_summary import ReceiverSummary, SummaryError, parse_summary


class ReportsError(Exception):
    """The summary could not be fetched."""


class ReportsUnreachable(ReportsError):
    """No answer from the endpoint (connection refused, DNS, timeout, TLS)."""


class ReportsRefused(ReportsError):
    """The receiver refused the token (401) or has no read token configured (403)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


class ReportsBadAnswer(ReportsError):
    """Any other status, or a body that is not the summary."""


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fetch_summary(
    endpoint: str, token: str, since: datetime | None = None, timeout: float = 30.0
) -> ReceiverSummary:
    """The receiver's summary (``GET /v1/summary``), parsed into ``ReceiverSummary``.

    Per domain ``firstReport`` is the earliest date-range start of its reports (their receive time
    when later or not a time), ``lastReport`` the last receive time; both RFC 3339, null without reports.

    ``endpoint`` is the receiver's base URL (``https://tlsrpt.example.net`` or a local
    ``serve``'s ``http://127.0.0.1:8787``); ``since`` limits it to reports received from then on.
    Raises ``ReportsUnreachable``, ``ReportsRefused`` or ``ReportsBadAnswer``.
    """
    params = {"since": rfc3339(since)} if since is not None else {}
    base = endpoint.rstrip("/")
    # The intake URL that `plan --json` shows works as well as the base URL.
    base = base.removesuffix(receiver_model.REPORT_PATH)
    url = base + receiver_model.SUMMARY_PATH
    try:
        response = httpx.get(
            url, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )
    except httpx.HTTPError as exc:
        raise ReportsUnreachable(f"cannot reach {url}: {exc}") from None
    reason = _reason(response)
    if response.status_code in (401, 403):
        raise ReportsRefused(response.status_code, reason)
    if response.status_code != 200:
        raise ReportsBadAnswer(f"{url} answered {response.status_code}: {reason}")
    try:
        summary = response.json()
    except ValueError:
        raise ReportsBadAnswer(f"{url} answered 200 with a body that is not JSON") from None
    try:
        return parse_summary(summary)
    except SummaryError as exc:
        raise ReportsBadAnswer(f"{url} answered 200 without a summary: {exc}") from None


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    return str(body.get("error", "")) if isinstance(body, dict) else ""


def endpoint_for(deployment: Deployment) -> str:
    """``https://<mta-sts:reports.host>``."""
    assert deployment.receiver is not None
    return f"https://{deployment.receiver.host}"
