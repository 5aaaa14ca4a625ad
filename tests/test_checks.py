"""The pure rules of ``mtasts.checks`` over hand-made probe answers: no servers, no network."""

from __future__ import annotations

import pytest

from mtasts import checks
from mtasts.model.findings import Finding, Severity
from mtasts.probes import (
    DnsAnswer,
    DnsError,
    DnsFailure,
    DnsStatus,
    MxAnswer,
    PolicyAtAddress,
    PolicyCertificateError,
    PolicyConnectError,
    PolicyConnectTimeoutError,
    PolicyContentTypeError,
    PolicyDnsError,
    PolicyEncodingError,
    PolicyFetch,
    PolicyFetchError,
    PolicyProtocolError,
    PolicyRedirectError,
    PolicyResponse,
    PolicySizeError,
    PolicyStatusError,
    PolicyTimeoutError,
    SmtpCertificateError,
    SmtpConnectError,
    SmtpTemporaryError,
    StarttlsAtAddress,
    StarttlsProbe,
    StarttlsSuccess,
)
from mtasts.rfc.policy import Mode, Policy

E, W, INFO, OK = Severity.ERROR, Severity.WARNING, Severity.INFO, Severity.OK
HOST = "mta-sts.example.com"
BODY = Policy(mode="enforce", max_age=604800, mx=("*.mx.example.com",)).render().encode()


def txt(*records: str, status: DnsStatus = DnsStatus.OK) -> DnsAnswer:
    return DnsAnswer(
        "_mta-sts.example.com", "TXT", status if records or status else DnsStatus.NODATA, records
    )


def failed_dns(
    failure: DnsFailure = DnsFailure.TIMEOUT, reason: str = "no DNS answer within 1 s"
) -> DnsError:
    return DnsError("example.com", "MX", failure, reason)


def mx(*hosts: str, records: int | None = None, status: DnsStatus = DnsStatus.OK) -> MxAnswer:
    return MxAnswer("example.com", status, hosts, len(hosts) if records is None else records)


def ok_at(address: str, body: bytes = BODY) -> PolicyAtAddress:
    return PolicyAtAddress(
        address, response=PolicyResponse(HOST, address, 200, "text/plain", body, "TLSv1.3")
    )


def failed_at(error: PolicyFetchError) -> PolicyAtAddress:
    assert error.address is not None
    return PolicyAtAddress(error.address, error=error)


def severities(found: list[Finding]) -> list[tuple[str, Severity]]:
    return [(f.check, f.severity) for f in found]


# --------------------------------------------------------------------------- TXT records


def test_one_valid_sts_record_is_ok_and_gives_its_id() -> None:
    """One v=STSv1 record beside another TXT gives the id and notes the ignored record."""
    record, found = checks.sts_record(txt("v=STSv1; id=abc123", "google-site-verification=x"))
    assert record is not None and record.id == "abc123"
    assert severities(found) == [("sts-record", OK)] and "1 other TXT record ignored" in found[0].reason


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (DnsAnswer("_mta-sts.example.com", "TXT", DnsStatus.NXDOMAIN), "no TXT record"),
        (txt("v=STSv1; id=a", "v=STSv1; id=b"), "2 v=STSv1 TXT records"),
        (txt("v=STSv1; id=not-valid!"), "is invalid"),
        (DnsAnswer("_mta-sts.example.com", "TXT", DnsStatus.ERROR, error=failed_dns()), "lookup failed"),
    ],
)
def test_sts_record_defects_are_errors(answer: DnsAnswer, words: str) -> None:
    """A missing, doubled, invalid or unanswered _mta-sts record is an error and no id."""
    record, found = checks.sts_record(answer)
    assert record is None and severities(found) == [("sts-record", E)] and words in found[0].reason


@pytest.mark.parametrize(
    ("records", "severity"),
    [((), W), (("v=TLSRPTv1; rua=mailto:a@example.com",), OK), (("v=TLSRPTv1; rua=ftp://x",), E)],
)
def test_tlsrpt_record(records: tuple[str, ...], severity: Severity) -> None:
    """No TLS-RPT record warns, a valid one passes, an invalid one is an error."""
    _, found = checks.tlsrpt_record(txt(*records))
    assert severities(found) == [("tlsrpt-record", severity)]


# --------------------------------------------------------------------------- the policy fetch


@pytest.mark.parametrize(
    ("error", "check"),
    [
        (PolicyTimeoutError(HOST, "stalled TLS handshake", "192.0.2.1", "tls"), "policy-timeout"),
        (PolicyConnectTimeoutError(HOST, "no answer", "192.0.2.1", "connect"), "policy-timeout"),
        (PolicyCertificateError(HOST, "wrong name", "192.0.2.1"), "policy-tls"),
        (PolicyRedirectError(HOST, "301", "192.0.2.1", 301, "https://x/"), "policy-redirect"),
        (PolicyStatusError(HOST, "404", "192.0.2.1", 404), "policy-status"),
        (PolicyContentTypeError(HOST, "html", "192.0.2.1", "text/html"), "policy-content-type"),
        (PolicyEncodingError(HOST, "gzip", "192.0.2.1", "gzip"), "policy-encoding"),
        (PolicySizeError(HOST, "big", "192.0.2.1", 65536), "policy-size"),
        (PolicyProtocolError(HOST, "bad head", "192.0.2.1"), "policy-fetch"),
        (PolicyConnectError(HOST, "refused", "192.0.2.1"), "policy-fetch"),
    ],
)
def test_each_fetch_error_class_has_its_check(error: PolicyFetchError, check: str) -> None:
    """The check name comes from the error's class; a connect timeout counts as a timeout."""
    body, found = checks.policy_fetch(PolicyFetch(HOST, (failed_at(error),)))
    assert body is None and severities(found) == [(check, E)]


