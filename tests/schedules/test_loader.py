"""The loader: every malformed file is reported with its line, its field and a plain message."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from schedules.loader import Problem, TimetableError, load_timetable, parse_timetable
from schedules.model import DeadlineKind, Timetable

REAL_YAML = Path(__file__).resolve().parents[2] / "data" / "tasks.yaml"
SOURCE = "tasks.yaml"

BASE = """\
version: 1
plan:
  title: 测试方案
  issued: 2020-05-11
reminders:
  offsets_days: [30, 7, 1]
  hour: 9
  timezone: Asia/Shanghai
units:
  - id: ecology-environment
    name: 生态环境局
    name_en: Ecology and Environment Bureau
    kind: bureau
  - id: market-regulation
    name: 市场监管局
    name_en: Market Regulation Bureau
    aliases: [市场监督管理局]
    kind: bureau
  - id: town-cencheng
    name: 岑城镇
    name_en: Cencheng Town
    kind: town
  - id: towns
    name: 各镇政府
    name_en: Town governments
    kind: group
    members: [town-cencheng]
tasks:
  - id: 1
    title: 任务一
    items: [完成年度目标。]
    lead_units: [ecology-environment]
    cooperating_units: [market-regulation, towns]
    deadline: {kind: annual, text: 每年12月前}
  - id: 2
    title: 任务二
    items:
      - (1)第一项。
      - (2)第二项。
    lead_units: [market-regulation]
    deadline: {kind: once, year: 2020, text: 2020年12月前}
measures:
  - id: "3.1"
    section: 三、测试
    title: 措施一
    joint_units: [ecology-environment, market-regulation]
  - id: "3.2"
    section: 三、测试
    title: 措施二
    lead_units: [ecology-environment]
