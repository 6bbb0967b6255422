"""How the adapter's requests travel: aiohttp for the identities it can carry, lightkube's httpx client for the rest.

aiohttp spends about a fifth of httpx's CPU per request (bench in docs/decisions.md), and in a burst half of the
operator's CPU had been its HTTP client. Client certificates, bearer tokens, token files (a pod's rotating
ServiceAccount token) and basic auth go through aiohttp; exec plugins and auth providers, which need lightkube's
machinery, keep httpx. Both speak HTTP/1.1 and raise `ApiFailure` when the server cannot be reached.
"""

from __future__ import annotations

import asyncio
import base64
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import httpx2
from lightkube.config.client_adapter import AsyncClient as httpx_client
from lightkube.config.client_adapter import ConnectionParams, verify_cluster
from lightkube.config.kubeconfig import SingleConfig

from .errors import ApiFailure, unreachable

Params = dict[str, Any]
Answer = tuple[int, bytes]
TIMEOUT = 30.0
TOKEN_REREAD = 60.0  # seconds; the kubelet rotates a projected token well before it expires, as client-go assumes
CONNECTIONS = 100
AIOHTTP_ERRORS = (aiohttp.ClientError, TimeoutError)  # TimeoutError: aiohttp's own timeouts raise it


class Transport(Protocol):
    async def request(self, method: str, url: str, params: Params | None, body: bytes | None, ctype: str) -> Answer:
        """One call: the status and the whole body."""
        ...

    def stream(self, url: str, params: Params, read_timeout: float) -> AbstractAsyncContextManager[Stream]:
        """A long GET (a watch) whose body arrives in chunks."""
        ...

    async def close(self) -> None: ...


class Stream:
    """A streamed answer: its status, and its body in chunks, where a broken connection is an ApiFailure."""

    def __init__(self, status: int, chunks: AsyncIterator[bytes], errors: tuple[type[BaseException], ...]) -> None:
        self.status, self._chunks, self._errors = status, chunks, errors

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._chunks:
                yield chunk
        except self._errors as e:
            raise unreachable(e) from e


class Bearer:
    """The Authorization header of a user: static, or read from a token file again once a minute and on a 401."""

    def __init__(self, token: str | None = None, token_file: str | None = None, basic: str | None = None) -> None:
        self._static = f"Bearer {token}" if token and not token_file else basic
        self._file, self._read_at = token_file, 0.0
        self._header: str | None = None

    def header(self, stale: bool = False) -> str | None:
        if self._file is None:
            return self._static
        now = time.monotonic()
        if stale or self._header is None or now - self._read_at > TOKEN_REREAD:
            try:
                token = Path(self._file).read_text().strip()
            except OSError as e:
                raise ApiFailure(f"cannot read the token file {self._file}: {e}", None, None) from e
            self._header, self._read_at = f"Bearer {token}", now
        return self._header

    @property
    def rotates(self) -> bool:
        return self._file is not None


def env_proxy(server: str) -> str | None:
    """The proxy the environment names for the API server (HTTPS_PROXY, NO_PROXY), looked up once. aiohttp's
    `trust_env` would do this per request and also read ~/.netrc in a thread each time (3 % of a burst's CPU)."""
    url = urllib.parse.urlsplit(server)
    if urllib.request.proxy_bypass(url.hostname or ""):
        return None
    return urllib.request.getproxies().get(url.scheme)


class AiohttpTransport:
    def __init__(self, server: str, ssl: Any, bearer: Bearer) -> None:
        self._server, self._ssl, self._bearer = server.rstrip("/"), ssl, bearer
        self._proxy = env_proxy(server)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _open(self) -> aiohttp.ClientSession:
        """Made on first use, inside the event loop that uses it (aiohttp binds a session to its loop)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            connector = aiohttp.TCPConnector(ssl=self._ssl, limit=CONNECTIONS)
            self._session = aiohttp.ClientSession(connector=connector, proxy=self._proxy)
            self._loop = loop
        return self._session

    def _headers(self, ctype: str | None, stale: bool = False) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if ctype:
            headers["Content-Type"] = ctype
        if auth := self._bearer.header(stale):
            headers["Authorization"] = auth
        return headers

    async def request(self, method: str, url: str, params: Params | None, body: bytes | None, ctype: str) -> Answer:
        session = self._open()
        timeout = aiohttp.ClientTimeout(total=TIMEOUT)
        for stale in (False, True):
            try:
                async with session.request(
                    method, self._server + url, params=params, data=body,
                    headers=self._headers(ctype if body is not None else None, stale), timeout=timeout,
                ) as resp:  # fmt: skip
                    status, data = resp.status, await resp.read()
            except AIOHTTP_ERRORS as e:
                raise unreachable(e) from e
            if status != 401 or not self._bearer.rotates:
                break
        return status, data

    @asynccontextmanager
    async def stream(self, url: str, params: Params, read_timeout: float) -> AsyncIterator[Stream]:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=TIMEOUT, sock_read=read_timeout)
        try:
            async with self._open().get(
                self._server + url, params=params, headers=self._headers(None), timeout=timeout
            ) as resp:
                yield Stream(resp.status, resp.content.iter_any(), AIOHTTP_ERRORS)
        except AIOHTTP_ERRORS as e:
            raise unreachable(e) from e

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class HttpxTransport:
    def __init__(self, http: httpx2.AsyncClient) -> None:
        self._http = http

    async def request(self, method: str, url: str, params: Params | None, body: bytes | None, ctype: str) -> Answer:
        headers = {"Content-Type": ctype} if body is not None else None
        try:
            resp = await self._http.request(method, url, params=params, content=body, headers=headers)
        except httpx2.HTTPError as e:
            raise unreachable(e) from e
        return resp.status_code, resp.content

    @asynccontextmanager
    async def stream(self, url: str, params: Params, read_timeout: float) -> AsyncIterator[Stream]:
        request = self._http.build_request("GET", url, params=params)
        request.extensions["timeout"] = httpx2.Timeout(TIMEOUT, read=read_timeout).as_dict()
        try:
            resp = await self._http.send(request, stream=True)
        except httpx2.HTTPError as e:
            raise unreachable(e) from e
        try:
            yield Stream(resp.status_code, resp.aiter_bytes(), (httpx2.HTTPError,))
        finally:
            await resp.aclose()

    async def close(self) -> None:
        await self._http.aclose()


def transport_for(config: SingleConfig, prefer: str = "aiohttp") -> Transport:
    """aiohttp unless the user needs an exec plugin or an auth provider (or `prefer` says httpx)."""
    user, cluster = config.user, config.cluster
    if prefer == "httpx" or (user is not None and (user.exec or user.auth_provider)):
        return HttpxTransport(httpx_client(config, ConnectionParams(timeout=httpx2.Timeout(TIMEOUT))))
    assert user is not None, "the kubeconfig context names no user"
    ssl = verify_cluster(cluster, user, config.abs_file)
    basic = None
    if user.username and user.password:
        basic = "Basic " + base64.b64encode(f"{user.username}:{user.password}".encode()).decode()
    token_file = str(config.abs_file(user.token_file)) if user.token_file else None
    return AiohttpTransport(cluster.server, ssl, Bearer(user.token, token_file, basic))
