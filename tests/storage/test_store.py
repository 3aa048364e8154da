"""Store behaviour on SQLite and PostgreSQL: people, invites, reports, reminders, time, audit."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.exc import OperationalError

from schedules.workflow import Acknowledgement
from storage import (
    INVITE_CODE_PATTERN,
    InviteError,
    PairStanding,
    Person,
    ReminderSpec,
    StillOwed,
    Store,
    UTCDateTime,
    is_transient_database_error,
)
from tests.dbs import silent_server

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2025, 11, 3, 9, 30, 15, 123456, tzinfo=SHANGHAI)
CUTOFF = dt.date(2025, 12, 1)
UNITS = [("fgw", "市发展改革委", "bureau"), ("jxj", "市经信局", "bureau"),
         ("zjz", "周家镇", "town")]


@pytest.fixture
def units(store: Store) -> Store:
    """The store with three units synced."""
    store.sync_units(UNITS, NOW)
    return store


def _contact(store: Store, telegram_user_id: int, unit_id: str = "fgw") -> Person:
    return store.add_person(telegram_user_id, f"user {telegram_user_id}", "contact", unit_id,
                            "zh_Hans", NOW)


def _spec(task_id: int = 1, unit_id: str = "fgw", *, cycle: int = 2025, kind: str = "before",
          offset_days: int = 30, chat_id: int = 1001,
          due_at: dt.datetime = NOW) -> ReminderSpec:
    return ReminderSpec(task_id=task_id, unit_id=unit_id, cycle=cycle, kind=kind,
                        offset_days=offset_days, chat_id=chat_id, due_at=due_at, cutoff=CUTOFF)


def _actions(store: Store) -> list[str]:
    return [entry.action for entry in reversed(store.audit_log(limit=1000))]


@pytest.fixture
def statements(store: Store) -> Iterator[list[str]]:
    """Every SQL statement the store sends from now on."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    yield seen
    event.remove(store.engine, "before_cursor_execute", record)


# -- units --------------------------------------------------------------------------------------
def test_sync_units_adds_and_renames_but_never_deletes(store: Store) -> None:
    assert store.sync_units(UNITS, NOW) == 3
    assert store.sync_units(UNITS, NOW) == 0
    assert store.sync_units([("fgw", "发改委", "bureau")], NOW) == 1
    renamed = store.get_unit("fgw")
    assert renamed is not None and renamed.name == "发改委"
    assert store.get_unit("jxj") is not None
    assert store.get_unit("nope") is None
    assert _actions(store) == ["units.synced", "units.synced"]
    assert store.audit_log(limit=1)[0].details_dict() == {"added": [], "changed": ["fgw"]}


# -- invites and enrolment ----------------------------------------------------------------------
def test_enrol_with_invite_adds_a_contact_and_uses_the_invite(units: Store) -> None:
    invite = units.create_invite("fgw", "contact", created_by=None, now=NOW)
    assert INVITE_CODE_PATTERN.fullmatch(invite.code)
    assert invite.expires_at == NOW + dt.timedelta(days=7)

    enrolment = units.enrol_with_invite(invite.code, 555, "王芳", "zh_Hans", NOW)
    person = enrolment.person

    assert (person.telegram_user_id, person.role) == (555, "contact")
    assert (enrolment.unit_id, enrolment.units) == ("fgw", ("fgw",))
    assert person.active and person.id is not None and person.language == "zh_Hans"
    assert units.get_person(555) == person
    assert [p.telegram_user_id for p in units.contacts_for_unit("fgw")] == [555]
    assert _actions(units)[-4:] == ["invite.created", "invite.used", "person.enrolled",
                                    "membership.started"]


def test_invite_cannot_be_used_twice(units: Store) -> None:
    invite = units.create_invite("fgw", "contact", created_by=1, now=NOW)
    units.enrol_with_invite(invite.code, 555, "王芳", None, NOW)
    audit_before = len(units.audit_log(limit=1000))

    with pytest.raises(InviteError) as caught:
        units.enrol_with_invite(invite.code, 666, "李强", None, NOW)

    assert caught.value.reason == "used"
    assert str(caught.value) == "This invite has already been used."
    assert units.get_person(666) is None
    assert len(units.audit_log(limit=1000)) == audit_before


def test_expired_invite_is_refused_and_stays_unused(units: Store) -> None:
    invite = units.create_invite(None, "leader", created_by=None, now=NOW,
                                 ttl=dt.timedelta(hours=1))
    with pytest.raises(InviteError) as caught:
        units.enrol_with_invite(invite.code, 555, "王芳", None, NOW + dt.timedelta(hours=1))
    assert caught.value.reason == "expired"
    assert "expired" in str(caught.value)
    assert units.get_person(555) is None
    # One second earlier it still works: the refusal changed nothing.
    enrolment = units.enrol_with_invite(invite.code, 555, "王芳", None,
                                        NOW + dt.timedelta(minutes=59))
    assert enrolment.person.role == "leader" and enrolment.units == ()


@pytest.mark.parametrize("code", ["doesNotExist123", "", "bad code!", "x" * 65, "../../etc"])
def test_unknown_invite_is_refused(units: Store, code: str) -> None:
    with pytest.raises(InviteError) as caught:
        units.enrol_with_invite(code, 555, "王芳", None, NOW)
    assert caught.value.reason == "unknown"
    assert units.get_person(555) is None


def test_bind_unbind_and_rebind_a_leadership_chat(units: Store) -> None:
    chat = units.bind_chat(-100123, "领导群", 777, NOW)
    assert (chat.chat_id, chat.title, chat.bound_by, chat.active) == (-100123, "领导群", 777, True)
    assert [c.chat_id for c in units.leadership_chats()] == [-100123]

    assert units.unbind_chat(-100123, NOW, actor=777)
    assert not units.unbind_chat(-100123, NOW)
    assert units.leadership_chats() == []
    assert [c.chat_id for c in units.leadership_chats(active_only=False)] == [-100123]

    later = NOW + dt.timedelta(days=1)
    rebound = units.bind_chat(-100123, "新名字", 888, later)
    assert (rebound.title, rebound.bound_by, rebound.bound_at) == ("新名字", 888, later)
    assert [c.title for c in units.leadership_chats()] == ["新名字"]
    assert _actions(units).count("chat.bound") == 2


def test_a_group_has_a_language_for_its_digests(units: Store) -> None:
    units.bind_chat(-100123, "领导群", 777, NOW)
    assert units.get_chat(-100123).language is None  # type: ignore[union-attr]
    assert units.set_chat_language(-100123, "en", NOW, actor=777)
    assert units.get_chat(-100123).language == "en"  # type: ignore[union-attr]
    assert not units.set_chat_language(-100999, "en", NOW)  # not a bound group
    units.migrate_chat(-100123, -100124, NOW)
    assert units.get_chat(-100124).language == "en"  # type: ignore[union-attr]


def test_create_invite_checks_role_unit_and_ttl(units: Store) -> None:
    with pytest.raises(ValueError, match="needs a unit"):
        units.create_invite(None, "contact", None, NOW)
    with pytest.raises(ValueError, match="belongs to no unit"):
        units.create_invite("fgw", "leader", None, NOW)
    with pytest.raises(ValueError, match="unknown role"):
        units.create_invite(None, "boss", None, NOW)
    with pytest.raises(ValueError, match="unknown unit"):
        units.create_invite("nope", "contact", None, NOW)
    with pytest.raises(ValueError, match="ttl"):
        units.create_invite(None, "leader", None, NOW, ttl=dt.timedelta(0))
    assert "invite.created" not in _actions(units)


# -- people -------------------------------------------------------------------------------------
def test_reenrolment_reactivates_and_changes_role(units: Store) -> None:
    first = _contact(units, 555)
    assert units.deactivate_person(555, "left the bureau", NOW, actor=1)
    invite = units.create_invite(None, "leader", created_by=1, now=NOW)

    again = units.enrol_with_invite(invite.code, 555, "王芳 (new)", None, NOW).person

    assert again.id == first.id
    assert (again.role, again.active) == ("leader", True)
    assert units.units_of(555) == []  # a deactivated person starts afresh
    assert again.deactivated_at is None and again.deactivation_reason is None
    assert again.language == "zh_Hans"  # None keeps the earlier choice
    assert again.display_name == "王芳 (new)"
    assert units.contacts_for_unit("fgw") == []
    assert [p.telegram_user_id for p in units.leaders()] == [555]
    details = units.audit_log(limit=1, action="person.reenrolled")[0].details_dict()
    assert details["old_role"] == "contact" and details["was_active"] is False


def test_a_clerk_serves_two_units(units: Store) -> None:
    _contact(units, 555, "fgw")
    invite = units.create_invite("jxj", "contact", created_by=1, now=NOW)
    enrolment = units.enrol_with_invite(invite.code, 555, "王芳", None, NOW)
    assert enrolment.units == ("fgw", "jxj")  # added, not moved
    assert units.units_of(555) == ["fgw", "jxj"]
    assert [p.telegram_user_id for p in units.contacts_for_unit("fgw")] == [555]
    assert [p.telegram_user_id for p in units.list_people(unit_id="jxj")] == [555]
    assert units.end_membership(555, "fgw", "moved", NOW, actor=1)
    assert not units.end_membership(555, "fgw", "again", NOW)
    assert units.units_of(555) == ["jxj"]
    assert units.contacts_for_unit("fgw") == []
    # Enrolling again for a unit they left reactivates that membership (one row per pair).
    again = units.create_invite("fgw", "contact", created_by=1, now=NOW)
    units.enrol_with_invite(again.code, 555, "王芳", None, NOW)
    assert units.units_of(555) == ["fgw", "jxj"]
    assert len(units.memberships(active_only=False)) == 2


