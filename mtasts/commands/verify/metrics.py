"""``verify --format openmetrics``: the run as OpenMetrics text, for node_exporter's textfile collector.

Write it to ``<collector dir>/mtasts.prom`` (atomically: to a temporary file, then rename) from a
cron job or a systemd timer; Prometheus then alerts on the numbers, e.g.
``mtasts_certificate_remaining_days{endpoint="mx"} < 14`` or ``mtasts_findings{severity="error"} > 0``.
The command exits 0 whenever it wrote the exposition, errors found or not (they are samples):
``verify … > mtasts.prom.tmp && mv mtasts.prom.tmp mtasts.prom`` must not keep yesterday's numbers
exactly when something broke.

Families (every sample has a ``domain`` label):

- ``mtasts_findings{severity}``: findings of each severity (all four, zeros included);
- ``mtasts_urgent_findings``: the enforce-domain MX certificates about to expire;
- ``mtasts_certificate_remaining_days{endpoint,host,address}`` (unit ``days``, as the thresholds) and
  ``mtasts_certificate_expiry_timestamp_seconds{…}``: per policy host or MX address;
- ``mtasts_dane_match{host}``: 1 when DANE is in use and matches at every address, 0 when not;
- ``mtasts_policy_mode_info{mode}``: the live policy's mode (``unknown`` without one);
- ``mtasts_verify_timestamp_seconds``: when the run started.

The text follows the OpenMetrics 1.0 exposition format (``# TYPE``/``# HELP``/``# UNIT``, label
values escaped, ``# EOF`` last); tests read it back with ``prometheus_client``'s own parser.
"""

from __future__ import annotations

import datetime

from mtasts.commands.shared.domain_check import Report
from mtasts.model.findings import Severity
from mtasts.model.vocabulary import Check


def render_openmetrics(reports: list[Report], now: datetime.datetime | None = None) -> str:
    """Every report as one OpenMetrics exposition."""
    clock = now or next((r.now for r in reports if r.now is not None), None)
    clock = clock or datetime.datetime.now(datetime.UTC)
    out: list[str] = []

    family(out, "mtasts_findings", "gauge", "Findings of verify by severity.")
    for r in reports:
        for severity in Severity:
            sample(out, "mtasts_findings", {"domain": r.domain, "severity": str(severity)}, r.count(severity))

    family(
        out,
        "mtasts_urgent_findings",
        "gauge",
        "MX certificates of an enforce domain past the error threshold.",
    )
    for r in reports:
        sample(out, "mtasts_urgent_findings", {"domain": r.domain}, len(r.urgent))

    # OpenMetrics: a family with a unit ends in it; days, not seconds, as the thresholds are set.
    # The expiry timestamp below is the base-unit form, which does not age while the file does.
    name = "mtasts_certificate_remaining_days"
    family(out, name, "gauge", "Days until the served leaf certificate expires.", unit="days")
    for r in reports:
        for c in r.certificates:
            labels = _cert_labels(r.domain, c.endpoint, c.host, c.address)
            sample(out, name, labels, round(c.days_left(clock), 3))

    name = "mtasts_certificate_expiry_timestamp_seconds"
    family(out, name, "gauge", "notAfter of the served leaf certificate, Unix time.", unit="seconds")
    for r in reports:
        for c in r.certificates:
            sample(out, name, _cert_labels(r.domain, c.endpoint, c.host, c.address), c.not_after.timestamp())

    family(
        out, "mtasts_dane_match", "gauge", "1: TLSA records match every address of the MX; 0: they do not."
    )
    for r in reports:
        for f in r.findings:
            if f.check == Check.DANE and f.subject and f.severity in (Severity.OK, Severity.ERROR):
                sample(
                    out,
                    "mtasts_dane_match",
                    {"domain": r.domain, "host": f.subject},
                    int(f.severity is Severity.OK),
                )

    family(out, "mtasts_policy_mode", "info", "The mode of the live policy.")
    for r in reports:
        sample(out, "mtasts_policy_mode_info", {"domain": r.domain, "mode": r.mode or "unknown"}, 1)

    name = "mtasts_verify_timestamp_seconds"
    family(out, name, "gauge", "When this verify run started, Unix time.", unit="seconds")
    sample(out, name, {}, clock.timestamp())
    out.append("# EOF")
    return "\n".join(out) + "\n"


def family(out: list[str], name: str, kind: str, text: str, unit: str = "") -> None:
    out.append(f"# TYPE {name} {kind}")
    if unit:
        out.append(f"# UNIT {name} {unit}")
    out.append(f"# HELP {name} {_escape(text)}")


def sample(out: list[str], name: str, labels: dict[str, str], value: float) -> None:
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    out.append(f"{name}{{{body}}} {_number(value)}" if body else f"{name} {_number(value)}")


def _cert_labels(domain: str, endpoint: str, host: str, address: str) -> dict[str, str]:
    return {"domain": domain, "endpoint": str(endpoint), "host": host, "address": address}


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))
