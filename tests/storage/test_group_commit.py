"""The reports' group commit (``Store.add_reports_once``) and the callers read together
(``Store.callers``), on SQLite and on PostgreSQL: each request's outcome is what
``add_report_once`` alone would give, in order, in one transaction with one revision."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event
from sqlalchemy.exc import DataError, OperationalError

from storage import (
    NotServing,
    PairStanding,
    ReportRequest,
    StatusReport,
    StillOwed,
    Store,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2025, 11, 3, 9, 30, 15, 123456, tzinfo=SHANGHAI)
UNITS = [("fgw", "市发展改革委", "bureau"), ("jxj", "市经信局", "bureau"),
         ("zjz", "周家镇", "town")]
WINDOW = dt.timedelta(minutes=1)


class No(Exception):
    """A check's refusal."""


@pytest.fixture
def units(store: Store) -> Store:
    """The store with three units synced."""
    store.sync_units(UNITS, NOW)
    return store


def _req(task_id: int = 1, unit_id: str = "fgw", status: str = "done",
         progress: int | None = None, note: str = "", who: int | None = 555,
         at: dt.datetime = NOW, source: str = "command", **more: Any) -> ReportRequest:
    return ReportRequest(task_id, unit_id, 2025, status, progress, note, who, at, source,
                         **more)


def _refuse(facts: Any) -> int | None:
    raise No("refused")


def _repeat_of(outcome: Any, report: StatusReport) -> bool:
    """``outcome`` is ``(report, False)``: the same stored row (a repeat's report is read back
    without its ``facts_revision``, as ``add_report_once`` alone gives it)."""
    if not isinstance(outcome, tuple) or outcome[1] is not False:
        return False
    again = outcome[0]
    return bool(again.id == report.id and again.model_dump(exclude={"facts_revision"})
                == report.model_dump(exclude={"facts_revision"}))


def _reports(store: Store) -> list[tuple[int, str, str, int | None]]:
    return [(r.task_id, r.unit_id, r.status, r.progress) for r in store.reports_for_cycle(2025)]


def _added(store: Store) -> int:
    return len(store.audit_log(limit=1000, action="report.added"))


Failing = list[Any]
"""``failing[0] = predicate(statement, parameters)``: the next statement it is true of raises
``OperationalError`` (the server went away); None: nothing fails."""


@pytest.fixture
def failing(units: Store) -> Iterator[Failing]:
    """Make one chosen statement of the store fail (see :data:`Failing`)."""
    fail: Failing = [None]

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if fail[0] is not None and fail[0](statement.lstrip().upper(), str(parameters)):
            fail[0] = None
            raise OperationalError(statement, {}, Exception("the server went away"))

    event.listen(units.engine, "before_cursor_execute", before)
    yield fail
    event.remove(units.engine, "before_cursor_execute", before)


def _inserting(table: str, containing: str = "") -> Any:
    return lambda statement, parameters: (statement.startswith(f"INSERT INTO {table.upper()}")
                                          and containing in parameters)


# -- the outcomes -------------------------------------------------------------------------------
def test_an_empty_group_is_no_transaction(units: Store) -> None:
    revision = units.facts_revision()
    assert units.add_reports_once([]) == []
    assert units.facts_revision() == revision and _reports(units) == []


def test_one_request_is_add_report_once(units: Store) -> None:
    revision = units.facts_revision()
    [(report, new)] = units.add_reports_once([_req(progress=100)])  # type: ignore[misc]
    assert new and isinstance(report, StatusReport)
    assert units.facts_revision() == revision + 1 == report.facts_revision
    assert report.reported_at == NOW.astimezone(dt.UTC)
    assert _reports(units) == [(1, "fgw", "done", 100)] and _added(units) == 1


