"""Exactly-once reminders through kill -9 and a second instance: real ``duban run`` processes.

docs/reminders.md ("Sending") states the bound these tests measure: a crash leaves at most the
messages in flight unrecorded (``MAX_SEND_RATE``, 28), so at most that many are sent twice after
a restart, and the rest goes out within one lease and one dispatch interval; any number of
instances on one PostgreSQL database, whatever their clocks say, send each reminder once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.reminders import MAX_SEND_RATE
from tests.bot.conftest import BOT_USERNAME, TOKEN
from tests.bot.fleet import fleet
from tests.bot.standin_thread import running_standin
from tests.dbs import database_url, postgres_database

CONTACTS = 120


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_kill_9_mid_fan_out_resends_at_most_the_messages_in_flight(
        backend: str, tmp_path: Path) -> None:
    with running_standin() as api, database_url(backend, tmp_path) as url, \
            fleet(api, url, tmp_path, CONTACTS) as bots:
        api.add_bot(TOKEN, BOT_USERNAME, 123456)
        first = bots.start("first")
        bots.wait(lambda: sum(bots.sends().values()) >= CONTACTS // 4, 60, "a quarter is sent")
        bots.kill(first)
        before = bots.sends()
        bots.start("again")
        # Resumes at once with what nobody held, and within one lease (5 s) and one dispatch
        # interval (1 s) with what the dead one had in flight.
        bots.wait(lambda: len(bots.sends()) == CONTACTS, 60, "every contact has a reminder")
        sends = bots.sends()
        duplicates = sum(n - 1 for n in sends.values())
        assert 0 < len(before) < CONTACTS
        assert duplicates <= MAX_SEND_RATE, (duplicates, len(before))
        assert "Traceback" not in bots.log("again")


@pytest.mark.postgres
def test_two_instances_one_with_its_clock_eleven_minutes_ahead_never_duplicate(
        tmp_path: Path) -> None:
    with running_standin() as api, postgres_database() as url, \
            fleet(api, url, tmp_path, CONTACTS) as bots:
        api.add_bot(TOKEN, BOT_USERNAME, 123456)
        bots.start("first")
        bots.wait(lambda: sum(bots.sends().values()) >= 5, 60, "the first one is sending")
        bots.start("ahead", clock_ahead=11 * 60)
        bots.wait(lambda: len(bots.sends()) == CONTACTS, 60, "every contact has a reminder")
        time.sleep(3)  # both keep running, several runs each: nothing more may go out
        sends = bots.sends()
        assert [chat for chat, n in sends.items() if n > 1] == []
        assert len(sends) == CONTACTS
