"""The loader and the flags against hostile input: one clear line naming the key, never a silent drop.

The receiver's names (``mta-sts:reports``), ``secure`` values where a setting belongs,
``noneSince`` in every RFC 3339 form and in ISO 8601 forms that are not RFC 3339, and numeric
flags far out of range.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from mtasts.commands.cli import main
from mtasts.model.config import ConfigError, load_config, load_stack
from tests.conftest import ACCOUNT, ROOT

RECEIVER = {"host": "tlsrpt.example.com", "mailto": "tlsrpt@reports.example.com"}


def config(domains: dict[str, Any], **reports: Any) -> dict[str, Any]:
    return {
        "mta-sts:cloudflareAccountId": ACCOUNT,
        "mta-sts:defaults": {"mx": ["mx1.example.net"], "reports": "builtin"},
        "mta-sts:domains": domains,
        "mta-sts:reports": {**RECEIVER, **reports},
    }


@pytest.mark.parametrize(
    ("domains", "reports", "message"),
    [
        ({"example.com": {}}, {"mailto": "tlsrpt@example.com"}, "example.com is a mail domain of this stack"),
        (
            {"example.com": {}},
            {"mailto": "tlsrpt@EXAMPLE.Com."},
            "example.com is a mail domain of this stack",
        ),
        (
            {"example.com": {}, "mail.example.com": {"mode": "none"}},
            {"mailto": "r@mail.example.com"},
            "mail.example.com is a mail domain of this stack",
        ),
        (
            {"sub.example.com": {}},
            {"mailto": "r@example.com"},
            "example.com is the apex of the receiver's zone",
        ),
        (
            {"a.example.co.uk": {"zone": "example.co.uk"}},
            {"host": "tlsrpt.example.co.uk", "mailto": "r@example.co.uk"},
            "example.co.uk is the zone apex of a.example.co.uk",
        ),
        ({"example.com": {}}, {"mailto": "r@mta-sts.example.com"}, "is the policy host of example.com"),
        (
            {"example.com": {"mx": ["mx1.example.com"]}},
            {"mailto": "r@mx1.example.com"},
            "mx1.example.com is an MX host of example.com",
        ),
        (
            {"example.com": {"mx": ["*.mx.example.com"]}},
            {"mailto": "r@in.mx.example.com"},
            "in.mx.example.com is an MX host of example.com (mx *.mx.example.com)",
        ),
        ({"example.com": {}}, {"host": "mta-sts.example.com"}, "mta-sts.example.com is the policy host"),
        ({"example.com": {}}, {"host": "MTA-STS.example.COM."}, "mta-sts.example.com is the policy host"),
        ({"example.com": {}}, {"mailto": "r@elsewhere.example.net"}, "must be in the receiver's zone"),
    ],
    ids=[
        "mailto on a stack domain",
        "mailto on a stack domain, other case and dot",
        "mailto on a stack subdomain in none",
        "mailto on the zone apex",
        "mailto on a domain's explicit zone apex",
        "mailto on a policy host",
        "mailto on an MX host",
        "mailto on a host a wildcard MX pattern covers",
        "host is a policy host",
        "host is a policy host, other case and dot",
        "mailto outside the zone",
    ],
)
def test_a_receiver_name_that_takes_over_other_mail_or_a_policy_is_refused(
    domains: dict[str, Any], reports: dict[str, Any], message: str
) -> None:
    """Each is a ConfigError on reports.mailto or reports.host, saying why."""
    with pytest.raises(ConfigError) as caught:
        load_config(config(domains, **reports))
    text = str(caught.value)
    assert text.startswith(("reports.mailto:", "reports.host:")) and message in text, text


def test_a_dedicated_reports_subdomain_is_accepted() -> None:
    """A mailto on reports.<zone>, a name that receives no other mail: accepted."""
    stack = load_config(config({"example.com": {}}))
    assert stack.receiver is not None and stack.receiver.mailto == "tlsrpt@reports.example.com"


HEAD = """\
config:
  mta-sts:cloudflareAccountId: "0123456789abcdef0123456789abcdef"
