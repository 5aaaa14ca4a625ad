"""Conformance table: policy texts, TXT records and MX matches against RFC 8461 and RFC 8460.

Each case says what the RFC requires and where. Verdicts are cross-checked
against checkdmarc (an independent implementation, test-only dependency);
where checkdmarc reads the RFC differently, the case names the difference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from checkdmarc import mta_sts as cd_sts
from checkdmarc import smtp_tls_reporting as cd_tlsrpt

from mtasts.rfc.mx import mx_matches
from mtasts.rfc.policy import PolicyError, parse_policy
from mtasts.rfc.records import (
    RecordError,
    declares,
    parse_sts_record,
    parse_tlsrpt_record,
    tlsrpt_uri_problem,
)


@dataclass(frozen=True)
class Case:
    text: str
    valid: bool
    rfc: str
    why: str
    checkdmarc_differs: str = ""
    """Empty when checkdmarc must agree; otherwise why it does not."""


GOOD = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 86400\r\n"

POLICIES = [
    Case(GOOD, True, "8461 §3.2", "canonical policy with CRLF"),
    Case(GOOD.replace("\r\n", "\n"), True, "8461 §3.2", "LF line ends"),
    Case(
        "version: STSv1\nmode: enforce\r\nmx: mx.example.com\nmax_age: 86400",
        True,
        "8461 §3.2",
        "mixed CRLF/LF, no final terminator",
    ),
    Case(
        "max_age: 86400\r\nmx: mx.example.com\r\nmode: enforce\r\nversion: STSv1\r\n",
        True,
        "8461 §3.2",
        "fields in any order",
    ),
    Case(
        "version: STSv1\r\nmode: testing\r\nmx: a.example.com\r\nmx: *.b.example.com\r\nmax_age: 0\r\n",
        True,
        "8461 §3.2",
        "several mx, wildcard, max_age 0",
    ),
    Case("version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n", True, "8461 §3.2", "mode none needs no mx"),
    Case(
        "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 31557600\r\n",
        True,
        "8461 §3.2",
        "max_age at the upper bound",
    ),
    Case(
        "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 0000086400\r\n",
        True,
        "8461 §3.2",
        "max_age of 10 digits with leading zeros",
    ),
    Case(
        "version:STSv1\r\nmode:enforce\r\nmx:mx.example.com\r\nmax_age:86400\r\n",
        True,
        "8461 §3.2",
        "no space after the colon (*WSP)",
    ),
    Case(
        "version: STSv1\t \r\nmode: enforce  \r\nmx: mx.example.com\r\nmax_age: 86400\r\n",
        True,
        "8461 §3.2",
        "trailing white space before the line end",
    ),
    Case(GOOD + "foo: bar baz\r\n", True, "8461 §3.2", "unknown extension field kept"),
    Case(GOOD + "x.y-z_1: v\r\n", True, "8461 §3.2", "extension name with . - _"),
    Case(GOOD + "mode: testing\r\n", True, "8461 §3.2", "repeated mode: the first wins"),
    Case(GOOD + "max_age: 99999999999\r\n", True, "8461 §3.2", "a repeated field after the first is ignored"),
    Case(
        "version: STSv1\r\nmode: enforce\r\nmx: MX.Example.COM\r\nmax_age: 86400\r\n",
        True,
        "8461 §3.2",
        "mx is case-insensitive",
    ),
    Case(
        "version: STSv1\r\nmode: enforce\r\nmx: xn--bcher-kva.example\r\nmax_age: 86400\r\n",
        True,
        "8461 §3.2",
        "A-label mx",
    ),
    Case("", False, "8461 §3.2", "empty policy"),
    Case(
        "version: STSv2\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 86400\r\n",
        False,
        "8461 §3.2",
        "unknown version",
    ),
    Case(
        "version: stsv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 86400\r\n",
        False,
        "8461 §3.2",
        "version is case-sensitive",
    ),
    Case("mode: enforce\r\nmx: mx.example.com\r\nmax_age: 86400\r\n", False, "8461 §3.2", "version missing"),
    Case("version: STSv1\r\nmx: mx.example.com\r\nmax_age: 86400\r\n", False, "8461 §3.2", "mode missing"),
    Case("version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\n", False, "8461 §3.2", "max_age missing"),
    Case("version: STSv1\r\nmode: enforce\r\nmax_age: 86400\r\n", False, "8461 §3.2", "enforce without mx"),
    Case("version: STSv1\r\nmode: testing\r\nmax_age: 86400\r\n", False, "8461 §3.2", "testing without mx"),
    Case(
        "version: STSv1\r\nmode: Enforce\r\nmx: mx.example.com\r\nmax_age: 86400\r\n",
        False,
        "8461 §3.2",
        "mode is case-sensitive",
    ),
    Case(
        "version: STSv1\r\nmode: report\r\nmx: mx.example.com\r\nmax_age: 86400\r\n",
        False,
        "8461 §3.2",
        "unknown mode",
    ),
    Case(
        "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 31557601\r\n",
        False,
        "8461 §3.2",
        "max_age above one year",
    ),
    Case(
        "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: -1\r\n",
        False,
        "8461 §3.2",
        "negative max_age",
    ),
    Case(
        "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: +5\r\n",
        False,
        "8461 §3.2",
        "max_age with a sign",
    ),
    Case(
        "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 1_000\r\n",
        False,
        "8461 §3.2",
        "max_age with an underscore",
    ),
    Case(
        "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 86400.0\r\n",
        False,
        "8461 §3.2",
        "fractional max_age",
    ),
    Case(
        "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 00000000001\r\n",
        False,
        "8461 §3.2",
        "max_age of 11 digits",
    ),
    Case(
        "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: \r\n",
        False,
        "8461 §3.2",
        "empty max_age",
    ),
    Case(
        "version: STSv1\r\nmode: enforce\r\nmx: 192.0.2.1\r\nmax_age: 86400\r\n",
        False,
        "8461 §3.2",
        "IP address as mx",
        "checkdmarc's mx pattern accepts a dotted quad",
    ),
    Case(
        "version: STSv1\r\nmode: enforce\r\nmx: *.*.example.com\r\nmax_age: 86400\r\n",
        False,
        "8461 §3.2",
        "two wildcard labels",
    ),
    Case(
        "version: STSv1\r\nmode: enforce\r\nmx: mx*.example.com\r\nmax_age: 86400\r\n",
        False,
        "8461 §3.2",
        "partial-label wildcard",
    ),
    Case(
        "version: STSv1\r\nmode: enforce\r\nmx: *example.com\r\nmax_age: 86400\r\n",
        False,
        "8461 §3.2",
        "wildcard without a dot",
    ),
    Case(
        "version: STSv1\r\nmode: enforce\r\nmx: mx_1.example.com\r\nmax_age: 86400\r\n",
        False,
        "8461 §3.2 (RFC 5321 Domain)",
        "underscore in an mx label",
    ),
    Case(
        "version: STSv1\r\nmode: enforce\r\nmx: -mx.example.com\r\nmax_age: 86400\r\n",
        False,
        "8461 §3.2 (RFC 5321 Domain)",
        "label starting with a hyphen",
    ),
    Case(
        "version: STSv1\r\nmode: enforce\r\nmx: mx..example.com\r\nmax_age: 86400\r\n",
        False,
        "8461 §3.2 (RFC 5321 Domain)",
        "empty label in mx",
    ),
    Case(
        "version: STSv1\r\nmode: enforce\r\nmx: bücher.example\r\nmax_age: 86400\r\n",
        False,
        "8461 §3.2",
        "U-label mx: A-labels only",
    ),
    Case(
        "version: STSv1\r\nmode: enforce\r\nmx: " + "a" * 64 + ".example.com\r\nmax_age: 86400\r\n",
        False,
        "8461 §3.2 (RFC 5321 Domain)",
        "label longer than 63 octets",
    ),
    Case(
        "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 86400\r\n\r\n",
        False,
        "8461 §3.2",
        "more than one final line end (a blank line)",
        "checkdmarc skips blank lines",
    ),
    Case(
        "version: STSv1\r\n\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 86400\r\n",
        False,
        "8461 §3.2",
        "blank line between fields",
        "checkdmarc skips blank lines",
    ),
    Case(
        "version: STSv1\rmode: enforce\rmx: mx.example.com\rmax_age: 86400\r",
        False,
        "8461 §3.2",
        "bare CR line ends",
    ),
    Case(
        " version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 86400\r\n",
        False,
        "8461 §3.2",
        "white space before the first field",
    ),
    Case(
        "version: STSv1\r\n mode: enforce\r\nmx: mx.example.com\r\nmax_age: 86400\r\n",
        False,
        "8461 §3.2",
        "white space before a later field",
    ),
    Case(
        "version : STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 86400\r\n",
        False,
        "8461 §3.2",
        "white space between name and colon",
    ),
    Case(
        "Version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 86400\r\n",
        False,
        "8461 §3.2",
        "field names are case-sensitive (Version is an extension; version is then missing)",
    ),
    Case(GOOD + "bad name: x\r\n", False, "8461 §3.2", "extension name with a space"),
    Case(GOOD + "_x: y\r\n", False, "8461 §3.2", "extension name starting with '_'"),
    Case(GOOD + "foo:\r\n", False, "8461 §3.2", "extension with an empty value"),
    Case(GOOD + "novalue\r\n", False, "8461 §3.2", "a line that is not name: value"),
]

STS_RECORDS = [
    Case("v=STSv1; id=20160831085700Z", True, "8461 §3.1", "the RFC's example"),
    Case("v=STSv1;id=abc", True, "8461 §3.1", "no white space around ';'"),
    Case("v=STSv1 ; id=abc", True, "8461 §3.1", "white space before ';' (sts-sep)"),
    Case("v=STSv1;\tid=abc;", True, "8461 §3.1", "tab after ';' and a trailing ';'"),
    Case("v=STSv1; id=" + "a" * 32, True, "8461 §3.1", "32-character id"),
    Case("v=STSv1; id=abc; ext=value!", True, "8461 §3.1", "an extension field"),
    Case("v=STSv1; id=abc; id=def", True, "8461 §3.1", "repeated id: the first is used"),
    Case('"v=STSv1; id=abc"', True, "8461 §3.1", "quoted presentation form (Cloudflare)"),
    Case(
        '"v=STSv1; " "id=abc"',
        True,
        "8461 §3.1",
        "two strings, concatenated",
        "checkdmarc only strips the outer quotes of one string",
    ),
    Case("v=STSv1", False, "8461 §3.1", "no id"),
    Case("v=STSv1;", False, "8461 §3.1", "no fields after the version"),
    Case("v=STSv1; ext=1", False, "8461 §3.1", "id missing"),
    Case("v=STSv1; id=", False, "8461 §3.1", "empty id"),
    Case("v=STSv1; id=" + "a" * 33, False, "8461 §3.1", "33-character id"),
    Case("v=STSv1; id=abc-def", False, "8461 §3.1", "hyphen in id"),
    Case("v=STSv2; id=abc", False, "8461 §3.1", "wrong version"),
    Case("v=stsv1; id=abc", False, "8461 §3.1", "version is case-sensitive"),
    Case("id=abc; v=STSv1", False, "8461 §3.1", "version not first"),
    Case(
        " v=STSv1; id=abc",
        False,
        "8461 §3.1",
        "leading white space",
        "checkdmarc's grammar skips leading white space",
    ),
    Case("v=STSv1 id=abc", False, "8461 §3.1", "fields not separated by ';'"),
    Case("v=STSv1; id=abc; ext=a b", False, "8461 §3.1", "space inside an extension value"),
    Case("v=STSv1; id=abc; ext=", False, "8461 §3.1", "empty extension value"),
    Case("v=spf1 -all", False, "8461 §3.1", "an SPF record"),
]

TLSRPT_RECORDS = [
    Case("v=TLSRPTv1; rua=mailto:reports@example.com", True, "8460 §3", "one mailto"),
    Case("v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt", True, "8460 §3", "one https"),
    Case("v=TLSRPTv1; rua=mailto:a@example.com,https://r.example.com/x", True, "8460 §3", "two URIs"),
    Case(
        "v=TLSRPTv1; rua=mailto:a@example.com , mailto:b@example.com",
        True,
        "8460 §3",
        "white space around ','",
    ),
    Case("v=TLSRPTv1;rua=mailto:a@example.com;", True, "8460 §3", "no spaces, trailing ';'"),
    Case("v=TLSRPTv1; rua=mailto:a%2Cb@example.com", True, "8460 §3", "',' percent-encoded"),
    Case("v=TLSRPTv1; rua=mailto:a@example.com; ext=1", True, "8460 §3", "extension field"),
    Case('"v=TLSRPTv1; rua=mailto:a@example.com"', True, "8460 §3", "quoted form"),
    Case("v=TLSRPTv1", False, "8460 §3", "no rua"),
    Case("v=TLSRPTv1; ext=1", False, "8460 §3", "rua missing"),
    Case("v=TLSRPTv1; rua=", False, "8460 §3", "empty rua"),
    Case("v=TLSRPTv1; rua=http://r.example.com/x", False, "8460 §3", "http: is not allowed"),
    Case("v=TLSRPTv1; rua=ftp://r.example.com/x", False, "8460 §3", "ftp: is not allowed"),
    Case("v=TLSRPTv1; rua=reports@example.com", False, "8460 §3", "address without mailto:"),
    Case("v=TLSRPTv1; rua=mailto:a!b@example.com", False, "8460 §3", "raw '!' in a URI"),
    Case("v=TLSRPTv1; rua=mailto:a@example.com,", False, "8460 §3", "empty URI after ','"),
    Case(
        "v=TLSRPTv1; rua=mailto:a%zz@example.com", False, "8460 §3 (RFC 3986 §2.1)", "broken percent-encoding"
    ),
    Case("v=TLSRPTv1; rua=mailto:example.com", False, "8460 §3 (RFC 6068)", "mailto without '@'"),
    Case("v=TLSRPTv1; rua=https:///x", False, "8460 §3 (RFC 3986)", "https URI without a host"),
    Case("v=TLSRPTv2; rua=mailto:a@example.com", False, "8460 §3", "wrong version"),
    Case("v=tlsrptv1; rua=mailto:a@example.com", False, "8460 §3", "version is case-sensitive"),
]

MX = [
    ("mx.example.com", "mx.example.com", True, "exact name"),
    ("mx.example.com", "MX.EXAMPLE.COM", True, "case-insensitive"),
    ("mx.example.com", "mx.example.com.", True, "trailing dot on the host"),
    ("*.example.com", "mx.example.com", True, "wildcard covers one label"),
    ("*.example.com", "MX.Example.Com.", True, "wildcard, case and trailing dot"),
    ("*.example.com", "example.com", False, "wildcard needs a label"),
    ("*.example.com", "a.b.example.com", False, "wildcard covers exactly one label"),
    ("*.example.com", "mx.example.com.evil.net", False, "suffix must end the name"),
    ("mx.example.com", "mx.example.com.evil.net", False, "exact name is exact"),
    ("example.com", "bad-example.com", False, "no substring match"),
    ("*.mx.example.net", "a.mx.example.net", True, "deeper wildcard base"),
    ("*.example.com", "xexample.com", False, "wildcard label boundary"),
]


def _ids(cases: list[Case]) -> list[str]:
    return [c.why for c in cases]


def assert_verdict(case: Case, parse: Callable[[str], object], error: type[Exception]) -> None:
    """Ours: valid cases parse, invalid ones raise ``error``."""
    if case.valid:
        parse(case.text)
    else:
        with pytest.raises(error):
            parse(case.text)


def assert_checkdmarc_agrees(
    case: Case, parse: Callable[[str], object], errors: tuple[type[Exception], ...]
) -> None:
    """checkdmarc's verdict equals ours, or differs exactly where the case says it does."""
    try:
        parse(case.text)
        theirs = True
    except errors:
        theirs = False
    if case.checkdmarc_differs:
        assert theirs != case.valid, f"checkdmarc now agrees; drop the note: {case.checkdmarc_differs}"
    else:
        assert theirs == case.valid


