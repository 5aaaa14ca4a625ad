"""The receiver as an outside checker sees it, in miniflare with local D1 and R2: hostile and unusual
submissions, each with the status it must get, and after all of them one summary compared with a
model of it that this module keeps by itself (never from the receiver's own code).

The model's rules are the README's: a report counts once per (organization-name, report-id), the
first stored version wins; a count is a non-negative whole JSON number or a string of digits, at
most 10^12 each and 10^12 in a report altogether; a policy-domain counts when it is a domain of the
stack (trimmed, lower case, no trailing dot); a sum over 2^53-1 reads as 2^53-1.
"""

from __future__ import annotations

import datetime
import gzip
import http.client
import json
import shutil
import sqlite3
import time
import zlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from mtasts.checks.attribution import Attribution, failure_evidence
from mtasts.model.receiver_summary import parse_summary
from tests.reports_helpers import (
    FIXTURES,
    STACK_DOMAINS,
    TOKEN,
    Receiver,
    gz,
    our_totals,
    parsedmarc_totals,
    receiver,
    webhook_server,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

JSON = "application/tlsrpt+json"
GZIP = "application/tlsrpt+gzip"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_SESSIONS = 10**12
SUM_CAP = 2**53 - 1
MAX_GROUPS = 200


def details(*rows: tuple[str, str | None, str | None, Any]) -> list[dict[str, Any]]:
    """failure-details entries from (result-type, receiving MX, receiving IP, count)."""
    out = []
    for kind, mx, ip, n in rows:
        entry: dict[str, Any] = {"result-type": kind, "failed-session-count": n}
        if mx is not None:
            entry["receiving-mx-hostname"] = mx
        if ip is not None:
            entry["receiving-ip"] = ip
        out.append(entry)
    return out


def policy(
    domain: str, ok: Any = 5, failed: Any = 0, rows: list[dict[str, Any]] | None = None, **p: Any
) -> dict[str, Any]:
    return {
        "policy": {"policy-type": "sts", "policy-domain": domain, "mx-host": ["mx1.example.net"], **p},
        "summary": {"total-successful-session-count": ok, "total-failure-session-count": failed},
        "failure-details": rows or [],
    }


def report(
    org: str, rid: str, *policies: dict[str, Any], start: str = "2026-11-27T00:00:00Z"
) -> dict[str, Any]:
    return {
        "organization-name": org,
        "date-range": {"start-datetime": start, "end-datetime": "2026-11-27T23:59:59Z"},
        "contact-info": "tlsrpt@sender.example",
        "report-id": rid,
        "policies": list(policies) or [policy("example.com")],
    }


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


# --- the model -------------------------------------------------------------------------------


def model_count(value: Any) -> int | None:
    """A session count as the README states the rule; None when the report must be refused."""
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    if not 0 <= value <= MAX_SESSIONS:
        return None
    return int(value)


def model_domain(name: str) -> str:
    name = name.strip().lower()
    return name[:-1] if name.endswith(".") else name


@dataclass
class Entry:
    reports: set[tuple[str, str]] = field(default_factory=set)
    successful: int = 0
    failed: int = 0
    failures: dict[tuple[str, str | None, str | None], int] = field(default_factory=lambda: defaultdict(int))
    by_org: dict[str, list[Any]] = field(default_factory=dict)


@dataclass
class Model:
    """The summary every accepted submission should add up to."""

    domains: dict[str, Entry] = field(default_factory=lambda: {d: Entry() for d in STACK_DOMAINS})
    seen: set[tuple[str, str]] = field(default_factory=set)
    unparsed: int = 0
    foreign: int = 0

    def accept(self, doc: dict[str, Any]) -> str:
        """Add a report the receiver must store: 'stored', 'duplicate' or 'foreign'."""
        org, rid = doc["organization-name"].strip(), doc["report-id"].strip()
        ours = [p for p in doc["policies"] if model_domain(p["policy"]["policy-domain"]) in self.domains]
        if not ours:
            self.foreign += 1
            return "foreign"
        if (org, rid) in self.seen:
            return "duplicate"
        self.seen.add((org, rid))
        for p in ours:
            entry = self.domains[model_domain(p["policy"]["policy-domain"])]
            ok = model_count(p["summary"]["total-successful-session-count"])
            failed = model_count(p["summary"]["total-failure-session-count"])
            assert ok is not None and failed is not None
            entry.reports.add((org, rid))
            entry.successful += ok
            entry.failed += failed
            row = entry.by_org.setdefault(org, [set(), 0, 0])
            row[0].add(rid)
            row[1] += ok
            row[2] += failed
            for d in p.get("failure-details", []):
                mx = d.get("receiving-mx-hostname")
                key = (d["result-type"], model_domain(mx) if mx else None, d.get("receiving-ip"))
                n = model_count(d["failed-session-count"])
                assert n is not None
                entry.failures[key] += n
        return "stored"

    def expected(self, name: str) -> dict[str, Any]:
        e = self.domains[name]
        # Largest first, ties by result type, MX and IP (absent before any name); 200 listed.
        ranked = sorted(
            ((k, min(v, SUM_CAP)) for k, v in e.failures.items()),
            key=lambda kv: (-kv[1], *((x is not None, x or "") for x in kv[0])),
        )
        listed, rest = ranked[:MAX_GROUPS], ranked[MAX_GROUPS:]
        return {
            "reports": len(e.reports),
            "organizations": sorted({org for org, _ in e.reports}),
            "successful": min(e.successful, SUM_CAP),
            "failed": min(e.failed, SUM_CAP),
            "failures": listed,
            "failuresOmitted": {"groups": len(rest), "sessions": min(sum(v for _, v in rest), SUM_CAP)},
            "byOrganization": {
                org: (len(rids), min(ok, SUM_CAP), min(bad, SUM_CAP))
                for org, (rids, ok, bad) in e.by_org.items()
            },
        }


def observed(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "reports": entry["reports"],
        "organizations": sorted(entry["organizations"]),
        "successful": entry["successful"],
        "failed": entry["failed"],
        "failures": [
            ((f["resultType"], f["receivingMx"], f["receivingIp"]), f["sessions"]) for f in entry["failures"]
        ],
        "failuresOmitted": entry["failuresOmitted"],
        "byOrganization": {
            o["organization"]: (o["reports"], o["successful"], o["failed"]) for o in entry["byOrganization"]
        },
    }


@dataclass
class Lab:
    r: Receiver
    model: Model

    def post(self, body: bytes, content_type: str = JSON, **headers: str) -> httpx.Response:
        return self.r.post(body, content_type, **headers)

    def good(
        self, doc: dict[str, Any], body: bytes | None = None, content_type: str = JSON, **headers: str
    ) -> None:
        """A report that must be counted (or found a duplicate, or set apart as foreign)."""
        response = self.post(encode(doc) if body is None else body, content_type, **headers)
        outcome = self.model.accept(doc)
        want = {"stored": 201, "duplicate": 200, "foreign": 422}[outcome]
        assert response.status_code == want, (doc["report-id"], response.status_code, response.text)

    def bad(
        self, body: bytes, reason: str, status: int = 400, content_type: str = JSON, kept: bool = True
    ) -> None:
        """A submission that must be refused with a 4xx whose reason says ``reason``."""
        response = self.post(body, content_type)
        assert response.status_code == status, (reason, response.status_code, response.text)
        assert reason in response.json()["error"], (reason, response.text)
        self.model.unparsed += kept


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with receiver(rateLimitPerMinute=100000) as r:
        yield Lab(r, Model())


# --- overflow ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "count",
    [
        "9007199254740992",
        "9007199254740991",
        "9223372036854775808",
        "18446744073709551616",
        "-1",
        "1.5",
        "1e308",
        "1e309",
        "-0.5",
        "1000000000001",
        '"-3"',
        '"1e3"',
        '"0x10"',
        '"12abc"',
        "true",
        "null",
        '""',
        "[1]",
        '"\u0661\u0662"',
    ],
)
def test_a_count_out_of_bounds_is_refused(lab: Lab, count: str) -> None:
    """Counts past 10^12, negative, fractional, infinite or not numbers: 400 naming the field."""
    doc = report(
        "Overflow", f"ov-{count}", policy("example.com", 1, 1, details(("x-bad", "mx1.example.net", None, 1)))
    )
    text = encode(doc).decode().replace('"failed-session-count": 1', f'"failed-session-count": {count}')
    assert count in text or count.startswith('"')
    lab.bad(text.encode(), "failure-details[0].failed-session-count")


