"""The real timetable, data/tasks.yaml, checked against the seed document it transcribes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from schedules.loader import load_timetable
from schedules.model import DeadlineKind, Role, Timetable, UnitKind

REPO = Path(__file__).resolve().parents[2]
TASKS_YAML = REPO / "data" / "tasks.yaml"
SEED = REPO.parent / "shared" / "seeds" / "000_e32540c3ad4bfdae.txt"

TOWN_NAMES = ("岑城镇", "糯垌镇", "诚谏镇", "归义镇", "筋竹镇", "大业镇", "梨木镇", "大隆镇",
              "南渡镇", "马路镇", "三堡镇", "波塘镇", "安平镇", "水汶镇")
SECTIONS = ("三、大力推进产业结构优化升级", "四、进一步推动能源结构优化",
            "五、强化重点领域节能降碳", "六、合理控制能源消费", "七、持续完善市场化机制",
            "八、增加生态系统碳汇", "九、加强科技创新支撑", "十、加强组织保障")
ROLE_SUFFIXES = (("牵头", Role.LEAD), ("按职责分工负责", Role.JOINT), ("配合", Role.COOPERATING))


@pytest.fixture(scope="module")
def timetable() -> Timetable:
    return load_timetable(TASKS_YAML)


@pytest.fixture(scope="module")
def seed_text() -> str:
    if not SEED.is_file():
        pytest.skip(f"the seed document is not at {SEED} (it lives outside the repository)")
    return SEED.read_text(encoding="utf-8")


def compact(text: str) -> str:
    """The text without any whitespace (the seed breaks lines and pads with spaces)."""
    return re.sub(r"\s+", "", text)


def parse_responsibility(text: str) -> dict[Role, list[str]]:
    """Split a 〔…〕 or 牵头及配合部门 text into unit names by role, as written in the seed."""
    roles: dict[Role, list[str]] = {Role.LEAD: [], Role.JOINT: [], Role.COOPERATING: []}
    for part in text.split(";"):
        for suffix, role in ROLE_SUFFIXES:
            if part.endswith(suffix):
                roles[role] = re.split("[、,]", part.removesuffix(suffix))
                break
        else:
            raise AssertionError(f"no role in {part!r}")
    return roles


def measure_brackets(seed_text: str) -> list[str]:
    """The 〔…〕 contents of sections 三-十, in order."""
    body = seed_text[seed_text.index(SECTIONS[0]):seed_text.index("附件:1.")]
    return re.findall(r"〔(.+?)〕", body)


def attachment_responsibilities(seed_text: str) -> list[str]:
    """The 牵头及配合部门 cell of each row of attachment 2, in order."""
    table = seed_text[seed_text.index("附件2:"):]
    return [line.strip() for line in table.splitlines()
            if re.search(r"(牵头|按职责分工负责)(;.+配合)?\s*$", line)]


# -- the plan and the reminder defaults -------------------------------------------------------


def test_plan_is_the_cenxi_2019_2020_carbon_plan(timetable: Timetable) -> None:
    plan = timetable.plan
    assert plan.title == "岑溪市2019-2020年降碳工作实施方案"
    assert plan.document_no == "岑政办发〔2020〕48号"
    assert plan.issued is not None and plan.issued.isoformat() == "2020-05-11"
    assert plan.city == "岑溪市"
    assert plan.goal == "到2020年,全市万元生产总值二氧化碳排放强度较2015年下降13%。"


def test_reminder_defaults_are_written_out(timetable: Timetable) -> None:
    policy = timetable.reminders
    assert policy.offsets_days == (30, 14, 7, 3, 1)
    assert (policy.hour, policy.minute, policy.timezone) == (9, 0, "Asia/Shanghai")
    assert str(policy.cutoff) == "12-01"
    assert policy.overdue is True
    assert policy.weekly_digest is True
    assert (policy.digest_weekday, policy.digest_days_before) == (0, 30)
    text = TASKS_YAML.read_text(encoding="utf-8")
    reminders_block = text[text.index("\nreminders:"):text.index("\nunits:")]
    for key in ("offsets_days", "hour", "minute", "timezone", "cutoff", "overdue",
                "weekly_digest", "digest_weekday", "digest_days_before"):
        assert f"\n  {key}: " in reminders_block, f"{key} is not written out"


# -- tasks ------------------------------------------------------------------------------------


def test_26_tasks_numbered_1_to_26(timetable: Timetable) -> None:
    assert [task.id for task in timetable.tasks] == list(range(1, 27))


def test_statistics_tasks_have_no_completion_time(timetable: Timetable) -> None:
    for task_id in range(1, 7):
        task = timetable.task(task_id)
        assert task.deadline.kind is DeadlineKind.STATISTICS, task_id
        assert task.deadline.text == ""
        assert task.remark == "以统计局数据为准"


def test_deadlines_once_in_2020_or_annual(timetable: Timetable) -> None:
    once = {12, 13, 14, 17, 21}
    for task in timetable.tasks[6:]:
        if task.id in once:
            assert (task.deadline.kind, task.deadline.year) == (DeadlineKind.ONCE, 2020)
            assert task.deadline.text == "2020年12月前"
            assert task.deadline.applies_to(2020) and not task.deadline.applies_to(2019)
        else:
            assert task.deadline.kind is DeadlineKind.ANNUAL, task.id
            assert task.deadline.text == "每年12月前"
        assert task.remark == ""


def test_task_18_has_two_lead_units(timetable: Timetable) -> None:
    task = timetable.task(18)
    assert task.lead_units == ("development-reform", "market-regulation")
    assert task.cooperating_units == ("industry-it", "ecology-environment",
                                      "science-technology-big-data", "towns", "industrial-park")


def test_task_26_is_shared_by_six_units_without_a_lead(timetable: Timetable) -> None:
    task = timetable.task(26)
    assert task.lead_units == ()
    assert task.cooperating_units == ()
    assert task.joint_units == ("development-reform", "ecology-environment", "market-regulation",
                                "government-logistics", "industry-it",
                                "science-technology-big-data")
    assert task.responsibility_text.endswith("按职责分工负责")
    assert {a.role for a in timetable.responsible_units(task)} == {Role.JOINT}


def test_task_23_cooperating_are_the_other_leading_group_members(timetable: Timetable) -> None:
    task = timetable.task(23)
    assert task.cooperating_units == ("leading-group",)
    assignments = {a.unit_id: a for a in timetable.responsible_units(task)}
    assert assignments["ecology-environment"].role is Role.LEAD
    assert assignments["ecology-environment"].via_group is None
    members = set(timetable.unit("leading-group").members)
    cooperating = {uid for uid, a in assignments.items() if a.role is Role.COOPERATING}
    assert cooperating == members - {"ecology-environment"}
    assert len(cooperating) == 19
    assert all(assignments[uid].via_group == "leading-group" for uid in cooperating)


def test_towns_group_expands_to_the_14_towns(timetable: Timetable) -> None:
    towns = timetable.unit("towns")
    assert towns.name == "各镇政府"
    assert [timetable.unit(uid).name for uid in towns.members] == list(TOWN_NAMES)
    assert all(timetable.unit(uid).kind is UnitKind.TOWN for uid in towns.members)
    task_3 = {a.unit_id: a for a in timetable.responsible_units(timetable.task(3))}
    assert set(task_3) == {"development-reform", "industry-it", *towns.members}
    assert task_3["town-shuiwen"].role is Role.COOPERATING
    assert task_3["town-shuiwen"].via_group == "towns"
    town_tasks = [task.id for task, _ in timetable.tasks_for_unit("town-cencheng")]
    assert town_tasks == [3, 4, 6, 9, 10, 13, 14, 18]


def test_a_groups_view_lists_the_tasks_that_name_the_group(timetable: Timetable) -> None:
    """各镇政府 and 领导小组 have tasks of their own; each member's view has them too (item 8)."""
    towns = timetable.tasks_for_unit("towns")
    assert [task.id for task, _ in towns] == [3, 4, 6, 9, 10, 13, 14, 18]
    assert all(duty.role is Role.COOPERATING and duty.unit_id == "towns" for _, duty in towns)
    assert [task.id for task, _ in timetable.tasks_for_unit("leading-group")] == [23]
    for member in timetable.unit("leading-group").members:
        assert 23 in [task.id for task, _ in timetable.tasks_for_unit(member)]
    for member in timetable.unit("towns").members:
        mine = {task.id for task, _ in timetable.tasks_for_unit(member)}
        assert {task.id for task, _ in towns} <= mine


