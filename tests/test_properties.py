"""Property tests: render → parse round trips and policy id stability."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mtasts.commands.plan import append_indented
from mtasts.model.config import ConfigError, load_config
from mtasts.rfc.mx import mx_matches
from mtasts.rfc.policy import MAX_AGE_LIMIT, Policy, PolicyError, parse_policy, policy_id
from mtasts.rfc.records import (
    RecordError,
    StsRecord,
    TlsRptRecord,
    parse_sts_record,
    parse_tlsrpt_record,
    quote_txt,
    unquote_txt,
)

LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,14}[a-z0-9])?", fullmatch=True)
TLD = st.from_regex(r"[a-z]{2,6}", fullmatch=True)
HOST = st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(LABEL, min_size=1, max_size=4), TLD)
PATTERN = st.one_of(HOST, HOST.map(lambda h: "*." + h))
MODE = st.sampled_from(["enforce", "testing", "none"])
MAX_AGE = st.integers(min_value=0, max_value=MAX_AGE_LIMIT)
EXT_NAME = st.from_regex(r"[a-z][a-z0-9_.-]{0,31}", fullmatch=True).filter(
    lambda n: n not in ("version", "mode", "mx", "max_age")
)
EXT_VALUE = st.from_regex(r"[!-~](?:[!-~ ]{0,20}[!-~])?", fullmatch=True)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    mode = draw(MODE)
    mx = draw(st.lists(PATTERN, min_size=0 if mode == "none" else 1, max_size=5, unique=True))
    names = draw(st.lists(EXT_NAME, max_size=3, unique=True))
    extensions = tuple((n, draw(EXT_VALUE)) for n in names)
    return Policy(mode=mode, max_age=draw(MAX_AGE), mx=tuple(mx), extensions=extensions)


@given(policies())
def test_policy_round_trip(policy: Policy) -> None:
    """Any rendered policy parses back to the same value."""
    assert parse_policy(policy.render()) == policy


@given(policies())
def test_policy_round_trip_with_lf(policy: Policy) -> None:
    """A policy re-written with LF line ends parses to the same value (RFC 8461 §3.2)."""
    assert parse_policy(policy.render().replace("\r\n", "\n")) == policy


@given(policies())
def test_render_uses_crlf_only(policy: Policy) -> None:
    """Every rendered line ends in CRLF and no bare LF or CR appears."""
    text = policy.render()
    assert text.endswith("\r\n")
    assert text.count("\n") == text.count("\r\n") == text.count("\r")


@given(policies())
def test_id_is_sha256_of_served_bytes(policy: Policy) -> None:
    """The id is the first 32 hex digits of SHA-256 over the served bytes, and valid per §3.1."""
    text = policy.render()
    expected = hashlib.sha256(text.encode()).hexdigest()[:32]
    assert policy.id == policy_id(text) == policy_id(text.encode()) == expected
    assert parse_sts_record(f"v=STSv1; id={policy.id}").id == policy.id


@given(policies(), policies())
def test_id_changes_with_the_bytes(a: Policy, b: Policy) -> None:
    """Two policies share an id exactly when they serve the same bytes."""
    assert (a.id == b.id) == (a.render() == b.render())


@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=0, max_size=700))
def test_txt_quoting_round_trip(value: str) -> None:
    """Quoting splits into ≤255-character strings that join back to the same text."""
    quoted = quote_txt(value)
    assert unquote_txt(quoted) == value
    assert all(len(part) <= 255 for part in quoted.split('" "'))


@given(
    st.from_regex(r"[A-Za-z0-9]{1,32}", fullmatch=True),
    st.lists(st.tuples(EXT_NAME, st.from_regex(r"[!-:<>-~]{1,10}", fullmatch=True)), max_size=3),
)
def test_sts_record_round_trip(ident: str, extensions: list[tuple[str, str]]) -> None:
    """A rendered _mta-sts record parses back, unquoted or quoted."""
    record = StsRecord(id=ident, extensions=tuple((n, v) for n, v in extensions if n != "id"))
    assert parse_sts_record(record.render()) == record
    assert parse_sts_record(quote_txt(record.render())) == record


MAILTO = st.builds(
    lambda local, host: f"mailto:{local}@{host}",
    st.from_regex(r"[a-z0-9._+-]{1,12}", fullmatch=True).filter(lambda s: ".." not in s),
    HOST,
)
HTTPS = st.builds(
    lambda host, path: f"https://{host}/{path}", HOST, st.from_regex(r"[a-z0-9/]{0,12}", fullmatch=True)
)


@given(st.lists(st.one_of(MAILTO, HTTPS), min_size=1, max_size=4, unique=True))
def test_tlsrpt_record_round_trip(uris: list[str]) -> None:
    """A rendered _smtp._tls record parses back to the same URIs."""
    record = TlsRptRecord(rua=tuple(uris))
    assert parse_tlsrpt_record(record.render()) == record


@given(LABEL, HOST)
def test_wildcard_covers_exactly_one_label(label: str, base: str) -> None:
    """*.base covers label.base, never base itself or two labels deep (RFC 8461 §4.1)."""
    assert mx_matches(f"*.{base}", f"{label}.{base}")
    assert mx_matches(f"*.{base}", f"{label.upper()}.{base}.")
    assert not mx_matches(f"*.{base}", base)
    assert not mx_matches(f"*.{base}", f"{label}.{label}.{base}")


TEXT = st.text(st.characters(codec="utf-8"), max_size=200) | st.binary(max_size=200).map(
    lambda b: b.decode("latin-1")
)


@given(TEXT)
def test_policy_parser_fails_only_with_policy_error(text: str) -> None:
    """Any text either parses or raises PolicyError; bytes the same."""
    for value in (text, text.encode("utf-8", "surrogatepass")):
        try:
            parse_policy(value)
        except PolicyError:
            pass


@given(TEXT)
def test_record_parsers_fail_only_with_record_error(text: str) -> None:
    """Any TXT data either parses or raises RecordError."""
    for parse in (parse_sts_record, parse_tlsrpt_record):
        for value in (text, "v=STSv1; " + text, "v=TLSRPTv1; rua=" + text, '"' + text):
            try:
                parse(value)
            except RecordError:
                pass


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
SETTING = st.sampled_from(
    [
        "hosting",
        "mode",
        "maxAge",
        "mx",
        "tlsrpt",
        "dns",
        "routing",
        "zone",
        "zoneId",
        "repository",
        "httpsEnforced",
    ]
)


@given(
    st.dictionaries(
        st.text(max_size=20) | HOST, st.none() | st.dictionaries(SETTING, JSONISH, max_size=4), max_size=3
    ),
    st.dictionaries(SETTING, JSONISH, max_size=4),
    JSONISH,
)
def test_config_loader_fails_only_with_config_error(domains: Any, defaults: Any, owner: Any) -> None:
    """Any config shape either loads or raises ConfigError, never another exception."""
    config = {
        "mta-sts:cloudflareAccountId": "0123456789abcdef0123456789abcdef",
        "mta-sts:defaults": defaults,
        "mta-sts:domains": domains,
        "github:owner": owner,
    }
    try:
        deployment = load_config(config)
    except ConfigError:
        return
    for domain in deployment.domains:
        assert parse_policy(domain.policy_text).mode == domain.mode
        for record in domain.records:
            if record.role == "sts":
                assert parse_sts_record(record.content).id == domain.policy_id
            if record.role == "tlsrpt":
                assert parse_tlsrpt_record(record.content).rua == domain.tlsrpt


@given(JSONISH)
def test_plan_json_writer_matches_json_dumps_indent(value: Any) -> None:
    """plan --json's fast writer prints exactly what json.dumps(indent=2) prints, for any JSON value."""
    out: list[str] = []
    append_indented(value, out, "")
    assert "".join(out) == json.dumps(value, indent=2)
