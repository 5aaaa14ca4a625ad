"""The receiver against hostile and unusual submissions, in miniflare: no POST can make a read
fail, valid reports in every shape senders use are counted, bad input is a 4xx."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.reports_helpers import TOKEN, Receiver, gz, receiver, report_json

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
JSON = "application/tlsrpt+json"


@pytest.fixture(scope="module")
def live() -> Iterator[Receiver]:
    """One receiver for the tests that look only at their own submission's status."""
    with receiver(rateLimitPerMinute=100000) as r:
        yield r


def doc(org: str, rid: str, domain: str = "example.com", **kw: Any) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(report_json(org, rid, domain, **kw))
    return result


def post_json(r: Receiver, document: dict[str, Any], **headers: str) -> Any:
    return r.post(json.dumps(document).encode(), "application/tlsrpt+json", **headers)


def test_an_overflowing_post_is_refused_and_the_summary_still_answers() -> None:
    """1,100 failure details of 2^53-1 sessions in about a kilobyte: 400, and the summary is still
    200 with exactly the good reports; counts up to the 10^12 bound add up exactly."""
    hostile = doc("Hostile", "h-1")
    detail = hostile["policies"][0]["failure-details"][0]
    detail["failed-session-count"] = 2**53 - 1
    hostile["policies"][0]["failure-details"] = [detail] * 1100
    hostile["policies"][0]["summary"]["total-failure-session-count"] = 2**53 - 1
    body = gz(json.dumps(hostile).encode())
    assert len(body) < 2000
    with receiver() as r:
        assert r.post(report_json("Good", "g-1", "example.com", failures=2), JSON).status_code == 201
        refused = r.post(body, "application/tlsrpt+gzip")
        assert refused.status_code == 400
        assert "more sessions than" in refused.json()["error"]
        for i in range(3):
            big = doc("Big", f"b-{i}", "example.org")
            big["policies"][0]["summary"]["total-successful-session-count"] = 0
            big["policies"][0]["summary"]["total-failure-session-count"] = 10**12
            big["policies"][0]["failure-details"][0]["failed-session-count"] = 10**12
            assert post_json(r, big).status_code == 201
        summary = r.summary()
        assert summary.status_code == 200
        model = summary.json()
    com, org = model["domains"]["example.com"], model["domains"]["example.org"]
    assert (com["reports"], com["successful"], com["failed"]) == (1, 10, 2)
    assert sum(f["sessions"] for f in com["failures"]) == 2
    assert (org["reports"], org["successful"], org["failed"]) == (3, 0, 3 * 10**12)
    assert [f["sessions"] for f in org["failures"]] == [3 * 10**12]
    assert model["unparsed"] == 1


def test_a_report_quoting_a_3_kb_policy_of_70_mx_patterns_is_counted(live: Receiver) -> None:
    """policy-string and mx-host have limits of their own (a policy may be 64 KiB): 201."""
    report = doc("Big policy", "p-70")
    mx = [f"mx{i}.cluster-{i}.mail.example.com" for i in range(70)]
    lines = ["version: STSv1", "mode: enforce", *(f"mx: {m}" for m in mx), "max_age: 604800"]
    report["policies"][0]["policy"]["policy-string"] = lines
    report["policies"][0]["policy"]["mx-host"] = mx
    assert len(json.dumps(lines)) + len(json.dumps(mx)) > 4096
    response = post_json(live, report)
    assert response.status_code == 201, response.text


def test_multi_member_gzip_is_read_whole(live: Receiver) -> None:
    """A gzip file of two members (RFC 1952 §2.2), as concatenating tools write it: 201, counted."""
    text = report_json("Two members", "mm-1", "example.com")
    body = gz(text[:40]) + gz(text[40:])
    response = live.post(body, "application/tlsrpt+gzip")
    assert response.status_code == 201, response.text
    assert response.json()["organization"] == "Two members"


def test_content_encoding_gzip_is_undone_and_other_encodings_are_415(live: Receiver) -> None:
    """Content-Encoding: gzip on a +json or +gzip body is decoded first; br is 415 with Accept-Encoding."""
    text = report_json("Encoded", "ce-1", "example.com")
    first = live.post(gz(text), "application/tlsrpt+json", **{"Content-Encoding": "gzip"})
    assert first.status_code == 201, first.text
    twice = report_json("Encoded", "ce-2", "example.com")
    second = live.post(gz(gz(twice)), "application/tlsrpt+gzip", **{"Content-Encoding": "gzip"})
    assert second.status_code == 201, second.text
    refused = live.post(text, "application/tlsrpt+json", **{"Content-Encoding": "br"})
    assert refused.status_code == 415
    assert refused.headers["Accept-Encoding"] == "gzip"


def test_lengths_are_code_points_and_dates_may_be_lower_case() -> None:
    """A 1,024-emoji organization name is within its limit; start-datetime 2026-11-20t00:00:00z counts."""
    report = doc("\U0001f600" * 1024, "cp-1")
    report["date-range"]["start-datetime"] = "2026-11-20t00:00:00z"
    with receiver() as r:
        response = post_json(r, report)
        assert response.status_code == 201, response.text
        entry = r.summary_json()["domains"]["example.com"]
    assert entry["firstReport"] == "2026-11-20T00:00:00Z"


def test_malformed_raw_keys_are_4xx(live: Receiver) -> None:
    """/v1/raw/ with bad percent-encoding or a key over 1,024 bytes: a 4xx, never a 5xx."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for key in ("%E0", "raw%2F%E0%A4%A", "raw/" + "a" * 1100, "raw/" + "%C3%A9" * 600):
        response = live.client.get(f"{live.url}/v1/raw/{key}", headers=auth)
        assert 400 <= response.status_code < 500, (key[:20], response.status_code, response.text)


def test_since_is_rfc_3339_or_a_duration(live: Receiver) -> None:
    """?since=12 is a 400, not the year 2001; RFC 3339 times and durations answer 200."""
    for since in ("12", "2001", "2026-11-01", "last week"):
        response = live.summary(since=since)
        assert response.status_code == 400, since
        assert "RFC 3339" in response.json()["error"]
    for since in ("2026-11-01T00:00:00Z", "2026-11-01t00:00:00+01:00", "7d", "1000000w"):
        assert live.summary(since=since).status_code == 200, since


def test_reads_share_the_post_rate_limit() -> None:
    """Two POSTs and one read from a client use up a limit of 3; the next read is 429.

    The count is per minute: a run that straddles a minute boundary is repeated from another IP.
    """
    with receiver(rateLimitPerMinute=3) as r:
        for attempt in range(3):
            minute = time.time() // 60
            ip = {"CF-Connecting-IP": f"203.0.113.{attempt + 1}"}
            statuses = [
                r.post(report_json("Rate", f"rl-{attempt}-{i}", "example.com"), JSON, **ip).status_code
                for i in range(2)
            ]
            auth = {"Authorization": f"Bearer {TOKEN}", **ip}
            statuses += [r.client.get(f"{r.url}/v1/summary", headers=auth).status_code for _ in range(2)]
            if time.time() // 60 == minute:
                break
    assert statuses == [201, 201, 200, 429]
