"""The policy fetch, as a sending MTA makes it (RFC 8461 §3.3), with httpx.

At one address: TCP to the resolved address (``https://<address>:<port>``), TLS with SNI and the
certificate checked for the policy host (httpx's ``sni_hostname`` request extension: httpcore then
uses that name as ``server_hostname``, so SNI and the host-name check both use it), ``Host`` set to
the policy host, no redirect followed, ``Accept-Encoding: identity``, the body read raw as a stream
and cut off past the size limit. httpx's connection pool is keyed by address, not by SNI name, so
keep-alive is off: every fetch is its own connection and no answer is reused for another host.

httpcore's ``trace`` extension tells which step a timeout or failure happened in (TCP connect, TLS
handshake, response head), so a stalled handshake is a timeout and not "broke off".

Each step has ``timeout`` seconds (httpx's timeouts), and the whole fetch at one address (connect,
handshake, head, body) has one deadline of ``LOOK_STEPS`` steps, kept by ``asyncio.timeout``
around it: httpx's read timeout restarts on every read, so a server that drips a byte a second
would otherwise hold a fetch for as long as it likes.
"""

from __future__ import annotations

import asyncio
import importlib.util
import ssl
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from mtasts.probes.certificates import Certificate, served_chain
from mtasts.probes.errors import (
    PolicyCertificateError,
    PolicyConnectError,
    PolicyConnectTimeoutError,
    PolicyContentTypeError,
    PolicyEncodingError,
    PolicyFetchError,
    PolicyProtocolError,
    PolicyRedirectError,
    PolicySizeError,
    PolicyStatusError,
    PolicyTimeoutError,
    PolicyTlsError,
)
from mtasts.probes.tls import hostport, is_certificate_problem, tls_problem
from mtasts.rfc.policy import MAX_POLICY_BYTES, POLICY_PATH

HEAD_LIMIT = 100 * 1024
"""Largest response head httpcore lets h11 (httpx's HTTP/1.1 parser) buffer."""
USER_AGENT = "mtasts-verify/0.2"
LOOK_STEPS = 3
"""The whole fetch at one address ends within this many per-step time limits."""

# httpcore asks ``import sniffio`` each time it makes a lock or semaphore, several times a fetch
# (httpcore/_synchronization.py, ``current_async_library``), and falls back to asyncio when the
# import fails; anyio 4 no longer installs sniffio, and a failed import is not remembered, so each
# of those asks searched every directory of sys.path again: a millisecond a fetch, a quarter of it.
# Where sniffio is absent, mark it so in sys.modules: the import then fails at once, as before.
if importlib.util.find_spec("sniffio") is None:
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]


@dataclass(frozen=True)
class PolicyResponse:
    """A policy served correctly at one address: the body and the facts of the answer."""

    host: str
    address: str
    status: int
    content_type: str
    body: bytes
    tls_version: str
    headers: tuple[tuple[str, str], ...] = ()
    chain: tuple[Certificate, ...] = ()
    """The certificates the server presented, leaf first."""


def new_client(tls: ssl.SSLContext, timeout: float) -> httpx.AsyncClient:
    """The client for a run of fetches: no redirects, no keep-alive, no environment proxies."""
    return httpx.AsyncClient(
        verify=tls,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
    )


async def fetch_at(
    client: httpx.AsyncClient, host: str, address: str, port: int, timeout: float
) -> PolicyResponse:
    """Fetch ``https://<host>/.well-known/mta-sts.txt`` from ``address``; raises ``PolicyFetchError``."""
    authority = host if port == 443 else f"{host}:{port}"
    where = f"{host} at {hostport(address, port)}"
    url = f"https://{authority}{POLICY_PATH}"
    steps: list[str] = []

    async def trace(event: str, info: Mapping[str, Any]) -> None:
        steps.append(event)

    request = client.build_request(
        "GET",
        httpx.URL(scheme="https", host=address, port=port, path=POLICY_PATH),
        headers={
            "Host": authority,
            "User-Agent": USER_AGENT,
            "Accept": "text/plain",
            "Accept-Encoding": "identity",
            "Connection": "close",
        },
        extensions={"sni_hostname": host, "trace": trace},
    )

    def step_started(name: str) -> bool:
        return f"connection.{name}.started" in steps

    whole = LOOK_STEPS * timeout
    try:
        async with asyncio.timeout(whole):
            return await _exchange(client, request, host, address, url, where, timeout, steps)
    except TimeoutError:
        if not step_started("start_tls"):
            raise PolicyConnectTimeoutError(
                host, f"{where} did not answer within {whole:g} s", address, "connect"
            ) from None
        if "connection.start_tls.complete" not in steps:
            raise PolicyTimeoutError(
                host, f"{where} did not finish the TLS handshake within {whole:g} s", address, "tls"
            ) from None
        raise PolicyTimeoutError(
            host, f"no complete answer from {url} ({where}) within {whole:g} s, however it paced it", address
        ) from None


