"""The onboarding rules alone: fake probe answers in, a state and findings out (no network)."""

from __future__ import annotations

import pytest

from mtasts.checks.onboarding import caa_forbids, onboarding
from mtasts.model.config import Domain, load_config
from mtasts.model.findings import Severity
from mtasts.model.vocabulary import Onboarding
from mtasts.probes.custom_hostnames import Caa, CloudflareApiError, CustomHostnameStatus
from mtasts.probes.dns import DnsAnswer, DnsStatus
from mtasts.probes.errors import DnsError, DnsFailure, PolicyCertificateError
from mtasts.probes.prober import PolicyAtAddress, PolicyFetch

ZONE = "mtasts.provider.example"


def customer(**delegation: str) -> Domain:
    deployment = load_config(
        {
            "mta-sts:cloudflareAccountId": "0123456789abcdef0123456789abcdef",
            "mta-sts:delegation": {"zone": ZONE, **delegation},
            "mta-sts:defaults": {
                "mode": "enforce",
                "mx": ["mx.provider.example"],
                "tlsrpt": ["mailto:r@p.example"],
            },
            "mta-sts:domains": {"shop.example": {"hosting": "delegated"}},
        }
    )
    return deployment.domain("shop.example")


def good_cnames(domain: Domain) -> dict[str, DnsAnswer]:
    return {r.name: DnsAnswer(r.name, "CNAME", DnsStatus.OK, (r.content,)) for r in domain.records}


NO_CAA = Caa("mta-sts.shop.example")
SERVED = PolicyFetch("mta-sts.shop.example")


def test_everything_in_place_is_serving() -> None:
    """Right CNAMEs, no CAA, a handshake that worked: serving, every finding ok."""
    domain = customer()
    result = onboarding(domain, good_cnames(domain), NO_CAA, fetched=SERVED)
    assert result.state is Onboarding.SERVING and not result.pending
    assert {f.severity for f in result.findings} == {Severity.OK}


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (DnsStatus.NXDOMAIN, "has not created _mta-sts.shop.example."),
        (DnsStatus.NODATA, "a CNAME must stand alone"),
    ],
)
def test_a_missing_cname_is_pending_missing(status: DnsStatus, words: str) -> None:
    """No CNAME at _mta-sts (absent, or the name holds a hand-made TXT): pending, the line to create named."""
    domain = customer()
    answers = good_cnames(domain)
    answers["_mta-sts.shop.example"] = DnsAnswer("_mta-sts.shop.example", "CNAME", status)
    result = onboarding(domain, answers, NO_CAA, fetched=SERVED)
    assert result.state is Onboarding.MISSING
    [warning] = [
        f for f in result.findings if f.severity is Severity.WARNING and f.check == "onboarding-cname"
    ]
    assert words in warning.reason


def test_a_cname_elsewhere_names_both_targets() -> None:
    """A CNAME to another provider: pending elsewhere, with where it points and the line it needs."""
    domain = customer()
    answers = good_cnames(domain)
    answers["mta-sts.shop.example"] = DnsAnswer(
        "mta-sts.shop.example", "CNAME", DnsStatus.OK, ("old.host.example.",)
    )
    result = onboarding(domain, answers, NO_CAA, fetched=SERVED)
    assert result.state is Onboarding.ELSEWHERE
    assert any("points at old.host.example, not mta-sts-fallback." in f.reason for f in result.findings)


def test_a_failed_lookup_is_an_error_not_absent() -> None:
    """A CNAME question that got no answer is an error (nothing was checked), never 'missing' alone."""
    domain = customer()
    answers = good_cnames(domain)
    error = DnsError(
        "mta-sts.shop.example", "CNAME", DnsFailure.TIMEOUT, "mta-sts.shop.example CNAME: no answer"
    )
    answers["mta-sts.shop.example"] = DnsAnswer("mta-sts.shop.example", "CNAME", DnsStatus.ERROR, error=error)
    result = onboarding(domain, answers, NO_CAA, fetched=SERVED)
    assert any(f.severity is Severity.ERROR for f in result.findings)


