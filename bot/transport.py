"""The bot's sends to the Bot API on aiohttp's client, behind PTB's request interface.

PTB talks to Telegram through a :class:`telegram.request.BaseRequest`; its own,
:class:`telegram.request.HTTPXRequest`, is httpx on httpcore. Serving 64 updates at once
through a pool of 8 connections, httpcore's pool spent more of the event loop than the rest
of duban's reply path: it assigns requests to connections anew at each request and answer,
and at each assignment asks every idle connection whether the server closed it (a
``getpeername`` and a ``poll``). The same sends through aiohttp's connector took half the
CPU and doubled the replies answered a second (docs/performance.md, "Since: the reports'
trust fixes"). PTB documents this seam (``ApplicationBuilder.request``); what is written here
is only the glue: the arguments PTB passes, as aiohttp takes them, and aiohttp's errors as
PTB's (``TimedOut``, ``NetworkError``), as ``HTTPXRequest`` maps httpx's.

getUpdates keeps PTB's own request (one long poll at a time: nothing to gain). When the
environment names a proxy, the sends keep PTB's request too (:func:`sends_request`): aiohttp
takes fewer kinds of proxy than httpx and reads ``NO_PROXY`` its own way, and every request
of the bot should take one way out.
"""

from __future__ import annotations

import ssl
import urllib.parse
import urllib.request

import aiohttp
import certifi
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData


