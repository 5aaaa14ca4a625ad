"""Pure rules: typed probe answers in, ``Finding``s out. No I/O; unit-tested with fake answers.

One definition of each rule, shared by ``verify``, ``plan --check-mx`` and readiness:

- ``sts_record``, ``tlsrpt_record``: the TXT records (RFC 8461 §3.1, RFC 8460 §3);
- ``policy_fetch``, ``fetch_check``, ``parsed_policy``, ``policy_findings``: the policy as
  senders fetch and read it; ``short_max_age``: "enforce with max_age under a day";
- ``mx_records``, ``mx_coverage`` ("an uncovered MX is an error in enforce"), ``live_mx``
  (``plan --check-mx``, failing closed on an enforce domain it cannot look up);
- ``starttls``: one verdict per MX host over all its addresses; ``drift``: live vs the stack.
"""

from mtasts.checks.drift import drift
from mtasts.checks.mx import MX_COVERAGE, MX_RECORDS, live_mx, mx_coverage, mx_records
from mtasts.checks.policy import fetch_check, parsed_policy, policy_fetch, policy_findings, short_max_age
from mtasts.checks.records import STS_RECORD, TLSRPT_RECORD, sts_record, tlsrpt_record
from mtasts.checks.starttls import STARTTLS, starttls

__all__ = [
    "MX_COVERAGE",
    "MX_RECORDS",
    "STARTTLS",
    "STS_RECORD",
    "TLSRPT_RECORD",
    "drift",
    "fetch_check",
    "live_mx",
    "mx_coverage",
    "mx_records",
    "parsed_policy",
    "policy_fetch",
    "policy_findings",
    "short_max_age",
    "starttls",
    "sts_record",
    "tlsrpt_record",
]
