"""Limits on invitations: codes that fail, per person, and links made, per admin (injected clock).

On SQLite and PostgreSQL: the attempts are counted in the database (the audit log and the
invitations), so they hold across restarts and across instances.
"""

from __future__ import annotations

import datetime as dt

from bot.handlers.admin import INVITES_ALLOWED
from bot.handlers.common import FAILED_ENROLMENTS_ALLOWED
from tests.bot.conftest import ADMIN, ECOLOGY, LEADER, STRANGER, Harness


def link_code(replies: list[dict[str, object]]) -> str:
    text = str(replies[-1]["text"])
    return text.split("start=")[1].split()[0]


async def test_codes_that_fail_are_limited_per_person(harness: Harness) -> None:
    for attempt in range(FAILED_ENROLMENTS_ALLOWED):
        refused = await harness.command(STRANGER, "start", f"guess{attempt}")
        assert "邀请码无效" in refused[0]["text"], refused
    harness.clock.advance(dt.timedelta(minutes=10))
    # The sixth code is not even looked up: a real one stays unused.
    code = link_code(await harness.command(ADMIN, "invite", "生态环境局"))
    blocked = await harness.command(STRANGER, "start", code)
    assert len(blocked) == 1 and "管理员" in blocked[0]["text"]
    assert "2026" in blocked[0]["text"]  # says when: an hour after the first failure
    assert harness.store.get_person(STRANGER) is None
    assert [i.used_at for i in _invites(harness, code)] == [None]
    # Someone else is not held back by the guesser.
    assert "生态环境局" in (await harness.command(ECOLOGY, "start", code))[0]["text"]
    # An hour after the first failures the guesser may try again.
    harness.clock.advance(dt.timedelta(minutes=51))
    again = link_code(await harness.command(ADMIN, "invite", "发展改革局"))
    welcome = await harness.command(STRANGER, "start", again)
    assert harness.store.units_of(STRANGER) == ["development-reform"], welcome
    assert len(harness.store.audit_log(100, "enrolment.failed")) == FAILED_ENROLMENTS_ALLOWED


async def test_a_code_opened_in_a_group_is_neither_used_nor_counted(harness: Harness) -> None:
    group = -100555
    harness.api.add_group(group, "某个群")
    code = link_code(await harness.command(ADMIN, "invite", "leader"))
    answer = await harness.command(LEADER, "start", code, chat_id=group)
    assert answer == []  # not enrolled: a stranger in a group hears nothing
    assert [i.used_at for i in _invites(harness, code)] == [None]
    assert harness.store.audit_log(100, "enrolment.failed") == []


async def test_invitations_are_limited_per_admin(harness: Harness) -> None:
    for _ in range(INVITES_ALLOWED):
        made = await harness.command(ADMIN, "invite", "leader")
        assert "start=" in made[-1]["text"]
        harness.clock.advance(dt.timedelta(seconds=30))
    refused = await harness.command(ADMIN, "invite", "leader")
    assert len(refused) == 1 and "start=" not in refused[0]["text"]
    assert "duban invite" in refused[0]["text"] and str(INVITES_ALLOWED) in refused[0]["text"]
    assert len(harness.store.audit_log(1000, "invite.created")) == INVITES_ALLOWED
    harness.clock.advance(dt.timedelta(minutes=46))  # the first link is an hour old
    assert "start=" in (await harness.command(ADMIN, "invite", "leader"))[-1]["text"]


def _invites(harness: Harness, code: str) -> list[object]:
    from sqlmodel import Session, select

    from storage import Invite

    with Session(harness.store.engine) as session:
        return list(session.exec(select(Invite).where(Invite.code == code)))