def test_a_mixed_group_gives_each_request_its_own_outcome_in_one_revision(units: Store) -> None:
    units.add_report(7, "fgw", 2024, "in_progress", 40, "", 1001, NOW, "command")
    units.add_report(3, "jxj", 2025, "in_progress", 30, "", 556, NOW, "command")
    revision = units.facts_revision()
    owed = dataclasses.replace(_req(7, "fgw"), cycle=2025, standing_of=2024,
                               owed=lambda standing: standing.status != "done")
    requests = [
        _req(1, "fgw", "done", 100, repeat_window=WINDOW),                    # new
        _req(2, "fgw", "finished", 100),                                      # bad status
        _req(3, "jxj", "in_progress", None, check=_refuse),                   # check refuses
        owed,                                                                  # still owed
        _req(1, "fgw", "done", 100, at=NOW + dt.timedelta(seconds=5),
             repeat_window=WINDOW),                                           # repeat of 0
        _req(3, "jxj", "in_progress", None, at=NOW + dt.timedelta(seconds=1),
             check=lambda facts: facts.reports[(3, "jxj")].progress),        # carried: 30
        _req(2, "zjz", "blocked", 101),                                       # bad progress
        _req(2, "zjz", "blocked", None, note="卡住了", source="email"),        # bad source
        _req(4, "zjz", "not_applicable", None, who=None, source="cli"),       # new
    ]
    outcomes = units.add_reports_once(requests)

    assert len(outcomes) == len(requests)
    first, second, third, fourth, fifth, sixth, seventh, eighth, ninth = outcomes
    assert isinstance(first, tuple) and first[1] is True
    assert isinstance(second, ValueError) and "unknown status" in str(second)
    assert isinstance(third, No)
    assert isinstance(fourth, StillOwed) and fourth.cycle == 2024
    assert _repeat_of(fifth, first[0])
    assert isinstance(sixth, tuple) and sixth[1] and sixth[0].progress == 30
    assert isinstance(seventh, ValueError) and "progress" in str(seventh)
    assert isinstance(eighth, ValueError) and "source" in str(eighth)
    assert isinstance(ninth, tuple) and ninth[1] and ninth[0].reporter_telegram_id is None
    # One revision, raised once, carried by every report of the group.
    assert units.facts_revision() == revision + 1
    new = [first[0], sixth[0], ninth[0]]
    assert {r.facts_revision for r in new} == {revision + 1}
    assert [(r.task_id, r.unit_id) for r in new] == [(1, "fgw"), (3, "jxj"), (4, "zjz")]
    assert len({r.id for r in new}) == 3
    # Nothing of the refused ones is stored, and each new one has its audit entry.
    assert sorted(_reports(units)) == [(1, "fgw", "done", 100), (3, "jxj", "in_progress", 30),
                                       (3, "jxj", "in_progress", 30),
                                       (4, "zjz", "not_applicable", None)]
    assert units.latest_reports(2025, task_id=7) == {} and units.latest_reports(2025, 2) == {}
    assert _added(units) == 2 + 3
    assert {f"report:{r.id}" for r in new} <= {
        e.subject for e in units.audit_log(limit=1000, action="report.added")}


def test_the_same_report_twice_in_a_group_is_stored_once(units: Store) -> None:
    revision = units.facts_revision()
    requests = [_req(note="材料已报送", repeat_window=WINDOW,
                     at=NOW + dt.timedelta(seconds=i)) for i in range(3)]
    (first, new), *rest = units.add_reports_once(requests)  # type: ignore[misc]
    assert new and len(rest) == 2 and all(_repeat_of(o, first) for o in rest)
    assert len(units.report_history(1, "fgw", 2025)) == 1 and _added(units) == 1
    assert units.facts_revision() == revision + 1


def test_two_statuses_for_one_pair_in_a_group_are_both_stored_in_order(units: Store) -> None:
    outcomes = units.add_reports_once([
        _req(status="in_progress", progress=50, repeat_window=WINDOW),
        _req(status="done", progress=100, at=NOW + dt.timedelta(seconds=1),
             repeat_window=WINDOW),
        _req(status="in_progress", progress=50, at=NOW + dt.timedelta(seconds=2),
             repeat_window=WINDOW),  # not a repeat: the newest is "done" now
    ])
    assert [o[1] for o in outcomes] == [True, True, True]  # type: ignore[index]
    assert [(r.status, r.progress) for r in units.report_history(1, "fgw", 2025)] == [
        ("in_progress", 50), ("done", 100), ("in_progress", 50)]
    assert units.latest_reports(2025)[(1, "fgw")].status == "in_progress"