@pytest.mark.parametrize(
    "count, value", [("10.0", 10), ("1e3", 1000), ("1E2", 100), ('" 7 "', 7), ("1000000000000", 10**12)]
)
def test_a_whole_count_in_any_json_spelling_counts(lab: Lab, count: str, value: int) -> None:
    """10.0, 1e3 and " 7 " are whole numbers as JSON and the README read them: counted as such."""
    doc = report(
        "Spelling", f"sp-{count}", policy("example.org", 0, value, details(("spelled", None, None, value)))
    )
    text = (
        encode(doc).decode().replace(f'"failed-session-count": {value}', f'"failed-session-count": {count}')
    )
    lab.good(doc, text.encode())


def test_one_report_may_not_claim_more_than_a_days_mail(lab: Lab) -> None:
    """1,100 details of 10^12 each (each within its bound, 1.1x10^15 together) in a kilobyte of gzip: 400."""
    rows = details(*[("certificate-expired", "mx1.example.net", None, MAX_SESSIONS)] * 1100)
    doc = report("Hoarder", "h-1", policy("example.com", 0, MAX_SESSIONS, rows))
    body = gz(encode(doc))
    assert len(body) < 2000
    lab.bad(body, "failure-details' session counts add up to 1100000000000000", content_type=GZIP)
    many = report("Hoarder", "h-2", *[policy("example.com", MAX_SESSIONS, 0)] * 2)
    lab.bad(encode(many), "policies' session counts add up to 2000000000000")


def test_many_failure_details_are_all_counted(lab: Lab) -> None:
    """20,000 details of one session each, 120 distinct groups: every one counted."""
    rows = details(
        *[("validation-failure", f"mx{i % 40}.example.org", f"192.0.2.{i % 3}", 1) for i in range(20000)]
    )
    doc = report("Wide", "w-1", policy("example.org", 3, 20000, rows))
    lab.good(doc, gz(encode(doc)), GZIP)


