"""A fresh reviewer's storage-level attempts on the report fixes of 7df2da3/8432dab: a request
the database cannot hold fails alone, the retry after a lost answer tells its own report from
look-alikes, the reporter's membership is read in the transaction."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from storage import NotServing, Store
from tests.storage.test_group_commit import NOW, WINDOW, _reports, _req, units

__all__ = ["units"]


def _stored(outcome: Any) -> bool:
    return isinstance(outcome, tuple) and outcome[1] is True


@pytest.mark.parametrize("field", ["unit_id", "status", "source"])
def test_a_nul_in_another_text_field_fails_only_its_own_request(units: Store,
                                                                field: str) -> None:
    """A NUL where PostgreSQL's text cannot hold it, in a field other than the note: the other
    requests of the group are stored, that one is a ValueError."""
    odd = dataclasses.replace(_req(2), **{field: getattr(_req(2), field) + "\x00"})
    outcomes = units.add_reports_once([_req(1), odd, _req(3, "jxj")])
    assert _stored(outcomes[0]) and _stored(outcomes[2]), outcomes
    assert isinstance(outcomes[1], ValueError), outcomes
    assert sorted(r[:2] for r in _reports(units)) == [(1, "fgw"), (3, "jxj")]


@pytest.mark.parametrize("field", ["task_id", "cycle"])
def test_a_number_beyond_the_column_fails_only_its_own_request(units: Store, field: str) -> None:
    odd = dataclasses.replace(_req(2), **{field: 2**40})
    outcomes = units.add_reports_once([_req(1), odd, _req(3, "jxj")])
    assert _stored(outcomes[0]) and _stored(outcomes[2]), outcomes
    # SQLite's INTEGER holds it; PostgreSQL's cannot: refused alone
    assert isinstance(outcomes[1], Exception) or _stored(outcomes[1]), outcomes
    assert {(1, "fgw"), (3, "jxj")} <= {r[:2] for r in _reports(units)}


def test_a_retry_beside_a_colleagues_identical_looking_report_stores_its_own(
        units: Store) -> None:
    """A colleague's report in the same instant with the same words and even the same message
    number (message ids are per chat); and the same person's from another message: the retry
    stores its own, not taking either for it."""
    units.add_person(1001, "a", "contact", "fgw", "zh_Hans", NOW)
    units.add_person(1002, "b", "contact", "fgw", "zh_Hans", NOW)
    colleague = _req(1, who=1002, source_message_id=7, note="已报送", serving=True)
    other_message = _req(1, who=1001, source_message_id=6, note="已报送", serving=True)
    assert all(_stored(o) for o in units.add_reports_once([colleague, other_message]))
    mine = _req(1, who=1001, source_message_id=7, note="已报送", serving=True)
    [outcome] = units.add_reports_once([mine], again=True)
    assert _stored(outcome), outcome
    assert outcome[0].reporter_telegram_id == 1001  # type: ignore[index]
    assert outcome[0].source_message_id == 7  # type: ignore[index]
    assert len(_reports(units)) == 3


def test_a_retry_of_a_revoked_reporters_stored_report_is_answered_stored(units: Store) -> None:
    """The lost try stored the report, then the reporter was revoked before the retry: the
    report was made while they served, so the retry answers it stored (not NotServing)."""
    units.add_person(1001, "a", "contact", "fgw", "zh_Hans", NOW)
    mine = _req(1, who=1001, source_message_id=7, serving=True)
    [first] = units.add_reports_once([mine])
    units.end_membership(1001, "fgw", "moved", NOW)
    [again] = units.add_reports_once([mine], again=True)
    assert _stored(again) and again[0].id == first[0].id  # type: ignore[index]
    [late] = units.add_reports_once([_req(2, who=1001, serving=True)], again=True)
    assert isinstance(late, NotServing)
    assert len(_reports(units)) == 1


def test_re_enrolment_after_revocation_serves_again(units: Store) -> None:
    units.add_person(1001, "a", "contact", "fgw", "zh_Hans", NOW)
    units.end_membership(1001, "fgw", "moved", NOW)
    [refused] = units.add_reports_once([_req(1, who=1001, serving=True)])
    assert isinstance(refused, NotServing)
    units.add_person(1001, "a", "contact", "fgw", "zh_Hans", NOW)
    [stored] = units.add_reports_once([_req(1, who=1001, serving=True,
                                            repeat_window=WINDOW)])
    assert _stored(stored)


def test_a_message_that_may_have_been_handled_before_is_its_stored_report(
        units: Store) -> None:
    """``maybe_again`` (a message handled late, perhaps delivered a second time): a report
    from the same message already stored, with a colleague's in between, is its outcome as
    ``(report, False)``; another message with the same words, a request without a message, or
    the same message id from another person is stored."""
    mine = _req(1, who=1001, source_message_id=7, note="已报送", maybe_again=True)
    [first] = units.add_reports_once([mine])
    assert _stored(first)
    assert _stored(units.add_reports_once([_req(1, who=1002, note="同事")])[0])
    [again] = units.add_reports_once([mine])
    assert isinstance(again, tuple) and again[1] is False
    assert again[0].id == first[0].id  # type: ignore[index]
    assert len(_reports(units)) == 2
    others = [dataclasses.replace(mine, source_message_id=8),
              dataclasses.replace(mine, source_message_id=None),
              dataclasses.replace(mine, reporter_telegram_id=1003)]
    for other in others:
        [outcome] = units.add_reports_once([other])
        assert _stored(outcome), (other, outcome)
    assert len(_reports(units)) == 5


def test_an_extension_request_from_someone_no_longer_serving_is_not_recorded(
        units: Store) -> None:
    """``request_extension(serving=True)`` reads the requester's membership after the lock:
    revoked, or serving another unit only, is NotServing with nothing recorded; serving, it
    is recorded."""
    units.add_person(1001, "a", "contact", "fgw", "zh_Hans", NOW)
    units.add_person(1002, "b", "contact", "jxj", "zh_Hans", NOW)
    units.end_membership(1001, "fgw", "moved", NOW)
    due = dt.date(2025, 12, 20)
    for person in (1001, 1002):
        with pytest.raises(NotServing):
            units.request_extension(1, "fgw", 2025, due, "late", person, NOW, serving=True)
    assert units.extensions(2025, 1) == {}
    assert units.request_extension(1, "jxj", 2025, due, "late", 1002, NOW,
                                   serving=True) is not None
    assert list(units.extensions(2025, 1)) == [(1, "jxj")]


@pytest.mark.parametrize(("first_at", "found"), [
    (dt.timedelta(seconds=0.9), True),  # handled at once: stored at the clock's time
    (dt.timedelta(seconds=-4.5), True),  # the bot's clock behind Telegram's
    (dt.timedelta(minutes=9), True),
    (dt.timedelta(minutes=11), False),  # too far from the message's date: another message
])
def test_a_message_delivered_again_finds_its_report_near_its_date(
        units: Store, first_at: dt.timedelta, found: bool) -> None:
    """The first delivery's report is dated by the bot's clock (handled at once) and the second
    by the message's date: found within SAME_MESSAGE_SLACK of it, even after a colleague's."""
    first = _req(1, who=1001, source_message_id=7, at=NOW + first_at)
    [stored] = units.add_reports_once([first])
    assert _stored(stored)
    units.add_reports_once([_req(1, who=1002, at=NOW + dt.timedelta(minutes=12))])
    again = dataclasses.replace(first, now=NOW, maybe_again=True)
    [outcome] = units.add_reports_once([again])
    assert isinstance(outcome, tuple)
    assert (outcome[0].id == stored[0].id and outcome[1] is False) is found, outcome  # type: ignore[index]
    assert len(_reports(units)) == (2 if found else 3)
