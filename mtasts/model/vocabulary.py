"""The project's vocabulary as types: every mode, hosting, DNS mode, routing, reports choice,
record role and finding check is a member of one ``StrEnum`` here (``Mode`` lives in
``mtasts.rfc.policy``, since RFC 8461 defines it, and is re-exported).

A ``StrEnum`` member is equal to its value and serialises as it, so JSON output and stack files
read exactly as before; what changes is that a misspelt name is an ``AttributeError`` at import
instead of a comparison that is silently never true. Compare with the members
(``domain.routing is Routing.ROUTE``), never with bare strings.
"""

from __future__ import annotations

import enum

from mtasts.rfc.policy import Mode

__all__ = [
    "Check",
    "Dns",
    "Endpoint",
    "Hosting",
    "LimitScope",
    "Mode",
    "Onboarding",
    "RecordRole",
    "Reports",
    "Routing",
    "WorkersPlan",
    "ZonePlan",
    "values",
]


class Hosting(enum.StrEnum):
    """Where the policy file is served from."""

    CLOUDFLARE_WORKER = "cloudflare-worker"
    GITHUB_PAGES = "github-pages"
    DELEGATED = "delegated"
    """A customer's domain: a Cloudflare for SaaS custom hostname in the operator's zone, reached
    through the CNAMEs the customer creates (``mtasts.model.delegation``)."""


class Dns(enum.StrEnum):
    """Who creates the domain's records."""

    CLOUDFLARE = "cloudflare"
    """Pulumi creates them in the domain's Cloudflare zone."""
    EXTERNAL = "external"
    """``plan`` prints them as zone-file lines; the operator creates them."""


class Routing(enum.StrEnum):
    """How a Worker-hosted policy host reaches the Worker."""

    ROUTE = "route"
    """A Worker route ``mta-sts.<d>/*`` plus a proxied AAAA ``100::``."""
    CUSTOM_DOMAIN = "custom-domain"
    """A Workers custom domain, which carries its own certificate."""
    NONE = "none"
    """Nothing routes ``mta-sts.<d>`` to the Worker: the one ``pulumi up`` between ``route`` (or
    Pages) and ``custom-domain``, which Cloudflare cannot hold on one name at once."""


class Reports(enum.StrEnum):
    """Whether the stack's built-in TLS report receiver takes a domain's reports."""

    BUILTIN = "builtin"
    NONE = "none"


class RecordRole(enum.StrEnum):
    """The role of one DNS record of a domain; it names the Pulumi resource and never changes."""

    POLICY_HOST = "policy-host"
    STS = "sts"
    TLSRPT = "tlsrpt"


class Endpoint(enum.StrEnum):
    """Which kind of server a probe spoke to: the policy host over HTTPS, or an MX over SMTP."""

    POLICY_HOST = "policy-host"
    MX = "mx"


