"""Simulated people talking to the real duban application through the Bot API stand-in.

Runs on SQLite and on PostgreSQL (the ``store`` fixture is parametrised over both).
"""

from __future__ import annotations

import datetime as dt

from tests.bot.conftest import (
    ADMIN,
    ECOLOGY,
    LEADER,
    REFORM,
    ROOT,
    STRANGER,
    TOKEN,
    Harness,
    button,
    button_data,
)


async def test_unknown_person_gets_one_polite_sentence(harness: Harness) -> None:
    for command in ("start", "summary", "mytasks", "invite"):
        replies = await harness.command(STRANGER, command)
        assert len(replies) == 1
        assert "管理员" in replies[0]["text"]  # ask your administrator
        assert str(STRANGER) in replies[0]["text"]  # the id an admin needs
    replies = await harness.say(STRANGER, "已完成")
    assert len(replies) == 1


async def test_enrol_by_deep_link_and_see_own_tasks(harness: Harness) -> None:
    replies = await harness.enrol(ECOLOGY, "生态环境局")
    assert "生态环境局" in replies[0]["text"] and "/mytasks" in replies[0]["text"]
    assert harness.store.units_of(ECOLOGY) == ["ecology-environment"]
    # Their private menu is the contact's, in Chinese.
    commands = harness.api.commands_for({"type": "chat", "chat_id": ECOLOGY}, "")
    assert {c["command"] for c in commands} >= {"mytasks", "report"}
    assert "summary" not in {c["command"] for c in commands}
    listing = await harness.command(ECOLOGY, "mytasks")
    text = "\n".join(m["text"] for m in listing)
    assert "单位地区生产总值二氧化碳排放年度降低目标" in text  # task 1, lead
    assert "2026年11月30日" in text  # the due date in Chinese
    assert "天" in text


async def test_used_invitation_is_refused(harness: Harness) -> None:
    reply = await harness.command(ADMIN, "invite", "生态环境局")
    code = reply[-1]["text"].split("start=")[1].split()[0]
    await harness.command(ECOLOGY, "start", code)
    again = await harness.command(REFORM, "start", code)
    assert "already been used" in again[0]["text"] and harness.store.get_person(REFORM) is None


