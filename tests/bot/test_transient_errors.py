"""Passing troubles are one line, page nobody and lose nothing (issue 12, items 2, 5 and 6).

Telegram answering 5xx (or 502 with an HTML page), a failed poll, a 500 while the command menus
are set at start, the database gone for a moment while someone reports: one WARNING line each,
no traceback, no notice to the admins, and a person whose report could not be stored is told to
send it again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable

import pytest
from sqlalchemy.exc import OperationalError
from telegram.error import Conflict, NetworkError

from bot.app import build_application
from bot.logs import IsoFormatter
from bot.pacing import ChatPacer
from bot.reminders import dispatch_due
from bot.services import DB_CONCURRENCY, REPLY_DB_PATIENCE, Services
from bot.settings import Settings
from bot_api_standin import BotApiStandIn
from schedules.clock import FrozenClock, SystemClock
from schedules.model import Timetable
from storage import DatabaseStalled, Store, is_transient_database_error
from tests.bot.conftest import ADMIN, ECOLOGY, Harness, button_data, make_settings
from tests.dbs import PausableProxy, pg_base_url, require_postgres, silent_server


def trouble(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def admin_notices(harness: Harness) -> list[str]:
    return [m["text"] for m in harness.api.bot_messages(ADMIN) if m["text"].startswith("⚠️ duban")]


async def test_a_500_while_the_menus_are_set_at_start_is_one_line_and_the_bot_starts(
        api: BotApiStandIn, store: Store, clock: FrozenClock, timetable: Timetable,
        caplog: pytest.LogCaptureFixture) -> None:
    for n in range(40):  # the menus set at start do not grow with the people enrolled
        api.add_user(50_000 + n, f"联络员{n}", "zh-hans")
        store.sync_units([(u.id, u.name, u.kind.value) for u in timetable.units], clock.now())
        store.add_person(50_000 + n, f"联络员{n}", "contact", "ecology-environment", "zh_Hans",
                         clock.now())
    api.fail_next("setMyCommands", 500, times=2)
    app = build_application(make_settings(api, store), timetable=timetable, store=store,
                            clock=clock, auto_dispatch=False, pacer=ChatPacer(private_rate=50))
    await app.initialize()
    try:
        assert app.post_init is not None
        await app.post_init(app)  # does not raise
        calls = api.calls("setMyCommands")
        assert len(calls) <= 4 + 1  # default and group scopes, two languages; one admin
        assert [r.getMessage()[:40] for r in trouble(caplog)] == [
            "Telegram did not take 2 of the default c"]
        assert all(r.exc_info is None for r in caplog.records)
    finally:
        await app.shutdown()


async def test_a_failed_poll_is_one_warning_and_pages_nobody(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    for error in (NetworkError("Bad Gateway"), Conflict("terminated by other getUpdates"),
                  NetworkError("httpx.ReadError: ")):
        await harness.app.process_error(None, error)
    lines = trouble(caplog)
    assert len(lines) == 3 and all(r.levelno == logging.WARNING for r in lines)
    assert all(r.exc_info is None for r in lines)
    assert admin_notices(harness) == []


async def test_a_report_while_the_database_is_gone_is_not_acknowledged(
        harness: Harness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    store = harness.store

    def gone(*args: object, **kwargs: object) -> None:
        raise OperationalError("INSERT ...", {}, Exception(
            "connection to server at 127.0.0.1 failed: Connection refused"))

    monkeypatch.setattr(store, "add_reports_once", gone)
    monkeypatch.setattr("bot.services.REPLY_DB_RETRIES", (0.01, 0.01))
    answer = await harness.command(ECOLOGY, "report", "15 已完成")
    assert len(answer) == 1
    assert "数据库" in answer[0]["text"] and "再发" in answer[0]["text"]
    assert "无法确认" in answer[0]["text"]  # never "recorded"
    assert store.latest_reports(2026, 15) == {}
    lines = trouble(caplog)
    assert len(lines) == 1 and lines[0].exc_info is None
    assert admin_notices(harness) == []
    monkeypatch.undo()  # the database is back: the same report goes in
    await harness.command(ECOLOGY, "report", "15 已完成")
    assert [r.status for r in store.latest_reports(2026, 15).values()] == ["done"]


class Outage:
    """Every store call fails as with the server unreachable, for the next ``calls`` of them
    (no session or connection can be opened: nothing is read or written)."""

    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        self.left = 0
        self.failed = 0
        for seam in ("_session", "_connection"):  # the store's two ways to the database
            monkeypatch.setattr(store, seam, self._cut(getattr(store, seam)))

    def _cut(self, real: Callable[[], object]) -> Callable[[], object]:
        def opened() -> object:
            if self.left:
                self.left -= 1
                self.failed += 1
                raise OperationalError("SELECT ...", {}, Exception(
                    "connection to server at 127.0.0.1 failed: Connection refused"))
            return real()

        return opened

    def cut(self, calls: int) -> None:
        self.left, self.failed = calls, 0


async def test_every_handler_tries_the_database_again_for_a_moment(
        harness: Harness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database gone for a moment (a restart, a fail-over): a read, a command that writes
    and a button press are each answered as usual, from the database once it is back."""
    await harness.enrol(ECOLOGY, "生态环境局")
    outage = Outage(harness.store, monkeypatch)
    outage.cut(3)
    listing = await harness.command(ECOLOGY, "mytasks")
    assert outage.failed == 3 and outage.left == 0
    assert "单位地区生产总值二氧化碳排放年度降低目标" in "\n".join(m["text"] for m in listing)
    outage.cut(3)
    stored = await harness.command(ECOLOGY, "report", "15 已完成")
    assert outage.failed == 3
    assert "已记录第15项任务" in stored[0]["text"], stored
    outage.cut(3)
    card = await harness.press(ECOLOGY, listing[-1]["message_id"], "t|15|ecology-environment")
    assert outage.failed == 3 and "r|15|p|2026|ecology-environment" in button_data(card[0])
    history = harness.store.report_history(15, "ecology-environment", 2026)
    assert [r.status for r in history] == ["done"]  # once
    assert trouble(caplog) == [] and admin_notices(harness) == []
    assert harness.api.unanswered_callbacks() == []