"""


def load_text(tmp_path: Path, body: str) -> Any:
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text(), encoding="utf-8")
    (tmp_path / "Pulumi.t.yaml").write_text(HEAD + body, encoding="utf-8")
    return load_stack(tmp_path, "t")


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (
            "  mta-sts:defaults:\n    mode: enforce\n    mx: [mx.example.net]\n    secure: AAAA\n"
            "  mta-sts:domains: {example.com: {}}\n",
            "defaults.secure",
        ),
        (
            "  mta-sts:defaults:\n    mode: {secure: AAAA}\n    mx: [mx.example.net]\n"
            "  mta-sts:domains: {example.com: {}}\n",
            "defaults.mode",
        ),
        (
            "  mta-sts:defaults: {secure: AAAA}\n  mta-sts:domains: {example.com: {mx: [m.example.net]}}\n",
            "defaults",
        ),
        (
            "  mta-sts:defaults: {mx: [m.example.net]}\n  mta-sts:domains: {example.com: {secure: AAAA}}\n",
            "domains.example.com.secure",
        ),
        (
            "  mta-sts:defaults: {mx: [{secure: AAAA}]}\n  mta-sts:domains: {example.com: {}}\n",
            "defaults.mx[0]",
        ),
        ("  mta-sts:defaults: {mx: [m.example.net]}\n  mta-sts:domains: {secure: AAAA}\n", "domains"),
        (
            "  mta-sts:defaults: {mx: [m.example.net]}\n  mta-sts:readiness: {secure: AAAA}\n"
            "  mta-sts:domains: {example.com: {}}\n",
            "readiness",
        ),
        (
            "  mta-sts:defaults: {mx: [m.example.net]}\n  mta-sts:liveGate: {minDays: 1, secure: AAAA}\n"
            "  mta-sts:domains: {example.com: {}}\n",
            "liveGate",
        ),
        (
            "  mta-sts:defaults: {mx: [m.example.net]}\n"
            "  mta-sts:domains: {example.com: {mode: none, mx: [], noneSince: {secure: AAAA}}}\n",
            "domains.example.com.noneSince",
        ),
    ],  # fmt: skip
    ids=[
        "secure among defaults",
        "secure as a defaults value",
        "defaults a secret",
        "secure among a domain's keys",
        "secure as an mx entry",
        "domains a secret",
        "readiness a secret",
        "secure among liveGate keys",
        "noneSince a secret",
    ],
)
def test_a_secure_value_where_a_setting_belongs_is_an_error_naming_the_key(
    tmp_path: Path, body: str, key: str
) -> None:
    """Never dropped (plan would then show the defaults): a ConfigError starting with the key."""
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, body)
    assert str(caught.value).startswith(f"{key}"), str(caught.value)


def none_domain(since: Any) -> dict[str, Any]:
    return {
        "mta-sts:cloudflareAccountId": ACCOUNT,
        "mta-sts:defaults": {"mx": ["mx1.example.net"], "tlsrpt": ["mailto:r@example.net"]},
        "mta-sts:domains": {"old.example": {"mode": "none", "mx": [], "noneSince": since}},
    }


UTC = datetime.UTC


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-11-01T09:00:00Z", datetime.datetime(2026, 11, 1, 9, tzinfo=UTC)),
        ("2026-11-01t09:00:00z", datetime.datetime(2026, 11, 1, 9, tzinfo=UTC)),
        ("2026-11-01T09:00:00+05:30", datetime.datetime(2026, 11, 1, 3, 30, tzinfo=UTC)),
        ("2026-11-01T09:00:00-00:00", datetime.datetime(2026, 11, 1, 9, tzinfo=UTC)),
        ("2026-11-01T09:00:00.5Z", datetime.datetime(2026, 11, 1, 9, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-01T09:00:00.123456789-02:00", datetime.datetime(2026, 11, 1, 11, 0, 0, 123456, tzinfo=UTC)),
        ("2026-12-31T23:59:60Z", datetime.datetime(2027, 1, 1, tzinfo=UTC)),
        (datetime.datetime(2026, 11, 1, 9, tzinfo=UTC), datetime.datetime(2026, 11, 1, 9, tzinfo=UTC)),
    ],
    ids=[
        "Z",
        "lower-case t and z",
        "+05:30",
        "-00:00",
        "fraction",
        "long fraction",
        "leap second",
        "YAML time",
    ],
)
def test_none_since_takes_every_rfc3339_form(text: Any, moment: datetime.datetime) -> None:
    """RFC 3339 §5.6 date-times (and YAML's own timestamp) read as that moment in UTC."""
    stack = load_config(none_domain(text))
    assert stack.domain("old.example").none_since == moment


@pytest.mark.parametrize(
    "text",
    [
        "2026-W44-7T09:00:00Z",
        "2026-305T09:00:00Z",
        "2026-11-01",
        datetime.date(2026, 11, 1),
        "2026-11-01T09:00",
        "2026-11-01T09:00:00",
        datetime.datetime(2026, 11, 1, 9),
        "20261101T090000Z",
        "2026-11-01T09:00:00+0530",
        "2026-11-01T09Z",
        "2026-11-01T24:00:00Z",
        "2026-02-29T09:00:00Z",
        "2026-11-01T09:00:00+24:00",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
        "+2026-11-01T09:00:00Z",
        "２０２６-11-01T09:00:00Z",
        1793523600,
    ],
    ids=[
        "week date", "ordinal date", "date only", "YAML date", "no seconds", "no offset", "YAML naive",
        "basic format", "offset without colon", "hour only", "hour 24", "no Feb 29", "offset 24h",
        "past year 9999 in UTC", "before year 1 in UTC", "signed year", "full-width digits", "epoch number",
    ],
)  # fmt: skip
def test_none_since_refuses_what_is_not_rfc3339(text: Any) -> None:
    """One ConfigError naming domains.old.example.noneSince; no traceback from datetime."""
    with pytest.raises(ConfigError) as caught:
        load_config(none_domain(text))
    assert str(caught.value).startswith("domains.old.example.noneSince: must"), str(caught.value)


@pytest.mark.parametrize(
    ("argv", "flag", "value"),
    [
        (["reports", "--stack", "t"], "--since", "1000000w"),
        (["reports", "--stack", "t"], "--since", "9" * 5000 + "d"),
        (["reports", "--stack", "t"], "--since", "0" * 5000 + "d"),
        (["reports", "--stack", "t"], "--since", "٣d"),
        (["wait-live", "--stack", "t"], "--rounds", "²"),
        (["wait-live", "--stack", "t"], "--rounds", "9" * 5000),
        (["wait-live", "--stack", "t"], "--timeout", "1" * 5000),
        (["wait-live", "--stack", "t"], "--span", "1e308"),
        (["wait-live", "--stack", "t"], "--interval", "٣"),
        (["serve", "--stack", "t"], "--port", "٨٠٨٠"),
        (["verify", "a.example"], "--concurrency", "9" * 5000),
        (["verify", "a.example"], "--https-port", "0" * 4000 + "443000"),
        (["verify", "a.example"], "--nameserver", "127.0.0.1:" + "9" * 5000),
    ],
    ids=[
        "since 1000000w", "since 5000 digits", "since 5000 zeros", "since arabic digit", "rounds superscript",
        "rounds 5000 digits", "timeout 5000 digits", "span 1e308", "interval arabic digit",
        "port arabic digits",
        "concurrency 5000 digits", "port leading zeros", "nameserver port 5000 digits",
    ],
)  # fmt: skip
@pytest.mark.timeout(30)  # a flag taken as valid may start the command (serve would run)
def test_an_overflowing_flag_is_one_short_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], flag: str, value: str
) -> None:
    """Exit 2, one ``error: <flag>:`` line of reasonable length, nothing on stdout, no traceback."""
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text(), encoding="utf-8")
    stack = config({"example.com": {}})
    (tmp_path / "Pulumi.t.yaml").write_text(yaml.safe_dump({"config": stack}), encoding="utf-8")
    assert main(["--project-dir", str(tmp_path), *argv, f"{flag}={value}"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: {flag}: ") and captured.err.count("\n") == 1, captured.err[:300]
    assert len(captured.err) < 200, captured.err[:300]
