"""The TLS report receiver's contract: its paths and every limit it applies, in one table.

The loader validates ``mta-sts:reports`` against ``SETTINGS`` (names, defaults, ranges); the
model writes the whole contract into the receiver script's settings region (``worker_limits``,
``PATHS``, ``FIELD_CHARS``), and the Worker (``mtasts/worker/receiver/settings.js``) keeps no
default of its own: without every entry here it answers each request with a 500 naming what
is missing. ``reports`` and ``readiness`` read the summary at ``PATHS["summary"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    """One receiver setting a stack may choose in ``mta-sts:reports``."""

    name: str
    """Its camelCase key, in the stack file and in the Worker's settings alike."""
    default: int
    low: int
    high: int
    description: str


SETTINGS: tuple[Setting, ...] = (
    Setting("retentionDays", 400, 1, 3650, "days reports are kept (D1 and R2)"),
    Setting("silentAfterDays", 3, 1, 365, "a builtin domain without a report this long is silent"),
    Setting("maxCompressedBytes", 1048576, 1024, 26214400, "largest report as sent, or mail attachment"),
    Setting("maxDecompressedBytes", 16777216, 1024, 134217728, "largest report once inflated"),
    Setting("rateLimitPerMinute", 60, 1, 1000000, "HTTPS requests (posts and reads) per client IP a minute"),
)
"""The settings a stack may choose, with their defaults and ranges (``Pulumi.yaml`` says the same)."""
SETTING = {s.name: s for s in SETTINGS}

PATHS: Mapping[str, str] = {
    "report": "/v1/tlsrpt",
    "summary": "/v1/summary",
    "submissions": "/v1/submissions",
    "raw": "/v1/raw/",
    "metrics": "/v1/metrics",
}
"""The receiver's HTTP paths: intake (RFC 8460 §5.3), the read API; ``raw`` is a prefix;
``metrics`` is the summary as OpenMetrics text (bearer token, as every read)."""

MAX_SESSIONS = 10**12
"""Largest session count a report may state in one field. A report covers a day (RFC 8460
§4.1 asks for 24-hour periods) and the whole world sends fewer than 4×10^11 mails a day, so no
real count comes near; 10^12 lets any count and any sum of fewer than 9,007 of them stay exact
below 2^53, where JavaScript numbers (and D1's answers) stop being exact integers. It bounds a
report's sessions in all too (its policies' totals, and its failure details), so that no single
POST holds more; a sum read past 2^53-1 reads as 2^53-1 (``summary.js`` ``SUM_CAP``)."""

FIXED_LIMITS: Mapping[str, int] = {
    "maxSessions": MAX_SESSIONS,
    # Far above what senders send (one policy per policy type and domain; short strings), far
    # below D1's limits (statements per invocation, 2 MB per row and bound value).
    "maxPolicies": 50,
    # Report parts read from one mail (senders send one); the rest stays in the archived message.
    "maxParts": 10,
    # Failure details go to D1 as JSON in chunks of at most this many rows and characters.
    "failureChunk": 500,
    "chunkChars": 262144,
    # Failure groups (result type, receiving MX and IP) the summary lists per domain, largest
    # first; the rest are summed into failuresOmitted (one POST can hold 100,000 distinct ones).
    "maxFailureGroups": 200,
    # Lines of failures, and of silent domains, in one digest: Slack cuts a message at 40,000
    # characters (https://api.slack.com/changelog/2018-04-truncating-really-long-messages).
    "digestLines": 50,
    # R2 object keys are at most 1,024 bytes (https://developers.cloudflare.com/r2/reference/limits/).
    "maxKeyBytes": 1024,
}
"""Limits no stack chooses: they follow from the RFCs and from D1 and R2."""

POLICY_CHARS = 65536
"""A policy is at most 64 KiB (RFC 8461 §3.2), so its quoted lines and MX patterns are too."""
FIELD_CHARS: Mapping[str, int] = {
    "organization-name": 1024,
    "report-id": 1024,
    "contact-info": 1024,
    "start-datetime": 64,
    "end-datetime": 64,
    "policy-domain": 255,
    "policy-type": 32,
    "policy-string": POLICY_CHARS,
    "mx-host": POLICY_CHARS,
    "mx-host-entry": 255,
    "result-type": 256,
    "sending-mta-ip": 64,
    "receiving-ip": 64,
    "receiving-mx-hostname": 255,
    "receiving-mx-helo": 1024,
    "failure-reason-code": 4096,
    "additional-information": 4096,
}
"""Longest value of each report field, in Unicode code points (``policy-string`` and
``mx-host``: all entries together; ``mx-host-entry``: each pattern). Host names are at most 255
octets (RFC 1035 §2.3.4), addresses fit in 64; free text gets 4,096."""


def message_cap(max_compressed_bytes: int) -> int:
    """Largest mail taken: a base64 report attachment (4/3 of its size) and headroom for headers."""
    return max_compressed_bytes * 4 // 3 + 262144


def worker_limits(chosen: Mapping[str, int]) -> dict[str, int]:
    """Every numeric limit the Worker applies, from a stack's ``chosen`` settings (all of them)."""
    missing = [s.name for s in SETTINGS if s.name not in chosen]
    if missing:
        raise ValueError(f"missing receiver settings: {', '.join(missing)}")
    limits = {s.name: chosen[s.name] for s in SETTINGS}
    limits["maxMessageBytes"] = message_cap(chosen["maxCompressedBytes"])
    limits.update(FIXED_LIMITS)
    return limits
