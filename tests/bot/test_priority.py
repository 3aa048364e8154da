"""Replies to people go ahead of a reminder fan-out (issue 12, item 4).

Telegram allows about 30 sends a second in all. The pacer keeps one overall window in which
replies go first and a bulk window just under it for the fan-out: a reply waits at most for the
sends already under way, and the fan-out uses whatever the replies leave.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from bot.pacing import BULK, ChatPacer
from bot.reminders import dispatch_due
from storage import Store
from tests.bot.conftest import ECOLOGY, Harness
from tests.bot.fleet import DUE, contacts_due, enrol


async def test_the_pacer_lets_a_reply_pass_a_queue_of_bulk_sends() -> None:
    pacer = ChatPacer(overall_rate=3, bulk_rate=3, private_rate=0)
    order: list[str] = []

    def send(name: str) -> Callable[..., Awaitable[bool]]:
        async def callback() -> bool:
            order.append(name)
            return True
        return callback

    bulk = [asyncio.create_task(pacer.process_request(
        send(f"bulk{n}"), (), {}, "sendMessage", {"chat_id": 100 + n}, BULK)) for n in range(9)]
    await asyncio.sleep(0.1)  # three went out, six wait for the next second
    reply = asyncio.create_task(pacer.process_request(
        send("reply"), (), {}, "sendMessage", {"chat_id": 7}, None))
    await asyncio.gather(reply, *bulk)
    assert order.index("reply") == 3, order  # first of the second second


@pytest.mark.parametrize("backend", ["sqlite"])  # the database is not what is measured
async def test_a_reply_during_a_fan_out_takes_under_two_seconds(
        harness: Harness, store: Store) -> None:
    api, app = harness.api, harness.app
    contacts = contacts_due(150)
    enrol(store, api, contacts)
    await harness.enrol(ECOLOGY, "生态环境局")
    app.bot_data["per_chat_interval"] = 1.0
    await dispatch_due(app, DUE.replace(month=9, day=1))  # plans; nothing is due yet
    harness.clock.set(DUE)
    api.enforce_limits = True
    calls_before = len(api.calls("sendMessage"))
    run = asyncio.create_task(dispatch_due(app, DUE))
    waits: list[float] = []
    while len(waits) < 3:
        await asyncio.sleep(0.5)
        began = time.perf_counter()
        await harness.command(ECOLOGY, "mytasks")
        waits.append(time.perf_counter() - began)
        assert not run.done(), "the fan-out ended before the replies were measured"
    report = await run
    calls = api.calls("sendMessage")[calls_before:]
    assert [c for c in calls if c.status == 429] == []
    assert len({int(c.params["chat_id"]) for c in calls if c.status == 200} & set(contacts)
               ) == len(contacts) and report.failed == []
    assert max(waits) < 2.0, waits
