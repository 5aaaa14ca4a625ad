"""The TLS report receiver in miniflare: HTTPS and mail intake, storage, abuse limits, reads, digest.

parsedmarc is the oracle: per domain and result type, its session totals for each fixture equal
the change that fixture makes to our summary.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from mtasts.model import receiver as receiver_model
from tests.reports_helpers import (
    BY_HAND_DOMAIN,
    FIXTURES,
    GOOD_FIXTURES,
    ROOT,
    STACK_DOMAINS,
    TOKEN,
    Receiver,
    fixture,
    gz,
    our_totals,
    parsedmarc_totals,
    receiver,
    report_json,
    webhook_server,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def live() -> Iterator[Receiver]:
    """One receiver for the module, with small caps so the size tests stay small."""
    with receiver(maxCompressedBytes=65536, maxDecompressedBytes=1048576, rateLimitPerMinute=100000) as r:
        yield r


def submit(r: Receiver, name: str) -> int:
    """Send a fixture the way its kind arrives: JSON and gzip over HTTPS, .eml through email()."""
    data = fixture(name)
    if name.endswith(".eml"):
        return r.mail(data).status_code
    kind = "gzip" if name.endswith(".gz") else "json"
    return r.post(data, f"application/tlsrpt+{kind}").status_code


def delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What one submission added to the summary, per domain and result type."""
    out: dict[str, Any] = {}
    for domain, now in after.items():
        was = before.get(domain, {"successful": 0, "failed": 0, "byType": {}})
        by_type = {
            t: n - was["byType"].get(t, 0) for t, n in now["byType"].items() if n != was["byType"].get(t, 0)
        }
        change = {
            "successful": now["successful"] - was["successful"],
            "failed": now["failed"] - was["failed"],
        }
        if change["successful"] or change["failed"] or by_type:
            out[domain] = {**change, "byType": by_type}
    return out


