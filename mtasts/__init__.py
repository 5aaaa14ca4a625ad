"""MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) as infrastructure as code.

The package is layered; each layer imports only the ones above it in this list (README
"Layout"; ``tests/test_layers.py`` checks it):

- ``mtasts.rfc``: the RFC grammar (policy text, TXT records, host names, MX matching) and the
  rules every layer shares, standard library only. The policy pack imports nothing else.
- ``mtasts.model``: the deployment model (``Domain``, ``Deployment``), the stack-file loader
  and the one ``Finding``/``Severity`` vocabulary, with PyYAML.
- ``mtasts.probes``: network I/O (DNS, HTTPS policy fetch, SMTP STARTTLS), typed results and
  errors.
- ``mtasts.checks``: pure rules over probe answers, each defined once.
- ``mtasts.commands``: every command and the command line.
- ``mtasts/worker/``: the Workers' JavaScript, static; a stack's policies go in the policy
  Worker's data region.

``components/`` (the Pulumi components, beside this package) builds on ``mtasts.model`` and
``mtasts.probes`` and never on a command. Importing ``mtasts`` itself loads only the RFC layer.
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
