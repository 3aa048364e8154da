"""Replies are paced per chat, and one chat's wait never holds up another's.

The real application polls the stand-in (PTB's updater, the per-chat update processor and the
pacer all at work). Telegram's group limit of 20 a minute is scaled down to 3 a second so that
the test takes seconds, not minutes.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

import pytest
from telegram.ext import Application

from bot.app import build_application
from bot.pacing import ChatPacer
from bot_api_standin import BotApiStandIn
from schedules.clock import FrozenClock
from schedules.model import Timetable
from storage import Store
from tests.bot.conftest import ADMIN, ECOLOGY, LEADER, Harness, make_settings

GROUP = -100555


@pytest.fixture
async def polling(harness: Harness, api: BotApiStandIn, store: Store, clock: FrozenClock,
                  timetable: Timetable) -> AsyncIterator[Application]:
    """A second application on the same stand-in and database, polling for real."""
    api.add_group(GROUP, "降碳领导小组")
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.bind(LEADER, GROUP)
    now = clock.now()
    for unit in [u.id for u in timetable.units if u.kind.value != "group"]:
        store.add_report(23, unit, 2026, "in_progress", 50, "说明" * 120, ADMIN, now, "command")
    await harness.pump()  # the harness's own updates are consumed
    app = build_application(make_settings(api, store), timetable=timetable, store=store,
                            clock=clock, auto_dispatch=False,
                            pacer=ChatPacer(private_rate=1, private_period=1, group_rate=3,
                                            group_period=1))
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1,
                                    drop_pending_updates=False)
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


async def test_a_busy_group_does_not_hold_up_a_private_chat(api: BotApiStandIn,
                                                           polling: Application) -> None:
    started = time.monotonic()
    mark = time.monotonic()
    for _ in range(8):  # eight /task 23, several pages each, in the group
        api.send_command(LEADER, "task", "23", GROUP)
    # Telegram makes the group wait: only that chat pauses.
    api.fail_next("sendMessage", 429, retry_after=2)
    await asyncio.sleep(0.3)
    asked = api.send_command(ECOLOGY, "mytasks")
    await api.wait_for_bot_message(ECOLOGY, after=asked["message_id"], timeout=5)
    private_wait = time.monotonic() - started - 0.3
    assert private_wait < 2.0, f"the private reply waited {private_wait:.1f} s"
    # The group's answers keep its limit, and all of them arrive.
    await api.wait_for(lambda: len(api.bot_messages(GROUP)) >= 1 + 8 * 2, timeout=30)
    assert api.max_rate_observed(GROUP, window=1.0) <= 3
    replies = [t for t in api.send_times(ECOLOGY) if t >= mark]  # the polling bot's only
    assert replies and all(b - a >= 0.99 for a, b in itertools.pairwise(replies))