def test_a_leader_keeps_their_role_and_may_serve_a_unit(units: Store) -> None:
    leader = units.create_invite(None, "admin", created_by=None, now=NOW)
    units.enrol_with_invite(leader.code, 700, "李主任", None, NOW)
    invite = units.create_invite("fgw", "contact", created_by=None, now=NOW)
    enrolment = units.enrol_with_invite(invite.code, 700, "李主任", None, NOW)
    assert (enrolment.person.role, enrolment.units) == ("admin", ("fgw",))  # never lowered
    lower = units.create_invite(None, "leader", created_by=None, now=NOW)
    assert units.enrol_with_invite(lower.code, 700, "李主任", None, NOW).person.role == "admin"


def test_revoking_a_person_unbinds_the_groups_they_bound(units: Store) -> None:
    leader = units.create_invite(None, "leader", created_by=None, now=NOW)
    units.enrol_with_invite(leader.code, 700, "李主任", None, NOW)
    units.bind_chat(-100123, "领导群", 700, NOW)
    units.bind_chat(-100456, "另一个群", 800, NOW)
    unbound = units.revoke_person(700, "left", NOW, actor=1)
    assert [c.chat_id for c in unbound or []] == [-100123]
    assert [c.chat_id for c in units.leadership_chats()] == [-100456]
    assert units.revoke_person(700, "again", NOW) is None
    assert units.revoke_person(999, "unknown", NOW) is None


def test_a_leader_may_ask_for_digests(units: Store) -> None:
    leader = units.create_invite(None, "leader", created_by=None, now=NOW)
    units.enrol_with_invite(leader.code, 700, "李主任", None, NOW)
    assert units.get_person(700).digests is False  # type: ignore[union-attr]
    assert units.set_digests(700, True, NOW)
    assert units.get_person(700).digests is True  # type: ignore[union-attr]
    assert not units.set_digests(999, True, NOW)


def test_deactivate_person(units: Store) -> None:
    _contact(units, 555)
    assert units.deactivate_person(555, "blocked the bot", NOW)
    assert not units.deactivate_person(555, "again", NOW)
    assert not units.deactivate_person(999, "unknown", NOW)
    person = units.get_person(555)
    assert person is not None and not person.active
    assert person.deactivation_reason == "blocked the bot" and person.deactivated_at == NOW
    assert units.list_people() == []
    assert [p.telegram_user_id for p in units.list_people(active_only=False)] == [555]
    assert _actions(units).count("person.deactivated") == 1


def test_contacts_for_unit_are_the_active_contacts_of_that_unit(units: Store) -> None:
    _contact(units, 1, "fgw")
    _contact(units, 2, "fgw")
    _contact(units, 3, "jxj")
    units.add_person(4, "leader", "leader", None, None, NOW)
    units.deactivate_person(2, "gone", NOW)
    assert [p.telegram_user_id for p in units.contacts_for_unit("fgw")] == [1]
    assert [p.telegram_user_id for p in units.contacts_for_unit("jxj")] == [3]
    assert units.contacts_for_unit("zjz") == []


def test_leaders_include_admins_and_admins_do_not_include_leaders(units: Store) -> None:
    units.add_person(1, "leader", "leader", None, None, NOW)
    units.add_person(2, "admin", "admin", None, None, NOW, actor=2)
    units.add_person(3, "old leader", "leader", None, None, NOW)
    _contact(units, 4)
    units.deactivate_person(3, "retired", NOW)
    assert [p.telegram_user_id for p in units.leaders()] == [1, 2]
    assert [p.telegram_user_id for p in units.admins()] == [2]
    assert [p.telegram_user_id for p in units.list_people(role="contact")] == [4]


def test_set_language(units: Store) -> None:
    _contact(units, 555)
    assert units.set_language(555, "en", NOW)
    assert not units.set_language(999, "en", NOW)
    person = units.get_person(555)
    assert person is not None and person.language == "en"
    assert units.audit_log(limit=1)[0].details_dict() == {"old": "zh_Hans", "new": "en"}


def test_add_person_checks_role_and_unit(units: Store) -> None:
    with pytest.raises(ValueError, match="needs a unit"):
        units.add_person(1, "x", "contact", None, None, NOW)
    with pytest.raises(ValueError, match="belongs to no unit"):
        units.add_person(1, "x", "admin", "fgw", None, NOW)
    with pytest.raises(ValueError, match="unknown unit"):
        units.add_person(1, "x", "contact", "nope", None, NOW)
    assert units.get_person(1) is None


# -- reports and evidence -----------------------------------------------------------------------
def test_reports_are_appended_and_latest_picks_the_newest(units: Store) -> None:
    hour = dt.timedelta(hours=1)
    add = units.add_report
    add(1, "fgw", 2024, "done", 100, "last year", 5, NOW - dt.timedelta(days=365), "cli")
    add(1, "fgw", 2025, "in_progress", 20, "", 5, NOW, "button")
    add(1, "fgw", 2025, "in_progress", 60, "more", 5, NOW + 2 * hour, "reply", 42)
    add(1, "fgw", 2025, "blocked", None, "stuck", 5, NOW + hour, "command")  # reported earlier
    add(1, "jxj", 2025, "done", 100, "", 6, NOW, "button")
    add(2, "fgw", 2025, "not_applicable", None, "", 5, NOW, "button")
    add(2, "fgw", 2025, "done", 100, "", 5, NOW, "button")  # same instant: the later row wins

    latest = units.latest_reports(2025)

    assert {key: (r.status, r.progress) for key, r in latest.items()} == {
        (1, "fgw"): ("in_progress", 60),
        (1, "jxj"): ("done", 100),
        (2, "fgw"): ("done", 100),
    }
    assert latest[(1, "fgw")].source_message_id == 42
    assert {k: r.status for k, r in units.latest_reports(2024).items()} == {(1, "fgw"): "done"}
    assert units.latest_reports(2023) == {}
    assert set(units.latest_reports(2025, task_id=1)) == {(1, "fgw"), (1, "jxj")}
    assert set(units.latest_reports(2025, unit_id="fgw")) == {(1, "fgw"), (2, "fgw")}
    assert set(units.latest_reports(2025, task_id=2, unit_id="jxj")) == set()

    history = units.report_history(1, "fgw", 2025)
    assert [(r.status, r.progress) for r in history] == [
        ("in_progress", 20), ("blocked", None), ("in_progress", 60)]
    assert [r.note for r in history] == ["", "stuck", "more"]
    assert _actions(units).count("report.added") == 7


def test_latest_reports_is_one_query(units: Store, statements: list[str]) -> None:
    for task_id in range(1, 6):
        for unit_id, _, _ in UNITS:
            units.add_report(task_id, unit_id, 2025, "in_progress", 10, "", 5, NOW, "button")
            units.add_report(task_id, unit_id, 2025, "done", 100, "", 5, NOW, "button")
    statements.clear()
    latest = units.latest_reports(2025)
    assert len(latest) == 15 and {r.status for r in latest.values()} == {"done"}
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


@pytest.mark.parametrize(("status", "progress", "source", "unit_id", "message"), [
    ("finished", 100, "button", "fgw", "unknown status"),
    ("done", 101, "button", "fgw", "progress"),
    ("done", -1, "button", "fgw", "progress"),
    ("done", True, "button", "fgw", "progress"),
    ("done", 100, "email", "fgw", "unknown source"),
    ("done", 100, "button", "nope", "unknown unit"),
])
def test_invalid_report_is_rejected_and_nothing_stored(
        units: Store, status: str, progress: int, source: str, unit_id: str,
        message: str) -> None:
    with pytest.raises(ValueError, match=message):
        units.add_report(1, unit_id, 2025, status, progress, "", 5, NOW, source)
    assert units.latest_reports(2025) == {}
    assert "report.added" not in _actions(units)


def test_evidence_is_attached_to_a_report(units: Store) -> None:
    report = units.add_report(1, "fgw", 2025, "done", 100, "", 5, NOW, "button")
    assert report.id is not None
    photo = units.add_evidence(report.id, "AgAD-file", "uniq-1", "photo", None, 5, NOW)
    document = units.add_evidence(report.id, "BQAD-file", "uniq-2", "document", "总结.pdf", 5,
                                  NOW)
    assert [(e.id, e.kind, e.file_name) for e in units.evidence_for(report.id)] == [
        (photo.id, "photo", None), (document.id, "document", "总结.pdf")]
    assert units.evidence_for(report.id + 1) == []
    with pytest.raises(ValueError, match="unknown kind"):
        units.add_evidence(report.id, "f", "u", "video", None, 5, NOW)
    with pytest.raises(ValueError, match="no report"):
        units.add_evidence(report.id + 1, "f", "u", "photo", None, 5, NOW)
    assert _actions(units).count("evidence.added") == 2


# -- planned deliveries -------------------------------------------------------------------------
def test_plan_deliveries_is_idempotent(store: Store) -> None:
    specs = [_spec(offset_days=offset, due_at=NOW + dt.timedelta(days=30 - offset))
             for offset in (30, 14, 7)]
    specs.append(_spec(0, "", kind="digest", offset_days=28, chat_id=-100123))
    specs.append(_spec(1, "fgw", kind="overdue", offset_days=0))

    assert store.plan_deliveries(specs, NOW) == 5
    assert store.plan_deliveries(specs, NOW) == 0
    assert store.plan_deliveries(specs + specs, NOW) == 0
    assert store.plan_deliveries([], NOW) == 0
    assert store.plan_deliveries([_spec(chat_id=2002)], NOW) == 1  # another recipient

    rows = store.reminders_for_cycle(2025)
    assert len(rows) == 6 and {r.state for r in rows} == {"pending"}
    digest = next(r for r in rows if r.is_digest)
    assert (digest.task_id, digest.unit_id, digest.chat_id) == (0, "", -100123)
    assert store.reminders_for_cycle(2024) == []
    assert _actions(store) == ["reminders.planned", "reminders.planned"]


