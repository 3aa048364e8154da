"""Review of the sends' transport (bot/transport.py): AiohttpRequest against PTB's own
HTTPXRequest, under the same environment and against the same local servers (a Bot API
stand-in, an HTTP forward proxy, a SOCKS5 proxy). Every server is on 127.0.0.1.

What it found is fixed and tested here: NO_PROXY read one way by the sends and another by
getUpdates (the sends now take httpx whenever a proxy is set), a file name with CR/LF refused
and one with a quote or a tab sent otherwise than httpx, ``pool_timeout=None`` still timing
out, and a whole-request deadline cutting off a slow but steady answer."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from telegram import InputFile
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.request import BaseRequest, HTTPXRequest, RequestData
from telegram.request._requestparameter import RequestParameter

from bot.transport import AiohttpRequest, sends_request

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                   "all_proxy", "NO_PROXY", "no_proxy")


@pytest.fixture(autouse=True)
def _clean_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _data(**values: Any) -> RequestData:
    return RequestData([RequestParameter.from_input(k, v) for k, v in values.items()])


# ---------------------------------------------------------------- servers

class Api:
    """A Bot API stand-in: records each request (path, headers, raw body, peer)."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.base = ""
        self.port = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append({"path": request.path, "headers": request.headers.copy(),
                          "body": body})
        name = request.path.rsplit("/", 1)[-1]
        if name == "getMe":
            return web.json_response({"ok": True, "result": {
                "id": 1, "is_bot": True, "first_name": "b", "username": "b_bot"}})
        if name == "getUpdates":
            return web.json_response({"ok": True, "result": []})
        if name == "slow":
            await asyncio.sleep(float(request.query.get("wait", "1")))
        if name == "trickle":  # headers at once, then the body a piece every 0.15 s
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.content_length = 11 + 18 + 11
            await response.prepare(request)
            await response.write(b'{"ok":true,')
            for _ in range(9):
                await asyncio.sleep(0.15)
                await response.write(b"  ")
            await response.write(b'"result":1}')
            return response
        if name == "huge":
            text = "x" * 8_000_000
            return web.json_response({"ok": True, "result": text})
        if name == "s429":
            return web.json_response({"ok": False, "error_code": 429,
                                      "description": "Too Many Requests: retry after 3",
                                      "parameters": {"retry_after": 3}}, status=429)
        if name in ("s401", "s404", "s409", "s400", "s403"):
            code = int(name[1:])
            return web.json_response({"ok": False, "error_code": code,
                                      "description": f"Error {code}: something"},
                                     status=code)
        if name == "s502":
            return web.Response(status=502, text="<html>Bad Gateway</html>",
                                content_type="text/html")
        return web.json_response({"ok": True, "result": True})


@contextlib.asynccontextmanager
async def _api_server(host: str = "127.0.0.1") -> AsyncIterator[Api]:
    api = Api()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", api.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    api.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    api.base = f"http://{'[::1]' if ':' in host else host}:{api.port}"
    try:
        yield api
    finally:
        await runner.cleanup()


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with _api_server() as server:
        yield server


