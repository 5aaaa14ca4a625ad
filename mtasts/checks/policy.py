"""The policy as senders fetch it (RFC 8461 §3.3) and what its fields mean (§3.2)."""

from __future__ import annotations

from mtasts.model.findings import Finding, Severity
from mtasts.model.vocabulary import Check, Mode
from mtasts.probes.errors import (
    PolicyConnectError,
    PolicyContentTypeError,
    PolicyEncodingError,
    PolicyFetchError,
    PolicyRedirectError,
    PolicySizeError,
    PolicyStatusError,
    PolicyTimeoutError,
    PolicyTlsError,
)
from mtasts.probes.prober import PolicyFetch
from mtasts.probes.tls import hostport
from mtasts.rfc.policy import Policy, PolicyError, parse_policy, short_max_age_problem

POLICY = Check.POLICY
POLICY_FETCH = Check.POLICY_FETCH
POLICY_SYNTAX = Check.POLICY_SYNTAX
POLICY_MODE = Check.POLICY_MODE
POLICY_MAX_AGE = Check.POLICY_MAX_AGE

# Most specific class first: a connect timeout is reported as a timeout.
_CHECKS: tuple[tuple[type[PolicyFetchError], Check], ...] = (
    (PolicyTimeoutError, Check.POLICY_TIMEOUT),
    (PolicyTlsError, Check.POLICY_TLS),
    (PolicyRedirectError, Check.POLICY_REDIRECT),
    (PolicyStatusError, Check.POLICY_STATUS),
    (PolicyContentTypeError, Check.POLICY_CONTENT_TYPE),
    (PolicyEncodingError, Check.POLICY_ENCODING),
    (PolicySizeError, Check.POLICY_SIZE),
)


def fetch_check(error: PolicyFetchError) -> Check:
    """The stable check name of a fetch failure (``policy-fetch`` when none is more specific)."""
    return next((check for kind, check in _CHECKS if isinstance(error, kind)), POLICY_FETCH)


def policy_fetch(fetched: PolicyFetch, port: int = 443) -> tuple[bytes | None, list[Finding]]:
    """The body senders get, and a finding per address a sender would fail at.

    Every A and AAAA address is a place a sender may fetch from, so any address that answers
    wrongly is an error. An address that takes no connection beside others that answer is a
    warning (clients try the next address); when none answers, it is the error.
    """
    if fetched.error is not None:
        return None, [Finding(POLICY_FETCH, Severity.ERROR, fetched.error.reason)]
    several = len(fetched.results) > 1
    reached = [r for r in fetched.results if not isinstance(r.error, PolicyConnectError)]
    findings: list[Finding] = []
    for result in fetched.results:
        error = result.error
        if error is None:
            continue
        reason = error.reason
        if several and error.address is not None and hostport(error.address, port) not in reason:
            reason += f" (at {hostport(error.address, port)})"
        if isinstance(error, PolicyConnectError) and reached:
            reason += "; senders that pick this address must try another"
            findings.append(Finding(fetch_check(error), Severity.WARNING, reason))
        else:
            findings.append(Finding(fetch_check(error), Severity.ERROR, reason))
    bodies = list(dict.fromkeys(r.body for r in fetched.responses))
    if len(bodies) > 1:
        where = ", ".join(hostport(r.address, port) for r in fetched.responses)
        reason = f"{fetched.host} serves {len(bodies)} different policies at {where}; senders get either"
        findings.append(Finding(POLICY_FETCH, Severity.ERROR, reason))
    return (bodies[0] if bodies else None), findings


def parsed_policy(body: bytes, host: str) -> tuple[Policy | None, list[Finding]]:
    """The policy parsed strictly, with its findings (``policy-syntax`` when it is invalid)."""
    try:
        policy = parse_policy(body)
    except PolicyError as exc:
        return None, [
            Finding(POLICY_SYNTAX, Severity.ERROR, f"the policy at https://{host} is invalid: {exc}")
        ]
    return policy, policy_findings(policy)


def policy_findings(policy: Policy) -> list[Finding]:
    """What a valid live policy's mode and max_age mean for senders."""
    listed = ", ".join(policy.mx) if policy.mx else "(none)"
    found = [
        Finding(
            POLICY, Severity.OK, f"policy served: mode {policy.mode}, max_age {policy.max_age}, mx {listed}"
        )
    ]
    if policy.mode is Mode.NONE:
        reason = (
            "mode none: senders drop any cached policy and apply none; MX and STARTTLS results "
            "are not enforced"
        )
        found.append(Finding(POLICY_MODE, Severity.INFO, reason))
    elif policy.mode is Mode.TESTING:
        reason = "mode testing: senders report failures (TLS-RPT) but still deliver"
        found.append(Finding(POLICY_MODE, Severity.INFO, reason))
    short = short_max_age(policy.mode, policy.max_age)
    if short is not None:
        found.append(short)
    return found


def short_max_age(mode: Mode, max_age: int, key: str | None = None) -> Finding | None:
    """``mtasts.rfc.policy.short_max_age_problem`` as a warning, or None when it does not apply."""
    reason = short_max_age_problem(mode, max_age)
    return None if reason is None else Finding(POLICY_MAX_AGE, Severity.WARNING, reason, key)