def test_item_counts(timetable: Timetable) -> None:
    assert timetable.task(4).items == ("(1)煤炭占能源消费总量比重比上年有所下降。",
                                       "(2)天然气占能源消费总量比重比上年有所上升。")
    assert len(timetable.task(9).items) == 3
    items_22 = timetable.task(22).items
    assert len(items_22) == 5
    assert items_22[0] == "以下四项工作开展一项及以上:"
    assert [item[:3] for item in items_22[1:]] == ["(1)", "(2)", "(3)", "(4)"]
    assert len(timetable.task(1).items) == 1


# -- units ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spelling", "unit_id"), [
    ("科学技术和大数据局", "science-technology-big-data"),
    ("科学技术和大数据发展局", "science-technology-big-data"),
    ("水利电业公司", "water-power"),
    ("水利电业有限公司", "water-power"),
    ("市发展改革局", "development-reform"),
    ("发展改革局", "development-reform"),
    ("市投促局", "investment-promotion"),
    ("市场监管局", "market-regulation"),
    ("各镇政府", "towns"),
    ("应对气候变化及节能减排工作领导小组其他成员单位", "leading-group"),
    ("领导小组", "leading-group"),
    ("Ecology-Environment", "ecology-environment"),
])
def test_spellings_resolve(timetable: Timetable, spelling: str, unit_id: str) -> None:
    unit = timetable.find_unit(spelling)
    assert unit is not None and unit.id == unit_id