def d1_file(state: Path) -> Path:
    """The receiver's D1 database in miniflare's state directory (stopped: safe to write)."""
    (found,) = (
        p for p in state.glob("d1/miniflare-D1DatabaseObject/*.sqlite") if p.name != "metadata.sqlite"
    )
    return found


def test_a_post_of_100000_distinct_failure_groups_keeps_reads_small(lab: Lab) -> None:
    """100,000 details, each its own MX (11 MB inflated, 200 KB sent): 201; the summary lists the
    200 largest groups and sums the rest into failuresOmitted, and readiness counts those as
    unattributed (RFC 8460 §4.2)."""
    rows = details(
        *[("certificate-expired", f"m{i:06}.flood.example", None, 1 + (i % 7 == 0)) for i in range(100000)]
    )
    total = sum(d["failed-session-count"] for d in rows)
    doc = report("Flood", "fl-1", policy("company-y.example", 0, total, rows))
    body = gz(encode(doc))
    assert len(body) < 1048576
    lab.good(doc, body, GZIP)
    response = lab.r.summary()
    assert response.status_code == 200 and len(response.content) < 200000
    entry = parse_summary(response.json()).domains["company-y.example"]
    assert len(entry.failures) == MAX_GROUPS
    assert entry.failures_omitted is not None and entry.failures_omitted[0] == 100000 - MAX_GROUPS
    evidence = failure_evidence(entry, ["*.flood.example"], None)
    assert evidence.failed == total
    assert evidence.sessions(Attribution.UNATTRIBUTED) == entry.failures_omitted[1]


def test_the_digest_names_the_largest_groups_and_how_many_more(tmp_path: Path) -> None:
    """300 failure groups: the digest names the 50 largest and says how many more; it is sent."""
    with webhook_server() as hook, receiver(webhook=hook.url) as r:
        rows = details(*[("dane-required", f"mx{i:03}.example.org", None, i + 1) for i in range(300)])
        total = sum(d["failed-session-count"] for d in rows)
        assert (
            r.post(encode(report("Many", "dg-300", policy("example.org", 0, total, rows))), JSON).status_code
            == 201
        )
        assert r.client.get(f"{r.url}/cdn-cgi/handler/scheduled").status_code == 200
    (post,) = hook.posts
    lines = post["text"].splitlines()
    named = [line for line in lines if line.startswith("• example.org:")]
    assert len(named) == 50 and "300 failed session(s), dane-required at mx299.example.org" in named[0]
    assert "… and 250 more MX and result type(s) with failures (`mtasts reports` lists them all)" in lines
    assert len(post["text"]) < 40000


def test_reports_summing_past_2_53_keep_every_read_answering(tmp_path: Path) -> None:
    """Stored counts that sum past 2^63 (rows written into D1's file, as no POST may): the summary,
    metrics, submissions, raw and the digest all answer 200, each sum capped at 2^53-1."""
    state = tmp_path / "state"
    with receiver(persist=state) as r:
        for i in range(3):
            doc = report(
                "Big",
                f"big-{i}",
                policy("example.org", MAX_SESSIONS, 0, details(("dane-required", "mx.example.org", None, 5))),
            )
            assert r.post(encode(doc), JSON).status_code == 201
    with sqlite3.connect(d1_file(state)) as db:
        db.execute("UPDATE policies SET successful = 9223372036854775807, failed = 9223372036854775807")
        db.execute("UPDATE failures SET sessions = 9223372036854775807")
    with receiver(persist=state) as r:
        for path in ("/v1/summary", "/v1/metrics", "/v1/submissions", "/v1/summary?since=7d"):
            response = r.client.get(f"{r.url}{path}", headers=AUTH)
            assert response.status_code == 200, (path, response.text)
        entry = r.summary_json()["domains"]["example.org"]
        assert (entry["reports"], entry["successful"], entry["failed"]) == (3, SUM_CAP, SUM_CAP)
        assert [f["sessions"] for f in entry["failures"]] == [SUM_CAP]
        assert [(o["successful"], o["failed"]) for o in entry["byOrganization"]] == [(SUM_CAP, SUM_CAP)]
        metrics = r.client.get(f"{r.url}/v1/metrics", headers=AUTH).text
        values = [
            line.rsplit(" ", 1)[1]
            for line in metrics.splitlines()
            if "example.org" in line and "sessions" in line
        ]
        assert values and all(v in (str(SUM_CAP), "0") for v in values), values
        key = r.client.get(f"{r.url}/v1/submissions", headers=AUTH).json()["submissions"][0]["archiveKey"]
        assert r.client.get(f"{r.url}/v1/raw/{key}", headers=AUTH).status_code == 200
        assert r.client.get(f"{r.url}/cdn-cgi/handler/scheduled").status_code == 200
    shutil.rmtree(state)


