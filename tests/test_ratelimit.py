"""Cloudflare's API rate limit: the error hook on every Cloudflare resource, and waiting out a 429."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator

import pulumi
import pytest

from components import retry
from mtasts.probes.ratelimit import BLOCK_SECONDS, is_rate_limited, wait_out
from tests.program_mocks import run_stack

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pulumi_cloudflare.*")


class _Api(http.server.BaseHTTPRequestHandler):
    """Answers 429 with retry-after for the first ``blocked`` requests, then 200."""

    blocked = 2
    retry_after = "1"
    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        if len(type(self).seen) <= type(self).blocked:
            body = (
                b'{"success":false,"errors":[{"code":971,"message":"Please wait and consider throttling"}]}'
            )
            self.send_response(429)
            self.send_header("retry-after", type(self).retry_after)
        else:
            body = b'{"success":true,"result":{"status":"active"}}'
            self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    _Api.seen = []
    _Api.blocked = 2
    _Api.retry_after = "1"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/client/v4"
    finally:
        server.shutdown()
        server.server_close()


def test_a_429_is_told_from_other_errors() -> None:
    """The newest error decides: a 429 / rate limit is retried, a 400 or an empty list is not."""
    assert is_rate_limited(["POST .../dns_records: 429 Too Many Requests"])
    assert is_rate_limited(["error: rate limited", "400 Bad Request"])
    assert not is_rate_limited(["400 Bad Request: record already exists", "429 Too Many Requests"])
    assert not is_rate_limited([])


def test_wait_out_sleeps_what_retry_after_says_until_the_api_answers(api: str) -> None:
    """Two 429s with retry-after: 1, then 200: two sleeps of 1 s, three looks with the token."""
    slept: list[float] = []
    assert wait_out("tok", base_url=api, sleep=slept.append) is True
    assert slept == [1.0, 1.0]
    assert _Api.seen == [("/client/v4/user/tokens/verify", "Bearer tok")] * 3


def test_wait_out_gives_up_at_its_deadline(api: str) -> None:
    """Blocked longer than the deadline: False after sleeping no more than the deadline."""
    _Api.blocked, _Api.retry_after = 100, "300"
    slept: list[float] = []
    assert wait_out("tok", base_url=api, deadline=450, sleep=slept.append) is False
    assert slept == [300.0, 150.0]


def test_wait_out_without_a_token_waits_one_block() -> None:
    """No token, nothing to ask: one five-minute block, then retry."""
    slept: list[float] = []
    assert wait_out(None, sleep=slept.append) is True and slept == [BLOCK_SECONDS]


def test_the_error_hook_retries_a_429_once_the_local_api_lets_calls_through(
    api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """on_error against a local API answering 429 + retry-after: True after waiting; other errors False."""
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", api)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "tok")
    monkeypatch.setattr(pulumi.log, "warn", lambda *a, **k: None)

    def args(*errors: str) -> pulumi.ErrorHookArgs:
        return pulumi.ErrorHookArgs(
            "urn",
            "id",
            "example.com-sts",
            "cloudflare:index/dnsRecord:DnsRecord",
            failed_operation="create",
            errors=list(errors),
        )

    assert asyncio.run(retry.on_error(args("429 Too Many Requests"))) is True
    assert len(_Api.seen) == 3  # blocked twice, then through
    assert asyncio.run(retry.on_error(args("400 Bad Request"))) is False
    assert asyncio.run(retry.on_error(args(*["429 Too Many Requests"] * (retry.MAX_RETRIES + 1)))) is False


def test_every_cloudflare_resource_carries_the_error_hook_under_mocks() -> None:
    """The dev stack: each Cloudflare resource has the rate-limit error hook, the create guard and
    the live gate kept in their order."""
    run = run_stack("dev")
    assert run.error is None, repr(run.error)
    cloudflare = [r for r in run.resources if r.custom and r.type.startswith("cloudflare:")]
    assert cloudflare
    assert all(r.options.error_hooks == (retry.HOOK_NAME,) for r in cloudflare)
    gated = run.by_name("example.com-sts").options.hooks
    assert gated["before_create"] == ("mta-sts-foreign-sts", "mta-sts-live-gate")
    github = [r for r in run.resources if r.custom and r.type.startswith("github:")]
    assert github and all(r.options.error_hooks == () for r in github)
