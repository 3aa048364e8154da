"""The bulletin (通报) rendered for the seeded cycle (tests/bot/reports_world.py), in Chinese and
English: the shape of a government notice and what the database says."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from html import unescape

import pytest

from bot.i18n import Translator, translator
from bot.render import paginate
from bot.reports.bulletin import render_bulletin
from bot.reports.record import collect, unit_scores
from schedules.bulletin import select_bulletin
from schedules.model import Timetable
from storage import Store
from tests.bot.reports_world import CYCLE, seed

ZH, EN = translator("zh_Hans"), translator("en")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, timetable: Timetable) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('bulletin') / 'duban.sqlite3'}")
    store.upgrade()
    seed(store, timetable)
    yield store
    store.close()


def _text(t: Translator, timetable: Timetable, store: Store, today: dt.date,
          cycle: int = CYCLE) -> str:
    record = collect(store, cycle)
    chosen = select_bulletin(timetable, record.facts, unit_scores(timetable, record, today,
                                                                  t.zone),
                             [(u.task_id, u.unit_id) for u in record.urges], today)
    return render_bulletin(t, timetable, chosen)


def test_chinese_bulletin_after_the_cutoff(seeded: Store, timetable: Timetable) -> None:
    text = _text(ZH, timetable, seeded, dt.date(2026, 12, 3))
    lines = unescape(text).split("\n")
    assert lines[0] == "<b>关于2026年度目标任务进展情况的通报</b>"
    assert lines[2] == "各有关单位："
    assert lines[3].startswith("\u3000\u3000根据《岑溪市2019-2020年降碳工作实施方案》"
                               "（岑政办发〔2020〕48号）目标任务时间表，截至2026年12月3日，")
    early = lines.index("一、提前完成任务的单位")
    assert lines[early + 1:early + 4] == ["\u3000\u3000生态环境局：第15项提前18天（待审核）。",
                                          "\u3000\u3000农业农村局：第7项提前10天。",
                                          "\u3000\u3000对以上单位予以通报表扬。"]
    late = lines.index("二、逾期未完成任务的单位")
    ecology = lines[late + 1]
    # one line per unit, "逾期3天" said once for its tasks as many days late, by state
    assert ecology == ("\u3000\u3000生态环境局（8项）：第11、19、20、23、24、25、26项"
                       "（尚未报送）、第16项（已退回，已催办1次）逾期3天。")  # 15, 22 finished
    assert lines[late + 2] == ("\u3000\u3000发展改革局（2项）：第18项（尚未报送）、第26项"
                               "（进行中）逾期3天。")
    assert lines[late + 3] == "\u3000\u3000市场监管局（2项）：第18、26项（尚未报送）逾期3天。"
    units = lines[late + 1:lines.index("", late) - 1]  # before the closing request
    assert units and all(line.count("逾期") == 1 for line in units)
    assert not any(line.startswith("\u3000\u3000林业局") for line in lines)  # extended
    assert lines[-2:] == ["岑溪市应对气候变化及节能减排工作领导小组办公室", "2026年12月3日"]
    assert len(paginate(text)) == 1  # one message: forwarded as it is


def test_english_bulletin_groups_a_units_overdue_tasks_on_one_line(
        seeded: Store, timetable: Timetable) -> None:
    lines = unescape(_text(EN, timetable, seeded, dt.date(2026, 12, 3))).split("\n")
    late = lines.index("2. Units with overdue tasks")
    assert lines[late + 1] == (
        "Ecology and Environment Bureau (8 tasks): tasks 11, 19, 20, 23, 24, 25, and 26 "
        "(no report yet) and task 16 (returned, urged 1 time), 3 days overdue.")
    assert lines[late + 3] == ("Market Regulation Bureau (2 tasks): tasks 18 and 26 (no report "
                               "yet), 3 days overdue.")
    assert lines[late + 4] == ("Industry and Information Technology Bureau: task 26 (no report "
                               "yet), 3 days overdue.")


def test_english_bulletin_before_the_cutoff_lists_tasks_at_risk(
        seeded: Store, timetable: Timetable) -> None:
    text = unescape(_text(EN, timetable, seeded, dt.date(2026, 11, 26)))
    lines = text.split("\n")
    assert lines[0] == "<b>Notice on the progress of the target tasks of 2026</b>"
    assert "as of November 26, 2026, of the 15 target tasks due this year: confirmed done 1, " \
           "reported done and awaiting review 2, overdue 0, under way 12." in lines[3]
    assert lines[lines.index("2. Units with overdue tasks") + 1] == "None."
    risks = lines[lines.index("3. Tasks at risk of being late") + 1:]
    assert "Task 26 (宣传引导), 4 days left: Development and Reform Bureau, in progress (50%); " \
           "Ecology and Environment Bureau, no report yet;" in text
    assert not any(line.startswith("Task 7 ") or line.startswith("Task 8 ")
                   for line in risks)  # 7 confirmed; 8 extended to 20 December
    assert lines[-2:] == ["Office of the Leading Group on Climate Change, Energy Conservation "
                          "and Emission Reduction", "November 26, 2026"]
    assert not any("\u3000" in line for line in lines)


def test_a_quiet_cycle_says_none(store: Store, timetable: Timetable) -> None:
    text = unescape(_text(ZH, timetable, store, dt.date(2027, 10, 1), 2027))
    assert "截至2027年10月1日，本年度有完成时限的15项目标任务中，已审结0项，已报完成待审核0项，" \
           "逾期未完成0项，正在推进15项。" in text
    assert "一、提前完成任务的单位\n\u3000\u3000暂无。" in text
    assert "二、逾期未完成任务的单位\n\u3000\u3000无。" in text