def test_the_digest_caps_what_it_sums(tmp_path: Path) -> None:
    """The digest's failure line for rows summing past 2^53 names the cap, not 1.8e+19."""
    state = tmp_path / "state"
    with receiver(persist=state) as r:
        doc = report(
            "Big", "dg-1", policy("example.org", 0, 5, details(("dane-required", "mx.example.org", None, 5)))
        )
        assert r.post(encode(doc), JSON).status_code == 201
    with sqlite3.connect(d1_file(state)) as db:
        db.execute("UPDATE failures SET sessions = 9223372036854775807")
        db.execute(
            "INSERT INTO failures SELECT NULL, policy, domain, received_at, result_type, sending_ip, "
            "receiving_mx, receiving_helo, receiving_ip, sessions, reason_code, additional FROM failures"
        )
    with webhook_server() as hook, receiver(persist=state, webhook=hook.url) as r:
        assert r.client.get(f"{r.url}/cdn-cgi/handler/scheduled").status_code == 200
    text = hook.posts[0]["text"]
    assert f"• example.org: {SUM_CAP} failed session(s), dane-required at mx.example.org" in text, text
    shutil.rmtree(state)


# --- valid reports that must count ------------------------------------------------------------


def test_a_64_kib_policy_of_80_mx_patterns_counts(lab: Lab) -> None:
    """policy-string lines of 65,536 code points in all and 80 MX patterns: counted; one more is 400."""
    mx = [f"mx{i}.pool-{i}.mail.example.com" for i in range(80)]
    lines = ["version: STSv1", "mode: enforce", *(f"mx: {m}" for m in mx), "max_age: 604800"]
    pad = 65536 - sum(len(s) for s in lines)
    lines.append("#" * pad)
    doc = report("Policy", "pol-64k", policy("example.com", 7, 0, **{"policy-string": lines, "mx-host": mx}))
    lab.good(doc, gz(encode(doc)), GZIP)
    lines[-1] += "#"
    over = report("Policy", "pol-64k-1", policy("example.com", 7, 0, **{"policy-string": lines}))
    lab.bad(gz(encode(over)), "policy-string is longer than 65536", content_type=GZIP)


def test_mx_host_as_one_string_and_as_patterns_counts(lab: Lab) -> None:
    """mx-host as a bare string, and mx-host-pattern (older senders), are both counted."""
    lab.good(report("MX", "mx-1", policy("example.com", 2, 0, **{"mx-host": "*.example.com"})))
    p = policy("example.com", 3, 0)
    p["policy"]["mx-host-pattern"] = p["policy"].pop("mx-host")
    lab.good(report("MX", "mx-2", p))


def test_multi_member_gzip_of_three_members_counts(lab: Lab) -> None:
    """Three members, one of them empty (RFC 1952 §2.2), as +gzip and under Content-Encoding: counted."""
    text = encode(
        report(
            "Members",
            "mm-3",
            policy("example.org", 4, 1, details(("sts-webpki-invalid", "mx.example.org", None, 1))),
        )
    )
    lab.good(json.loads(text), gz(text[:10]) + gz(b"") + gz(text[10:]), GZIP)
    text2 = encode(report("Members", "mm-4"))
    lab.good(json.loads(text2), gz(text2[:50]) + gz(text2[50:]), JSON, **{"Content-Encoding": "gzip"})


@pytest.mark.parametrize(
    "content_type, encoding, wrap",
    [
        ("application/tlsrpt+json; charset=utf-8", None, 0),
        ('application/tlsrpt+json ; charset="UTF-8"', None, 0),
        ("APPLICATION/TLSRPT+GZIP", None, 1),
        ("application/tlsrpt+gzip; foo=bar", "gzip", 2),
        ("application/tlsrpt+json", "GZIP", 1),
        ("application/tlsrpt+json", "x-gzip", 1),
        ("application/tlsrpt+json", "identity", 0),
        ("application/tlsrpt+gzip", "identity, gzip", 2),
    ],
)
def test_content_type_and_encoding_variants_count(
    lab: Lab, content_type: str, encoding: str | None, wrap: int
) -> None:
    """Parameters, case and the Content-Encodings the README names: counted."""
    doc = report("Types", f"ct-{content_type}-{encoding}", policy("example.com", 1, 0))
    body = encode(doc)
    for _ in range(wrap):
        body = gz(body)
    lab.good(doc, body, content_type, **({"Content-Encoding": encoding} if encoding else {}))


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "", "application/tlsrpt", "application/tlsrpt+xml"]
)
def test_other_content_types_are_415(lab: Lab, content_type: str) -> None:
    """Anything but the two RFC 8460 §5.3 types: 415 with Accept, nothing stored."""
    response = lab.post(encode(report("T", "t-415")), content_type)
    assert response.status_code == 415 and "tlsrpt+json" in response.headers["Accept"]


@pytest.mark.parametrize("encoding", ["br", "deflate", "gzip, br", "gzip, gzip"])
def test_other_content_encodings_are_415(lab: Lab, encoding: str) -> None:
    response = lab.post(gz(gz(encode(report("T", "te-415")))), GZIP, **{"Content-Encoding": encoding})
    assert response.status_code == 415 and response.headers["Accept-Encoding"] == "gzip"


