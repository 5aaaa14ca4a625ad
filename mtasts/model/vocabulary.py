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

__all__ = ["Check", "Dns", "Hosting", "Mode", "RecordRole", "Reports", "Routing", "values"]


class Hosting(enum.StrEnum):
    """Where the policy file is served from."""

    CLOUDFLARE_WORKER = "cloudflare-worker"
    GITHUB_PAGES = "github-pages"


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


class Reports(enum.StrEnum):
    """Whether the stack's built-in TLS report receiver takes a domain's reports."""

    BUILTIN = "builtin"
    NONE = "none"


class RecordRole(enum.StrEnum):
    """The role of one DNS record of a domain; it names the Pulumi resource and never changes."""

    POLICY_HOST = "policy-host"
    STS = "sts"
    TLSRPT = "tlsrpt"


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
    # verify --stack: drift from the stack
    DRIFT = "drift"
    DRIFT_POLICY = "drift-policy"
    DRIFT_ID = "drift-id"
    DRIFT_TLSRPT = "drift-tlsrpt"
    VERIFY = "verify"
    # adopt: live vs planned, as senders see it
    ADOPT_POLICY = "adopt-policy"
    ADOPT_MODE = "adopt-mode"
    ADOPT_MX = "adopt-mx"
    ADOPT_MAX_AGE = "adopt-max-age"
    ADOPT_ID = "adopt-id"
    ADOPT_TLSRPT = "adopt-tlsrpt"
    ADOPT_IMPORT = "adopt-import"
    # readiness
    READINESS = "readiness"
    REPORTS = "reports"
    REPORT_DAYS = "report-days"
    REPORT_AGE = "report-age"
    REPORT_ORGANIZATIONS = "report-organizations"
    REPORT_FAILURES = "report-failures"
    # loader warnings
    SHORT_MAX_AGE = "short-max-age"
    NO_TLSRPT = "no-tlsrpt"
    TLSRPT_ON_ENFORCED_DOMAIN = "tlsrpt-on-enforced-domain"


def values(kind: type[enum.StrEnum]) -> tuple[str, ...]:
    """The members' values in declaration order, for messages and ``choice`` validators."""
    return tuple(member.value for member in kind)
