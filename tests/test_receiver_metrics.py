"""The receiver's token-protected ``GET /v1/metrics`` in miniflare, read by ``prometheus_client``.

Two organizations report for example.com (one with failures at two MX hosts), one for
example.org; the summary gains ``byOrganization``, and the metrics carry sessions per MX and
result type and the age of each organization's last report.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tests.reports_helpers import TOKEN, Receiver, receiver, report_json

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TYPE = "application/tlsrpt+json"


@pytest.fixture(scope="module")
def filled() -> Iterator[Receiver]:
    with receiver() as r:
        assert r.post(report_json("Big Mail", "b1", "example.com", failures=4), TYPE).status_code == 201
        assert (
            r.post(
                report_json("Big Mail", "b2", "example.com", failures=2, mx="mx2.example.net"), TYPE
            ).status_code
            == 201
        )
        assert r.post(report_json("Small Co", "s1", "example.com", failures=0), TYPE).status_code == 201
        assert r.post(report_json("Small Co", "s2", "example.org", failures=0), TYPE).status_code == 201
        yield r


def metrics(r: Receiver) -> dict[str, list[tuple[dict[str, str], float]]]:
    answer = r.client.get(f"{r.url}/v1/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(answer.text):
        for s in family.samples:
            found.setdefault(s.name, []).append((s.labels, s.value))
    return found


def test_metrics_need_the_token(filled: Receiver) -> None:
    """Without the bearer token: 401, as every read."""
    assert filled.client.get(f"{filled.url}/v1/metrics").status_code == 401


def test_sessions_per_domain_mx_and_result_type(filled: Receiver) -> None:
    """Failed sessions by receiving MX and result type, and the totals, as the parser reads them."""
    found = metrics(filled)
    failed = {
        (labels["domain"], labels["receiving_mx"], labels["result_type"]): value
        for labels, value in found["mtasts_tlsrpt_failed_sessions"]
    }
    assert failed == {
        ("example.com", "mx1.example.net", "certificate-expired"): 2,
        ("example.com", "mx1.example.net", "starttls-not-supported"): 2,
        ("example.com", "mx2.example.net", "certificate-expired"): 1,
        ("example.com", "mx2.example.net", "starttls-not-supported"): 1,
    }
    sessions = {
        (labels["domain"], labels["result"]): value for labels, value in found["mtasts_tlsrpt_sessions"]
    }
    assert sessions[("example.com", "failed")] == 6 and sessions[("example.com", "successful")] == 30


def test_last_report_age_per_organization(filled: Receiver) -> None:
    """Each organization's last report is seconds old (just posted), per domain."""
    ages = {
        (labels["domain"], labels["organization"]): value
        for labels, value in metrics(filled)["mtasts_tlsrpt_last_report_age_seconds"]
    }
    assert set(ages) == {
        ("example.com", "Big Mail"),
        ("example.com", "Small Co"),
        ("example.org", "Small Co"),
    }
    assert all(0 <= age < 120 for age in ages.values())
    orgs = {
        (labels["organization"], labels["result"]): value
        for labels, value in metrics(filled)["mtasts_tlsrpt_organization_sessions"]
        if labels["domain"] == "example.com"
    }
    assert orgs[("Big Mail", "failed")] == 6 and orgs[("Small Co", "failed")] == 0


def test_summary_has_per_organization_counts(filled: Receiver) -> None:
    """The summary's byOrganization: what readiness judges per organization."""
    answer = filled.client.get(f"{filled.url}/v1/summary", headers={"Authorization": f"Bearer {TOKEN}"})
    rows = answer.json()["domains"]["example.com"]["byOrganization"]
    assert [(r["organization"], r["reports"], r["successful"], r["failed"]) for r in rows] == [
        ("Big Mail", 2, 20, 6),
        ("Small Co", 1, 10, 0),
    ]
    assert time.time() - time.mktime(time.strptime(rows[0]["lastReport"][:19], "%Y-%m-%dT%H:%M:%S")) < 86400