def test_non_ascii_organizations_are_kept_exactly(lab: Lab) -> None:
    """Names in any script are kept as sent; lengths are code points (1,024 astral ones fit, 1,025 not)."""
    for i, name in enumerate(
        ["Ünïcødé Mäil AG", "株式会社メール", "почта.рф", "\U0001d4c2" * 1024, "e\u0301cole"]
    ):
        lab.good(report(name, f"na-{i}", policy("example.com", 1, 0)))
    lab.bad(encode(report("\U0001d4c2" * 1025, "na-x")), "organization-name is longer than 1024")


@pytest.mark.parametrize(
    "start, first",
    [
        ("2026-10-01t00:00:00z", "2026-10-01T00:00:00Z"),
        ("2026-10-01T05:30:00+05:30", "2026-10-01T00:00:00Z"),
        ("2026-09-30T20:00:00-04:00", "2026-10-01T00:00:00Z"),
        ("2026-10-01T00:00:00.987654321Z", "2026-10-01T00:00:00Z"),
        ("2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"),
        ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59Z"),
        ("2026-10-01 00:00:00Z", "2026-10-01T00:00:00Z"),
        ("0026-11-27T00:00:00Z", "0026-11-27T00:00:00Z"),
    ],
)
def test_dates_in_every_rfc_3339_form_set_first_report(start: str, first: str) -> None:
    """Lower-case t/z, offsets, fractions, 29 February, a leap second, year 26 (not 1926):
    firstReport is the start in UTC."""
    with receiver() as r:
        assert r.post(encode(report("Dates", "d-1", start=start)), JSON).status_code == 201
        assert r.summary_json()["domains"]["example.com"]["firstReport"] == first


@pytest.mark.parametrize(
    "start",
    [
        "2026-02-29T00:00:00Z",
        "2026-10-01T24:00:00Z",
        "2026-10-01",
        "1795737600",
        "2026-W40-1T00:00:00Z",
        "2999-01-01T00:00:00Z",
    ],
)
def test_a_date_that_is_not_one_counts_from_arrival(start: str) -> None:
    """A start that is not an RFC 3339 date-time, or lies after the report's arrival: the report
    counts, firstReport is its arrival."""
    with receiver() as r:
        assert r.post(encode(report("Dates", "d-2", start=start)), JSON).status_code == 201
        entry = r.summary_json()["domains"]["example.com"]
    assert entry["firstReport"] is not None
    assert entry["firstReport"][:19] == entry["lastReport"][:19]


def mail(doc: dict[str, Any], message_id: str | None, *, attach: bool = True, inline: bool = False) -> bytes:
    """A multipart/report message with the report as an attachment, inline, or both."""
    message = EmailMessage()
    message["From"] = "noreply@sender.example"
    message["To"] = "tlsrpt@reports.example.net"
    message["Subject"] = f"Report Domain: example.com Report-ID: {doc['report-id']}"
    if message_id is not None:
        message["Message-ID"] = message_id
    message.set_content("TLS report")
    if inline:
        message.add_attachment(
            encode(doc), maintype="application", subtype="tlsrpt+json", disposition="inline"
        )
    if attach:
        message.add_attachment(
            gz(encode(doc)), maintype="application", subtype="tlsrpt+gzip", filename="r.json.gz"
        )
    return message.as_bytes()


def test_a_report_by_mail_counts_once_however_it_is_attached(lab: Lab) -> None:
    """As an attachment, inline, both in one message, and again over HTTPS: counted once."""
    attached = report(
        "Mailer",
        "mail-1",
        policy("example.org", 9, 2, details(("starttls-not-supported", "mx.example.org", "192.0.2.9", 2))),
    )
    assert lab.r.mail(mail(attached, "<m1@sender.example>")).status_code == 200
    lab.model.accept(attached)
    inline = report("Mailer", "mail-2", policy("example.org", 4, 0))
    assert lab.r.mail(mail(inline, "<m2@sender.example>", attach=False, inline=True)).status_code == 200
    lab.model.accept(inline)
    both = report(
        "Mailer", "mail-3", policy("example.org", 6, 1, details(("sts-policy-invalid", None, None, 1)))
    )
    assert lab.r.mail(mail(both, "<m3@sender.example>", inline=True)).status_code == 200
    lab.model.accept(both)
    lab.good(both)  # over HTTPS too: a duplicate (200)
    stored = lab.r.client.get(f"{lab.r.url}/v1/submissions", headers=AUTH).json()["submissions"]
    statuses = sorted(s["status"] for s in stored if s["channel"] == "mail" and s["report"] is not None)
    assert statuses.count("stored") >= 3 and "duplicate" in statuses


def test_a_mail_without_message_id_is_no_5xx(lab: Lab) -> None:
    """The runtime needs a Message-ID: without one the answer is a refusal, never a server error."""
    response = lab.r.mail(mail(report("Mailer", "mail-4"), None))
    assert response.status_code < 500 or "Message-ID" in response.text


def test_two_policies_of_one_domain_are_one_report_with_both_counts(lab: Lab) -> None:
    """An sts and a no-policy-found policy for the same domain: one report, both policies' sessions."""
    second = policy("example.org", 11, 2, details(("sts-policy-fetch-error", None, "192.0.2.44", 2)))
    second["policy"]["policy-type"] = "no-policy-found"
    lab.good(report("Two", "two-1", policy("example.org", 6, 0), second))