async def test_a_read_while_the_database_stays_gone_says_nothing_changed(
        harness: Harness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Longer than the retries: a command that only shows something says that nothing was
    changed and to try again; a write says it cannot be confirmed and to send it again."""
    await harness.enrol(ECOLOGY, "生态环境局")
    monkeypatch.setattr("bot.services.REPLY_DB_RETRIES", (0.01, 0.02))
    outage = Outage(harness.store, monkeypatch)
    outage.cut(10**6)
    listing = await harness.command(ECOLOGY, "mytasks")
    assert outage.failed == 3  # the first try and two more
    assert len(listing) == 1 and "/mytasks" in listing[0]["text"]
    assert "数据库" in listing[0]["text"] and "未作任何更改" in listing[0]["text"]
    assert "无法确认" not in listing[0]["text"]
    report = await harness.command(ECOLOGY, "report", "15 已完成")
    assert len(report) == 1 and "无法确认" in report[0]["text"] and "再发" in report[0]["text"]
    outage.cut(0)
    assert harness.store.latest_reports(2026, 15) == {}
    lines = trouble(caplog)
    assert len(lines) == 2 and all(r.exc_info is None for r in lines)
    assert admin_notices(harness) == []


def test_log_lines_carry_iso_timestamps_with_their_offset() -> None:
    record = logging.LogRecord("duban", logging.WARNING, __file__, 1, "hello", None, None)
    record.created = dt.datetime(2026, 11, 24, 1, 0, 0, 250_000, tzinfo=dt.UTC).timestamp()
    line = IsoFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s").format(record)
    stamp = line.split(" ", 1)[0]
    parsed = dt.datetime.fromisoformat(stamp)
    assert parsed.utcoffset() is not None
    assert parsed == dt.datetime(2026, 11, 24, 1, 0, 0, 250_000, tzinfo=dt.UTC)
    assert line.endswith("WARNING duban: hello")


async def test_a_database_error_while_noting_a_refusal_neither_ends_the_run_nor_strands_rows(
        api: BotApiStandIn, timetable: Timetable, tmp_path: object,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A contact who blocked the bot, and the database locked just when that is noted: every
    other contact's reminder goes out and is recorded within the run, and the refused rows wait
    for their lease instead of the run ending with senders still sending."""
    from collections import Counter

    from tests.bot.fleet import DUE, contacts_due, enrol

    store = Store(f"sqlite:///{tmp_path}/d.sqlite3")
    contacts = contacts_due(30)
    enrol(store, api, contacts)
    blocked = sorted(contacts)[0]
    api.block_bot(blocked)
    clock = FrozenClock(DUE - dt.timedelta(days=60))
    settings = make_settings(api, store).model_copy(update={"lease_seconds": 5.0})
    app = build_application(settings, timetable=timetable, store=store, clock=clock,
                            auto_dispatch=False, pacer=ChatPacer(private_rate=50))
    app.bot_data["per_chat_interval"] = 0.0
    app.bot_data["max_send_rate"] = 5
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    try:
        await dispatch_due(app, clock.now())
        clock.set(DUE)

        def locked(*args: object, **kwargs: object) -> None:
            raise OperationalError("UPDATE reminder", {}, Exception("database is locked"))

        monkeypatch.setattr(store, "mark_failed", locked)
        report = await dispatch_due(app, DUE)  # does not raise
        delivered = Counter(int(c.params["chat_id"]) for c in api.calls("sendMessage")
                            if c.status == 200 and int(c.params["chat_id"]) in contacts)
        rows = [r for r in store.reminders_for_cycle(2026)
                if r.chat_id in contacts and r.due_at == DUE]
        assert {r.chat_id for r in rows if r.state == "sent"} == set(contacts) - {blocked}
        assert set(delivered) == set(contacts) - {blocked}
        assert all(n == 1 for n in delivered.values())
        refused = [r for r in rows if r.chat_id == blocked]
        assert {r.state for r in refused} == {"sending"}
        assert {r.id for r in refused} <= set(report.waiting)
        assert any("the next run gives them back" in r.getMessage() for r in trouble(caplog))
        monkeypatch.undo()  # the database is back: the next run, well within the lease,
        again = await dispatch_due(app, DUE + dt.timedelta(minutes=1))  # tries them again
        assert sorted(r for r, _ in again.failed) == sorted(r.id for r in refused)
        assert again.deactivated == [blocked] and again.sent == []
    finally:
        await app.shutdown()
        store.close()


async def test_a_stored_report_is_announced_once_the_database_is_back(
        harness: Harness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report is committed and acknowledged; the database fails a moment while the
    leadership's review request is made: it is made when the database answers again, and the
    person is never also told to send the report again."""
    from tests.bot.test_workflow import AGRI, GROUP, enrol_all, last_id, newest

    await enrol_all(harness)
    store = harness.store
    real = store.leadership_chats
    failures = iter([True, True])

    def flaky(*args: object, **kwargs: object) -> object:
        if next(failures, False):
            raise OperationalError("SELECT ...", {}, Exception("database is locked"))
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "leadership_chats", flaky)
    monkeypatch.setattr("bot.handlers.contact.ANNOUNCE_RETRIES", (0.01, 0.01, 0.01))
    group_mark = last_id(harness, GROUP)
    answers = await harness.command(AGRI, "report", "7 已完成")
    texts = " ".join(a["text"] for a in answers)
    assert "已记录第7项任务" in texts and "无法确认" not in texts and "再发" not in texts
    assert [r.status for r in store.latest_reports(2026, 7).values()] == ["done"]
    requests = [m for m in newest(harness, GROUP, group_mark) if "第7项任务" in m["text"]]
    assert len(requests) == 1


async def test_a_silent_database_answers_a_person_within_seconds(timetable: Timetable) -> None:
    """A database that accepts connections and never answers: a handler's call gives up after
    its few seconds of tries (the person is told), it does not hang."""
    with silent_server() as port:
        store = Store(f"postgresql+psycopg://postgres@127.0.0.1:{port}/duban")
        services = Services(Settings(database_url=store.url), timetable, store, SystemClock())
        started = time.monotonic()
        try:
            with pytest.raises((OperationalError, DatabaseStalled)) as raised:
                await services.db(store.database_now)
        finally:
            store.close()
    assert is_transient_database_error(raised.value)
    assert time.monotonic() - started < 9


@pytest.mark.postgres
async def test_a_paused_database_holds_no_slot_for_ever(
        timetable: Timetable, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PostgreSQL server that stops answering while its sockets stay open (a paused
    machine: the kernel acknowledges, no TCP or server timeout fires): a person's call gives
    up within its patience, the slots are freed so that other calls go on (and give up too),
    the dispatcher's calls have their own limit, and calls work again once it answers."""
    require_postgres()
    base = pg_base_url()
    proxy = PausableProxy((base.host or "127.0.0.1", base.port or 5432))
    url = base.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    store = Store(url)
    services = Services(Settings(database_url=url), timetable, store, SystemClock())
    monkeypatch.setattr("bot.services.BULK_DB_PATIENCE", 2.0)
    try:
        await services.db(store.database_now)  # a pooled connection through the proxy
        proxy.pause()
        started = time.monotonic()
        outcomes = await asyncio.wait_for(asyncio.gather(
            *(services.db(store.database_now) for _ in range(DB_CONCURRENCY + 2)),
            return_exceptions=True), 30)
        assert time.monotonic() - started < REPLY_DB_PATIENCE + 4
        assert all(is_transient_database_error(o) for o in outcomes), outcomes
        assert any(isinstance(o, DatabaseStalled) for o in outcomes), outcomes
        started = time.monotonic()
        with pytest.raises(Exception) as raised:
            await asyncio.wait_for(services.bulk_db(store.database_now), 30)
        assert is_transient_database_error(raised.value)
        assert time.monotonic() - started < 2.0 + 3
        proxy.resume()
        started = time.monotonic()
        assert await asyncio.wait_for(services.db(store.database_now), 10) is not None
        assert time.monotonic() - started < 3
    finally:
        proxy.close()
        store.close()