"""


def mutate(text: str, old: str, new: str) -> str:
    """``text`` with the one occurrence of ``old`` replaced."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    """The 1-based number of the one line containing ``needle``."""
    found = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(found) == 1, f"{needle!r} is on lines {found}"
    return found[0]


def problems_in(text: str) -> list[str]:
    with pytest.raises(TimetableError) as caught:
        parse_timetable(text, SOURCE)
    assert str(caught.value) == "\n".join(str(p) for p in caught.value.problems)
    return [str(problem) for problem in caught.value.problems]


# -- good files ---------------------------------------------------------------------------------


def test_base_file_loads() -> None:
    timetable = parse_timetable(BASE, SOURCE)
    assert isinstance(timetable, Timetable)
    assert [task.id for task in timetable.tasks] == [1, 2]
    assert timetable.task(2).deadline.kind is DeadlineKind.ONCE
    assert timetable.task(2).items == ("(1)第一项。", "(2)第二项。")
    assert timetable.reminders.offsets_days == (30, 7, 1)
    assert timetable.reminders.minute == 0  # not written: the model's default
    assert timetable.find_unit("市场监督管理局") == timetable.unit("market-regulation")


def test_tasks_need_not_be_numbered_consecutively() -> None:
    text = mutate(BASE, "  - id: 2\n", "  - id: 40\n")
    assert [task.id for task in parse_timetable(text, SOURCE).tasks] == [1, 40]


def test_load_timetable_reads_the_real_file() -> None:
    timetable = load_timetable(REAL_YAML)
    assert len(timetable.tasks) == 26


def test_problems_name_the_file_as_given(tmp_path: Path) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text(mutate(BASE, "  hour: 9", "  hour: 24"), encoding="utf-8")
    with pytest.raises(TimetableError) as caught:
        load_timetable(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:7: reminders.hour: must be less than or equal to 23, got 24"]


# -- YAML ---------------------------------------------------------------------------------------


def test_tab_indentation_is_a_syntax_error() -> None:
    text = mutate(BASE, "  hour: 9", "\thour: 9")
    assert problems_in(text) == [
        f"{SOURCE}:7: YAML syntax error: found character '\\t' that cannot start any token; "
        "indent with spaces, not tabs"]


def test_bad_indentation_is_a_syntax_error() -> None:
    text = mutate(BASE, "    title: 任务二", "   title: 任务二")
    line = line_of(text, "title: 任务二")
    assert problems_in(text) == [
        f"{SOURCE}:{line}: YAML syntax error: expected <block end>, but found "
        f"'<block mapping start>' (while parsing a block collection at line "
        f"{line_of(text, 'tasks:') + 1}); check this line's indentation against the lines "
        "above it"]


def test_unquoted_colon_is_a_syntax_error() -> None:
    text = mutate(BASE, "title: 任务一", "title: 任务一: 补充")
    assert problems_in(text) == [
        f"{SOURCE}:{line_of(text, '任务一')}: YAML syntax error: mapping values are not allowed "
        "here; check the indentation, and put a text containing ': ' in double quotes"]


def test_duplicate_yaml_key() -> None:
    text = mutate(BASE, "    title: 任务一\n", "    title: 任务一\n    title: 任务一(重复)\n")
    second = line_of(text, "任务一(重复)")
    assert problems_in(text) == [
        f"{SOURCE}:{second}: tasks[0].title: duplicate key 'title' (first at line "
        f"{second - 1}); YAML would silently keep only the last one, so remove or rename one of "
        "them"]


def test_empty_file() -> None:
    assert problems_in("# nothing yet\n") == [
        f"{SOURCE}: the file is empty; a timetable is a mapping with the keys version, plan, "
        "reminders, units, tasks, measures, calendar"]


def test_top_level_list() -> None:
    assert problems_in("- version: 1\n") == [
        f"{SOURCE}:1: found a list; a timetable is a mapping with the keys version, plan, "
        "reminders, units, tasks, measures, calendar"]


# -- fields and types ---------------------------------------------------------------------------


@pytest.mark.parametrize(("written", "reason"), [
    ("2020-02-30", "day value is outside expected range"),
    ("2020年5月11日", "invalid date separator, expected `-`"),
])
def test_unparseable_date(written: str, reason: str) -> None:
    text = mutate(BASE, "issued: 2020-05-11", f"issued: {written}")
    assert problems_in(text) == [
        f"{SOURCE}:4: plan.issued: '{written}' is not a valid date ({reason}); write it as "
        "YYYY-MM-DD, e.g. 2020-05-11"]


def test_unknown_field_suggests_the_known_one() -> None:
    text = mutate(BASE, "    cooperating_units: [market-regulation, towns]",
                  "    cooperating_unit: [market-regulation, towns]")
    assert problems_in(text) == [
        f"{SOURCE}:{line_of(text, 'cooperating_unit:')}: tasks[0].cooperating_unit: unknown "
        "field 'cooperating_unit' (did you mean 'cooperating_units'?)"]


def test_unknown_field_without_a_close_match_lists_the_allowed_ones() -> None:
    text = mutate(BASE, "  hour: 9\n", "  hour: 9\n  colour: red\n")
    assert problems_in(text) == [
        f"{SOURCE}:8: reminders.colour: unknown field 'colour' (allowed here: offsets_days, "
        "hour, minute, timezone, cutoff, overdue, weekly_digest, digest_weekday, "
        "digest_days_before)"]


def test_missing_field_is_reported_at_its_parent() -> None:
    text = mutate(BASE, "    title: 任务二\n", "")
    assert problems_in(text) == [
        f"{SOURCE}:{line_of(text, '- id: 2')}: tasks[1].title: missing required field 'title'"]


@pytest.mark.parametrize(("written", "message"), [
    ('"nine"', "expected a whole number, got 'nine'"),
    ("9:00", "must be less than or equal to 23, got 540 (write the time as two fields: "
             "hour: 9 and minute: 0)"),
])
def test_wrong_type_for_hour(written: str, message: str) -> None:
    text = mutate(BASE, "  hour: 9", f"  hour: {written}")
    assert problems_in(text) == [f"{SOURCE}:7: reminders.hour: {message}"]


def test_list_written_as_a_single_value() -> None:
    text = mutate(BASE, "    lead_units: [market-regulation]", "    lead_units: market-regulation")
    assert problems_in(text) == [
        f"{SOURCE}:{line_of(text, 'lead_units: market')}: tasks[1].lead_units: expected a list "
        "such as [a, b], got 'market-regulation'"]


def test_unquoted_measure_id() -> None:
    text = mutate(BASE, '  - id: "3.2"', "  - id: 3.2")
    assert problems_in(text) == [
        f"{SOURCE}:{line_of(text, 'id: 3.2')}: measures[1].id: expected text, got 3.2 (put it "
        'in double quotes: "3.2")']


def test_bad_unit_id() -> None:
    text = mutate(BASE, "  - id: town-cencheng\n", "  - id: Town_Cencheng\n")
    problems = problems_in(text)
    assert problems[0] == (
        f"{SOURCE}:{line_of(text, 'Town_Cencheng')}: units[2].id: 'Town_Cencheng' is not a valid "
        "unit id: use lower-case ASCII letters, digits and '-', starting with a letter "
        "(e.g. ecology-environment)")


def test_bad_time_zone() -> None:
    text = mutate(BASE, "timezone: Asia/Shanghai", "timezone: Asia/Shangai")
    assert problems_in(text) == [
        f"{SOURCE}:8: reminders.timezone: unknown time zone 'Asia/Shangai' (use an IANA name "
        "such as 'Asia/Shanghai'); did you mean 'Asia/Shanghai'?"]


def test_offsets_listed_twice() -> None:
    text = mutate(BASE, "offsets_days: [30, 7, 1]", "offsets_days: [30, 7, 7]")
    assert problems_in(text) == [
        f"{SOURCE}:6: reminders.offsets_days: offsets_days lists the same offset twice"]


def test_once_deadline_without_year() -> None:
    text = mutate(BASE, "{kind: once, year: 2020, text: 2020年12月前}",
                  "{kind: once, text: 2020年12月前}")
    assert problems_in(text) == [
        f"{SOURCE}:{line_of(text, 'kind: once')}: tasks[1].deadline: a deadline of kind 'once' "
        "needs a year"]


def test_unknown_deadline_kind() -> None:
    text = mutate(BASE, "{kind: annual, text: 每年12月前}", "{kind: yearly, text: 每年12月前}")
    assert problems_in(text) == [
        f"{SOURCE}:{line_of(text, 'kind: yearly')}: tasks[0].deadline.kind: must be 'annual', "
        "'once' or 'none-statistics', got 'yearly'"]


def test_task_without_responsible_unit() -> None:
    text = mutate(BASE, "    lead_units: [market-regulation]\n", "")
    assert problems_in(text) == [
        f"{SOURCE}:{line_of(text, '- id: 2')}: tasks[1]: task 2 has no responsible unit "
        "(give lead_units or joint_units)"]


# -- cross-references ---------------------------------------------------------------------------


def test_unknown_unit_with_did_you_mean() -> None:
    text = mutate(BASE, "lead_units: [market-regulation]", "lead_units: [market-regulaton]")
    assert problems_in(text) == [
        f"{SOURCE}:{line_of(text, 'market-regulaton')}: tasks[1].lead_units[0]: unknown unit "
        "'market-regulaton'; did you mean 'market-regulation'? Known units are listed under "
        "'units:'"]


def test_unknown_unit_without_a_close_match() -> None:
    text = mutate(BASE, "lead_units: [market-regulation]", "lead_units: [police]")
    assert problems_in(text) == [
        f"{SOURCE}:{line_of(text, 'police')}: tasks[1].lead_units[0]: unknown unit 'police'. "
        "Known units are listed under 'units:'"]


def test_unknown_unit_in_the_real_file() -> None:
    real = REAL_YAML.read_text(encoding="utf-8")
    text = mutate(real, "lead_units: [development-reform, market-regulation]",
                  "lead_units: [development-reform, market-regulaton]")
    line = line_of(text, "market-regulaton")
    assert problems_in(text) == [
        f"{SOURCE}:{line}: tasks[17].lead_units[1]: unknown unit 'market-regulaton'; did you "
        "mean 'market-regulation'? Known units are listed under 'units:'"]


@pytest.mark.parametrize(("written", "message"), [
    ("市场监督管理局", "write the id 'market-regulation' instead of its name '市场监督管理局'"),
    ("Market-Regulation", "unit ids are written in lower case: write 'market-regulation'"),
])
def test_unit_written_by_name(written: str, message: str) -> None:
    text = mutate(BASE, "lead_units: [market-regulation]", f"lead_units: [{written}]")
    assert problems_in(text) == [
        f"{SOURCE}:{line_of(text, f'lead_units: [{written}]')}: tasks[1].lead_units[0]: "
        f"{message}"]


def test_same_unit_twice_in_one_task() -> None:
    text = mutate(BASE, "cooperating_units: [market-regulation, towns]",
                  "cooperating_units: [market-regulation, towns, ecology-environment]")
    assert problems_in(text) == [
        f"{SOURCE}:{line_of(text, 'towns, ecology')}: tasks[0].cooperating_units[2]: unit "
        "'ecology-environment' is listed twice in this task (already in lead_units)"]


def test_duplicate_task_id() -> None:
    text = mutate(BASE, "  - id: 2\n", "  - id: 1\n")
    first, second = [n for n, line in enumerate(text.splitlines(), 1) if line == "  - id: 1"]
    assert problems_in(text) == [
        f"{SOURCE}:{second}: tasks[1].id: duplicate task id 1 (first at line {first})"]


def test_duplicate_measure_id() -> None:
    text = mutate(BASE, '  - id: "3.2"', '  - id: "3.1"')
    assert problems_in(text) == [
        f"{SOURCE}:{line_of(text, 'title: 措施二') - 2}: measures[1].id: duplicate measure id "
        f"'3.1' (first at line {line_of(text, 'title: 措施一') - 2})"]


def test_duplicate_unit_id() -> None:
    text = mutate(BASE, "  - id: town-cencheng\n", "  - id: market-regulation\n")
    problems = problems_in(text)
    assert problems[0] == (
        f"{SOURCE}:{line_of(text, 'name: 岑城镇') - 1}: units[2].id: duplicate unit id "
        f"'market-regulation' (first at line {line_of(text, 'name: 市场监管局') - 1})")
    # the towns group now names a unit that no longer exists
    assert problems[1:] == [
        f"{SOURCE}:{line_of(text, 'members:')}: units[3].members[0]: unknown unit "
        "'town-cencheng'. Known units are listed under 'units:'"]


@pytest.mark.parametrize("alias", ["生态环境局", "生态 环境局", "Ecology-Environment"])
def test_alias_clash(alias: str) -> None:
    """An alias naming another unit, compared the way ``find_unit`` compares."""
    text = mutate(BASE, "aliases: [市场监督管理局]", f"aliases: [市场监督管理局, {alias}]")
    what, line = (("id", 10) if alias.isascii() else ("name", 11))
    assert problems_in(text) == [
        f"{SOURCE}:17: units[1].aliases[1]: alias '{alias}' of unit 'market-regulation' is "
        f"already the {what} of unit 'ecology-environment' (line {line}); a name or alias must "
        "name one unit only"]


def test_group_member_unknown() -> None:
    text = mutate(BASE, "members: [town-cencheng]", "members: [town-cencheng, town-nuodong]")
    assert problems_in(text) == [
        f"{SOURCE}:27: units[3].members[1]: unknown unit 'town-nuodong'; did you mean "
        "'town-cencheng'? Known units are listed under 'units:'"]


def test_group_member_is_a_group() -> None:
    text = mutate(BASE, "members: [town-cencheng]", "members: [town-cencheng, towns]")
    assert problems_in(text) == [
        f"{SOURCE}:27: units[3].members[1]: 'towns' is a group and a group cannot be a member "
        "of another group: list its members instead"]


def test_group_without_members() -> None:
    text = mutate(BASE, "    members: [town-cencheng]\n", "")
    assert problems_in(text) == [
        f"{SOURCE}:23: units[3]: a unit of kind 'group' needs at least one member"]


# -- reporting ----------------------------------------------------------------------------------


def test_all_problems_are_reported_together_in_file_order() -> None:
    text = BASE
    for old, new in [("issued: 2020-05-11", "issued: 2020-13-01"),
                     ("  hour: 9", '  hour: "nine"'),
                     ("aliases: [市场监督管理局]", "aliases: [市场监督管理局, 生态环境局]"),
                     ("  - id: 2\n", "  - id: 1\n"),
                     ("lead_units: [market-regulation]", "lead_units: [market-regulaton]"),
                     ("{kind: once, year: 2020, text: 2020年12月前}", "{kind: once}"),
                     ('  - id: "3.2"', '  - id: "3.1"')]:
        text = mutate(text, old, new)
    problems = problems_in(text)
    assert [problem.split(": ")[0:2] for problem in problems] == [
        [f"{SOURCE}:4", "plan.issued"],
        [f"{SOURCE}:7", "reminders.hour"],
        [f"{SOURCE}:17", "units[1].aliases[1]"],
        [f"{SOURCE}:{line_of(text, 'title: 任务二') - 1}", "tasks[1].id"],
        [f"{SOURCE}:{line_of(text, 'market-regulaton')}", "tasks[1].lead_units[0]"],
        [f"{SOURCE}:{line_of(text, 'kind: once')}", "tasks[1].deadline"],
        [f"{SOURCE}:{line_of(text, 'title: 措施二') - 2}", "measures[1].id"],
    ]
    assert len(problems) == 7


def test_problem_str() -> None:
    assert str(Problem("data/tasks.yaml", 212, "tasks[17].lead_units[1]", "unknown unit")) == (
        "data/tasks.yaml:212: tasks[17].lead_units[1]: unknown unit")
    assert str(Problem("data/tasks.yaml", None, "", "cannot read the file")) == (
        "data/tasks.yaml: cannot read the file")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(TimetableError) as caught:
        load_timetable(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}: cannot read the file: No such file or directory"]


def test_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "gbk.yaml"
    path.write_bytes(BASE.encode("gbk"))
    with pytest.raises(TimetableError) as caught:
        load_timetable(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:3: the file is not UTF-8 text: save it as UTF-8"]


def test_calendar_corrections_are_read_and_checked(tmp_path: Path) -> None:
    shipped = REAL_YAML.read_text(encoding="utf-8").split("\ncalendar:")[0]
    good = tmp_path / "good.yaml"
    good.write_text(shipped + "\ncalendar:\n  holidays:\n    2031-10-01: 国庆节\n"
                    "  workdays:\n    2031-10-11: 国庆调休\n", encoding="utf-8")
    timetable = load_timetable(good)
    assert timetable.calendar.holidays == {dt.date(2031, 10, 1): "国庆节"}
    assert timetable.calendar.years() == {2031}
    bad = tmp_path / "bad.yaml"
    bad.write_text(shipped + "\ncalendar:\n  holidays:\n    2031-10-01: 国庆节\n"
                   "  workdays:\n    2031-10-01: 调休\n", encoding="utf-8")
    with pytest.raises(TimetableError) as caught:
        load_timetable(bad)
    assert "calendar: 2031-10-01 listed both as holiday and as working day" in str(caught.value)
    bad.write_text(shipped + "\ncalendar:\n  workdays:\n    2031-02-30: x\n", encoding="utf-8")
    with pytest.raises(TimetableError) as caught:
        load_timetable(bad)
    assert "2031-02-30" in str(caught.value) and "YYYY-MM-DD" in str(caught.value)
