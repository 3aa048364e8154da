"""The admins hear of a unit without contact, or a digest without leadership, once a day."""

from __future__ import annotations

import datetime as dt

from bot.reminders import DispatchReport, news_for_admins


def test_a_unit_without_contact_is_told_once_a_day() -> None:
    told: dict[str, dt.date] = {}
    day = dt.date(2026, 11, 24)
    morning = DispatchReport(units_without_contact={(7, "forestry"), (8, "forestry")},
                             digest_without_leadership=True, deactivated=[5])
    first = news_for_admins(morning, told, day)
    assert first.units_without_contact == {(7, "forestry"), (8, "forestry")}
    assert first.digest_without_leadership and first.deactivated == [5]
    afternoon = DispatchReport(units_without_contact={(11, "forestry"), (3, "statistics")},
                               digest_without_leadership=True, deactivated=[6])
    again = news_for_admins(afternoon, told, day)
    assert again.units_without_contact == {(3, "statistics")}  # forestry: heard this morning
    assert not again.digest_without_leadership
    assert again.deactivated == [6]  # something new is always told
    tomorrow = news_for_admins(afternoon, told, day + dt.timedelta(days=1))
    assert tomorrow.units_without_contact == afternoon.units_without_contact
    assert tomorrow.digest_without_leadership