def test_unresolvable_policy_host_is_a_fetch_error() -> None:
    """A policy host without address is one policy-fetch error carrying the DNS reason."""
    body, found = checks.policy_fetch(
        PolicyFetch(HOST, error=PolicyDnsError(HOST, f"{HOST} does not resolve"))
    )
    assert (
        body is None and severities(found) == [("policy-fetch", E)] and "does not resolve" in found[0].reason
    )


def test_a_bad_ipv6_address_fails_beside_a_good_ipv4_one() -> None:
    """A wrong certificate on the AAAA address is an error naming it, though IPv4 serves the policy."""
    bad = PolicyCertificateError(HOST, f"{HOST} at [::1]:443: not valid for {HOST}", "::1")
    body, found = checks.policy_fetch(PolicyFetch(HOST, (ok_at("127.0.0.1"), failed_at(bad))))
    assert body == BODY
    assert severities(found) == [("policy-tls", E)] and "[::1]:443" in found[0].reason


def test_an_unreachable_address_beside_a_working_one_is_a_warning() -> None:
    """One address refusing connections while another serves is a warning (clients try the next)."""
    dead = PolicyConnectError(HOST, "[::1]:443: Connection refused", "::1")
    body, found = checks.policy_fetch(PolicyFetch(HOST, (ok_at("127.0.0.1"), failed_at(dead))))
    assert body == BODY and severities(found) == [("policy-fetch", W)]


def test_addresses_serving_different_policies_is_an_error() -> None:
    """Two addresses with different bytes: senders get either, so it is an error."""
    other = Policy(mode="testing", max_age=604800, mx=("*.mx.example.com",)).render().encode()
    _, found = checks.policy_fetch(PolicyFetch(HOST, (ok_at("127.0.0.1"), ok_at("::1", other))))
    assert severities(found) == [("policy-fetch", E)] and "2 different policies" in found[0].reason


def test_invalid_policy_is_a_syntax_error() -> None:
    """A body that does not parse gives policy-syntax and no policy."""
    policy, found = checks.parsed_policy(b"version: STSv1\r\nmode: enforced\r\n", HOST)
    assert policy is None and severities(found) == [("policy-syntax", E)]


@pytest.mark.parametrize(
    ("mode", "max_age", "expected"),
    [
        ("enforce", 3600, [("policy", OK), ("policy-max-age", W)]),
        ("enforce", 86400, [("policy", OK)]),
        ("testing", 3600, [("policy", OK), ("policy-mode", INFO)]),
        ("none", 60, [("policy", OK), ("policy-mode", INFO)]),
    ],
)
def test_policy_mode_and_max_age(mode: str, max_age: int, expected: list[tuple[str, Severity]]) -> None:
    """enforce under a day warns; testing and none are informational."""
    mx_ = ("*.mx.example.com",) if mode != "none" else ()
    assert severities(checks.policy_findings(Policy(mode=mode, max_age=max_age, mx=mx_))) == expected


def test_short_max_age_carries_the_config_key() -> None:
    """The one max_age rule takes the stack key, so the loader can report it as a config warning."""
    found = checks.short_max_age(Mode.ENFORCE, 600, "domains.example.com.maxAge")
    assert found is not None and found.key == "domains.example.com.maxAge" and found.severity is W
    assert checks.short_max_age(Mode.TESTING, 600) is None


# --------------------------------------------------------------------------- MX


@pytest.mark.parametrize(
    ("answer", "mode", "severity"),
    [
        (mx("a.mx.example.com"), "enforce", OK),
        (mx(status=DnsStatus.NODATA), "enforce", E),
        (mx(status=DnsStatus.NODATA), "testing", W),
        (mx(status=DnsStatus.NODATA), "none", INFO),
        (mx(records=1), "enforce", INFO),
        (MxAnswer("example.com", DnsStatus.ERROR, (), 0, failed_dns()), "enforce", E),
    ],
)
def test_mx_records(answer: MxAnswer, mode: str, severity: Severity) -> None:
    """MX present passes; none is an error only under enforce; null MX is info; a failed lookup errs."""
    assert checks.mx_records(answer, Mode(mode)).severity is severity


