"""More than one ``duban run``, and a webhook left behind: real processes against the stand-in.

- webhook mode: the secret token is derived from the bot token (the same at every start), the
  port is bound before ``setWebhook`` (a second instance on a taken port stops without touching
  the webhook), a URL Telegram refuses stops at once;
- polling refuses to start while a webhook is set, unless ``--drop-webhook``;
- Telegram's Conflict (another program polls with the token) stops the older instance in one
  line and leaves the newer one running;
- a second ``duban run`` on one SQLite database is refused by the lock file.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from bot_api_standin import BotApiStandIn
from tests.bot.cli_process import DUBAN, clean_env
from tests.bot.conftest import STRANGER, TOKEN
from tests.bot.test_run import assert_no_token, free_port

URL = "https://bot.example.org/duban/hook"


class Running:
    """A ``duban run`` process; ``stderr`` holds its log once it has ended."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stderr = ""

    async def finish(self, timeout: float = 60) -> int:
        """Wait for the process to end by itself; its exit status."""
        _, err = await asyncio.wait_for(self.process.communicate(), timeout)
        self.stderr = err.decode()
        assert self.process.returncode is not None
        return self.process.returncode

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
        try:
            _, err = await asyncio.wait_for(self.process.communicate(), 30)
            self.stderr = self.stderr or err.decode()
        except (TimeoutError, ValueError):
            self.process.kill()
            await self.process.wait()


def bot_env(api: BotApiStandIn, **extra: str) -> dict[str, str]:
    return clean_env(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=api.base_url,
                     TELEGRAM_FILE_BASE_URL=api.base_file_url, **extra)


