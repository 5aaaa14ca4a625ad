"""Problems that were already there: what ``plan --base`` must report without blaming the change.

A live check run on a pull request (``--check-mx``: an ``enforce`` policy that leaves out a live
MX host) can find a problem that the base commit already had, in a domain the change does not
touch. It is reported, marked ``atBase``, as a warning: it does not by itself fail an unrelated
change, and the change that fixes it is judged on its own result.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from mtasts.model.config import Deployment
from mtasts.model.findings import Finding, Severity

AT_BASE = "atBase"


def _policy(deployment: Deployment, name: str) -> tuple[str, tuple[str, ...]] | None:
    names = {d.name for d in deployment.domains}
    if name not in names:
        return None
    domain = deployment.domain(name)
    return str(domain.mode), tuple(domain.mx)


def at_base(findings: Iterable[Finding], base: Deployment | None, head: Deployment) -> list[Finding]:
    """``findings`` about ``head``; an error about a domain whose mode and MX patterns are the
    same at ``base`` becomes a warning saying the change did not cause it."""
    out = []
    for finding in findings:
        name = finding.domain
        same = name is not None and base is not None and _policy(base, name) == _policy(head, name)
        if finding.severity is Severity.ERROR and same:
            reason = f"already so at the base, not caused by this change: {finding.reason}"
            facts = (*finding.facts, (AT_BASE, True))
            out.append(replace(finding, severity=Severity.WARNING, reason=reason, facts=facts))
        else:
            out.append(finding)
    return out
