"""Who sends an update (``bot.handlers.common.caller_of``): the units a person serves that the
timetable still has."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from telegram import Chat, Message, Update, User

from bot.handlers.common import caller_of
from bot.services import Services
from tests.bot.conftest import ECOLOGY, SHANGHAI, Harness

NOW = dt.datetime(2026, 11, 16, 10, 0, tzinfo=SHANGHAI)


def update_from(user_id: int) -> Update:
    user = User(user_id, "王芳", False, language_code="zh-hans")
    return Update(1, message=Message(1, NOW, Chat(user_id, Chat.PRIVATE), from_user=user,
                                     text="/mytasks"))


async def test_a_unit_the_timetable_no_longer_has_is_left_out_with_a_warning(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    services: Services = harness.app.bot_data["services"]
    unit = services.timetable.find_unit("生态环境局")
    assert unit is not None
    harness.store.sync_units([("abolished", "已撤并单位", "bureau")], NOW)
    harness.store.add_person(ECOLOGY, "王芳", "contact", unit.id, "zh_Hans", NOW)
    harness.store.add_person(ECOLOGY, "王芳", "contact", "abolished", "zh_Hans", NOW)
    assert harness.store.caller(ECOLOGY)[1] == [unit.id, "abolished"]
    with caplog.at_level(logging.WARNING, logger="bot.handlers.common"):
        caller = await caller_of(update_from(ECOLOGY), services)
    assert caller is not None and caller.units == (unit.id,)
    assert "abolished" in caplog.text and "no longer has" in caplog.text
