"""MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) as a pure-Python model.

Nothing in this package imports Pulumi: the program, ``plan``, ``serve``,
``verify`` and the policy pack all build on it without paying for the
provider SDKs.
"""

from mtasts.config import ConfigError, Deployment, Domain, load_config, load_stack
from mtasts.mx import mx_matches
from mtasts.policy import Policy, PolicyError, parse_policy, policy_id
from mtasts.records import (
    RecordError,
    StsRecord,
    TlsRptRecord,
    parse_sts_record,
    parse_tlsrpt_record,
)

__all__ = [
    "ConfigError",
    "Deployment",
    "Domain",
    "Policy",
    "PolicyError",
    "RecordError",
    "StsRecord",
    "TlsRptRecord",
    "load_config",
    "load_stack",
    "mx_matches",
    "parse_policy",
    "parse_sts_record",
    "parse_tlsrpt_record",
    "policy_id",
]
