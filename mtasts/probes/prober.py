"""``Prober``: the network access of one run, every answer shared and every socket counted.

Each DNS question, policy fetch and STARTTLS probe runs once per prober however many domains or
checks ask for it (a slow or dead host costs its time limit once). ``verify`` forgets what only one
domain asks (its TXT records, MX and policy fetch) once that domain's report is made, so over
many domains the memo grows with the MX hosts, not with the domains. Every socket-opening step holds
one slot of a semaphore sized from the open-file limit (``socket_budget``), so no concurrency
setting can make the process run out of file descriptors and report EMFILE as the domains' fault.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import httpx

from mtasts.probes import https, smtp
from mtasts.probes.dns import Addresses, DnsAnswer, DnsStatus, MxAnswer, make_resolver, query
from mtasts.probes.dnssec import Signed, TlsaAnswer, Validator, dnssec_resolver, signed_query
from mtasts.probes.errors import DnsError, PolicyDnsError, PolicyFetchError
from mtasts.probes.https import PolicyResponse
from mtasts.probes.options import ProbeOptions, socket_budget
from mtasts.probes.smtp import StarttlsAtAddress
from mtasts.probes.tls import client_context, unverified_context

T = TypeVar("T")


@dataclass(frozen=True)
class PolicyAtAddress:
    """The policy fetch from one address: ``response`` or ``error``, never both."""

    address: str
    response: PolicyResponse | None = None
    error: PolicyFetchError | None = None


@dataclass(frozen=True)
class PolicyFetch:
    """The policy fetched from every A and AAAA address of its host."""

    host: str
    results: tuple[PolicyAtAddress, ...] = ()
    error: PolicyDnsError | None = None
    """Set when the host has no address, so nothing was fetched."""

    @property
    def responses(self) -> list[PolicyResponse]:
        return [r.response for r in self.results if r.response is not None]

    @property
    def errors(self) -> list[PolicyFetchError]:
        """Every failure, the DNS one or one per failing address."""
        found = [r.error for r in self.results if r.error is not None]
        return [self.error, *found] if self.error is not None else found

    @property
    def body(self) -> bytes | None:
        """The body served at every address, or None when any address failed or they differ."""
        bodies = {r.body for r in self.responses}
        if self.errors or len(bodies) != 1:
            return None
        return bodies.pop()


@dataclass(frozen=True)
class StarttlsProbe:
    """STARTTLS at every A and AAAA address of one MX host."""

    host: str
    results: tuple[StarttlsAtAddress, ...] = ()
    error: DnsError | None = None
    """The lookup failure when the host has no address (``no_address`` says so otherwise)."""
    no_address: str = ""
    """Why the host has no address (empty when it has some)."""


class Prober:
    """Network access for one run. Use as ``async with Prober(options) as prober:``."""

    def __init__(self, options: ProbeOptions) -> None:
        self.options = options
        self.resolver = make_resolver(options)
        self.tls = client_context(options.ca_bundle)
        self._unverified = unverified_context()
        self._dnssec_resolver = dnssec_resolver(self.resolver)
        self._unchecked_resolver = dnssec_resolver(self.resolver, checking_disabled=True)
        self._validator = Validator(self.signed, options.dnssec_anchors, self.signed_unchecked)
        self.max_sockets = options.max_sockets or socket_budget()
        self._sockets = asyncio.Semaphore(self.max_sockets)
        self._client: httpx.AsyncClient | None = None
        self._tasks: dict[tuple[str, ...], asyncio.Future[Any]] = {}

    async def __aenter__(self) -> Prober:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel what is still running and close the HTTP client."""
        for task in self._tasks.values():
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    def once(self, key: tuple[str, ...], make: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        """The one task computing ``key``: started on first use, shared afterwards."""
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(make())
            self._tasks[key] = task
            task.add_done_callback(lambda done: self._settle(key, done))
        return task

    def _settle(self, key: tuple[str, ...], task: asyncio.Future[Any]) -> None:
        """Keep a finished answer as a plain future: a done task also keeps its coroutine, its
        name and its place in asyncio's set of all tasks, for as long as the memo keeps it."""
        if self._tasks.get(key) is not task or task.cancelled() or task.exception() is not None:
            return
        settled: asyncio.Future[Any] = task.get_loop().create_future()
        settled.set_result(task.result())
        self._tasks[key] = settled

    def forget(self, questions: Iterable[tuple[str, str]] = (), policy_hosts: Iterable[str] = ()) -> None:
        """Drop the finished answers to ``questions`` (name, type) and the finished policy fetches
        of ``policy_hosts`` (their A and AAAA answers too); asked again, they are asked anew.

        For a run over many domains: what only one domain's checks ask (its ``_mta-sts`` TXT, its
        MX, its policy) is forgotten once its report is made, so the memo does not grow with the
        domain count. Anything still running stays.
        """
        keys = [_dns_key(name, rdtype) for name, rdtype in questions]
        for host in policy_hosts:
            keys += [_https_key(host), _dns_key(host, "A"), _dns_key(host, "AAAA")]
        for key in keys:
            task = self._tasks.get(key)
            if task is not None and task.done():
                del self._tasks[key]

    # DNS ---------------------------------------------------------------------

    def query(self, name: str, rdtype: str) -> asyncio.Future[DnsAnswer]:
        """One DNS question (``TXT``, ``MX``, ``A``, ``AAAA``…), asked once per run."""
        return self.once(_dns_key(name, rdtype), lambda: self._query(name, rdtype))

    async def _query(self, name: str, rdtype: str) -> DnsAnswer:
        async with self._sockets:
            return await query(self.resolver, name, rdtype)

    async def mx(self, domain: str) -> MxAnswer:
        return MxAnswer.from_answer(domain, await self.query(domain, "MX"))

    async def addresses(self, host: str) -> Addresses:
        """Every A and AAAA address of ``host`` (both asked at once)."""
        a, aaaa = await asyncio.gather(self.query(host, "A"), self.query(host, "AAAA"))
        error = next((x.error for x in (a, aaaa) if x.error is not None), None)
        found = Addresses(host, a.records, aaaa.records)
        if found.all:
            return found
        nx = a.status is DnsStatus.NXDOMAIN or aaaa.status is DnsStatus.NXDOMAIN
        return Addresses(host, (), (), error=error, nxdomain=nx)

    def signed(self, name: str, rdtype: str) -> asyncio.Future[Signed]:
        """One question asked with the DNSSEC OK bit (RRSIGs included), once per run."""
        return self.once(("dnssec", name.lower(), rdtype), lambda: self._signed(name, rdtype))

    async def _signed(self, name: str, rdtype: str) -> Signed:
        async with self._sockets:
            return await signed_query(self._dnssec_resolver, name, rdtype)

    def signed_unchecked(self, name: str, rdtype: str) -> asyncio.Future[Signed]:
        """``signed`` with the CD bit: what a validating resolver would refuse as bogus."""
        return self.once(("dnssec-cd", name.lower(), rdtype), lambda: self._signed_unchecked(name, rdtype))

    async def _signed_unchecked(self, name: str, rdtype: str) -> Signed:
        async with self._sockets:
            return await signed_query(self._unchecked_resolver, name, rdtype)

    def tlsa(self, host: str) -> asyncio.Future[TlsaAnswer]:
        """The TLSA records of the MX ``host`` (``_25._tcp.<host>``) and their DNSSEC verdict."""
        return self.once(("tlsa", host.lower()), lambda: self._validator.tlsa(host, self.options.smtp_port))

    # HTTPS -------------------------------------------------------------------

    def fetch_policy(self, host: str) -> asyncio.Future[PolicyFetch]:
        """The policy from every address of ``host``, fetched once per run."""
        return self.once(_https_key(host), lambda: self._fetch_policy(host))

    async def _fetch_policy(self, host: str) -> PolicyFetch:
        found = await self.addresses(host)
        if not found.all:
            why = found.why_none
            return PolicyFetch(
                host, error=PolicyDnsError(host, f"{host} does not resolve: {why}", found.error)
            )
        results = await asyncio.gather(*(self._fetch_one(host, a) for a in found.all))
        return PolicyFetch(host, tuple(results))

    async def _fetch_one(self, host: str, address: str) -> PolicyAtAddress:
        try:
            return PolicyAtAddress(address, response=await self.fetch_policy_at(host, address))
        except PolicyFetchError as exc:
            return PolicyAtAddress(address, error=exc)

    async def fetch_policy_at(self, host: str, address: str) -> PolicyResponse:
        """The policy of ``host`` from one ``address`` (not memoized); raises ``PolicyFetchError``."""
        if self._client is None:
            self._client = https.new_client(self.tls, self.options.timeout)
        async with self._sockets:
            return await https.fetch_at(
                self._client, host, address, self.options.https_port, self.options.timeout
            )

    # SMTP --------------------------------------------------------------------

    def starttls(self, host: str) -> asyncio.Future[StarttlsProbe]:
        """STARTTLS at every address of the MX ``host``, probed once per run."""
        return self.once(("smtp", host.lower()), lambda: self._starttls(host))

    async def _starttls(self, host: str) -> StarttlsProbe:
        found = await self.addresses(host)
        if not found.all:
            return StarttlsProbe(host, error=found.error, no_address=found.why_none)
        results = await asyncio.gather(*(self.starttls_at(host, a) for a in found.all))
        return StarttlsProbe(host, tuple(results))

    async def starttls_at(self, host: str, address: str) -> StarttlsAtAddress:
        """STARTTLS at one address of ``host`` (not memoized)."""
        async with self._sockets:
            return await smtp.starttls_at(
                host, address, self.options.smtp_port, self.tls, self.options.timeout
            )

    def served_chains(self, host: str) -> asyncio.Future[StarttlsProbe]:
        """STARTTLS at every address of ``host`` without checking the certificate, once per run.

        What a DANE sender sees: it matches TLSA records against whatever chain is served, trusted
        by a CA or not (RFC 7672 §3.1), so a certificate no CA vouches for is still read here.
        """
        return self.once(("smtp-chain", host.lower()), lambda: self._served_chains(host))

    async def _served_chains(self, host: str) -> StarttlsProbe:
        found = await self.addresses(host)
        if not found.all:
            return StarttlsProbe(host, error=found.error, no_address=found.why_none)

        async def one(address: str) -> StarttlsAtAddress:
            async with self._sockets:
                return await smtp.starttls_at(
                    host, address, self.options.smtp_port, self._unverified, self.options.timeout
                )

        return StarttlsProbe(host, tuple(await asyncio.gather(*(one(a) for a in found.all))))


async def fetch_policy(host: str, options: ProbeOptions) -> PolicyFetch:
    """Fetch the policy of ``host`` (``mta-sts.<domain>``) from every A and AAAA address.

    Never raises for network trouble: each address's ``PolicyResponse`` or ``PolicyFetchError``
    is in the result (``PolicyFetch.error`` when the host does not resolve). May raise
    ``dns.resolver.NoResolverConfiguration`` when no nameserver is given and the system has none.
    """
    async with Prober(options) as prober:
        return await prober.fetch_policy(host)


async def fetch_policy_at(host: str, address: str, options: ProbeOptions) -> PolicyResponse:
    """Fetch the policy of ``host`` from one ``address`` only; raises ``PolicyFetchError``."""
    async with Prober(options) as prober:
        return await prober.fetch_policy_at(host, address)


def _dns_key(name: str, rdtype: str) -> tuple[str, ...]:
    """The memo's key of a DNS question: what ``query`` asks once and ``forget`` drops."""
    return ("dns", name.lower(), rdtype)


def _https_key(host: str) -> tuple[str, ...]:
    """The memo's key of a policy fetch from ``host``."""
    return ("https", host.lower())