def test_a_mixed_case_domain_with_a_trailing_dot_counts_for_the_domain(lab: Lab) -> None:
    lab.good(report("Case", "case-1", policy(" EXAMPLE.Org. ", 8, 0), policy("other.example", 5, 0)))
    lab.good(report("Case", "case-2", policy("not-ours.example", 5, 0)))


def test_parsedmarc_reads_the_same_numbers(tmp_path: Path) -> None:
    """parsedmarc (oracle) and the receiver agree on a fresh multi-policy report with odd dates."""
    doc = report(
        "Oracle",
        "or-1",
        policy(
            "example.com",
            120,
            7,
            details(
                ("certificate-expired", "mx1.example.net", "192.0.2.1", 4),
                ("starttls-not-supported", "mx2.example.net", None, 3),
            ),
        ),
        policy("example.org", 55, 0),
        start="2026-11-26t12:00:00.5+02:00",
    )
    path = tmp_path / "oracle.json"
    path.write_bytes(encode(doc))
    oracle = parsedmarc_totals(path)
    with receiver() as r:
        assert r.post(path.read_bytes(), JSON).status_code == 201
        summary = r.summary_json()
    assert our_totals(summary) == oracle
    assert parsedmarc_totals(FIXTURES / "rfc8460-example.json")  # the oracle reads fixtures too


@pytest.mark.parametrize("form", [{}, {"attach": False, "inline": True}, {"inline": True}])
def test_parsedmarc_reads_each_mail_as_the_receiver_does(tmp_path: Path, form: dict[str, bool]) -> None:
    """A report attached, inline, or both in one message: parsedmarc's totals, counted once."""
    doc = report(
        "Oracle",
        "or-mail",
        policy("example.org", 40, 6, details(("validation-failure", "mx3.example.org", None, 6))),
        policy("example.com", 9, 0),
    )
    path = tmp_path / "report.eml"
    path.write_bytes(mail(doc, "<oracle@sender.example>", **form))
    with receiver() as r:
        assert r.mail(path.read_bytes()).status_code == 200
        assert our_totals(r.summary_json()) == parsedmarc_totals(path)


# --- bad input: never a 5xx -------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, status",
    [
        ("%", 400),
        ("%ZZ", 400),
        ("%E0%A4", 400),
        ("%C0%AF", 400),
        ("%ED%A0%80", 400),
        ("%FF", 400),
        ("raw/" + "a" * 1021, 400),
        ("raw/" + "%E2%82%AC" * 341, 400),
        ("raw/" + "%E2%82%AC" * 340, 404),
        ("raw/" + "a" * 1020, 404),
        ("raw/%00", 404),
        ("raw/..%2F..%2Fsecret", 404),
        ("..%2Fraw", 404),
        ("", 404),
        ("raw/", 404),
        ("raw/%2e%2e/%2e%2e/etc/passwd", 404),
        ("raw/a%20b", 404),
    ],
)
def test_raw_keys_that_are_wrong_are_4xx(lab: Lab, key: str, status: int) -> None:
    """Bad percent-encoding, over-long UTF-8, surrogates, 1,025-byte keys, NUL, traversal: 4xx."""
    response = lab.r.client.get(f"{lab.r.url}/v1/raw/{key}", headers=AUTH)
    assert response.status_code == status, (key[:30], response.status_code, response.text)


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("PUT", "/v1/tlsrpt", 405),
        ("GET", "/v1/tlsrpt", 405),
        ("DELETE", "/v1/summary", 405),
        ("POST", "/v1/summary", 405),
        ("PATCH", "/v1/raw/raw/x", 405),
        ("OPTIONS", "/v1/metrics", 405),
        ("POST", "/v1/submissions", 405),
        ("GET", "/v1/tlsrpt/", 404),
        ("GET", "/v1/", 404),
    ],
)
def test_wrong_methods_and_paths(lab: Lab, method: str, path: str, status: int) -> None:
    response = lab.r.client.request(method, f"{lab.r.url}{path}", headers=AUTH)
    assert response.status_code == status, (method, path, response.text)
    if status == 405:
        assert response.headers["Allow"]


