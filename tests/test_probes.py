"""Probe failures are typed by cause: DNS exceptions map to the DnsFailure a person can act on."""

from __future__ import annotations

import errno
import ssl
import subprocess
import sys

import dns.message
import dns.rcode
import dns.resolver
from cryptography import x509

from mtasts.probes import DnsFailure
from mtasts.probes.dns import dns_error
from mtasts.probes.tls import client_context
from tests.servers import Lab


def no_nameservers(cause: object, rcode: int | None = None) -> dns.resolver.NoNameservers:
    """The exception dnspython raises when every server failed, with one server's failure."""
    request = dns.message.make_query("example.com", "MX")
    answer = None
    if rcode is not None:
        answer = dns.message.make_response(request)
        answer.set_rcode(rcode)
    return dns.resolver.NoNameservers(request=request, errors=[("127.0.0.1", False, 53, cause, answer)])


def test_emfile_is_reported_as_itself() -> None:
    """Running out of file descriptors is NO_FILES naming EMFILE, not a SERVFAIL of the domain."""
    found = dns_error("example.com", "MX", no_nameservers(OSError(errno.EMFILE, "Too many open files")), 5)
    assert found.failure is DnsFailure.NO_FILES
    assert "EMFILE" in found.reason and "SERVFAIL" not in found.reason


def test_servfail_and_refused_are_told_apart() -> None:
    """A SERVFAIL answer and a REFUSED answer get their own failures."""
    servfail = dns_error("example.com", "MX", no_nameservers("SERVFAIL", dns.rcode.SERVFAIL), 5)
    refused = dns_error("example.com", "MX", no_nameservers("REFUSED", dns.rcode.REFUSED), 5)
    assert (servfail.failure, refused.failure) == (DnsFailure.SERVFAIL, DnsFailure.REFUSED)
    assert "SERVFAIL" in servfail.reason and "REFUSED" in refused.reason


def test_cname_loop_is_a_loop() -> None:
    """dnspython's ChainTooLong, raised directly or kept as a server's error, is a CNAME loop."""
    direct = dns_error("example.com", "A", dns.message.ChainTooLong(), 5)
    kept = dns_error("example.com", "A", no_nameservers(dns.message.ChainTooLong()), 5)
    assert direct.failure is kept.failure is DnsFailure.CNAME_LOOP
    assert "CNAME chain loops" in kept.reason


def test_timeout_names_the_time_limit() -> None:
    """No answer within the lifetime is a timeout saying how long was waited."""
    found = dns_error("example.com", "MX", dns.resolver.LifetimeTimeout(timeout=2.0, errors=[]), 2.0)
    assert found.failure is DnsFailure.TIMEOUT and "within 2 s" in found.reason


def test_closed_port_is_refused() -> None:
    """A nameserver port with nothing listening (ICMP port unreachable) is REFUSED, not a timeout."""
    found = dns_error("example.com", "MX", no_nameservers(ConnectionRefusedError(errno.ECONNREFUSED, "x")), 5)
    assert found.failure is DnsFailure.REFUSED


def test_test_certificates_carry_key_identifiers(lab: Lab) -> None:
    """Every certificate the test PKI makes has an Authority Key Identifier (3.13 checks it)."""
    pki = lab.pki
    leaf = pki.ca.issue_cert("a.example")
    pems = [leaf.cert_chain_pems[0].bytes()]
    pki.self_signed_context("b.example")
    pems.append((pki.directory / "self-signed-b.example.pem").read_bytes())
    for pem in pems:
        cert = x509.load_pem_x509_certificate(pem)
        cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)


def test_client_context_has_the_same_flags_on_every_python() -> None:
    """The probes' TLS context never has VERIFY_X509_STRICT, whatever Python's default."""
    assert not client_context(None).verify_flags & ssl.VERIFY_X509_STRICT


def test_socket_budget_fits_under_the_open_file_limit() -> None:
    """Under a hard limit of 64 files the socket budget leaves room for what is open, and is not 1."""
    code = (
        "import resource\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
        "from mtasts.probes import socket_budget\n"
        "import os\n"
        "print(socket_budget(), len(os.listdir('/proc/self/fd')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    budget, in_use = map(int, out.split())
    assert 16 <= budget and budget + in_use <= 64