def test_every_spelling_resolves_to_its_own_unit(timetable: Timetable) -> None:
    for unit in timetable.units:
        for spelling in unit.spellings():
            assert timetable.find_unit(spelling) == unit, spelling


@pytest.mark.parametrize(("typed", "meant"), [
    ("生态", ["ecology-environment"]),  # part of a name
    ("林业", ["forestry"]),
    ("ecology", ["ecology-environment"]),  # part of an id
    ("Forest", ["forestry"]),  # part of an English name, any case
    ("生态环境局办公室", ["ecology-environment"]),  # a name with more after it
    ("生态环镜局", ["ecology-environment"]),  # a typing slip: the closest spelling
    ("发改", ["development-reform"]),  # an abbreviation: its characters in order
    ("发改局", ["development-reform"]),
    ("农农", ["agriculture-rural"]),
    ("外星局", []),  # like no unit
    ("", []),
])
def test_a_reference_that_names_no_unit_gets_the_units_meant(
        timetable: Timetable, typed: str, meant: list[str]) -> None:
    assert timetable.find_unit(typed) is None
    assert [u.id for u in timetable.similar_units(typed)] == meant


def test_a_short_reference_gets_every_match_the_group_first(timetable: Timetable) -> None:
    """``镇`` suggested 5 of the 14 towns and not 各镇政府, the group that stands for them."""
    towns = timetable.similar_units("镇")
    assert towns[0].id == "towns"
    assert {u.id for u in towns[1:]} == set(timetable.unit("towns").members)
    assert len(towns) == 15 and all("镇" in u.name for u in towns)
    assert len(timetable.similar_units("镇", limit=2)) == 2
    assert timetable.similar_units("town")[0].id == "towns"


def test_one_character_is_no_abbreviation(timetable: Timetable) -> None:
    # 局 is in most names: a single character matches by containment only
    assert timetable.similar_units("改") == (timetable.unit("development-reform"),)


def test_unit_kinds(timetable: Timetable) -> None:
    kinds = {unit.id: unit.kind for unit in timetable.units}
    assert kinds["ecology-environment"] is UnitKind.BUREAU
    assert kinds["industrial-park"] is UnitKind.CENTRE
    assert kinds["government-logistics"] is UnitKind.CENTRE
    assert kinds["water-power"] is UnitKind.COMPANY
    assert sorted(uid for uid, kind in kinds.items() if kind is UnitKind.GROUP) == [
        "leading-group", "towns"]
    assert sum(kind is UnitKind.TOWN for kind in kinds.values()) == 14


def test_leading_group_is_every_named_department_centre_and_company(
        timetable: Timetable) -> None:
    members = timetable.unit("leading-group").members
    expected = {u.id for u in timetable.units if u.kind not in (UnitKind.TOWN, UnitKind.GROUP)}
    assert set(members) == expected
    assert len(members) == 20


# -- measures ---------------------------------------------------------------------------------