@pytest.mark.parametrize(
    ("records", "issuers", "forbids"),
    [
        ((), ("letsencrypt.org",), False),
        (((0, "issue", "letsencrypt.org"),), ("letsencrypt.org", "pki.goog"), False),
        (((0, "issue", "letsencrypt.org; validationmethods=http-01"),), ("letsencrypt.org",), False),
        (((0, "issue", "digicert.com"),), ("letsencrypt.org", "pki.goog", "ssl.com"), True),
        (((0, "issue", ";"),), ("letsencrypt.org",), True),
        (((0, "issuewild", "digicert.com"), (0, "iodef", "mailto:x@y.example")), ("letsencrypt.org",), False),
        (((0, "issue", "Letsencrypt.org"),), ("letsencrypt.org",), False),
        # RFC 8659 §4.1: a critical property of a tag the CA does not know forbids; a known one does not.
        (((0, "issue", "letsencrypt.org"), (128, "tbs", "x")), ("letsencrypt.org",), True),
        (((128, "issue", "letsencrypt.org"), (0, "tbs", "x")), ("letsencrypt.org",), False),
        (((128, "iodef", "mailto:x@y.example"),), ("letsencrypt.org",), False),
        # RFC 8657: an account binding Cloudflare's account cannot match; methods without http-01.
        (
            ((0, "issue", "letsencrypt.org; accounturi=https://acme.example/acct/1"),),
            ("letsencrypt.org",),
            True,
        ),
        (((0, "issue", "letsencrypt.org; validationmethods=dns-01"),), ("letsencrypt.org",), True),
        (((0, "issue", "letsencrypt.org;validationmethods=dns-01,http-01"),), ("letsencrypt.org",), False),
        (
            ((0, "issue", "letsencrypt.org; validationmethods=dns-01"), (0, "issue", "pki.goog")),
            ("letsencrypt.org", "pki.goog"),
            False,
        ),
    ],
)
def test_caa_forbids_as_rfc_8659_reads_it(
    records: tuple[tuple[int, str, str], ...], issuers: tuple[str, ...], forbids: bool
) -> None:
    """Only issue properties count for a non-wildcard name; none allowed means forbidden; ';' allows none."""
    assert caa_forbids(Caa("shop.example", records), issuers) is forbids


def test_caa_for_the_chosen_ca_only() -> None:
    """certificateAuthority: google is forbidden by a CAA that lists only letsencrypt.org."""
    domain = customer(certificateAuthority="google")
    caa = Caa("shop.example", ((0, "issue", "letsencrypt.org"),))
    result = onboarding(domain, good_cnames(domain), caa, fetched=SERVED)
    assert result.state is Onboarding.CAA_FORBIDS
    assert any('shop.example. CAA 0 issue "pki.goog"' in f.reason for f in result.findings)


def test_caa_with_an_active_certificate_serves_and_warns() -> None:
    """The API says active: serving, with the CAA warning (the next renewal would fail)."""
    domain = customer()
    caa = Caa("shop.example", ((0, "issue", "digicert.com"),))
    active = CustomHostnameStatus("mta-sts.shop.example", "active", "active")
    result = onboarding(domain, good_cnames(domain), caa, active, asked=True, fetched=SERVED)
    assert result.state is Onboarding.SERVING
    assert any(f.check == "onboarding-caa" and f.severity is Severity.WARNING for f in result.findings)


def test_certificate_pending_from_the_api_or_the_handshake() -> None:
    """Pending: the API's pending_validation, a hostname it lacks, or (no token) a bad certificate."""
    domain = customer()
    cnames = good_cnames(domain)
    pending = CustomHostnameStatus("mta-sts.shop.example", "pending", "pending_validation", ("dcv pending",))
    assert onboarding(domain, cnames, NO_CAA, pending, asked=True).state is Onboarding.CERTIFICATE_PENDING
    assert onboarding(domain, cnames, NO_CAA, None, asked=True).state is Onboarding.CERTIFICATE_PENDING
    bad = PolicyCertificateError(
        "mta-sts.shop.example", "the certificate is not valid for mta-sts.shop.example"
    )
    fetched = PolicyFetch("mta-sts.shop.example", (PolicyAtAddress("192.0.2.1", error=bad),))
    found = onboarding(domain, cnames, NO_CAA, fetched=fetched)
    assert found.state is Onboarding.CERTIFICATE_PENDING
    refused = onboarding(
        domain, cnames, NO_CAA, CloudflareApiError("HTTP 403: Authentication error"), fetched=SERVED
    )
    assert refused.state is Onboarding.SERVING
    assert any(f.severity is Severity.INFO and "Authentication error" in f.reason for f in refused.findings)


def test_caa_read_through_the_customers_cname_names_the_target() -> None:
    """A CAA set found by chasing mta-sts.<c>'s alias is the target's: the operator's to fix."""
    domain = customer()
    target = f"mta-sts-fallback.{ZONE}"
    caa = Caa("mta-sts.shop.example", ((0, "issue", "digicert.com"),), alias=target)
    result = onboarding(domain, good_cnames(domain), caa, fetched=SERVED)
    assert result.state is Onboarding.CAA_FORBIDS
    [finding] = [f for f in result.findings if f.check == "onboarding-caa"]
    assert f"CAA at {target}, which mta-sts.shop.example is an alias of" in finding.reason
    assert f"the operator must add {target}. CAA" in finding.reason


