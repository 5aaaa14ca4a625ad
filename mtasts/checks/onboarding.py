"""A delegated customer's onboarding: where it stands, from its CNAMEs, CAA and certificate.

Pure: probe answers in, one ``Onboarding`` state and its findings out. Every state but
``serving`` is pending, the customer's next step, not a failure of the stack: its findings are
warnings. Only what could not be checked (a DNS lookup that failed) is an error, since a
verdict never claims more than was checked.

Order: the CNAMEs (missing, or pointing elsewhere), then the CAA set that a CA reads for
``mta-sts.<customer>`` (RFC 8659 §3; forbidding every CA Cloudflare orders from is pending
unless the API says the certificate is active), then the certificate (the Cloudflare API's word
when it was asked; otherwise the TLS handshake at the policy host: a certificate not valid for
the name there means Cloudflare has not issued it yet).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mtasts.model.config import Domain
from mtasts.model.findings import Finding, Severity
from mtasts.model.vocabulary import Check, Onboarding, RecordRole
from mtasts.probes.custom_hostnames import Caa, CloudflareApiError, CustomHostnameStatus
from mtasts.probes.dns import DnsAnswer, DnsStatus
from mtasts.probes.errors import PolicyTlsError
from mtasts.probes.prober import PolicyFetch
from mtasts.rfc.names import normalize_name
from mtasts.rfc.policy import policy_id

TIMED_OUT = "_timed_out"
"""The end of the certificate states in which Cloudflare gives up (``validation_timed_out`` and its
kin: terraform-provider-cloudflare ``internal/services/custom_hostname/list_data_source_schema.go``),
once the CA's validation token expires (7 days for Let's Encrypt, 14 for Google Trust Services and
SSL.com: developers.cloudflare.com/ssl/reference/validation-backoff-schedule/)."""
NOT_ASKED = None
"""``api`` when no token was set: the certificate is judged from the TLS handshake."""
ApiAnswer = CustomHostnameStatus | CloudflareApiError | None
"""The custom hostname's status; the API's failure; None (not asked, or asked and absent: see ``asked``)."""


@dataclass(frozen=True)
class OnboardingResult:
    state: Onboarding
    findings: tuple[Finding, ...]

    @property
    def pending(self) -> bool:
        return self.state is not Onboarding.SERVING


def _serves_ours(domain: Domain, fetched: PolicyFetch | None) -> bool:
    """Whether every address of the policy host served this stack's policy bytes for ``domain``."""
    body = fetched.body if fetched is not None else None
    return body is not None and policy_id(body) == domain.policy_id


def _cname(
    domain: Domain, answers: Mapping[str, DnsAnswer], fetched: PolicyFetch | None = None
) -> tuple[Onboarding | None, list[Finding]]:
    state: Onboarding | None = None
    found: list[Finding] = []
    for record in domain.records:
        answer = answers.get(record.name)
        want = normalize_name(record.content)
        line = " ".join(record.zone_line().split("\t"))
        if answer is None or answer.error is not None:
            why = answer.error.reason if answer is not None and answer.error is not None else "not asked"
            found.append(
                Finding(Check.ONBOARDING_CNAME, Severity.ERROR, f"{record.name} CNAME lookup failed: {why}")
            )
            state = state or Onboarding.MISSING
            continue
        hidden = answer.status is DnsStatus.NODATA and record.role is RecordRole.POLICY_HOST
        if hidden and _serves_ours(domain, fetched):
            # A customer zone on Cloudflare that proxies its CNAME to a Cloudflare for SaaS zone
            # ("orange-to-orange") answers with Cloudflare's addresses, not the CNAME; what senders
            # fetch there is the policy this stack serves, so the name is in place.
            reason = (
                f"{record.name}: no CNAME to see, but it serves this stack's policy (proxied by Cloudflare)"
            )
            found.append(Finding(Check.ONBOARDING_CNAME, Severity.OK, reason))
            continue
        if answer.status is not DnsStatus.OK:
            extra = (
                " (the name holds other records; a CNAME must stand alone)"
                if answer.status is DnsStatus.NODATA
                else ""
            )
            found.append(
                Finding(
                    Check.ONBOARDING_CNAME,
                    Severity.WARNING,
                    f"missing: the customer has not created {line}{extra}",
                )
            )
            state = state or Onboarding.MISSING
            continue
        chain = _chain(record.name, answers)
        if want not in chain:
            through = f" (then {' → '.join(chain[1:])})" if len(chain) > 1 else ""
            reason = (
                f"{record.name} CNAME points at {chain[0]}{through}, not {want}: "
                f"the customer must change it to {line}"
            )
            found.append(Finding(Check.ONBOARDING_CNAME, Severity.WARNING, reason))
            state = Onboarding.ELSEWHERE if state in (None, Onboarding.ELSEWHERE) else state
            continue
        # A chain that reaches our name works: resolvers follow it (RFC 1034 §3.6.2), senders too.
        hops = chain[: chain.index(want) + 1]
        via = f" through {' → '.join(hops[:-1])}" if len(hops) > 1 else ""
        found.append(Finding(Check.ONBOARDING_CNAME, Severity.OK, f"{record.name} CNAME {want}{via}"))
    return state, found


