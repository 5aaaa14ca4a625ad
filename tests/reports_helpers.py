"""Shared helpers for the receiver's tests and benchmark: a test stack, a running receiver, parsedmarc."""

from __future__ import annotations

import gzip
import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from mtasts.model.config import Deployment, load_config
from mtasts.runtime.miniflare import receiver_worker, run_miniflare

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "tlsrpt"
TOKEN = "test-read-token-0123456789"
STACK_DOMAINS = ("company-y.example", "example.com", "example.org")


BY_HAND_DOMAIN = "by-hand.example"
"""A domain of the stack with ``reports: none`` (it may list the receiver in its ``tlsrpt`` by hand)."""


def deployment(**receiver: Any) -> Deployment:
    """A stack whose three domains use the built-in receiver and one (``BY_HAND_DOMAIN``) does not;
    ``receiver`` overrides the receiver's settings."""
    settings = {"host": "tlsrpt.example.net", "mailto": "tlsrpt@reports.example.net", **receiver}
    return load_config(
        {
            "mta-sts:cloudflareAccountId": "0" * 32,
            "mta-sts:defaults": {"mx": ["mx1.example.net"], "reports": "builtin"},
            "mta-sts:domains": {**{d: {} for d in STACK_DOMAINS}, BY_HAND_DOMAIN: {"reports": "none"}},
            "mta-sts:reports": settings,
        }
    )


@dataclass
class Receiver:
    """A running receiver: its base URL and an HTTP client."""

    url: str
    client: httpx.Client

    def post(self, body: bytes, content_type: str, **headers: str) -> httpx.Response:
        return self.client.post(
            f"{self.url}/v1/tlsrpt", content=body, headers={"Content-Type": content_type, **headers}
        )

    def mail(self, raw: bytes, sender: str = "reports@sender.example") -> httpx.Response:
        return self.client.post(
            f"{self.url}/cdn-cgi/handler/email",
            params={"from": sender, "to": "tlsrpt@reports.example.net"},
            content=raw,
        )

    def summary(self, since: str | None = None, token: str | None = TOKEN) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        params = {"since": since} if since else {}
        return self.client.get(f"{self.url}/v1/summary", params=params, headers=headers)

    def summary_json(self) -> dict[str, Any]:
        response = self.summary()
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@contextmanager
def receiver(persist: Path | None = None, webhook: str | None = None, **settings: Any) -> Iterator[Receiver]:
    """The receiver bundle in miniflare for ``deployment(**settings)``, with fresh local storage."""
    stack = deployment(**settings)
    assert stack.receiver is not None
    worker = receiver_worker("test", stack.receiver, stack.domains, TOKEN, webhook)
    with run_miniflare([worker], persist_dir=persist) as running, httpx.Client(timeout=30) as client:
        yield Receiver(running.url, client)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


GOOD_FIXTURES = (
    "rfc8460-example.json",
    "sparse.json.gz",
    "mixed.json",
    "google.eml",
    "microsoft.eml",
    "mailru-gzip.eml",
)


def parsedmarc_totals(path: Path, domains: tuple[str, ...] = STACK_DOMAINS) -> dict[str, Any]:
    """parsedmarc's reading of one report file: per stack domain the session totals and failures by type."""
    import parsedmarc

    parsed = parsedmarc.parse_report_file(str(path), offline=True)
    assert parsed["report_type"] == "smtp_tls"
    out: dict[str, Any] = {}
    for policy in parsed["report"]["policies"]:
        domain = policy["policy_domain"].lower().rstrip(".")
        if domain not in domains:
            continue
        entry = out.setdefault(domain, {"successful": 0, "failed": 0, "byType": defaultdict(int)})
        entry["successful"] += policy["successful_session_count"]
        entry["failed"] += policy["failed_session_count"]
        for detail in policy.get("failure_details", []):
            entry["byType"][detail["result_type"]] += detail["failed_session_count"]
    return {d: {**v, "byType": dict(v["byType"])} for d, v in out.items()}


def our_totals(summary: dict[str, Any]) -> dict[str, Any]:
    """The same shape from a receiver summary, for domains with any report."""
    out: dict[str, Any] = {}
    for domain, entry in summary["domains"].items():
        if entry["reports"] == 0:
            continue
        by_type: dict[str, int] = defaultdict(int)
        for failure in entry["failures"]:
            by_type[failure["resultType"]] += failure["sessions"]
        out[domain] = {"successful": entry["successful"], "failed": entry["failed"], "byType": dict(by_type)}
    return out


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def report_json(org: str, rid: str, domain: str, failures: int = 1, mx: str = "mx1.example.net") -> bytes:
    """A small valid report with ``failures`` failure-details entries."""
    return json.dumps(
        {
            "organization-name": org,
            "date-range": {"start-datetime": "2026-11-27T00:00:00Z", "end-datetime": "2026-11-27T23:59:59Z"},
            "contact-info": "tlsrpt@sender.example",
            "report-id": rid,
            "policies": [
                {
                    "policy": {"policy-type": "sts", "policy-domain": domain, "mx-host": [mx]},
                    "summary": {
                        "total-successful-session-count": 10,
                        "total-failure-session-count": failures,
                    },
                    "failure-details": [
                        {
                            "result-type": "certificate-expired" if i % 2 == 0 else "starttls-not-supported",
                            "sending-mta-ip": f"198.51.100.{i % 250}",
                            "receiving-mx-hostname": mx,
                            "receiving-ip": f"192.0.2.{i % 250}",
                            "failed-session-count": 1,
                        }
                        for i in range(failures)
                    ],
                }
            ],
        }
    ).encode()


@dataclass
class Webhook:
    """An HTTP server on 127.0.0.1 that keeps every JSON body posted to it."""

    url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def webhook_server() -> Iterator[Webhook]:
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            hook.posts.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