def test_plan_deliveries_in_batches(store: Store) -> None:
    specs = [_spec(task_id, unit_id, chat_id=chat_id)
             for task_id in range(1, 41) for unit_id in ("fgw", "jxj", "zjz")
             for chat_id in (1, 2, 3, 4, 5)]
    assert store.plan_deliveries(specs, NOW) == 600
    assert store.plan_deliveries(specs, NOW) == 0


def test_plan_deliveries_moves_a_pending_delivery(store: Store) -> None:
    store.plan_deliveries([_spec(due_at=NOW)], NOW)
    moved = NOW + dt.timedelta(days=2)

    assert store.plan_deliveries([_spec(due_at=moved)], NOW) == 0

    [row] = store.reminders_for_cycle(2025)
    assert row.due_at == moved and row.state == "pending"
    assert store.audit_log(limit=1)[0].details_dict()["moved"] == [row.id]
    assert store.due_deliveries(NOW + dt.timedelta(days=1)) == []


def test_plan_deliveries_does_not_move_a_sent_delivery(store: Store) -> None:
    store.plan_deliveries([_spec(due_at=NOW)], NOW)
    [row] = store.reminders_for_cycle(2025)
    assert row.id is not None
    assert store.claim(row.id, NOW) and store.mark_sent(row.id, 77, NOW)
    audit_before = len(store.audit_log(limit=1000))

    assert store.plan_deliveries([_spec(due_at=NOW + dt.timedelta(days=2))], NOW) == 0

    [after] = store.reminders_for_cycle(2025)
    assert after.due_at == NOW and after.state == "sent"
    assert len(store.audit_log(limit=1000)) == audit_before


def test_reminder_spec_is_checked() -> None:
    with pytest.raises(ValueError, match="kind"):
        _spec(kind="later")
    with pytest.raises(ValueError, match="naive"):
        _spec(due_at=NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="digest"):
        _spec(1, "fgw", kind="digest")
    with pytest.raises(ValueError, match="digest"):
        _spec(0, "", kind="before")
    with pytest.raises(ValueError, match="negative"):
        _spec(offset_days=-1)


def test_due_deliveries_by_time(store: Store) -> None:
    day = dt.timedelta(days=1)
    store.plan_deliveries([_spec(offset_days=30, due_at=NOW + 2 * day),
                           _spec(offset_days=14, due_at=NOW),
                           _spec(offset_days=7, due_at=NOW - 10 * day),
                           _spec(offset_days=3, due_at=NOW, chat_id=2002)], NOW)

    assert store.due_deliveries(NOW - 11 * day) == []
    due = store.due_deliveries(NOW)
    assert [(r.offset_days, r.chat_id) for r in due] == [(7, 1001), (14, 1001), (3, 2002)]
    assert [r.offset_days for r in store.due_deliveries(NOW, not_before=NOW - day)] == [14, 3]
    assert len(store.due_deliveries(NOW + 2 * day)) == 4

    first = due[0].id
    assert first is not None and store.claim(first, NOW)
    assert [r.offset_days for r in store.due_deliveries(NOW)] == [14, 3]


def test_due_rows_by_page_of_chats(store: Store) -> None:
    day = dt.timedelta(days=1)
    store.plan_deliveries([_spec(offset_days=30, due_at=NOW + 2 * day),
                           _spec(offset_days=14, due_at=NOW),
                           _spec(offset_days=7, due_at=NOW - 10 * day),
                           _spec(offset_days=3, due_at=NOW, chat_id=2002),
                           _spec(offset_days=3, due_at=NOW, chat_id=2003, cycle=2024)], NOW)

    assert store.due_chats(NOW - 11 * day) == []
    assert store.due_chats(NOW) == [(1001, 2025), (2002, 2025), (2003, 2024)]
    rows = store.due_rows(NOW, [1001, 2002])
    # the same rows as due_deliveries, in its order, as plain rows
    assert rows == [(r.id, r.task_id, r.unit_id, r.cycle, r.kind, r.offset_days, r.chat_id,
                     r.due_at, r.cutoff, r.attempts, r.created_at, r.not_before)
                    for r in store.due_deliveries(NOW) if r.chat_id != 2003]
    assert [(r.offset_days, r.chat_id) for r in rows] == [(7, 1001), (14, 1001), (3, 2002)]
    assert rows[0].due_at == NOW - 10 * day and rows[0].created_at == NOW
    assert [r.chat_id for r in store.due_rows(NOW, [2002, 9999])] == [2002]
    assert store.due_rows(NOW, []) == []

    assert rows[0].id is not None and store.claim(rows[0].id, NOW)
    assert [r.offset_days for r in store.due_rows(NOW, [1001])] == [14]


def test_claim_race_has_one_winner(store: Store) -> None:
    store.plan_deliveries([_spec()], NOW)
    [row] = store.due_deliveries(NOW)
    assert row.id is not None
    assert store.claim(row.id, NOW) is True
    assert store.claim(row.id, NOW) is False
    assert store.claim(row.id + 1000, NOW) is False
    assert _actions(store).count("reminder.claimed") == 1


