"""Network probes: DNS, the HTTPS policy fetch, SMTP STARTTLS. Typed answers, typed errors.

The public surface, for ``verify``, ``plan --check-mx`` and the live gate::

    options = ProbeOptions(nameserver=("127.0.0.1", 5353), ca_bundle="ca.pem", timeout=5.0)
    fetched = await fetch_policy("mta-sts.example.com", options)   # every A and AAAA address
    for result in fetched.results:             # PolicyAtAddress(address, response | error)
        ...
    fetched.body                               # the bytes when every address served the same
    one = await fetch_policy_at("mta-sts.example.com", "2001:db8::1", options)  # raises on failure
    async with Prober(options) as prober:      # one per run: answers shared, sockets bounded
        response = await prober.fetch_policy_at("mta-sts.example.com", "::1")  # one address
        mx = await prober.mx("example.com")
        smtp = await prober.starttls("mx1.example.com")

Errors are classes (``PolicyFetchError`` and its subclasses, ``DnsError`` with a ``DnsFailure``,
``SmtpError`` and its subclasses), never prefixed strings to parse back.

**httpx, not a hand-written client.** httpx (pinned in requirements.txt) does what a sender's
fetch needs: it connects to a resolved address given in the URL while the ``sni_hostname``
request extension sets SNI and the name the certificate is checked against, ``Host`` is set
explicitly, redirects are not followed (``follow_redirects=False``), and ``send(stream=True)`` with
``aiter_raw`` reads the body undecoded under our size cap. Its parser (h11) handles what the
hand-written client got wrong: ``100 Continue`` before the answer, bare-LF header lines, chunked
bodies, and a bounded head. httpcore's ``trace`` extension tells a TLS-handshake timeout from a
TCP one. SMTP has no async client in the standard library; its short dialogue stays here on
asyncio streams.
"""

from mtasts.probes.dns import Addresses, DnsAnswer, DnsStatus, MxAnswer
from mtasts.probes.errors import (
    DnsError,
    DnsFailure,
    PolicyCertificateError,
    PolicyConnectError,
    PolicyConnectTimeoutError,
    PolicyContentTypeError,
    PolicyDnsError,
    PolicyEncodingError,
    PolicyFetchError,
    PolicyProtocolError,
    PolicyRedirectError,
    PolicySizeError,
    PolicyStatusError,
    PolicyTimeoutError,
    PolicyTlsError,
    ProbeError,
    SmtpCertificateError,
    SmtpConnectError,
    SmtpError,
    SmtpNoStarttlsError,
    SmtpProtocolError,
    SmtpReplyError,
    SmtpTemporaryError,
    SmtpTimeoutError,
    SmtpTlsError,
)
from mtasts.probes.https import PolicyResponse
from mtasts.probes.options import ProbeOptions, socket_budget
from mtasts.probes.prober import (
    PolicyAtAddress,
    PolicyFetch,
    Prober,
    StarttlsProbe,
    fetch_policy,
    fetch_policy_at,
)
from mtasts.probes.smtp import StarttlsAtAddress, StarttlsSuccess

__all__ = [
    "Addresses",
    "DnsAnswer",
    "DnsError",
    "DnsFailure",
    "DnsStatus",
    "MxAnswer",
    "PolicyAtAddress",
    "PolicyCertificateError",
    "PolicyConnectError",
    "PolicyConnectTimeoutError",
    "PolicyContentTypeError",
    "PolicyDnsError",
    "PolicyEncodingError",
    "PolicyFetch",
    "PolicyFetchError",
    "PolicyProtocolError",
    "PolicyRedirectError",
    "PolicyResponse",
    "PolicySizeError",
    "PolicyStatusError",
    "PolicyTimeoutError",
    "PolicyTlsError",
    "ProbeError",
    "ProbeOptions",
    "Prober",
    "SmtpCertificateError",
    "SmtpConnectError",
    "SmtpError",
    "SmtpNoStarttlsError",
    "SmtpProtocolError",
    "SmtpReplyError",
    "SmtpTemporaryError",
    "SmtpTimeoutError",
    "SmtpTlsError",
    "StarttlsAtAddress",
    "StarttlsProbe",
    "StarttlsSuccess",
    "fetch_policy",
    "fetch_policy_at",
    "socket_budget",
]