def test_measures_cover_sections_3_to_10(timetable: Timetable) -> None:
    per_section = [sum(m.section == section for m in timetable.measures) for section in SECTIONS]
    assert per_section == [3, 3, 6, 4, 2, 1, 2, 5]
    assert len(timetable.measures) == 26
    assert timetable.measures[0].id == "3.1"
    assert timetable.measures[0].title == "加快传统产业转型升级"
    eight = [m for m in timetable.measures if m.section == "八、增加生态系统碳汇"]
    assert [(m.id, m.title, m.lead_units) for m in eight] == [("8.1", "加大植树造林力度",
                                                               ("forestry",))]
    assert [m.id for m in timetable.measures][-1] == "10.5"


def test_joint_measures(timetable: Timetable) -> None:
    joint = {m.id: m for m in timetable.measures if m.joint_units}
    assert sorted(joint) == ["10.4", "10.5", "5.4", "6.4"]
    assert all(not m.lead_units for m in joint.values())
    assert joint["5.4"].cooperating_units == ("towns",)
    assert joint["6.4"].joint_units == ("development-reform", "finance", "industry-it",
                                        "water-power")


# -- against the seed document ------------------------------------------------------------------


def test_measure_count_matches_the_seed(timetable: Timetable, seed_text: str) -> None:
    assert len(measure_brackets(seed_text)) == len(timetable.measures) == 26


def test_every_unit_named_in_the_seed_resolves(timetable: Timetable, seed_text: str) -> None:
    texts = measure_brackets(seed_text) + attachment_responsibilities(seed_text)
    assert len(texts) == 26 + 26
    named: set[str] = set()
    for text in texts:
        for names in parse_responsibility(text).values():
            for name in names:
                unit = timetable.find_unit(name)
                assert unit is not None, f"{name!r} (from {text!r}) names no unit"
                named.add(unit.id)
    # the plan names every department, centre and company of the file, and both groups
    assert named == {u.id for u in timetable.units if u.kind is not UnitKind.TOWN}


def test_measure_duties_match_the_seed(timetable: Timetable, seed_text: str) -> None:
    for measure, bracket in zip(timetable.measures, measure_brackets(seed_text), strict=True):
        assert measure.responsibility_text == bracket, measure.id
        by_role = parse_responsibility(bracket)
        for role, unit_ids in ((Role.LEAD, measure.lead_units), (Role.JOINT, measure.joint_units),
                               (Role.COOPERATING, measure.cooperating_units)):
            resolved = [timetable.find_unit(name) for name in by_role[role]]
            assert tuple(u.id for u in resolved if u is not None) == unit_ids, (measure.id, role)


def test_measure_titles_and_sections_are_verbatim(timetable: Timetable, seed_text: str) -> None:
    body = compact(seed_text)
    for section in SECTIONS:
        assert section in body
    for measure in timetable.measures:
        section_no, number = measure.id.split(".")
        if measure.id == "8.1":
            assert measure.title + "," in body
        else:
            marker = "(" + "一二三四五六"[int(number) - 1] + ")"
            assert f"{marker}{measure.title}。" in body, measure.id
        assert "三四五六七八九十"[int(section_no) - 3] == measure.section[0]


def test_task_duties_match_the_seed(timetable: Timetable, seed_text: str) -> None:
    for task, text in zip(timetable.tasks, attachment_responsibilities(seed_text), strict=True):
        assert task.responsibility_text == text, task.id
        by_role = parse_responsibility(text)
        for role, unit_ids in task.units_by_role():
            resolved = [timetable.find_unit(name) for name in by_role[role]]
            assert tuple(u.id for u in resolved if u is not None) == unit_ids, (task.id, role)


def test_tasks_are_verbatim_and_complete(timetable: Timetable, seed_text: str) -> None:
    """Title, items, responsibility, completion time and remark follow each other in the seed."""
    table = compact(seed_text[seed_text.index("附件2:"):])
    for task in timetable.tasks:
        head = f"{task.id}.{task.title}"
        start = table.index(head) + len(head)
        end = table.index(task.responsibility_text, start)
        assert table[start:end] == compact("".join(task.items)), task.id
        after = table[end + len(task.responsibility_text):]
        following = f"{task.id + 1}." if task.id < 26 else "文件下载"
        assert after.startswith(task.deadline.text + task.remark + following), task.id
