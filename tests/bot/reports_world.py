"""A seeded cycle for the report tests (ledger, scorecard, bulletin): everything the workflow
appends, through the real :class:`storage.Store`.

Cycle 2026, due 30 November (cutoff 1 December). What happened:

* task 7, 农业农村局 (lead): 30% on 2 Nov, done on 20 Nov (10 days early), confirmed 21 Nov;
  it acknowledged (签收) its 16 November reminder;
* task 8, 林业局 (lead): extension to 20 December approved on 12 Nov; reminded, silent;
* task 9, 岑城镇 (cooperating): blocked (缺少资金) from the command line;
* task 15, 生态环境局 (lead): done on 12 Nov, awaiting review;
* task 16, 生态环境局 (lead): done on 10 Nov, returned on 11 Nov (缺少监测报告), urged on 25 Nov;
* task 26 (no lead, six joint units): 发展改革局 50% on 5 Nov by someone never enrolled;
* task 22, 生态环境局 (lead): done on 1 December, the cutoff day (one day late).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from schedules.delivery import ReminderSpec
from schedules.model import Timetable
from storage import Store

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
CYCLE = 2026
AGRI, FOREST, ECOLOGY, LEADER, STRANGER = 3001, 3005, 3002, 2000, 4444
NAMES = {AGRI: "王芳", FOREST: "李明", ECOLOGY: "陈静", LEADER: "李组长"}


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    """A time of 2026 in Shanghai."""
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


@dataclass(frozen=True)
class Seeded:
    """Ids the tests look up."""

    extension_id: int
    agri_message: int


def seed(store: Store, timetable: Timetable) -> Seeded:
    """Append the cycle described in the module docstring."""
    store.sync_units([(u.id, u.name, u.kind.value) for u in timetable.units], at(10, 1))
    store.add_person(AGRI, NAMES[AGRI], "contact", "agriculture-rural", "zh_Hans", at(10, 1))
    store.add_person(FOREST, NAMES[FOREST], "contact", "forestry", "zh_Hans", at(10, 1))
    store.add_person(ECOLOGY, NAMES[ECOLOGY], "contact", "ecology-environment", "zh_Hans",
                     at(10, 1))
    store.add_person(LEADER, NAMES[LEADER], "leader", None, "zh_Hans", at(10, 1))

    store.add_report(7, "agriculture-rural", CYCLE, "in_progress", 30, "开始种植", AGRI,
                     at(11, 2, 9, 15), "button")
    done_7 = store.add_report(7, "agriculture-rural", CYCLE, "done", 100, "", AGRI,
                              at(11, 20, 10), "button")
    store.add_report(9, "town-cencheng", CYCLE, "blocked", None, "缺少资金", None,
                     at(11, 3, 16, 40), "cli")
    done_16 = store.add_report(16, "ecology-environment", CYCLE, "done", None, "已完成监测",
                               ECOLOGY, at(11, 10), "command")
    store.add_report(15, "ecology-environment", CYCLE, "done", 100, "", ECOLOGY,
                     at(11, 12, 11), "reply")
    store.add_report(26, "development-reform", CYCLE, "in_progress", 50, "筹备低碳日",
                     STRANGER, at(11, 5), "button")
    store.add_report(22, "ecology-environment", CYCLE, "done", 100, "已完成", None,
                     at(12, 1, 8), "cli")
    assert done_7.id is not None and done_16.id is not None
    store.add_review(done_7.id, "confirmed", "", LEADER, at(11, 21))
    store.add_review(done_16.id, "returned", "缺少监测报告", LEADER, at(11, 11, 10))
    extension = store.request_extension(8, "forestry", CYCLE, dt.date(2026, 12, 20),
                                        "苗木未到", FOREST, at(11, 12))
    assert extension is not None and extension.id is not None
    store.decide_extension(extension.id, True, LEADER, "同意", at(11, 12, 10))
    store.urge(16, "ecology-environment", CYCLE, dt.date(2026, 11, 25), LEADER, at(11, 25))

    cutoff = dt.date(2026, 12, 1)
    store.plan_deliveries([
        ReminderSpec(7, "agriculture-rural", CYCLE, "before", 14, AGRI, at(11, 16), cutoff),
        ReminderSpec(8, "forestry", CYCLE, "before", 14, FOREST, at(11, 16), cutoff),
        ReminderSpec(16, "ecology-environment", CYCLE, "before", 14, ECOLOGY, at(11, 16),
                     cutoff),
        ReminderSpec(8, "forestry", CYCLE, "before", 1, FOREST, at(11, 30), cutoff),  # pending
    ], at(11, 1))
    message = 700
    for reminder in store.reminders_for_cycle(CYCLE):
        if reminder.due_at <= at(11, 16) and reminder.id is not None:
            message += 1
            assert store.claim(reminder.id, at(11, 16))
            assert store.mark_sent(reminder.id, message, at(11, 16, 9, 1))
            if reminder.chat_id == AGRI:
                agri_message = message
    store.acknowledge_message(AGRI, agri_message, AGRI, at(11, 16, 9, 30))
    return Seeded(extension.id, agri_message)