def test_racing_dispatcher_threads_claim_each_delivery_once(store: Store) -> None:
    store.plan_deliveries([_spec(task_id) for task_id in range(1, 21)], NOW)
    ids = [r.id for r in store.due_deliveries(NOW) if r.id is not None]
    barrier = threading.Barrier(4)

    def dispatcher() -> list[int]:
        barrier.wait()
        return [reminder_id for reminder_id in ids if store.claim(reminder_id, NOW)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        won = [pool.submit(dispatcher) for _ in range(4)]
    claimed = [reminder_id for future in won for reminder_id in future.result()]
    assert sorted(claimed) == sorted(ids)


def _chat_messages(store: Store, chats: int, rows: int, cycle: int = 2025) -> list[list[int]]:
    """``chats`` chats with ``rows`` due reminders each: each chat's ids, as one message."""
    store.plan_deliveries([_spec(task_id, cycle=cycle, chat_id=chat)
                           for chat in range(2001, 2001 + chats)
                           for task_id in range(1, rows + 1)], NOW)
    by_chat: dict[int, list[int]] = {}
    for row in store.due_deliveries(NOW):
        if row.cycle == cycle:
            by_chat.setdefault(row.chat_id, []).append(row.id or 0)
    return [sorted(ids) for _, ids in sorted(by_chat.items())]


@pytest.mark.parametrize("held", [0, 1, 2])
def test_a_message_another_instance_partly_holds_is_not_claimed_in_part(
        store: Store, backend: str, held: int) -> None:
    """Another instance in the middle of its claim holds one row of a chat's message (its
    first, middle or last): the claim takes none of that message's rows (the chat must not get
    its reminders in two messages) and the other messages whole; once the other lets go, the
    message is claimed whole."""
    if backend != "postgres":
        pytest.skip("SQLite has one writer: a claim cannot see another one half done")
    contested, free = _chat_messages(store, 2, 3)
    other = Store(store.url)
    try:
        with other.engine.connect() as connection, connection.begin():
            connection.exec_driver_sql(
                "SELECT id FROM reminder WHERE id = %s FOR UPDATE", (contested[held],))
            claimed = store.claim_messages([contested, free], "host:1:a", 30, NOW)
            assert [[r.id for r in message] for message in claimed] == [[], free]
            rows = {r.id: r for r in store.reminders_for_cycle(2025)}
            assert {rows[i].state for i in contested} == {"pending"}
            assert {rows[i].claimed_by for i in free} == {"host:1:a"}
        again = store.claim_messages([contested], "host:1:a", 30, NOW)
    finally:
        other.close()
    assert [[r.id for r in message] for message in again] == [contested]
    assert _actions(store).count("reminder.claimed") == 6


def test_a_rows_back_off_holds_back_the_rest_of_its_message_until_it_ends(
        store: Store) -> None:
    """Whole or nothing counts every unfinished row: a row still backing off keeps its
    message's other rows back until the back-off ends (then all go as one message); a row
    already sent does not count."""
    (message,) = _chat_messages(store, 1, 3)
    backing, sent, ready = message
    store.claim_leased([backing, sent], "host:1:a", 30, NOW)
    assert store.retry_later(backing, "429", NOW, instance="host:1:a",
                             back_off=dt.timedelta(seconds=0.5))
    assert store.mark_sent_many([sent], 5, NOW) == [sent]
    assert [[r.id for r in m] for m in store.claim_messages([message], "host:2:b", 30, NOW)
            ] == [[]]
    time.sleep(0.6)
    claimed = store.claim_messages([message], "host:2:b", 30, NOW)
    assert [[r.id for r in m] for m in claimed] == [[backing, ready]]


@pytest.mark.parametrize("rounds", [12])
def test_racing_claims_take_each_chats_message_whole(store: Store, rounds: int) -> None:
    """Two instances (two engines) claim the same chats' messages at the same instant, over
    and over: each row goes to one of them, and each message's rows all to the same one (what
    neither could take whole stays pending for the next run, then goes whole)."""
    other = Store(store.url)
    barrier = threading.Barrier(2)
    try:
        for cycle in range(2030, 2030 + rounds):
            messages = _chat_messages(store, 12, 4, cycle)

            def claim(by: Store, name: str, messages: list[list[int]] = messages
                      ) -> list[list[Any]]:
                barrier.wait()
                return by.claim_messages(messages, name, 30, NOW)

            with ThreadPoolExecutor(max_workers=2) as pool:
                results = [pool.submit(claim, by, name).result
                           for by, name in ((store, "host:1:a"), (other, "host:2:b"))]
                first, second = (result() for result in results)
            later = store.claim_messages(messages, "host:1:a", 30, NOW)
            for message, *takes in zip(messages, first, second, later, strict=True):
                holders = [[r.id for r in take] for take in takes]
                assert sorted(holders, key=len)[:-1] == [[]] * 2, (cycle, message, holders)
                assert max(holders, key=len) == message
    finally:
        other.close()


def test_mark_sent_failed_and_skipped(store: Store) -> None:
    store.plan_deliveries([_spec(offset_days=o) for o in (30, 14, 7, 3)], NOW)
    sent, failed, skipped, unclaimed = (r.id for r in store.due_deliveries(NOW))
    assert sent and failed and skipped and unclaimed
    later = NOW + dt.timedelta(minutes=1)

    assert store.claim(sent, NOW) and store.mark_sent(sent, 9001, later)
    assert not store.mark_sent(sent, 9002, later)
    assert store.claim(failed, NOW) and store.mark_failed(failed, "Forbidden: bot was blocked",
                                                           later)
    assert not store.mark_failed(failed, "again", later)
    assert store.mark_skipped(skipped, "unit reported done", later)
    assert store.mark_sent(unclaimed, None, later)  # from pending, without a claim

    rows = {r.id: r for r in store.reminders_for_cycle(2025)}
    assert (rows[sent].state, rows[sent].message_id, rows[sent].sent_at) == ("sent", 9001, later)
    assert rows[sent].claimed_at == NOW
    assert (rows[failed].state, rows[failed].attempts) == ("failed", 1)
    assert rows[failed].reason == "Forbidden: bot was blocked"
    assert (rows[skipped].state, rows[skipped].reason) == ("skipped", "unit reported done")
    assert not store.claim(skipped, later)
    assert store.due_deliveries(later) == []
    assert _actions(store)[-6:] == ["reminder.claimed", "reminder.sent", "reminder.claimed",
                                    "reminder.failed", "reminder.skipped", "reminder.sent"]


def test_retry_later_and_expired_leases(store: Store) -> None:
    store.plan_deliveries([_spec(offset_days=30), _spec(offset_days=14)], NOW)
    old, fresh = (r.id for r in store.due_deliveries(NOW))
    assert old and fresh
    [dead] = store.claim_leased([old], "host:1:dead", -1, NOW)  # its lease has run out
    [alive] = store.claim_leased([fresh], "host:2:alive", 60, NOW)
    assert (dead.state, dead.claimed_by) == ("sending", "host:1:dead")
    database_now = store.database_now()
    assert alive.lease_until is not None
    assert 55 <= (alive.lease_until - database_now).total_seconds() <= 60

    released = store.release_expired_leases(NOW + dt.timedelta(minutes=6))
    assert [(r.id, r.claimed_by) for r in released] == [(old, "host:1:dead")]
    assert store.retry_later(fresh, "a transient error", NOW + dt.timedelta(minutes=6),
                             instance="host:2:alive")
    assert not store.retry_later(old, "not sending any more", NOW, instance="host:1:dead")

    again = store.get_reminder(old)
    assert again is not None  # Telegram was never seen to fail it: no attempt counted
    assert (again.state, again.attempts, again.claimed_at, again.claimed_by,
            again.lease_until) == ("pending", 0, None, None, None)
    retried = store.get_reminder(fresh)
    assert retried is not None and (retried.claimed_by, retried.lease_until) == (None, None)
    assert retried.attempts == 1
    store.claim_leased([fresh], "host:2:alive", 60, NOW)
    assert store.retry_later(fresh, "database error", NOW, instance="host:2:alive",
                             attempted=False)  # a give-back
    given_back = store.get_reminder(fresh)
    assert given_back is not None and (given_back.state, given_back.attempts) == ("pending", 1)
    assert [r.id for r in store.due_deliveries(NOW)] == [old, fresh]
    assert "reminder.lease_expired" in _actions(store)


def test_a_retry_keeps_its_back_off_pages_and_unanswered_sends_in_the_row(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.plan_deliveries([_spec()], NOW)
    (row,) = store.due_deliveries(NOW)
    assert row.id is not None and (row.not_before, row.pages_sent, row.unanswered) == (None, 0, 0)
    store.claim_leased([row.id], "host:1:a", 30, NOW)
    # the caller's clock runs 11 minutes ahead: the back-off is judged by the database's
    before = store.database_now()
    assert store.retry_later(row.id, "TimedOut", NOW + dt.timedelta(minutes=11),
                             instance="host:1:a", back_off=dt.timedelta(minutes=1),
                             pages_sent=2, unanswered=True)
    again = store.get_reminder(row.id)
    assert again is not None and again.not_before is not None
    assert (again.pages_sent, again.unanswered, again.attempts) == (2, 1, 1)
    assert 59 <= (again.not_before - before).total_seconds() <= 61
    until = again.not_before
    # another instance, whatever its clock and its due list, cannot take it before its time
    assert store.claim_leased([row.id], "host:2:b", 30, NOW + dt.timedelta(hours=1)) == []
    assert store.claim_messages([[row.id]], "host:2:b", 30, NOW) == [[]]
    assert store.get_reminder(row.id).state == "pending"  # type: ignore[union-attr]
    real = store._database_now
    monkeypatch.setattr(store, "_database_now",
                        lambda session: real(session) + dt.timedelta(seconds=62))
    assert [r.id for r in store.claim_leased([row.id], "host:2:b", 30, NOW)] == [row.id]
    assert store.retry_later(row.id, "database error", NOW, instance="host:2:b",
                             attempted=False)  # a give-back leaves them as they were
    again = store.get_reminder(row.id)
    assert again is not None
    assert (again.not_before, again.pages_sent, again.unanswered) == (until, 2, 1)


def test_give_back_leaves_rows_another_instance_holds_now(store: Store) -> None:
    """An instance kept from giving rows back tries again later: what its lease lost to
    another instance meanwhile (in flight there) stays with that one."""
    store.plan_deliveries([_spec(task_id) for task_id in (1, 2, 3)], NOW)
    mine, lost, sent = (r.id or 0 for r in store.due_deliveries(NOW))
    store.claim_leased([mine, lost, sent], "host:1:a", -1, NOW)
    store.release_expired_leases(NOW)
    store.claim_leased([mine], "host:1:a", 30, NOW)
    store.claim_leased([lost, sent], "host:2:b", 30, NOW)
    store.mark_sent_many([sent], 77, NOW)
    assert store.give_back([mine, lost, sent], "host:1:a", "database error", NOW) == [mine]
    rows = {r.id: r for r in store.reminders_for_cycle(2025)}
    assert (rows[mine].state, rows[mine].claimed_by, rows[mine].attempts) == ("pending", None, 0)
    assert (rows[lost].state, rows[lost].claimed_by) == ("sending", "host:2:b")
    assert rows[sent].state == "sent"
    assert store.give_back([], "host:1:a", "database error", NOW) == []


@pytest.mark.parametrize("verdict", ["retried", "given back", "failed", "skipped"])
def test_only_the_holder_moves_a_row_out_of_sending(store: Store, verdict: str) -> None:
    """An instance whose lease ran out (a long send, a partition) and that another instance
    released and claimed meanwhile cannot undo that instance's claim with its late verdict."""
    store.plan_deliveries([_spec()], NOW)
    (row,) = store.due_deliveries(NOW)
    assert row.id is not None
    store.claim_leased([row.id], "host:1:a", -1, NOW)
    assert [r.id for r in store.release_expired_leases(NOW)] == [row.id]
    assert store.claim_leased([row.id], "host:2:b", 30, NOW)
    moved = {
        "retried": lambda who: store.retry_later(row.id, "NetworkError: 502", NOW,
                                                 instance=who),
        "given back": lambda who: store.retry_later(row.id, "database error", NOW,
                                                    instance=who, attempted=False),
        "failed": lambda who: store.mark_failed(row.id, "gave up", NOW, who),
        "skipped": lambda who: store.mark_skipped(row.id, "unit reported done", NOW, who),
    }[verdict]
    assert not moved("host:1:a")
    now = store.get_reminder(row.id)
    assert now is not None
    assert (now.state, now.claimed_by, now.attempts) == ("sending", "host:2:b", 0)
    assert moved("host:2:b")  # its holder may
    assert store.get_reminder(row.id).state != "sending"  # type: ignore[union-attr]


def test_a_skip_from_a_stale_read_leaves_a_send_in_flight(store: Store) -> None:
    """A run decides its skips from rows read while pending; one that another instance claimed
    since is that instance's to record."""
    store.plan_deliveries([_spec(task_id) for task_id in (1, 2)], NOW)
    claimed, idle = (r.id or 0 for r in store.due_deliveries(NOW))
    assert store.claim_leased([claimed], "host:2:b", 30, NOW)
    skips = [(claimed, "superseded by a later reminder"), (idle, "superseded by a later reminder")]
    assert store.mark_skipped_many(skips, NOW, "host:1:a") == 1
    assert not store.mark_skipped(claimed, "unit reported done", NOW, "host:1:a")
    assert store.mark_sent_many([claimed], 4242, NOW) == [claimed]
    rows = {r.id: r for r in store.reminders_for_cycle(2025)}
    assert (rows[claimed].state, rows[claimed].message_id) == ("sent", 4242)
    assert rows[idle].state == "skipped"


def test_releasing_leaves_a_row_another_instance_claimed_meanwhile(store: Store,
                                                                   backend: str) -> None:
    """PostgreSQL (READ COMMITTED): between the select of expired leases and their update,
    another instance releases the row and claims it; the update must see the fresh lease."""
    if backend != "postgres":
        pytest.skip("SQLite has one writer: no other release can come between")
    store.plan_deliveries([_spec()], NOW)
    (row,) = store.due_deliveries(NOW)
    assert row.id is not None
    store.claim_leased([row.id], "host:1:dead", -1, NOW)
    other = Store(store.url)
    paused, go = threading.Event(), threading.Event()

    def pause(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not paused.is_set() and statement.lstrip().upper().startswith("UPDATE REMINDER"):
            paused.set()
            go.wait(10)

    event.listen(store.engine, "before_cursor_execute", pause)
    released: list[int] = []
    racer = threading.Thread(
        target=lambda: released.extend(r.id or 0 for r in store.release_expired_leases(NOW)))
    try:
        racer.start()
        assert paused.wait(10)
        assert [r.id for r in other.release_expired_leases(NOW)] == [row.id]
        assert [r.id for r in other.claim_leased([row.id], "host:2:b", 30, NOW)] == [row.id]
        go.set()
        racer.join(10)
        now = other.get_reminder(row.id)
    finally:
        go.set()
        event.remove(store.engine, "before_cursor_execute", pause)
        other.close()
    assert released == []
    assert now is not None and (now.state, now.claimed_by) == ("sending", "host:2:b")


def test_leases_are_judged_by_the_database_clock_not_the_callers(store: Store) -> None:
    """An instance whose clock runs 11 minutes ahead takes nothing another one holds."""
    store.plan_deliveries([_spec(task_id) for task_id in (1, 2, 3)], NOW)
    ids = [r.id or 0 for r in store.due_deliveries(NOW)]
    held = store.claim_leased(ids[:2], "first", 30, NOW)
    assert [r.id for r in held] == ids[:2]
    ahead = NOW + dt.timedelta(minutes=11)
    assert store.release_expired_leases(ahead) == []
    assert [[r.id for r in m] for m in store.claim_messages([[i] for i in ids], "second", 30,
                                                            ahead)] == [[], [], ids[2:]]
    assert {r.claimed_by for r in store.reminders_for_cycle(2025)} == {"first", "second"}


def test_renewing_extends_only_the_instances_own_leases(store: Store) -> None:
    store.plan_deliveries([_spec(task_id) for task_id in (1, 2)], NOW)
    first, second = (r.id or 0 for r in store.due_deliveries(NOW))
    store.claim_leased([first], "mine", 5, NOW)
    store.claim_leased([second], "theirs", 5, NOW)
    assert store.renew_leases("mine", 600) == 1
    rows = {r.id: r for r in store.reminders_for_cycle(2025)}
    lease = {key: (row.lease_until - store.database_now()).total_seconds()
             for key, row in rows.items() if row.lease_until is not None}
    assert lease[first] > 500 and lease[second] <= 5
    assert store.mark_sent_many([first, second], 42, NOW) == [first, second]
    assert store.renew_leases("mine", 600) == 0
    assert {r.lease_until for r in store.reminders_for_cycle(2025)} == {None}


    assert store.get_reminder(10_000) is None


def test_acknowledge_a_sent_reminder(store: Store) -> None:
    store.plan_deliveries([_spec(offset_days=30), _spec(offset_days=14)], NOW)
    sent, pending = (r.id for r in store.due_deliveries(NOW))
    assert sent and pending
    store.mark_sent(sent, 9001, NOW)
    later = NOW + dt.timedelta(hours=3)

    assert not store.acknowledge(pending, 555, later)
    assert store.acknowledge(sent, 555, later)
    assert not store.acknowledge(sent, 666, later)

    row = store.get_reminder(sent)
    assert row is not None
    assert (row.acknowledged_at, row.acknowledged_by_telegram_id) == (later, 555)
    entry = store.audit_log(limit=1)[0]
    assert (entry.action, entry.actor_telegram_id) == ("reminder.acknowledged", 555)


def test_reminders_by_message(store: Store) -> None:
    store.plan_deliveries([_spec(7, "jxj", chat_id=1001), _spec(8, "jxj", chat_id=2002),
                           _spec(9, "jxj", chat_id=2002)], NOW)
    first, second, third = (r.id for r in store.due_deliveries(NOW))
    assert first and second and third
    store.mark_sent(first, 500, NOW)
    store.mark_sent(second, 500, NOW)  # message ids are only unique within a chat
    store.mark_sent(third, 500, NOW)  # one message may carry several reminders

    found = store.reminders_by_message(2002, 500)
    assert [(r.id, r.task_id) for r in found] == [(second, 8), (third, 9)]
    assert store.reminders_by_message(1001, 501) == []
    assert store.reminders_by_message(3003, 500) == []
    assert store.was_reminded(7, "jxj", 2025) and not store.was_reminded(7, "jxj", 2024)
    assert not store.was_reminded(7, "fgw", 2025)


def test_migrate_chat_moves_the_chat_and_its_deliveries(units: Store) -> None:
    units.bind_chat(-123, "领导群", 777, NOW)
    units.plan_deliveries([_spec(0, "", kind="digest", offset_days=28, chat_id=-123),
                           _spec(0, "", kind="digest", offset_days=21, chat_id=-123),
                           _spec(0, "", kind="digest", offset_days=21, chat_id=-100123)], NOW)

    assert units.migrate_chat(-123, -100123, NOW)
    assert not units.migrate_chat(-5, -6, NOW)

    assert [(c.chat_id, c.title) for c in units.leadership_chats()] == [(-100123, "领导群")]
    rows = {(r.offset_days, r.chat_id): r.state for r in units.reminders_for_cycle(2025)}
    assert rows == {(28, -100123): "pending", (21, -123): "skipped", (21, -100123): "pending"}


# -- time ---------------------------------------------------------------------------------------
def test_aware_datetimes_round_trip(units: Store) -> None:
    _contact(units, 555)
    report = units.add_report(1, "fgw", 2025, "done", 100, "", 555, NOW, "button")
    units.plan_deliveries([_spec(due_at=NOW)], NOW)

    person = units.get_person(555)
    [stored_report] = units.report_history(1, "fgw", 2025)
    [reminder] = units.reminders_for_cycle(2025)
    assert person is not None
    for value in (person.created_at, report.reported_at, stored_report.reported_at,
                  reminder.due_at, reminder.created_at, units.audit_log(limit=1)[0].at):
        assert value.tzinfo is not None
        assert value == NOW  # the same instant, to the microsecond
        assert value.utcoffset() == dt.timedelta(0)
    assert reminder.cutoff == CUTOFF
    assert reminder.due_at.astimezone(SHANGHAI).hour == 9


@pytest.mark.parametrize("stored", [dt.datetime(2026, 1, 5, 1, 2, 3, 456789),
                                    dt.datetime(1901, 12, 31, 23, 59, 59, 999999),
                                    dt.datetime(2026, 1, 5, 9, 2, 3, 456789, tzinfo=SHANGHAI)])
def test_a_stored_time_is_read_back_aware_in_utc(stored: dt.datetime) -> None:
    """What either backend gives back (SQLite: naive UTC; PostgreSQL: aware) is the same
    instant, aware in UTC."""
    read = UTCDateTime().process_result_value(stored, sqlite_dialect())
    assert read is not None and read.tzinfo is dt.UTC
    expected = stored.replace(tzinfo=dt.UTC) if stored.tzinfo is None else stored
    assert read == expected
    assert read.replace(tzinfo=None) == expected.astimezone(dt.UTC).replace(tzinfo=None)


def test_naive_datetimes_are_rejected(units: Store) -> None:
    naive = NOW.replace(tzinfo=None)
    with pytest.raises(ValueError, match="naive"):
        units.add_report(1, "fgw", 2025, "done", 100, "", 5, naive, "button")
    with pytest.raises(ValueError, match="naive"):
        units.add_person(555, "x", "leader", None, None, naive)
    with pytest.raises(ValueError, match="naive"):
        units.due_deliveries(naive)
    with pytest.raises(ValueError, match="naive"):
        units.create_invite(None, "leader", None, naive)
    with pytest.raises(ValueError, match="naive"):
        units.plan_deliveries([_spec()], naive)
    assert units.latest_reports(2025) == {} and units.get_person(555) is None
    assert _actions(units) == ["units.synced"]


# -- audit and threads --------------------------------------------------------------------------
def test_every_change_is_audited(units: Store) -> None:
    invite = units.create_invite("fgw", "contact", created_by=9, now=NOW)
    units.enrol_with_invite(invite.code, 555, "王芳", "zh_Hans", NOW)
    units.set_language(555, "en", NOW)
    report = units.add_report(1, "fgw", 2025, "done", 100, "", 555, NOW, "button")
    assert report.id is not None
    units.add_evidence(report.id, "f", "u", "photo", None, 555, NOW)
    units.plan_deliveries([_spec()], NOW)
    [reminder] = units.due_deliveries(NOW)
    assert reminder.id is not None
    units.claim(reminder.id, NOW)
    units.mark_sent(reminder.id, 1, NOW)
    units.acknowledge(reminder.id, 555, NOW)
    units.deactivate_person(555, "left", NOW, actor=9)

    assert _actions(units) == [
        "units.synced", "invite.created", "invite.used", "person.enrolled",
        "membership.started", "person.language",
        "report.added", "evidence.added", "reminders.planned", "reminder.claimed",
        "reminder.sent", "reminder.acknowledged", "person.deactivated"]
    ids = [e.id or 0 for e in units.audit_log(limit=1000)]
    assert ids == sorted(ids, reverse=True)
    assert units.audit_log(limit=2)[1].action == "reminder.acknowledged"
    enrolled = units.audit_log(action="person.enrolled")[0]
    assert (enrolled.subject, enrolled.actor_telegram_id) == ("person:555", 555)
    assert enrolled.details_dict() == {"invite": invite.code, "role": "contact", "unit_id": "fgw"}
    assert units.audit_log(action="report.added")[0].subject == f"report:{report.id}"


def test_store_is_usable_from_worker_threads(units: Store) -> None:
    def report(task_id: int) -> int:
        created = units.add_report(task_id, "fgw", 2025, "in_progress", task_id, "", 5, NOW,
                                   "button")
        assert created.id is not None
        return created.id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(report, range(1, 41)))
    assert len(set(ids)) == 40
    assert len(units.latest_reports(2025)) == 40


def test_in_memory_sqlite_is_shared_between_threads() -> None:
    with Store("sqlite://") as store:
        store.upgrade()
        store.sync_units(UNITS, NOW)
        with ThreadPoolExecutor(max_workers=2) as pool:
            found = pool.submit(store.get_unit, "fgw").result()
        assert found is not None and found.name == "市发展改革委"


def test_file_sqlite_uses_wal_foreign_keys_and_creates_its_folder(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'var' / 'duban.sqlite3'}") as store:
        store.upgrade()
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert (tmp_path / "var" / "duban.sqlite3").exists()


# -- all reports of a cycle ---------------------------------------------------------------------
def test_reports_for_cycle_is_every_report_of_the_cycle_oldest_first_in_one_query(
        units: Store, statements: list[str]) -> None:
    hour = dt.timedelta(hours=1)
    add = units.add_report
    add(1, "fgw", 2024, "done", 100, "last year", 5, NOW - dt.timedelta(days=365), "cli")
    late = add(2, "jxj", 2025, "done", 100, "late", 6, NOW + 2 * hour, "button")
    first = add(1, "fgw", 2025, "in_progress", 20, "", 5, NOW, "button")
    same_instant = add(1, "zjz", 2025, "blocked", None, "stuck", 7, NOW, "reply")  # id breaks tie
    middle = add(1, "fgw", 2025, "in_progress", 60, "more", 5, NOW + hour, "command")

    statements.clear()
    reports = units.reports_for_cycle(2025)

    assert [r.id for r in reports] == [first.id, same_instant.id, middle.id, late.id]
    assert [(r.task_id, r.unit_id, r.note) for r in reports] == [
        (1, "fgw", ""), (1, "zjz", "stuck"), (1, "fgw", "more"), (2, "jxj", "late")]
    assert all(r.reported_at.tzinfo is not None for r in reports)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
    assert [r.note for r in units.reports_for_cycle(2024)] == ["last year"]
    assert units.reports_for_cycle(2023) == []


# -- reports: repeats and notes ---------------------------------------------------------------
def test_a_double_press_is_one_report(units: Store) -> None:
    window = dt.timedelta(minutes=1)
    first, new = units.add_report_once(1, "fgw", 2025, "done", None, "", 555, NOW, "button",
                                       repeat_window=window)
    assert new
    again, new = units.add_report_once(1, "fgw", 2025, "done", None, "", 555,
                                       NOW + dt.timedelta(seconds=20), "button",
                                       repeat_window=window)
    assert not new and again.id == first.id
    # Another status, another person, a note, or a minute later: a new report.
    for status, person, note, later in (("in_progress", 555, "", 30), ("done", 556, "", 30),
                                        ("done", 555, "材料已报送", 30), ("done", 555, "", 95)):
        _, new = units.add_report_once(1, "fgw", 2025, status, None, note, person,
                                       NOW + dt.timedelta(seconds=later), "button",
                                       repeat_window=window)
        assert new, (status, person, note, later)
    assert len(units.report_history(1, "fgw", 2025)) == 5


def test_the_same_note_sent_twice_is_one_report(units: Store) -> None:
    """A /report or a reply sent twice is one report too: the same note is no new note."""
    window = dt.timedelta(minutes=1)
    first, _ = units.add_report_once(1, "fgw", 2025, "in_progress", 60, "正在核查", 555, NOW,
                                     "command", repeat_window=window)
    for progress, note in ((60, "正在核查"), (None, ""), (None, "正在核查")):
        again, new = units.add_report_once(1, "fgw", 2025, "in_progress", progress, note, 555,
                                           NOW + dt.timedelta(seconds=10), "reply",
                                           repeat_window=window)
        assert not new and again.id == first.id, (progress, note)
    _, new = units.add_report_once(1, "fgw", 2025, "in_progress", 60, "另附照片", 555,
                                   NOW + dt.timedelta(seconds=20), "reply", repeat_window=window)
    assert new
    assert [r.note for r in units.report_history(1, "fgw", 2025)] == ["正在核查", "另附照片"]


def test_the_latest_note_survives_a_later_report_without_one(units: Store) -> None:
    units.add_report(1, "fgw", 2025, "in_progress", 60, "正在核查", 555, NOW, "command")
    units.add_report(1, "fgw", 2025, "done", None, "", 555, NOW + dt.timedelta(hours=1),
                     "button")
    latest = units.latest_reports(2025)[(1, "fgw")]
    note = units.latest_notes(2025)[(1, "fgw")]
    assert (latest.status, latest.note) == ("done", "")
    assert (note.status, note.progress, note.note) == ("in_progress", 60, "正在核查")
    assert units.latest_notes(2025, 2) == {} and units.latest_notes(2024) == {}


# -- the workflow: acknowledgements, reviews, extensions, urges -------------------------------
def test_acknowledging_a_message_acknowledges_every_task_it_lists(units: Store) -> None:
    units.plan_deliveries([_spec(7, "jxj", chat_id=2002), _spec(8, "jxj", chat_id=2002),
                           _spec(9, "fgw", chat_id=2002), _spec(7, "jxj", chat_id=3003)], NOW)
    rows = units.due_deliveries(NOW)
    for row in rows:
        assert row.id is not None
        units.mark_sent(row.id, 500 if row.chat_id == 2002 else 40, NOW)
    later = NOW + dt.timedelta(hours=1)
    acked = units.acknowledge_message(2002, 500, 2002, later)
    assert sorted((r.task_id, r.unit_id) for r in acked) == [(7, "jxj"), (8, "jxj"),
                                                              (9, "fgw")]
    assert units.acknowledge_message(2002, 500, 2002, later) == []  # once
    first = units.acknowledgements(2025)
    assert first == {(7, "jxj"): Acknowledgement(2002, later),
                     (8, "jxj"): Acknowledgement(2002, later),
                     (9, "fgw"): Acknowledgement(2002, later)}
    # a colleague acknowledging later does not change who was first
    units.acknowledge_message(3003, 40, 3003, later + dt.timedelta(hours=1))
    assert units.acknowledgements(2025, 7) == {(7, "jxj"): Acknowledgement(2002, later)}
    assert [e.action for e in units.audit_log(limit=4)] == ["reminder.acknowledged"] * 4
    # the dispatcher's question just before it sends acknowledgement reminders
    assert units.acknowledged_among([(7, "jxj", 2025), (9, "jxj", 2025), (8, "fgw", 2025),
                                     (7, "jxj", 2024)]) == {
        (7, "jxj", 2025): Acknowledgement(2002, later)}
    assert units.acknowledged_among([]) == {}


def test_a_report_is_reviewed_once_and_only_while_it_is_the_latest(units: Store) -> None:
    done = units.add_report(7, "fgw", 2025, "done", None, "", 1001, NOW, "button")
    assert done.id is not None
    later = NOW + dt.timedelta(hours=1)
    review = units.add_review(done.id, "returned", "请补充佐证材料", 2000, later)
    assert review is not None and (review.decision, review.comment) == ("returned",
                                                                        "请补充佐证材料")
    assert units.add_review(done.id, "confirmed", "", 2001, later) is None  # reviewed already
    again = units.add_report(7, "fgw", 2025, "done", None, "补充了", 1001,
                             later + dt.timedelta(hours=1), "button")
    assert again.id is not None
    assert units.add_review(done.id, "confirmed", "", 2000, later) is None  # not the latest
    confirmed = units.add_review(again.id, "confirmed", "", 2000,
                                 later + dt.timedelta(hours=2))
    assert confirmed is not None
    assert set(units.reviews(2025)) == {done.id, again.id}
    facts = units.cycle_facts(2025, 7)
    assert facts.review_of(facts.reports[(7, "fgw")]) == confirmed
    assert _actions(units)[-2:] == ["report.added", "review.confirmed"]
    with pytest.raises(ValueError):
        units.add_review(again.id, "maybe", "", 2000, later)


def test_racing_reviews_of_one_report_have_one_winner(units: Store) -> None:
    done = units.add_report(7, "fgw", 2025, "done", None, "", 1001, NOW, "button")
    assert done.id is not None
    report_id = done.id
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(
            lambda n: units.add_review(report_id, "confirmed", "", 2000 + n, NOW), range(4)))
    assert sum(r is not None for r in results) == 1


def test_an_extension_is_requested_once_at_a_time_and_decided_once(units: Store) -> None:
    asked = units.request_extension(7, "fgw", 2025, dt.date(2025, 12, 20), "设备未到货", 1001,
                                    NOW)
    assert asked is not None and asked.state == "pending" and asked.id is not None
    assert units.request_extension(7, "fgw", 2025, dt.date(2025, 12, 25), "", 1001, NOW) is None
    decided = units.decide_extension(asked.id, True, 2000, "", NOW + dt.timedelta(hours=1))
    assert decided is not None
    assert (decided.state, decided.decided_by) == ("approved", 2000)
    assert units.decide_extension(asked.id, False, 2001, "no", NOW) is None  # decided once
    again = units.request_extension(7, "fgw", 2025, dt.date(2025, 12, 28), "再延", 1001, NOW)
    assert again is not None and again.id is not None
    rejected = units.decide_extension(again.id, False, 2000, "理由不充分", NOW)
    assert rejected is not None and rejected.decision_comment == "理由不充分"
    found = units.extensions(2025)
    assert [(e.state, e.due_date) for e in found[(7, "fgw")]] == [
        ("approved", dt.date(2025, 12, 20)), ("rejected", dt.date(2025, 12, 28))]
    stored = units.get_extension(asked.id)
    assert stored is not None and stored.reason == "设备未到货"  # the request is never changed
    assert "extension.approved" in _actions(units) and "extension.rejected" in _actions(units)


def test_an_extensions_check_sees_the_pairs_facts_in_its_transaction(units: Store) -> None:
    """``check`` is called with the pair's facts, after the lock: it sees a report of done
    committed just before; what it raises propagates and nothing is recorded."""
    class Done(Exception):
        pass

    seen: list[Any] = []

    def check(facts: Any) -> None:
        seen.append(facts)
        report = facts.reports.get((7, "fgw"))
        if report is not None and report.status == "done":
            raise Done

    asked = units.request_extension(7, "fgw", 2025, dt.date(2025, 12, 20), "设备未到货", 1001,
                                    NOW, check=check)
    assert asked is not None and seen[-1].reports == {}
    assert units.decide_extension(asked.id or 0, False, 2000, "", NOW) is not None
    units.add_report(7, "fgw", 2025, "done", None, "", 1002, NOW, "command")
    revision, requested = units.facts_revision(), _actions(units).count("extension.requested")
    with pytest.raises(Done):
        units.request_extension(7, "fgw", 2025, dt.date(2025, 12, 22), "再延", 1001, NOW,
                                check=check)
    assert seen[-1].reports[(7, "fgw")].status == "done"
    assert len(units.extensions(2025)[(7, "fgw")]) == 1
    assert units.facts_revision() == revision
    assert _actions(units).count("extension.requested") == requested


def test_a_unit_is_urged_at_most_once_a_day_per_task(units: Store) -> None:
    day = NOW.date()
    assert units.urge(7, "fgw", 2025, day, 2000, NOW) is not None
    assert units.urge(7, "fgw", 2025, day, 2001, NOW + dt.timedelta(hours=2)) is None
    assert units.urge(8, "fgw", 2025, day, 2000, NOW) is not None
    assert units.urge(7, "fgw", 2025, day + dt.timedelta(days=1), 2000, NOW) is not None
    assert [(u.task_id, u.day) for u in units.urges(2025, 7)] == [
        (7, day), (7, day + dt.timedelta(days=1))]
    assert _actions(units).count("task.urged") == 3


# -- the report path: one pair's facts, the checked append, the caller ---------------------------
def test_a_pairs_facts_are_the_cycles_facts_of_that_pair(units: Store) -> None:
    """What the report path reads (``pair_facts``) is what the cycle's facts say of the pair:
    its latest report, that report's review, its extension requests, its first
    acknowledgement, its latest note, and whether it was reminded."""
    pair = (7, "fgw")
    empty = units.pair_facts(2025, 7, "fgw")
    assert empty.facts.reports == {} and not empty.reminded
    units.add_report(7, "fgw", 2025, "in_progress", 40, "正在核查", 1001, NOW, "command")
    units.add_report(7, "jxj", 2025, "done", None, "other unit", 1001, NOW, "command")
    done = units.add_report(7, "fgw", 2025, "done", None, "", 1001,
                            NOW + dt.timedelta(hours=1), "button")
    assert done.id is not None
    later = NOW + dt.timedelta(hours=2)
    assert units.add_review(done.id, "returned", "请补充", 2000, later) is not None
    asked = units.request_extension(7, "fgw", 2025, dt.date(2025, 12, 20), "设备", 1001, later)
    assert asked is not None and asked.id is not None
    assert units.decide_extension(asked.id, True, 2000, "", later) is not None
    assert units.request_extension(7, "fgw", 2025, dt.date(2025, 12, 28), "", 1001,
                                   later) is not None
    units.plan_deliveries([_spec(7, "fgw"), _spec(7, "fgw", chat_id=1002)], NOW)
    first, second = (r.id or 0 for r in units.reminders_for_cycle(2025))
    units.mark_sent(first, 555, NOW)
    units.mark_sent(second, 556, NOW)
    assert units.acknowledge(second, 1002, later)
    assert units.acknowledge(first, 1001, later + dt.timedelta(minutes=1))
    found = units.pair_facts(2025, 7, "fgw")
    whole, narrow = units.cycle_facts(2025), units.cycle_facts(2025, 7, "fgw")
    assert found.reminded
    assert found.facts.reports[pair].id == done.id
    assert found.facts.reports[pair] == whole.reports[pair]
    review = found.facts.review_of(found.facts.reports[pair])
    assert review is not None and (review.decision, review.comment) == ("returned", "请补充")
    assert [(e.id, e.state, e.due_date) for e in found.facts.extensions[pair]] == [
        (e.id, e.state, e.due_date) for e in whole.extensions[pair]]
    assert found.facts.acknowledgements[pair] == whole.acknowledgements[pair] == \
        Acknowledgement(1002, later.astimezone(dt.UTC))
    assert found.facts.notes[pair] == narrow.notes[pair]
    assert found.facts.notes[pair].note == "正在核查"
    assert set(found.facts.reports) == {pair}  # the other unit's report is not read
    assert not units.pair_facts(2024, 7, "fgw").reminded


def test_a_pairs_standing_is_its_latest_report_its_return_and_its_reminders(
        units: Store, statements: list[str]) -> None:
    """``pair_standing`` (what a report without a year asks of the year before) says what
    ``pair_facts`` says of the pair, in one statement: the latest report's status (by time,
    then id; not another unit's), whether that report was returned, whether it was reminded."""
    def standing() -> PairStanding:
        statements.clear()
        found = units.pair_standing(2025, 7, "fgw")
        assert len(statements) == 1, statements
        facts = units.pair_facts(2025, 7, "fgw")
        latest = facts.facts.reports.get((7, "fgw"))
        review = facts.facts.review_of(latest) if latest is not None else None
        assert found == PairStanding(
            latest.status if latest is not None else None,
            review is not None and review.decision == "returned", facts.reminded)
        return found

    assert standing() == PairStanding(None, False, False)
    units.add_report(7, "jxj", 2025, "done", None, "", 1001, NOW, "command")
    units.plan_deliveries([_spec(7, "jxj")], NOW)
    units.mark_sent(units.reminders_for_cycle(2025)[0].id or 0, 555, NOW)
    assert standing() == PairStanding(None, False, False)  # another unit's
    units.plan_deliveries([_spec(7, "fgw")], NOW)
    pending = [r.id or 0 for r in units.reminders_for_cycle(2025) if r.unit_id == "fgw"]
    assert standing() == PairStanding(None, False, False)  # planned, not sent
    units.mark_sent(pending[0], 556, NOW)
    assert standing() == PairStanding(None, False, True)
    done = units.add_report(7, "fgw", 2025, "done", None, "", 1001, NOW, "button")
    older = units.add_report(7, "fgw", 2025, "in_progress", 40, "", 1001,
                             NOW - dt.timedelta(hours=1), "command")  # sent earlier, came later
    assert older.id is not None and done.id is not None and older.id > done.id
    assert standing() == PairStanding("done", False, True)
    assert units.add_review(done.id, "confirmed", "", 2000, NOW) is not None
    assert standing() == PairStanding("done", False, True)
    again = units.add_report(7, "fgw", 2025, "done", None, "", 1001,
                             NOW + dt.timedelta(hours=1), "button")
    assert again.id is not None
    assert units.add_review(again.id, "returned", "请补充", 2000, NOW) is not None
    assert standing() == PairStanding("done", True, True)
    assert units.pair_standing(2024, 7, "fgw") == PairStanding(None, False, False)


def test_a_report_owed_for_the_year_before_is_not_appended(units: Store) -> None:
    """``add_report_once(standing_of=, owed=)`` reads the other cycle's standing in its
    transaction: when ``owed`` says it is still owed, nothing is stored, the revision does not
    move and :class:`StillOwed` names that cycle; otherwise the report is appended."""
    units.add_report(7, "fgw", 2025, "in_progress", 40, "", 1001, NOW, "command")
    revision = units.facts_revision()
    seen: list[PairStanding] = []

    def still_open(standing: PairStanding) -> bool:
        seen.append(standing)
        return standing.status != "done"

    later = NOW + dt.timedelta(days=60)
    with pytest.raises(StillOwed) as raised:
        units.add_report_once(7, "fgw", 2026, "done", None, "", 1001, later, "command", 5,
                              dt.timedelta(minutes=1), check=lambda facts: None,
                              standing_of=2025, owed=still_open)
    assert raised.value.cycle == 2025
    assert seen == [PairStanding("in_progress", False, False)]
    assert units.facts_revision() == revision
    assert units.latest_reports(2026) == {}
    units.add_report(7, "fgw", 2025, "done", None, "", 1001, NOW + dt.timedelta(days=1),
                     "command")
    report, new = units.add_report_once(7, "fgw", 2026, "done", None, "", 1001, later,
                                        "command", 5, dt.timedelta(minutes=1),
                                        check=lambda facts: None, standing_of=2025,
                                        owed=still_open)
    assert new and seen[-1] == PairStanding("done", False, False)
    assert [r.id for r in units.latest_reports(2026).values()] == [report.id]


def test_a_checked_report_is_five_statements(units: Store, statements: list[str]) -> None:
    """The append of a report the pair's facts are checked for: the revision's upsert (the
    lock), the latest report with its review and the first acknowledgement, the extension
    requests, the report, its audit entry; with the year before's standing, one more."""
    units.add_report(7, "fgw", 2026, "in_progress", 40, "正在核查", 1001, NOW, "command")
    statements.clear()
    units.add_report_once(7, "fgw", 2026, "in_progress", 50, "过半", 1001,
                          NOW + dt.timedelta(hours=1), "command", 9, dt.timedelta(minutes=1),
                          check=lambda facts: 50)
    assert len(statements) == 5, statements
    statements.clear()
    units.add_report_once(7, "fgw", 2026, "in_progress", 60, "六成", 1001,
                          NOW + dt.timedelta(hours=2), "command", 10, dt.timedelta(minutes=1),
                          check=lambda facts: 60, standing_of=2025, owed=lambda found: False)
    assert len(statements) == 6, statements


def test_a_checked_report_is_appended_only_when_its_check_allows(units: Store) -> None:
    """The check sees the pair's facts inside the transaction; the progress it returns is
    stored; when it raises, nothing is (and the facts' revision does not move)."""
    units.add_report(7, "fgw", 2025, "in_progress", 40, "", 1001, NOW, "command")
    revision = units.facts_revision()
    seen: list[int | None] = []

    class No(Exception):
        pass

    def refuse(facts: Any) -> int | None:
        seen.append(facts.reports[(7, "fgw")].progress)
        raise No

    with pytest.raises(No):
        units.add_report_once(7, "fgw", 2025, "in_progress", None, "", 1001,
                              NOW + dt.timedelta(hours=1), "command", check=refuse)
    assert seen == [40] and units.facts_revision() == revision
    assert len(units.report_history(7, "fgw", 2025)) == 1
    report, new = units.add_report_once(7, "fgw", 2025, "in_progress", None, "", 1001,
                                        NOW + dt.timedelta(hours=1), "command",
                                        check=lambda facts: facts.reports[(7, "fgw")].progress)
    assert new and report.progress == 40 and units.facts_revision() == revision + 1
    stored = units.report_history(7, "fgw", 2025)[-1]
    assert (stored.id, stored.progress) == (report.id, 40)
    assert _actions(units)[-1] == "report.added"
    with pytest.raises(ValueError):
        units.add_report_once(7, "fgw", 2025, "in_progress", None, "", 1001, NOW, "command",
                              check=lambda facts: 101)
    with pytest.raises(ValueError, match="unknown unit"):
        units.add_report_once(7, "nope", 2025, "done", None, "", 1001, NOW, "command",
                              check=lambda facts: None)
    assert len(units.report_history(7, "fgw", 2025)) == 2


def test_the_caller_is_the_person_and_their_active_units(units: Store) -> None:
    assert units.caller(1001) == (None, [])
    _contact(units, 1001, "jxj")
    _contact(units, 1001, "fgw")
    person, served = units.caller(1001)
    assert person is not None and served == ["jxj", "fgw"]
    assert (person.display_name, person.role, person.language, person.active) == (
        "user 1001", "contact", "zh_Hans", True)
    assert units.end_membership(1001, "jxj", "moved", NOW)
    assert units.caller(1001)[1] == ["fgw"]
    units.add_person(1002, "leader", "leader", None, None, NOW)
    leader, none = units.caller(1002)
    assert leader is not None and leader.role == "leader" and none == []
    assert units.deactivate_person(1001, "left", NOW)
    gone, served = units.caller(1001)
    assert gone is not None and not gone.active and served == []


# -- the cycle's facts, kept in memory ---------------------------------------------------------
def test_the_cycles_facts_are_read_again_only_after_a_change(units: Store, db_url: str) -> None:
    assert units.facts_revision() == 0
    first = units.cycle_facts(2025)
    assert units.cycle_facts(2025) is first  # nothing changed: the kept copy
    assert units.cycle_facts(2025, 7) is not first  # one task's facts are read each time
    done = units.add_report(7, "fgw", 2025, "done", None, "", 1001, NOW, "button")
    assert done.id is not None
    second = units.cycle_facts(2025)
    assert second is not first and second.reports[(7, "fgw")].id == done.id
    later = NOW + dt.timedelta(hours=1)
    assert units.add_review(done.id, "confirmed", "", 2000, later) is not None
    third = units.cycle_facts(2025)
    assert third is not second and done.id in third.reviews
    asked = units.request_extension(8, "jxj", 2025, dt.date(2025, 12, 20), "", 1001, later)
    assert asked is not None and asked.id is not None
    fourth = units.cycle_facts(2025)
    assert [e.state for e in fourth.extensions[(8, "jxj")]] == ["pending"]
    assert units.decide_extension(asked.id, True, 2000, "", later) is not None
    fifth = units.cycle_facts(2025)
    assert [e.state for e in fifth.extensions[(8, "jxj")]] == ["approved"]
    units.plan_deliveries([_spec(9, "zjz", cycle=2025)], NOW)
    reminder = units.reminders_for_cycle(2025)[0]
    assert reminder.id is not None
    units.mark_sent(reminder.id, 555, NOW)
    assert units.cycle_facts(2025) is fifth  # a sent reminder is no fact of the states
    assert units.acknowledge(reminder.id, 1001, later)
    sixth = units.cycle_facts(2025)
    assert (9, "zjz") in sixth.acknowledgements and (9, "zjz") not in fifth.acknowledgements
    units.plan_deliveries([_spec(10, "zjz", cycle=2025, chat_id=1002)], NOW)
    other = next(r for r in units.reminders_for_cycle(2025) if r.task_id == 10)
    assert other.id is not None
    units.mark_sent(other.id, 777, NOW)
    assert [r.id for r in units.acknowledge_message(1002, 777, 1001, later)] == [other.id]
    assert (10, "zjz") in units.cycle_facts(2025).acknowledgements
    assert units.facts_revision() == 6
    # a report repeated within its window stores nothing and changes nothing
    kept = units.cycle_facts(2025)
    units.add_report_once(7, "fgw", 2025, "done", None, "", 1001, NOW + dt.timedelta(seconds=5),
                          "button", repeat_window=dt.timedelta(minutes=1))
    assert units.cycle_facts(2025) is kept


def test_a_change_made_through_another_store_is_seen(units: Store, db_url: str) -> None:
    before = units.cycle_facts(2025)
    other = Store(db_url)  # another process (a second instance, the command line)
    try:
        other.add_report(7, "fgw", 2025, "in_progress", 40, "", None, NOW, "cli")
    finally:
        other.close()
    after = units.cycle_facts(2025)
    assert after is not before and after.reports[(7, "fgw")].progress == 40


def test_cycle_log_is_the_cycles_workflow_entries_only(units: Store) -> None:
    this = units.add_report(7, "fgw", 2025, "done", None, "2024 写的", 1001, NOW, "button")
    units.add_report(7, "fgw", 2024, "done", None, "", 1001, NOW, "button")  # another cycle
    units.add_report(7, "fgw", 2026, "done", None, "", 1001, NOW, "button")
    # of 2025, with 2026 in its details (its new due date)
    asked = units.request_extension(8, "jxj", 2025, dt.date(2026, 1, 20), "", 1001, NOW)
    assert asked is not None
    log = units.cycle_log(2025)
    assert [(e.action, e.details_dict()["cycle"]) for e in log] == [
        ("report.added", 2025), ("extension.requested", 2025)]
    assert log[0].subject == f"report:{this.id}"
    assert [e.details_dict()["cycle"] for e in units.cycle_log(2024)] == [2024]
    assert [e.details_dict()["cycle"] for e in units.cycle_log(2026)] == [2026]


def test_people_names_are_everyone_ever_enrolled(units: Store) -> None:
    _contact(units, 3001)
    _contact(units, 3002, "jxj")
    assert units.deactivate_person(3002, "left", NOW)
    assert units.people_names() == {3001: "user 3001", 3002: "user 3002"}
    assert units.people_names() == {p.telegram_user_id: p.display_name
                                    for p in units.list_people(None, None, False)}


def test_a_silent_postgresql_server_fails_a_call_within_seconds() -> None:
    """A server that accepts the connection and never answers: the call fails with a transient
    error (retried by the callers) after the connect timeout, instead of hanging."""
    with silent_server() as port:
        store = Store(f"postgresql+psycopg://postgres@127.0.0.1:{port}/duban")
        started = time.monotonic()
        try:
            with pytest.raises(OperationalError) as raised:
                store.database_now()
        finally:
            store.close()
    assert is_transient_database_error(raised.value)
    assert time.monotonic() - started < 6


@pytest.mark.parametrize(("options", "expected"), [
    ("-csearch_path%3Dpublic", {"search_path": "public", "statement_timeout": "30s",
                                "idle_in_transaction_session_timeout": "1min"}),
    ("-c%20statement_timeout%3D5000%20-c%20search_path%3Dpublic",
     {"search_path": "public", "statement_timeout": "5s",
      "idle_in_transaction_session_timeout": "1min"}),
])
def test_options_in_the_url_keep_the_time_limits_they_do_not_set(
        db_url: str, backend: str, options: str, expected: dict[str, str]) -> None:
    if backend != "postgres":
        pytest.skip("libpq options")
    store = Store(f"{db_url}?options={options}")
    try:
        with store.engine.connect() as connection:
            shown = {name: connection.exec_driver_sql(f"SHOW {name}").scalar_one()
                     for name in expected}
    finally:
        store.close()
    assert shown == expected


def test_postgresql_connections_carry_their_time_limits(store: Store, backend: str) -> None:
    if backend != "postgres":
        pytest.skip("PostgreSQL's settings; SQLite has its busy timeout")
    with store.engine.connect() as connection:
        shown = {name: connection.exec_driver_sql(f"SHOW {name}").scalar_one()
                 for name in ("statement_timeout", "idle_in_transaction_session_timeout")}
    assert shown["statement_timeout"] == "30s"
    assert shown["idle_in_transaction_session_timeout"] == "1min"
    store.upgrade()  # an upgrade lifts the statement limit for its own transaction only
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW statement_timeout").scalar_one() == "30s"