@pytest.mark.parametrize("case", POLICIES, ids=_ids(POLICIES))
def test_policy_verdict(case: Case) -> None:
    """parse_policy accepts or rejects each policy as RFC 8461 §3.2 says, citing the RFC."""
    assert_verdict(case, parse_policy, PolicyError)
    if not case.valid:
        with pytest.raises(PolicyError, match="RFC 8461"):
            parse_policy(case.text)


@pytest.mark.parametrize("case", POLICIES, ids=_ids(POLICIES))
def test_policy_checkdmarc_agrees(case: Case) -> None:
    """checkdmarc's policy parser gives the same verdict, except where noted."""
    assert_checkdmarc_agrees(
        case, cd_sts.parse_mta_sts_policy, (cd_sts.MTASTSPolicySyntaxError, KeyError, ValueError)
    )


@pytest.mark.parametrize("case", STS_RECORDS, ids=_ids(STS_RECORDS))
def test_sts_record_verdict(case: Case) -> None:
    """parse_sts_record accepts or rejects each record as RFC 8461 §3.1 says."""
    assert_verdict(case, parse_sts_record, RecordError)


@pytest.mark.parametrize("case", STS_RECORDS, ids=_ids(STS_RECORDS))
def test_sts_record_checkdmarc_agrees(case: Case) -> None:
    """checkdmarc's STS record parser gives the same verdict, except where noted."""
    assert_checkdmarc_agrees(case, cd_sts.parse_mta_sts_record, (cd_sts.MTASTSError,))