class RawServer:
    """An asyncio server whose connections run ``handler``; tracks and ends them all."""

    def __init__(self, handler: Callable[..., Any]) -> None:
        self.handler = handler
        self.log: list[Any] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        self.writers.add(writer)
        try:
            await self.handler(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self.tasks.discard(task)

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.wait_closed()
        for writer in list(self.writers):
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def _forward_proxy(server: RawServer, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
    """A one-request-per-connection HTTP forward proxy (absolute-form requests)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ")
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if line]
    lowered = {k.lower(): v for k, v in headers}
    server.log.append({"method": method, "target": target,
                       "auth": lowered.get("proxy-authorization")})
    if method == "CONNECT":  # an https:// API: refused (no TLS here), but seen
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        return
    body = await reader.readexactly(int(lowered.get("content-length", "0")))
    assert "chunked" not in lowered.get("transfer-encoding", "")
    url = urllib.parse.urlsplit(target)
    up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        keep = [(k, v) for k, v in headers
                if k.lower() not in ("proxy-authorization", "proxy-connection", "connection")]
        out = f"{method} {url.path}{'?' + url.query if url.query else ''} HTTP/1.1\r\n"
        out += "".join(f"{k}: {v}\r\n" for k, v in keep) + "Connection: close\r\n\r\n"
        up_writer.write(out.encode("latin-1") + body)
        await up_writer.drain()
        answer = await up_reader.read(-1)
    finally:
        up_writer.close()
    writer.write(answer)
    await writer.drain()


async def _socks5(server: RawServer, reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter) -> None:
    """A minimal SOCKS5 server: no authentication, CONNECT only; logs each target."""
    _, count = await reader.readexactly(2)
    await reader.readexactly(count)
    writer.write(b"\x05\x00")
    _, command, _, kind = await reader.readexactly(4)
    if kind == 1:
        host = socket.inet_ntoa(await reader.readexactly(4))
    elif kind == 3:
        host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
    else:
        host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
    port = int.from_bytes(await reader.readexactly(2), "big")
    assert command == 1
    server.log.append((host, port))
    up_reader, up_writer = await asyncio.open_connection(host, port)
    writer.write(b"\x05\x00\x00\x01" + bytes(6))
    await writer.drain()
    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _half_answer(server: RawServer, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
    """Reads the request's head, answers half a body, and hangs up."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"ok\":tr")
    await writer.drain()


# ---------------------------------------------------------------- helpers

TRANSPORTS = ("aiohttp", "httpx")


def _make(kind: str, **kwargs: Any) -> BaseRequest:
    if kind == "aiohttp":
        return AiohttpRequest(**kwargs)
    return HTTPXRequest(**kwargs)


@contextlib.asynccontextmanager
async def _opened(kind: str, **kwargs: Any) -> AsyncIterator[BaseRequest]:
    request = _make(kind, **kwargs)
    await request.initialize()
    try:
        yield request
    finally:
        await request.shutdown()


# ---------------------------------------------------------------- 1. proxies

@contextlib.asynccontextmanager
async def _chosen(base_url: str, **kwargs: Any) -> AsyncIterator[BaseRequest]:
    """The request ``sends_request`` picks for ``base_url`` in this environment, opened."""
    request = sends_request(base_url, 2, 1.0)
    await request.initialize()
    try:
        yield request
    finally:
        await request.shutdown()


async def test_sends_go_through_an_http_proxy_with_its_credentials(
        monkeypatch: pytest.MonkeyPatch, api: Api) -> None:
    """HTTP_PROXY for an http:// API (as HTTPS_PROXY for https://): the sends take PTB's
    httpx, as getUpdates; the request goes to the proxy in absolute form, with the
    user:password (percent-decoded) as Proxy-Authorization."""
    async with RawServer(_forward_proxy) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://us%40er:p%3Ass@127.0.0.1:{proxy.port}")
        async with _chosen(api.base + "/bot") as request:
            assert isinstance(request, HTTPXRequest)
            status, body = await request.do_request(f"{api.base}/bot1:x/sendMessage", "POST",
                                                    _data(chat_id=1, text="hé"))
    assert status == 200 and json.loads(body)["ok"] is True
    [forwarded] = proxy.log
    assert forwarded["target"] == f"{api.base}/bot1:x/sendMessage"
    assert forwarded["auth"] == "Basic " + base64.b64encode(b"us@er:p:ss").decode()
    assert urllib.parse.parse_qs(api.seen[0]["body"].decode()) == {"chat_id": ["1"],
                                                                  "text": ["hé"]}


async def test_without_a_proxy_the_sends_ignore_the_environment(
        monkeypatch: pytest.MonkeyPatch, api: Api) -> None:
    """No proxy for the API's scheme (HTTPS_PROXY only, an http:// API): the sends are on
    aiohttp and go straight to the API, whatever else the environment holds."""
    async with RawServer(_forward_proxy) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("NO_PROXY", "example.org")
        async with _chosen(api.base + "/bot") as request:
            assert isinstance(request, AiohttpRequest)
            status, _ = await request.do_request(f"{api.base}/bot1:x/sendMessage", "POST",
                                                 _data(chat_id=1))
    assert status == 200 and proxy.log == []


async def test_an_https_api_is_tunnelled_through_the_https_proxy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS_PROXY=http://user:pw@proxy for an https:// API (the deployment's case): the
    request asks the proxy for a CONNECT tunnel with the credentials; the proxy's refusal
    comes back as PTB's NetworkError."""
    async with RawServer(_forward_proxy) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://u:pw@127.0.0.1:{proxy.port}")
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")  # not for https://
        async with _chosen("https://api.telegram.org/bot") as request:
            with pytest.raises(NetworkError) as info:
                await request.do_request("https://127.0.0.1:9/bot1:x/getMe", "POST",
                                         connect_timeout=1.0)
    assert not isinstance(info.value, TimedOut)
    [tunnel] = proxy.log
    assert (tunnel["method"], tunnel["target"]) == ("CONNECT", "127.0.0.1:9")
    assert tunnel["auth"] == "Basic " + base64.b64encode(b"u:pw").decode()


async def _goes_through_proxy(request: BaseRequest, api: Api, proxy: RawServer) -> bool:
    before = len(proxy.log)
    status, _ = await request.do_request(f"{api.base}/bot1:x/sendMessage", "POST",
                                         _data(chat_id=1), connect_timeout=1.0)
    assert status == 200
    return len(proxy.log) > before


@pytest.mark.parametrize("no_proxy", ["*", "127.0.0.1", "localhost, 127.0.0.1",
                                      "example.org,127.0.0.1,", "EXAMPLE.org", "127.0.0.1:1",
                                      "localhost,*", " * ", "127.0.0.1:{port}",
                                      "http://127.0.0.1:{port}"])
async def test_no_proxy_is_read_the_same_by_the_sends_and_by_httpx(
        monkeypatch: pytest.MonkeyPatch, api: Api, no_proxy: str) -> None:
    """With a proxy in the environment the sends and getUpdates must agree on whether
    NO_PROXY exempts the API's host, or the bot's requests split between two routes
    (aiohttp reads "localhost,*", " * ", "host:port" and URLs otherwise than httpx): the
    sends take httpx then, and both follow httpx's reading."""
    async with RawServer(_forward_proxy) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("NO_PROXY", no_proxy.format(port=api.port))
        async with _opened("httpx") as updates:
            via_httpx = await _goes_through_proxy(updates, api, proxy)
        async with _chosen(api.base + "/bot") as sends:
            via_sends = await _goes_through_proxy(sends, api, proxy)
    assert via_sends == via_httpx
    assert via_httpx is (no_proxy in ("EXAMPLE.org", "127.0.0.1:1"))


async def test_sends_and_get_updates_go_through_a_socks5_proxy(
        monkeypatch: pytest.MonkeyPatch, api: Api) -> None:
    """A SOCKS5 proxy in the environment: the application's sends and its getUpdates both
    reach the API through it."""
    import datetime as dt

    from pydantic import SecretStr

    from bot.app import build_application
    from bot.settings import Settings
    from schedules.clock import FrozenClock
    from storage import Store
    async with RawServer(_socks5) as socks:
        monkeypatch.setenv("HTTP_PROXY", f"socks5://127.0.0.1:{socks.port}")
        settings = Settings(telegram_bot_token=SecretStr("123:abc"), database_url="sqlite://",
                            telegram_api_base_url=f"{api.base}/bot")
        store = Store("sqlite://")
        try:
            app = build_application(settings, store=store, clock=FrozenClock(
                dt.datetime(2026, 12, 1, tzinfo=dt.UTC)), auto_dispatch=False)
            assert isinstance(app.bot._request[1], HTTPXRequest)
            await app.bot.initialize()  # getMe: a send
            try:
                sends = len(socks.log)
                assert await app.bot.get_updates(timeout=0) == ()
                assert await app.bot.send_chat_action(1, "typing") is True
            finally:
                await app.bot.shutdown()
        finally:
            store.close()
    paths = [seen["path"].rsplit("/", 1)[-1] for seen in api.seen]
    assert paths == ["getMe", "getUpdates", "sendChatAction"]
    assert sends >= 1 and len(socks.log) > sends
    assert set(socks.log) == {("127.0.0.1", api.port)}


# ---------------------------------------------------------------- 2. uploads

def _parts(content_type: str, body: bytes) -> list[tuple[list[tuple[bytes, bytes]], bytes]]:
    """The parts of a multipart body: (header lines as (name, value) raw bytes, content)."""
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    chunks = body.split(b"--" + boundary)
    assert chunks[0] == b"" and chunks[-1].startswith(b"--")
    parts = []
    for chunk in chunks[1:-1]:
        assert chunk.startswith(b"\r\n") and chunk.endswith(b"\r\n")
        head, content = chunk[2:-2].split(b"\r\n\r\n", 1)
        lines = [tuple(line.split(b": ", 1)) for line in head.split(b"\r\n")]
        parts.append((lines, content))  # type: ignore[arg-type]
    return parts


def _disposition(lines: list[tuple[bytes, bytes]]) -> bytes:
    [value] = [v for k, v in lines if k.lower() == b"content-disposition"]
    return value


async def _uploaded(kind: str, api: Api, data: RequestData) -> list[Any]:
    async with _opened(kind) as request:
        status, _ = await request.do_request(f"{api.base}/bot1:x/sendDocument", "POST", data)
    assert status == 200
    seen = api.seen[-1]
    return _parts(seen["headers"]["Content-Type"], seen["body"])


_NAMES_SAME = ["台账 2026.csv", "emoji 😀📎.txt", "semi;colon; name=x.txt", "a%20b.txt",
               "n" * 296 + ".txt", "back\\slash.txt", "", "tab\there.txt",
               "bell\x07 nul\x00.txt", 'both "quoted" \\ and \r\n.txt']


@pytest.mark.parametrize("filename", _NAMES_SAME, ids=range(len(_NAMES_SAME)))
async def test_a_file_name_is_sent_as_httpx_sends_it(api: Api, filename: str) -> None:
    """Content-Disposition of each part byte for byte as PTB's httpx writes it, the file's
    bytes and the fields (non-ASCII, JSON reply_markup) unchanged."""
    markup = json.dumps({"inline_keyboard": [[{"text": "好 \"ok\"", "callback_data": "a;b"}]]})
    data = _data(chat_id=42, caption="说明 <b>x</b> \"q\"", reply_markup=markup,
                 document=InputFile(b"\x00\x01col1,col2\r\n\xff", filename=filename))
    got = {kind: await _uploaded(kind, api, data) for kind in TRANSPORTS}
    for kind, parts in got.items():
        assert len(parts) == 4, kind
    by_disposition = {kind: {_disposition(lines): content for lines, content in parts}
                      for kind, parts in got.items()}
    assert by_disposition["aiohttp"] == by_disposition["httpx"]
    assert by_disposition["httpx"][b'form-data; name="reply_markup"'] == markup.encode()


async def test_several_files_and_attach_names_arrive_like_httpx(api: Api) -> None:
    from telegram import InputMediaDocument
    media = [InputMediaDocument(InputFile(bytes([i]) * 10, filename=f"文件{i}.bin",
                                            attach=True))
             for i in range(3)]
    data = _data(chat_id=1, media=media)
    got = {kind: await _uploaded(kind, api, data) for kind in TRANSPORTS}
    by_disposition = {kind: {_disposition(lines): content for lines, content in parts}
                      for kind, parts in got.items()}
    assert len(by_disposition["httpx"]) == 5  # chat_id, media, three files
    attached = json.loads(by_disposition["aiohttp"][b'form-data; name="media"'])
    for item, number in zip(attached, range(3), strict=True):
        name = item["media"].removeprefix("attach://")
        disposition = f'form-data; name="{name}"; filename="文件{number}.bin"'.encode()
        assert by_disposition["aiohttp"][disposition] == bytes([number]) * 10
    assert by_disposition["aiohttp"] == by_disposition["httpx"]


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_a_newline_in_a_file_name_is_sent_without_injecting_a_header(
        api: Api, kind: str) -> None:
    data = _data(chat_id=1, document=InputFile(
        b"data", filename="report.csv\r\nContent-Type: text/html\r\nX-Injected: 1"))
    async with _opened(kind) as request:
        assert await request.post(f"{api.base}/bot1:x/sendDocument", data) is True
    seen = api.seen[-1]
    parts = _parts(seen["headers"]["Content-Type"], seen["body"])
    names = {name.lower() for lines, _ in parts for name, *_ in lines}
    assert b"x-injected" not in names
    assert [content for _, content in parts] == [b"1", b"data"]


async def test_a_quote_in_a_file_name_is_sent_as_httpx_sends_it(api: Api) -> None:
    data = _data(chat_id=1, document=InputFile(b"data", filename='say "hi".txt'))
    got = {kind: await _uploaded(kind, api, data) for kind in TRANSPORTS}
    files = {kind: [_disposition(lines) for lines, _ in parts if b"filename" in
                    _disposition(lines)] for kind, parts in got.items()}
    assert files["httpx"] == [b'form-data; name="document"; filename="say %22hi%22.txt"']
    assert files["aiohttp"] == files["httpx"]


async def test_esc_and_del_in_a_file_name_are_percent_encoded(api: Api) -> None:
    """ESC and DEL, which httpx sends raw and aiohttp refuses in a header: %1B and %7F; the
    file arrives."""
    data = _data(chat_id=1, document=InputFile(b"data", filename="esc\x1b del\x7f.txt"))
    [_, (lines, content)] = await _uploaded("aiohttp", api, data)
    assert _disposition(lines) == b'form-data; name="document"; filename="esc%1B del%7F.txt"'
    assert content == b"data"


# ---------------------------------------------------------------- 3. timeouts and errors

@pytest.mark.parametrize(("path", "error", "check"), [
    ("s429", RetryAfter, lambda e: "0:00:03" in e.message),
    ("s401", InvalidToken, None), ("s404", InvalidToken, None), ("s409", Conflict, None),
    ("s400", BadRequest, None), ("s403", Forbidden, None),
    ("s502", NetworkError, lambda e: "Bad Gateway" in e.message),
])
async def test_api_errors_map_as_with_httpx(api: Api, path: str, error: type,
                                            check: Any) -> None:
    raised = {}
    for kind in TRANSPORTS:
        async with _opened(kind) as request:
            with pytest.raises(error) as info:
                await request.post(f"{api.base}/bot1:x/{path}", _data(chat_id=1))
        raised[kind] = (type(info.value), str(info.value))
        assert check is None or check(info.value)
    assert raised["aiohttp"] == raised["httpx"]


async def test_a_huge_answer_is_read_whole(api: Api) -> None:
    async with _opened("aiohttp") as request:
        result = await request.post(f"{api.base}/bot1:x/huge", _data(chat_id=1))
    assert result == "x" * 8_000_000


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_a_connection_closed_mid_answer_is_a_network_error(kind: str) -> None:
    async with RawServer(_half_answer) as server, _opened(kind) as request:
        with pytest.raises(NetworkError) as info:
            await request.do_request(f"http://127.0.0.1:{server.port}/bot1:x/sendMessage",
                                     "POST", _data(chat_id=1))
    assert not isinstance(info.value, TimedOut)


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_a_black_hole_is_a_connect_timeout(kind: str) -> None:
    """A listener whose accept queue is full drops new SYNs: the connect never completes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):  # fill the queue (Linux keeps backlog + 1)
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        async with _opened(kind, connect_timeout=0.3) as request:
            started = time.monotonic()
            with pytest.raises(TimedOut):
                await request.do_request(f"http://127.0.0.1:{port}/x", "POST", _data(a=1))
            assert time.monotonic() - started < 2.5
    finally:
        for sock in [*fillers, listener]:
            sock.close()


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_explicit_none_read_timeout_means_no_limit(api: Api, kind: str) -> None:
    async with _opened(kind, read_timeout=0.1) as request:
        with pytest.raises(TimedOut):
            await request.do_request(f"{api.base}/slow?wait=0.5", "POST", _data(a=1))
        status, _ = await request.do_request(f"{api.base}/slow?wait=0.5", "POST", _data(a=1),
                                             read_timeout=None)
    assert status == 200


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_explicit_none_pool_timeout_waits_for_a_connection(api: Api, kind: str) -> None:
    async with _opened(kind, connection_pool_size=1, connect_timeout=0.2,
                       pool_timeout=0.2) as request:
        holding = asyncio.create_task(request.do_request(f"{api.base}/slow?wait=0.8", "POST",
                                                         _data(a=1)))
        await asyncio.sleep(0.1)
        try:
            status, _ = await request.do_request(f"{api.base}/echo", "POST", _data(a=2),
                                                 pool_timeout=None)
        finally:
            assert (await holding)[0] == 200
    assert status == 200


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_a_slow_but_steady_answer_is_not_cut_off(api: Api, kind: str) -> None:
    async with _opened(kind, read_timeout=0.5, write_timeout=0.3, connect_timeout=0.2,
                       pool_timeout=0.1) as request:
        status, body = await request.do_request(f"{api.base}/trickle", "POST", _data(a=1))
    assert status == 200 and json.loads(body) == {"ok": True, "result": 1}


async def test_a_cancelled_request_frees_its_connection(api: Api) -> None:
    async with _opened("aiohttp", connection_pool_size=1, pool_timeout=0.3,
                       connect_timeout=0.3) as request:
        assert isinstance(request, AiohttpRequest)
        task = asyncio.create_task(request.do_request(f"{api.base}/slow?wait=3", "POST",
                                                      _data(a=1)))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(3):
            status, _ = await request.do_request(f"{api.base}/echo", "POST", _data(a=2))
            assert status == 200
        assert request._session is not None
        connector = request._session.connector
        assert connector is not None and not connector._acquired  # type: ignore[attr-defined]


async def test_shutdown_with_a_request_in_flight_ends_it_with_a_ptb_error(api: Api) -> None:
    request = AiohttpRequest()
    await request.initialize()
    task = asyncio.create_task(request.do_request(f"{api.base}/slow?wait=2", "POST",
                                                  _data(a=1)))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await request.shutdown()
    with pytest.raises(NetworkError):
        await asyncio.wait_for(task, 1.0)
    assert time.monotonic() - started < 1.0
    await request.initialize()  # and it can be opened again
    try:
        status, _ = await request.do_request(f"{api.base}/echo", "POST", _data(a=1))
        assert status == 200
    finally:
        await request.shutdown()


# ---------------------------------------------------------------- 4. operator settings

async def test_an_ipv6_local_bot_api_server() -> None:
    try:
        server = _api_server("::1")
        api = await server.__aenter__()
    except OSError:
        pytest.skip("no IPv6 loopback")
    try:
        assert isinstance(sends_request(f"{api.base}/bot", 2, 1.0), AiohttpRequest)
        async with _opened("aiohttp") as request:
            assert await request.post(f"{api.base}/bot1:x/getMe") == {
                "id": 1, "is_bot": True, "first_name": "b", "username": "b_bot"}
    finally:
        await server.__aexit__(None, None, None)


@pytest.mark.parametrize(("environment", "base", "expected"), [
    ({"HTTP_PROXY": "socks5://127.0.0.1:1"}, "http://botapi:8081/bot", HTTPXRequest),
    ({"HTTPS_PROXY": "socks5://127.0.0.1:1"}, "http://botapi:8081/bot", AiohttpRequest),
    ({"HTTPS_PROXY": "HTTP://proxy:3128"}, "https://api.telegram.org/bot", HTTPXRequest),
    ({"HTTPS_PROXY": "proxy:3128"}, "https://api.telegram.org/bot", HTTPXRequest),
    ({"HTTPS_PROXY": "http://proxy:3128", "ALL_PROXY": "socks5://s:1"},
     "https://api.telegram.org/bot", HTTPXRequest),
    # NO_PROXY is httpx's to read, for the sends as for getUpdates
    ({"HTTPS_PROXY": "socks5://s:1", "NO_PROXY": "*"}, "https://api.telegram.org/bot",
     HTTPXRequest),
    ({"NO_PROXY": "*"}, "https://api.telegram.org/bot", AiohttpRequest),
])
def test_the_choice_of_request_for_operator_settings(
        monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], base: str,
        expected: type) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert type(sends_request(base, 2, 1.0)) is expected