@asynccontextmanager
async def duban_run(*args: str, cwd: Path, env: dict[str, str]) -> AsyncIterator[Running]:
    cwd.mkdir(exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        str(DUBAN), "run", *args, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    running = Running(process)
    try:
        yield running
    finally:
        await running.stop()


async def answers(api: BotApiStandIn) -> None:
    sent = api.send_command(STRANGER, "start")
    reply = await api.wait_for_bot_message(STRANGER, after=sent["message_id"], timeout=60)
    assert "管理员" in reply["text"]


async def test_webhook_secret_is_stable_and_a_taken_port_stops_before_set_webhook(
        tmp_path: Path) -> None:
    port = free_port()
    listen = ("--webhook-url", URL, "--listen", f"127.0.0.1:{port}")
    async with BotApiStandIn() as api:
        api.add_bot(TOKEN, "duban_test_bot", 123456)
        api.add_user(STRANGER, "路人", "zh-hans")
        api.route_webhook("https://bot.example.org", f"http://127.0.0.1:{port}")
        async with duban_run(*listen, cwd=tmp_path / "a", env=bot_env(api)) as first:
            call = (await api.wait_for(lambda: api.calls("setWebhook") or None, timeout=60))[0]
            secret = str(call.params["secret_token"])
            await answers(api)
            set_calls = len(api.calls("setWebhook"))
            # A second instance (its own database) on the same port: stops, webhook untouched.
            async with duban_run(*listen, cwd=tmp_path / "b", env=bot_env(api)) as second:
                assert await second.finish() == 1
            last = second.stderr.strip().splitlines()[-1]
            assert f"127.0.0.1:{port}" in last and "webhook" in last.lower()
            assert len(api.calls("setWebhook")) == set_calls and not api.calls("deleteWebhook")
            await answers(api)  # the first one still gets every update
        async with duban_run(*listen, cwd=tmp_path / "a", env=bot_env(api)):
            calls = await api.wait_for(lambda: api.calls("setWebhook")[set_calls:] or None,
                                       timeout=60)
            await answers(api)
        assert {str(c.params["secret_token"]) for c in calls} == {secret}
    assert re.fullmatch(r"[A-Za-z0-9_-]{32,256}", secret)
    assert TOKEN.split(":")[1] not in secret
    other = base64.urlsafe_b64encode(hmac.new(b"654321:ANOTHER-token", b"x",
                                              hashlib.sha256).digest()).decode()
    assert secret != other.rstrip("=")
    for log in (first.stderr, second.stderr):
        assert_no_token(log)
        assert secret not in log and "Traceback" not in log


async def test_a_webhook_url_telegram_refuses_stops_at_once(tmp_path: Path) -> None:
    async with BotApiStandIn() as api:
        api.add_bot(TOKEN, "duban_test_bot", 123456)
        api.fail_next("setWebhook", 400, "Bad Request: bad webhook: Failed to resolve host: "
                                         "Name or service not known", times=50)
        started = time.monotonic()
        async with duban_run("--webhook-url", URL, "--listen", f"127.0.0.1:{free_port()}",
                             cwd=tmp_path, env=bot_env(api, LANG="en")) as run:
            assert await run.finish() == 1
        assert time.monotonic() - started < 30
        assert len(api.calls("setWebhook")) == 1  # no retry loop
    last = run.stderr.strip().splitlines()[-1]
    assert "failed to resolve host" in last.lower() and URL in last and "DUBAN_WEBHOOK_URL" in last
    assert "Traceback" not in run.stderr and "retry" not in run.stderr
    assert_no_token(run.stderr)


async def test_polling_refuses_while_a_webhook_is_set_unless_told_to_drop_it(
        tmp_path: Path) -> None:
    async with BotApiStandIn() as api:
        api.add_bot(TOKEN, "duban_test_bot", 123456)
        api.add_user(STRANGER, "路人", "zh-hans")
        async with httpx.AsyncClient() as client:
            answer = await client.post(f"{api.base_url}{TOKEN}/setWebhook",
                                       data={"url": "https://elsewhere.example.org/hook"})
            assert answer.json()["ok"]
        async with duban_run(cwd=tmp_path, env=bot_env(api)) as refused:
            assert await refused.finish() == 1
        last = refused.stderr.strip().splitlines()[-1]
        assert "https://elsewhere.example.org/hook" in last and "--drop-webhook" in last
        assert not api.calls("deleteWebhook") and not api.calls("getUpdates")
        async with httpx.AsyncClient() as client:
            info = (await client.post(f"{api.base_url}{TOKEN}/getWebhookInfo")).json()
        assert info["result"]["url"] == "https://elsewhere.example.org/hook"
        async with duban_run("--drop-webhook", cwd=tmp_path, env=bot_env(api)) as dropped:
            await answers(api)
        assert api.calls("deleteWebhook")
    assert dropped.stderr.count("polling as @duban_test_bot") == 1
    assert "Traceback" not in refused.stderr + dropped.stderr


async def test_a_second_run_on_one_sqlite_database_is_refused(tmp_path: Path) -> None:
    async with BotApiStandIn() as api:
        api.add_bot(TOKEN, "duban_test_bot", 123456)
        api.add_user(STRANGER, "路人", "zh-hans")
        async with duban_run(cwd=tmp_path, env=bot_env(api)) as first:
            await answers(api)
            polls = len(api.calls("getUpdates"))
            async with duban_run(cwd=tmp_path, env=bot_env(api, LANG="en")) as second:
                assert await second.finish() == 1
            assert first.process.returncode is None
            await answers(api)
            assert len(api.calls("getMe")) == 1 and len(api.calls("getUpdates")) > polls
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert str(first.process.pid) in lines[0] and "duban.sqlite3.lock" in lines[0]
    # Stopping says nothing alarming.
    shutdown = first.stderr.split("Application is stopping", 1)[1]
    assert " WARNING " not in shutdown and " ERROR " not in shutdown, shutdown


async def test_a_conflict_stops_the_older_instance_and_the_newer_goes_on(
        tmp_path: Path) -> None:
    async with BotApiStandIn() as api:
        api.add_bot(TOKEN, "duban_test_bot", 123456)
        api.add_user(STRANGER, "路人", "zh-hans")
        async with duban_run(cwd=tmp_path / "a", env=bot_env(api, LANG="en")) as older:
            await answers(api)
            async with duban_run(cwd=tmp_path / "b", env=bot_env(api)) as newer:
                assert await older.finish() == 1
                await asyncio.sleep(1.5)
                assert newer.process.returncode is None
                await answers(api)
    last = older.stderr.strip().splitlines()[-1]
    assert "Conflict" in last or "terminated by other getUpdates" in last
    assert "one duban per bot token" in last
    assert "Traceback" not in older.stderr and "Exception happened" not in older.stderr
    assert_no_token(older.stderr)
