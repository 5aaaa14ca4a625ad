"""``mtasts watch``: alerts on what is new, got worse or cleared, against a local webhook.

The rules (``mtasts.checks.alerts``) are tested on plain findings; the command runs against a lab
(Knot, the policy over HTTPS, one MX whose certificate is replaced between runs: 10 days left,
again 10, then 3, then 40) and an ``http.server`` on 127.0.0.1 standing in for the webhook.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mtasts.checks.alerts import Change, StateError, compare, current, dump_state, load_state, message, seen
from mtasts.commands import cli
from mtasts.model.findings import Finding, Severity
from mtasts.rfc.policy import Policy
from tests.servers import HttpsServer, KnotDns, Pki, Route, SmtpServer, free_port, zone_text

ZONE = "watch.test"
DOMAIN = f"shop.{ZONE}"
MX_HOST = f"mx.{ZONE}"
MX_ADDR = "127.0.0.61"
HTTPS_ADDR = "127.0.0.60"
POLICY = Policy(mode="enforce", max_age=604800, mx=(MX_HOST,))


def f(check: str, severity: Severity, subject: str | None = None, reason: str = "r") -> Finding:
    return Finding(check, severity, reason, subject=subject)


# --------------------------------------------------------------------------- the rules


def test_first_problems_are_new_and_the_same_again_is_silent() -> None:
    """A warning never seen is new; the same warning next run says nothing."""
    first = current([("a.example", f("starttls", Severity.WARNING, "mx1"))], "t1")
    alerts, state = compare({}, first)
    assert [(a.change, a.now.check) for a in alerts] == [(Change.NEW, "starttls")]
    again, state2 = compare(state, current([("a.example", f("starttls", Severity.WARNING, "mx1"))], "t2"))
    assert again == []
    assert state2[next(iter(state2))].since == "t1"  # first seen is carried


def test_worse_eased_and_cleared() -> None:
    """warning→error is worse; error→warning is silent; gone or back to ok is cleared."""
    base = current(
        [("d", f("mx-certificate", Severity.WARNING, "mx")), ("d", f("dane", Severity.ERROR, "mx"))], "t1"
    )
    _, state = compare({}, base)
    run2 = current(
        [("d", f("mx-certificate", Severity.ERROR, "mx")), ("d", f("dane", Severity.WARNING, "mx"))], "t2"
    )
    alerts, state = compare(state, run2)
    assert [(a.change, a.now.check, a.before) for a in alerts] == [
        (Change.WORSE, "mx-certificate", Severity.WARNING)
    ]
    run3 = current([("d", f("mx-certificate", Severity.OK, "mx"))], "t3")
    alerts, state = compare(state, run3)
    assert sorted((a.change, a.now.check) for a in alerts) == [
        (Change.CLEARED, "dane"),
        (Change.CLEARED, "mx-certificate"),
    ]
    assert state == {}


def test_a_problem_not_looked_at_is_not_cleared() -> None:
    """mx1's certificate warning, then mx1 stops answering: held, silently; cleared once seen ok."""
    _, state = compare({}, current([("d", f("mx-certificate", Severity.WARNING, "mx1"))], "t1"))
    down = [("d", f("starttls", Severity.ERROR, "mx1"))]
    alerts, state = compare(state, current(down, "t2"), seen(down))
    assert [(a.change, a.now.check) for a in alerts] == [(Change.NEW, "starttls")]
    assert {t.check for t in state.values()} == {"starttls", "mx-certificate"}
    dns = [("d", f("mx-records", Severity.ERROR))]  # the whole domain fails before its hosts
    alerts, state = compare(state, current(dns, "t3"), seen(dns))
    assert [(a.change, a.now.check) for a in alerts] == [(Change.NEW, "mx-records")]
    assert {t.check for t in state.values()} == {"starttls", "mx-certificate", "mx-records"}
    back = [
        ("d", f("mx-certificate", Severity.OK, "mx1")),
        ("d", f("starttls", Severity.OK, "mx1")),
        ("d", f("mx-records", Severity.ERROR)),
    ]
    alerts, state = compare(state, current(back, "t4"), seen(back))  # seen at ok: cleared
    assert sorted((a.change, a.now.check) for a in alerts) == [
        (Change.CLEARED, "mx-certificate"),
        (Change.CLEARED, "starttls"),
    ]


def test_one_key_keeps_its_worst_finding_and_subjects_are_apart() -> None:
    """Two findings of one check and subject count once, at the worst; other subjects are apart."""
    found = current(
        [
            ("d", f("policy-fetch", Severity.WARNING)),
            ("d", f("policy-fetch", Severity.ERROR)),
            ("d", f("starttls", Severity.ERROR, "mx1")),
            ("d", f("starttls", Severity.ERROR, "mx2")),
            ("d", f("starttls", Severity.INFO, "mx3")),
        ],
        "t",
    )
    assert sorted((t.check, t.subject, str(t.severity)) for t in found.values()) == [
        ("policy-fetch", "", "error"),
        ("starttls", "mx1", "error"),
        ("starttls", "mx2", "error"),
    ]


