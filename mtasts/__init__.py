"""MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) as infrastructure as code.

The package is layered; each layer imports only the ones above it in this list:

- ``mtasts.rfc``: the RFC grammar (policy text, TXT records, host names, MX matching),
  standard library only. The policy pack imports nothing else.
- ``mtasts.model``: the deployment model (``Domain``, ``Deployment``) and the stack-file
  loader, with PyYAML.
- ``mtasts.commands``: ``plan``, ``serve``, ``verify`` and the command line.
- ``mtasts/worker/``: the Worker's JavaScript, static; data reaches it as bindings.

``components/`` (the Pulumi components, beside this package) builds on ``mtasts.model``
and never on a command. Importing ``mtasts`` itself loads only the RFC layer.
"""

from mtasts.rfc.mx import mx_matches
from mtasts.rfc.policy import Policy, PolicyError, parse_policy, policy_id
from mtasts.rfc.records import (
    RecordError,
    StsRecord,
    TlsRptRecord,
    parse_sts_record,
    parse_tlsrpt_record,
)

__all__ = [
    "Policy",
    "PolicyError",
    "RecordError",
    "StsRecord",
    "TlsRptRecord",
    "mx_matches",
    "parse_policy",
    "parse_sts_record",
    "parse_tlsrpt_record",
    "policy_id",
]