def _chain(name: str, answers: Mapping[str, DnsAnswer]) -> list[str]:
    """The CNAME targets from ``name`` on, as far as ``answers`` hold them (a loop ends it)."""
    chain: list[str] = []
    here = name
    while True:
        answer = answers.get(here)
        if answer is None or answer.status is not DnsStatus.OK or not answer.records:
            return chain
        here = normalize_name(answer.records[0])
        if here in chain:
            return chain
        chain.append(here)


CRITICAL = 128
"""The Issuer Critical flag (RFC 8659 §4.1): a CA that does not know the tag must not issue."""
KNOWN_TAGS = frozenset(
    {"issue", "issuewild", "iodef", "issuemail", "issuevmc", "contactemail", "contactphone"}
)
"""Tags of RFC 8659 §4.2-4.4, RFC 9495 (``issuemail``), and those the CA/Browser Forum defines for CAs
(``issuevmc``, ``contactemail``, ``contactphone``); a critical record with another tag forbids issuance."""
HTTP_VALIDATION = "http-01"
"""The ACME method of Cloudflare's ``ssl.method: http`` (RFC 8555 §8.3), as RFC 8657's
``validationmethods`` names it."""


def _permits(value: str, issuers: tuple[str, ...]) -> bool:
    """Whether one ``issue`` value lets one of ``issuers`` issue over HTTP validation for Cloudflare:
    its domain is one of them (RFC 8659 §4.2), no ``accounturi`` binds it to an ACME account of
    someone else's, and a ``validationmethods`` list (RFC 8657 §4) names ``http-01``."""
    domain, _, parameters = value.partition(";")
    if domain.strip().lower() not in issuers:
        return False
    for parameter in parameters.split(";"):
        key, _, listed = parameter.partition("=")
        key = key.strip().lower()
        if key == "accounturi":
            return False
        if key == "validationmethods" and HTTP_VALIDATION not in {m.strip() for m in listed.split(",")}:
            return False
    return True


def caa_forbids(caa: Caa, issuers: tuple[str, ...]) -> bool:
    """Whether the relevant set stops every one of ``issuers`` from issuing for a name that is not a
    wildcard: a critical record of a tag no CA need know (RFC 8659 §4.1), or ``issue`` records of which
    none permits one of them (§4.2; ``issuewild`` applies to wildcard names only, §4.3)."""
    if any(flags & CRITICAL and tag not in KNOWN_TAGS for flags, tag, _ in caa.records):
        return True
    issue = [value for _, tag, value in caa.records if tag == "issue"]
    return bool(issue) and not any(_permits(value, issuers) for value in issue)