def test_a_later_request_sees_what_an_earlier_one_appended(units: Store) -> None:
    seen: list[Any] = []

    def check(facts: Any) -> int | None:
        seen.append(facts.reports.get((1, "fgw")))
        return None

    outcomes = units.add_reports_once([
        _req(status="in_progress", progress=70),
        _req(status="blocked", at=NOW + dt.timedelta(seconds=1), check=check)])
    assert seen[0] is not None and (seen[0].status, seen[0].progress) == ("in_progress", 70)
    assert all(isinstance(o, tuple) and o[1] for o in outcomes)


def test_a_check_giving_an_out_of_range_progress_refuses_only_its_request(
        units: Store) -> None:
    outcomes = units.add_reports_once([_req(1, check=lambda facts: 150), _req(2),
                                       _req(3, check=lambda facts: True)])
    assert isinstance(outcomes[0], ValueError) and "progress" in str(outcomes[0])
    assert isinstance(outcomes[1], tuple) and outcomes[1][1]
    assert isinstance(outcomes[2], ValueError)
    assert _reports(units) == [(2, "fgw", "done", None)] and _added(units) == 1


def test_owed_sees_the_standing_and_refuses_alone(units: Store) -> None:
    units.add_report(7, "fgw", 2024, "in_progress", 40, "", 1001, NOW, "command")
    seen: list[PairStanding] = []

    def owed(standing: PairStanding) -> bool:
        seen.append(standing)
        return standing.status != "done"

    late = dataclasses.replace(_req(7), standing_of=2024, owed=owed)
    outcomes = units.add_reports_once([late, _req(8), late])
    assert isinstance(outcomes[0], StillOwed) and isinstance(outcomes[2], StillOwed)
    assert isinstance(outcomes[1], tuple)
    assert seen == [PairStanding("in_progress", False, False)] * 2
    assert _reports(units) == [(8, "fgw", "done", None)]


def test_a_group_with_nothing_appended_rolls_back(units: Store) -> None:
    earlier, _ = units.add_report_once(1, "fgw", 2025, "done", None, "", 555, NOW, "command",
                                       repeat_window=WINDOW)
    revision, added = units.facts_revision(), _added(units)
    outcomes = units.add_reports_once([
        _req(at=NOW + dt.timedelta(seconds=9), repeat_window=WINDOW),
        _req(2, status="finished"),
        _req(3, check=_refuse),
        _req(4, at=NOW.replace(tzinfo=None)),
    ])
    assert _repeat_of(outcomes[0], earlier)
    assert [type(o) for o in outcomes[1:]] == [ValueError, No, ValueError]
    assert units.facts_revision() == revision and _added(units) == added
    assert _reports(units) == [(1, "fgw", "done", None)]


def test_outcomes_keep_their_order_in_a_group_of_forty(units: Store) -> None:
    revision = units.facts_revision()
    requests = [_req(task, ("fgw", "jxj", "zjz")[task % 3],
                     "finished" if task % 7 == 0 else "in_progress", task % 101,
                     check=_refuse if task % 11 == 0 else None)
                for task in range(1, 41)]
    outcomes = units.add_reports_once(requests)
    assert len(outcomes) == 40
    for request, outcome in zip(requests, outcomes, strict=True):
        if request.status == "finished":
            assert isinstance(outcome, ValueError), request
        elif request.check is not None:
            assert isinstance(outcome, No), request
        else:
            assert isinstance(outcome, tuple) and outcome[1], request
            assert (outcome[0].task_id, outcome[0].unit_id, outcome[0].progress) == (
                request.task_id, request.unit_id, request.progress)
            assert outcome[0].facts_revision == revision + 1
    stored = sum(isinstance(o, tuple) for o in outcomes)
    assert stored == 40 - 5 - 3 and len(_reports(units)) == stored
    assert units.facts_revision() == revision + 1