def test_a_cname_chain_counts_where_it_ends() -> None:
    """A chain reaching our name is in place (named); one that ends elsewhere names every hop."""
    domain = customer()
    answers = good_cnames(domain)
    sts = next(r for r in domain.records if r.name.startswith("_mta-sts."))
    hop = "_mta-sts.hop.example"
    answers[sts.name] = DnsAnswer(sts.name, "CNAME", DnsStatus.OK, (f"{hop}.",))
    answers[hop] = DnsAnswer(hop, "CNAME", DnsStatus.OK, (sts.content.upper(),))
    result = onboarding(domain, answers, NO_CAA, fetched=SERVED)
    assert result.state is Onboarding.SERVING
    assert any(f.reason.endswith(f"through {hop}") for f in result.findings), result.findings
    answers[hop] = DnsAnswer(hop, "CNAME", DnsStatus.OK, ("gone.example.",))
    answers["gone.example"] = DnsAnswer("gone.example", "CNAME", DnsStatus.NXDOMAIN)
    dangling = onboarding(domain, answers, NO_CAA, fetched=SERVED)
    assert dangling.state is Onboarding.ELSEWHERE
    assert any(f"points at {hop} (then gone.example)" in f.reason for f in dangling.findings)


def test_a_timed_out_validation_says_how_to_start_it_again() -> None:
    """validation_timed_out: pending, and the finding says Cloudflare stopped and what restarts it."""
    domain = customer()
    timed_out = CustomHostnameStatus("mta-sts.shop.example", "pending", "validation_timed_out")
    result = onboarding(domain, good_cnames(domain), NO_CAA, timed_out, asked=True, fetched=SERVED)
    assert result.state is Onboarding.CERTIFICATE_PENDING
    [finding] = [f for f in result.findings if f.check == "onboarding-certificate"]
    assert "Cloudflare has stopped trying" in finding.reason
    assert "`pulumi up --replace` the resource shop.example-custom-hostname" in finding.reason


class AnsweringProber:
    """A prober whose DNS answers are given (NODATA for anything else); ``asked`` records the questions."""

    def __init__(self, answers: dict[tuple[str, str], DnsAnswer]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str]] = []

    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        self.asked.append((name, rdtype))
        return self.answers.get((name, rdtype), DnsAnswer(name, rdtype, DnsStatus.NODATA))


def test_the_caa_climb_reaches_the_top_level_domain_and_names_an_alias() -> None:
    """RFC 8659 §3: the climb asks every name up to and including the TLD; a set found at an alias
    is recorded as its target's."""
    import asyncio

    from mtasts.probes.custom_hostnames import relevant_caa

    tld = DnsAnswer("example", "CAA", DnsStatus.OK, ('0 issue "digicert.com"',))
    prober = AnsweringProber({("example", "CAA"): tld})
    found = asyncio.run(relevant_caa(prober, "mta-sts.shop.example"))  # type: ignore[arg-type]
    assert (found.name, found.records, found.alias) == ("example", ((0, "issue", "digicert.com"),), None)
    assert [n for n, t in prober.asked if t == "CAA"] == ["mta-sts.shop.example", "shop.example", "example"]
    target = f"mta-sts-fallback.{ZONE}"
    aliased = AnsweringProber(
        {
            ("mta-sts.shop.example", "CAA"): DnsAnswer(
                "mta-sts.shop.example", "CAA", DnsStatus.OK, ('0 issue ";"',)
            ),
            ("mta-sts.shop.example", "CNAME"): DnsAnswer(
                "mta-sts.shop.example", "CNAME", DnsStatus.OK, (f"{target}.",)
            ),
        }
    )
    found = asyncio.run(relevant_caa(aliased, "mta-sts.shop.example"))  # type: ignore[arg-type]
    assert (found.name, found.alias) == ("mta-sts.shop.example", target)


def test_a_proxied_policy_host_that_serves_our_policy_is_in_place() -> None:
    """mta-sts.<c> with no CNAME to see (a customer zone on Cloudflare proxying it) that serves this
    stack's exact policy is in place; serving other bytes, it is still missing."""
    from mtasts.probes.https import PolicyResponse

    domain = customer()
    answers = good_cnames(domain)
    host = domain.policy_host
    answers[host] = DnsAnswer(host, "CNAME", DnsStatus.NODATA)

    def served(body: bytes) -> PolicyFetch:
        response = PolicyResponse(host, "192.0.2.1", 200, "text/plain", body, "TLSv1.3")
        return PolicyFetch(host, (PolicyAtAddress("192.0.2.1", response=response),))

    ours = onboarding(domain, answers, NO_CAA, fetched=served(domain.policy_text.encode()))
    assert ours.state is Onboarding.SERVING
    assert any("serves this stack's policy (proxied by Cloudflare)" in f.reason for f in ours.findings)
    other = onboarding(
        domain, answers, NO_CAA, fetched=served(b"version: STSv1\r\nmode: none\r\nmax_age: 1\r\n")
    )
    assert other.state is Onboarding.MISSING