@pytest.mark.parametrize(("mode", "severity"), [("enforce", E), ("testing", W)])
def test_uncovered_mx_rule(mode: str, severity: Severity) -> None:
    """An uncovered MX is an error in enforce and a warning in testing, one finding per host."""
    hosts = ["a.mx.example.com", "b.other.net", "c.other.net"]
    found = checks.mx_coverage(Mode(mode), ["*.mx.example.com"], hosts)
    assert [(f.severity, f.reason.split()[2]) for f in found] == [
        (severity, "b.other.net"),
        (severity, "c.other.net"),
    ]


def test_mode_none_has_no_coverage_finding() -> None:
    """Under none senders apply nothing: coverage is not judged."""
    assert checks.mx_coverage(Mode.NONE, [], ["a.mx.example.com"]) == []


def test_one_label_wildcard_covers_exactly_one_label() -> None:
    """*.example.com does not cover a.b.example.com (RFC 8461 §4.1)."""
    [found] = checks.mx_coverage(Mode.ENFORCE, ["*.example.com"], ["a.b.example.com"])
    assert found.severity is E


# --------------------------------------------------------------------------- plan --check-mx


def live(answer: MxAnswer, mode: str = "enforce", allow: bool = False) -> list[tuple[str, Severity]]:
    return [
        (f.key or "", f.severity)
        for f in checks.live_mx("example.com", Mode(mode), ["*.mx.example.com"], answer, allow)
    ]


KEY = "domains.example.com.mx"


@pytest.mark.parametrize(
    "failure", [DnsFailure.TIMEOUT, DnsFailure.SERVFAIL, DnsFailure.CNAME_LOOP, DnsFailure.NO_FILES]
)
def test_check_mx_fails_closed_for_enforce(failure: DnsFailure) -> None:
    """An enforce domain whose MX lookup failed, however it failed, is an error for the gate."""
    answer = MxAnswer("example.com", DnsStatus.ERROR, (), 0, failed_dns(failure))
    assert live(answer) == [(KEY, E)]


def test_check_mx_unknown_allowed_or_not_enforce_is_a_warning() -> None:
    """--allow-unknown-mx, or a testing domain, turns the failed lookup into a warning."""
    answer = MxAnswer("example.com", DnsStatus.ERROR, (), 0, failed_dns())
    assert live(answer, allow=True) == [(KEY, W)]
    assert live(answer, mode="testing") == [(KEY, W)]


def test_check_mx_verdicts() -> None:
    """Covered is info, uncovered is an error in enforce, NXDOMAIN warns, null MX is info."""
    assert live(mx("a.mx.example.com")) == [(KEY, INFO)]
    assert live(mx("a.mx.example.com", "backup.other.net")) == [(KEY, E)]
    assert live(mx("backup.other.net"), mode="testing") == [(KEY, W)]
    assert live(mx(status=DnsStatus.NXDOMAIN)) == [(KEY, W)]
    assert live(mx(records=1)) == [(KEY, INFO)]


# --------------------------------------------------------------------------- STARTTLS


def good(address: str) -> StarttlsAtAddress:
    return StarttlsAtAddress(address, success=StarttlsSuccess("mx.example.com", address, "TLSv1.3"))


def bad(error: SmtpCertificateError | SmtpConnectError | SmtpTemporaryError) -> StarttlsAtAddress:
    return StarttlsAtAddress(error.address, error=error)


CERT_V6 = SmtpCertificateError("mx.example.com", "::1", "the certificate is not valid for mx.example.com")
DEAD_V6 = SmtpConnectError("mx.example.com", "::1", "[::1]:25: Connection refused")
BUSY = SmtpTemporaryError("mx.example.com", "127.0.0.1", "greeting answered 421 busy", 421, "greeting")


@pytest.mark.parametrize(
    ("results", "mode", "severity", "words"),
    [
        ((good("127.0.0.1"), bad(CERT_V6)), "enforce", E, "1 of 2 addresses fail: [::1]:25"),
        ((good("127.0.0.1"), bad(CERT_V6)), "testing", W, "fix this before enforce"),
        ((good("127.0.0.1"), bad(CERT_V6)), "none", INFO, "not enforced"),
        ((good("127.0.0.1"), bad(DEAD_V6)), "enforce", OK, "::1 did not answer"),
        ((bad(DEAD_V6),), "enforce", E, "no SMTP connection"),
        ((bad(BUSY),), "enforce", W, "421"),
        ((good("127.0.0.1"), good("::1")), "enforce", OK, "at all 2 reachable addresses"),
    ],
)
def test_starttls_verdict_over_every_address(
    results: tuple[StarttlsAtAddress, ...], mode: str, severity: Severity, words: str
) -> None:
    """Any address that answers and fails fails the host; dead ones only when all are; 421 is temporary."""
    found = checks.starttls(StarttlsProbe("mx.example.com", results), Mode(mode))
    assert found.severity is severity and words in found.reason, found.reason


def test_starttls_host_without_address() -> None:
    """An MX host that does not resolve is a failure naming why."""
    found = checks.starttls(StarttlsProbe("mx.example.com", no_address="NXDOMAIN"), Mode.ENFORCE)
    assert found.severity is E and "does not resolve: NXDOMAIN" in found.reason
