"""The built-in TLS report receiver: its stack-level settings and what it adds to a domain.

``mta-sts:reports`` holds the receiver's settings; a domain (or ``mta-sts:defaults``) turns
it on with ``reports: builtin``. Each function here raises ``ConfigError`` naming the key.

Interface (``config.py``, ``plan``, ``serve``, ``reports`` and ``components/receiver.py`` use it):

- ``REPORT_PATH``: where the receiver takes reports over HTTPS (RFC 8460 §5.3).
- ``ReceiverSettings``: the validated ``mta-sts:reports`` object; ``https_uri`` and
  ``mailto_uri`` are what a builtin domain's ``_smtp._tls`` record lists.
- ``load_receiver(raw)``: validate the object (None when absent).
- ``reports_choice(value, key)``: a domain's ``reports`` value.
- ``receiver_uris(settings)``: the URIs a builtin domain publishes.
- ``script_name(stack)``: the receiver Worker's name; ``receiver_data(settings, domains)`` and
  ``settings_data(settings, domains)``: what its settings region holds, and that region's text;
  ``receiver_script(settings, domains)``: the exact module uploaded (the committed bundle with
  that region filled in).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from mtasts.model import receiver_contract as contract
from mtasts.model.cloudflare import BUCKET_NAME, WORKER_NAME, derived_name
from mtasts.model.errors import ConfigError
from mtasts.model.objects import host_name, settings_object
from mtasts.model.objects import zone_id as checked_zone_id
from mtasts.model.vocabulary import Reports, values
from mtasts.rfc.mx import mx_matches
from mtasts.rfc.names import normalize_name
from mtasts.rfc.served import RECEIVER_SETTINGS, ReceiverData, encode_receiver, insert_data

if TYPE_CHECKING:
    from mtasts.model.domain import Domain  # domain.py imports this module

CHOICES = values(Reports)
REPORT_PATH = contract.PATHS["report"]
"""The receiver's HTTPS intake path; also its API version."""
SUMMARY_PATH = contract.PATHS["summary"]
KEY = "reports"
SECRET_KEYS = ("reportsToken", "reportsWebhook")
"""Pulumi secrets (``pulumi config set --secret mta-sts:reportsToken …``): the read token and
the digest webhook URL. The loader accepts the keys and never reads their values."""
TOKEN_ENV = "MTASTS_REPORTS_TOKEN"
"""Where ``mtasts reports`` and ``mtasts serve`` take the read token from."""

SETTINGS_DEFAULTS: dict[str, int] = {s.name: s.default for s in contract.SETTINGS}
"""Numeric receiver settings and their defaults (``receiver_contract.SETTINGS``)."""
KEYS = ("host", "zone", "zoneId", "mailto", *SETTINGS_DEFAULTS)
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}\Z")


def _fail(key: str, rule: str) -> NoReturn:
    raise ConfigError(key, rule)


@dataclass(frozen=True)
class ReceiverSettings:
    """The validated ``mta-sts:reports`` object."""

    host: str
    """Host name of the receiver's Workers custom domain, e.g. ``tlsrpt.example.net``."""
    zone: str
    """Cloudflare zone of ``host`` (and of ``mailto``'s domain); default: ``host`` less its first label."""
    zone_id: str | None = None
    """Cloudflare zone id; None means look it up by ``zone``."""
    mailto: str | None = None
    """Reports address for mail intake, on a subdomain without mail of its own; None: HTTPS only."""
    retention_days: int = SETTINGS_DEFAULTS["retentionDays"]
    silent_after_days: int = SETTINGS_DEFAULTS["silentAfterDays"]
    max_compressed_bytes: int = SETTINGS_DEFAULTS["maxCompressedBytes"]
    max_decompressed_bytes: int = SETTINGS_DEFAULTS["maxDecompressedBytes"]
    rate_limit_per_minute: int = SETTINGS_DEFAULTS["rateLimitPerMinute"]

    @property
    def https_uri(self) -> str:
        return f"https://{self.host}{REPORT_PATH}"

    @property
    def mailto_uri(self) -> str | None:
        return f"mailto:{self.mailto}" if self.mailto else None

    @property
    def mail_domain(self) -> str | None:
        return self.mailto.rpartition("@")[2] if self.mailto else None


def reports_choice(value: Any, key: str) -> str:
    """A domain's ``reports`` setting: ``builtin`` or ``none``."""
    if not isinstance(value, str) or value not in CHOICES:
        _fail(key, f"must be one of {', '.join(CHOICES)}, got {value!r}")
    return value