class AiohttpRequest(BaseRequest):
    """:class:`telegram.request.BaseRequest` on an :class:`aiohttp.ClientSession`.

    Args:
        connection_pool_size: connections kept to the Bot API (aiohttp's connector limit); a
            request waits for a free one at most ``pool_timeout`` seconds.
        read_timeout: seconds to wait for each read of the answer (None: no limit).
        write_timeout: kept for PTB's interface; aiohttp has no write timeout of its own, so a
            request's whole time is bounded by ``write_timeout + read_timeout`` beside the
            connect and pool limits.
        connect_timeout: seconds to open a connection.
        pool_timeout: seconds to wait for a free connection before ``TimedOut``; aiohttp
            counts opening a new one in the same wait, so the bound is ``pool_timeout +
            connect_timeout``.
        media_write_timeout: ``write_timeout`` for a request that uploads files.

    It reads nothing from the environment (no proxy, no ``.netrc``): :func:`sends_request`
    uses it only when the environment names no proxy. A file's name is sent as PTB's httpx
    sends it (:func:`_form_file_name`); a request without files has no overall deadline (its
    connect and each read are bounded, as with httpx), an upload has one, the sum of the
    timeouts, because aiohttp bounds no single write.
    """

    def __init__(self, connection_pool_size: int = 8, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0,
                 media_write_timeout: float | None = 20.0) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._size = connection_pool_size
        self._read = read_timeout
        self._write = write_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        self._media_write = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout (PTB adds it to getUpdates' own)."""
        return self._read

    async def initialize(self) -> None:
        """Open the session (idempotent)."""
        if self._session is None or self._session.closed:
            # certifi's CA bundle, as PTB's httpx uses: a container without the system's
            # certificates still reaches api.telegram.org
            context = ssl.create_default_context(cafile=certifi.where())
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._size, ssl=context), trust_env=False)

    async def shutdown(self) -> None:
        """Close the session and its connections (idempotent)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
                         write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
                         connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
                         pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
                         ) -> tuple[int, bytes]:
        """One request: the status code and the body. See
        :meth:`telegram.request.BaseRequest.do_request`.

        Raises:
            RuntimeError: not initialized.
            telegram.error.TimedOut: no free connection within the pool timeout, or a
                connect, read or overall timeout.
            telegram.error.NetworkError: any other failure of the connection.
        """
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        fields = request_data.json_parameters if request_data else None
        read = _given(read_timeout, self._read)
        write = _given(write_timeout, self._media_write if files else self._write)
        connect = _given(connect_timeout, self._connect)
        pool = _given(pool_timeout, self._pool)
        data: aiohttp.FormData | dict[str, str] | None = fields
        if files:
            form = aiohttp.FormData(quote_fields=False)  # a file's name as UTF-8, as httpx
            for name, value in (fields or {}).items():
                form.add_field(name, value)
            for name, (filename, content, mimetype) in files.items():
                form.add_field(name, content, filename=_form_file_name(filename),
                               content_type=mimetype)
            data = form
        # aiohttp's connect timeout includes the wait for a free connection (pool), its
        # sock_connect the socket's own connect; None is no limit, as for httpx
        timeout = aiohttp.ClientTimeout(
            total=None if not files or read is None or write is None else
            read + write + (connect or 0.0) + (pool or 0.0),
            connect=None if pool is None else pool + (connect or 0.0),
            sock_connect=connect, sock_read=read)
        try:
            async with self._session.request(method, url, data=data, timeout=timeout,
                                             headers={"User-Agent": self.USER_AGENT}) as res:
                return res.status, await res.read()
        except TimeoutError as err:  # aiohttp's timeouts (ServerTimeoutError too) are these
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{type(err).__name__}: {err}") from err


# httpx's encoding of a form's file name (HTML5's): a double quote and the control characters
# as %XX; aiohttp doubles the backslash itself. Written here because aiohttp escapes a quote as
# \" and refuses control characters in a header, where Telegram has always been sent httpx's
# form. httpx sends ESC and DEL raw, which aiohttp refuses: they are %1B and %7F here.
_FILE_NAME_ENCODING = {0x22: "%22", 0x7F: "%7F", **{c: f"%{c:02X}" for c in range(0x20)}}


def _form_file_name(name: str | None) -> str | None:
    """``name`` as httpx puts it in a part's ``Content-Disposition`` (before aiohttp's own
    escaping of backslashes), e.g. ``'say "hi".txt'`` -> ``'say %22hi%22.txt'``."""
    return None if name is None else name.translate(_FILE_NAME_ENCODING)


def _given(value: ODVInput[float], default: float | None) -> float | None:
    """A timeout PTB passed, or ours when it passed none (its ``DEFAULT_NONE``)."""
    return default if isinstance(value, DefaultValue) else value


def environment_proxy(url: str) -> tuple[str, str] | None:
    """The proxy variable the environment sets for ``url``'s scheme, as ``(scheme, proxy
    URL)``, or None.

    ``scheme`` is ``"https"`` for ``HTTPS_PROXY`` or ``https_proxy``, ``"all"`` for
    ``ALL_PROXY`` (the standard library's reading, ``urllib.request.getproxies``).
    ``NO_PROXY`` is deliberately not applied: whether it exempts ``url`` is the reading of
    the library that makes the request (httpx's, see :func:`sends_request`).
    """
    proxies = urllib.request.getproxies()
    for scheme in (urllib.parse.urlsplit(url).scheme, "all"):
        if proxies.get(scheme):
            return scheme, proxies[scheme]
    return None


def sends_request(base_url: str, connection_pool_size: int,
                  pool_timeout: float) -> BaseRequest:
    """The request the bot's sends go through: :class:`AiohttpRequest`, unless the environment
    names a proxy for ``base_url``'s scheme (whatever ``NO_PROXY`` says).

    Behind a proxy the sends keep PTB's :class:`telegram.request.HTTPXRequest`, with the same
    pool size and wait, so that they go the way getUpdates goes: httpx takes SOCKS (with
    ``httpx[socks]``, installed with duban), ``https://`` proxies and ``ALL_PROXY``, which
    aiohttp ignores or refuses, and reads ``NO_PROXY`` its own way (``host:port``, ``*`` in a
    list), where aiohttp reads it as the standard library does. docs/deploy.md, "Network:
    reaching Telegram".

    Args:
        base_url: the Bot API's base URL (``TELEGRAM_API_BASE_URL``).
        connection_pool_size: connections kept to the Bot API.
        pool_timeout: seconds a request waits for a free connection.
    """
    if environment_proxy(base_url) is None:
        return AiohttpRequest(connection_pool_size, pool_timeout=pool_timeout)
    return HTTPXRequest(connection_pool_size=connection_pool_size, pool_timeout=pool_timeout)