@pytest.mark.parametrize("status", ["' OR 1=1 --", "stored%", "x" * 5000, "\u0000", "unparsed"])
def test_submissions_status_filter_is_only_a_value(lab: Lab, status: str) -> None:
    """?status= is compared as a value: injection, patterns and NUL list nothing, never a 5xx."""
    response = lab.r.client.get(f"{lab.r.url}/v1/submissions", params={"status": status}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert all(s["status"] == status for s in response.json()["submissions"])


def test_head_answers_like_get_without_a_body(lab: Lab) -> None:
    response = lab.r.client.head(f"{lab.r.url}/v1/summary", headers=AUTH)
    assert response.status_code == 200 and response.content == b""


def test_huge_headers_are_no_5xx(lab: Lab) -> None:
    """A 30 KB header, a 30 KB bearer token and 200 headers: never a 5xx."""
    big = {"X-Pad": "a" * 30000}
    assert lab.post(encode(report("Hdr", "hdr-1")), JSON, **big).status_code in (201, 431)
    token = {"Authorization": "Bearer " + "b" * 30000}
    assert lab.r.client.get(f"{lab.r.url}/v1/summary", headers=token).status_code in (401, 431)
    many = {f"X-H{i}": "v" for i in range(200)}
    assert lab.r.client.get(f"{lab.r.url}/v1/summary", headers={**many, **AUTH}).status_code in (200, 431)
    lab.model.accept(report("Hdr", "hdr-1"))


def raw_post(r: Receiver, headers: dict[str, str], chunks: list[bytes]) -> int:
    """POST by hand: the headers, then each chunk (chunked when no Content-Length), then the
    status, read even when the receiver stopped reading and closed early."""
    host, port = r.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest("POST", "/v1/tlsrpt")
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        try:
            for chunk in chunks:
                conn.send(chunk if "Content-Length" in headers else b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if "Content-Length" not in headers:
                conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        return conn.getresponse().status
    finally:
        conn.close()


def test_a_body_over_the_cap_is_413_declared_or_not(lab: Lab) -> None:
    """Over the 1 MiB cap: 413 when Content-Length says so (before the body is sent), and when a
    chunked body grows past it."""
    declared = {"Content-Type": JSON, "Content-Length": str(1048577)}
    assert raw_post(lab.r, declared, []) == 413
    chunked = {"Content-Type": JSON, "Transfer-Encoding": "chunked"}
    assert raw_post(lab.r, chunked, [b" " * 65536] * 17) == 413


def test_gzip_bombs_stop_at_the_cap(lab: Lab) -> None:
    """64 MiB of zeros in one member, 5 members of 4 MiB (20 MiB together), 20 of 1 MiB, and the
    bomb under Content-Encoding: gzip: 413 naming the 16 MiB cap, kept as unparsed."""
    zeros = gzip.compress(b"0" * (64 << 20), compresslevel=9)
    lab.bad(zeros, "decompressed report is larger", status=413, content_type=GZIP)
    member = gzip.compress(b" " * (4 << 20), compresslevel=9)
    lab.bad(member * 5, "decompressed report is larger than 16777216", status=413, content_type=GZIP)
    small = gzip.compress(b" " * (1 << 20), compresslevel=9)
    lab.bad(small * 20, "decompressed report is larger than 16777216", status=413, content_type=GZIP)
    encoded = lab.post(gz(zeros), GZIP, **{"Content-Encoding": "gzip"})
    assert encoded.status_code == 413 and "decompressed report is larger" in encoded.json()["error"]
    lab.model.unparsed += 1


def test_broken_gzip_is_400(lab: Lab) -> None:
    """Truncated, a bad CRC, a bad second member, garbage after a member: 400, kept as unparsed."""
    good = gz(encode(report("Broken", "br-1")))
    lab.bad(good[: len(good) // 2], "not valid gzip", content_type=GZIP)
    bad_crc = good[:-8] + bytes([good[-8] ^ 0xFF]) + good[-7:]
    lab.bad(bad_crc, "not valid gzip", content_type=GZIP)
    lab.bad(good + good[:20], "not valid gzip", content_type=GZIP)
    lab.bad(good + b"\x00garbage", "", content_type=GZIP)
    raw_deflate = zlib.compress(encode(report("Broken", "br-2")))
    lab.bad(raw_deflate, "neither gzip nor JSON", content_type=GZIP)


def test_json_that_is_hostile_is_400(lab: Lab) -> None:
    """10^5-deep nesting, NUL bytes, bad UTF-8, a BOM, not an object: 400 or counted; a lone
    surrogate (RFC 8259 §8.2), which storage would turn into U+FFFD, is a 400."""
    deep = b"[" * 100000 + b"]" * 100000
    lab.bad(deep, "a TLS report is a JSON object")
    nested = encode(report("Deep", "deep-1")).replace(
        b'"tlsrpt@sender.example"', b"[" * 100000 + b"]" * 100000
    )
    lab.good(report("Deep", "deep-1") | {"contact-info": None}, nested)
    lab.bad(b'{"organization-name": "a\x00b"}', "not valid JSON")
    lab.bad(b'{"organization-name": "\xff"}', "not UTF-8")
    lab.bad(b"", "empty body", kept=False)
    lab.bad(b"null", "a TLS report is a JSON object")
    lab.bad(b"[]", "a TLS report is a JSON object")
    lab.bad(b"\x00" * 100, "not valid JSON")
    nul = report("Nul\u0000Org", "nul-1")
    lab.good(nul)
    lone = encode(report("Lone", "lone-1")).replace(b'"Lone"', b'"\\ud800"')
    lab.bad(lone, "organization-name is not Unicode text")
    mx = encode(report("Lone", "lone-2", policy("example.com", **{"mx-host": ["aXX.example"]})))
    mx = mx.replace(b"aXX", b"a\\udc00")
    lab.bad(mx, "mx-host[0] is not Unicode text")
    lab.good(report("BOM", "bom-1"), b"\xef\xbb\xbf" + encode(report("BOM", "bom-1")))


def test_duplicate_json_keys_take_the_last(lab: Lab) -> None:
    """Duplicate keys: the last one counts (as JSON.parse, Python and parsedmarc read it)."""
    first = encode(report("Dup", "dup-1", policy("example.com", 100, 0)))
    body = first[:-1] + b', "policies": ' + json.dumps([policy("example.org", 3, 0)]).encode() + b"}"
    lab.good(json.loads(body), body)
    again = first.replace(b'"report-id": "dup-1"', b'"report-id": "dup-0", "report-id": "dup-2"')
    lab.good(json.loads(again), again)


def test_too_many_policies_and_long_fields_are_400(lab: Lab) -> None:
    lab.bad(encode(report("P", "p-51", *[policy("example.com")] * 51)), "more than 50 policies")
    lab.bad(encode(report("P", "x" * 1025)), "report-id is longer than 1024")
    lab.bad(encode(report("P", "p-d", policy("a" * 256 + ".com"))), "policy-domain is longer than 255")
    lab.bad(
        encode(report("P", "p-m", policy("example.com", **{"mx-host": ["m" * 256]}))),
        "mx-host[0] is longer than 255",
    )
    lab.bad(encode(report("", "p-o")), "organization-name is missing")


def test_reads_share_the_post_rate_limit() -> None:
    """With a limit of 4: three reads, then a POST is 429, and so is a raw read, from that client only."""
    with receiver(rateLimitPerMinute=4) as r:
        for attempt in range(3):
            minute = time.time() // 60
            ip = {"CF-Connecting-IP": f"198.51.100.{attempt + 70}"}
            reads = [
                r.client.get(f"{r.url}/v1/summary", headers={**AUTH, **ip}).status_code for _ in range(3)
            ]
            reads.append(r.client.get(f"{r.url}/v1/metrics", headers={**AUTH, **ip}).status_code)
            after = [
                r.post(encode(report("R", f"r-{attempt}")), JSON, **ip).status_code,
                r.client.get(f"{r.url}/v1/raw/raw/x", headers={**AUTH, **ip}).status_code,
            ]
            if time.time() // 60 == minute:
                break
        other = r.post(encode(report("R", "r-other")), JSON, **{"CF-Connecting-IP": "198.51.100.99"})
    assert (reads, after, other.status_code) == ([200] * 4, [429, 429], 201)


# --- since ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "since",
    [
        "12",
        "-1",
        "1e9",
        "2001",
        "2026-11-01",
        "2026-11-01T00:00Z",
        "2026-13-01T00:00:00Z",
        "P7D",
        "7D",
        "0d",
        "+7d",
        " 7d",
        "7 d",
        "1.5d",
        "7days",
        "1000000000000w",
        "2026-11-01T00:00:00",
        "now",
        "%00",
        "7d7d",
    ],
)
def test_since_outside_the_documented_forms_is_400(lab: Lab, since: str) -> None:
    """?since= is an RFC 3339 date-time or a duration; anything else is a 400 saying which forms."""
    for path in ("/v1/summary", "/v1/submissions", "/v1/metrics"):
        response = lab.r.client.get(f"{lab.r.url}{path}", params={"since": since}, headers=AUTH)
        assert response.status_code == 400, (path, since, response.text)
        assert "RFC 3339" in response.json()["error"] and "duration" in response.json()["error"]


@pytest.mark.parametrize(
    "since, everything",
    [
        ("", True),
        ("30m", True),
        ("24h", True),
        ("7d", True),
        ("2w", True),
        ("60s", True),
        ("999999999999w", True),
        ("2026-11-01T00:00:00Z", True),
        ("2026-11-01t00:00:00.25+01:00", True),
        ("1970-01-01T00:00:00Z", True),
        ("2999-01-01T00:00:00Z", False),
        ("9999-12-31T23:59:59-23:59", False),
    ],
)
def test_since_in_the_documented_forms_filters_by_arrival(lab: Lab, since: str, everything: bool) -> None:
    """The documented forms answer 200; a past one keeps every report, a future one none."""
    response = lab.r.client.get(f"{lab.r.url}/v1/summary", params={"since": since}, headers=AUTH)
    assert response.status_code == 200, (since, response.text)
    got = response.json()["domains"]["example.com"]["reports"]
    stored = lab.r.summary_json()["domains"]["example.com"]["reports"]
    assert stored > 0
    assert got == (stored if everything else 0)


# --- the whole summary against the model --------------------------------------------------------


def test_the_summary_equals_the_model(lab: Lab) -> None:
    """After every case above, the summary is the model's, domain by domain, and so is the metrics view."""
    response = lab.r.summary()
    assert response.status_code == 200
    summary = response.json()
    for name in STACK_DOMAINS:
        assert observed(summary["domains"][name]) == lab.model.expected(name), name
    assert summary["unparsed"] == lab.model.unparsed
    assert summary["foreign"] == lab.model.foreign
    metrics = lab.r.client.get(f"{lab.r.url}/v1/metrics", headers=AUTH)
    assert metrics.status_code == 200
    failed = lab.model.expected("example.org")["failed"]
    line = f'mtasts_tlsrpt_sessions{{domain="example.org",result="failed"}} {failed}'
    assert line in metrics.text.splitlines()
    assert lab.r.client.get(f"{lab.r.url}/cdn-cgi/handler/scheduled").status_code == 200
    assert datetime.datetime.fromisoformat(summary["domains"]["example.com"]["lastReport"])