class Check(enum.StrEnum):
    """The stable machine-readable name of every rule that reports a ``Finding``.

    ``readiness`` filters ``verify``'s findings by members of this type, so renaming a check is a
    change here that every filter sees, never a string that silently stops matching.
    """

    # verify: records and MX
    STS_RECORD = "sts-record"
    TLSRPT_RECORD = "tlsrpt-record"
    MX_RECORDS = "mx-records"
    MX_COVERAGE = "mx-coverage"
    STARTTLS = "starttls"
    # verify: the policy file
    POLICY = "policy"
    POLICY_FETCH = "policy-fetch"
    POLICY_SYNTAX = "policy-syntax"
    POLICY_MODE = "policy-mode"
    POLICY_MAX_AGE = "policy-max-age"
    # verify: certificates ahead of time, DANE
    MX_CERTIFICATE = "mx-certificate"
    POLICY_CERTIFICATE = "policy-certificate"
    DANE = "dane"
    DANE_TLSRPT = "dane-tlsrpt"
    # verify: why the policy fetch failed, most specific first (``mtasts.checks.fetch_check``)
    POLICY_TIMEOUT = "policy-timeout"
    POLICY_TLS = "policy-tls"
    POLICY_REDIRECT = "policy-redirect"
    POLICY_STATUS = "policy-status"
    POLICY_CONTENT_TYPE = "policy-content-type"
    POLICY_ENCODING = "policy-encoding"
    POLICY_SIZE = "policy-size"
    # verify --stack: drift from the stack
    DRIFT = "drift"
    DRIFT_POLICY = "drift-policy"
    DRIFT_ID = "drift-id"
    DRIFT_TLSRPT = "drift-tlsrpt"
    DRIFT_WORKER = "drift-worker"
    """Which of the stack's policy Worker scripts (shards) should serve a domain whose policy fails."""
    VERIFY = "verify"
    # adopt: live vs planned, as senders see it
    ADOPT_POLICY = "adopt-policy"
    ADOPT_MODE = "adopt-mode"
    ADOPT_MX = "adopt-mx"
    ADOPT_MAX_AGE = "adopt-max-age"
    ADOPT_ID = "adopt-id"
    ADOPT_TLSRPT = "adopt-tlsrpt"
    ADOPT_IMPORT = "adopt-import"
    # watch: Pulumi's own drift check (pulumi preview --expect-no-changes)
    PULUMI_DRIFT = "pulumi-drift"
    # readiness
    READINESS = "readiness"
    REPORTS = "reports"
    REPORT_DAYS = "report-days"
    REPORT_AGE = "report-age"
    REPORT_ORGANIZATIONS = "report-organizations"
    REPORT_FAILURES = "report-failures"
    REPORT_ORGANIZATION = "report-organization"
    # plan --base
    REMOVAL = "removal"
    # verify --stack: a delegated domain's onboarding (mtasts.checks.onboarding)
    ONBOARDING = "onboarding"
    ONBOARDING_CNAME = "onboarding-cname"
    ONBOARDING_CAA = "onboarding-caa"
    ONBOARDING_CERTIFICATE = "onboarding-certificate"
    # loader warnings
    SHORT_MAX_AGE = "short-max-age"
    NO_TLSRPT = "no-tlsrpt"
    TLSRPT_ON_ENFORCED_DOMAIN = "tlsrpt-on-enforced-domain"
    STACK_SIZE = "stack-size"
    POLICY_HOST_UNSERVED = "policy-host-unserved"
    # plan --base
    ROUTING_CHANGE = "routing-change"


class WorkersPlan(enum.StrEnum):
    """The account's Workers plan, which sets the per-account Worker limits."""

    FREE = "free"
    PAID = "paid"


class ZonePlan(enum.StrEnum):
    """A zone's Cloudflare plan, which sets its DNS record quota."""

    FREE = "free"
    """A Free zone created on or after 2024-09-01 (200 records)."""
    FREE_LEGACY = "free-legacy"
    """A Free zone created before 2024-09-01 (1,000 records)."""
    PRO = "pro"
    BUSINESS = "business"
    ENTERPRISE = "enterprise"


class LimitScope(enum.StrEnum):
    """What one limit of ``mtasts.model.limits.LIMITS`` is counted over."""

    ZONE = "zone"
    SCRIPT = "script"
    ACCOUNT = "account"
    STACK = "stack"


class Onboarding(enum.StrEnum):
    """Where a delegated customer stands; every state but ``serving`` is pending, not a failure."""

    MISSING = "missing"
    """A CNAME the customer must create is not there."""
    ELSEWHERE = "elsewhere"
    """A CNAME points somewhere other than the operator's target."""
    CAA_FORBIDS = "caa-forbids"
    """The customer's CAA records let no CA Cloudflare orders from issue for ``mta-sts.<c>``."""
    CERTIFICATE_PENDING = "certificate-pending"
    """The CNAMEs are in place; the custom hostname's certificate is not active yet."""
    SERVING = "serving"
    """The CNAMEs are in place and the certificate is active: the usual checks apply."""


def values(kind: type[enum.StrEnum]) -> tuple[str, ...]:
    """The members' values in declaration order, for messages and ``choice`` validators."""
    return tuple(member.value for member in kind)