def _whole(value: Any, key: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(key, f"must be a whole number, got {value!r}")
    if not low <= value <= high:
        _fail(key, f"must be between {low} and {high}, got {value}")
    number: int = value
    return number


def _host(value: Any, key: str) -> str:
    return host_name(value, key, "tlsrpt.example.net")


def _mailto(value: Any, key: str) -> str:
    if not isinstance(value, str) or value.count("@") != 1:
        _fail(key, f"must be one address such as tlsrpt@reports.example.net, got {value!r}")
    local, _, domain = value.strip().partition("@")
    if not _LOCAL_PART.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        _fail(key, f"local part {local!r} is not a plain address (letters, digits, . _ + -)")
    return f"{local}@{_host(domain, key)}"


def load_receiver(raw: Any, key: str = KEY) -> ReceiverSettings | None:
    """Validate the ``mta-sts:reports`` object; None when it is absent or empty."""
    raw = settings_object(raw, key, KEYS, "receiver settings")
    if raw is None:
        return None
    if "host" not in raw:
        _fail(f"{key}.host", "is required: the receiver's host name, e.g. tlsrpt.example.net")
    host = _host(raw["host"], f"{key}.host")
    zone = _host(raw.get("zone", host.partition(".")[2]), f"{key}.zone")
    if host != zone and not host.endswith("." + zone):
        _fail(f"{key}.zone", f"zone {zone!r} does not contain {host!r}")
    zone_id = checked_zone_id(raw.get("zoneId"), f"{key}.zoneId")
    mailto = None
    if raw.get("mailto") not in (None, ""):
        mailto = _mailto(raw["mailto"], f"{key}.mailto")
        mail_domain = mailto.rpartition("@")[2]
        if mail_domain != zone and not mail_domain.endswith("." + zone):
            _fail(f"{key}.mailto", f"{mail_domain} must be in the receiver's zone {zone} (Email Routing)")
    numbers = {
        s.name: _whole(raw.get(s.name, s.default), f"{key}.{s.name}", s.low, s.high)
        for s in contract.SETTINGS
    }
    if numbers["maxDecompressedBytes"] < numbers["maxCompressedBytes"]:
        _fail(f"{key}.maxDecompressedBytes", "must be at least maxCompressedBytes")
    return ReceiverSettings(
        host=host,
        zone=zone,
        zone_id=zone_id,
        mailto=mailto,
        retention_days=numbers["retentionDays"],
        silent_after_days=numbers["silentAfterDays"],
        max_compressed_bytes=numbers["maxCompressedBytes"],
        max_decompressed_bytes=numbers["maxDecompressedBytes"],
        rate_limit_per_minute=numbers["rateLimitPerMinute"],
    )


def check_against_domains(settings: ReceiverSettings, domains: Iterable[Domain], key: str = KEY) -> None:
    """The receiver must not take over a name that serves a mail domain of the stack.

    ``EmailRoutingDns`` puts Email Routing's MX records on ``mailto``'s domain: on a mail domain of
    the stack, or the zone apex one lives in (or the receiver's own zone apex, which usually takes
    the organization's mail), they sit beside its own MX and mail for its other addresses is lost;
    on a policy host or an MX host of the stack they take over a name that has its own records.
    And ``host`` is a Workers custom domain: on a policy host (``mta-sts.<d>``) it would answer 404
    for the policy. Raises ``ConfigError`` naming the key.
    """
    listed = list(domains)
    mail = settings.mail_domain
    if mail is not None:
        for domain in listed:
            apex = normalize_name(domain.zone or domain.name)
            if mail == domain.name:
                _fail(
                    f"{key}.mailto",
                    f"{mail} is a mail domain of this stack: Email Routing's MX records would sit beside "
                    "its own and lose its other mail; use a subdomain that receives no other mail",
                )
            if mail == apex:
                _fail(
                    f"{key}.mailto",
                    f"{mail} is the zone apex of {domain.name}, which receives other mail: use a "
                    "subdomain that receives no other mail",
                )
            if mail == domain.policy_host:
                # A GitHub Pages policy host is a CNAME, beside which no MX may be (RFC 1034 §3.6.2).
                _fail(
                    f"{key}.mailto",
                    f"{mail} is the policy host of {domain.name}: keep the receiver's mail off the "
                    "names that serve policies; use a subdomain that receives no other mail",
                )
            pattern = next((p for p in domain.mx if mx_matches(p, mail)), None)
            if pattern is not None:
                # Mail for the host's own name (postmaster@, RFC 5321 §4.5.1) reaches it by its
                # address when it has no MX (RFC 5321 §5.1); Email Routing's MX would take it away.
                _fail(
                    f"{key}.mailto",
                    f"{mail} is an MX host of {domain.name} (mx {pattern}), which receives mail of its "
                    "own: use a subdomain that receives no other mail",
                )
        if mail == settings.zone:
            _fail(
                f"{key}.mailto",
                f"{mail} is the apex of the receiver's zone, which usually receives other mail: use a "
                "subdomain that receives no other mail, e.g. reports." + mail,
            )
    for domain in listed:
        if settings.host == domain.policy_host:
            _fail(
                f"{key}.host",
                f"{settings.host} is the policy host of {domain.name}: the receiver there would answer "
                "404 for its policy; use another name, e.g. tlsrpt." + (domain.zone or domain.name),
            )


def receiver_uris(settings: ReceiverSettings) -> tuple[str, ...]:
    """The TLS-RPT URIs a builtin domain publishes: the HTTPS intake, then the mailbox if any."""
    mailto = settings.mailto_uri
    return (settings.https_uri,) if mailto is None else (settings.https_uri, mailto)


RECEIVER_PREFIX = "mta-sts-reports-"


def script_name(stack: str) -> str:
    """The receiver Worker's script name: one per stack, apart from the policy Worker.

    ``mta-sts-reports-<stack>`` whenever Cloudflare takes it, else a stable derived name.
    """
    return derived_name(RECEIVER_PREFIX, stack, WORKER_NAME)


def storage_name(stack: str) -> str:
    """The D1 database and R2 bucket name of a stack's receiver (R2's rule, the stricter).

    A rename would start both empty (Pulumi replaces them; see docs/provider.md), so a name
    Cloudflare takes today is kept as it is.
    """
    return derived_name(RECEIVER_PREFIX, stack, BUCKET_NAME)


def message_cap(settings: ReceiverSettings) -> int:
    """Largest mail taken (``receiver_contract.message_cap`` of ``maxCompressedBytes``)."""
    return contract.message_cap(settings.max_compressed_bytes)


def chosen_settings(settings: ReceiverSettings) -> dict[str, int]:
    """The stack's value of every ``receiver_contract.SETTINGS`` entry, by its camelCase name."""
    return {
        "retentionDays": settings.retention_days,
        "silentAfterDays": settings.silent_after_days,
        "maxCompressedBytes": settings.max_compressed_bytes,
        "maxDecompressedBytes": settings.max_decompressed_bytes,
        "rateLimitPerMinute": settings.rate_limit_per_minute,
    }


def receiver_data(settings: ReceiverSettings, domains: Iterable[Domain]) -> ReceiverData:
    """What the receiver's settings region holds for a stack with ``domains`` (all of them).

    The receiver counts reports for every domain of the stack; the ``reports: builtin`` ones are
    listed in its summary even when silent. ``rua`` (the URIs a builtin domain's ``_smtp._tls``
    record lists) and ``dnsExternal`` (builtin domains whose records are published by hand) are
    not read by the Worker: they let the policy pack check, from the resources alone, that every
    builtin domain's record lists the receiver.
    """
    listed = list(domains)
    builtin = [d for d in listed if d.reports is Reports.BUILTIN]
    return ReceiverData(
        domains=tuple(sorted({normalize_name(d.name) for d in listed})),
        builtin=frozenset(normalize_name(d.name) for d in builtin),
        dns_external=frozenset(normalize_name(d.name) for d in builtin if not d.managed_dns),
        rua=receiver_uris(settings),
        limits=contract.worker_limits(chosen_settings(settings)),
        fields=dict(contract.FIELD_CHARS),
        paths=dict(contract.PATHS),
    )


def settings_data(settings: ReceiverSettings, domains: Iterable[Domain]) -> str:
    """The text of the receiver's settings region: one domain a line, sorted (``encode_receiver``)."""
    return encode_receiver(receiver_data(settings, domains))


MAIN_MODULE = "reports.js"
"""The receiver's module name, as uploaded (``WorkersScript.main_module``)."""
COMPATIBILITY_DATE = "2025-09-01"
"""Fixed, as the policy Worker's, so a runtime upgrade never changes the receiver's behaviour."""
BUNDLE_PATH = Path(__file__).resolve().parent.parent / "worker" / "reports.bundle.js"
"""The receiver's JavaScript with postal-mime bundled in (``npm run build:reports``), committed so
``pulumi up`` needs no Node; a test rebuilds it and compares the bytes. Its one settings region
(``mtasts.rfc.served.RECEIVER_SETTINGS``) holds an empty document, filled in per stack."""


def bundle() -> str:
    """The committed bundle as built, its settings region holding no domain."""
    return BUNDLE_PATH.read_text(encoding="utf-8")


def receiver_script(settings: ReceiverSettings, domains: Iterable[Domain]) -> str:
    """The exact ES module uploaded for the receiver: the bundle with the stack's settings in it.

    Why not a ``json`` binding: Cloudflare limits each binding value (an environment variable) to
    5 KB, a few dozen domains; the script itself may be megabytes. Only the secrets (read token,
    webhook) stay bindings.
    """
    return insert_data(bundle(), settings_data(settings, domains), RECEIVER_SETTINGS)