async def test_report_by_button_then_note(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    listing = await harness.command(ECOLOGY, "mytasks")
    assert "t|15|ecology-environment" in button_data(listing[-1])
    card = await harness.press(ECOLOGY, listing[-1]["message_id"], "t|15|ecology-environment")
    assert "r|15|p|2026|ecology-environment" in button_data(card[0])
    ack = await harness.press(ECOLOGY, card[0]["message_id"], "r|15|p|2026|ecology-environment")
    assert "进行中" in ack[0]["text"]
    latest = harness.store.latest_reports(2026, 15, "ecology-environment")
    assert latest[(15, "ecology-environment")].status == "in_progress"
    note = await harness.say(ECOLOGY, "已完成60%，正在核查", reply_to=ack[0]["message_id"])
    assert "60%" in note[0]["text"]
    history = harness.store.report_history(15, "ecology-environment", 2026)
    assert [r.status for r in history] == ["in_progress", "in_progress"]
    assert history[-1].progress == 60 and "核查" in history[-1].note
    assert harness.api.unanswered_callbacks() == []


async def test_report_by_command_and_refusal_for_another_unit(harness: Harness) -> None:
    await harness.enrol(REFORM, "发展改革局")
    ok = await harness.command(REFORM, "report", "18 done delivered the catalogue")
    assert "task 18" in ok[0]["text"] and "done" in ok[0]["text"]
    stored = harness.store.latest_reports(2026, 18, "development-reform")
    assert stored[(18, "development-reform")].status == "done"
    # Task 8 is the forestry bureau's alone: not theirs.
    refused = await harness.command(REFORM, "report", "8 done")
    assert "own units" in refused[0]["text"]
    assert harness.store.latest_reports(2026, 8) == {}
    bad = await harness.command(REFORM, "report", "18")
    assert "Usage" in bad[0]["text"]


async def test_ambiguous_reply_to_a_reminder_is_confirmed_with_buttons(harness: Harness) -> None:
    from bot.reminders import dispatch_due

    await harness.enrol(ECOLOGY, "生态环境局")
    harness.clock.set(dt.datetime(2026, 11, 17, 9, 0, tzinfo=harness.clock.now().tzinfo))
    report = await dispatch_due(harness.app)
    assert report.sent, report
    reminder = harness.api.bot_messages(ECOLOGY)[-1]  # one message listing 11 tasks
    assert len([d for d in button_data(reminder) if d.startswith("t|")]) == 11
    which = await harness.say(ECOLOGY, "部分完成，部分受阻", reply_to=reminder["message_id"])
    assert harness.store.latest_reports(2026) == {}  # nothing stored yet
    tasks = button_data(which[0])
    assert len(tasks) == 11 and tasks[0].endswith("|t|11.ecology-environment.2026")
    task = 11
    question = await harness.press(ECOLOGY, which[0]["message_id"], tasks[0])
    assert harness.store.latest_reports(2026, task) == {}
    choices = button_data(question[0])
    assert len(choices) == 2
    blocked = next(c for c in choices if c.endswith("|s|b"))
    ack = await harness.press(ECOLOGY, question[0]["message_id"], blocked)
    assert "受阻" in ack[0]["text"]
    assert harness.store.latest_reports(2026, task)[(task, "ecology-environment")].status == \
        "blocked"


async def test_leader_summary_in_english_shows_reports(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(LEADER, None, "leader")
    await harness.command(ECOLOGY, "report", "15 已完成")
    pages = await harness.command(LEADER, "summary")
    text = "\n".join(p["text"] for p in pages)
    assert "Summary of cycle 2026" in text
    line15 = next(line for line in text.split("\n") if "15." in line)
    assert line15.startswith("🔵")  # reported done: awaiting a leader's review
    line12 = next(line for line in text.split("\n") if " 12." in line)
    assert line12.startswith("⚫")  # the once-only 2020 task is closed
    detail = await harness.command(LEADER, "task", "15")
    assert "Ecology and Environment Bureau" in detail[0]["text"]
    assert "done" in detail[0]["text"]
    confirm = button(detail[-1], "v|15|ecology-environment|2026|c")
    await harness.press(LEADER, detail[-1]["message_id"], confirm)
    pages = await harness.command(LEADER, "summary")
    line15 = next(line for line in pages[0]["text"].split("\n") if "15." in line)
    assert line15.startswith("🟢")  # confirmed


async def test_contact_cannot_read_summaries(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    reply = await harness.command(ECOLOGY, "summary")
    assert "/mytasks" in reply[0]["text"]


async def test_long_answers_are_split_under_telegram_limit(harness: Harness) -> None:
    await harness.enrol(LEADER, None, "leader")
    # Task 23 concerns every member of the leading group; make the notes long.
    for index, person in enumerate(range(5000, 5020)):
        harness.api.add_user(person, f"contact {index}", "zh-hans")
    people = harness.store
    units = [u.id for u in harness.app.bot_data["services"].timetable.units
             if u.kind.value != "group"]
    now = harness.clock.now()
    for unit in units:
        people.add_report(23, unit, 2026, "in_progress", 50, "说明" * 150, ADMIN, now, "command")
    pages = await harness.command(LEADER, "task", "23")
    assert len(pages) > 1
    assert all(len(p["text"]) <= 4096 for p in pages)
    assert "Page 1/" in pages[0]["text"]


async def test_evidence_file_in_reply_is_kept(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    ack = await harness.command(ECOLOGY, "report", "16 进行中 40%")
    report = harness.store.latest_reports(2026, 16)[(16, "ecology-environment")]
    harness.api.send_document(ECOLOGY, "核查报告.pdf", b"%PDF-1.4 test",
                              reply_to_message_id=ack[0]["message_id"])
    # A file replying to the acknowledgement of a /report is not tied to a reminder: the
    # contact is told how to attach it.
    await harness.pump()
    harness.clock.advance(dt.timedelta(minutes=5))  # not a repeat of the /report
    card = await harness.command(ECOLOGY, "mytasks")
    opened = await harness.press(ECOLOGY, card[-1]["message_id"], "t|16|ecology-environment")
    pressed = await harness.press(ECOLOGY, opened[0]["message_id"],
                                  "r|16|p|2026|ecology-environment")
    sent = harness.api.send_document(ECOLOGY, "核查报告.pdf", b"%PDF-1.4 test",
                                     reply_to_message_id=pressed[0]["message_id"])
    await harness.pump()
    replies = [m for m in harness.api.bot_messages(ECOLOGY)
               if m["message_id"] > sent["message_id"]]
    assert "核查报告.pdf" in replies[0]["text"]
    newest = harness.store.latest_reports(2026, 16)[(16, "ecology-environment")]
    assert newest.id != report.id
    evidence = harness.store.evidence_for(newest.id)
    assert [e.file_name for e in evidence] == ["核查报告.pdf"]


async def test_language_can_be_changed(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    offer = await harness.command(ECOLOGY, "lang")
    assert button_data(offer[0]) == ["l|zh_Hans", "l|en"]
    done = await harness.press(ECOLOGY, offer[0]["message_id"], "l|en")
    assert done[0]["text"] == "Language set: English."
    listing = await harness.command(ECOLOGY, "mytasks")
    assert "November 30, 2026" in listing[0]["text"]
    menu = harness.api.commands_for({"type": "chat", "chat_id": ECOLOGY}, "")
    assert any(c["description"].startswith("my units") for c in menu)
    # Default menus exist in both languages.
    assert harness.api.commands_for({"type": "default"}, "")
    assert harness.api.commands_for({"type": "default"}, "en")


async def test_leadership_group_chat_is_bound_and_answers(harness: Harness) -> None:
    group = -100123
    harness.api.add_group(group, "降碳领导小组")
    await harness.enrol(LEADER, None, "leader")
    bound = await harness.bind(LEADER, group)
    assert "/summary" in bound[0]["text"]
    assert [(c.chat_id, c.bound_by) for c in harness.store.leadership_chats()] == [
        (group, LEADER)]
    # A leader asks in the bound group; the answer goes to the group.
    summary = await harness.command(LEADER, "summary", chat_id=group)
    assert "2026" in summary[0]["text"]
    # A stranger in the group gets no answer at all (and never their id posted there).
    assert await harness.command(STRANGER, "summary", chat_id=group) == []


async def test_admin_lists_and_revokes_people(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "ecology-environment")  # by id
    listing = await harness.command(ADMIN, "people")
    assert str(ECOLOGY) in listing[0]["text"] and "生态环境局" in listing[0]["text"]
    done = await harness.command(ADMIN, "revoke", str(ECOLOGY))
    assert str(ECOLOGY) in done[0]["text"]
    person = harness.store.get_person(ECOLOGY)
    assert person is not None and not person.active
    refused = await harness.command(ECOLOGY, "mytasks")
    assert "管理员" in refused[0]["text"]
    # Their report history is untouched by the revocation.
    assert harness.store.audit_log(action="person.deactivated")
    not_admin = await harness.command(LEADER, "people")
    assert "administrator" in not_admin[0]["text"].lower()


async def test_unit_and_overdue_views(harness: Harness) -> None:
    await harness.enrol(LEADER, None, "leader")
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.command(ECOLOGY, "report", "15 受阻 资金未到位")
    unit = await harness.command(LEADER, "unit", "生态环境局")
    assert "Ecology and Environment Bureau" in unit[0]["text"]
    assert "blocked" in unit[0]["text"] and "资金未到位" in unit[0]["text"]
    unknown = await harness.command(LEADER, "unit", "外星局")
    assert "Unknown unit" in unknown[0]["text"]
    harness.clock.set(dt.datetime(2026, 12, 3, 10, 0, tzinfo=harness.clock.now().tzinfo))
    late = await harness.command(LEADER, "overdue")
    text = late[0]["text"]
    missed = text.split("Missed the cutoff")[1]
    assert "15." in missed and "7." in missed
    assert "Forestry" in missed  # task 8's lead never reported


async def test_clear_reply_to_a_reminder_is_stored_at_once(harness: Harness) -> None:
    from bot.reminders import dispatch_due

    emergency = 3006  # 应急局 has one task: its reminder is about task 23 alone
    harness.api.add_user(emergency, "Liu Yang", "en")
    await harness.enrol(emergency, "应急局")
    harness.clock.set(dt.datetime(2026, 11, 17, 9, 0, tzinfo=harness.clock.now().tzinfo))
    await dispatch_due(harness.app)
    reminder = harness.api.bot_messages(emergency)[-1]
    task = int(button_data(reminder)[0].split("|")[1])
    assert task == 23
    ack = await harness.say(emergency, "in progress, 70% done", reply_to=reminder["message_id"])
    assert "70%" in ack[0]["text"]
    stored = harness.store.latest_reports(2026, task)[(task, "emergency-management")]
    assert (stored.status, stored.progress, stored.source) == ("in_progress", 70, "reply")


async def test_plain_text_without_context_explains_how_to_report(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    reply = await harness.say(ECOLOGY, "你好")
    assert "/report" in reply[0]["text"]
    assert harness.store.latest_reports(2026) == {}


async def test_bound_group_that_becomes_a_supergroup_is_followed(harness: Harness) -> None:
    from telegram import Update

    group = -4001
    harness.api.add_group(group, "降碳领导小组", supergroup=False)
    await harness.enrol(LEADER, None, "leader")
    await harness.bind(LEADER, group)
    update = Update.de_json({"update_id": 10**6, "message": {
        "message_id": 10**5, "date": 1795000000, "chat": {"id": group, "type": "group",
                                                        "title": "降碳领导小组"},
        "migrate_to_chat_id": -1004001}}, harness.app.bot)
    await harness.app.process_update(update)
    assert [c.chat_id for c in harness.store.leadership_chats()] == [-1004001]


async def test_a_late_unrelated_message_is_not_taken_as_a_note(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    listing = await harness.command(ECOLOGY, "mytasks")
    card = await harness.press(ECOLOGY, listing[-1]["message_id"], "t|15|ecology-environment")
    ack = await harness.press(ECOLOGY, card[0]["message_id"], "r|15|p|2026|ecology-environment")
    harness.clock.advance(dt.timedelta(hours=2))
    reply = await harness.say(ECOLOGY, "明天开会")
    assert "/report" in reply[0]["text"]
    assert len(harness.store.report_history(15, "ecology-environment", 2026)) == 1
    # A reply to the acknowledgement still counts, however late.
    await harness.say(ECOLOGY, "资料已上传 80%", reply_to=ack[0]["message_id"])
    history = harness.store.report_history(15, "ecology-environment", 2026)
    assert [r.progress for r in history] == [None, 80]


async def test_a_summary_longer_than_telegram_allows_is_split(harness: Harness) -> None:
    services = harness.app.bot_data["services"]
    base = services.timetable
    template = base.task(15)
    many = tuple(template.model_copy(update={"id": n, "title": f"{template.title}（第{n}批）" * 3})
                 for n in range(1, 121))
    services.timetable = base.model_copy(update={"tasks": many})
    await harness.enrol(LEADER, None, "leader")
    pages = await harness.command(LEADER, "summary")
    assert len(pages) >= 3
    assert all(len(p["text"]) <= 4096 for p in pages)
    text = "\n".join(p["text"] for p in pages)
    assert all(f" {n}. " in text for n in range(1, 121))  # nothing lost between pages
    assert pages[-1]["text"].endswith(f"Page {len(pages)}/{len(pages)}")


async def test_report_command_splits_status_percent_and_note(harness: Harness) -> None:
    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.command(ECOLOGY, "report", "15 进行中 60% 已完成核查")
    stored = harness.store.latest_reports(2026, 15)[(15, "ecology-environment")]
    assert (stored.status, stored.progress, stored.note) == ("in_progress", 60, "已完成核查")
    await harness.command(ECOLOGY, "report", "16 我们已经完成了")
    stored = harness.store.latest_reports(2026, 16)[(16, "ecology-environment")]
    assert (stored.status, stored.note) == ("done", "我们已经完成了")
    unclear = await harness.command(ECOLOGY, "report", "19 部分完成，部分受阻")
    assert "/report" in unclear[0]["text"]
    assert harness.store.latest_reports(2026, 19) == {}


async def test_leader_exports_the_cycle_as_a_workbook(harness: Harness) -> None:
    import io

    from openpyxl import load_workbook

    await harness.enrol(ECOLOGY, "生态环境局")
    await harness.enrol(LEADER, None, "leader")
    await harness.command(ECOLOGY, "report", "15 进行中 60% 核查中")
    sent = await harness.command(LEADER, "export")
    document = sent[0]["document"]
    assert document["file_name"].startswith("duban-2026-") and "2026" in sent[0]["caption"]
    workbook = load_workbook(io.BytesIO(harness.api.file(document["file_id"]).content))
    assert workbook.sheetnames[:3] == ["Ledger", "Summary", "Reports"]  # the leader reads English
    notes = [row for row in workbook["Reports"].iter_rows(values_only=True) if "核查中" in row]
    assert len(notes) == 1
    refused = await harness.command(ECOLOGY, "export")
    assert "/mytasks" in refused[0]["text"]


def test_cli_export_writes_a_workbook(tmp_path, monkeypatch, capsys) -> None:
    from openpyxl import load_workbook

    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DUBAN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    target = tmp_path / "out.xlsx"
    assert main(["db", "upgrade"]) == 0  # export reads a database, never makes one
    assert main(["export", "--tasks", str(ROOT / "data" / "tasks.yaml"), "--year", "2026",
                 "-o", str(target)]) == 0
    assert "out.xlsx" in capsys.readouterr().out
    assert load_workbook(target).sheetnames[0] == "台账"
    assert not list(tmp_path.glob("duban-*.xlsx"))


def test_cli_export_without_a_file_writes_into_the_data_folder(tmp_path, monkeypatch,
                                                               capsys) -> None:
    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DUBAN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LANG", "en")
    assert main(["db", "upgrade"]) == 0  # export reads a database, never makes one
    capsys.readouterr()
    assert main(["export", "--tasks", str(ROOT / "data" / "tasks.yaml"), "--year", "2026"]) == 0
    [written] = (tmp_path / "var" / "exports").glob("duban-2026-*.xlsx")
    assert str(written) in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["var"]  # nothing in the working folder


async def test_summary_of_another_year_and_a_bad_year(harness: Harness) -> None:
    await harness.enrol(LEADER, None, "leader")
    pages = await harness.command(LEADER, "summary", "2020")
    text = "\n".join(p["text"] for p in pages)
    assert "Summary of cycle 2020" in text
    line12 = next(line for line in text.split("\n") if " 12." in line)
    assert not line12.startswith("⚫")  # the once-only task is open in its own year
    bad = await harness.command(LEADER, "summary", "twenty")
    assert "Usage: /summary" in bad[0]["text"]


async def test_admin_reloads_the_timetable_and_a_bad_file_changes_nothing(
        harness: Harness, tmp_path) -> None:
    services = harness.app.bot_data["services"]
    source = (ROOT / "data" / "tasks.yaml").read_text(encoding="utf-8")
    path = tmp_path / "tasks.yaml"
    services.settings = services.settings.model_copy(update={"tasks_path": path})
    await harness.enrol(LEADER, None, "leader")
    path.write_text(source.replace("title: 发展低碳农业", "title: 发展低碳农业（修订）"),
                    encoding="utf-8")
    done = await harness.command(ADMIN, "reload")
    assert "26" in done[0]["text"]
    task = await harness.command(LEADER, "task", "7")
    assert "发展低碳农业（修订）" in task[0]["text"]
    path.write_text(source.replace("lead_units: [forestry]", "lead_units: [forestri]", 1),
                    encoding="utf-8")
    refused = await harness.command(ADMIN, "reload")
    assert "forestri" in refused[0]["text"] and "tasks.yaml:" in refused[0]["text"]
    assert services.timetable.task(7).title == "发展低碳农业（修订）"  # the good one stays
    not_admin = await harness.command(LEADER, "reload")
    assert "admin" in not_admin[0]["text"].lower()


async def test_a_failing_handler_is_logged_and_the_admins_are_told(
        harness: Harness, monkeypatch, caplog) -> None:
    await harness.enrol(LEADER, None, "leader")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"database is on fire at {TOKEN}")

    monkeypatch.setattr(harness.store, "latest_reports", broken)
    before = len(harness.api.bot_messages(ADMIN))
    reply = await harness.command(LEADER, "summary")
    assert "while answering /summary; nothing was changed" in reply[0]["text"]  # a leader
    assert "/mytasks" not in reply[0]["text"]
    told = harness.api.bot_messages(ADMIN)[before:]
    assert any("database is on fire" in m["text"] for m in told)
    assert not any(TOKEN in m["text"] for m in told)  # never the secret, even in an error
    assert any("handler failed" in r.getMessage() for r in caplog.records)


async def test_reload_refuses_to_drop_a_unit_that_has_contacts(harness: Harness,
                                                                tmp_path) -> None:
    import yaml

    services = harness.app.bot_data["services"]
    data = yaml.safe_load((ROOT / "data" / "tasks.yaml").read_text(encoding="utf-8"))
    data["units"] = [u for u in data["units"] if u["id"] != "investment-promotion"]
    for group in data["units"]:
        group["members"] = [m for m in group.get("members", []) if m != "investment-promotion"]
    for section in ("tasks", "measures"):
        for item in data[section]:
            for field in ("lead_units", "cooperating_units", "joint_units"):
                item[field] = [u for u in item.get(field, []) if u != "investment-promotion"]
    path = tmp_path / "tasks.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    services.settings = services.settings.model_copy(update={"tasks_path": path})
    await harness.enrol(REFORM, "投促局")
    refused = await harness.command(ADMIN, "reload")
    assert "investment-promotion" in refused[0]["text"]
    assert services.timetable.find_unit("investment-promotion") is not None
    await harness.command(ADMIN, "revoke", str(REFORM))
    done = await harness.command(ADMIN, "reload")
    assert services.timetable.find_unit("investment-promotion") is None, done[0]["text"]
    people = await harness.command(ADMIN, "people")
    assert str(REFORM) in people[0]["text"] and "已停用" in people[0]["text"]  # inactive