@pytest.mark.parametrize("case", TLSRPT_RECORDS, ids=_ids(TLSRPT_RECORDS))
def test_tlsrpt_record_verdict(case: Case) -> None:
    """parse_tlsrpt_record accepts or rejects each record as RFC 8460 §3 says."""
    assert_verdict(case, parse_tlsrpt_record, RecordError)


@pytest.mark.parametrize("case", TLSRPT_RECORDS, ids=_ids(TLSRPT_RECORDS))
def test_tlsrpt_record_checkdmarc_agrees(case: Case) -> None:
    """checkdmarc's TLS-RPT record parser gives the same verdict, except where noted."""
    assert_checkdmarc_agrees(
        case, cd_tlsrpt.parse_smtp_tls_reporting_record, (cd_tlsrpt.SMTPTLSReportingError,)
    )


@pytest.mark.parametrize(("pattern", "host", "expected", "why"), MX, ids=[m[3] for m in MX])
def test_mx_matches(pattern: str, host: str, expected: bool, why: str) -> None:
    """mx_matches follows RFC 8461 §4.1: one-label wildcards, no case, trailing dot fine."""
    assert mx_matches(pattern, host) is expected


@pytest.mark.parametrize(("pattern", "host", "expected", "why"), MX, ids=[m[3] for m in MX])
def test_mx_checkdmarc_agrees(pattern: str, host: str, expected: bool, why: str) -> None:
    """checkdmarc ≥ 6.0.4 matches MX the same way (older releases let '*' span labels)."""
    assert cd_sts.mx_in_mta_sts_patterns(host.rstrip("."), [pattern]) is expected