# -- integrity and database errors ------------------------------------------------------------
def test_an_unknown_unit_fails_alone_and_the_rest_are_stored(units: Store) -> None:
    outcomes = units.add_reports_once([
        _req(1, "fgw"), _req(2, "nope"), _req(3, "jxj", "x"), _req(4, "jxj"),
        _req(5, "fgw", repeat_window=WINDOW), _req(5, "fgw", repeat_window=WINDOW)])
    assert isinstance(outcomes[0], tuple) and outcomes[0][1]
    assert isinstance(outcomes[1], ValueError) and "unknown unit 'nope'" in str(outcomes[1])
    assert isinstance(outcomes[2], ValueError) and "unknown status" in str(outcomes[2])
    assert isinstance(outcomes[3], tuple) and outcomes[3][1]
    assert isinstance(outcomes[4], tuple) and outcomes[4][1]
    assert _repeat_of(outcomes[5], outcomes[4][0])
    assert sorted(_reports(units)) == [(1, "fgw", "done", None), (4, "jxj", "done", None),
                                       (5, "fgw", "done", None)]
    assert _added(units) == 3


def test_an_unknown_unit_alone_is_a_value_error(units: Store) -> None:
    revision = units.facts_revision()
    [outcome] = units.add_reports_once([_req(unit_id="nope")])
    assert isinstance(outcome, ValueError) and "unknown unit" in str(outcome)
    with pytest.raises(ValueError, match="unknown unit"):
        units.add_report_once(1, "nope", 2025, "done", None, "", 555, NOW, "command")
    assert units.facts_revision() == revision and _reports(units) == []


@pytest.mark.parametrize("where", ["the audit entries", "a second insert of reports"])
def test_a_database_error_mid_group_stores_nothing(units: Store, failing: Failing,
                                                   where: str) -> None:
    """The reports inserted before the failing statement are rolled back with the group: after
    them, their audit entries fail; or a second pair's insert after the first was flushed (a
    later request reads the pair of an earlier one: in it goes first)."""
    units.add_report(9, "fgw", 2025, "done", None, "", 555, NOW, "command")
    revision, added = units.facts_revision(), _added(units)
    if where == "the audit entries":
        failing[0] = _inserting("audit_entry")
        group = [_req(1), _req(2, check=_refuse), _req(2), _req(3), _req(4)]
    else:
        failing[0] = _inserting("status_report", "'jxj'")
        group = [_req(1), _req(1, status="in_progress", progress=50), _req(2, "jxj")]
    with pytest.raises(OperationalError, match="went away"):
        units.add_reports_once(group)
    assert units.facts_revision() == revision and _added(units) == added
    assert _reports(units) == [(9, "fgw", "done", None)]
    assert all(isinstance(o, tuple) for o in units.add_reports_once([_req(1), _req(2)]))
    assert units.facts_revision() == revision + 1


def test_a_database_error_after_an_integrity_error_stores_nothing(
        units: Store, failing: Failing) -> None:
    """An unknown unit splits the group into savepoints of one transaction: a database error
    in a later one leaves nothing stored of the group (it is retried whole)."""
    revision = units.facts_revision()
    seen: list[str] = []

    def after_the_unknown_unit(statement: str, parameters: str) -> bool:
        if "'nope'" in parameters and statement.startswith("INSERT INTO STATUS_REPORT"):
            seen.append(parameters)
        return bool(seen) and statement.startswith("INSERT INTO STATUS_REPORT") \
            and "'jxj'" in parameters and "'nope'" not in parameters

    failing[0] = after_the_unknown_unit
    with pytest.raises(OperationalError):
        units.add_reports_once([_req(1, "fgw"), _req(2, "nope"), _req(3, "jxj")])
    assert seen and _reports(units) == [] and units.facts_revision() == revision
    assert _added(units) == 0


def test_after_an_integrity_error_the_rest_still_share_one_revision(units: Store) -> None:
    """The unknown unit fails alone; the others commit together, with the group's revision."""
    revision = units.facts_revision()
    outcomes = units.add_reports_once([_req(1, "fgw"), _req(2, "nope"), _req(3, "jxj")])
    assert isinstance(outcomes[1], ValueError) and "nope" in str(outcomes[1])
    stored = [o[0] for o in outcomes if isinstance(o, tuple)]
    assert [r.facts_revision for r in stored] == [revision + 1, revision + 1]
    assert units.facts_revision() == revision + 1 and _added(units) == 2


