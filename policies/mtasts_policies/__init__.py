"""CrossGuard policies that keep MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) from losing mail.

The policies read resource properties as the engine passes them (camelCase), so they guard
every Cloudflare DNS record, Worker and GitHub Pages file in a stack, not only the ones this
project's components create. Record and policy grammar comes from ``mtasts.rfc``: nothing here
re-implements RFC 8461 §3 or RFC 8460 §3.

One module per resource kind, as pulumi/compliance-policies lays a pack out, each rule a named
constant beside its validator: ``dns_record``, ``workers_script``, ``workers_route``,
``repository_file``, ``worker_limits``, and ``served_policy`` for the rules on policy texts whichever resource
serves them; ``_shared`` holds the type tokens, name and TXT helpers and the type filter. The
modules import each other relatively, so the pack imports the same as ``mtasts_policies`` (from
``policies/``, as Pulumi runs ``__main__.py``) and as ``policies.mtasts_policies`` (from the
checkout).

``POLICIES`` is the list ``__main__.py`` builds the pack from; tests and outside checks import
it from here, because constructing a ``PolicyPack`` starts a gRPC server and blocks.
"""

from __future__ import annotations

from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

from .dns_record import (
    MTA_STS_TXT_RECORD_VALID,
    MTA_STS_TXT_RECORDS_DELETE_BEFORE_REPLACE,
    ONE_MTA_STS_TXT_RECORD_PER_NAME,
    ONE_TLS_RPT_TXT_RECORD_PER_NAME,
    PAGES_CNAME_NOT_PROXIED,
    TLS_RPT_TXT_RECORD_VALID,
)
from .repository_file import PAGES_POLICY_FILE_VALID
from .served_policy import ENFORCE_DOMAIN_HAS_TLS_RPT, ENFORCE_MAX_AGE_AT_LEAST_ONE_DAY
from .worker_limits import WORKER_ROUTING_WITHIN_LIMITS
from .workers_route import WORKER_ROUTED_POLICY_HOST_PROXIED
from .workers_script import (
    TLS_REPORT_RECEIVER_IN_RUA,
    WORKER_POLICY_TEXT_VALID,
    WORKER_SCRIPT_COMPATIBILITY_DATE,
    ServedPolicy,
    served_policies,
)

__all__ = ["POLICIES", "ServedPolicy", "served_policies"]

POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    MTA_STS_TXT_RECORD_VALID,
    TLS_RPT_TXT_RECORD_VALID,
    MTA_STS_TXT_RECORDS_DELETE_BEFORE_REPLACE,
    WORKER_POLICY_TEXT_VALID,
    PAGES_POLICY_FILE_VALID,
    PAGES_CNAME_NOT_PROXIED,
    ONE_MTA_STS_TXT_RECORD_PER_NAME,
    ONE_TLS_RPT_TXT_RECORD_PER_NAME,
    WORKER_ROUTED_POLICY_HOST_PROXIED,
    WORKER_ROUTING_WITHIN_LIMITS,
    TLS_REPORT_RECEIVER_IN_RUA,
    ENFORCE_MAX_AGE_AT_LEAST_ONE_DAY,
    ENFORCE_DOMAIN_HAS_TLS_RPT,
    WORKER_SCRIPT_COMPATIBILITY_DATE,
]
"""Every policy of the pack, mandatory first; ``__main__.py`` builds the pack from this list."""
