"""``duban run`` as a real process: polling the stand-in, the token never shown, a patient start.

Every test runs the real console script (:mod:`tests.bot.cli_process`); none reaches the
internet: the Bot API is the local stand-in or a closed local port.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx

from bot_api_standin import BotApiStandIn
from tests.bot.cli_process import DUBAN, TASKS, clean_env, duban
from tests.bot.conftest import STRANGER, TOKEN

SECRET = TOKEN.split(":")[1]


def assert_no_token(*outputs: str) -> None:
    for output in outputs:
        assert TOKEN not in output and SECRET not in output, output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_run_without_token_says_how_to_get_one(tmp_path: Path) -> None:
    result = duban("run", cwd=tmp_path)
    assert result.returncode == 1
    assert "@BotFather" in result.stderr and "TELEGRAM_BOT_TOKEN" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "var").exists()


def test_run_refuses_a_bad_timetable(tmp_path: Path) -> None:
    bad = tmp_path / "tasks.yaml"
    bad.write_text(TASKS.read_text(encoding="utf-8").replace(
        "lead_units: [forestry]", "lead_units: [forestri]", 1), encoding="utf-8")
    result = duban("run", cwd=tmp_path,
                   env=clean_env(TELEGRAM_BOT_TOKEN=TOKEN, DUBAN_TASKS=str(bad)))
    assert result.returncode == 1
    assert "tasks.yaml" in result.stderr and "forestri" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "var").exists()


def test_no_network_is_one_line_after_the_retries_and_never_shows_the_token(
        tmp_path: Path) -> None:
    result = duban("run", cwd=tmp_path, env=clean_env(TELEGRAM_BOT_TOKEN=TOKEN,
                                                      DUBAN_STARTUP_RETRIES="1"))
    assert result.returncode == 1
    assert_no_token(result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) <= 4, result.stderr  # start, one retry, the verdict
    assert "127.0.0.1:9" in lines[-1] and "HTTPS_PROXY" in lines[-1]
    assert sum("retry" in line for line in lines) == 1


async def test_a_refused_token_is_one_line_without_the_token(tmp_path: Path) -> None:
    async with BotApiStandIn() as api:  # knows no bot: every token is refused with 401
        process = await asyncio.create_subprocess_exec(
            str(DUBAN), "run", cwd=tmp_path, env=clean_env(
                TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=api.base_url,
                TELEGRAM_FILE_BASE_URL=api.base_file_url),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    out, err = stdout.decode(), stderr.decode()
    assert_no_token(out, err)
    assert "Traceback" not in err and "@BotFather" in err.strip().splitlines()[-1]
    assert len(err.strip().splitlines()) <= 2, err


async def test_start_up_waits_for_a_network_that_comes_up_late(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = await asyncio.create_subprocess_exec(
        str(DUBAN), "run", cwd=tmp_path, env=clean_env(
            TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=f"{base}/bot",
            TELEGRAM_FILE_BASE_URL=f"{base}/file/bot"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert process.stderr is not None
        seen = b""
        while b"not reachable yet" not in seen:  # the bot tries and retries: nothing listens
            line = await asyncio.wait_for(process.stderr.readline(), 60)
            assert line, seen.decode()
            seen += line
        assert process.returncode is None
        async with BotApiStandIn(port=port) as api:
            api.add_bot(TOKEN, "duban_test_bot", 123456)
            api.add_user(STRANGER, "路人", "zh-hans")
            sent = api.send_command(STRANGER, "start")
            reply = await api.wait_for_bot_message(STRANGER, after=sent["message_id"],
                                                   timeout=60)
            assert "管理员" in reply["text"]
            process.terminate()
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = (seen + stderr).decode()
    assert_no_token(log)
    assert "not reachable yet" in log and "Traceback" not in log


async def test_duban_run_polls_the_configured_api_and_answers(tmp_path: Path) -> None:
    async with BotApiStandIn() as api:
        api.add_bot(TOKEN, "duban_test_bot", 123456)
        api.add_user(STRANGER, "路人", "zh-hans")
        (tmp_path / ".env").write_text(
            f"TELEGRAM_BOT_TOKEN={TOKEN}\nTELEGRAM_API_BASE_URL={api.base_url}\n"
            f"TELEGRAM_FILE_BASE_URL={api.base_file_url}\n", encoding="utf-8")
        env = clean_env()
        del env["TELEGRAM_API_BASE_URL"], env["TELEGRAM_FILE_BASE_URL"]
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            str(DUBAN), "run", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            sent = api.send_command(STRANGER, "start")
            reply = await api.wait_for_bot_message(STRANGER, after=sent["message_id"],
                                                   timeout=30)
            assert "管理员" in reply["text"]
        finally:
            process.terminate()
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
        assert time.monotonic() - started < 30
    assert_no_token(stderr.decode())
    assert (tmp_path / "var" / "duban.sqlite3").exists()


def test_an_unreachable_database_is_one_line_without_the_password(tmp_path: Path) -> None:
    result = duban("run", cwd=tmp_path, env=clean_env(
        TELEGRAM_BOT_TOKEN=TOKEN,
        DATABASE_URL="postgresql+psycopg://duban:s3cret@127.0.0.1:1/duban"))
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "DATABASE_URL" in last and "127.0.0.1:1" in last and "Connection refused" in last
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr
    assert_no_token(result.stderr)


def test_the_redaction_filter_covers_exceptions_and_arguments() -> None:
    import logging

    from bot.running import RedactToken

    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "token %s in %s",
                               (TOKEN, "url"), None)
    try:
        raise ValueError(f"The token {TOKEN} was rejected")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    RedactToken(TOKEN).filter(record)
    text = logging.Formatter().format(record)
    assert_no_token(text)
    assert "<token>" in text and "ValueError" in text


async def test_duban_run_takes_updates_by_webhook_and_refuses_a_wrong_secret(
        tmp_path: Path) -> None:
    """Telegram (the stand-in) posts to the public URL; the proxy (a route) forwards it."""
    port = free_port()
    async with BotApiStandIn() as api:
        api.add_bot(TOKEN, "duban_test_bot", 123456)
        api.add_user(STRANGER, "路人", "zh-hans")
        api.route_webhook("https://bot.example.org", f"http://127.0.0.1:{port}")
        process = await asyncio.create_subprocess_exec(
            str(DUBAN), "run", "--webhook-url", "https://bot.example.org/duban/hook",
            "--listen", f"127.0.0.1:{port}", cwd=tmp_path, env=clean_env(
                TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=api.base_url,
                TELEGRAM_FILE_BASE_URL=api.base_file_url),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            [set_webhook] = await api.wait_for(lambda: api.calls("setWebhook"), timeout=60)
            assert set_webhook.params["url"] == "https://bot.example.org/duban/hook"
            secret = str(set_webhook.params["secret_token"])
            assert len(secret) >= 32  # made at start: DUBAN_WEBHOOK_SECRET is not set
            sent = api.send_command(STRANGER, "start")
            reply = await api.wait_for_bot_message(STRANGER, after=sent["message_id"],
                                                   timeout=30)
            assert "管理员" in reply["text"]
            assert api.webhook_deliveries()[-1].status == 200
            forged = {"update_id": 10**6, "message": {
                "message_id": 10**6, "date": 1795000000, "text": "/start",
                "from": {"id": STRANGER, "is_bot": False, "first_name": "路人"},
                "chat": {"id": STRANGER, "type": "private", "first_name": "路人"},
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}
            answered = len(api.bot_messages(STRANGER))
            assert await api.post_to_webhook(forged, secret_token="wrong-secret") == 403
            assert await api.post_to_webhook(forged, secret_token="") == 403
            await asyncio.sleep(1.0)
            assert len(api.bot_messages(STRANGER)) == answered  # neither was handled
            assert not api.calls("getUpdates")
            # the right secret, a body that is no update: 400 and one line each, no traceback
            headers = {"X-Telegram-Bot-Api-Secret-Token": secret,
                       "Content-Type": "application/json"}
            async with httpx.AsyncClient(timeout=10) as client:
                statuses = [(await client.post(f"http://127.0.0.1:{port}/duban/hook",
                                               content=body, headers=headers)).status_code
                            for body in MALFORMED_UPDATES]
            assert statuses == [400] * len(MALFORMED_UPDATES)
            sent = api.send_command(STRANGER, "start")  # and the bot goes on
            assert await api.wait_for_bot_message(STRANGER, after=sent["message_id"],
                                                  timeout=30)
        finally:
            process.terminate()
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
    log = stderr.decode()
    assert_no_token(log)
    assert secret not in log and "Traceback" not in log and "CRITICAL" not in log
    assert "webhook" in log and f"127.0.0.1:{port}/duban/hook" in log
    refused = [line for line in log.splitlines() if "refused a post that is not an update" in line]
    assert len(refused) == len(MALFORMED_UPDATES)
    assert all(" WARNING " in line and len(line) < 400 for line in refused)


MALFORMED_UPDATES = [b"{not json", b"", b"[]", b"null", b'"x"', b'{"message": {}}',
                     b'{"update_id": "abc"}', b'{"update_id": 5, "message": {"text": "/start"}}',
                     b'{"update_id": "' + b"6" * 100_000 + b'"}',
                     b"[" * 100_000,  # nested deeper than the JSON reader recurses
                     b'{"update_id": 5, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"]
"""Bodies posted with the right secret that are not updates Telegram would send."""


def test_run_checks_the_webhook_options(tmp_path: Path) -> None:
    env = clean_env(TELEGRAM_BOT_TOKEN=TOKEN, LANG="en")
    plain = duban("run", "--webhook-url", "http://bot.example.org/hook", cwd=tmp_path, env=env)
    assert plain.returncode == 2 and "https://" in plain.stderr
    alone = duban("run", "--listen", "127.0.0.1:8443", cwd=tmp_path, env=env)
    assert alone.returncode == 2 and "--webhook-url" in alone.stderr
    port = duban("run", "--webhook-url", "https://b.example.org/h", "--listen", "host:99999",
                 cwd=tmp_path, env=env)
    assert port.returncode == 2 and "HOST:PORT" in port.stderr
    secret = duban("run", cwd=tmp_path, env=clean_env(
        TELEGRAM_BOT_TOKEN=TOKEN, DUBAN_WEBHOOK_URL="https://b.example.org/h",
        DUBAN_WEBHOOK_SECRET="not allowed!", LANG="en"))
    assert secret.returncode == 1 and "DUBAN_WEBHOOK_SECRET" in secret.stderr
    assert "not allowed!" not in secret.stderr
    for result in (plain, alone, port, secret):
        assert_no_token(result.stderr) and "Traceback" not in result.stderr
    assert not (tmp_path / "var").exists()
    chinese = duban("run", "--help", cwd=tmp_path)
    assert "--webhook-url" in chinese.stdout and "--listen" in chinese.stdout
    assert "反向代理" in chinese.stdout