def test_bundle_rebuilds_to_the_committed_bytes(tmp_path: Path) -> None:
    """``npm run build:reports`` (pinned esbuild) rebuilds reports.bundle.js byte for byte.

    The script's own command runs, with its output sent elsewhere (esbuild takes the last
    ``--outfile``), so the committed bundle is compared, never rewritten.
    """
    out = tmp_path / "reports.bundle.js"
    subprocess.run(
        ["npm", "run", "--silent", "build:reports", "--", f"--outfile={out}", "--log-level=warning"],
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    assert out.read_bytes() == receiver_model.BUNDLE_PATH.read_bytes()


def test_every_fixture_counts_as_parsedmarc_reads_it(live: Receiver) -> None:
    """Per fixture, the summary grows by parsedmarc's session totals per domain and result type."""
    for name in GOOD_FIXTURES:
        before = our_totals(live.summary_json())
        assert submit(live, name) in (200, 201), name
        after = our_totals(live.summary_json())
        assert delta(before, after) == parsedmarc_totals(FIXTURES / name), name


def test_the_rfc_example_is_summarized_per_mx_and_ip(live: Receiver) -> None:
    """The RFC 8460 example's failures appear by result type, receiving MX and IP, largest first."""
    live.post(fixture("rfc8460-example.json"), "application/tlsrpt+json")
    entry = live.summary_json()["domains"]["company-y.example"]
    assert "Company-X" in entry["organizations"]
    assert {
        "resultType": "starttls-not-supported",
        "receivingMx": "mx2.mail.company-y.example",
        "receivingIp": "203.0.113.56",
        "sessions": 200,
    } in entry["failures"]
    assert {
        "resultType": "certificate-expired",
        "receivingMx": "mx1.mail.company-y.example",
        "receivingIp": None,
        "sessions": 100,
    } in entry["failures"]
    assert entry["lastReport"].endswith("Z")


def test_a_resubmission_is_stored_and_counted_once(live: Receiver) -> None:
    """The same report twice (as JSON, then gzip, then by mail) adds its sessions once."""
    body = report_json("Twice Inc.", "twice-1", "example.com", failures=3)
    before = live.summary_json()["domains"]["example.com"]
    first = live.post(body, "application/tlsrpt+json")
    again = live.post(gz(body), "application/tlsrpt+gzip")
    assert (first.status_code, first.json()["status"]) == (201, "stored")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    after = live.summary_json()["domains"]["example.com"]
    assert after["reports"] == before["reports"] + 1
    assert after["failed"] == before["failed"] + 3
    assert after["successful"] == before["successful"] + 10


def test_the_same_mail_twice_counts_once(live: Receiver) -> None:
    """A sender that mails the same report twice is counted once."""
    raw = fixture("microsoft.eml")
    live.mail(raw)
    before = live.summary_json()["domains"]["example.org"]
    assert live.mail(raw).status_code == 200
    assert live.summary_json()["domains"]["example.org"] == before


@pytest.mark.parametrize(
    "name, content_type, status",
    [
        ("broken-truncated.json.gz", "application/tlsrpt+gzip", 400),
        ("broken-invalid.json", "application/tlsrpt+json", 400),
        ("broken-no-report-id.json", "application/tlsrpt+json", 400),
        ("broken-array.json", "application/tlsrpt+json", 400),
    ],
)
def test_broken_reports_are_kept_and_counted_unparsed(
    live: Receiver, name: str, content_type: str, status: int
) -> None:
    """A report that does not parse gets a 4xx with the reason, and is kept and counted as unparsed."""
    before = live.summary_json()["unparsed"]
    response = live.post(fixture(name), content_type)
    assert response.status_code == status
    assert response.json()["status"] == "unparsed" and response.json()["error"]
    assert live.summary_json()["unparsed"] == before + 1
    listed = live.client.get(
        f"{live.url}/v1/submissions",
        params={"status": "unparsed"},
        headers={"Authorization": "Bearer " + TOKEN},
    ).json()["submissions"]
    kept = listed[-1]
    assert kept["error"] == response.json()["error"]
    raw = live.client.get(
        f"{live.url}/v1/raw/{kept['archiveKey']}", headers={"Authorization": "Bearer " + TOKEN}
    )
    assert raw.content == fixture(name)


def test_a_gzip_bomb_stops_at_the_decompressed_cap(live: Receiver) -> None:
    """64 MiB of zeros in 64 KiB of gzip: refused with 413 once 1 MiB is inflated, and counted unparsed."""
    bomb = gz(b"\0" * (64 * 1024 * 1024))
    assert len(bomb) < 65536
    before = live.summary_json()["unparsed"]
    response = live.post(bomb, "application/tlsrpt+gzip")
    assert response.status_code == 413
    assert "decompressed" in response.json()["error"]
    assert live.summary_json()["unparsed"] == before + 1


def test_over_the_size_cap_is_refused_unread(live: Receiver) -> None:
    """A declared size over maxCompressedBytes: 413 before a byte of the body is sent; nothing stored."""
    before = live.summary_json()
    host, port = live.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.putrequest("POST", "/v1/tlsrpt")
        conn.putheader("Content-Type", "application/tlsrpt+gzip")
        conn.putheader("Content-Length", "70000")
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 413
        assert b"larger than 65536" in response.read()
    finally:
        conn.close()
    assert live.summary_json() == before


def test_an_undeclared_size_over_the_cap_is_refused(live: Receiver) -> None:
    """A chunked body that grows past maxCompressedBytes is cut off with 413; nothing is stored."""
    before = live.summary_json()

    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield os.urandom(16384)

    response = live.client.post(
        f"{live.url}/v1/tlsrpt", content=chunks(), headers={"Content-Type": "application/tlsrpt+gzip"}
    )
    assert response.status_code == 413
    assert live.summary_json() == before


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/gzip", ""])
def test_a_wrong_content_type_is_415(live: Receiver, content_type: str) -> None:
    """Only application/tlsrpt+gzip and +json are taken over HTTPS (RFC 8460 §5.3)."""
    response = live.post(report_json("Type", "type-1", "example.com"), content_type)
    assert response.status_code == 415
    assert "application/tlsrpt+gzip" in response.json()["error"]


def test_another_stacks_domain_is_refused_and_set_apart(live: Receiver) -> None:
    """A report only about other domains: 422, counted as foreign, never per domain."""
    before = live.summary_json()
    response = live.post(fixture("foreign.json"), "application/tlsrpt+json")
    assert response.status_code == 422 and "not-ours.example" in response.json()["error"]
    after = live.summary_json()
    assert after["foreign"] == before["foreign"] + 1
    assert after["domains"] == before["domains"]


def test_a_stack_domain_not_builtin_is_counted_but_never_silent(live: Receiver) -> None:
    """A report for a reports: none domain of the stack is stored and counted; it is listed once it
    has reports, and never named silent (only builtin domains are)."""
    before = live.summary_json()
    assert BY_HAND_DOMAIN not in before["domains"] and BY_HAND_DOMAIN not in before["silent"]
    response = live.post(
        report_json("By Hand Org", "by-hand-1", BY_HAND_DOMAIN, failures=2), "application/tlsrpt+json"
    )
    assert response.status_code == 201, response.text
    after = live.summary_json()
    entry = after["domains"][BY_HAND_DOMAIN]
    assert (entry["reports"], entry["organizations"], entry["failed"]) == (1, ["By Hand Org"], 2)
    assert BY_HAND_DOMAIN not in after["silent"] and after["foreign"] == before["foreign"]
    # Every builtin domain is listed, with or without reports.
    assert set(STACK_DOMAINS) <= set(after["domains"])


def test_a_mixed_report_counts_only_this_stacks_policy(live: Receiver) -> None:
    """Of a report naming this stack's domain and another, only this stack's policy is counted."""
    summary = live.summary_json()
    assert "other-stack.example" not in summary["domains"]


def test_a_mail_without_a_report_is_kept_as_unparsed(live: Receiver) -> None:
    """A message with no report part is accepted (never bounced) and counted unparsed."""
    before = live.summary_json()["unparsed"]
    assert live.mail(fixture("broken-no-attachment.eml")).status_code == 200
    assert live.summary_json()["unparsed"] == before + 1


@pytest.mark.parametrize("token", [None, "wrong-token", TOKEN + "x", TOKEN[:-1]])
def test_reading_needs_the_secret(live: Receiver, token: str | None) -> None:
    """The summary, submissions and raw reports answer 401 without the exact bearer token."""
    response = live.summary(token=token)
    assert response.status_code == 401
    assert "domains" not in response.text
    for path in ("/v1/submissions", "/v1/raw/raw/2026-01-01/x.json"):
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        assert live.client.get(live.url + path, headers=headers).status_code == 401


def test_wrong_methods_and_paths_are_4xx(live: Receiver) -> None:
    """GET on the intake is 405, POST on the summary 405, an unknown path 404; no 5xx anywhere."""
    assert live.client.get(f"{live.url}/v1/tlsrpt").status_code == 405
    assert live.client.post(f"{live.url}/v1/summary").status_code == 405
    assert live.client.get(f"{live.url}/").status_code == 404
    assert live.post(b"", "application/tlsrpt+json").status_code == 400


def test_since_counts_only_later_reports(live: Receiver) -> None:
    """With since in the future every domain shows zero; without it, everything stored."""
    summary = live.summary("2999-01-01T00:00:00Z").json()
    assert all(d["reports"] == 0 and d["failures"] == [] for d in summary["domains"].values())
    assert live.summary("not-a-time").status_code == 400


def test_the_rate_limit_answers_429_per_client() -> None:
    """Past rateLimitPerMinute from one client IP: 429 with Retry-After; another client is unaffected."""
    with receiver(rateLimitPerMinute=3) as r:
        codes = [
            r.post(
                report_json("R", f"r{i}", "example.com"),
                "application/tlsrpt+json",
                **{"CF-Connecting-IP": "198.51.100.7"},
            ).status_code
            for i in range(5)
        ]
        assert codes == [201, 201, 201, 429, 429]
        limited = r.post(b"{}", "application/tlsrpt+json", **{"CF-Connecting-IP": "198.51.100.7"})
        assert limited.headers["Retry-After"] == "60"
        reads = [r.summary().status_code for _ in range(4)]
        assert reads == [200, 200, 200, 429]  # reads share the limit: no fast guessing of the token
        other = r.post(
            report_json("R", "r9", "example.com"),
            "application/tlsrpt+json",
            **{"CF-Connecting-IP": "198.51.100.8"},
        )
        assert other.status_code == 201


def test_the_digest_names_mx_and_result_type_once(tmp_path: Path) -> None:
    """The scheduled digest posts {"text": …} naming the MX and result type of new failures; then nothing."""
    with webhook_server() as hook, receiver(webhook=hook.url) as r:
        trigger = f"{r.url}/cdn-cgi/handler/scheduled"
        for domain in STACK_DOMAINS:
            r.post(report_json("Fine", f"fine-{domain}", domain, failures=0), "application/tlsrpt+json")
        assert r.client.get(trigger).status_code == 200
        assert hook.posts == []  # every domain reports, no failure: all is well, no message
        r.post(
            report_json("Digest", "d1", "example.org", failures=2, mx="mx9.example.org"),
            "application/tlsrpt+json",
        )
        assert r.client.get(trigger).status_code == 200
        assert len(hook.posts) == 1
        text = hook.posts[0]["text"]
        assert "example.org" in text and "mx9.example.org" in text
        assert "certificate-expired" in text and "starttls-not-supported" in text
        assert r.client.get(trigger).status_code == 200
        assert len(hook.posts) == 1  # no new failures since the last digest


def test_no_digest_when_reports_show_no_failure() -> None:
    """Reports with only successful sessions, from every builtin domain, send no digest."""
    with webhook_server() as hook, receiver(webhook=hook.url) as r:
        for domain in STACK_DOMAINS:
            r.post(report_json("Fine", f"f-{domain}", domain, failures=0), "application/tlsrpt+json")
        assert r.client.get(f"{r.url}/cdn-cgi/handler/scheduled").status_code == 200
        assert hook.posts == []


def test_the_digest_names_silent_domains_once_a_day() -> None:
    """A builtin domain silent for silentAfterDays is named with its last report time (or never),
    once per UTC day; a domain with a recent report or not builtin never is."""
    with webhook_server() as hook, receiver(webhook=hook.url, silentAfterDays=3) as r:
        trigger = f"{r.url}/cdn-cgi/handler/scheduled"
        for domain in ("example.com", "example.org"):
            r.post(report_json("Fine", f"s-{domain}", domain, failures=0), "application/tlsrpt+json")
        auth = {"Authorization": f"Bearer {TOKEN}"}
        stored = r.client.get(f"{r.url}/v1/submissions", headers=auth).json()["submissions"]
        received = {s["receivedAt"] for s in stored}
        now = int(time.time() * 1000)
        assert r.client.get(trigger, params={"time": now}).status_code == 200
        assert len(hook.posts) == 1
        text = hook.posts[0]["text"]
        assert "• company-y.example: last report never" in text
        assert "example.com" not in text and "example.org" not in text and BY_HAND_DOMAIN not in text
        assert "failures" not in text  # no failure: only the silent part
        assert r.client.get(trigger, params={"time": now}).status_code == 200
        assert len(hook.posts) == 1  # the same day: not named again
        # Five days on (noon UTC, so a second run an hour later is the same day): all three silent.
        later = (now // 86400000 + 5) * 86400000 + 12 * 3600000
        assert r.client.get(trigger, params={"time": later}).status_code == 200
        assert len(hook.posts) == 2
        lines = hook.posts[1]["text"].splitlines()
        assert lines[0] == "No TLS report for 3 day(s) or more:"
        assert lines[1] == "• company-y.example: last report never"
        assert {line.rsplit(" ", 1)[1] for line in lines[2:]} == received
        assert [line.split(":")[0] for line in lines[2:]] == ["• example.com", "• example.org"]
        assert r.client.get(trigger, params={"time": later + 3600000}).status_code == 200
        assert len(hook.posts) == 2
        assert r.client.get(trigger, params={"time": later + 86400000}).status_code == 200
        assert len(hook.posts) == 3  # the next day: named again, still silent


def test_storage_persists_across_restarts(tmp_path: Path) -> None:
    """With a state directory, reports survive a restart of the local runtime."""
    with receiver(persist=tmp_path / "state") as r:
        r.post(report_json("Keep", "k1", "example.com"), "application/tlsrpt+json")
    with receiver(persist=tmp_path / "state") as r:
        assert r.summary_json()["domains"]["example.com"]["reports"] == 1
    shutil.rmtree(tmp_path / "state")


def test_the_bytes_decide_between_gzip_and_json(live: Receiver) -> None:
    """gzip sent as +json and JSON sent as +gzip are both stored; other bytes as +gzip are a 400."""
    as_json = live.post(gz(report_json("Label", "label-1", "example.com")), "application/tlsrpt+json")
    as_gzip = live.post(report_json("Label", "label-2", "example.com"), "application/tlsrpt+gzip")
    assert (as_json.status_code, as_gzip.status_code) == (201, 201)
    garbage = live.post(b"PK\x03\x04 not a report", "application/tlsrpt+gzip")
    assert garbage.status_code == 400 and "neither gzip nor JSON" in garbage.json()["error"]


def detailed(entry: dict[str, Any]) -> int:
    """The failed sessions of a domain's failure details: the groups listed and those omitted."""
    return sum(f["sessions"] for f in entry["failures"]) + entry["failuresOmitted"]["sessions"]


def test_a_report_with_many_failure_details_is_stored_whole(live: Receiver) -> None:
    """1,200 failure details (more than one insert chunk) are all stored and counted."""
    before = live.summary_json()["domains"]["example.org"]
    body = gz(report_json("Many", "many-1", "example.org", failures=1200, mx="mx7.example.org"))
    assert live.post(body, "application/tlsrpt+gzip").status_code == 201
    after = live.summary_json()["domains"]["example.org"]
    added = detailed(after) - detailed(before)
    assert added == 1200
    assert after["failed"] - before["failed"] == 1200


def attachment_mail(content_type: str, filename: str, payload: bytes, message_id: str) -> bytes:
    """A multipart/mixed mail with one base64 attachment, as some senders send reports."""
    message = EmailMessage()
    message["From"] = "reports@sender.example"
    message["To"] = "tlsrpt@reports.example.net"
    message["Subject"] = "Report Domain: example.com"
    message["Message-ID"] = f"<{message_id}@sender.example>"
    message.set_content("TLS report attached.")
    maintype, subtype = content_type.split("/")
    message.add_attachment(payload, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


@pytest.mark.parametrize(
    "content_type, filename, gzipped",
    [
        ("application/octet-stream", "sender.example!example.com!1!2.json.gz", True),
        ("application/x-gzip", "report.gz", True),
        ("application/json", "report.json", False),
        ("application/tlsrpt+json", "report.json", False),
    ],
)
def test_mail_attachments_as_senders_label_them(
    live: Receiver, content_type: str, filename: str, gzipped: bool
) -> None:
    """Reports in application/octet-stream .json.gz, x-gzip, json and tlsrpt+json attachments are counted."""
    rid = f"attach-{content_type}-{filename}"
    body = report_json("Attach", rid, "example.com", failures=2)
    before = live.summary_json()["domains"]["example.com"]["failed"]
    raw = attachment_mail(content_type, filename, gz(body) if gzipped else body, rid.replace("/", "-"))
    assert live.mail(raw).status_code == 200
    assert live.summary_json()["domains"]["example.com"]["failed"] == before + 2


def test_retention_prunes_d1_and_r2() -> None:
    """The daily run deletes reports and their archived bytes older than retentionDays, and nothing newer."""
    with receiver(retentionDays=30) as r:
        r.post(report_json("Old", "old-1", "example.com"), "application/tlsrpt+json")
        key = r.client.get(f"{r.url}/v1/submissions", headers={"Authorization": f"Bearer {TOKEN}"}).json()[
            "submissions"
        ][0]["archiveKey"]
        raw = f"{r.url}/v1/raw/{key}"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        soon = int((time.time() + 29 * 86400) * 1000)
        assert r.client.get(f"{r.url}/cdn-cgi/handler/scheduled", params={"time": soon}).status_code == 200
        assert r.summary_json()["domains"]["example.com"]["reports"] == 1
        assert r.client.get(raw, headers=auth).status_code == 200
        later = int((time.time() + 32 * 86400) * 1000)
        assert r.client.get(f"{r.url}/cdn-cgi/handler/scheduled", params={"time": later}).status_code == 200
        assert r.summary_json()["domains"]["example.com"]["reports"] == 0
        assert r.client.get(raw, headers=auth).status_code == 404


def test_oversized_fields_and_too_many_policies_are_400(live: Receiver) -> None:
    """A 300-character result type or 51 policies cannot be a report: 400, kept as unparsed, never a 5xx."""
    long_type = json.loads(report_json("Long", "long-1", "example.com"))
    long_type["policies"][0]["failure-details"][0]["result-type"] = "x" * 300
    response = live.post(json.dumps(long_type).encode(), "application/tlsrpt+json")
    assert response.status_code == 400
    reason = "policies[0].failure-details[0].result-type is longer than 256 characters"
    assert response.json()["error"] == reason
    many = json.loads(report_json("Many policies", "many-p", "example.com"))
    many["policies"] = many["policies"] * 51
    response = live.post(json.dumps(many).encode(), "application/tlsrpt+json")
    assert response.status_code == 400 and "more than 50 policies" in response.json()["error"]


def test_large_failure_details_span_several_chunks() -> None:
    """900 failure details with 3,000-character fields (2.7 MB) are stored whole, over several statements."""
    doc = json.loads(report_json("Wide", "wide-1", "example.org", failures=900, mx="mx8.example.org"))
    for detail in doc["policies"][0]["failure-details"]:
        detail["additional-information"] = "https://sender.example/" + "y" * 3000
    with receiver() as r:
        assert r.post(gz(json.dumps(doc).encode()), "application/tlsrpt+gzip").status_code == 201
        entry = r.summary_json()["domains"]["example.org"]
    assert entry["failed"] == 900
    assert detailed(entry) == 900


def test_a_mail_with_too_many_report_parts_reads_ten(live: Receiver) -> None:
    """A message with 12 report attachments: the first 10 are read, the excess is counted as unparsed."""
    message = EmailMessage()
    message["From"] = "reports@sender.example"
    message["To"] = "tlsrpt@reports.example.net"
    message["Subject"] = "many"
    message["Message-ID"] = "<many-parts@sender.example>"
    message.set_content("reports")
    for i in range(12):
        body = gz(report_json("Parts", f"parts-{i}", "example.com"))
        message.add_attachment(body, maintype="application", subtype="tlsrpt+gzip", filename=f"r{i}.json.gz")
    before = live.summary_json()
    assert live.mail(message.as_bytes()).status_code == 200
    after = live.summary_json()
    assert after["domains"]["example.com"]["reports"] == before["domains"]["example.com"]["reports"] + 10
    assert after["unparsed"] == before["unparsed"] + 1
