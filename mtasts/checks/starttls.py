"""STARTTLS at every address of an MX host (RFC 8461 §4.2): one verdict per host."""

from __future__ import annotations

from mtasts.model.findings import Finding, Severity
from mtasts.model.vocabulary import Check, Mode
from mtasts.probes.errors import SmtpError, SmtpTemporaryError
from mtasts.probes.prober import StarttlsProbe
from mtasts.probes.tls import hostport

STARTTLS = Check.STARTTLS


def starttls(probe: StarttlsProbe, mode: Mode | None, port: int = 25) -> Finding:
    """The verdict for one MX host under the live policy's ``mode``.

    A sender may reach any A or AAAA address, so any address that answers and fails fails the
    host. An address that takes no connection is a delivery problem, not a TLS one: it fails the
    host only when no address answers. A 4xx reply (a 421 greeting) is temporary: senders queue
    and retry, so it is a warning that nothing could be checked, not a refusal.
    """
    host = probe.host
    if not probe.results:
        return _failed(host, f"no SMTP connection: {host} does not resolve: {probe.no_address}", mode)
    reached = [r for r in probe.results if r.reached]
    if not reached:
        reasons = "; ".join(r.error.reason for r in probe.results if r.error is not None)
        return _failed(host, f"no SMTP connection: {reasons}", mode)
    hard = [r for r in reached if r.error is not None and not isinstance(r.error, SmtpTemporaryError)]
    several = len(probe.results) > 1
    if hard:
        if not several:
            return _failed(host, _reason(hard[0].error), mode)
        listed = "; ".join(f"{hostport(r.address, port)}: {_reason(r.error)}" for r in hard)
        return _failed(host, f"{len(hard)} of {len(probe.results)} addresses fail: {listed}", mode)
    temporary = [r for r in reached if isinstance(r.error, SmtpTemporaryError)]
    if temporary:
        listed = "; ".join(f"{hostport(r.address, port)}: {_reason(r.error)}" for r in temporary)
        return Finding(STARTTLS, Severity.WARNING, f"{host}: STARTTLS not checked: {listed}", subject=host)
    first = next(r.success for r in reached if r.success is not None)
    note = ""
    if several:
        note = f" at all {len(reached)} reachable addresses"
        unreached = [r.address for r in probe.results if not r.reached]
        if unreached:
            note += f" ({', '.join(unreached)} did not answer)"
    return Finding(
        STARTTLS,
        Severity.OK,
        f"{host}: STARTTLS with {first.tls_version}, certificate valid for {host}{note}",
        subject=host,
    )


def _reason(error: SmtpError | None) -> str:
    return error.reason if error is not None else "failed"


def _failed(host: str, reason: str, mode: Mode | None) -> Finding:
    if mode is Mode.ENFORCE:
        return Finding(
            STARTTLS, Severity.ERROR, f"{host}: {reason}: senders will refuse to deliver here", subject=host
        )
    if mode is Mode.NONE:
        return Finding(STARTTLS, Severity.INFO, f"{host}: {reason} (mode none: not enforced)", subject=host)
    return Finding(STARTTLS, Severity.WARNING, f"{host}: {reason}: fix this before enforce", subject=host)
