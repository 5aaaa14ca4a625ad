"""A real sender: sys4's tlsrpt-reporter (Postfix's TLSRPT reporting side) delivers to the receiver.

Its collectd stores what libtlsrpt would send from Postfix (datagrams, fed here through its own
storage class), its fetcher and reportd aggregate the day, render the RFC 8460 report and deliver
it with their own delivery code: ``curl`` over HTTP (``debug_send_http_dest`` points it at the local
receiver instead of ``https://tlsrpt.example.net``) and a ``sendmail_script`` that hands the
multipart/report message to the local ``email()`` handler. reportd reports on yesterday, so the
collected day is rolled over with the package's own development rollover before it runs.
"""

from __future__ import annotations

import shlex
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tlsrpt_reporter import tlsrpt

from tests.reports_helpers import Receiver, receiver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


RECORD = "v=TLSRPTv1; rua=https://tlsrpt.example.net/v1/tlsrpt,mailto:tlsrpt@reports.example.net"


def datagram(
    domain: str, failed: bool, code: int | None = None, mx: str = "mx1.example.net"
) -> dict[str, Any]:
    """One delivery attempt as libtlsrpt reports it to tlsrpt-collectd (protocol version 1)."""
    policy: dict[str, Any] = {
        "policy-type": 2,  # sts
        "policy-string": ["version: STSv1", "mode: testing", "mx: mx1.example.net", "max_age: 86400"],
        "policy-domain": domain,
        "mx-host": ["mx1.example.net"],
        "f": 1 if failed else 0,
        "t": 1 if failed else 0,
        "failure-details": [{"c": code, "n": mx, "r": "192.0.2.9", "s": "198.51.100.3"}] if failed else [],
    }
    return {"dpv": "1", "d": domain, "pr": RECORD, "policies": [policy]}


def collect(db: Path, datagrams: list[dict[str, Any]]) -> None:
    config = tlsrpt.ConfigCollectd(**{k: v["default"] for k, v in tlsrpt.options_collectd.items()})
    collectd = tlsrpt.TLSRPTCollectdSQLite(f"sqlite://{db}", config)
    for d in datagrams:
        collectd.add_datagram(d)
    # tlsrpt-reporter's own development rollover: today's data becomes yesterday's, in the
    # database file its fetcher reads (what midnight UTC does in production).
    collectd.switch_to_next_day(tlsrpt.RolloverReason.MANUALLYINDUCED)


def reportd(tmp: Path, collectd_db: Path, r: Receiver) -> Any:
    bin_dir = Path(sys.executable).parent
    values = {k: v["default"] for k, v in tlsrpt.options_reportd.items()}
    sendmail = shlex.join(
        [
            "curl",
            "--silent",
            "--fail",
            "--data-binary",
            "@-",
            f"{r.url}/cdn-cgi/handler/email?from=tlsrpt-noreply%40sender.example&to=tlsrpt%40reports.example.net",
        ]
    )
    values.update(
        dbname=str(tmp / "reportd.sqlite"),
        fetchers=f"{bin_dir / 'tlsrpt-fetcher'} --storage sqlite://{collectd_db}",
        organization_name="Sender Example",
        contact_info="tlsrpt@sender.example",
        sender_address="tlsrpt-noreply@sender.example",
        debug_send_http_dest=f"{r.url}/v1/tlsrpt",
        http_script="curl --silent --fail --output /dev/null "
        "--header 'Content-Type: application/tlsrpt+gzip' --data-binary @-",
        sendmail_script=sendmail,
        spread_out_delivery=1,
        min_wait_domainlist=1,
        max_wait_domainlist=1,
        min_wait_domaindetails=1,
        max_wait_domaindetails=1,
    )
    return tlsrpt.TLSRPTReportd(tlsrpt.ConfigReportd(**values))


def test_tlsrpt_reporter_delivers_by_https_and_mail(tmp_path: Path) -> None:
    """tlsrpt-reporter's report reaches the receiver by curl and by mail; counted once, as it was sent."""
    db = tmp_path / "collectd.sqlite"
    attempts = [datagram("example.com", False) for _ in range(7)]
    attempts += [datagram("example.com", True, 204, "mx1.example.net") for _ in range(2)]
    attempts += [datagram("example.com", True, 201, "mx2.example.net")]
    collect(db, attempts)
    with receiver() as r:
        daemon = reportd(tmp_path, db, r)
        for step in (daemon.check_day, daemon.collect_domains, daemon.fetch_data, daemon.create_reports):
            time.sleep(1.1)  # reportd's jobs are due strictly after the second they were scheduled
            step()
        time.sleep(2.1)  # delivery is spread over spread_out_delivery (its minimum, 1 s)
        daemon.send_out_reports()
        with sqlite3.connect(tmp_path / "reportd.sqlite") as con:
            statuses = sorted(
                row[0] for row in con.execute("SELECT destination || ' ' || status FROM destinations")
            )
        assert statuses == [
            "https://tlsrpt.example.net/v1/tlsrpt sent",
            "mailto:tlsrpt@reports.example.net sent",
        ]
        summary = r.summary_json()
        entry = summary["domains"]["example.com"]
        # Two deliveries of one report (same organization and report-id): counted once.
        assert (entry["reports"], entry["organizations"]) == (1, ["Sender Example"])
        assert (entry["successful"], entry["failed"]) == (7, 3)
        by_type = {(f["resultType"], f["receivingMx"]): f["sessions"] for f in entry["failures"]}
        assert by_type == {
            ("certificate-expired", "mx1.example.net"): 2,
            ("starttls-not-supported", "mx2.example.net"): 1,
        }
        listed = r.client.get(
            f"{r.url}/v1/submissions", headers={"Authorization": "Bearer test-read-token-0123456789"}
        ).json()["submissions"]
        assert sorted(s["channel"] for s in listed) == ["https", "mail"]
        assert sorted(s["status"] for s in listed) == ["duplicate", "stored"]