def _caa(domain: Domain, caa: Caa) -> tuple[bool, Finding]:
    assert domain.delegation is not None
    issuers = domain.delegation.caa_issuers
    if caa.error is not None:
        return False, Finding(Check.ONBOARDING_CAA, Severity.ERROR, f"CAA lookup failed: {caa.error.reason}")
    if caa_forbids(caa, issuers):
        critical = sorted({t for f, t, _ in caa.records if f & CRITICAL and t not in KNOWN_TAGS})
        listed = ", ".join(sorted({v for _, t, v in caa.records if t == "issue"})) or "no CA by issue"
        why = f"a critical {', '.join(critical)} record no CA knows" if critical else f"only {listed}"
        if caa.alias is not None:
            # Read through the customer's CNAME: the set is the target's (ours), not the customer's.
            reason = (
                f"CAA at {caa.alias}, which {caa.name} is an alias of, allows {why}: no CA Cloudflare "
                f"orders from ({', '.join(issuers)}) may issue for {domain.policy_host}; the operator "
                f'must add {caa.alias}. CAA 0 issue "{issuers[0]}"'
            )
        else:
            reason = (
                f"CAA at {caa.name} allows {why}: no CA Cloudflare orders from "
                f"({', '.join(issuers)}) may issue for {domain.policy_host} over HTTP validation; "
                f'the customer must add {caa.name}. CAA 0 issue "{issuers[0]}"'
            )
        return True, Finding(Check.ONBOARDING_CAA, Severity.WARNING, reason)
    where = (
        f"CAA at {caa.name} allows {', '.join(issuers)}" if caa.records else "no CAA record: any CA may issue"
    )
    return False, Finding(Check.ONBOARDING_CAA, Severity.OK, where)


def _certificate(
    domain: Domain, api: ApiAnswer, asked: bool, fetched: PolicyFetch | None
) -> tuple[bool, list[Finding]]:
    """(pending, findings)."""
    host = domain.policy_host
    found: list[Finding] = []
    if isinstance(api, CustomHostnameStatus):
        if api.active:
            return False, [
                Finding(
                    Check.ONBOARDING_CERTIFICATE,
                    Severity.OK,
                    f"{host}: custom hostname and certificate active",
                )
            ]
        errors = f" ({'; '.join(api.errors)})" if api.errors else ""
        reason = f"{host}: custom hostname {api.status}, certificate {api.ssl_status}{errors}"
        if api.ssl_status.endswith(TIMED_OUT):
            reason += (
                "; Cloudflare has stopped trying: once the CNAMEs are in place, have it validate again "
                f"(`pulumi up --replace` the resource {domain.name}-custom-hostname)"
            )
        return True, [Finding(Check.ONBOARDING_CERTIFICATE, Severity.WARNING, f"pending: {reason}")]
    if asked and api is None:
        return True, [
            Finding(
                Check.ONBOARDING_CERTIFICATE,
                Severity.WARNING,
                f"pending: {host} is no custom hostname of the zone yet (pulumi up creates it)",
            )
        ]
    if isinstance(api, CloudflareApiError):
        found.append(
            Finding(Check.ONBOARDING_CERTIFICATE, Severity.INFO, f"could not ask Cloudflare: {api.reason}")
        )
    tls = [e for e in (fetched.errors if fetched else []) if isinstance(e, PolicyTlsError)]
    if tls:
        reason = (
            f"pending: {tls[0].reason} (the certificate is not issued yet; "
            "set CLOUDFLARE_API_TOKEN to ask Cloudflare)"
        )
        return True, [*found, Finding(Check.ONBOARDING_CERTIFICATE, Severity.WARNING, reason)]
    return False, found


def onboarding(
    domain: Domain,
    cnames: Mapping[str, DnsAnswer],
    caa: Caa,
    api: ApiAnswer = NOT_ASKED,
    asked: bool = False,
    fetched: PolicyFetch | None = None,
) -> OnboardingResult:
    """Where customer ``domain`` stands; ``asked``: the Cloudflare API answered ``api`` (None: absent)."""
    state, found = _cname(domain, cnames, fetched)
    blocked, caa_finding = _caa(domain, caa)
    found.append(caa_finding)
    pending, certificate = _certificate(domain, api, asked, fetched)
    found += certificate
    # A CA that CAA forbids cannot issue (nor renew): pending, whatever the handshake shows today,
    # unless Cloudflare says the certificate is active (then the CAA finding warns of renewal).
    active = isinstance(api, CustomHostnameStatus) and api.active
    if state is None and blocked and not active:
        state = Onboarding.CAA_FORBIDS
    if state is None and pending:
        state = Onboarding.CERTIFICATE_PENDING
    if state is None and any(f.severity is Severity.ERROR for f in found):
        state = Onboarding.MISSING
    state = state or Onboarding.SERVING
    severity = Severity.OK if state is Onboarding.SERVING else Severity.WARNING
    summary = "serving through the customer's CNAMEs" if state is Onboarding.SERVING else f"pending: {state}"
    return OnboardingResult(state, (Finding(Check.ONBOARDING, severity, summary), *found))
