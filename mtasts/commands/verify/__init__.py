"""``mtasts verify``: check live deployments the way a sending MTA does.

Per domain, in this order (RFC 8461 and RFC 8460):

1. ``_mta-sts.<domain>`` TXT: exactly one record starting ``v=STSv1`` (the strings of a
   multi-string TXT joined; other TXT records ignored, §3.1), parsed strictly.
2. The policy fetched as a sender fetches it (§3.3) from every A and AAAA address of
   ``mta-sts.<domain>``: TLS 1.2 or later with SNI, a certificate valid for the host and chaining
   to a trusted root, no redirect followed, only 200, ``text/plain``, no content encoding, at most
   64 KiB, within the time limit; then parsed strictly (§3.2). Any address that answers wrongly
   is an error.
3. MX coverage: every MX host matches a policy ``mx`` pattern (§4.1).
4. STARTTLS at every A and AAAA address of every MX host (a sender may reach any of them):
   offered after EHLO, TLS 1.2 or later, a certificate valid for the MX name and trusted (§4.2).
   An address that takes no connection fails the host only when no address does; a 4xx greeting
   is temporary (senders retry), a warning that nothing could be checked.
5. ``_smtp._tls.<domain>`` TXT: at most one ``v=TLSRPTv1`` record, valid (RFC 8460 §3).

Beside them: the days left of every certificate a handshake got (``policy-certificate`` after
the policy, ``mx-certificate`` after ``starttls``; thresholds ``--cert-warning-days`` and
``--cert-error-days``), and DANE (``dane``, ``dane-tlsrpt``): TLSA records of each MX host, when
DNSSEC validates them, against the chain served at every address (``mtasts.checks.dane``).

With ``--stack`` each domain is also compared with what the stack publishes (drift).

Every finding has a stable ``check`` name, a severity and a one-line reason:

- ``error``: senders will not use the policy, or will refuse or lose mail (exit status 1);
- ``warning``: works today, but is wrong or will break under ``enforce``;
- ``info``: worth knowing, nothing to fix; ``ok``: the check passed.

Check names: ``sts-record``, ``policy-fetch`` (policy host does not resolve or answer, or answers
broken HTTP), ``policy-tls`` (TLS version or certificate), ``policy-redirect``, ``policy-status``,
``policy-content-type``, ``policy-encoding`` (a ``Content-Encoding`` such as gzip),
``policy-size``, ``policy-timeout``, ``policy-syntax``, ``policy`` (the parsed policy),
``policy-mode``, ``policy-max-age``, ``mx-records``, ``mx-coverage``, ``starttls``,
``mx-certificate``, ``policy-certificate``, ``dane``, ``dane-tlsrpt``, ``tlsrpt-record``,
``drift-policy``, ``drift-id``, ``drift-tlsrpt``, ``drift``.

``--json`` prints one JSON object::

    {"domains": {"example.com": {"mode": "enforce" | "testing" | "none" | null,
                                 "errors": 0, "warnings": 1,
                                 "findings": [{"check": "sts-record", "severity": "ok",
                                               "reason": "...", "subject": "mx1..."?}, ...],
                                 "certificates": [{"endpoint": "mx", "host", "address",
                                                   "notAfter", "daysLeft"}, ...]}},
     "errors": 0, "warnings": 1,
     "urgent": [{"domain": "example.com", "check": "mx-certificate", ...}]}

``--format openmetrics`` prints the same run as OpenMetrics text (``metrics.py``); ``mtasts
watch`` (``watch.py``) runs it and alerts on what changed since the last run.

The network work is ``mtasts.probes`` (every question, fetch and probe once per run, sockets
bounded by the open-file limit); the rules are ``mtasts.checks``; this package only runs them
and prints. Domains are checked concurrently, at most ``--concurrency`` at a time.
"""

from mtasts.commands.shared.domain_check import Report, check_domain, verify, verify_async
from mtasts.commands.verify.command import run
from mtasts.commands.verify.report import render_json, render_text

__all__ = ["Report", "check_domain", "render_json", "render_text", "run", "verify", "verify_async"]
