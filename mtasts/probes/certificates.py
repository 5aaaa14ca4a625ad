"""The certificate chain a server presented, read once from the TLS connection, as typed facts.

``served_chain`` takes the chain from an ``ssl`` object after the handshake: the leaf first, then
what the server sent after it (intermediates, sometimes the root). Python 3.13 has
``SSLObject.get_unverified_chain()``; 3.11 and 3.12 have the same method on the private
``_sslobj`` (added in 3.10 for it). Where neither exists the chain is the leaf alone.

``Certificate`` keeps what expiry and DANE need: the DER bytes, the DER of the
SubjectPublicKeyInfo (TLSA selector 1, RFC 6698 §2.1.2) and the validity period, parsed with
``cryptography``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

DAY = 86400.0
_ENCODING_DER = 2
"""``_ssl.ENCODING_DER``, the format argument of the private chain's ``public_bytes``."""


@dataclass(frozen=True)
class Certificate:
    """One certificate as served: its bytes and the facts the checks read."""

    der: bytes
    spki: bytes
    """DER of the SubjectPublicKeyInfo."""
    not_before: datetime.datetime
    not_after: datetime.datetime
    subject: str

    @classmethod
    def from_der(cls, der: bytes) -> Certificate:
        cert = x509.load_der_x509_certificate(der)
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(
            der=der,
            spki=spki,
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            subject=cert.subject.rfc4514_string(),
        )

    def days_left(self, now: datetime.datetime) -> float:
        """Days until ``not_after`` (negative once it has expired)."""
        return (self.not_after - now).total_seconds() / DAY


def served_chain(ssl_object: Any) -> tuple[Certificate, ...]:
    """The chain presented on ``ssl_object`` (an ``SSLObject`` or ``SSLSocket``), leaf first."""
    ders: list[bytes] = []
    getter = getattr(ssl_object, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
    if getter is not None:
        for item in getter() or ():
            ders.append(item if isinstance(item, bytes) else item.public_bytes(_ENCODING_DER))
    if not ders:
        leaf = ssl_object.getpeercert(binary_form=True)
        if leaf:
            ders.append(leaf)
    chain = []
    for der in ders:
        try:
            chain.append(Certificate.from_der(der))
        except ValueError:
            continue  # a certificate cryptography cannot parse: the handshake checks did
    return tuple(chain)