@pytest.mark.parametrize(
    ("version", "text", "expected"),
    [
        ("v=STSv1", "v=STSv1; id=abc", True),
        ("v=STSv1", "v=STSv1 ; id=abc", True),
        ("v=STSv1", '"v=STSv1; id=!"', True),
        ("v=STSv1", "v=STSv10; id=abc", False),
        ("v=STSv1", "v=STSv1", False),
        ("v=STSv1", "V=STSv1; id=abc", False),
        ("v=STSv1", "google-site-verification=abc", False),
        ("v=TLSRPTv1", "v=TLSRPTv1; rua=mailto:a@example.com", True),
        ("v=TLSRPTv1", "v=TLSRPTv1x; rua=mailto:a@example.com", False),
    ],
)
def test_which_txt_records_count(version: str, text: str, expected: bool) -> None:
    """Only TXT data beginning '<version>;' (white space allowed before ';') is a record of that kind."""
    assert declares(version, text) is expected


@pytest.mark.parametrize(
    "uri",
    [
        "https://a[b/",
        "https://a]b/x",
        "https://[::1/",
        "https://[::1]/v1/tlsrpt",
        "https://[v1.x]/",
        "https://a.example:99999/",
    ],
)
def test_tlsrpt_uri_with_a_bad_authority_is_a_problem_not_an_exception(uri: str) -> None:
    """A https rua URI with brackets or a bad port is a problem string, never an exception."""
    problem = tlsrpt_uri_problem(uri)
    assert isinstance(problem, str) and problem
    with pytest.raises(RecordError, match="RFC 8460"):
        parse_tlsrpt_record(f"v=TLSRPTv1; rua={uri}")