def test_a_keyboard_interrupt_in_a_check_is_raised_and_stores_nothing(units: Store) -> None:
    """Not a refusal of its request: it stops the whole call, nothing of the group stored."""
    revision = units.facts_revision()

    def interrupted(facts: Any) -> int | None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        units.add_reports_once([_req(1), _req(2, check=interrupted), _req(3)])
    assert units.facts_revision() == revision and _reports(units) == [] and _added(units) == 0


def test_an_ill_typed_progress_fails_only_its_own_request(units: Store) -> None:
    outcomes = units.add_reports_once([_req(1), _req(2, progress="50"),  # type: ignore[arg-type]
                                       _req(3)])
    assert isinstance(outcomes[1], ValueError) and "'50'" in str(outcomes[1])
    assert len(_reports(units)) == 2


@pytest.mark.parametrize("odd", [Decimal(50), 50.0, True, "50"])
def test_a_checks_odd_progress_fails_only_its_own_request(units: Store, odd: Any) -> None:
    """A progress that is not a whole number (as a check might carry one) is refused before
    anything of its request is written; the rest of the group is stored and audited."""
    outcomes = units.add_reports_once([_req(1), _req(2, check=lambda facts: odd)])
    assert isinstance(outcomes[0], tuple) and isinstance(outcomes[1], ValueError)
    assert _reports(units) == [(1, "fgw", "done", None)] and _added(units) == 1


# -- what values the database cannot hold ----------------------------------------------------
@pytest.mark.parametrize("odd", [{"note": "已核查\x00完毕"}, {"who": 2**63},
                                 {"source_message_id": -2**63 - 1}])
def test_a_value_the_database_cannot_hold_fails_only_its_own_request(units: Store,
                                                                      odd: Any) -> None:
    """A NUL in a note (PostgreSQL's text cannot hold it) or an id beyond a BIGINT is refused
    before anything is written: a ValueError for that request, the rest of the group stored."""
    outcomes = units.add_reports_once([_req(1), _req(2, **odd), _req(3)])
    assert isinstance(outcomes[1], ValueError), outcomes[1]
    assert [r[0] for r in _reports(units)] == [1, 3] and _added(units) == 2


def test_a_data_error_of_one_request_fails_only_it(units: Store) -> None:
    """Whatever data error the database raises for one report's row (here made to) is that
    request's ValueError; the others are stored, in one revision, each with its audit entry."""
    revision = units.facts_revision()

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO STATUS_REPORT") and \
                "poison" in str(parameters):
            raise DataError(statement, {}, Exception("invalid byte sequence"))

    event.listen(units.engine, "before_cursor_execute", before)
    try:
        outcomes = units.add_reports_once([_req(1), _req(2, note="poison"), _req(3, "jxj")])
    finally:
        event.remove(units.engine, "before_cursor_execute", before)
    assert isinstance(outcomes[1], ValueError) and "cannot hold" in str(outcomes[1])
    assert sorted(r[:2] for r in _reports(units)) == [(1, "fgw"), (3, "jxj")]
    assert _added(units) == 2 and units.facts_revision() == revision + 1


# -- the reporter must still serve the unit -------------------------------------------------------
def test_a_reporter_who_serves_the_unit_is_stored_and_one_who_does_not_is_refused(
        units: Store) -> None:
    units.add_person(1001, "clerk", "contact", "fgw", "zh_Hans", NOW)
    units.add_person(1001, "clerk", "contact", "jxj", "zh_Hans", NOW)
    units.add_person(1002, "other", "contact", "zjz", "zh_Hans", NOW)
    units.end_membership(1001, "jxj", "moved", NOW)
    outcomes = units.add_reports_once([
        _req(1, "fgw", who=1001, serving=True), _req(2, "jxj", who=1001, serving=True),
        _req(3, "fgw", who=1002, serving=True), _req(4, "fgw", who=None, serving=True),
        _req(5, "jxj", who=1001)])  # not asked: stored (an import, an admin's correction)
    assert isinstance(outcomes[0], tuple)
    assert [type(o) for o in outcomes[1:4]] == [NotServing] * 3
    assert isinstance(outcomes[1], NotServing) and outcomes[1].unit_id == "jxj"
    assert isinstance(outcomes[4], tuple)
    assert sorted(r[:2] for r in _reports(units)) == [(1, "fgw"), (5, "jxj")]