def test_state_round_trips_and_rejects_what_it_did_not_write() -> None:
    """dump_state → JSON → load_state is the same state; another document is a StateError."""
    state = current([("d", f("dane", Severity.ERROR, "mx", "why"))], "t")
    assert load_state(json.loads(json.dumps(dump_state(state, "t")))) == state
    for bad in ([], {"version": 2, "findings": []}, {"version": 1, "findings": [{"domain": "d"}]}):
        with pytest.raises(StateError):
            load_state(bad)


def test_message_counts_and_orders_news_first() -> None:
    """The text starts with the counts, then new before worse before cleared."""
    _, state = compare(
        {}, current([("d", f("a", Severity.WARNING, "x")), ("d", f("b", Severity.ERROR))], "t1")
    )
    alerts, _ = compare(
        state, current([("d", f("a", Severity.ERROR, "x")), ("e", f("c", Severity.WARNING))], "t2")
    )
    lines = message(alerts, "mta-sts prod").splitlines()
    assert lines[0] == "mta-sts prod: 1 new, 1 worse, 1 cleared"
    assert [line.split(" ", 1)[0] for line in lines[1:]] == ["NEW", "WORSE", "CLEARED"]


# --------------------------------------------------------------------------- the command


@dataclass
class Webhook:
    """An http.server on 127.0.0.1 keeping every JSON body posted to it; ``status`` is its answer."""

    posts: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200

    def __enter__(self) -> Webhook:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if hook.status == 200:
                    hook.posts.append(json.loads(body))
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Lab:
    knot: KnotDns
    pki: Pki
    https_port: int
    smtp_port: int
    project: Path
    smtp: SmtpServer | None = None

    def mx_certificate(self, days: float) -> None:
        """Replace the MX's server by one whose certificate has ``days`` left."""
        if self.smtp is not None:
            self.smtp.__exit__(None, None, None)
        self.smtp = SmtpServer(MX_ADDR, self.smtp_port, self.pki.context(MX_HOST, days_left=days), MX_HOST)
        self.smtp.__enter__()

    def watch(self, state: Path, *extra: str) -> int:
        return cli.main(
            [
                "--project-dir", str(self.project), "watch", DOMAIN, "--state", str(state),
                "--webhook-env", "MTASTS_TEST_WEBHOOK", "--nameserver", self.knot.address,
                "--ca-bundle", str(self.pki.ca_file), "--https-port", str(self.https_port),
                "--smtp-port", str(self.smtp_port), "--timeout", "5", *extra,
            ]
        )  # fmt: skip


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    (tmp_path / "Pulumi.yaml").write_text("name: lab\nruntime: python\n", encoding="utf-8")
    pki = Pki(tmp_path)
    records = [
        ("shop", "MX", "10 mx"),
        ("mx", "A", MX_ADDR),
        ("mta-sts.shop", "A", HTTPS_ADDR),
        ("_mta-sts.shop", "TXT", f'"v=STSv1; id={POLICY.id}"'),
        ("_smtp._tls.shop", "TXT", f'"v=TLSRPTv1; rua=mailto:r@{ZONE}"'),
    ]
    policy_host = f"mta-sts.{DOMAIN}"
    https = HttpsServer(
        {policy_host: pki.context(policy_host, days_left=60)},
        pki.context("default.invalid"),
        {policy_host: Route(body=POLICY.render().encode())},
        HTTPS_ADDR,
        free_port(HTTPS_ADDR),
    )
    with KnotDns({ZONE: zone_text(ZONE, records)}) as knot, https:
        lab = Lab(knot, pki, https.port, free_port(MX_ADDR), tmp_path)
        try:
            yield lab
        finally:
            if lab.smtp is not None:
                lab.smtp.__exit__(None, None, None)


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_new_same_worse_cleared_over_runs(lab: Lab, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """10 days (new warning), 10 again (silent), 3 (worse: error), 40 (cleared): three posts."""
    state = tmp_path / "state" / "watch.json"
    with Webhook() as hook:
        monkeypatch.setenv("MTASTS_TEST_WEBHOOK", hook.url)
        lab.mx_certificate(10)
        assert lab.watch(state) == 0
        assert len(hook.posts) == 1
        assert hook.posts[0]["text"].startswith(
            "mta-sts: 1 new\nNEW warning shop.watch.test mx-certificate (mx.watch.test)"
        )
        saved = json.loads(state.read_text(encoding="utf-8"))
        assert [(x["check"], x["severity"]) for x in saved["findings"]] == [("mx-certificate", "warning")]

        assert lab.watch(state) == 0
        assert len(hook.posts) == 1  # the same problem six hours later: nothing posted

        lab.mx_certificate(3)
        assert lab.watch(state) == 0
        assert len(hook.posts) == 2
        # An enforce domain's MX certificate past the error threshold: the loudest news, first.
        worse = hook.posts[1]["text"].splitlines()
        assert worse[0] == "mta-sts: 1 URGENT; 1 worse"
        assert worse[1].startswith("URGENT WORSE warning→error shop.watch.test mx-certificate")

        lab.mx_certificate(40)
        assert lab.watch(state) == 0
        assert len(hook.posts) == 3
        assert hook.posts[2]["text"].splitlines() == [
            "mta-sts: 1 cleared",
            "CLEARED shop.watch.test mx-certificate (mx.watch.test): was error since "
            + saved["findings"][0]["since"],
        ]
        assert json.loads(state.read_text(encoding="utf-8"))["findings"] == []


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_failed_post_keeps_the_news_for_the_next_run(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A webhook answering 500: exit 1, the state is not advanced, the next run posts the news."""
    state = tmp_path / "watch.json"
    lab.mx_certificate(40)
    with Webhook(status=500) as hook:
        monkeypatch.setenv("MTASTS_TEST_WEBHOOK", hook.url)
        assert lab.watch(state, "--pulumi-preview-exit", "2") == 1
        assert not state.exists()
        assert "posting to $MTASTS_TEST_WEBHOOK failed" in capsys.readouterr().err
        hook.status = 200
        assert lab.watch(state, "--pulumi-preview-exit", "2") == 0
        [post] = hook.posts
        assert "NEW error pulumi pulumi-drift" in post["text"]
        assert lab.watch(state, "--pulumi-preview-exit", "0") == 0
        assert hook.posts[1]["text"].startswith("mta-sts: 1 cleared\nCLEARED pulumi pulumi-drift")


def test_a_state_directory_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--state naming a directory: one error line naming it, exit 2, before anything is probed."""
    (tmp_path / "Pulumi.yaml").write_text("name: lab\nruntime: python\n", encoding="utf-8")
    status = cli.main(["--project-dir", str(tmp_path), "watch", "example.com", "--state", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "--state" in err and "directory" in err


@pytest.mark.integration
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        json.dumps({"version": 2, "findings": []}),
        json.dumps({"version": 1, "findings": [{"domain": "d", "check": "c"}]}),
        "[" * 100_000,
    ],
    ids=["cut-short", "other-version", "bad-item", "nested"],
)
def test_an_unreadable_state_file_does_not_stop_the_alerts(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    """The run goes on as a first run, the post says so, the old file is kept beside; then normal."""
    state = tmp_path / "watch.json"
    state.write_text(text, encoding="utf-8")
    lab.mx_certificate(10)
    with Webhook() as hook:
        monkeypatch.setenv("MTASTS_TEST_WEBHOOK", hook.url)
        assert lab.watch(state) == 0
        [post] = hook.posts
        lines = post["text"].splitlines()
        assert lines[0] == "mta-sts: 1 new"
        assert lines[1].startswith(f"NOTE the last run's state ({state}) could not be read")
        assert lines[2].startswith("NEW warning shop.watch.test mx-certificate")
        assert "warning: --state:" in capsys.readouterr().err
        assert (tmp_path / "watch.json.unreadable").read_text(encoding="utf-8") == text
        assert load_state(json.loads(state.read_text(encoding="utf-8")))  # a state it can read again
        assert lab.watch(state) == 0
        assert len(hook.posts) == 1  # and the same problem is silent again


def test_a_state_item_that_is_no_problem_is_refused() -> None:
    """A state item at ok or info was never written by a run: a StateError, not a CLEARED."""
    item = {"domain": "d", "check": "c", "subject": "", "severity": "ok", "reason": "r", "since": "t"}
    with pytest.raises(StateError, match="severity must be error or warning"):
        load_state({"version": 1, "findings": [item]})


def test_urgent_news_comes_first_and_says_so() -> None:
    """The loudest finding (an enforce MX certificate about to expire) leads the post, marked URGENT."""
    run = [("a", f("dane", Severity.ERROR, "mx")), ("z", f("mx-certificate", Severity.ERROR, "mx"))]
    found = current(run, "t")
    alerts, _ = compare({}, found)
    loud = {k for k, t in found.items() if t.check == "mx-certificate"}
    lines = message(alerts, "mta-sts", loud).splitlines()
    assert lines[0] == "mta-sts: 1 URGENT; 2 new"
    assert lines[1].startswith("URGENT NEW error z mx-certificate")
    assert lines[2].startswith("NEW error a dane")