async def _exchange(
    client: httpx.AsyncClient,
    request: httpx.Request,
    host: str,
    address: str,
    url: str,
    where: str,
    timeout: float,
    steps: list[str],
) -> PolicyResponse:
    def step_started(name: str) -> bool:
        return f"connection.{name}.started" in steps

    try:
        response = await client.send(request, stream=True)
    except httpx.ConnectTimeout:
        if step_started("start_tls"):
            raise PolicyTimeoutError(
                host, f"{where} did not finish the TLS handshake within {timeout:g} s", address, "tls"
            ) from None
        raise PolicyConnectTimeoutError(
            host, f"{where} did not answer within {timeout:g} s", address, "connect"
        ) from None
    except httpx.TimeoutException:
        raise PolicyTimeoutError(
            host, f"no complete answer from {url} ({where}) within {timeout:g} s", address
        ) from None
    except httpx.ConnectError as exc:
        raise _connect_error(exc, host, address, where, step_started("start_tls")) from None
    except httpx.HTTPError as exc:
        raise _protocol_error(exc, host, address, where, steps) from None
    try:
        return await _read(response, host, address, url, where, timeout)
    except httpx.TimeoutException:
        raise PolicyTimeoutError(
            host, f"no complete answer from {url} ({where}) within {timeout:g} s", address
        ) from None
    except httpx.HTTPError as exc:
        raise _protocol_error(exc, host, address, where, steps) from None
    finally:
        await response.aclose()


async def _read(
    response: httpx.Response, host: str, address: str, url: str, where: str, timeout: float
) -> PolicyResponse:
    status = response.status_code
    headers = tuple((k.lower(), v) for k, v in response.headers.multi_items())
    if 300 <= status < 400:
        location = response.headers.get("location")
        raise PolicyRedirectError(
            host,
            f"{url} answers {status}, a redirect to {location or 'nowhere'}: senders never follow "
            "redirects (RFC 8461 §3.3)",
            address, status, location,
        )  # fmt: skip
    if status != 200:
        raise PolicyStatusError(
            host, f"{url} answers HTTP {status}; senders accept only 200 (RFC 8461 §3.3)", address, status,
            headers,
        )  # fmt: skip
    content_type = response.headers.get("content-type")
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "text/plain":
        shown = content_type if content_type is not None else "no Content-Type"
        raise PolicyContentTypeError(
            host,
            f"{url} is served as {shown!r}; senders want text/plain (RFC 8461 §3.3)",
            address,
            content_type,
            headers,
        )
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise PolicyEncodingError(
            host,
            f"{url} is served with Content-Encoding: {encoding} although the request asked for "
            "identity; a sender that does not decode it reads no policy",
            address, encoding,
        )  # fmt: skip
    too_big = PolicySizeError(
        host, f"{url} is larger than {MAX_POLICY_BYTES // 1024} KiB; senders stop reading (RFC 8461 §3.3)",
        address, MAX_POLICY_BYTES,
    )  # fmt: skip
    length = response.headers.get("content-length", "")
    if length.strip().isdigit() and int(length) > MAX_POLICY_BYTES:
        raise too_big
    body = b""
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > MAX_POLICY_BYTES:
            raise too_big
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    is_tls = isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket)
    version = ssl_object.version() if is_tls and ssl_object is not None else ""
    chain = served_chain(ssl_object) if is_tls else ()
    return PolicyResponse(
        host=host,
        address=address,
        status=status,
        content_type=content_type or "",
        body=body,
        tls_version=version or "",
        headers=tuple(response.headers.multi_items()),
        chain=chain,
    )


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception it was raised from or during."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def _connect_error(
    exc: httpx.ConnectError, host: str, address: str, where: str, in_tls: bool
) -> PolicyFetchError:
    causes = _causes(exc)
    for cause in causes:
        if isinstance(cause, ssl.SSLError):
            kind = PolicyCertificateError if is_certificate_problem(cause) else PolicyTlsError
            return kind(host, f"{where}: {tls_problem(cause, host)}", address)
    os_error = next((c for c in causes if isinstance(c, OSError)), None)
    text = (os_error.strerror if os_error is not None else None) or str(exc) or type(exc).__name__
    if in_tls:
        return PolicyTlsError(
            host,
            f"the TLS handshake with {where} broke off ({text}); does the server offer TLS 1.2 or later?",
            address,
        )
    return PolicyConnectError(host, f"{where}: {text}", address)


def _protocol_error(
    exc: httpx.HTTPError, host: str, address: str, where: str, steps: list[str]
) -> PolicyFetchError:
    text = (str(exc) or type(exc).__name__).splitlines()[0][:200]
    head_done = "http11.receive_response_headers.complete" in steps
    if isinstance(exc, httpx.RemoteProtocolError) and not head_done:
        return PolicyProtocolError(
            host,
            f"{where} sent a response head that is not valid HTTP/1.1 or is longer than "
            f"{HEAD_LIMIT // 1024} KiB ({text}); senders cannot read it",
            address,
        )
    return PolicyProtocolError(host, f"broken HTTP answer from {where}: {text}", address)