def test_a_revoked_reporter_is_refused(units: Store) -> None:
    units.add_person(1001, "clerk", "contact", "fgw", "zh_Hans", NOW)
    assert isinstance(units.add_reports_once([_req(1, who=1001, serving=True)])[0], tuple)
    units.revoke_person(1001, "left", NOW)
    [outcome] = units.add_reports_once([_req(2, who=1001, serving=True)])
    assert isinstance(outcome, NotServing)
    assert [r[0] for r in _reports(units)] == [1]


# -- a retry after a lost answer ----------------------------------------------------------------
def test_a_retry_finds_the_reports_its_lost_try_stored(units: Store) -> None:
    """``again``: each request whose identical report is there already is answered with that
    report as new, stored once; a colleague's report on the same pair, a same person's other
    message, and a request not stored before are told apart and stored."""
    group = [_req(1, who=1001, source_message_id=7, progress=40, status="in_progress"),
             _req(1, who=1002, source_message_id=7, progress=45, status="in_progress",
                  repeat_window=WINDOW),
             _req(2, who=1001, source_message_id=8, note="已报送")]
    first = units.add_reports_once(group)
    revision = units.facts_revision()
    again = units.add_reports_once(group, again=True)
    assert [(o[0].id, o[1]) for o in again] == [(o[0].id, True) for o in first]  # type: ignore
    assert units.facts_revision() == revision and len(_reports(units)) == 3
    later = units.add_reports_once([*group, _req(1, who=1001, source_message_id=9, progress=50,
                                                 status="in_progress"),
                                    _req(3, who=1001, source_message_id=8, note="已报送")],
                                   again=True)
    assert all(isinstance(o, tuple) and o[1] for o in later)
    assert len(_reports(units)) == 5 and units.facts_revision() == revision + 1
    # without ``again`` the same requests are new reports (or repeats), as before
    plain = units.add_reports_once([group[2]])
    assert isinstance(plain[0], tuple) and plain[0][0].id != first[2][0].id  # type: ignore


# -- callers ------------------------------------------------------------------------------------
def test_callers_reads_many_people_in_order(units: Store) -> None:
    units.add_person(1001, "user 1001", "contact", "jxj", "zh_Hans", NOW)
    units.add_person(1001, "user 1001", "contact", "fgw", "zh_Hans", NOW)
    units.add_person(1001, "user 1001", "contact", "zjz", "zh_Hans", NOW)
    assert units.end_membership(1001, "fgw", "moved", NOW)
    units.add_person(1002, "李主任", "leader", None, None, NOW)
    units.add_person(1003, "user 1003", "contact", "fgw", "en", NOW)
    assert units.deactivate_person(1003, "left", NOW)
    assert units.callers([]) == []
    found = units.callers([1003, 999, 1001, 1002, 1001, 5])
    assert len(found) == 6
    gone, unknown, clerk, leader, again, nobody = found
    assert gone[0] is not None and not gone[0].active and gone[1] == []
    assert gone[0].language == "en"
    assert unknown == (None, []) and nobody == (None, [])
    assert clerk[0] is not None and clerk[0].active and clerk[1] == ["jxj", "zjz"]
    assert again == clerk
    assert leader[0] is not None and (leader[0].role, leader[1]) == ("leader", [])
    for telegram_user_id in (1003, 999, 1001, 1002):
        assert units.callers([telegram_user_id]) == [units.caller(telegram_user_id)]


def test_callers_is_one_statement(units: Store) -> None:
    for person in range(40):
        units.add_person(2000 + person, f"p{person}", "contact", "fgw", None, NOW)
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(units.engine, "before_cursor_execute", record)
    try:
        found = units.callers(list(range(2039, 1990, -1)))
    finally:
        event.remove(units.engine, "before_cursor_execute", record)
    assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 1
    assert [p.telegram_user_id if p else None for p, _ in found] == [
        *range(2039, 1999, -1), *[None] * 9]
    assert all(served == ["fgw"] for p, served in found if p is not None)
