"""The sends' request on aiohttp (bot/transport.py): what PTB passes arrives as sent, and
aiohttp's failures come back as PTB's errors, against a local aiohttp server."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from telegram import InputFile
from telegram.error import NetworkError, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.transport import AiohttpRequest

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A local server: ``/echo`` answers with what it got (fields, files), ``/slow`` after
    ``?wait=`` seconds."""
    seen: list[dict[str, Any]] = []

    async def echo(request: web.Request) -> web.Response:
        got: dict[str, Any] = {"content_type": request.content_type, "fields": {},
                               "files": {}, "agent": request.headers.get("User-Agent", "")}
        if request.content_type.startswith("multipart/"):
            async for part in await request.multipart():
                body = await part.read()  # type: ignore[union-attr]
                if part.filename:  # type: ignore[union-attr]
                    got["files"][part.name] = (part.filename,  # type: ignore[union-attr]
                                               body.decode(), part.headers["Content-Type"])
                else:
                    got["fields"][part.name] = body.decode()  # type: ignore[union-attr]
        else:
            got["fields"] = dict(await request.post())
        seen.append(got)
        return web.json_response({"ok": True, "result": got})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("wait", "1")))
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_post("/echo", echo)
    app.router.add_post("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


def _data(**values: Any) -> RequestData:
    return RequestData([RequestParameter.from_input(k, v) for k, v in values.items()])


async def test_fields_are_posted_as_a_form(server: tuple[str, list[dict[str, Any]]]) -> None:
    base, seen = server
    request = AiohttpRequest()
    await request.initialize()
    try:
        status, body = await request.do_request(f"{base}/echo", "POST",
                                                _data(chat_id=42, text="第15项 <b>完成</b>"))
    finally:
        await request.shutdown()
    assert status == 200
    assert json.loads(body)["result"]["fields"] == {"chat_id": "42", "text": "第15项 <b>完成</b>"}
    assert seen[0]["content_type"] == "application/x-www-form-urlencoded"
    assert "python-telegram-bot" in seen[0]["agent"]


async def test_a_file_is_uploaded_with_its_name_type_and_the_fields(
        server: tuple[str, list[dict[str, Any]]]) -> None:
    base, seen = server
    request = AiohttpRequest()
    await request.initialize()
    try:
        status, _ = await request.do_request(
            f"{base}/echo", "POST",
            _data(chat_id=42, caption="台账", document=InputFile(b"col1,col2\n",
                                                                filename="台账.csv")))
    finally:
        await request.shutdown()
    assert status == 200
    got = seen[0]
    assert got["content_type"] == "multipart/form-data"
    assert got["fields"]["chat_id"] == "42" and got["fields"]["caption"] == "台账"
    [(filename, content, mimetype)] = got["files"].values()
    assert (filename, content) == ("台账.csv", "col1,col2\n") and mimetype.startswith("text/")


async def test_a_slow_answer_is_timed_out(server: tuple[str, list[dict[str, Any]]]) -> None:
    base, _ = server
    request = AiohttpRequest(read_timeout=0.2)
    await request.initialize()
    try:
        with pytest.raises(TimedOut):
            await request.do_request(f"{base}/slow?wait=2", "POST", _data(x=1))
        with pytest.raises(TimedOut):  # a timeout PTB passes wins over the default
            await request.do_request(f"{base}/slow?wait=2", "POST", _data(x=1),
                                     read_timeout=0.1)
        status, _ = await request.do_request(f"{base}/slow?wait=0.3", "POST", _data(x=1),
                                             read_timeout=2.0)
        assert status == 200
    finally:
        await request.shutdown()


async def test_a_request_waiting_for_a_busy_pool_is_timed_out(
        server: tuple[str, list[dict[str, Any]]]) -> None:
    base, _ = server
    request = AiohttpRequest(connection_pool_size=1, pool_timeout=0.2, connect_timeout=0.2)
    await request.initialize()
    try:
        holding = asyncio.create_task(request.do_request(f"{base}/slow?wait=1.5", "POST",
                                                         _data(x=1)))
        await asyncio.sleep(0.2)
        with pytest.raises(TimedOut):
            await request.do_request(f"{base}/echo", "POST", _data(x=2))
        assert (await holding)[0] == 200
    finally:
        await request.shutdown()


async def test_a_refused_connection_is_a_network_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    request = AiohttpRequest()
    await request.initialize()
    try:
        with pytest.raises(NetworkError, match=r"aiohttp\.Client") as raised:
            await request.do_request(f"http://127.0.0.1:{port}/echo", "POST", _data(x=1))
        assert not isinstance(raised.value, TimedOut)
    finally:
        await request.shutdown()


async def test_it_must_be_initialized_and_opens_and_closes_once() -> None:
    request = AiohttpRequest()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:9/echo", "POST")
    await request.initialize()
    session = request._session
    await request.initialize()
    assert request._session is session
    await request.shutdown()
    await request.shutdown()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:9/echo", "POST")
    with pytest.raises(ValueError):
        AiohttpRequest(connection_pool_size=0)


async def test_the_application_sends_through_it() -> None:
    """build_application gives the bot this request for its sends (getUpdates keeps PTB's)."""
    import datetime as dt

    from pydantic import SecretStr
    from telegram.request import HTTPXRequest

    from bot.app import CONNECTIONS, build_application
    from bot.settings import Settings
    from schedules.clock import FrozenClock
    from storage import Store
    settings = Settings(telegram_bot_token=SecretStr("123:abc"), database_url="sqlite://")
    store = Store("sqlite://")
    try:
        app = build_application(settings, store=store, clock=FrozenClock(
            dt.datetime(2026, 12, 1, tzinfo=dt.UTC)), auto_dispatch=False)
        sends, updates = app.bot._request[1], app.bot._request[0]
        assert isinstance(sends, AiohttpRequest) and sends._size == CONNECTIONS
        assert isinstance(updates, HTTPXRequest)
    finally:
        store.close()


@pytest.mark.parametrize(("environment", "expected"), [
    ({}, AiohttpRequest),
    ({"NO_PROXY": "*"}, AiohttpRequest),
    ({"HTTP_PROXY": "socks5://127.0.0.1:1080"}, AiohttpRequest),  # not for https://
    ({"http_proxy": "http://proxy.example:3128"}, AiohttpRequest),
    ({"HTTPS_PROXY": "http://proxy.example:3128"}, "httpx"),
    ({"https_proxy": "http://proxy.example:3128"}, "httpx"),
    ({"HTTPS_PROXY": "socks5://127.0.0.1:1080"}, "httpx"),
    ({"https_proxy": "socks5h://user:pw@127.0.0.1:1080"}, "httpx"),
    ({"HTTPS_PROXY": "https://proxy.example:3129"}, "httpx"),
    ({"ALL_PROXY": "http://proxy.example:3128"}, "httpx"),
    ({"all_proxy": "socks5://127.0.0.1:1080"}, "httpx"),
    # NO_PROXY is httpx's to read (aiohttp reads "host:port" and "a,*" otherwise)
    ({"HTTPS_PROXY": "socks5://127.0.0.1:1080", "NO_PROXY": "api.telegram.org"}, "httpx"),
    ({"ALL_PROXY": "http://proxy.example:3128", "no_proxy": "localhost,*"}, "httpx"),
])
async def test_the_sends_stay_on_httpx_behind_a_proxy_aiohttp_does_not_take(
        monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], expected: Any) -> None:
    """Behind a proxy the sends keep PTB's httpx, as getUpdates, with the same pool size and
    wait: aiohttp would go around a SOCKS, https:// or ALL_PROXY proxy, and reads NO_PROXY
    otherwise than httpx."""
    from telegram.request import HTTPXRequest

    from bot.transport import sends_request
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                 "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    request = sends_request("https://api.telegram.org/bot", 8, 2.5)
    if expected == "httpx":
        assert isinstance(request, HTTPXRequest)
        pool = request._client._transport._pool  # type: ignore[attr-defined]
        assert pool._max_connections == 8
        assert request._client.timeout.pool == 2.5
    else:
        assert isinstance(request, AiohttpRequest) and request._size == 8
        assert request._pool == 2.5
