"""How probes reach the network: the knobs tests need and users rarely do."""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass


@dataclass(frozen=True)
class ProbeOptions:
    """Where and how long to probe. Frozen: one value per run, shared by every probe."""

    nameserver: tuple[str, int] | None = None
    """(address, port) of the DNS server to ask; None uses the system resolver."""
    ca_bundle: str | None = None
    """PEM file of trusted roots; None uses the system trust store."""
    https_port: int = 443
    smtp_port: int = 25
    timeout: float = 10.0
    """Seconds allowed for each network step (a DNS answer, a connection, a handshake, a reply)."""
    max_sockets: int | None = None
    """Sockets open at once; None: what the open-file limit allows (see ``socket_budget``)."""
    dnssec_anchors: tuple[str, ...] = ()
    """DNSSEC trust anchors besides the root's, as zone-file lines (``zone. DS …`` or ``DNSKEY``)."""


RESERVED_FILES = 64
"""File descriptors kept free for everything that is not a probe socket (logs, imports, pipes)."""


def socket_budget() -> int:
    """How many probe sockets may be open at once without hitting EMFILE.

    Raises the soft ``RLIMIT_NOFILE`` to the hard limit first (any process may), then leaves
    whatever is already open and ``RESERVED_FILES`` (a quarter of a small limit). At least 1.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        wanted = 65536 if hard == resource.RLIM_INFINITY else hard
        if soft == resource.RLIM_INFINITY or wanted > soft:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
                soft = wanted
            except (ValueError, OSError):
                pass  # keep the soft limit we have
    if soft == resource.RLIM_INFINITY:
        soft = 65536
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 32
    return max(1, soft - in_use - min(RESERVED_FILES, soft // 4))
